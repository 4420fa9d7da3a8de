//! The subscriber's memory is bounded by its own limits, not by what Redis holds: 32 events
//! of 30 MB each (every one refused as over `MAX_EVENT_BYTES`) leave its peak RSS (VmHWM)
//! under 300 MB with `--workers 2` and the default batch, read from a stream as new entries,
//! as this consumer's pending entries after a restart (XPENDING + XRANGE), as entries claimed
//! from a dead consumer (XAUTOCLAIM), and from a pub/sub channel (one worker there, so its
//! queue fills as fast as messages are read). Each is answered once,
//! without a copy of its payload in the answer, the log or the dead-letter stream, and a
//! normal event queued behind them commits exactly once.

// The peak RSS of each run is printed for the record (`--nocapture`).
#![allow(clippy::print_stderr)]

use crate::common;
use crate::events::support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::Env;
use redis::Commands;
use serde_json::{json, Value};
use support::*;

/// One oversized payload's padding.
const BIG: usize = 30 * 1024 * 1024;
/// Oversized events per test: sixteen of 30 MB are about 500 MB for a reader that holds a
/// batch's payloads (the bound is 300 MB), at half the suite time of the 32 first measured
/// (docs/events.md has both figures).
const N: usize = 16;
/// The bound on the subscriber's peak resident set, in kB.
const PEAK_KB: u64 = 300 * 1024;
/// No answer nor dead-letter field comes near a payload's size.
const SMALL: usize = 4096;

/// One test at a time: each pushes about 1 GB through its own Redis, and the peak RSS
/// measured should be the subscriber's own, not the machine's pressure.
static SERIAL: Mutex<()> = Mutex::new(());

/// An oversized event, in one of the shapes a producer may send: the padding in
/// `data.metrics`, in a top-level field before the ids, or in a CloudEvents envelope's data.
/// Built by concatenation: `blob` is plain ASCII, and serializing 30 MB 32 times would
/// dominate the test's time.
fn oversized(i: usize, blob: &str) -> Vec<u8> {
    let corr = format!("corr_big{i:02}");
    let task = format!("t{}", i % 3);
    let (head, tail) = match i % 3 {
        0 => (
            format!(
                r#"{{"event_id":"ev-{corr}","event_type":"TEST_PASSED","correlation_id":"{corr}","workflow_id":"wf","task_id":"{task}","data":{{"artifacts":{{"s":"ok/strategy.py"}},"metrics":{{"blob":""#
            ),
            r#""}}}"#.to_string(),
        ),
        1 => (
            r#"{"padding":""#.to_string(),
            format!(
                r#"","event_type":"TEST_PASSED","correlation_id":"{corr}","workflow_id":"wf","task_id":"{task}","data":{{"artifacts":{{"s":"ok/strategy.py"}}}}}}"#
            ),
        ),
        _ => (
            format!(
                r#"{{"specversion":"1.0","type":"com.example.test_passed","id":"ce-{corr}","source":"/tester","correlationid":"{corr}","data":{{"workflow_id":"wf","task_id":"{task}","blob":""#
            ),
            r#"","artifacts":{"s":"ok/strategy.py"}}}"#.to_string(),
        ),
    };
    let mut out = Vec::with_capacity(head.len() + blob.len() + tail.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(blob.as_bytes());
    out.extend_from_slice(tail.as_bytes());
    out
}

/// Appends an entry with the given fields; returns its id.
fn xadd(con: &mut redis::Connection, stream: &str, fields: &[(&str, &[u8])]) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("*");
    for (key, value) in fields {
        cmd.arg(*key).arg(*value);
    }
    cmd.query(con).unwrap()
}

/// Peak resident set of a running process, in kB (`VmHWM`).
fn peak_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status"))
}

/// Waits until `stream` holds `n` answers, longer than the shared helper does: a gigabyte
/// goes through Redis and a debug build first.
fn wait_for(con: &mut redis::Connection, stream: &str, n: usize, sub: &Sub) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let got = answers(con, stream);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} answers after 240 s; subscriber log:\n{}",
            got.len(),
            sub.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Answers by correlation id (`None`: an answer without one).
fn by_corr(answers: &[Value]) -> BTreeMap<Option<String>, Vec<Value>> {
    let mut map: BTreeMap<Option<String>, Vec<Value>> = BTreeMap::new();
    for a in answers {
        let corr = a["correlation_id"]
            .as_str()
            .or(a["correlationid"].as_str())
            .map(str::to_string);
        map.entry(corr).or_default().push(a.clone());
    }
    map
}

/// Checks the oversized events' answers: one each, final, naming the limit, small.
fn assert_refused(answers: &BTreeMap<Option<String>, Vec<Value>>, corrs: &[String], kind: &str) {
    for corr in corrs {
        let got = answers
            .get(&Some(corr.clone()))
            .unwrap_or_else(|| panic!("no answer for {corr}: {answers:#?}"));
        assert_eq!(got.len(), 1, "one answer for {corr}: {got:#?}");
        let a = &got[0];
        let text = a.to_string();
        assert!(text.len() < SMALL, "the answer copies the payload");
        let event_type = a["event_type"].as_str().or(a["type"].as_str()).unwrap();
        assert_eq!(event_type, "ARTIFACT_COMMIT_FAILED", "{text}");
        assert_eq!(a["data"]["error"]["kind"], kind, "{text}");
        let message = a["data"]["error"]["message"].as_str().unwrap();
        if kind == "malformed_event" {
            assert!(
                message.contains("over the limit of 1048576 bytes"),
                "{text}"
            );
        }
    }
}

/// Sets up a store, its artifacts and a Redis with room for a gigabyte of events.
fn setup(env: &Env) -> Option<(Redis, std::path::PathBuf)> {
    let redis = Redis::own(env, false)?;
    let store = env.store();
    env.write("runs/ok/strategy.py", "print('ok')\n");
    let mut con = redis.con();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("0")
        .query(&mut con)
        .unwrap();
    Some((redis, store))
}

/// Stops the subscriber with SIGTERM after reading its peak RSS; returns the peak.
fn stop(sub: &mut Sub) -> u64 {
    let peak = peak_kb(sub.child.id());
    sub.signal("TERM");
    assert_eq!(sub.wait(Duration::from_secs(60)), Some(0), "{}", sub.log());
    peak
}

fn assert_quiet(sub: &Sub) {
    let log = sub.log();
    assert!(
        !log.contains("xxxxxxxxxxxxxxxx"),
        "the log quotes a payload"
    );
    assert!(log.len() < 1024 * 1024, "the log is {} bytes", log.len());
}

#[test]
fn oversized_stream_entries_are_refused_within_bounded_memory_and_a_normal_event_behind_commits_once(
) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let env = Env::new();
    let Some((redis, store)) = setup(&env) else {
        return;
    };
    let names = Names::new("memory-new");
    let mut con = redis.con();
    let blob = "x".repeat(BIG);
    let mut refused = Vec::new();
    for i in 0..N {
        xadd(&mut con, &names.input, &[("event", &oversized(i, &blob))]);
        refused.push(format!("corr_big{i:02}"));
    }
    // A small event beside a 30 MB field that is not `event`, and one among many fields:
    // other fields are ignored, so both commit.
    let beside = test_passed("corr_beside", "t0", json!({"s": "ok/strategy.py"})).to_string();
    xadd(
        &mut con,
        &names.input,
        &[("junk", blob.as_bytes()), ("event", beside.as_bytes())],
    );
    let many = test_passed("corr_many", "t1", json!({"s": "ok/strategy.py"})).to_string();
    let keys: Vec<String> = (0..20_000).map(|k| format!("f{k}")).collect();
    let mut fields: Vec<(&str, &[u8])> = keys.iter().map(|k| (k.as_str(), &b"v"[..])).collect();
    fields.push(("event", many.as_bytes()));
    xadd(&mut con, &names.input, &fields);
    // A normal event of a task the oversized ones also name, queued behind them.
    let ok = test_passed("corr_ok", "t2", json!({"s": "ok/strategy.py"})).to_string();
    publish(&mut con, &names.input, &ok);
    drop(blob);

    let mut sub = subscriber(&env, &store, &redis.url, &names, &["--workers", "2"]);
    let got = wait_for(&mut con, &names.output, N + 3, &sub);
    let peak = stop(&mut sub);
    eprintln!("streams, new entries: peak RSS {peak} kB");

    let answers = by_corr(&got);
    assert_eq!(got.len(), N + 3, "one answer each: {answers:#?}");
    assert_refused(&answers, &refused, "malformed_event");
    for corr in ["corr_ok", "corr_beside", "corr_many"] {
        let a = &answers[&Some(corr.to_string())];
        assert_eq!(a.len(), 1, "{a:#?}");
        assert_eq!(a[0]["event_type"], "ARTIFACT_COMMITTED", "{a:#?}");
    }
    assert_eq!(
        committed(&env, &store),
        ["corr_beside", "corr_many", "corr_ok"]
    );
    env.fsck(&store);
    assert_eq!(pending(&mut con, &names.input, &names.group), 0);
    let dead: usize = con.xlen(&names.dlq).unwrap();
    assert_eq!(dead, 0, "refused at once, not dead-lettered");
    assert_quiet(&sub);
    assert!(
        peak < PEAK_KB,
        "peak RSS {peak} kB, over {PEAK_KB} kB; log:\n{}",
        sub.log()
    );
}

#[test]
fn oversized_entries_re_read_after_a_restart_or_claimed_stay_bounded_and_dead_letter_without_their_payload(
) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let env = Env::new();
    let Some((redis, store)) = setup(&env) else {
        return;
    };
    let names = Names::new("memory-pending");
    let mut con = redis.con();
    create_group(&mut con, &names);
    let blob = "x".repeat(BIG);
    let mut ids = Vec::new();
    for i in 0..N {
        ids.push(xadd(
            &mut con,
            &names.input,
            &[("event", &oversized(i, &blob))],
        ));
    }
    let ok = test_passed("corr_ok", "t2", json!({"s": "ok/strategy.py"})).to_string();
    publish(&mut con, &names.input, &ok);
    drop(blob);
    // A subscriber `c1` read every entry and died: all of them are pending for it.
    for _ in 0..=N {
        read_one_as(&mut con, &names, "c1", ">");
    }
    let claim = |con: &mut redis::Connection, id: &str, consumer: &str, extra: &[&str]| {
        let _: redis::Value = redis::cmd("XCLAIM")
            .arg(&names.input)
            .arg(&names.group)
            .arg(consumer)
            .arg(0)
            .arg(id)
            .arg(extra)
            .arg("JUSTID")
            .query(con)
            .unwrap();
    };
    // The first 3/8 were delivered 9 times already (a subscriber that died of them): they go
    // to the dead-letter stream. The next 5/16 belong to a consumer gone for ten minutes:
    // XAUTOCLAIM takes them. The rest and the normal one are `c1`'s own.
    let (dead, rest) = ids.split_at(N * 3 / 8);
    let (claimed, own) = rest.split_at(N * 5 / 16);
    for id in dead {
        claim(&mut con, id, "c1", &["RETRYCOUNT", "9"]);
    }
    for id in claimed {
        claim(&mut con, id, "gone", &["IDLE", "600000"]);
    }
    let corr = |id: &String| {
        let i = ids.iter().position(|x| x == id).unwrap();
        format!("corr_big{i:02}")
    };

    let mut sub = subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        &["--workers", "2", "--consumer", "c1"],
    );
    let got = wait_for(&mut con, &names.output, N + 1, &sub);
    let peak = stop(&mut sub);
    eprintln!("streams, pending and claimed entries: peak RSS {peak} kB");

    let answers = by_corr(&got);
    assert_eq!(got.len(), N + 1, "one answer each: {answers:#?}");
    let refused: Vec<String> = claimed.iter().chain(own).map(corr).collect();
    assert_refused(&answers, &refused, "malformed_event");
    let dead_corrs: Vec<String> = dead.iter().map(corr).collect();
    assert_refused(&answers, &dead_corrs, "max_deliveries");
    for c in &dead_corrs {
        assert_eq!(
            answers[&Some(c.clone())][0]["data"]["dead_letter"],
            names.dlq
        );
    }
    let ok_answer = &answers[&Some("corr_ok".to_string())];
    assert_eq!(ok_answer.len(), 1, "{ok_answer:#?}");
    assert_eq!(ok_answer[0]["event_type"], "ARTIFACT_COMMITTED");
    assert_eq!(committed(&env, &store), ["corr_ok"]);
    env.fsck(&store);
    assert_eq!(pending(&mut con, &names.input, &names.group), 0);

    // The dead-letter entries name the entry, its size and correlation id, and hold no
    // copy of the payload.
    let letters: redis::streams::StreamRangeReply = con.xrange_all(&names.dlq).unwrap();
    assert_eq!(letters.ids.len(), dead.len());
    for (letter, id) in letters.ids.iter().zip(dead) {
        for (field, value) in &letter.map {
            let value: Vec<u8> = redis::from_redis_value(value.clone()).unwrap();
            assert!(
                value.len() < SMALL,
                "dead-letter field {field} copies the payload"
            );
        }
        let source_id: String = letter.get("source_id").unwrap();
        assert_eq!(&source_id, id);
        let size: usize = letter.get("size").expect("a size field");
        assert!(size > BIG, "{size}");
        let c: String = letter.get("correlation_id").expect("a correlation id");
        assert_eq!(c, corr(id));
        let kind: String = letter.get("kind").unwrap();
        assert_eq!(kind, "max_deliveries");
    }
    assert_quiet(&sub);
    assert!(
        peak < PEAK_KB,
        "peak RSS {peak} kB, over {PEAK_KB} kB; log:\n{}",
        sub.log()
    );
}

#[test]
fn oversized_pubsub_messages_are_refused_without_being_held() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let env = Env::new();
    let Some((redis, store)) = setup(&env) else {
        return;
    };
    let names = Names::new("memory-pubsub");
    let mut con = redis.con();
    // Redis itself would cut a subscriber more than 32 MB behind; this test wants every
    // message delivered, so the subscriber, not Redis, has to bound its memory.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 0 0 0")
        .query(&mut con)
        .unwrap();
    let mut listen_con = redis.con();
    let mut listener = listen_con.as_pubsub();
    listener.subscribe(&names.output).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    // One worker: the reader then queues messages as fast as it reads them (with several,
    // routing reads each envelope first), so what a queue holds is what is measured.
    let mut sub = subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        &["--transport", "pubsub", "--workers", "1"],
    );
    wait_subscribed(&mut con, &names.input, &sub);
    let blob = "x".repeat(BIG);
    let mut refused = Vec::new();
    for i in 0..N {
        let _: u64 = con.publish(&names.input, oversized(i, &blob)).unwrap();
        refused.push(format!("corr_big{i:02}"));
    }
    drop(blob);
    let ok = test_passed("corr_ok", "t2", json!({"s": "ok/strategy.py"})).to_string();
    let _: u64 = con.publish(&names.input, ok).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while got.len() < N + 1 {
        assert!(
            Instant::now() < deadline,
            "{} answers; {}",
            got.len(),
            sub.log()
        );
        let msg = listener.get_message().unwrap();
        got.push(serde_json::from_slice::<Value>(msg.get_payload_bytes()).unwrap());
    }
    let peak = stop(&mut sub);
    eprintln!("pub/sub: peak RSS {peak} kB");

    let answers = by_corr(&got);
    assert_refused(&answers, &refused, "malformed_event");
    let ok_answer = &answers[&Some("corr_ok".to_string())];
    assert_eq!(ok_answer.len(), 1, "{ok_answer:#?}");
    assert_eq!(ok_answer[0]["event_type"], "ARTIFACT_COMMITTED");
    assert_eq!(committed(&env, &store), ["corr_ok"]);
    env.fsck(&store);
    let dead: usize = con.xlen(&names.dlq).unwrap();
    assert_eq!(dead, 0);
    assert_quiet(&sub);
    assert!(
        peak < PEAK_KB,
        "peak RSS {peak} kB, over {PEAK_KB} kB; log:\n{}",
        sub.log()
    );
}

#[test]
fn events_just_under_the_limit_made_of_many_small_values_commit_within_bounded_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let env = Env::new();
    let Some((redis, store)) = setup(&env) else {
        return;
    };
    let names = Names::new("memory-dense");
    let mut con = redis.con();
    // 520,000 zeros: 1,040,001 bytes of metrics, under the 1 MiB limit, but a parsed value
    // each; sixteen in a batch on each of two workers were a gigabyte.
    let zeros = format!("[{}0]", "0,".repeat(519_999));
    let mut corrs = Vec::new();
    for i in 0..N {
        let corr = format!("corr_dense{i:02}");
        let event = format!(
            r#"{{"event_type":"TEST_PASSED","correlation_id":"{corr}","workflow_id":"wf","task_id":"t{}","data":{{"artifacts":{{"s":"ok/strategy.py"}},"metrics":{{"curve":{zeros}}}}}}}"#,
            i % 4
        );
        assert!(event.len() < 1024 * 1024, "{}", event.len());
        publish(&mut con, &names.input, &event);
        corrs.push(corr);
    }
    let mut sub = subscriber(&env, &store, &redis.url, &names, &["--workers", "2"]);
    let got = wait_for(&mut con, &names.output, N, &sub);
    let peak = stop(&mut sub);
    eprintln!("streams, dense events under the limit: peak RSS {peak} kB");

    let answers = by_corr(&got);
    for corr in &corrs {
        let a = &answers[&Some(corr.clone())];
        assert_eq!(a.len(), 1, "{a:#?}");
        assert_eq!(a[0]["event_type"], "ARTIFACT_COMMITTED", "{a:#?}");
    }
    assert_eq!(committed(&env, &store), corrs);
    env.fsck(&store);
    assert_eq!(pending(&mut con, &names.input, &names.group), 0);
    assert!(
        peak < PEAK_KB,
        "peak RSS {peak} kB, over {PEAK_KB} kB; log:\n{}",
        sub.log()
    );
}
