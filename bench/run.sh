#!/usr/bin/env bash
# Runs all synchub benchmarks in sequence: bench/ingest.sh (webhook ingest vs the nginx ceiling), then
# build/bench_queue (enqueue and drain 100k no-op jobs) when it has been built, orders into the Odoo emulator,
# and the inventory push through the Shopify emulator's throttle. Reporting only: it exits non-zero
# only when a benchmark could not run, never because a target was missed. It does not build anything.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bench_queue=${BENCH_QUEUE_BIN:-$root/build/bench_queue}

echo "=== ingest (bench/ingest.sh) ==="
"$here/ingest.sh"

echo
echo "=== queue (build/bench_queue) ==="
if [ ! -x "$bench_queue" ]; then
    echo "skipped: $bench_queue not built (it is a CMake target; build it, or set BENCH_QUEUE_BIN)"
else
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/synchub-bench-queue.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    "$bench_queue" --jobs 100000 --workers 4 --store "$tmp/q.db" || echo "bench_queue failed"
fi

echo
echo "=== orders into Odoo (bench/odoo_orders.py, against the Odoo emulator) ==="
python3 "$here/odoo_orders.py" --orders "${BENCH_ORDERS:-1000}"
python3 "$here/odoo_orders.py" --orders "${BENCH_ORDERS:-1000}" --rtt-ms "${BENCH_RTT_MS:-5}"

echo
echo "=== inventory push (bench/inventory.py, through the Shopify emulator's throttle) ==="
python3 "$here/inventory.py"
