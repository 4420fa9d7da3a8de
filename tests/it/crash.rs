//! Crash safety: `commit`, `gc --apply`, `revert-to-tag` and `compact` killed with SIGKILL at random
//! moments of their life, against real stores; after every kill the store passes
//! `git fsck --strict`, no ref names a missing object, no lock blocks the next run for
//! longer than the stale-lock bound, and the re-run lands exactly once.
//!
//! `ARTIFACT_STORE_CRASH_SCALE=N` multiplies every kill count (docs/robustness.md);
//! `ARTIFACT_STORE_CRASH_SEED` replays a run whose seed a failure printed.
#![allow(clippy::print_stderr)]

use crate::common;
#[path = "crash/compact.rs"]
mod compaction;
#[path = "crash/gc.rs"]
mod gc;
#[path = "crash/revert.rs"]
mod revert;
#[path = "crash/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{has_ref, Env, Rng};
use support::{
    assert_sound, assert_within_bound, kill_after, lock_env, lock_files, scale, timed_ok, Ended,
    Tally, STALE_SECS,
};

/// Kills of commits of small artifact sets (five files, about 50 KB) in a default run.
const SMALL_KILLS: usize = 194;
/// Kills of commits of 50 MB artifact sets in a default run.
const BIG_KILLS: usize = 6;
/// Commit times start here and step a minute per round.
const EPOCH: i64 = 1_760_000_000;
const PROMPT: &str = "feedc0de";

/// One commit to kill and re-run.
struct Round<'a> {
    store: &'a Path,
    task: &'a str,
    corr: String,
    files: Vec<PathBuf>,
    secs: i64,
}

impl Round<'_> {
    fn cmd(&self, env: &Env) -> Command {
        let store = self.store.to_str().unwrap();
        let mut args = vec![
            "--repo",
            store,
            "--json",
            "commit",
            "-w",
            "wf",
            "-t",
            self.task,
            "--correlation-id",
            &self.corr,
            "--prompt-hash",
            PROMPT,
        ];
        args.extend(self.files.iter().map(|f| f.to_str().unwrap()));
        let mut cmd = env.cmd(&args);
        cmd.env("GIT_COMMITTER_DATE", format!("@{} +0000", self.secs));
        lock_env(&mut cmd);
        cmd
    }

    fn branch(&self) -> String {
        format!("refs/heads/ai/generated/wf/{}", self.task)
    }

    /// The branch's commits, newest first, each with its `Correlation-Id` trailer.
    fn history(&self, env: &Env) -> Vec<(String, String)> {
        let run = env.git(&[
            "-C",
            self.store.to_str().unwrap(),
            "log",
            "--format=%H %(trailers:key=Correlation-Id,valueonly,separator=)",
            &self.branch(),
            "--",
        ]);
        if run.code != 0 {
            assert!(
                !has_ref(env, self.store, &self.branch()),
                "git log failed: {}",
                run.stderr
            );
            return Vec::new();
        }
        run.stdout
            .lines()
            .map(|l| {
                let (sha, id) = l.split_once(' ').unwrap_or((l, ""));
                (sha.to_string(), id.to_string())
            })
            .collect()
    }

    /// Commits of `history` whose trailer is this round's id.
    fn with_id(&self, history: &[(String, String)]) -> Vec<String> {
        let tag = format!("corr_{}", self.corr);
        history
            .iter()
            .filter(|(_, id)| *id == tag)
            .map(|(sha, _)| sha.clone())
            .collect()
    }
}

/// Kills the round's commit after a random delay below `normal`, checks the store, re-runs
/// it and checks it landed exactly once, on top of `before` commits of history.
fn kill_and_rerun(
    env: &Env,
    round: &Round<'_>,
    rng: &mut Rng,
    normal: &mut Duration,
    tally: &mut Tally,
) {
    let before = round.history(env).len();
    let ended = kill_after(round.cmd(env), rng.delay(*normal));
    tally.record(ended);
    assert_sound(env, round.store);
    let history = round.history(env);
    let landed = round.with_id(&history);
    assert!(landed.len() <= 1, "the killed run made {landed:?}");
    assert_eq!(
        history.len(),
        before + landed.len(),
        "no earlier version lost"
    );
    if let Ended::Finished(code) = ended {
        assert_eq!(code, 0, "a run that finished before the kill failed");
    }
    tally.landed_before_kill += landed.len();
    let locks = lock_files(round.store);
    tally.locks_left += usize::from(!locks.is_empty());

    let (took, stdout) = timed_ok(round.cmd(env));
    tally.rerun(&locks, took);
    if !locks.is_empty() {
        assert_within_bound(&locks, took, *normal);
    }
    if landed.is_empty() && locks.is_empty() {
        // A whole uncrashed run: the load of a shared machine drifts, so the kill delays
        // follow a moving average of the run's real length.
        *normal = (*normal * 3 + took) / 4;
    }
    let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        out["duplicate"],
        !landed.is_empty(),
        "the re-run reports a duplicate exactly when the killed run had landed: {out}"
    );
    let history = round.history(env);
    let now = round.with_id(&history);
    assert_eq!(now.len(), 1, "one commit for {} on the branch", round.corr);
    assert_eq!(history.len(), before + 1, "no earlier version lost");
    assert_eq!(history[0].0, now[0], "it is the tip");
    assert_eq!(out["commit_sha"], now[0].as_str());
    let refs = peeled_refs(env, round.store);
    for tag in [format!("corr_{}", round.corr), format!("prompt_{PROMPT}")] {
        let at = refs.get(&format!("refs/tags/{tag}"));
        assert_eq!(at, Some(&now[0]), "{tag} names the commit");
    }
    // A commit killed while rolling packs together leaves the repack lock. It blocks no
    // commit, only the next roll-up, and the first commit after the stale bound removes
    // it (checked at the end of the scenario).
    let left: Vec<_> = lock_files(round.store)
        .into_iter()
        .filter(|lock| !lock.ends_with("artifact-store-repack.lock"))
        .collect();
    assert!(left.is_empty(), "the re-run left {left:?}");
}

/// Every tag with the commit it peels to.
fn peeled_refs(env: &Env, store: &Path) -> std::collections::HashMap<String, String> {
    env.git_in(
        store,
        &[
            "for-each-ref",
            "--format=%(refname) %(*objectname)",
            "refs/tags/",
        ],
    )
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(name, oid)| (name.to_string(), oid.to_string()))
    .collect()
}

fn small_files(env: &Env, i: usize) -> Vec<PathBuf> {
    (0..5)
        .map(|f| {
            let line = format!("round {i} file {f} {}\n", "x".repeat(60));
            env.write(&format!("small/{i}/f{f}.csv"), line.repeat(160))
        })
        .collect()
}

#[test]
fn commits_of_small_sets_killed_at_random_moments_land_exactly_once_on_rerun() {
    let env = Env::new();
    let store = env.store();
    let mut rng = Rng::new("small commits");
    let round = |i: usize| Round {
        store: &store,
        task: "t",
        corr: format!("small{i}"),
        files: small_files(&env, i),
        secs: EPOCH + 60 * i as i64,
    };
    let (mut normal, _) = timed_ok(round(0).cmd(&env));
    eprintln!("small commits: an uncrashed run takes {normal:?}");
    let target = SMALL_KILLS * scale();
    let mut tally = Tally::default();
    let mut i = 0;
    while tally.killed < target {
        i += 1;
        assert!(i <= target * 3, "too few runs were still alive at the kill");
        kill_and_rerun(&env, &round(i), &mut rng, &mut normal, &mut tally);
    }
    tally.print("small commits");
    std::thread::sleep(Duration::from_secs(STALE_SECS + 1));
    timed_ok(round(i + 1).cmd(&env));
    let left = lock_files(&store);
    assert!(
        left.is_empty(),
        "a commit past the stale bound left {left:?}"
    );
}

/// Writes a 48 MB CSV-like file (distinct lines, compressible like real data).
fn big_file(env: &Env) -> PathBuf {
    use std::io::Write;
    let path = env.path("big/trades.csv");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut rng = Rng::seeded(0x9e37_79b9_7f4a_7c15);
    let mut written = 0;
    let mut n = 0u64;
    while written < 48 << 20 {
        let (a, b) = (rng.next(), rng.next());
        let line = format!("{n},{:08x},{:04x},{}\n", a >> 32, b & 0xffff, a % 1000);
        out.write_all(line.as_bytes()).unwrap();
        written += line.len();
        n += 1;
    }
    out.flush().unwrap();
    path
}

fn big_round<'a>(env: &Env, big: &Path, store: &'a Path, i: usize) -> Round<'a> {
    let note = env.write(&format!("big/{i}/run.txt"), format!("round {i}\n"));
    Round {
        store,
        task: "big",
        corr: format!("big{i}"),
        files: vec![big.to_path_buf(), note],
        secs: EPOCH + 60 * i as i64,
    }
}

#[test]
fn commits_of_50_mb_sets_killed_at_random_moments_land_exactly_once_on_rerun() {
    let env = Env::new();
    let big = big_file(&env);
    let mut rng = Rng::new("50 MB commits");
    // A fresh store per round keeps each fsck to one 50 MB blob.
    let fresh = |i: usize| -> PathBuf {
        let store = env.store_at(&format!("big{i}.git"));
        let seed = Round {
            store: &store,
            task: "big",
            corr: format!("seed{i}"),
            files: small_files(&env, 0),
            secs: EPOCH,
        };
        timed_ok(seed.cmd(&env));
        store
    };
    let first = fresh(0);
    let (mut normal, _) = timed_ok(big_round(&env, &big, &first, 0).cmd(&env));
    eprintln!("50 MB commits: an uncrashed run takes {normal:?}");
    std::fs::remove_dir_all(&first).unwrap();
    let target = BIG_KILLS * scale();
    let mut tally = Tally::default();
    let mut i = 0;
    while tally.killed < target {
        i += 1;
        assert!(i <= target * 3, "too few runs were still alive at the kill");
        let store = fresh(i);
        kill_and_rerun(
            &env,
            &big_round(&env, &big, &store, i),
            &mut rng,
            &mut normal,
            &mut tally,
        );
        std::fs::remove_dir_all(&store).unwrap();
    }
    tally.print("50 MB commits");
}

/// Commits `corr` with `PROMPT` at `secs` and returns the commit.
fn commit_small(env: &Env, store: &Path, corr: &str, secs: i64) -> String {
    let round = Round {
        store,
        task: "t",
        corr: corr.to_string(),
        files: small_files(env, secs as usize),
        secs,
    };
    let (_, stdout) = timed_ok(round.cmd(env));
    let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    out["commit_sha"].as_str().unwrap().to_string()
}

#[test]
fn a_prompt_tag_left_behind_by_a_crash_is_moved_forward_by_the_rerun() {
    let env = Env::new();
    let store = env.store();
    let first = commit_small(&env, &store, "one", EPOCH);
    let old_prompt = env.git_in(&store, &["rev-parse", &format!("prompt_{PROMPT}")]);
    let second = commit_small(&env, &store, "two", EPOCH + 60);
    // The state of a commit killed after its branch moved, before its tags were written.
    env.git_in(
        &store,
        &[
            "update-ref",
            &format!("refs/tags/prompt_{PROMPT}"),
            &old_prompt,
        ],
    );
    env.git_in(&store, &["update-ref", "-d", "refs/tags/corr_two"]);
    let round = Round {
        store: &store,
        task: "t",
        corr: "two".to_string(),
        files: small_files(&env, (EPOCH + 60) as usize),
        secs: EPOCH + 60,
    };
    let out = round.cmd(&env).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["duplicate"], true);
    assert_eq!(json["commit_sha"], second.as_str());
    let refs = peeled_refs(&env, &store);
    assert_eq!(refs[&format!("refs/tags/prompt_{PROMPT}")], second);
    assert_eq!(refs["refs/tags/corr_two"], second);
    assert_eq!(refs["refs/tags/corr_one"], first);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("repaired tag prompt_{PROMPT}")),
        "{stderr}"
    );

    // A duplicate of the older commit never moves the prompt tag back.
    let again = Round {
        corr: "one".to_string(),
        files: small_files(&env, EPOCH as usize),
        secs: EPOCH,
        ..round
    };
    timed_ok(again.cmd(&env));
    assert_eq!(
        peeled_refs(&env, &store)[&format!("refs/tags/prompt_{PROMPT}")],
        second
    );
    env.fsck(&store);
}

#[test]
fn a_stale_tag_lock_left_by_a_killed_commit_does_not_stop_the_tag_repair() {
    let env = Env::new();
    let store = env.store();
    let commit = commit_small(&env, &store, "one", EPOCH);
    env.git_in(&store, &["update-ref", "-d", "refs/tags/corr_one"]);
    let lock = store.join("refs/tags/corr_one.lock");
    common::old_lock(&lock, Duration::from_secs(STALE_SECS + 60));
    let round = Round {
        store: &store,
        task: "t",
        corr: "one".to_string(),
        files: small_files(&env, EPOCH as usize),
        secs: EPOCH,
    };
    let out = round.cmd(&env).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("removed a stale lock"), "{stderr}");
    assert!(stderr.contains("corr_one.lock"), "{stderr}");
    assert!(stderr.contains("repaired missing tag corr_one"), "{stderr}");
    assert_eq!(peeled_refs(&env, &store)["refs/tags/corr_one"], commit);
    assert!(lock_files(&store).is_empty());
    env.fsck(&store);
}
