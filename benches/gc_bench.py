#!/usr/bin/env python3
"""Times retention at scale, side by side with git doing the same ref deletions.

Builds a store of 20,000 task branches (20 workflows) with 4 tagged versions each and one
prompt tag per branch: 100,000 annotated tags, 120,000 refs, built with `git fast-import` in
the store's exact layout (the builder of benches/read_bench.py), refs packed. A policy of
`keep_last = 500` per workflow then prunes half of the branches and their tags: 60,000 refs.

Each run copies the store (identical copies) and times, as whole processes, in rotating
order:

  plan        artifact-store gc --json (the dry run: read, decide, print the plan)
  ours        artifact-store gc --apply: the same refs moved to the trash in one
              transaction, plus the report commit
  git         git update-ref --stdin deleting the same refs in one transaction
  git (move)  git update-ref --stdin creating the same trash refs and deleting the refs

and checks that both leave the same refs under refs/heads and refs/tags.

With --lightweight every tag is made a lightweight tag on the commit it named (the
acceptance run's store); with --git-without-old-values git's deletions name no old value
(`delete <ref>` rather than `delete <ref> <old>`).

Usage: python3 benches/gc_bench.py [--branches 20000] [--versions-per-branch 4] [--runs 3]
                                   [--lightweight] [--git-without-old-values]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read_bench import WORKFLOWS, stream  # noqa: E402

POLICY = "[retention]\nkeep_last = {keep}\n"


def timed(cmd, env, stdin=None):
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, input=stdin)
    return time.perf_counter() - start


def refs(store, env):
    out = subprocess.run(["git", "--git-dir", store, "for-each-ref", "--format=%(refname) %(objectname)",
                          "refs/heads/", "refs/tags/"], env=env, check=True, capture_output=True, text=True)
    return out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--branches", type=int, default=20000)
    ap.add_argument("--versions-per-branch", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default="target/release/artifact-store")
    ap.add_argument("--lightweight", action="store_true")
    ap.add_argument("--git-without-old-values", action="store_true")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    root = tempfile.mkdtemp(prefix="gc-bench-")
    try:
        seed = os.path.join(root, "seed.git")
        subprocess.run(["git", "init", "-q", "--bare", seed], check=True, env=env)
        t = time.perf_counter()
        versions = args.branches * args.versions_per_branch
        subprocess.run(["git", "--git-dir", seed, "fast-import", "--quiet"], input=stream(versions, args.branches),
                       check=True, env=env)
        if args.lightweight:
            peel = subprocess.run(["git", "--git-dir", seed, "for-each-ref", "--format=update %(refname) %(*objectname)",
                                   "refs/tags/"], env=env, check=True, capture_output=True).stdout
            subprocess.run(["git", "--git-dir", seed, "update-ref", "--stdin"], input=peel, check=True, env=env)
        subprocess.run(["git", "--git-dir", seed, "pack-refs", "--all"], check=True, env=env)
        build = time.perf_counter() - t
        policy = os.path.join(root, "policy.toml")
        with open(policy, "w") as f:
            f.write(POLICY.format(keep=args.branches // WORKFLOWS // 2))
        plan_cmd = [binary, "--repo", seed, "--json", "gc", "--policy", policy]
        plan = json.loads(subprocess.run(plan_cmd, env=env, check=True, capture_output=True).stdout)
        pruned = [(d["ref"], d["oid"]) for d in plan["refs"] if d["decision"] == "prune"]
        old = (lambda o: "") if args.git_without_old_values else (lambda o: f" {o}")
        deletes = "".join(f"delete {r}{old(o)}\n" for r, o in pruned).encode()
        moves = "".join(f"create refs/artifact-store/trash/1/{r} {o}\ndelete {r} {o}\n" for r, o in pruned).encode()
        total = len(plan["refs"])
        results = {"plan": [], "ours": [], "git": [], "git (move)": []}
        for i in range(args.runs):
            stores = {}
            for k in ("ours", "git", "git (move)"):
                stores[k] = os.path.join(root, f"run{i}-{k.replace(' ', '').replace('(', '').replace(')', '')}.git")
                shutil.copytree(seed, stores[k])
            jobs = [
                ("plan", lambda: timed(plan_cmd, env)),
                ("ours", lambda: timed([binary, "--repo", stores["ours"], "gc", "--apply", "--policy", policy], env)),
                ("git", lambda: timed(["git", "--git-dir", stores["git"], "update-ref", "--stdin"], env, deletes)),
                ("git (move)", lambda: timed(["git", "--git-dir", stores["git (move)"], "update-ref", "--stdin"], env,
                                              moves)),
            ]
            shift = i % len(jobs)
            for name, job in jobs[shift:] + jobs[:shift]:
                results[name].append(job())
            assert refs(stores["ours"], env) == refs(stores["git"], env), "ours and git leave different refs"
            for s in stores.values():
                shutil.rmtree(s)
        kind = "lightweight" if args.lightweight else "annotated"
        print(f"store: {args.branches} task branches, {versions} corr_ + {args.branches} prompt_ {kind} tags "
              f"({total} refs, packed; built in {build:.1f} s); pruned {len(pruned)} refs")
        print(f"{'step':<14}{'median s':>10}{'min s':>8}   (of {args.runs} runs, whole processes)")
        for k, v in results.items():
            print(f"{k:<14}{statistics.median(v):>10.2f}{min(v):>8.2f}")
        print(f"ours / git = {statistics.median(results['ours']) / statistics.median(results['git']):.2f}"
              f"   target: <= 1.0")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
