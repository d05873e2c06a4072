"""[server] local_queue (issue 18): the worker pool claims jobs ahead of its workers and its workers go on while
their outcomes are committed in groups. What must still hold, on SQLite and on PostgreSQL:

- every job runs, and is done only once its outcome is committed;
- the jobs of one ordering key run one at a time, oldest event first (a key's next job becomes claimable only in
  the commit that records the current one, whatever the pool holds ahead);
- a node killed with SIGKILL re-runs only jobs whose outcome it had not committed: at most workers + local_queue;
- the pool does hold more jobs than it has workers (the setting is in effect, or the test proves nothing);
- a node stopped with SIGTERM runs only the jobs its workers had started: the ones it held and never started go
  back to the queue at once, uncounted (queued, attempts as before), and the restarted node (PostgreSQL: another
  node) runs each exactly once, in key order; when the store refuses that commit, the log says how many wait for
  their lease instead, and they run after it.

The per-key checks are test_pg_nodes.check_runs (the handler test.record stamps start and end of every run).
"""

import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from conftest import need_pg, pg_schema_url, sqlite_only, wait_until
from test_metrics import scrape, value
from test_pg_nodes import check_runs, make_nodes, read_records, write_batch

WORKERS, LOCAL_QUEUE = 4, 32
N_JOBS, N_KEYS = 3000, 60
SLEEP_MS = 4   # long enough for `synchub status` (a process each) to sample the pool several times mid-run


def watch_running(node, stop, seen):
    """Largest number of RUNNING (claimed) jobs the node's store showed while the test ran."""
    while not stop.is_set():
        try:
            seen.append(node.status()["states"]["running"])
        except Exception:  # the node is being killed or restarted: sample again
            pass
        stop.wait(0.05)


def enqueue_batch(node, tmp_path):
    """N_JOBS test.record jobs over N_KEYS keys through `enqueue --batch`; returns the run log the handler writes."""
    log, batch = tmp_path / "runs.jsonl", tmp_path / "batch.jsonl"
    write_batch(batch, log, N_JOBS, N_KEYS, sleep_ms=SLEEP_MS)
    out = node.cli("enqueue", "--batch", batch).stdout
    assert f"enqueued {N_JOBS}, duplicate 0" in out, out
    return log


def most_running_until_a_third_ran(node, log):
    """The most claimed jobs node's store showed until a third of the jobs had run (sampled before any kill: a dead
    process's leases count as running too until they expire)."""
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=watch_running, args=(node, stop, seen))
    watcher.start()
    try:
        wait_until(lambda: len(seen) >= 5 and len(read_records(log)) >= N_JOBS // 3, timeout=120,
                   msg="a third of the jobs run, the pool sampled 5 times")
    finally:
        stop.set()
        watcher.join()
    return max(seen)


def test_sqlite_local_queue_keeps_key_order_and_bounds_reruns_after_kill9(make_synchub, tmp_path):
    hub = make_synchub()
    hub.set("server", workers=WORKERS, local_queue=LOCAL_QUEUE)
    hub.set("kind test.record", lease="2s", max_attempts=20)
    hub.start()
    log = enqueue_batch(hub, tmp_path)
    most = most_running_until_a_third_ran(hub, log)
    hub.kill9()
    hub.start()
    wait_until(lambda: hub.status()["states"]["done"] == N_JOBS, timeout=180, interval=0.5, msg=f"{N_JOBS} jobs done")
    states = hub.status()["states"]
    assert states["dead"] == 0 and states["running"] == 0, states
    check_runs(read_records(log), N_JOBS, N_KEYS, max_reruns=WORKERS + LOCAL_QUEUE)
    assert most > WORKERS, f"the pool never held more jobs than workers ({most}): local_queue not in effect"
    hub.stop()


def test_postgres_nodes_with_local_queues_keep_key_order_and_bound_reruns(make_synchub, tmp_path):
    need_pg()
    nodes = make_nodes(make_synchub, pg_schema_url("localq"), 2)
    for node in nodes:
        node.set("server", local_queue=LOCAL_QUEUE)
        node.write_config()
    log = enqueue_batch(nodes[0], tmp_path)
    for node in nodes:
        node.start()
    most = most_running_until_a_third_ran(nodes[0], log)
    nodes[1].kill9()
    wait_until(lambda: nodes[0].status()["states"]["done"] == N_JOBS, timeout=240, interval=0.5,
               msg=f"{N_JOBS} jobs done")
    states = nodes[0].status()["states"]
    assert states["dead"] == 0 and states["running"] == 0, states
    check_runs(read_records(log), N_JOBS, N_KEYS, max_reruns=WORKERS + LOCAL_QUEUE)
    # two nodes of 4 workers: more than 8 claimed at once means the pools held jobs ahead
    assert most > 2 * WORKERS, f"never more claimed jobs than workers ({most}): local_queue not in effect"
    nodes[0].stop()


# SIGTERM while the pool holds many slow jobs: a head of each of HELD_KEYS keys, HELD_SLEEP_MS each, HELD_WORKERS
# workers. Running what it holds would take (HELD_KEYS - 2) * 0.4 s / 2 = ~12 s; giving it back, one job's time.
HELD_WORKERS, HELD_KEYS, HELD_JOBS, HELD_SLEEP_MS = 2, 60, 120, 400
STOP_WITHIN_S = 5


def hold_slow_jobs(node, tmp_path, lease="120s"):
    """node with a local queue larger than HELD_KEYS, HELD_JOBS slow jobs (2 per key) enqueued and started; returns
    the run log once the pool holds most heads and some jobs have run."""
    node.set("server", workers=HELD_WORKERS, local_queue=2 * HELD_KEYS, shutdown_grace="60s")
    # by default leases far longer than the test: a claim not given back would still be RUNNING at the end
    node.set("kind test.record", lease=lease, max_attempts=5)
    node.write_config()   # the enqueue below gives the jobs their lease from the config
    log, batch = tmp_path / "runs.jsonl", tmp_path / "batch.jsonl"
    write_batch(batch, log, HELD_JOBS, HELD_KEYS, sleep_ms=HELD_SLEEP_MS)
    node.cli("enqueue", "--batch", batch)
    node.start()
    wait_until(lambda: node.status()["states"]["running"] >= HELD_KEYS - HELD_WORKERS and len(read_records(log)) >= 2,
               timeout=60, msg="the pool holds the keys' heads and some jobs ran")
    return log


def stop_gives_back_what_no_worker_started(node, log):
    """SIGTERM: node exits within one job's time, not the time of the jobs it holds; the jobs it never started are
    queued again, their attempt not counted, and the log says how many it gave back."""
    t0 = time.monotonic()
    node.stop()
    took = time.monotonic() - t0
    ran = {r["job"] for r in read_records(log)}
    assert took < STOP_WITHIN_S, f"stop took {took:.1f}s with {HELD_JOBS - len(ran)} jobs not run: it ran what it held"
    jobs = node.jobs(kind="test.record")
    assert len(jobs) == HELD_JOBS
    for job in jobs:
        want = ("done", 1) if job["id"] in ran else ("queued", 0)
        assert (job["state"], job["attempts"]) == want, job
    m = re.search(r"gave back the jobs claimed but not started.*?count=(\d+)", node.log_text())
    assert m, f"no give-back line in the log:\n{node.log_tail()}"
    assert int(m.group(1)) >= HELD_KEYS - 2 * HELD_WORKERS - len(ran), m.group(0)


def all_run_once_in_key_order(node, log):
    wait_until(lambda: node.status()["states"]["done"] == HELD_JOBS, timeout=60, interval=0.5,
               msg=f"{HELD_JOBS} jobs done (a claim left RUNNING would wait for its 120 s lease)")
    records = read_records(log)
    check_runs(records, HELD_JOBS, HELD_KEYS, max_reruns=0)
    assert {r["attempt"] for r in records} == {1}, "a job given back counted its attempt"
    node.stop()


def test_sigterm_gives_back_held_jobs_and_the_restart_runs_each_once(make_synchub, tmp_path):
    hub = make_synchub()
    log = hold_slow_jobs(hub, tmp_path)
    stop_gives_back_what_no_worker_started(hub, log)
    hub.set("server", workers=8)
    hub.start()
    all_run_once_in_key_order(hub, log)


def test_postgres_sigterm_gives_back_held_jobs_to_another_node(make_synchub, tmp_path):
    need_pg()
    first, other = make_nodes(make_synchub, pg_schema_url("giveback"), 2, workers=8)
    log = hold_slow_jobs(first, tmp_path)
    stop_gives_back_what_no_worker_started(first, log)
    other.set("kind test.record", lease="120s", max_attempts=5)
    other.start()
    all_run_once_in_key_order(other, log)


@sqlite_only
def test_sigterm_with_the_store_locked_leaves_held_jobs_to_their_lease_and_says_so(make_synchub, tmp_path):
    hub = make_synchub()
    hub.set("server", ack_timeout="200ms")   # how long each of the dispatcher's tries waits for the lock
    log = hold_slow_jobs(hub, tmp_path, lease="3s")
    locker = sqlite3.connect(str(hub.store), timeout=10, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        hub.stop()
        running = [j for j in hub.jobs(kind="test.record", state="running")]
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    m = re.search(r"cannot give back the jobs claimed but not started; they run when their lease expires.*?count=(\d+)",
                  hub.log_text())
    assert m, f"no line about the jobs not given back:\n{hub.log_tail()}"
    assert int(m.group(1)) >= HELD_KEYS - 2 * HELD_WORKERS - len(read_records(log)), m.group(0)
    assert len(running) >= int(m.group(1)), "the jobs not given back are still claimed, under their lease"
    hub.set("server", workers=8)
    hub.start()
    wait_until(lambda: hub.status()["states"]["done"] == HELD_JOBS, timeout=60, interval=0.5,
               msg=f"{HELD_JOBS} jobs done after their leases expired")
    check_runs(read_records(log), HELD_JOBS, HELD_KEYS, max_reruns=HELD_KEYS)
    hub.stop()


def thread_names(node):
    """The names of the serve process's threads (the pool names its dispatchers q-dispatch, q-dispatch2, ...)."""
    names = []
    for comm in (Path("/proc") / str(node.proc.pid) / "task").glob("*/comm"):
        try:
            names.append(comm.read_text().strip())
        except OSError:   # the thread ended meanwhile
            pass
    return names


def started_threads(node, **server):
    """node started with these [server] settings: its thread names once its pool runs."""
    node.set("server", **server)
    node.write_config()
    node.start()
    wait_until(lambda: "q-dispatch" in thread_names(node), timeout=10, msg="the pool started")
    return thread_names(node)


@pytest.mark.parametrize("local_queue,dispatchers", [(LOCAL_QUEUE, None), (0, 2)],
                         ids=["local_queue_default_dispatchers", "no_local_queue_two_dispatchers"])
def test_postgres_pool_with_two_dispatchers_runs_every_job_once_in_key_order(make_synchub, tmp_path, local_queue,
                                                                            dispatchers):
    """[server] dispatchers (issue 18): on PostgreSQL a pool with a local queue commits its rounds on two
    connections by default, each for half of its slots (and so does one told to, without a local queue, where its
    workers wait for their outcome's commit); every job still runs once, one at a time per key, oldest event first.
    dispatchers = 1 keeps one."""
    need_pg()
    (node,) = make_nodes(make_synchub, pg_schema_url("lanes"), 1)
    node.set("server", local_queue=local_queue)
    if dispatchers:
        node.set("server", dispatchers=dispatchers)
    node.write_config()
    log = enqueue_batch(node, tmp_path)
    node.start()
    wait_until(lambda: node.status()["states"]["done"] == N_JOBS, timeout=240, interval=0.5,
               msg=f"{N_JOBS} jobs done")
    names = thread_names(node)
    assert names.count("q-dispatch") == 1 and names.count("q-dispatch2") == 1, " ".join(names)
    assert "q-dispatch3" not in names, " ".join(names)
    states = node.status()["states"]
    assert states["dead"] == 0 and states["running"] == 0, states
    check_runs(read_records(log), N_JOBS, N_KEYS, max_reruns=0)
    node.stop()

    names = started_threads(node, dispatchers=1)
    assert "q-dispatch2" not in names, " ".join(names)
    node.stop()


@sqlite_only
def test_sqlite_pool_keeps_one_dispatcher_whatever_the_setting(make_synchub):
    """SQLite has one writer: a second dispatcher would only wait for the first one's commits."""
    hub = make_synchub()
    names = started_threads(hub, workers=WORKERS, local_queue=LOCAL_QUEUE, dispatchers=3)
    assert "q-dispatch2" not in names, names
    hub.stop()


@sqlite_only
def test_sqlite_local_queue_syncs_on_a_thread_of_its_own_and_counts_each_outcome_once(make_synchub, tmp_path):
    """With a local queue the dispatcher's commits on SQLite do not wait for the disk: its q-sync thread syncs them
    while the next round runs, and counts their outcomes only then (issue 18). Every job still runs once, in key
    order, and is counted done exactly once, the last ones too. Without a local queue the workers wait for their
    outcome's commit anyway: the dispatcher syncs its own commits, and there is no such thread."""
    hub = make_synchub()
    hub.set("server", workers=WORKERS, local_queue=LOCAL_QUEUE)
    hub.write_config()
    log = enqueue_batch(hub, tmp_path)
    hub.start()
    wait_until(lambda: hub.status()["states"]["done"] == N_JOBS, timeout=180, interval=0.5, msg=f"{N_JOBS} jobs done")
    names = thread_names(hub)
    assert names.count("q-sync") == 1, " ".join(names)
    done = {"kind": "test.record", "outcome": "done", "class": "none"}
    wait_until(lambda: value(scrape(hub), "synchub_job_attempts_total", **done) == N_JOBS, timeout=10,
               msg=f"{N_JOBS} outcomes counted done")
    check_runs(read_records(log), N_JOBS, N_KEYS, max_reruns=0)
    hub.stop()

    names = started_threads(hub, local_queue=0)
    assert "q-sync" not in names, " ".join(names)
    hub.stop()
