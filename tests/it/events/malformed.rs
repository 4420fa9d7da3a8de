//! Events that cannot be committed: each answered `ARTIFACT_COMMIT_FAILED` with its kind,
//! acknowledged, and the subscriber goes on.

use std::process::Command;

use redis::Commands;
use serde_json::json;

use super::support::*;
use super::WAIT;
use crate::common::Env;

#[test]
fn every_malformed_event_fails_with_its_kind_is_acknowledged_and_the_subscriber_goes_on() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("malformed");
    let mut con = redis.con();
    let good = artifacts(&env, "good", "good");
    // Outside the root: a plain file and a fifo. Reading the fifo would hang the
    // subscriber, so these cases also prove that an escaping path is never opened.
    let outside = env.write("outside/secret.txt", "not for the store\n");
    let fifo = env.path("outside/pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::create_dir_all(env.path("runs/evil")).unwrap();
    std::os::unix::fs::symlink(&fifo, env.path("runs/evil/link")).unwrap();
    std::os::unix::fs::symlink(env.path("outside"), env.path("runs/evil/dir")).unwrap();
    let with = |corr: &str, task: &str, artifacts: serde_json::Value| {
        test_passed(corr, task, artifacts).to_string()
    };
    let mut no_corr = test_passed("x", "t", good.clone());
    no_corr.as_object_mut().unwrap().remove("correlation_id");
    let mut no_workflow = test_passed("corr_m2", "t", good.clone());
    no_workflow.as_object_mut().unwrap().remove("workflow_id");
    let mut no_task = test_passed("corr_m3", "t", good.clone());
    no_task["task_id"] = json!("");
    let cases: Vec<(String, &str)> = vec![
        ("not json at all".into(), "malformed_event"),
        ("[1, 2, 3]".into(), "malformed_event"),
        (no_corr.to_string(), "missing_field"),
        (no_workflow.to_string(), "missing_field"),
        (no_task.to_string(), "missing_field"),
        (with("corr_m4", "bad..task", good.clone()), "invalid_id"),
        (with("corr_m5", "t", json!({})), "missing_field"),
        (
            with("corr_m6", "t", json!(["good/strategy.py"])),
            "malformed_event",
        ),
        (
            with("corr_m7", "t", json!({"strategy": "good/nope.py"})),
            "missing_file",
        ),
        (
            with("corr_m8", "t", json!({"s": "../outside/secret.txt"})),
            "path_outside_root",
        ),
        (
            with("corr_m9", "t", json!({"s": outside.to_str().unwrap()})),
            "path_outside_root",
        ),
        (
            with("corr_m10", "t", json!({"s": fifo.to_str().unwrap()})),
            "path_outside_root",
        ),
        (
            with("corr_m11", "t", json!({"s": "evil/link"})),
            "path_outside_root",
        ),
        (
            with("corr_m12", "t", json!({"s": "evil/dir/secret.txt"})),
            "path_outside_root",
        ),
        (
            with("corr_m13", "t", json!({"s": "good/../../outside/pipe"})),
            "path_outside_root",
        ),
    ];
    for (payload, _) in &cases {
        publish(&mut con, &names.input, payload);
    }
    let _: String = con
        .xadd(&names.input, "*", &[("payload", "no event field")])
        .unwrap();
    publish(&mut con, &names.input, &with("corr_ok", "t", good));
    let total = cases.len() + 2;
    let mut sub = subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        // One worker: answers in the order published (tasks differ here, and two workers
        // would answer two tasks in either order).
        &["--max-events", &total.to_string(), "--workers", "1"],
    );
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());

    let got = answers(&mut con, &names.output);
    assert_eq!(got.len(), total, "{got:#?}");
    for (i, (payload, kind)) in cases.iter().enumerate() {
        let answer = &got[i];
        assert_eq!(
            answer["event_type"], "ARTIFACT_COMMIT_FAILED",
            "case {payload}"
        );
        assert_eq!(
            answer["data"]["error"]["kind"], *kind,
            "case {payload}: {answer}"
        );
        assert!(answer["data"]["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(got[2]["correlation_id"], serde_json::Value::Null);
    assert_eq!(
        got[5]["correlation_id"], "corr_m4",
        "answers carry the id when the event gave one"
    );
    assert_eq!(
        got[cases.len()]["data"]["error"]["kind"],
        "malformed_event",
        "entry without `event`"
    );
    assert_eq!(
        got[total - 1]["event_type"],
        "ARTIFACT_COMMITTED",
        "the subscriber kept going"
    );
    assert_eq!(committed(&env, &store), ["corr_ok"]);
    assert_eq!(
        pending(&mut con, &names.input, &names.group),
        0,
        "failures are acknowledged"
    );
    let dead: usize = con.xlen(&names.dlq).unwrap();
    assert_eq!(dead, 0, "bad input is answered, not dead-lettered");
    let log = sub.log();
    assert_eq!(
        log.matches("outcome=failed").count(),
        cases.len() + 1,
        "{log}"
    );
    assert!(log.contains("error_kind=path_outside_root"), "{log}");
    assert!(!log.contains("not for the store"));
}

#[test]
fn a_secret_in_an_artifact_fails_the_event_without_echoing_the_secret() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("secret");
    let mut con = redis.con();
    let secret = "ghp_Xw3k9QmZ2vB7nR4tY8uL1pD6sF0aJ5cH2eGq";
    env.write("runs/leak/config.py", format!("TOKEN = \"{secret}\"\n"));
    let event = test_passed("corr_leak", "t", json!({"config": "leak/config.py"}));
    publish(&mut con, &names.input, &event.to_string());
    let mut sub = subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        &["--max-events", "1", "--log-format", "json"],
    );
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    let got = answers(&mut con, &names.output);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["event_type"], "ARTIFACT_COMMIT_FAILED", "{}", got[0]);
    assert_eq!(got[0]["data"]["error"]["kind"], "secret_detected");
    assert!(
        got[0]["data"]["error"]["findings"][0]["rule_id"].is_string(),
        "{}",
        got[0]
    );
    let everything = format!("{}{}", serde_json::to_string(&got).unwrap(), sub.log());
    assert!(
        !everything.contains(&secret[4..]),
        "the secret leaked: {everything}"
    );
    assert!(committed(&env, &store).is_empty());
    assert_eq!(pending(&mut con, &names.input, &names.group), 0);
}
