//! The subscriber's fatal errors name their real cause: a Redis user short of a command is
//! a `permission` problem of the deployment (exit 2, with the ACL to grant), and an input
//! key that holds something other than a stream is `config` (exit 2); neither is the
//! user's invalid input, and neither shows the Redis password.

use crate::common;
use crate::events::support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Run};
use redis::Commands;
use support::*;

const WAIT: Duration = Duration::from_secs(60);

/// Runs the subscriber with `--json` until it exits on its own; returns what it printed.
fn run_subscriber(env: &Env, store: &str, url: &str, names: &Names) -> Run {
    std::fs::create_dir_all(env.path("runs")).unwrap();
    let mut cmd: Command = env.cmd(&[
        "--repo",
        store,
        "--json",
        "-c",
        "durability=none",
        "subscribe",
        "--input",
        &names.input,
        "--output",
        &names.output,
        "--group",
        &names.group,
        "--artifacts-root",
        env.path("runs").to_str().unwrap(),
    ]);
    cmd.env("REDIS_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the subscriber did not stop on a fatal error");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The JSON error object the subscriber printed last on stdout.
fn last_error(run: &Run) -> serde_json::Value {
    let start = run
        .stdout
        .rfind("{\n  \"success\": false")
        .unwrap_or_else(|| panic!("no JSON error on stdout:\n{}\n{}", run.stdout, run.stderr));
    serde_json::from_str(&run.stdout[start..]).unwrap()
}

#[test]
fn a_redis_user_short_of_a_command_is_a_permission_error_with_the_acl_to_grant() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let s = store.to_str().unwrap();
    let before = env.snapshot(&store);
    for missing in ["xpending", "xreadgroup", "xgroup|create"] {
        let names = Names::new(&format!("perm-{}", missing.replace('|', "-")));
        let mut admin = redis.con();
        let user = format!("perm-{}", names.group.replace(':', "-"));
        let password = "perm-pw-8c1e4b7a2f";
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user)
            .arg("reset")
            .arg("on")
            .arg(format!(">{password}"))
            .arg("+@all")
            .arg(format!("-{missing}"))
            .arg("~*")
            .arg("&*")
            .query(&mut admin)
            .unwrap();
        let url = redis
            .url
            .replacen("redis://", &format!("redis://{user}:{password}@"), 1);
        let run = run_subscriber(&env, s, &url, &names);
        assert_eq!(run.code, 2, "{missing}\n{}\n{}", run.stdout, run.stderr);
        let error = &last_error(&run)["error"];
        assert_eq!(error["kind"], "permission", "{missing}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("docs/security.md"), "{message}");
        let hint = error["hint"].as_str().unwrap();
        assert!(hint.contains("ACL SETUSER"), "{hint}");
        assert!(run.stderr.contains("hint: "), "{}", run.stderr);
        for out in [&run.stdout, &run.stderr] {
            assert!(!out.contains(password), "{out}");
        }
        let _: () = redis::cmd("ACL")
            .arg("DELUSER")
            .arg(&user)
            .query(&mut admin)
            .unwrap();
    }
    assert_eq!(env.snapshot(&store), before);
    env.fsck(&store);
}

#[test]
fn an_input_key_that_is_not_a_stream_is_a_configuration_error() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let s = store.to_str().unwrap();
    let before = env.snapshot(&store);
    let mut admin = redis.con();
    for (what, kind) in ["string", "list", "hash"].iter().enumerate() {
        let names = Names::new(&format!("wrongtype-{kind}"));
        let _: () = match what {
            0 => admin.set(&names.input, "not a stream").unwrap(),
            1 => {
                let _: u64 = admin.rpush(&names.input, "x").unwrap();
            }
            _ => {
                let _: u64 = admin.hset(&names.input, "f", "v").unwrap();
            }
        };
        let run = run_subscriber(&env, s, &redis.url, &names);
        assert_eq!(run.code, 2, "{kind}\n{}\n{}", run.stdout, run.stderr);
        let error = &last_error(&run)["error"];
        assert_eq!(error["kind"], "config", "{kind}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(&names.input), "{message}");
        assert!(message.contains("not a stream"), "{message}");
        let _: u64 = admin.del(&names.input).unwrap();
    }
    assert_eq!(env.snapshot(&store), before);
    env.fsck(&store);
}
