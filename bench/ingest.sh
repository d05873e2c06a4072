#!/usr/bin/env bash
# Webhook-ingest benchmark: wrk POSTs signed orders/create webhooks at `synchub serve` (workers = 0, real fsync
# durability) and at nginx `return 200` (the loopback HTTP ceiling) in the same run, then prints req/s, p50/p99,
# the synchub/nginx ratio, pass/fail against the targets, and whether every acked webhook was stored as a job.
# It reports only: a missed target never makes it exit non-zero. It does not build synchub or measure workers.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${SYNCHUB_BIN:-$root/build/synchub}
fixtures=${SYNCHUB_FIXTURES:-$root/../shared/fixtures/shopify}
body_src=${BENCH_BODY:-$fixtures/orders_create.json}
duration=${BENCH_DURATION:-15}
conns_list=${BENCH_CONNECTIONS:-"16 64"}
threads=${BENCH_THREADS:-2}
keys=${BENCH_KEYS:-1}          # >1: spread requests over that many orders (ordering keys); default: one body
nginx_bin=${NGINX_BIN:-/usr/sbin/nginx}
nginx_workers=${NGINX_WORKERS:-auto}
shop=acme-outfitters.myshopify.com

# Targets (from the issue): ingest >= 50 % of the nginx ceiling; p99 <= 5 ms at 64 connections.
target_ratio_pct=50
target_p99_ms=5
target_p99_conns=64

die() { echo "ingest.sh: $*" >&2; exit 1; }

# --- 1. build and tool checks ------------------------------------------------------------------------------------
[ -x "$bin" ] || die "no synchub binary at $bin: build it first (make), or set SYNCHUB_BIN"
for tool in wrk openssl python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: run scripts/install-deps --bench"
done
[ -x "$nginx_bin" ] || die "nginx not found at $nginx_bin: run scripts/install-deps --bench (or set NGINX_BIN)"
[ -r "$body_src" ] || die "cannot read the webhook body $body_src (set SYNCHUB_FIXTURES or BENCH_BODY)"
cache="$(dirname "$bin")/CMakeCache.txt"
if [ -r "$cache" ]; then
    build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache")
    case "$build_type" in
        Release|RelWithDebInfo) ;;
        *) echo "ingest.sh: warning: $bin is a '${build_type:-unset}' build; figures from a Release build are the ones to quote." >&2 ;;
    esac
    if grep -qiE '^[A-Z_]*(SANITIZE|ASAN|TSAN)[A-Z_]*:[A-Z]*=(ON|TRUE|1|address|thread)' "$cache"; then
        echo "ingest.sh: warning: the build seems to have sanitizers enabled; figures will be low." >&2
    fi
fi

# --- 2. temp dir, cleanup --------------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/synchub-bench.XXXXXX")
serve_pid=""
nginx_pid=""
wrk_pid=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in "$wrk_pid" "$nginx_pid" "$serve_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "$wrk_pid" "$nginx_pid" "$serve_pid"; do
        if [ -n "$pid" ]; then
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [ -n "${BENCH_KEEP:-}" ]; then
        echo "ingest.sh: kept $tmp (BENCH_KEEP set)" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {  # URL LOGFILE PID NAME: wait up to 10 s for URL to answer 2xx/4xx
    local url=$1 log=$2 pid=$3 name=$4
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "ingest.sh: $name exited during start-up; its log:" >&2; tail -n 20 "$log" >&2; exit 1
        fi
        if curl -s -o /dev/null --max-time 1 "$url"; then return 0; fi
        sleep 0.1
    done
    echo "ingest.sh: $name did not answer $url within 10 s; its log:" >&2; tail -n 20 "$log" >&2; exit 1
}

# --- 3. body, signature, config --------------------------------------------------------------------------------
# The body is the fixture as-is (orders_create.json, ~6.6 KB; the peer figures used 3.9 KB, so this is the
# heavier case). Body and HMAC stay constant; only the event id changes per request (see wrk_shopify.lua).
secret=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
cp "$body_src" "$tmp/body.json"
openssl dgst -sha256 -hmac "$secret" -binary <"$tmp/body.json" | base64 | tr -d '\n' >"$tmp/body.sig"
body_bytes=$(wc -c <"$tmp/body.json" | tr -d ' ')
body_file="$tmp/body.json"
sig_file="$tmp/body.sig"
variants=1
if [ "$keys" -gt 1 ]; then
    # Diagnostic mode: N copies of the body with distinct order ids (same length), each signed once here.
    mkdir -p "$tmp/var"
    SECRET="$secret" python3 - "$tmp/body.json" "$tmp/var/body-" "$keys" <<'PY'
import base64, hashlib, hmac, json, os, re, sys
src, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = open(src, "rb").read()
oid = json.loads(raw)["id"]
key = os.environ["SECRET"].encode()
for i in range(1, n + 1):
    new = str(oid + i).encode()
    body = re.sub(rb'("id":\s*)' + str(oid).encode() + rb'\b', rb"\g<1>" + new, raw, count=1)
    body = body.replace(b"gid://shopify/Order/" + str(oid).encode(), b"gid://shopify/Order/" + new)
    open(f"{prefix}{i}.json", "wb").write(body)
    open(f"{prefix}{i}.sig", "w").write(base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode())
PY
    body_file="$tmp/var/body-"
    variants=$keys
fi

# One config per run, each with its own empty store, so every connection count starts from the same state and
# its job count can be checked on its own.
write_config() {  # CONNS PORT
    cat >"$tmp/synchub-c$1.ini" <<INI
; bench/ingest.sh: ingest only (workers = 0); the store keeps its normal fsync-on-ack durability.
[server]
listen = 127.0.0.1:$2
workers = 0

[store]
path = store-c$1.db

[shop $shop]
webhook_secret = $secret

[log]
; warn, like nginx's access_log off: per-request logging is not what this measures.
level = warn
INI
    chmod 600 "$tmp/synchub-c$1.ini"
}

nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
temp_paths=""
nginx_v=$("$nginx_bin" -V 2>&1 || true)
for m in client_body proxy fastcgi uwsgi scgi; do
    case "$m" in client_body) ;; *) case "$nginx_v" in *"--without-http_${m}_module"*) continue ;; esac ;; esac
    mkdir -p "$tmp/nginx/$m"
    temp_paths+="    ${m}_temp_path $tmp/nginx/$m;"$'\n'
done
cat >"$tmp/nginx/nginx.conf" <<NGINX
# bench/ingest.sh: the loopback HTTP ceiling; answers 200 to everything, logs nothing.
daemon off;
worker_processes $nginx_workers;
error_log $tmp/nginx/error.log warn;
pid $tmp/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_max_body_size 10m;
$temp_paths
    server {
        listen 127.0.0.1:$nginx_port;
        location / { return 200; }
    }
}
NGINX

# --- 4. nginx, and how to start / stop synchub ---------------------------------------------------------------
"$nginx_bin" -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" >"$tmp/nginx/stdout.log" 2>&1 &
nginx_pid=$!
wait_http "http://127.0.0.1:$nginx_port/" "$tmp/nginx/error.log" "$nginx_pid" "nginx"

start_synchub() {  # CONNS -> serve_pid, synchub_port; sends one signed probe webhook
    local c=$1 code
    synchub_port=$(free_port)
    write_config "$c" "$synchub_port"
    "$bin" serve --config "$tmp/synchub-c$c.ini" >"$tmp/serve-c$c.log" 2>&1 &
    serve_pid=$!
    wait_http "http://127.0.0.1:$synchub_port/healthz" "$tmp/serve-c$c.log" "$serve_pid" "synchub serve"
    # A misconfiguration should fail loudly here rather than show up as 100 % non-2xx.
    code=$(curl -s -o "$tmp/probe.out" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' -H 'X-Shopify-Topic: orders/create' \
        -H "X-Shopify-Shop-Domain: $shop" -H "X-Shopify-Hmac-Sha256: $(cat "$tmp/body.sig")" \
        -H 'X-Shopify-Webhook-Id: bench-probe' -H 'X-Shopify-Event-Id: bench-probe' \
        --data-binary @"$tmp/body.json" "http://127.0.0.1:$synchub_port/webhooks/shopify")
    if [ "$code" != 200 ]; then
        echo "ingest.sh: a signed probe webhook got HTTP $code (expected 200): $(cat "$tmp/probe.out")" >&2
        exit 1
    fi
}

stop_synchub() {  # CONNS: SIGTERM, wait (bounded), record the exit code and the stored job count
    local c=$1 rc
    # What the process made the disk write (write_bytes: what reached the block layer, WAL and checkpoints alike)
    # and its peak RSS, read once the checkpoints that follow the last commits have run (they tick every 200 ms).
    sleep 1
    sed -n 's/^write_bytes: *\([0-9]*\)/io_write_bytes=\1/p' "/proc/$serve_pid/io" >>"$tmp/result-synchub-$c"
    sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/hwm_kb=\1/p' "/proc/$serve_pid/status" >>"$tmp/result-synchub-$c"
    # CPU the process spent (user + system, all threads), in microseconds: divided by the acks it is the cost of one.
    awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "cpu_us=%.0f\n", ($12 + $13) * 1e6 / tck }' \
        "/proc/$serve_pid/stat" >>"$tmp/result-synchub-$c"
    # Context switches of every thread (voluntary: it waited; involuntary: it was preempted). Threads that ended
    # before this point are not counted; serve's threads all live until SIGTERM.
    cat /proc/"$serve_pid"/task/*/status 2>/dev/null |
        awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 }
             END { printf "cs_vol=%d\ncs_invol=%d\n", v, n }' >>"$tmp/result-synchub-$c"
    kill -TERM "$serve_pid"
    for _ in $(seq 1 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$serve_pid" 2>/dev/null; then
        echo "ingest.sh: synchub serve did not stop within 10 s of SIGTERM; killing it" >&2
        kill -KILL "$serve_pid" 2>/dev/null || true
    fi
    set +e; wait "$serve_pid"; rc=$?; set -e
    serve_pid=""
    echo "serve_exit=$rc" >>"$tmp/result-synchub-$c"
    echo "body_bytes=$body_bytes" >>"$tmp/result-synchub-$c"
    "$bin" status --config "$tmp/synchub-c$c.ini" --json |
        python3 -c 'import json,sys; print("stored=%d" % sum(json.load(sys.stdin)["states"].values()))' \
        >>"$tmp/result-synchub-$c"
}

echo "synchub ingest benchmark: wrk -t$threads -d${duration}s --latency, body $body_bytes bytes (orders/create),"
if [ "$keys" -gt 1 ]; then
    echo "  spread over $keys orders (BENCH_KEYS=$keys: a diagnostic, not the standard run)"
else
    echo "  one constant body: every job is for the same order, i.e. the same ordering key"
fi
echo "  synchub $("$bin" version 2>/dev/null | head -n 1 || echo '?'), workers = 0, a fresh store per run;"
echo "  nginx $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///'), worker_processes $nginx_workers; $(nproc) CPUs"
echo

# --- 5. the runs -----------------------------------------------------------------------------------------------
run_wrk() {  # NAME PORT CONNS -> writes $tmp/result-NAME-CONNS
    local name=$1 port=$2 conns=$3 out="$tmp/result-$1-$3"
    printf '  running %-8s -c%-3s for %ss ... ' "$name" "$conns" "$duration"
    # In the background + wait, so Ctrl-C / SIGTERM reach the traps at once instead of after the run.
    BENCH_BODY_FILE="$body_file" BENCH_SIG_FILE="$sig_file" BENCH_VARIANTS="$variants" BENCH_SHOP="$shop" \
    BENCH_RUN="$name$conns-$$" BENCH_OUT="$out" \
        wrk -t"$threads" -c"$conns" -d"${duration}s" --latency -s "$here/wrk_shopify.lua" \
            "http://127.0.0.1:$port/webhooks/shopify" >"$tmp/wrk-$name-$conns.txt" 2>&1 &
    wrk_pid=$!
    wait "$wrk_pid" || { wrk_pid=""; echo "wrk failed:"; cat "$tmp/wrk-$name-$conns.txt"; exit 1; }
    wrk_pid=""
    [ -s "$out" ] || { echo "wrk wrote no summary:"; cat "$tmp/wrk-$name-$conns.txt"; exit 1; }
    printf '%s req/s\n' "$(sed -n 's/^rps=\([0-9]*\).*/\1/p' "$out")"
    if [ -n "${BENCH_VERBOSE:-}" ]; then sed 's/^/      /' "$tmp/wrk-$name-$conns.txt"; fi
}

for c in $conns_list; do
    start_synchub "$c"
    run_wrk synchub "$synchub_port" "$c"
    stop_synchub "$c"
    run_wrk nginx "$nginx_port" "$c"
done
echo

# --- 6. the table, the targets, the durability cross-check ----------------------------------------------------
# Every 2xx that wrk saw must be a stored job. When the duration is up wrk stops reading with up to one request in
# flight per connection, which synchub may still commit: stored may exceed acked by up to the connection count.
# shellcheck disable=SC2086  # $conns_list is a list of numbers, split on purpose
BENCH_RESULTS=${BENCH_RESULTS:-} \
    python3 - "$tmp" "$target_ratio_pct" "$target_p99_ms" "$target_p99_conns" $conns_list <<'PY'
import os, sys
results = open(os.environ["BENCH_RESULTS"], "a") if os.environ.get("BENCH_RESULTS") else None
tmp, ratio_t, p99_t, p99_c = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
conns = [int(c) for c in sys.argv[5:]]
def load(name, c):
    d = {}
    for line in open(f"{tmp}/result-{name}-{c}"):
        k, _, v = line.strip().partition("=")
        if k: d[k] = float(v)
    return d
verdicts, checks = [], []
print(f"{'conns':>5}  {'server':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'non-2xx':>8} {'sock err':>8}")
for c in conns:
    s, n = load("synchub", c), load("nginx", c)
    for name, d in (("synchub", s), ("nginx", n)):
        sock = int(d["err_connect"] + d["err_read"] + d["err_write"] + d["err_timeout"])
        print(f"{c:>5}  {name:<8} {d['rps']:>9,.0f} {d['p50_us']/1000:>8.2f} {d['p99_us']/1000:>8.2f} "
              f"{d['max_us']/1000:>8.1f} {int(d['err_status']):>8} {sock:>8}")
    ratio = 100.0 * s["rps"] / n["rps"] if n["rps"] else 0.0
    p50r = s["p50_us"] / max(n["p50_us"], 1)
    p99r = s["p99_us"] / max(n["p99_us"], 1)
    print(f"{c:>5}  {'ratio':<8} {ratio:>8.1f}% {p50r:>7.1f}x {p99r:>7.1f}x")
    verdicts.append((f"-c{c}: synchub req/s >= {ratio_t:.0f} % of nginx", f"{ratio:.1f} %", ratio >= ratio_t))
    if c == p99_c:
        p99 = s["p99_us"] / 1000
        verdicts.append((f"-c{c}: synchub p99 <= {p99_t:g} ms", f"{p99:.2f} ms", p99 <= p99_t))
    acked = int(s["requests"] - s["err_status"]) + 1          # + the probe
    stored = int(s["stored"])
    diff = stored - acked
    if diff < 0:
        verdict = f"MISMATCH: {-diff} acked webhook(s) missing from the store (an ack was not durable)"
    elif diff > c:
        verdict = f"MISMATCH: {diff} more jobs than acks (at most {c} can be in flight when wrk stops)"
    else:
        verdict = f"OK ({diff} committed after wrk stopped reading; 0..{c} allowed)"
    checks.append(f"  -c{c}: stored {stored:>7,}  acked {acked:>7,}  {verdict}")
    wb = s.get("io_write_bytes", 0)
    checks.append(f"  -c{c}: {wb / max(acked, 1):,.0f} bytes written to disk per acked webhook"
                  f" ({wb / 1e6:,.0f} MB for {acked:,}; body {int(s.get('body_bytes', 0)):,} bytes), peak RSS"
                  f" {s.get('hwm_kb', 0) / 1024:.1f} MiB")
    checks.append(f"  -c{c}: {s.get('cpu_us', 0) / max(acked, 1):,.1f} us of CPU (user+sys, all threads) per acked webhook")
    cs_v, cs_i = s.get("cs_vol", 0), s.get("cs_invol", 0)
    checks.append(f"  -c{c}: {(cs_v + cs_i) / max(acked, 1):.2f} context switches per acked webhook"
                  f" ({cs_v / max(acked, 1):.2f} voluntary, {cs_i / max(acked, 1):.2f} preempted)")
    if results:
        for k, v in (("rps", s["rps"]), ("p99_ms", s["p99_us"] / 1000), ("bytes_per_ack", wb / max(acked, 1)),
                     ("rss_mib", s.get("hwm_kb", 0) / 1024), ("cpu_us_per_ack", s.get("cpu_us", 0) / max(acked, 1)),
                     ("cs_per_ack", (cs_v + cs_i) / max(acked, 1))):
            results.write(f"ingest_{k}_c{c} {v:.2f}\n")
        results.write(f"nginx_rps_c{c} {n['rps']:.0f}\nnginx_p99_ms_c{c} {n['p99_us'] / 1000:.2f}\n")
    exit_rc = int(s["serve_exit"])
    if exit_rc != 0:
        checks.append(f"  -c{c}: synchub serve exited with {exit_rc} after SIGTERM (expected 0)")
print()
print("targets (reporting only):")
for what, got, ok in verdicts:
    print(f"  {'PASS' if ok else 'FAIL'}  {what:<40} measured {got}")
if not any(c == p99_c for c in conns):
    print(f"  ----  the p99 target is defined at -c{p99_c}, which this run did not measure")
print()
print("durability: jobs stored (synchub status --json) vs 2xx acks (wrk requests - non-2xx, + 1 probe):")
print("\n".join(checks))
PY
