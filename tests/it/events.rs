//! The Redis subscriber against a real `redis-server`, driven as a separate process.

use crate::common;
#[path = "events/faults.rs"]
mod faults;
#[path = "events/malformed.rs"]
mod malformed;
#[path = "events/support.rs"]
pub(crate) mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Env;
use redis::Commands;
use serde_json::{json, Value};
use support::*;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn a_burst_is_committed_once_each_in_task_order_and_max_events_stops() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("burst");
    let mut con = redis.con();
    let n = 24;
    for i in 0..n + 2 {
        let set = artifacts(&env, &format!("r{i}"), &i.to_string());
        let event = test_passed(&format!("corr_b{i:02}"), &format!("t{}", i % 4), set);
        publish(&mut con, &names.input, &event.to_string());
    }
    let mut sub = subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        &[
            "--max-events",
            "24",
            "--workers",
            "2",
            "--log-format",
            "json",
        ],
    );
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());

    let got = answers(&mut con, &names.output);
    let expected: Vec<String> = (0..n).map(|i| format!("corr_b{i:02}")).collect();
    let mut answered: Vec<String> = got
        .iter()
        .map(|a| a["correlation_id"].as_str().unwrap().to_string())
        .collect();
    answered.sort();
    assert_eq!(
        answered, expected,
        "one answer per event; the two past --max-events untouched"
    );
    for a in &got {
        assert_eq!(a["event_type"], "ARTIFACT_COMMITTED", "{a}");
        assert_eq!(a["source"], "artifact-store");
        assert_eq!(a["data"]["duplicate"], false);
        assert_eq!(
            a["data"]["branch"].as_str().unwrap().len(),
            "ai/generated/wf/t0".len()
        );
    }
    assert_eq!(
        committed(&env, &store),
        expected,
        "each committed exactly once"
    );
    assert_eq!(
        pending(&mut con, &names.input, &names.group),
        0,
        "all acknowledged"
    );
    let order = env.git_in(
        &store,
        &[
            "log",
            "--reverse",
            "--format=%(trailers:key=Correlation-Id,valueonly)",
            "ai/generated/wf/t1",
        ],
    );
    let order: Vec<&str> = order.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        order,
        ["corr_b01", "corr_b05", "corr_b09", "corr_b13", "corr_b17", "corr_b21"]
    );

    let meta: Value = serde_json::from_str(
        &env.git_in(&store, &["show", "corr_b03:artifacts/wf/t3/metadata.json"]),
    )
    .unwrap();
    assert_eq!(
        meta["test_metrics"],
        json!({"net_pnl": 120.5, "trades": 12})
    );
    assert_eq!(
        (meta["agent_version"].as_str(), meta["llm_version"].as_str()),
        (Some("coder-v1"), Some("gpt-4"))
    );
    assert_eq!(meta["prompt_hash"], "7a8b9c0d");
    assert_eq!(
        meta["artifacts"]["test_report"],
        "artifacts/wf/t3/report.json"
    );
    assert_eq!(meta["event"]["id"], "ev-corr_b03");

    let log = sub.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let started = &lines[0];
    assert_eq!(
        (
            started["msg"].as_str(),
            started["workers"].as_u64(),
            started["batch"].as_u64()
        ),
        (Some("started"), Some(2), Some(16)),
        "{started}"
    );
    let events: Vec<&Value> = lines.iter().filter(|l| l["msg"] == "event").collect();
    assert_eq!(events.len(), n);
    for e in &events {
        assert_eq!(e["outcome"], "committed");
        assert!(
            e["correlation_id"].is_string() && e["commit_sha"].as_str().unwrap().len() == 40,
            "{e}"
        );
        assert!(e["ms"].is_u64(), "{e}");
    }
    let last = lines.last().unwrap();
    assert_eq!(
        (last["msg"].as_str(), last["final"].as_bool()),
        (Some("totals"), Some(true)),
        "{log}"
    );
    assert_eq!(
        (last["received"].as_u64(), last["committed"].as_u64()),
        (Some(24), Some(24))
    );
    env.fsck(&store);
}

#[test]
fn a_redelivered_correlation_id_answers_committed_with_duplicate_true() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("dup");
    let mut con = redis.con();
    let event = test_passed("corr_d1", "t", artifacts(&env, "d1", "same")).to_string();
    publish(&mut con, &names.input, &event);
    publish(&mut con, &names.input, &event);
    let mut sub = subscriber(&env, &store, &redis.url, &names, &["--max-events", "2"]);
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    let got = answers(&mut con, &names.output);
    assert_eq!(got.len(), 2);
    assert_eq!(
        (
            got[0]["data"]["duplicate"].as_bool(),
            got[1]["data"]["duplicate"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert_eq!(got[1]["event_type"], "ARTIFACT_COMMITTED");
    assert_eq!(got[0]["data"]["commit_sha"], got[1]["data"]["commit_sha"]);
    assert_eq!(committed(&env, &store), ["corr_d1"]);
    let log = sub.log();
    assert!(log.contains("outcome=duplicate"), "{log}");
    assert!(log.contains("duplicates=1"), "{log}");
}

#[test]
fn cloudevents_are_answered_in_kind_and_test_failed_needs_commit_failed() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("kinds");
    let mut con = redis.con();
    let cloud = json!({"specversion": "1.0", "type": "com.example.test_passed", "id": "ce-1",
        "source": "/tester", "correlationid": "ce1", "time": "2025-11-07T14:30:00Z", "x-unknown": 1,
        "data": {"workflow_id": "wf", "task_id": "ce", "artifacts": artifacts(&env, "ce", "ce"),
                 "metrics": {"sharpe": 1.2}}});
    publish(&mut con, &names.input, &cloud.to_string());
    let mut failed = test_passed("corr_f1", "f", artifacts(&env, "f1", "f1"));
    failed["event_type"] = json!("test_failed");
    publish(&mut con, &names.input, &failed.to_string());
    let mut other = failed.clone();
    other["event_type"] = json!("STRATEGY_GENERATED");
    publish(&mut con, &names.input, &other.to_string());
    let mut sub = subscriber(&env, &store, &redis.url, &names, &["--max-events", "3"]);
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    let got = answers(&mut con, &names.output);
    assert_eq!(got.len(), 1, "ignored events get no answer: {got:?}");
    assert_eq!(
        (got[0]["specversion"].as_str(), got[0]["type"].as_str()),
        (Some("1.0"), Some("ARTIFACT_COMMITTED"))
    );
    assert_eq!(
        (
            got[0]["correlationid"].as_str(),
            got[0]["causationid"].as_str()
        ),
        (Some("ce1"), Some("ce-1"))
    );
    assert_eq!(committed(&env, &store), ["corr_ce1"]);
    assert_eq!(
        pending(&mut con, &names.input, &names.group),
        0,
        "ignored events are acknowledged"
    );
    assert!(sub.log().contains("ignored=2"), "{}", sub.log());

    publish(&mut con, &names.input, &failed.to_string());
    let mut sub = subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        &["--max-events", "1", "--commit-failed"],
    );
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    let meta = env.git_in(&store, &["show", "corr_f1:artifacts/wf/f/metadata.json"]);
    assert!(meta.contains("\"test_status\": \"failed\""), "{meta}");
}

#[test]
fn pubsub_events_are_committed_and_answered_on_channels() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("pubsub");
    let mut con = redis.con();
    let mut listen_con = redis.con();
    let mut listener = listen_con.as_pubsub();
    listener.subscribe(&names.output).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let url = format!("env:{}", redis.url);
    let mut sub = subscriber(
        &env,
        &store,
        &url,
        &names,
        &["--transport", "pubsub", "--max-events", "3"],
    );
    wait_subscribed(&mut con, &names.input, &sub);
    for (corr, task) in [("corr_p1", "p1"), ("corr_p2", "p2")] {
        let event = test_passed(corr, task, artifacts(&env, task, corr));
        let _: u64 = con.publish(&names.input, event.to_string()).unwrap();
    }
    let _: u64 = con.publish(&names.input, "{broken").unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let msg = listener.get_message().unwrap();
        got.push(serde_json::from_slice::<Value>(msg.get_payload_bytes()).unwrap());
    }
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    // Two workers answer two tasks in either order; sorted, the broken one (no id) is first.
    got.sort_by_key(|a| a["correlation_id"].as_str().map(str::to_string));
    let types: Vec<&str> = got
        .iter()
        .map(|a| a["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ARTIFACT_COMMIT_FAILED",
            "ARTIFACT_COMMITTED",
            "ARTIFACT_COMMITTED"
        ]
    );
    assert_eq!(got[0]["data"]["error"]["kind"], "malformed_event");
    assert_eq!(committed(&env, &store), ["corr_p1", "corr_p2"]);
    let lost: u64 = con
        .publish(&names.input, "published while nobody listens")
        .unwrap();
    assert_eq!(lost, 0, "pub/sub keeps nothing for an absent subscriber");
}

#[test]
fn sigterm_and_sigint_finish_the_event_in_hand_acknowledge_it_and_exit_zero() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("signals");
    let mut con = redis.con();
    let all: BTreeSet<String> = (0..80).map(|i| format!("corr_s{i:02}")).collect();
    for (i, corr) in all.iter().enumerate() {
        let event = test_passed(corr, &format!("t{}", i % 3), artifacts(&env, corr, corr));
        publish(&mut con, &names.input, &event.to_string());
    }
    let args = ["--consumer", "sig", "--totals-every", "0"];
    let mut sub = subscriber(&env, &store, &redis.url, &names, &args);
    wait_answers(&mut con, &names.output, 3, &sub);
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    let answered: BTreeSet<String> = answers(&mut con, &names.output)
        .iter()
        .map(|a| a["correlation_id"].as_str().unwrap().to_string())
        .collect();
    let done: BTreeSet<String> = committed(&env, &store).into_iter().collect();
    assert_eq!(
        done, answered,
        "every commit was answered before the exit, none was left half done"
    );
    assert!(done.len() < all.len(), "stopped mid-burst");
    assert_eq!(sub.log().matches("outcome=committed").count(), done.len());
    assert!(
        sub.log().contains("totals") && sub.log().contains("final=true"),
        "{}",
        sub.log()
    );

    let mut sub = subscriber(&env, &store, &redis.url, &names, &args);
    wait_all(&mut con, &names.output, &all, &sub);
    sub.signal("INT");
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    assert_eq!(committed(&env, &store), all.into_iter().collect::<Vec<_>>());
    assert_eq!(pending(&mut con, &names.input, &names.group), 0);
}

#[test]
fn the_blocking_read_has_its_own_connection_that_outlives_its_block_time() {
    let env = Env::new();
    let Some(redis) = Redis::own(&env, false) else {
        return;
    };
    let store = env.store();
    let names = Names::new("idle");
    let mut con = redis.con();
    let mut sub = subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        &["--claim-every-ms", "60000"],
    );
    let connections = |con: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("stats").query(con).unwrap();
        let line = info
            .lines()
            .find(|l| l.starts_with("total_connections_received:"))
            .unwrap();
        line.split(':').nth(1).unwrap().trim().parse().unwrap()
    };
    let deadline = std::time::Instant::now() + WAIT;
    let clients = loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        if list.contains("cmd=xreadgroup") {
            break list;
        }
        assert!(std::time::Instant::now() < deadline, "{}", sub.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    let blocked: Vec<&str> = clients
        .lines()
        .filter(|l| l.contains("cmd=xreadgroup"))
        .collect();
    assert_eq!(blocked.len(), 1, "{clients}");
    assert!(
        clients.lines().count() >= 3,
        "a command connection beside the blocked one: {clients}"
    );
    let before = connections(&mut con);
    // Three blocks of 1 s: a response timeout below the block time would reconnect each time.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(
        connections(&mut con),
        before,
        "no reconnects while idle:\n{}",
        sub.log()
    );
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0));
}

#[test]
fn the_subscriber_consolidates_in_its_idle_time() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("idle");
    let mut con = redis.con();
    let versions = 6;
    for n in 0..versions {
        let dir = format!("v{n}");
        let files = crate::compact::growing_set(&env, &format!("runs/{dir}"), n, 3000);
        let map: serde_json::Map<String, serde_json::Value> = files
            .iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_str().unwrap().to_string();
                (name.replace('.', "_"), json!(format!("{dir}/{name}")))
            })
            .collect();
        let event = test_passed(
            &format!("corr_idle{n}"),
            "t",
            serde_json::Value::Object(map),
        );
        publish(&mut con, &names.input, &event.to_string());
    }
    let knobs = ["-c", "auto_compact=true", "-c", "compact_threshold=64KiB"];
    let mut sub = subscriber(&env, &store, &redis.url, &names, &knobs);
    wait_answers(&mut con, &names.output, versions, &sub);
    let before = crate::compact::object_bytes(&store);
    let took = crate::compact::wait_for_background(&env, &store, &knobs, Duration::from_secs(60));
    let after = crate::compact::object_bytes(&store);
    assert!(
        store.join("artifact-store-compacted").exists(),
        "no consolidation ran in the subscriber's idle time ({took:?}); log:\n{}",
        sub.log()
    );
    assert!(
        after * 3 < before,
        "{before} bytes before its idle time, {after} after"
    );
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    env.fsck(&store);
    assert_eq!(committed(&env, &store).len(), versions);
}
