"""Every GraphQL document synchub sends to Shopify, with its variables, validated against Shopify's published Admin
API schema of each API version synchub supports (tests/schema: @shopify/dev-mcp's introspections and the graphql
package, pinned by tests/schema/package-lock.json; scripts/install-deps runs npm ci there).

The documents are taken as synchub builds them at run time: the real `synchub serve` runs its flows (fresh order
fetch with further pages of lines and shipping lines, its risk and transactions, stock push, an outage and the
circuit breaker's probe, fulfillment create and tracking update, order to cash, order and inventory reconciliation,
`synchub setup shopify`, `synchub check`) against the Shopify emulator pinned to each version, and the emulator's call log
gives the exact query and variables of every request. Every operation named in src/ must be among them, so a new
document cannot escape the check. It does not judge what the documents do; the flows' own tests do.
Without node or tests/schema/node_modules the test skips, except under CI=true, where that is a failure.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, SHOP, order_body, wait_until

sys.path.insert(0, str(REPO / "tests" / "sim"))
import odoo_sim  # noqa: E402
import shopify_sim  # noqa: E402
from test_fulfillments import import_order, make_carrier, odoo_exec, ship, wait_pushes_done  # noqa: E402

SCHEMA_DIR = REPO / "tests" / "schema"
DATA_DIR = SCHEMA_DIR / "node_modules" / "@shopify" / "dev-mcp" / "dist" / "data"
MAIN = shopify_sim.MAIN_LOCATION
# The Admin API versions synchub supports: docs/SPEC-shopify.md (api_version; before 2026-01 the legacy
# compareQuantity path, from 2026-01 changeFromQuantity and @idempotent), as far as Shopify publishes them.
VERSIONS = ["2025-10", "2026-01", "2026-04", "2026-07", "2026-10", "unstable"]
BIG_ORDER_ID = 7000000000001


def need_validator():
    missing = []
    if not shutil.which("node"):
        missing.append("node")
    if not DATA_DIR.is_dir() or not (SCHEMA_DIR / "node_modules" / "graphql").is_dir():
        missing.append("tests/schema/node_modules (run scripts/install-deps)")
    if missing:
        text = "GraphQL schema validation needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(text)
        pytest.skip(text)


def source_operations():
    """Names of the operations written in synchub's C source ("query Order(", "mutation SetQuantities(")."""
    names = set()
    for path in sorted((REPO / "src").rglob("*.c")):
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
        names.update(re.findall(r'"\s*(?:query|mutation) ([A-Za-z_]\w*)', code))
    return names


def operation_name(query):
    m = re.match(r"\s*(?:query|mutation)\s+([A-Za-z_]\w*)", query)
    return m.group(1) if m else None


def validate(documents):
    proc = subprocess.run(["node", str(SCHEMA_DIR / "validate.mjs")], input=json.dumps({"documents": documents}),
                          capture_output=True, text=True, timeout=300, cwd=SCHEMA_DIR)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def big_order(shopify):
    """An order with more lines and shipping lines than one page holds (SHOPIFY_ORDER_*_PER_PAGE: 100 and 10), so
    that the fetch sends its further-page queries."""
    skus = ["ACME-TEE-BLK-M", "ACME-MUG-350", "ACME-CAP-NVY"]
    shopify.create_order(id=BIG_ORDER_ID, lines=[{"sku": skus[i % 3], "quantity": 1} for i in range(101)])
    with shopify.lock:
        order = shopify.store.orders[BIG_ORDER_ID]
        first = order["shipping_lines"][0]
        for i in range(11):
            order["shipping_lines"].append(dict(first, id=first["id"] * 100 + i + 1))


def run_flows(make_synchub, odoo, shopify, version):
    hub = make_synchub(f"schema-{version}")
    hub.set("server", workers=2)
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username="sync", api_key=odoo_sim.SYNC_API_KEY,
            protocol="auto")
    hub.set(f"shop {SHOP}", shipping_product="SHIP-STD", admin_token=shopify_sim.DEFAULT_TOKEN,
            admin_url=shopify.url, api_version=version, locations=f"WH/Stock={MAIN}", inventory_interval="300ms",
            inventory_lookback="5s", fulfillment_interval="1s", reconcile_interval="0",
            invoice_on="paid", payment_journals="*=BNK1")
    for kind in ("shopify.order", "fulfillment.push", "fulfillment.poll", "stock.poll", "stock.sku"):
        hub.set(f"kind {kind}", max_attempts=10, backoff_base="200ms", backoff_cap="1s")
    hub.write_config()
    # the address import as the flows' own tests run it, whatever the integration user's groups
    odoo.set_group("sync", "account_readonly")
    # order to cash: the paid order is invoiced and its transactions (read from the Admin API) become payments
    odoo.set_group("sync", odoo_sim.INVOICING_GROUP)
    odoo_exec(odoo, "res.partner", "write", [5], {"email": "sync@example.com"})  # the sync user's partner (18 needs one)
    hub.start()
    # stock: the first poll pushes the tee (Odoo 40, Shopify 37)
    wait_until(lambda: shopify.quantity("ACME-TEE-BLK-M", MAIN) == 40, timeout=30, msg="stock pushed")
    # an outage: Shopify answers 503 to a stock push until the node's circuit breaker opens; its probe closes it
    shopify.set_fault("http_503", count=3)
    odoo.set_stock([{"default_code": "ACME-CAP-NVY", "quantity": 12}])
    wait_until(lambda: any((c.get("query") or "").lstrip().startswith("query Probe") and c.get("status") == 200
                           for c in shopify.calls()), timeout=60, msg="the circuit breaker's probe of Shopify")
    wait_until(lambda: shopify.quantity("ACME-CAP-NVY", MAIN) == 12, timeout=30, msg="the push after the outage")
    # a stale compare: Shopify edited behind synchub's back, then Odoo changes; synchub re-reads the levels
    shopify.set_inventory(sku="ACME-MUG-350", location_id=MAIN, available=7)
    odoo.set_stock([{"default_code": "ACME-MUG-350", "quantity": 20}])
    wait_until(lambda: shopify.quantity("ACME-MUG-350", MAIN) == 20, timeout=30, msg="stale compare re-read")
    # orders: #1042 fetched fresh and imported; its delivery shipped, fulfilled (the answer lost: the retry looks
    # the fulfillment up and adopts it), then its tracking changed
    _, picking = import_order(hub, odoo, shopify)
    carrier = make_carrier(odoo)
    shopify.set_fault("commit_then_drop", count=1, match={"field": "fulfillmentCreate"})
    ship(odoo, picking, carrier=carrier)
    wait_pushes_done(hub, 1)
    odoo_exec(odoo, "stock.picking", "write", [picking["id"]], {"carrier_tracking_ref": "1Z999AA10123456799"})
    wait_pushes_done(hub, 2)
    # a sale order of #1043 made by hand in Odoo (no link in synchub's store): the push finds the order by name
    customer = odoo_exec(odoo, "res.partner", "create", {"name": "Walk-in"})
    mug = odoo.records("product.product", [["default_code", "=", "ACME-MUG-350"]], ["id"])[0]["id"]
    so = odoo_exec(odoo, "sale.order", "create", {"partner_id": customer, "client_order_ref": "#1043",
                                                  "origin": f"Shopify {SHOP} #1043",
                                                  "order_line": [[0, 0, {"product_id": mug, "product_uom_qty": 1}]]})
    odoo_exec(odoo, "sale.order", "action_confirm", [so])
    ship(odoo, odoo.records("stock.picking", [["sale_id", "=", so]], ["id"])[0], carrier=carrier)
    wait_until(lambda: len([j for j in hub.jobs(kind="fulfillment.push") if j["state"] in ("done", "dead")]) == 3,
               timeout=40, msg="the push of the hand-made order")
    # a big order: its fetch reads further pages
    big_order(shopify)
    status, body = hub.post_webhook(order_body(BIG_ORDER_ID), topic="orders/create", event_id="evt-schema-big")
    assert status == 200, body
    hub.wait_state(body["job"], ["done", "dead"], timeout=60)
    hub.stop()
    # the shop's webhook subscriptions: `setup shopify` lists them and creates the missing ones
    # with order to cash on, refunds/create too
    hub.set(f"shop {SHOP}", public_url=f"http://127.0.0.1:{hub.port}/", invoice_on="paid")
    hub.write_config()
    hub.cli("setup", "shopify")
    # the preflight's Shopify probes (token, scopes, mapped locations, subscriptions); order to cash off again, as
    # its Odoo rows need groups the integration user has not here (refunds/create is then a foreign subscription)
    hub.set(f"shop {SHOP}", invoice_on="never")
    hub.write_config()
    hub.cli("check")  # everything in place in the emulators: exit 0
    # reconciliation (the CLI); what it finds is the flows' tests' business, only its documents count here
    hub.cli("reconcile", "orders", "--since", "3650d", "--dry-run", "--json")
    shopify.set_inventory(sku="ACME-MUG-350", location_id=MAIN, available=99)
    hub.cli("reconcile", "inventory", "--json", expect_rc=None)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_graphql_document_is_valid_in_shopifys_schema(make_synchub, odoo_emulator, shopify, version):
    if os.environ.get("SYNCHUB_TEST_STORE") == "postgres":
        pytest.skip("the documents do not depend on the store: checked in the SQLite pass")
    need_validator()
    run_flows(make_synchub, odoo_emulator, shopify, version)
    documents, seen = [], set()
    for call in shopify.calls():
        if not call.get("query"):
            continue
        key = (call["query"], json.dumps(call.get("variables"), sort_keys=True))
        if key in seen:
            continue
        seen.add(key)
        documents.append({"label": operation_name(call["query"]) or call["query"][:60], "query": call["query"],
                          "variables": call.get("variables"), "versions": [version]})
    sent = {d["label"] for d in documents}
    topics = {(d["variables"] or {}).get("topic") for d in documents}
    assert {"ORDERS_CREATE", "REFUNDS_CREATE"} <= topics, f"webhookSubscriptionCreate topics sent: {topics}"
    missing = source_operations() - sent
    assert not missing, f"operations in src/ that the flows did not send at {version}: {sorted(missing)}"
    out = validate(documents)
    assert version in out["versions"], f"@shopify/dev-mcp publishes no schema for {version}: {out['versions']}"
    bad = [r for r in out["results"] if r["errors"]]
    assert not bad, json.dumps(bad, indent=1)[:6000]
