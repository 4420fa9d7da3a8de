//! Crashes, outages, locks and the dead-letter stream: no event lost, none committed twice.

use std::collections::BTreeSet;
use std::time::Duration;

use redis::Commands;

use super::support::*;
use super::WAIT;
use crate::common::{Env, Rng};

fn burst(
    env: &Env,
    con: &mut redis::Connection,
    names: &Names,
    tag: &str,
    range: std::ops::Range<usize>,
) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for i in range {
        let corr = format!("corr_{tag}{i:03}");
        let event = test_passed(&corr, &format!("t{}", i % 5), artifacts(env, &corr, &corr));
        publish(con, &names.input, &event.to_string());
        all.insert(corr);
    }
    all
}

#[test]
fn a_subscriber_killed_mid_burst_and_restarted_under_its_name_commits_each_event_once() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("kill9");
    let mut con = redis.con();
    let all = burst(&env, &mut con, &names, "k", 0..150);
    let args = ["--consumer", "worker-1", "--workers", "2"];
    let mut sub = subscriber(&env, &store, &redis.url, &names, &args);
    wait_answers(&mut con, &names.output, 3, &sub);
    sub.signal("KILL");
    assert_eq!(sub.wait(WAIT), None, "killed by the signal");
    assert!(
        pending(&mut con, &names.input, &names.group) > 0,
        "entries were in hand when it died"
    );
    // Claims of other consumers' entries are a minute away: only reading its own
    // pending entries first brings these back now.
    restart_until_all_answered(&env, &store, &redis, &names, &args, &all);
}

/// Starts the subscriber again, waits for an answer to every event in `all`, stops it, and
/// checks that each was committed once, nothing is left pending and the store is sound.
fn restart_until_all_answered(
    env: &Env,
    store: &std::path::Path,
    redis: &Redis,
    names: &Names,
    args: &[&str],
    all: &BTreeSet<String>,
) {
    let mut con = redis.con();
    let mut sub = subscriber(env, store, &redis.url, names, args);
    wait_all(&mut con, &names.output, all, &sub);
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    assert_eq!(
        committed(env, store),
        all.iter().cloned().collect::<Vec<_>>(),
        "no loss, no second commit"
    );
    assert_eq!(pending(&mut con, &names.input, &names.group), 0);
    env.fsck(store);
}

#[test]
fn a_subscriber_killed_again_and_again_mid_batch_commits_each_event_once() {
    // Kills land anywhere in a batch: reading, scanning, writing the group's pack, between
    // two branches of a group, between a branch and its tags, before the answers.
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("killmany");
    let mut con = redis.con();
    let all = burst(&env, &mut con, &names, "m", 0..200);
    let mut rng = Rng::new("subscriber kills");
    let args = ["--consumer", "again", "--workers", "2"];
    // Four kills: an entry in hand at every kill is tried five times, the default
    // --max-deliveries, and is not dead-lettered. Each kill comes 1 to 30 answers after
    // the start, at whatever point the batches in hand have reached.
    let mut answered = 0;
    for _ in 0..4 {
        let mut sub = subscriber(&env, &store, &redis.url, &names, &args);
        answered = answers(&mut con, &names.output).len() + 1 + rng.below(30);
        wait_answers(&mut con, &names.output, answered, &sub);
        sub.signal("KILL");
        assert_eq!(sub.wait(WAIT), None, "killed by the signal");
    }
    assert!(answered < all.len(), "every kill came mid-burst");
    restart_until_all_answered(&env, &store, &redis, &names, &args, &all);
}

#[test]
fn cli_commits_racing_the_subscribers_batches_on_the_same_branches_lose_nothing() {
    // Group commit builds each set on the tip it read, then swaps: a CLI commit landing on
    // the branch in between sends the set back to be rebuilt on the new tip (six to nine of
    // the 150 here, counted once by hand). Every commit must end on its branch's
    // first-parent line, once.
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let s = store.to_str().unwrap();
    let names = Names::new("race");
    let mut con = redis.con();
    let mut all = burst(&env, &mut con, &names, "r", 0..150);
    let mut sub = subscriber(&env, &store, &redis.url, &names, &["--workers", "2"]);
    for i in 0..40 {
        let corr = format!("corr_cli{i:03}");
        let file = env.write(&format!("cli/{i}/out.csv"), format!("cli {i}\n"));
        let task = format!("t{}", i % 5);
        let mut args = vec!["-c", "durability=none"];
        args.extend(crate::common::commit_args(
            s,
            &corr,
            &[file.to_str().unwrap()],
        ));
        args[9] = &task;
        env.run(&args).ok();
        all.insert(corr);
    }
    let events: BTreeSet<String> = all
        .iter()
        .filter(|c| c.starts_with("corr_r"))
        .cloned()
        .collect();
    wait_all(&mut con, &names.output, &events, &sub);
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    assert_eq!(
        committed(&env, &store),
        all.iter().cloned().collect::<Vec<_>>(),
        "each commit once"
    );
    for t in 0..5 {
        let line = env.git_in(
            &store,
            &[
                "rev-list",
                "--first-parent",
                &format!("ai/generated/wf/t{t}"),
            ],
        );
        assert_eq!(
            line.lines().count(),
            38,
            "t{t}: 30 events and 8 CLI commits"
        );
    }
    env.fsck(&store);
}

#[test]
fn a_dead_consumers_entries_are_claimed_by_another() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("claim");
    let mut con = redis.con();
    let all = burst(&env, &mut con, &names, "c", 0..80);
    let mut dead = subscriber(&env, &store, &redis.url, &names, &["--consumer", "dead"]);
    wait_answers(&mut con, &names.output, 2, &dead);
    dead.signal("KILL");
    dead.wait(WAIT);
    assert!(pending(&mut con, &names.input, &names.group) > 0);
    let claim = [
        "--consumer",
        "heir",
        "--claim-idle-ms",
        "500",
        "--claim-every-ms",
        "200",
    ];
    let mut heir = subscriber(&env, &store, &redis.url, &names, &claim);
    wait_all(&mut con, &names.output, &all, &heir);
    heir.signal("TERM");
    assert_eq!(heir.wait(WAIT), Some(0), "{}", heir.log());
    assert!(
        heir.log().contains("deliveries=2"),
        "claimed entries count their second delivery:\n{}",
        heir.log()
    );
    assert_eq!(
        committed(&env, &store),
        all.iter().cloned().collect::<Vec<_>>()
    );
    assert_eq!(pending(&mut con, &names.input, &names.group), 0);
}

#[test]
fn redis_killed_and_restarted_with_its_append_only_file_mid_burst_loses_nothing() {
    let env = Env::new();
    let Some(mut redis) = Redis::own(&env, true) else {
        return;
    };
    let store = env.store();
    let names = Names::new("aof");
    let mut con = redis.con();
    let mut all = burst(&env, &mut con, &names, "a", 0..30);
    let mut sub = subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        &["--totals-every", "1", "--workers", "2"],
    );
    wait_answers(&mut con, &names.output, 3, &sub);
    redis.kill();
    std::thread::sleep(Duration::from_millis(1500));
    redis.restart();
    let mut con = redis.con();
    all.extend(burst(&env, &mut con, &names, "a", 30..45));
    wait_all(&mut con, &names.output, &all, &sub);
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    assert_eq!(
        committed(&env, &store),
        all.iter().cloned().collect::<Vec<_>>()
    );
    assert_eq!(pending(&mut con, &names.input, &names.group), 0);
    let log = sub.log();
    assert_eq!(
        log.matches("is unavailable").count(),
        1,
        "one warning per outage:\n{log}"
    );
    assert!(log.contains("reconnected to Redis after"), "{log}");
    assert!(
        log.matches(" totals ").count() >= 2,
        "periodic totals:\n{log}"
    );
    let last = log.lines().last().unwrap();
    assert!(
        last.contains("final=true") && !last.contains("reconnects=0"),
        "{last}"
    );
}

#[test]
fn a_stop_while_redis_is_away_exits_soon_and_a_restart_answers_what_was_left() {
    let env = Env::new();
    let Some(mut redis) = Redis::own(&env, true) else {
        return;
    };
    let store = env.store();
    let names = Names::new("stopaway");
    let mut con = redis.con();
    let all = burst(&env, &mut con, &names, "w", 0..150);
    let args = ["--consumer", "away", "--workers", "2"];
    let mut sub = subscriber(&env, &store, &redis.url, &names, &args);
    wait_answers(&mut con, &names.output, 3, &sub);
    redis.kill();
    let asked = std::time::Instant::now();
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    // The batch in hand is committed, its answers given up on after a few seconds' grace.
    assert!(
        asked.elapsed() < Duration::from_secs(12),
        "a stop during an outage took {:?}:\n{}",
        asked.elapsed(),
        sub.log()
    );
    assert!(
        sub.log().contains("stopping without an answer"),
        "a batch was in hand when Redis went away:\n{}",
        sub.log()
    );

    redis.restart();
    restart_until_all_answered(&env, &store, &redis, &names, &args, &all);
}

fn lock_branch(store: &std::path::Path, task: &str) -> std::path::PathBuf {
    let lock = store.join(format!("refs/heads/ai/generated/wf/{task}.lock"));
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "").unwrap();
    lock
}

#[test]
fn restarts_count_a_delivery_only_for_the_entry_tried_not_for_those_queued_behind_it() {
    // One worker, stuck on a branch lock that never goes stale: the entry in hand is tried
    // at every start; those read behind it wait in the queue. Killed three times, the stuck
    // entry reaches --max-deliveries 3 and goes to the dead-letter stream; every other entry
    // is committed once, however often it was re-read.
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("stuck");
    let mut con = redis.con();
    lock_branch(&store, "stuck");
    let stuck = test_passed("corr_stuck", "stuck", artifacts(&env, "stuck", "stuck"));
    let stuck_id = publish(&mut con, &names.input, &stuck.to_string());
    let others = burst(&env, &mut con, &names, "q", 0..40);
    let args = [
        "-c",
        "lock_timeout=60",
        "-c",
        "stale_lock_seconds=0",
        "--workers",
        "1",
        "--max-deliveries",
        "3",
        "--consumer",
        "stuck",
    ];
    for life in 1..=3 {
        let mut sub = subscriber(&env, &store, &redis.url, &names, &args);
        // Killed once the stuck entry is counted as taken up in this life.
        let deadline = std::time::Instant::now() + WAIT;
        while delivery_count(&mut con, &names, &stuck_id) < life {
            assert!(std::time::Instant::now() < deadline, "{}", sub.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        sub.signal("KILL");
        assert_eq!(sub.wait(WAIT), None, "killed by the signal");
    }
    let mut sub = subscriber(&env, &store, &redis.url, &names, &args);
    let mut all = others.clone();
    all.insert("corr_stuck".to_string());
    wait_all(&mut con, &names.output, &all, &sub);
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    let failed: Vec<String> = answers(&mut con, &names.output)
        .iter()
        .filter(|a| a["event_type"] == "ARTIFACT_COMMIT_FAILED")
        .map(|a| format!("{} {}", a["correlation_id"], a["data"]["error"]["kind"]))
        .collect();
    assert_eq!(
        failed,
        [r#""corr_stuck" "max_deliveries""#],
        "{}",
        sub.log()
    );
    assert_eq!(
        committed(&env, &store),
        others.iter().cloned().collect::<Vec<_>>(),
        "every entry queued behind the stuck one committed once"
    );
    let dead: usize = con.xlen(&names.dlq).unwrap();
    assert_eq!(dead, 1);
    assert_eq!(pending(&mut con, &names.input, &names.group), 0);
    env.fsck(&store);
}

/// Redis's delivery count of pending entry `id` (0 when it is not pending).
fn delivery_count(con: &mut redis::Connection, names: &Names, id: &str) -> u64 {
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(&names.input)
        .arg(&names.group)
        .arg(id)
        .arg(id)
        .arg(1)
        .query(con)
        .unwrap_or_default();
    rows.first().map_or(0, |row| row.3)
}

const LOCKS: [&str; 8] = [
    "-c",
    "lock_timeout=0",
    "-c",
    "stale_lock_seconds=0",
    "--claim-idle-ms",
    "300",
    "--claim-every-ms",
    "100",
];

#[test]
fn a_held_lock_is_retried_by_redelivery_until_it_commits() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("lock");
    let mut con = redis.con();
    let lock = lock_branch(&store, "locked");
    let event = test_passed("corr_l1", "locked", artifacts(&env, "l1", "l1"));
    publish(&mut con, &names.input, &event.to_string());
    let mut args = LOCKS.to_vec();
    args.extend(["--max-deliveries", "50"]);
    let mut sub = subscriber(&env, &store, &redis.url, &names, &args);
    let deadline = std::time::Instant::now() + WAIT;
    while !sub.log().contains("outcome=retry") {
        assert!(std::time::Instant::now() < deadline, "{}", sub.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        answers(&mut con, &names.output).len(),
        0,
        "no answer while it may still pass"
    );
    assert_eq!(
        pending(&mut con, &names.input, &names.group),
        1,
        "left unacknowledged"
    );
    std::fs::remove_file(lock).unwrap();
    let got = wait_answers(&mut con, &names.output, 1, &sub);
    assert_eq!(got[0]["event_type"], "ARTIFACT_COMMITTED");
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0));
    assert!(sub.log().contains("error_kind=locked"), "{}", sub.log());
    assert_eq!(committed(&env, &store), ["corr_l1"]);
    assert_eq!(pending(&mut con, &names.input, &names.group), 0);
}

#[test]
fn entries_past_max_deliveries_go_to_the_dead_letter_stream_with_the_reason() {
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = Names::new("dlq");
    let mut con = redis.con();
    lock_branch(&store, "stuck");
    // A poison entry: delivered three times to a consumer that never answered.
    let poison = test_passed("corr_x2", "poison", artifacts(&env, "x2", "x2")).to_string();
    create_group(&mut con, &names);
    let poison_id = publish(&mut con, &names.input, &poison);
    for from in [">", "0", "0"] {
        read_one_as(&mut con, &names, "ghost", from);
    }
    let stuck = test_passed("corr_x1", "stuck", artifacts(&env, "x1", "x1")).to_string();
    let stuck_id = publish(&mut con, &names.input, &stuck);
    let good = test_passed("corr_x3", "fine", artifacts(&env, "x3", "x3")).to_string();
    publish(&mut con, &names.input, &good);
    let mut args = LOCKS.to_vec();
    args.extend(["--max-deliveries", "3"]);
    let mut sub = subscriber(&env, &store, &redis.url, &names, &args);
    let got = wait_answers(&mut con, &names.output, 3, &sub);
    sub.signal("TERM");
    assert_eq!(sub.wait(WAIT), Some(0), "{}", sub.log());
    let by_corr = |c: &str| {
        got.iter()
            .find(|a| a["correlation_id"] == c)
            .unwrap_or_else(|| panic!("{c}: {got:?}"))
            .clone()
    };
    assert_eq!(by_corr("corr_x3")["event_type"], "ARTIFACT_COMMITTED");
    for (corr, kind) in [("corr_x1", "locked"), ("corr_x2", "max_deliveries")] {
        let answer = by_corr(corr);
        assert_eq!(answer["event_type"], "ARTIFACT_COMMIT_FAILED", "{answer}");
        assert_eq!(answer["data"]["error"]["kind"], kind, "{answer}");
        assert_eq!(answer["data"]["dead_letter"], names.dlq.as_str());
    }
    let dead: redis::streams::StreamRangeReply = con.xrange_all(&names.dlq).unwrap();
    assert_eq!(dead.ids.len(), 2);
    let field = |i: usize, f: &str| dead.ids[i].get::<String>(f).unwrap_or_default();
    let (first, second) = if field(0, "source_id") == stuck_id {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(field(first, "event"), stuck);
    assert_eq!(field(first, "kind"), "locked");
    assert!(
        field(first, "reason").contains("locked"),
        "{}",
        field(first, "reason")
    );
    assert_eq!(field(first, "deliveries"), "3");
    assert_eq!(field(second, "source_id"), poison_id);
    assert!(
        field(second, "reason").contains("delivered 4 times"),
        "{}",
        field(second, "reason")
    );
    assert_eq!(
        pending(&mut con, &names.input, &names.group),
        0,
        "dead-lettered entries are acknowledged"
    );
    assert_eq!(committed(&env, &store), ["corr_x3"]);
    assert!(sub.log().contains("dead_lettered=2"), "{}", sub.log());
}
