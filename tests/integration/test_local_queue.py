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


def watch_running(node, stop, seen):
    """Largest number of RUNNING (claimed) jobs the node's store showed while the test ran."""
    while not stop.is_set():
        try:
            seen.append(node.status()["states"]["running"])
        except Exception:  # the node is being killed or restarted: sample again
            pass
        stop.wait(0.05)


def test_sqlite_local_queue_keeps_key_order_and_bounds_reruns_after_kill9(make_synchub, tmp_path):
    hub = make_synchub()
    hub.set("server", workers=WORKERS, local_queue=LOCAL_QUEUE)
    hub.set("kind test.record", lease="2s", max_attempts=20)
    log = tmp_path / "runs.jsonl"
    batch = tmp_path / "batch.jsonl"
    write_batch(batch, log, N_JOBS, N_KEYS)
    hub.start()
    out = hub.cli("enqueue", "--batch", batch).stdout
    assert f"enqueued {N_JOBS}, duplicate 0" in out, out
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=watch_running, args=(hub, stop, seen))
    watcher.start()
    try:
        wait_until(lambda: len(read_records(log)) >= N_JOBS // 3, timeout=120, msg="a third of the jobs run")
    finally:
        stop.set()   # sampled before the kill only: afterwards the dead process's leases count as running too
        watcher.join()
    hub.kill9()
    hub.start()
    wait_until(lambda: hub.status()["states"]["done"] == N_JOBS, timeout=180, interval=0.5, msg=f"{N_JOBS} jobs done")
    states = hub.status()["states"]
    assert states["dead"] == 0 and states["running"] == 0, states
    check_runs(read_records(log), N_JOBS, N_KEYS, max_reruns=WORKERS + LOCAL_QUEUE)
    assert max(seen) > WORKERS, f"the pool never held more jobs than workers ({max(seen)}): local_queue not in effect"
    hub.stop()


def test_postgres_nodes_with_local_queues_keep_key_order_and_bound_reruns(make_synchub, tmp_path):
    need_pg()
    url = pg_schema_url("localq")
    nodes = make_nodes(make_synchub, url, 2)
    for node in nodes:
        node.set("server", local_queue=LOCAL_QUEUE)
        node.write_config()
    log = tmp_path / "runs.jsonl"
    batch = tmp_path / "batch.jsonl"
    write_batch(batch, log, N_JOBS, N_KEYS)
    out = nodes[0].cli("enqueue", "--batch", batch).stdout
    assert f"enqueued {N_JOBS}, duplicate 0" in out, out
    for node in nodes:
        node.start()
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=watch_running, args=(nodes[0], stop, seen))
    watcher.start()
    try:
        wait_until(lambda: len(read_records(log)) >= N_JOBS // 3, timeout=120, msg="a third of the jobs run")
    finally:
        stop.set()
        watcher.join()
    nodes[1].kill9()
    wait_until(lambda: nodes[0].status()["states"]["done"] == N_JOBS, timeout=240, interval=0.5,
               msg=f"{N_JOBS} jobs done")
    states = nodes[0].status()["states"]
    assert states["dead"] == 0 and states["running"] == 0, states
    check_runs(read_records(log), N_JOBS, N_KEYS, max_reruns=WORKERS + LOCAL_QUEUE)
    # two nodes of 4 workers: more than 8 claimed at once means the pools held jobs ahead
    assert max(seen) > 2 * WORKERS, f"never more claimed jobs than workers ({max(seen)}): local_queue not in effect"
    nodes[0].stop()
