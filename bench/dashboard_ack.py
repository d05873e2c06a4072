#!/usr/bin/env python3
"""Webhook ack latency while the dashboard polls: does an operator's /api/overview hold up a webhook's answer?

For each synchub binary given (e.g. a build before and after a change), on one store of --jobs queued jobs
(loaded once with `synchub enqueue --batch`): start `serve` (workers = 0, so the store stays as loaded), send
signed orders/create webhooks at --rate per second on one keep-alive connection for --seconds, first alone, then
while --hammer processes request GET /api/overview in a loop; print p50/p90/p99/max of the acks and the overview's
own time. Reports only. Usage:
  bench/dashboard_ack.py [--jobs 100000] [--rate 100] [--seconds 20] [--hammer 2] [--http-threads 2] BIN...
Which polling thread takes which connection is up to libmicrohttpd: with --hammer below http_threads the webhooks
may have a thread to themselves; use --hammer 4 or --http-threads 1 for a fair comparison.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SHOP = "acme-outfitters.myshopify.com"
SECRET = "bench-webhook-secret-0123456789"
TOKEN = "bench-operator-token-0123456789"
HERE = pathlib.Path(__file__).resolve().parent
FIXTURE = HERE.parent.parent / "shared" / "fixtures" / "shopify" / "orders_create.json"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder, port, http_threads=2):
    cfg = folder / "synchub.ini"
    cfg.write_text(f"""[server]
listen = 127.0.0.1:{port}
workers = 0
http_threads = {http_threads}
[store]
path = {folder / 'store.db'}
[shop {SHOP}]
webhook_secret = {SECRET}
[operator bench]
token = {TOKEN}
[log]
level = warn
[debug]
test_handlers = true
""")
    return cfg


def load_jobs(binary, cfg, n):
    lines = "".join(json.dumps({"kind": "test.noop", "key": f"bench-{i}", "payload": {"i": i}}) + "\n"
                    for i in range(n))
    subprocess.run([binary, "--config", str(cfg), "enqueue", "--batch", "-"], input=lines.encode(), check=True,
                   stdout=subprocess.DEVNULL)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def hammer(port, stop, out):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    while not stop.is_set():
        t = time.perf_counter()
        conn.request("GET", "/api/overview", headers={"Authorization": f"Bearer {TOKEN}"})
        r = conn.getresponse()
        r.read()
        times.append((time.perf_counter() - t) * 1000)
        if r.status != 200:
            out.put(("status", r.status))
    out.put(("times", times))


def webhooks(port, rate, seconds):
    body = json.loads(FIXTURE.read_text())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat, bad = [], 0
    start = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        due = start + i / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        body["id"] = 9000000 + i + int(start * 1000) % 1000000 * 1000
        raw = json.dumps(body).encode()
        sig = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
        headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
                   "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Hmac-Sha256": sig,
                   "X-Shopify-Webhook-Id": os.urandom(8).hex(), "X-Shopify-Event-Id": os.urandom(8).hex(),
                   "X-Shopify-API-Version": "2025-10"}
        t = time.perf_counter()
        conn.request("POST", "/webhooks/shopify", body=raw, headers=headers)
        r = conn.getresponse()
        r.read()
        lat.append((time.perf_counter() - t) * 1000)
        bad += r.status != 200
    return lat, bad


def summary(name, xs):
    return (f"{name}: n={len(xs)} p50={statistics.median(xs):.2f} ms p90={pct(xs, 90):.2f} p99={pct(xs, 99):.2f} "
            f"max={max(xs):.2f}")


def run(binary, folder, args):
    port = free_port()
    cfg = write_config(folder, port, args.http_threads)
    log = open(folder / "serve.log", "ab")
    proc = subprocess.Popen([binary, "serve", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        print(f"== {binary}")
        lat, bad = webhooks(port, args.rate, args.seconds)
        print("  " + summary("ack, dashboard idle      ", lat) + (f" non-200={bad}" if bad else ""))
        stop, out = multiprocessing.Event(), multiprocessing.Queue()
        procs = [multiprocessing.Process(target=hammer, args=(port, stop, out)) for _ in range(args.hammer)]
        for p in procs:
            p.start()
        time.sleep(0.5)
        lat, bad = webhooks(port, args.rate, args.seconds)
        stop.set()
        over, statuses = [], []
        for _ in procs:
            kind, v = out.get()
            while kind == "status":
                statuses.append(v)
                kind, v = out.get()
            over += v
        for p in procs:
            p.join()
        print("  " + summary(f"ack, {args.hammer} overview loops  ", lat) + (f" non-200={bad}" if bad else ""))
        print("  " + summary("GET /api/overview         ", over) + (f" non-200={statuses[:5]}" if statuses else ""))
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100000)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--hammer", type=int, default=2)
    ap.add_argument("--http-threads", type=int, default=2, help="[server] http_threads (default 2, as synchub's)")
    ap.add_argument("--dir", help="reuse this folder's store (created with --jobs jobs when missing)")
    ap.add_argument("bins", nargs="+")
    args = ap.parse_args()
    folder = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="synchub-dash."))
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "store.db").exists():
        load_jobs(args.bins[0], write_config(folder, 1), args.jobs)
    for b in args.bins:
        run(b, folder, args)


if __name__ == "__main__":
    sys.exit(main())
