//! Compare-and-swap ref updates with bounded, jittered retries and stale-lock recovery.
//!
//! docs/field-notes.md: under contention libgit2 reports `Modified` (someone moved the ref),
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

use super::ObjectId;
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

/// Time bounds of a compare-and-swap loop; the store builds it from its config
/// (`Store::lock_policy`).
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

/// Moves `refname` from its current value to what `build` returns for that value.
///
/// `build` sees the current target (`None` when the ref does not exist) and returns
/// `Continue(new)` to attempt the swap or `Break(r)` to stop without writing.
pub fn update<R>(
    repo: &Repository,
    refname: &str,
    log_message: &str,
    policy: LockPolicy,
    mut build: impl FnMut(Option<ObjectId>) -> Result<ControlFlow<R, ObjectId>>,
) -> Result<ControlFlow<R, (ObjectId, CasReport)>> {
    let deadline = Instant::now() + policy.timeout;
    let mut report = CasReport::default();
    let mut rng = Jitter::new();
    loop {
        let current = super::ref_oid(repo, refname)?;
        let new = match build(current)? {
            ControlFlow::Break(r) => return Ok(ControlFlow::Break(r)),
            ControlFlow::Continue(new) => new,
        };
        let (new_raw, current_raw) = (Oid::from(new), current.map(Oid::from));
        match super::swap::swap(repo, refname, new_raw, current_raw, log_message) {
            Ok(_) => return Ok(ControlFlow::Continue((new, report))),
            Err(e) if is_retryable(&e) => {
                if e.code() == ErrorCode::Locked {
                    if let Some(removed) = clear_finished_lock(repo, refname, policy) {
                        report.stale_locks_removed.push(removed);
                        continue;
                    }
                }
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
///
/// libgit2 gives a lock taken by another writer its own code (`Locked`), but a lock lost to
/// a concurrent directory removal only as class `Os`/`Filesystem`/`Reference` with the
/// generic code; for those alone its message is read.
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
    repo.commondir().join(format!("{refname}.lock"))
}

/// Removes `<ref>.lock` when it is a second name of the ref file itself (same inode), and no
/// bulk writer is alive; returns the removed path.
///
/// libgit2 moves a new ref into place by `link(lock, ref)` then `unlink(lock)` (its
/// `p_rename`), so a process killed between the two leaves a lock whose ref already holds
/// its value: the update it guarded is over, and for a ref nobody writes again (a trash
/// copy, a correlation tag) it would stay forever. No writer holds a lock that way while it
/// works, except the store's own ref pruning ([`super::loose::prune`]), which runs under
/// the gc lock: while a bulk writer is alive such a lock is left alone.
pub fn clear_finished_lock(
    repo: &Repository,
    refname: &str,
    policy: LockPolicy,
) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let lock = lock_path(repo, refname);
    let lock_meta = std::fs::symlink_metadata(&lock).ok()?;
    let ref_meta = std::fs::symlink_metadata(repo.commondir().join(refname)).ok()?;
    let same = lock_meta.dev() == ref_meta.dev() && lock_meta.ino() == ref_meta.ino();
    let bound = policy.stale_after.unwrap_or(DEFAULT_BULK_BOUND);
    if !same || (!policy.holds_gc_lock && bulk_writer_alive(repo, bound)) {
        return None;
    }
    std::fs::remove_file(&lock).ok().map(|()| lock)
}

/// Removes `<ref>.lock` when `update` would: a finished update's second name of the ref
/// file ([`clear_finished_lock`]), or a lock older than the policy's stale bound while no
/// bulk writer is alive. Returns the removed path; `None` when there was no lock to remove
/// or the lock stays (held by a live writer).
pub fn clear_lock(repo: &Repository, refname: &str, policy: LockPolicy) -> Result<Option<PathBuf>> {
    if let Some(removed) = clear_finished_lock(repo, refname, policy) {
        return Ok(Some(removed));
    }
    match policy.stale_after {
        Some(stale_after) => remove_if_stale(repo, refname, stale_after, policy.holds_gc_lock),
        None => Ok(None),
    }
}

/// Returns the lock file of `refname` in `repo`.
pub fn lock_file(repo: &Repository, refname: &str) -> PathBuf {
    lock_path(repo, refname)
}

/// How recently a bulk writer must have touched [`GC_LOCK_FILE`] to count as alive, for a
/// policy that never breaks stale locks.
const DEFAULT_BULK_BOUND: Duration = Duration::from_secs(10);

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
    std::fs::metadata(repo.commondir().join(GC_LOCK_FILE))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::repo_with_commit;

    const REF: &str = "refs/tags/corr_x";

    fn policy() -> LockPolicy {
        LockPolicy {
            stale_after: Some(Duration::from_secs(600)),
            timeout: Duration::from_millis(300),
            holds_gc_lock: false,
        }
    }

    /// What a process killed inside libgit2's `p_rename` leaves: the ref, and its lock as a
    /// second name of the same file.
    fn killed_between_link_and_unlink(repo: &Repository, commit: Oid) -> PathBuf {
        repo.reference(REF, commit, true, "t").unwrap();
        let lock = lock_path(repo, REF);
        std::fs::hard_link(repo.path().join(REF), &lock).unwrap();
        lock
    }

    #[test]
    fn a_lock_left_between_link_and_unlink_is_cleared_at_once_not_after_the_stale_bound() {
        let (_dir, repo, commit) = repo_with_commit();
        let lock = killed_between_link_and_unlink(&repo, commit);
        let result = update(&repo, REF, "t", policy(), |current| {
            assert_eq!(current, Some(commit.into()));
            Ok(ControlFlow::<(), ObjectId>::Continue(commit.into()))
        })
        .unwrap();
        let ControlFlow::Continue((_, report)) = result else {
            panic!("not landed")
        };
        assert_eq!(report.stale_locks_removed, std::slice::from_ref(&lock));
        assert!(!lock.exists());
    }

    #[test]
    fn a_lock_of_its_own_or_under_a_live_bulk_writer_is_left_alone() {
        let (_dir, repo, commit) = repo_with_commit();
        repo.reference(REF, commit, false, "t").unwrap();
        // A writer at work: its lock is a file of its own.
        let lock = lock_path(&repo, REF);
        std::fs::write(&lock, format!("{commit}\n")).unwrap();
        assert_eq!(clear_finished_lock(&repo, REF, policy()), None);
        let held = update(&repo, REF, "t", policy(), |_| {
            Ok(ControlFlow::<(), ObjectId>::Continue(commit.into()))
        });
        assert!(matches!(held, Err(Error::Locked { .. })), "{held:?}");
        std::fs::remove_file(&lock).unwrap();

        // Ref pruning holds its locks as links, under a fresh gc lock.
        let lock = killed_between_link_and_unlink(&repo, commit);
        std::fs::write(repo.path().join(GC_LOCK_FILE), "").unwrap();
        assert_eq!(clear_finished_lock(&repo, REF, policy()), None);
        assert!(lock.exists());
        std::fs::remove_file(repo.path().join(GC_LOCK_FILE)).unwrap();
        assert_eq!(clear_finished_lock(&repo, REF, policy()), Some(lock));
    }
}
