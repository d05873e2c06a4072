"""Job model, CLI and configuration against docs/SPEC-inbox.md ("Job model", "CLI", "Configuration").

Jobs are created with `synchub enqueue` using the test kinds (`[debug] test_handlers = true`): test.noop,
test.flaky, test.needs_file, test.record. `[kind test.flaky]` has backoff_base 100ms / backoff_cap 500ms so a
few retries take well under a second.
"""

import json
import os
import re
import sqlite3
import subprocess

import pytest

from conftest import STORE_ENGINE, sqlite_only
from conftest import (BIN, EXIT_FAILURE, EXIT_STORE, EXIT_USAGE, PREVIOUS_SECRET, SECRET, SHOP, cli_job_id,
                      fixture_bytes, parse_iso, record_output, render_config, wait_until)

ERROR_FIELDS = {"class", "code", "message", "record", "hint", "retry_safe"}
JOB_FIELDS = {"id", "kind", "state", "ordering_key", "priority", "attempts", "max_attempts", "event_time", "run_at",
              "created_at", "updated_at", "source", "correlation_id", "last_error"}


@pytest.fixture
def running(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=2)
    hub.start()
    return hub


def assert_error_shape(err, cls):
    assert isinstance(err, dict), f"last_error should be an object, got {err!r}"
    assert ERROR_FIELDS <= set(err), f"last_error lacks {ERROR_FIELDS - set(err)}: {err}"
    assert err["class"] == cls, err
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["retry_safe"], bool), err


# ---------------------------------------------------------------------------------------------------------------
# enqueue, list, show


def test_enqueue_derives_the_id_and_a_second_enqueue_is_a_duplicate(running):
    word, job_id = running.enqueue("test.noop", "k-dup", {})
    assert word == "enqueued"
    assert job_id == cli_job_id("test.noop", "k-dup"), "id = first 32 hex of SHA-256(cli|<kind>|<key>)"
    word2, job_id2 = running.enqueue("test.noop", "k-dup", {"other": "payload"})
    assert (word2, job_id2) == ("duplicate", job_id)
    # the same key under another kind is another job
    word3, job_id3 = running.enqueue("test.flaky", "k-dup", {"fail_times": 0, "class": "transient"})
    assert word3 == "enqueued" and job_id3 == cli_job_id("test.flaky", "k-dup") != job_id
    assert sorted(j["id"] for j in running.jobs()) == sorted([job_id, job_id3])


def test_jobs_list_json_shape_and_filters(running):
    _, done_id = running.enqueue("test.noop", "k-list-1", {})
    _, dead_id = running.enqueue("test.needs_file", "k-list-2", {"path": str(running.dir / "absent.txt")})
    running.wait_state(done_id, "done")
    running.wait_state(dead_id, "dead")
    jobs = running.jobs()
    assert len(jobs) == 2
    for j in jobs:
        assert JOB_FIELDS <= set(j), f"job object lacks {JOB_FIELDS - set(j)}"
    assert [j["id"] for j in running.jobs(state="done")] == [done_id]
    assert [j["id"] for j in running.jobs(state="dead")] == [dead_id]
    assert [j["id"] for j in running.jobs(kind="test.needs_file")] == [dead_id]
    assert running.jobs(state="queued") == []
    limited = running.cli_json("jobs", "list", "--json", "--limit", "1")
    assert len(limited) == 1


TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HISTORY_FIELDS = {"n", "started_at", "finished_at", "outcome", "class", "code", "message"}


def test_jobs_show_json_shape(running):
    """`jobs show --json` = the list object + payload, meta, history of {n, started_at, finished_at, outcome,
    class, code, message}; times are ISO 8601 UTC with milliseconds."""
    _, job_id = running.enqueue("test.flaky", "k-shape", {"fail_times": 1, "class": "transient"})
    job = running.wait_state(job_id, "done", timeout=30)
    assert JOB_FIELDS | {"payload", "meta", "history"} <= set(job), set(job)
    for f in ("event_time", "run_at", "created_at", "updated_at"):
        assert TIME_RE.match(job[f]), (f, job[f])
    assert len(job["history"]) == 2
    for h in job["history"]:
        assert TIME_RE.match(h["started_at"]) and TIME_RE.match(h["finished_at"]), h
        assert HISTORY_FIELDS <= set(h), f"history entry lacks {HISTORY_FIELDS - set(h)}: {h}"
    assert job["history"][0]["class"] == "transient"
    assert job["history"][1]["class"] is None, job["history"][1]


def test_jobs_show_accepts_an_8_digit_prefix(running):
    _, job_id = running.enqueue("test.noop", "k-prefix", {"hello": "world"})
    running.wait_state(job_id, "done")
    shown = running.show(job_id[:8])
    assert shown["id"] == job_id
    payload = shown["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    assert payload == {"hello": "world"}
    assert isinstance(shown["history"], list) and len(shown["history"]) == 1
    cp = running.run("jobs", "show", "0" * 32, "--json")
    assert cp.returncode == EXIT_FAILURE, (cp.returncode, cp.stdout, cp.stderr)
    cp = running.run("jobs", "show", job_id[:7], "--json")
    assert cp.returncode != 0, "a prefix shorter than 8 hex digits is not an id"


def test_higher_priority_runs_first(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.start()
    log = hub.dir / "prio.jsonl"
    _, low = hub.enqueue("test.record", "k-low", {"log": str(log), "tag": "low", "sleep_ms": 0}, priority=1)
    _, mid = hub.enqueue("test.record", "k-mid", {"log": str(log), "tag": "mid", "sleep_ms": 0}, priority=5)
    _, high = hub.enqueue("test.record", "k-high", {"log": str(log), "tag": "high", "sleep_ms": 0}, priority=50)
    assert {j["id"]: j["priority"] for j in hub.jobs()} == {low: 1, mid: 5, high: 50}
    hub.stop()
    hub.set("server", workers=1)
    hub.start()
    for jid in (low, mid, high):
        hub.wait_state(jid, "done")
    tags = [json.loads(x)["tag"] for x in log.read_text().splitlines() if x.strip()]
    assert tags == ["high", "mid", "low"], tags


@sqlite_only
def test_cli_on_a_write_locked_store_exits_3_and_stores_nothing(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.start()
    hub.stop()
    locker = sqlite3.connect(str(hub.store), timeout=10, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        pfile = hub.dir / "locked-payload.json"
        pfile.write_text("{}")
        cp = hub.run("enqueue", "--kind", "test.noop", "--key", "k-locked", "--payload", pfile)
        assert cp.returncode == EXIT_STORE, (cp.returncode, cp.stdout, cp.stderr)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert hub.jobs() == []


# ---------------------------------------------------------------------------------------------------------------
# retries and dead letters


def test_transient_failures_are_retried_until_done(running):
    _, job_id = running.enqueue("test.flaky", "k1", {"fail_times": 3, "class": "transient"})
    job = running.wait_state(job_id, "done", timeout=30)
    assert job["attempts"] == 4, job
    history = job["history"]
    assert len(history) == 4, history
    assert [h["n"] for h in history] == [1, 2, 3, 4]
    outcomes = [h["outcome"] for h in history]
    assert outcomes[:3] == ["retry"] * 3, outcomes
    assert outcomes[3] != "retry", outcomes
    assert all(h["class"] == "transient" for h in history[:3]), history
    assert not history[3].get("class"), history[3]
    for h in history:
        assert h["started_at"] and h["finished_at"], h


def test_transient_failures_beyond_max_attempts_go_dead(running):
    _, job_id = running.enqueue("test.flaky", "k-exhaust", {"fail_times": 50, "class": "transient"},
                                max_attempts=3)
    job = running.wait_state(job_id, "dead", timeout=30)
    assert job["attempts"] == 3, job
    assert job["max_attempts"] == 3, job
    assert len(job["history"]) == 3
    assert_error_shape(job["last_error"], "transient")


def test_retry_of_a_dead_job_renews_the_attempt_budget(running):
    """max_attempts 2, fails 3 times: dead after 2; `jobs retry` gives it a new budget, so attempt 3 failing is a
    retry again (not dead) and attempt 4 succeeds."""
    _, job_id = running.enqueue("test.flaky", "k-budget", {"fail_times": 3, "class": "transient"}, max_attempts=2)
    job = running.wait_state(job_id, "dead", timeout=30)
    assert job["attempts"] == 2, job
    running.cli("jobs", "retry", job_id)
    job = running.wait_state(job_id, ("done", "dead"), timeout=30)
    assert job["state"] == "done", f"the retried job did not get a new attempt budget: {job}"
    assert job["attempts"] == 4, job
    assert [h["outcome"] for h in job["history"]][:3] == ["retry", "dead", "retry"], job["history"]


def test_retry_runs_a_job_waiting_for_its_backoff_now(make_synchub):
    hub = make_synchub()
    hub.set("kind test.flaky", backoff_base="1h", backoff_cap="1h")
    hub.start()
    _, job_id = hub.enqueue("test.flaky", "k-backoff", {"fail_times": 1, "class": "transient"})
    job = hub.wait_state(job_id, "retry")
    assert job["attempts"] == 1
    assert parse_iso(job["run_at"]) > parse_iso(job["updated_at"]), "a retry waits for its backoff"
    st = hub.status()
    assert st["states"].get("retry") == 1 and st["retries_last_hour"] == 1, st
    hub.cli("jobs", "retry", job_id)
    job = hub.wait_state(job_id, "done")
    assert job["attempts"] == 2, job


def test_kind_section_sets_max_attempts_and_priority(make_synchub):
    hub = make_synchub()
    hub.set("kind test.flaky", max_attempts=2, priority=77)
    hub.start()
    _, job_id = hub.enqueue("test.flaky", "k-kindcfg", {"fail_times": 50, "class": "transient"})
    job = hub.wait_state(job_id, "dead", timeout=30)
    assert job["attempts"] == 2 and job["max_attempts"] == 2, job
    assert job["priority"] == 77, job


@pytest.mark.parametrize("cls", ["configuration", "data"])
def test_configuration_and_data_errors_go_dead_at_once(running, cls):
    _, job_id = running.enqueue("test.flaky", f"k-{cls}", {"fail_times": 5, "class": cls})
    job = running.wait_state(job_id, "dead")
    assert job["attempts"] == 1, job
    assert len(job["history"]) == 1, job["history"]
    assert_error_shape(job["last_error"], cls)


def test_missing_file_is_a_configuration_error_until_fixed_then_retry(running):
    path = running.dir / "needed" / "mapping.csv"
    _, job_id = running.enqueue("test.needs_file", "k-file", {"path": str(path)})
    job = running.wait_state(job_id, "dead")
    assert job["attempts"] == 1
    assert_error_shape(job["last_error"], "configuration")
    assert str(path) in job["last_error"]["message"], job["last_error"]

    path.parent.mkdir()
    path.write_text("sku,odoo_id\n")
    cp = running.cli("jobs", "retry", job_id)
    assert cp.returncode == 0
    job = running.wait_state(job_id, "done")
    assert len(job["history"]) == 2, job["history"]
    assert job["history"][0]["class"] == "configuration"


def test_bulk_retry_of_dead_jobs_by_class(running):
    paths = [running.dir / f"bulk-{i}.txt" for i in range(2)]
    cfg_ids = [running.enqueue("test.needs_file", f"k-bulk-{i}", {"path": str(p)})[1] for i, p in enumerate(paths)]
    _, data_id = running.enqueue("test.flaky", "k-bulk-data", {"fail_times": 1, "class": "data"})
    for jid in cfg_ids + [data_id]:
        running.wait_state(jid, "dead")
    for p in paths:
        p.write_text("ok")
    running.cli("jobs", "retry", "--dead", "--class", "configuration")
    for jid in cfg_ids:
        running.wait_state(jid, "done")
    # The data-class dead job was not selected: still dead, still one attempt.
    data_job = running.show(data_id)
    assert data_job["state"] == "dead" and data_job["attempts"] == 1, data_job
    # Without --class every dead job is retried (test.flaky fail_times 1 then succeeds on its next attempt).
    running.cli("jobs", "retry", "--dead")
    running.wait_state(data_id, "done")


def test_discard(running):
    path = running.dir / "discard.txt"
    _, job_id = running.enqueue("test.needs_file", "k-discard", {"path": str(path)})
    running.wait_state(job_id, "dead")
    running.cli("jobs", "discard", job_id[:8])
    assert running.show(job_id)["state"] == "discarded"
    # A discarded job is not run again, not even when its cause is fixed and dead jobs are bulk-retried.
    path.write_text("ok")
    running.cli("jobs", "retry", "--dead")
    _, probe = running.enqueue("test.noop", "k-discard-probe", {})
    running.wait_state(probe, "done")
    job = running.show(job_id)
    assert job["state"] == "discarded" and job["attempts"] == 1, job
    # done -> discarded is not a transition: exit 1, nothing changes
    cp = running.run("jobs", "discard", probe)
    assert cp.returncode == EXIT_FAILURE, (cp.returncode, cp.stdout, cp.stderr)
    assert running.show(probe)["state"] == "done"


def test_replay_runs_a_done_job_again(running):
    log = running.dir / "replay.jsonl"
    _, job_id = running.enqueue("test.record", "k-replay", {"log": str(log), "tag": "r", "sleep_ms": 0})
    job = running.wait_state(job_id, "done")
    assert job["attempts"] == 1
    running.cli("jobs", "replay", job_id)
    job = wait_until(lambda: (lambda j: j if j["state"] == "done" and len(j["history"]) == 2 else None)(
        running.show(job_id)), timeout=20, msg="replayed job done with 2 attempts")
    assert job["attempts"] == 2, job
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    assert [x["job"] for x in lines] == [job_id, job_id], lines


def test_refused_transitions_exit_1(running):
    _, done_id = running.enqueue("test.noop", "k-refuse-done", {})
    _, dead_id = running.enqueue("test.needs_file", "k-refuse-dead", {"path": str(running.dir / "nope")})
    running.wait_state(done_id, "done")
    running.wait_state(dead_id, "dead")
    for args, jid, state in [(("jobs", "replay", dead_id), dead_id, "dead"),
                             (("jobs", "retry", done_id), done_id, "done")]:
        cp = running.run(*args)
        assert cp.returncode == EXIT_FAILURE, (args, cp.returncode, cp.stdout, cp.stderr)
        assert running.show(jid)["state"] == state


def test_unknown_kind_goes_dead_with_a_configuration_error_naming_it(running):
    _, job_id = running.enqueue("shopify.no_such_kind", "k-unknown", {"x": 1})
    job = running.wait_state(job_id, "dead")
    assert_error_shape(job["last_error"], "configuration")
    assert "shopify.no_such_kind" in job["last_error"]["message"], job["last_error"]
    assert job["attempts"] <= 1, job


def test_test_kinds_exist_only_with_debug_test_handlers(make_synchub):
    hub = make_synchub()
    hub.set("debug", test_handlers="false")
    hub.set("kind test.flaky", max_attempts=None, backoff_base=None, backoff_cap=None)
    hub.start()
    _, job_id = hub.enqueue("test.noop", "k-nodebug", {})
    job = hub.wait_state(job_id, "dead")
    assert_error_shape(job["last_error"], "configuration")
    assert "test.noop" in job["last_error"]["message"]


# ---------------------------------------------------------------------------------------------------------------
# status


def test_status_json_counts(running):
    _, noop = running.enqueue("test.noop", "k-st-1", {})
    _, flaky = running.enqueue("test.flaky", "k-st-2", {"fail_times": 2, "class": "transient"})
    dead = [running.enqueue("test.needs_file", f"k-st-d{i}", {"path": str(running.dir / f"st{i}")})[1]
            for i in range(2)]
    for jid in (noop, flaky):
        running.wait_state(jid, "done", timeout=30)
    for jid in dead:
        running.wait_state(jid, "dead")
    st = running.status()
    states = st["states"]
    assert states.get("done") == 2, st
    assert states.get("dead") == 2, st
    assert states.get("queued", 0) == 0 and states.get("running", 0) == 0 and states.get("retry", 0) == 0, st
    assert st["dead"] == 2, st
    assert st["retries_last_hour"] == 2, st
    assert st["oldest_queued_age_seconds"] is None, st

    running.stop()
    running.enqueue("test.noop", "k-st-q1", {})
    running.enqueue("test.noop", "k-st-q2", {})
    st = running.status()
    assert st["states"].get("queued") == 2, st
    age = st["oldest_queued_age_seconds"]
    assert isinstance(age, (int, float)) and age >= 0, st
    # human form works too
    cp = running.cli("status")
    assert cp.stdout.strip()


# ---------------------------------------------------------------------------------------------------------------
# configuration


def line_of(text, needle):
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in config")


def test_check_config_accepts_the_default_config(hub):
    cp = hub.run("check-config")
    assert cp.returncode == 0, (cp.stdout, cp.stderr)


@pytest.mark.parametrize("section,key,value,needle", [
    ("server", "wrokers", "4", "wrokers"),                        # unknown key
    ("server", "listen", "127.0.0.1:0", "listen"),                # port 0 is refused
    ("server", "max_body", "lots", "max_body"),                   # bad size
    ("server", "ack_timeout", "soon", "ack_timeout"),             # bad duration
    ("store", "retention", "1h", "retention"),                    # must be >= 4h
    ("store", "backend", "mysql", "backend"),
    ("log", "level", "chatty", "level"),
    ("kind test.flaky", "lease", "-5s", "lease"),
], ids=["unknown-key", "port-0", "bad-size", "bad-duration", "short-retention", "bad-backend", "bad-level",
        "negative-lease"])
def test_check_config_reports_file_and_line_and_exits_2(hub, section, key, value, needle):
    hub.set(section, **{key: value})
    hub.config.write_text(render_config(hub.sections))   # as set (write_config would put a fresh port in listen)
    text = hub.config.read_text()
    lineno = line_of(text, f"{needle} = {value}")
    cp = hub.run("check-config")
    assert cp.returncode == EXIT_USAGE, (cp.returncode, cp.stdout, cp.stderr)
    assert f"{hub.config}:{lineno}:" in cp.stderr, f"expected `{hub.config}:{lineno}: ...` in stderr:\n{cp.stderr}"


@pytest.mark.parametrize("section,key,value", [
    ("server", "ack_timeout", "2"),          # plain number = seconds
    ("server", "ack_timeout", "1500ms"),
    ("server", "shutdown_grace", "1m"),
    ("server", "max_body", "65536"),         # plain bytes
    ("server", "max_body", "1MiB"),
    ("store", "retention", "4h"),            # the minimum
    ("store", "retention", "7d"),
    ("kind test.record", "lease", "5m"),
    ("log", "format", "json"),
])
def test_check_config_accepts_documented_value_forms(hub, section, key, value):
    hub.set(section, **{key: value})
    hub.write_config()
    cp = hub.run("check-config")
    assert cp.returncode == 0, (cp.stdout, cp.stderr)


def test_config_from_synchub_config_env(hub):
    env = dict(os.environ, SYNCHUB_CONFIG=str(hub.config))
    cp = subprocess.run([str(BIN), "status", "--json"], capture_output=True, text=True, env=env, timeout=30,
                        cwd=str(hub.dir), stdin=subprocess.DEVNULL)
    record_output("status via SYNCHUB_CONFIG", cp.stdout, cp.stderr)
    assert cp.returncode == 0, (cp.stdout, cp.stderr)
    assert "states" in json.loads(cp.stdout)
    assert STORE_ENGINE != "sqlite" or hub.store.exists()


@pytest.mark.parametrize("args", [
    ("frobnicate",),
    ("jobs", "frobnicate"),
    ("jobs", "retry"),
    ("jobs", "list", "--state", "sleeping"),
    ("enqueue", "--key", "k-no-kind"),
])
def test_usage_errors_exit_2(hub, args):
    cp = hub.run(*args)
    assert cp.returncode == EXIT_USAGE, (args, cp.returncode, cp.stdout, cp.stderr)
    assert cp.stderr.strip()


def test_json_log_format(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=1)
    hub.set("log", format="json")
    hub.start()
    assert hub.post_webhook(fixture_bytes("orders_create.json"), event_id="evt-jsonlog")[0] == 200
    hub.stop()
    lines = [x for x in hub.log_text().splitlines() if x.strip() and not x.startswith("==== serve start")]
    assert len(lines) >= 2, lines
    for x in lines:
        assert isinstance(json.loads(x), dict), x


def test_check_config_unknown_section(hub):
    hub.config.write_text(hub.config.read_text() + "\n[serverr]\nworkers = 1\n")
    lineno = line_of(hub.config.read_text(), "[serverr]")
    cp = hub.run("check-config")
    assert cp.returncode == EXIT_USAGE
    # the section header's line, or the line of its first key
    assert f"{hub.config}:{lineno}:" in cp.stderr or f"{hub.config}:{lineno + 1}:" in cp.stderr, cp.stderr
    assert "serverr" in cp.stderr


def test_check_config_unknown_empty_section(hub):
    """A misspelt section with no keys (yet) is still an unknown section."""
    hub.config.write_text(hub.config.read_text() + "\n[shopp acme-outfitters.myshopify.com]\n")
    lineno = line_of(hub.config.read_text(), "[shopp ")
    cp = hub.run("check-config")
    assert cp.returncode == EXIT_USAGE, (cp.returncode, cp.stdout, cp.stderr)
    assert f"{hub.config}:{lineno}:" in cp.stderr, cp.stderr


def test_serve_refuses_a_bad_config_with_exit_2(hub):
    hub.set("server", wrokers="1")
    hub.write_config()
    cp = subprocess.run([str(BIN), "serve", "--config", str(hub.config)], capture_output=True, text=True,
                        timeout=30, stdin=subprocess.DEVNULL)
    record_output("serve with a bad config", cp.stdout, cp.stderr)
    assert cp.returncode == EXIT_USAGE, (cp.returncode, cp.stderr)
    assert f"{hub.config}:" in cp.stderr


def test_secret_from_env_and_file(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0)
    secret_file = hub.dir / "shop.secret"
    secret_file.write_text(PREVIOUS_SECRET + "\n")
    hub.set(f"shop {SHOP}", webhook_secret=None, webhook_secret_env="ACME_WEBHOOK_SECRET",
            webhook_secret_previous_file=str(secret_file))
    hub.write_config()
    env = {"ACME_WEBHOOK_SECRET": SECRET}
    assert hub.run("check-config", env=env).returncode == 0
    hub.start(env=env)
    body = fixture_bytes("orders_create.json")
    s1, d1 = hub.post_webhook(body, event_id="evt-env", secret=SECRET)
    s2, d2 = hub.post_webhook(body, event_id="evt-file", secret=PREVIOUS_SECRET)
    assert (s1, d1.get("status")) == (200, "stored"), d1
    assert (s2, d2.get("status")) == (200, "stored"), d2
    hub.stop()
    # unset env var -> FILE:LINE and exit 2
    cp = hub.run("check-config", env={"ACME_WEBHOOK_SECRET": None})
    assert cp.returncode == EXIT_USAGE, (cp.stdout, cp.stderr)
    assert f"{hub.config}:{line_of(hub.config.read_text(), 'webhook_secret_env')}:" in cp.stderr, cp.stderr
    # unreadable secret file -> exit 2
    secret_file.unlink()
    cp = hub.run("check-config", env=env)
    assert cp.returncode == EXIT_USAGE, (cp.stdout, cp.stderr)
    assert f"{hub.config}:{line_of(hub.config.read_text(), 'webhook_secret_previous_file')}:" in cp.stderr


@pytest.mark.parametrize("length", [5000, 65000])
def test_long_config_lines_work(make_synchub, length):
    secret = ("Lq7" * (length // 3 + 1))[:length]
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.set(f"shop {SHOP}", webhook_secret=secret)
    hub.write_config()
    assert max(len(x) for x in hub.config.read_text().splitlines()) > length
    cp = hub.run("check-config")
    assert cp.returncode == 0, (cp.stdout, cp.stderr[:2000])
    hub.start()
    body = fixture_bytes("orders_create.json")
    status, doc = hub.post_webhook(body, event_id="evt-long", secret=secret)
    assert (status, doc.get("status")) == (200, "stored"), doc
    # Not silently truncated: a prefix of the secret does not verify.
    for cut in (200, 255, 256, 1023, 1024, 4095, 4096):
        if cut < length:
            status, _ = hub.post_webhook(body, event_id=f"evt-cut-{cut}", secret=secret[:cut])
            assert status == 401, f"signature with the first {cut} chars of the secret was accepted"


def test_secrets_never_appear_in_cli_output_or_server_log(make_synchub):
    cur = "S3cr3t-current-" + "9f8e7d6c5b4a39281706"
    prev = "S3cr3t-previous-" + "0a1b2c3d4e5f60718293"
    hub = make_synchub()
    hub.set("server", workers=1)
    hub.set(f"shop {SHOP}", webhook_secret=cur, webhook_secret_previous=prev)
    hub.set("log", level="debug")
    hub.start()
    body = fixture_bytes("orders_create.json")
    good, doc = hub.post_webhook(body, event_id="evt-s1", secret=cur)
    assert good == 200, doc
    assert hub.post_webhook(body, event_id="evt-s2", secret=prev)[0] == 200
    assert hub.post_webhook(body, event_id="evt-s3", secret="wrong")[0] == 401
    assert hub.post_webhook(body, event_id="evt-s4", secret=cur, prefix="")[0] == 200
    assert hub.post_webhook(body, event_id="evt-s5", shop="other.myshopify.com", secret=cur)[0] == 404
    hub.enqueue("test.noop", "k-secret", {})
    hub.run("check-config")
    hub.run("check-config", "--json")
    hub.run("status")
    hub.run("status", "--json")
    hub.run("version")
    hub.run("jobs", "list")
    jobs = hub.jobs()
    for j in jobs:
        hub.run("jobs", "show", j["id"])
        hub.run("jobs", "show", j["id"], "--json")
    hub.run("--help")
    # a config error in the shop section must not echo the secret either
    bad = hub.dir / "bad.ini"
    bad.write_text(hub.config.read_text().replace(f"webhook_secret = {cur}",
                                                  f"webhook_secret = {cur}\nwebhook_secrett = {cur}"))
    cp = hub.run("check-config", config=bad)
    assert cp.returncode == EXIT_USAGE
    hub.stop()
    leaks = []
    for argv, out, err in hub.cli_outputs:
        for s in (cur, prev):
            if s in out or s in err:
                leaks.append((argv[1:-2], s))
    log = hub.log_text()
    assert log.strip(), "the server wrote no log at level debug"
    for s in (cur, prev):
        if s in log:
            leaks.append(("serve log", s))
    assert not leaks, f"secret printed by: {leaks}"


@sqlite_only
def test_relative_store_path_is_relative_to_the_config_folder(make_synchub, tmp_path):
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.set("store", path="data/rel.db")
    (hub.dir / "data").mkdir()
    hub.write_config()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cp = subprocess.run([str(BIN), "enqueue", "--kind", "test.noop", "--key", "rel", "--payload",
                         str(_payload(hub.dir)), "--config", str(hub.config)], capture_output=True, text=True,
                        cwd=str(elsewhere), timeout=30, stdin=subprocess.DEVNULL)
    record_output("enqueue from another folder", cp.stdout, cp.stderr)
    assert cp.returncode == 0, (cp.stdout, cp.stderr)
    assert (hub.dir / "data" / "rel.db").exists()
    assert not (elsewhere / "data").exists()


def _payload(folder):
    p = folder / "empty-payload.json"
    p.write_text("{}")
    return p


def test_version(hub):
    cp = hub.run("version")
    assert cp.returncode == 0, cp.stderr
    assert re.search(r"sqlite", cp.stdout, re.I), cp.stdout
