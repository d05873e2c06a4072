#!/usr/bin/env bash
# Runs all synchub benchmarks in sequence, the baselines in the same run: the disk's limits (bench/disk_limits.py),
# webhook ingest against nginx's loopback ceiling (bench/ingest.sh), the queue's drain against BullMQ and
# graphile-worker (bench/queue_peers.sh), then the issue-18 targets met or not (bench/verdict.py); then orders into
# the Odoo emulator and the inventory push through the Shopify emulator's throttle. Reporting only: it exits
# non-zero only when a benchmark could not run, never because a target was missed. It does not build anything.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/synchub-bench-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export BENCH_RESULTS=$tmp/results

echo "=== the disk's limits (bench/disk_limits.py, on the file system of \$TMPDIR, where the stores live) ==="
python3 "$here/disk_limits.py" "${TMPDIR:-/tmp}" --results "$BENCH_RESULTS"

echo
echo "=== ingest (bench/ingest.sh) ==="
"$here/ingest.sh"

echo
echo "=== queue drain against the peers (bench/queue_peers.sh) ==="
"$here/queue_peers.sh" || echo "queue_peers.sh could not run (see above)"

echo
echo "=== verdict (bench/verdict.py) ==="
python3 "$here/verdict.py" "$BENCH_RESULTS"
cp "$BENCH_RESULTS" "${BENCH_RESULTS_OUT:-/dev/null}" 2>/dev/null || true

if [ "${BENCH_FLOWS:-1}" = 1 ]; then
    echo
    echo "=== orders into Odoo (bench/odoo_orders.py, against the Odoo emulator) ==="
    python3 "$here/odoo_orders.py" --orders "${BENCH_ORDERS:-1000}"
    python3 "$here/odoo_orders.py" --orders "${BENCH_ORDERS:-1000}" --rtt-ms "${BENCH_RTT_MS:-5}"

    echo
    echo "=== inventory push (bench/inventory.py, through the Shopify emulator's throttle) ==="
    python3 "$here/inventory.py"
fi
