"""The circuit breaker (docs/OPERATIONS.md "Maintenance windows", src/queue/queue_breaker.c): an Odoo that stops
answering during a burst of orders must not spend the orders' retry budget.

Odoo 18 (the emulator) refuses connections for SYNCHUB_TEST_BREAKER_DOWN_S seconds (default 30; the issue's
maintenance window is 300) while order webhooks keep arriving, with the real retry policy of shopify.order (12
attempts, backoff from 2 s). Every webhook is acknowledged; while Odoo is down /metrics, `synchub status` and the
/readyz body (still 200: ingestion works) name the paused target; no job spends more than 3 attempts, none goes
dead, and every order is in Odoo exactly once within 30 s of Odoo answering again.
"""

import json
import os
import secrets
import threading
import time
from collections import Counter

import pytest

from conftest import http_request, pg_schema_url, wait_until
from test_metrics import scrape, value
from test_odoo_orders import SHIPPING_CODE, SHOP, _start_sim, make_order, needs_sim, new_id

DOWN_S = float(os.environ.get("SYNCHUB_TEST_BREAKER_DOWN_S", "30"))
BACK_WITHIN_S = 30     # the bound: everything done this long after Odoo answers again
MAX_ATTEMPTS_SEEN = 3  # the bound on any job's attempts


@pytest.fixture
def odoo(request):
    return _start_sim(18, request)


def breaker_hub(make_synchub, odoo, name="synchub", pg_url=None):
    """synchub on the emulator with shopify.order's built-in policy (no [kind] override) and 4 workers."""
    hub = make_synchub(name)
    if pg_url:
        hub.use_postgres(pg_url)
    hub.set("server", workers=4)
    hub.set(f"shop {SHOP}", shipping_product=SHIPPING_CODE)
    hub.set("odoo", url=odoo.url, database=odoo.db, username=odoo.user, api_key=odoo.key, protocol="auto")
    hub.write_config()
    return hub


def odoo_up(odoo):
    try:
        odoo.sim_api("GET", "/__sim__/health")
        return True
    except Exception:  # refused while the emulator does not listen
        return False


@needs_sim
def test_odoo_down_during_a_burst_pauses_its_jobs_without_spending_attempts(make_synchub, odoo):
    hub = breaker_hub(make_synchub, odoo).start()
    burst_during_outage([hub], odoo)


@needs_sim
def test_two_nodes_on_postgres_each_pause_and_resume(make_synchub, odoo):
    """The same on a shared PostgreSQL store with two nodes: each has its own breakers and probes, pauses what its
    workers claimed and resumes it (waking the other node's workers too); the published state reaches the CLI."""
    url = pg_schema_url("breaker")
    nodes = [breaker_hub(make_synchub, odoo, name=f"node{i}", pg_url=url).start() for i in range(2)]
    burst_during_outage(nodes, odoo)


def burst_during_outage(nodes, odoo, n_before=30, n_during=70):
    """Webhooks to nodes[0]; Odoo refuses connections for DOWN_S mid-burst; every node works the queue."""
    hub = nodes[0]
    customer_id, email = new_id(), f"breaker+{secrets.token_hex(4)}@example.com"
    docs = [make_order(customer_id=customer_id, email=email) for _ in range(n_before + n_during)]
    target = f"odoo:{odoo.db}@{odoo.url.split('://', 1)[1].rstrip('/')}"
    labels = {"system": "odoo", "target": target}

    def deliver(doc):
        status, body = hub.post_webhook(json.dumps(doc).encode(), topic="orders/create", event_id=f"evt-{doc['id']}")
        assert status == 200 and body.get("status") == "stored", (doc["id"], status, body)
        return body["job"]

    job_ids = [deliver(d) for d in docs[:n_before]]
    # Odoo stops listening mid-burst (a maintenance window: connection refused), and orders keep coming.
    odoo.sim_fault(mode="refuse", duration_ms=int(DOWN_S * 1000))
    down_at = time.monotonic()
    time.sleep(0.3)
    assert not odoo_up(odoo), "the emulator still answers after refuse"
    job_ids += [deliver(d) for d in docs[n_before:]]

    # Down: the breakers open and say so everywhere an operator looks.
    for node in nodes:
        wait_until(lambda: value(scrape(node), "synchub_target_paused", **labels) == 1, timeout=20, interval=0.5,
                   msg=f"synchub_target_paused{labels} = 1 on {node.dir.name} while Odoo is down")
    fams = scrape(hub)
    since = value(fams, "synchub_target_paused_since_seconds", **labels)
    assert 0 < since <= time.time() + 1, since
    status, doc, _ = http_request(hub.port, "GET", "/readyz")
    assert status == 200, f"/readyz must stay 200 while only Odoo is down (ingestion works): {status} {doc}"
    assert target in doc.get("reason", "") and "paused since" in doc["reason"], doc
    st = hub.status()
    paused = [p for p in st.get("paused", []) if p["target"] == target]
    assert paused and paused[0]["state"] in ("open", "probing") and paused[0]["since"], st
    text = hub.cli("status").stdout
    assert target in text and "paused" in text, text

    # Sample attempts while Odoo is down: nobody spends the budget on the outage.
    worst = Counter()
    while time.monotonic() - down_at < DOWN_S - 1:
        for j in hub.jobs(kind="shopify.order"):
            worst[j["id"]] = max(worst[j["id"]], j["attempts"])
            assert j["state"] != "dead", f"a job went dead while Odoo was down: {j.get('last_error')}"
        time.sleep(min(5.0, max(0.1, DOWN_S - 1 - (time.monotonic() - down_at))))
    wait_until(lambda: odoo_up(odoo), timeout=30, interval=0.1, msg="the emulator listening again")
    back_at = time.monotonic()

    def all_done():
        jobs = hub.jobs(kind="shopify.order")
        for j in jobs:
            worst[j["id"]] = max(worst[j["id"]], j["attempts"])
        states = Counter(j["state"] for j in jobs)
        assert not states.get("dead"), [j["last_error"] for j in jobs if j["state"] == "dead"][:3]
        return states.get("done") == len(docs)

    wait_until(all_done, timeout=BACK_WITHIN_S + 30, interval=0.5, msg="every order job done after Odoo came back")
    took = time.monotonic() - back_at
    assert took <= BACK_WITHIN_S, f"the orders reached Odoo {took:.1f} s after it answered again (bound " \
                                  f"{BACK_WITHIN_S} s)"
    over = {k: v for k, v in worst.items() if v > MAX_ATTEMPTS_SEEN}
    assert not over, f"{len(over)} jobs spent more than {MAX_ATTEMPTS_SEEN} attempts on a {DOWN_S:.0f} s outage: " \
                     f"{sorted(over.values())[-5:]}"
    assert set(worst) == set(job_ids)

    names = [d["name"] for d in docs]
    found = Counter(r["client_order_ref"] for r in odoo.orders_by_ref(names))
    assert all(found[n] == 1 for n in names), {n: found[n] for n in names if found[n] != 1}

    for node in nodes:
        # After a long window the jobs' own pause may end before the next probe: the breaker closes at that probe.
        wait_until(lambda: value(scrape(node), "synchub_target_paused", **labels) == 0, timeout=15, interval=0.5,
                   msg=f"synchub_target_paused{labels} = 0 on {node.dir.name} after Odoo came back")
        fams = scrape(node)
        assert value(fams, "synchub_target_probes_total", result="ok", **labels) >= 1
        assert value(fams, "synchub_target_probes_total", result="failed", **labels) >= 1
        status, doc, _ = http_request(node.port, "GET", "/readyz")
        assert status == 200 and "reason" not in doc, doc
    assert not hub.status().get("paused"), hub.status()
    print(f"\nbreaker: Odoo down {DOWN_S:.0f} s; done {took:.1f} s after it came back; attempts per job "
          f"{sorted(Counter(worst.values()).items())}; probes ok="
          f"{value(fams, 'synchub_target_probes_total', result='ok', **labels)} failed="
          f"{value(fams, 'synchub_target_probes_total', result='failed', **labels)} ({len(nodes)} node(s))")
    for node in nodes:
        node.stop()
