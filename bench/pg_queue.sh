#!/usr/bin/env bash
# The PostgreSQL store's queue figures next to SQLite's, in one run on one machine: drain rate with 1, 2 and 3
# nodes sharing one database, and single-claim latency with few and with many (default 1,000,000) done jobs in the
# table. Uses build/bench_queue and the private cluster of scripts/pg-test-cluster (started if needed, left
# running). With node and npm present it runs the same drains with graphile-worker (bench/peers/graphile_worker.js,
# pinned by bench/peers/package-lock.json; BENCH_GRAPHILE=0 skips it). Reporting only: it exits non-zero only when a
# benchmark could not run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bench_queue=${BENCH_QUEUE_BIN:-$root/build/bench_queue}
jobs=${BENCH_PG_JOBS:-20000}
done_rows=${BENCH_PG_DONE:-1000000}
workers=${BENCH_PG_WORKERS:-4}

[ -x "$bench_queue" ] || { echo "pg_queue: $bench_queue not built (make)" >&2; exit 1; }
url=${SYNCHUB_TEST_PG_URL:-$("$root/scripts/pg-test-cluster" start)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/synchub-bench-pg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "=== drain: $jobs no-op jobs, $workers workers per node ==="
"$bench_queue" --store "$tmp/q.db" --jobs "$jobs" --workers "$workers"
for nodes in 1 2 3; do
    "$bench_queue" --store "$url" --jobs "$jobs" --workers "$workers" --nodes "$nodes"
done

gw=""
if [ "${BENCH_GRAPHILE:-1}" = 1 ] && command -v node >/dev/null && command -v npm >/dev/null; then
    # graphile-worker as bench/peers/package-lock.json pins it (npm ci only when the installed lock is older)
    if [ -f "$here/peers/node_modules/.package-lock.json" ] &&
       ! [ "$here/peers/package-lock.json" -nt "$here/peers/node_modules/.package-lock.json" ] ||
       (cd "$here/peers" && npm ci --no-audit --no-fund --loglevel=error >"$tmp/npm.log" 2>&1); then
        gw="$here/peers/graphile_worker.js"
        for nodes in 1 2 3; do
            node "$gw" "$url" "$jobs" "$nodes" "$workers" 0 default | grep -v '^drain_jobs_per_s'
        done
    else
        echo "graphile-worker: npm ci in bench/peers failed (see below); skipped"
        tail -5 "$tmp/npm.log"
    fi
fi

echo
echo "=== single claims among done jobs (10,000, then $done_rows) ==="
for d in 10000 "$done_rows"; do
    "$bench_queue" --store "$tmp/q.db" --jobs 5000 --workers "$workers" --done "$d"
    "$bench_queue" --store "$url" --jobs 5000 --workers "$workers" --done "$d"
done
if [ -n "$gw" ]; then
    echo
    echo "=== graphile-worker drain with $done_rows jobs scheduled a day ahead (it deletes done jobs) ==="
    node "$gw" "$url" 5000 1 "$workers" "$done_rows" default | grep -v '^drain_jobs_per_s'
fi
