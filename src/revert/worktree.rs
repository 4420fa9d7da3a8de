//! A target branch that is checked out: refusing a dirty worktree, and making the
//! worktree and index follow the branch's new tree.

use std::path::PathBuf;

use git2::{build::CheckoutBuilder, ErrorCode, Repository, RepositoryState, Status, StatusOptions};

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
    let names = repo
        .worktrees()
        .map_err(Error::git("failed to list worktrees"))?;
    for name in names.iter().filter_map(|n| n.ok().flatten()) {
        let Ok(worktree) = repo.find_worktree(name) else {
            continue;
        };
        if worktree.validate().is_err() {
            continue;
        }
        let Ok(other) = Repository::open_from_worktree(&worktree) else {
            continue;
        };
        if other.path() == repo.path() || head_branch(&other)?.as_deref() != Some(refname) {
            continue;
        }
        let short = refname.strip_prefix("refs/heads/").unwrap_or(refname);
        return Err(Error::Conflict {
            message: format!(
                "{short} is checked out in the worktree {}, which would be left behind",
                worktree.path().display()
            ),
            hint: Some(format!(
                "run revert-to-tag with --repo {} so that worktree follows",
                worktree.path().display()
            )),
        });
    }
    Ok(())
}

/// Makes the worktree and index match `tree`, HEAD's tree being the baseline. Refuses,
/// writing nothing, when an untracked file is in the way.
pub(crate) fn follow(repo: &Repository, checked_out: &CheckedOut, tree: git2::Oid) -> Result<()> {
    let object = repo
        .find_object(tree, Some(git2::ObjectType::Tree))
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
pub(crate) fn restore(repo: &Repository, tree: git2::Oid) -> Result<()> {
    let object = repo
        .find_object(tree, Some(git2::ObjectType::Tree))
        .map_err(Error::git(format!("failed to read tree {tree}")))?;
    let mut opts = CheckoutBuilder::new();
    opts.force();
    repo.checkout_tree(&object, Some(&mut opts))
        .map_err(Error::git("failed to put the worktree back"))
}
