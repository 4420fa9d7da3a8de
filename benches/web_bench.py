#!/usr/bin/env python3
"""The web view's speed: its API beside the CLI, and the compare page drawn in Chromium.

1. A store grown to 20,000 versions over 2,000 task branches (20 workflows, the layout and
   the fast-import growth of benches/scale_bench.py). Side by side, in one run:
     api   GET /api/sets?workflow=wf_01&limit=50 against one running `artifact-store serve`,
           a new HTTP connection per request;
     cli   `artifact-store --json list --workflow wf_01 --limit 50`, one process per run.
   Both bodies are checked to be the same JSON first. Median and p90 of --runs each,
   interleaved one for one.
2. A store with four versions of one task, each with a 1 MB equity curve (about 26,000
   rows). The compare page of the four is loaded in headless Chromium (chromedriver);
   the figure is the time from the start of navigation to the moment the page's script has
   drawn every chart (`performance.now()` when it is done), median of --page-runs, with the
   server's time for the HTML alone beside it.

Usage:
  cargo build --release
  python3 benches/web_bench.py                 # about 2 minutes
  python3 benches/web_bench.py --versions 5000 --runs 20
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scale_bench  # noqa: E402  (the store's layout and its fast-import growth)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def serve(binary, store, env):
    p = subprocess.Popen([binary, "--repo", store, "serve", "--addr", "127.0.0.1:0"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    url = p.stdout.readline().decode().strip()
    if not url.startswith("http://"):
        p.kill()
        sys.exit(f"serve printed no URL: {url!r}")
    return p, url


def get(url, path):
    host = url[len("http://"):].rstrip("/")
    c = http.client.HTTPConnection(host, timeout=60)
    c.request("GET", path, headers={"Connection": "close"})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def cpu_seconds(pid):
    """User + system CPU time of a process and its threads so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def api_vs_cli(args, binary, env, root):
    if args.skip_list:
        return
    big = scale_bench.Store(os.path.join(root, "big.git"), binary, env, args.branches)
    t = big.grow(args.versions)
    print(f"store:    {args.versions:,} versions over {args.branches:,} task branches, grown in {t:.1f} s")
    proc, url = serve(binary, big.path, env)
    try:
        path = "/api/sets?workflow=wf_01&limit=50"
        cli = [binary, "--repo", big.path, "--json", "list", "--workflow", "wf_01", "--limit", "50"]
        status, body = get(url, path)
        out = subprocess.run(cli, env=env, capture_output=True, check=True).stdout
        assert status == 200 and json.loads(body) == json.loads(out), "the API and the CLI disagree"
        rows = len(json.loads(body)["sets"])
        api, proc_s = [], []
        for _ in range(3):  # warm both
            get(url, path)
            subprocess.run(cli, env=env, capture_output=True, check=True)
        for _ in range(args.runs):
            s = time.perf_counter()
            get(url, path)
            api.append(time.perf_counter() - s)
            s = time.perf_counter()
            subprocess.run(cli, env=env, capture_output=True, check=True)
            proc_s.append(time.perf_counter() - s)
        print(f"list:     {rows} rows of workflow wf_01, {args.runs} runs each, interleaved")
        print(f"  {'':44} {'median':>9} {'p90':>9}")
        print(f"  {'GET ' + path:44} {statistics.median(api) * 1e3:7.1f}ms {pct(api, 90) * 1e3:7.1f}ms")
        print(f"  {'artifact-store --json list --workflow wf_01 -n 50':44} "
              f"{statistics.median(proc_s) * 1e3:7.1f}ms {pct(proc_s, 90) * 1e3:7.1f}ms")
        print(f"  ratio (CLI / API): {statistics.median(proc_s) / statistics.median(api):.1f}x")
    finally:
        proc.kill()
        proc.wait()


def curve_csv(n_bytes, drift):
    lines = ["timestamp,equity,drawdown"]
    size, i, equity = 0, 0, 10_000.0
    t0 = 1_762_180_200
    while size < n_bytes:
        equity += drift + ((i * 0.37) % 3.0 - 1.5) * 4
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t0 + 60 * i))},{equity:.2f},{-((i * 7) % 400) / 10:.2f}"
        lines.append(line)
        size += len(line) + 1
        i += 1
    return ("\n".join(lines) + "\n").encode(), i


class Chrome:
    """A WebDriver session on chromedriver (plain HTTP on loopback)."""

    def __init__(self):
        driver = shutil.which("chromedriver")
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if not driver or not browser:
            raise RuntimeError("chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.proc = subprocess.Popen([driver, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if self.call("GET", "/status")["value"]["ready"]:
                    break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": browser, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                        "--disable-dev-shm-usage", "--window-size=1280,900"]}}}}
        self.sid = self.call("POST", "/session", caps)["value"]["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    def go(self, url):
        self.call("POST", f"/session/{self.sid}/url", {"url": url})

    def js(self, script):
        return self.call("POST", f"/session/{self.sid}/execute/sync", {"script": script, "args": []})["value"]

    def close(self):
        try:
            self.call("DELETE", f"/session/{self.sid}")
        finally:
            self.proc.kill()
            self.proc.wait()


def compare_page(args, binary, env, root):
    store = os.path.join(root, "curves.git")
    subprocess.run([binary, "init", "--bare", "-q", store], env=env, check=True)
    rows = 0
    for k in range(4):
        d = os.path.join(root, f"run{k}")
        os.makedirs(d, exist_ok=True)
        data, rows = curve_csv(1_000_000, 0.5 * (k - 1))
        with open(os.path.join(d, "equity_curve.csv"), "wb") as f:
            f.write(data)
        subprocess.run([binary, "--repo", store, "-q", "commit", "-w", "wf", "-t", "t", "--correlation-id",
                        f"big-{k}", "--set", f"test_metrics.net_pnl={k * 10}", d + "/."], env=env, check=True)
    proc, url = serve(binary, store, env)
    chrome = None
    try:
        page = "/compare?refs=big-0,big-1,big-2,big-3"
        html = []
        get(url, page)
        cpu0 = cpu_seconds(proc.pid)
        for _ in range(args.page_runs):
            s = time.perf_counter()
            status, body = get(url, page)
            html.append(time.perf_counter() - s)
            assert status == 200
        cpu = (cpu_seconds(proc.pid) - cpu0) / args.page_runs
        chrome = Chrome()
        drawn = []
        for _ in range(args.page_runs):
            chrome.go(url.rstrip("/") + page)  # returns once the page has loaded
            for _ in range(600):
                ms = chrome.js("return document.body.dataset.chartsMs || null")
                if ms:
                    break
                time.sleep(0.01)
            n = chrome.js("return document.body.dataset.chartsDrawn")
            series = chrome.js("return document.querySelector('figure.chart').dataset.drawn")
            assert n and int(n) >= 1 and series == "4", (n, series)
            drawn.append(float(ms) / 1e3)
        print(f"compare:  four versions of a 1 MB equity curve ({rows:,} rows each), {n} charts, "
              f"{len(body) / 1e3:.0f} kB of HTML, {args.page_runs} loads")
        print(f"  HTML from the server (GET {page}): median {statistics.median(html) * 1e3:.0f} ms wall, "
              f"{cpu * 1e3:.0f} ms of the server's CPU per page")
        print(f"  navigation start to every chart drawn, headless Chromium: median "
              f"{statistics.median(drawn) * 1e3:.0f} ms, max {max(drawn) * 1e3:.0f} ms")
    finally:
        if chrome:
            chrome.close()
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", type=int, default=20_000)
    ap.add_argument("--branches", type=int, default=2_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--page-runs", type=int, default=5)
    ap.add_argument("--skip-list", action="store_true", help="only the compare page")
    ap.add_argument("--bin", default=os.path.join(REPO_ROOT, "target/release/artifact-store"))
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "ARTIFACT_STORE_"))}
    env.update(GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    root = tempfile.mkdtemp(prefix="web-bench-")
    try:
        print(f"machine:  {scale_bench.machine()}; load average {os.getloadavg()[0]:.1f} at the start")
        print(f"binary:   {binary}")
        api_vs_cli(args, binary, env, root)
        compare_page(args, binary, env, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
