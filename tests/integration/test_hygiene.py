"""Secrets and customer data stay out of what synchub prints; log lines carry the job they belong to; serve speaks
systemd's readiness protocol.

- The end-of-session secret scan (conftest.HygieneLedger) is tested here as a unit: it finds a planted secret in
  every form, and refuses to pass when it looked at nothing.
- A full pipeline with distinctive secrets and distinctive customer data: a signed webhook, an order job that Odoo
  refuses with a ValidationError quoting the customer's email and phone (emulator fault), then the CLI. Neither a
  secret nor the customer's email, phone, street or name may appear in the serve log or any CLI output, except in
  the payload that `jobs show --json` prints (the operator's explicit view of the raw event).
- In JSON log mode every line parses as JSON, and the lines written inside a handler (the Odoo client's) name the
  job, kind, attempt and correlation id without passing them along.
- NOTIFY_SOCKET: READY=1 once serving, STOPPING=1 on SIGTERM, over a path and an abstract socket.
"""

import base64
import json
import os
import secrets
import socket
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import (HYGIENE, REPO, SHOP, HygieneLedger, fixture_json, scan_outputs, wait_until)

sys.path.insert(0, str(REPO / "tests" / "sim"))
import odoo_sim  # noqa: E402
import shopify_sim  # noqa: E402

CUSTOMER = {
    "email": "zelda.quimbyworth-7731@hygiene-test.example",
    "phone": "+14155550199",
    "street": "8842 Wobblefrost Lane",
    "first": "Zelda",
    "last": "Quimbyworth",
    "card": "4111 1111 1111 1111",   # a test card number a customer put into a note (Luhn-valid)
}


def distinctive_order(order_id):
    """orders_create.json with this test's customer everywhere the fixture has one."""
    text = json.dumps(fixture_json("orders_create.json"))
    for old, new in (("maria.lopez@example.com", CUSTOMER["email"]), ("+15555550123", CUSTOMER["phone"]),
                     ("742 Evergreen Terrace", CUSTOMER["street"]), ("Maria", CUSTOMER["first"]),
                     ("Lopez", CUSTOMER["last"])):
        assert old in text, f"the fixture no longer contains {old!r}"
        text = text.replace(old, new)
    doc = json.loads(text)
    doc["id"] = order_id
    doc["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
    doc["name"] = f"#H{order_id % 10000}"
    return doc


def customer_leaks(text):
    """The customer values (and the phone's digits in other spellings) found in text."""
    needles = [CUSTOMER["email"], CUSTOMER["email"].split("@")[0], CUSTOMER["phone"], CUSTOMER["phone"][2:],
               "415-555-0199", "415 555 0199", CUSTOMER["street"], "Wobblefrost", CUSTOMER["last"], CUSTOMER["card"],
               CUSTOMER["card"].replace(" ", "")]
    return [n for n in needles if n in text]


# --------------------------------------------------------------------------------------------------------------
# The scanner itself


def test_scanner_finds_a_planted_secret_in_every_form():
    planted = "whsec-planted-" + secrets.token_hex(12)
    outputs = [("clean log", "level=info msg=\"synchub serving\" port=8780\n"),
               ("raw", f"error=\"bad secret {planted}\""),
               ("base64", "hmac key " + base64.b64encode(planted.encode()).decode()),
               ("hex", "dump " + planted.encode().hex())]
    found = scan_outputs({planted: "t.ini: webhook_secret", "short": "t.ini: password"}, outputs)
    assert sorted((form, label) for _, form, label in found) == [("base64", "base64"), ("hex", "hex"),
                                                                 ("raw", "raw")]
    assert scan_outputs({planted: "t.ini: webhook_secret"}, outputs[:1]) == []


def test_ledger_reads_secrets_inline_from_files_and_env_and_refuses_to_look_at_nothing(tmp_path):
    led = HygieneLedger()
    (tmp_path / "key").write_text("odoo-key-from-file-0123456789\n")
    cfg = tmp_path / "x.ini"
    led.note_config(cfg, "[shop a.myshopify.com]\nwebhook_secret = inline-secret-abcdef\n"
                         "admin_token_env = HYG_TOKEN\n; webhook_secret_previous = commented-out-secret\n"
                         "[odoo]\napi_key_file = key\n[dashboard]\nadmin_token = dash-token-9876543210\n")
    led.note_env({"HYG_TOKEN": "shpat_from_env_0123456789"})
    led.instances = 1
    # looked at nothing: fails even though no secret was found
    summary, failures = led.check()
    assert any("looked at nothing" in f for f in failures), (summary, failures)
    assert set(led.secrets) == {"inline-secret-abcdef", "odoo-key-from-file-0123456789",
                                "shpat_from_env_0123456789", "dash-token-9876543210"}
    led.note_output("cli", "all good\n", owner="x")
    assert led.check()[1] == []
    led.note_output("cli", "oops shpat_from_env_0123456789\n", owner="x")
    assert any("x.ini: admin_token_env" in f for f in led.check()[1])


def test_this_run_is_being_scanned(hub):
    """The session ledger knows this installation's secret and its outputs (else the session scan is hollow)."""
    hub.run("status")
    assert any(where.endswith("webhook_secret") for where in HYGIENE.secrets.values())
    assert any(owner == str(hub.dir) for _, _, owner in HYGIENE.outputs)


# --------------------------------------------------------------------------------------------------------------
# A full pipeline with distinctive secrets and customer data


@pytest.fixture
def shopify_distinct(request):
    sim = shopify_sim.ShopifySim(port=0, orders=True, token="shpat_hygiene_" + secrets.token_hex(12))
    sim.start()
    request.addfinalizer(sim.stop)
    return sim


def test_no_secret_or_customer_data_in_logs_or_cli(make_synchub, odoo_emulator, shopify_distinct):
    odoo = odoo_emulator
    current = "whsec-hygiene-current-" + secrets.token_hex(10)
    previous = "whsec-hygiene-previous-" + secrets.token_hex(10)
    hub = make_synchub()
    hub.set("server", workers=2)
    hub.set("log", level="debug")
    hub.set(f"shop {SHOP}", webhook_secret=current, webhook_secret_previous=previous, shipping_product="SHIP-STD")
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username="sync", api_key=odoo_sim.SYNC_API_KEY,
            protocol="auto")
    hub.set("kind shopify.order", max_attempts=3, backoff_base="100ms", backoff_cap="200ms")
    hub.start()

    # Odoo refuses the order with a message that quotes the customer's email and phone, as custom constraints do.
    odoo.set_fault("validation", match={"model": "sale.order", "method": "load"},
                   message=f"The customer {CUSTOMER['email']} (phone {CUSTOMER['phone']}) is blocked for credit; "
                           f"card {CUSTOMER['card'].replace(' ', '')} on file, also as {CUSTOMER['card']}")
    order = distinctive_order(880000000000000 + secrets.randbelow(10 ** 9))
    body = json.dumps(order).encode()
    status, doc = hub.post_webhook(body, event_id="evt-hyg-1", secret=current)
    assert status == 200, doc
    assert hub.post_webhook(body, event_id="evt-hyg-2", secret=previous)[0] == 200
    assert hub.post_webhook(body, event_id="evt-hyg-3", secret="wrong-" + current)[0] == 401
    job = hub.wait_state(doc["job"], "dead", timeout=60)
    err = job.get("last_error") or {}
    assert err.get("code") == "odoo.validation", job
    # the echo went through masking: the shape is there, the values are not
    assert "***@***" in err.get("message", ""), err
    assert not customer_leaks(json.dumps(err)), err

    # the CLI, text and JSON
    cli_runs = [("check-config",), ("status",), ("status", "--json"), ("jobs", "list"),
                ("jobs", "list", "--json"), ("jobs", "list", "--state", "dead"), ("jobs", "show", doc["job"]),
                ("help", "config"), ("version",)]
    for args in cli_runs:
        cp = hub.cli(*args, expect_rc=None)
        assert not customer_leaks(cp.stdout + cp.stderr), (args, customer_leaks(cp.stdout + cp.stderr))
    # `jobs show --json` prints the raw event as `payload` (the operator's explicit view); nothing else in it may
    # carry the customer.
    shown = hub.show(doc["job"])
    rest = {k: v for k, v in shown.items() if k != "payload"}
    assert not customer_leaks(json.dumps(rest)), customer_leaks(json.dumps(rest))
    hub.stop()

    # reconcile through the Admin API: the token must not show either
    token = shopify_distinct.tokens[0]
    hub.set(f"shop {SHOP}", admin_token=token, admin_url=shopify_distinct.url, api_version="2026-10",
            reconcile_interval=0, fulfillment_interval=0)
    hub.write_config()
    for args in (("reconcile", "orders", "--dry-run", "--since", "3650d"), ("reconcile", "orders", "--dry-run",
                 "--json", "--since", "3650d"), ("check-config",)):
        hub.cli(*args, expect_rc=None)

    texts = [("serve log", hub.log_text())] + [(" ".join(map(str, a[1:-2])), o + e) for a, o, e in hub.cli_outputs]
    assert len(hub.log_text()) > 2000, "the debug log is suspiciously short"
    found = scan_outputs({current: "webhook_secret", previous: "webhook_secret_previous",
                          odoo_sim.SYNC_API_KEY: "odoo api_key", token: "admin_token"}, texts)
    assert not found, found
    raw_view = lambda label: label.startswith("jobs show") and "--json" in label  # noqa: E731 (checked above)
    leaks = [(label, customer_leaks(t)) for label, t in texts if not raw_view(label) and customer_leaks(t)]
    assert not leaks, leaks


# --------------------------------------------------------------------------------------------------------------
# JSON logs with the job context


def test_json_log_lines_from_inside_a_handler_carry_the_job_context(make_synchub, odoo_emulator):
    odoo = odoo_emulator
    hub = make_synchub()
    hub.set("server", workers=1)
    hub.set("log", level="debug", format="json")
    hub.set(f"shop {SHOP}", shipping_product="SHIP-STD")
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username="sync", api_key=odoo_sim.SYNC_API_KEY,
            protocol="auto")
    hub.start()
    order = distinctive_order(770000000000000 + secrets.randbelow(10 ** 9))
    status, doc = hub.post_webhook(json.dumps(order).encode(), event_id="evt-ctx-42")
    assert status == 200, doc
    hub.wait_state(doc["job"], "done", timeout=60)
    hub.stop()
    lines = [ln for ln in hub.log_text().splitlines() if ln.strip() and not ln.startswith("==== serve start")]
    parsed = []
    for ln in lines:
        try:
            parsed.append(json.loads(ln))
        except ValueError:
            pytest.fail(f"a JSON-mode log line is not JSON: {ln!r}")
    assert all(isinstance(p, dict) and {"ts", "level", "module", "msg"} <= p.keys() for p in parsed)
    odoo_lines = [p for p in parsed if p["module"] == "odoo" and p["msg"] == "odoo call"]
    http_lines = [p for p in parsed if p["module"] == "httpc"]
    assert odoo_lines and http_lines, [p["msg"] for p in parsed]
    for p in odoo_lines + [h for h in http_lines if "job" in h]:
        assert p.get("job") == doc["job"], p
        assert p.get("kind") == "shopify.order", p
        assert p.get("attempt") == "1", p
        assert p.get("correlation") == "evt-ctx-42", p
    # lines outside any job (start-up, stop) do not carry a stale job
    assert all("job" not in p for p in parsed if p["module"] == "serve")
    assert not customer_leaks("\n".join(lines))


# --------------------------------------------------------------------------------------------------------------
# sd_notify


def _notify_socket(abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = "synchub-test-" + secrets.token_hex(6)
        s.bind("\0" + name)
        addr, folder = "@" + name, None
    else:
        folder = tempfile.mkdtemp(prefix="shn-", dir="/tmp")  # AF_UNIX paths are limited to 107 bytes
        addr = os.path.join(folder, "notify")
        s.bind(addr)
    s.settimeout(30)
    return s, addr, folder


def _messages_until(sock, key):
    got = []
    while True:
        data = sock.recv(4096).decode()
        got.append(data)
        if key in data.split("\n"):
            return got


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_serve_notifies_ready_and_stopping(hub, abstract):
    sock, addr, folder = _notify_socket(abstract)
    try:
        hub.start(env={"NOTIFY_SOCKET": addr})
        ready = _messages_until(sock, "READY=1")
        assert any(ln.startswith("STATUS=serving") for m in ready for ln in m.split("\n")), ready
        status, _, _ = hub.get("/healthz")
        assert status == 200
        hub.stop()
        stopping = _messages_until(sock, "STOPPING=1")
        assert stopping
    finally:
        sock.close()
        if folder:
            for f in Path(folder).iterdir():
                f.unlink()
            os.rmdir(folder)


def test_serve_without_notify_socket_runs(hub):
    hub.start(env={"NOTIFY_SOCKET": ""})
    assert hub.get("/healthz")[0] == 200
    hub.stop()
    assert "cannot notify" not in hub.log_text()
