"""[server] local_queue (issue 18): the worker pool claims jobs ahead of its workers and its workers go on while
their outcomes are committed in groups. What must still hold, on SQLite and on PostgreSQL:

- every job runs, and is done only once its outcome is committed;
- the jobs of one ordering key run one at a time, oldest event first (a key's next job becomes claimable only in
  the commit that records the current one, whatever the pool holds ahead);
- a node killed with SIGKILL re-runs only jobs whose outcome it had not committed: at most workers + local_queue;
- the pool does hold more jobs than it has workers (the setting is in effect, or the test proves nothing).

The per-key checks are test_pg_nodes.check_runs (the handler test.record stamps start and end of every run).
"""

import threading

from conftest import need_pg, pg_schema_url, wait_until
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
