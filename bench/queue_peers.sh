#!/usr/bin/env bash
# The queue's drain rate against its peers, in one run on one machine: for each job count (20,000 and 100,000 no-op
# jobs) synchub's bench_queue on SQLite and on PostgreSQL (defaults, and with a local queue), BullMQ on a private redis-server, and graphile-worker
# with its defaults and tuned (local queue + batched completes) on the same PostgreSQL cluster, back to back, so the
# ratios hold even when the absolute figures drift. Also synchub's peak RSS with 100,000 queued jobs. Appends
# "name value" lines to $BENCH_RESULTS (bench/verdict.py reads them). Reporting only: it exits non-zero only when a
# benchmark could not run. It does not build synchub (make) or install Debian packages (install-deps --bench).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bench_queue=${BENCH_QUEUE_BIN:-$root/build/bench_queue}
counts=${BENCH_QUEUE_JOBS:-"20000 100000"}
workers=${BENCH_WORKERS:-16}            # synchub workers per pool, and the peers' concurrency
# synchub's [server] local_queue for its "tuned" runs (sqlite_lq, pg_lq), next to graphile-worker's tuned local queue
# of 500 (the same size); the default runs (sqlite, pg) keep local_queue = 0, as graphile-worker's default runs keep theirs off.
local_queue=${BENCH_LOCAL_QUEUE:-500}
results=${BENCH_RESULTS:-/dev/null}

die() { echo "queue_peers.sh: $*" >&2; exit 1; }
[ -x "$bench_queue" ] || die "$bench_queue not built (make)"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed for the peers"
command -v redis-server >/dev/null || die "redis-server not found: scripts/install-deps --bench"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/synchub-bench-peers.XXXXXX")
redis_pid=""
cleanup() {
    if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
        kill -TERM "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# The peers, exactly as bench/peers/package-lock.json pins them (npm ci only when the installed lock is older).
if [ ! -f "$here/peers/node_modules/.package-lock.json" ] ||
   [ "$here/peers/package-lock.json" -nt "$here/peers/node_modules/.package-lock.json" ]; then
    (cd "$here/peers" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in bench/peers failed"
fi

# PostgreSQL: the private cluster of scripts/pg-test-cluster (left running), unless SYNCHUB_TEST_PG_URL is given.
url=${SYNCHUB_TEST_PG_URL:-$("$root/scripts/pg-test-cluster" start)}

# Redis as BullMQ is usually deployed: append-only file, fsync every second (acks are not durable).
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync everysec \
    --dir "$tmp" --daemonize no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    kill -0 "$redis_pid" 2>/dev/null || { cat "$tmp/redis.log"; die "redis-server did not start"; }
    sleep 0.1
done

record() { echo "$1 $2" >>"$results"; }

synchub() {  # NAME STORE JOBS WORKERS [LOCAL_QUEUE]: one bench_queue run; records drain/enqueue rates, peak RSS
    local name=$1 store=$2 n=$3 w=$4 lq=${5:-0} out
    out=$("$bench_queue" --store "$store" --jobs "$n" --workers "$w" --local-queue "$lq") ||
        { echo "$out"; die "bench_queue failed"; }
    echo "$out"
    record "${name}_drain_$n" "$(sed -n 's/^  drain *\([0-9]*\) jobs.*/\1/p' <<<"$out")"
    record "${name}_enqueue_$n" "$(sed -n 's/^  enqueue *\([0-9]*\) jobs.*/\1/p' <<<"$out")"
    record "${name}_rss_$n" "$(sed -n 's/^  peak RSS *\([0-9.]*\) MiB.*/\1/p' <<<"$out")"
}

peer() {  # NAME JOBS COMMAND...: records the "drain_jobs_per_s N" line the peer's script prints
    local name=$1 n=$2 out; shift 2
    out=$("$@") || { echo "$out"; die "$name failed"; }
    grep -v '^drain_jobs_per_s' <<<"$out"
    record "${name}_drain_$n" "$(sed -n 's/^drain_jobs_per_s \([0-9]*\)/\1/p' <<<"$out")"
}

for n in $counts; do
    echo "--- $n no-op jobs; synchub $workers workers per pool (and 4), the peers concurrency $workers ---"
    synchub sqlite "$tmp/q.db" "$n" "$workers"
    synchub sqlite_w4 "$tmp/q.db" "$n" 4
    synchub sqlite_lq "$tmp/q.db" "$n" "$workers" "$local_queue"
    synchub pg "$url" "$n" "$workers"
    synchub pg_lq "$url" "$n" "$workers" "$local_queue"
    peer bullmq "$n" node "$here/peers/bullmq_drain.js" "$redis_port" "$n" "$workers"
    peer gw_default "$n" node "$here/peers/graphile_worker.js" "$url" "$n" 1 "$workers" 0 default
    peer gw_tuned "$n" node "$here/peers/graphile_worker.js" "$url" "$n" 1 "$workers" 0 tuned
done
