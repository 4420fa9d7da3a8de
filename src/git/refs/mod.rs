//! The one way to write, and to read, the store's refs.
//!
//! Every ref the store changes goes through [`RefDb`]: a compare-and-swap of one ref
//! ([`RefDb::update`], [`RefDb::swap`], [`RefDb::delete`]), a transaction of many
//! ([`RefDb::edit`], on gix-ref: one `packed-refs` rewrite for the batch), and the
//! `packed-refs` fast path for bulk writes of names only the gc-lock holder writes
//! ([`RefDb::add_packed`], [`RefDb::remove_packed`], [`RefDb::pack_loose`]). All of them
//! take `<name>.lock` first and treat a lock in their way by the one rule of [`lock`]: one
//! [`Lock`] type, one staleness rule, one [`Backoff`]. Refs are read by [`RefDb::read`]
//! (one ref) and [`RefDb::with_prefix`] (a binary search of the sorted `packed-refs` plus
//! the loose files under the prefix), and `packed-refs` is parsed by one reader,
//! [`format`], for both reading and rewriting.
//!
//! docs/field-notes.md says why batches go through gix-ref rather than libgit2 (libgit2
//! rewrites `packed-refs` once per deleted ref, and concurrent libgit2 deleters resurrect
//! each other's deletions); docs/performance.md and docs/scaling.md hold the measurements
//! behind the fast paths. No file outside this module writes a ref (a test checks it).
//!
//! Refs, their locks and `packed-refs` are in the repository's common directory: a store
//! opened from a linked worktree reads and writes the same refs as from its main one.

mod cas;
mod format;
pub mod lock;
pub(crate) mod loose;
mod packed;
mod scan;
mod swap;
mod tx;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use git2::Repository;

use crate::git::ObjectId as Oid;

use crate::error::{Error, Result};

pub use cas::{is_retryable, CasReport};
pub use lock::{Backoff, GcLock, Lock, LockPolicy};
pub use loose::LOOSE_REFS_PACK_THRESHOLD;
pub use packed::NewRef;
pub use tx::{Mode, Outcome, RefChange, TxOptions};

/// What a single compare-and-swap attempt ([`RefDb::swap`], [`RefDb::delete`]) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swapped {
    /// The ref held the expected value and now holds the new one (or is gone).
    Done,
    /// Another writer held the lock or moved the ref first: nothing was written.
    Raced,
}

/// The refs of one repository: every read and write of a ref goes through here.
#[derive(Clone, Copy)]
pub struct RefDb<'r> {
    repo: &'r Repository,
}

impl<'r> RefDb<'r> {
    /// The refs of `repo`.
    pub fn new(repo: &'r Repository) -> RefDb<'r> {
        RefDb { repo }
    }

    fn gitdir(&self) -> &'r Path {
        self.repo.commondir()
    }

    /// The id `name` holds directly (a tag object for an annotated tag); `None` when it
    /// does not exist.
    #[allow(dead_code)] // the one-ref read of the surface; today's callers resolve through ref_target
    pub fn read(&self, name: &str) -> Result<Option<Oid>> {
        swap::read(self.repo, name).map_err(Error::git(format!("failed to read {name}")))
    }

    /// Every direct ref whose name starts with `prefix`, `(name, id)`, sorted by name.
    pub fn with_prefix(&self, prefix: &str) -> Result<Vec<(String, Oid)>> {
        scan::refs_with_prefix(self.gitdir(), prefix)
    }

    /// [`RefDb::with_prefix`], with what each finally names when `packed-refs` records it
    /// (`None`: the caller peels).
    pub fn with_prefix_peeled(&self, prefix: &str) -> Result<Vec<(String, Oid, Option<Oid>)>> {
        scan::refs_with_prefix_peeled(self.gitdir(), prefix)
    }

    /// Moves `name` from its current value to what `build` returns for it, retrying lost
    /// races and breaking dead locks by `policy` (compare-and-swap loop).
    pub fn update<R>(
        &self,
        name: &str,
        log: &str,
        policy: LockPolicy,
        build: impl FnMut(Option<Oid>) -> Result<ControlFlow<R, Oid>>,
    ) -> Result<ControlFlow<R, (Oid, CasReport)>> {
        cas::update(self.repo, name, log, policy, build)
    }

    /// One attempt to move `name` from `expected` (`None`: it must not exist) to `new`.
    pub fn swap(&self, name: &str, expected: Option<Oid>, new: Oid, log: &str) -> Result<Swapped> {
        match swap::swap(self.repo, name, new, expected, log) {
            Ok(()) => Ok(Swapped::Done),
            Err(e) if is_retryable(&e) => Ok(Swapped::Raced),
            Err(e) => Err(Error::git(format!("failed to update {name}"))(e)),
        }
    }

    /// One attempt to delete `name` while it holds `expected`, loose and packed.
    pub fn delete(&self, name: &str, expected: Oid) -> Result<Swapped> {
        match swap::delete(self.repo, name, expected) {
            Ok(()) => Ok(Swapped::Done),
            Err(e) if is_retryable(&e) => Ok(Swapped::Raced),
            Err(e) => Err(Error::git(format!("failed to delete {name}"))(e)),
        }
    }

    /// Applies `groups` of edits in one transaction (see [`Mode`]).
    pub fn edit(&self, groups: &[Vec<RefChange>], opts: TxOptions) -> Result<Outcome> {
        tx::transact(self.repo, groups, opts)
    }

    /// Writes `refs` straight into `packed-refs` in one rewrite, never overwriting a name;
    /// for names only the gc-lock holder writes. Returns whether each was written.
    pub fn add_packed(&self, refs: &[NewRef], locks: LockPolicy) -> Result<Vec<bool>> {
        packed::add(self.repo, refs, locks)
    }

    /// Removes the `packed-refs` entries of `refs` that hold the value given; returns how
    /// many went.
    pub fn remove_packed(&self, refs: &[(String, Oid)], locks: LockPolicy) -> Result<usize> {
        packed::remove(self.repo, refs, locks)
    }

    /// Packs every loose ref, as `git pack-refs --all --prune`; returns how many loose
    /// files went. The caller holds the gc lock.
    pub fn pack_loose(&self, locks: LockPolicy) -> Result<usize> {
        packed::pack_loose(self.repo, locks)
    }

    /// How many loose ref files there are.
    pub fn count_loose(&self) -> usize {
        loose::count_loose_refs(self.gitdir())
    }

    /// Names of the loose refs under `dir`, and of those whose lock is held there.
    pub fn loose_names_under(&self, dir: &str) -> Vec<String> {
        loose::names_under(self.gitdir(), dir)
    }

    /// An existing ref that keeps `name` from being created (a parent or a child name).
    pub fn collision(&self, name: &str) -> Result<Option<String>> {
        swap::collision(self.repo, name).map_err(Error::git(format!(
            "failed to look for refs in the way of {name}"
        )))
    }

    /// The lock of `name`.
    pub fn lock(&self, name: &str) -> Lock {
        Lock::of(self.gitdir(), name)
    }

    /// Removes the lock of `name` when it is dead by the rule; returns its path then.
    pub fn break_dead_lock(&self, name: &str, policy: LockPolicy) -> Result<Option<PathBuf>> {
        self.lock(name).break_if_dead(policy)
    }

    /// Removes the lock of `name` when it is a finished link (a killed update that had
    /// already landed); returns its path then.
    pub fn clear_finished_lock(&self, name: &str, policy: LockPolicy) -> Option<PathBuf> {
        self.lock(name).break_if_finished(policy)
    }
}
