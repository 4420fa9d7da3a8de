//! Whether one commit is another re-applied onto a newer tip: same message and author,
//! and the same object at every path the original changed. Push re-applies commits this
//! way; the pre-receive hook lets a `corr_` tag move only to such a commit.

use git2::{Commit, Repository, Signature};

use super::ObjectId;
use crate::error::{Error, Result};

/// Returns whether `candidate` is `original` re-applied: same message and author, and
/// every path `original` changed holds the same object in `candidate`.
pub fn is_reapplication(
    repo: &Repository,
    original: ObjectId,
    candidate: ObjectId,
) -> Result<bool> {
    let a = find(repo, original)?;
    let b = find(repo, candidate)?;
    if a.message_raw_bytes() != b.message_raw_bytes() || !same_signature(&a.author(), &b.author()) {
        return Ok(false);
    }
    let before = match a.parents().next() {
        Some(parent) => Some(parent.tree().map_err(Error::git("failed to read a tree"))?),
        None => None,
    };
    let after = a.tree().map_err(Error::git("failed to read a tree"))?;
    let theirs = b.tree().map_err(Error::git("failed to read a tree"))?;
    let diff = repo
        .diff_tree_to_tree(before.as_ref(), Some(&after), None)
        .map_err(Error::git(format!("failed to diff {original}")))?;
    for delta in diff.deltas() {
        let file = delta.new_file();
        let Some(path) = file.path().or(delta.old_file().path()) else {
            continue;
        };
        let want = (!file.id().is_zero()).then(|| file.id());
        let have = theirs.get_path(path).ok().map(|e| e.id());
        if want != have {
            return Ok(false);
        }
    }
    Ok(true)
}

fn same_signature(a: &Signature<'_>, b: &Signature<'_>) -> bool {
    a.name_bytes() == b.name_bytes()
        && a.email_bytes() == b.email_bytes()
        && a.when().seconds() == b.when().seconds()
        && a.when().offset_minutes() == b.when().offset_minutes()
}

fn find(repo: &Repository, oid: ObjectId) -> Result<Commit<'_>> {
    repo.find_commit(oid.into())
        .map_err(Error::git(format!("failed to read commit {oid}")))
}
