#!/usr/bin/env bash
# The PostgreSQL store's queue figures next to SQLite's, in one run on one machine: drain rate with 1, 2 and 3
# nodes sharing one database, and single-claim latency with few and with many (default 1,000,000) done jobs in the
# table. Uses build/bench_queue and the private cluster of scripts/pg-test-cluster (started if needed, left
# running). With node and npm present it runs the same drains with graphile-worker (bench/graphile_worker.js,
# installed with npm into a temp folder; BENCH_GRAPHILE=0 skips it). Reporting only: it exits non-zero only when a
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
    mkdir -p "$tmp/gw"
    cp "$here/graphile_worker.js" "$tmp/gw/"
    if npm install --prefix "$tmp/gw" --no-audit --no-fund "graphile-worker@${BENCH_GRAPHILE_VERSION:-0.16}" \
        >"$tmp/gw/npm.log" 2>&1; then
        gw="$tmp/gw/graphile_worker.js"
        for nodes in 1 2 3; do
            node "$gw" "$url" "$jobs" "$nodes" "$workers"
        done
    else
        echo "graphile-worker: npm install failed (see below); skipped"
        tail -5 "$tmp/gw/npm.log"
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
    node "$gw" "$url" 5000 1 "$workers" "$done_rows"
fi
