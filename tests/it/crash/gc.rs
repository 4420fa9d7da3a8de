//! `gc --apply` killed at random moments over a store where it has real work: 800 refs to
//! prune (packed and loose), then 1,040 loose refs to pack. After each kill no pruned
//! version is lost (each pruned ref is in place or in the trash), the next commit and the
//! next gc get past the dead gc's locks within the stale-lock bound, and the re-run gc
//! leaves nothing more to prune.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::common::{commit_args, Env, Rng};
use super::support::{
    assert_sound, assert_within_bound, kill_after, lock_env, lock_files, scale, timed_ok, Tally,
};

/// Kills of `gc --apply` in a default run.
const GC_KILLS: usize = 10;
/// The time gc runs at.
const NOW: i64 = 1_760_000_000;
const DAY: i64 = 86_400;
/// Task branches older than the policy's 30 days (each with two versions and three tags).
const OLD: usize = 200;
/// Task branches within it.
const RECENT: usize = 260;
const TRASH: &str = "refs/artifact-store/trash/";

/// Writes one task branch of two versions, their `corr_` tags and a `prompt_` tag.
fn task(out: &mut String, mark: &mut usize, name: &str, secs: i64) {
    for v in 1..=2 {
        *mark += 1;
        let corr = format!("corr_{name}-v{v}");
        let subject = format!("artifacts(wf/{name}): {corr}");
        let message = format!(
            "{subject}\n\nWorkflow-Id: wf\nTask-Id: {name}\nCorrelation-Id: {corr}\nTest-Status: failed\n"
        );
        let meta = format!(
            "{{\"workflow_id\": \"wf\", \"task_id\": \"{name}\", \"correlation_id\": \"{corr}\", \"test_status\": \"failed\"}}\n"
        );
        let when = format!("{} +0000", secs + v);
        out.push_str(&format!(
            "commit refs/heads/ai/generated/wf/{name}\nmark :{mark}\n\
             author Test <t@example.invalid> {when}\ncommitter Test <t@example.invalid> {when}\n\
             data {}\n{message}\nM 100644 inline artifacts/wf/{name}/metadata.json\ndata {}\n{meta}\n",
            message.len(),
            meta.len()
        ));
        for tag in [corr, format!("prompt_p{}", name.replace('-', ""))] {
            if tag.starts_with("prompt_") && v == 1 {
                continue;
            }
            out.push_str(&format!(
                "tag {tag}\nfrom :{mark}\ntagger Test <t@example.invalid> {when}\ndata {}\n{subject}\n\n",
                subject.len() + 1
            ));
        }
    }
}

/// Builds the template store: the old branches packed, the recent ones loose.
fn template(env: &Env) -> PathBuf {
    let store = env.store_at("template.git");
    std::fs::write(
        store.join("artifact-store.toml"),
        "[retention]\nmax_age_days = 30\n",
    )
    .unwrap();
    let s = store.to_str().unwrap();
    let mut mark = 0;
    let mut packed = String::new();
    for i in 0..OLD - 100 {
        task(
            &mut packed,
            &mut mark,
            &format!("old{i}"),
            NOW - 90 * DAY + i as i64,
        );
    }
    env.git_stdin(&["-C", s, "fast-import", "--quiet"], &packed);
    env.git_in(&store, &["pack-refs", "--all"]);
    let mut loose = String::new();
    for i in OLD - 100..OLD {
        task(
            &mut loose,
            &mut mark,
            &format!("old{i}"),
            NOW - 60 * DAY + i as i64,
        );
    }
    for i in 0..RECENT {
        task(
            &mut loose,
            &mut mark,
            &format!("new{i}"),
            NOW - DAY + i as i64,
        );
    }
    env.git_stdin(&["-C", s, "fast-import", "--quiet"], &loose);
    store
}

fn gc_cmd(env: &Env, store: &Path, apply: bool) -> Command {
    let mut args = vec!["--repo", store.to_str().unwrap(), "--json", "gc"];
    if apply {
        args.push("--apply");
    }
    let mut cmd = env.cmd(&args);
    cmd.env("GIT_COMMITTER_DATE", format!("@{NOW} +0000"));
    lock_env(&mut cmd);
    cmd
}

/// The refs the plan prunes, with their values.
fn planned(env: &Env, store: &Path) -> BTreeMap<String, String> {
    let (_, stdout) = timed_ok(gc_cmd(env, store, false));
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    plan["refs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["decision"] == "prune")
        .map(|d| {
            let name = d["ref"].as_str().unwrap().to_string();
            (name, d["oid"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Asserts every pruned ref holds its value, or a trash copy of it does; returns how many
/// are gone from their place (moved to the trash).
#[track_caller]
fn assert_nothing_lost(refs: &[(String, String)], pruned: &BTreeMap<String, String>) -> usize {
    let mut trash: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut live: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, oid) in refs {
        match name.strip_prefix(TRASH) {
            Some(rest) => {
                let original = rest.split_once('/').unwrap().1;
                trash.entry(original).or_default().push(oid);
            }
            None => {
                live.insert(name, oid);
            }
        }
    }
    let mut moved = 0;
    for (name, oid) in pruned {
        let in_place = live.get(name.as_str()) == Some(&oid.as_str());
        let in_trash = trash
            .get(name.as_str())
            .is_some_and(|c| c.contains(&oid.as_str()));
        assert!(
            in_place || in_trash,
            "{name} ({oid}) is neither in place nor in the trash"
        );
        moved += usize::from(!in_place);
    }
    moved
}

fn copy_store(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Commits into a pruned task branch, which a dead gc may hold locked; returns the time.
fn commit_into(env: &Env, store: &Path, task: &str, i: usize) -> Duration {
    let file = env.write(&format!("gc/{i}/out.csv"), format!("round {i}\n"));
    let corr = format!("after-gc-{i}");
    let mut args = commit_args(store.to_str().unwrap(), &corr, &[file.to_str().unwrap()]);
    args[7] = task;
    let mut cmd = env.cmd(&args);
    cmd.env("GIT_COMMITTER_DATE", format!("@{NOW} +0000"));
    lock_env(&mut cmd);
    timed_ok(cmd).0
}

#[test]
fn gc_apply_killed_at_random_moments_loses_no_version_and_the_next_gc_and_commit_proceed() {
    let env = Env::new();
    let template = template(&env);
    let pruned = planned(&env, &template);
    assert_eq!(pruned.len(), OLD * 4, "every old branch and its three tags");
    let mut rng = Rng::new("gc --apply");
    let first = env.path("gc0.git");
    copy_store(&template, &first);
    let (normal, _) = timed_ok(gc_cmd(&env, &first, true));
    eprintln!("gc --apply: an uncrashed run takes {normal:?}");
    let commit_normal = commit_into(&env, &first, "old0", 0);
    let target = GC_KILLS * scale();
    let mut tally = Tally::default();
    let (mut killed_in_packed_refs, mut killed_midway) = (0, 0);
    let mut i = 0;
    while tally.killed < target {
        i += 1;
        assert!(i <= target * 3, "too few runs were still alive at the kill");
        let store = env.path(&format!("gc{i}.git"));
        copy_store(&template, &store);
        let ended = kill_after(gc_cmd(&env, &store, true), rng.delay(normal));
        tally.record(ended);
        let refs = assert_sound(&env, &store);
        let moved = assert_nothing_lost(&refs, &pruned);
        tally.landed_before_kill += usize::from(moved == pruned.len());
        killed_midway += usize::from(moved > 0 && moved < pruned.len());
        let locks = lock_files(&store);
        tally.locks_left += usize::from(!locks.is_empty());
        let packed_lock = store.join("packed-refs.lock");
        killed_in_packed_refs += usize::from(locks.contains(&packed_lock));
        let branch = pruned
            .keys()
            .filter(|r| r.starts_with("refs/heads/"))
            .nth(rng.below(OLD))
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        // Half the rounds commit before the next gc, half after it.
        if i % 2 == 0 {
            let took = commit_into(&env, &store, &branch, i);
            assert_within_bound(&locks, took, commit_normal);
        }
        let (took, stdout) = timed_ok(gc_cmd(&env, &store, true));
        tally.rerun(&locks, took);
        assert_within_bound(&locks, took, normal);
        let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(out["success"], true, "{out}");
        if i % 2 == 1 {
            commit_into(&env, &store, &branch, i);
        }
        // The commit built on the pruned tip when it was still in place: kept as the parent.
        let full = format!("refs/heads/ai/generated/wf/{branch}");
        let mut expected = pruned.clone();
        let parent = env.git(&[
            "-C",
            store.to_str().unwrap(),
            "rev-parse",
            "-q",
            "--verify",
            &format!("{full}^"),
        ]);
        if parent.stdout.trim() == pruned[&full] {
            expected.remove(&full);
        }
        let refs = assert_sound(&env, &store);
        assert_nothing_lost(&refs, &expected);
        assert!(
            planned(&env, &store).is_empty(),
            "the re-run left refs to prune"
        );
        let left = lock_files(&store);
        assert!(left.is_empty(), "the re-runs left {left:?}");
        std::fs::remove_dir_all(&store).unwrap();
    }
    tally.print("gc --apply");
    eprintln!(
        "gc --apply: {killed_midway} kills with some pruned refs moved and some not, \
         {killed_in_packed_refs} left packed-refs.lock"
    );
}

/// Creates `lock` (and its directory) with its mtime a minute in the past.
fn stale_lock(lock: &Path) {
    super::common::old_lock(lock, Duration::from_secs(60));
}

#[test]
fn locks_left_by_a_gc_killed_in_its_transaction_do_not_block_the_next_gc() {
    let env = Env::new();
    let store = template(&env);
    let pruned = planned(&env, &store);
    // What a gc killed inside its transaction and its report leaves behind, and a tag lock
    // of a killed commit on a ref nobody writes again.
    for lock in [
        "artifact-store-gc.lock",
        "packed-refs.lock",
        "refs/heads/ai/generated/wf/old0.lock",
        "refs/tags/corr_old1-v1.lock",
        "refs/artifact-store/reports.lock",
        "refs/tags/corr_new0-v1.lock",
    ] {
        stale_lock(&store.join(lock));
    }
    let (took, stdout) = timed_ok(gc_cmd(&env, &store, true));
    let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(out["applied"]["moved"], pruned.len(), "{out}");
    assert!(
        took < Duration::from_secs(super::support::LOCK_TIMEOUT_SECS / 2),
        "took {took:?}: it waited on a dead writer's lock"
    );
    assert_eq!(lock_files(&store), Vec::<PathBuf>::new());
    let refs = assert_sound(&env, &store);
    assert_nothing_lost(&refs, &pruned);
    assert!(planned(&env, &store).is_empty());
}
