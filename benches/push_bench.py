#!/usr/bin/env python3
"""Times pushing to a remote served by `git daemon` on 127.0.0.1.

  latency     artifact-store commit --push, against commit then `git push` of the branch
              and tag (the flow a user has today), and against commit alone
  pending     push --pending of N new tags, against `git push REMOTE 'refs/tags/*'`
  contention  K clones ("machines") each committing M artifact sets with --push to the
              SAME task branch, then to K DISTINCT branches: landed commits per second and
              how many were re-applied after losing a race

Usage: python3 benches/push_bench.py [--iterations N] [--tags N] [--machines K] [--per M]
                                     [--bin PATH]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time


def env():
    e = dict(os.environ)
    e.update({"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
              "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
              "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"})
    return e


E = env()


def sh(cmd, **kw):
    return subprocess.run(cmd, env=E, check=True, stdout=subprocess.PIPE, **kw).stdout


def timed(cmds):
    start = time.perf_counter()
    for c in cmds:
        sh(c)
    return (time.perf_counter() - start) * 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daemon(base):
    port = free_port()
    exe = os.path.join(sh(["git", "--exec-path"]).decode().strip(), "git-daemon")
    proc = subprocess.Popen([exe, "--export-all", "--enable=receive-pack", "--reuseaddr",
                             "--listen=127.0.0.1", f"--port={port}", f"--base-path={base}", base],
                            env=E, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return proc, port
        except OSError:
            time.sleep(0.01)
    raise SystemExit("git daemon did not start")


def store(binary, root, name, url):
    path = os.path.join(root, name)
    sh([binary, "-q", "init", "--bare", path])
    sh(["git", "-C", path, "remote", "add", "origin", url])
    return path


def artifact(root, tag):
    path = os.path.join(root, f"in-{tag}.json")
    with open(path, "w") as f:
        f.write(json.dumps({"run": tag, "pad": "x" * 10000}))
    return path


def commit(binary, path, task, corr, file, *extra):
    return [binary, "-q", "--repo", path, "-c", "durability=none", "commit", "-w", "wf", "-t",
            task, "--correlation-id", corr, *extra, file]


def latency(binary, root, url, iterations):
    s = store(binary, root, "latency.git", url)
    times = {"commit": [], "commit --push": [], "commit, then git push": []}
    for i in range(iterations):
        for flow in times:
            corr = f"lat{i}{flow.replace(' ', '').replace(',', '')}"
            file = artifact(root, corr)
            if flow == "commit":
                cmds = [commit(binary, s, "t", corr, file)]
            elif flow == "commit --push":
                cmds = [commit(binary, s, "t", corr, file, "--push")]
            else:
                cmds = [commit(binary, s, "t", corr, file),
                        ["git", "-C", s, "push", "-q", "origin", "ai/generated/wf/t",
                         f"refs/tags/corr_{corr}"]]
            times[flow].append(timed(cmds))
    for flow, t in times.items():
        print(f"| latency: {flow} | {statistics.median(t):.1f} ms |")


def pending(binary, root, base, url, n):
    results = {}
    for flow in ["artifact-store push --pending", "git push 'refs/tags/*'"]:
        name = "pending-" + ("store" if flow.startswith("a") else "git")
        sh(["git", "init", "-q", "--bare", os.path.join(base, name + "-remote.git")])
        s = store(binary, root, name + ".git", f"{url}/{name}-remote.git")
        first = artifact(root, name)
        sh(commit(binary, s, "t", f"{name}0", first, "--push"))
        tip = sh(["git", "-C", s, "rev-parse", "refs/heads/ai/generated/wf/t"]).decode().strip()
        edits = "".join(f"create refs/tags/corr_{name}{i} {tip}\n" for i in range(1, n + 1))
        subprocess.run(["git", "-C", s, "update-ref", "--stdin"], input=edits.encode(),
                       env=E, check=True)
        if flow.startswith("a"):
            cmds = [[binary, "-q", "--repo", s, "push", "--pending"]]
        else:
            cmds = [["git", "-C", s, "push", "-q", "origin", "refs/tags/*:refs/tags/*"]]
        results[flow] = timed(cmds)
    for flow, t in results.items():
        print(f"| pending: {flow}, {n} new tags | {t:.0f} ms |")


def contention(binary, root, base, url, machines, per, same_branch):
    name = "contend-same" if same_branch else "contend-distinct"
    sh(["git", "init", "-q", "--bare", os.path.join(base, name + ".git")])
    stores = [store(binary, root, f"{name}-{k}.git", f"{url}/{name}.git") for k in range(machines)]
    reapplied = [0]
    lock = threading.Lock()

    def work(k):
        for i in range(per):
            corr = f"{name}{k}x{i}"
            task = "t" if same_branch else f"t{k}"
            cmd = commit(binary, stores[k], task, corr, artifact(root, corr), "--require-push")
            out = subprocess.run(cmd, env=E, check=True, capture_output=True)
            if b"re-applied" in out.stderr:
                with lock:
                    reapplied[0] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(machines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    total = machines * per
    what = "same branch" if same_branch else "distinct branches"
    print(f"| contention: {machines} machines x {per} commits, {what} | "
          f"{total / elapsed:.1f} commits/s, {reapplied[0]} re-applied |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--tags", type=int, default=5000)
    ap.add_argument("--machines", type=int, default=4)
    ap.add_argument("--per", type=int, default=15)
    ap.add_argument("--bin", default="target/release/artifact-store")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    root = tempfile.mkdtemp(prefix="push-bench-")
    base = os.path.join(root, "served")
    os.makedirs(base)
    sh(["git", "init", "-q", "--bare", os.path.join(base, "remote.git")])
    proc, port = daemon(base)
    url = f"git://127.0.0.1:{port}"
    try:
        print("| flow | median |\n|---|---|")
        latency(binary, root, f"{url}/remote.git", args.iterations)
        pending(binary, root, base, url, args.tags)
        for same in (True, False):
            contention(binary, root, base, url, args.machines, args.per, same)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
