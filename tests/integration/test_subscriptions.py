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
