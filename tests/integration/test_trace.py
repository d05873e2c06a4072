"""`synchub trace SHOP order ID|NAME` (src/obs/trace.c, src/app/cmd_trace.c) and what feeds it: correlation ids
carried from a job to the jobs it enqueues, and the effects the handlers record after each write into Odoo or to
Shopify (src/store/store_sqlite_effects.c).

One story, end to end, with the real `synchub serve` between the Odoo emulator (or a real Odoo 18/19 when
SYNCHUB_TEST_ODOO_URL and the admin credentials are set, tests/integration/odoo_real.py) and the Shopify emulator:
order #1042's orders/create webhook delivered twice (one job, one duplicate refused), Odoo refusing the first load
of the sale order (HTTP 503: the emulator's fault injection, so on a real Odoo the first attempt succeeds), the
retry writing it; the warehouse ships it in Odoo (validated as Odoo's admin), fulfillment.poll and fulfillment.push
create the Shopify fulfillment; the confirmed order's reservation lowers Odoo's free stock and stock.poll pushes it
to Shopify. Then the trace, by id and by name, must tell each of those pieces. On a real Odoo each test's Shopify has
a shop domain of its own (odoo_real.shopify) and the tee's free quantity is what Odoo has, not the emulator's 40.
"""

import json
import re
import sys

import pytest

from conftest import REPO, fixture_bytes, wait_until

sys.path.insert(0, str(REPO / "tests" / "sim"))
import shopify_sim  # noqa: E402
from odoo_real import (REAL_ODOO, ensure_stock, odoo, odoo_login, shopify, use_shop,  # noqa: E402,F401
                       validate_delivery)

ORDER_ID = 6150327861270
ORDER_NAME = "#1042"
TEE = "ACME-TEE-BLK-M"          # 2 on the order; the emulator has 40 free before it, 38 once the order reserves them
ORDER_SKUS = {TEE: 2, "ACME-MUG-350": 1, "ACME-CAP-NVY": 1}
TRACKING = "1Z999AA10123456784"
MAIN = shopify_sim.MAIN_LOCATION
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  ")


def trace_hub(make_synchub, odoo, shopify):
    hub = use_shop(make_synchub("synchub"), shopify)
    hub.set("server", workers=2)
    login, key = odoo_login(odoo)
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username=login, api_key=key, protocol="auto")
    hub.set(f"shop {shopify.shop}", shipping_product="SHIP-STD", admin_token=shopify_sim.DEFAULT_TOKEN,
            admin_url=shopify.url, api_version="2026-10", locations=f"WH/Stock={MAIN}", inventory_interval="300ms",
            inventory_lookback="5s", fulfillment_interval="1s", reconcile_interval="0")
    for kind in ("shopify.order", "fulfillment.push", "fulfillment.poll", "stock.poll", "stock.sku"):
        hub.set(f"kind {kind}", max_attempts=10, backoff_base="200ms", backoff_cap="1s")
    hub.write_config()
    return hub


def ship(odoo, sale_order_id):
    ship_product = odoo.records("product.product", [["default_code", "=", "SHIP-STD"]], ["id"])[0]["id"]
    carrier = odoo.exec("delivery.carrier", "create", [{"name": "UPS", "product_id": ship_product,
                                                        "delivery_type": "fixed"}])
    carrier = carrier[0] if isinstance(carrier, list) else carrier    # Odoo 19 creates lists
    picking = odoo.records("stock.picking", [["sale_id", "=", sale_order_id], ["picking_type_code", "=", "outgoing"]],
                           ["id"])[0]
    odoo.exec("stock.picking", "write", [[picking["id"]], {"carrier_tracking_ref": TRACKING, "carrier_id": carrier}])
    validate_delivery(odoo, picking["id"])
    return picking["id"]


def xmlid_of_order(shopify):
    """The external ID synchub gives the sale order of #1042 (src/odoo/odoo_values.c odoo_xmlid_name)."""
    slug = re.sub(r"[^a-z0-9]", "_", shopify.shop.removesuffix(".myshopify.com").lower())
    return f"__synchub__.shopify_{slug}_order_{ORDER_ID}"


def free_quantity(odoo, code):
    """Odoo's free quantity (on hand - reserved) of a product in WH/Stock and below, as stock.poll sums it."""
    (prod,) = odoo.records("product.product", [["default_code", "=", code]], ["id"])
    stock = odoo.records("stock.warehouse", [], ["lot_stock_id"], limit=1)[0]["lot_stock_id"][0]
    quants = odoo.records("stock.quant", [["product_id", "=", prod["id"]], ["location_id", "child_of", stock]],
                          ["quantity", "reserved_quantity"])
    return round(sum(q["quantity"] - q["reserved_quantity"] for q in quants))


def shop_order(odoo, shopify, fields):
    """The sale order synchub made of this shop's #1042."""
    return odoo.records("sale.order", [["client_order_ref", "=", ORDER_NAME],
                                       ["origin", "=", f"Shopify {shopify.shop} {ORDER_NAME}"]], fields)


def customer_data(shopify):
    """Strings of the order that are customer data: none of them may appear in a trace."""
    order = shopify.order(ORDER_ID)
    out = set()
    for key in ("email", "phone"):
        if order.get(key):
            out.add(order[key])
    for part in ("customer", "shipping_address", "billing_address"):
        obj = order.get(part) or {}
        for key in ("email", "first_name", "last_name", "address1", "phone"):
            if obj.get(key):
                out.add(obj[key])
    assert out, "the seeded order carries no customer data to look for"
    return out


class Story:
    """What run_story made: the order job, the sale order, the push job, the fulfillment, the tee's free quantity
    before the order (40 on the emulator) and whether Odoo refused the first load (the emulator's 503)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def run_story(make_synchub, odoo, shopify):
    for sku, qty in ORDER_SKUS.items():   # a real Odoo: enough free stock that the order's delivery is reserved
        ensure_stock(odoo, sku, qty)
    before = free_quantity(odoo, TEE)
    hub = trace_hub(make_synchub, odoo, shopify).start()
    # The first stock poll publishes Odoo's free tees (the emulator's 40; Shopify's seed has 37): that is before the
    # order and must not appear in its trace.
    wait_until(lambda: shopify.quantity(TEE, MAIN) == before, timeout=30, msg="the first stock push")
    if not REAL_ODOO:
        odoo.set_fault("http_503", count=1, match={"model": "sale.order", "method": "load"})
    body = fixture_bytes("orders_create.json")
    status, first = hub.post_webhook(body, topic="orders/create", event_id="evt-trace-1042", webhook_id="wh-t-1",
                                     shop=shopify.shop)
    assert status == 200 and first["status"] == "stored", first
    status, again = hub.post_webhook(body, topic="orders/create", event_id="evt-trace-1042", webhook_id="wh-t-2",
                                     shop=shopify.shop)
    assert status == 200 and again == {"status": "duplicate", "job": first["job"]}, again
    job = hub.wait_state(first["job"], "done", timeout=40)
    assert job["attempts"] == (1 if REAL_ODOO else 2), job
    so = shop_order(odoo, shopify, ["id", "state"])
    assert len(so) == 1 and so[0]["state"] == "sale", so
    ship(odoo, so[0]["id"])
    push = wait_until(lambda: [j for j in hub.jobs(kind="fulfillment.push") if j["state"] == "done"], timeout=40,
                      msg="the fulfillment pushed")[0]
    wait_until(lambda: shopify.quantity(TEE, MAIN) == before - 2, timeout=30, msg="the order's reservation pushed")
    fulfillments = [f for f in shopify.fulfillments() if f["order_id"] == ORDER_ID]
    assert len(fulfillments) == 1, fulfillments
    return hub, Story(order_job=first["job"], sale_order_id=so[0]["id"], push=push, fulfillment=fulfillments[0],
                      before=before, refused=not REAL_ODOO)


def test_trace_tells_the_whole_story_of_an_order(make_synchub, odoo, shopify):
    hub, story = run_story(make_synchub, odoo, shopify)
    order_job, sale_order_id, push, fulfillment = story.order_job, story.sale_order_id, story.push, story.fulfillment

    t = hub.cli_json("trace", shopify.shop, "order", str(ORDER_ID), "--json")
    assert set(t) == {"shop", "order", "deliveries", "jobs", "odoo", "shopify", "inventory"}, t.keys()
    assert t["shop"] == shopify.shop
    assert t["order"] == {"id": ORDER_ID, "name": ORDER_NAME}

    # deliveries: one job for the event, the second delivery counted as a refused duplicate
    assert len(t["deliveries"]) == 1, t["deliveries"]
    d = t["deliveries"][0]
    assert d["job_id"] == order_job and d["topic"] == "orders/create" and d["event_id"] == "evt-trace-1042"
    assert d["webhook_id"] == "wh-t-1" and d["correlation"] == "evt-trace-1042"
    assert d["duplicates"] == 1 and ISO.match(d["last_duplicate_at"]), d
    assert ISO.match(d["received_at"]) and d["received_at"] <= d["last_duplicate_at"], d

    # jobs and attempts: the order job failed once (transient, Odoo's 503), then succeeded
    jobs = {j["id"]: j for j in t["jobs"]}
    oj = jobs[order_job]
    assert oj["kind"] == "shopify.order" and oj["state"] == "done" and oj["correlation"] == "evt-trace-1042", oj
    if story.refused:
        assert [a["outcome"] for a in oj["attempts"]] == ["retry", "done"], oj["attempts"]
        err = oj["attempts"][0]["error"]
        assert set(err) == {"class", "code", "message", "record", "hint", "retry_safe"}, err
        assert err["class"] == "transient" and err["code"].startswith("odoo."), err
    else:
        assert [a["outcome"] for a in oj["attempts"]] == ["done"], oj["attempts"]
    assert oj["attempts"][-1]["error"] is None
    for a in oj["attempts"]:
        assert a["n"] in (1, 2) and ISO.match(a["started_at"]) and ISO.match(a["finished_at"]) and a["worker"], a
    # the fulfillment.push that wrote to Shopify for this order is part of its story
    assert push["id"] in jobs and jobs[push["id"]]["kind"] == "fulfillment.push", jobs.keys()

    # Odoo: the sale order with its id and external ID, created (once: the failed load wrote nothing), confirmed
    xmlid = xmlid_of_order(shopify)
    orders = [o for o in t["odoo"] if o["model"] == "sale.order"]
    assert [(o["action"], o["id"], o["external_id"]) for o in orders] == [
        ("created", sale_order_id, xmlid), ("confirmed", sale_order_id, xmlid)], orders
    assert all(o["job_id"] == order_job and o["correlation"] == "evt-trace-1042" for o in t["odoo"]), t["odoo"]
    lines = [o for o in t["odoo"] if o["model"] == "sale.order.line"]
    assert {o["detail"].get("sku") for o in lines} >= {TEE, "ACME-MUG-350", "ACME-CAP-NVY"}, lines
    assert all(o["external_id"].startswith(f"{xmlid}_") for o in lines), lines
    partners = [o for o in t["odoo"] if o["model"] == "res.partner"]
    assert partners and all(isinstance(o["id"], int) for o in partners), partners

    # Shopify: the fulfillment, by GID, with the tracking from Odoo
    assert [(s["action"], s["target"]) for s in t["shopify"]] == [("fulfillmentCreate", fulfillment["gid"])]
    s = t["shopify"][0]
    assert s["detail"]["company"] == "UPS" and s["detail"]["number"] == TRACKING, s
    assert s["job_id"] == push["id"]

    # stock: the push of the reserved tees after the order arrived; the push of 40 before it is not the order's
    tees = [i for i in t["inventory"] if i["sku"] == TEE]
    assert any(i["quantity"] == story.before - 2 and i["location"] == str(MAIN) for i in tees), t["inventory"]
    assert not any(i["quantity"] == story.before for i in tees), tees
    assert all(i["at"] >= d["received_at"] for i in t["inventory"]), t["inventory"]

    # every list in time order, every time ISO 8601 UTC
    for key in ("deliveries", "odoo", "shopify", "inventory"):
        field = "received_at" if key == "deliveries" else "at"
        times = [x[field] for x in t[key]]
        assert times == sorted(times) and all(ISO.match(x) for x in times), (key, times)
    created = [j["created_at"] for j in t["jobs"]]
    assert created == sorted(created), created

    # correlation: a child job carries its parent's id; a scheduled poll starts its own chain "poll:<its id>"
    polls = {j["id"]: j for j in hub.jobs(kind="fulfillment.poll")}
    parent = [p for p in polls.values() if p["correlation_id"] == push["correlation_id"]]
    assert parent and parent[0]["correlation_id"] == f"poll:{parent[0]['id']}", (push, list(polls.values())[:3])
    assert all(j["correlation_id"] for j in hub.jobs()), "a job without a correlation id"

    # no customer data anywhere in the trace
    text = json.dumps(t)
    for value in customer_data(shopify):
        assert value not in text, f"customer data {value!r} in the trace"


def test_trace_text_by_id_and_by_name(make_synchub, odoo, shopify):
    hub, story = run_story(make_synchub, odoo, shopify)
    order_job, sale_order_id, fulfillment = story.order_job, story.sale_order_id, story.fulfillment
    shop = shopify.shop
    by_id = hub.cli("trace", shop, "order", str(ORDER_ID)).stdout
    by_name = hub.cli("trace", shop, "order", ORDER_NAME).stdout
    bare_name = hub.cli("trace", shop, "order", ORDER_NAME.lstrip("#")).stdout
    # the same order whichever way it is named (the stock poller may add a line between the calls, so compare the
    # header and the order's own events)
    for other in (by_name, bare_name):
        assert other.splitlines()[0] == by_id.splitlines()[0], (by_id, other)
        assert [x for x in other.splitlines() if "odoo " in x] == [x for x in by_id.splitlines() if "odoo " in x]
    lines = by_id.splitlines()
    assert lines[0] == f"order {ORDER_NAME} ({ORDER_ID}) of {shop}", lines[0]
    events = lines[1:]
    assert all(LINE.match(x) for x in events), events
    stamps = [x[:20] for x in events]
    assert stamps == sorted(stamps), "the timeline is not in time order"

    def find(pattern):
        hits = [x for x in events if re.search(pattern, x)]
        assert hits, f"no line matches {pattern!r} in:\n{by_id}"
        return hits

    find(rf"webhook orders/create stored  job {order_job[:10]}… \(corr evt-trace-1042\).*1 more time")
    if story.refused:
        find(r"attempt 1 retry transient odoo\.")
        find(r"attempt 2 done")
    else:
        find(r"attempt 1 done")
    find(rf"odoo sale\.order {sale_order_id} {re.escape(xmlid_of_order(shopify))} created")
    find(rf"odoo sale\.order {sale_order_id} \S+ confirmed")
    find(rf"shopify fulfillmentCreate {re.escape(fulfillment['gid'])} UPS {TRACKING}")
    find(rf"stock {TEE} @ {MAIN} → {story.before - 2}")
    assert not [x for x in events if re.search(rf"stock {TEE} @ {MAIN} → {story.before}\b", x)], \
        "a push from before the order"
    for value in customer_data(shopify):
        assert value not in by_id, f"customer data {value!r} in the trace"


def test_unknown_order_is_a_clear_failure(make_synchub, odoo, shopify):
    hub = trace_hub(make_synchub, odoo, shopify)
    for ref in ("#99999", "424242424242", "not-an-order"):
        cp = hub.run("trace", shopify.shop, "order", ref)
        assert cp.returncode == 1, (ref, cp.returncode, cp.stdout, cp.stderr)
        assert f"synchub knows no order '{ref}' of shop {shopify.shop}" in cp.stderr, cp.stderr
        assert "data (trace.not_found)" in cp.stderr, cp.stderr
        assert cp.stdout == ""
    cp = hub.run("trace", shopify.shop, "orders", "1")
    assert cp.returncode == 2 and "usage: synchub trace SHOP order" in cp.stderr, cp.stderr


def test_enqueue_by_hand_starts_a_chain_and_children_inherit_it(make_synchub, odoo, shopify):
    """A fulfillment.poll enqueued with `synchub enqueue` gets "cli:<its id>"; the push it enqueues carries the same
    correlation id (the worker log lines name it too)."""
    hub = trace_hub(make_synchub, odoo, shopify)
    shop = shopify.shop
    hub.set(f"shop {shop}", fulfillment_interval="0", inventory_interval="0")
    hub.write_config()
    hub.start()
    for sku, qty in ORDER_SKUS.items():
        ensure_stock(odoo, sku, qty)
    status, first = hub.post_webhook(fixture_bytes("orders_create.json"), topic="orders/create",
                                     event_id="evt-trace-cli", shop=shop)
    assert status == 200, first
    hub.wait_state(first["job"], "done", timeout=40)
    so = shop_order(odoo, shopify, ["id"])[0]
    ship(odoo, so["id"])
    word, poll = hub.enqueue("fulfillment.poll", "trace-poll", {"shop": shop}, order_key=f"fulfillment.poll|{shop}")
    assert word == "enqueued"
    assert hub.wait_state(poll, "done", timeout=30)["correlation_id"] == f"cli:{poll}"
    push = wait_until(lambda: [j for j in hub.jobs(kind="fulfillment.push") if j["state"] == "done"], timeout=30,
                      msg="the push done")[0]
    assert push["correlation_id"] == f"cli:{poll}", push
    assert f"cli:{poll}" in hub.log_text()
    t = hub.cli_json("trace", shop, "order", ORDER_NAME, "--json")
    assert [s["correlation"] for s in t["shopify"]] == [f"cli:{poll}"], t["shopify"]
