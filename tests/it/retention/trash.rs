//! The trash: restore round-trips, restore refuses over refs that exist again, purge, pins.

use super::common::Env;
use super::{commit_at, fixture, run_at, run_time, DAY, NOW};

/// Every ref but the report log, with what annotated tags peel to.
fn refs_and_peels(env: &Env, store: &std::path::Path) -> String {
    env.git_in(
        store,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname) %(objecttype) %(*objectname)",
            "--exclude=refs/artifact-store/reports",
        ],
    )
}

#[test]
fn restore_puts_every_ref_back_as_it_was() {
    let env = Env::new();
    let store = fixture(&env);
    let before = refs_and_peels(&env, &store);
    let applied = run_at(&env, &store, &["--json", "gc", "--apply"]).json();
    let ts = applied["applied"]["trash_time_unix"]
        .as_i64()
        .unwrap()
        .to_string();
    assert_ne!(refs_and_peels(&env, &store), before);
    let listed = run_at(&env, &store, &["--json", "trash", "list"]).json();
    assert_eq!(listed["batches"][0]["time_unix"].to_string(), ts);
    assert_eq!(listed["batches"][0]["count"], applied["applied"]["moved"]);

    let restored = run_at(&env, &store, &["--json", "trash", "restore", &ts]).json();
    assert_eq!(
        restored["restored"].as_array().unwrap().len() as u64,
        applied["applied"]["moved"].as_u64().unwrap()
    );
    assert_eq!(
        refs_and_peels(&env, &store),
        before,
        "for-each-ref identical after restore"
    );
    env.fsck(&store);
    let log = env.git_in(
        &store,
        &["log", "--format=%s", "refs/artifact-store/reports"],
    );
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.starts_with("restore: "), "{log}");
    let empty = run_at(&env, &store, &["--json", "trash", "list"]).json();
    assert_eq!(empty["batches"].as_array().unwrap().len(), 0);
}

#[test]
fn restore_refuses_to_overwrite_a_ref_that_exists_again_and_changes_nothing() {
    let env = Env::new();
    let store = fixture(&env);
    let applied = run_at(&env, &store, &["--json", "gc", "--apply"]).json();
    let ts = applied["applied"]["trash_time_unix"]
        .as_i64()
        .unwrap()
        .to_string();
    commit_at(
        &env,
        &store,
        ("wf_alpha", "t5"),
        "corr_again",
        "pagain",
        NOW + 60,
        "passed",
    );
    let snapshot = env.snapshot(&store);
    let run = run_time(&env, &store, NOW + 120, &["trash", "restore", &ts]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("refs/heads/ai/generated/wf_alpha/t5 (now "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("nothing was restored"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.snapshot(&store),
        snapshot,
        "a refused restore changes nothing"
    );

    let one = run_at(&env, &store, &["--json", "trash", "restore", "wf_alpha/t4"]).json();
    assert_eq!(
        one["restored"][0]["original"],
        "refs/heads/ai/generated/wf_alpha/t4"
    );
    let missing = run_at_code(&env, &store, &["trash", "restore", "wf_alpha/t4"]);
    assert_eq!(missing, 5, "it is no longer in the trash");
    env.fsck(&store);
}

fn run_at_code(env: &Env, store: &std::path::Path, args: &[&str]) -> i32 {
    run_time(env, store, NOW, args).code
}

#[test]
fn purge_deletes_expired_batches_and_git_gc_reclaims_their_objects() {
    let env = Env::new();
    let store = fixture(&env);
    let tip = env.git_in(&store, &["rev-parse", "ai/generated/wf_beta/t3"]);
    run_at(&env, &store, &["gc", "--apply"]);
    let early = run_at(&env, &store, &["--json", "trash", "purge"]).json();
    assert_eq!(early["purged"], 0, "trash_days = 7 has not passed");
    assert_eq!(early["older_than_days"], 7);
    assert!(
        env.git(&["-C", store.to_str().unwrap(), "cat-file", "-e", &tip])
            .code
            == 0
    );

    let later = run_time(
        &env,
        &store,
        NOW + 8 * DAY,
        &["--json", "trash", "purge", "--prune-objects"],
    )
    .ok();
    let later = later.json();
    assert!(later["purged"].as_u64().unwrap() > 10, "{later}");
    assert_eq!(later["git_gc"]["status"], "ran");
    let trash = env.git_in(&store, &["for-each-ref", "refs/artifact-store/trash/"]);
    assert!(trash.is_empty(), "{trash}");
    let gone = env.git(&["-C", store.to_str().unwrap(), "cat-file", "-e", &tip]);
    assert_ne!(
        gone.code, 0,
        "the pruned tip's commit is unreachable and collected"
    );
    env.fsck(&store);
    let log = env.git_in(
        &store,
        &["log", "-1", "--format=%s", "refs/artifact-store/reports"],
    );
    assert!(log.starts_with("purge: "), "{log}");
}

#[test]
fn purge_older_than_overrides_trash_days() {
    let env = Env::new();
    let store = fixture(&env);
    run_at(&env, &store, &["gc", "--apply"]);
    let run = run_time(
        &env,
        &store,
        NOW + 2 * DAY,
        &["--json", "trash", "purge", "--older-than", "1"],
    )
    .ok();
    assert!(run.json()["purged"].as_u64().unwrap() > 0);
}

#[test]
fn pins_refuse_a_taken_name_and_unpin_lets_the_policy_decide() {
    let env = Env::new();
    let store = fixture(&env);
    let taken = run_time(
        &env,
        &store,
        NOW,
        &["pin", "corr_wf_alpha-t1-v3", "--name", "beta-t4"],
    );
    assert_eq!(taken.code, 4, "{}", taken.stderr);
    let again = run_at(
        &env,
        &store,
        &["--json", "pin", "corr_wf_beta-t4-v2", "--name", "beta-t4"],
    )
    .json();
    assert_eq!(again["created"], false);
    let unknown = run_time(&env, &store, NOW, &["unpin", "nope"]);
    assert_eq!(unknown.code, 5);
    run_at(&env, &store, &["unpin", "beta-t4"]);
    let plan = run_at(&env, &store, &["--json", "gc"]).json();
    let beta_t4 = plan["refs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["ref"] == "refs/heads/ai/generated/wf_beta/t4")
        .unwrap()
        .clone();
    assert_eq!(beta_t4["decision"], "prune");
    assert_eq!(
        beta_t4["reason"],
        "outside keep_last=3 (rank 4); older than 30 days (70 days)"
    );
    assert_eq!(beta_t4["rule"], "keep_last");
}
