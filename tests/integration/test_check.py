"""`synchub check` (src/app/cmd_check.c) probing what each enabled flow will do, against the Odoo and Shopify
emulators: the rights per flow, the chatter note's sender on Odoo 18, the activity type and responsible users,
carrier fields, each mapped location on both sides, the shipping product, the Shopify token and the access scopes
each flow needs; one row per finding with the fix, and nothing written anywhere.
(The order flow's rights rows are also covered by test_odoo_orders.py, the events' by test_events.py.)
With SYNCHUB_TEST_ODOO_URL and the admin credentials set (tests/integration/odoo_real.py) the Odoo is a real one, the
integration user its least-privilege user: what is read from the call log (nothing written) or changed in the
emulator's process (a field's group) stays emulator-only.
"""

import json
import sys

import pytest

from conftest import REPO, SHOP

sys.path.insert(0, str(REPO / "tests" / "sim"))
import shopify_sim  # noqa: E402
from odoo_real import REAL_ODOO, RealOdoo, needs_sim, odoo, odoo_login  # noqa: E402,F401

MAIN = shopify_sim.MAIN_LOCATION
WRITES = {"create", "write", "unlink", "load", "message_post", "activity_schedule", "action_confirm",
          "button_validate", "action_apply_inventory"}


def check_hub(make_synchub, odoo, shopify, locations=f"WH/Stock={MAIN}", **odoo_keys):
    hub = make_synchub("check")
    login, key = odoo_login(odoo)
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username=login, api_key=key, protocol="auto", **odoo_keys)
    hub.set(f"shop {SHOP}", shipping_product="SHIP-STD", admin_token=shopify_sim.DEFAULT_TOKEN, admin_url=shopify.url,
            api_version="2026-10", locations=locations, inventory_interval="1m", fulfillment_interval="1m")
    hub.set("source ups", auth="hmac", secret="s" * 32, responsible="admin")
    hub.write_config()
    return hub


def company_rounding_rows(odoo):
    """The rows that must fail whatever synchub's config: the tax rounding row when the company (read as Odoo's admin)
    rounds globally, which is Odoo 19's default on a real Odoo; the emulator's company rounds per line."""
    rule = odoo.records("res.company", [], ["tax_calculation_rounding_method"], order="id asc",
                        limit=1)[0]["tax_calculation_rounding_method"]
    return set() if rule == "round_per_line" else {"tax rounding matches Shopify"}


def rows_of(hub):
    cp = hub.run("check", "--json")
    doc = json.loads(cp.stdout)
    return cp.returncode, {r["check"]: r for r in doc["checks"]}


def test_check_probes_every_enabled_flow_and_writes_nothing(make_synchub, odoo, shopify):
    hub = check_hub(make_synchub, odoo, shopify)
    odoo_mark = None if REAL_ODOO else len(odoo.calls())   # the emulator's call log: no real counterpart
    rc, rows = rows_of(hub)
    company = company_rounding_rows(odoo)
    assert {name for name, r in rows.items() if not r["ok"]} == company, json.dumps(rows, indent=1)
    assert rc == (1 if company else 0)
    for name in ("right read stock.quant", "right read stock.location", "right read stock.move",
                 "right write stock.picking", "right create mail.activity", "chatter note sender",
                 "activity type To Do", "responsible of ups", "carrier fields", f"location WH/Stock of {SHOP}",
                 f"shipping product of {SHOP}", f"shopify token of {SHOP}", "shopify scope for stock push",
                 "shopify scope for fulfillments", "shopify scope for orders (fresh fetch, reconciliation)",
                 f"shopify location {MAIN}"):
        assert rows[name]["ok"] is True, (name, rows.get(name))
    assert "right read ir.model" not in rows  # the activity is scheduled without it (real Odoo refuses it)
    if odoo_mark is not None:
        assert not [c for c in odoo.calls()[odoo_mark:] if c.get("method") in WRITES]
    assert not shopify.calls(type="mutation")


def test_check_names_what_is_missing_with_the_fix(make_synchub, odoo, shopify):
    hub = check_hub(make_synchub, odoo, shopify, locations=f"WH/Nowhere={MAIN}, WH/Stock=999")
    shopify.access_scopes = [s for s in shopify.access_scopes if s != "write_inventory"]
    rc, rows = rows_of(hub)
    assert rc == 1
    bad = {name: r["detail"] for name, r in rows.items() if not r["ok"]}
    assert set(bad) == {f"location WH/Nowhere of {SHOP}", "shopify scope for stock push",
                        "shopify location 999"} | company_rounding_rows(odoo), bad
    assert "no Odoo stock location \"WH/Nowhere\"" in bad[f"location WH/Nowhere of {SHOP}"]
    assert "write_inventory" in bad["shopify scope for stock push"]
    assert "Shopify has no location 999" in bad["shopify location 999"]


def test_check_chatter_sender_on_odoo_18_without_email(make_synchub, odoo, shopify):
    """The integration user has no e-mail (the emulator's as the real lab's): Odoo 18 then needs note_sender. The
    e-mail is given to the user's partner as Odoo's admin (and taken back on a real Odoo)."""
    hub = check_hub(make_synchub, odoo, shopify, note_sender="user")
    rc, rows = rows_of(hub)
    if odoo.version >= 19:   # a real Odoo 19: its message_post needs no sender address
        assert rows["chatter note sender"]["ok"] is True, rows["chatter note sender"]
        return
    assert rc == 1 and rows["chatter note sender"]["ok"] is False
    assert "note_sender" in rows["chatter note sender"]["detail"]
    login, _ = odoo_login(odoo)
    partner = odoo.records("res.users", [["login", "=", login]], ["partner_id"])[0]["partner_id"][0]
    odoo.exec("res.partner", "write", [[partner], {"email": "sync@example.com"}])
    try:
        rc, rows = rows_of(hub)
    finally:
        if isinstance(odoo, RealOdoo):
            odoo.exec("res.partner", "write", [[partner], {"email": False}])
    assert rows["chatter note sender"]["ok"] is True, rows["chatter note sender"]


@pytest.mark.parametrize("scopes", [["write_third_party_fulfillment_orders"], []])
def test_check_fulfillment_scope_is_any_of_three(make_synchub, odoo, shopify, scopes):
    hub = check_hub(make_synchub, odoo, shopify)
    shopify.access_scopes = ["read_orders", "write_inventory"] + scopes
    rc, rows = rows_of(hub)
    assert rows["shopify scope for fulfillments"]["ok"] is bool(scopes), rows["shopify scope for fulfillments"]


@needs_sim  # hides a field by changing the emulator's schema in its process
def test_check_names_a_field_the_user_cannot_see(make_synchub, odoo_emulator, shopify):
    """A field of the orders' load() restricted to a group the integration user lacks (Odoo's fields_get leaves it
    out, and the load would fail): named, with the fix. credit_limit (accounting) is not one of them."""
    hub = check_hub(make_synchub, odoo_emulator, shopify)
    rc, rows = rows_of(hub)
    assert rows["fields of res.partner"]["ok"] is True, rows["fields of res.partner"]
    odoo_emulator.schema["res.partner"].fields["phone"].groups = "account_readonly"   # in-process: hide phone
    try:
        rc, rows = rows_of(hub)
    finally:
        odoo_emulator.schema["res.partner"].fields["phone"].groups = None
    assert rc == 1 and rows["fields of res.partner"]["ok"] is False
    assert "phone" in rows["fields of res.partner"]["detail"], rows["fields of res.partner"]
