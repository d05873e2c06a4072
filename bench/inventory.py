#!/usr/bin/env python3
"""Inventory push Odoo -> Shopify through the Shopify emulator's throttle (src/flows/flow_stock.c).

The scenario of tests/integration/test_inventory.py::test_ten_thousand_changes_under_a_small_bucket, measured:
N SKUs at 2 locations (Shopify Main warehouse / Downtown store, Odoo WH/Stock / WH/Downtown); after an untimed
initial mapping under a roomy bucket, 2 x N absolute stock changes are committed in Odoo in one transaction, and the
time until Shopify's available quantities equal them is measured under a small bucket (default 50 points, 25/s).
From the Shopify emulator's call log: the mutations that ran, THROTTLED answers, requested/actual cost, the push
phase (first to last call that ran), and the floor the bucket allows for that cost. A naive per-change connector
(one inventorySetQuantities per change) is computed from the same measured per-mutation cost, not run.
Both emulators run as their own processes, synchub as `synchub serve`. It reports only.
"""
import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from odoo_orders import free_port  # noqa: E402  (same folder: one helper for both benchmarks)

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("SYNCHUB_BIN", str(ROOT / "build" / "synchub"))
SHOP = "acme-outfitters.myshopify.com"
MAIN = 71263993878        # Shopify "Main warehouse" (shopify_sim.MAIN_LOCATION)
DOWNTOWN = 71264026646    # Shopify "Downtown store" (shopify_sim.SECOND_LOCATION)
WH_STOCK = 8              # Odoo WH/Stock
BATCH = 250               # quantities per inventorySetQuantities (Shopify's input array maximum)

_procs = []


def _drain(stream):
    for _ in stream:
        pass


def start_emulator(script, *args):
    p = subprocess.Popen([sys.executable, str(ROOT / "tests" / "sim" / script), "--port", "0", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    _procs.append(p)
    line = p.stdout.readline()
    if not line:
        raise SystemExit("%s did not start" % script)
    threading.Thread(target=_drain, args=(p.stdout,), daemon=True).start()
    return json.loads(line)


def http_json(url, path, body=None, timeout=120):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data, {"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit("%s %s: HTTP %d %s" % ("POST" if data else "GET", path, exc.code, exc.read()[:500]))


def shopify_map(url):
    """{sku: {location id: available}} over every stocked level (the emulator's compact form)."""
    return http_json(url, "/__sim__/inventory?format=map")["inventory"]


def shopify_calls(url, since, field=None):
    q = "/__sim__/calls?since=%d" % since + ("&field=%s" % field if field else "")
    return http_json(url, q)["calls"]


def ran(c):
    """A call Shopify ran: HTTP 200, not throttled, not an idempotent replay, no top-level error."""
    return (c.get("status") == 200 and not c.get("throttled") and not c.get("idempotent_replay")
            and c.get("actual_cost") is not None)


def write_config(tmp, port, odoo, shopify):
    cfg = tmp / "synchub.ini"
    cfg.write_text(f"""[server]
listen = 127.0.0.1:{port}
workers = 2
[store]
path = {tmp / "synchub.db"}
poll_interval = 200ms
[shop {SHOP}]
webhook_secret = bench-secret
shipping_product = SHIP-STD
admin_token = {shopify['token']}
admin_url = {shopify['url']}
api_version = 2026-10
locations = WH/Stock={MAIN}, WH/Downtown={DOWNTOWN}
inventory_interval = 1s
inventory_lookback = 5s
fulfillment_interval = 0
reconcile_interval = 0
inventory_skip = ACME-*
[odoo]
url = {odoo['url']}
database = {odoo['db']}
username = sync
api_key = {odoo['sync']['api_key']}
protocol = auto
[kind stock.poll]
max_attempts = 20
backoff_base = 100ms
backoff_cap = 1s
[kind stock.sku]
max_attempts = 20
backoff_base = 100ms
backoff_cap = 1s
[log]
level = warn
""")
    return cfg


def serve(cfg, tmp, port):
    log = tmp / "serve.log"
    p = subprocess.Popen([BIN, "serve", "--config", str(cfg)], stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, cwd=str(tmp))
    _procs.append(p)
    for _ in range(200):
        if p.poll() is not None:
            raise SystemExit("synchub serve exited with %s:\n%s" % (p.returncode, log.read_text()[-3000:]))
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1).read()
            return p
        except OSError:
            time.sleep(0.1)
    raise SystemExit("synchub serve did not start:\n%s" % log.read_text()[-3000:])


def poll_jobs(cfg, state):
    cp = subprocess.run([BIN, "jobs", "list", "--json", "--kind", "stock.poll", "--state", state, "--limit", "1000",
                         "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    if cp.returncode != 0:
        raise SystemExit("synchub jobs list failed: %s" % cp.stderr)
    return json.loads(cp.stdout)


def wait_for(cond, timeout, interval, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(interval)
    return None


def cleanup():
    for p in reversed(_procs):
        if p.poll() is None:
            p.terminate()
    for p in reversed(_procs):
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    _procs.clear()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skus", type=int, default=5000, help="SKUs, each at 2 locations (default 5000)")
    ap.add_argument("--bucket", type=float, default=50, help="bucket size during the timed burst (default 50)")
    ap.add_argument("--restore", type=float, default=25, help="restore rate, points/s, during the burst (default 25)")
    ap.add_argument("--timeout", type=float, default=900, help="give up waiting for convergence after this (s)")
    ap.add_argument("--dump-calls", metavar="FILE",
                    help="write the Shopify and Odoo call logs of the timed phase (JSON)")
    args = ap.parse_args()
    if not Path(BIN).exists():
        raise SystemExit("no synchub binary at %s (ninja -C build, or set SYNCHUB_BIN)" % BIN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    n = args.skus
    skus = ["BULK-%05d" % i for i in range(n)]
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="synchub-bench-inventory.") as td:
        tmp = Path(td)
        try:
            odoo = start_emulator("odoo_sim.py", "--seed")
            shop = start_emulator("shopify_sim.py")
            ou, su = odoo["url"], shop["url"]

            # ---- set-up (as the integration test): N products in Shopify stocked at both locations with 0,
            # the same N in Odoo with 1 at WH/Stock, and an internal location WH/Downtown.
            http_json(su, "/__sim__/products", {"products": [
                {"sku": s, "title": s, "price": "5.00", "levels": {str(MAIN): 0, str(DOWNTOWN): 0}} for s in skus]})
            wh = http_json(ou, "/__sim__/records/stock.location?" + urllib.parse.urlencode(
                {"domain": json.dumps([["complete_name", "=", "WH"]]), "fields": json.dumps(["id"])}))[0]["id"]
            downtown = http_json(ou, "/__sim__/exec", {"model": "stock.location", "method": "create", "args": [
                {"name": "Downtown", "usage": "internal", "location_id": wh}]})["result"]
            if isinstance(downtown, list):
                downtown = downtown[0]
            http_json(ou, "/__sim__/stock", {"changes": [{"default_code": s, "quantity": 1} for s in skus],
                                             "create_products": True}, timeout=600)

            # ---- phase 1 (untimed): initial mapping (SKU lookups, kept as links) under a roomy bucket
            http_json(su, "/__sim__/bucket", {"maximum": 20000, "restore": 20000, "available": 20000})
            port = free_port()
            cfg = write_config(tmp, port, odoo, shop)
            serve(cfg, tmp, port)
            t1 = time.monotonic()

            def mapped():
                m = shopify_map(su)
                return all(m.get(s, {}).get(str(MAIN)) == 1 for s in skus)
            if wait_for(mapped, args.timeout, 0.5, "initial push") is None:
                raise SystemExit("initial push of %d SKUs did not reach Shopify within %.0f s (see %s)" % (
                    n, args.timeout, tmp / "serve.log"))
            if wait_for(lambda: not poll_jobs(cfg, "queued") and not poll_jobs(cfg, "running"), 60, 0.2,
                        "stock.poll idle") is None:
                raise SystemExit("a stock.poll job stayed queued/running after the initial push")
            phase1 = time.monotonic() - t1

            # ---- phase 2 (timed): 2N absolute changes in one Odoo transaction, under the small bucket
            http_json(su, "/__sim__/bucket", {"maximum": args.bucket, "restore": args.restore,
                                              "available": args.bucket})
            all_calls = shopify_calls(su, 0)
            mark = all_calls[-1]["seq"] if all_calls else 0
            del all_calls
            changes = [{"default_code": s, "location_id": WH_STOCK, "quantity": 10 + i % 97}
                       for i, s in enumerate(skus)]
            changes += [{"default_code": s, "location_id": downtown, "quantity": 3 + i % 13}
                        for i, s in enumerate(skus)]
            want = {s: {str(MAIN): 10 + i % 97, str(DOWNTOWN): 3 + i % 13} for i, s in enumerate(skus)}
            tw = time.monotonic()
            http_json(ou, "/__sim__/stock", {"changes": changes}, timeout=600)
            t0 = time.monotonic()       # the changes are committed in Odoo (committed before the answer)
            odoo_write = t0 - tw
            committed_wall = time.time()

            def converged():
                m = shopify_map(su)
                return all(m.get(s) == w for s, w in want.items())
            e2e = wait_for(converged, args.timeout, 0.2, "convergence")
            if e2e is None:
                raise SystemExit("Shopify did not converge within %.0f s of the Odoo commit (see %s)" % (
                    args.timeout, tmp / "serve.log"))
            time.sleep(1.5)              # let a last poll pass show up (it should cost nothing)
            calls = shopify_calls(su, mark)
            if args.dump_calls:
                odoo_calls = [c for c in http_json(ou, "/__sim__/calls") if c.get("ts", 0) >= committed_wall - 5]
                Path(args.dump_calls).write_text(json.dumps({"committed": committed_wall, "calls": calls,
                                                             "odoo_calls": odoo_calls}))
        finally:
            cleanup()

    # ---- figures from the call log since the mark
    mut_all = [c for c in calls if "inventorySetQuantities" in (c.get("fields") or [])]
    mut = [c for c in mut_all if ran(c)]
    ran_all = [c for c in calls if ran(c)]
    throttled = [c for c in calls if c.get("throttled")]
    throttled_mut = [c for c in throttled if c in mut_all]
    replays = [c for c in mut_all if c.get("idempotent_replay")]
    errored = [c for c in calls if c.get("status") == 200 and not c.get("throttled") and c.get("errors")]
    quantities = sum(len(c["variables"]["input"]["quantities"]) for c in mut)
    req_all = sum(c["requested_cost"] or 0 for c in ran_all)
    act_all = sum(c["actual_cost"] or 0 for c in ran_all)
    req_mut = sum(c["requested_cost"] or 0 for c in mut)
    act_mut = sum(c["actual_cost"] or 0 for c in mut)
    other_fields = {}
    for c in ran_all:
        if c not in mut:
            for f in c.get("fields") or ["?"]:
                other_fields[f] = other_fields.get(f, 0) + 1
    # push phase: from the start of the first mutation that ran to the end of the last one
    push = (mut[-1]["ts"] + mut[-1]["duration_ms"] / 1000.0 - mut[0]["ts"]) if mut else 0.0
    first_delay = (mut[0]["ts"] - committed_wall) if mut else 0.0
    floor = max(0.0, (req_all - args.bucket) / args.restore)
    floor_mut = max(0.0, (req_mut - args.bucket) / args.restore)
    updates = 2 * n
    per_mut_req = req_mut / len(mut) if mut else 0.0
    naive_s = updates * per_mut_req / args.restore
    ideal = math.ceil(updates / BATCH)

    def ratio(a, b):
        return "%.2fx" % (a / b) if b > 0 else "n/a (floor 0)"

    print("\nInventory push Odoo -> Shopify: %d SKUs x 2 locations = %d quantity changes in one Odoo transaction;"
          % (n, updates))
    print("bucket %g points, restore %g points/s (the Shopify emulator's leaky bucket; full at the start)"
          % (args.bucket, args.restore))
    print("  initial mapping (untimed, roomy bucket): %.1f s; Odoo write of the %d changes: %.2f s"
          % (phase1, updates, odoo_write))
    print("  end-to-end (committed in Odoo -> Shopify converged): %8.2f s" % e2e)
    print("  push phase (first to last mutation that ran):        %8.2f s   (first mutation %.2f s after the commit)"
          % (push, first_delay))
    print("  floor the bucket allows (all calls that ran):       %8.2f s   = (%d requested - %g) / %g"
          % (floor, req_all, args.bucket, args.restore))
    print("  floor counting only the mutations:                   %8.2f s   = (%d requested - %g) / %g"
          % (floor_mut, req_mut, args.bucket, args.restore))
    print("  push phase / floor: %s (goal <= 1.2x); end-to-end / floor: %s; (vs mutation-only floor: %s, %s)"
          % (ratio(push, floor), ratio(e2e, floor), ratio(push, floor_mut), ratio(e2e, floor_mut)))
    print("  mutations (inventorySetQuantities that ran): %d (ceil(%d/%d) = %d); quantities sent %d; "
          "%.1f quantities/mutation" % (len(mut), updates, BATCH, ideal, quantities,
                                        quantities / len(mut) if mut else 0))
    print("  other calls that ran: %s" % (", ".join("%s x%d" % kv for kv in sorted(other_fields.items()))
                                          or "none"))
    print("  cost: requested %d / actual %d points (mutations: %d / %d, %.1f requested per mutation); "
          "%.1f actual points per 1,000 updates" % (req_all, act_all, req_mut, act_mut, per_mut_req,
                                                     act_all / (updates / 1000.0)))
    print("  THROTTLED answers: %d (%d of them inventorySetQuantities); idempotent replays %d; "
          "other non-run answers %d" % (len(throttled), len(throttled_mut), len(replays), len(errored)))
    print("  naive baseline (computed, not run): one inventorySetQuantities per change = %d mutations x %.1f "
          "requested points / %g points/s = %.1f s" % (updates, per_mut_req, args.restore, naive_s))
    print("    -> %s synchub's end-to-end, %s its push phase; %s the mutations"
          % (ratio(naive_s, e2e), ratio(naive_s, push), ratio(updates, len(mut)) if mut else "n/a"))
    if quantities != updates:
        print("  NOTE: %d quantities sent for %d changes" % (quantities, updates))
    print("  (wall time of this run: %.1f s)" % (time.monotonic() - t_start))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        cleanup()
        sys.exit(130)
