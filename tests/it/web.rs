//! `serve`: the web view's API, headers, traversal, methods and token over real HTTP, a
//! real store and the real binary. `web/browser.rs` drives headless Chromium.

use crate::common;

mod browser;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Env;
use serde_json::Value;

/// A running `serve`, stopped when dropped.
pub struct Served {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
}

impl Served {
    /// Starts `artifact-store --repo STORE serve --addr 127.0.0.1:0 EXTRA...`.
    pub fn start(env: &Env, store: &Path, extra: &[&str]) -> Served {
        let mut args = vec![
            "--repo",
            store.to_str().unwrap(),
            "serve",
            "--addr",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        let mut child = env
            .cmd(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let mut stdout = child.stdout.take().unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).map(|n| n == 1).unwrap_or(false) && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let url = String::from_utf8(line).unwrap();
        if !url.starts_with("http://") {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            let _ = child.kill();
            panic!("serve did not print its URL: {url:?}\n{err}");
        }
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Served { child, addr, url }
    }

    /// `GET path` with no extra headers.
    pub fn get(&self, path: &str) -> Reply {
        request(&self.addr, "GET", path, &[])
    }

    /// `GET path`, the body as JSON.
    #[track_caller]
    pub fn json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json"),
            "{path}: {}",
            r.text()
        );
        (r.status, serde_json::from_slice(&r.body).unwrap())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one raw HTTP/1.1 request (the path exactly as given: no client normalizes it)
/// and reads the whole response.
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect to serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let (head, body) = read_response(&mut stream, method == "HEAD");
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body,
    }
}

/// Reads one response: its head, then its body by Content-Length or chunks (a server may
/// keep the connection open), or to the end when it gives neither.
pub fn read_response(stream: &mut TcpStream, head_only: bool) -> (String, Vec<u8>) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).expect("read a response");
        assert!(n > 0, "the connection closed before a response head");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let lower = head.to_ascii_lowercase();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = lower.contains("transfer-encoding: chunked");
    if head_only {
        return (head, Vec::new());
    }
    let complete = |body: &[u8]| match (length, chunked) {
        (Some(n), _) => body.len() >= n,
        (None, true) => body.windows(5).any(|w| w == b"0\r\n\r\n"),
        (None, false) => false,
    };
    while !complete(&body) {
        let n = stream.read(&mut buf).expect("read a response body");
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    if chunked {
        body = unchunk(&body);
    }
    (head, body)
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
}

/// Commits `files` as a version of `wf/task` with correlation id `corr` and metrics.
pub fn commit(
    env: &Env,
    store: &Path,
    (wf, task, corr): (&str, &str, &str),
    secs: i64,
    metrics: &[(&str, &str)],
    files: &[(&str, &[u8])],
) {
    let dir = env.path(&format!("runs/{corr}"));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, content) in files {
        env.write(&format!("runs/{corr}/{name}"), content);
    }
    let sets: Vec<String> = metrics
        .iter()
        .map(|(k, v)| format!("test_metrics.{k}={v}"))
        .collect();
    let mut args = vec![
        "-w",
        wf,
        "-t",
        task,
        "--correlation-id",
        corr,
        "--status",
        "passed",
        "--set",
        "llm_version=gpt-4",
    ];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    env.commit_dated(store, secs, &args, &dir);
}

/// An equity curve of `n` hourly points, shaped by `drift`.
pub fn curve(n: usize, drift: f64) -> Vec<u8> {
    let mut out = String::from("timestamp,equity,drawdown\n");
    let start = 1_762_180_200i64;
    let mut equity = 10_000.0f64;
    for i in 0..n {
        equity += drift + ((i as f64) * 0.37).sin() * 12.0;
        let t = chrono::DateTime::from_timestamp(start + 3600 * i as i64, 0).unwrap();
        out.push_str(&format!(
            "{},{equity:.2},{:.2}\n",
            t.format("%Y-%m-%dT%H:%M:%SZ"),
            -(((i as f64) * 0.11).cos().abs() * 40.0)
        ));
    }
    out.into_bytes()
}

/// A store with one workflow, one task, three versions of different curves and metrics
/// (`total_trades` the same in all), and one version in another task.
pub fn populated(env: &Env) -> PathBuf {
    let store = env.store();
    let versions = [
        ("run-001", 98.2, 0.51, 1.0),
        ("run-002", 120.5, 0.58, 2.5),
        ("run-003", 87.0, 0.47, -0.5),
    ];
    for (i, (corr, pnl, win, drift)) in versions.iter().enumerate() {
        commit(
            env,
            &store,
            ("wf_rsi", "task_a", corr),
            1_762_000_000 + 100 * i as i64,
            &[
                ("net_pnl", &pnl.to_string()),
                ("win_rate", &win.to_string()),
                ("total_trades", "12"),
            ],
            &[
                ("equity_curve.csv", &curve(200, *drift)),
                ("report.json", format!("{{\"pnl\": {pnl}}}").as_bytes()),
                ("notes.txt", format!("run {corr}\nsame line\n").as_bytes()),
            ],
        );
    }
    commit(
        env,
        &store,
        ("wf_rsi", "task_b", "run-b01"),
        1_762_000_500,
        &[
            ("net_pnl", "10"),
            ("win_rate", "0.4"),
            ("total_trades", "3"),
        ],
        &[("equity_curve.csv", &curve(50, 0.2))],
    );
    store
}

fn cli_json(env: &Env, store: &Path, args: &[&str]) -> (i32, Value) {
    let mut full = vec!["--repo", store.to_str().unwrap(), "--json"];
    full.extend_from_slice(args);
    let run = env.run(&full);
    (run.code, run.json())
}

#[test]
fn api_bodies_are_the_cli_json_output() {
    let env = Env::new();
    let store = populated(&env);
    let served = Served::start(&env, &store, &[]);
    let cases: &[(&str, &[&str])] = &[
        (
            "/api/sets?workflow=wf_rsi&limit=50",
            &["list", "--workflow", "wf_rsi", "--limit", "50"],
        ),
        (
            "/api/sets?workflow=wf_rsi&task=task_a&all_versions=true&where=test_metrics.win_rate%3E%3D0.5",
            &[
                "list",
                "--workflow",
                "wf_rsi",
                "--task",
                "task_a",
                "--all-versions",
                "--where",
                "test_metrics.win_rate>=0.5",
            ],
        ),
        ("/api/sets", &["list"]),
        ("/api/sets/run-002", &["show", "run-002"]),
        ("/api/sets/corr_run-001", &["show", "corr_run-001"]),
        (
            "/api/sets/wf_rsi%2Ftask_a",
            &["show", "wf_rsi/task_a"],
        ),
        ("/api/sets/run-002/log", &["log", "wf_rsi/task_a"]),
        (
            "/api/sets/run-002/log?limit=1",
            &["log", "wf_rsi/task_a", "--limit", "1"],
        ),
        (
            "/api/diff?a=run-001&b=run-002",
            &["diff", "run-001", "run-002"],
        ),
        ("/api/stats", &["stats"]),
    ];
    for (path, args) in cases {
        let (status, body) = served.json(path);
        let (code, cli) = cli_json(&env, &store, args);
        assert_eq!((status, code), (200, 0), "{path}: {body}");
        assert_eq!(body, cli, "{path} differs from `--json {}`", args.join(" "));
    }
    let (_, list) = served.json("/api/sets?workflow=wf_rsi&task=task_a&all_versions=1");
    assert_eq!(list["sets"].as_array().unwrap().len(), 3, "{list}");
}

#[test]
fn api_errors_are_the_cli_errors_with_the_status_of_their_exit_code() {
    let env = Env::new();
    let store = populated(&env);
    let served = Served::start(&env, &store, &[]);
    let cases: &[(&str, &[&str], u16, i32, &str)] = &[
        ("/api/sets/nope", &["show", "nope"], 404, 5, "not_found"),
        (
            "/api/sets?workflow=bad%20id",
            &["list", "--workflow", "bad id"],
            400,
            2,
            "invalid_id",
        ),
        (
            "/api/sets?where=nonsense",
            &["list", "--where", "nonsense"],
            400,
            2,
            "invalid_input",
        ),
        (
            "/api/diff?a=run-001&b=missing",
            &["diff", "run-001", "missing"],
            404,
            5,
            "not_found",
        ),
    ];
    for (path, args, status, code, kind) in cases {
        let (got_status, body) = served.json(path);
        let (got_code, cli) = cli_json(&env, &store, args);
        assert_eq!((got_status, got_code), (*status, *code), "{path}: {body}");
        assert_eq!(body, cli, "{path}");
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["kind"], *kind, "{body}");
    }
    for (path, status, kind) in [
        ("/api/nothing", 404, "not_found"),
        ("/api/diff?a=run-001", 400, "invalid_input"),
        ("/api/sets?workflow_id=wf_rsi", 400, "invalid_input"),
        ("/api/sets?limit=many", 400, "invalid_input"),
        ("/api/sets/run-001/files/missing.txt", 404, "not_found"),
    ] {
        let (got, body) = served.json(path);
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"]["kind"], kind, "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 5);
    }
}

#[test]
fn refs_are_read_afresh_on_every_request_also_after_a_push_into_the_served_store() {
    let env = Env::new();
    let store = populated(&env);
    let served = Served::start(&env, &store, &[]);
    assert_eq!(served.json("/api/sets/run-004").0, 404);
    commit(
        &env,
        &store,
        ("wf_rsi", "task_a", "run-004"),
        1_762_000_900,
        &[("net_pnl", "1")],
        &[("equity_curve.csv", &curve(10, 1.0))],
    );
    let (status, set) = served.json("/api/sets/run-004");
    assert_eq!(status, 200, "{set}");
    // Another machine's store pushes a new version into the served one: new refs and a
    // new pack appear under the running server.
    let other = env.store_at("other.git");
    commit(
        &env,
        &other,
        ("wf_rsi", "task_c", "run-c01"),
        1_762_001_000,
        &[("net_pnl", "2")],
        &[("equity_curve.csv", &curve(20, 1.0))],
    );
    env.git_in(
        &other,
        &[
            "push",
            "-q",
            store.to_str().unwrap(),
            "refs/heads/*:refs/heads/*",
            "refs/tags/*:refs/tags/*",
        ],
    );
    let (status, set) = served.json("/api/sets/run-c01");
    assert_eq!(status, 200, "{set}");
    let (_, list) = served.json("/api/sets?workflow=wf_rsi&task=task_c");
    assert_eq!(
        list["sets"][0]["correlation_id"],
        set["metadata"]["correlation_id"]
    );
    let page = served.get("/sets/run-c01");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("task_c"));
}

#[test]
fn artifact_bytes_are_never_served_or_shown_as_html() {
    let env = Env::new();
    let store = env.store();
    let evil = b"<!doctype html><html><body><script>window.__pwned = 1; fetch('/api/stats')</script><img src=x onerror=alert(1)></body></html>\n";
    commit(
        &env,
        &store,
        ("wf", "t", "evil-1"),
        1_762_000_000,
        &[("net_pnl", "1")],
        &[
            ("page.html", evil),
            (
                "image.svg",
                b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>\n",
            ),
            ("blob.bin", &[0u8, 159, 146, 150, 1, 2, 3]),
            ("sub/dir/data.csv", b"step,loss\n1,0.9\n2,0.5\n"),
        ],
    );
    let served = Served::start(&env, &store, &[]);
    for (file, kind, disposition) in [
        ("page.html", "text/plain; charset=utf-8", "inline"),
        ("image.svg", "text/plain; charset=utf-8", "inline"),
        ("blob.bin", "application/octet-stream", "attachment"),
        ("sub/dir/data.csv", "text/plain; charset=utf-8", "inline"),
    ] {
        let r = served.get(&format!("/api/sets/evil-1/files/{file}"));
        assert_eq!(r.status, 200, "{file}: {}", r.text());
        assert_eq!(r.header("content-type").as_deref(), Some(kind), "{file}");
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.starts_with("sandbox"), "{file}: {csp}");
        assert!(r
            .header("content-disposition")
            .unwrap()
            .starts_with(disposition));
        assert_eq!(
            served
                .get(&format!("/api/sets/evil-1/files/{file}?download=1"))
                .header("content-disposition")
                .unwrap()
                .split(';')
                .next(),
            Some("attachment")
        );
    }
    let r = served.get("/api/sets/evil-1/files/page.html");
    assert_eq!(r.body, evil, "the bytes are served as stored");
    // The page previews it as escaped text, and carries a strict policy.
    let page = served.get("/sets/evil-1");
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        !html.contains("<script>window.__pwned"),
        "artifact markup leaked into the page"
    );
    assert!(
        !html.contains("<img src=x"),
        "artifact markup leaked into the page"
    );
    assert!(
        html.contains("&lt;script&gt;window.__pwned"),
        "the preview shows the text"
    );
    let csp = page.header("content-security-policy").unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
    assert!(
        !html.contains("<script>") && !html.contains("onclick="),
        "no inline script"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no other origin"
    );
}

/// Peak resident memory of process `pid`, in kB (`VmHWM`).
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A file above the streaming threshold reaches the client whole, as an attachment of
/// the announced length, while the server holds a few pieces of it, never the file:
/// loose as the commit left it and packed after consolidation (whole, or a streamed
/// delta against a newer version).
#[test]
fn a_large_file_is_streamed_to_the_client_never_held_whole() {
    const MIB: usize = 1 << 20;
    let env = Env::new();
    let store = env.store();
    let line = |i: usize| {
        format!(
            "{i:09} fill price=100.{:04} qty={} side=BUY\n",
            i % 9973,
            i % 500
        )
    };
    let mut older = Vec::with_capacity(40 * MIB);
    let mut i = 0;
    while older.len() < 40 * MIB {
        older.extend_from_slice(line(i).as_bytes());
        i += 1;
    }
    let mut newer = older.clone();
    while newer.len() < 44 * MIB {
        newer.extend_from_slice(line(i).as_bytes());
        i += 1;
    }
    commit(
        &env,
        &store,
        ("wf", "t", "big-1"),
        1_762_000_000,
        &[("net_pnl", "1")],
        &[("big.log", older.as_slice())],
    );
    commit(
        &env,
        &store,
        ("wf", "t", "big-2"),
        1_762_000_100,
        &[("net_pnl", "2")],
        &[("big.log", newer.as_slice())],
    );
    let s = store.to_str().unwrap();
    for stage in ["loose", "consolidated"] {
        if stage == "consolidated" {
            let run = env.run(&["--repo", s, "--json", "compact"]);
            assert_eq!(run.code, 0, "{}", run.stderr);
            let loose = env.git_in(&store, &["count-objects", "-v"]);
            assert!(loose.contains("count: 0"), "{loose}");
        }
        for (corr, bytes) in [("big-1", &older), ("big-2", &newer)] {
            let served = Served::start(&env, &store, &[]);
            let r = served.get(&format!("/api/sets/{corr}/files/big.log"));
            assert_eq!(
                r.status,
                200,
                "{stage} {corr}: {}",
                String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
            );
            assert_eq!(
                r.header("content-type").as_deref(),
                Some("application/octet-stream")
            );
            assert!(r
                .header("content-disposition")
                .unwrap()
                .starts_with("attachment; filename=\"big.log\""));
            assert_eq!(r.header("content-length"), Some(bytes.len().to_string()));
            assert!(
                r.body == *bytes,
                "{stage} {corr}: the bytes differ ({} of {})",
                r.body.len(),
                bytes.len()
            );
            let peak = peak_rss_kb(served.child.id());
            assert!(
                peak < 32 * 1024,
                "{stage} {corr}: the server peaked at {peak} kB for a {} MiB file",
                bytes.len() / MIB
            );
        }
    }
}

#[test]
fn paths_outside_the_sets_tree_are_not_found_however_written() {
    let env = Env::new();
    let store = env.store();
    commit(
        &env,
        &store,
        ("wf", "t", "tr-1"),
        1_762_000_000,
        &[("net_pnl", "1")],
        &[("a.txt", b"inside\n"), ("sub/b.txt", b"deeper\n")],
    );
    // A file beside the artifact directory, in the same commit's tree.
    let served = Served::start(&env, &store, &[]);
    assert_eq!(served.get("/api/sets/tr-1/files/a.txt").body, b"inside\n");
    assert_eq!(
        served.get("/api/sets/tr-1/files/sub/b.txt").body,
        b"deeper\n"
    );
    assert_eq!(
        served.get("/api/sets/tr-1/files/sub%2Fb.txt").body,
        b"deeper\n"
    );
    for path in [
        "/api/sets/tr-1/files/../a.txt",
        "/api/sets/tr-1/files/sub/../a.txt",
        "/api/sets/tr-1/files/sub/%2e%2e/a.txt",
        "/api/sets/tr-1/files/sub%2F..%2Fa.txt",
        "/api/sets/tr-1/files/%2E%2E%2F%2E%2E%2Fconfig",
        "/api/sets/tr-1/files/..%2f..%2f..%2fHEAD",
        "/api/sets/tr-1/files/../../../../etc/passwd",
        "/api/sets/tr-1/files/%2Fetc%2Fpasswd",
        "/api/sets/tr-1/files//etc/passwd",
        "/api/sets/tr-1/files/./a.txt",
        "/api/sets/tr-1/files/sub//b.txt",
        "/api/sets/tr-1/files/..%5c..%5cconfig",
        "/api/sets/tr-1/files/%ff",
        "/api/sets/tr-1/files/",
        "/api/sets/tr-1/files/.git/config",
    ] {
        let r = served.get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error"]["kind"], "not_found", "{path}");
        assert!(!r.text().contains("inside") && !r.text().contains("[core]"));
    }
}

#[test]
fn only_get_and_head_are_served() {
    let env = Env::new();
    let store = populated(&env);
    let served = Served::start(&env, &store, &[]);
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
        for path in ["/api/stats", "/", "/api/nothing", "/sets/run-001"] {
            let r = request(&served.addr, method, path, &[("Content-Length", "0")]);
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
        }
    }
    let head = request(&served.addr, "HEAD", "/api/sets/run-001", &[]);
    let get = served.get("/api/sets/run-001");
    assert_eq!((head.status, get.status), (200, 200));
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string())
    );
}

#[test]
fn a_token_guards_every_route_and_off_loopback_one_is_required() {
    let env = Env::new();
    let store = populated(&env);
    let s = store.to_str().unwrap();
    // Refused before anything listens: a non-loopback address without a token, a short token.
    let run = env.run(&["--repo", s, "serve", "--addr", "0.0.0.0:0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("requires --token"), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    let run = env.run(&["--repo", s, "--json", "serve", "--addr", "0.0.0.0:0"]);
    assert_eq!(run.json()["error"]["kind"], "invalid_input");
    let run = env.run(&[
        "--repo",
        s,
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--token",
        "short",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);

    let token = "s3cret-token-0123456789";
    let served = Served::start(&env, &store, &["--token", token]);
    for path in [
        "/api/stats",
        "/",
        "/sets/run-001",
        "/api/sets/run-001/files/notes.txt",
    ] {
        let r = served.get(path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        assert!(!r.text().contains(token));
    }
    let (status, body) = served.json("/api/stats");
    assert_eq!(
        (status, &body["error"]["kind"]),
        (401, &Value::from("permission"))
    );
    let wrong = request(
        &served.addr,
        "GET",
        "/api/stats",
        &[("Authorization", "Bearer nope-nope-nope-nope")],
    );
    assert_eq!(wrong.status, 401);
    let bearer = format!("Bearer {token}");
    let right = request(
        &served.addr,
        "GET",
        "/api/stats",
        &[("Authorization", &bearer)],
    );
    assert_eq!(right.status, 200, "{}", right.text());
    // A browser: ?token= once sets the cookie and sends it to the page without the token.
    let r = served.get(&format!("/sets?workflow=wf_rsi&token={token}"));
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/sets?workflow=wf_rsi")
    );
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let page = request(
        &served.addr,
        "GET",
        "/sets?workflow=wf_rsi",
        &[("Cookie", &pair)],
    );
    assert_eq!(page.status, 200);
    assert_eq!(served.get("/?token=wrong-token-0123456789").status, 401);
    // With a token, any host name may be used (the view is meant for the network then).
    let named = request(
        &served.addr,
        "GET",
        "/api/stats",
        &[("Authorization", &bearer), ("Host", "store.example:8080")],
    );
    assert_eq!(named.status, 200);
}

#[test]
fn on_loopback_only_loopback_host_names_are_answered() {
    let env = Env::new();
    let store = populated(&env);
    let served = Served::start(&env, &store, &[]);
    let port = served.addr.rsplit(':').next().unwrap().to_string();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "[::1]".to_string(),
    ] {
        let r = request(&served.addr, "GET", "/api/stats", &[("Host", &host)]);
        assert_eq!(r.status, 200, "{host}");
    }
    // A page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding) reads nothing.
    let r = request(
        &served.addr,
        "GET",
        "/api/stats",
        &[("Host", "attacker.example")],
    );
    assert_eq!(r.status, 403);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"]["kind"], "permission");
}

#[test]
fn pages_render_with_a_strict_policy_and_say_what_is_wrong() {
    let env = Env::new();
    let store = populated(&env);
    let served = Served::start(&env, &store, &[]);
    for (path, needles) in [
        ("/", &["wf_rsi", "task_a", "task_b", "2 tasks"][..]),
        (
            "/sets?workflow=wf_rsi",
            &[
                "run-001",
                "run-002",
                "run-003",
                "net_pnl",
                "win_rate",
                "only columns that differ",
            ][..],
        ),
        (
            "/sets?where=test_metrics.net_pnl%3E100",
            &["run-002", "1 version"][..],
        ),
        (
            "/sets/run-002",
            &[
                "run-002",
                "equity_curve.csv",
                "Correlation-Id",
                "chart-data",
                "report.json",
            ][..],
        ),
        (
            "/compare?refs=run-001,run-002,run-003",
            &[
                "run-001",
                "run-002",
                "run-003",
                "+22.3",
                "chart-data",
                "notes.txt",
            ][..],
        ),
        (
            "/compare?ref=run-001&ref=run-003",
            &["run-001", "run-003"][..],
        ),
    ] {
        let r = served.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert!(r
            .header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'"));
        let html = r.text();
        for n in needles {
            assert!(html.contains(n), "{path} lacks {n:?}");
        }
    }
    let only = served.get("/sets?where=test_metrics.net_pnl%3E100").text();
    assert!(!only.contains("run-001") && !only.contains("run-003"));
    for (path, status, text) in [
        ("/compare?refs=run-001", 400, "2 to 8 versions"),
        ("/compare?refs=a,b,c,d,e,f,g,h,i", 400, "2 to 8 versions"),
        ("/sets/nope", 404, "nothing named"),
        ("/sets?where=nonsense", 200, "expected KEY OP VALUE"),
        ("/no/such/page", 404, "no page"),
    ] {
        let r = served.get(path);
        assert_eq!(r.status, status, "{path}");
        assert!(r.text().contains(text), "{path}: {}", r.text());
    }
    for asset in [
        "app.js",
        "app.css",
        "uPlot.iife.min.js",
        "uPlot.min.css",
        "uPlot-LICENSE",
    ] {
        let r = served.get(&format!("/assets/{asset}"));
        assert_eq!(r.status, 200, "{asset}");
        assert!(!r.body.is_empty());
    }
    assert!(served.get("/assets/uPlot-LICENSE").text().contains("MIT"));
}

#[test]
fn a_long_curve_reaches_the_browser_thinned_with_its_extremes() {
    let env = Env::new();
    let store = env.store();
    let mut csv = String::from("step,value\n");
    for i in 0..100_000 {
        let v = match i {
            31_337 => -9_999.5,
            77_000 => 88_888.25,
            _ => (i % 1000) as f64,
        };
        csv.push_str(&format!("{i},{v}\n"));
    }
    commit(
        &env,
        &store,
        ("wf", "t", "long-1"),
        1_762_000_000,
        &[("net_pnl", "1")],
        &[("loss.csv", csv.as_bytes())],
    );
    let served = Served::start(&env, &store, &[]);
    let page = served.get("/sets/long-1").text();
    let start = page.find("id=\"chart-data\">").unwrap() + "id=\"chart-data\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    let charts: Value = serde_json::from_str(&page[start..end]).unwrap();
    let ys: Vec<f64> = charts[0]["series"][0]["y"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert!(ys.len() <= 2001, "{} points sent", ys.len());
    assert!(
        ys.contains(&-9_999.5) && ys.contains(&88_888.25),
        "an extreme was lost"
    );
    assert!(charts[0]["note"]
        .as_str()
        .unwrap()
        .contains("100000 points"));
}

/// The compare page's text diff of a changed file is `diff --patch`'s: the same hunks,
/// line for line, each line escaped and classed by its sign.
#[test]
fn the_compare_page_shows_the_hunks_of_diff_patch() {
    let env = Env::new();
    let store = env.store();
    let old = b"one\ntwo\nthree\n<b>four</b>\nfive\n";
    let new = b"one\n2\nthree\n<b>four</b>\nfive\nsix\n";
    for (corr, secs, text) in [
        ("hunk-1", 1_762_000_000, &old[..]),
        ("hunk-2", 1_762_000_100, &new[..]),
    ] {
        commit(
            &env,
            &store,
            ("wf", "t", corr),
            secs,
            &[("net_pnl", "1")],
            &[("notes.txt", text)],
        );
    }
    let s = store.to_str().unwrap();
    let patch = env
        .run(&["--repo", s, "--json", "diff", "hunk-1", "hunk-2", "--patch"])
        .ok()
        .json()["changed"][0]["patch"]
        .as_str()
        .unwrap()
        .to_string();
    let served = Served::start(&env, &store, &[]);
    let page = served.get("/compare?refs=hunk-1,hunk-2").text();
    let start =
        page.find("<pre class=\"diff\">").expect("a text diff") + "<pre class=\"diff\">".len();
    let end = start + page[start..].find("</pre>").unwrap();
    let shown: Vec<&str> = page[start..end].lines().collect();
    let expected: Vec<String> = patch
        .lines()
        .skip(2)
        .map(|line| {
            let class = match line.as_bytes()[0] {
                b'@' => "hunk",
                b'+' => "add",
                b'-' => "del",
                _ => "ctx",
            };
            let text = line
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            format!("<span class=\"{class}\">{text}</span>")
        })
        .collect();
    assert_eq!(shown, expected, "{patch}");
    assert!(
        shown.contains(&"<span class=\"del\">-two</span>"),
        "{shown:#?}"
    );
    assert!(
        shown.contains(&"<span class=\"add\">+six</span>"),
        "{shown:#?}"
    );
    assert!(
        !page.contains("<b>four</b>"),
        "an artifact's markup reached the page"
    );
}

#[test]
fn the_demo_ends_with_the_serve_command_and_its_store_serves() {
    let env = Env::new();
    let dir = env.path("demo");
    let run = env.run(&["demo", "--dir", dir.to_str().unwrap()]).ok();
    let last = run
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains(" serve"))
        .unwrap();
    let store = dir.join("store.git");
    assert!(
        last.contains(&format!("--repo {}", store.display())),
        "{}",
        run.stdout
    );
    assert!(last.trim_end().ends_with("serve --open"), "{}", run.stdout);
    let served = Served::start(&env, &store, &[]);
    let page = served.get("/compare?refs=corr_demo-001,corr_demo-002");
    assert_eq!(page.status, 200);
    let (_, diff) = served.json("/api/diff?a=corr_demo-001&b=corr_demo-002");
    let changed: Vec<&str> = diff["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(
        changed.contains(&"equity_curve.csv"),
        "the two runs' curves differ: {diff}"
    );
}

/// Whether a program is on PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
}
