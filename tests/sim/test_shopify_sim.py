"""Self-tests of the Shopify emulator (tests/sim/shopify_sim.py) against shared/reference/platform-facts.md
sections 1-2 and the sample bodies in shared/fixtures/shopify.

Run:  cd <repo> && pytest-3 -q tests/sim/test_shopify_sim.py
"""

import base64
import hashlib
import hmac
import http.client as httplib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import shopify_sim  # noqa: E402
from shopify_sim import DEFAULT_SHOP, DEFAULT_TOKEN, ShopifySim, send_webhooks, sign  # noqa: E402
from sim_selftest import http, standalone  # noqa: E402

TEE_ITEM = "gid://shopify/InventoryItem/46912881639446"
MUG_ITEM = "gid://shopify/InventoryItem/46912881672214"
MAIN = "gid://shopify/Location/71263993878"
SECOND = "gid://shopify/Location/71264026646"
ORDER_1042 = "gid://shopify/Order/6150327861270"
FO_1042 = "gid://shopify/FulfillmentOrder/6581231517718"
FOLI_TEE = "gid://shopify/FulfillmentOrderLineItem/13768547287062"
SECRET = "whsec-acme-current-7f3a9c2e51d84b06"
V = "2026-10"

SET_QTY = """
mutation SetQty($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id reason referenceDocumentUri changes { name delta quantityAfterChange } }
    userErrors { field message code }
  }
}"""
SET_QTY_NO_KEY = """
mutation SetQty($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id changes { name delta quantityAfterChange } }
    userErrors { field message code }
  }
}"""
FULFILL = """
mutation Ship($f: FulfillmentInput!, $key: String!) {
  fulfillmentCreate(fulfillment: $f) @idempotent(key: $key) {
    fulfillment { id name status trackingInfo { company number url } }
    userErrors { field message }
  }
}"""
ORDER_FIELDS = """
  id legacyResourceId name updatedAt createdAt displayFinancialStatus cancelledAt email
  lineItems(first: 10) { nodes { id sku quantity currentQuantity
    originalUnitPriceSet { shopMoney { amount currencyCode } } } }
  customer { id email firstName lastName }
  shippingAddress { firstName lastName address1 address2 city provinceCode zip countryCodeV2 phone }
"""
ORDERS = """
query Orders($first: Int!, $after: String, $q: String) {
  orders(first: $first, after: $after, query: $q, sortKey: UPDATED_AT) {
    nodes { %s }
    pageInfo { hasNextPage endCursor }
  }
}""" % ORDER_FIELDS


# ------------------------------------------------------------------------------------------------------------------
# fixtures and helpers

@pytest.fixture(scope="module")
def server():
    sim = ShopifySim(port=0, orders=True)          # Standard: bucket 1000, restore 50 (tests shrink it)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(server):
    server.reset()
    return server


def gql(sim, query, variables=None, version=V, token=DEFAULT_TOKEN, expect=200):
    body = {"query": query}
    if variables is not None:
        body["variables"] = variables
    hdrs = {"X-Shopify-Access-Token": token} if token else {}
    status, headers, raw = http(sim, "POST", "/admin/api/%s/graphql.json" % version, body, hdrs)
    assert status == expect, (status, raw)
    return json.loads(raw)


def data(resp):
    assert "errors" not in resp, resp
    return resp["data"]


def sim_api(sim, method, path, body=None, expect=200):
    status, _, raw = http(sim, method, "/__sim__/" + path, body)
    assert status == expect, (status, raw)
    return json.loads(raw)


def set_input(quantity, change_from, item=TEE_ITEM, location=MAIN, name="available"):
    return {"name": name, "reason": "correction", "referenceDocumentUri": "gid://synchub/SyncJob/42",
            "quantities": [{"inventoryItemId": item, "locationId": location, "quantity": quantity,
                            "changeFromQuantity": change_from}]}


class Receiver:
    """A webhook endpoint: records (headers, raw body) and answers the statuses given, then 200."""

    def __init__(self, statuses=()):
        self.received = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.received.append(({k.lower(): v for k, v in self.headers.items()}, raw))
                    status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/webhooks/shopify" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    made = []

    def factory(statuses=()):
        r = Receiver(statuses)
        made.append(r)
        return r
    yield factory
    for r in made:
        r.close()


def hmac_ok(headers, raw, secret=SECRET, prefix="x-"):
    want = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(want, headers[prefix + "shopify-hmac-sha256"])


# ------------------------------------------------------------------------------------------------------------------
# standalone process, auth, routing

def test_standalone_ready_line_and_a_query():
    with standalone("shopify_sim.py", "--port", "0", "--bucket", "100", "--restore", "20") as ready:
        assert ready["shopify_sim"] == "ready" and ready["shop"] == DEFAULT_SHOP
        assert ready["token"] == DEFAULT_TOKEN and ready["bucket"] == 100.0 and "2026-01" in ready["versions"]
        conn = httplib.HTTPConnection("127.0.0.1", ready["port"], timeout=10)
        conn.request("POST", "/admin/api/2026-01/graphql.json", body=json.dumps({"query": "{ shop { name } }"}),
                     headers={"Content-Type": "application/json", "X-Shopify-Access-Token": ready["token"]})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200 and body["data"]["shop"]["name"] == "Acme Outfitters"
        assert body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 100.0
        conn.close()


def test_auth_401_with_shopify_body(sim):
    for token in (None, "shpat_wrong"):
        status, _, raw = http(sim, "POST", "/admin/api/%s/graphql.json" % V, {"query": "{ shop { name } }"},
                              {"X-Shopify-Access-Token": token} if token else {})
        assert status == 401
        assert json.loads(raw) == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                                             "password)"}


def test_versions_and_paths(sim):
    hdrs = {"X-Shopify-Access-Token": DEFAULT_TOKEN}
    status, _, raw = http(sim, "POST", "/admin/api/2019-04/graphql.json", {"query": "{ shop { name } }"}, hdrs)
    assert status == 404 and json.loads(raw) == {"errors": "Not Found"}
    status, _, _ = http(sim, "GET", "/admin/api/%s/orders.json" % V, None, hdrs)
    assert status == 404
    status, headers, raw = http(sim, "POST", "/admin/api/2025-01/graphql.json", {"query": "{ shop { name } }"}, hdrs)
    assert status == 200 and headers["x-shopify-api-version"] == "2025-01"
    status, _, raw = http(sim, "POST", "/admin/api/%s/graphql.json" % V, b"{not json", hdrs)
    assert status == 400 and json.loads(raw) == {"errors": {"query": "Required parameter missing or invalid"}}


# ------------------------------------------------------------------------------------------------------------------
# queries

def test_shop_and_locations(sim):
    resp = gql(sim, "query shop { shop { name myshopifyDomain currencyCode } }")
    assert data(resp)["shop"] == {"name": "Acme Outfitters", "myshopifyDomain": DEFAULT_SHOP, "currencyCode": "USD"}
    cost = resp["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 1 and cost["actualQueryCost"] == 1
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
    d = data(gql(sim, "{ locations(first: 10, sortKey: ID) { nodes { id name legacyResourceId } "
                      "edges { cursor node { name } } } }"))
    assert d["locations"]["nodes"][0] == {"id": MAIN, "name": "Main warehouse", "legacyResourceId": "71263993878"}
    assert [e["node"]["name"] for e in d["locations"]["edges"]] == ["Main warehouse", "Downtown store"]


def test_product_variants_by_sku_with_pagination(sim):
    q = """query V($q: String!, $after: String) {
      productVariants(first: 2, after: $after, query: $q) {
        nodes { id sku inventoryItem { id legacyResourceId } product { id title } }
        pageInfo { hasNextPage endCursor } } }"""
    skus = "sku:ACME-TEE-BLK-M OR sku:ACME-MUG-350 OR sku:ACME-CAP-NVY"
    page1 = data(gql(sim, q, {"q": skus}))["productVariants"]
    assert page1["pageInfo"]["hasNextPage"] is True
    page2 = data(gql(sim, q, {"q": skus, "after": page1["pageInfo"]["endCursor"]}))["productVariants"]
    assert page2["pageInfo"]["hasNextPage"] is False
    got = {n["sku"]: n for n in page1["nodes"] + page2["nodes"]}
    assert set(got) == {"ACME-TEE-BLK-M", "ACME-MUG-350", "ACME-CAP-NVY"}
    assert got["ACME-TEE-BLK-M"]["inventoryItem"] == {"id": TEE_ITEM, "legacyResourceId": "46912881639446"}
    assert got["ACME-TEE-BLK-M"]["product"]["title"] == "Acme Tee"
    one = data(gql(sim, q, {"q": "sku:ACME-MUG-350"}))["productVariants"]["nodes"]
    assert [n["sku"] for n in one] == ["ACME-MUG-350"]
    resp = gql(sim, q, {"q": "sku:ACME-MUG-350 bogus_field:1"})
    assert resp["extensions"]["search"][0]["warnings"][0]["field"] == "bogus_field"


def test_inventory_item_and_levels(sim):
    d = data(gql(sim, """query I($id: ID!, $loc: ID!) { inventoryItem(id: $id) { id sku
        inventoryLevel(locationId: $loc) { id quantities(names: ["available", "on_hand"]) { name quantity } } } }""",
                 {"id": TEE_ITEM, "loc": MAIN}))["inventoryItem"]
    assert d["sku"] == "ACME-TEE-BLK-M"
    assert d["inventoryLevel"]["id"] == "gid://shopify/InventoryLevel/71263993878?inventory_item_id=46912881639446"
    # committed 2 (#1042) + 1 (#1044) from the seeded orders: on_hand = available + committed
    assert d["inventoryLevel"]["quantities"] == [{"name": "available", "quantity": 37},
                                                 {"name": "on_hand", "quantity": 40}]
    d = data(gql(sim, """{ inventoryItems(first: 5, query: "sku:ACME-MUG-350") { nodes { id sku
        inventoryLevels(first: 5) { nodes { location { id } quantities(names: ["available"]) { quantity } } } } } }"""))
    levels = d["inventoryItems"]["nodes"][0]["inventoryLevels"]["nodes"]
    assert {lv["location"]["id"]: lv["quantities"][0]["quantity"] for lv in levels} == {MAIN: 25, SECOND: 3}
    d = data(gql(sim, '{ inventoryItem(id: "%s") { inventoryLevel(locationId: "%s") { id } } }' % (TEE_ITEM, SECOND)))
    assert d["inventoryItem"]["inventoryLevel"] is None        # not stocked there


def test_inventory_level_gid_is_not_an_inventory_item_id(sim):
    trap = "gid://shopify/InventoryLevel/71263993878?inventory_item_id=46912881639446"
    resp = gql(sim, 'query { inventoryItem(id: "%s") { id sku } }' % trap)
    assert resp["data"] == {"inventoryItem": None}
    assert resp["errors"][0]["message"] == "Invalid id: " + trap
    assert resp["errors"][0]["path"] == ["inventoryItem"]
    ok = data(gql(sim, 'query { inventoryLevel(id: "%s") { item { id } } }' % trap))
    assert ok["inventoryLevel"]["item"]["id"] == TEE_ITEM


def all_orders(sim, query):
    """Page through orders(query:) two at a time."""
    seen, after = [], None
    while True:
        page = data(gql(sim, ORDERS, {"first": 2, "after": after, "q": query}))["orders"]
        seen += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


def test_orders_by_updated_at_with_pagination_and_order_by_id(sim):
    seen = all_orders(sim, "updated_at:>=2026-11-20T00:00:00Z")
    assert [o["name"] for o in seen] == ["#1042", "#1043", "#1044"]
    o = seen[0]
    assert o["id"] == ORDER_1042 and o["legacyResourceId"] == "6150327861270"
    assert o["updatedAt"] == "2026-11-21T19:03:13Z" and o["createdAt"] == "2026-11-21T19:03:11Z"
    assert o["displayFinancialStatus"] == "PAID" and o["cancelledAt"] is None
    assert [(li["sku"], li["quantity"], li["originalUnitPriceSet"]["shopMoney"]["amount"])
            for li in o["lineItems"]["nodes"]] == [("ACME-TEE-BLK-M", 2, "24.0"), ("ACME-MUG-350", 1, "12.5"),
                                                   ("ACME-CAP-NVY", 1, "18.0")]
    assert o["customer"] == {"id": "gid://shopify/Customer/7390219731222", "email": "maria.lopez@example.com",
                             "firstName": "Maria", "lastName": "Lopez"}
    assert o["shippingAddress"]["zip"] == "97477" and o["shippingAddress"]["countryCodeV2"] == "US"
    single = data(gql(sim, "query O($id: ID!) { order(id: $id) { %s } }" % ORDER_FIELDS, {"id": ORDER_1042}))
    assert single["order"] == o
    # an edit bumps updatedAt: it comes back in the incremental window, last in UPDATED_AT order
    sim.set_clock("2026-11-23T12:00:00Z")
    sim_api(sim, "POST", "orders/6150327861270", {"note": "Leave at the back door"})
    page = all_orders(sim, "updated_at:>=2026-11-23T00:00:00Z")
    assert [n["name"] for n in page] == ["#1042"] and page[0]["updatedAt"] == "2026-11-23T12:00:00Z"
    sim.set_clock(advance_s=60)
    created = sim_api(sim, "POST", "orders", {"lines": [{"sku": "ACME-CAP-NVY", "quantity": 2}]})
    assert [n["name"] for n in all_orders(sim, "updated_at:>=2026-11-23T00:00:00Z")] == ["#1042", created["name"]]


def test_fulfillment_orders_and_fulfillments(sim):
    q = """query F($id: ID!) { order(id: $id) { displayFulfillmentStatus
      fulfillmentOrders(first: 5) { nodes { id status assignedLocation { location { id } }
        lineItems(first: 10) { nodes { id remainingQuantity lineItem { sku } } } } }
      fulfillments { id trackingInfo { company number url } } } }"""
    d = data(gql(sim, q, {"id": ORDER_1042}))["order"]
    fo = d["fulfillmentOrders"]["nodes"][0]
    assert fo["id"] == FO_1042 and fo["status"] == "OPEN" and fo["assignedLocation"]["location"]["id"] == MAIN
    assert [(n["lineItem"]["sku"], n["remainingQuantity"]) for n in fo["lineItems"]["nodes"]] == [
        ("ACME-TEE-BLK-M", 2), ("ACME-MUG-350", 1), ("ACME-CAP-NVY", 1)]
    assert d["fulfillments"] == [] and d["displayFulfillmentStatus"] == "UNFULFILLED"


def test_connections_need_first_or_last_up_to_250(sim):
    resp = gql(sim, "{ productVariants(query: \"sku:ACME-MUG-350\") { nodes { id } } }")
    assert "data" not in resp and resp["errors"][0]["message"] == "you must provide one of first or last"
    resp = gql(sim, "query ($n: Int!) { orders(first: $n) { nodes { id } } }", {"n": 251})
    assert "data" not in resp and "between 0 and 250" in resp["errors"][0]["message"]
    d = data(gql(sim, "{ orders(last: 1, sortKey: CREATED_AT) { nodes { name } pageInfo { hasPreviousPage } } }"))
    assert d["orders"] == {"nodes": [{"name": "#1044"}], "pageInfo": {"hasPreviousPage": True}}


def test_order_cancel_and_edit_move_stock(sim, receiver):
    r = receiver()
    sim_api(sim, "POST", "webhooks/subscribe", {"topic": "*", "url": r.url, "secret": SECRET})
    assert sim.quantity("ACME-MUG-350") == 25 and sim.quantity("ACME-MUG-350", name="committed") == 4
    cancelled = sim_api(sim, "POST", "orders/6150327894038", {"cancel": {"reason": "customer"}})
    assert cancelled["cancel_reason"] == "customer" and cancelled["financial_status"] == "refunded"
    assert sim.quantity("ACME-MUG-350") == 28 and sim.quantity("ACME-MUG-350", name="committed") == 1
    sim_api(sim, "POST", "orders/6150327926806", {"line_items": [{"sku": "ACME-CAP-NVY", "quantity": 1}]})
    assert sim.quantity("ACME-CAP-NVY") == 11 and sim.quantity("ACME-CAP-NVY", name="committed") == 2
    d = data(gql(sim, '{ order(id: "gid://shopify/Order/6150327894038") { cancelledAt displayFinancialStatus } }'))
    assert d["order"]["cancelledAt"] is not None and d["order"]["displayFinancialStatus"] == "REFUNDED"
    assert sim.wait_webhooks(5)
    topics = [h["x-shopify-topic"] for h, _ in r.received]
    assert topics.count("orders/cancelled") == 1 and topics.count("orders/updated") == 2
    assert "inventory_levels/update" in topics


def test_validation_and_parse_errors(sim):
    resp = gql(sim, "{ shop { name nope } }")
    assert "data" not in resp
    assert resp["errors"][0]["message"] == "Field 'nope' doesn't exist on type 'Shop'"
    assert resp["errors"][0]["extensions"]["code"] == "undefinedField"
    resp = gql(sim, "{ shop { name }")
    assert "data" not in resp and "locations" in resp["errors"][0]
    resp = gql(sim, "query Q($id: ID!) { order(id: $id) { name } }", {})
    assert "was provided invalid value" in resp["errors"][0]["message"]
    resp = gql(sim, '{ orders(first: 1, sortKey: NEWEST) { nodes { id } } }')
    assert resp["errors"][0]["extensions"]["code"] == "argumentLiteralsIncompatible"
    # aliases, fragments, @include
    d = data(gql(sim, """query ($with: Boolean!) { a: shop { ...S } b: shop { name @include(if: $with) } }
                         fragment S on Shop { myshopifyDomain }""", {"with": False}))
    assert d == {"a": {"myshopifyDomain": DEFAULT_SHOP}, "b": {}}


# ------------------------------------------------------------------------------------------------------------------
# cost and throttling

def test_cost_calculation(sim):
    def cost(q, v=None):
        c = gql(sim, q, v)["extensions"]["cost"]
        return c["requestedQueryCost"], c["actualQueryCost"]
    assert cost("{ shop { name } }") == (1, 1)
    # connection: 2 + first x (1 per node + children); the actual cost counts the nodes returned
    assert cost("{ productVariants(first: 10) { nodes { id sku } } }") == (12, 5)
    assert cost("{ productVariants(first: 10) { edges { node { id inventoryItem { id } } } } }") == (22, 8)
    nested = "{ products(first: 5) { nodes { variants(first: 3) { nodes { id } } } } }"
    assert cost(nested) == (2 + 5 * (1 + 2 + 3), 2 + 3 * (1 + 2 + 1))     # 3 products with 1 variant each
    assert cost(SET_QTY, {"input": set_input(37, 37), "key": "cost-1"}) == (10, 10)


def test_throttled_then_restored(sim):
    q = "{ products(first: 30) { nodes { id } } }"   # requested 32, actual 5: 5 points per call
    sim.set_bucket(maximum=100, restore=20, available=40)
    first = gql(sim, q)
    assert "data" in first and first["extensions"]["cost"]["actualQueryCost"] == 5
    for _ in range(30):                   # each call nets 5 points; the bucket refills 20/s: drains in a few calls
        throttled = gql(sim, q)
        if "data" not in throttled:
            break
    assert throttled.keys() == {"errors", "extensions"}                 # no data
    assert throttled["errors"] == [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
    cost = throttled["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 32 and cost["actualQueryCost"] is None
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 100.0 and status["restoreRate"] == 20.0
    assert status["currentlyAvailable"] < 32
    assert sim.calls()[-1]["throttled"] is True
    time.sleep((32 - status["currentlyAvailable"]) / 20.0 + 0.15)
    resp = gql(sim, q)
    assert "data" in resp and resp["extensions"]["cost"]["actualQueryCost"] == 5


def test_throttle_now_fault_and_max_cost(sim):
    sim_api(sim, "POST", "fault", {"mode": "throttle_now"})
    resp = gql(sim, "{ shop { name } }")
    assert resp["errors"][0]["extensions"]["code"] == "THROTTLED"
    sim.set_bucket(available=1000)
    resp = gql(sim, "{ products(first: 250) { nodes { variants(first: 10) { nodes { id } } } } }")
    err = resp["errors"][0]
    assert err["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": 3252, "maxCost": 1000}
    assert err["message"].startswith("Query cost is 3252, which exceeds the single query max cost limit (1000).")
    assert "data" not in resp and resp["extensions"]["cost"]["actualQueryCost"] is None


def test_http_429_fault_with_retry_after(sim):
    sim_api(sim, "POST", "fault", {"mode": "429", "retry_after": 2.0, "count": 1})
    status, headers, raw = http(sim, "POST", "/admin/api/%s/graphql.json" % V, {"query": "{ shop { name } }"},
                                {"X-Shopify-Access-Token": DEFAULT_TOKEN})
    assert status == 429 and headers["retry-after"] == "2.0" and "errors" in json.loads(raw)
    assert "data" in gql(sim, "{ shop { name } }")                       # count: 1 -> gone


# ------------------------------------------------------------------------------------------------------------------
# inventorySetQuantities

def test_set_quantities_applies(sim):
    d = data(gql(sim, SET_QTY, {"input": set_input(30, 37), "key": "job-1"}))["inventorySetQuantities"]
    assert d["userErrors"] == []
    g = d["inventoryAdjustmentGroup"]
    assert g["id"].startswith("gid://shopify/InventoryAdjustmentGroup/") and g["reason"] == "correction"
    assert g["referenceDocumentUri"] == "gid://synchub/SyncJob/42"
    assert g["changes"] == [{"name": "available", "delta": -7, "quantityAfterChange": 30},
                            {"name": "on_hand", "delta": -7, "quantityAfterChange": 33}]
    assert sim.quantity("ACME-TEE-BLK-M") == 30
    # on_hand keeps committed: available moves by the same delta
    d = data(gql(sim, SET_QTY, {"input": set_input(50, 33, name="on_hand"), "key": "job-2"}))
    assert d["inventorySetQuantities"]["inventoryAdjustmentGroup"]["changes"][1] == {
        "name": "available", "delta": 17, "quantityAfterChange": 47}
    # changeFromQuantity: null skips the check
    d = data(gql(sim, SET_QTY, {"input": set_input(5, None), "key": "job-3"}))
    assert d["inventorySetQuantities"]["userErrors"] == [] and sim.quantity("ACME-TEE-BLK-M") == 5


def test_set_quantities_stale_compare_rejects_the_whole_mutation(sim):
    inp = set_input(30, 37)
    inp["quantities"].append({"inventoryItemId": MUG_ITEM, "locationId": MAIN, "quantity": 20,
                              "changeFromQuantity": 99})
    d = data(gql(sim, SET_QTY, {"input": inp, "key": "stale-1"}))["inventorySetQuantities"]
    assert d["inventoryAdjustmentGroup"] is None
    assert d["userErrors"] == [{"field": ["input", "quantities", "1", "changeFromQuantity"],
                                "message": "The changeFromQuantity value does not match persisted value.",
                                "code": "CHANGE_FROM_QUANTITY_STALE"}]
    assert sim.quantity("ACME-TEE-BLK-M") == 37 and sim.quantity("ACME-MUG-350") == 25     # nothing applied
    # drift injected behind synchub's back makes its next compare stale
    sim_api(sim, "POST", "inventory", {"sku": "ACME-TEE-BLK-M", "available": 12})
    d = data(gql(sim, SET_QTY, {"input": set_input(30, 37), "key": "stale-2"}))["inventorySetQuantities"]
    assert d["userErrors"][0]["code"] == "CHANGE_FROM_QUANTITY_STALE" and sim.quantity("ACME-TEE-BLK-M") == 12


def test_set_quantities_user_errors_with_field_paths(sim):
    inp = {"name": "available", "reason": "sync", "quantities": [
        {"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": MAIN, "quantity": 1,
         "changeFromQuantity": None},
        {"inventoryItemId": TEE_ITEM, "locationId": "gid://shopify/Location/2", "quantity": 1,
         "changeFromQuantity": None},
        {"inventoryItemId": TEE_ITEM, "locationId": SECOND, "quantity": 1, "changeFromQuantity": None},
        {"inventoryItemId": MUG_ITEM, "locationId": MAIN, "quantity": -1, "changeFromQuantity": None}]}
    d = data(gql(sim, SET_QTY, {"input": inp, "key": "errs-1"}))["inventorySetQuantities"]
    assert [(e["code"], e["field"]) for e in d["userErrors"]] == [
        ("INVALID_REASON", ["input", "reason"]),
        ("INVALID_INVENTORY_ITEM", ["input", "quantities", "0", "inventoryItemId"]),
        ("INVALID_LOCATION", ["input", "quantities", "1", "locationId"]),
        ("ITEM_NOT_STOCKED_AT_LOCATION", ["input", "quantities", "2", "locationId"]),
        ("INVALID_QUANTITY_NEGATIVE", ["input", "quantities", "3", "quantity"])]


def test_set_quantities_250_input_limit(sim):
    row = {"inventoryItemId": TEE_ITEM, "locationId": MAIN, "quantity": 1, "changeFromQuantity": None}
    inp = {"name": "available", "reason": "correction", "quantities": [row] * 251}
    resp = gql(sim, SET_QTY, {"input": inp, "key": "big-1"})
    assert "data" not in resp
    assert resp["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert resp["errors"][0]["message"] == "The input array size of 251 is greater than the maximum allowed of 250."
    assert sim.quantity("ACME-TEE-BLK-M") == 37 and sim.idempotency_keys() == []
    inp["quantities"] = [row] * 250                                   # at the cap: accepted (duplicates refused)
    d = data(gql(sim, SET_QTY, {"input": inp, "key": "big-2"}))["inventorySetQuantities"]
    assert {e["code"] for e in d["userErrors"]} == {"NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"}


def test_set_quantities_idempotency_key(sim):
    first = data(gql(sim, SET_QTY, {"input": set_input(30, 37), "key": "job-7"}))
    again = data(gql(sim, SET_QTY, {"input": set_input(30, 37), "key": "job-7"}))
    assert again == first                                            # the original result, not a stale error
    assert sim.quantity("ACME-TEE-BLK-M") == 30
    assert len(sim.state()["adjustment_groups"]) == 1
    assert sim.calls()[-1]["idempotent_replay"] is True
    other = data(gql(sim, SET_QTY, {"input": set_input(31, 30), "key": "job-7"}))["inventorySetQuantities"]
    assert other == {"inventoryAdjustmentGroup": None, "userErrors": [{
        "field": None, "message": "The same idempotency key cannot be used with different operation parameters.",
        "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"}]}
    assert sim.quantity("ACME-TEE-BLK-M") == 30
    keys = {k["key"]: k for k in sim_api(sim, "GET", "idempotency")["keys"]}
    assert keys["job-7"]["replays"] == 1 and keys["job-7"]["mismatches"] == 1
    # a response lost after the commit: the retry under the same key gets the result, applied once
    sim_api(sim, "POST", "fault", {"mode": "commit_then_drop", "count": 1})
    with pytest.raises((httplib.RemoteDisconnected, ConnectionError)):
        gql(sim, SET_QTY, {"input": set_input(20, 30), "key": "job-8"})
    d = data(gql(sim, SET_QTY, {"input": set_input(20, 30), "key": "job-8"}))["inventorySetQuantities"]
    assert d["userErrors"] == [] and d["inventoryAdjustmentGroup"]["changes"][0]["delta"] == -10
    assert sim.quantity("ACME-TEE-BLK-M") == 20


def test_version_rules_for_compare_and_idempotency(sim):
    # 2026-04+: the key is mandatory, and so is changeFromQuantity on every quantity
    resp = gql(sim, SET_QTY_NO_KEY, {"input": set_input(30, 37)}, version="2026-04")
    assert resp["data"] == {"inventorySetQuantities": None}
    assert resp["errors"][0]["message"] == "The @idempotent directive is required for this mutation but was not " \
                                           "provided."
    inp = set_input(30, 37)
    del inp["quantities"][0]["changeFromQuantity"]
    resp = gql(sim, SET_QTY, {"input": inp, "key": "v-1"}, version="2026-04")
    assert resp["errors"][0]["message"] == "InventoryQuantityInput must include the following argument: " \
                                           "changeFromQuantity"
    inp["quantities"][0]["compareQuantity"] = 37
    resp = gql(sim, SET_QTY, {"input": inp, "key": "v-2"}, version="2026-04")
    assert "Field is not defined on InventoryQuantityInput" in resp["errors"][0]["message"]
    # 2025-10: compareQuantity (or ignoreCompareQuantity), and no @idempotent directive at all
    resp = gql(sim, SET_QTY, {"input": inp, "key": "v-3"}, version="2025-10")
    assert resp["errors"][0]["extensions"]["code"] == "undefinedDirective"
    del inp["quantities"][0]["compareQuantity"]
    d = data(gql(sim, SET_QTY_NO_KEY, {"input": inp}, version="2025-10"))["inventorySetQuantities"]
    assert d["userErrors"][0]["code"] == "COMPARE_QUANTITY_REQUIRED"
    inp["quantities"][0]["compareQuantity"] = 36
    d = data(gql(sim, SET_QTY_NO_KEY, {"input": inp}, version="2025-10"))["inventorySetQuantities"]
    assert d["userErrors"][0]["code"] == "COMPARE_QUANTITY_STALE"
    del inp["quantities"][0]["compareQuantity"]
    inp["ignoreCompareQuantity"] = True
    d = data(gql(sim, SET_QTY_NO_KEY, {"input": inp}, version="2025-10"))["inventorySetQuantities"]
    assert d["userErrors"] == [] and sim.quantity("ACME-TEE-BLK-M") == 30
    # 2026-01: both generations accepted, the key optional
    d = data(gql(sim, SET_QTY_NO_KEY, {"input": set_input(31, 30)}, version="2026-01"))["inventorySetQuantities"]
    assert d["userErrors"] == [] and sim.quantity("ACME-TEE-BLK-M") == 31


# ------------------------------------------------------------------------------------------------------------------
# fulfillments

def test_fulfillment_create_once_under_a_repeated_key(sim):
    f = {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": FO_1042, "fulfillmentOrderLineItems": [
        {"id": FOLI_TEE, "quantity": 2}]}],
        "trackingInfo": {"company": "UPS", "number": "1Z999AA10123456784",
                         "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784"},
        "notifyCustomer": False}
    one = data(gql(sim, FULFILL, {"f": f, "key": "ship-1042-1"}))["fulfillmentCreate"]
    two = data(gql(sim, FULFILL, {"f": f, "key": "ship-1042-1"}))["fulfillmentCreate"]
    assert one == two and one["userErrors"] == []
    assert one["fulfillment"]["status"] == "SUCCESS" and one["fulfillment"]["name"] == "#1042.1"
    assert one["fulfillment"]["trackingInfo"] == [f["trackingInfo"]]
    assert len(sim.fulfillments()) == 1
    fo = sim.orders()[0]["fulfillment_orders"][0]
    assert fo["status"] == "IN_PROGRESS" and fo["line_items"][0]["remaining"] == 0
    # a new key for the same lines: nothing left to fulfil
    three = data(gql(sim, FULFILL, {"f": f, "key": "ship-1042-2"}))["fulfillmentCreate"]
    assert three["fulfillment"] is None and three["userErrors"][0]["message"] == \
        "Invalid fulfillment order line item quantity requested."
    # everything left (no fulfillmentOrderLineItems) closes the fulfillment order
    rest = {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": FO_1042}]}
    data(gql(sim, FULFILL, {"f": rest, "key": "ship-1042-3"}))
    assert sim.orders()[0]["fulfillment_orders"][0]["status"] == "CLOSED"
    assert sim.orders()[0]["fulfillment_status"] == "FULFILLED"
    upd = data(gql(sim, """mutation T($id: ID!) { fulfillmentTrackingInfoUpdate(fulfillmentId: $id,
        trackingInfoInput: {company: "FedEx", number: "7712"}) { fulfillment { trackingInfo { company number } }
        userErrors { field message } } }""", {"id": one["fulfillment"]["id"]}))["fulfillmentTrackingInfoUpdate"]
    assert upd == {"fulfillment": {"trackingInfo": [{"company": "FedEx", "number": "7712"}]}, "userErrors": []}
    bad = data(gql(sim, FULFILL, {"f": {"lineItemsByFulfillmentOrder": [
        {"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/1"}]}, "key": "ship-x"}))["fulfillmentCreate"]
    assert bad["fulfillment"] is None and bad["userErrors"][0]["field"] == [
        "fulfillment", "lineItemsByFulfillmentOrder", "0", "fulfillmentOrderId"]


# ------------------------------------------------------------------------------------------------------------------
# webhooks

def test_webhook_sender_signs_duplicates_and_reorders(sim, receiver):
    r = receiver()
    out = sim_api(sim, "POST", "webhooks/send", {"url": r.url, "secret": SECRET, "fixture": "orders_create",
                                                  "burst": 2, "duplicate": 2, "reorder": True, "vary": "updated_at"})
    deliveries = out["deliveries"]
    assert [d["status"] for d in deliveries] == [200] * 4
    assert len(r.received) == 4
    for headers, raw in r.received:
        assert hmac_ok(headers, raw)
        assert headers["x-shopify-topic"] == "orders/create"
        assert headers["x-shopify-shop-domain"] == DEFAULT_SHOP
        assert headers["x-shopify-api-version"] and headers["x-shopify-triggered-at"].endswith("Z")
        assert json.loads(raw)["id"] == 6150327861270
    events = [h["x-shopify-event-id"] for h, _ in r.received]
    hooks = [h["x-shopify-webhook-id"] for h, _ in r.received]
    assert len(set(hooks)) == 4                                # new per delivery
    assert events[0] == events[1] and events[2] == events[3] and events[0] != events[2]   # same across duplicates
    stamps = [json.loads(raw)["updated_at"] for _, raw in r.received]
    assert stamps[0] > stamps[2]                               # reordered: the later event arrives first
    assert deliveries[0]["event_index"] == 1
    assert len(sim_api(sim, "GET", "webhooks")["deliveries"]) == 4
    # from the store, asynchronously
    out = sim_api(sim, "POST", "webhooks/send", {"url": r.url, "secret": SECRET, "order_id": 6150327926806,
                                                  "async": True})
    assert out["async"] is True
    deadline = time.monotonic() + 5
    while len(r.received) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    headers, raw = r.received[4]
    assert headers["x-shopify-topic"] == "orders/updated" and json.loads(raw)["name"] == "#1044"


def test_send_webhooks_function_retry_and_bad_signature(receiver):
    r = receiver(statuses=[500, 503])
    body = json.dumps({"inventory_item_id": 46912881639446, "location_id": 71263993878, "available": 5})
    got = send_webhooks(r.url, SECRET, topic="inventory_levels/update", body=body, retry=True, retries=3,
                        backoff_ms=10, event_id="evt-1")
    assert [(g["attempt"], g["status"]) for g in got] == [(1, 500), (2, 503), (3, 200)]
    assert got[-1]["final"] and got[-1]["ok"]
    assert len({h["x-shopify-webhook-id"] for h, _ in r.received}) == 1       # a retry is the same delivery
    assert all(h["x-shopify-event-id"] == "evt-1" and raw == body.encode() for h, raw in r.received)
    assert all(hmac_ok(h, raw) for h, raw in r.received)
    r2 = receiver()
    send_webhooks(r2.url, SECRET, topic="orders/updated", payload={"id": 1}, bad_signature=True,
                  header_style="events")
    headers, raw = r2.received[0]
    assert "x-shopify-topic" not in headers and headers["shopify-topic"] == "orders/updated"
    assert not hmac_ok(headers, raw, prefix="")
    assert sign(raw, SECRET + "-wrong") == headers["shopify-hmac-sha256"]


def test_subscription_fires_on_state_changes(sim, receiver):
    r = receiver()
    sim_api(sim, "POST", "webhooks/subscribe", {"topic": "inventory_levels/update", "url": r.url, "secret": SECRET})
    data(gql(sim, SET_QTY, {"input": set_input(30, 37), "key": "hook-1"}))
    sim_api(sim, "POST", "inventory", {"sku": "ACME-TEE-BLK-M", "available": 29})
    assert sim.wait_webhooks(5)
    bodies = [json.loads(raw) for _, raw in r.received]
    assert [(b["inventory_item_id"], b["location_id"], b["available"]) for b in bodies] == [
        (46912881639446, 71263993878, 30), (46912881639446, 71263993878, 29)]
    assert all(hmac_ok(h, raw) for h, raw in r.received)
    assert bodies[0]["admin_graphql_api_id"] == "gid://shopify/InventoryLevel/71263993878?inventory_item_id=" \
                                                "46912881639446"


def test_fixture_bodies_match_the_shared_samples():
    folder = shopify_sim.default_fixtures_dir()
    if not folder.is_dir():
        pytest.skip("shared/fixtures/shopify not found (set SYNCHUB_FIXTURES)")
    for name in ("orders_create", "orders_updated", "orders_cancelled", "inventory_levels_update",
                 "products_update", "fulfillments_create"):
        sample = json.loads((folder / (name + ".json")).read_text())
        built = shopify_sim.builtin_fixture(name)
        # The shared samples predate the money fields; the emulator's orders carry them as Shopify's do (the
        # current_* totals, tips, order-level discount applications, duties per line). Anything else must match.
        if name.startswith("orders_"):
            for key in MONEY_ORDER_FIELDS:
                if key not in sample:
                    built.pop(key, None)
        if name.startswith("orders_") or name == "fulfillments_create":
            for line, sample_line in zip(built.get("line_items", []), sample.get("line_items", [])):
                if "duties" not in sample_line:
                    assert line.pop("duties", None) == [], name
        assert built == sample, name


# Order fields the money flow reads that the shared samples lack (platform-facts.md, the order's money).
MONEY_ORDER_FIELDS = ("current_subtotal_price", "current_total_price", "current_total_price_set",
                      "current_total_tax", "current_total_tax_set", "discount_applications", "total_tip_received")


# ------------------------------------------------------------------------------------------------------------------
# faults and the inspection API

def test_faults(sim):
    sim_api(sim, "POST", "fault", {"mode": "down", "count": 1})
    with pytest.raises((httplib.RemoteDisconnected, ConnectionError)):
        gql(sim, "{ shop { name } }")
    sim_api(sim, "POST", "fault", {"mode": "http_503", "count": 1, "match": {"field": "inventorySetQuantities"}})
    assert "data" in gql(sim, "{ shop { name } }")                      # not matched
    status, _, raw = http(sim, "POST", "/admin/api/%s/graphql.json" % V,
                          {"query": SET_QTY, "variables": {"input": set_input(1, 37), "key": "f-1"}},
                          {"X-Shopify-Access-Token": DEFAULT_TOKEN})
    assert status == 503 and b"503" in raw and sim.quantity("ACME-TEE-BLK-M") == 37     # nothing ran
    sim_api(sim, "POST", "fault", {"mode": "slow", "delay_ms": 300, "count": 1})
    t0 = time.monotonic()
    gql(sim, "{ shop { name } }")
    assert time.monotonic() - t0 >= 0.3
    sim_api(sim, "POST", "fault", {"mode": "timeout", "delay_ms": 200, "count": 1})
    with pytest.raises((httplib.RemoteDisconnected, ConnectionError)):
        gql(sim, "{ shop { name } }")
    sim_api(sim, "POST", "fault", {"mode": "internal_error", "count": 1})
    assert gql(sim, "{ shop { name } }")["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    calls = sim_api(sim, "GET", "calls")["calls"]
    assert [c["fault"] for c in calls] == ["down", None, "http_503", "slow", "timeout", "internal_error"]
    assert calls[2]["fields"] == ["inventorySetQuantities"] and calls[2]["status"] == 503


def test_inspection_api(sim):
    data(gql(sim, SET_QTY, {"input": set_input(30, 37), "key": "insp-1"}))
    state = sim_api(sim, "GET", "state")
    tee = [r for r in state["inventory"] if r["sku"] == "ACME-TEE-BLK-M"][0]
    assert tee["available"] == 30 and tee["committed"] == 3 and tee["on_hand"] == 33
    assert state["idempotency"][0]["key"] == "insp-1"
    assert [o["name"] for o in state["orders"]] == ["#1042", "#1043", "#1044"]
    call = sim_api(sim, "GET", "calls?field=inventorySetQuantities")["calls"][-1]
    assert call["requested_cost"] == 10 and call["actual_cost"] == 10 and call["operation"] == "SetQty"
    assert call["idempotency_keys"] == ["insp-1"] and call["variables"]["key"] == "insp-1"
    assert sim_api(sim, "GET", "info")["inventory_items"]["ACME-MUG-350"] == 46912881672214
    sim_api(sim, "POST", "reset", {})
    assert sim.quantity("ACME-TEE-BLK-M") == 37 and sim.idempotency_keys() == []


# ------------------------------------------------------------------------------------------------------------------
# bulk set-up and scale (test API: /__sim__/products, /__sim__/inventory?format=map)

def test_create_products_bulk_and_their_ids(sim):
    made = sim_api(sim, "POST", "products", {"products": [
        {"sku": "BULK-1", "title": "Bulk One", "price": "9.00", "levels": {"71263993878": 5, "71264026646": 0}},
        {"sku": "BULK-2", "price": 4, "levels": {MAIN: {"available": 2, "committed": 1}}},
        {"sku": "BULK-3"}]})["products"]
    assert [p["sku"] for p in made] == ["BULK-1", "BULK-2", "BULK-3"]
    one = made[0]
    assert one["inventory_item_gid"] == "gid://shopify/InventoryItem/%d" % one["inventory_item_id"]
    d = data(gql(sim, """query($v: ID!, $i: ID!) {
        productVariant(id: $v) { sku price title product { id title handle totalInventory }
                                 inventoryItem { id } inventoryQuantity }
        inventoryItem(id: $i) { sku inventoryLevels(first: 5) { nodes { location { id }
                                quantities(names: ["available", "on_hand"]) { name quantity } } } } }""",
                     {"v": one["variant_gid"], "i": one["inventory_item_gid"]}))
    v = d["productVariant"]
    assert (v["sku"], v["price"], v["title"], v["inventoryQuantity"]) == ("BULK-1", "9.00", "Default Title", 5)
    assert v["product"] == {"id": one["product_gid"], "title": "Bulk One", "handle": "bulk-one", "totalInventory": 5}
    assert v["inventoryItem"]["id"] == one["inventory_item_gid"]
    levels = {n["location"]["id"]: n["quantities"] for n in d["inventoryItem"]["inventoryLevels"]["nodes"]}
    assert levels == {MAIN: [{"name": "available", "quantity": 5}, {"name": "on_hand", "quantity": 5}],
                      SECOND: [{"name": "available", "quantity": 0}, {"name": "on_hand", "quantity": 0}]}
    assert sim.quantity("BULK-2", name="on_hand") == 3 and sim.quantity("BULK-2", SECOND) is None
    assert sim.inventory("BULK-3") == []                                  # not stocked anywhere
    # SKUs are unique here (a test-API rule: Shopify itself does not enforce it); errors create nothing
    before = len(sim.info()["inventory_items"])
    err = sim_api(sim, "POST", "products", {"products": [{"sku": "NEW-1"}, {"sku": "ACME-MUG-350"}]}, expect=422)
    assert "ACME-MUG-350" in err["error"] and "already exists" in err["error"]
    err = sim_api(sim, "POST", "products", {"products": [{"sku": "NEW-1"}, {"sku": "NEW-1"}]}, expect=422)
    assert "twice" in err["error"]
    sim_api(sim, "POST", "products", {"products": [{"sku": "NEW-1", "levels": {"1234": 1}}]}, expect=422)
    assert len(sim.info()["inventory_items"]) == before
    assert sim.create_products([{"sku": "NEW-1", "title": "Bulk One"}])[0]["sku"] == "NEW-1"
    assert data(gql(sim, '{ productVariants(first: 5, query: "sku:NEW-1") { nodes { product { handle } } } }'))[
        "productVariants"]["nodes"] == [{"product": {"handle": "bulk-one-1"}}]  # handles stay unique


def test_inventory_inspection_filters_and_map(sim):
    rows = sim_api(sim, "GET", "inventory?location_id=71264026646")["inventory"]
    assert sorted(r["sku"] for r in rows) == ["ACME-CAP-NVY", "ACME-MUG-350"]
    assert sim_api(sim, "GET", "inventory?format=map")["inventory"] == {
        "ACME-CAP-NVY": {"71263993878": 10, "71264026646": 4}, "ACME-MUG-350": {"71263993878": 25, "71264026646": 3},
        "ACME-TEE-BLK-M": {"71263993878": 37}}
    assert sim_api(sim, "GET", "inventory?format=map&location_id=71264026646&name=on_hand")["inventory"] == {
        "ACME-CAP-NVY": {"71264026646": 4}, "ACME-MUG-350": {"71264026646": 3}}
    assert sim.inventory_map(SECOND) == {"ACME-CAP-NVY": {"71264026646": 4}, "ACME-MUG-350": {"71264026646": 3}}
    rows = sim_api(sim, "GET", "inventory?sku=ACME-MUG-350&location_id=71263993878")["inventory"]
    assert [(r["sku"], r["location_id"], r["available"]) for r in rows] == [("ACME-MUG-350", 71263993878, 25)]


def test_5000_products_lookups_and_a_250_quantity_mutation_stay_fast(sim, monkeypatch):
    n = 5000
    t0 = time.monotonic()
    made = sim_api(sim, "POST", "products", {"products": [
        {"sku": "SCALE-%04d" % i, "levels": {"71263993878": i % 7}} for i in range(n)]})["products"]
    t_create = time.monotonic() - t0
    ids = {p["sku"]: p for p in made}
    sim.set_bucket(maximum=100000, restore=100000, available=100000)
    skus = ["SCALE-%04d" % i for i in range(1000, 1250)]
    query = " OR ".join("sku:%s" % s for s in skus)
    # count the records a search examines: an indexed lookup tests the 250 candidates, not all 5,003 items
    tested = [0]
    depth = [0]
    real_match = shopify_sim.search_match

    def counting(tree, rec, spec, text_fn):
        if depth[0] == 0:
            tested[0] += 1
        depth[0] += 1
        try:
            return real_match(tree, rec, spec, text_fn)
        finally:
            depth[0] -= 1

    monkeypatch.setattr(shopify_sim, "search_match", counting)
    t0 = time.monotonic()
    items = data(gql(sim, """query($q: String!, $loc: ID!) { inventoryItems(first: 250, query: $q) {
        nodes { id sku inventoryLevel(locationId: $loc) { quantities(names: ["available"]) { name quantity } } }
        pageInfo { hasNextPage } } }""", {"q": query, "loc": MAIN}))["inventoryItems"]
    variants = data(gql(sim, """query($q: String!) { productVariants(first: 250, query: $q) {
        nodes { sku inventoryQuantity inventoryItem { id } } } }""", {"q": query}))["productVariants"]["nodes"]
    t_lookup = time.monotonic() - t0
    assert tested[0] == 2 * 250
    assert sorted(x["sku"] for x in items["nodes"]) == skus and items["pageInfo"]["hasNextPage"] is False
    assert all(x["inventoryLevel"]["quantities"] == [{"name": "available", "quantity": int(x["sku"][6:]) % 7}]
               for x in items["nodes"])
    assert {v["sku"]: v["inventoryItem"]["id"] for v in variants} == {s: ids[s]["inventory_item_gid"] for s in skus}
    quantities = [{"inventoryItemId": ids[s]["inventory_item_gid"], "locationId": MAIN, "quantity": 100 + i,
                   "changeFromQuantity": int(s[6:]) % 7} for i, s in enumerate(skus)]
    t0 = time.monotonic()
    group = data(gql(sim, SET_QTY, {"input": {"name": "available", "reason": "correction", "quantities": quantities},
                                    "key": "scale-1"}))["inventorySetQuantities"]
    t_set = time.monotonic() - t0
    assert group["userErrors"] == [] and len(group["inventoryAdjustmentGroup"]["changes"]) == 500
    stock = sim.inventory_map(MAIN)
    assert len(stock) == n + 3 and stock["SCALE-1000"] == {"71263993878": 100}
    assert stock["SCALE-1249"] == {"71263993878": 349} and stock["SCALE-1250"] == {"71263993878": 1250 % 7}
    # full keyset pagination over every item
    seen, after, pages = [], None, 0
    t0 = time.monotonic()
    while True:
        page = data(gql(sim, """query($after: String) { inventoryItems(first: 250, after: $after) {
            nodes { sku } pageInfo { hasNextPage endCursor } } }""", {"after": after}))["inventoryItems"]
        seen += [x["sku"] for x in page["nodes"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    t_pages = time.monotonic() - t0
    assert pages == 21 and len(seen) == len(set(seen)) == n + 3
    # generous bounds (measured ~0.1 s, ~0.05 s, ~0.01 s, ~0.2 s); the O(n^2) versions took seconds
    assert t_create < 3 and t_lookup < 2 and t_set < 1 and t_pages < 4, (t_create, t_lookup, t_set, t_pages)


# ------------------------------------------------------------------------------------------------------------------
# Webhook subscriptions through the Admin API, and the removal after 8 consecutive failed deliveries

SUBS = """
query Subs($after: String) {
  webhookSubscriptions(first: 50, after: $after) {
    nodes { id topic uri format createdAt }
    pageInfo { hasNextPage endCursor }
  }
}"""
SUB_CREATE = """
mutation Sub($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}"""
SUB_DELETE = """
mutation Unsub($id: ID!) {
  webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { field message } }
}"""


def api_subs(sim):
    return data(gql(sim, SUBS))["webhookSubscriptions"]["nodes"]


def test_admin_api_subscriptions_create_list_delete(sim, receiver):
    r = receiver()
    made = data(gql(sim, SUB_CREATE, {"topic": "ORDERS_CREATE", "uri": r.url}))["webhookSubscriptionCreate"]
    assert made["userErrors"] == [] and made["webhookSubscription"]["topic"] == "ORDERS_CREATE"
    assert made["webhookSubscription"]["uri"] == r.url
    again = data(gql(sim, SUB_CREATE, {"topic": "ORDERS_CREATE", "uri": r.url}))["webhookSubscriptionCreate"]
    assert again["webhookSubscription"] is None and "already been taken" in again["userErrors"][0]["message"]
    bad = data(gql(sim, SUB_CREATE, {"topic": "ORDERS_PAID", "uri": "not a url"}))["webhookSubscriptionCreate"]
    assert bad["userErrors"][0]["field"] == ["webhookSubscription", "uri"]
    assert [(s["topic"], s["uri"]) for s in api_subs(sim)] == [("ORDERS_CREATE", r.url)]
    # It delivers, signed with the app's client secret.
    sim_api(sim, "POST", "orders", {})
    assert sim.wait_webhooks(5)
    (h, raw), = r.received
    assert h["x-shopify-topic"] == "orders/create"
    assert h["x-shopify-hmac-sha256"] == sign(raw, shopify_sim.DEFAULT_APP_SECRET)
    gone = data(gql(sim, SUB_DELETE, {"id": made["webhookSubscription"]["id"]}))["webhookSubscriptionDelete"]
    assert gone == {"deletedWebhookSubscriptionId": made["webhookSubscription"]["id"], "userErrors": []}
    assert api_subs(sim) == []
    missing = data(gql(sim, SUB_DELETE, {"id": made["webhookSubscription"]["id"]}))["webhookSubscriptionDelete"]
    assert missing["deletedWebhookSubscriptionId"] is None and missing["userErrors"]
    # uri is a 2025-10 field; older versions know callbackUrl only.
    old = gql(sim, SUBS, version="2025-07")
    assert "errors" in old and "uri" in json.dumps(old["errors"])


def test_an_admin_api_refunds_create_subscription_gets_the_refund(sim, receiver):
    """Order to cash subscribes REFUNDS_CREATE: the emulator accepts the topic and delivers refunds/create (then the
    orders/updated of the same refund goes to orders subscribers only)."""
    r = receiver()
    made = data(gql(sim, SUB_CREATE, {"topic": "REFUNDS_CREATE", "uri": r.url}))["webhookSubscriptionCreate"]
    assert made["userErrors"] == [] and made["webhookSubscription"]["topic"] == "REFUNDS_CREATE"
    order = sim.create_order(financial_status="paid", lines=[{"sku": "ACME-TEE-BLK-M", "quantity": 2,
                                                               "price": "25.00"}])
    refund = sim.create_refund(order["id"], lines=[{"sku": "ACME-TEE-BLK-M", "quantity": 1,
                                                     "restock_type": "no_restock"}])
    assert sim.wait_webhooks(5)
    (h, raw), = r.received
    assert h["x-shopify-topic"] == "refunds/create"
    body = json.loads(raw)
    assert body["id"] == refund["id"] and body["order_id"] == order["id"]


def test_eight_failed_deliveries_in_a_row_remove_an_admin_api_subscription(sim, receiver):
    # Seven failures, then a success: the count starts again.
    r = receiver(statuses=[500] * 7 + [200] + [503] * 8)
    data(gql(sim, SUB_CREATE, {"topic": "ORDERS_CREATE", "uri": r.url}))
    app_specific = receiver(statuses=[500] * 20)
    sim_api(sim, "POST", "webhooks/subscribe", {"topic": "orders/create", "url": app_specific.url, "secret": SECRET})
    for _ in range(8):
        sim_api(sim, "POST", "orders", {})
    assert sim.wait_webhooks(10)
    assert len(api_subs(sim)) == 1
    for i in range(8):
        assert len(api_subs(sim)) == 1, f"removed after {i} failures in a row"
        sim_api(sim, "POST", "orders", {})
        assert sim.wait_webhooks(10)
    assert api_subs(sim) == []
    assert len(r.received) == 16
    removed = [d for d in sim_api(sim, "GET", "webhooks")["deliveries"] if d.get("removed")]
    assert len(removed) == 1 and removed[0]["url"] == r.url
    # The test API's subscription (an app-specific one) is never removed, and no event reaches a removed one.
    assert [s["url"] for s in sim_api(sim, "GET", "webhooks/subscriptions")["subscriptions"]] == [app_specific.url]
    sim_api(sim, "POST", "orders", {})
    assert sim.wait_webhooks(10) and len(r.received) == 16


def test_test_api_removes_a_subscription_as_shopify_would(sim, receiver):
    r = receiver()
    sub = data(gql(sim, SUB_CREATE, {"topic": "ORDERS_PAID", "uri": r.url}))["webhookSubscriptionCreate"]
    rid = sub["webhookSubscription"]["id"].rsplit("/", 1)[1]
    assert sim_api(sim, "POST", "webhooks/remove", {"id": rid}) == {"removed": int(rid)}
    assert api_subs(sim) == []
    sim_api(sim, "POST", "webhooks/remove", {"id": rid}, expect=400)


def test_schema_matches_shopifys_published_one_in_three_places(sim):
    """odoo-real-vs-emulator.md, "Shopify's published Admin GraphQL schema": Count.precision is the enum
    CountPrecision!, FulfillmentInput.originAddress is FulfillmentOriginAddressInput, InventoryItem.locationsCount
    is gone from unstable."""
    import shopify_sim  # the emulator has no introspection: read its type tables
    assert shopify_sim.OBJECTS["Count"]["fields"]["precision"].type == "CountPrecision!"
    assert shopify_sim.ENUMS["CountPrecision"] == ("AT_LEAST", "EXACT")
    assert shopify_sim.INPUTS["FulfillmentInput"]["originAddress"][0] == "FulfillmentOriginAddressInput"
    assert shopify_sim.INPUTS["FulfillmentOriginAddressInput"]["countryCode"][0] == "String!"
    q = 'query { inventoryItem(id: "%s") { locationsCount { count precision } } }' % TEE_ITEM
    assert data(gql(sim, q))["inventoryItem"]["locationsCount"]["precision"] == "EXACT"
    resp = gql(sim, q, version="unstable")
    assert "locationsCount" in json.dumps(resp["errors"]), resp
