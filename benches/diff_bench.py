#!/usr/bin/env python3
"""Times `diff` looking inside files and `list --format csv`, side by side with git.

Builds a store with the release binary: two versions of one task whose set holds an equity
curve CSV of ROWS rows (a few percent of them changed, one column added), a 9 MiB text file
(above the 8 MiB diff limit) and a small script; then SETS more tasks for `list`. Times, as
whole processes, in rotating order:

  diff          artifact-store diff A B          vs  git diff --numstat A B
  diff --patch  artifact-store diff A B --patch  vs  git diff A B
  list csv      artifact-store list --format csv vs  artifact-store --json list

and the peak RSS of `diff --patch` (GNU time -v).

Usage: python3 benches/diff_bench.py [--rows 150000] [--sets 200] [--runs 15]
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "artifact-store")


def run(args, env=None):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def timed(args):
    t = time.perf_counter()
    run(args)
    return (time.perf_counter() - t) * 1000


def curve(rows, seed, fee):
    rng = random.Random(seed)
    lines = ["date,equity,drawdown" + (",fee" if fee else "")]
    eq = 100.0
    for i in range(rows):
        eq += rng.uniform(-1, 1.05)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_577_836_800 + 60 * i))
        cells = [stamp, f"{eq:.4f}", f"{min(0.0, eq - 100):.4f}"]
        lines.append(",".join(cells) + (",0.1" if fee else ""))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=150_000)
    ap.add_argument("--sets", type=int, default=200)
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="diff-bench-")
    try:
        store = os.path.join(tmp, "s.git")
        run([BIN, "init", "--bare", store])
        env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.invalid",
                   GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.invalid")
        for n, (seed, fee) in enumerate([(1, False), (2, True)]):
            d = os.path.join(tmp, f"r{n}")
            os.makedirs(d)
            text = curve(a.rows, 1, fee).splitlines(keepends=True)
            rng = random.Random(seed)
            if n:
                for i in rng.sample(range(1, len(text)), len(text) // 30):
                    text[i] = text[i].replace(",", ",9", 1)
            with open(os.path.join(d, "equity.csv"), "w") as f:
                f.writelines(text)
            with open(os.path.join(d, "big.log"), "w") as f:
                f.write(f"run {n}\n" + "x" * 80 + "\n" * 1 + ("y" * 79 + "\n") * (9 * 1024 * 1024 // 80))
            with open(os.path.join(d, "strategy.py"), "w") as f:
                f.write(f"def f():\n    return {n}\n")
            run([BIN, "--repo", store, "-q", "commit", "-w", "wf", "-t", "t", "--correlation-id", f"v{n}",
                 "--set", f"test_metrics.net_pnl={100 + n}", d + "/."], env)
        for i in range(a.sets):
            d = os.path.join(tmp, f"s{i}")
            os.makedirs(d)
            with open(os.path.join(d, "out.txt"), "w") as f:
                f.write(str(i))
            run([BIN, "--repo", store, "-q", "commit", "-w", "wf2", "-t", f"t{i}", "--correlation-id", f"s{i}",
                 "--set", f"test_metrics.net_pnl={i}", "--set", f"test_metrics.win_rate=0.{i}",
                 "--set", 'notes=a, "quoted" note', d + "/."], env)
        va = subprocess.check_output(["git", "-C", store, "rev-parse", "corr_v0^{commit}"], text=True).strip()
        vb = subprocess.check_output(["git", "-C", store, "rev-parse", "corr_v1^{commit}"], text=True).strip()
        pairs = {
            "diff": ([BIN, "--repo", store, "diff", "v0", "v1"],
                     ["git", "-C", store, "diff", "--numstat", va, vb]),
            "diff --patch": ([BIN, "--repo", store, "diff", "v0", "v1", "--patch"],
                             ["git", "-C", store, "diff", va, vb]),
            "list csv": ([BIN, "--repo", store, "list", "--format", "csv", "-n", "100000"],
                         [BIN, "--repo", store, "--json", "list", "-n", "100000"]),
        }
        print(f"{a.rows} CSV rows ({os.path.getsize(os.path.join(tmp, 'r1', 'equity.csv')) / 2**20:.1f} MiB), "
              f"{a.sets + 1} sets, {a.runs} runs, medians in ms")
        print(f"{'what':14} {'store':>8} {'peer':>8} {'ratio':>6}")
        for name, (ours, peer) in pairs.items():
            xs, ys = [], []
            for r in range(a.runs):
                order = [(ours, xs), (peer, ys)] if r % 2 == 0 else [(peer, ys), (ours, xs)]
                for cmd, out in order:
                    out.append(timed(cmd))
            x, y = statistics.median(xs), statistics.median(ys)
            print(f"{name:14} {x:8.1f} {y:8.1f} {x / y:6.2f}")
        res = subprocess.run(["/usr/bin/time", "-v", BIN, "--repo", store, "diff", "v0", "v1", "--patch"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        rss = [l for l in res.stderr.splitlines() if "Maximum resident" in l][0].split()[-1]
        print(f"peak RSS of diff --patch: {int(rss) / 1024:.1f} MiB")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
