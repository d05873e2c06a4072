"""Back-pressure (DESIGN "Expected by later work", src/flows/flow_common.c): above [server] pause_bulk_above jobs queued
or waiting to retry, the scheduler enqueues no scheduled reconcile.orders; it says so once in the log and in /metrics
(synchub_scheduler_paused, synchub_scheduler_skipped_total), and once the backlog has drained it runs again from its
cursor, so an order that webhooks missed during the pause still reaches Odoo.

The backlog is made of test.flaky jobs that always fail with a transient error and wait about an hour between
attempts (RETRY counts as backlog, as in /readyz); discarding them drains it.
"""

import re
import sys

import pytest

from conftest import REPO, SHOP, http_request, wait_until

sys.path.insert(0, str(REPO / "tests" / "sim"))
import odoo_sim  # noqa: E402
import shopify_sim  # noqa: E402

FLOW = "reconcile.orders"
PAUSED_LOG = "scheduled reconcile.orders paused"
RESUMED_LOG = "scheduled reconcile.orders resumes"


@pytest.fixture
def odoo(odoo_emulator):
    return odoo_emulator


def metric(hub, name):
    """The value of name{flow="reconcile.orders"} in GET /metrics, None when absent."""
    status, _doc, raw = http_request(hub.port, "GET", "/metrics")
    assert status == 200, raw
    text = raw.decode() if isinstance(raw, bytes) else raw
    m = re.search(r'^%s\{flow="%s"\} (\S+)$' % (re.escape(name), re.escape(FLOW)), text, re.M)
    return float(m.group(1)) if m else None


def reconcile_jobs(hub):
    return hub.jobs(kind=FLOW)


def settled(jobs):
    return all(j["state"] in ("done", "dead", "discarded") for j in jobs)


def in_odoo(odoo, name):
    return bool(odoo.records("sale.order", [["client_order_ref", "=", name]], ["id"]))


def test_scheduled_reconciliation_pauses_above_the_backlog_bound(make_synchub, odoo, shopify):
    hub = make_synchub()
    hub.set("server", workers=2, pause_bulk_above=2)
    hub.set("odoo", url=odoo.url, database=odoo.dbname, username="sync", api_key=odoo_sim.SYNC_API_KEY,
            protocol="auto")
    # Only the reconciliation is scheduled, every second; its first run looks back 1 minute (the seed orders are
    # older), later runs from where the last one started.
    hub.set(f"shop {SHOP}", shipping_product="SHIP-STD", admin_token=shopify_sim.DEFAULT_TOKEN, admin_url=shopify.url,
            api_version="2026-10", inventory_interval=0, fulfillment_interval=0, reconcile_interval="1s",
            reconcile_window="1m")
    for kind in ("shopify.order", FLOW):
        hub.set(f"kind {kind}", max_attempts=20, backoff_base="100ms", backoff_cap="1s")
    hub.set("kind test.flaky", max_attempts=99, backoff_base="1h", backoff_cap="1h")
    hub.write_config()
    hub.start()
    wait_until(lambda: any(j["state"] == "done" for j in reconcile_jobs(hub)), timeout=30,
               msg="the first scheduled reconcile.orders done")
    assert metric(hub, "synchub_scheduler_paused") == 0
    assert PAUSED_LOG not in hub.log_text()

    # A backlog above the bound: four jobs that keep failing (at most one runs at a time per worker).
    flaky = [hub.enqueue("test.flaky", f"backlog-{i}", {"fail_times": 999, "class": "transient"})[1]
             for i in range(4)]
    wait_until(lambda: metric(hub, "synchub_scheduler_paused") == 1, timeout=30, msg="the pause in /metrics")
    assert PAUSED_LOG in hub.log_text()
    # A run enqueued just before the pause may still be on its way; wait for it, then nothing new may come.
    wait_until(lambda: settled(reconcile_jobs(hub)), timeout=30, msg="reconcile.orders jobs settled")
    before = {j["id"] for j in reconcile_jobs(hub)}

    # Webhooks miss an order while paused.
    order = shopify.create_order(emit=False)
    skipped = metric(hub, "synchub_scheduler_skipped_total") or 0
    wait_until(lambda: (metric(hub, "synchub_scheduler_skipped_total") or 0) >= skipped + 3, timeout=30,
               msg="three more held-back scheduler ticks")
    assert {j["id"] for j in reconcile_jobs(hub)} == before, "reconcile.orders was enqueued above the bound"
    assert not in_odoo(odoo, order["name"])
    assert hub.log_text().count(PAUSED_LOG) == 1, hub.log_tail()
    assert RESUMED_LOG not in hub.log_text()

    # The backlog drains: the reconciliation resumes from its cursor and finds the order missed during the pause.
    for job_id in flaky:
        hub.cli("jobs", "discard", job_id)
    wait_until(lambda: metric(hub, "synchub_scheduler_paused") == 0, timeout=30, msg="the resumption in /metrics")
    wait_until(lambda: in_odoo(odoo, order["name"]), timeout=30, msg=f"{order['name']} in Odoo")
    assert len({j["id"] for j in reconcile_jobs(hub)} - before) >= 1
    text = hub.log_text()
    assert text.count(PAUSED_LOG) == 1 and text.count(RESUMED_LOG) == 1, hub.log_tail()
    hub.stop()
