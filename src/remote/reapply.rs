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
use std::path::Path;

use git2::{Commit, Oid, Repository, Sort};

use super::Reapplied;
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::git::{cas, durable, tree};
use crate::metadata::{self, Trailers, METADATA_FILE};
use crate::refs::{CorrelationId, PromptHash, TaskId, WorkflowId};
use crate::store::Store;

/// What re-applying a branch did.
pub(super) enum Reapply {
    /// The local branch now sits on the remote tip.
    Moved {
        /// The new local tip.
        tip: Oid,
        /// Each local commit and what replaced it.
        moves: Vec<Reapplied>,
    },
    /// Another local writer moved the branch meanwhile; plan again.
    LostRace,
    /// The branch cannot be re-applied; the reason is reported.
    Refused(String),
}

/// Re-applies the commits on `branch` that `remote` lacks onto `remote`.
pub(super) fn onto_remote(store: &Store, branch: &str, local: Oid, remote: Oid) -> Result<Reapply> {
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
            base = Oid::from_str(&moved.to).map_err(Error::git("bad commit id"))?;
        }
        moves.push(moved);
    }
    land(store, branch, local, base, moves, &written)
}

/// Re-applies one commit onto `base`; `Err` carries why the branch is refused.
fn step(
    store: &Store,
    branch: &str,
    oid: Oid,
    base: Oid,
    theirs: &BTreeMap<String, Oid>,
    written: &mut Vec<Oid>,
) -> Result<std::result::Result<Reapplied, String>> {
    let repo = store.repo();
    let commit = find(repo, oid)?;
    if commit.parent_count() > 1 {
        return Ok(Err(format!(
            "{} is a merge commit; merge the remote branch by hand",
            short(oid)
        )));
    }
    let trailers = Trailers::parse(&String::from_utf8_lossy(commit.message_bytes()));
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
    let tree = repo
        .find_tree(new_tree)
        .map_err(Error::git("failed to read the re-applied tree"))?;
    let parent = find(repo, base)?;
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
    written.push(new);
    moved.to = new.to_string();
    Ok(Ok(moved))
}

/// Settles a commit whose correlation id the remote already holds at `held`: the same
/// files make it a duplicate of the remote's commit, other files refuse the branch.
fn duplicate(
    store: &Store,
    trailers: &Trailers,
    mut moved: Reapplied,
    held: Oid,
) -> Result<std::result::Result<Reapplied, String>> {
    let ours = Oid::from_str(&moved.from).map_err(Error::git("bad commit id"))?;
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
    local: Oid,
    tip: Oid,
    moves: Vec<Reapplied>,
    written: &[Oid],
) -> Result<Reapply> {
    let repo = store.repo();
    let durable_on = store.config().durability == Durability::Fsync;
    if durable_on {
        durable::sync_objects(repo, written)?;
    }
    let log = "artifact-store: re-apply onto the remote tip";
    match repo.reference_matching(branch, tip, true, local, log) {
        Ok(_) => {}
        Err(e) if cas::is_retryable(&e) => return Ok(Reapply::LostRace),
        Err(e) => return Err(Error::git(format!("failed to update {branch}"))(e)),
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
fn local_only(store: &Store, local: Oid, remote: Oid) -> Result<Vec<Oid>> {
    let repo = store.repo();
    let base = crate::git::ref_target(repo, &crate::refs::branch_ref(&store.config().base_branch))?;
    let mut walk = repo
        .revwalk()
        .map_err(Error::git("failed to walk history"))?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
        .map_err(Error::git("failed to walk history"))?;
    walk.push(local)
        .map_err(Error::git("failed to walk history"))?;
    walk.hide(remote)
        .map_err(Error::git("failed to walk history"))?;
    if let Some(base) = base {
        walk.hide(base)
            .map_err(Error::git("failed to walk history"))?;
    }
    walk.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::git("failed to walk history"))
}

/// Correlation ids of the commits the remote has on the branch and this store lacks.
fn remote_corr_ids(repo: &Repository, remote: Oid, local: Oid) -> Result<BTreeMap<String, Oid>> {
    let mut walk = repo
        .revwalk()
        .map_err(Error::git("failed to walk history"))?;
    walk.push(remote)
        .map_err(Error::git("failed to walk history"))?;
    walk.hide(local)
        .map_err(Error::git("failed to walk history"))?;
    let mut found = BTreeMap::new();
    for oid in walk {
        let oid = oid.map_err(Error::git("failed to walk history"))?;
        let commit = find(repo, oid)?;
        let trailers = Trailers::parse(&String::from_utf8_lossy(commit.message_bytes()));
        if let Some(corr) = trailers.correlation_id {
            found.entry(corr).or_insert(oid);
        }
    }
    Ok(found)
}

/// The tree of `commit` re-applied onto `base`; `None` when it does not apply.
fn reapplied_tree(
    store: &Store,
    commit: &Commit<'_>,
    trailers: &Trailers,
    base: Oid,
    written: &mut Vec<Oid>,
) -> Result<Option<Oid>> {
    let repo = store.repo();
    let base_commit = find(repo, base)?;
    let base_tree = base_commit
        .tree()
        .map_err(Error::git("failed to read the remote tip's tree"))?;
    if let Some(dir) = artifact_dir(store, trailers) {
        let ours = commit.tree().map_err(Error::git("failed to read a tree"))?;
        if let Ok(entry) = ours.get_path(Path::new(&dir)) {
            let parts: Vec<&str> = dir.split('/').collect();
            let root = tree::replace_subtree(repo, Some(&base_tree), &parts, entry.id(), written)?;
            return Ok(Some(root));
        }
    }
    let Ok(mut index) = repo.cherrypick_commit(commit, &base_commit, 0, None) else {
        return Ok(None);
    };
    if index.has_conflicts() {
        return Ok(None);
    }
    let root = index
        .write_tree_to(repo)
        .map_err(Error::git("failed to write the re-applied tree"))?;
    written.push(root);
    Ok(Some(root))
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
fn same_files(store: &Store, trailers: &Trailers, ours: Oid, theirs: Oid) -> Result<bool> {
    let Some(dir) = artifact_dir(store, trailers) else {
        return Ok(false);
    };
    let read = |oid: Oid| -> Result<Option<BTreeMap<String, String>>> {
        let tree = find(store.repo(), oid)?
            .tree()
            .map_err(Error::git("failed to read a tree"))?;
        let Ok(entry) = tree.get_path(Path::new(&format!("{dir}/{METADATA_FILE}"))) else {
            return Ok(None);
        };
        let blob = store
            .repo()
            .find_blob(entry.id())
            .map_err(Error::git("failed to read metadata.json"))?;
        Ok(serde_json::from_slice(blob.content())
            .ok()
            .map(|doc| metadata::checksums_of(&doc)))
    };
    Ok(matches!((read(ours)?, read(theirs)?), (Some(a), Some(b)) if a == b))
}

/// Moves the `corr_`/`prompt_` tags that named `moved.from` to `moved.to`, keeping each
/// annotated tag's tagger and message; a tag someone else moved meanwhile is left alone.
fn move_tags(store: &Store, moved: &Reapplied, durable_on: bool) -> Result<()> {
    let repo = store.repo();
    let from = Oid::from_str(&moved.from).map_err(Error::git("bad commit id"))?;
    let to = Oid::from_str(&moved.to).map_err(Error::git("bad commit id"))?;
    let commit = find(repo, from)?;
    let trailers = Trailers::parse(&String::from_utf8_lossy(commit.message_bytes()));
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
        match repo.reference_matching(&refname, new, true, old, log) {
            Ok(_) if durable_on => durable::sync_ref(repo, &refname, false)?,
            Ok(_) => {}
            Err(e) if cas::is_retryable(&e) => {}
            Err(e) => return Err(Error::git(format!("failed to move {refname}"))(e)),
        }
    }
    Ok(())
}

/// Writes a copy of tag object `old` aimed at `to`, same name, tagger and message; a
/// lightweight tag simply becomes `to`.
fn retarget(store: &Store, old: Oid, to: Oid, commit: &Commit<'_>) -> Result<Oid> {
    let repo = store.repo();
    let Ok(tag) = repo.find_tag(old) else {
        return Ok(to);
    };
    let target = repo
        .find_object(to, None)
        .map_err(Error::git(format!("failed to read {to}")))?;
    let tagger = match tag.tagger() {
        Some(sig) => sig.to_owned(),
        None => store.signature(&commit.committer().when())?,
    };
    let name = tag.name().unwrap_or_default().to_string();
    let message = String::from_utf8_lossy(tag.message_bytes().unwrap_or_default()).into_owned();
    repo.tag_annotation_create(&name, &target, &tagger, &message)
        .map_err(Error::git(format!("failed to write tag {name}")))
}

fn find(repo: &Repository, oid: Oid) -> Result<Commit<'_>> {
    repo.find_commit(oid)
        .map_err(Error::git(format!("failed to read commit {oid}")))
}

fn short(oid: Oid) -> String {
    oid.to_string()[..12].to_string()
}
