"""Odoo stock -> Shopify available quantities (src/flows/flow_stock.c), `synchub reconcile inventory|orders`
(src/flows/flow_reconcile.c) and the fresh fetch of orders in workers, end to end: the real `synchub serve` between
the Odoo emulator (tests/sim/odoo_sim.py), or a real Odoo 18/19 when SYNCHUB_TEST_ODOO_URL and the admin credentials
are set (tests/integration/odoo_real.py), and the Shopify emulator (tests/sim/shopify_sim.py).

What is pushed: per mapped location, Odoo's free quantity (on hand - reserved, over the location tree) as Shopify's
`available`. Odoo's seed: tee 40, mug 25, cap 10 in WH/Stock. Shopify's seed at Main warehouse: 37, 25, 10. On a real
Odoo, whose WH/Stock holds what earlier runs left and reserved, each test maps a stock location of its own (WH/RT-…,
outside WH/Stock, so no other order reserves from it) counted to the same seed as Odoo's admin, and its Shopify has a
shop domain of its own (its orders are its own); stock changes and reservations are made as admin through the API.
"""

import json
import secrets
import sys
import time

import pytest

from conftest import REPO, fixture_json, wait_until

sys.path.insert(0, str(REPO / "tests" / "sim"))
import shopify_sim  # noqa: E402
from odoo_real import (REAL_ODOO, odoo, odoo_login, ref as xmlid_ref, set_stock, shopify,  # noqa: E402,F401
                       use_shop)

MAIN = shopify_sim.MAIN_LOCATION
DOWNTOWN = shopify_sim.SECOND_LOCATION


SEED = {"ACME-TEE-BLK-M": 40, "ACME-MUG-350": 25, "ACME-CAP-NVY": 10}


class Loc:
    """The Odoo stock location a test maps to Shopify's Main warehouse: id and full name."""

    def __init__(self, id, name):
        self.id, self.name = id, name


def new_location(odoo, name):
    """An internal location WH/<name> made as Odoo's admin; returns its id (Odoo 19 creates lists)."""
    wh = odoo.records("stock.location", [["complete_name", "=", "WH"]], ["id"])[0]["id"]
    lid = odoo.exec("stock.location", "create", [{"name": name, "usage": "internal", "location_id": wh}])
    return lid[0] if isinstance(lid, list) else lid


@pytest.fixture
def loc(odoo):
    """WH/Stock on the emulator (its seed); on a real Odoo a new WH/RT-… counted to the same seed."""
    if not REAL_ODOO:
        return Loc(odoo.records("stock.location", [["complete_name", "=", "WH/Stock"]], ["id"])[0]["id"], "WH/Stock")
    name = f"RT-{secrets.token_hex(4)}"
    lid = new_location(odoo, name)
    set_stock(odoo, [{"default_code": c, "quantity": q} for c, q in SEED.items()], location=lid)
    return Loc(lid, f"WH/{name}")


def stock_hub(make_synchub, odoo, shopify, loc, locations=None, interval="300ms", workers=2, name="synchub",
              **shop):
    hub = use_shop(make_synchub(name), shopify)
    hub.set("server", workers=workers)
    login, key = odoo_login(odoo)
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username=login, api_key=key, protocol="auto")
    hub.set(f"shop {shopify.shop}", shipping_product="SHIP-STD", admin_token=shopify_sim.DEFAULT_TOKEN, admin_url=shopify.url,
            api_version="2026-10", locations=locations or f"{loc.name}={MAIN}", inventory_interval=interval, inventory_lookback="5s",
            fulfillment_interval=0, reconcile_interval=0, **shop)
    for kind in ("stock.poll", "stock.sku", "shopify.order"):
        hub.set(f"kind {kind}", max_attempts=20, backoff_base="100ms", backoff_cap="1s")
    hub.write_config()
    return hub


def set_calls(shopify, since=0):
    """inventorySetQuantities requests Shopify ran (not throttled, not an idempotent replay)."""
    return [c for c in shopify.calls(since, field="inventorySetQuantities")
            if not c.get("throttled") and c.get("status") == 200 and not c.get("idempotent_replay")]


def wait_quantity(shopify, sku, want, location=MAIN, timeout=20):
    return wait_until(lambda: shopify.quantity(sku, location) == want, timeout=timeout,
                      msg=f"Shopify available of {sku} at {location} == {want} "
                          f"(now {shopify.quantity(sku, location)})")


def shop_orders(odoo, shopify, names, fields):
    """The sale orders synchub made of this shop's orders of those names."""
    return odoo.records("sale.order", [["client_order_ref", "in", sorted(names)],
                                       ["origin", "=like", f"Shopify {shopify.shop} %"]], fields)


def dead(hub, kind=None):
    return hub.jobs(state="dead", kind=kind)


# ----------------------------------------------------------------------------------------------------------------


def test_stock_changes_in_odoo_reach_shopify(make_synchub, odoo, shopify, loc):
    hub = stock_hub(make_synchub, odoo, shopify, loc)
    hub.start()
    # The first poll (no cursor yet) publishes everything mapped: the tee differs (Odoo 40, Shopify 37).
    wait_quantity(shopify, "ACME-TEE-BLK-M", 40)
    assert shopify.quantity("ACME-MUG-350") == 25 and shopify.quantity("ACME-CAP-NVY") == 10
    first = set_calls(shopify)
    assert len(first) == 1, f"one mutation for the first push, saw {len(first)}"
    mark = shopify.calls()[-1]["seq"]

    set_stock(odoo, [{"default_code": "ACME-MUG-350", "quantity": 31}], location=loc.id)
    wait_quantity(shopify, "ACME-MUG-350", 31)
    # A reservation in Odoo lowers what may be sold: a delivery of 4 caps from the location, reserved (Check
    # Availability) as Odoo's admin.
    cap = odoo.records("product.product", [["default_code", "=", "ACME-CAP-NVY"]], ["id"], order="id asc")[0]["id"]
    customers = xmlid_ref(odoo, "stock.stock_location_customers")
    move = {"product_id": cap, "product_uom_qty": 4, "location_id": loc.id, "location_dest_id": customers}
    if odoo.version < 19:    # stock.move's required description is gone in 19.0
        move["name"] = "Acme Cap - Navy"
    pick = odoo.exec("stock.picking", "create", [{
        "picking_type_id": xmlid_ref(odoo, "stock.picking_type_out"), "location_id": loc.id,
        "location_dest_id": customers, "move_ids": [[0, 0, move]]}])
    odoo.exec("stock.picking", "action_assign", [pick if isinstance(pick, list) else [pick]])
    wait_quantity(shopify, "ACME-CAP-NVY", 6)
    calls = set_calls(shopify, mark)
    assert len(calls) == 2, f"one mutation per change, saw {len(calls)}: {[c['variables'] for c in calls]}"
    # Every mutation is idempotent (key) and carries changeFromQuantity (the compare-and-swap of 2026-04+).
    for c in first + calls:
        assert c["idempotency_keys"], c
        for q in c["variables"]["input"]["quantities"]:
            assert "changeFromQuantity" in q, q
    # Polls with nothing new cost no Shopify call.
    n = len(set_calls(shopify))
    time.sleep(1.5)
    assert len(set_calls(shopify)) == n
    assert not dead(hub)


@pytest.mark.skipif(REAL_ODOO, reason="needs the emulator's atomic bulk stock change (10,000 quantities in one "
                                      "transaction); a real Odoo takes them through its API in minutes, in batches "
                                      "that stock.poll sees one by one, so the mutation count does not hold")
def test_ten_thousand_changes_under_a_small_bucket(make_synchub, odoo, shopify, loc):
    """5,000 SKUs at 2 locations: 10,000 quantity changes made in Odoo in one burst end in Shopify exactly, in
    about ceil(10,000 / 250) = 40 mutations, under a bucket that holds 5 of them."""
    n = 5000
    skus = [f"BULK-{i:05d}" for i in range(n)]
    shopify.create_products([{"sku": s, "title": s, "price": "5.00", "levels": {str(MAIN): 0, str(DOWNTOWN): 0}}
                             for s in skus])
    downtown_name = f"Downtown-{secrets.token_hex(4)}" if REAL_ODOO else "Downtown"
    downtown = new_location(odoo, downtown_name)
    set_stock(odoo, [{"default_code": s, "quantity": 1} for s in skus], create_products=True, location=loc.id)
    # Initial mapping with a roomy bucket: 5,000 SKU lookups are a one-time cost (kept as links afterwards).
    shopify.set_bucket(maximum=20000, restore=20000, available=20000)
    hub = stock_hub(make_synchub, odoo, shopify, loc, locations=f"{loc.name}={MAIN}, WH/{downtown_name}={DOWNTOWN}",
                    interval="1s", workers=2, inventory_skip="ACME-*")
    hub.start()
    wait_until(lambda: shopify.inventory_map(MAIN).get(skus[-1], {}).get(str(MAIN)) == 1, timeout=120,
               msg="initial push of 5,000 SKUs")
    wait_until(lambda: not hub.jobs(state="queued", kind="stock.poll") and
               not hub.jobs(state="running", kind="stock.poll"), timeout=30)

    # The burst: every SKU at both locations, 10,000 changes, under a small bucket (5 mutations' worth).
    shopify.set_bucket(maximum=50, restore=25, available=50)
    mark = shopify.calls()[-1]["seq"]
    changes = [{"default_code": s, "location_id": loc.id, "quantity": 10 + i % 97} for i, s in enumerate(skus)]
    changes += [{"default_code": s, "location_id": downtown, "quantity": 3 + i % 13} for i, s in enumerate(skus)]
    set_stock(odoo, changes, location=loc.id)
    want_main = {s: 10 + i % 97 for i, s in enumerate(skus)}
    want_down = {s: 3 + i % 13 for i, s in enumerate(skus)}

    def converged():
        m, d = shopify.inventory_map(MAIN), shopify.inventory_map(DOWNTOWN)
        return all(m[s][str(MAIN)] == want_main[s] and d[s][str(DOWNTOWN)] == want_down[s] for s in skus)
    wait_until(converged, timeout=180, interval=1, msg="10,000 changes in Shopify")
    calls = set_calls(shopify, mark)
    throttled = [c for c in shopify.calls(mark) if c.get("throttled")]
    # One operation per idempotency key: when a keep-alive connection dies under a request, the client re-sends it
    # with the same key and the log holds the first try with a broken answer plus an idempotent replay. Counting by
    # key still catches a lost batch (a missing key) and a duplicated one (two keys for the same quantities).
    applied = {}
    for c in shopify.calls(mark, field="inventorySetQuantities"):
        key = c["variables"].get("idempotencyKey")
        if not c.get("throttled") and (c.get("status") == 200 or c.get("idempotent_replay")):
            applied.setdefault(key, c)
    quantities = sum(len(c["variables"]["input"]["quantities"]) for c in applied.values())
    print(f"10,000 changes: {len(applied)} mutations ({len(calls)} answered 200 first time), {quantities} quantities, "
          f"{len(throttled)} throttled answers")
    assert quantities == 10000, f"{quantities} quantities sent for 10,000 changes (lost or duplicated updates)"
    assert len(applied) <= 40 + 3, f"{len(applied)} mutations for 10,000 changes (expected about 40)"
    assert all(len(c["variables"]["input"]["quantities"]) <= 250 for c in calls)
    assert not dead(hub)


def test_reconcile_inventory_finds_and_fixes_drift(make_synchub, odoo, shopify, loc):
    hub = stock_hub(make_synchub, odoo, shopify, loc, interval=0)   # no poller: only the reconciliation acts
    # Before anything: the tee differs (Odoo 40, Shopify 37); a dry run reports it and changes nothing.
    doc = hub.cli_json("reconcile", "inventory", "--dry-run", "--json")
    rows = {(r["sku"], r["location"]): r for r in doc}
    tee = rows[("ACME-TEE-BLK-M", str(MAIN))]
    assert (tee["odoo"], tee["shopify"], tee["status"]) == (40, 37, "drift"), doc
    assert ("ACME-MUG-350", str(MAIN)) not in rows, "an equal level is not a drift"
    assert shopify.quantity("ACME-TEE-BLK-M") == 37
    text = hub.cli("reconcile", "inventory", "--dry-run").stdout
    assert "ACME-TEE-BLK-M" in text and "+" in text or "-3" in text, text

    # Drift made in Shopify's admin: found and corrected.
    shopify.set_inventory(sku="ACME-MUG-350", location_id=MAIN, available=99)
    doc = hub.cli_json("reconcile", "inventory", "--json")
    rows = {(r["sku"], r["location"]): r for r in doc}
    assert rows[("ACME-MUG-350", str(MAIN))]["status"] == "pushed", doc
    assert rows[("ACME-TEE-BLK-M", str(MAIN))]["status"] == "pushed", doc
    assert shopify.quantity("ACME-MUG-350") == 25 and shopify.quantity("ACME-TEE-BLK-M") == 40
    # Converged: nothing left to report.
    assert hub.cli_json("reconcile", "inventory", "--json") == []


def test_stale_compare_rereads_and_sets_odoo_quantity(make_synchub, odoo, shopify, loc):
    hub = stock_hub(make_synchub, odoo, shopify, loc)
    hub.start()
    wait_quantity(shopify, "ACME-TEE-BLK-M", 40)
    mark = shopify.calls()[-1]["seq"]
    # Someone edits Shopify behind synchub's back, then Odoo changes: the compare-and-swap fails, synchub re-reads.
    shopify.set_inventory(sku="ACME-MUG-350", location_id=MAIN, available=7)
    set_stock(odoo, [{"default_code": "ACME-MUG-350", "quantity": 20}], location=loc.id)
    wait_quantity(shopify, "ACME-MUG-350", 20)
    codes = [e for c in shopify.calls(mark, field="inventorySetQuantities") for e in c.get("user_errors") or []]
    assert "CHANGE_FROM_QUANTITY_STALE" in codes, codes
    assert not dead(hub)


def test_unmapped_location_is_one_configuration_failure(make_synchub, odoo, shopify, loc):
    hub = stock_hub(make_synchub, odoo, shopify, loc, locations=f"WH/Nowhere={MAIN}")
    hub.start()
    wait_until(lambda: dead(hub, "stock.poll"), timeout=20, msg="the poll job dead")
    time.sleep(1.5)   # several scheduler ticks: still one dead job, not one per tick
    jobs = dead(hub, "stock.poll")
    assert len(jobs) == 1, jobs
    job = hub.show(jobs[0]["id"])
    err = job.get("last_error") or job.get("error") or {}
    assert err.get("class") == "configuration", job
    assert "WH/Nowhere" in err.get("message", ""), job
    assert shopify.quantity("ACME-TEE-BLK-M") == 37, "nothing pushed"

    # A Shopify location id that does not exist is named too.
    hub.stop()
    hub2 = stock_hub(make_synchub, odoo, shopify, loc, locations="WH/Stock=999999", name="second")
    hub2.start()
    wait_until(lambda: dead(hub2, "stock.poll"), timeout=20)
    err = hub2.show(dead(hub2, "stock.poll")[0]["id"]).get("last_error") or {}
    assert err.get("class") == "configuration" and "999999" in err.get("message", ""), err


def test_unmapped_sku_stops_only_itself(make_synchub, odoo, shopify, loc):
    set_stock(odoo, [{"default_code": "ODOO-ONLY-1", "quantity": 5}], create_products=True, location=loc.id)
    set_stock(odoo, [{"default_code": "ACME-MUG-350", "quantity": 21}], location=loc.id)
    hub = stock_hub(make_synchub, odoo, shopify, loc)
    hub.start()
    wait_quantity(shopify, "ACME-MUG-350", 21)   # the batch went through without the unmapped SKU
    wait_quantity(shopify, "ACME-TEE-BLK-M", 40)
    wait_until(lambda: dead(hub, "stock.sku"), timeout=20, msg="a dead stock.sku job for the unmapped SKU")
    jobs = dead(hub, "stock.sku")
    assert len(jobs) == 1, jobs
    job = hub.show(jobs[0]["id"])
    err = job.get("last_error") or {}
    assert err.get("class") == "configuration" and "ODOO-ONLY-1" in err.get("message", ""), job
    assert err.get("hint"), job
    assert not dead(hub, "stock.poll")


def test_reconcile_orders_finds_orders_webhooks_missed(make_synchub, odoo, shopify, loc):
    hub = stock_hub(make_synchub, odoo, shopify, loc, interval=0)
    seeded = {o["name"] for o in shopify.orders()}
    assert {"#1042", "#1043", "#1044"} <= seeded
    doc = hub.cli_json("reconcile", "orders", "--since", "3650d", "--dry-run", "--json")
    assert {r["name"] for r in doc} >= {"#1042", "#1043", "#1044"}, doc
    assert all(r["action"] == "would enqueue" and r["applied"] is None for r in doc), doc
    assert not hub.jobs(kind="shopify.order")

    doc = hub.cli_json("reconcile", "orders", "--since", "3650d", "--json")
    assert all(r["action"] == "enqueued" for r in doc), doc
    hub.start()
    names = {r["name"] for r in doc}
    wait_until(lambda: len(shop_orders(odoo, shopify, names, ["id"])) == len(names), timeout=30, msg="the missed orders in Odoo")
    wait_until(lambda: not hub.jobs(state="queued", kind="shopify.order") and
               not hub.jobs(state="running", kind="shopify.order"), timeout=30)
    assert not dead(hub), dead(hub)
    # Nothing missing any more; a second run enqueues nothing.
    assert hub.cli_json("reconcile", "orders", "--since", "3650d", "--json") == []


def test_order_jobs_apply_the_current_order_not_the_webhook_payload(make_synchub, odoo, shopify, loc):
    """A late webhook carries an old payload; with an admin_token the worker fetches the order and applies that."""
    hub = stock_hub(make_synchub, odoo, shopify, loc, interval=0)
    hub.start()
    old = fixture_json("orders_create.json")   # order #1042 as it was created: tee x2, mug, cap
    tee_line = next(li for li in shopify.order(old["id"])["line_items"] if li["sku"] == "ACME-TEE-BLK-M")
    shopify.update_order(old["id"], line_items=[{"id": tee_line["id"], "quantity": 5}], note="five tees")
    status, body = hub.post_webhook(json.dumps(old).encode(), topic="orders/create", event_id="evt-late-1042",
                                   shop=shopify.shop)
    assert status == 200, body
    job = hub.wait_state(body["job"], "done", timeout=30)
    so = shop_orders(odoo, shopify, [old["name"]], ["order_line"])
    assert len(so) == 1, so
    lines = odoo.records("sale.order.line", [["order_id", "=", so[0]["id"]]], ["product_id", "product_uom_qty"])
    qty = {l["product_id"][1]: l["product_uom_qty"] for l in lines}
    tee = [q for name, q in qty.items() if "ACME-TEE-BLK-M" in name or "Tee" in name]
    assert tee == [5.0], f"the tee line should carry Shopify's current quantity 5: {qty} ({job.get('note')})"


def test_fetched_order_decides_cancellation_not_the_topic(make_synchub, odoo, shopify, loc):
    """With an admin_token the fetched order is the truth: an orders/cancelled delivery for an order Shopify has not
    cancelled cancels nothing; an old orders/updated payload of an order cancelled since cancels it."""
    hub = stock_hub(make_synchub, odoo, shopify, loc, interval=0)
    hub.start()
    oid = next(o["id"] for o in shopify.orders() if o["name"] == "#1043")
    body = shopify.order(oid)   # the REST form: what a webhook would carry
    status, ack = hub.post_webhook(json.dumps(body).encode(), topic="orders/create", event_id="evt-1043-create",
                                   shop=shopify.shop)
    assert status == 200, ack
    hub.wait_state(ack["job"], "done", timeout=30)
    status, ack = hub.post_webhook(json.dumps(body).encode(), topic="orders/cancelled", event_id="evt-1043-cxl",
                                   shop=shopify.shop)
    hub.wait_state(ack["job"], "done", timeout=30)
    so = shop_orders(odoo, shopify, ["#1043"], ["state"])
    assert [r["state"] for r in so] == ["sale"], so

    shopify.update_order(oid, cancel={"reason": "customer"})
    status, ack = hub.post_webhook(json.dumps(body).encode(), topic="orders/updated", event_id="evt-1043-upd",
                                   shop=shopify.shop)
    hub.wait_state(ack["job"], "done", timeout=30)
    so = shop_orders(odoo, shopify, ["#1043"], ["state"])
    assert [r["state"] for r in so] == ["cancel"], so
