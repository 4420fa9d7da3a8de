#!/usr/bin/env python3
"""Times `artifact-store commit` as a whole process against the flows a user has today.

Each iteration writes a fresh 1 MB artifact set of five files (new content, so no blob is
ever deduplicated), then times, in one run and in rotating order:

  store        artifact-store commit (durability = fsync, the default)
  store-nosync artifact-store -c durability=none commit
  store-nocompact  artifact-store -c auto_compact=false commit, into a store of its own: the
               same commit without the consolidation the others start in the background
  manual       the manual git flow: checkout -B task branch, copy files, git add,
               git commit, git tag -a corr_, git tag -a -f prompt_, checkout main
  hash-object  git hash-object -w of the five files: the zlib floor of writing the bytes
  hash-fsync   the same with core.fsync=loose-object (the floor with fsync)

Usage: python3 benches/commit_bench.py [--iterations N] [--bin PATH]
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

FILES = [("strategy.py", 0.10), ("test_report.json", 0.10), ("trades.csv", 0.40),
         ("equity_curve.csv", 0.30), ("events.log", 0.10)]
TOTAL = 1 << 20


def make_set(dir_, seed):
    rng = random.Random(seed)
    os.makedirs(dir_, exist_ok=True)
    for name, share in FILES:
        size = int(TOTAL * share)
        lines, n = [], 0
        while n < size:
            line = f"{seed},{rng.randint(0, 10**9)},{rng.random():.6f},{rng.choice(['buy', 'sell'])},{rng.uniform(-50, 50):.2f}\n"
            lines.append(line)
            n += len(line)
        with open(os.path.join(dir_, name), "w") as f:
            f.write("".join(lines)[:size])


def env():
    e = dict(os.environ)
    e.update({"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
              "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
              "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"})
    return e


def run(cmds, cwd, e):
    start = time.perf_counter()
    for c in cmds:
        subprocess.run(c, cwd=cwd, env=e, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--bin", default="target/release/artifact-store")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    e = env()
    root = tempfile.mkdtemp(prefix="commit-bench-")
    try:
        store = os.path.join(root, "store.git")
        subprocess.run([binary, "-q", "init", "--bare", store], check=True, env=e)
        store_nc = os.path.join(root, "store-nocompact.git")
        subprocess.run([binary, "-q", "init", "--bare", store_nc], check=True, env=e)
        manual = os.path.join(root, "manual")
        subprocess.run(["git", "init", "-q", "-b", "main", manual], check=True, env=e)
        with open(os.path.join(manual, "README.md"), "w") as f:
            f.write("repo\n")
        run([["git", "add", "README.md"], ["git", "commit", "-qm", "init"]], manual, e)
        objects = os.path.join(root, "objects.git")
        subprocess.run(["git", "init", "-q", "--bare", objects], check=True, env=e)
        times = {k: [] for k in ["store", "store-nosync", "store-nocompact", "manual", "hash-object", "hash-fsync"]}
        for i in range(args.iterations):
            flows = list(times)
            flows = flows[i % len(flows):] + flows[:i % len(flows)]
            for flow in flows:
                src = os.path.join(root, f"set-{flow}-{i}")
                make_set(src, seed=hash((flow, i)) & 0xFFFFFFF)
                files = [os.path.join(src, n) for n, _ in FILES]
                if flow.startswith("store"):
                    extra = {"store-nosync": ["-c", "durability=none"],
                             "store-nocompact": ["-c", "auto_compact=false"]}.get(flow, [])
                    repo = store_nc if flow == "store-nocompact" else store
                    cmd = [binary, "--repo", repo, "-q"] + extra + [
                        "commit", "-w", "wf_bench", "-t", f"task_{flow}",
                        "--correlation-id", f"{flow}-{i}", "--prompt-hash", "7a8b9c0d", src + "/."]
                    times[flow].append(run([cmd], root, e))
                elif flow == "manual":
                    dest = "artifacts/wf_bench/task_manual"
                    cmds = [["git", "checkout", "-q", "-B", "ai/generated/wf_bench/task_manual"] +
                            ([] if i == 0 else ["ai/generated/wf_bench/task_manual"]),
                            ["sh", "-c", f"rm -rf {dest} && mkdir -p {dest} && cp {' '.join(files)} {dest}/"],
                            ["git", "add", "-A", dest],
                            ["git", "commit", "-q", "-m", f"artifacts(wf_bench/task_manual): corr_{i}"],
                            ["git", "tag", "-a", f"corr_manual-{i}", "-m", "artifacts"],
                            ["git", "tag", "-a", "-f", "prompt_7a8b9c0d", "-m", "prompt"],
                            ["git", "checkout", "-q", "main"]]
                    times[flow].append(run(cmds, manual, e))
                else:
                    pre = ["-c", "core.fsync=loose-object", "-c", "core.fsyncMethod=fsync"] if flow == "hash-fsync" else []
                    cmd = ["git", "--git-dir", objects] + pre + ["hash-object", "-w"] + files
                    times[flow].append(run([cmd], root, e))
                shutil.rmtree(src)
        check = subprocess.run(["git", "--git-dir", store, "fsck", "--strict", "--no-dangling"],
                               capture_output=True, text=True, env=e)
        print(f"commit of a fresh 1 MB set of 5 files, {args.iterations} iterations, whole processes")
        print(f"{'flow':<16}{'median ms':>10}{'p90 ms':>9}{'p99 ms':>9}{'min ms':>9}")
        med = {}
        for k, v in times.items():
            v.sort()
            med[k] = statistics.median(v) * 1000
            p90 = v[int(len(v) * 0.9) - 1] * 1000
            p99 = v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))] * 1000
            print(f"{k:<16}{med[k]:>10.1f}{p90:>9.1f}{p99:>9.1f}{v[0]*1000:>9.1f}")
        print()
        print(f"store / manual           = {med['store'] / med['manual']:.2f}  (target <= 0.25)")
        print(f"store-nosync / manual    = {med['store-nosync'] / med['manual']:.2f}")
        print(f"store-nocompact / manual = {med['store-nocompact'] / med['manual']:.2f}  (the same, consolidation off)")
        print(f"store / hash-object      = {med['store'] / med['hash-object']:.2f}")
        print(f"store-nosync / hash-object = {med['store-nosync'] / med['hash-object']:.2f}  (target <= 1.5, both without fsync)")
        print(f"store / hash-fsync       = {med['store'] / med['hash-fsync']:.2f}  (target <= 1.5, both with fsync)")
        print(f"fsync cost               = {med['store'] - med['store-nosync']:+.1f} ms ({(med['store'] / med['store-nosync'] - 1) * 100:+.0f}%)")
        print(f"store fsck --strict: {'clean' if check.returncode == 0 else 'FAILED ' + check.stdout + check.stderr}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
