"""The dashboard's JSON API (docs/SPEC-inbox.md, "Dashboard API"): operator tokens, failures grouped by cause,
bulk retry of exactly one cause, customer data masked until an audited reveal, every action audited with who,
CLI actions audited as cli:USER, and the page served with its security headers. Tokens never appear in output.
"""

import http.client
import json
import signal
import threading
import urllib.parse

import pytest

from conftest import SHOP, fixture_json, order_body, post_webhook, record_output, wait_until

ALICE = "alice-dashboard-token-5d1f0c9e7b"
BOB = "bob-dashboard-token-8a2e4f6c1d93"


def call(hub, method, path, token=ALICE, body=None, ctype="application/json"):
    """One request to the dashboard; returns (status, headers as a dict of lower-case names, parsed JSON or None).
    Every answer joins the secret-hygiene scan."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    try:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if method == "POST":
            data = json.dumps(body if body is not None else {}).encode()
            if ctype:
                headers["Content-Type"] = ctype
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read().decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        record_output(f"{method} {path} ({resp.status})", raw, json.dumps(hdrs))
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        return resp.status, hdrs, doc
    finally:
        conn.close()


def with_operators(hub, tmp_path):
    """alice inline, bob from a file (both forms of a secret key)."""
    token_file = tmp_path / "bob.token"
    token_file.write_text(BOB + "\n")
    hub.set("operator alice", token=ALICE)
    hub.set("operator bob", token_file=str(token_file))
    return hub


def dead_needs_file(hub, key, path, payload=None):
    doc = dict(payload or {})
    doc["path"] = str(path)
    _, job = hub.enqueue("test.needs_file", key, doc)
    return job


def audit_rows(hub):
    status, _, doc = call(hub, "GET", "/api/audit?limit=1000")
    assert status == 200, doc
    return doc["audit"]


def test_api_is_closed_without_operators_and_needs_a_valid_token(hub, tmp_path):
    hub.start()
    status, _, doc = call(hub, "GET", "/api/overview")
    assert status == 503 and doc["code"] == "web.no_operators", doc
    assert "[operator" in doc["hint"]
    hub.stop()

    with_operators(hub, tmp_path).start()
    for token in (None, "not-the-token-at-all-000000", ALICE[:-1], ALICE + "x"):
        status, hdrs, doc = call(hub, "GET", "/api/overview", token=token)
        assert status == 401, (token, doc)
        assert hdrs.get("www-authenticate", "").startswith("Bearer"), hdrs
    status, _, doc = call(hub, "GET", "/api/overview", token=ALICE)
    assert status == 200 and doc["counts"]["dead"] == 0, doc
    status, _, doc = call(hub, "GET", "/api/overview", token=BOB)
    assert status == 200, doc
    # A state-changing call needs JSON (a cross-site form cannot send it without a preflight).
    status, _, doc = call(hub, "POST", "/api/failures/retry", body={"class": "data", "code": "x"}, ctype="text/plain")
    assert status == 415, doc
    # Exactly that media type (issue 13): application/jsonx passed a prefix comparison.
    for ctype in ("application/jsonx", "application/json-patch+json", "application/json5"):
        status, _, doc = call(hub, "POST", "/api/failures/retry", body={"class": "data", "code": "x"}, ctype=ctype)
        assert status == 415, (ctype, doc)
    status, _, doc = call(hub, "POST", "/api/failures/retry", body={"class": "data", "code": "x"},
                          ctype="Application/JSON; charset=utf-8")
    assert status != 415, doc

    # The page itself needs no token, and is locked down.
    for path, ctype in (("/", "text/html"), ("/assets/app.js", "text/javascript"), ("/assets/app.css", "text/css")):
        status, hdrs, _ = call(hub, "GET", path, token=None)
        assert status == 200, path
        assert hdrs["content-type"].startswith(ctype), hdrs
        assert "default-src 'self'" in hdrs["content-security-policy"]
        assert hdrs["x-content-type-options"] == "nosniff"
        assert hdrs["x-frame-options"] == "DENY"
    hub.stop()
    log = hub.log_text()
    assert ALICE not in log and BOB not in log


def test_failures_grouped_by_cause_and_bulk_retry_takes_exactly_that_cause(hub, tmp_path):
    with_operators(hub, tmp_path).start()
    flags = [tmp_path / f"flag-{i}" for i in range(3)]
    missing = [dead_needs_file(hub, f"mf-{i}", flags[i]) for i in range(3)]
    flaky = [hub.enqueue("test.flaky", f"fl-{i}", {"fail_times": 99, "class": "data"})[1] for i in range(2)]
    # Same class as the missing files, another code: a kind without a handler.
    _, orphan = hub.enqueue("test.no_such_kind", "orphan", {})
    for job in missing + flaky + [orphan]:
        hub.wait_state(job, "dead")
    orphan_code = hub.show(orphan)["last_error"]["code"]
    assert hub.show(orphan)["last_error"]["class"] == "configuration" and orphan_code != "test.missing_file"

    status, _, doc = call(hub, "GET", "/api/failures")
    assert status == 200, doc
    causes = {(c["class"], c["code"]): c for c in doc["causes"]}
    assert doc["dead"] == 6
    assert set(causes) == {("configuration", "test.missing_file"), ("data", "test.flaky"),
                           ("configuration", orphan_code)}
    assert causes[("configuration", orphan_code)]["count"] == 1
    mf = causes[("configuration", "test.missing_file")]
    assert mf["count"] == 3 and mf["kinds"] == ["test.needs_file"] and mf["retry_safe"] is True
    assert mf["sample"]["job"] in missing
    assert mf["answers"]["retry_safe"] == "yes, after the fix"
    assert "does not exist" in mf["answers"]["missing"] and mf["answers"]["record"].startswith("job ")
    fl = causes[("data", "test.flaky")]
    assert fl["count"] == 2 and fl["retry_safe"] is False

    # A bulk action names one cause: no "retry everything".
    status, _, doc = call(hub, "POST", "/api/failures/retry", body={"class": "configuration"})
    assert status == 400, doc

    for f in flags:
        f.write_text("fixed\n")
    status, _, doc = call(hub, "POST", "/api/failures/retry", token=BOB,
                          body={"class": "configuration", "code": "test.missing_file"})
    assert status == 200 and doc["count"] == 3, doc
    for job in missing:
        hub.wait_state(job, "done")
    assert {hub.show(j)["state"] for j in flaky + [orphan]} == {"dead"}
    status, _, doc = call(hub, "GET", "/api/failures")
    assert [(c["class"], c["code"], c["count"]) for c in doc["causes"]] == [("data", "test.flaky", 2),
                                                                           ("configuration", orphan_code, 1)]

    status, _, doc = call(hub, "POST", "/api/failures/discard", body={"class": "data", "code": "test.flaky"})
    assert status == 200 and doc["count"] == 2, doc
    assert {hub.show(j)["state"] for j in flaky} == {"discarded"}

    rows = audit_rows(hub)
    assert [(r["actor"], r["action"], r["target"]) for r in rows[:2]] == [
        ("token:alice", "bulk-discard", "cause:data/test.flaky"),
        ("token:bob", "bulk-retry", "cause:configuration/test.missing_file")]
    assert rows[1]["detail"]["count"] == 3 and sorted(rows[1]["detail"]["jobs"]) == sorted(missing)

    status, _, doc = call(hub, "GET", "/api/overview")
    assert doc["counts"]["done"] == 3 and doc["dead"] == 1
    assert sum(b["done"] for b in doc["buckets"]) >= 3
    assert sum(b["failed"]["configuration"] for b in doc["buckets"]) >= 3
    assert sum(b["failed"]["data"] for b in doc["buckets"]) >= 2


def test_payload_is_masked_until_an_audited_reveal_and_every_action_is_audited(hub, tmp_path):
    with_operators(hub, tmp_path).start()
    order = fixture_json("orders_create.json")
    email = order["customer"]["email"]
    phone = order["customer"]["phone"]
    street = order["shipping_address"]["address1"]
    flag = tmp_path / "flag"
    job = dead_needs_file(hub, "order-1", flag, order)
    hub.wait_state(job, "dead")

    status, _, doc = call(hub, "GET", f"/api/jobs/{job}")
    assert status == 200, doc
    text = json.dumps(doc)
    for value in (email, phone, street, order["customer"]["last_name"]):
        assert value not in text, f"{value!r} is in the masked job view"
    assert doc["payload_masked"] is True and doc["masked_values"] > 5
    assert doc["payload"]["name"] == order["name"]                       # what operators need stays
    assert doc["payload"]["line_items"][0]["sku"] == order["line_items"][0]["sku"]
    assert doc["last_error"]["code"] == "test.missing_file"
    assert doc["answers"]["temporary"].startswith("configuration")
    assert [a["outcome"] for a in doc["attempts"]] == ["dead"]
    status, _, doc = call(hub, "GET", f"/api/jobs?state=dead")
    assert email not in json.dumps(doc) and [j["id"] for j in doc["jobs"]] == [job]

    status, _, doc = call(hub, "POST", f"/api/jobs/{job}/reveal", token=BOB)
    assert status == 200, doc
    assert doc["payload"]["customer"]["email"] == email and doc["audited"] == "token:bob"

    flag.write_text("fixed\n")
    status, _, doc = call(hub, "POST", f"/api/jobs/{job[:10]}/retry")
    assert status == 200 and doc["job"] == job, doc
    hub.wait_state(job, "done")
    status, _, doc = call(hub, "POST", f"/api/jobs/{job}/discard")
    assert status == 409 and doc["code"] == "job.state", doc          # refused: not audited
    status, _, doc = call(hub, "POST", f"/api/jobs/{job}/replay")
    assert status == 200, doc
    hub.wait_state(job, "done")
    status, _, doc = call(hub, "GET", "/api/jobs/0123456789abcdef0123456789abcdef")
    assert status == 404, doc

    # The CLI's actions land in the same log, as cli:USER.
    hub.cli("jobs", "replay", job, env={"USER": "carol"})
    hub.wait_state(job, "done")
    other = dead_needs_file(hub, "order-2", tmp_path / "never")
    hub.wait_state(other, "dead")
    hub.cli("jobs", "discard", other, env={"USER": "carol"})

    rows = [(r["actor"], r["action"], r["target"]) for r in audit_rows(hub)]
    assert rows == [("cli:carol", "discard", other), ("cli:carol", "replay", job), ("token:alice", "replay", job),
                    ("token:alice", "retry", job), ("token:bob", "reveal", job)]
    cli_rows = hub.cli_json("audit", "--json")
    assert [(r["actor"], r["action"]) for r in cli_rows][:2] == [("cli:carol", "discard"), ("cli:carol", "replay")]
    text = hub.cli("audit").stdout
    assert "token:bob" in text and "reveal" in text

    hub.stop()
    log = hub.log_text()
    for secret in (ALICE, BOB):
        assert secret not in log
    assert email not in log


def test_search_finds_jobs_by_id_and_ordering_key(hub, tmp_path):
    with_operators(hub, tmp_path).start()
    _, job = hub.enqueue("test.noop", "any-key", {}, order_key=f"shopify:{'acme'}:order:6150327861270")
    hub.wait_state(job, "done")
    status, _, doc = call(hub, "GET", f"/api/search?q={job[:10]}")
    assert status == 200, doc
    assert any(r["type"] == "job" and r["job"]["id"] == job for r in doc["results"]), doc
    status, _, doc = call(hub, "GET", "/api/search?q=6150327861270")
    assert any(r["type"] == "jobs" and [j["id"] for j in r["jobs"]] == [job] for r in doc["results"]), doc
    status, _, doc = call(hub, "GET", "/api/search?q=")
    assert status == 400

    # A Shopify order, by name and by id, and its trace.
    order = fixture_json("orders_create.json")
    status, _ = hub.post_webhook(json.dumps(order).encode(), topic="orders/create", event_id="ev-dash-1")
    assert status == 200
    for q in (order["name"], str(order["id"])):
        status, _, doc = call(hub, "GET", "/api/search?q=" + urllib.parse.quote(q))
        found = [r for r in doc["results"] if r["type"] == "order"]
        assert found and found[0]["order"]["id"] == order["id"] and found[0]["shop"] == SHOP, doc
        assert any(j["kind"] == "shopify.order" for j in found[0]["jobs"]), found
    status, _, doc = call(hub, "GET", f"/api/trace?order={order['id']}")
    assert status == 200 and doc["order"]["id"] == order["id"] and doc["deliveries"], doc
    status, _, doc = call(hub, "GET", "/api/trace?order=999999")
    assert status == 404 and doc["code"] == "trace.not_found", doc


def test_api_is_answered_off_the_polling_threads_and_a_full_queue_is_refused_at_once(hub, tmp_path):
    """One polling thread, one web thread, two queue slots. While an API request holds the web thread (the debug
    sleep of [debug] test_handlers), a webhook is still acknowledged; of three more API requests two wait and the
    third is answered 503 with Retry-After while the others still wait. SIGTERM then answers what waits before the
    daemon stops. Were the API answered on the polling thread, the webhook would wait behind the blocked request."""
    with_operators(hub, tmp_path)
    hub.set("server", http_threads="1", web_threads="1", web_queue="2")
    hub.start()
    flag = tmp_path / "wake"
    answers = {}

    def api(name, path):
        answers[name] = call(hub, "GET", path)

    sleeper = threading.Thread(target=api, args=("sleep", "/api/debug/sleep?until=" + urllib.parse.quote(str(flag))))
    waiting = [threading.Thread(target=api, args=(f"overview{i}", "/api/overview")) for i in range(3)]
    sleeper.start()
    try:
        wait_until(lambda: (tmp_path / "wake.started").exists(), msg="the debug sleep holds the web thread")
        # Bounded only so that the old inline dispatch fails instead of hanging: the answer needs no web thread.
        status, doc = post_webhook(hub.port, order_body(880001), timeout=15)
        assert status == 200 and doc["status"] == "stored", doc

        for t in waiting:
            t.start()
        wait_until(lambda: any(a[0] == 503 for a in list(answers.values())), msg="a 503 for the request past the queue")
        refused = [a for a in list(answers.values()) if a[0] == 503]
        assert len(refused) == 1 and "sleep" not in answers, answers
        status, hdrs, doc = refused[0]
        assert hdrs.get("retry-after") == "1" and doc["code"] == "http.busy", (hdrs, doc)
        # The queued two are answered on shutdown too: httpd_free waits for them while the web thread drains them.
        hub.proc.send_signal(signal.SIGTERM)
    finally:
        flag.write_text("")
        sleeper.join(timeout=60)
        for t in waiting:
            if t.is_alive() or t.ident:
                t.join(timeout=60)
    hub.stop()
    assert answers["sleep"][0] == 200 and answers["sleep"][2]["woken"] is True, answers["sleep"]
    statuses = sorted(a[0] for name, a in answers.items() if name.startswith("overview"))
    assert statuses == [200, 200, 503], answers
