//! Reads the metadata of an artifact set from a commit, with only the lookups it needs:
//! the read side, retention and the commit pipeline's recovery all read it this way.
//! An object on the way that cannot be read is a corrupt store, named with its path.

use serde_json::Value;

use super::METADATA_FILE;
use crate::error::{Error, Result};
use crate::git::{CommitView, ObjectId, Repo};

/// Reads commit `oid`; one that is missing or cannot be read is a corrupt store.
pub(crate) fn find_commit(repo: &Repo, oid: ObjectId) -> Result<CommitView> {
    repo.commit_view(oid)
        .map_err(|e| Error::corrupt_object("", "commit", oid, &e))
}

/// Returns the tree at `dir` in a commit, `None` when there is no tree by that path; an
/// object on the way that cannot be read is a corrupt store, named with its path.
pub(crate) fn subtree(repo: &Repo, commit: &CommitView, dir: &str) -> Result<Option<ObjectId>> {
    crate::git::tree::subtree(repo, commit.id, commit.tree, dir)
}

/// Reads the metadata.json of the artifact set at `oid` with only the lookups it needs.
pub(crate) fn metadata_at(repo: &Repo, commit: &CommitView, dir: &str) -> Option<Value> {
    read_metadata_at(repo, commit, dir).ok().flatten()
}

/// As [`metadata_at`], but an object on the way that cannot be read is [`Error::Corrupt`]
/// instead of `None`: `None` is only "no metadata.json there" or "not JSON".
pub(crate) fn read_metadata_at(
    repo: &Repo,
    commit: &CommitView,
    dir: &str,
) -> Result<Option<Value>> {
    let Some(tree) = subtree(repo, commit, dir)? else {
        return Ok(None);
    };
    let Some((id, _)) = crate::git::tree::entry(repo, tree, dir, METADATA_FILE)? else {
        return Ok(None);
    };
    let blob = repo
        .read_blob(id)
        .map_err(|e| Error::corrupt_object(&format!("{dir}/{METADATA_FILE}"), "blob", id, &e))?;
    Ok(serde_json::from_slice(&blob).ok())
}
