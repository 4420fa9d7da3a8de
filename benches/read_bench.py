#!/usr/bin/env python3
"""Times the read side on a large store, side by side with the nearest git command.

Builds a store of VERSIONS tagged versions over BRANCHES task branches (20 workflows) with
`git fast-import`, writing exactly the store's layout: artifacts/<wf>/<task>/ with a
metadata.json holding real sha256 checksums, commit trailers, annotated corr_ and prompt_
tags; then packs refs (`git pack-refs --all`). Then times, as whole processes, in rotating
order:

  show         artifact-store show corr_x            vs  git cat-file -p corr_x
  list         artifact-store list --workflow W -n 50 vs  git for-each-ref --count=50
                                                          --sort=-committerdate refs/heads/ai/generated/W/

Usage: python3 benches/read_bench.py [--versions 20000] [--branches 2000] [--runs 30]
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

WORKFLOWS = 20


def stream(versions, branches):
    per_branch = versions // branches
    out = []
    mark = 0
    t0 = 1_700_000_000
    rng = random.Random(1)
    for b in range(branches):
        wf = f"wf_{b % WORKFLOWS:02d}"
        task = f"task_{b:05d}"
        ref = f"refs/heads/ai/generated/{wf}/{task}"
        prev = None
        for v in range(per_branch):
            mark += 1
            ts = t0 + (b * per_branch + v) * 7 + rng.randint(0, 5)
            corr = f"corr_{wf}-{task}-{v}"
            trades = f"ts,qty,pnl\n{ts},{v},{rng.uniform(-50, 50):.2f}\n".encode()
            d = f"artifacts/{wf}/{task}"
            meta = {"schema_version": 1, "workflow_id": wf, "task_id": task, "correlation_id": corr,
                    "prompt_hash": f"p{b:05d}abcd", "commit_timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
                    "test_status": "passed", "test_metrics": {"net_pnl": round(rng.uniform(-50, 150), 2), "total_trades": v + 1},
                    "files": [f"{d}/trades.csv"],
                    "checksums": {f"{d}/trades.csv": "sha256:" + hashlib.sha256(trades).hexdigest()}}
            meta_b = (json.dumps(meta, indent=2) + "\n").encode()
            msg = (f"artifacts({wf}/{task}): {corr}\n\nWorkflow-Id: {wf}\nTask-Id: {task}\n"
                   f"Correlation-Id: {corr}\nPrompt-Hash: p{b:05d}abcd\nTest-Status: passed\n").encode()
            out.append(f"commit {ref}\nmark :{mark}\ncommitter bench <bench@example.invalid> {ts} +0000\n".encode())
            out.append(f"data {len(msg)}\n".encode() + msg)
            if prev:
                out.append(f"from :{prev}\n".encode())
            out.append(f"deleteall\nM 100644 inline {d}/trades.csv\ndata {len(trades)}\n".encode() + trades)
            out.append(f"M 100644 inline {d}/metadata.json\ndata {len(meta_b)}\n".encode() + meta_b + b"\n")
            tmsg = f"artifacts({wf}/{task}): {corr}\n".encode()
            out.append(f"tag {corr}\nfrom :{mark}\ntagger bench <bench@example.invalid> {ts} +0000\ndata {len(tmsg)}\n".encode() + tmsg)
            prev = mark
        out.append(f"tag prompt_p{b:05d}abcd\nfrom :{prev}\ntagger bench <bench@example.invalid> {t0} +0000\ndata 7\nprompt\n".encode())
    return b"".join(out)


def timed(cmd, env):
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=20000)
    ap.add_argument("--branches", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--bin", default="target/release/artifact-store")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    root = tempfile.mkdtemp(prefix="read-bench-")
    try:
        store = os.path.join(root, "store.git")
        subprocess.run(["git", "init", "-q", "--bare", store], check=True, env=env)
        t = time.perf_counter()
        subprocess.run(["git", "--git-dir", store, "fast-import", "--quiet"], input=stream(args.versions, args.branches),
                       check=True, env=env)
        subprocess.run(["git", "--git-dir", store, "pack-refs", "--all"], check=True, env=env)
        build = time.perf_counter() - t
        corr = f"corr_wf_07-task_{args.branches // 2 + 7:05d}-3"
        wf = "wf_07"
        pairs = {
            "show": ([binary, "--repo", store, "show", corr], ["git", "--git-dir", store, "cat-file", "-p", corr]),
            "show --json": ([binary, "--repo", store, "--json", "show", corr], ["git", "--git-dir", store, "cat-file", "-p", corr]),
            "list": ([binary, "--repo", store, "list", "--workflow", wf, "--limit", "50"],
                     ["git", "--git-dir", store, "for-each-ref", "--count=50", "--sort=-committerdate", f"refs/heads/ai/generated/{wf}/"]),
        }
        results = {k: ([], []) for k in pairs}
        for i in range(args.runs):
            for k, (ours, theirs) in pairs.items():
                if i % 2:
                    results[k][1].append(timed(theirs, env)); results[k][0].append(timed(ours, env))
                else:
                    results[k][0].append(timed(ours, env)); results[k][1].append(timed(theirs, env))
        print(f"store: {args.versions} tagged versions over {args.branches} task branches, {WORKFLOWS} workflows, packed refs (built in {build:.1f} s)")
        print(f"{'command':<14}{'ours ms':>9}{'git ms':>9}{'ratio':>8}   (median of {args.runs}, whole processes)")
        for k, (ours, theirs) in results.items():
            o, g = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
            print(f"{k:<14}{o:>9.1f}{g:>9.1f}{o / g:>8.2f}")
        print("target: ratio <= 2.0")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
