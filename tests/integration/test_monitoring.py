"""docs/monitoring/: the Prometheus alert rules pass `promtool check rules` and their unit tests
(tests/monitoring/alerts.test.yml, `promtool test rules`), and every metric name in every query of the Grafana
dashboard and of the rules is one that the real binary's /metrics exports (a live scrape of `synchub serve`), so a
renamed family breaks this test instead of a dashboard. promtool: Debian's prometheus package (install-deps).
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO, http_request, record_output

RULES = REPO / "docs/monitoring/synchub-alerts.yml"
RULE_TESTS = REPO / "tests/monitoring/alerts.test.yml"
DASHBOARD = REPO / "docs/monitoring/grafana-synchub.json"
# Series Prometheus itself adds to every scrape target (not synchub's).
SCRAPE_SERIES = {"up"}

PROMTOOL = shutil.which("promtool")
need_promtool = pytest.mark.skipif(not PROMTOOL and os.environ.get("CI") != "true",
                                   reason="promtool not installed (Debian package prometheus)")

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "le", "inf", "nan"}


def metric_names(expr):
    """The metric names a PromQL expression selects: what is left once strings, label matchers, grouping clauses,
    range selectors, function calls, keywords, numbers and Grafana variables are taken out."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)
    e = re.sub(r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(", "(", e)
    names = set()
    for tok in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        if tok.lower() in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", tok):
            continue
        names.add(tok)
    return names


def test_metric_names_reader():
    assert metric_names('histogram_quantile(0.99, sum by (le, system) (rate(synchub_x_bucket{a="b"}[$__rate_interval])))') \
        == {"synchub_x_bucket"}
    assert metric_names('sum(rate(a_total[5m])) / sum without (instance) (b{c=~"d|e"}) > 0.2 and on() vector(1)') \
        == {"a_total", "b"}
    assert metric_names('time() - synchub_process_start_time_seconds') == {"synchub_process_start_time_seconds"}


def dashboard_exprs():
    dash = json.loads(DASHBOARD.read_text())
    exprs = []

    def walk(panels):
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []))
            walk(p.get("panels", []))
    walk(dash["panels"])
    return exprs


def rule_exprs():
    """Every `expr:` of the rules file (single line or a folded `>-` block), without a YAML library."""
    exprs, lines = [], RULES.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if not m:
            continue
        if m.group(2) in (">-", ">", "|"):
            block, ind = [], len(m.group(1))
            for nxt in lines[i + 1:]:
                if len(nxt) - len(nxt.lstrip()) <= ind:
                    break
                block.append(nxt.strip())
            exprs.append(" ".join(block))
        else:
            exprs.append(m.group(2))
    return exprs


@need_promtool
def test_rules_pass_promtool_check():
    p = subprocess.run([PROMTOOL or "promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr
    assert re.search(r"SUCCESS: (\d+) rules found", p.stdout).group(1) == str(len(rule_exprs()))


@need_promtool
def test_rules_unit_tests_pass():
    p = subprocess.run([PROMTOOL or "promtool", "test", "rules", str(RULE_TESTS)], capture_output=True, text=True)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr
    # Every alert of the file is exercised by a test.
    alerts = set(re.findall(r"^\s*- alert: (\S+)$", RULES.read_text(), re.M))
    tested = set(re.findall(r"^\s*alertname: (\S+)$", RULE_TESTS.read_text(), re.M))
    assert alerts == tested, alerts ^ tested


def exported_names(text):
    """Sample names /metrics can produce: every family announced by # TYPE, with a histogram's suffixes."""
    names = set()
    for fam, typ in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(fam)
        if typ == "histogram":
            names |= {fam + "_bucket", fam + "_sum", fam + "_count"}
    return names


def test_dashboard_and_rules_use_only_exported_metrics(make_synchub):
    hub = make_synchub()
    hub.start()
    status, _doc, raw = http_request(hub.port, "GET", "/metrics")
    text = raw.decode()
    record_output("GET /metrics (monitoring)", text)
    assert status == 200
    exported = exported_names(text) | SCRAPE_SERIES
    assert len(exported) > 20
    exprs = {"dashboard": dashboard_exprs(), "rules": rule_exprs()}
    assert len(exprs["dashboard"]) >= 15 and len(exprs["rules"]) >= 15
    used = set()
    for where, items in exprs.items():
        for e in items:
            names = metric_names(e)
            assert names, f"{where}: no metric in {e!r}"
            unknown = names - exported
            assert not unknown, f"{where}: {sorted(unknown)} not exported by /metrics, in {e!r}"
            used |= names
    # The dashboard and the rules between them look at every family synchub exports.
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    missing = {f for f, _ in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)} - families - used
    assert not missing, f"families nobody charts or alerts on: {sorted(missing)}"
