//! Packs loose refs now and then after a commit, so that a store nobody runs `gc --apply`
//! on still keeps its refs in `packed-refs`.
//!
//! Every commit leaves a loose branch ref and one or two loose tags. Loose refs cost
//! nothing to look up one by one, but every listing (`list`, `gc`, git's own commands)
//! reads each loose file, and each takes an inode and a disk block: at 100,000 versions,
//! about 120,000 files (`docs/scaling.md`). One commit in [`CHECK_ONE_IN`] (chosen by its
//! id, which is as good as random) counts the loose refs; above
//! [`LOOSE_REFS_PACK_THRESHOLD`] it packs them, unless a bulk writer (gc, trash restore or
//! purge) holds the store's refs, which packs them itself.

use std::time::Duration;

use crate::git::ObjectId;

use crate::config::Durability;
use crate::error::Error;
use crate::git::durable;
use crate::git::refs::{GcLock, LockPolicy, RefDb, LOOSE_REFS_PACK_THRESHOLD};
use crate::store::Store;

/// One commit in this many counts the loose refs.
pub const CHECK_ONE_IN: u8 = 16;

/// How long the packing waits for `packed-refs.lock` before leaving it for another time.
const PACKED_REFS_WAIT: Duration = Duration::from_secs(1);

/// Packs the loose refs when `commit` is one that checks and they are over the threshold.
/// Returns a warning when packing failed; the commit has landed either way.
pub(super) fn after_commit(store: &Store, commit: ObjectId) -> Option<String> {
    if !commit.as_bytes()[0].is_multiple_of(CHECK_ONE_IN) {
        return None;
    }
    let refs = RefDb::new(store.repo());
    if refs.count_loose() <= LOOSE_REFS_PACK_THRESHOLD {
        return None;
    }
    let policy = store.lock_policy().bulk();
    let one_attempt = LockPolicy {
        timeout: Duration::ZERO,
        ..policy
    };
    let Ok(_lock) = GcLock::acquire(store.git_dir(), one_attempt) else {
        return None;
    };
    let locks = LockPolicy {
        timeout: PACKED_REFS_WAIT,
        ..policy
    };
    let packed = refs.pack_loose(locks).and_then(|n| {
        if n > 0 && store.config().durability == Durability::Fsync {
            durable::sync_ref(store.repo(), "packed-refs", false)?;
        }
        Ok(n)
    });
    match packed {
        Ok(_) | Err(Error::Locked { .. }) => None,
        Err(e) => Some(format!(
            "could not pack the loose refs (the commit stands): {e}"
        )),
    }
}
