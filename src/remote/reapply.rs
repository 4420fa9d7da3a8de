//! Re-applies this store's commits on a task branch onto the remote's newer tip.
//!
//! A store commit replaces its artifact directory as a whole, so re-applying it means
//! putting the same directory (same files, same metadata.json) into the remote tip's tree,
//! with the same message, author and committer. Any other commit is cherry-picked in
//! memory and refused on a conflict. A commit whose correlation id the remote already
//! holds with the same files is dropped in favour of the remote's; with other files the
//! branch is refused, since the correlation id is the idempotency key. Tags that named a
//! re-applied commit move to its replacement.

use std::collections::BTreeMap;

use crate::git::{rewrite, CommitView, ObjectId, Repo};

use super::Reapplied;
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::git::refs::{RefDb, Swapped};
use crate::git::{durable, tree};
use crate::metadata::{self, Trailers, METADATA_FILE};
use crate::refs::{CorrelationId, PromptHash, TaskId, WorkflowId};
use crate::store::Store;

/// What re-applying a branch did.
pub(super) enum Reapply {
    /// The local branch now sits on the remote tip.
    Moved {
        /// The new local tip.
        tip: ObjectId,
        /// Each local commit and what replaced it.
        moves: Vec<Reapplied>,
    },
    /// Another local writer moved the branch meanwhile; plan again.
    LostRace,
    /// The branch cannot be re-applied; the reason is reported.
    Refused(String),
}

/// Re-applies the commits on `branch` that `remote` lacks onto `remote`.
pub(super) fn onto_remote(
    store: &Store,
    branch: &str,
    local: ObjectId,
    remote: ObjectId,
) -> Result<Reapply> {
    let ours = local_only(store, local, remote)?;
    let theirs = remote_corr_ids(store.repo(), remote, local)?;
    let mut base = remote;
    let mut moves = Vec::new();
    let mut written = Vec::new();
    for oid in ours {
        let moved = match step(store, branch, oid, base, &theirs, &mut written)? {
            Ok(moved) => moved,
            Err(reason) => return Ok(Reapply::Refused(reason)),
        };
        if !moved.duplicate {
            base = ObjectId::parse(&moved.to, "bad commit id")?;
        }
        moves.push(moved);
    }
    land(store, branch, local, base, moves, &written)
}

/// Re-applies one commit onto `base`; `Err` carries why the branch is refused.
fn step(
    store: &Store,
    branch: &str,
    oid: ObjectId,
    base: ObjectId,
    theirs: &BTreeMap<String, ObjectId>,
    written: &mut Vec<ObjectId>,
) -> Result<std::result::Result<Reapplied, String>> {
    let repo = store.repo();
    let commit = find(repo, oid)?;
    if commit.parents.len() > 1 {
        return Ok(Err(format!(
            "{} is a merge commit; merge the remote branch by hand",
            short(oid)
        )));
    }
    let trailers = Trailers::parse(&commit.message_lossy);
    let mut moved = Reapplied {
        branch: branch.to_string(),
        correlation_id: trailers.correlation_id.clone(),
        from: oid.to_string(),
        to: String::new(),
        duplicate: false,
    };
    if let Some(&held) = trailers.correlation_id.as_ref().and_then(|c| theirs.get(c)) {
        return duplicate(store, &trailers, moved, held);
    }
    let Some(new_tree) = reapplied_tree(store, &commit, &trailers, base, written)? else {
        return Ok(Err(format!(
            "{} does not apply cleanly onto the remote tip {}",
            short(oid),
            short(base)
        )));
    };
    let new = rewrite::copy_commit(repo, oid, new_tree, base, written)?;
    moved.to = new.to_string();
    Ok(Ok(moved))
}

/// Settles a commit whose correlation id the remote already holds at `held`: the same
/// files make it a duplicate of the remote's commit, other files refuse the branch.
fn duplicate(
    store: &Store,
    trailers: &Trailers,
    mut moved: Reapplied,
    held: ObjectId,
) -> Result<std::result::Result<Reapplied, String>> {
    let ours = ObjectId::parse(&moved.from, "bad commit id")?;
    if !same_files(store, trailers, ours, held)? {
        return Ok(Err(format!(
            "{} is already on the remote as {} with other files",
            moved.correlation_id.unwrap_or_default(),
            short(held)
        )));
    }
    moved.to = held.to_string();
    moved.duplicate = true;
    Ok(Ok(moved))
}

/// Moves the branch from `local` to `tip` (compare-and-swap), then the tags.
fn land(
    store: &Store,
    branch: &str,
    local: ObjectId,
    tip: ObjectId,
    moves: Vec<Reapplied>,
    written: &[ObjectId],
) -> Result<Reapply> {
    let repo = store.repo();
    let durable_on = store.config().durability == Durability::Fsync;
    if durable_on {
        durable::sync_objects(repo, written)?;
    }
    let log = "artifact-store: re-apply onto the remote tip";
    if RefDb::new(repo).swap(branch, Some(local), tip, log)? == Swapped::Raced {
        return Ok(Reapply::LostRace);
    }
    if durable_on {
        durable::sync_ref(repo, branch, false)?;
    }
    for moved in &moves {
        move_tags(store, moved, durable_on)?;
    }
    Ok(Reapply::Moved { tip, moves })
}

/// The commits reachable from `local` but not from `remote` (nor from the base branch,
/// whose history a task branch starts from), oldest first.
fn local_only(store: &Store, local: ObjectId, remote: ObjectId) -> Result<Vec<ObjectId>> {
    let repo = store.repo();
    let base = crate::git::ref_target(repo, &crate::refs::branch_ref(&store.config().base_branch))?;
    let mut hide = vec![remote];
    hide.extend(base);
    rewrite::commits_between(repo, local, &hide, true)
}

/// Correlation ids of the commits the remote has on the branch and this store lacks.
fn remote_corr_ids(
    repo: &Repo,
    remote: ObjectId,
    local: ObjectId,
) -> Result<BTreeMap<String, ObjectId>> {
    let mut found = BTreeMap::new();
    for oid in rewrite::commits_between(repo, remote, &[local], false)? {
        let commit = find(repo, oid)?;
        let trailers = Trailers::parse(&commit.message_lossy);
        if let Some(corr) = trailers.correlation_id {
            found.entry(corr).or_insert(oid);
        }
    }
    Ok(found)
}

/// The tree of `commit` re-applied onto `base`; `None` when it does not apply.
fn reapplied_tree(
    store: &Store,
    commit: &CommitView,
    trailers: &Trailers,
    base: ObjectId,
    written: &mut Vec<ObjectId>,
) -> Result<Option<ObjectId>> {
    let repo = store.repo();
    let base_tree = repo
        .commit_view(base)
        .map_err(Error::git(format!("failed to read commit {base}")))?
        .tree;
    if let Some(dir) = artifact_dir(store, trailers) {
        if let Some(entry) = rewrite::path_in_commit(repo, commit.id, &dir)? {
            let parts: Vec<&str> = dir.split('/').collect();
            let root = tree::replace_subtree(repo, Some(base_tree), &parts, entry, written)?;
            return Ok(Some(root));
        }
    }
    rewrite::cherry_pick_tree(repo, commit.id, base, written)
}

/// The artifact directory of a store commit, from its trailers and the config template.
fn artifact_dir(store: &Store, trailers: &Trailers) -> Option<String> {
    let workflow = WorkflowId::new(trailers.workflow_id.as_deref()?).ok()?;
    let task = TaskId::new(trailers.task_id.as_deref()?).ok()?;
    trailers.correlation_id.as_ref()?;
    Some(
        store
            .config()
            .artifact_dir_for(workflow.as_str(), task.as_str()),
    )
}

/// Whether two commits of one correlation id hold the same files (metadata checksums).
fn same_files(
    store: &Store,
    trailers: &Trailers,
    ours: ObjectId,
    theirs: ObjectId,
) -> Result<bool> {
    let Some(dir) = artifact_dir(store, trailers) else {
        return Ok(false);
    };
    let read = |oid: ObjectId| -> Result<Option<BTreeMap<String, String>>> {
        let path = format!("{dir}/{METADATA_FILE}");
        let Some(entry) = rewrite::path_in_commit(store.repo(), oid, &path)? else {
            return Ok(None);
        };
        let blob = store
            .repo()
            .read_blob(entry)
            .map_err(Error::git("failed to read metadata.json"))?;
        Ok(serde_json::from_slice(&blob)
            .ok()
            .map(|doc| metadata::checksums_of(&doc)))
    };
    Ok(matches!((read(ours)?, read(theirs)?), (Some(a), Some(b)) if a == b))
}

/// Moves the `corr_`/`prompt_` tags that named `moved.from` to `moved.to`, keeping each
/// annotated tag's tagger and message; a tag someone else moved meanwhile is left alone.
fn move_tags(store: &Store, moved: &Reapplied, durable_on: bool) -> Result<()> {
    let repo = store.repo();
    let from = ObjectId::parse(&moved.from, "bad commit id")?;
    let to = ObjectId::parse(&moved.to, "bad commit id")?;
    let commit = find(repo, from)?;
    let trailers = Trailers::parse(&commit.message_lossy);
    let mut refs = Vec::new();
    if let Some(corr) = trailers
        .correlation_id
        .as_deref()
        .and_then(|c| CorrelationId::new(c).ok())
    {
        refs.push(corr.tag_ref());
    }
    if let Some(prompt) = trailers
        .prompt_hash
        .as_deref()
        .and_then(|p| PromptHash::new(p).ok())
    {
        refs.push(prompt.tag_ref());
    }
    for refname in refs {
        let Some(old) = crate::git::ref_oid(repo, &refname)? else {
            continue;
        };
        if crate::git::ref_target(repo, &refname)? != Some(from) {
            continue;
        }
        let new = retarget(store, old, to, &commit)?;
        if durable_on {
            durable::sync_objects(repo, &[new])?;
        }
        let log = "artifact-store: move tag to the re-applied commit";
        let moved = RefDb::new(repo).swap(&refname, Some(old), new, log)?;
        if moved == Swapped::Done && durable_on {
            durable::sync_ref(repo, &refname, false)?;
        }
    }
    Ok(())
}

/// Writes a copy of tag object `old` aimed at `to`, same name, tagger and message; a
/// lightweight tag simply becomes `to`.
fn retarget(store: &Store, old: ObjectId, to: ObjectId, commit: &CommitView) -> Result<ObjectId> {
    rewrite::retarget_tag(store.repo(), old, to, || {
        store.signature(&commit.committer.when)
    })
}

fn find(repo: &Repo, oid: ObjectId) -> Result<CommitView> {
    repo.commit_view(oid)
        .map_err(Error::git(format!("failed to read commit {oid}")))
}

fn short(oid: ObjectId) -> String {
    oid.to_string()[..12].to_string()
}
