#!/usr/bin/env python3
"""End-to-end throughput and latency of `artifact-store subscribe`, beside one
`artifact-store commit` process per event.

Each event names a fresh artifact set of five files (50 KB per set by default, new content
every event, so nothing is deduplicated) on one of 50 task branches. Measured:

  subscribe   XADD of N TEST_PASSED events (one pipeline) until the N-th ARTIFACT_COMMITTED
              is read back from the output stream; the subscriber runs with --workers W
              and its default --batch (group commit of what is queued for a worker)
  sub1        the same with --batch 1: one commit at a time, no group commit
  cli-seq     the same N commits as N `artifact-store commit` processes, one after another
  cli-par     the same, W processes at a time
  latency     one event every 1/RATE s for D seconds; each event's time from XADD to its
              ARTIFACT_COMMITTED read back; p50 and p99

A private redis-server on a free loopback port; nothing else is touched.

Usage: python3 benches/events_bench.py [--events 1000] [--workers 2] [--set-kb 50]
           [--rate 50] [--seconds 10] [--durability fsync|none] [--batch N] [--bin PATH] [--dir DIR]
           [--phases sub,sub1,seq,par,lat]

CPU time per event (user + system, of the subscriber; of the commit processes) is printed
beside each rate: unlike events/s it hardly moves with other load on the machine.
Every phase checks its store afterwards: one `corr_` tag per event, `git fsck` clean.
Under a shared load, compare builds by their ratio to the CLI in the same run, not by
events/s across runs.
Needs: redis-server on PATH, the `redis` Python package, a release build.
"""
import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

import redis

TASKS = 50
NAMES = ["strategy.py", "test_report.json", "trades.csv", "equity_curve.csv", "events.log"]


def env():
    e = dict(os.environ)
    e.update({"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
              "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid"})
    return e


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_sets(root, prefix, n, set_kb):
    """Writes n artifact sets under root/<prefix><i>/ and returns their relative paths."""
    rng = random.Random(prefix)
    per_file = set_kb * 1024 // len(NAMES)
    out = []
    for i in range(n):
        rel = f"{prefix}{i}"
        os.makedirs(os.path.join(root, rel))
        files = {}
        for name in NAMES:
            body = "".join(f"{i},{rng.random():.9f},{rng.randint(0, 10**9)}\n" for _ in range(per_file // 28 + 1))
            with open(os.path.join(root, rel, name), "w") as f:
                f.write(body[:per_file])
            files[name.split(".")[0]] = f"{rel}/{name}"
        out.append(files)
    return out


def event(prefix, i, artifacts):
    return json.dumps({"event_id": f"{prefix}-{i}", "event_type": "TEST_PASSED",
                       "correlation_id": f"{prefix}{i}", "workflow_id": "bench",
                       "task_id": f"t{i % TASKS}", "source": "bench",
                       "data": {"artifacts": artifacts, "metrics": {"net_pnl": i}}})


def start_subscriber(args, store, runs, url, e, batch=None):
    cmd = [args.bin, "--repo", store, "-c", f"durability={args.durability}", "subscribe",
           "--redis", url, "--artifacts-root", runs, "--workers", str(args.workers),
           "--totals-every", "0"]
    if batch:
        cmd += ["--batch", str(batch)]
    sub = subprocess.Popen(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = redis.Redis.from_url(url)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if r.xinfo_groups("test_results"):
                return sub
        except redis.ResponseError:
            pass
        time.sleep(0.05)
    raise SystemExit("the subscriber did not create its group")


def read_answers(r, n, last="$"):
    """Reads n answers from workflow_events; returns {correlation_id: receive time}."""
    got = {}
    while len(got) < n:
        reply = r.xread({"workflow_events": last}, block=10000, count=500)
        if not reply:
            raise SystemExit(f"timed out with {len(got)} of {n} answers")
        for entry_id, fields in reply[0][1]:
            last = entry_id
            answer = json.loads(fields[b"event"])
            if answer["event_type"] != "ARTIFACT_COMMITTED":
                raise SystemExit(f"unexpected answer: {answer}")
            got[answer["correlation_id"]] = time.perf_counter()
    return got


def throughput(args, root, url, e, batch=None):
    name = f"sub{batch or ''}"
    store = os.path.join(root, f"{name}.git")
    subprocess.run([args.bin, "-q", "init", "--bare", store], check=True, env=e)
    runs = os.path.join(root, f"{name}-runs")
    sets = make_sets(runs, f"{name}-", args.events, args.set_kb)
    r = redis.Redis.from_url(url)
    r.delete("test_results", "workflow_events")
    sub = start_subscriber(args, store, runs, url, e, batch)
    start = time.perf_counter()
    pipe = r.pipeline(transaction=False)
    for i, artifacts in enumerate(sets):
        pipe.xadd("test_results", {"event": event(f"{name}-", i, artifacts)})
    pipe.execute()
    read_answers(r, args.events, last="0")
    elapsed = time.perf_counter() - start
    args.sub_cpu_ms = cpu_ms(sub.pid) / args.events
    sub.terminate()
    sub.wait()
    check_store(store, args.events, e)
    return args.events / elapsed


def cpu_ms(pid):
    """CPU time (user + system) a running process has used so far, in ms."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def children_cpu_ms():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def check_store(store, events, e):
    """Fails unless the store holds one corr_ tag per event and git fsck is clean."""
    tags = subprocess.run(["git", "-C", store, "for-each-ref", "--format=%(refname)", "refs/tags/corr_*"],
                          check=True, env=e, capture_output=True, text=True).stdout.split()
    if len(tags) != events:
        raise SystemExit(f"{store}: {len(tags)} corr_ tags for {events} events")
    fsck = subprocess.run(["git", "-C", store, "fsck", "--no-dangling", "--no-progress"], env=e,
                          capture_output=True, text=True)
    if fsck.returncode != 0:
        raise SystemExit(f"{store}: git fsck failed:\n{fsck.stdout}{fsck.stderr}")


def cli(args, root, e, parallel):
    store = os.path.join(root, f"cli{parallel}.git")
    subprocess.run([args.bin, "-q", "init", "--bare", store], check=True, env=e)
    runs = os.path.join(root, f"cli-runs{parallel}")
    sets = make_sets(runs, f"c{parallel}-", args.events, args.set_kb)
    cmds = []
    for i, artifacts in enumerate(sets):
        cmds.append([args.bin, "--repo", store, "-q", "-c", f"durability={args.durability}",
                     "commit", "-w", "bench", "-t", f"t{i % TASKS}",
                     "--correlation-id", f"c{parallel}-{i}", "--set", f"test_metrics.net_pnl={i}"]
                    + [os.path.join(runs, p) for p in artifacts.values()])
    start = time.perf_counter()
    cpu_before = children_cpu_ms()
    running = []
    for c in cmds:
        running.append(subprocess.Popen(c, env=e, stdout=subprocess.DEVNULL))
        if len(running) >= parallel:
            if running.pop(0).wait() != 0:
                raise SystemExit("a commit failed")
    for p in running:
        if p.wait() != 0:
            raise SystemExit("a commit failed")
    elapsed = time.perf_counter() - start
    args.cli_cpu_ms = (children_cpu_ms() - cpu_before) / args.events
    check_store(store, args.events, e)
    return args.events / elapsed


def latency(args, root, url, e):
    store = os.path.join(root, "lat.git")
    subprocess.run([args.bin, "-q", "init", "--bare", store], check=True, env=e)
    runs = os.path.join(root, "lat-runs")
    n = args.rate * args.seconds
    sets = make_sets(runs, "lat", n, args.set_kb)
    sub = start_subscriber(args, store, runs, url, e)
    r = redis.Redis.from_url(url)
    last = r.xinfo_stream("workflow_events")["last-generated-id"] if r.exists("workflow_events") else "0"
    sent = {}
    received = {}
    reader = threading.Thread(target=lambda: received.update(read_answers(redis.Redis.from_url(url), n, last)))
    reader.start()
    start = time.perf_counter()
    for i, artifacts in enumerate(sets):
        due = start + i / args.rate
        time.sleep(max(0.0, due - time.perf_counter()))
        sent[f"lat{i}"] = time.perf_counter()
        r.xadd("test_results", {"event": event("lat", i, artifacts)})
    reader.join()
    sub.terminate()
    sub.wait()
    check_store(store, n, e)
    ms = sorted((received[c] - t) * 1000 for c, t in sent.items())
    return ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=None, help="the subscribe phase's --batch (default: the subscriber's)")
    ap.add_argument("--set-kb", type=int, default=50)
    ap.add_argument("--rate", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--durability", default="fsync", choices=["fsync", "none"])
    ap.add_argument("--bin", default="target/release/artifact-store")
    ap.add_argument("--dir", default=None, help="where the stores and artifacts go (default: $TMPDIR)")
    ap.add_argument("--phases", default="sub,seq,par,lat", help="comma-separated: sub, seq, par, lat")
    args = ap.parse_args()
    phases = set(args.phases.split(","))
    args.bin = os.path.abspath(args.bin)
    e = env()
    root = tempfile.mkdtemp(prefix="events-bench-", dir=args.dir)
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", root],
                              stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        print(f"events={args.events} set={args.set_kb}KB/5 files workers={args.workers} durability={args.durability}")
        sub = throughput(args, root, url, e, args.batch) if "sub" in phases else None
        if sub:
            print(f"subscribe end to end   {sub:8.1f} events/s   CPU {args.sub_cpu_ms:.2f} ms/event", flush=True)
        if "sub1" in phases:
            one = throughput(args, root, url, e, batch=1)
            ratio = f"   subscribe is {sub / one:.2f}x" if sub else ""
            print(f"subscribe, --batch 1   {one:8.1f} events/s{ratio}   CPU {args.sub_cpu_ms:.2f} ms/event", flush=True)
        for parallel, name in ((1, "seq"), (args.workers, "par")):
            if name in phases:
                rate = cli(args, root, e, parallel)
                ratio = f"   subscribe is {sub / rate:.2f}x" if sub else ""
                print(f"cli, {parallel} at a time       {rate:8.1f} events/s{ratio}   CPU {args.cli_cpu_ms:.2f} ms/commit", flush=True)
        if "lat" in phases:
            p50, p99 = latency(args, root, url, e)
            print(f"latency at {args.rate}/s for {args.seconds}s  p50 {p50:.1f} ms  p99 {p99:.1f} ms")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
