"""A real Odoo (SYNCHUB_TEST_ODOO_URL/_DB/_USER/_KEY, set-up as SYNCHUB_TEST_ODOO_ADMIN_USER/_KEY) behind the part
of the Odoo emulator's surface the integration tests use to make preconditions and look at results: exec (a method
as Odoo's admin, through the external API: creating a delivery, confirming an order, validating it) and records
(search_read as admin). Fault injection, the call log and rights changes have no real counterpart: tests that need
them are marked needs_sim. Not a client of synchub's: synchub itself talks to Odoo only as the integration user.
"""

import json
import os
import random
import secrets
import sys
import urllib.request

import pytest

REAL_ODOO = bool(os.environ.get("SYNCHUB_TEST_ODOO_URL"))
needs_sim = pytest.mark.skipif(REAL_ODOO, reason="needs the Odoo emulator's test API (fault injection, call log, "
                                                 "rights changes or another Odoo version); SYNCHUB_TEST_ODOO_URL "
                                                 "points at a real Odoo")
_rng = random.SystemRandom()


class RealOdooError(Exception):
    def __init__(self, error):
        data = (error or {}).get("data") or {}
        self.name = data.get("name") or ""
        self.message = data.get("message") or (error or {}).get("message") or ""
        super().__init__(f"{self.name}: {self.message}")


class RealOdoo:
    def __init__(self, env=os.environ):
        missing = [v for v in ("SYNCHUB_TEST_ODOO_DB", "SYNCHUB_TEST_ODOO_USER", "SYNCHUB_TEST_ODOO_KEY",
                               "SYNCHUB_TEST_ODOO_ADMIN_USER", "SYNCHUB_TEST_ODOO_ADMIN_KEY") if not env.get(v)]
        if missing:
            pytest.fail(f"SYNCHUB_TEST_ODOO_URL is set but {', '.join(missing)} is not (the admin credentials make "
                        "the tests' preconditions)")
        self.url = env["SYNCHUB_TEST_ODOO_URL"].rstrip("/")
        self.dbname = env["SYNCHUB_TEST_ODOO_DB"]
        self.sync_login, self.sync_key = env["SYNCHUB_TEST_ODOO_USER"], env["SYNCHUB_TEST_ODOO_KEY"]
        self._admin = (env["SYNCHUB_TEST_ODOO_ADMIN_USER"], env["SYNCHUB_TEST_ODOO_ADMIN_KEY"])
        self._uid = None
        self.version = int(str(self.jsonrpc("common", "version")["server_serie"]).split(".")[0])

    def jsonrpc(self, service, method, *args):
        payload = {"jsonrpc": "2.0", "method": "call", "id": _rng.randrange(1 << 30),
                   "params": {"service": service, "method": method, "args": list(args)}}
        req = urllib.request.Request(self.url + "/jsonrpc", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:
            doc = json.loads(resp.read().decode())
        if "error" in doc:
            raise RealOdooError(doc["error"])
        return doc.get("result")

    def exec(self, model, method, args=None, kwargs=None):
        """model.method(*args, **kwargs) as Odoo's admin (kwargs may carry a context)."""
        if self._uid is None:
            self._uid = self.jsonrpc("common", "authenticate", self.dbname, self._admin[0], self._admin[1], {})
            assert self._uid, f"Odoo at {self.url} refused the admin login {self._admin[0]!r}"
        return self.jsonrpc("object", "execute_kw", self.dbname, self._uid, self._admin[1], model, method,
                            list(args or []), dict(kwargs or {}))

    def records(self, model, domain=None, fields=None, order=None, limit=None):
        kw = {"fields": fields or []}
        if order:
            kw["order"] = order
        if limit:
            kw["limit"] = limit
        return self.exec(model, "search_read", [domain or []], kw)


def odoo_login(odoo):
    """(username, api_key) of the integration user synchub logs in as."""
    if isinstance(odoo, RealOdoo):
        return odoo.sync_login, odoo.sync_key
    import odoo_sim
    return "sync", odoo_sim.SYNC_API_KEY


def ref(odoo, xmlid):
    """The id of an external ID (emulator or real)."""
    module, name = xmlid.split(".", 1)
    return odoo.exec("ir.model.data", "check_object_reference", [module, name])[1]


def version_of(odoo):
    return odoo.version


@pytest.fixture
def odoo(request):
    """The Odoo under test: a real one when SYNCHUB_TEST_ODOO_URL is set, else the Odoo 18 emulator (a test module
    uses it by importing it: `from odoo_real import odoo`)."""
    return RealOdoo() if REAL_ODOO else request.getfixturevalue("odoo_emulator")


def ensure_stock(odoo, code, qty):
    """At least qty of product `code` free in the warehouse's stock location, by an inventory count as Odoo's admin
    (stock.quant in inventory mode, then Apply), as a person in Inventory > Physical Inventory would. Earlier runs'
    orders on a real Odoo reserve what they find, and Odoo 19 hands new stock to waiting deliveries at once: the
    count adds 500 more than asked."""
    (prod,) = odoo.records("product.product", [["default_code", "=", code]], ["id"])
    stock = odoo.records("stock.warehouse", [], ["lot_stock_id"], limit=1)[0]["lot_stock_id"][0]
    quants = odoo.records("stock.quant", [["product_id", "=", prod["id"]], ["location_id", "=", stock]],
                          ["quantity", "reserved_quantity"])
    on_hand = sum(q["quantity"] for q in quants)
    if on_hand - sum(q["reserved_quantity"] for q in quants) >= qty:
        return
    qid = odoo.exec("stock.quant", "create", [{"product_id": prod["id"], "location_id": stock,
                                               "inventory_quantity": on_hand + qty + 500}],
                    {"context": {"inventory_mode": True}})
    odoo.exec("stock.quant", "action_apply_inventory", [[qid[0] if isinstance(qid, list) else qid]])


def validate_delivery(odoo, picking_id):
    """Validate a delivery as Odoo's admin (reserve what is there, then Validate), answering the questions a real
    Odoo asks on the way: no backorder (skip_backorder + picking_ids_not_to_backorder) and no text message to the
    customer (skip_sms; stock_sms asks once when the partner has a phone). Fails if it did not end done."""
    odoo.exec("stock.picking", "action_assign", [[picking_id]])
    answer = odoo.exec("stock.picking", "button_validate", [[picking_id]],
                       {"context": {"skip_backorder": True, "skip_sms": True,
                                    "picking_ids_not_to_backorder": [picking_id]}})
    state = odoo.records("stock.picking", [["id", "=", picking_id]], ["state"])[0]["state"]
    assert state == "done", f"the delivery {picking_id} did not validate ({state}); Odoo answered {answer!r}"


@pytest.fixture
def shopify(request):
    """The Shopify emulator with its seed orders (#1042-#1044) under conftest.SHOP, or, on a real Odoo, under a shop
    domain of this test's: a real Odoo keeps earlier runs' orders, and synchub's external IDs and origins are per
    shop, so each test imports its own #1042 (a module takes it by `from odoo_real import shopify`; use_shop puts
    the installation's default shop section under that domain)."""
    from conftest import REPO, SHOP
    sys.path.insert(0, str(REPO / "tests" / "sim"))
    import shopify_sim
    shop = f"acme-rt-{secrets.token_hex(4)}.myshopify.com" if REAL_ODOO else SHOP
    sim = shopify_sim.ShopifySim(port=0, orders=True, shop=shop)
    sim.start()
    request.addfinalizer(sim.stop)
    return sim


def use_shop(hub, shopify):
    """The default config's shop section (its webhook secret) under the shop domain of `shopify`."""
    from conftest import SHOP
    if shopify.shop != SHOP:
        hub.sections[f"shop {shopify.shop}"] = hub.sections.pop(f"shop {SHOP}")
    return hub


def set_stock(odoo, changes, create_products=False, location=None):
    """Absolute on-hand quantities as Odoo's admin sets them (stock.quant in inventory mode with
    inventory_quantity_auto_apply: the count and its Apply in one transaction, as editing On Hand does; a count
    and a separate Apply would show a new quant at 0 in between, which stock.poll may push). changes:
    [{default_code, quantity, location_id (default: location, else WH/Stock)}]; create_products makes a storable
    product for a code no product has. The emulator does the same through its test API in one transaction; a real
    Odoo gets it in batches of 500 (a product code several products carry: the first one)."""
    if not isinstance(odoo, RealOdoo):
        return odoo.set_stock([dict({"location_id": location} if location else {}, **c) for c in changes],
                              create_products=create_products)
    if location is None:
        location = odoo.records("stock.warehouse", [], ["lot_stock_id"], limit=1)[0]["lot_stock_id"][0]
    codes = sorted({c["default_code"] for c in changes})
    ids = {}
    for i in range(0, len(codes), 1000):
        for p in odoo.records("product.product", [["default_code", "in", codes[i:i + 1000]]], ["default_code"],
                              order="id asc"):
            ids.setdefault(p["default_code"], p["id"])
    missing = [c for c in codes if c not in ids]
    if missing and not create_products:
        pytest.fail(f"no product with the Internal Reference {missing[:5]} in Odoo")
    for i in range(0, len(missing), 500):
        chunk = missing[i:i + 500]
        made = odoo.exec("product.product", "create", [[{"name": c, "default_code": c, "type": "consu",
                                                          "is_storable": True} for c in chunk]])
        ids.update(zip(chunk, made if isinstance(made, list) else [made]))
    for i in range(0, len(changes), 500):
        vals = [{"product_id": ids[c["default_code"]], "location_id": c.get("location_id") or location,
                 "inventory_quantity_auto_apply": c["quantity"]} for c in changes[i:i + 500]]
        odoo.exec("stock.quant", "create", [vals], {"context": {"inventory_mode": True}})
