//! Worktrees of the store's repository: which one has a branch checked out, refusing a
//! dirty one, and making a worktree and its index follow a branch's new tree.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::{build::CheckoutBuilder, ErrorCode, Repository, RepositoryState, Status, StatusOptions};

use super::{ObjectId, ObjectKind, Repo};
use crate::error::{Error, Result};

/// How many dirty paths an error names before it says "and N more".
const NAMED_PATHS: usize = 5;

/// The worktree of the opened repository, whose HEAD is the target branch.
pub(crate) struct CheckedOut {
    pub(crate) workdir: PathBuf,
}

/// Returns the checked-out worktree that must follow `refname`, or `None` in a bare
/// repository or when HEAD names another branch. Refuses, changing nothing, when that
/// worktree has changes to tracked files, an operation in progress, or when the branch
/// is checked out in another worktree of the repository, which would be left behind.
pub(crate) fn guard(repo: &Repository, refname: &str) -> Result<Option<CheckedOut>> {
    refuse_other_worktrees(repo, refname)?;
    let Some(workdir) = repo.workdir() else {
        return Ok(None);
    };
    if head_branch(repo)?.as_deref() != Some(refname) {
        return Ok(None);
    }
    let short = refname.strip_prefix("refs/heads/").unwrap_or(refname);
    if repo.state() != RepositoryState::Clean {
        return Err(Error::Conflict {
            message: format!(
                "{short} is checked out in {} with a merge, rebase or similar in progress",
                workdir.display()
            ),
            hint: Some("finish or abort it, then run again; nothing was changed".to_string()),
        });
    }
    let dirty = dirty_paths(repo)?;
    if !dirty.is_empty() {
        let mut named = dirty
            .iter()
            .take(NAMED_PATHS)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if dirty.len() > NAMED_PATHS {
            named.push_str(&format!(" and {} more", dirty.len() - NAMED_PATHS));
        }
        return Err(Error::Conflict {
            message: format!(
                "{short} is checked out in {} with uncommitted changes to tracked files: {named}",
                workdir.display()
            ),
            hint: Some(
                "commit or stash them (`git stash`), then run again; nothing was changed"
                    .to_string(),
            ),
        });
    }
    Ok(Some(CheckedOut {
        workdir: workdir.to_path_buf(),
    }))
}

/// Returns the branch HEAD names, when HEAD is a symbolic ref.
fn head_branch(repo: &Repository) -> Result<Option<String>> {
    let head = repo
        .find_reference("HEAD")
        .map_err(Error::git("failed to read HEAD"))?;
    Ok(head
        .symbolic_target_bytes()
        .map(|t| String::from_utf8_lossy(t).into_owned()))
}

/// Staged or unstaged changes to tracked files; untracked and ignored files do not count.
fn dirty_paths(repo: &Repository) -> Result<Vec<String>> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut opts))
        .map_err(Error::git("failed to read the worktree status"))?;
    Ok(statuses
        .iter()
        .filter(|s| !(s.status() - Status::WT_NEW - Status::IGNORED).is_empty())
        .map(|s| String::from_utf8_lossy(s.path_bytes()).into_owned())
        .collect())
}

/// Refuses when another worktree of this repository has `refname` checked out.
fn refuse_other_worktrees(repo: &Repository, refname: &str) -> Result<()> {
    for (dir, other) in linked_worktrees(repo)? {
        if other.path() == repo.path() || head_branch(&other)?.as_deref() != Some(refname) {
            continue;
        }
        let short = refname.strip_prefix("refs/heads/").unwrap_or(refname);
        return Err(Error::Conflict {
            message: format!(
                "{short} is checked out in the worktree {}, which would be left behind",
                dir.display()
            ),
            hint: Some(format!(
                "run revert-to-tag with --repo {} so that worktree follows",
                dir.display()
            )),
        });
    }
    Ok(())
}

/// Every linked worktree (`git worktree add`) of the repository that still exists, with the
/// repository opened from it.
fn linked_worktrees(repo: &Repository) -> Result<Vec<(PathBuf, Repository)>> {
    let names = repo
        .worktrees()
        .map_err(Error::git("failed to list worktrees"))?;
    let mut out = Vec::new();
    for name in names.iter().flatten().flatten() {
        let Ok(worktree) = repo.find_worktree(name) else {
            continue;
        };
        if worktree.validate().is_err() {
            continue;
        }
        if let Ok(other) = Repository::open_from_worktree(&worktree) {
            out.push((worktree.path().to_path_buf(), other));
        }
    }
    Ok(out)
}

/// Makes the worktree and index match `tree`, HEAD's tree being the baseline. Refuses,
/// writing nothing, when an untracked file is in the way.
pub(crate) fn follow(repo: &Repo, checked_out: &CheckedOut, tree: ObjectId) -> Result<()> {
    let object = repo
        .find_object(tree, Some(ObjectKind::Tree))
        .map_err(Error::git(format!("failed to read tree {tree}")))?;
    let mut opts = CheckoutBuilder::new();
    opts.safe();
    match repo.checkout_tree(&object, Some(&mut opts)) {
        Ok(()) => Ok(()),
        Err(e) if e.code() == ErrorCode::Conflict => Err(Error::Conflict {
            message: format!(
                "untracked files in {} are in the way of the tag's files",
                checked_out.workdir.display()
            ),
            hint: Some(format!(
                "move them away (`git -C {} status` lists them), then run again; nothing was changed",
                checked_out.workdir.display()
            )),
        }),
        Err(e) => Err(Error::git(format!(
            "failed to check out the new tree in {}",
            checked_out.workdir.display()
        ))(e)),
    }
}

/// Puts the worktree and index back to `tree` after the ref could not be moved.
pub(crate) fn restore(repo: &Repo, tree: ObjectId) -> Result<()> {
    let object = repo
        .find_object(tree, Some(ObjectKind::Tree))
        .map_err(Error::git(format!("failed to read tree {tree}")))?;
    let mut opts = CheckoutBuilder::new();
    opts.force();
    repo.checkout_tree(&object, Some(&mut opts))
        .map_err(Error::git("failed to put the worktree back"))
}

/// Returns the worktree that has `refname` checked out (its HEAD names it), if any: the
/// repository's own, the main one when the store was opened from a linked worktree, or a
/// linked one (`git worktree add`).
pub(crate) fn checked_out_in(repo: &Repository, refname: &str) -> Result<Option<PathBuf>> {
    Ok(checked_out_branches(repo)?.remove(refname))
}

/// The branch each worktree of the store has checked out (its HEAD names it), and where:
/// the repository's own worktree, the main one when the store was opened from a linked
/// worktree, and every linked one (`git worktree add`) that still exists; the first found
/// wins, in that order.
pub(crate) fn checked_out_branches(repo: &Repository) -> Result<HashMap<String, PathBuf>> {
    let mut out = HashMap::new();
    let mut note = |other: &Repository, dir: &Path| {
        let head = other.find_reference("HEAD").ok();
        if let Some(target) = head.as_ref().and_then(|h| h.symbolic_target_bytes()) {
            out.entry(String::from_utf8_lossy(target).into_owned())
                .or_insert_with(|| dir.to_path_buf());
        }
    };
    if let Some(dir) = repo.workdir() {
        note(repo, dir);
    }
    if repo.is_worktree() {
        if let Ok(main) = Repository::open(repo.commondir()) {
            if let Some(dir) = main.workdir() {
                note(&main, dir);
            }
        }
    }
    for (dir, other) in linked_worktrees(repo)? {
        note(&other, &dir);
    }
    Ok(out)
}
