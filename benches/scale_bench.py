#!/usr/bin/env python3
"""The scale curve: how the cost of the store's commands grows with the store.

Grows ONE store to 100,000 versions over 10,000 task branches (20 workflows) and, at each
checkpoint (0, 1k, 10k, 100k versions by default), measures with whole `artifact-store`
processes:

  commit     p50 and p99 of real `artifact-store commit` runs (three small files plus caller
             metadata, fsync on: the default). They are the next versions of the growth
             sequence, so at 100k most land on task branches that already hold 10 versions.
             PEER: the same commits into a fresh, empty store, interleaved one for one in the
             same minute, so the ratio is not skewed by the load of the moment.
  deep       the same, on the one deep task branch (every 100th version lands there: 1,000
             versions at 100k), where a new correlation id's lost-tag search walks furthest.
  show       `artifact-store show corr_x` of a random grown version; peer `git cat-file -p corr_x`.
  list       `artifact-store list --limit 50` (every task branch); peer `git for-each-ref
             --count=50 --sort=-committerdate refs/heads/ai/generated/`.
  gc plan    `artifact-store gc --json` (the dry run) with keep_last = 100, keep_versions = 5.
  size       the repository on disk (`du`: blocks), and its loose and packed refs.

How it grows: between checkpoints, versions are written with `git fast-import` in the store's
exact layout: the same tree (artifacts/<wf>/<task>/ plus metadata.json with sha256
checksums), commit message and trailers, author, annotated `corr_` and `prompt_` tags, byte
for byte. That is checked, not assumed: before anything else, two versions are committed
with the CLI into one scratch store and fast-imported into another, and every ref must name
the same object id in both. After each growth `artifact-store verify --all` must pass. Then
`git pack-refs --all`: the state the store keeps by itself, since `commit` packs loose refs
once they pile up (docs/scaling.md). One clock for everything: version n is committed at
1,700,000,000 + 10 n seconds (the CLI through GIT_COMMITTER_DATE), so runs are reproducible.

Objects written by fast-import sit in packs, as after `git gc`; the store's own commits
write loose objects, and a store that never runs `git gc` is larger on disk than the figures
here (see docs/scaling.md).

Usage:
  pip install matplotlib   # once, for the plot
  cargo build --release
  python3 benches/scale_bench.py                   # 0 / 1k / 10k / 100k, 10-15 min
  python3 benches/scale_bench.py --quick           # 0 / 1k / 5k / 20k over 2,000 branches
  python3 benches/scale_bench.py --callgrind       # also instructions per commit (valgrind)
  python3 benches/scale_bench.py --compare OLD_BIN # also another build's commits, interleaved
  python3 benches/scale_bench.py --loose-refs      # the grown refs left loose, never packed
  python3 benches/scale_bench.py --replot run.json # table and plot of an earlier --json run

Writes the table to stdout, the plot to docs/scale-curve.png, the raw figures to --json.
"""
import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

WORKFLOWS = 20
T0 = 1_700_000_000
STEP = 10  # seconds between versions on the simulated clock
AUTHOR = "artifact-store <artifact-store@localhost>"  # the store's default identity
DEEP_EVERY = 100
POLICY = "[retention]\nkeep_last = 100\nkeep_versions = 5\n"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- the store's layout

def branch_ids(b):
    """Branch 0 is the deep task; the others spread over WORKFLOWS workflows."""
    if b == 0:
        return "wf_00", "task_deep"
    return f"wf_{b % WORKFLOWS:02d}", f"task_{b:05d}"


def branch_of(i, branches):
    """The task branch of the i-th version of the growth sequence."""
    if i % DEEP_EVERY == 0:
        return 0
    regular = i - i // DEEP_EVERY - 1
    return 1 + regular % (branches - 1)


def files_of(wf, task, v, salt):
    rng = random.Random(f"{wf}/{task}/{v}/{salt}")
    rows = "".join(f"{1_700_000_000 + k * 60},{rng.choice(['buy', 'sell'])},{rng.randint(1, 99)},"
                   f"{rng.uniform(-50, 50):.2f}\n" for k in range(12))
    strategy = (f"# generated for {wf}/{task}, version {v}\n"
                f"FAST = {rng.randint(3, 20)}\nSLOW = {rng.randint(21, 80)}\n\n"
                "def signal(prices):\n"
                "    fast = sum(prices[-FAST:]) / FAST\n"
                "    slow = sum(prices[-SLOW:]) / SLOW\n"
                "    return 1 if fast > slow else -1\n")
    report = json.dumps({"passed": rng.randint(5, 40), "failed": 0, "seed": rng.randint(0, 10**9)}, indent=2) + "\n"
    return {"strategy.py": strategy.encode(), "trades.csv": ("ts,side,qty,pnl\n" + rows).encode(),
            "test_report.json": report.encode()}


def caller_metadata(v, salt):
    rng = random.Random(f"m/{v}/{salt}")
    return {"test_metrics": {"net_pnl": round(rng.uniform(-50, 150), 2), "total_trades": rng.randint(1, 500)},
            "agent_version": "coder-v1.0"}


def metadata_bytes(wf, task, corr, prompt, ts, caller, checksums):
    """metadata.json exactly as the store writes it (serde_json pretty, keys in this order)."""
    doc = {"schema_version": 1, "workflow_id": wf, "task_id": task, "correlation_id": corr,
           "prompt_hash": prompt, "commit_timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
           "test_status": "passed"}
    doc.update(caller)
    doc["files"] = sorted(checksums)
    doc["checksums"] = dict(sorted(checksums.items()))
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


class Version:
    """One artifact set: what the CLI is given and what fast-import writes."""

    def __init__(self, b, v, ts, salt):
        self.wf, self.task = branch_ids(b)
        self.b, self.v, self.ts = b, v, ts
        self.corr = f"{self.wf}-{self.task}-{v}"
        self.prompt = f"p{b:05d}a"
        self.files = files_of(self.wf, self.task, v, salt)
        self.caller = caller_metadata(v, salt)

    @property
    def ref(self):
        return f"refs/heads/ai/generated/{self.wf}/{self.task}"

    def subject(self):
        return f"artifacts({self.wf}/{self.task}): corr_{self.corr}"

    def message(self):
        return (f"{self.subject()}\n\nWorkflow-Id: {self.wf}\nTask-Id: {self.task}\n"
                f"Correlation-Id: corr_{self.corr}\nPrompt-Hash: {self.prompt}\nTest-Status: passed\n")

    def fast_import(self, mark, parent, with_prompt_tag):
        d = f"artifacts/{self.wf}/{self.task}"
        sums = {f"{d}/{n}": "sha256:" + hashlib.sha256(c).hexdigest() for n, c in self.files.items()}
        meta = metadata_bytes(self.wf, self.task, f"corr_{self.corr}", self.prompt, self.ts, self.caller, sums)
        msg = self.message().encode()
        who = f"{AUTHOR} {self.ts} +0000"
        out = [f"commit {self.ref}\nmark :{mark}\nauthor {who}\ncommitter {who}\ndata {len(msg)}\n".encode(), msg]
        if parent:
            out.append(f"from {parent}\n".encode())
        out.append(b"deleteall\n")
        for name, content in sorted(self.files.items()):
            out.append(f"M 100644 inline {d}/{name}\ndata {len(content)}\n".encode() + content + b"\n")
        out.append(f"M 100644 inline {d}/metadata.json\ndata {len(meta)}\n".encode() + meta + b"\n")
        tmsg = (self.subject() + "\n").encode()
        tags = [f"corr_{self.corr}"] + ([f"prompt_{self.prompt}"] if with_prompt_tag else [])
        for tag in tags:
            out.append(f"tag {tag}\nfrom :{mark}\ntagger {who}\ndata {len(tmsg)}\n".encode() + tmsg + b"\n")
        return b"".join(out)

    def cli(self, binary, store, workdir):
        os.makedirs(workdir, exist_ok=True)
        paths = []
        for name, content in self.files.items():
            p = os.path.join(workdir, name)
            with open(p, "wb") as f:
                f.write(content)
            paths.append(p)
        meta = os.path.join(workdir, "caller.json")
        with open(meta, "w") as f:
            json.dump(self.caller, f)
        return [binary, "--repo", store, "commit", "--workflow", self.wf, "--task", self.task,
                "--correlation-id", self.corr, "--prompt-hash", self.prompt, "--metadata", meta] + paths


# ---------------------------------------------------------------- one store and its clock

class Store:
    """A store being grown: its per-branch version counts and its simulated clock."""

    def __init__(self, path, binary, env, branches, pack=True):
        self.path, self.binary, self.env, self.branches, self.pack = path, binary, env, branches, pack
        self.counts = {}
        self.seq = 0        # versions of the growth sequence written so far
        self.total = 0      # every version in the store
        run([binary, "init", "--bare", "-q", path], env)

    def next_version(self, b, salt="grow"):
        v = self.counts.get(b, 0)
        self.counts[b] = v + 1
        self.total += 1
        return Version(b, v, T0 + STEP * self.total, salt)

    def tips(self):
        out = run(["git", "--git-dir", self.path, "for-each-ref", "--format=%(objectname) %(refname)",
                   "refs/heads/ai/generated/"], self.env, capture=True)
        return {ref: oid for oid, ref in (line.split(" ", 1) for line in out.splitlines())}

    def grow(self, target):
        """fast-imports sequence versions until the store holds `target` versions."""
        if self.total >= target:
            return 0.0
        start = time.perf_counter()
        versions = []
        while self.total < target:
            versions.append(self.next_version(branch_of(self.seq, self.branches)))
            self.seq += 1
        self.fast_import(versions)
        return time.perf_counter() - start

    def fast_import(self, versions):
        """Writes `versions` in one fast-import run, then packs the refs."""
        tips = self.tips()
        last_mark, stream, mark = {}, [], 0
        last_of_branch = {ver.ref: k for k, ver in enumerate(versions)}
        for k, ver in enumerate(versions):
            mark += 1
            parent = f":{last_mark[ver.ref]}" if ver.ref in last_mark else tips.get(ver.ref)
            stream.append(ver.fast_import(mark, parent, last_of_branch[ver.ref] == k))
            last_mark[ver.ref] = mark
        run(["git", "--git-dir", self.path, "fast-import", "--quiet", "--force"], self.env,
            stdin=b"".join(stream))
        if self.pack:
            run(["git", "--git-dir", self.path, "pack-refs", "--all"], self.env)

    def commit_cmd(self, b, workdir, salt):
        ver = self.next_version(b, salt)
        env = dict(self.env, GIT_COMMITTER_DATE=f"@{ver.ts} +0000")
        return ver.cli(self.binary, self.path, workdir), env, ver


# ---------------------------------------------------------------- helpers

def run(cmd, env, stdin=None, capture=False, check=True):
    r = subprocess.run(cmd, env=env, input=stdin, check=False,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd[:6])} ...\n{r.stderr.decode(errors='replace')}")
    return r.stdout.decode() if capture else r


def timed(cmd, env):
    start = time.perf_counter()
    run(cmd, env)
    return time.perf_counter() - start


def pct(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def disk_usage(path):
    blocks = apparent = files = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            st = os.lstat(os.path.join(dirpath, n))
            blocks += st.st_blocks * 512
            apparent += st.st_size
            files += 1
    return blocks, apparent, files


def ref_counts(path):
    loose = sum(len([n for n in names if not n.endswith(".lock")])
                for _, _, names in os.walk(os.path.join(path, "refs")))
    packed = 0
    if os.path.exists(os.path.join(path, "packed-refs")):
        with open(os.path.join(path, "packed-refs"), "rb") as f:
            packed = sum(1 for line in f if line[:1] not in (b"#", b"^"))
    return loose, packed


def callgrind(cmd, env, outdir, label):
    out = os.path.join(outdir, f"callgrind.{label}")
    run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd, env)
    with open(out) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    return None


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


# ---------------------------------------------------------------- the checks

def check_layout(binary, env, root):
    """Proves the grower writes what the CLI writes: same object ids for every ref."""
    cli_store = Store(os.path.join(root, "layout-cli.git"), binary, env, 3)
    imp_store = Store(os.path.join(root, "layout-import.git"), binary, env, 3)
    for _ in range(2):
        cmd, cenv, _ = cli_store.commit_cmd(1, os.path.join(root, "layout-files"), "grow")
        run(cmd, cenv)
    imp_store.fast_import([imp_store.next_version(1), imp_store.next_version(1)])
    refs = []
    for s in (cli_store, imp_store):
        refs.append(run(["git", "--git-dir", s.path, "for-each-ref", "--format=%(refname) %(objectname)"],
                        env, capture=True))
    if refs[0] != refs[1] or not refs[0]:
        sys.exit(f"the grower's layout differs from the CLI's:\nCLI:\n{refs[0]}\nfast-import:\n{refs[1]}")
    return len(refs[0].splitlines())


# ---------------------------------------------------------------- one checkpoint

def measure(big, args, root, cp):
    env = big.env
    empty = Store(os.path.join(root, f"empty-{cp}.git"), big.binary, env, big.branches)
    grown_blocks = disk_usage(big.path)[0]
    grown_total = big.total
    whos = ["big", "empty"] + (["other"] if args.compare else [])
    commits = {who: [] for who in whos}
    deep = {who: [] for who in whos}
    work = os.path.join(root, "files")
    deep_every = max(1, args.commits // max(1, args.deep_commits))
    stores = {"big": big, "empty": empty, "other": big}
    for r in range(args.commits):
        jobs = [(who, commits) for who in whos]
        if r % deep_every == 0 and len(deep["big"]) < args.deep_commits:
            jobs += [(who, deep) for who in whos]
        if r % 2:
            jobs.reverse()
        for who, into in jobs:
            store = stores[who]
            if into is deep:
                b = 0
            else:
                b = branch_of(store.seq, store.branches)
                store.seq += 1
            cmd, cenv, _ = store.commit_cmd(b, work, f"cli{cp}")
            if who == "other":
                cmd[0] = args.compare
            into[who].append(timed(cmd, cenv))
    row = {"versions": cp}
    for key, series in (("commit", commits), ("deep", deep)):
        for who in whos:
            row[f"{key}_{who}_p50"] = statistics.median(series[who]) * 1000
            row[f"{key}_{who}_p99"] = pct(series[who], 99) * 1000
            row[f"{key}_{who}_n"] = len(series[who])
    # show and list, side by side with git
    rng = random.Random(cp)
    grown = [(b, n) for b, n in big.counts.items() if b != 0 and n > 0]
    shows, lists = ([], []), ([], [])
    for r in range(args.runs):
        b, n = grown[rng.randrange(len(grown))]
        wf, task = branch_ids(b)
        corr = f"corr_{wf}-{task}-{rng.randrange(n)}"
        pairs = [(shows, [big.binary, "--repo", big.path, "show", corr],
                  ["git", "--git-dir", big.path, "cat-file", "-p", corr]),
                 (lists, [big.binary, "--repo", big.path, "list", "--limit", "50"],
                  ["git", "--git-dir", big.path, "for-each-ref", "--count=50", "--sort=-committerdate",
                   "refs/heads/ai/generated/"])]
        for into, ours, theirs in pairs:
            if r % 2:
                into[1].append(timed(theirs, env)); into[0].append(timed(ours, env))
            else:
                into[0].append(timed(ours, env)); into[1].append(timed(theirs, env))
    row["show_ms"] = statistics.median(shows[0]) * 1000
    row["show_git_ms"] = statistics.median(shows[1]) * 1000
    row["list_ms"] = statistics.median(lists[0]) * 1000
    row["list_git_ms"] = statistics.median(lists[1]) * 1000
    policy = os.path.join(root, "policy.toml")
    with open(policy, "w") as f:
        f.write(POLICY)
    gcs = [timed([big.binary, "--repo", big.path, "--json", "gc", "--policy", policy], env)
           for _ in range(args.gc_runs)]
    row["gc_plan_ms"] = statistics.median(gcs) * 1000
    if args.callgrind:
        b = branch_of(big.seq, big.branches)
        big.seq += 1
        cmd, cenv, _ = big.commit_cmd(b, work, f"cg{cp}")
        row["commit_big_ir"] = callgrind(cmd, cenv, root, f"big-{cp}")
        b = branch_of(empty.seq, empty.branches)
        empty.seq += 1
        cmd, cenv, _ = empty.commit_cmd(b, work, f"cg{cp}")
        row["commit_empty_ir"] = callgrind(cmd, cenv, root, f"empty-{cp}")
        if args.compare:
            b = branch_of(big.seq, big.branches)
            big.seq += 1
            cmd, cenv, _ = big.commit_cmd(b, work, f"cg{cp}")
            cmd[0] = args.compare
            row["commit_other_ir"] = callgrind(cmd, cenv, root, f"other-{cp}")
    blocks, apparent, files = disk_usage(big.path)
    row["disk_mb"], row["apparent_mb"], row["files"] = blocks / 1e6, apparent / 1e6, files
    row["grown_disk_mb"] = grown_blocks / 1e6
    row["cli_kb_per_commit"] = (blocks - grown_blocks) / 1e3 / max(1, big.total - grown_total)
    row["loose_refs"], row["packed_refs"] = ref_counts(big.path)
    row["versions_after"] = big.total
    shutil.rmtree(empty.path, ignore_errors=True)
    return row


# ---------------------------------------------------------------- output

def print_header(args, binary, env):
    version = run([binary, "--version"], env, capture=True).strip()
    git = run(["git", "--version"], env, capture=True).strip()
    load = os.getloadavg()
    print(f"machine:  {machine()}; load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"binary:   {binary} ({version}); {git}; python {platform.python_version()}")
    if args.compare:
        print(f"compared: {args.compare} (commits only, interleaved into the same store)")
    print(f"store:    grown to {args.checkpoints[-1]:,} versions over {args.branches:,} task branches, "
          f"{WORKFLOWS} workflows; every {DEEP_EVERY}th version on one deep branch; "
          f"{'refs left loose' if args.loose_refs else 'refs packed after growth'}")
    print(f"per checkpoint: {args.commits} commits (+{args.deep_commits} on the deep branch), each beside one "
          f"into an empty store; {args.runs} show/list runs beside git; {args.gc_runs} gc plans")
    print("commands: artifact-store --repo S commit --workflow W --task T --correlation-id C --prompt-hash H "
          "--metadata caller.json 3 files   (fsync on, the default)")
    print("          artifact-store show corr_x  | git cat-file -p corr_x")
    print("          artifact-store list --limit 50  | git for-each-ref --count=50 --sort=-committerdate "
          "refs/heads/ai/generated/")
    print(f"          artifact-store --json gc --policy P   (P: {POLICY.strip().replace(chr(10), '; ')})")
    sys.stdout.flush()


def print_table(rows, callgrind_on):
    print()
    print(f"{'versions':>9} {'commit p50':>10} {'p99':>7} {'empty p50':>9} {'ratio':>6} {'deep p50':>9} "
          f"{'p99':>7} {'show':>6} {'git':>6} {'list':>7} {'git':>6} {'gc plan':>8} {'disk MB':>8} "
          f"{'KB/commit':>9} {'loose':>6} {'packed':>7}")
    for r in rows:
        ratio = r["commit_big_p50"] / r["commit_empty_p50"]
        print(f"{r['versions']:>9,} {r['commit_big_p50']:>10.1f} {r['commit_big_p99']:>7.1f} "
              f"{r['commit_empty_p50']:>9.1f} {ratio:>6.2f} {r['deep_big_p50']:>9.1f} {r['deep_big_p99']:>7.1f} "
              f"{r['show_ms']:>6.1f} {r['show_git_ms']:>6.1f} {r['list_ms']:>7.1f} {r['list_git_ms']:>6.1f} "
              f"{r['gc_plan_ms']:>8.0f} {r['grown_disk_mb']:>8.1f} {r['cli_kb_per_commit']:>9.1f} "
              f"{r['loose_refs']:>6} {r['packed_refs']:>7}")
    print("(ms; medians unless p99; 'empty p50' is the peer measured beside; ratio = commit p50 / empty p50;\n"
          " disk MB: the grown store on disk, objects packed; KB/commit: disk added per CLI commit, loose objects\n"
          " and refs; loose/packed: refs after the checkpoint's commits)")
    if "commit_other_p50" in rows[0]:
        print()
        print(f"{'versions':>9} {'commit p50':>10} {'compared':>9} {'p99':>7} {'deep p50':>9} {'compared':>9}"
              "   (--compare: the other build, interleaved into the same store)")
        for r in rows:
            print(f"{r['versions']:>9,} {r['commit_big_p50']:>10.1f} {r['commit_other_p50']:>9.1f} "
                  f"{r['commit_other_p99']:>7.1f} {r['deep_big_p50']:>9.1f} {r['deep_other_p50']:>9.1f}")
    if callgrind_on:
        print()
        print(f"{'versions':>9} {'commit Ir':>14} {'empty Ir':>14} {'ratio':>6} {'compared Ir':>14}"
              "   (callgrind, one commit each)")
        for r in rows:
            other = f"{r['commit_other_ir']:>14,}" if r.get("commit_other_ir") else ""
            print(f"{r['versions']:>9,} {r['commit_big_ir']:>14,} {r['commit_empty_ir']:>14,} "
                  f"{r['commit_big_ir'] / r['commit_empty_ir']:>6.2f} {other}")
    worst = max(r["commit_big_p50"] / r["commit_empty_p50"] for r in rows)
    print(f"\ntarget: commit p50 at {rows[-1]['versions']:,} versions within 2x of an empty store's: "
          f"{rows[-1]['commit_big_p50'] / rows[-1]['commit_empty_p50']:.2f}x "
          f"({'met' if rows[-1]['commit_big_p50'] <= 2 * rows[-1]['commit_empty_p50'] else 'NOT met'}); "
          f"worst checkpoint {worst:.2f}x")


def plot(rows, path, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib missing: `pip install matplotlib` and re-run for {path}", file=sys.stderr)
        return
    xs = [max(r["versions"], 100) for r in rows]
    fig, (ax1, ax3, ax2) = plt.subplots(1, 3, figsize=(16, 4.8))
    series = [("commit_big_p50", "commit p50", "o-"), ("commit_big_p99", "commit p99", "o--"),
              ("commit_empty_p50", "commit p50, empty store beside", "s:"),
              ("deep_big_p50", "commit p50, deep branch", "^-"), ("show_ms", "show", "d-"),
              ("list_ms", "list --limit 50", "v-"), ("gc_plan_ms", "gc plan", "x-")]
    if "commit_other_p50" in rows[0]:
        series.insert(3, ("commit_other_p50", "commit p50, compared build (--compare)", "s--"))
    for key, label, style in series:
        ax1.plot(xs, [r[key] for r in rows], style, label=label)
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("versions in the store (0 plotted at 100)")
    ax1.set_ylabel("ms (whole process)")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    ax3.plot(xs, [r["commit_big_p50"] / r["commit_empty_p50"] for r in rows], "o-", label="commit p50")
    ax3.plot(xs, [r["deep_big_p50"] / r["commit_empty_p50"] for r in rows], "^-", label="commit p50, deep branch")
    if "commit_other_p50" in rows[0]:
        ax3.plot(xs, [r["commit_other_p50"] / r["commit_empty_p50"] for r in rows], "s--",
                 label="commit p50, compared build")
    ax3.axhline(2.0, color="red", linestyle=":", label="target: 2x")
    ax3.set_xscale("log")
    ax3.set_xlabel("versions in the store (0 plotted at 100)")
    ax3.set_ylabel("ratio to commits into an empty store, timed beside")
    ax3.grid(True, which="both", alpha=0.3)
    ax3.legend(fontsize=8)
    ax2.plot(xs, [r["grown_disk_mb"] for r in rows], "o-", label="repository on disk, objects packed (MB)")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("versions in the store (0 plotted at 100)")
    ax2.set_ylabel("MB")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default="0,1000,10000,100000", help="versions, comma-separated")
    ap.add_argument("--branches", type=int, default=10000, help="task branches at the last checkpoint")
    ap.add_argument("--commits", type=int, default=200, help="measured commits per checkpoint")
    ap.add_argument("--deep-commits", type=int, default=40, help="measured commits on the deep branch")
    ap.add_argument("--runs", type=int, default=30, help="show and list runs per checkpoint")
    ap.add_argument("--gc-runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="0/1k/5k/20k versions over 2,000 branches")
    ap.add_argument("--callgrind", action="store_true", help="also count instructions of one commit")
    ap.add_argument("--compare", metavar="BIN", help="also time commits by another build (say, before a change) "
                    "into the same store, interleaved")
    ap.add_argument("--loose-refs", action="store_true", help="leave the grown refs loose (a store whose refs "
                    "were never packed) instead of `git pack-refs --all` after each growth")
    ap.add_argument("--no-verify", action="store_true", help="skip `verify --all` after each growth")
    ap.add_argument("--bin", default=os.path.join(REPO_ROOT, "target/release/artifact-store"))
    ap.add_argument("--dir", help="work here (default: a temporary directory, removed at the end)")
    ap.add_argument("--png", default=os.path.join(REPO_ROOT, "docs/scale-curve.png"))
    ap.add_argument("--json", help="write the raw figures here")
    ap.add_argument("--replot", metavar="JSON", help="print the table and draw the plot of an earlier --json")
    args = ap.parse_args()
    if args.quick:
        args.checkpoints, args.branches = "0,1000,5000,20000", 2000
        args.commits, args.deep_commits, args.runs = 60, 20, 10
    args.checkpoints = [int(c) for c in args.checkpoints.split(",")]
    if args.replot:
        with open(args.replot) as f:
            saved = json.load(f)
        print_table(saved["rows"], "commit_big_ir" in saved["rows"][0])
        a = saved["args"]
        plot(saved["rows"], args.png, f"artifact-store scale curve: {a['checkpoints'][-1]:,} versions over "
             f"{a['branches']:,} task branches; {saved['machine']}; {saved.get('date', '')}")
        return
    binary = os.path.abspath(args.bin)
    if args.compare:
        args.compare = os.path.abspath(args.compare)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "ARTIFACT_STORE_"))}
    env.update(GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    root = args.dir or tempfile.mkdtemp(prefix="scale-bench-")
    os.makedirs(root, exist_ok=True)
    started = time.time()
    try:
        print_header(args, binary, env)
        n = check_layout(binary, env, root)
        print(f"layout:   CLI and fast-import wrote the same object ids for all {n} refs of two versions")
        big = Store(os.path.join(root, "store.git"), binary, env, args.branches, pack=not args.loose_refs)
        rows = []
        for cp in args.checkpoints:
            grow_s = big.grow(cp)
            line = f"checkpoint {cp:,}: grown in {grow_s:.1f} s"
            if not args.no_verify and big.total:
                t = time.perf_counter()
                run([binary, "--repo", big.path, "verify", "--all"], env)
                line += f"; verify --all passed in {time.perf_counter() - t:.1f} s"
            print(line, flush=True)
            row = measure(big, args, root, cp)
            row["grow_s"] = grow_s
            rows.append(row)
            print(f"  commit p50 {row['commit_big_p50']:.1f} ms (empty store beside: {row['commit_empty_p50']:.1f}),"
                  f" show {row['show_ms']:.1f}, list {row['list_ms']:.1f}, gc plan {row['gc_plan_ms']:.0f} ms",
                  flush=True)
        load = os.getloadavg()
        print_table(rows, args.callgrind)
        print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
              f"wall time {(time.time() - started) / 60:.1f} min")
        title = (f"artifact-store scale curve: {args.checkpoints[-1]:,} versions over {args.branches:,} task "
                 f"branches; {machine()}; {time.strftime('%Y-%m-%d', time.gmtime())}")
        if args.png:
            plot(rows, args.png, title)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"machine": machine(), "date": time.strftime("%Y-%m-%d", time.gmtime()),
                           "args": vars(args), "rows": rows}, f, indent=2)
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
