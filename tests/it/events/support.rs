//! A real `redis-server` per test (or `$REDIS_URL`), the subscriber as a child process,
//! and helpers to publish events and read answers.
#![allow(dead_code, clippy::print_stderr)]

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use redis::Commands;
use serde_json::{json, Value};

use crate::common::Env;

/// A Redis for one test: a `redis-server` child on a free loopback port, or `$REDIS_URL`.
pub struct Redis {
    pub url: String,
    server: Option<Server>,
}

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
    aof: bool,
}

fn have_redis_server() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn unavailable(why: &str) -> Option<Redis> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{why}: the Redis tests cannot run, and CI=true requires them (install redis-server)"
        );
    }
    eprintln!("SKIPPED: {why}; install redis-server (or set REDIS_URL) to run the Redis tests");
    None
}

impl Redis {
    /// Returns `$REDIS_URL` when set, else a fresh `redis-server`; `None` (with a message)
    /// when neither can be had, which fails the test under `CI=true`.
    pub fn start(env: &Env) -> Option<Redis> {
        if let Ok(url) = std::env::var("REDIS_URL") {
            if !url.is_empty() {
                return Some(Redis { url, server: None });
            }
        }
        Redis::own(env, false)
    }

    /// Starts a `redis-server` this test controls (to kill and restart it), persisting
    /// to an append-only file fsynced on every write when `aof`.
    pub fn own(env: &Env, aof: bool) -> Option<Redis> {
        if !have_redis_server() {
            return unavailable("no redis-server on PATH");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let dir = env.path(&format!("redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Redis {
            url: format!("redis://127.0.0.1:{port}"),
            server: None,
        };
        redis.spawn(port, dir, aof);
        Some(redis)
    }

    fn spawn(&mut self, port: u16, dir: PathBuf, aof: bool) {
        let log = File::create(dir.join("redis.log")).unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", if aof { "yes" } else { "no" }])
            .args(["--appendfsync", "always", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::from(log))
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.server = Some(Server {
            child,
            port,
            dir,
            aof,
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ping = redis::Client::open(self.url.as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start: {ping:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let server = self.server.as_mut().expect("a server this test started");
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }

    /// Starts the server again on the same port and directory (its AOF is replayed).
    pub fn restart(&mut self) {
        let server = self.server.take().expect("a server this test started");
        self.spawn(server.port, server.dir.clone(), server.aof);
    }

    pub fn con(&self) -> redis::Connection {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        client
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect to Redis")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
    }
}

/// Stream, group and channel names unique to one test, so tests can share a `$REDIS_URL`.
pub struct Names {
    pub input: String,
    pub output: String,
    pub group: String,
    pub dlq: String,
}

impl Names {
    pub fn new(test: &str) -> Names {
        static N: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "{test}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Names {
            input: format!("{tag}:in"),
            output: format!("{tag}:out"),
            group: format!("{tag}:group"),
            dlq: format!("{tag}:in:dlq"),
        }
    }
}

/// A running subscriber; its stderr goes to a file read while it runs.
pub struct Sub {
    pub child: Child,
    log: PathBuf,
}

/// Starts `artifact-store --repo store subscribe` on `names`, plus `extra` flags; an `env:`
/// prefix on `url` passes it as `$REDIS_URL` instead of `--redis`.
pub fn subscriber(env: &Env, store: &Path, url: &str, names: &Names, extra: &[&str]) -> Sub {
    static N: AtomicU32 = AtomicU32::new(0);
    let log = env.path(&format!(
        "subscriber-{}.log",
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(env.path("runs")).unwrap();
    let mut cmd = env.cmd(&[
        "--repo",
        store.to_str().unwrap(),
        "-c",
        "durability=none",
        "subscribe",
    ]);
    match url.strip_prefix("env:") {
        Some(url) => cmd.env("REDIS_URL", url),
        None => cmd.args(["--redis", url]),
    };
    cmd.args(["--input", &names.input, "--output", &names.output])
        .args(["--group", &names.group, "--artifacts-root"])
        .arg(env.path("runs"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(File::create(&log).unwrap()));
    let child = cmd.spawn().expect("spawn the subscriber");
    Sub { child, log }
}

impl Sub {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit; returns its exit code (`None` when killed by a signal).
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the subscriber did not exit in {timeout:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a small artifact set under `runs/<dir>/` and returns the event's artifact map.
pub fn artifacts(env: &Env, dir: &str, salt: &str) -> Value {
    env.write(
        &format!("runs/{dir}/strategy.py"),
        format!("# {salt}\nprint('rsi')\n"),
    );
    env.write(
        &format!("runs/{dir}/report.json"),
        format!("{{\"run\": \"{salt}\"}}\n"),
    );
    json!({"strategy": format!("{dir}/strategy.py"), "test_report": format!("{dir}/report.json")})
}

/// A `TEST_PASSED` envelope in the store's own shape.
pub fn test_passed(corr: &str, task: &str, artifacts: Value) -> Value {
    json!({"event_id": format!("ev-{corr}"), "event_type": "TEST_PASSED", "correlation_id": corr,
           "workflow_id": "wf", "task_id": task, "source": "tester",
           "data": {"artifacts": artifacts, "metrics": {"net_pnl": 120.5, "trades": 12},
                    "prompt_hash": "7a8b9c0d", "agent_version": "coder-v1", "llm_version": "gpt-4"}})
}

/// Creates the group of `names` at the stream's start (MKSTREAM), as the subscriber does.
pub fn create_group(con: &mut redis::Connection, names: &Names) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&names.input)
        .arg(&names.group)
        .arg("0")
        .arg("MKSTREAM")
        .query(con)
        .unwrap();
}

/// Reads one entry of `names.input` as `consumer` of the group: id `>` delivers a new one,
/// `0` delivers again the oldest it holds pending (each read counts a delivery).
pub fn read_one_as(con: &mut redis::Connection, names: &Names, consumer: &str, from: &str) {
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(&names.group)
        .arg(consumer)
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&names.input)
        .arg(from)
        .query(con)
        .unwrap();
}

/// Waits until a client (the subscriber `sub`) listens on `channel`.
pub fn wait_subscribed(con: &mut redis::Connection, channel: &str, sub: &Sub) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let subscribed: Vec<(String, u64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(con)
            .unwrap();
        if subscribed[0].1 > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "never subscribed: {}", sub.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Appends an entry whose `event` field is `payload`; returns its id.
pub fn publish(con: &mut redis::Connection, stream: &str, payload: &str) -> String {
    con.xadd(stream, "*", &[("event", payload)]).unwrap()
}

/// Returns every answer in `stream`, oldest first.
pub fn answers(con: &mut redis::Connection, stream: &str) -> Vec<Value> {
    let reply: redis::streams::StreamRangeReply = con.xrange_all(stream).unwrap();
    reply
        .ids
        .iter()
        .map(|e| {
            let text: String = e.get("event").expect("an event field");
            serde_json::from_str(&text).unwrap()
        })
        .collect()
}

/// Waits until `stream` holds `n` answers; panics with the subscriber's log otherwise.
pub fn wait_answers(con: &mut redis::Connection, stream: &str, n: usize, sub: &Sub) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = answers(con, stream);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} answers after 60 s; subscriber log:\n{}",
            got.len(),
            sub.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Entries of `group` on `stream` not yet acknowledged.
pub fn pending(con: &mut redis::Connection, stream: &str, group: &str) -> usize {
    let reply: redis::streams::StreamPendingReply = con.xpending(stream, group).unwrap();
    reply.count()
}

/// Correlation ids of every commit in the store, one per commit, sorted.
pub fn committed(env: &Env, store: &Path) -> Vec<String> {
    let out = env.git_in(
        store,
        &[
            "log",
            "--all",
            "--format=%(trailers:key=Correlation-Id,valueonly)",
        ],
    );
    let mut ids: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

/// Waits until answers name every correlation id in `all` (duplicates allowed).
pub fn wait_all(con: &mut redis::Connection, stream: &str, all: &BTreeSet<String>, sub: &Sub) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let seen: BTreeSet<String> = answers(con, stream)
            .iter()
            .filter_map(|a| a["correlation_id"].as_str().map(str::to_string))
            .collect();
        if all.is_subset(&seen) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} correlation ids answered; subscriber log:\n{}",
            seen.len(),
            all.len(),
            sub.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
