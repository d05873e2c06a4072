"""Integration tests of order to cash (src/odoo/odoo_cash.c): a paid Shopify order becomes one posted Odoo invoice
of the order's total with one registered payment per Shopify transaction, exactly once.

By default Odoo is the emulator (tests/sim/odoo_sim.py, Odoo 18, taxes off so that the sale order books Shopify's
untaxed Oregon order to the cent, and the integration user in the Invoicing group). With SYNCHUB_TEST_ODOO_* set
(see test_odoo_orders.py) the tests that need no emulator powers run against that real Odoo; its `sync` user must
be in Invoicing / Invoicing (account.group_account_invoice) with an e-mail address, and until the money-exact
orders (issue 16) are merged the products must carry no sales tax there, or the sale order's total is not
Shopify's and the invoice stays partly paid.
"""

import json
import os
import secrets
import sys

import pytest

from conftest import REPO, SHOP
from odoo_real import ensure_stock
from test_odoo_orders import (REAL_ODOO, OdooTarget, assert_one_order, job_error, make_order, needs_sim, new_id,
                              odoo_hub, send)

sys.path.insert(0, str(REPO / "tests" / "sim"))
import odoo_sim  # noqa: E402
import shopify_sim  # noqa: E402


@pytest.fixture
def odoo(request):
    if REAL_ODOO:
        env = os.environ
        return OdooTarget(env["SYNCHUB_TEST_ODOO_URL"], env["SYNCHUB_TEST_ODOO_DB"], env["SYNCHUB_TEST_ODOO_USER"],
                          env["SYNCHUB_TEST_ODOO_KEY"], admin_user=env.get("SYNCHUB_TEST_ODOO_ADMIN_USER"),
                          admin_key=env.get("SYNCHUB_TEST_ODOO_ADMIN_KEY"))
    sim = odoo_sim.OdooSim(port=0, version=18, tax_rate=0.0)
    sim.start()
    request.addfinalizer(sim.stop)
    sim.set_groups("sync", add=[odoo_sim.INVOICING_GROUP])
    target = OdooTarget(sim.url, sim.dbname, "sync", odoo_sim.SYNC_API_KEY, sim=sim, admin_user="admin",
                        admin_key=odoo_sim.ADMIN_API_KEY, version=18)
    # The emulator's integration user has no e-mail, as in the real lab; order to cash on 18 needs one (the payment
    # that settles an invoice posts a message as the user: REAL-ANSWERS-invoicing.md), as OPERATIONS.md says.
    target.sim_exec("res.partner", "write", [[SYNC_PARTNER_ID], {"email": "sync@example.com"}])
    return target


SYNC_PARTNER_ID = 5  # the emulator's `sync` user's partner


def cash_hub(make_synchub, odoo, name="synchub", **shop):
    hub = odoo_hub(make_synchub, odoo, name=name, max_attempts=3)
    keys = {"invoice_on": "paid", "payment_journals": "shopify_payments=BNK1, *=BNK1"}
    keys.update(shop)
    hub.set(f"shop {SHOP}", **keys)
    hub.write_config()
    return hub


def invoices(odoo, sale_order_id):
    """The sale order's customer invoices (not credit notes), with their money."""
    ids = odoo.execute("sale.order", "read", [sale_order_id], fields=["invoice_ids"])[0]["invoice_ids"]
    moves = odoo.execute("account.move", "read", ids, fields=["move_type", "state", "name", "amount_total",
                                                              "payment_state", "payment_reference"]) if ids else []
    return [m for m in moves if m["move_type"] == "out_invoice"]


def payments(odoo, memo_like):
    return odoo.execute("account.payment", "search_read", [["memo", "ilike", memo_like]],
                        fields=["name", "memo", "amount", "journal_id", "payment_type", "reconciled_invoice_ids"])


def shopify_order(shopify, financial_status="paid"):
    """A new order in the Shopify emulator with fresh ids (its line and shipping ids too: they name Odoo records):
    2 tees at 24.00, a mug at 12.50, shipping 7.99, untaxed -> 68.49."""
    doc = shopify.create_order(id=new_id(), financial_status=financial_status, emit=False,
                               lines=[[new_id(), "ACME-TEE-BLK-M", 2], [new_id(), "ACME-MUG-350", 1]],
                               shipping_line_id=new_id())
    return doc


def make_journal(odoo, name, code):
    if odoo.execute("account.journal", "search_read", [["code", "=", code]], fields=["id"]):
        return
    if odoo.is_sim:
        odoo.sim_exec("account.journal", "create", [{"name": name, "code": code, "type": "bank"}])
    else:
        odoo.execute("account.journal", "create", {"name": name, "code": code, "type": "bank"}, admin=True)


def dead_with(hub, job_id, code):
    """The job ends dead as configuration / code, retry-safe, naming its order; returns the error."""
    job = hub.wait_state(job_id, ("dead", "done"), timeout=60)
    assert job["state"] == "dead", job
    err = job_error(job)
    assert (err["class"], err["code"], err["retry_safe"]) == ("configuration", code, True), err
    return err


def retried_done(hub, job_id):
    """`jobs retry` after the fix: the job completes."""
    hub.cli("jobs", "retry", job_id)
    assert hub.wait_state(job_id, ("done", "dead"), timeout=60)["state"] == "done"


def order_total(odoo, sale_order_id):
    return odoo.execute("sale.order", "read", [sale_order_id], fields=["amount_total"])[0]["amount_total"]


def test_paid_order_gets_one_posted_invoice_and_one_payment_replays_and_wiped_store_change_nothing(
        make_synchub, odoo):
    """invoice_on = paid: the paid order ends with one posted invoice of the order's total (86.49, Shopify's
    total_price) and one inbound payment in BNK1 whose memo carries the order; the invoice is paid. The same
    webhook three more times, and once into a wiped store, change nothing."""
    hub = cash_hub(make_synchub, odoo).start()
    doc = make_order(financial_status="paid")
    job = send(hub, doc, topic="orders/paid")
    done = hub.wait_state(job, ("done", "dead"), timeout=60)
    assert done["state"] == "done", job_error(done)
    so = assert_one_order(odoo, doc)
    assert order_total(odoo, so) == float(doc["total_price"]), \
        "the sale order does not book Shopify's total (taxes on the products? see the module doc)"
    (inv,) = invoices(odoo, so)
    assert (inv["state"], inv["payment_state"], inv["amount_total"]) == ("posted", "paid", 86.49), inv
    assert inv["payment_reference"] == f"shopify order {doc['id']}", inv
    (pay,) = payments(odoo, f"shopify order {doc['id']} txn total")
    assert (pay["amount"], pay["payment_type"], pay["reconciled_invoice_ids"]) == (86.49, "inbound", [inv["id"]])
    assert pay["journal_id"][1] == "Bank", pay

    for i in range(3):
        j = send(hub, doc, topic="orders/paid", event_id=f"evt-replay-{i}-{secrets.token_hex(4)}")
        assert hub.wait_state(j, ("done", "dead"), timeout=60)["state"] == "done"
    hub.stop()
    fresh = cash_hub(make_synchub, odoo, name="wiped").start()
    j = send(fresh, doc, topic="orders/updated")
    assert fresh.wait_state(j, ("done", "dead"), timeout=60)["state"] == "done"
    assert assert_one_order(odoo, doc) == so
    assert [i["id"] for i in invoices(odoo, so)] == [inv["id"]], "a replay made a second invoice"
    assert len(payments(odoo, f"shopify order {doc['id']} txn total")) == 1, "a replay registered a second payment"
    assert invoices(odoo, so)[0]["payment_state"] == "paid"


def test_invoice_on_never_and_unpaid_orders_make_no_invoice(make_synchub, odoo):
    hub = cash_hub(make_synchub, odoo, invoice_on="never").start()
    doc = make_order(financial_status="paid")
    assert hub.wait_state(send(hub, doc), ("done", "dead"), timeout=60)["state"] == "done"
    assert invoices(odoo, assert_one_order(odoo, doc)) == []


@needs_sim
def test_closed_period_is_a_dead_configuration_job_and_the_retry_posts_once(make_synchub, odoo):
    """A sales lock date covering today: the invoice is made but stays draft, the job is dead as configuration
    (odoo.period_closed) naming the order, retry-safe, with a hint; once the period is open `jobs retry` posts it
    and registers the payment, once."""
    odoo.sim_exec("res.company", "write", [[1], {"sale_lock_date": "2099-12-31"}])
    hub = cash_hub(make_synchub, odoo).start()
    doc = make_order(financial_status="paid")
    job_id = send(hub, doc, topic="orders/paid")
    err = dead_with(hub, job_id, "odoo.period_closed")
    assert "Sales Lock Date" in err["message"] and str(doc["id"]) in err["record"], err
    assert "Lock Dates" in err["hint"], err
    so = assert_one_order(odoo, doc)
    assert [i["state"] for i in invoices(odoo, so)] == ["draft"]

    odoo.sim_exec("res.company", "write", [[1], {"sale_lock_date": False}])
    retried_done(hub, job_id)
    (inv,) = invoices(odoo, so)
    assert (inv["state"], inv["payment_state"]) == ("posted", "paid"), inv
    assert len(payments(odoo, f"shopify order {doc['id']} txn total")) == 1


@needs_sim
def test_missing_journal_is_a_dead_configuration_job_and_the_retry_pays_once(make_synchub, odoo):
    """The gateway maps to a journal code Odoo does not have: dead, configuration / payment.journal_missing naming
    the code and the gateway; the invoice is posted and unpaid. After the journal exists, the retry pays it once."""
    hub = cash_hub(make_synchub, odoo, payment_journals="shopify_payments=SHOP1").start()
    doc = make_order(financial_status="paid")
    job_id = send(hub, doc, topic="orders/paid")
    err = dead_with(hub, job_id, "payment.journal_missing")
    assert "SHOP1" in err["message"] and "shopify_payments" in err["message"], err
    so = assert_one_order(odoo, doc)
    (inv,) = invoices(odoo, so)
    assert (inv["state"], inv["payment_state"]) == ("posted", "not_paid"), inv

    odoo.sim_exec("account.journal", "create", [{"name": "Shopify Payments", "code": "SHOP1", "type": "bank"}])
    retried_done(hub, job_id)
    (pay,) = payments(odoo, f"shopify order {doc['id']} txn total")
    assert pay["journal_id"][1] == "Shopify Payments", pay
    assert invoices(odoo, so)[0]["payment_state"] == "paid"


@needs_sim
def test_missing_invoicing_rights_is_a_dead_configuration_job_and_the_retry_completes_once(make_synchub, odoo):
    """Without Invoicing / Invoicing the draft invoice is made (Sales may) but not changed: dead, configuration /
    odoo.access_error naming the group; after the group is given, the retry posts and pays the same invoice."""
    odoo.sim.set_groups("sync", remove=[odoo_sim.INVOICING_GROUP])
    hub = cash_hub(make_synchub, odoo).start()
    doc = make_order(financial_status="paid")
    job_id = send(hub, doc, topic="orders/paid")
    err = dead_with(hub, job_id, "odoo.access_error")
    assert "Invoicing/Invoicing" in err["message"] + err["hint"], err
    so = assert_one_order(odoo, doc)
    draft = invoices(odoo, so)
    assert [i["state"] for i in draft] == ["draft"]

    odoo.sim.set_groups("sync", add=[odoo_sim.INVOICING_GROUP])
    retried_done(hub, job_id)
    (inv,) = invoices(odoo, so)
    assert inv["id"] == draft[0]["id"] and (inv["state"], inv["payment_state"]) == ("posted", "paid"), inv


def test_split_payment_from_shopify_transactions_goes_to_the_mapped_journals(make_synchub, odoo, shopify):
    """With an admin token the order's transactions are read from Shopify: a gift card and a PayPal sale become two
    payments, each in its gateway's journal, with the transaction id in the memo; the invoice is paid."""
    make_journal(odoo, "Gift cards", "GIFT")
    make_journal(odoo, "PayPal", "PAYPL")
    hub = cash_hub(make_synchub, odoo, admin_token=shopify_sim.DEFAULT_TOKEN, admin_url=shopify.url,
                   api_version="2026-10", inventory_interval="0", fulfillment_interval="0", reconcile_interval="0",
                   payment_journals="shopify_payments=BNK1, paypal=PAYPL, gift_card=GIFT")
    hub.start()
    doc = shopify_order(shopify)
    txns = shopify.set_transactions(doc["id"], [{"kind": "sale", "gateway": "gift_card", "amount": "20.00"},
                                                {"kind": "sale", "gateway": "paypal", "amount": "48.49"}])
    job = send(hub, shopify.order(doc["id"]), topic="orders/paid")
    done = hub.wait_state(job, ("done", "dead"), timeout=60)
    assert done["state"] == "done", job_error(done)
    so = odoo.xmlid(f"shopify_acme_outfitters_order_{doc['id']}")
    (inv,) = invoices(odoo, so)
    assert (inv["state"], inv["payment_state"], inv["amount_total"]) == ("posted", "paid", 68.49), inv
    got = sorted((p["memo"], p["amount"], p["journal_id"][1]) for p in payments(odoo, f"shopify order {doc['id']} "))
    assert got == sorted([(f"shopify order {doc['id']} txn {txns[0]['id']}", 20.0, "Gift cards"),
                          (f"shopify order {doc['id']} txn {txns[1]['id']}", 48.49, "PayPal")]), got

def test_partial_refund_with_return_is_one_credit_note_one_refund_payment_one_return_exactly_once(
        make_synchub, odoo, shopify):
    """A paid order (68.49) invoiced; the delivery is done in Odoo; Shopify refunds one tee with restock 'return'
    and the shipping (31.99). refunds/create -> one posted credit note of exactly 31.99 (the tee and the shipping),
    one outbound payment with the refund transaction in its memo (the credit note paid), one validated return
    receipt of one tee (stock back). The webhook three more times and a wiped store change nothing."""
    hub = cash_hub(make_synchub, odoo, admin_token=shopify_sim.DEFAULT_TOKEN, admin_url=shopify.url,
                   api_version="2026-10", inventory_interval="0", fulfillment_interval="0", reconcile_interval="0")
    hub.start()
    ensure_stock(odoo, "ACME-TEE-BLK-M", 10)
    ensure_stock(odoo, "ACME-MUG-350", 10)
    order_id = shopify_order(shopify)["id"]
    j = send(hub, shopify.order(order_id), topic="orders/paid")
    assert hub.wait_state(j, ("done", "dead"), timeout=60)["state"] == "done"
    so = odoo.xmlid(f"shopify_acme_outfitters_order_{order_id}")
    (inv,) = invoices(odoo, so)
    assert (inv["state"], inv["payment_state"]) == ("posted", "paid"), inv
    pick = odoo.execute("stock.picking", "search_read", [["sale_id", "=", so], ["picking_type_code", "=", "outgoing"]],
                        fields=["id", "name"])[0]
    # skip_sms: a real Odoo asks once whether to text the customer (stock_sms) when the partner has a phone
    odoo.execute("stock.picking", "button_validate", [pick["id"]], context={"skip_backorder": True, "skip_sms": True})
    tee = odoo.execute("product.product", "search_read", [["default_code", "=", "ACME-TEE-BLK-M"]],
                       fields=["qty_available"])[0]

    refund = shopify.create_refund(order_id, lines=[{"sku": "ACME-TEE-BLK-M", "quantity": 1, "restock_type": "return"}],
                                   shipping=True, note="too small")
    (rtxn,) = refund["transactions"]
    assert rtxn["amount"] == "31.99"
    for i in range(4):
        j = send(hub, refund, topic="refunds/create", event_id=f"evt-refund-{i}-{secrets.token_hex(3)}")
        done = hub.wait_state(j, ("done", "dead"), timeout=60)
        assert done["state"] == "done", job_error(done)
    hub.stop()
    fresh = cash_hub(make_synchub, odoo, name="wiped", admin_token=shopify_sim.DEFAULT_TOKEN, admin_url=shopify.url,
                     api_version="2026-10", inventory_interval="0", fulfillment_interval="0", reconcile_interval="0")
    fresh.start()
    j = send(fresh, refund, topic="refunds/create")
    assert fresh.wait_state(j, ("done", "dead"), timeout=60)["state"] == "done"

    moves = odoo.execute("account.move", "search_read", [["move_type", "=", "out_refund"],
                                                          ["reversed_entry_id", "=", inv["id"]]],
                         fields=["state", "amount_total", "payment_state", "ref"])
    assert len(moves) == 1, moves
    cn = moves[0]
    assert (cn["state"], cn["amount_total"], cn["payment_state"]) == ("posted", 31.99, "paid"), cn
    assert f"shopify refund {refund['id']}" in cn["ref"], cn
    (out,) = payments(odoo, f"shopify order {order_id} txn {rtxn['id']}")
    assert (out["amount"], out["payment_type"], out["reconciled_invoice_ids"]) == (31.99, "outbound", [cn["id"]])
    rets = odoo.execute("stock.picking", "search_read", [["return_id", "=", pick["id"]]], fields=["state", "origin"])
    assert len(rets) == 1 and rets[0]["state"] == "done", rets
    assert f"shopify refund {refund['id']}" in rets[0]["origin"], rets
    after = odoo.execute("product.product", "search_read", [["default_code", "=", "ACME-TEE-BLK-M"]],
                         fields=["qty_available"])[0]
    assert after["qty_available"] == tee["qty_available"] + 1
    assert len(invoices(odoo, so)) == 1, "the refund must not make a second invoice"
    # the trace tells it: invoice, payments, credit note, return
    t = hub.cli_json("trace", SHOP, "order", str(order_id), "--json")
    actions = [e.get("action") for e in t["odoo"]]
    for want in ("invoice created", "invoice posted", "payment registered", "credit note created",
                 "credit note posted", "return created", "return received"):
        assert want in actions, (want, actions)


def check_json(hub):
    cp = hub.run("check", "--json")
    doc = json.loads(cp.stdout)
    return cp.returncode, {c["check"]: (c["ok"], c["detail"]) for c in doc["checks"]}


def test_check_verifies_the_invoicing_rights_the_user_email_and_the_mapped_journals(make_synchub, odoo):
    """invoice_on set: `synchub check` verifies the rights of order to cash and every mapped journal; all ok with
    Invoicing / Invoicing and BNK1."""
    hub = cash_hub(make_synchub, odoo)
    rc, rows = check_json(hub)
    # other flows' rows may fail on a real Odoo (e.g. 19's default tax rounding for money-exact orders): only ours
    assert rc == 0 or "tax rounding matches Shopify" in {k for k, v in rows.items() if not v[0]}, rows
    for want in ("right write account.move", "right create account.payment.register",
                 "right create account.move.reversal", "right create stock.return.picking",
                 f"journal BNK1 of {SHOP}"):
        assert rows.get(want, (False,))[0] is True, (want, rows)


@needs_sim
def test_check_fails_naming_the_missing_group_and_journal(make_synchub, odoo):
    odoo.sim.set_groups("sync", remove=[odoo_sim.INVOICING_GROUP])
    odoo.sim_exec("res.partner", "write", [[SYNC_PARTNER_ID], {"email": False}])
    hub = cash_hub(make_synchub, odoo, payment_journals="shopify_payments=BNK1, paypal=PAYPL")
    rc, rows = check_json(hub)
    assert rc == 1
    failed = sorted(k for k, (ok, _) in rows.items() if not ok)
    assert failed == sorted(["right write account.move", "right create account.payment.register",
                             "right create account.move.reversal", "integration user e-mail",
                             f"journal PAYPL of {SHOP}"]), rows
    assert "Invoicing / Invoicing" in rows["right write account.move"][1]


def test_cancelling_an_invoiced_order_credits_its_invoice_once(make_synchub, odoo):
    """Odoo cancels a sale order and leaves its posted invoice (recorded): synchub credits what no credit note
    covers yet with one posted credit note; the cancellation again and a wiped store add nothing."""
    hub = cash_hub(make_synchub, odoo).start()
    doc = make_order(financial_status="paid")
    assert hub.wait_state(send(hub, doc, topic="orders/paid"), ("done", "dead"), timeout=60)["state"] == "done"
    so = assert_one_order(odoo, doc)
    (inv,) = invoices(odoo, so)
    cancelled = dict(doc, cancelled_at="2026-11-21T15:00:00-05:00", cancel_reason="customer",
                     financial_status="refunded", updated_at="2026-11-21T15:00:00-05:00")
    for i in range(2):
        j = send(hub, cancelled, topic="orders/cancelled", event_id=f"evt-cancel-{i}-{secrets.token_hex(3)}")
        done = hub.wait_state(j, ("done", "dead"), timeout=60)
        assert done["state"] == "done", job_error(done)
    hub.stop()
    fresh = cash_hub(make_synchub, odoo, name="wiped").start()
    j = send(fresh, cancelled, topic="orders/cancelled")
    assert fresh.wait_state(j, ("done", "dead"), timeout=60)["state"] == "done"
    assert odoo.execute("sale.order", "read", [so], fields=["state"])[0]["state"] == "cancel"
    notes = odoo.execute("account.move", "search_read", [["move_type", "=", "out_refund"],
                                                          ["reversed_entry_id", "=", inv["id"]]],
                         fields=["state", "amount_total", "ref"])
    assert len(notes) == 1, notes
    assert (notes[0]["state"], notes[0]["amount_total"]) == ("posted", inv["amount_total"]), notes
    assert f"shopify cancel of order {doc['id']}" in notes[0]["ref"], notes


def test_a_high_risk_order_is_held_and_later_webhooks_do_not_decide_for_a_person(make_synchub, odoo, shopify):
    """hold_risk = high: an order Shopify rates high risk is written but stays a quotation, with one To Do activity
    on it; a later paid and a cancelled webhook change nothing (the job says so)."""
    hub = cash_hub(make_synchub, odoo, hold_risk="high", admin_token=shopify_sim.DEFAULT_TOKEN,
                   admin_url=shopify.url, api_version="2026-10", inventory_interval="0", fulfillment_interval="0",
                   reconcile_interval="0")
    hub.start()
    doc = shopify_order(shopify)
    shopify.set_risk(doc["id"], "high")
    done = hub.wait_state(send(hub, shopify.order(doc["id"]), topic="orders/create"), ("done", "dead"), timeout=60)
    assert done["state"] == "done", job_error(done)
    so = odoo.xmlid(f"shopify_acme_outfitters_order_{doc['id']}")
    assert odoo.execute("sale.order", "read", [so], fields=["state"])[0]["state"] == "draft"
    acts = odoo.execute("mail.activity", "search_read", [["res_model", "=", "sale.order"], ["res_id", "=", so]],
                        fields=["summary", "note"])
    assert len(acts) == 1 and "risk" in acts[0]["summary"].lower(), acts

    for topic in ("orders/paid", "orders/updated"):
        j = send(hub, shopify.order(doc["id"]), topic=topic)
        job = hub.wait_state(j, ("done", "dead"), timeout=60)
        assert job["state"] == "done" and "held for risk" in (job.get("history") or [{}])[-1].get("note", ""), job
    shopify.update_order(doc["id"], cancel={"reason": "fraud"})
    j = send(hub, shopify.order(doc["id"]), topic="orders/cancelled")
    assert hub.wait_state(j, ("done", "dead"), timeout=60)["state"] == "done"
    assert odoo.execute("sale.order", "read", [so], fields=["state"])[0]["state"] == "draft", \
        "a cancellation webhook decided for the person"
    assert len(odoo.execute("mail.activity", "search_read", [["res_model", "=", "sale.order"], ["res_id", "=", so]],
                            fields=["id"])) == 1
    assert invoices(odoo, so) == []


def test_a_held_order_confirmed_by_a_person_is_invoiced_by_the_next_webhook(make_synchub, odoo, shopify):
    hub = cash_hub(make_synchub, odoo, hold_risk="medium", admin_token=shopify_sim.DEFAULT_TOKEN,
                   admin_url=shopify.url, api_version="2026-10", inventory_interval="0", fulfillment_interval="0",
                   reconcile_interval="0")
    hub.start()
    doc = shopify_order(shopify)
    shopify.set_risk(doc["id"], "medium")
    assert hub.wait_state(send(hub, shopify.order(doc["id"]), topic="orders/paid"), ("done", "dead"),
                          timeout=60)["state"] == "done"
    so = odoo.xmlid(f"shopify_acme_outfitters_order_{doc['id']}")
    assert odoo.execute("sale.order", "read", [so], fields=["state"])[0]["state"] == "draft"
    odoo.execute("sale.order", "action_confirm", [so])  # the person's decision, in Odoo
    j = send(hub, shopify.order(doc["id"]), topic="orders/updated")
    assert hub.wait_state(j, ("done", "dead"), timeout=60)["state"] == "done"
    (inv,) = invoices(odoo, so)
    assert (inv["state"], inv["payment_state"]) == ("posted", "paid"), inv


def test_a_cancel_refund_of_an_uninvoiced_order_lowers_the_sale_order_and_releases_the_reservation(
        make_synchub, odoo, shopify):
    """invoice_on = fulfilled, the order paid but not fulfilled (so not invoiced): Shopify refunds one of the two
    tees with restock 'cancel'. The sale order's tee line follows Shopify's current quantity (1), so its delivery
    asks for and reserves one tee; no credit note (there is no invoice). Replays and a wiped store change nothing."""
    keys = dict(invoice_on="fulfilled", admin_token=shopify_sim.DEFAULT_TOKEN, admin_url=shopify.url,
                api_version="2026-10", inventory_interval="0", fulfillment_interval="0", reconcile_interval="0")
    hub = cash_hub(make_synchub, odoo, **keys).start()
    ensure_stock(odoo, "ACME-TEE-BLK-M", 10)
    doc = shopify_order(shopify)
    assert hub.wait_state(send(hub, shopify.order(doc["id"]), topic="orders/paid"), ("done", "dead"),
                          timeout=60)["state"] == "done"
    so = odoo.xmlid(f"shopify_acme_outfitters_order_{doc['id']}")
    refund = shopify.create_refund(doc["id"], lines=[{"sku": "ACME-TEE-BLK-M", "quantity": 1,
                                                      "restock_type": "cancel"}])
    for i in range(3):
        j = send(hub, refund, topic="refunds/create", event_id=f"evt-cancel-refund-{i}-{secrets.token_hex(3)}")
        done = hub.wait_state(j, ("done", "dead"), timeout=60)
        assert done["state"] == "done", job_error(done)
    hub.stop()
    fresh = cash_hub(make_synchub, odoo, name="wiped", **keys).start()
    assert fresh.wait_state(send(fresh, refund, topic="refunds/create"), ("done", "dead"),
                            timeout=60)["state"] == "done"
    (tee,) = odoo.execute("sale.order.line", "search_read", [["order_id", "=", so],
                                                             ["product_id.default_code", "=", "ACME-TEE-BLK-M"]],
                          fields=["product_uom_qty"])
    assert tee["product_uom_qty"] == 1.0, tee
    moves = odoo.execute("stock.move", "search_read", [["sale_line_id", "=", tee["id"]], ["state", "!=", "cancel"]],
                         fields=["product_uom_qty", "quantity"])
    assert [(m["product_uom_qty"], m["quantity"]) for m in moves] == [(1.0, 1.0)], moves
    assert invoices(odoo, so) == []
