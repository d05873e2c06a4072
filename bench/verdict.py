#!/usr/bin/env python3
"""verdict: the issue-18 targets, met or not, from the "name value" lines that bench/run.sh's benchmarks appended
to one results file (ingest.sh, queue_peers.sh, disk_limits.py), so every ratio is between figures of the same run.
Reporting only: always exits 0 once it could read the file. Usage: verdict.py RESULTS"""
import sys


def main():
    r = {}
    for line in open(sys.argv[1]):
        k, _, v = line.strip().partition(" ")
        if k and v:
            try:
                r[k] = float(v)
            except ValueError:
                pass
    rows = []   # (verdict, what, measured)

    def target(what, num, den, factor, fmt="{:.2f}x"):
        """num >= factor * den, reported as the ratio num/den."""
        if num not in r or den not in r or not r[den]:
            rows.append(("----", what, f"not measured ({num} / {den})"))
            return
        ratio = r[num] / r[den]
        rows.append(("MET " if ratio >= factor else "NOT ", what,
                     f"{r[num]:,.0f} vs {r[den]:,.0f}: " + fmt.format(ratio)))

    for c in (16, 64):
        target(f"ingest -c{c} >= 50 % of nginx", f"ingest_rps_c{c}", f"nginx_rps_c{c}", 0.5, "{:.1%}")
    if "ingest_p99_ms_c64" in r:
        p99 = r["ingest_p99_ms_c64"]
        rows.append(("MET " if p99 <= 5 else "NOT ", "ingest -c64 p99 <= 5 ms", f"{p99:.2f} ms"))
    # Like with like: synchub's defaults against graphile-worker's defaults, synchub with [server] local_queue
    # against graphile-worker with its local queue and batched completes; BullMQ has one mode (concurrency 16).
    for n in (20000, 100000):
        k = n // 1000
        target(f"drain {k}k SQLite local queue >= 2x graphile-worker tuned", f"sqlite_lq_drain_{n}",
               f"gw_tuned_drain_{n}", 2)
        target(f"drain {k}k SQLite local queue >= 3x BullMQ", f"sqlite_lq_drain_{n}", f"bullmq_drain_{n}", 3)
        target(f"drain {k}k PostgreSQL local queue >= 2x graphile-worker tuned", f"pg_lq_drain_{n}",
               f"gw_tuned_drain_{n}", 2)
        target(f"drain {k}k SQLite defaults >= 2x graphile-worker defaults", f"sqlite_drain_{n}",
               f"gw_default_drain_{n}", 2)
        target(f"drain {k}k SQLite defaults >= 3x BullMQ", f"sqlite_drain_{n}", f"bullmq_drain_{n}", 3)
        target(f"drain {k}k PostgreSQL defaults >= 2x graphile-worker defaults", f"pg_drain_{n}",
               f"gw_default_drain_{n}", 2)
    for k in ("sqlite_rss_100000", "sqlite_w4_rss_100000", "sqlite_lq_rss_100000"):
        if k in r:
            rows.append(("MET " if r[k] <= 30 else "NOT ", f"peak RSS <= 30 MB, 100k queued jobs ({k})",
                         f"{r[k]:.1f} MiB"))

    print("figures of this run:")
    for k in sorted(r):
        print(f"  {k:<28} {r[k]:>14,.2f}")
    if "disk_seq_mbps" in r:
        for c in (16, 64):
            if f"ingest_bytes_per_ack_c{c}" in r and f"ingest_rps_c{c}" in r:
                mbps = r[f"ingest_bytes_per_ack_c{c}"] * r[f"ingest_rps_c{c}"] / 1e6
                print(f"  ingest -c{c} wrote {mbps:,.0f} MB/s of the disk's {r['disk_seq_mbps']:,.0f} MB/s"
                      f" ({r[f'ingest_bytes_per_ack_c{c}']:,.0f} bytes per acked webhook)")
    print()
    print("targets (issue 18; reporting only):")
    for v, what, got in rows:
        print(f"  {v}  {what:<58} {got}")


if __name__ == "__main__":
    main()
