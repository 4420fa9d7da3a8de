//! What every crash scenario shares: a seeded random source, a run killed with SIGKILL
//! after a delay, and the checks a store must pass after any kill.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common::Env;

/// The stale-lock bound the scenarios run with (`ARTIFACT_STORE_STALE_LOCK_SECONDS`).
pub const STALE_SECS: u64 = 2;

/// The lock timeout the scenarios run with (`ARTIFACT_STORE_LOCK_TIMEOUT`): far above the
/// bound checked, so a run that waited for a lock to be released rather than for it to go
/// stale shows up as a run that took a minute (or failed).
pub const LOCK_TIMEOUT_SECS: u64 = 60;

/// Slack on top of the stale-lock bound and the run's own time, for a loaded 2-core machine.
pub const SLACK: Duration = Duration::from_secs(8);

/// Sets the stale-lock bound and the lock timeout of the scenarios on `cmd`.
pub fn lock_env(cmd: &mut Command) -> &mut Command {
    cmd.env("ARTIFACT_STORE_STALE_LOCK_SECONDS", STALE_SECS.to_string())
        .env("ARTIFACT_STORE_LOCK_TIMEOUT", LOCK_TIMEOUT_SECS.to_string())
}

/// The multiplier of every scenario's kill count (`ARTIFACT_STORE_CRASH_SCALE`, default 1).
pub fn scale() -> usize {
    std::env::var("ARTIFACT_STORE_CRASH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// How a run that was to be killed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// SIGKILL reached it while it ran.
    Killed,
    /// It finished before the delay was up, with this exit code.
    Finished(i32),
}

/// Spawns `cmd` (output discarded), sends SIGKILL after `delay` unless it ended already.
pub fn kill_after(mut cmd: Command, delay: Duration) -> Ended {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the run to kill");
    std::thread::sleep(delay);
    if let Some(status) = child.try_wait().expect("poll the child") {
        return Ended::Finished(status.code().unwrap_or(-1));
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    match status.code() {
        Some(code) => Ended::Finished(code),
        None => Ended::Killed,
    }
}

/// Runs `cmd` to the end and returns how long it took, asserting success.
#[track_caller]
pub fn timed_ok(mut cmd: Command) -> (Duration, String) {
    let start = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().expect("run");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (took, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every `*.lock` file in the git directory (refs, `packed-refs`, the gc lock, ...).
pub fn lock_files(gitdir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() && entry.file_name() != "objects" => walk(&path, out),
                Ok(t) if t.is_file() && path.extension().is_some_and(|e| e == "lock") => {
                    out.push(path)
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(gitdir, &mut out);
    out.sort();
    out
}

/// Asserts what must hold after any kill: `git fsck --strict` is clean, and every ref (heads,
/// tags, `refs/artifact-store/**`) reads without a warning and names an object that exists.
/// Returns every ref with its value.
#[track_caller]
pub fn assert_sound(env: &Env, store: &Path) -> Vec<(String, String)> {
    env.fsck(store);
    let s = store.to_str().unwrap();
    let listed = env.git(&["-C", s, "for-each-ref", "--format=%(objectname) %(refname)"]);
    assert_eq!(listed.code, 0, "for-each-ref failed: {}", listed.stderr);
    assert!(
        listed.stderr.trim().is_empty(),
        "a ref is broken: {}",
        listed.stderr
    );
    let refs: Vec<(String, String)> = listed
        .stdout
        .lines()
        .map(|l| {
            let (oid, name) = l.split_once(' ').unwrap();
            (name.to_string(), oid.to_string())
        })
        .collect();
    // From a file: a pipe both ways would deadlock once the output fills its buffer.
    let oids: String = refs.iter().map(|(_, oid)| format!("{oid}\n")).collect();
    let list = env.write("ref-values.txt", oids);
    let mut cmd = env.git_cmd(&["-C", s, "cat-file", "--batch-check"]);
    let out = cmd
        .stdin(std::fs::File::open(&list).unwrap())
        .output()
        .expect("run git cat-file");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked = String::from_utf8(out.stdout).unwrap();
    assert_eq!(checked.lines().count(), refs.len());
    for (line, (name, _)) in checked.lines().zip(&refs) {
        assert!(
            !line.ends_with("missing"),
            "{name} names a missing object: {line}"
        );
    }
    refs
}

/// Asserts a re-run that met `locks` left by a killed process finished within the
/// stale-lock bound (plus half a second of gc heartbeat, three times the run's own time and
/// slack for a loaded machine): it waited for the locks to go stale, not for the timeout.
#[track_caller]
pub fn assert_within_bound(locks: &[PathBuf], took: Duration, normal: Duration) {
    let bound = Duration::from_millis(STALE_SECS * 1000 + 500) + normal * 3 + SLACK;
    assert!(
        took <= bound,
        "the re-run took {took:?} with {} locks left by the killed run ({:?}, ...); bound {bound:?}",
        locks.len(),
        locks.iter().take(3).collect::<Vec<_>>()
    );
}

/// Counts of one scenario, printed at its end.
#[derive(Debug, Default)]
pub struct Tally {
    pub killed: usize,
    pub finished: usize,
    pub locks_left: usize,
    pub landed_before_kill: usize,
    /// The longest re-run that met a dead process's locks.
    pub slowest_rerun_with_locks: Duration,
}

impl Tally {
    pub fn record(&mut self, ended: Ended) {
        match ended {
            Ended::Killed => self.killed += 1,
            Ended::Finished(_) => self.finished += 1,
        }
    }

    /// Records a re-run's time when the killed run left locks.
    pub fn rerun(&mut self, locks: &[PathBuf], took: Duration) {
        if !locks.is_empty() {
            self.slowest_rerun_with_locks = self.slowest_rerun_with_locks.max(took);
        }
    }

    pub fn print(&self, scenario: &str) {
        eprintln!(
            "{scenario}: {} killed, {} finished before the kill, {} left locks, {} had landed; \
             slowest re-run past a dead process's locks {:?}",
            self.killed,
            self.finished,
            self.locks_left,
            self.landed_before_kill,
            self.slowest_rerun_with_locks
        );
    }
}
