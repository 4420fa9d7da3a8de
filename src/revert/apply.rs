//! Lands a revert plan: the restore commit, the trash ref, the worktree, then the target
//! ref by compare-and-swap. A failure after the worktree moved puts it back.

use std::ops::ControlFlow;

use crate::git::ObjectId;
use crate::git::Repo;

use super::{tree, Plan, Tag, Target};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::git::durable;
use crate::git::refs::{CasReport, LockPolicy, RefDb, Swapped};
use crate::git::worktree::{self, CheckedOut};
use crate::store::Store;

/// Everything the plan decided, ready to land.
pub(super) struct Job<'a> {
    pub(super) tag: &'a Tag,
    pub(super) target: &'a Target,
    pub(super) tip: Option<ObjectId>,
    pub(super) path: Option<&'a str>,
    pub(super) plan: &'a Plan,
    pub(super) checked_out: Option<&'a CheckedOut>,
    /// The task whose branch is the target, when it is one.
    pub(super) task: Option<&'a super::set::TaskSet>,
}

/// What landing did.
pub(super) struct Done {
    pub(super) new_tip: ObjectId,
    pub(super) undo: Option<String>,
    pub(super) trash_ref: Option<String>,
    pub(super) warnings: Vec<String>,
}

/// The trash ref this run created to hold the old tip.
struct Trash {
    name: String,
    old: ObjectId,
}

/// Writes what the plan needs and moves the target.
pub(super) fn run(store: &Store, job: &Job<'_>) -> Result<Done> {
    let durable_on = store.config().durability == Durability::Fsync;
    let policy = lock_policy(store);
    let new_tip = match job.plan {
        Plan::Restore => restore_commit(store, job, durable_on)?,
        Plan::Create | Plan::Hard => job.tag.commit,
        Plan::Unchanged => job.tip.unwrap_or(job.tag.commit),
    };
    let mut warnings = Vec::new();
    let trash = match (job.plan, job.tip) {
        (Plan::Hard, Some(old)) => Some(keep_in_trash(store, job, old, policy, durable_on)?),
        _ => None,
    };
    let report = match move_target(store, job, new_tip, policy, durable_on) {
        Ok(report) => report,
        Err(e) => {
            if let Some(trash) = trash {
                discard(store, job, &trash, &mut warnings);
            }
            return Err(e);
        }
    };
    for lock in &report.stale_locks_removed {
        warnings.push(format!(
            "removed a stale lock left by a dead process: {}",
            lock.display()
        ));
    }
    let undo = match (job.plan, job.tip) {
        (Plan::Hard, Some(old)) => Some(undo_command(store, job, old, new_tip)),
        _ => None,
    };
    Ok(Done {
        new_tip,
        undo,
        trash_ref: trash.map(|t| t.name),
        warnings,
    })
}

fn lock_policy(store: &Store) -> LockPolicy {
    store.lock_policy()
}

/// Writes the forward commit: the tag's tree (or the tip's with the tag's entry at the
/// path), parent the tip, with `Reverted-*` trailers; on a task branch, with the set's
/// metadata and store trailers too (see [`super::set`]).
fn restore_commit(store: &Store, job: &Job<'_>, durable_on: bool) -> Result<ObjectId> {
    let repo = store.repo();
    let tip = job.tip.expect("a restore plan has a tip");
    let tip_commit = repo
        .commit_view(tip)
        .map_err(Error::git(format!("failed to read commit {tip}")))?;
    let tag_tree = repo
        .read_commit_tree(job.tag.commit)
        .map_err(Error::git(format!(
            "failed to read the tree of {}",
            job.tag.name
        )))?;
    let mut written = Vec::new();
    let mut tree_id = match job.path {
        None => tag_tree,
        Some(path) => {
            let entry = tree::entry_at(repo, tag_tree, path)?;
            tree::splice(repo, tip_commit.tree, path, entry, &mut written)?
        }
    };
    let mut trailers = None;
    if let Some(task) = job.task {
        let origin = super::set::Origin {
            tag: &job.tag.name,
            tag_commit: job.tag.commit,
            from: tip,
            path: job.path,
        };
        if let Some(restored) = super::set::carry(repo, task, tree_id, &origin, &mut written)? {
            tree_id = restored.tree;
            trailers = Some(restored.trailers);
        }
    }
    let time = store.commit_time()?;
    let sig = store.signature(&time)?;
    let message = message(job, trailers.as_ref());
    let commit =
        crate::git::tree::write_commit(repo, tree_id, &[tip], &sig, &message, &mut written)?;
    if durable_on {
        durable::sync_objects(repo, &written)?;
    }
    Ok(commit)
}

/// Returns `Revert <target> to <tag>` and its trailers: the store's, when the restore
/// carries an artifact set, then the `Reverted-*` ones.
fn message(job: &Job<'_>, store: Option<&crate::metadata::Trailers>) -> String {
    let mut message = format!(
        "Revert {} to {}\n\n{}Reverted-To: {}\nReverted-Commit: {}\n",
        job.target.short,
        job.tag.name,
        store.map(|t| t.render()).unwrap_or_default(),
        job.tag.name,
        job.tag.commit
    );
    if let Some(path) = job.path {
        message.push_str(&format!("Reverted-Path: {path}\n"));
    }
    message
}

/// Keeps `old` under `refs/artifact-store/trash/<unix_ts>/<target ref>`, a name this run
/// creates; a later second is taken when that name exists. A name another writer made is
/// never shared: `gc --apply` puts its copies there before it deletes the refs, and takes
/// out again the copies of refs it did not delete, so a copy is not a safe home for `old`.
fn keep_in_trash(
    store: &Store,
    job: &Job<'_>,
    old: ObjectId,
    policy: LockPolicy,
    durable_on: bool,
) -> Result<Trash> {
    let repo = store.repo();
    let ts = store.commit_time()?.seconds();
    let log = format!("artifact-store: revert-to-tag {} (old tip)", job.tag.name);
    for offset in 0..60 {
        let name = crate::refs::trash_ref(ts + offset, &job.target.refname);
        let result = RefDb::new(repo).update(&name, &log, policy, |current| {
            Ok(match current {
                None => ControlFlow::Continue(old),
                Some(_) => ControlFlow::Break(()),
            })
        })?;
        if let ControlFlow::Break(()) = result {
            // An earlier run killed as it made this copy may have left its lock behind;
            // nobody writes this name again to clear it.
            RefDb::new(repo).clear_finished_lock(&name, policy);
        }
        if let ControlFlow::Continue(_) = result {
            if durable_on {
                durable::sync_ref(repo, &name, true)?;
            }
            return Ok(Trash { name, old });
        }
    }
    Err(Error::Conflict {
        message: format!("no free trash ref for {} near {ts}", job.target.refname),
        hint: Some("run again in a minute".to_string()),
    })
}

/// Checks out the new tree when the target is checked out, then moves the target ref
/// from the tip the plan saw; puts the worktree back when the ref cannot move.
fn move_target(
    store: &Store,
    job: &Job<'_>,
    new_tip: ObjectId,
    policy: LockPolicy,
    durable_on: bool,
) -> Result<CasReport> {
    let repo = store.repo();
    let (new_tree, old_tree) = (tree_of(repo, Some(new_tip))?, tree_of(repo, job.tip)?);
    tree::check_sane(repo, new_tree, old_tree, &job.tag.name)?;
    if let Some(checked_out) = job.checked_out {
        worktree::follow(repo, checked_out, tree_of(repo, Some(new_tip))?)?;
    }
    let refname = &job.target.refname;
    let log = format!("artifact-store: revert-to-tag {}", job.tag.name);
    let moved = RefDb::new(repo).update(refname, &log, policy, |current| {
        Ok(if current == job.tip {
            ControlFlow::Continue(new_tip)
        } else {
            ControlFlow::Break(current)
        })
    });
    let failure = match moved {
        Ok(ControlFlow::Continue((_, report))) => {
            if durable_on {
                durable::sync_ref(repo, refname, job.tip.is_none())?;
            }
            return Ok(report);
        }
        Ok(ControlFlow::Break(now)) => Error::Conflict {
            message: format!(
                "{} moved from {} to {} while reverting; nothing was changed",
                job.target.short,
                short_sha(job.tip),
                short_sha(now)
            ),
            hint: Some(
                "look at the new commits, then run again if the revert still applies".to_string(),
            ),
        },
        Err(e) => e,
    };
    if job.checked_out.is_some() {
        worktree::restore(repo, tree_of(repo, job.tip)?)?;
    }
    Err(failure)
}

/// Returns the tree of `commit`, or the empty tree for a branch that does not exist.
fn tree_of(repo: &Repo, commit: Option<ObjectId>) -> Result<ObjectId> {
    match commit {
        Some(oid) => repo
            .commit_view(oid)
            .map(|c| c.tree)
            .map_err(Error::git(format!("failed to read commit {oid}"))),
        None => crate::git::tree::write_tree(repo, &[], &mut Vec::new()),
    }
}

fn short_sha(oid: Option<ObjectId>) -> String {
    oid.map_or_else(
        || "nothing".to_string(),
        |o| o.to_string()[..12].to_string(),
    )
}

/// Deletes the trash ref this run created for a revert that did not land, while the target
/// still holds the old tip; when the target moved or went meanwhile (a concurrent
/// `gc --apply` may have deleted it), the trash ref stays: it may be all that holds the tip.
fn discard(store: &Store, job: &Job<'_>, trash: &Trash, warnings: &mut Vec<String>) {
    let repo = store.repo();
    match crate::git::ref_oid(repo, &job.target.refname) {
        Ok(Some(now)) if now == trash.old => {}
        _ => {
            warnings.push(format!(
                "kept {} (the old tip): {} no longer holds it",
                trash.name, job.target.short
            ));
            return;
        }
    }
    match RefDb::new(repo).delete(&trash.name, trash.old) {
        Ok(Swapped::Done) => {}
        Ok(Swapped::Raced) => warnings.push(format!(
            "kept {} (the old tip): another writer holds or moved it",
            trash.name
        )),
        Err(e) => warnings.push(format!("could not remove {}: {e}", trash.name)),
    }
}

/// Returns the command that puts the target back where it was.
fn undo_command(store: &Store, job: &Job<'_>, old: ObjectId, new: ObjectId) -> String {
    match job.checked_out {
        Some(checked_out) => format!(
            "git -C {} reset --keep {old}",
            shell_quote(&dir_text(&checked_out.workdir))
        ),
        None => format!(
            "git --git-dir={} update-ref {} {old} {new}",
            shell_quote(&dir_text(store.git_dir())),
            shell_quote(&job.target.refname)
        ),
    }
}

/// Returns a directory as text without the trailing slash the git layer keeps.
fn dir_text(dir: &std::path::Path) -> String {
    let text = dir.display().to_string();
    match text.trim_end_matches('/') {
        "" => text,
        trimmed => trimmed.to_string(),
    }
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@,%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn undo_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("/srv/store.git"), "/srv/store.git");
        assert_eq!(shell_quote("/tmp/my store"), "'/tmp/my store'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
