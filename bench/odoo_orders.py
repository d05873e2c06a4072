#!/usr/bin/env python3
"""Orders into Odoo: synchub against a naive client, on the same Odoo emulator, in the same run.

For N orders (new customers, then returning customers) it measures orders/s and Odoo RPCs per order for
  - synchub: webhooks stored first (workers = 0), then `synchub serve` with 4 workers drains them into Odoo;
  - a naive client: search partner, create partner, search product per line, create order, create each line,
    confirm — the shape of most hand-written connectors (and not idempotent: a retry duplicates).
The emulator (tests/sim/odoo_sim.py) runs as its own process; RPCs are counted from its call log. It reports only.

--fixture money sends the taxed, discounted US order of tests/fixtures/money (the Odoo taxes it needs are created
first); --before-bin PATH runs the synchub rows again with another build (say main's) and prints RPCs per order
before and after side by side: the money proof (one read-back per order) must add at most one call.
"""
import argparse
import base64
import copy
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("SYNCHUB_FIXTURES", ROOT.parent / "shared" / "fixtures" / "shopify"))
BIN = os.environ.get("SYNCHUB_BIN", str(ROOT / "build" / "synchub"))
SHOP = "acme-outfitters.myshopify.com"
SECRET = "bench-secret"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_sim():
    p = subprocess.Popen([sys.executable, str(ROOT / "tests" / "sim" / "odoo_sim.py"), "--port", "0", "--seed"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = json.loads(p.stdout.readline())
    return p, ready


def sim_get(url, path):
    with urllib.request.urlopen(url + path, timeout=30) as r:
        return json.loads(r.read())


def sim_calls(url):
    """The sequence number of the last call (the log itself keeps only the newest 20,000 entries)."""
    calls = sim_get(url, "/__sim__/calls?since=%d" % max(0, _last_seq.get(url, 0) - 1))
    if calls:
        _last_seq[url] = calls[-1]["seq"]
    return _last_seq.get(url, 0)


_last_seq = {}


def set_rtt(url, ms):
    """Model the network between synchub and a hosted Odoo: every RPC waits ms before it runs (outside the
    emulator's lock, like a round trip)."""
    body = {"mode": "slow", "delay_ms": ms, "count": None} if ms else {"mode": "none"}
    req = urllib.request.Request(url + "/__sim__/fault", json.dumps(body).encode(), {"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


MONEY_FIXTURE = ROOT / "tests" / "fixtures" / "money" / "us_state_county_discount_code.json"
TEMPLATE = [FIXTURES / "orders_create.json"]


def sim_exec(url, model, method, args):
    req = urllib.request.Request(url + "/__sim__/exec", json.dumps({"model": model, "method": method, "args": args,
                                                                     "kwargs": {}}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["result"]


def money_taxes(url):
    """The Odoo taxes the money fixture's lines carry (IL state 6.25 %, county 1 %)."""
    for name, amount in (("IL State 6.25%", 6.25), ("County 1%", 1.0)):
        sim_exec(url, "account.tax", "create", [{"name": name, "amount": amount, "type_tax_use": "sale"}])


def make_orders(n, returning, base):
    tpl = json.loads(TEMPLATE[0].read_text())
    orders = []
    for i in range(n):
        o = copy.deepcopy(tpl)
        o["id"] = base + i
        o["name"] = "#B%d" % (base + i)
        cust = (i % 50) if returning else i
        o["customer"]["id"] = 7000000000000 + base + cust if not returning else 7900000000000 + cust
        o["email"] = o["customer"]["email"] = "bench-%s-%d@example.com" % ("ret" if returning else base, cust)
        for j, li in enumerate(o["line_items"]):
            li["id"] = (base + i) * 10 + j
        o["shipping_lines"][0]["id"] = (base + i) * 10 + 9
        orders.append(o)
    return orders


def post(port, body, event_id):
    sig = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/webhooks/shopify", body=body, headers={
        "X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Hmac-Sha256": sig,
        "X-Shopify-Webhook-Id": "w-" + event_id, "X-Shopify-Event-Id": event_id, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def write_config(tmp, port, ready, workers):
    cfg = tmp / "synchub.ini"
    cfg.write_text(f"""[server]
listen = 127.0.0.1:{port}
workers = {workers}
[store]
path = synchub.db
poll_interval = 100ms
[shop {SHOP}]
webhook_secret = {SECRET}
shipping_product = SHIP-STD
[odoo]
url = {ready['url']}
database = {ready['db']}
username = sync
api_key = {ready['sync']['api_key']}
[log]
level = warn
""")
    return cfg


def serve(cfg, log):
    p = subprocess.Popen([BIN, "serve", "--config", str(cfg)], stderr=open(log, "a"))
    return p


def synchub_rows(tmp, ready, n, label=""):
    """New customers, a warm-up, returning customers: the two synchub rows."""
    warm = make_orders(50, True, 5_000_000)
    rows = [synchub_run(tmp, make_orders(n, False, 1_000_000), ready, "synchub%s, new customers" % label)]
    synchub_run(tmp, warm, ready, "warm-up")
    rows.append(synchub_run(tmp, make_orders(n, True, 2_000_000), ready, "synchub%s, returning customers" % label))
    return rows


def wait_http(port):
    for _ in range(100):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("synchub serve did not start")


def synchub_run(tmp, orders, ready, label):
    port = free_port()
    cfg = write_config(tmp, port, ready, 0)
    p = serve(cfg, tmp / "serve.log")
    wait_http(port)
    with ThreadPoolExecutor(16) as ex:
        statuses = list(ex.map(lambda o: post(port, json.dumps(o).encode(), "ev-%d" % o["id"]), orders))
    assert all(s == 200 for s in statuses), statuses[:5]
    p.send_signal(signal.SIGTERM)
    p.wait()
    write_config(tmp, port, ready, 4)
    before = sim_calls(ready["url"])
    t0 = time.monotonic()
    p = serve(cfg, tmp / "serve.log")
    while True:
        st = json.loads(subprocess.run([BIN, "status", "--json", "--config", str(cfg)], capture_output=True,
                                       text=True).stdout)
        s = st["states"]
        if s["queued"] == 0 and s["running"] == 0 and s["retry"] == 0:
            break
        time.sleep(0.1)
    dt = time.monotonic() - t0
    p.send_signal(signal.SIGTERM)
    p.wait()
    rpcs = sim_calls(ready["url"]) - before
    return {"label": label, "orders": len(orders), "seconds": dt, "rpcs": rpcs, "dead": s["dead"]}


class Naive:
    """search partner, create partner, search product per line, create order, create lines, confirm."""

    def __init__(self, ready):
        self.url, self.db, self.key = ready["url"], ready["db"], ready["sync"]["api_key"]
        self.uid = self.rpc("common", "authenticate", [self.db, "sync", self.key, {}])
        self.n = 1

    def rpc(self, service, method, args):
        self.n = getattr(self, "n", 0) + 1
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "id": self.n,
                           "params": {"service": service, "method": method, "args": args}}).encode()
        req = urllib.request.Request(self.url + "/jsonrpc", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            d = json.loads(r.read())
        if "error" in d:
            raise RuntimeError(d["error"]["data"]["message"])
        return d.get("result")

    def kw(self, model, method, args, kwargs=None):
        return self.rpc("object", "execute_kw", [self.db, self.uid, self.key, model, method, args, kwargs or {}])

    def order(self, o):
        c = o["customer"]
        found = self.kw("res.partner", "search_read", [[["email", "=", c["email"]]]], {"fields": ["id"], "limit": 1})
        pid = found[0]["id"] if found else self.kw("res.partner", "create",
                                                    [{"name": c["first_name"] + " " + c["last_name"],
                                                      "email": c["email"]}])
        if isinstance(pid, list):
            pid = pid[0]
        lines = []
        for li in o["line_items"]:
            prod = self.kw("product.product", "search_read", [[["default_code", "=", li["sku"]]]], {"fields": ["id"]})
            lines.append((prod[0]["id"], li["quantity"], float(li["price"]), li["name"]))
        ship = self.kw("product.product", "search_read", [[["default_code", "=", "SHIP-STD"]]], {"fields": ["id"]})
        lines.append((ship[0]["id"], 1, float(o["shipping_lines"][0]["price"]), "Shipping"))
        so = self.kw("sale.order", "create", [{"partner_id": pid, "client_order_ref": o["name"]}])
        so = so[0] if isinstance(so, list) else so
        for prod, qty, price, name in lines:
            self.kw("sale.order.line", "create", [{"order_id": so, "product_id": prod, "product_uom_qty": qty,
                                                   "price_unit": price, "name": name}])
        self.kw("sale.order", "action_confirm", [[so]])


def naive_run(orders, ready, label):
    clients = [Naive(ready) for _ in range(4)]  # 4 like synchub's workers, each with its own client
    before = sim_calls(ready["url"])
    t0 = time.monotonic()
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda io: clients[io[0] % 4].order(io[1]), enumerate(orders)))
    dt = time.monotonic() - t0
    return {"label": label, "orders": len(orders), "seconds": dt, "rpcs": sim_calls(ready["url"]) - before, "dead": 0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--rtt-ms", type=int, default=0, help="simulated round trip to Odoo per RPC (0 = loopback)")
    ap.add_argument("--fixture", choices=("plain", "money"), default="plain",
                    help="plain: shared/fixtures orders_create.json (no tax); money: the taxed US order of "
                         "tests/fixtures/money")
    ap.add_argument("--before-bin", help="another synchub build (e.g. main's): its RPCs per order are shown beside")
    ap.add_argument("--synchub-only", action="store_true", help="skip the naive client's rows")
    args = ap.parse_args()
    global BIN
    if not Path(BIN).exists():
        raise SystemExit("no synchub binary at %s (make, or set SYNCHUB_BIN)" % BIN)
    if args.fixture == "money":
        TEMPLATE[0] = MONEY_FIXTURE
    results, before = [], []
    with tempfile.TemporaryDirectory(prefix="synchub-bench-odoo.") as td:
        for label, binary, out in (((" (before)", args.before_bin, before),) if args.before_bin else ()) + \
                ((("", BIN, results),)):
            tmp = Path(td) / ("before" if out is before else "after")
            tmp.mkdir()
            BIN = binary
            sim, ready = start_sim()
            set_rtt(ready["url"], args.rtt_ms)
            if args.fixture == "money":
                money_taxes(ready["url"])
            try:
                # warm-up: one returning customer's first order, so "returning" really means known to synchub
                out.extend(synchub_rows(tmp, ready, args.orders, label))
            finally:
                sim.terminate()
                sim.wait()
    if before:
        print("\nRPCs per order, before (%s) and after (%s), %s orders" % (args.before_bin, BIN, args.fixture))
        print("%-32s %10s %10s %8s" % ("", "before", "after", "added"))
        for b, a in zip(before, results):
            print("%-32s %10.2f %10.2f %8.2f" % (a["label"], b["rpcs"] / b["orders"], a["rpcs"] / a["orders"],
                                                 a["rpcs"] / a["orders"] - b["rpcs"] / b["orders"]))
    if args.synchub_only:
        for r in before + results:
            print("%-40s %9.1f orders/s %12.2f RPCs/order %6d dead" % (r["label"], r["orders"] / r["seconds"],
                                                                        r["rpcs"] / r["orders"], r["dead"]))
        return
    with tempfile.TemporaryDirectory(prefix="synchub-bench-odoo.") as td:
        sim, ready = start_sim()
        set_rtt(ready["url"], args.rtt_ms)
        try:
            results.append(naive_run(make_orders(args.orders, False, 3_000_000), ready, "naive, new customers"))
            naive_run(make_orders(50, True, 6_000_000), ready, "warm-up")
            results.append(naive_run(make_orders(args.orders, True, 4_000_000), ready, "naive, returning customers"))
        finally:
            sim.terminate()
            sim.wait()
    print("\nOrders into the Odoo emulator (%d orders per row; emulator = one Python process, one lock; %s)" % (
        args.orders, "%d ms simulated round trip per RPC" % args.rtt_ms if args.rtt_ms else "loopback"))
    print("%-32s %9s %10s %12s %6s" % ("", "orders/s", "RPCs", "RPCs/order", "dead"))
    for r in results:
        print("%-32s %9.1f %10d %12.2f %6d" % (r["label"], r["orders"] / r["seconds"], r["rpcs"],
                                              r["rpcs"] / r["orders"], r["dead"]))
    s_new, s_ret, n_new, n_ret = results
    print("\nsynchub / naive: orders/s %.2fx (new), %.2fx (returning); RPCs per order %.2fx, %.2fx" % (
        (s_new["orders"] / s_new["seconds"]) / (n_new["orders"] / n_new["seconds"]),
        (s_ret["orders"] / s_ret["seconds"]) / (n_ret["orders"] / n_ret["seconds"]),
        (s_new["rpcs"] / s_new["orders"]) / (n_new["rpcs"] / n_new["orders"]),
        (s_ret["rpcs"] / s_ret["orders"]) / (n_ret["rpcs"] / n_ret["orders"])))
    print("(synchub's figures include its idempotency: external-ID checks and load() with external IDs; the naive "
          "client duplicates orders on any retry.)")
    print("(orders/s is bounded by the emulator: one Python process under one lock, whose time per write grows with "
          "its data; RPCs per order is the figure that carries over to a real Odoo across a network.)")


if __name__ == "__main__":
    main()
