"""Integration tests of the Odoo connector: Shopify order webhooks -> Odoo sale orders (docs/SPEC-odoo.md).

The real `synchub serve` receives signed Shopify webhooks and writes sale orders into an Odoo. By default that Odoo
is the in-process emulator (tests/sim/odoo_sim.py, one fresh instance per test); with

    SYNCHUB_TEST_ODOO_URL, SYNCHUB_TEST_ODOO_DB, SYNCHUB_TEST_ODOO_USER, SYNCHUB_TEST_ODOO_KEY
    (optional: SYNCHUB_TEST_ODOO_ADMIN_USER, SYNCHUB_TEST_ODOO_ADMIN_KEY for set-up writes the sync user may not do)

set, the same tests run against that (real) Odoo instead. Everything a test checks in Odoo goes through the public
external API (JSON-RPC execute_kw as the integration user, see `OdooTarget`); tests that need the emulator's own
powers (fault injection, the call log, rights changes, another Odoo version) are skipped against a real Odoo.

Every test makes its own orders (new order/line/shipping/customer ids, a unique order name and customer email), so
tests never see each other's records, also on a shared real Odoo. The Odoo database must hold the products with the
internal references ACME-TEE-BLK-M, ACME-MUG-350, ACME-CAP-NVY and the service product SHIP-STD (the emulator seeds
them).
"""

import json
import os
import random
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from conftest import REPO, SHOP, fixture_json, wait_until
from odoo_real import REAL_ODOO, needs_sim
from odoo_real import RealOdooError as OdooRpcError

sys.path.insert(0, str(REPO / "tests" / "sim"))
import odoo_sim  # noqa: E402

XMLID_MODULE = "__synchub__"
SHOP_SLUG = "acme_outfitters"
SHIPPING_CODE = "SHIP-STD"

_rng = random.SystemRandom()


# --------------------------------------------------------------------------------------------------------------
# The Odoo under test: the emulator or a real server, seen through the public external API


class OdooTarget:
    """url/db/user/key of the Odoo synchub talks to, plus read helpers over JSON-RPC (execute_kw as `user`).

    `sim` is the OdooSim when the emulator runs (None for a real Odoo); the sim_* helpers use its /__sim__ API.
    """

    def __init__(self, url, db, user, key, sim=None, admin_user=None, admin_key=None, version=None):
        self.url = url.rstrip("/")
        self.db = db
        self.user = user
        self.key = key
        self.sim = sim
        self.admin_user = admin_user
        self.admin_key = admin_key
        self.version = version
        self._uids = {}

    @property
    def is_sim(self):
        return self.sim is not None

    # -- JSON-RPC ----------------------------------------------------------------------------------------------
    def _post(self, path, payload, timeout=30):
        req = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode())

    def jsonrpc(self, service, method, *args):
        doc = self._post("/jsonrpc", {"jsonrpc": "2.0", "method": "call", "id": _rng.randrange(1 << 30),
                                      "params": {"service": service, "method": method, "args": list(args)}})
        if "error" in doc:
            raise OdooRpcError(doc["error"])
        return doc.get("result")

    def _login(self, admin):
        user, key = (self.admin_user, self.admin_key) if admin and self.admin_user else (self.user, self.key)
        if user not in self._uids:
            uid = self.jsonrpc("common", "authenticate", self.db, user, key, {})
            assert isinstance(uid, int) and uid > 0, f"Odoo at {self.url} refused the login of {user!r}"
            self._uids[user] = uid
        return self._uids[user], key

    def execute(self, model, method, *args, admin=False, **kwargs):
        uid, key = self._login(admin)
        return self.jsonrpc("object", "execute_kw", self.db, uid, key, model, method, list(args), kwargs)

    # -- odoo_real's interface (as Odoo's admin), so that its helpers (ensure_stock, ...) work on this client too --
    def exec(self, model, method, args=None, kwargs=None):
        return self.execute(model, method, *(args or []), admin=True, **(kwargs or {}))

    def records(self, model, domain=None, fields=None, order=None, limit=None):
        kw = {"fields": fields or []}
        if order:
            kw["order"] = order
        if limit:
            kw["limit"] = limit
        return self.execute(model, "search_read", domain or [], admin=True, **kw)

    # -- what the tests look at --------------------------------------------------------------------------------
    def xmlid(self, name):
        """res_id of __synchub__.<name>, or None (ir.model.data.check_object_reference, allowed for any user)."""
        try:
            _model, res_id = self.execute("ir.model.data", "check_object_reference", XMLID_MODULE, name)
        except OdooRpcError as exc:
            if "External ID not found" in exc.message:
                return None
            raise
        return res_id or None

    def count_orders(self, ref):
        return self.execute("sale.order", "search_count", [["client_order_ref", "=", ref]])

    def orders_by_ref(self, refs, fields=("client_order_ref",)):
        return self.execute("sale.order", "search_read", [["client_order_ref", "in", list(refs)]],
                            fields=list(fields))

    def order(self, order_id):
        recs = self.execute("sale.order", "read", [order_id],
                            fields=["name", "state", "partner_id", "partner_shipping_id", "client_order_ref",
                                    "origin", "order_line"])
        assert len(recs) == 1, f"sale.order {order_id} not found"
        return recs[0]

    def lines(self, order_id):
        """[{code, qty, price, id}] of the order's lines, ordered by code."""
        recs = self.execute("sale.order.line", "search_read", [["order_id", "=", order_id]],
                            fields=["product_id", "product_uom_qty", "price_unit"])
        pids = sorted({r["product_id"][0] for r in recs if r["product_id"]})
        codes = {p["id"]: p["default_code"] for p in
                 self.execute("product.product", "read", pids, fields=["default_code"])} if pids else {}
        out = [{"id": r["id"], "code": codes.get(r["product_id"][0]) if r["product_id"] else None,
                "qty": r["product_uom_qty"], "price": r["price_unit"]} for r in recs]
        return sorted(out, key=lambda x: (x["code"] or "", x["id"]))

    def review_notes(self, order_id):
        """Chatter messages synchub posted on the sale order (their body names synchub)."""
        return self.execute("mail.message", "search_read", [["model", "=", "sale.order"], ["res_id", "=", order_id],
                                                            ["body", "ilike", "synchub"]], fields=["id", "body"])

    def partner(self, partner_id):
        recs = self.execute("res.partner", "read", [partner_id], fields=["name", "email", "parent_id", "type"])
        assert len(recs) == 1, f"res.partner {partner_id} not found"
        return recs[0]

    def partners_with_email(self, email):
        return self.execute("res.partner", "search_read", [["email", "=ilike", email]], fields=["id", "parent_id"])

    # -- set-up writes (as admin when admin credentials are known) ---------------------------------------------
    def create_partner(self, vals):
        if self.is_sim:
            return self.sim_exec("res.partner", "create", [vals])
        return self.execute("res.partner", "create", vals, admin=True)  # one dict -> one id

    def create_product(self, vals):
        if self.is_sim:
            return self.sim_exec("product.product", "create", [vals])
        return self.execute("product.product", "create", vals, admin=True)  # one dict -> one id

    # -- emulator only ---------------------------------------------------------------------------------------
    def sim_api(self, method, path, body=None):
        assert self.is_sim, "emulator-only helper used against a real Odoo"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read()[:500]!r}") from None

    def sim_fault(self, **fault):
        return self.sim_api("POST", "/__sim__/fault", fault)

    def sim_clear_faults(self):
        return self.sim_api("POST", "/__sim__/fault", {"mode": "none"})

    def sim_set_right(self, model, perm, allow, user="sync"):
        return self.sim_api("POST", "/__sim__/rights", {"user": user, "model": model, "perm": perm, "allow": allow})

    def sim_exec(self, model, method, args, kwargs=None):
        return self.sim_api("POST", "/__sim__/exec", {"model": model, "method": method, "args": args,
                                                      "kwargs": kwargs or {}})["result"]

    def sim_calls(self, since=0):
        return self.sim_api("GET", f"/__sim__/calls?since={since}")

    def sim_last_seq(self):
        calls = self.sim_calls()
        return calls[-1]["seq"] if calls else 0

    def sim_count(self, model, domain):
        q = urllib.parse.quote(json.dumps(domain))
        return self.sim_api("GET", f"/__sim__/count/{model}?domain={q}")["count"]


def _start_sim(version, request):
    sim = odoo_sim.OdooSim(port=0, version=version)
    sim.start()
    request.addfinalizer(sim.stop)
    return OdooTarget(sim.url, sim.dbname, "sync", odoo_sim.SYNC_API_KEY, sim=sim, admin_user="admin",
                      admin_key=odoo_sim.ADMIN_API_KEY, version=version)


@pytest.fixture
def odoo(request):
    """The Odoo under test: a real one when SYNCHUB_TEST_ODOO_URL is set, else a fresh Odoo 18 emulator."""
    if REAL_ODOO:
        env = os.environ
        missing = [v for v in ("SYNCHUB_TEST_ODOO_DB", "SYNCHUB_TEST_ODOO_USER", "SYNCHUB_TEST_ODOO_KEY")
                   if not env.get(v)]
        if missing:
            pytest.fail(f"SYNCHUB_TEST_ODOO_URL is set but {', '.join(missing)} is not")
        yield OdooTarget(env["SYNCHUB_TEST_ODOO_URL"], env["SYNCHUB_TEST_ODOO_DB"], env["SYNCHUB_TEST_ODOO_USER"],
                         env["SYNCHUB_TEST_ODOO_KEY"], admin_user=env.get("SYNCHUB_TEST_ODOO_ADMIN_USER"),
                         admin_key=env.get("SYNCHUB_TEST_ODOO_ADMIN_KEY"))
        return
    yield _start_sim(18, request)


@pytest.fixture
def odoo19(request):
    """An Odoo 19 emulator (JSON-2)."""
    if REAL_ODOO:
        pytest.skip("needs the Odoo 19 emulator; SYNCHUB_TEST_ODOO_URL points at a real Odoo")
    return _start_sim(19, request)


# --------------------------------------------------------------------------------------------------------------
# Orders, webhooks, synchub


def new_id():
    """A fresh Shopify-style id (15 digits): unique across tests and runs."""
    return _rng.randrange(10 ** 14, 10 ** 15)


def shopify_time(base, seconds=0):
    """ISO 8601 with Shopify's -05:00 offset, `seconds` after `base` (an aware datetime)."""
    t = (base + timedelta(seconds=seconds)).astimezone(timezone(timedelta(hours=-5)))
    return t.isoformat(timespec="seconds")


T0 = datetime(2026, 11, 21, 19, 3, 11, tzinfo=timezone.utc)


def make_order(order_id=None, name=None, customer_id=None, email=None, financial_status="paid", quantities=None,
               skus=None, updated=2, line_ids=None, ship_id=None, fixture="orders_create.json"):
    """A Shopify order payload (dict) built from a fixture with fresh ids; `updated` = seconds after T0 for
    updated_at. quantities/skus: per line item (3 in the fixture)."""
    doc = fixture_json(fixture)
    order_id = order_id or new_id()
    tag = secrets.token_hex(4)
    doc["id"] = order_id
    doc["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
    doc["name"] = name or f"#T{tag}"
    doc["created_at"] = shopify_time(T0)
    doc["processed_at"] = shopify_time(T0)
    doc["updated_at"] = shopify_time(T0, updated)
    doc["financial_status"] = financial_status
    cust = doc["customer"]
    cust["id"] = customer_id or new_id()
    cust["admin_graphql_api_id"] = f"gid://shopify/Customer/{cust['id']}"
    cust["default_address"]["customer_id"] = cust["id"]
    email = email or f"maria.lopez+{tag}@example.com"
    doc["email"] = doc["contact_email"] = cust["email"] = email
    for i, li in enumerate(doc["line_items"]):
        li["id"] = line_ids[i] if line_ids else new_id()
        li["admin_graphql_api_id"] = f"gid://shopify/LineItem/{li['id']}"
        if quantities:
            li["quantity"] = li["current_quantity"] = li["fulfillable_quantity"] = quantities[i]
        if skus and skus[i]:
            li["sku"] = skus[i]
    doc["shipping_lines"][0]["id"] = ship_id or new_id()
    return refresh_totals(doc)


def refresh_totals(doc):
    """Shopify's totals after the quantities changed (the fixture has no tax and no discount), so that the payload
    is one Shopify could send: synchub proves Odoo's total against total_price."""
    items = sum(float(li["price"]) * li.get("current_quantity", li["quantity"]) for li in doc["line_items"])
    shipping = sum(float(s.get("discounted_price") or s["price"]) for s in doc["shipping_lines"])
    for key, value in (("subtotal_price", items), ("total_line_items_price", items),
                       ("total_price", items + shipping)):
        doc[key] = "%.2f" % value
    return doc


def same_order(doc, **changes):
    """Another event of the same order (same ids), with field changes; `updated` sets updated_at, `quantities`
    the line quantities."""
    doc = json.loads(json.dumps(doc))
    if "updated" in changes:
        doc["updated_at"] = shopify_time(T0, changes.pop("updated"))
    for i, q in enumerate(changes.pop("quantities", None) or []):
        li = doc["line_items"][i]
        li["quantity"] = li["current_quantity"] = li["fulfillable_quantity"] = q
    doc.update(changes)
    return refresh_totals(doc)


def expected_lines(doc, shipping=True):
    """[(code, qty, price)] the order must have in Odoo, sorted by code."""
    out = [(li["sku"], float(li["current_quantity"]), float(li["price"])) for li in doc["line_items"]]
    if shipping:
        out += [(SHIPPING_CODE, 1.0, float(s["price"])) for s in doc["shipping_lines"] if float(s["price"]) > 0]
    return sorted(out)


def actual_lines(odoo, order_id):
    return sorted((l["code"], float(l["qty"]), round(float(l["price"]), 2)) for l in odoo.lines(order_id))


def order_xmlid(doc):
    return f"shopify_{SHOP_SLUG}_order_{doc['id']}"


def customer_xmlid(doc):
    return f"shopify_{SHOP_SLUG}_customer_{doc['customer']['id']}"


def send(hub, doc, topic="orders/create", event_id=None, expect_status="stored"):
    """POST the order as a signed webhook; asserts 200 (and stored/duplicate); returns the job id."""
    event_id = event_id or f"evt-{secrets.token_hex(8)}"
    status, body = hub.post_webhook(json.dumps(doc).encode(), topic=topic, event_id=event_id)
    assert status == 200, f"webhook {topic} for order {doc['id']} answered {status}: {body}"
    if expect_status:
        assert body.get("status") == expect_status, f"webhook answered {body}, expected {expect_status}"
    return body["job"]


def odoo_hub(make_synchub, odoo, name="synchub", workers=2, max_attempts=50, backoff_base="200ms",
             backoff_cap="2s", **odoo_keys):
    """A synchub installation configured for `odoo` (not started)."""
    hub = make_synchub(name)
    hub.set("server", workers=workers)
    hub.set(f"shop {SHOP}", shipping_product=SHIPPING_CODE)
    hub.set("odoo", url=odoo.url, database=odoo.db, username=odoo.user, api_key=odoo.key, protocol="auto",
            **odoo_keys)
    hub.set("kind shopify.order", max_attempts=max_attempts, backoff_base=backoff_base, backoff_cap=backoff_cap)
    hub.write_config()
    return hub


def attempt_note(attempt):
    """The note of one attempt in `jobs show --json` history (its `note`; a build may carry it in `message`)."""
    return attempt.get("note") or attempt.get("message") or ""


def history_notes(job):
    return [attempt_note(h) for h in job.get("history") or []]


def assert_one_order(odoo, doc):
    """Exactly one sale.order for the Shopify order, by client_order_ref and by external ID; returns its id."""
    n = odoo.count_orders(doc["name"])
    assert n == 1, f"{n} sale orders have client_order_ref {doc['name']!r}, expected exactly 1"
    oid = odoo.xmlid(order_xmlid(doc))
    assert oid, f"external ID {XMLID_MODULE}.{order_xmlid(doc)} not found"
    found = odoo.orders_by_ref([doc["name"]], fields=["id"])
    assert [r["id"] for r in found] == [oid], \
        f"the external ID points at sale.order {oid}, client_order_ref finds {found}"
    return oid


def job_error(job):
    err = job.get("last_error")
    assert err, f"job {job['id']} has no last_error: {json.dumps(job)[:2000]}"
    return err


# --------------------------------------------------------------------------------------------------------------
# 1. idempotency


def test_same_create_twice_gives_one_confirmed_order(make_synchub, odoo):
    """orders/create delivered twice (a redelivery with the same event id, a second delivery as another job, and
    once more into a fresh store) -> one sale.order (by client_order_ref and by its __synchub__ external ID),
    confirmed (paid), 3 product lines + shipping, the customer's email on its partner."""
    hub = odoo_hub(make_synchub, odoo).start()
    doc = make_order(financial_status="paid")
    body = json.dumps(doc).encode()

    status, first = hub.post_webhook(body, topic="orders/create", event_id="evt-a-" + str(doc["id"]))
    assert status == 200 and first["status"] == "stored", first
    status, again = hub.post_webhook(body, topic="orders/create", event_id="evt-a-" + str(doc["id"]))
    assert status == 200 and again == {"status": "duplicate", "job": first["job"]}, again
    hub.wait_state(first["job"], "done", timeout=30)

    # the same order once more as a different job (no event id: keyed by updated_at)
    status, other = hub.post_webhook(body, topic="orders/create")
    assert status == 200 and other["status"] == "stored" and other["job"] != first["job"], other
    hub.wait_state(other["job"], "done", timeout=30)

    oid = assert_one_order(odoo, doc)
    order = odoo.order(oid)
    assert order["state"] == "sale", f"financial_status paid must confirm the order; state is {order['state']!r}"
    assert order["origin"] == f"Shopify {SHOP} {doc['name']}", order["origin"]
    assert actual_lines(odoo, oid) == expected_lines(doc), "order lines differ from the Shopify order"
    assert len(order["order_line"]) == 4
    partner = odoo.partner(order["partner_id"][0])
    assert (partner["email"] or "").lower() == doc["email"].lower(), partner

    # a wiped (fresh) store: the external ID finds the order, nothing is created twice
    hub.stop()
    fresh = odoo_hub(make_synchub, odoo, name="fresh").start()
    job = send(fresh, doc, topic="orders/create")
    fresh.wait_state(job, "done", timeout=30)
    assert assert_one_order(odoo, doc) == oid
    assert len(odoo.order(oid)["order_line"]) == 4, "a redelivery into a fresh store added lines"
    assert odoo.order(oid)["state"] == "sale"
    assert len([p for p in odoo.partners_with_email(doc["email"]) if not p["parent_id"]]) == 1


def test_every_record_carries_a_synchub_external_id(make_synchub, odoo):
    """The order, each line, the shipping line, the customer and the delivery address carry their external IDs
    in module __synchub__ (SPEC-odoo "What gets written")."""
    hub = odoo_hub(make_synchub, odoo).start()
    doc = make_order()
    hub.wait_state(send(hub, doc), "done", timeout=30)
    oid = assert_one_order(odoo, doc)
    order = odoo.order(oid)
    line_xmlids = [f"{order_xmlid(doc)}_line_{li['id']}" for li in doc["line_items"]] + \
                  [f"{order_xmlid(doc)}_shipping_{doc['shipping_lines'][0]['id']}"]
    line_ids = {x: odoo.xmlid(x) for x in line_xmlids}
    assert set(line_ids.values()) == set(order["order_line"]), \
        f"line external IDs {line_ids} != the order's lines {order['order_line']}"
    partner_id = order["partner_id"][0]
    assert odoo.xmlid(customer_xmlid(doc)) == partner_id, \
        f"{XMLID_MODULE}.{customer_xmlid(doc)} does not name the order's customer (res.partner {partner_id})"
    if odoo.is_sim:  # the sync user may not read ir.model.data: look at the delivery address's external ID here
        shipping_id = order["partner_shipping_id"][0]
        assert shipping_id != partner_id, "no delivery address contact was made"
        refs = odoo.sim.records("ir.model.data", [["model", "=", "res.partner"], ["res_id", "=", shipping_id]],
                                ["module", "name"])
        assert [r["module"] for r in refs] == [XMLID_MODULE] and \
            refs[0]["name"].startswith(f"shopify_{SHOP_SLUG}_address_"), \
            f"the delivery address (res.partner {shipping_id}) has the external IDs {refs}"
        assert odoo.partner(shipping_id)["parent_id"][0] == partner_id
        assert odoo.partner(shipping_id)["type"] == "delivery"


# --------------------------------------------------------------------------------------------------------------
# 2. out-of-order events


def test_shuffled_updates_leave_the_newest_state(make_synchub, odoo):
    """create + updated + updated (increasing updated_at, other event ids, all pending so the order stays a draft)
    delivered newest first, then the two older ones in shuffled order with workers running: one order with the
    newest event's quantities; the older events are done jobs whose attempt note says skipped."""
    hub = odoo_hub(make_synchub, odoo, workers=4).start()
    create = make_order(financial_status="pending", quantities=[1, 1, 1], updated=2)
    upd1 = same_order(create, updated=600, quantities=[2, 2, 2])
    upd2 = same_order(create, updated=1200, quantities=[3, 1, 5])

    newest = send(hub, upd2, topic="orders/updated")
    hub.wait_state(newest, "done", timeout=30)
    older = [(create, "orders/create"), (upd1, "orders/updated")]
    random.shuffle(older)
    jobs = [send(hub, d, topic=t) for d, t in older]
    for j in jobs:
        job = hub.wait_state(j, ("done", "dead"), timeout=30)
        assert job["state"] == "done", f"older event job {j} ended {job['state']}: {job.get('last_error')}"
        notes = history_notes(job)
        assert notes and "skipped" in notes[-1], f"older event {j} was not skipped; attempt notes: {notes}"
    assert "skipped" not in " ".join(history_notes(hub.show(newest)))

    oid = assert_one_order(odoo, create)
    order = odoo.order(oid)
    assert order["state"] == "draft", order["state"]
    assert actual_lines(odoo, oid) == expected_lines(upd2), "the order does not hold the newest event's lines"


def test_concurrent_shuffled_events_converge_to_newest(make_synchub, odoo):
    """The three events of one order arriving together in a random order (workers running): one order, the newest
    event's quantities, every job done, and any older event that ran after the newest had been applied skipped."""
    hub = odoo_hub(make_synchub, odoo, workers=4).start()
    create = make_order(financial_status="pending", quantities=[1, 1, 1], updated=2)
    events = [(create, "orders/create"),
              (same_order(create, updated=600, quantities=[2, 2, 2]), "orders/updated"),
              (same_order(create, updated=1200, quantities=[4, 3, 2]), "orders/updated")]
    order = list(range(3))
    random.shuffle(order)
    ids = {}
    for i in order:
        ids[i] = send(hub, events[i][0], topic=events[i][1])
    jobs = {i: hub.wait_state(ids[i], ("done", "dead"), timeout=30) for i in range(3)}
    for i, job in jobs.items():
        assert job["state"] == "done", f"event {i} ended {job['state']}: {job.get('last_error')}"
    newest_done = jobs[2]["history"][-1]["finished_at"]
    for i in (0, 1):
        last = jobs[i]["history"][-1]
        if last["started_at"] > newest_done:
            assert "skipped" in attempt_note(last), \
                f"event {i} ran after the newest event was applied but was not skipped: {last}"
    oid = assert_one_order(odoo, create)
    assert actual_lines(odoo, oid) == expected_lines(events[2][0]), \
        f"arrival order {order}: the order does not hold the newest event's lines"


def test_changed_confirmed_order_is_flagged_not_rewritten(make_synchub, odoo):
    """A paid (confirmed) order changed in Shopify: the sale order keeps its lines, one note is posted on its
    chatter and the attempt note says flagged for review."""
    hub = odoo_hub(make_synchub, odoo).start()
    doc = make_order()
    hub.wait_state(send(hub, doc), "done", timeout=30)
    oid = assert_one_order(odoo, doc)
    changed = same_order(doc, updated=900, quantities=[4, 1, 1])
    job = hub.wait_state(send(hub, changed, topic="orders/updated"), ("done", "dead"), timeout=30)
    assert job["state"] == "done", job.get("last_error")
    assert "flagged for review" in history_notes(job)[-1], history_notes(job)
    assert actual_lines(odoo, oid) == expected_lines(doc), "a confirmed order was rewritten"
    assert odoo.order(oid)["state"] == "sale"
    assert len(odoo.review_notes(oid)) == 1, odoo.review_notes(oid)


@needs_sim
def test_lost_answer_to_the_review_note_posts_one_note(make_synchub, odoo):
    """message_post commits but its answer is lost: the order still ends with one review note (a retry must not
    post the same note again)."""
    hub = odoo_hub(make_synchub, odoo).start()
    doc = make_order()
    hub.wait_state(send(hub, doc), "done", timeout=30)
    oid = assert_one_order(odoo, doc)
    odoo.sim_fault(mode="commit_then_drop", match={"model": "sale.order", "method": "message_post"}, count=1)
    changed = same_order(doc, updated=900, quantities=[4, 1, 1])
    job = hub.wait_state(send(hub, changed, topic="orders/updated"), ("done", "dead"), timeout=30)
    assert job["state"] == "done", job.get("last_error")
    posts = [c for c in odoo.sim_calls() if c["method"] == "message_post"]
    assert posts and posts[0]["fault"] == "commit_then_drop", "the fault did not fire"
    notes = odoo.review_notes(oid)
    assert len(notes) == 1, f"{len(notes)} review notes on the order after one lost answer " \
                            f"({len(posts)} message_post calls)"


# --------------------------------------------------------------------------------------------------------------
# 3. a committed call whose answer is lost


@needs_sim
@pytest.mark.parametrize("drops", [1, 2], ids=["dropped-once", "resend-dropped-too"])
def test_commit_then_drop_on_load_retries_to_one_order(make_synchub, odoo, drops):
    """sale.order.load commits but its answer is lost -> the work is tried again -> exactly one order with one set
    of lines. drops=1 is the plain fault; drops=2 also drops the HTTP client's own resend of the request, so the
    job attempt fails (transient) and the job's retry must find the order by its external ID."""
    hub = odoo_hub(make_synchub, odoo).start()
    odoo.sim_fault(mode="commit_then_drop", match={"model": "sale.order", "method": "load"}, count=drops)
    doc = make_order()
    job_id = send(hub, doc)
    job = hub.wait_state(job_id, ("done", "dead"), timeout=30)
    assert job["state"] == "done", job.get("last_error")
    calls = odoo.sim_calls()
    loads = [c for c in calls if c["model"] == "sale.order" and c["method"] == "load"]
    assert sum(1 for c in loads if c["fault"] == "commit_then_drop") == drops, "the fault did not fire"
    assert len(loads) >= drops + 1, f"the dropped load was never tried again: {len(loads)} loads"
    hist = job["history"]
    if len(hist) > 1 or drops > 1:
        assert len(hist) >= 2 and hist[0]["outcome"] != "done" and hist[0]["class"] == "transient", \
            f"the lost answer must fail the attempt as transient, then the job retries: {hist}"
    oid = assert_one_order(odoo, doc)
    assert actual_lines(odoo, oid) == expected_lines(doc), "lines duplicated or missing after the retry"
    assert odoo.sim_count("sale.order.line", [["order_id", "=", oid]]) == 4
    assert odoo.order(oid)["state"] == "sale"


@needs_sim
def test_commit_then_drop_on_confirm_does_not_rewrite_the_confirmed_order(make_synchub, odoo):
    """action_confirm commits but its answer is lost: the retry counts the order as confirmed (one order, one
    delivery) and, the order being confirmed in Odoo, never loads it again (SPEC: confirmed orders are never
    rewritten)."""
    hub = odoo_hub(make_synchub, odoo).start()
    # twice: the HTTP client's own resend of the request is dropped as well, so the job attempt fails and retries
    odoo.sim_fault(mode="commit_then_drop", match={"model": "sale.order", "method": "action_confirm"}, count=2)
    doc = make_order()
    job_id = send(hub, doc)
    job = hub.wait_state(job_id, ("done", "dead"), timeout=30)
    assert job["state"] == "done", job.get("last_error")
    assert len(job["history"]) >= 2 and job["history"][0]["class"] == "transient", job["history"]
    oid = assert_one_order(odoo, doc)
    assert odoo.order(oid)["state"] == "sale"
    assert odoo.sim_count("stock.picking", [["sale_id", "=", oid]]) == 1
    calls = odoo.sim_calls()
    dropped = [c["seq"] for c in calls if c["fault"] == "commit_then_drop"]
    assert dropped, "the fault never fired"
    later_loads = [c for c in calls if c["seq"] > dropped[0] and c["model"] == "sale.order" and c["method"] == "load"]
    assert not later_loads, (f"the retry re-loaded (rewrote) the confirmed sale order {len(later_loads)} time(s); "
                             f"kwargs of the first: {json.dumps(later_loads[0]['kwargs'])[:600]}")


# --------------------------------------------------------------------------------------------------------------
# 4. customers


def test_returning_customer_gets_one_partner(make_synchub, odoo):
    """Two orders of the same Shopify customer -> the same partner, one res.partner with that email."""
    hub = odoo_hub(make_synchub, odoo).start()
    first = make_order()
    second = make_order(customer_id=first["customer"]["id"], email=first["email"])
    for doc in (first, second):
        hub.wait_state(send(hub, doc), "done", timeout=30)
    p1 = odoo.order(assert_one_order(odoo, first))["partner_id"][0]
    p2 = odoo.order(assert_one_order(odoo, second))["partner_id"][0]
    assert p1 == p2, f"the returning customer got a second partner ({p1}, {p2})"
    contacts = [p for p in odoo.partners_with_email(first["email"]) if not p["parent_id"]]
    assert [p["id"] for p in contacts] == [p1], f"contacts with the customer's email: {contacts}"


def test_customer_known_in_odoo_by_email_is_adopted(make_synchub, odoo):
    """A customer Odoo already has (same email, other case; new Shopify customer id) is adopted: the order uses
    that partner and no second contact is made."""
    tag = secrets.token_hex(4)
    email = f"pat.known+{tag}@example.com"
    existing = odoo.create_partner({"name": f"Pat Known {tag}", "email": email.replace("pat.known", "Pat.Known")
                                                                            .replace("example.com", "Example.COM")})
    hub = odoo_hub(make_synchub, odoo).start()
    doc = make_order(email=email)
    hub.wait_state(send(hub, doc), "done", timeout=30)
    order = odoo.order(assert_one_order(odoo, doc))
    assert order["partner_id"][0] == existing, f"order partner {order['partner_id']} is not the known contact " \
                                               f"{existing}"
    contacts = [p for p in odoo.partners_with_email(email) if not p["parent_id"]]
    assert [p["id"] for p in contacts] == [existing], f"contacts with {email}: {contacts}"


# --------------------------------------------------------------------------------------------------------------
# 5. unknown SKU


def test_unknown_sku_dead_then_retry_after_product_created(make_synchub, odoo):
    """A SKU Odoo does not know -> dead, configuration / mapping.sku naming the SKU and the order, retry-safe;
    after the product is created in Odoo, `jobs retry` -> done with exactly one order."""
    hub = odoo_hub(make_synchub, odoo).start()
    sku = f"ACME-NEW-{secrets.token_hex(3).upper()}"
    doc = make_order(skus=[None, sku, None])
    job_id = send(hub, doc)
    job = hub.wait_state(job_id, ("dead", "done"), timeout=30)
    assert job["state"] == "dead", f"unknown SKU: job {job['state']}, expected dead"
    err = job_error(job)
    assert err["class"] == "configuration", err
    assert err["code"] == "mapping.sku", err
    assert sku in err["message"], f"the message does not name the SKU {sku}: {err['message']!r}"
    assert doc["name"] in err["record"] and str(doc["id"]) in err["record"], \
        f"the record does not name the order {doc['name']} ({doc['id']}): {err['record']!r}"
    assert err["retry_safe"] is True, err
    assert odoo.count_orders(doc["name"]) == 0, "nothing may be written for an order that cannot be mapped"

    odoo.create_product({"name": f"Acme new product {sku}", "default_code": sku, "list_price": 12.5,
                         "type": "consu"})
    hub.cli("jobs", "retry", job_id)
    job = hub.wait_state(job_id, ("done", "dead"), timeout=30)
    assert job["state"] == "done", f"after the fix the retry ended {job['state']}: {job.get('last_error')}"
    oid = assert_one_order(odoo, doc)
    assert actual_lines(odoo, oid) == expected_lines(doc)


# --------------------------------------------------------------------------------------------------------------
# 6. Odoo down during a burst


@needs_sim
def test_odoo_down_during_burst_recovers_every_order(make_synchub, odoo):
    """Odoo down (connections dropped) for ~30 s while 400 order webhooks arrive from 16 concurrent senders: every
    webhook is acknowledged (ingest does not need Odoo); once Odoo is back every order exists exactly once and
    every job is done, without a manual step."""
    n_orders, senders, down_s = 400, 16, 30
    hub = odoo_hub(make_synchub, odoo, workers=4, max_attempts=1000, backoff_base="200ms", backoff_cap="2s").start()
    customer_id, email = new_id(), f"burst+{secrets.token_hex(4)}@example.com"
    docs = [make_order(customer_id=customer_id, email=email) for _ in range(n_orders)]

    odoo.sim_fault(mode="down")
    down_since = time.monotonic()

    def deliver(doc):
        status, body = hub.post_webhook(json.dumps(doc).encode(), topic="orders/create",
                                        event_id=f"evt-{doc['id']}")
        return status, body

    with ThreadPoolExecutor(max_workers=senders) as pool:
        results = list(pool.map(deliver, docs))
    bad = [(d["id"], s, b) for d, (s, b) in zip(docs, results) if s != 200 or b.get("status") != "stored"]
    assert not bad, f"{len(bad)} webhooks not acknowledged while Odoo is down, e.g. {bad[:3]}"
    job_ids = {b["job"] for _s, b in results}
    assert len(job_ids) == n_orders

    # Odoo is down: nothing reached it, and the jobs are retrying with a transient error
    names = [d["name"] for d in docs]
    wait_until(lambda: any((j.get("last_error") or {}).get("class") == "transient" for j in hub.jobs()),
               timeout=20, msg="a job failing transiently while Odoo is down")
    time.sleep(max(0.0, down_s - (time.monotonic() - down_since)))
    assert odoo.sim_count("sale.order", [["client_order_ref", "in", names]]) == 0
    assert not [j for j in hub.jobs() if j["state"] == "dead"], "a job went dead while Odoo was down"
    odoo.sim_clear_faults()

    def all_done():
        jobs = hub.jobs(kind="shopify.order")
        states = Counter(j["state"] for j in jobs)
        assert not states.get("dead"), [j["last_error"] for j in jobs if j["state"] == "dead"][:3]
        return states.get("done") == n_orders

    wait_until(all_done, timeout=45, interval=0.5, msg=f"{n_orders} order jobs done after Odoo came back")
    found = Counter(r["client_order_ref"] for r in odoo.orders_by_ref(names))
    missing = [n for n in names if found[n] == 0]
    doubled = [n for n in names if found[n] > 1]
    assert not missing and not doubled, f"missing {len(missing)} {missing[:5]}, duplicated {len(doubled)} " \
                                        f"{doubled[:5]}"
    assert len({odoo.xmlid(order_xmlid(d)) for d in docs} - {None}) == n_orders
    contacts = [p for p in odoo.partners_with_email(email) if not p["parent_id"]]
    assert len(contacts) == 1, f"the one customer of the burst has {len(contacts)} contacts"


# --------------------------------------------------------------------------------------------------------------
# 7. a missing right


@needs_sim
def test_access_error_is_a_configuration_error_and_retry_after_fix(make_synchub, odoo):
    """Without the create right on sale.order the job goes dead as configuration / odoo.access_error naming
    sale.order, with a hint naming a group; once the right is back `jobs retry` completes it."""
    odoo.sim_set_right("sale.order", "create", False)
    hub = odoo_hub(make_synchub, odoo).start()
    doc = make_order()
    job_id = send(hub, doc)
    job = hub.wait_state(job_id, ("dead", "done"), timeout=30)
    assert job["state"] == "dead", f"missing right: job {job['state']}, expected dead"
    err = job_error(job)
    assert (err["class"], err["code"]) == ("configuration", "odoo.access_error"), err
    assert "sale.order" in err["message"], err
    assert "Sales/Administrator" in (err.get("hint") or ""), f"the hint does not name a group: {err}"
    assert err["retry_safe"] is True, err
    assert odoo.count_orders(doc["name"]) == 0

    odoo.sim_set_right("sale.order", "create", True)
    hub.cli("jobs", "retry", job_id)
    job = hub.wait_state(job_id, ("done", "dead"), timeout=30)
    assert job["state"] == "done", job.get("last_error")
    oid = assert_one_order(odoo, doc)
    assert actual_lines(odoo, oid) == expected_lines(doc)


# --------------------------------------------------------------------------------------------------------------
# 8. cancellation and RPC economy


def test_cancelled_after_create_cancels_the_sale_order(make_synchub, odoo):
    """orders/create (paid: confirmed) then orders/cancelled -> the sale order is cancelled."""
    hub = odoo_hub(make_synchub, odoo).start()
    doc = make_order()
    hub.wait_state(send(hub, doc), "done", timeout=30)
    oid = assert_one_order(odoo, doc)
    assert odoo.order(oid)["state"] == "sale"
    cancelled = same_order(doc, updated=3600, cancelled_at=shopify_time(T0, 3600), cancel_reason="customer",
                           financial_status="refunded")
    job = hub.wait_state(send(hub, cancelled, topic="orders/cancelled"), ("done", "dead"), timeout=30)
    assert job["state"] == "done", job.get("last_error")
    assert assert_one_order(odoo, doc) == oid
    assert odoo.order(oid)["state"] == "cancel"


def test_cancelled_before_reaching_odoo_creates_nothing(make_synchub, odoo):
    """An order whose first event is orders/cancelled: nothing is created and the attempt note says so."""
    hub = odoo_hub(make_synchub, odoo).start()
    doc = make_order(fixture="orders_cancelled.json", financial_status="refunded")
    job = hub.wait_state(send(hub, doc, topic="orders/cancelled"), ("done", "dead"), timeout=30)
    assert job["state"] == "done", job.get("last_error")
    assert "cancelled" in history_notes(job)[-1] and "nothing created" in history_notes(job)[-1], \
        history_notes(job)
    assert odoo.count_orders(doc["name"]) == 0
    assert odoo.xmlid(order_xmlid(doc)) is None


@needs_sim
def test_rpc_economy(make_synchub, odoo):
    """After warm-up, a returning customer's new paid order costs <= 4 Odoo calls (external-ID check, load, the
    read-back of the amounts, confirm); an update of a draft order whose link is known costs 2 (load, read-back).
    One worker, so the warm-up is the same worker's. The read-back is the one call the money proof adds."""
    hub = odoo_hub(make_synchub, odoo, workers=1).start()
    first = make_order()
    hub.wait_state(send(hub, first), "done", timeout=30)

    second = make_order(customer_id=first["customer"]["id"], email=first["email"])
    before = odoo.sim_last_seq()
    hub.wait_state(send(hub, second), "done", timeout=30)
    calls = odoo.sim_calls(since=before)
    summary = [(c["protocol"], c["model"], c["method"]) for c in calls]
    assert len(calls) <= 4, f"a returning customer's paid order cost {len(calls)} Odoo calls: {summary}"
    assert odoo.order(assert_one_order(odoo, second))["state"] == "sale"

    draft = make_order(customer_id=first["customer"]["id"], email=first["email"], financial_status="pending")
    hub.wait_state(send(hub, draft), "done", timeout=30)
    update = same_order(draft, updated=900, quantities=[5, 1, 1])
    before = odoo.sim_last_seq()
    hub.wait_state(send(hub, update, topic="orders/updated"), "done", timeout=30)
    calls = odoo.sim_calls(since=before)
    summary = [(c["protocol"], c["model"], c["method"]) for c in calls]
    assert [m for _, _, m in summary] == ["load", "read"], \
        f"an update of a known draft order cost {len(calls)} Odoo calls: {summary}"
    assert actual_lines(odoo, assert_one_order(odoo, draft)) == expected_lines(update)


# --------------------------------------------------------------------------------------------------------------
# 9. synchub check


RIGHTS_ROWS = [f"right {op} {model}" for model, op in [
    ("res.partner", "read"), ("res.partner", "create"), ("res.partner", "write"), ("product.product", "read"),
    ("sale.order", "read"), ("sale.order", "create"), ("sale.order", "write"), ("sale.order.line", "create"),
    ("sale.order.line", "write"), ("account.tax", "read")]]


def _check_rows(out):
    """{check name: (ok word, detail)} from `synchub check`'s table."""
    rows = {}
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] in ("ok", "FAIL"):
            for name in RIGHTS_ROWS:
                if parts[1].startswith(name + " ") or parts[1] == name:
                    rows[name] = (parts[0], parts[1][len(name):].strip())
    return rows


def test_check_passes_with_the_rights_rows(make_synchub, odoo):
    """`synchub check` exits 0 and prints one row per right the order flow needs."""
    hub = odoo_hub(make_synchub, odoo)
    cp = hub.run("check")
    assert cp.returncode == 0, f"check exited {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    rows = _check_rows(cp.stdout)
    assert sorted(rows) == sorted(RIGHTS_ROWS), f"rights rows: {rows}\n{cp.stdout}"
    assert all(ok == "ok" for ok, _ in rows.values()), cp.stdout


@needs_sim
def test_check_fails_naming_a_revoked_right(make_synchub, odoo):
    """With the sync user's create right on sale.order revoked `synchub check` exits 1 and names that right."""
    odoo.sim_set_right("sale.order", "create", False)
    hub = odoo_hub(make_synchub, odoo)
    cp = hub.run("check")
    assert cp.returncode == 1, f"check exited {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    rows = _check_rows(cp.stdout)
    assert rows.get("right create sale.order", ("?",))[0] == "FAIL", cp.stdout
    assert [n for n, (ok, _) in rows.items() if ok == "FAIL"] == ["right create sale.order"], cp.stdout


# --------------------------------------------------------------------------------------------------------------
# 10. JSON-2 on Odoo 19


def test_json2_happy_path_on_odoo19(make_synchub, odoo19):
    """Odoo 19 with protocol = auto: synchub picks JSON-2 (no JSON-RPC call at all) and the order is created once
    and confirmed."""
    odoo = odoo19
    hub = odoo_hub(make_synchub, odoo).start()
    before = odoo.sim_last_seq()
    doc = make_order()
    job = hub.wait_state(send(hub, doc), ("done", "dead"), timeout=30)
    assert job["state"] == "done", job.get("last_error")
    calls = odoo.sim_calls(since=before)
    protocols = Counter(c["protocol"] for c in calls)
    assert any(c["protocol"] == "json2" and c["model"] == "sale.order" and c["method"] == "load" for c in calls), \
        f"no JSON-2 sale.order.load in the call log: {protocols}"
    assert set(protocols) <= {"json2", "web"}, f"synchub used other protocols than JSON-2: {protocols}"
    oid = assert_one_order(odoo, doc)
    assert odoo.order(oid)["state"] == "sale"
    assert actual_lines(odoo, oid) == expected_lines(doc)


# --------------------------------------------------------------------------------------------------------------
# protected fields and currency


def test_protected_field_is_set_on_create_and_never_overwritten(make_synchub, odoo):
    """[odoo] protected_fields = res.partner.phone: the customer's phone is written when the partner is created;
    when Shopify's customer record changes later, the name follows Shopify but the phone in Odoo stays."""
    hub = odoo_hub(make_synchub, odoo, protected_fields="res.partner.phone").start()
    first = make_order()
    first["customer"]["phone"] = "+15555550100"
    hub.wait_state(send(hub, first), "done", timeout=30)
    pid = odoo.order(assert_one_order(odoo, first))["partner_id"][0]
    second = make_order(customer_id=first["customer"]["id"], email=first["email"])
    second["customer"]["phone"] = "+15555550199"
    second["customer"]["first_name"] = "Mariana"
    second["customer"]["updated_at"] = shopify_time(T0, 3600)
    hub.wait_state(send(hub, second), "done", timeout=30)
    assert odoo.order(assert_one_order(odoo, second))["partner_id"][0] == pid
    rec = odoo.execute("res.partner", "read", [pid], fields=["name", "phone"])[0]
    assert rec["name"].startswith("Mariana"), f"the unprotected name did not follow Shopify: {rec}"
    assert rec["phone"] == "+15555550100", f"the protected phone was overwritten: {rec}"


def test_order_in_another_currency_stops_with_a_configuration_error(make_synchub, odoo):
    """An order in a currency other than the Odoo company's is not booked at face value: dead, class
    configuration, code config.currency, nothing written."""
    hub = odoo_hub(make_synchub, odoo).start()
    doc = make_order()
    doc["currency"] = doc["presentment_currency"] = "EUR"
    job = hub.wait_state(send(hub, doc), "dead", timeout=30)
    err = job_error(job)
    assert (err["class"], err["code"]) == ("configuration", "config.currency"), err
    assert "EUR" in err["message"] and "USD" in err["message"], err
    assert doc["name"] in err["record"], err
    assert odoo.count_orders(doc["name"]) == 0


def test_edge_json_the_worker_reads_is_stored_and_done(make_synchub, odoo):
    """Issue 13, item 2: the ack path and the worker accept the same documents. A body with a surrogate pair, an
    underflowing real and int64's minimum (all of which jansson reads) is stored and synced, never dead."""
    hub = odoo_hub(make_synchub, odoo).start()
    doc = make_order(financial_status="paid")
    raw = json.dumps(doc).encode()
    raw = raw[:-1] + b', "x_probe": ["\\ud83d\\ude00", 1e-999999, -9223372036854775808]}'
    status, first = hub.post_webhook(raw, topic="orders/create", event_id="evt-edge-" + str(doc["id"]))
    assert (status, first.get("status")) == (200, "stored"), first
    hub.wait_state(first["job"], "done", timeout=30)
    assert_one_order(odoo, doc)
