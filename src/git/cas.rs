//! Compare-and-swap ref updates with bounded, jittered retries and stale-lock recovery.
//!
//! FIELD-NOTES.md: under contention libgit2 reports `Modified` (someone moved the ref),
//! `Locked` (someone holds `<ref>.lock`), and transient "failed to make directory" /
//! "failed to create locked file" errors when another process prunes an empty ref
//! directory. All are retried. A lock older than `stale_after` is taken as left by a
//! killed process and removed; one that never goes stale ends in [`Error::Locked`].
//!
//! The exception: while a bulk writer (gc, trash restore or purge) is alive, its per-ref
//! locks are never removed, however old. It proves it is alive by touching
//! [`GC_LOCK_FILE`] every half second; a gc transaction over 60k refs can hold its locks
//! for longer than the stale bound, and breaking one would let a commit land on a ref
//! that the transaction then deletes.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use git2::{ErrorClass, ErrorCode, Oid, Repository};

use crate::error::{Error, Result};

/// The bulk writers' lock, in the git dir, refreshed while held.
pub const GC_LOCK_FILE: &str = "artifact-store-gc.lock";

/// What a compare-and-swap loop did besides landing the update.
#[derive(Debug, Default, Clone)]
pub struct CasReport {
    /// Attempts that lost a race and were rebuilt.
    pub retries: u32,
    /// Lock files removed because they were older than the stale bound.
    pub stale_locks_removed: Vec<PathBuf>,
}

/// Time bounds of a compare-and-swap loop.
#[derive(Debug, Clone, Copy)]
pub struct LockPolicy {
    /// A lock older than this is removed; `None` never removes one.
    pub stale_after: Option<Duration>,
    /// Retrying stops after this long.
    pub timeout: Duration,
    /// The caller is the bulk writer holding [`GC_LOCK_FILE`]: its own fresh gc lock does
    /// not stop it from removing a stale lock (one left by the killed bulk writer before it).
    pub holds_gc_lock: bool,
}

impl LockPolicy {
    /// The policy of a writer that does not hold the gc lock, from the config.
    pub fn of(config: &crate::config::Config) -> LockPolicy {
        LockPolicy {
            stale_after: (config.stale_lock_seconds > 0)
                .then(|| Duration::from_secs(config.stale_lock_seconds)),
            timeout: Duration::from_secs(config.lock_timeout),
            holds_gc_lock: false,
        }
    }
}

/// Moves `refname` from its current value to what `build` returns for that value.
///
/// `build` sees the current target (`None` when the ref does not exist) and returns
/// `Continue(new)` to attempt the swap or `Break(r)` to stop without writing.
pub fn update<R>(
    repo: &Repository,
    refname: &str,
    log_message: &str,
    policy: LockPolicy,
    mut build: impl FnMut(Option<Oid>) -> Result<ControlFlow<R, Oid>>,
) -> Result<ControlFlow<R, (Oid, CasReport)>> {
    let deadline = Instant::now() + policy.timeout;
    let mut report = CasReport::default();
    let mut rng = Jitter::new();
    loop {
        let current = super::ref_oid(repo, refname)?;
        let new = match build(current)? {
            ControlFlow::Break(r) => return Ok(ControlFlow::Break(r)),
            ControlFlow::Continue(new) => new,
        };
        match super::swap::swap(repo, refname, new, current, log_message) {
            Ok(_) => return Ok(ControlFlow::Continue((new, report))),
            Err(e) if is_retryable(&e) => {
                if let (ErrorCode::Locked, Some(stale_after)) = (e.code(), policy.stale_after) {
                    let stale = remove_if_stale(repo, refname, stale_after, policy.holds_gc_lock)?;
                    if let Some(removed) = stale {
                        report.stale_locks_removed.push(removed);
                        continue;
                    }
                }
                if Instant::now() >= deadline {
                    return Err(lock_error(repo, refname, e));
                }
                report.retries += 1;
                std::thread::sleep(rng.backoff(report.retries));
            }
            Err(e) => return Err(Error::git(format!("failed to update {refname}"))(e)),
        }
    }
}

/// Returns whether a ref update error is a lost race rather than a real failure.
pub fn is_retryable(e: &git2::Error) -> bool {
    match e.code() {
        ErrorCode::Modified | ErrorCode::Locked | ErrorCode::Exists => true,
        _ => {
            matches!(
                e.class(),
                ErrorClass::Os | ErrorClass::Filesystem | ErrorClass::Reference
            ) && (e.message().contains("failed to make directory")
                || e.message().contains("failed to create locked file")
                || e.message().contains("failed to lock"))
        }
    }
}

fn lock_path(repo: &Repository, refname: &str) -> PathBuf {
    repo.path().join(format!("{refname}.lock"))
}

fn remove_if_stale(
    repo: &Repository,
    refname: &str,
    stale_after: Duration,
    holds_gc_lock: bool,
) -> Result<Option<PathBuf>> {
    let lock = lock_path(repo, refname);
    let Ok(meta) = std::fs::metadata(&lock) else {
        return Ok(None);
    };
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    if age < stale_after || (!holds_gc_lock && bulk_writer_alive(repo, stale_after)) {
        return Ok(None);
    }
    match std::fs::remove_file(&lock) {
        Ok(()) => Ok(Some(lock)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("failed to remove stale lock", lock)(e)),
    }
}

/// Whether a gc, trash restore or purge holds [`GC_LOCK_FILE`] and touched it within
/// `stale_after`.
fn bulk_writer_alive(repo: &Repository, stale_after: Duration) -> bool {
    std::fs::metadata(repo.path().join(GC_LOCK_FILE))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| {
            SystemTime::now()
                .duration_since(m)
                .ok()
                .or(Some(Duration::ZERO))
        })
        .is_some_and(|age| age < stale_after)
}

fn lock_error(repo: &Repository, refname: &str, e: git2::Error) -> Error {
    let lock = lock_path(repo, refname);
    if lock.exists() {
        Error::Locked {
            refname: refname.to_string(),
            lock,
        }
    } else {
        Error::Conflict {
            message: format!("{refname} kept moving; gave up after the retry bound"),
            hint: Some(format!("try again; libgit2 said: {}", e.message())),
        }
    }
}

/// A small xorshift generator for retry jitter; no need for a crypto-grade source here.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Jitter(nanos ^ (u64::from(std::process::id()) << 32) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Sleeps up to 2^attempt ms, capped at 50 ms, at least 1 ms.
    fn backoff(&mut self, attempt: u32) -> Duration {
        let cap = (1u64 << attempt.min(6)).min(50);
        Duration::from_millis(1 + self.next() % cap)
    }
}
