"""Self-tests of the Shopify emulator's transactions and refunds (GraphQL Order.transactions / Order.refunds, the
refunds/create webhook, the restock effects on inventory).

Run:  cd <repo> && pytest-3 -q tests/sim/test_shopify_sim_cash.py
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from shopify_sim import DEFAULT_TOKEN, ShopifySim  # noqa: E402
from sim_selftest import http  # noqa: E402

ORDER_1042 = 6150327861270
TEE_LINE, MUG_LINE = 14982113476630, 14982113509398
QUERY = """
query O($id: ID!) {
  order(id: $id) {
    displayFinancialStatus
    totalRefundedSet { shopMoney { amount } }
    lineItems(first: 5) { nodes { sku currentQuantity } }
    transactions(first: 5) { id kind status gateway amountSet { shopMoney { amount currencyCode } }
                              parentTransaction { id } }
    refunds(first: 2) {
      id legacyResourceId note totalRefundedSet { shopMoney { amount } }
      refundLineItems(first: 3) { nodes { quantity restockType lineItem { id sku }
                                           subtotalSet { shopMoney { amount } } totalTaxSet { shopMoney { amount } } } }
      refundShippingLines(first: 2) { nodes { shippingLine { id } subtotalAmountSet { shopMoney { amount } } } }
      transactions(first: 2) { nodes { id kind gateway amountSet { shopMoney { amount } } } }
    }
  }
}"""
LEVEL = """
query L($id: ID!) { inventoryItem(id: $id) { inventoryLevel(locationId: "gid://shopify/Location/71263993878") {
  quantities(names: ["available", "committed"]) { name quantity } } } }"""


@pytest.fixture(scope="module")
def server():
    sim = ShopifySim(port=0, orders=True)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(server):
    server.reset()
    return server


def gql(sim, query, variables):
    status, _, raw = http(sim, "POST", "/admin/api/2026-10/graphql.json", {"query": query, "variables": variables},
                          {"X-Shopify-Access-Token": DEFAULT_TOKEN})
    assert status == 200, raw
    resp = json.loads(raw)
    assert "errors" not in resp, resp
    return resp["data"]


def sim_api(sim, path, body, expect=200):
    status, _, raw = http(sim, "POST", "/__sim__/" + path, body)
    assert status == expect, (status, raw)
    return json.loads(raw)


def order(sim):
    return gql(sim, QUERY, {"id": "gid://shopify/Order/%d" % ORDER_1042})["order"]


def test_a_paid_order_has_one_sale_of_its_total():
    sim = ShopifySim(port=0, orders=True)
    sim.start()
    try:
        o = order(sim)
        assert o["refunds"] == [] and o["totalRefundedSet"]["shopMoney"]["amount"] == "0.0"
        (t,) = o["transactions"]
        assert (t["kind"], t["status"], t["gateway"], t["parentTransaction"]) == (
            "SALE", "SUCCESS", "shopify_payments", None)
        assert t["amountSet"]["shopMoney"] == {"amount": "86.49", "currencyCode": "USD"}
    finally:
        sim.stop()


def test_partial_refund_with_return_restock_and_shipping(sim):
    """One tee back (restock 'return') and the shipping: the refund lists the line, the shipping and one refund
    transaction, child of the sale, on its gateway; the tee's current quantity drops; the money status follows;
    the returned unit is available again."""
    before = gql(sim, LEVEL, {"id": "gid://shopify/InventoryItem/46912881639446"})
    r = sim_api(sim, "orders/%d/refunds" % ORDER_1042, {
        "note": "damaged", "shipping": True, "lines": [{"line_item_id": TEE_LINE, "quantity": 1,
                                                        "restock_type": "return"}]})
    assert r["order_id"] == ORDER_1042 and r["restock"] is True
    assert [(l["line_item_id"], l["quantity"], l["restock_type"], l["subtotal"]) for l in r["refund_line_items"]] \
        == [(TEE_LINE, 1, "return", 24.0)]
    assert [(a["kind"], a["amount"]) for a in r["order_adjustments"]] == [("shipping_refund", "-7.99")]
    (txn,) = r["transactions"]
    assert (txn["kind"], txn["status"], txn["gateway"], txn["amount"]) == ("refund", "success", "shopify_payments",
                                                                           "31.99")
    o = order(sim)
    assert o["displayFinancialStatus"] == "PARTIALLY_REFUNDED"
    assert o["totalRefundedSet"]["shopMoney"]["amount"] == "31.99"
    assert {n["sku"]: n["currentQuantity"] for n in o["lineItems"]["nodes"]}["ACME-TEE-BLK-M"] == 1
    sale, refund_txn = o["transactions"]
    assert refund_txn["kind"] == "REFUND" and refund_txn["parentTransaction"]["id"] == sale["id"]
    (ref,) = o["refunds"]
    assert ref["legacyResourceId"] == str(r["id"]) and ref["note"] == "damaged"
    assert ref["totalRefundedSet"]["shopMoney"]["amount"] == "31.99"
    (rl,) = ref["refundLineItems"]["nodes"]
    assert (rl["quantity"], rl["restockType"], rl["lineItem"]["sku"], rl["subtotalSet"]["shopMoney"]["amount"]) == (
        1, "RETURN", "ACME-TEE-BLK-M", "24.0")
    assert ref["refundShippingLines"]["nodes"][0]["subtotalAmountSet"]["shopMoney"]["amount"] == "7.99"
    assert [n["id"] for n in ref["transactions"]["nodes"]] == [refund_txn["id"]]
    after = gql(sim, LEVEL, {"id": "gid://shopify/InventoryItem/46912881639446"})
    q = lambda d: {x["name"]: x["quantity"] for x in d["inventoryItem"]["inventoryLevel"]["quantities"]}  # noqa
    assert q(after)["available"] == q(before)["available"] + 1


def test_cancel_restock_releases_the_reservation(sim):
    before = gql(sim, LEVEL, {"id": "gid://shopify/InventoryItem/46912881639446"})
    sim_api(sim, "orders/%d/refunds" % ORDER_1042, {"lines": [{"line_item_id": TEE_LINE, "quantity": 2,
                                                               "restock_type": "cancel"}]})
    after = gql(sim, LEVEL, {"id": "gid://shopify/InventoryItem/46912881639446"})
    q = lambda d: {x["name"]: x["quantity"] for x in d["inventoryItem"]["inventoryLevel"]["quantities"]}  # noqa
    assert q(after)["committed"] == q(before)["committed"] - 2
    assert q(after)["available"] == q(before)["available"] + 2


def test_refund_beyond_the_current_quantity_is_refused(sim):
    sim_api(sim, "orders/%d/refunds" % ORDER_1042, {"lines": [{"line_item_id": MUG_LINE, "quantity": 2}]},
            expect=422)


def test_split_payment_and_the_refunds_create_webhook(sim):
    """Transactions set by a test (gift card + PayPal); a refund goes back on the gateway named; subscribers get
    refunds/create with the REST refund, then orders/updated."""
    got, lock = [], threading.Lock()

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                got.append((self.headers.get("X-Shopify-Topic"), json.loads(raw)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        sim.subscribe("refunds/create", "http://127.0.0.1:%d/" % httpd.server_address[1], "s3cret")
        sim.set_transactions(ORDER_1042, [{"kind": "sale", "gateway": "gift_card", "amount": "20.00"},
                                          {"kind": "sale", "gateway": "paypal", "amount": "66.49"}])
        o = order(sim)
        assert [(t["gateway"], t["amountSet"]["shopMoney"]["amount"]) for t in o["transactions"]] == [
            ("gift_card", "20.0"), ("paypal", "66.49")]
        r = sim_api(sim, "orders/%d/refunds" % ORDER_1042, {
            "lines": [{"line_item_id": MUG_LINE, "quantity": 1}],
            "transactions": [{"amount": "12.50", "gateway": "paypal"}]})
        deadline = time.time() + 30
        while time.time() < deadline and not got:
            time.sleep(0.02)
        assert [t for t, _ in got] == ["refunds/create"]
        body = got[0][1]
        assert body["id"] == r["id"] and body["transactions"][0]["gateway"] == "paypal"
        assert body["refund_line_items"][0]["restock_type"] == "no_restock"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_order_risk_is_low_until_set(sim):
    q = 'query O($id: ID!) { order(id: $id) { risk { recommendation assessments { riskLevel } } } }'
    gid = "gid://shopify/Order/%d" % ORDER_1042
    assert gql(sim, q, {"id": gid})["order"]["risk"] == {"recommendation": "ACCEPT",
                                                         "assessments": [{"riskLevel": "LOW"}]}
    sim_api(sim, "orders/%d/risk" % ORDER_1042, {"level": "high"})
    assert gql(sim, q, {"id": gid})["order"]["risk"] == {"recommendation": "CANCEL",
                                                         "assessments": [{"riskLevel": "HIGH"}]}
    sim_api(sim, "orders/%d/risk" % ORDER_1042, {"level": "severe"}, expect=400)
