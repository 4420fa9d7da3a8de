#!/usr/bin/env python3
"""File-system calls of the subscriber per N events, for --batch 16 and --batch 1: counts
that do not depend on the load on the machine (docs/performance.md, "Group commit").

The events are those of benches/events_bench.py (five files, 50 KB per set, 50 task
branches), all XADDed before the subscriber starts under `strace -f`; it stops after N.

Usage: python3 benches/events_strace.py [--events 200] [--bin PATH]
Needs: strace and redis-server on PATH, the `redis` Python package, a release build.
"""
import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time

import redis

import events_bench as eb

CALLS = "openat,unlink,unlinkat,rename,renameat,renameat2,fsync,fdatasync,link,linkat"


def trace(args, batch, root, e):
    """Runs the subscriber over args.events events with --batch `batch`; returns the counts."""
    work = os.path.join(root, f"batch{batch}")
    os.makedirs(work)
    port = eb.free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", work],
                              stdout=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}"
        r = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        store = os.path.join(work, "store.git")
        subprocess.run([args.bin, "-q", "init", "--bare", store], check=True, env=e)
        runs = os.path.join(work, "runs")
        sets = eb.make_sets(runs, "x", args.events, 50)
        pipe = r.pipeline(transaction=False)
        for i, artifacts in enumerate(sets):
            pipe.xadd("test_results", {"event": eb.event("x", i, artifacts)})
        pipe.execute()
        out = os.path.join(work, "trace")
        subprocess.run(["strace", "-f", "-o", out, "-e", f"trace={CALLS}", args.bin,
                        "--repo", store, "subscribe", "--redis", url, "--artifacts-root", runs,
                        "--workers", "2", "--totals-every", "0", "--batch", str(batch),
                        "--max-events", str(args.events)],
                       check=True, env=e, stderr=subprocess.DEVNULL)
        eb.check_store(store, args.events, e)
        text = open(out).read().splitlines()
    finally:
        server.terminate()
        server.wait()

    def count(pattern):
        return sum(1 for line in text if re.search(pattern, line))

    return {
        "files created": count(r"openat\(.*O_CREAT"),
        "unlink": count(r"(^|\s)unlink(at)?\("),
        "  of pack files": count(r"(^|\s)unlink(at)?\(.*objects/pack/"),
        "rename": count(r"(^|\s)rename(at2?)?\("),
        "fsync": count(r"(^|\s)(fsync|fdatasync)\("),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--bin", default="target/release/artifact-store")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    root = tempfile.mkdtemp(prefix="events-strace-")
    try:
        e = eb.env()
        grouped = trace(args, 16, root, e)
        single = trace(args, 1, root, e)
        print(f"per {args.events} events      --batch 16   --batch 1")
        for key in grouped:
            print(f"{key:22} {grouped[key]:10} {single[key]:10}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
