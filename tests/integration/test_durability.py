"""Crash safety, leases, per-key ordering and graceful shutdown (DESIGN.md invariants 1-4, SPEC-inbox.md).

No timing assertions: every wait polls with a generous deadline; "concurrently" and "in order" are judged from
the start/end stamps the test.record handler writes, never from how long something took.
"""

import itertools
import json
import random
import signal
import sqlite3
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from conftest import STORE_ENGINE, sqlite_only
from conftest import order_body, post_webhook, wait_until


def integrity_ok(store):
    con = sqlite3.connect(str(store), timeout=10)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------------------------
# (a) kill -9 with deliveries in flight


def test_kill9_during_concurrent_deliveries_loses_no_acknowledged_event(make_synchub):
    n, parallel, kill_after = 500, 32, 150
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.start()
    port = hub.port
    bodies = [order_body(8100000000000 + i) for i in range(n)]
    events = [f"evt-k9-{i:04d}" for i in range(n)]
    results = {}
    done_count = itertools.count(1)
    reached = threading.Event()

    def deliver(i):
        try:
            results[i] = post_webhook(port, bodies[i], topic="orders/create", event_id=events[i],
                                      webhook_id=f"wh-k9-{i}", timeout=30)
        except Exception as exc:  # connection refused / reset once serve is gone: not acknowledged
            results[i] = exc
        if next(done_count) >= kill_after:
            reached.set()

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(deliver, i) for i in range(n)]
        assert reached.wait(timeout=120), "deliveries did not progress"
        hub.kill9()
        for f in futures:
            f.result(timeout=120)

    answered = {i: r for i, r in results.items() if isinstance(r, tuple)}
    statuses = Counter(r[0] for r in answered.values())
    assert set(statuses) <= {200, 503}, f"unexpected answers: {statuses}"
    acked = {events[i]: r[1]["job"] for i, r in answered.items() if r[0] == 200}
    for i, r in answered.items():
        if r[0] == 200:
            assert r[1]["status"] == "stored", r
    assert len(acked) >= kill_after - parallel, f"only {len(acked)} acknowledged before the kill"
    assert len(acked) < n, "every delivery finished before the kill; nothing was in flight"

    hub.start()
    jobs = hub.jobs()
    per_event = Counter(j["correlation_id"] for j in jobs)
    dupes = {e: c for e, c in per_event.items() if c > 1}
    assert not dupes, f"events stored more than once: {dupes}"
    assert set(per_event) <= set(events), set(per_event) - set(events)
    job_of = {j["correlation_id"]: j["id"] for j in jobs}
    lost = sorted(e for e in acked if e not in job_of)
    assert not lost, f"{len(lost)} acknowledged deliveries lost by kill -9: {lost[:10]}"
    assert all(job_of[e] == jid for e, jid in acked.items())

    # Shopify re-sends everything it did not get a 2xx for (and we re-send the rest too): every answer is 200,
    # already-acknowledged ones are duplicates of the same job, and the store ends with exactly one job per event.
    port = hub.port
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        second = list(pool.map(lambda i: post_webhook(port, bodies[i], topic="orders/create", event_id=events[i],
                                                      webhook_id=f"wh-k9-{i}-retry", timeout=30), range(n)))
    bad = [(events[i], s, d) for i, (s, d) in enumerate(second) if s != 200]
    assert not bad, f"{len(bad)} re-sent deliveries not acknowledged: {bad[:5]}"
    for i, (s, d) in enumerate(second):
        if events[i] in acked:
            assert d["status"] == "duplicate" and d["job"] == acked[events[i]], (events[i], d)
        elif events[i] in job_of:
            assert d["status"] == "duplicate" and d["job"] == job_of[events[i]], (events[i], d)
        else:
            assert d["status"] == "stored", (events[i], d)
    jobs = hub.jobs()
    assert len(jobs) == n
    assert Counter(j["correlation_id"] for j in jobs) == Counter(events)
    hub.stop()
    assert STORE_ENGINE != "sqlite" or integrity_ok(hub.store)


# ---------------------------------------------------------------------------------------------------------------
# (b) a job whose worker died runs again after its lease


def test_job_of_a_killed_worker_runs_again_after_its_lease(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=1)
    hub.set("kind test.record", lease="2s")
    hub.start()
    log = hub.dir / "lease.jsonl"
    _, job_id = hub.enqueue("test.record", "k-lease", {"log": str(log), "tag": "lease", "sleep_ms": 5000})
    hub.wait_state(job_id, "running")
    hub.kill9()
    assert hub.show(job_id)["state"] == "running", "a killed worker's job stays claimed until its lease expires"

    hub.start()
    job = hub.wait_state(job_id, "done", timeout=60)
    assert job["attempts"] >= 2, job
    history = job["history"]
    assert len(history) >= 2, f"the lost attempt is missing from the history: {history}"
    assert history[0]["outcome"] != history[-1]["outcome"], history
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    # The killed attempt died while sleeping, before appending: the handler completed exactly once.
    assert [x["job"] for x in lines] == [job_id], lines
    hub.stop()


# ---------------------------------------------------------------------------------------------------------------
# (c) per-key ordering with 8 workers


@pytest.mark.parametrize("local_queue", [0, 16], ids=["default", "local_queue"])
def test_jobs_of_one_key_run_one_at_a_time_oldest_event_first(make_synchub, local_queue):
    keys, per_key = 20, 10
    rng = random.Random(20261122)
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.start()   # creates the store
    hub.stop()

    base = datetime(2026, 11, 21, 19, 0, 0, tzinfo=timezone.utc)
    plan = []
    for k in range(keys):
        t = base
        for i in range(per_key):
            t += timedelta(seconds=rng.randint(1, 10))
            plan.append((k, i, t.strftime("%Y-%m-%dT%H:%M:%SZ")))
    rng.shuffle(plan)
    ids = []
    for k, i, when in plan:
        payload = {"log": str(hub.dir / f"key-{k:02d}.jsonl"), "tag": f"{k}:{i}", "sleep_ms": rng.randint(5, 30)}
        word, jid = hub.enqueue("test.record", f"ord-{k}-{i}", payload, order_key=f"key-{k:02d}", event_time=when)
        assert word == "enqueued"
        ids.append(jid)
    assert len(set(ids)) == keys * per_key

    hub.set("server", workers=8, local_queue=local_queue)
    hub.start()
    wait_until(lambda: Counter(j["state"] for j in hub.jobs()).get("done") == keys * per_key, timeout=90,
               interval=0.5, msg="all ordering jobs done")
    hub.stop()

    records = []
    for k in range(keys):
        lines = [json.loads(x) for x in (hub.dir / f"key-{k:02d}.jsonl").read_text().splitlines() if x.strip()]
        tags = [x["tag"] for x in lines]
        assert tags == [f"{k}:{i}" for i in range(per_key)], f"key-{k:02d} ran out of event-time order: {tags}"
        assert {x["key"] for x in lines} == {f"key-{k:02d}"}, lines
        by_start = sorted(lines, key=lambda x: (x["start_ms"], x["end_ms"]))
        assert [x["tag"] for x in by_start] == tags
        for a, b in zip(by_start, by_start[1:]):
            assert b["start_ms"] >= a["end_ms"], f"key-{k:02d}: {a} and {b} overlapped"
        records += lines

    # Parallelism across keys: at least one pair of jobs of different keys ran at the same time.
    records.sort(key=lambda x: x["start_ms"])
    overlaps = 0
    for idx, a in enumerate(records):
        for b in records[idx + 1:]:
            if b["start_ms"] >= a["end_ms"]:
                break
            if b["key"] != a["key"]:
                overlaps += 1
    assert overlaps > 0, "8 workers never ran two keys concurrently"


# ---------------------------------------------------------------------------------------------------------------
# (d) graceful shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_work_lets_the_job_finish_and_exits_0(make_synchub, sig):
    hub = make_synchub()
    hub.set("server", workers=1, shutdown_grace="30s")
    hub.start()
    log = hub.dir / "shutdown.jsonl"
    _, job_id = hub.enqueue("test.record", "k-shutdown", {"log": str(log), "tag": "t", "sleep_ms": 1500})
    hub.wait_state(job_id, "running")
    hub.stop(sig=sig)          # asserts exit code 0
    job = hub.show(job_id)     # the CLI reads the store directly; serve is gone
    assert job["state"] == "done", job
    assert [json.loads(x)["job"] for x in log.read_text().splitlines() if x.strip()] == [job_id]


def test_sigterm_past_shutdown_grace_still_exits_0_and_the_job_runs_later(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=1, shutdown_grace="1s")
    hub.set("kind test.record", lease="2s")
    hub.start()
    log = hub.dir / "grace.jsonl"
    _, job_id = hub.enqueue("test.record", "k-grace", {"log": str(log), "tag": "g", "sleep_ms": 4000})
    hub.wait_state(job_id, "running")
    hub.stop()                 # asserts exit code 0
    assert hub.show(job_id)["state"] != "done"
    hub.set("server", shutdown_grace="30s")
    hub.start()
    hub.wait_state(job_id, "done", timeout=60)
    hub.stop()


# ---------------------------------------------------------------------------------------------------------------
# (e) WAL rewinds under load while other processes use the store


@sqlite_only
def test_wal_rewinds_with_cli_readers_keep_the_store_intact(make_synchub):
    """Enough webhooks to push the WAL past its rewind threshold (32 MiB) while CLI processes keep opening and
    closing the store: no acknowledged delivery is lost and SQLite's integrity check passes. (A rewind that dropped
    serve's file locks let a closing CLI process reset the WAL under serve: "database disk image is malformed".)"""
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.start()
    port = hub.port
    stop = threading.Event()
    cli_errors = []

    def cli_loop():
        while not stop.is_set():
            cp = hub.run("status", "--json")
            if cp.returncode != 0:
                cli_errors.append(cp.stderr)

    readers = [threading.Thread(target=cli_loop) for _ in range(2)]
    for t in readers:
        t.start()
    n = 7000  # about 46 MiB of WAL frames at 6.6 KB per order
    acked = set()
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            for i, (status, doc) in enumerate(pool.map(
                    lambda i: post_webhook(port, order_body(8200000000000 + i), topic="orders/create",
                                           event_id=f"evt-wal-{i}", webhook_id=f"wh-wal-{i}", timeout=30),
                    range(n))):
                assert status == 200, (status, doc)
                acked.add(f"evt-wal-{i}")
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not cli_errors, cli_errors[:3]
    hub.stop()
    assert integrity_ok(hub.store)
    jobs = hub.jobs()
    assert {j["correlation_id"] for j in jobs} == acked
    assert len(jobs) == n
