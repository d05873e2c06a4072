"""Integration tests of GET /metrics and the /readyz bounds (docs/SPEC-inbox.md "HTTP", docs/OPERATIONS.md "Metrics").

The real `synchub serve` is scraped before and after what a test does, and every exposition is read by a strict
parser of the Prometheus text format (every line well-formed, every family announced by # HELP and # TYPE before
its samples, histogram buckets cumulative and ending in +Inf == _count). Counters are checked as exact deltas.
Every body scraped joins the secret-hygiene scan (record_output), and the configured secrets are also looked for
directly. The order test's Odoo is the emulator, or a real Odoo 18/19 when SYNCHUB_TEST_ODOO_URL and the admin
credentials are set (tests/integration/odoo_real.py; the emulator's call log is then not there to compare with).
"""

import math
import os
import re
import sys

import pytest

from conftest import PREVIOUS_SECRET, REPO, SECRET, SHOP, fixture_bytes, http_request, record_output, wait_until

sys.path.insert(0, str(REPO / "tests" / "sim"))
import odoo_sim  # noqa: E402
import shopify_sim  # noqa: E402
from odoo_real import REAL_ODOO, odoo, odoo_login, shopify, use_shop  # noqa: E402,F401

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# --------------------------------------------------------------------------------------------------------------
# A strict reader of the text format (version 0.0.4)

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_RE = re.compile(rf"^({NAME})(\{{(?:{LABEL}(?:,{LABEL})*)?\}})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
HELP_RE = re.compile(rf"^# HELP ({NAME}) (.*)$")
TYPE_RE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")
SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_value(text, line):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", text), f"bad value in {line!r}"
    return float(text)


def parse_exposition(text):
    """{family: {"type", "help", "samples": [(name, labels dict, value)]}}; asserts the format as it goes."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families, current = {}, None
    for line in text.split("\n")[:-1]:
        assert line, "empty line in the exposition"
        m = HELP_RE.match(line)
        if m:
            assert m.group(1) not in families, f"family {m.group(1)} announced twice"
            current = families[m.group(1)] = {"help": m.group(2), "type": None, "samples": []}
            current["name"] = m.group(1)
            continue
        m = TYPE_RE.match(line)
        if m:
            assert current is not None and current["name"] == m.group(1) and current["type"] is None, \
                f"# TYPE {m.group(1)} without its # HELP just before"
            current["type"] = m.group(2)
            continue
        assert not line.startswith("#"), f"unexpected comment line {line!r}"
        m = SAMPLE_RE.match(line)
        assert m, f"malformed sample line {line!r}"
        name, labels = m.group(1), {}
        assert current is not None and current["type"], f"sample {name} before its family's # HELP and # TYPE"
        assert name in [current["name"] + s for s in SUFFIXES[current["type"]]], \
            f"sample {name} inside family {current['name']} ({current['type']})"
        for k, v in LABEL_RE.findall(m.group(2) or ""):
            assert k not in labels, f"label {k} twice in {line!r}"
            labels[k] = unescape(v)
        current["samples"].append((name, labels, parse_value(m.group(3), line)))
    for fam in families.values():
        assert fam["name"].startswith("synchub_"), f"{fam['name']} lacks the synchub_ prefix"
        if fam["type"] == "counter":
            assert fam["name"].endswith("_total"), f"counter {fam['name']} does not end in _total"
        if fam["type"] == "histogram":
            check_histogram(fam)
    return families


def check_histogram(fam):
    """Per series: buckets in ascending le, cumulative counts, the last le is +Inf and equals _count; a _sum."""
    series = {}
    for name, labels, value in fam["samples"]:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            assert "le" in labels, f"bucket without le in {fam['name']}"
            s["buckets"].append((parse_value(labels["le"], labels["le"]), value))
        elif name.endswith("_sum"):
            s["sum"] = value
        else:
            s["count"] = value
    for key, s in series.items():
        les = [le for le, _ in s["buckets"]]
        assert les == sorted(les) and len(set(les)) == len(les), f"{fam['name']}{key}: le not ascending"
        assert les and les[-1] == math.inf, f"{fam['name']}{key}: the last bucket is not +Inf"
        counts = [c for _, c in s["buckets"]]
        assert counts == sorted(counts), f"{fam['name']}{key}: buckets not cumulative {counts}"
        assert s["count"] == counts[-1], f"{fam['name']}{key}: +Inf {counts[-1]} != _count {s['count']}"
        assert s["sum"] is not None, f"{fam['name']}{key}: no _sum"


def value(families, name, **labels):
    """The sample name{labels} (exact label set; a histogram's _bucket needs le), or 0 when absent."""
    fam_name = re.sub(r"_(bucket|sum|count)$", "", name) if name not in families else name
    fam = families.get(fam_name) or families.get(name)
    assert fam, f"family of {name} is not in the exposition"
    want = {k: str(v) for k, v in labels.items()}
    for n, l, v in fam["samples"]:
        if n == name and l == want:
            return v
    return 0


def scrape(hub):
    """GET /metrics: asserts 200 and the content type, registers the body for the secret scan, parses it."""
    status, _doc, raw = http_request(hub.port, "GET", "/metrics")
    text = raw.decode("utf-8")
    record_output(f"GET /metrics of {hub.dir.name}", text)
    assert status == 200, text[:500]
    for secret in (SECRET, PREVIOUS_SECRET, odoo_sim.SYNC_API_KEY, shopify_sim.DEFAULT_TOKEN,
                   os.environ.get("SYNCHUB_TEST_ODOO_KEY")):
        assert not secret or secret not in text, "a configured secret appears in /metrics"
    return parse_exposition(text)


def deliveries(families, outcome):
    return value(families, "synchub_webhook_deliveries_total", source="shopify", outcome=outcome)


# --------------------------------------------------------------------------------------------------------------
# Deliveries


def test_every_delivery_outcome_is_counted_exactly(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0, max_body="64KiB")
    hub.set(f"shop {SHOP}", webhook_secret_previous=PREVIOUS_SECRET)
    hub.start()
    before = scrape(hub)
    for outcome in ("stored", "duplicate", "bad_signature", "too_large", "unknown_shop", "bad_request",
                    "unavailable"):
        assert any(s[1].get("outcome") == outcome for s in before["synchub_webhook_deliveries_total"]["samples"]), \
            f"no {outcome} series at start"
        assert deliveries(before, outcome) == 0, f"{outcome} is not 0 at start"
    (_name, labels, built), = before["synchub_build_info"]["samples"]
    assert built == 1 and re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", labels["version"]), labels
    assert value(before, "synchub_process_start_time_seconds") > 1.6e9

    body = fixture_bytes("orders_create.json")
    assert hub.post_webhook(body, event_id="evt-m-1")[0] == 200                      # stored
    assert hub.post_webhook(body, event_id="evt-m-1")[1]["status"] == "duplicate"    # duplicate
    assert hub.post_webhook(body, event_id="evt-m-1")[1]["status"] == "duplicate"    # duplicate again
    assert hub.post_webhook(body, event_id="evt-m-2", secret="not-the-secret")[0] == 401
    assert hub.post_webhook(b"{" + b" " * (70 * 1024) + b"}", event_id="evt-m-3")[0] == 413
    assert hub.post_webhook(body, event_id="evt-m-4", shop="other.myshopify.com")[0] == 404
    assert hub.post_webhook(body, event_id="evt-m-5", topic=None)[0] == 400
    assert hub.post_webhook(b"{not json", event_id="evt-m-6")[0] == 400
    after = scrape(hub)
    expected = {"stored": 1, "duplicate": 2, "bad_signature": 1, "too_large": 1, "unknown_shop": 1,
                "bad_request": 2, "unavailable": 0}
    got = {o: deliveries(after, o) - deliveries(before, o) for o in expected}
    assert got == expected
    # the stored job is in the depth gauge, and with workers = 0 it waits: lag and age grow
    assert value(after, "synchub_queue_jobs", state="queued", kind="shopify.order") == 1
    assert value(after, "synchub_store_up") == 1
    wait_until(lambda: value(scrape(hub), "synchub_queue_lag_seconds") > 0, msg="lag above 0")
    assert value(scrape(hub), "synchub_queue_oldest_job_age_seconds", state="queued", kind="shopify.order") > 0
    hub.stop()


# --------------------------------------------------------------------------------------------------------------
# Jobs, attempts, dead letters


def test_dead_job_shows_in_attempts_by_class_and_in_depth(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=2)
    hub.start()
    before = scrape(hub)
    _, dead_id = hub.enqueue("test.flaky", "m-dead", {"fail_times": 5, "class": "data"})
    _, retried_id = hub.enqueue("test.flaky", "m-retry", {"fail_times": 1, "class": "transient"})
    _, done_id = hub.enqueue("test.noop", "m-done", {})
    hub.wait_state(dead_id, "dead")
    hub.wait_state(retried_id, "done", timeout=30)
    hub.wait_state(done_id, "done")
    after = scrape(hub)

    def delta(**labels):
        return (value(after, "synchub_job_attempts_total", **labels) -
                value(before, "synchub_job_attempts_total", **labels))

    assert delta(kind="test.flaky", outcome="dead", **{"class": "data"}) == 1
    assert delta(kind="test.flaky", outcome="retry", **{"class": "transient"}) == 1
    assert delta(kind="test.flaky", outcome="done", **{"class": "none"}) == 1
    assert delta(kind="test.noop", outcome="done", **{"class": "none"}) == 1
    assert value(after, "synchub_queue_jobs", state="dead", kind="test.flaky") == 1
    assert value(after, "synchub_queue_oldest_job_age_seconds", state="dead", kind="test.flaky") >= 0
    assert value(after, "synchub_job_duration_seconds_count", kind="test.flaky") == 3
    assert value(after, "synchub_job_duration_seconds_count", kind="test.noop") == 1
    assert value(after, "synchub_job_leases_expired_total") == 0
    # the operator retries the dead job: it leaves the dead gauge
    hub.cli("jobs", "discard", dead_id)
    wait_until(lambda: value(scrape(hub), "synchub_queue_jobs", state="dead", kind="test.flaky") == 0,
               msg="dead gauge back to 0 after the discard")
    hub.stop()


# --------------------------------------------------------------------------------------------------------------
# Remote systems


def test_order_through_odoo_and_shopify_fills_the_latency_histograms(make_synchub, odoo, shopify):
    """One order (#1042) through Odoo and Shopify; Shopify answers the order fetch once with 429 + Retry-After, so
    the throttle counters move too."""
    hub = use_shop(make_synchub(), shopify)
    hub.set("server", workers=2)
    login, key = odoo_login(odoo)
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username=login, api_key=key, protocol="auto")
    hub.set(f"shop {shopify.shop}", shipping_product="SHIP-STD", admin_token=shopify_sim.DEFAULT_TOKEN,
            admin_url=shopify.url, api_version="2026-10", fulfillment_interval="0", inventory_interval="0",
            reconcile_interval="0")
    hub.set("kind shopify.order", max_attempts=10, backoff_base="200ms", backoff_cap="1s")
    hub.start()
    before = scrape(hub)
    shopify.set_fault("429", count=1, match={"operation": "Order"}, retry_after=0.2)
    status, body = hub.post_webhook(fixture_bytes("orders_create.json"), topic="orders/create",
                                    event_id="evt-metrics-1042", shop=shopify.shop)
    assert status == 200, body
    hub.wait_state(body["job"], "done", timeout=30)
    after = scrape(hub)
    odoo_load = value(after, "synchub_remote_request_duration_seconds_count", system="odoo",
                      method="sale.order.load")
    assert odoo_load > 0, "no sale.order.load request measured"
    assert value(after, "synchub_remote_request_duration_seconds_sum", system="odoo", method="sale.order.load") > 0
    assert value(after, "synchub_remote_request_duration_seconds_count", system="shopify", method="Order") > 0
    assert value(after, "synchub_job_attempts_total", kind="shopify.order", outcome="done", **{"class": "none"}) - \
        value(before, "synchub_job_attempts_total", kind="shopify.order", outcome="done", **{"class": "none"}) == 1
    errors = after["synchub_remote_request_errors_total"]["samples"]
    assert not [s for s in errors if s[1].get("system") == "odoo" and s[1]["class"] != "data"], errors
    # the emulator's own log of the calls agrees: every load request was measured once
    if not REAL_ODOO:
        assert odoo_load == len(odoo.calls(model="sale.order", method="load"))

    def delta(name):
        return value(after, name, shop=shopify.shop) - value(before, name, shop=shopify.shop)

    assert delta("synchub_shopify_throttled_total") == 1
    assert delta("synchub_shopify_throttle_waits_total") >= 1
    assert delta("synchub_shopify_throttle_wait_seconds_total") >= 0.15   # Retry-After 0.2 s, paused in full
    hub.stop()


# --------------------------------------------------------------------------------------------------------------
# /readyz bounds


def readyz(hub):
    status, doc, _raw = http_request(hub.port, "GET", "/readyz")
    record_output(f"GET /readyz of {hub.dir.name}", _raw)
    return status, doc


def test_readyz_fails_while_the_lag_exceeds_its_bound(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0, ready_max_lag="1s")
    hub.start()
    status, doc = readyz(hub)
    assert (status, doc["ready"]) == (200, True), doc
    hub.enqueue("test.noop", "m-lag", {})
    status, doc = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(readyz(hub)), timeout=20,
                             msg="/readyz 503 once the job waited over 1 s")
    assert doc["ready"] is False and doc["bound"] == "ready_max_lag", doc
    assert doc["limit"] == 1.0 and doc["value"] > 1.0 and doc["lag_seconds"] == doc["value"], doc
    assert "ready_max_lag" in doc["reason"] and doc["queued"] == 1, doc
    assert value(scrape(hub), "synchub_queue_lag_seconds") > 1.0
    hub.stop()

    # the same backlog with the bound off (the default): ready, the lag only reported
    hub.set("server", ready_max_lag=None)
    hub.start()
    wait_until(lambda: value(scrape(hub), "synchub_queue_lag_seconds") > 1.0, msg="lag over 1 s")
    status, doc = readyz(hub)
    assert (status, doc["ready"]) == (200, True), doc
    assert doc["lag_seconds"] > 1.0 and doc["queued"] == 1, doc
    hub.stop()


def test_readyz_fails_while_the_backlog_exceeds_its_bound(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0, ready_max_depth=1)
    hub.start()
    hub.enqueue("test.noop", "m-depth-1", {})
    status, doc = readyz(hub)
    assert (status, doc["ready"]) == (200, True), doc
    hub.enqueue("test.noop", "m-depth-2", {})
    status, doc = readyz(hub)
    assert status == 503 and doc["bound"] == "ready_max_depth", doc
    assert doc["limit"] == 1 and doc["value"] == 2 and doc["queued"] == 2, doc
    # durability first: a webhook is still stored while not ready
    body = fixture_bytes("orders_create.json")
    status, doc = hub.post_webhook(body, event_id="evt-m-depth")
    assert (status, doc["status"]) == (200, "stored"), doc
    hub.stop()
