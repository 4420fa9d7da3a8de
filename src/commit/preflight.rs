//! Checks every ref a commit will write before anything is written, so that a commit that
//! fails has not moved its branch.
//!
//! The branch moves first and the tags follow; a tag that cannot be written once the branch
//! has moved leaves a landed commit with a missing tag. So before the first object is
//! written, each of the three refs (the task branch, `corr_<id>`, `prompt_<hash>`) is
//! checked: its name is valid, an existing tag names a commit, a new ref is not blocked by
//! a ref above or below its name (`refs/tags/corr_x/y` blocks `refs/tags/corr_x` and the
//! reverse), no live writer holds a tag's lock, and the branch is not checked out in a
//! worktree it would leave behind. What still fails afterwards is a race; `write::finish`
//! reports it as a landed commit with the tag named missing.

use std::time::Instant;

use crate::git::{ObjectId, Repo};

use super::Prepared;
use crate::error::{Error, Result};
use crate::git::refs::{Backoff, LockPolicy, RefDb};
use crate::store::Store;

/// Checks the refs a commit of `p` will write; warnings (a stale lock removed, a forced
/// commit under a worktree) go to `p.warnings`. Writes nothing but the removal of a lock
/// the commit would remove anyway.
pub(super) fn check(store: &Store, p: &mut Prepared) -> Result<()> {
    let repo = store.repo();
    let branch = store.config().prefix().task_ref(&p.workflow, &p.task);
    let mut tags = vec![p.corr.tag_ref()];
    tags.extend(p.prompt.as_ref().map(|prompt| prompt.tag_ref()));
    for refname in std::iter::once(&branch).chain(&tags) {
        if !crate::git::is_valid_refname(refname) {
            return Err(Error::InvalidInput(format!(
                "{refname} is not a ref name git accepts; nothing was written"
            )));
        }
        let exists = crate::git::ref_oid(repo, refname)?.is_some();
        if !exists {
            no_collision(repo, refname)?;
        }
    }
    for refname in &tags {
        tag_commit(repo, refname)?;
    }
    match crate::git::worktree::checked_out_in(repo, &branch)? {
        Some(dir) if p.force => p.warnings.push(format!(
            "{} is checked out in {}, which did not follow the commit: if it has no changes of its own, `git -C {} reset --hard` brings its files and index to the new commit",
            short(&branch),
            dir.display(),
            dir.display()
        )),
        Some(dir) => return Err(checked_out(&branch, &dir)),
        None => {}
    }
    let policy = super::tags::lock_policy(store);
    for refname in &tags {
        wait_for_lock(repo, refname, policy, &mut p.warnings)?;
    }
    Ok(())
}

/// Returns the commit a store tag names, `None` when it does not exist; a tag on anything
/// but a commit is a conflict: the store neither moves it nor builds on it.
pub(super) fn tag_commit(repo: &Repo, refname: &str) -> Result<Option<ObjectId>> {
    match crate::git::ref_target(repo, refname) {
        Err(Error::InvalidInput(_)) => {}
        other => return other,
    }
    let what = crate::git::ref_peeled(repo, refname)
        .map(|(kind, id)| {
            let kind = kind.map_or("object", |k| k.as_str());
            format!("{kind} {}", id.short())
        })
        .unwrap_or_else(|| "an object".to_string());
    Err(Error::Conflict {
        message: format!("{refname} already exists and names {what}, not a commit"),
        hint: Some(format!(
            "the store tags commits only: remove or rename that ref (`git update-ref -d {refname}`), then run again; nothing was written"
        )),
    })
}

/// Refuses a new ref that a ref above or below its name keeps git from creating.
fn no_collision(repo: &Repo, refname: &str) -> Result<()> {
    let other = RefDb::new(repo).collision(refname)?;
    match other {
        None => Ok(()),
        Some(other) => Err(Error::Conflict {
            message: format!(
                "{refname} cannot be created: the ref {other} is in the way (git cannot hold a ref and a directory of refs under one name)"
            ),
            hint: Some(format!(
                "remove or rename {other} (`git update-ref -d {other}`), or use another id; nothing was written"
            )),
        }),
    }
}

/// Waits until no live writer holds `<ref>.lock`, removing it when a dead one left it (as
/// the compare-and-swap would); fails with [`Error::Locked`] after the policy's timeout.
fn wait_for_lock(
    repo: &Repo,
    refname: &str,
    policy: LockPolicy,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let refs = RefDb::new(repo);
    let lock = refs.lock(refname);
    let deadline = Instant::now() + policy.timeout;
    let mut backoff = Backoff::new();
    while std::fs::symlink_metadata(lock.path()).is_ok() {
        if let Some(removed) = refs.break_dead_lock(refname, policy)? {
            warnings.push(format!(
                "removed a stale lock left by a dead process: {}",
                removed.display()
            ));
            continue;
        }
        if Instant::now() >= deadline {
            return Err(lock.held());
        }
        backoff.wait();
    }
    Ok(())
}

fn short(refname: &str) -> &str {
    refname.strip_prefix("refs/heads/").unwrap_or(refname)
}

fn checked_out(branch: &str, dir: &std::path::Path) -> Error {
    Error::Conflict {
        message: format!(
            "{} is checked out in {}: moving it would leave that worktree and its index behind, and a later `git commit` there would undo the artifacts",
            short(branch),
            dir.display()
        ),
        hint: Some(format!(
            "switch that worktree away (`git -C {} switch --detach`), or pass --force to commit anyway; nothing was written",
            dir.display()
        )),
    }
}
