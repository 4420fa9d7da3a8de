//! Rewriting history onto another tip: the walks that find what one side lacks, a
//! commit copied onto a new parent with its message, author and committer kept byte for
//! byte, an in-memory cherry-pick, and annotated tags re-aimed at a copy.

use std::path::Path;

use git2::{Repository, Sort};

use super::{ObjectId, Signature};
use crate::error::{Error, Result};

/// The commits reachable from `tip` and from none of `hide`; oldest first (parents
/// before children) when `oldest_first`, else in libgit2's default order, newest first.
pub fn commits_between(
    repo: &Repository,
    tip: ObjectId,
    hide: &[ObjectId],
    oldest_first: bool,
) -> Result<Vec<ObjectId>> {
    let walk_err = || Error::git("failed to walk history");
    let mut walk = repo.revwalk().map_err(walk_err())?;
    if oldest_first {
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
            .map_err(walk_err())?;
    }
    walk.push(tip.into()).map_err(walk_err())?;
    for hidden in hide {
        walk.hide(hidden.into()).map_err(walk_err())?;
    }
    walk.map(|oid| oid.map(ObjectId::from))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(walk_err())
}

/// The tree of commit `commit` cherry-picked onto commit `base`, in memory; `None` when
/// it does not apply cleanly. The tree written is recorded in `written`.
pub fn cherry_pick_tree(
    repo: &Repository,
    commit: ObjectId,
    base: ObjectId,
    written: &mut Vec<ObjectId>,
) -> Result<Option<ObjectId>> {
    let commit = find(repo, commit)?;
    let base = find(repo, base)?;
    let Ok(mut index) = repo.cherrypick_commit(&commit, &base, 0, None) else {
        return Ok(None);
    };
    if index.has_conflicts() {
        return Ok(None);
    }
    let root = index
        .write_tree_to(repo)
        .map_err(Error::git("failed to write the re-applied tree"))?;
    written.push(root.into());
    Ok(Some(root.into()))
}

/// Writes a copy of commit `original` with tree `tree` on the one parent `parent`, its
/// message, author and committer kept; the copy is recorded in `written`.
pub fn copy_commit(
    repo: &Repository,
    original: ObjectId,
    tree: ObjectId,
    parent: ObjectId,
    written: &mut Vec<ObjectId>,
) -> Result<ObjectId> {
    let commit = find(repo, original)?;
    let tree = repo
        .find_tree(tree.into())
        .map_err(Error::git("failed to read the re-applied tree"))?;
    let parent = find(repo, parent)?;
    let message = String::from_utf8_lossy(commit.message_raw_bytes()).into_owned();
    let new = repo
        .commit(
            None,
            &commit.author(),
            &commit.committer(),
            &message,
            &tree,
            &[&parent],
        )
        .map_err(Error::git("failed to write the re-applied commit"))?;
    written.push(new.into());
    Ok(new.into())
}

/// Writes a copy of tag object `old` aimed at `to`, same name, tagger and message (the
/// tagger `fallback` when it has none); a lightweight tag (`old` not a tag object)
/// simply becomes `to`.
pub fn retarget_tag(
    repo: &Repository,
    old: ObjectId,
    to: ObjectId,
    fallback: impl FnOnce() -> Result<Signature>,
) -> Result<ObjectId> {
    let Ok(tag) = repo.find_tag(old.into()) else {
        return Ok(to);
    };
    let target = repo
        .find_object(to.into(), None)
        .map_err(Error::git(format!("failed to read {to}")))?;
    let tagger = match tag.tagger() {
        Some(sig) => sig.to_owned(),
        None => fallback()?.raw()?,
    };
    let name = tag.name().unwrap_or_default().to_string();
    let message = String::from_utf8_lossy(tag.message_bytes().unwrap_or_default()).into_owned();
    repo.tag_annotation_create(&name, &target, &tagger, &message)
        .map(ObjectId::from)
        .map_err(Error::git(format!("failed to write tag {name}")))
}

/// The id of the entry at `path` (`/`-separated) in the tree of commit `commit`.
pub fn path_in_commit(repo: &Repository, commit: ObjectId, path: &str) -> Result<Option<ObjectId>> {
    let tree = find(repo, commit)?
        .tree()
        .map_err(Error::git("failed to read a tree"))?;
    Ok(tree.get_path(Path::new(path)).ok().map(|e| e.id().into()))
}

fn find(repo: &Repository, oid: ObjectId) -> Result<git2::Commit<'_>> {
    repo.find_commit(oid.into())
        .map_err(Error::git(format!("failed to read commit {oid}")))
}
