#!/usr/bin/env python3
"""disk_limits: the physical limits a durable ack path works against, measured on the file system of DIR:
sequential write bandwidth with an fdatasync after every 256 KiB chunk (MB/s), and the rate of small (8 KiB)
writes each followed by fdatasync (/s; what one fsync'd commit per request would cost). Reporting only; it does
not measure synchub. Usage: disk_limits.py [DIR] [--seconds S] [--results FILE]"""
import argparse
import os
import tempfile
import time


def seq_bandwidth(path, seconds, chunk=256 * 1024):
    buf = os.urandom(chunk)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    written, t0 = 0, time.monotonic()
    try:
        while time.monotonic() - t0 < seconds and written < (2 << 30):
            written += os.write(fd, buf)
            os.fdatasync(fd)
    finally:
        os.close(fd)
    return written / (time.monotonic() - t0) / 1e6


def sync_rate(path, seconds, size=8192, span=4 << 20):
    """8 KiB writes, each followed by fdatasync, cycling over a preallocated span (like a WAL that is rewound)."""
    buf = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.posix_fallocate(fd, 0, span)
        os.fsync(fd)
        n, off, t0 = 0, 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            os.pwrite(fd, buf, off)
            os.fdatasync(fd)
            n += 1
            off = (off + size) % span
        return n / (time.monotonic() - t0)
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--results", help="append 'name value' lines to this file")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir, prefix="synchub-disk.") as d:
        mbps = seq_bandwidth(os.path.join(d, "seq"), a.seconds)
        rate = sync_rate(os.path.join(d, "sync"), a.seconds)
    print(f"disk ({a.dir}): sequential write + fdatasync per 256 KiB {mbps:,.0f} MB/s;"
          f" 8 KiB write + fdatasync {rate:,.0f} /s")
    if a.results:
        with open(a.results, "a") as f:
            f.write(f"disk_seq_mbps {mbps:.1f}\ndisk_fsync_per_s {rate:.0f}\n")


if __name__ == "__main__":
    main()
