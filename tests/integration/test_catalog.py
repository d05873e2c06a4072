"""`synchub catalog [--json]` and the dashboard's GET /api/catalog: the integration catalog, from the configuration
alone. The configuration is the demo's (scripts/demo.ini, rendered as scripts/demo.sh renders it), and the test
reads that file itself to check that the catalog describes it completely: a flow per shop and kind of flow and per
[source], each transformation key the file sets as a rule with its value, each interval as the trigger, each
[kind] override in the retry policy, every endpoint, the owners, and the unowned source as a finding. The money and
order-to-cash keys the demo leaves at their defaults are set by a test of their own: each is a rule of the flow
whose code applies it (orders: taxes, pricelists, service products, tolerance, risk; order-to-cash: invoicing,
journals), and order to cash adds its flow and its webhook topic.
"""

import configparser
import json
import re
import string

from conftest import REPO, SHOP, http_request, record_output

OPERATOR_TOKEN = "op-catalog-test-token-5b1c2d3e4f"


def demo_sections(hub):
    """scripts/demo.ini rendered with this installation's values, as {section: {key: value}}."""
    text = string.Template((REPO / "scripts/demo.ini").read_text()).substitute(
        port=hub.port, public_url=f"http://127.0.0.1:{hub.port}", shop=SHOP, secret="demo-secret-for-the-catalog-test", shopify_token="shpat_catalog_test",
        shopify_url="http://127.0.0.1:9", main_loc="71263993878", odoo_url="http://127.0.0.1:9",
        odoo_key="odoo-key-catalog-test", events_secret="ups-secret-catalog-test", operator_token=OPERATOR_TOKEN)
    cp = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    cp.optionxform = str
    cp.read_string(text)
    return {s: dict(cp[s]) for s in cp.sections()}


def configure(hub):
    demo = demo_sections(hub)
    for name, keys in demo.items():
        if name == "store":
            continue   # the test's own store (SQLite file or PostgreSQL schema)
        hub.sections.setdefault(name, {}).update(keys)
    hub.write_config()
    return demo


def test_catalog_describes_the_demo_config_completely(make_synchub):
    hub = make_synchub()
    demo = configure(hub)
    cat = hub.cli_json("catalog", "--json")
    flows = {f["id"]: f for f in cat["flows"]}
    shop = demo[f"shop {SHOP}"]

    # One flow per shop and kind of flow, one per source; nothing else.
    sources = [s.split(" ", 1)[1] for s in demo if s.startswith("source ")]
    assert set(flows) == {f"{k}:{SHOP}" for k in ("orders", "order-to-cash", "reconcile-orders", "stock",
                                                  "fulfillments")} | {f"shipment-events:{s}" for s in sources}

    orders = flows[f"orders:{SHOP}"]
    assert orders["source"] == f"shopify:{SHOP}" and orders["target"] == f"odoo:{demo['odoo']['url']}"
    assert orders["trigger"][0] == {"type": "webhook", "path": "/webhooks/shopify",
                                    "topics": ["orders/create", "orders/updated", "orders/paid", "orders/cancelled"]}
    # public_url is set: serve checks the subscriptions every subscriptions_interval (default 1h).
    assert orders["trigger"][1] == {"type": "schedule", "every": "1h", "what": orders["trigger"][1]["what"]}
    assert f"POST {shop['public_url']}/webhooks/shopify" in " ".join(e["url"] for e in orders["endpoints"])
    assert {"customer personal data", "financial", "operational"} == set(orders["data_classes"])
    assert {"sale.order", "sale.order.line", "res.partner"} <= set(orders["odoo"]["writes"])
    assert "default_code" in orders["odoo"]["reads"]["product.product"]
    # Money (issue 16): the company's sale taxes are read, each line gets its taxes, discount and the pricelist.
    assert {"amount", "amount_type", "price_include"} <= set(orders["odoo"]["reads"]["account.tax"])
    assert {"discount", "tax_id (18) / tax_ids (19)"} <= set(orders["odoo"]["writes"]["sale.order.line"])
    assert "pricelist_id" in orders["odoo"]["writes"]["sale.order"]
    # Shipment events schedule their activity through the delivery (activity_schedule), never read ir.model.
    events = flows["shipment-events:ups"]
    assert "ir.model" not in events["odoo"]["reads"] and "mail.activity" not in events["odoo"]["writes"]
    assert any("activity_schedule" in w for w in events["odoo"]["writes"]["stock.picking"])
    # Order to cash is off by default (invoice_on = never): listed, disabled, and no refunds/create subscribed.
    cash = flows[f"order-to-cash:{SHOP}"]
    assert not cash["enabled"] and cash["disabled_because"] == "invoice_on = never"

    # Every endpoint the file names: our listen address, the Admin API, Odoo.
    urls = " ".join(e["url"] for f in flows.values() for e in f["endpoints"])
    assert f"POST http://127.0.0.1:{hub.port}/webhooks/shopify" in urls
    assert f"{shop['admin_url']}/admin/api/{shop['api_version']}/graphql.json" in urls
    assert demo["odoo"]["url"] in urls and f"database {demo['odoo']['database']}" in urls
    for s in sources:
        assert f"POST http://127.0.0.1:{hub.port}/events/{s}" in urls

    # Every transformation key the file sets is a rule in force, with its value, on a flow of its section.
    rule_keys = {"sku_map", "locations", "inventory_skip", "confirm_on", "shipping_product", "status_map",
                 "responsible", "format", "protected_fields"} | MONEY_KEYS | CASH_KEYS
    rules = {(r["section"], r["name"], r["value"]) for f in flows.values() for r in f["rules"]}
    for section, keys in demo.items():
        for k, v in keys.items():
            if k in rule_keys or k.startswith("map."):
                assert (section, k, v) in rules, f"[{section}] {k} = {v} is not in the catalog's rules"
    # Defaults in force are listed too (confirm_on = paid, the source's format, to the cent, no risk hold).
    assert (f"shop {SHOP}", "confirm_on", "paid") in rules and ("source ups", "format", "canonical") in rules
    assert {(f"shop {SHOP}", "amount_tolerance", "0.00"), (f"shop {SHOP}", "hold_risk", "none"),
            ("odoo", "discount_digits", "2"), (f"shop {SHOP}", "invoice_on", "never")} <= rules

    # Triggers follow the intervals; a zero interval is a disabled flow and a finding.
    assert flows[f"stock:{SHOP}"]["trigger"] == [{"type": "poll", "every": shop["inventory_interval"]}]
    assert flows[f"fulfillments:{SHOP}"]["trigger"] == [{"type": "poll", "every": shop["fulfillment_interval"]}]
    assert shop["reconcile_interval"] == "0" and not flows[f"reconcile-orders:{SHOP}"]["enabled"]
    assert flows[f"shipment-events:ups"]["trigger"][1]["type"] == "csv"

    # Retry policy of each job kind: the [kind] sections' overrides, else the defaults.
    retry = {p["kind"]: p for f in flows.values() for p in f["retry"]}
    assert set(retry) == {"shopify.order", "shopify.subscriptions", "reconcile.orders", "stock.poll", "stock.sku", "fulfillment.poll",
                          "fulfillment.push", "logistics.shipment_event"}
    for section, keys in demo.items():
        if section.startswith("kind ") and section[5:] in retry:
            p = retry[section[5:]]
            assert p["configured"]
            for k in ("backoff_base", "backoff_cap", "lease"):
                if k in keys:
                    assert p[k] == keys[k]
    assert retry["shopify.order"]["max_attempts"] == 12 and not retry["shopify.order"]["configured"]

    # Owners: the shop's for its flows; the source has none, which is a finding.
    assert {f["owner"] for f in flows.values() if f.get("shop")} == {shop["owner"]}
    assert flows["shipment-events:ups"]["owner"] is None
    found = {(x["flow"], x["finding"]) for x in cat["findings"]}
    assert ("shipment-events:ups", "unowned") in found
    assert (f"reconcile-orders:{SHOP}", "disabled: its interval is 0 (never)") in found
    assert (f"order-to-cash:{SHOP}", "disabled: invoice_on = never") in found
    assert not any(x[1] == "unowned" and x[0].endswith(SHOP) for x in found)

    # The text form says the same, flow by flow.
    text = hub.cli("catalog").stdout
    for fid in flows:
        assert f"flow {fid}" in text
    assert "shipment-events:ups: unowned" in text and "owner            e-commerce team" in text
    # Nothing secret in either form.
    for secret in ("demo-secret-for-the-catalog-test", "shpat_catalog_test", "odoo-key-catalog-test",
                   "ups-secret-catalog-test", OPERATOR_TOKEN):
        assert secret not in text and secret not in json.dumps(cat)


# The keys that change what the orders flow books (flow_orders.c, flow_money.c) and what order to cash makes of it
# (flow_invoices.c), with values other than their defaults; section "shop" or "odoo".
MONEY_KEYS = {"tax_map", "pricelists", "gift_card_product", "tip_product", "duty_product", "amount_tolerance",
              "hold_risk", "discount_digits"}
CASH_KEYS = {"invoice_on", "payment_journals"}
MONEY_AND_CASH = {
    "shop": {"tax_map": "IL State Tax@6.25=12, VAT=VAT 20%", "pricelists": "EUR=Euro, GBP=7",
             "gift_card_product": "GIFT-CARD", "tip_product": "TIP", "duty_product": "DUTY",
             "amount_tolerance": "0.02", "hold_risk": "medium", "invoice_on": "paid",
             "payment_journals": "shopify_payments=BNK1, paypal=PAYPL, *=BNK1"},
    "odoo": {"discount_digits": "4"}}


def test_money_and_order_to_cash_rules_and_flow(make_synchub):
    hub = make_synchub()
    configure(hub)
    hub.set(f"shop {SHOP}", **MONEY_AND_CASH["shop"])
    hub.set("odoo", **MONEY_AND_CASH["odoo"])
    hub.write_config()
    cat = hub.cli_json("catalog", "--json")
    flows = {f["id"]: f for f in cat["flows"]}
    orders, cash = flows[f"orders:{SHOP}"], flows[f"order-to-cash:{SHOP}"]

    # Each key is a rule, with its value, of the flow whose code applies it (and of no other).
    def rules_of(f):
        return {(r["section"], r["name"]): r["value"] for r in f["rules"]}
    for sec, keys in MONEY_AND_CASH.items():
        section = f"shop {SHOP}" if sec == "shop" else sec
        for k, v in keys.items():
            owner = cash if k in CASH_KEYS else orders
            other = orders if k in CASH_KEYS else cash
            assert rules_of(owner).get((section, k)) == v, f"[{section}] {k} = {v} is not a rule of {owner['id']}"
            assert (section, k) not in rules_of(other), f"{k} is a rule of {other['id']} too"
    assert set(MONEY_AND_CASH["shop"]) | set(MONEY_AND_CASH["odoo"]) == MONEY_KEYS | CASH_KEYS
    # The credit note's shipping line is booked on shipping_product: a rule of order to cash too.
    assert rules_of(cash)[(f"shop {SHOP}", "shipping_product")] == "SHIP-STD"

    # Order to cash runs: fed by refunds/create and by the order's own job, which its retry policy is.
    assert cash["enabled"] and cash["source"] == f"shopify:{SHOP}" and cash["target"].startswith("odoo:")
    assert cash["trigger"][0] == {"type": "webhook", "path": "/webhooks/shopify", "topics": ["refunds/create"]}
    assert cash["trigger"][1]["type"] == "after" and "shopify.order" in cash["trigger"][1]["what"]
    assert [p["kind"] for p in cash["retry"]] == ["shopify.order"]
    assert "financial" in cash["data_classes"] and cash["owner"] == "e-commerce team"
    reads, writes = cash["odoo"]["reads"], cash["odoo"]["writes"]
    assert {"move_type", "amount_total", "payment_state", "reversed_entry_id"} <= set(reads["account.move"])
    assert {"invoice_ids", "amount_total"} <= set(reads["sale.order"]) and "code" in reads["account.journal"]
    assert "memo" in reads["account.payment"] and "return_id" in reads["stock.picking"]
    for wizard, method in (("sale.advance.payment.inv", "create_invoices"),
                           ("account.payment.register", "action_create_payments"),
                           ("account.move.reversal", "refund_moves"),
                           ("stock.return.picking", "action_create_returns")):
        assert any(method in f for f in writes[wizard]), f"{wizard} {method} is not among the writes"
    assert "state (action_post)" in writes["account.move"] and "state (button_validate)" in writes["stock.picking"]
    shopify_reads = " ".join(cash["shopify"]["reads"])
    assert "OrderTransaction (" in shopify_reads and "Refund (" in shopify_reads
    assert not cash["shopify"]["writes"]
    # Risky orders are the orders flow's: it reads Order.risk and leaves an activity on the sale order.
    assert any("Order.risk" in r for r in orders["shopify"]["reads"])
    assert any("activity_schedule" in w for w in orders["odoo"]["writes"]["sale.order"])
    assert not any(x["flow"] == f"order-to-cash:{SHOP}" for x in cat["findings"])

    text = hub.cli("catalog").stdout
    assert f"[shop {SHOP}] tax_map = IL State Tax@6.25=12, VAT=VAT 20%" in text
    assert f"[shop {SHOP}] invoice_on = paid" in text and "webhook POST /webhooks/shopify: refunds/create" in text


def test_kind_owner_overrides_and_owning_everything_clears_the_findings(make_synchub):
    hub = make_synchub()
    configure(hub)
    hub.set("source ups", owner="warehouse team")
    hub.set("kind fulfillment.push", owner="logistics desk", max_attempts=20)
    hub.set(f"shop {SHOP}", reconcile_interval="1h", invoice_on="fulfilled")
    hub.write_config()
    cat = hub.cli_json("catalog", "--json")
    flows = {f["id"]: f for f in cat["flows"]}
    assert flows[f"fulfillments:{SHOP}"]["owner"] == "logistics desk"
    assert flows[f"fulfillments:{SHOP}"]["owner_from"] == "kind fulfillment.push"
    assert flows["shipment-events:ups"]["owner"] == "warehouse team"
    assert [p for p in flows[f"fulfillments:{SHOP}"]["retry"] if p["kind"] == "fulfillment.push"][0]["max_attempts"] == 20
    assert flows[f"reconcile-orders:{SHOP}"]["trigger"] == [{"type": "schedule", "every": "1h"}]
    assert cat["findings"] == []


def test_dashboard_serves_the_same_catalog(make_synchub):
    hub = make_synchub()
    configure(hub)
    hub.start()
    cli = hub.cli_json("catalog", "--json")
    status, doc, raw = http_request(hub.port, "GET", "/api/catalog",
                                    headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    record_output("GET /api/catalog", raw.decode())
    assert status == 200, raw[:300]
    assert doc == cli
    status, _, _ = http_request(hub.port, "GET", "/api/catalog")
    assert status == 401
    page = http_request(hub.port, "GET", "/assets/app.js")[2].decode()
    assert "api('catalog')" in page and re.search(r"#/catalog", page)
