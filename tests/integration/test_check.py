"""`synchub check` (src/app/cmd_check.c) probing what each enabled flow will do, against the Odoo and Shopify
emulators: the rights per flow, the chatter note's sender on Odoo 18, the activity type and responsible users,
carrier fields, each mapped location on both sides, the shipping product, the Shopify token and the access scopes
each flow needs; one row per finding with the fix, and nothing written anywhere.
(The order flow's rights rows are also covered by test_odoo_orders.py, the events' by test_events.py.)
"""

import json
import sys

import pytest

from conftest import REPO, SHOP

sys.path.insert(0, str(REPO / "tests" / "sim"))
import odoo_sim  # noqa: E402
import shopify_sim  # noqa: E402

MAIN = shopify_sim.MAIN_LOCATION
WRITES = {"create", "write", "unlink", "load", "message_post", "activity_schedule", "action_confirm",
          "button_validate", "action_apply_inventory"}


def check_hub(make_synchub, odoo, shopify, locations=f"WH/Stock={MAIN}", **odoo_keys):
    hub = make_synchub("check")
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username="sync", api_key=odoo_sim.SYNC_API_KEY,
            protocol="auto", **odoo_keys)
    hub.set(f"shop {SHOP}", shipping_product="SHIP-STD", admin_token=shopify_sim.DEFAULT_TOKEN, admin_url=shopify.url,
            api_version="2026-10", locations=locations, inventory_interval="1m", fulfillment_interval="1m")
    hub.set("source ups", auth="hmac", secret="s" * 32, responsible="admin")
    hub.write_config()
    return hub


def rows_of(hub):
    cp = hub.run("check", "--json")
    doc = json.loads(cp.stdout)
    return cp.returncode, {r["check"]: r for r in doc["checks"]}


def test_check_probes_every_enabled_flow_and_writes_nothing(make_synchub, odoo_emulator, shopify):
    hub = check_hub(make_synchub, odoo_emulator, shopify)
    odoo_mark = len(odoo_emulator.calls())
    rc, rows = rows_of(hub)
    assert rc == 0, json.dumps(rows, indent=1)
    for name in ("right read stock.quant", "right read stock.location", "right read stock.move",
                 "right write stock.picking", "right create mail.activity", "chatter note sender",
                 "activity type To Do", "responsible of ups", "carrier fields", f"location WH/Stock of {SHOP}",
                 f"shipping product of {SHOP}", f"shopify token of {SHOP}", "shopify scope for stock push",
                 "shopify scope for fulfillments", "shopify scope for orders (fresh fetch, reconciliation)",
                 f"shopify location {MAIN}"):
        assert rows[name]["ok"] is True, (name, rows.get(name))
    assert "right read ir.model" not in rows  # the activity is scheduled without it (real Odoo refuses it)
    assert not [c for c in odoo_emulator.calls()[odoo_mark:] if c.get("method") in WRITES]
    assert not shopify.calls(type="mutation")


def test_check_names_what_is_missing_with_the_fix(make_synchub, odoo_emulator, shopify):
    hub = check_hub(make_synchub, odoo_emulator, shopify, locations=f"WH/Nowhere={MAIN}, WH/Stock=999")
    shopify.access_scopes = [s for s in shopify.access_scopes if s != "write_inventory"]
    rc, rows = rows_of(hub)
    assert rc == 1
    bad = {name: r["detail"] for name, r in rows.items() if not r["ok"]}
    assert set(bad) == {f"location WH/Nowhere of {SHOP}", "shopify scope for stock push", "shopify location 999"}, bad
    assert "no Odoo stock location \"WH/Nowhere\"" in bad[f"location WH/Nowhere of {SHOP}"]
    assert "write_inventory" in bad["shopify scope for stock push"]
    assert "Shopify has no location 999" in bad["shopify location 999"]


def test_check_chatter_sender_on_odoo_18_without_email(make_synchub, odoo_emulator, shopify):
    """The emulator's integration user has no e-mail, as in the real lab: Odoo 18 then needs note_sender."""
    hub = check_hub(make_synchub, odoo_emulator, shopify, note_sender="user")
    rc, rows = rows_of(hub)
    assert rc == 1 and rows["chatter note sender"]["ok"] is False
    assert "note_sender" in rows["chatter note sender"]["detail"]
    odoo_emulator.exec("res.partner", "write", [[5], {"email": "sync@example.com"}])
    rc, rows = rows_of(hub)
    assert rows["chatter note sender"]["ok"] is True, rows["chatter note sender"]


@pytest.mark.parametrize("scopes", [["write_third_party_fulfillment_orders"], []])
def test_check_fulfillment_scope_is_any_of_three(make_synchub, odoo_emulator, shopify, scopes):
    hub = check_hub(make_synchub, odoo_emulator, shopify)
    shopify.access_scopes = ["read_orders", "write_inventory"] + scopes
    rc, rows = rows_of(hub)
    assert rows["shopify scope for fulfillments"]["ok"] is bool(scopes), rows["shopify scope for fulfillments"]


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
