//! Group commit: several small artifact sets landed with one pack, one set of flushes and
//! one index refresh, then one branch compare-and-swap each.
//!
//! Creating and deleting files is what a small commit spends most of its time on here
//! (`docs/performance.md`): on ext4 every new inode is searched past the inodes freed in
//! the last minute, so each pack, index and rolled-up pack costs more the busier the disk.
//! A group writes every set's objects (blobs, trees, commit, tag objects) into one pack,
//! flushed before any ref moves, exactly as one commit does; then each branch moves from
//! the tip its commit was built on. A branch that moved meanwhile (another writer) sends
//! its set, and any later set of the group on that branch, through the one-at-a-time path,
//! which rebuilds on the new tip; the group's copy of those objects stays unreferenced.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use crate::git::ObjectId;

use super::tags::{lock_policy, write_tag_objects, TagObjects};
use super::write::{self, Landed};
use super::{CommitOutcome, Prepared};
use crate::config::Durability;
use crate::error::Result;
use crate::git::refs::RefDb;
use crate::git::{pack, reserve};
use crate::store::Store;

/// Most bytes of artifacts one group holds in memory; a larger batch makes more groups.
pub(super) const GROUP_MAX_BYTES: u64 = 16 << 20;

/// A set whose objects are in the group's pack, and the tip its commit was built on.
struct Staged {
    commit: ObjectId,
    expected: Option<ObjectId>,
    tag_objects: TagObjects,
    time: crate::git::Time,
    leaves: Vec<(String, ObjectId, i32)>,
}

/// Why a group member's swap stopped without writing.
enum Stop {
    /// The branch is not where the commit was built: another writer moved it.
    Moved,
    /// Another writer committed this correlation id meanwhile.
    CorrelationTaken,
}

/// Lands `sets` (new correlation ids, small, not forced, no two with the same id) as one
/// group; returns each set's result with its number, in the order given.
pub(super) fn land_group(
    store: &Store,
    sets: Vec<(usize, Prepared)>,
) -> Vec<(usize, Result<CommitOutcome>)> {
    if sets.len() < 2 || reserve::ensure(store.repo().commondir()).is_err() {
        // One set gains nothing; a failed reserve is reported by each set's own attempt.
        return one_by_one(store, sets);
    }
    match stage_all(store, &sets) {
        Ok(staged) => swap_all(store, sets, staged),
        // Nothing moved: every set tries again on its own and reports its own error.
        Err(_) => one_by_one(store, sets),
    }
}

/// Writes every set's objects into one pack, flushed when durable, and makes them visible
/// to the store's handle; a set that fails here fails alone.
fn stage_all(store: &Store, sets: &[(usize, Prepared)]) -> Result<Vec<Result<Staged>>> {
    let repo = store.repo();
    let durable_on = store.config().durability == Durability::Fsync;
    let staged = pack::with_writer(repo.commondir(), |writer| {
        let mut tips: HashMap<String, ObjectId> = HashMap::new();
        let mut written = Vec::new();
        let staged: Vec<Result<Staged>> = sets
            .iter()
            .map(|(_, p)| stage(store, writer, p, &mut tips, &mut written))
            .collect();
        let held: Vec<(ObjectId, &[u8])> = staged
            .iter()
            .zip(sets)
            .filter_map(|(s, (_, p))| Some((s.as_ref().ok()?, p)))
            .flat_map(|(s, p)| {
                s.leaves
                    .iter()
                    .zip(&p.files)
                    .map(|(leaf, file)| (leaf.1, &file.bytes[..]))
            })
            .collect();
        writer.flush(&written, &held, durable_on)?;
        Ok(staged)
    })?;
    repo.refresh_odb()?;
    Ok(staged)
}

/// Moves each staged set's branch in order, then writes its tags; a set whose branch moved
/// meanwhile lands on its own, on the new tip.
fn swap_all(
    store: &Store,
    sets: Vec<(usize, Prepared)>,
    staged: Vec<Result<Staged>>,
) -> Vec<(usize, Result<CommitOutcome>)> {
    let mut results = Vec::with_capacity(sets.len());
    let mut moved: HashSet<String> = HashSet::new();
    let mut again = Vec::new();
    for ((i, p), staged) in sets.into_iter().zip(staged) {
        let branch_ref = store.config().prefix().task_ref(&p.workflow, &p.task);
        let staged = match staged {
            Ok(staged) if !moved.contains(&branch_ref) => staged,
            Ok(_) => {
                again.push((i, p));
                continue;
            }
            Err(e) => {
                results.push((i, Err(e)));
                continue;
            }
        };
        match swap(store, &p, &branch_ref, staged) {
            Ok(Swapped::Landed(landed)) => results.push((i, write::finish(store, &p, landed))),
            Ok(Swapped::Stopped(Stop::CorrelationTaken)) => {
                results.push((i, store.commit_after_race(p)));
            }
            Ok(Swapped::Stopped(Stop::Moved)) => {
                moved.insert(branch_ref);
                again.push((i, p));
            }
            Err(e) => results.push((i, Err(e))),
        }
    }
    results.extend(one_by_one(store, again));
    results.sort_by_key(|(i, _)| *i);
    let warning = write::consolidate(store);
    if let Some((_, Ok(last))) = results.iter_mut().rev().find(|(_, r)| r.is_ok()) {
        last.warnings.extend(warning);
    }
    results
}

/// Each set through the one-at-a-time path, which looks for its correlation id again.
fn one_by_one(store: &Store, sets: Vec<(usize, Prepared)>) -> Vec<(usize, Result<CommitOutcome>)> {
    sets.into_iter()
        .map(|(i, p)| (i, store.settle(p)))
        .collect()
}

/// Writes one set's objects through the group's writer; `tips` holds the commits of
/// earlier sets of the group by branch, which a later set on the same branch builds on.
fn stage(
    store: &Store,
    writer: &pack::PackWriter<'_>,
    p: &Prepared,
    tips: &mut HashMap<String, ObjectId>,
    written: &mut Vec<ObjectId>,
) -> Result<Staged> {
    let repo = store.repo();
    let objects = writer.repo();
    let mut mine = super::blobs::write_blobs_here(objects, p)?;
    let leaves = write::leaves_of(p, mine.clone());
    let branch_ref = store.config().prefix().task_ref(&p.workflow, &p.task);
    let expected = match tips.get(&branch_ref) {
        Some(commit) => Some(*commit),
        None => crate::git::ref_oid(repo, &branch_ref)?,
    };
    let parent = match expected {
        Some(tip) => Some(tip),
        None => {
            let base_ref = crate::refs::branch_ref(&store.config().base_branch);
            crate::git::ref_target(repo, &base_ref)?
        }
    };
    let time = store.commit_time()?;
    let commit = write::build_commit(store, objects, p, &leaves, parent, &time, &mut mine)?;
    let tag_objects = write_tag_objects(store, objects, p, commit, &time)?;
    mine.extend(tag_objects.corr);
    mine.extend(tag_objects.prompt);
    written.append(&mut mine);
    tips.insert(branch_ref, commit);
    Ok(Staged {
        commit,
        expected,
        tag_objects,
        time,
        leaves,
    })
}

enum Swapped {
    Landed(Landed),
    Stopped(Stop),
}

/// Moves the set's branch from the tip its commit was built on to the commit.
fn swap(store: &Store, p: &Prepared, branch_ref: &str, staged: Staged) -> Result<Swapped> {
    let repo = store.repo();
    let log = format!("artifact-store: commit {}", p.corr);
    let result = RefDb::new(repo)
        .update(branch_ref, &log, lock_policy(store), |tip| {
            if tip != staged.expected {
                return Ok(ControlFlow::Break(Stop::Moved));
            }
            if crate::git::ref_oid(repo, &p.corr.tag_ref())?.is_some() {
                return Ok(ControlFlow::Break(Stop::CorrelationTaken));
            }
            Ok(ControlFlow::Continue(staged.commit))
        })
        .map_err(|e| crate::git::explain_lost_write(repo, e))?;
    Ok(match result {
        ControlFlow::Continue((commit, report)) => Swapped::Landed(Landed {
            commit,
            report,
            new_branch: staged.expected.is_none(),
            tag_objects: staged.tag_objects,
            time: staged.time,
            old_corr_tag: None,
        }),
        ControlFlow::Break(stop) => Swapped::Stopped(stop),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::commit::CommitRequest;
    use crate::error::Error;
    use crate::input::InputSpec;
    use crate::refs::{CorrelationId, TaskId, WorkflowId};
    use crate::OpenOptions;

    fn open(dir: &Path) -> Store {
        let repo = dir.join("store.git");
        Store::init(&repo, true).unwrap();
        Store::open(&OpenOptions {
            repo: Some(repo),
            config_file: None,
            overrides: vec![("durability".into(), "none".into())],
        })
        .unwrap()
    }

    fn request(dir: &Path, task: &str, corr: &str) -> CommitRequest {
        let file = dir.join(format!("{corr}.csv"));
        std::fs::write(&file, format!("day,pnl\n1,{corr}\n")).unwrap();
        let mut request = CommitRequest::new(
            WorkflowId::new("wf").unwrap(),
            TaskId::new(task).unwrap(),
            vec![InputSpec::path(file)],
        );
        request.correlation_id = Some(CorrelationId::new(corr).unwrap());
        request
    }

    fn first_parents(store: &Store, branch: &str) -> Vec<ObjectId> {
        let repo = store.repo();
        let mut walk = repo.revwalk().unwrap();
        walk.push_ref(branch).unwrap();
        walk.simplify_first_parent().unwrap();
        walk.map(|c| ObjectId::from(c.unwrap())).collect()
    }

    #[test]
    fn a_branch_moved_between_staging_and_swapping_gets_its_sets_rebuilt_on_the_new_tip() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.commit(request(dir.path(), "t1", "base1")).unwrap();
        let sets: Vec<(usize, Prepared)> = [("t1", "a"), ("t1", "b"), ("t2", "c")]
            .iter()
            .enumerate()
            .map(|(i, (task, corr))| (i, store.prepare(request(dir.path(), task, corr)).unwrap()))
            .collect();
        let staged = stage_all(&store, &sets).unwrap();
        let staged_ids: Vec<ObjectId> = staged.iter().map(|s| s.as_ref().unwrap().commit).collect();

        // Another writer lands on t1 after the group built on its old tip.
        let other = store.commit(request(dir.path(), "t1", "other")).unwrap();
        let results = swap_all(&store, sets, staged);

        let landed: Vec<ObjectId> = results
            .iter()
            .map(|(_, r)| ObjectId::from_hex(&r.as_ref().unwrap().commit_sha).unwrap())
            .collect();
        let t1 = store
            .config()
            .prefix()
            .task_ref(&WorkflowId::new("wf").unwrap(), &TaskId::new("t1").unwrap());
        let history = first_parents(&store, &t1);
        let other = ObjectId::from_hex(&other.commit_sha).unwrap();
        assert_eq!(
            &history[..3],
            &[landed[1], landed[0], other],
            "b on a on the other writer's commit"
        );
        assert_ne!(landed[0], staged_ids[0], "a was rebuilt");
        assert_ne!(
            landed[1], staged_ids[1],
            "b, built on the staged a, was rebuilt too"
        );
        assert_eq!(
            landed[2], staged_ids[2],
            "c's branch did not move: its staged commit landed"
        );
        for (corr, commit) in ["a", "b", "c"].iter().zip(&landed) {
            let tag = CorrelationId::new(corr).unwrap().tag_ref();
            let target = store
                .repo()
                .find_reference(&tag)
                .unwrap()
                .peel_to_commit()
                .unwrap();
            assert_eq!(target.id(), *commit, "{tag}");
        }
        let fsck = std::process::Command::new("git")
            .args(["fsck", "--strict", "--no-dangling"])
            .current_dir(store.repo().path())
            .output()
            .unwrap();
        assert!(
            fsck.status.success(),
            "{}",
            String::from_utf8_lossy(&fsck.stderr)
        );
    }

    #[test]
    fn a_tag_that_fails_after_its_branch_moved_is_named_missing_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let sets: Vec<(usize, Prepared)> = [("t1", "a"), ("t2", "b")]
            .iter()
            .enumerate()
            .map(|(i, (task, corr))| (i, store.prepare(request(dir.path(), task, corr)).unwrap()))
            .collect();
        let staged = stage_all(&store, &sets).unwrap();
        let staged_b = staged[1].as_ref().unwrap().commit;
        // After the checks, a ref appears below corr_b's name: git cannot create corr_b.
        let base = store.commit(request(dir.path(), "t3", "base")).unwrap();
        let base = ObjectId::from_hex(&base.commit_sha).unwrap();
        store
            .repo()
            .reference("refs/tags/corr_b/x", base.into(), false, "t")
            .unwrap();
        let results = swap_all(&store, sets, staged);
        let a = results[0].1.as_ref().unwrap();
        assert!(a.tags_missing.is_empty(), "{:?}", a.tags_missing);
        let b = results[1].1.as_ref().expect("landed, not failed");
        assert_eq!(b.commit_sha, staged_b.to_string());
        assert!(b.tags.is_empty(), "{:?}", b.tags);
        assert_eq!(b.tags_missing, ["corr_b"]);
        assert!(
            b.warnings
                .iter()
                .any(|w| w.contains("tag corr_b was not written") && w.contains("again")),
            "{:?}",
            b.warnings
        );
        let t2 = store
            .config()
            .prefix()
            .task_ref(&WorkflowId::new("wf").unwrap(), &TaskId::new("t2").unwrap());
        assert_eq!(store.repo().refname_to_id(&t2).unwrap(), staged_b);

        // The way cleared, the same request again finds the commit and writes the tag.
        store
            .repo()
            .find_reference("refs/tags/corr_b/x")
            .unwrap()
            .delete()
            .unwrap();
        let again = store.commit(request(dir.path(), "t2", "b")).unwrap();
        assert!(again.duplicate);
        assert_eq!(again.tags, ["corr_b"]);
        assert!(again.tags_missing.is_empty());
        let tag = store.repo().find_reference("refs/tags/corr_b").unwrap();
        assert_eq!(tag.peel_to_commit().unwrap().id(), staged_b);
    }

    #[test]
    fn a_correlation_id_another_writer_took_meanwhile_is_not_committed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let sets: Vec<(usize, Prepared)> = [("t1", "a"), ("t2", "b")]
            .iter()
            .enumerate()
            .map(|(i, (task, corr))| (i, store.prepare(request(dir.path(), task, corr)).unwrap()))
            .collect();
        let staged = stage_all(&store, &sets).unwrap();
        // The same correlation id, by another writer, on another task: t2 has not moved,
        // but corr_b names the other commit now.
        store.commit(request(dir.path(), "t3", "b")).unwrap();
        let results = swap_all(&store, sets, staged);
        match &results[1].1 {
            Err(Error::Conflict { message, .. }) => assert!(message.contains("wf/t3"), "{message}"),
            other => panic!("{other:?}"),
        }
        assert!(!results[0].1.as_ref().unwrap().duplicate);
        let t2 = store
            .config()
            .prefix()
            .task_ref(&WorkflowId::new("wf").unwrap(), &TaskId::new("t2").unwrap());
        assert!(store.repo().find_reference(&t2).is_err(), "t2 never moved");
    }
}
