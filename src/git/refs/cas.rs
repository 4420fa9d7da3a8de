//! Compare-and-swap of one ref, with bounded, jittered retries and dead-lock recovery.
//!
//! docs/field-notes.md: under contention libgit2 reports `Modified` (someone moved the ref),
//! `Locked` (someone holds `<ref>.lock`), and transient "failed to make directory" /
//! "failed to create locked file" errors when another process prunes an empty ref
//! directory. All are retried, waiting by the one [`Backoff`]. A lock is broken by the one
//! rule of [`super::lock`]; one that never goes stale ends in [`Error::Locked`].

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use git2::{ErrorClass, ErrorCode, Repository};

use crate::git::ObjectId as Oid;

use super::lock::{Backoff, Lock, LockPolicy};
use crate::error::{Error, Result};

/// What a compare-and-swap loop did besides landing the update.
#[derive(Debug, Default, Clone)]
pub struct CasReport {
    /// Attempts that lost a race and were rebuilt.
    pub retries: u32,
    /// Lock files removed because they were older than the stale bound.
    pub stale_locks_removed: Vec<PathBuf>,
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
    let mut backoff = Backoff::new();
    let lock = Lock::of(repo.commondir(), refname);
    loop {
        let current = super::swap::read(repo, refname)
            .map_err(Error::git(format!("failed to read {refname}")))?;
        let new = match build(current)? {
            ControlFlow::Break(r) => return Ok(ControlFlow::Break(r)),
            ControlFlow::Continue(new) => new,
        };
        match super::swap::swap(repo, refname, new, current, log_message) {
            Ok(()) => return Ok(ControlFlow::Continue((new, report))),
            Err(e) if is_retryable(&e) => {
                if e.code() == ErrorCode::Locked {
                    if let Some(removed) = lock.break_if_dead(policy)? {
                        report.stale_locks_removed.push(removed);
                        continue;
                    }
                }
                if Instant::now() >= deadline {
                    return Err(lock_error(&lock, refname, e));
                }
                report.retries += 1;
                backoff.wait();
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

fn lock_error(lock: &Lock, refname: &str, e: git2::Error) -> Error {
    if lock.path().exists() {
        lock.held()
    } else {
        Error::Conflict {
            message: format!("{refname} kept moving; gave up after the retry bound"),
            hint: Some(format!("try again; libgit2 said: {}", e.message())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::lock::GC_LOCK_FILE;
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
    fn killed_between_link_and_unlink(repo: &Repository, commit: git2::Oid) -> PathBuf {
        repo.reference(REF, commit, true, "t").unwrap();
        let lock = Lock::of(repo.path(), REF).path();
        std::fs::hard_link(repo.path().join(REF), &lock).unwrap();
        lock
    }

    #[test]
    fn a_lock_left_between_link_and_unlink_is_cleared_at_once_not_after_the_stale_bound() {
        let (_dir, repo, commit) = repo_with_commit();
        let lock = killed_between_link_and_unlink(&repo, commit);
        let result = update(&repo, REF, "t", policy(), |current| {
            assert_eq!(current, Some(commit.into()));
            Ok(ControlFlow::<(), Oid>::Continue(commit.into()))
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
        let lock = Lock::of(repo.path(), REF).path();
        std::fs::write(&lock, format!("{commit}\n")).unwrap();
        assert!(!Lock::of(repo.path(), REF).is_finished_link(policy()));
        let held = update(&repo, REF, "t", policy(), |_| {
            Ok(ControlFlow::<(), Oid>::Continue(commit.into()))
        });
        assert!(matches!(held, Err(Error::Locked { .. })), "{held:?}");
        std::fs::remove_file(&lock).unwrap();

        // Ref pruning holds its locks as links, under a fresh gc lock.
        let lock = killed_between_link_and_unlink(&repo, commit);
        std::fs::write(repo.path().join(GC_LOCK_FILE), "").unwrap();
        assert!(!Lock::of(repo.path(), REF).is_finished_link(policy()));
        assert!(lock.exists());
        std::fs::remove_file(repo.path().join(GC_LOCK_FILE)).unwrap();
        assert_eq!(
            Lock::of(repo.path(), REF).break_if_dead(policy()).unwrap(),
            Some(lock)
        );
    }
}
