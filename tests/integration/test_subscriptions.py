"""A shop set up in one command (issue 19): `synchub setup shopify` subscribes, through the Admin API, every webhook
topic the configured flows need to [shop] public_url/webhooks/shopify; `synchub check` lists missing and foreign
subscriptions; serve's scheduler re-creates one Shopify removed after 8 failed deliveries, logs and counts it, and
reconciles orders over the gap. Against the Shopify emulator's subscription API (tests/sim/shopify_sim.py), which
signs its deliveries with the app's client secret and removes an Admin API subscription after 8 failures in a row.
"""

import json
import re
import sys

import pytest

from conftest import REPO, SHOP, http_request, wait_until

sys.path.insert(0, str(REPO / "tests" / "sim"))
import odoo_sim  # noqa: E402
import shopify_sim  # noqa: E402

TOPICS = ["ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_CANCELLED"]
SUB_CREATE = """mutation($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri}) { webhookSubscription { id } userErrors { message } } }"""


def setup_hub(make_synchub, odoo, shopify, **shop):
    hub = make_synchub()
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username="sync", api_key=odoo_sim.SYNC_API_KEY)
    keys = dict(webhook_secret=shopify.app_secret, shipping_product="SHIP-STD", admin_token=shopify_sim.DEFAULT_TOKEN,
                admin_url=shopify.url, api_version="2026-10", public_url=f"http://127.0.0.1:{hub.port}/",
                inventory_interval=0, fulfillment_interval=0, reconcile_interval=0)
    keys.update(shop)
    hub.set(f"shop {SHOP}", **keys)
    hub.write_config()
    return hub


def subs(shopify):
    return sorted((s["topic_enum"], s["url"]) for s in shopify.api_subscriptions())


def test_setup_subscribes_every_needed_topic_once_and_removes_nothing(make_synchub, odoo_emulator, shopify):
    hub = setup_hub(make_synchub, odoo_emulator, shopify)
    uri = f"http://127.0.0.1:{hub.port}/webhooks/shopify"
    # Another deployment's subscription of a needed topic, and one of a topic no flow needs: foreign.
    other = "https://old-sync.example/webhooks/shopify"
    for topic in ("ORDERS_CREATE", "PRODUCTS_UPDATE"):
        status, doc = shopify.graphql(SUB_CREATE, {"topic": topic, "uri": other})
        assert not doc["data"]["webhookSubscriptionCreate"]["userErrors"]

    dry = hub.cli("setup", "shopify", "--dry-run").stdout
    assert sorted(re.findall(r"would add\s+(\S+)", dry)) == sorted(TOPICS)
    assert subs(shopify) == [("ORDERS_CREATE", other), ("PRODUCTS_UPDATE", other)]

    out = hub.cli("setup", "shopify").stdout
    assert sorted(re.findall(r"created\s+(\S+)", out)) == sorted(TOPICS)
    assert re.search(r"foreign\s+ORDERS_CREATE\s+-> https://old-sync.example/webhooks/shopify \(another address", out)
    assert re.search(r"foreign\s+PRODUCTS_UPDATE.*a topic no flow needs", out)
    assert subs(shopify) == sorted([(t, uri) for t in TOPICS] + [("ORDERS_CREATE", other),
                                                                ("PRODUCTS_UPDATE", other)])

    # Again: everything is in place, nothing is added or removed.
    doc = hub.cli_json("setup", "shopify", "--json")
    (shop,) = doc["shops"]
    assert doc["ok"] and sorted(shop["ok"]) == sorted(TOPICS) and shop["created"] == [] and shop["missing"] == []
    assert {f["uri"] for f in shop["foreign"]} == {other}
    assert len(shopify.api_subscriptions()) == 6


def test_subscriptions_deliver_to_serve(make_synchub, odoo_emulator, shopify):
    """What setup registered works end to end: an order made in Shopify arrives as a stored webhook."""
    hub = setup_hub(make_synchub, odoo_emulator, shopify)
    hub.start(new_port=False)
    hub.cli("setup", "shopify")
    order = shopify.create_order()
    assert shopify.wait_webhooks(10)
    wait_until(lambda: any(j["kind"] == "shopify.order" for j in hub.jobs()), msg="the order's webhook stored")
    ok = [d for d in shopify.webhooks() if d.get("source") == "subscription" and d["topic"] == "orders/create"]
    assert ok and all(d["ok"] for d in ok), ok
    assert str(order["id"]) in json.dumps(hub.jobs())


def test_order_to_cash_adds_refunds_create_and_its_webhooks_arrive(make_synchub, odoo_emulator, shopify):
    """invoice_on switches order to cash on: refunds/create is then a needed topic (the refund's order job books it);
    setup subscribes it and a refund made in Shopify arrives as an order job of its order."""
    hub = setup_hub(make_synchub, odoo_emulator, shopify, invoice_on="paid")
    dry = hub.cli("setup", "shopify", "--dry-run").stdout
    assert sorted(re.findall(r"would add\s+(\S+)", dry)) == sorted(TOPICS + ["REFUNDS_CREATE"])
    hub.cli("setup", "shopify")
    uri = f"http://127.0.0.1:{hub.port}/webhooks/shopify"
    assert subs(shopify) == sorted((t, uri) for t in TOPICS + ["REFUNDS_CREATE"])
    hub.start(new_port=False)
    order = shopify.create_order(financial_status="paid", lines=[{"sku": "ACME-TEE-BLK-M", "quantity": 2,
                                                                   "price": "25.00"}])
    shopify.create_refund(order["id"], lines=[{"sku": "ACME-TEE-BLK-M", "quantity": 1, "restock_type": "no_restock"}])
    assert shopify.wait_webhooks(10)
    got = [d for d in shopify.webhooks() if d.get("source") == "subscription" and d["topic"] == "refunds/create"]
    assert got and all(d["ok"] for d in got), got
    stored = re.compile(r'msg="webhook stored" .*kind=shopify\.order .*topic=refunds/create')
    wait_until(lambda: stored.search(hub.log_text()), msg="the refund's webhook stored as an order job")
    # Switched off again (invoice_on = never): refunds/create is no longer needed, so it is foreign.
    hub.stop()
    hub.set(f"shop {SHOP}", invoice_on="never")
    hub.write_config()
    doc = hub.cli_json("setup", "shopify", "--json")
    (shop,) = doc["shops"]
    assert sorted(shop["ok"]) == sorted(TOPICS) and [f["topic"] for f in shop["foreign"]] == ["REFUNDS_CREATE"]


def test_setup_skips_or_fails_a_shop_it_cannot_set_up(make_synchub, odoo_emulator, shopify):
    hub = setup_hub(make_synchub, odoo_emulator, shopify, public_url=None)
    r = hub.cli("setup", "shopify", expect_rc=1)
    assert "skipped: no public_url" in r.stdout
    r = hub.cli("setup", "shopify", "--shop", SHOP, expect_rc=1)
    assert "skipped: no public_url" in r.stdout
    assert hub.cli("setup", "shopify", "--shop", "nope.myshopify.com", expect_rc=2).stderr
    assert hub.cli("setup", "nothing", expect_rc=2).stderr
    assert shopify.api_subscriptions() == []


def test_check_lists_missing_and_foreign_subscriptions(make_synchub, odoo_emulator, shopify):
    hub = setup_hub(make_synchub, odoo_emulator, shopify)
    uri = f"http://127.0.0.1:{hub.port}/webhooks/shopify"
    shopify.graphql(SUB_CREATE, {"topic": "ORDERS_PAID", "uri": uri})
    shopify.graphql(SUB_CREATE, {"topic": "ORDERS_CREATE", "uri": "https://elsewhere.example/hooks"})
    doc = hub.cli_json("check", "--json", expect_rc=1)
    rows = {r["check"]: r for r in doc["checks"] if "webhook" in r["check"]}
    assert rows["webhook ORDERS_PAID"]["ok"]
    for t in ("ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_CANCELLED"):
        assert not rows[f"webhook {t}"]["ok"] and "synchub setup shopify" in rows[f"webhook {t}"]["detail"]
    foreign = rows["foreign webhook ORDERS_CREATE"]
    assert foreign["ok"] and foreign["warning"] and "https://elsewhere.example/hooks" in foreign["detail"]
    # Odoo's checks pass against the emulator: only the subscriptions fail the run.
    assert [r["check"] for r in doc["checks"] if not r["ok"]] == [f"webhook {t}" for t in
                                                                  ("ORDERS_CREATE", "ORDERS_UPDATED",
                                                                   "ORDERS_CANCELLED")]
    hub.cli("setup", "shopify")
    doc = hub.cli_json("check", "--json")
    assert doc["ok"]
    text = hub.cli("check").stdout
    assert re.search(r"^warn\s+foreign webhook ORDERS_CREATE", text, re.M)


# ----------------------------------------------------------------------------------------------------------------
# The scheduler's check (shopify.subscriptions jobs every [shop] subscriptions_interval)


def recreated(hub, topic):
    status, _, raw = http_request(hub.port, "GET", "/metrics")
    m = re.search(r'^synchub_webhook_subscriptions_recreated_total\{shop="%s",topic="%s"\} (\S+)$'
                  % (re.escape(SHOP), topic), raw.decode(), re.M)
    return float(m.group(1)) if m else 0.0


def test_scheduler_recreates_a_removed_subscription_logs_and_counts_it(make_synchub, odoo_emulator, shopify):
    hub = setup_hub(make_synchub, odoo_emulator, shopify, subscriptions_interval="500ms")
    uri = f"http://127.0.0.1:{hub.port}/webhooks/shopify"
    hub.start(new_port=False)
    # The first check completes what setup would have done (nothing was removed: not counted, no gap).
    wait_until(lambda: subs(shopify) == sorted((t, uri) for t in TOPICS), msg="the first check subscribes all")
    assert recreated(hub, "ORDERS_CREATE") == 0 and "re-created" not in hub.log_text()
    # Shopify removes one (as after 8 failed deliveries): the next check puts it back, says so and counts it.
    sid = next(s["id"] for s in shopify.api_subscriptions() if s["topic_enum"] == "ORDERS_UPDATED")
    shopify.remove_subscription_as_shopify(sid)
    wait_until(lambda: ("ORDERS_UPDATED", uri) in subs(shopify), msg="ORDERS_UPDATED re-created")
    wait_until(lambda: recreated(hub, "ORDERS_UPDATED") == 1, msg="counted in /metrics")
    assert len(subs(shopify)) == 4
    line = next(l for l in hub.log_text().splitlines() if "re-created" in l)
    assert "level=warn" in line and "topic=ORDERS_UPDATED" in line and f"shop={SHOP}" in line
    assert recreated(hub, "ORDERS_CREATE") == 0
    # A foreign subscription is left alone by the scheduler too.
    shopify.graphql(SUB_CREATE, {"topic": "ORDERS_CREATE", "uri": "https://elsewhere.example/hooks"})
    n = len(hub.jobs(kind="shopify.subscriptions"))
    wait_until(lambda: len(hub.jobs(kind="shopify.subscriptions")) >= n + 2, msg="two more checks")
    assert ("ORDERS_CREATE", "https://elsewhere.example/hooks") in subs(shopify) and len(subs(shopify)) == 5


def test_orders_missed_while_deliveries_failed_are_reconciled_after_the_recreation(make_synchub, odoo_emulator,
                                                                                  shopify):
    """synchub is down; Shopify's deliveries fail 8 times in a row and it removes the subscriptions; when synchub is
    back its check re-creates them and reconciles the orders made in the gap (none is lost)."""
    hub = setup_hub(make_synchub, odoo_emulator, shopify, subscriptions_interval="500ms")
    uri = f"http://127.0.0.1:{hub.port}/webhooks/shopify"
    hub.start(new_port=False)
    wait_until(lambda: len(subs(shopify)) == 4, msg="subscribed")
    done = lambda: [j for j in hub.jobs(kind="shopify.subscriptions") if j["state"] == "done"]  # noqa: E731
    wait_until(lambda: len(done()) >= 2, msg="a check that found everything in place")
    hub.stop()
    made = [shopify.create_order(financial_status="pending") for _ in range(8)]
    assert shopify.wait_webhooks(20)
    assert ("ORDERS_CREATE", uri) not in subs(shopify), "8 failed deliveries remove the subscription"
    hub.start(new_port=False)
    wait_until(lambda: ("ORDERS_CREATE", uri) in subs(shopify), msg="re-created after the restart")
    wait_until(lambda: recreated(hub, "ORDERS_CREATE") == 1, msg="counted")
    ids = {o["id"] for o in made}

    def reconciled():
        return ids <= {hub.show(j["id"])["payload"].get("id") for j in hub.jobs(kind="shopify.order")}
    wait_until(reconciled, timeout=30, msg="an order job for every order made in the gap")
    notes = [h["note"] or "" for j in done() for h in hub.show(j["id"])["history"]]
    assert any("re-created" in n and "reconciled" in n for n in notes), notes


def test_setup_takes_a_subscription_made_meanwhile_as_in_place(make_synchub, odoo_emulator, shopify):
    """Between setup's list and its create, another synchub (the scheduler, a second `setup`) subscribes the same
    topic: Shopify refuses the create ("Address for this topic has already been taken"). Setup looks again, finds
    the subscription in place, and succeeds with one subscription per topic."""
    import threading
    hub = setup_hub(make_synchub, odoo_emulator, shopify)
    uri = f"http://127.0.0.1:{hub.port}/webhooks/shopify"
    # synchub's first create waits 3 s in the emulator; the other synchub's create (another operation) does not
    shopify.set_fault("slow", count=1, match={"operation": "WebhookSubscriptionCreate"}, delay_ms=3000)

    def other_synchub():
        wait_until(lambda: any((c.get("query") or "").lstrip().startswith("query WebhookSubscriptions")
                               for c in shopify.calls()), timeout=30, msg="setup listed the subscriptions")
        shopify.graphql(SUB_CREATE, {"topic": "ORDERS_CREATE", "uri": uri})

    racer = threading.Thread(target=other_synchub)
    racer.start()
    doc = hub.cli_json("setup", "shopify", "--json")
    racer.join()
    (shop,) = doc["shops"]
    assert doc["ok"] and shop["failed"] == [], doc
    assert "ORDERS_CREATE" in shop["ok"] and sorted(shop["ok"] + [c["topic"] for c in shop["created"]]) == \
        sorted(TOPICS), doc
    assert subs(shopify) == sorted((t, uri) for t in TOPICS)
