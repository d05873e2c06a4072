"""Integration tests of the fulfillment flow: a done Odoo delivery of a Shopify order -> one Shopify fulfillment with
carrier, tracking number and URL (src/flows/flow_fulfillment.c), created exactly once however often the work runs.

The real `synchub serve` runs against the Shopify emulator (tests/sim/shopify_sim.py, seeded with order #1042) and
the Odoo 18 emulator (tests/sim/odoo_sim.py), or a real Odoo 18/19 when SYNCHUB_TEST_ODOO_URL and the admin
credentials are set (tests/integration/odoo_real.py). Every test first imports #1042 the way production does (the
signed orders/create webhook -> shopify.order job -> confirmed sale order and its delivery WH/OUT/… in Odoo), then
sets a carrier and a tracking number on the delivery and validates it as Odoo's admin through the external API, and
lets fulfillment.poll (the scheduler's, every second, or one enqueued with `synchub enqueue`) and fulfillment.push
do the rest. What a test checks in Shopify it reads from the emulator's test API (/__sim__/fulfillments, the call
log). On a real Odoo, which keeps earlier runs' orders, each test's Shopify has a shop domain of its own: synchub's
external IDs and the poll's origin filter are per shop, so each test imports and fulfils only its own #1042.
"""

import json
import sys

from conftest import REPO, fixture_bytes, wait_until

sys.path.insert(0, str(REPO / "tests" / "sim"))
import shopify_sim  # noqa: E402
from odoo_real import ensure_stock, odoo, odoo_login, shopify, use_shop, validate_delivery  # noqa: E402,F401

ORDER_ID = 6150327861270          # #1042 in orders_create.json and in the Shopify emulator's seed
ORDER_NAME = "#1042"
ORDER_SKUS = {"ACME-TEE-BLK-M": 2, "ACME-MUG-350": 1, "ACME-CAP-NVY": 1}
TRACKING = "1Z999AA10123456784"
URL_TEMPLATE = "https://www.ups.com/track?loc=en_US&tracknum=<shipmenttrackingnumber>"


def tracking_url(number):
    return URL_TEMPLATE.replace("<shipmenttrackingnumber>", number)


# --------------------------------------------------------------------------------------------------------------
# Shopify and synchub


def poll_key(shopify):
    return f"fulfillment.poll|{shopify.shop}"


def fulfil_hub(make_synchub, odoo, shopify, name="synchub", interval="1s"):
    """A synchub installation for both emulators (not started). interval: [shop] fulfillment_interval ("0" = only
    polls enqueued by hand)."""
    hub = use_shop(make_synchub(name), shopify)
    hub.set("server", workers=2)
    login, key = odoo_login(odoo)
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username=login, api_key=key, protocol="auto")
    hub.set(f"shop {shopify.shop}", shipping_product="SHIP-STD", admin_token=shopify_sim.DEFAULT_TOKEN,
            admin_url=shopify.url, api_version="2026-10", fulfillment_interval=interval, inventory_interval="0",
            reconcile_interval="0")
    for kind in ("shopify.order", "fulfillment.push", "fulfillment.poll"):
        hub.set(f"kind {kind}", max_attempts=10, backoff_base="200ms", backoff_cap="1s")
    hub.write_config()
    return hub


def odoo_exec(odoo, model, method, *args, **kwargs):
    """A set-up call as Odoo's admin (the emulator's test API, or a real Odoo's external API), as a person in the
    Odoo UI would make it."""
    result = odoo.exec(model, method, list(args), kwargs)
    return result[0] if method == "create" and isinstance(result, list) else result   # Odoo 19 creates lists


def import_order(hub, odoo, shopify):
    """orders/create of #1042 -> the confirmed sale order; returns (sale order id, its outgoing picking). The
    products are in stock first (an inventory count as admin), so that the delivery is reserved and validates."""
    for sku, qty in ORDER_SKUS.items():
        ensure_stock(odoo, sku, qty)
    status, body = hub.post_webhook(fixture_bytes("orders_create.json"), topic="orders/create",
                                    event_id="evt-fulfil-1042", shop=shopify.shop)
    assert status == 200, body
    job = hub.wait_state(body["job"], ("done", "dead"), timeout=60)
    assert job["state"] == "done", json.dumps(hub.show(body["job"]), indent=1)[:3000]
    origin = f"Shopify {shopify.shop} {ORDER_NAME}"
    orders = odoo.records("sale.order", [["client_order_ref", "=", ORDER_NAME], ["origin", "=", origin]],
                          ["id", "state", "origin"])
    assert len(orders) == 1 and orders[0]["state"] == "sale", orders
    pickings = odoo.records("stock.picking", [["sale_id", "=", orders[0]["id"]],
                                              ["picking_type_code", "=", "outgoing"]],
                            ["id", "name", "state", "location_id", "location_dest_id"])
    assert len(pickings) == 1, pickings
    return orders[0]["id"], pickings[0]


def make_carrier(odoo):
    ship = odoo.records("product.product", [["default_code", "=", "SHIP-STD"]], ["id"])[0]["id"]
    return odoo_exec(odoo, "delivery.carrier", "create", {"name": "UPS", "product_id": ship, "delivery_type": "fixed",
                                                          "tracking_url": URL_TEMPLATE})


def ship(odoo, picking, number=TRACKING, carrier=None):
    """What a warehouse does in Odoo: carrier and tracking number on the delivery, then Validate (everything
    reserved, no backorder)."""
    vals = {"carrier_tracking_ref": number}
    if carrier:
        vals["carrier_id"] = carrier
    odoo_exec(odoo, "stock.picking", "write", [picking["id"]], vals)
    validate_delivery(odoo, picking["id"])


def push_jobs(hub, state=None):
    return hub.jobs(state=state, kind="fulfillment.push")


def wait_pushes_done(hub, n, timeout=40):
    """Wait until n fulfillment.push jobs exist and all are done; returns them (oldest first)."""
    def check():
        jobs = push_jobs(hub)
        bad = [j for j in jobs if j["state"] == "dead"]
        assert not bad, f"a fulfillment job is dead: {json.dumps(hub.show(bad[0]['id']), indent=1)[:3000]}"
        return jobs if len(jobs) == n and all(j["state"] == "done" for j in jobs) else None
    jobs = wait_until(check, timeout=timeout, msg=f"{n} fulfillment.push jobs done")
    return sorted(jobs, key=lambda j: j["created_at"])


def notes(hub, job_id):
    return [h.get("note") or "" for h in hub.show(job_id).get("history") or []]


def order_fulfillments(shopify):
    return [f for f in shopify.fulfillments() if f["order_id"] == ORDER_ID]


def fulfilled_skus(shopify, fulfillment):
    """{sku: quantity} of a fulfillment, through the order's line items."""
    skus = {li["id"]: li["sku"] for li in shopify.order(ORDER_ID)["line_items"]}
    out = {}
    for fl in fulfillment["line_items"]:
        sku = skus[fl["line_item_id"]]
        out[sku] = out.get(sku, 0) + fl["quantity"]
    return out


def applied_creates(shopify):
    """fulfillmentCreate requests Shopify ran (a replayed idempotency key or a userError applies nothing)."""
    return [c for c in shopify.calls(field="fulfillmentCreate")
            if not c.get("idempotent_replay") and not c.get("user_errors") and not c.get("errors")]


def assert_one_fulfillment(shopify, number=TRACKING):
    fs = order_fulfillments(shopify)
    assert len(fs) == 1, f"expected exactly one fulfillment of {ORDER_NAME}, Shopify has {json.dumps(fs, indent=1)}"
    f = fs[0]
    assert f["status"] == "SUCCESS", f
    assert f["tracking"] == [{"company": "UPS", "number": number, "url": tracking_url(number)}], f["tracking"]
    assert fulfilled_skus(shopify, f) == ORDER_SKUS, f
    return f


def poll_now(hub, shopify, key):
    """One fulfillment.poll enqueued by hand (on the scheduler's ordering key); returns the finished job."""
    word, job = hub.enqueue("fulfillment.poll", key, {"shop": shopify.shop}, order_key=poll_key(shopify))
    assert word == "enqueued"
    return hub.wait_state(job, ("done", "dead"), timeout=30)


# --------------------------------------------------------------------------------------------------------------
# 1. a done delivery -> exactly one fulfillment


def test_done_delivery_becomes_one_fulfillment_with_tracking(make_synchub, odoo, shopify):
    """The scheduler's poll finds the validated delivery and the push creates one fulfillment of the whole order
    with company, number and URL from Odoo; the fulfillment order is closed; nothing else is sent."""
    hub = fulfil_hub(make_synchub, odoo, shopify).start()
    _, picking = import_order(hub, odoo, shopify)
    assert not order_fulfillments(shopify)
    ship(odoo, picking, carrier=make_carrier(odoo))

    jobs = wait_pushes_done(hub, 1)
    assert_one_fulfillment(shopify)
    assert len(applied_creates(shopify)) == 1
    summary = next(o for o in shopify.orders() if o["id"] == ORDER_ID)
    assert summary["fulfillment_status"] == "FULFILLED", summary
    assert [x["status"] for x in summary["fulfillment_orders"]] == ["CLOSED"], summary
    assert any("created Shopify fulfillment" in n for n in notes(hub, jobs[0]["id"])), notes(hub, jobs[0]["id"])
    payload = hub.show(jobs[0]["id"])["payload"]
    assert payload == {"shop": shopify.shop, "picking_id": picking["id"]}, payload


# --------------------------------------------------------------------------------------------------------------
# 2. replays and repeated polls


def test_replay_and_second_poll_do_not_fulfil_twice(make_synchub, odoo, shopify):
    """`jobs replay` of the done push and further polls (by hand and by the scheduler) leave one fulfillment and
    one fulfillmentCreate; a second synchub with an empty store (the link store wiped) adopts the fulfillment by
    its tracking number instead of creating another."""
    hub = fulfil_hub(make_synchub, odoo, shopify).start()
    _, picking = import_order(hub, odoo, shopify)
    ship(odoo, picking, carrier=make_carrier(odoo))
    push = wait_pushes_done(hub, 1)[0]
    assert_one_fulfillment(shopify)

    hub.cli("jobs", "replay", push["id"])
    job = hub.wait_state(push["id"], "done", timeout=30)
    assert job["attempts"] >= 2
    assert "already fulfilled" in notes(hub, push["id"])[-1], notes(hub, push["id"])

    poll = poll_now(hub, shopify, "second-poll")
    assert poll["state"] == "done", poll
    assert "0 new fulfillment jobs" in notes(hub, poll["id"])[-1], notes(hub, poll["id"])
    assert len(push_jobs(hub)) == 1, "a second poll made another push job for the same tracking number"
    assert_one_fulfillment(shopify)
    assert len(applied_creates(shopify)) == 1
    hub.stop()

    fresh = fulfil_hub(make_synchub, odoo, shopify, name="fresh", interval="0").start()
    poll = poll_now(fresh, shopify, "fresh-poll")
    assert poll["state"] == "done", poll
    adopted = wait_pushes_done(fresh, 1)[0]
    assert any("adopted" in n for n in notes(fresh, adopted["id"])), notes(fresh, adopted["id"])
    assert_one_fulfillment(shopify)
    assert len(applied_creates(shopify)) == 1, "a wiped store created a second fulfillment"


# --------------------------------------------------------------------------------------------------------------
# 3. the answer to fulfillmentCreate is lost


def test_lost_answer_is_adopted_not_created_again(make_synchub, odoo, shopify):
    """Shopify runs fulfillmentCreate and the connection drops before the answer: the job fails transiently, its
    retry finds the fulfillment by tracking number and adopts it; one fulfillment, one fulfillmentCreate sent."""
    hub = fulfil_hub(make_synchub, odoo, shopify).start()
    _, picking = import_order(hub, odoo, shopify)
    shopify.set_fault("commit_then_drop", count=1, match={"field": "fulfillmentCreate"})
    ship(odoo, picking, carrier=make_carrier(odoo))

    push = wait_pushes_done(hub, 1)[0]
    shown = hub.show(push["id"])
    assert shown["attempts"] >= 2, shown
    first = shown["history"][0]
    assert first["outcome"] == "retry" and first["class"] == "transient", first
    assert any("adopted" in (h.get("note") or "") for h in shown["history"]), shown["history"]
    assert_one_fulfillment(shopify)
    creates = shopify.calls(field="fulfillmentCreate")
    assert len(creates) == 1 and creates[0]["fault"] == "commit_then_drop", creates


# --------------------------------------------------------------------------------------------------------------
# 4. tracking changed in Odoo after the fulfillment


def test_changed_tracking_updates_the_fulfillment(make_synchub, odoo, shopify):
    """A new tracking number on the done delivery -> a new push job -> fulfillmentTrackingInfoUpdate: still one
    fulfillment, now with the new number and URL; no second fulfillmentCreate."""
    hub = fulfil_hub(make_synchub, odoo, shopify).start()
    _, picking = import_order(hub, odoo, shopify)
    ship(odoo, picking, carrier=make_carrier(odoo))
    wait_pushes_done(hub, 1)
    assert_one_fulfillment(shopify)

    new_number = "1Z999AA10123456799"
    odoo_exec(odoo, "stock.picking", "write", [picking["id"]], {"carrier_tracking_ref": new_number})
    update = wait_pushes_done(hub, 2)[1]
    assert any("updated" in n for n in notes(hub, update["id"])), notes(hub, update["id"])
    assert_one_fulfillment(shopify, number=new_number)
    assert len(applied_creates(shopify)) == 1
    updates = [c for c in shopify.calls(field="fulfillmentTrackingInfoUpdate") if not c.get("user_errors")]
    assert len(updates) == 1, updates

    # the update job replayed: nothing more is sent
    hub.cli("jobs", "replay", update["id"])
    hub.wait_state(update["id"], "done", timeout=30)
    assert len(shopify.calls(field="fulfillmentTrackingInfoUpdate")) == 1
    assert_one_fulfillment(shopify, number=new_number)


# --------------------------------------------------------------------------------------------------------------
# 5. a delivery line Shopify's order does not have


def test_sku_not_on_the_order_is_a_dead_data_error(make_synchub, odoo, shopify):
    """The delivery also ships a product the Shopify order has no line for: the push goes dead at once with class
    data, naming the SKU, the delivery and the order; nothing is fulfilled."""
    hub = fulfil_hub(make_synchub, odoo, shopify).start()
    _, picking = import_order(hub, odoo, shopify)
    sock = odoo_exec(odoo, "product.product", "create", {"name": "Acme Sock - Grey", "default_code": "ACME-SOCK-GRY",
                                                         "type": "consu", "list_price": 9.0})
    move = {"product_id": sock, "product_uom_qty": 1.0, "quantity": 1.0, "picking_id": picking["id"],
            "location_id": picking["location_id"][0], "location_dest_id": picking["location_dest_id"][0],
            "state": "assigned"}
    if odoo.version < 19:    # stock.move's required description is gone in 19.0
        move["name"] = "Acme Sock - Grey"
    odoo_exec(odoo, "stock.move", "create", move)
    ship(odoo, picking, carrier=make_carrier(odoo))

    job = wait_until(lambda: next(iter(push_jobs(hub, state="dead")), None), timeout=40,
                     msg="the fulfillment job dead")
    shown = hub.show(job["id"])
    err = shown["last_error"]
    assert shown["attempts"] == 1, shown
    assert err["class"] == "data", err
    assert err["code"] == "fulfillment.sku_not_on_order", err
    assert "ACME-SOCK-GRY" in err["message"], err
    assert picking["name"] in err["record"] and ORDER_NAME in err["record"], err
    assert err.get("hint"), err
    assert not order_fulfillments(shopify)
    assert not shopify.calls(field="fulfillmentCreate")
