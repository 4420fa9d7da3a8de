#!/usr/bin/env python3
"""Times an in-process commit through the Python package against the ways a Python service
can version artifacts today, side by side in one run, in rotating order.

Each iteration makes fresh sets (new content, so nothing is deduplicated), then times:

  py            ArtifactStore.commit_artifacts in this process (durability = fsync)
  py-nosync     the same into a store with durability = none
  cli           one `artifact-store commit` process per commit (fsync), as a Python
                service shells out to it: subprocess.run from this process
  cli-nosync    the same with -c durability=none, beside py-nosync
  mlflow        mlflow.log_artifacts of the set's directory into a local file store, in
                this process (one run; one artifact path per version)

for two sets: `small` (three files, 4 KB) and `1mb` (the five-file 1 MB set of
benches/commit_bench.py). Targets: py at least 3x faster than cli on the small set; py on
the 1 MB set no slower than mlflow.

Usage (the package and mlflow-skinny installed in the running Python):
  python/run-tests.sh --co -q >/dev/null      # builds the package into target/py-venv
  target/py-venv/bin/pip install mlflow-skinny
  cargo build --release
  target/py-venv/bin/python benches/python_bench.py [--iterations N] [--bin PATH]
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from commit_bench import make_set  # noqa: E402  (the 1 MB five-file set)

SMALL = [("strategy.py", 1500), ("test_report.json", 1500), ("metrics.json", 1100)]
METADATA = {"agent_version": "coder-v1.0", "llm_version": "gpt-4",
            "test_metrics": {"total_trades": 12, "net_pnl": 120.5, "win_rate": 0.58}}


def make_small(dir_, seed):
    rng = random.Random(seed)
    os.makedirs(dir_, exist_ok=True)
    for name, size in SMALL:
        text = f"# set {seed}\n"
        while len(text) < size:
            text += f"x_{rng.randint(0, 10**9)} = {rng.random():.6f}\n"
        with open(os.path.join(dir_, name), "w") as f:
            f.write(text[:size])


def env():
    e = dict(os.environ)
    e.update({"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
              "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
              "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
              "MLFLOW_ALLOW_FILE_STORE": "true"})
    for k in list(e):
        if k.startswith("ARTIFACT_STORE_"):
            del e[k]
    return e


def summary(samples):
    s = sorted(samples)
    return (statistics.median(s) * 1000, s[int(0.9 * (len(s) - 1))] * 1000, s[0] * 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--bin", default="target/release/artifact-store")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    os.environ.update(env())

    import artifact_store
    from artifact_store import ArtifactStore, ArtifactStoreConfig
    import mlflow

    root = tempfile.mkdtemp(prefix="python-bench-")
    try:
        stores = {}
        for name in ("py", "py-nosync", "cli", "cli-nosync"):
            path = os.path.join(root, name + ".git")
            artifact_store.init(path, bare=True)
            stores[name] = path
        t0 = time.perf_counter()
        py = ArtifactStore(ArtifactStoreConfig(repo_path=stores["py"]))
        opened = time.perf_counter() - t0
        t0 = time.perf_counter()
        unscanned = ArtifactStore(ArtifactStoreConfig(repo_path=stores["py"],
                                                      scan_for_secrets=False))
        opened_unscanned = time.perf_counter() - t0
        del unscanned
        py_nosync = ArtifactStore(ArtifactStoreConfig(repo_path=stores["py-nosync"],
                                                      settings={"durability": "none"}))
        mlflow.set_tracking_uri("file:" + os.path.join(root, "mlruns"))
        mlflow.set_experiment("bench")
        run = mlflow.start_run()

        flows = ["py", "py-nosync", "cli", "cli-nosync", "mlflow"]
        times = {(f, s): [] for s in ("small", "1mb") for f in flows}
        for i in range(args.iterations):
            for size in ("small", "1mb"):
                sets = {}
                for f in flows:
                    d = os.path.join(root, "sets", f"{size}-{f}-{i}")
                    (make_small if size == "small" else make_set)(d, hash((size, f, i)))
                    sets[f] = d
                order = flows[i % len(flows):] + flows[:i % len(flows)]
                for f in order:
                    d = sets[f]
                    files = [os.path.join(d, n) for n in sorted(os.listdir(d))]
                    task, corr = f"task_{size}", f"{size}-{f}-{i}"
                    start = time.perf_counter()
                    if f == "py":
                        py.commit_artifacts("wf_bench", task, files, metadata=METADATA,
                                            correlation_id=corr)
                    elif f == "py-nosync":
                        py_nosync.commit_artifacts("wf_bench", task, files, metadata=METADATA,
                                                   correlation_id=corr)
                    elif f.startswith("cli"):
                        nosync = ["-c", "durability=none"] if f == "cli-nosync" else []
                        subprocess.run(
                            [binary, "--repo", stores[f], "-q", *nosync, "commit", "-w", "wf_bench",
                             "-t", task, "--correlation-id", corr,
                             "--set", "agent_version=coder-v1.0", "--set", "llm_version=gpt-4",
                             "--set", "test_metrics.total_trades=12",
                             "--set", "test_metrics.net_pnl=120.5",
                             "--set", "test_metrics.win_rate=0.58", *files],
                            check=True, stdout=subprocess.DEVNULL)
                    else:
                        mlflow.log_artifacts(d, artifact_path=f"{size}/v{i}")
                    times[(f, size)].append(time.perf_counter() - start)
        mlflow.end_run()
        del run

        print(f"{args.iterations} iterations; ArtifactStore() open + rule compilation "
              f"{opened * 1000:.1f} ms ({opened_unscanned * 1000:.1f} ms with scanning off)")
        print(f"{'flow':<12} {'set':<6} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}")
        med = {}
        for size in ("small", "1mb"):
            for f in flows:
                m, p90, lo = summary(times[(f, size)])
                med[(f, size)] = m
                print(f"{f:<12} {size:<6} {m:>10.2f} {p90:>8.2f} {lo:>8.2f}")
        small = med[("cli", "small")] / med[("py", "small")]
        big = med[("py", "1mb")] / med[("mlflow", "1mb")]
        big_nosync = med[("py-nosync", "1mb")] / med[("mlflow", "1mb")]
        print(f"small set: cli / py = {small:.2f}x (target >= 3x: "
              f"{'met' if small >= 3 else 'NOT met'})")
        print(f"1 MB set: py / mlflow = {big:.2f} (target <= 1.0: "
              f"{'met' if big <= 1.0 else 'NOT met'}); py-nosync / mlflow = {big_nosync:.2f}")
        print(f"1 MB set: cli / py = {med[('cli', '1mb')] / med[('py', '1mb')]:.2f}x")
        for size in ("small", "1mb"):
            ratio = med[("cli-nosync", size)] / med[("py-nosync", size)]
            print(f"{size} set, no fsync on either side: cli-nosync / py-nosync = {ratio:.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
