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

/// Kills of `compact` while it streams large versions into deltas.
const LARGE_KILLS: usize = 10;

/// Writes version `n` of a growing log above the 32 MiB streaming bound of consolidation:
/// 36 MiB of rows, then `n` MiB more; version `n` is a prefix of version `n + 1`.
fn large_version(env: &Env, n: usize) -> std::path::PathBuf {
    use std::io::Write;
    let path = env.path(&format!("large{n}/big.log"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let size = (36 + n as u64) << 20;
    let mut written = 0u64;
    let mut row = 0u64;
    while written < size {
        let line = format!(
            "{row},2026-11-23T01:{:02}:{:02}Z,{:016x},{}\n",
            row % 60,
            row / 60 % 60,
            row.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            row % 977
        );
        let take = (size - written).min(line.len() as u64) as usize;
        out.write_all(&line.as_bytes()[..take]).unwrap();
        written += take as u64;
        row += 1;
    }
    out.flush().unwrap();
    path
}

fn commit_large(env: &Env, store: &Path, n: usize) {
    let file = large_version(env, n);
    let corr = format!("l{n}");
    let s = store.to_str().unwrap();
    let args = [
        "--repo",
        s,
        "--json",
        "commit",
        "-w",
        "wf",
        "-t",
        "big",
        "--correlation-id",
        &corr,
        file.to_str().unwrap(),
    ];
    env.run(&args).ok();
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}

/// Streamed deltas of large blobs: a kill at any moment leaves the store sound, no
/// temporary file behind (the deltas wait in unnamed ones), every version verifying, and
/// the next run finishes the work: the older versions end as deltas.
#[test]
fn compact_of_large_versions_killed_at_random_moments_loses_nothing() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let mut rng = Rng::new("compact-large");
    commit_large(&env, &store, 0);
    commit_large(&env, &store, 1);
    let normal = compact_past_locks(&env, &store);
    let mut tally = Tally::default();
    let mut n = 2;
    while tally.killed < LARGE_KILLS * scale() {
        commit_large(&env, &store, n);
        n += 1;
        let ended = kill_after(compact_cmd(&env, &store), rng.delay(normal));
        tally.record(ended);
        if ended != Ended::Killed {
            continue;
        }
        assert_sound(&env, &store);
        let leftovers: Vec<_> = std::fs::read_dir(store.join("objects"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| e.file_name())
            .collect();
        assert!(
            leftovers.is_empty(),
            "files left in objects/: {leftovers:?}"
        );
        env.run(&["--repo", s, "verify", &format!("corr_l{}", n - 1)])
            .ok();
    }
    tally.print("compact of large versions");
    compact_past_locks(&env, &store);
    assert_sound(&env, &store);
    for v in 0..n {
        env.run(&["--repo", s, "verify", &format!("corr_l{v}")])
            .ok();
    }
    let counts = env.git_in(&store, &["count-objects", "-v"]);
    assert!(counts.lines().any(|l| l == "count: 0"), "{counts}");
    let stats = env.run(&["--repo", s, "--json", "stats"]).ok().json();
    assert!(
        stats["storage"]["ratio"].as_f64().unwrap() > f64::from(n as u32) / 2.0,
        "{n} versions: {stats}"
    );
}
