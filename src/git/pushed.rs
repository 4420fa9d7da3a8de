//! What a push brings: the blobs reachable from the pushed refs that the repository did
//! not hold before, found by a walk that stops at what is already there.

use std::collections::HashSet;

use git2::{ObjectType, Odb, Repository, Sort, TreeWalkMode, TreeWalkResult};

use super::ObjectId;
use crate::error::{Error, Result};

/// The blobs that `updates` (ref name, new value; zero values skipped) bring into `repo`
/// and `before` lacks, each with a `<commit>:<path>` label (`<ref>:<path>` for a tag on a
/// tree, the ref name for a tag on a blob). Trees already held are not descended into.
pub fn new_blobs(
    repo: &Repository,
    before: &Repository,
    updates: &[(&str, ObjectId)],
) -> Result<Vec<(String, ObjectId)>> {
    let before = before
        .odb()
        .map_err(Error::git("failed to open the object database"))?;
    let walk_err = || Error::git("failed to walk the push");
    let mut walk = repo.revwalk().map_err(walk_err())?;
    walk.set_sorting(Sort::TOPOLOGICAL).map_err(walk_err())?;
    let _ = walk.hide_glob("refs/*");
    let mut seen = HashSet::new();
    let mut blobs = Vec::new();
    for (refname, new) in updates.iter().filter(|(_, new)| !new.is_zero()) {
        let object = repo
            .find_object((*new).into(), None)
            .map_err(Error::git(format!("failed to read {new}")))?;
        if let Ok(commit) = object.peel(ObjectType::Commit) {
            walk.push(commit.id()).map_err(walk_err())?;
        } else if let Ok(tree) = object.peel_to_tree() {
            // A tag on a tree: its blobs are as new as a commit's.
            let label = format!("{refname}:");
            new_in_tree(&tree, &label, &before, &mut seen, &mut blobs)
                .map_err(Error::git(format!("failed to walk the tree of {refname}")))?;
        } else {
            let target = object.peel(ObjectType::Blob).ok().map(|b| b.id());
            if let Some(oid) = target.filter(|oid| !before.exists(*oid) && seen.insert(*oid)) {
                blobs.push((refname.to_string(), oid.into()));
            }
        }
    }
    for commit in walk {
        let commit = commit.map_err(walk_err())?;
        let tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(Error::git(format!("failed to read commit {commit}")))?;
        let label = format!("{}:", &commit.to_string()[..12]);
        new_in_tree(&tree, &label, &before, &mut seen, &mut blobs)
            .map_err(Error::git(format!("failed to walk the tree of {commit}")))?;
    }
    Ok(blobs)
}

/// Adds the blobs of `tree` that `before` lacks to `blobs`, labelled `<label><path>`;
/// subtrees already held are not descended into.
fn new_in_tree(
    tree: &git2::Tree<'_>,
    label: &str,
    before: &Odb<'_>,
    seen: &mut HashSet<git2::Oid>,
    blobs: &mut Vec<(String, ObjectId)>,
) -> std::result::Result<(), git2::Error> {
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| match entry.kind() {
        Some(ObjectType::Tree) if before.exists(entry.id()) => TreeWalkResult::Skip,
        Some(ObjectType::Blob) if !before.exists(entry.id()) && seen.insert(entry.id()) => {
            let name = entry.name().unwrap_or("?");
            blobs.push((format!("{label}{dir}{name}"), entry.id().into()));
            TreeWalkResult::Ok
        }
        _ => TreeWalkResult::Ok,
    })
}
