//! `revert-to-tag` killed at random moments, in both modes. After each kill the target
//! holds its old tip or the result (never anything else), no version is lost, and the
//! re-run lands exactly once: one forward commit, or one move with the old tip in the trash.

use std::path::Path;
use std::process::Command;

use super::common::{commit_args, rev, Env, Rng};
use super::support::{
    assert_sound, assert_within_bound, kill_after, lock_env, lock_files, scale, timed_ok, Ended,
    Tally,
};

/// Kills of each mode in a default run.
const REVERT_KILLS: usize = 25;
const EPOCH: i64 = 1_760_000_000;
const VERSIONS: usize = 6;
const BRANCH: &str = "ai/generated/wf/t";
const TRASH: &str = "refs/artifact-store/trash/";

/// A store whose task branch has `VERSIONS` tagged commits; returns it and the tip.
fn store(env: &Env) -> (std::path::PathBuf, String) {
    let store = env.store();
    for v in 1..=VERSIONS {
        let file = env.write(&format!("v{v}/out.csv"), format!("version {v}\n"));
        let corr = format!("v{v}");
        let mut cmd = env.cmd(&commit_args(
            store.to_str().unwrap(),
            &corr,
            &[file.to_str().unwrap()],
        ));
        cmd.env("GIT_COMMITTER_DATE", format!("@{} +0000", EPOCH + v as i64));
        timed_ok(cmd);
    }
    let tip = rev(env, &store, BRANCH);
    (store, tip)
}

fn revert_cmd(env: &Env, store: &Path, tag: &str, hard: bool, i: usize) -> Command {
    let mut args = vec![
        "--repo",
        store.to_str().unwrap(),
        "--json",
        "revert-to-tag",
        tag,
        "--target",
        BRANCH,
    ];
    if hard {
        args.extend(["--hard", "--force"]);
    }
    let mut cmd = env.cmd(&args);
    let secs = EPOCH + 3600 + 60 * i as i64;
    cmd.env("GIT_COMMITTER_DATE", format!("@{secs} +0000"));
    lock_env(&mut cmd);
    cmd
}

/// Every entry of `rev`'s tree but the set's metadata.json: a restore commit on a task
/// branch carries the restored set's metadata with `reverted_*` fields added, so that file
/// differs from the tagged commit's while every artifact is the tagged one's.
fn tree(env: &Env, store: &Path, rev: &str) -> String {
    env.git_in(store, &["ls-tree", "-r", rev])
        .lines()
        .filter(|line| !line.ends_with("/metadata.json"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `reverted_to` field of the set's metadata.json at `rev`.
fn reverted_to(env: &Env, store: &Path, rev: &str) -> String {
    let text = env.git_in(
        store,
        &["show", &format!("{rev}:artifacts/wf/t/metadata.json")],
    );
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["reverted_to"].as_str().unwrap_or_default().to_string()
}

/// Values of the trash refs.
fn trash_values(refs: &[(String, String)]) -> Vec<&str> {
    refs.iter()
        .filter(|(name, _)| name.starts_with(TRASH))
        .map(|(_, oid)| oid.as_str())
        .collect()
}

fn run_mode(hard: bool) {
    let env = Env::new();
    let (store, full) = store(&env);
    let mode = if hard { "revert --hard" } else { "revert" };
    let mut rng = Rng::new(mode);
    let (normal, _) = timed_ok(revert_cmd(&env, &store, "corr_v1", hard, 0));
    let mut span = normal;
    eprintln!("{mode}: an uncrashed run takes {normal:?}");
    let target = REVERT_KILLS * scale();
    let mut tally = Tally::default();
    let mut i = 0;
    let mut last = 1;
    while tally.killed < target {
        i += 1;
        assert!(i <= target * 3, "too few runs were still alive at the kill");
        if hard {
            env.git_in(
                &store,
                &["update-ref", &format!("refs/heads/{BRANCH}"), &full],
            );
        }
        let mut v = 1 + rng.below(VERSIONS - 1);
        if v == last {
            v = v % (VERSIONS - 1) + 1;
        }
        last = v;
        let tag = format!("corr_v{v}");
        let tagged = rev(&env, &store, &format!("{tag}^{{commit}}"));
        let old = rev(&env, &store, BRANCH);
        let ended = kill_after(revert_cmd(&env, &store, &tag, hard, i), rng.delay(span));
        if matches!(ended, Ended::Finished(_)) {
            // The uncrashed run was timed on a busier moment than this one: draw the next
            // kill from a shorter span, so that most runs are still alive when it comes.
            span = span * 3 / 4;
        }
        tally.record(ended);
        let refs = assert_sound(&env, &store);
        let now = rev(&env, &store, BRANCH);
        let landed = now != old;
        tally.landed_before_kill += usize::from(landed);
        if hard {
            assert!(now == old || now == tagged, "{BRANCH} is at {now}");
            if landed {
                assert!(trash_values(&refs).contains(&old.as_str()), "old tip lost");
            }
        } else if landed {
            assert_eq!(
                rev(&env, &store, &format!("{now}^")),
                old,
                "one commit on top"
            );
            assert_eq!(tree(&env, &store, &now), tree(&env, &store, &tagged));
            assert_eq!(reverted_to(&env, &store, &now), tag);
        }
        let locks = lock_files(&store);
        tally.locks_left += usize::from(!locks.is_empty());

        let (took, stdout) = timed_ok(revert_cmd(&env, &store, &tag, hard, i));
        tally.rerun(&locks, took);
        if !locks.is_empty() {
            assert_within_bound(&locks, took, normal);
        }
        let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(out["changed"], !landed, "{out}");
        let after = rev(&env, &store, BRANCH);
        assert_eq!(out["commit_sha"], after.as_str());
        if hard {
            assert_eq!(after, tagged);
            let refs = assert_sound(&env, &store);
            assert!(trash_values(&refs).contains(&full.as_str()), "old tip lost");
        } else {
            assert_eq!(tree(&env, &store, &after), tree(&env, &store, &tagged));
            assert_eq!(reverted_to(&env, &store, &after), tag);
            assert_eq!(
                rev(&env, &store, &format!("{after}^")),
                old,
                "one commit on top"
            );
            env.fsck(&store);
        }
        let (_, again) = timed_ok(revert_cmd(&env, &store, &tag, hard, i));
        let again: serde_json::Value = serde_json::from_str(&again).unwrap();
        assert_eq!(
            again["changed"], false,
            "a third run changes nothing: {again}"
        );
        let left = lock_files(&store);
        assert!(left.is_empty(), "the re-run left {left:?}");
    }
    tally.print(mode);
}

#[test]
fn revert_to_tag_killed_at_random_moments_restores_exactly_once_on_rerun() {
    run_mode(false);
}

#[test]
fn revert_to_tag_hard_killed_at_random_moments_moves_once_and_keeps_the_old_tip() {
    run_mode(true);
}
