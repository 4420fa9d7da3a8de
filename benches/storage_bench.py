#!/usr/bin/env python3
"""Bytes on disk of N versions of a growing backtest set, per tool, and what commits cost.

Version v of the set (five files) is version v-1 plus a few percent: trades and an equity
curve gain rows, a log gains lines, a metrics file and the strategy's parameters are
rewritten. The set grows from 1 MB to 5 MB over the default 200 versions.

Each version is committed, in rotating order, by

  store      artifact-store commit (defaults: fsync, consolidation on, nothing run by hand)
  git        the manual git flow on one task branch (checkout -B, copy, add, commit, tag
             -a twice), objects left as git leaves them (gc.auto = 0)
  dvc        `dvc add` of the set, then `git add` + `git commit` of the .dvc file (DVC's cache)
  mlflow     `mlflow.log_artifacts` of the set into a file store, one run per version

and after the last version the git repository is measured as it is, after `git gc`, and
after `git repack -adf --window=250 --depth=50`. The store is measured once its background
consolidation has finished (it is polled; nothing is run by hand). Then `export` of the
newest version is timed against `git archive` of the same tree.

DVC and MLflow run from a virtualenv (`--venv`, default /tmp/benchvenv: `python3 -m venv
/tmp/benchvenv && /tmp/benchvenv/bin/pip install dvc mlflow-skinny matplotlib`); a tool
that is missing is reported as such and left out. The plot of bytes on disk against
versions goes to docs/storage-bytes.png (matplotlib from the same virtualenv).

Usage: python3 benches/storage_bench.py [--versions 200] [--bin PATH] [--venv DIR]
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BASE_ROWS = 9000  # about 1 MB at version 0


def make_version(dir_, v, versions):
    """Writes version v: deterministic rows, each version a prefix of the next."""
    os.makedirs(dir_, exist_ok=True)
    grow = 1 + 4 * v / max(versions - 1, 1)
    rows = int(BASE_ROWS * grow)
    rng = random.Random(7)
    with open(os.path.join(dir_, "trades.csv"), "w") as f:
        f.write("ts,id,price,qty,side\n")
        for i in range(rows):
            f.write(f"2024-01-01T{i % 24:02d}:{i % 60:02d}:00,{i},{rng.uniform(90, 110):.4f},"
                    f"{rng.randint(1, 500)},{rng.choice(['BUY', 'SELL'])}\n")
    rng = random.Random(11)
    eq = 10000.0
    with open(os.path.join(dir_, "equity_curve.csv"), "w") as f:
        f.write("step,equity,drawdown\n")
        for i in range(rows):
            eq += rng.uniform(-5, 5.2)
            f.write(f"{i},{eq:.2f},{rng.uniform(0, 0.2):.4f}\n")
    rng = random.Random(13)
    with open(os.path.join(dir_, "backtest.log"), "w") as f:
        for i in range(rows):
            f.write(f"2024-01-01 {i % 24:02d}:{i % 60:02d}:{i % 59:02d} INFO fill id={i} "
                    f"slippage={rng.uniform(0, 0.01):.5f} latency_ms={rng.randint(1, 40)}\n")
    with open(os.path.join(dir_, "metrics.json"), "w") as f:
        json.dump({"version": v, "sharpe": 1.1 + v / 1000, "trades": rows,
                   "max_drawdown": 0.12 + v / 10000}, f, indent=2)
    with open(os.path.join(dir_, "strategy_params.json"), "w") as f:
        json.dump({"window": 20 + v % 7, "threshold": 0.5, "version": v}, f, indent=2)


def env_base():
    e = dict(os.environ)
    e.update({"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
              "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
              "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"})
    return e


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run(cmd, cwd, e, **kw):
    return subprocess.run(cmd, cwd=cwd, env=e, check=True, stdout=subprocess.DEVNULL, **kw)


class Store:
    name = "store"

    def __init__(self, work, binary, e):
        self.bin, self.e = binary, e
        self.repo = os.path.join(work, "store.git")
        run([binary, "init", "--bare", self.repo], work, e, stderr=subprocess.DEVNULL)

    def commit(self, src, v):
        run([self.bin, "--repo", self.repo, "-q", "commit", "-w", "bench", "-t", "backtest",
             "--correlation-id", f"v{v}", src + "/."], src, self.e)

    def bytes(self):
        return du(os.path.join(self.repo, "objects"))

    def settle(self, timeout=600):
        """Waits until no consolidation runs and none is due: nothing is run by hand."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            out = subprocess.run([self.bin, "--repo", self.repo, "--json", "stats", "--top", "0"],
                                 env=self.e, capture_output=True, text=True, check=True).stdout
            st = json.loads(out)["storage"]
            if not os.path.exists(os.path.join(self.repo, "artifact-store-repack.lock")) \
                    and not st["compact_due"]:
                return time.perf_counter() - start, st
            time.sleep(0.2)
        raise SystemExit("the store's consolidation did not settle")


class Git:
    name = "git"

    def __init__(self, work, e):
        self.e = e
        self.repo = os.path.join(work, "git")
        os.makedirs(self.repo)
        run(["git", "init", "-q", "-b", "main"], self.repo, e)
        run(["git", "config", "gc.auto", "0"], self.repo, e)
        run(["git", "commit", "-q", "--allow-empty", "-m", "init"], self.repo, e)

    def commit(self, src, v):
        dst = os.path.join(self.repo, "artifacts", "bench", "backtest")
        run(["git", "checkout", "-q", "-B", "ai/generated/bench/backtest"] +
            ([] if v == 0 else ["ai/generated/bench/backtest"]), self.repo, self.e)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
        run(["git", "add", "-A", "artifacts"], self.repo, self.e)
        run(["git", "commit", "-q", "-m", f"artifacts(bench/backtest): corr_v{v}"], self.repo, self.e)
        run(["git", "tag", "-a", "-m", "x", f"corr_v{v}"], self.repo, self.e)
        run(["git", "tag", "-a", "-f", "-m", "x", "prompt_p"], self.repo, self.e)
        run(["git", "checkout", "-q", "main"], self.repo, self.e)

    def bytes(self):
        return du(os.path.join(self.repo, ".git", "objects"))


class Dvc:
    name = "dvc"

    def __init__(self, work, venv, e):
        self.e = dict(e)
        self.e["PATH"] = os.path.join(venv, "bin") + os.pathsep + e["PATH"]
        self.repo = os.path.join(work, "dvc")
        os.makedirs(self.repo)
        run(["git", "init", "-q", "-b", "main"], self.repo, self.e)
        run(["git", "config", "gc.auto", "0"], self.repo, self.e)
        run(["dvc", "init", "-q"], self.repo, self.e)
        run(["dvc", "config", "core.analytics", "false"], self.repo, self.e)
        run(["git", "commit", "-q", "-m", "init"], self.repo, self.e)

    def commit(self, src, v):
        dst = os.path.join(self.repo, "backtest")
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
        run(["dvc", "add", "-q", "backtest"], self.repo, self.e)
        run(["git", "add", "backtest.dvc", ".gitignore"], self.repo, self.e)
        run(["git", "commit", "-q", "-m", f"v{v}"], self.repo, self.e)

    def bytes(self):
        return du(os.path.join(self.repo, ".dvc", "cache")) + du(os.path.join(self.repo, ".git", "objects"))


class Mlflow:
    """One long-lived Python process of the virtualenv logs each version as a run."""
    name = "mlflow"
    SERVER = r'''
import sys, time, mlflow
mlflow.set_tracking_uri("file://" + sys.argv[1])
for line in sys.stdin:
    src, v = line.split()
    t = time.perf_counter()
    with mlflow.start_run(run_name="v" + v):
        mlflow.log_artifacts(src)
    print(time.perf_counter() - t, flush=True)
'''

    def __init__(self, work, venv, e):
        self.root = os.path.join(work, "mlruns")
        e = dict(e, MLFLOW_ALLOW_FILE_STORE="true")  # the file store the comparison is about
        self.proc = subprocess.Popen([os.path.join(venv, "bin", "python"), "-c", self.SERVER, self.root],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=e)

    def commit(self, src, v):
        self.proc.stdin.write(f"{src} {v}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def bytes(self):
        return du(self.root)


def available(venv, tool, e):
    exe = os.path.join(venv, "bin", "python")
    if not os.path.exists(exe):
        return False
    module = {"dvc": "dvc", "mlflow": "mlflow"}[tool]
    return subprocess.run([exe, "-c", f"import {module}"], env=e, capture_output=True).returncode == 0


def plot(series, versions, venv, out):
    code = r'''
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
data = json.load(open(sys.argv[1]))
fig, ax = plt.subplots(figsize=(8, 5))
for name, points in data["series"].items():
    xs = [p[0] for p in points]; ys = [p[1] / 1e6 for p in points]
    ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=name)
ax.set_xlabel("versions committed"); ax.set_ylabel("bytes on disk (MB)")
ax.set_yscale("log")
ax.set_title("%d versions of a backtest set growing from 1 MB to 5 MB" % data["versions"])
ax.grid(True, which="both", alpha=0.3); ax.legend()
fig.tight_layout(); fig.savefig(sys.argv[2], dpi=110)
'''
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"series": series, "versions": versions}, f)
    exe = os.path.join(venv, "bin", "python")
    r = subprocess.run([exe, "-c", code, f.name, out], capture_output=True, text=True)
    os.unlink(f.name)
    if r.returncode != 0:
        print(f"plot not written: {r.stderr.strip().splitlines()[-1] if r.stderr else 'failed'}")
    else:
        print(f"plot: {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=200)
    ap.add_argument("--bin", default="target/release/artifact-store")
    ap.add_argument("--venv", default="/tmp/benchvenv")
    ap.add_argument("--checkpoint", type=int, default=25, help="versions between git gc/repack measurements")
    ap.add_argument("--plot", default="docs/storage-bytes.png")
    ap.add_argument("--tools", default="store,git,dvc,mlflow")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    e = env_base()
    work = tempfile.mkdtemp(prefix="storage-bench-")
    tools = []
    wanted = args.tools.split(",")
    if "store" in wanted:
        tools.append(Store(work, binary, e))
    if "git" in wanted:
        tools.append(Git(work, e))
    for name, cls in (("dvc", Dvc), ("mlflow", Mlflow)):
        if name not in wanted:
            continue
        if available(args.venv, name, e):
            tools.append(cls(work, args.venv, e))
        else:
            print(f"{name}: not installed in {args.venv}; left out")
    times = {t.name: [] for t in tools}
    series = {t.name: [] for t in tools}
    series["git gc"] = []
    series["git repack -adf --window=250 --depth=50"] = []
    raw = 0
    src_root = os.path.join(work, "src")
    for v in range(args.versions):
        src = os.path.join(src_root, f"v{v}")
        make_version(src, v, args.versions)
        raw += du(src)
        order = tools[v % len(tools):] + tools[:v % len(tools)]
        for t in order:
            start = time.perf_counter()
            inner = t.commit(src, v)
            times[t.name].append(inner if inner is not None else time.perf_counter() - start)
        for t in tools:
            series[t.name].append((v + 1, t.bytes()))
        if (v + 1) % args.checkpoint == 0 or v + 1 == args.versions:
            git = next((t for t in tools if t.name == "git"), None)
            if git:
                for label, cmd in (("git gc", ["git", "gc", "-q"]),
                                   ("git repack -adf --window=250 --depth=50",
                                    ["git", "repack", "-q", "-adf", "--window=250", "--depth=50"])):
                    copy = os.path.join(work, "gitcopy")
                    shutil.rmtree(copy, ignore_errors=True)
                    shutil.copytree(git.repo, copy, symlinks=True)
                    run(cmd, copy, e)
                    series[label].append((v + 1, du(os.path.join(copy, ".git", "objects"))))
        if v > 0:
            shutil.rmtree(os.path.join(src_root, f"v{v - 1}"))
        print(f"\rversion {v + 1}/{args.versions}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    store = next((t for t in tools if t.name == "store"), None)
    settle = None
    if store:
        before = store.bytes()
        settle, st = store.settle()
        series["store"][-1] = (args.versions, store.bytes())
        print(f"store right after the last commit: {before / 1e6:.2f} MB; settled {settle:.1f} s later "
              f"at {store.bytes() / 1e6:.2f} MB (stats: {st['raw_bytes'] / 1e6:.1f} MB of versions, "
              f"ratio {st['ratio']:.0f}x)")
    print(f"\n{args.versions} versions, {raw / 1e6:.1f} MB of input in all\n")
    print(f"{'keeps':<44}{'bytes on disk':>16}{'commit p50 ms':>15}{'p99 ms':>10}{'p99/p50':>9}")
    finals = {}
    for name, points in series.items():
        if not points:
            continue
        finals[name] = points[-1][1]
        t = times.get(name)
        if t:
            p50, p99 = statistics.median(t) * 1e3, pct(t, 99) * 1e3
            print(f"{name:<44}{points[-1][1] / 1e6:>13.2f} MB{p50:>15.1f}{p99:>10.1f}{p99 / p50:>9.2f}")
        else:
            print(f"{name:<44}{points[-1][1] / 1e6:>13.2f} MB")
    best = finals.get("git repack -adf --window=250 --depth=50")
    if store and best:
        print(f"\nstore / best git repack: {finals['store'] / best:.2f}x (target <= 1.5)")
    if store and "git" in times:
        print(f"store commit p50 / manual git flow p50: "
              f"{statistics.median(times['store']) / statistics.median(times['git']):.2f} (target <= 0.5)")
    if store:
        git = next((t for t in tools if t.name == "git"), None)
        out = os.path.join(work, "export")
        ours, theirs = [], []
        for i in range(11):
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            run([binary, "--repo", store.repo, "-q", "export", f"corr_v{args.versions - 1}", "--to", out], work, e)
            ours.append(time.perf_counter() - t0)
            if git:
                shutil.rmtree(out, ignore_errors=True)
                os.makedirs(out)
                t0 = time.perf_counter()
                archive = subprocess.Popen(["git", "archive", f"corr_v{args.versions - 1}:artifacts/bench/backtest"],
                                           cwd=git.repo, env=e, stdout=subprocess.PIPE)
                subprocess.run(["tar", "-x", "-C", out], stdin=archive.stdout, check=True)
                archive.wait()
                theirs.append(time.perf_counter() - t0)
        line = f"\nexport of the newest version: {statistics.median(ours) * 1e3:.1f} ms"
        if theirs:
            line += (f"; git archive | tar -x of it: {statistics.median(theirs) * 1e3:.1f} ms "
                     f"({statistics.median(ours) / statistics.median(theirs):.2f}x, target <= 1.5)")
        print(line)
        oldest = []
        for i in range(5):
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            run([binary, "--repo", store.repo, "-q", "export", "corr_v0", "--to", out], work, e)
            oldest.append(time.perf_counter() - t0)
        chains = subprocess.run(["sh", "-c", f"git verify-pack -v {store.repo}/objects/pack/*.idx | grep '^chain length' | tail -1"],
                                capture_output=True, text=True).stdout.strip()
        print(f"export of the oldest version (deepest in its chain): {statistics.median(oldest) * 1e3:.1f} ms; "
              f"longest chain: {chains or 'none'}")
    if "mlflow" in times:
        for t in tools:
            if t.name == "mlflow":
                t.proc.stdin.close()
                t.proc.wait()
    plot(series, args.versions, args.venv, args.plot)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
