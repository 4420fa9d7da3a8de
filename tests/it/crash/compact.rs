//! `compact` killed at random moments of its life while commits land beside it. After each
//! kill the store passes `git fsck --strict`, every acknowledged commit and tag reads, the
//! newest version exports whole, and the next consolidation gets past the dead one's lock
//! within the stale-lock bound.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{Env, Rng};
use super::support::{assert_sound, kill_after, lock_env, scale, Ended, Tally, SLACK};

/// Kills of `compact` in a default run.
const COMPACT_KILLS: usize = 50;
/// Rows of the first version of the growing set (each file about 100 KB).
const ROWS: usize = 3000;

/// The stale-lock bound of the consolidations here: a killed one's lock costs the next
/// this long, and 50 of them would otherwise add a minute and a half to the suite.
const COMPACT_STALE_SECS: u64 = 1;

fn compact_cmd(env: &Env, store: &Path) -> Command {
    let mut cmd = env.cmd(&["--repo", store.to_str().unwrap(), "--json", "compact"]);
    lock_env(&mut cmd).env(
        "ARTIFACT_STORE_STALE_LOCK_SECONDS",
        COMPACT_STALE_SECS.to_string(),
    );
    cmd
}

/// Spawns the commit of version `n` (not killed): commits land beside the consolidation.
fn spawn_commit(env: &Env, store: &Path, n: usize) -> std::process::Child {
    let dir = format!("set{n}");
    let files = crate::compact::growing_set(env, &dir, n, ROWS);
    let corr = format!("c{n}");
    let mut args = vec![
        "--repo",
        store.to_str().unwrap(),
        "--json",
        "commit",
        "-w",
        "wf",
        "-t",
        "t",
        "--correlation-id",
        &corr,
    ];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let mut cmd = env.cmd(&args);
    lock_env(&mut cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a commit")
}

/// Runs `compact` until it is not turned away by a lock; returns how long that took.
fn compact_past_locks(env: &Env, store: &Path) -> Duration {
    let start = Instant::now();
    loop {
        let out = compact_cmd(env, store)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "compact failed after a kill: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if json["skipped"] != "another consolidation is running" {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the repack lock never went stale"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn compact_killed_at_random_moments_with_commits_beside_it_loses_nothing() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let mut rng = Rng::new("compact");
    let mut n = 0;
    for _ in 0..4 {
        let mut c = spawn_commit(&env, &store, n);
        assert!(c.wait().unwrap().success());
        n += 1;
    }
    // An uncrashed consolidation of the same kind of work, to spread the kills over.
    let mut c = spawn_commit(&env, &store, n);
    assert!(c.wait().unwrap().success());
    n += 1;
    let normal = compact_past_locks(&env, &store);
    let mut tally = Tally::default();
    let mut acknowledged = Vec::new();
    let kills = COMPACT_KILLS * scale();
    let mut slowest = Duration::ZERO;
    while tally.killed < kills {
        // Two new versions: one before, one beside the run to kill.
        let mut before = spawn_commit(&env, &store, n);
        assert!(before.wait().unwrap().success());
        acknowledged.push(n);
        n += 1;
        let beside = spawn_commit(&env, &store, n);
        let delay = rng.delay(normal);
        let ended = kill_after(compact_cmd(&env, &store), delay);
        tally.record(ended);
        let out = beside.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a commit beside the killed consolidation failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        acknowledged.push(n);
        n += 1;
        if ended != Ended::Killed {
            continue;
        }
        assert_sound(&env, &store);
        for v in &acknowledged {
            env.git_in(
                &store,
                &["cat-file", "-e", &format!("corr_c{v}^{{commit}}")],
            );
        }
        let lock = store.join("artifact-store-repack.lock").exists();
        if lock {
            tally.locks_left += 1;
        }
        let took = compact_past_locks(&env, &store);
        let bound = Duration::from_secs(COMPACT_STALE_SECS) + normal * 3 + SLACK;
        assert!(
            took <= bound,
            "the next consolidation took {took:?} past a dead one's lock; bound {bound:?}"
        );
        if lock {
            slowest = slowest.max(took);
        }
        // Every so often, every version exports whole.
        if tally.killed % 10 == 0 {
            env.run(&["--repo", s, "verify", &format!("corr_c{}", n - 1)])
                .ok();
            env.run(&["--repo", s, "verify", "corr_c0"]).ok();
        }
    }
    tally.slowest_rerun_with_locks = slowest;
    tally.print("compact");
    assert_sound(&env, &store);
    for v in 0..n {
        env.run(&["--repo", s, "verify", &format!("corr_c{v}")])
            .ok();
    }
    let staging = store.join("objects/artifact-store-incoming");
    let stats = env.run(&["--repo", s, "--json", "stats"]).ok().json();
    assert!(
        stats["storage"]["ratio"].as_f64().unwrap() > 3.0,
        "{stats}; staging {staging:?}"
    );
}
