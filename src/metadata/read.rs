//! Reads the metadata of an artifact set from a commit, with only the lookups it needs:
//! the read side, retention and the commit pipeline's recovery all read it this way.
//! An object on the way that cannot be read is a corrupt store, named with its path.

use git2::{Commit, ObjectType, Oid, Repository, Tree};
use serde_json::Value;

use super::METADATA_FILE;
use crate::error::{Error, Result};

/// Reads commit `oid`; one that is missing or cannot be read is a corrupt store.
pub(crate) fn find_commit(repo: &Repository, oid: Oid) -> Result<Commit<'_>> {
    repo.find_commit(oid)
        .map_err(|e| Error::corrupt_object("", "commit", oid, &e))
}

/// Returns the tree at `dir` in a commit, `None` when there is no tree by that path; an
/// object on the way that cannot be read is a corrupt store, named with its path.
pub(crate) fn subtree<'r>(
    repo: &'r Repository,
    commit: &Commit<'_>,
    dir: &str,
) -> Result<Option<Tree<'r>>> {
    let root = commit.tree_id();
    let mut tree = repo.find_tree(root).map_err(|e| {
        Error::corrupt_object(&format!("tree of commit {}", commit.id()), "tree", root, &e)
    })?;
    let mut at = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(part);
        let Some(entry) = tree.get_name(part) else {
            return Ok(None);
        };
        if entry.kind() != Some(ObjectType::Tree) {
            return Ok(None);
        }
        let id = entry.id();
        drop(entry);
        tree = repo
            .find_tree(id)
            .map_err(|e| Error::corrupt_object(&at, "tree", id, &e))?;
    }
    Ok(Some(tree))
}

/// Reads the metadata.json of the artifact set at `oid` with only the lookups it needs.
pub(crate) fn metadata_at(repo: &Repository, commit: &Commit<'_>, dir: &str) -> Option<Value> {
    read_metadata_at(repo, commit, dir).ok().flatten()
}

/// As [`metadata_at`], but an object on the way that cannot be read is [`Error::Corrupt`]
/// instead of `None`: `None` is only "no metadata.json there" or "not JSON".
pub(crate) fn read_metadata_at(
    repo: &Repository,
    commit: &Commit<'_>,
    dir: &str,
) -> Result<Option<Value>> {
    let Some(tree) = subtree(repo, commit, dir)? else {
        return Ok(None);
    };
    let Some(entry) = tree.get_name(METADATA_FILE) else {
        return Ok(None);
    };
    let id = entry.id();
    let blob = repo
        .find_blob(id)
        .map_err(|e| Error::corrupt_object(&format!("{dir}/{METADATA_FILE}"), "blob", id, &e))?;
    Ok(serde_json::from_slice(blob.content()).ok())
}
