//! Least privilege on Redis (docs/security.md): the subscriber works as an ACL user that
//! may run only the commands it needs on its own streams and channels, and nothing else.

use crate::common;
use crate::events::support;

use std::time::Duration;

use common::Env;
use redis::Commands;
use serde_json::{json, Value};
use support::*;

const WAIT: Duration = Duration::from_secs(60);

/// The ACL rules of docs/security.md for one set of names, with its password.
fn acl_rules(names: &Names, password: &str) -> Vec<String> {
    let mut rules: Vec<String> = [
        "reset",
        "on",
        "-@all",
        "+xgroup|create",
        "+xreadgroup",
        "+xautoclaim",
        "+xpending",
        "+xrange",
        "+xclaim",
        "+xack",
        "+xadd",
        "+multi",
        "+exec",
        "+subscribe",
        "+unsubscribe",
        "+punsubscribe",
        "+publish",
    ]
    .iter()
    .map(|r| r.to_string())
    .collect();
    rules.push(format!(">{password}"));
    for key in [&names.input, &names.output, &names.dlq] {
        rules.push(format!("~{key}"));
    }
    for channel in [&names.input, &names.output] {
        rules.push(format!("&{channel}"));
    }
    rules
}

fn set_user(con: &mut redis::Connection, user: &str, rules: &[String]) {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg(user);
    for rule in rules {
        cmd.arg(rule);
    }
    let _: () = cmd.query(con).expect("ACL SETUSER");
}

/// Commands Redis refused this user, from `ACL LOG`.
fn denied(con: &mut redis::Connection, user: &str) -> Vec<String> {
    let log: Vec<redis::Value> = redis::cmd("ACL").arg("LOG").query(con).unwrap();
    let mut out = Vec::new();
    for entry in log {
        let text = format!("{entry:?}");
        if text.contains(user) {
            out.push(text);
        }
    }
    out
}

/// `redis://USER:PASSWORD@host:port` from the test's `redis://host:port`.
fn with_user(url: &str, user: &str, password: &str) -> String {
    url.replacen("redis://", &format!("redis://{user}:{password}@"), 1)
}

#[test]
fn the_subscriber_runs_as_a_redis_acl_user_limited_to_its_streams_and_commands() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("acl");
    let mut admin = redis.con();
    let user = format!("store-{}", names.group.replace(':', "-"));
    let password = "acl-pw-4f1d9c2e7b";
    set_user(&mut admin, &user, &acl_rules(&names, password));
    let url = with_user(&redis.url, &user, password);

    // What the user may not do: read or write anything else.
    let mut limited = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("the ACL user connects");
    let other: redis::RedisResult<Option<String>> = limited.get("some:other:key");
    assert!(other.is_err(), "GET on another key is refused");
    let other: redis::RedisResult<String> = limited.xadd("other:stream", "*", &[("event", "x")]);
    assert!(other.is_err(), "XADD on another stream is refused");
    let flush: redis::RedisResult<()> = redis::cmd("FLUSHALL").query(&mut limited);
    assert!(flush.is_err(), "FLUSHALL is refused");
    let _: () = redis::cmd("ACL")
        .arg("LOG")
        .arg("RESET")
        .query(&mut admin)
        .unwrap();

    // What it must do: create the group, read, claim a dead consumer's entry, answer,
    // dead-letter, acknowledge.
    create_group(&mut admin, &names);
    let poison = test_passed("corr_acl3", "poison", artifacts(&env, "a3", "a3")).to_string();
    publish(&mut admin, &names.input, &poison);
    for from in [">", "0", "0"] {
        read_one_as(&mut admin, &names, "ghost", from);
    }
    // An entry this subscriber's consumer had read before a restart: listed with XPENDING,
    // read with XRANGE, counted with XCLAIM when taken up.
    let earlier = test_passed("corr_acl5", "t5", artifacts(&env, "a5", "a5"));
    publish(&mut admin, &names.input, &earlier.to_string());
    read_one_as(&mut admin, &names, "acl-sub", ">");
    let good = test_passed("corr_acl1", "t1", artifacts(&env, "a1", "a1"));
    publish(&mut admin, &names.input, &good.to_string());
    let missing = test_passed("corr_acl2", "t2", json!({"report": "nowhere/report.json"}));
    publish(&mut admin, &names.input, &missing.to_string());
    let args = [
        "--consumer",
        "acl-sub",
        "--max-deliveries",
        "2",
        "--claim-idle-ms",
        "200",
        "--claim-every-ms",
        "100",
        "--log-format",
        "json",
    ];
    let mut sub = subscriber(&env, &store, &format!("env:{url}"), &names, &args);
    let got = wait_answers(&mut admin, &names.output, 4, &sub);
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    let kind_of = |corr: &str| -> Value {
        let answer = got
            .iter()
            .find(|a| a["correlation_id"] == corr)
            .unwrap_or_else(|| panic!("{corr}: {got:?}"));
        json!([answer["event_type"], answer["data"]["error"]["kind"]])
    };
    assert_eq!(kind_of("corr_acl1"), json!(["ARTIFACT_COMMITTED", null]));
    assert_eq!(kind_of("corr_acl5"), json!(["ARTIFACT_COMMITTED", null]));
    assert_eq!(
        kind_of("corr_acl2"),
        json!(["ARTIFACT_COMMIT_FAILED", "missing_file"])
    );
    assert_eq!(
        kind_of("corr_acl3"),
        json!(["ARTIFACT_COMMIT_FAILED", "max_deliveries"])
    );
    let dead: redis::streams::StreamRangeReply = admin.xrange_all(&names.dlq).unwrap();
    assert_eq!(dead.ids.len(), 1, "the poison entry was dead-lettered");
    assert_eq!(pending(&mut admin, &names.input, &names.group), 0);
    assert_eq!(committed(&env, &store), ["corr_acl1", "corr_acl5"]);
    assert_eq!(
        denied(&mut admin, &user),
        Vec::<String>::new(),
        "Redis refused the subscriber a command; the ACL of docs/security.md is short"
    );
    assert!(!sub.log().contains(password), "{}", sub.log());
    env.fsck(&store);

    // Pub/sub under the same user.
    let mut listen_con = redis.con();
    let mut listener = listen_con.as_pubsub();
    listener.subscribe(&names.output).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut sub = subscriber(
        &env,
        &store,
        &format!("env:{url}"),
        &names,
        &["--transport", "pubsub", "--max-events", "1"],
    );
    wait_subscribed(&mut admin, &names.input, &sub);
    let event = test_passed("corr_acl4", "t4", artifacts(&env, "a4", "a4"));
    let _: u64 = admin.publish(&names.input, event.to_string()).unwrap();
    let answer: Value =
        serde_json::from_slice(listener.get_message().unwrap().get_payload_bytes()).unwrap();
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    assert_eq!(answer["event_type"], "ARTIFACT_COMMITTED", "{answer}");
    assert_eq!(denied(&mut admin, &user), Vec::<String>::new());
    let _: () = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query(&mut admin)
        .unwrap();
}

#[test]
fn a_redis_user_short_of_a_command_stops_the_subscriber_naming_the_acl() {
    // Retrying a refused command would only ask Redis again and again: the reader's
    // (XPENDING at start) and a worker's (XACK, in the answer's transaction) alike.
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    for missing in ["xpending", "xack"] {
        let store = env.store_at(&format!("{missing}.git"));
        let names = Names::new(&format!("noperm-{missing}"));
        let mut admin = redis.con();
        let user = format!("short-{}", names.group.replace(':', "-"));
        let password = "acl-pw-9b7e3a1c5d";
        let rules: Vec<String> = acl_rules(&names, password)
            .into_iter()
            .filter(|r| *r != format!("+{missing}"))
            .collect();
        set_user(&mut admin, &user, &rules);
        let event = test_passed("corr_np", "t1", artifacts(&env, "np", "np"));
        publish(&mut admin, &names.input, &event.to_string());
        let url = with_user(&redis.url, &user, password);
        let mut sub = subscriber(&env, &store, &format!("env:{url}"), &names, &[]);
        let code = sub.wait(WAIT);
        assert!(code.is_some_and(|c| c != 0), "{code:?}: {}", sub.log());
        let log = sub.log();
        assert!(
            log.contains(&format!("no permissions to run the '{missing}' command"))
                && log.contains("docs/security.md"),
            "{log}"
        );
        assert!(!log.contains(password), "{log}");
        if missing == "xack" {
            // The commit landed; its entry stays pending for a subscriber Redis lets answer.
            assert_eq!(committed(&env, &store), ["corr_np"]);
            assert_eq!(pending(&mut admin, &names.input, &names.group), 1);
        }
    }
}
