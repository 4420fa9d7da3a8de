//! The pages in a real browser: headless Chromium driven over WebDriver (chromedriver, plain
//! HTTP on loopback), one browser session for every check. It loads the compare page and
//! checks its chart has one series per version with a legend naming each, sorts the table
//! of versions by a click, flips "only columns that differ", checks an HTML artifact never
//! runs, and saves the screenshots docs/web.md shows.
//!
//! Without Chromium or chromedriver the test is skipped with a loud message, unless `CI` is
//! set: there it fails (`.ci/run` installs Debian's `chromium` and `chromium-driver`).

#![allow(clippy::print_stderr)]

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{commit, populated, Served};
use crate::common::Env;

/// The browser and its driver, or `None` (skip) when absent outside CI.
fn browser_or_skip() -> Option<(PathBuf, PathBuf)> {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|p| super::on_path(p));
    let driver = super::on_path("chromedriver");
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let missing = format!(
                "{}{}",
                if c.is_none() { "chromium " } else { "" },
                if d.is_none() { "chromedriver" } else { "" }
            );
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
                panic!("the browser tests need {missing}: .ci/run installs chromium and chromium-driver");
            }
            eprintln!(
                "\n\
                 ************************************************************************\n\
                 * SKIPPED: the web view's browser tests: {missing} not found.\n\
                 * Install Debian's `chromium` and `chromium-driver` to run them;\n\
                 * in CI (CI=true) this is a failure.\n\
                 ************************************************************************\n"
            );
            None
        }
    }
}

/// A running chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    addr: String,
}

impl Driver {
    fn start(program: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(&driver.addr).is_ok()
                && driver.call("GET", "/status", None)["value"]["ready"] == true
            {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One WebDriver call; returns the response's JSON.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(&self.addr).expect("connect to chromedriver");
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(req.as_bytes()).unwrap();
        let (_, payload) = super::read_response(&mut stream, false);
        serde_json::from_slice(&payload).unwrap_or_else(|e| {
            panic!(
                "chromedriver answered {method} {path} with no JSON ({e}): {}",
                String::from_utf8_lossy(&payload)
            )
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
struct Session<'d> {
    driver: &'d Driver,
    id: String,
}

impl<'d> Session<'d> {
    fn new(driver: &'d Driver, chromium: &Path) -> Session<'d> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium.to_str().unwrap(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--hide-scrollbars", "--force-device-scale-factor=1"]
            }
        }}});
        let r = driver.call("POST", "/session", Some(caps));
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_string();
        Session { driver, id }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self
            .driver
            .call(method, &format!("/session/{}{path}", self.id), body);
        if let Some(err) = r["value"].get("error") {
            panic!(
                "WebDriver {method} {path}: {err}: {}",
                r["value"]["message"]
            );
        }
        r["value"].clone()
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Waits until `script` returns something truthy; returns it.
    fn wait(&self, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.js(script);
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for: {script}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn click(&self, css: &str) {
        let el = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = el
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string();
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Saves a screenshot of the whole page (the window grown to its height).
    fn screenshot(&self, to: &Path) {
        let height = self
            .js("return Math.ceil(document.documentElement.scrollHeight)")
            .as_u64()
            .unwrap_or(900)
            .clamp(600, 4000);
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": 1280, "height": height})),
        );
        let shot = self.cmd("GET", "/screenshot", None);
        let png = base64(shot.as_str().unwrap());
        assert_eq!(&png[1..4], b"PNG");
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, png).unwrap();
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": 1280, "height": 900})),
        );
    }

    /// The browser console's messages since the last call.
    fn console(&self) -> Vec<String> {
        let r = self.driver.call(
            "POST",
            &format!("/session/{}/se/log", self.id),
            Some(json!({"type": "browser"})),
        );
        assert!(
            r["value"].is_array(),
            "the browser's log cannot be read: {r}"
        );
        r["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["message"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self
            .driver
            .call("DELETE", &format!("/session/{}", self.id), None);
    }
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            _ => 63,
        }
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c) << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

/// Where the screenshots go: `ARTIFACT_STORE_SCREENSHOTS` (relative to the crate: set it to
/// `docs/web` to refresh the ones docs/web.md shows), else the test's own temporary
/// directory, so that a test run leaves the source tree as it was.
fn shots(env: &Env) -> PathBuf {
    match std::env::var_os("ARTIFACT_STORE_SCREENSHOTS") {
        Some(dir) => Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        None => env.path("screenshots"),
    }
}

#[test]
fn the_pages_in_headless_chromium() {
    let Some((chromium, driver_path)) = browser_or_skip() else {
        return;
    };
    let env = Env::new();
    let store = populated(&env);
    commit(
        &env,
        &store,
        ("wf_rsi", "task_x", "evil-1"),
        1_762_000_700,
        &[("net_pnl", "0")],
        &[(
            "page.html",
            b"<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">\n",
        )],
    );
    let served = Served::start(&env, &store, &[]);
    let url = &served.url;
    let driver = Driver::start(&driver_path);
    let s = Session::new(&driver, &chromium);

    // Compare: the equity chart first, one series per version, the legend naming each.
    s.go(&format!("{url}compare?refs=run-001,run-002,run-003"));
    s.wait("return document.body.dataset.chartsDrawn");
    let first = s.js(
        "const f = document.querySelector('figure.chart');
         return {title: f.querySelector('figcaption').textContent, drawn: f.dataset.drawn,
                 labels: Array.from(f.querySelectorAll('.u-legend tr.u-series .u-label')).map(e => e.textContent),
                 canvas: f.querySelector('canvas') ? f.querySelector('canvas').width : 0}",
    );
    assert!(
        first["title"]
            .as_str()
            .unwrap()
            .starts_with("equity_curve.csv · equity"),
        "{first}"
    );
    assert_eq!(first["drawn"], "3", "{first}");
    // The legend names each version by its correlation id, as the store records it.
    let mut expected = vec![json!("timestamp")];
    for r in ["run-001", "run-002", "run-003"] {
        expected
            .push(served.json(&format!("/api/sets/{r}")).1["metadata"]["correlation_id"].clone());
    }
    assert!(expected[1].as_str().unwrap().ends_with("run-001"));
    assert_eq!(first["labels"], json!(expected), "{first}");
    assert!(first["canvas"].as_u64().unwrap() > 300, "{first}");
    // Hovering shows each version's value in the legend.
    let hovered = s.js(
        "const f = document.querySelector('figure.chart'); const over = f.querySelector('.u-over');
         const r = over.getBoundingClientRect();
         over.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true}));
         return Array.from(f.querySelectorAll('.u-legend tr.u-series .u-value')).map(e => e.textContent)",
    );
    let values: Vec<&str> = hovered
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(values.len(), 4, "{hovered}");
    assert!(
        values[0].starts_with("2025-"),
        "a date on the x value: {hovered}"
    );
    assert!(
        values[1..]
            .iter()
            .all(|v| v.chars().any(|c| c.is_ascii_digit())),
        "{hovered}"
    );
    let visible_rows = "return Array.from(document.querySelectorAll('#compare table.side tbody tr')).filter(r => r.offsetParent !== null).length";
    let before = s.js(visible_rows).as_u64().unwrap();
    s.click("#only-differ");
    let after = s.js(visible_rows).as_u64().unwrap();
    assert!(after < before && after > 0, "rows {before} -> {after}");
    assert_eq!(s.js("return location.search.includes('differ=1')"), true);
    s.click("#only-differ");
    s.screenshot(&shots(&env).join("compare.png"));

    // The table of versions: sort by a click, flip "only columns that differ".
    s.go(&format!("{url}sets?workflow=wf_rsi&task=task_a"));
    s.wait("return document.querySelector('th.sort')");
    let column = |name: &str| {
        format!(
            "const t = document.getElementById('versions'); const i = Array.from(t.tHead.rows[0].cells).findIndex(c => c.textContent === '{name}');
             return Array.from(t.tBodies[0].rows).map(r => r.cells[i].textContent)"
        )
    };
    let pnl = column("net_pnl");
    assert_eq!(s.js(&pnl), json!(["87", "120.5", "98.2"]), "newest first");
    let header = |name: &str| {
        format!("#versions thead th:nth-child({})", {
            let i = s.js(&format!(
                "return Array.from(document.querySelectorAll('#versions thead th')).findIndex(c => c.textContent === '{name}')"
            ));
            i.as_u64().unwrap() + 1
        })
    };
    s.click(&header("net_pnl"));
    assert_eq!(
        s.js(&pnl),
        json!(["87", "98.2", "120.5"]),
        "ascending after a click"
    );
    s.click(&header("net_pnl"));
    assert_eq!(
        s.js(&pnl),
        json!(["120.5", "98.2", "87"]),
        "descending after another"
    );
    let shown = "return Array.from(document.querySelectorAll('#versions thead th')).filter(c => c.offsetParent !== null).map(c => c.textContent)";
    let all = s.js(shown);
    assert!(
        all.as_array().unwrap().contains(&json!("total_trades")),
        "{all}"
    );
    s.click("#only-differ");
    let differing = s.js(shown);
    let differing: Vec<&str> = differing
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        !differing.contains(&"total_trades") && !differing.contains(&"Task"),
        "{differing:?}"
    );
    assert!(
        differing.contains(&"net_pnl") && differing.contains(&"win_rate"),
        "{differing:?}"
    );
    s.click("#only-differ");
    s.screenshot(&shots(&env).join("versions.png"));

    // One version, its charts and previews.
    s.go(&format!("{url}sets/run-002"));
    let drawn = s.wait("return document.body.dataset.chartsDrawn");
    assert_eq!(drawn, "2", "equity and drawdown");
    s.screenshot(&shots(&env).join("version.png"));

    s.go(url);
    s.wait("return document.querySelector('section.workflow')");
    s.screenshot(&shots(&env).join("overview.png"));

    // An HTML artifact never runs: not in its preview, not opened by itself.
    s.go(&format!("{url}sets/evil-1"));
    s.wait("return document.readyState === 'complete'");
    assert_eq!(s.js("return typeof window.__pwned"), "undefined");
    assert_eq!(
        s.js("return document.querySelector('#file-page-html pre').textContent.includes('<script>window.__pwned')"),
        true
    );
    s.go(&format!("{url}api/sets/evil-1/files/page.html"));
    s.wait("return document.readyState === 'complete'");
    assert_eq!(s.js("return document.contentType"), "text/plain");
    assert_eq!(s.js("return typeof window.__pwned"), "undefined");

    let violations: Vec<String> = s
        .console()
        .into_iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("Uncaught"))
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");
}
