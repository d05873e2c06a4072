"""Several synchub nodes on one PostgreSQL database (issue 6): the guarantees of the embedded store, across nodes.

- 3 `serve` nodes drain one queue of many ordering keys; one is killed with SIGKILL mid-run: every job ends done,
  no job runs twice at the same time, a job runs again only after its attempt was lost, and every key's jobs ran
  one at a time in event order.
- The PostgreSQL server restarts mid-run (only on the private cluster of scripts/pg-test-cluster): nothing lost,
  nothing run twice except attempts the restart interrupted.
- The same webhook delivered to two nodes at the same instant is one job.
- `synchub worker` (no HTTP) works the shared queue next to an ingest-only `serve`.
- `synchub worker` with [server] ops_listen answers /metrics (its own attempts, the cluster-wide queue gauges),
  /healthz and /readyz there, and nothing else.
- The schedulers run on one node at a time and move to another node when that one is killed.

Needs SYNCHUB_TEST_PG_URL (see conftest.py). Job count: SYNCHUB_PG_NODES_JOBS (default 20000, the issue's figure:
about 30 s for this file under ASan; the ThreadSanitizer pass of `make test` runs 5000).
"""

import json
import os
import subprocess
import threading
import time
from collections import defaultdict

import pytest

from conftest import BIN, REPO, free_port, http_request, need_pg, order_body, pg_schema_url, wait_until
from test_metrics import parse_exposition, value

N_JOBS = int(os.environ.get("SYNCHUB_PG_NODES_JOBS", "20000"))
N_KEYS = 200


def make_nodes(make_synchub, url, n, workers=4, name="node"):
    nodes = []
    for i in range(n):
        node = make_synchub(f"{name}{i}")
        node.use_postgres(url)
        node.set("server", workers=workers)
        # A killed node's jobs run again after their lease: short, so the test does not wait for long.
        node.set("kind test.record", lease="2s", max_attempts=20)
        node.write_config()
        nodes.append(node)
    return nodes


def write_batch(path, log, n, keys, sleep_ms=1):
    """n test.record jobs spread over `keys` ordering keys; job i of a key has event time i (event order = tag order
    within a key)."""
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"kind": "test.record", "key": f"job-{i}", "order_key": f"key-{i % keys}",
                                "event_time_ms": 1_700_000_000_000 + i,
                                "payload": {"log": str(log), "tag": i, "sleep_ms": sleep_ms}}) + "\n")


def read_records(log):
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def done_count(node):
    return node.status()["states"]["done"]


def check_runs(records, n, keys, max_reruns):
    """Every tag ran; re-runs are distinct attempts; per key: one at a time, oldest event first."""
    by_tag = defaultdict(list)
    for r in records:
        by_tag[r["tag"]].append(r)
    missing = [t for t in range(n) if t not in by_tag]
    assert not missing, f"{len(missing)} jobs never ran, e.g. {missing[:10]}"
    reruns = {t: rs for t, rs in by_tag.items() if len(rs) > 1}
    for t, rs in reruns.items():
        attempts = [r["attempt"] for r in rs]
        assert len(set(attempts)) == len(attempts), f"job {t} ran the same attempt twice: {rs}"
    assert len(reruns) <= max_reruns, f"{len(reruns)} jobs ran more than once (at most {max_reruns} expected)"
    by_key = defaultdict(list)
    for r in records:
        by_key[r["key"]].append(r)
    assert len(by_key) == keys
    for key, rs in by_key.items():
        rs.sort(key=lambda r: (r["start_ms"], r["end_ms"]))
        for a, b in zip(rs, rs[1:]):
            assert a["end_ms"] <= b["start_ms"], f"{key}: jobs {a['tag']} and {b['tag']} overlapped: {a} {b}"
        tags = [r["tag"] for r in rs]
        collapsed = [t for i, t in enumerate(tags) if i == 0 or t != tags[i - 1]]
        assert collapsed == sorted(set(tags)), f"{key}: ran out of event order: {collapsed[:20]}"


def test_three_nodes_drain_one_queue_and_survive_a_kill9(make_synchub, tmp_path):
    url = pg_schema_url("nodes")
    nodes = make_nodes(make_synchub, url, 3)
    log = tmp_path / "runs.jsonl"
    batch = tmp_path / "batch.jsonl"
    write_batch(batch, log, N_JOBS, N_KEYS)
    out = nodes[0].cli("enqueue", "--batch", batch).stdout
    assert f"enqueued {N_JOBS}, duplicate 0" in out, out
    for node in nodes:
        node.start()
    # Kill one node once the work is well under way, while its workers hold jobs.
    wait_until(lambda: len(read_records(log)) >= N_JOBS // 4, timeout=120, msg="a quarter of the jobs run")
    nodes[1].kill9()
    wait_until(lambda: done_count(nodes[0]) == N_JOBS, timeout=300, interval=0.5, msg=f"{N_JOBS} jobs done")
    status = nodes[2].status()["states"]
    assert status["done"] == N_JOBS and status["dead"] == 0 and status["running"] == 0, status
    check_runs(read_records(log), N_JOBS, N_KEYS, max_reruns=4)
    # The kill hit a node at work: a survivor took its jobs back when their leases expired.
    assert any("requeued jobs whose worker vanished" in n.log_text() for n in (nodes[0], nodes[2])), \
        "no lease of the killed node expired: it was killed idle, the test proved nothing"
    # All three nodes took part (the queue is shared, not partitioned by who enqueued).
    for node in nodes:
        assert "job done" in node.log_text(), f"{node.config.name} ran no job"
    for node in (nodes[0], nodes[2]):
        node.stop()


def test_postgres_restart_mid_run_loses_nothing(make_synchub, tmp_path):
    base = need_pg()
    script = REPO / "scripts" / "pg-test-cluster"
    cp = subprocess.run([str(script), "url"], capture_output=True, text=True)
    if cp.returncode != 0 or cp.stdout.strip() != base:
        pytest.skip("SYNCHUB_TEST_PG_URL is not the private cluster of scripts/pg-test-cluster: not restarting it")
    url = pg_schema_url("restart")
    nodes = make_nodes(make_synchub, url, 2)
    ingest = make_nodes(make_synchub, url, 1, workers=0, name="ingest")[0]   # webhooks during the restart
    log = tmp_path / "runs.jsonl"
    batch = tmp_path / "batch.jsonl"
    n = max(N_JOBS // 3, 500)
    write_batch(batch, log, n, 50, sleep_ms=2)
    nodes[0].cli("enqueue", "--batch", batch)
    for node in nodes + [ingest]:
        node.start()
    answers = {}
    stop = threading.Event()

    def deliver():
        i = 0
        while not stop.is_set():
            event = f"evt-restart-{i}"
            try:
                answers[event] = ingest.post_webhook(order_body(9_300_000 + i), event_id=event, timeout=30)
            except Exception as exc:  # the server answering nothing is not an acknowledgement either
                answers[event] = (None, repr(exc))
            i += 1
            time.sleep(0.01)

    sender = threading.Thread(target=deliver)
    sender.start()
    try:
        wait_until(lambda: len(read_records(log)) >= n // 5, timeout=120, msg="a fifth of the jobs run")
        cp = subprocess.run([str(script), "restart"], capture_output=True, text=True, timeout=120)
        assert cp.returncode == 0 and cp.stdout.strip() == base, cp.stderr
        time.sleep(1)
    finally:
        stop.set()
        sender.join()
    done = lambda: len(nodes[0].jobs(state="done", kind="test.record"))  # noqa: E731
    wait_until(lambda: done() == n, timeout=300, interval=0.5, msg=f"{n} jobs done after the restart")
    assert not nodes[1].jobs(state="dead", kind="test.record")
    # Attempts in flight when the server went away may run again (their result was not stored); no more.
    check_runs(read_records(log), n, 50, max_reruns=8)
    # The ack path: every 200 was committed; while the server was away the answer was 503, never 200.
    statuses = {a[0] for a in answers.values()}
    assert statuses <= {200, 503, None}, statuses
    assert 503 in statuses or None in statuses, "no delivery met the restart: the test proved nothing"
    acked = {e: a[1]["job"] for e, a in answers.items() if a[0] == 200}
    stored = {j["id"] for j in ingest.jobs(kind="shopify.order")}
    lost = [e for e, job in acked.items() if job not in stored]
    assert not lost, f"{len(lost)} acknowledged webhooks are not in the store: {lost[:5]}"
    for node in nodes + [ingest]:
        assert node.running, f"{node.config.name} exited during the restart:\n{node.log_tail()}"
        node.stop()


def test_same_webhook_on_two_nodes_at_once_is_one_job(make_synchub):
    url = pg_schema_url("webhook")
    a, b = make_nodes(make_synchub, url, 2, workers=0)
    a.start()
    b.start()
    answers = []

    def deliver(node, body, webhook_id, barrier):
        barrier.wait()
        answers.append(node.post_webhook(body, webhook_id=webhook_id))

    rounds = 20
    for i in range(rounds):
        body = order_body(9_100_000 + i)
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=deliver, args=(node, body, f"wh-same-{i}", barrier)) for node in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(answers) == 2 * rounds
    assert all(status == 200 for status, _ in answers), answers
    stored = [doc for _, doc in answers if doc["status"] == "stored"]
    dups = [doc for _, doc in answers if doc["status"] == "duplicate"]
    assert len(stored) == rounds and len(dups) == rounds, answers
    assert {d["job"] for d in stored} == {d["job"] for d in dups}
    jobs = a.jobs(kind="shopify.order")
    assert len(jobs) == rounds, [j["id"] for j in jobs]
    for node in (a, b):
        node.stop()


def start_worker(node):
    """`synchub worker` (no HTTP) for node's config; ready when its log says so."""
    node.write_config()
    with open(node.log, "ab") as logf:
        proc = subprocess.Popen([str(BIN), "worker", "--config", str(node.config)],
                                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(node.dir))
    node.procs.append(proc)
    node.proc = proc
    wait_until(lambda: "synchub working" in node.log_text() or proc.poll() is not None, timeout=20,
               msg="synchub worker started")
    assert proc.poll() is None, f"worker exited:\n{node.log_tail()}"
    return proc


def test_worker_nodes_work_what_an_ingest_only_serve_stores(make_synchub, tmp_path):
    url = pg_schema_url("worker")
    ingest, work = make_nodes(make_synchub, url, 2)
    ingest.set("server", workers=0)
    ingest.start()
    start_worker(work)
    log = tmp_path / "runs.jsonl"
    batch = tmp_path / "batch.jsonl"
    write_batch(batch, log, 300, 30)
    ingest.cli("enqueue", "--batch", batch)
    # Webhooks go to the serve node; the worker node has no port at all.
    status, doc = ingest.post_webhook(order_body(9_200_001))
    assert status == 200 and doc["status"] == "stored", doc
    wait_until(lambda: done_count(ingest) == 300, timeout=120, interval=0.3, msg="300 jobs done by the worker")
    check_runs(read_records(log), 300, 30, max_reruns=0)
    assert "job done" in work.log_text() and "job done" not in ingest.log_text()
    # The worker also picked up the webhook's job (it fails there: no Odoo configured, but it ran).
    job = ingest.show(doc["job"])
    assert job["attempts"], job
    work.stop()
    ingest.stop()


def test_worker_ops_listen_serves_its_metrics_and_probes_only(make_synchub, tmp_path):
    url = pg_schema_url("workerops")
    ingest, work = make_nodes(make_synchub, url, 2)
    ingest.set("server", workers=0)
    ops_port = free_port()
    work.set("server", ops_listen=f"127.0.0.1:{ops_port}")
    ingest.start()
    start_worker(work)
    assert f"ops=127.0.0.1:{ops_port}" in work.log_text(), work.log_tail()
    log = tmp_path / "runs.jsonl"
    batch = tmp_path / "batch.jsonl"
    write_batch(batch, log, 120, 12)
    ingest.cli("enqueue", "--batch", batch)
    for i in range(2):  # two attempts that end dead: they stay in the queue figures of every node
        ingest.enqueue("test.needs_file", f"missing-{i}", {"path": str(tmp_path / "nope")}, max_attempts=1)
    wait_until(lambda: done_count(ingest) == 120 and ingest.status()["states"]["dead"] == 2, timeout=120,
               interval=0.3, msg="120 jobs done and 2 dead, by the worker")

    def scrape(port):
        status, _doc, raw = http_request(port, "GET", "/metrics")
        assert status == 200, raw[:500]
        return parse_exposition(raw.decode("utf-8"))

    mine, serves = scrape(ops_port), scrape(ingest.port)
    # Per-node counters: the worker's own attempts, exactly; the ingest-only serve ran none.
    assert value(mine, "synchub_job_attempts_total", kind="test.record", outcome="done", **{"class": "none"}) == 120
    assert value(mine, "synchub_job_attempts_total", kind="test.needs_file", outcome="dead",
                 **{"class": "configuration"}) == 2
    assert value(serves, "synchub_job_attempts_total", kind="test.record", outcome="done", **{"class": "none"}) == 0
    # Cluster-wide gauges: read from the shared store, the same on both nodes (and said so in their HELP).
    assert value(mine, "synchub_queue_jobs", state="dead", kind="test.needs_file") == 2
    assert value(serves, "synchub_queue_jobs", state="dead", kind="test.needs_file") == 2
    assert value(mine, "synchub_store_up") == 1
    assert "cluster-wide" in mine["synchub_queue_jobs"]["help"]
    # No ingestion here: its 413 count is not reported.
    assert not mine.get("synchub_webhook_deliveries_total", {"samples": []})["samples"]
    status, doc, _ = http_request(ops_port, "GET", "/healthz")
    assert status == 200, doc
    status, doc, _ = http_request(ops_port, "GET", "/readyz")
    assert status == 200 and doc["ready"] is True, doc
    # Only the operations routes: no webhooks, no events, no dashboard API.
    body = order_body(9_300_001)
    for method, path, data in (("POST", "/webhooks/shopify", body), ("POST", "/events/carrier", b"{}"),
                               ("GET", "/api/jobs", None), ("GET", "/", None)):
        status, _doc, _ = http_request(ops_port, method, path, body=data)
        assert status == 404, f"{method} {path} answered {status} on the worker's ops_listen"
    assert ingest.status()["states"]["queued"] == 0  # nothing was stored through the worker
    work.stop()
    ingest.stop()


LEADER = "this node schedules the polls now (leader)"


def test_scheduler_leadership_moves_to_another_node_when_the_leader_dies(make_synchub):
    url = pg_schema_url("leader")
    nodes = make_nodes(make_synchub, url, 3, workers=1)
    for node in nodes:
        node.start()
    leaders = wait_until(lambda: [n for n in nodes if LEADER in n.log_text()], timeout=20, msg="a leader")
    time.sleep(2.5)  # a few scheduler rounds: nobody else may take it meanwhile
    leaders = [n for n in nodes if LEADER in n.log_text()]
    assert len(leaders) == 1, [n.config.name for n in leaders]
    leaders[0].kill9()
    others = [n for n in nodes if n is not leaders[0]]
    wait_until(lambda: [n for n in others if LEADER in n.log_text()], timeout=20, msg="a new leader")
    time.sleep(2.5)
    assert len([n for n in others if LEADER in n.log_text()]) == 1
    for node in others:
        node.stop()
