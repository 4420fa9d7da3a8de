//! Carries a plan out: every pruned ref moves to `refs/artifact-store/trash/<ts>/<ref>`:
//! the trash copies go into `packed-refs` in one rewrite, then the refs are deleted in one
//! transaction (`RefDb::edit`), each on condition that it holds the value the plan saw; refs that
//! changed are skipped and reported, and their copies taken out again. Then the report
//! commit, then packing of loose refs.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use crate::git::ObjectId;
use serde::Serialize;

use super::plan::{Decision, Plan};
use super::report::{self, Report};
use super::{Progress, Unit};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::git::durable;
use crate::git::refs::{
    LockPolicy, Mode, NewRef, RefChange, RefDb, TxOptions, LOOSE_REFS_PACK_THRESHOLD,
};
use crate::refs::{parse_trash_ref, trash_ref, CORR_PREFIX, PROMPT_PREFIX, TRASH_NAMESPACE};
use crate::store::Store;

/// A pruned ref that was not moved, and why.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedRef {
    /// The ref.
    #[serde(rename = "ref")]
    pub refname: String,
    /// The value the plan saw.
    pub expected: String,
    /// What it holds now (`null`: it is gone).
    pub actual: Option<String>,
    /// Why it was skipped, as a sentence fragment.
    pub reason: String,
}

/// What an apply did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// When the refs moved, RFC 3339 UTC.
    pub trash_time: String,
    /// The `<unix_ts>` of `refs/artifact-store/trash/<unix_ts>/`: what `trash restore` takes.
    #[serde(rename = "trash_time_unix")]
    pub trash_ts: i64,
    /// Refs moved to the trash.
    pub moved: usize,
    /// Pruned refs left in place because they changed after planning.
    pub skipped: Vec<SkippedRef>,
    /// The report commit on `refs/artifact-store/reports`, when anything moved.
    pub report_commit: Option<String>,
    /// The command that undoes the apply.
    pub undo: String,
    /// Loose refs packed into `packed-refs` afterwards (0 below the threshold).
    pub packed_refs: usize,
    /// The refs that moved.
    #[serde(skip)]
    pub moved_refs: Vec<String>,
}

/// Moves the plan's pruned refs to the trash and writes the report.
///
/// A move is two steps, in this order: the trash copies are written into `packed-refs` in
/// one rewrite (no lock file per ref: only gc, restore and purge write the trash, one at a
/// time under [`crate::git::refs::GcLock`]), then the pruned refs are deleted in one transaction,
/// each on condition that it still holds the planned value. A crash between the two leaves
/// every pruned ref in place beside its copy; a deletion never runs without its copy. Refs
/// that changed, and refs whose trash name another writer took meanwhile, are skipped, and
/// their copies are taken out again: the trash holds exactly what moved.
///
/// A failure once refs are in the trash (a full disk while writing the report, say) is
/// [`Error::AfterTrash`]: the error carries `artifact-store trash restore <ts>`.
pub(super) fn apply(
    store: &Store,
    plan: &Plan,
    now: i64,
    progress: &dyn Progress,
) -> Result<Applied> {
    let ts = free_trash_ts(store, now)?;
    apply_at(store, plan, ts, progress).map_err(|e| with_undo(store, ts, e))
}

/// Wraps a failure of the apply into trash batch `ts` with the undo command when the batch
/// holds refs: a free batch was chosen, so whatever is there this run moved (or copied).
fn with_undo(store: &Store, ts: i64, error: Error) -> Error {
    let batch = format!("{TRASH_NAMESPACE}/{ts}/");
    // Unreadable, the trash may hold refs all the same: say so rather than nothing.
    let count = match RefDb::new(store.repo())
        .with_prefix(&batch)
        .map(|r| r.len())
    {
        Ok(0) => return error,
        Ok(n) => super::refs(n),
        Err(_) => "refs".to_string(),
    };
    Error::AfterTrash {
        message: format!("gc --apply failed after putting {count} in {batch}, where they stay"),
        undo: format!("artifact-store trash restore {ts}"),
        source: Box::new(error),
    }
}

fn apply_at(store: &Store, plan: &Plan, ts: i64, progress: &dyn Progress) -> Result<Applied> {
    let current = current_values(store)?;
    let mut skipped = Vec::new();
    let mut moving: Vec<&Decision> = Vec::new();
    for d in plan.pruned() {
        match current.get(&d.refname) {
            Some(now) if *now == d.oid => moving.push(d),
            now => skipped.push(changed(d, now.map(ObjectId::to_string))),
        }
    }
    refuse_refs_in_the_way(store.git_dir(), ts)?;
    progress.start(
        &format!("copying {} to the trash", super::refs(moving.len())),
        moving.len() as u64,
        Unit::Items,
    );
    let copies: Vec<(String, ObjectId)> = moving
        .iter()
        .map(|d| (trash_ref(ts, &d.refname), d.oid))
        .collect();
    let locks = bulk_locks(store);
    let new_refs: Vec<NewRef> = copies
        .iter()
        .zip(&moving)
        .map(|((name, value), d)| NewRef {
            name: name.clone(),
            value: *value,
            copy_of: Some(d.refname.clone()),
        })
        .collect();
    let written = RefDb::new(store.repo()).add_packed(&new_refs, locks)?;
    sync_packed_refs(store)?;
    progress.inc(moving.len() as u64);
    progress.start(
        &format!("deleting {}", super::refs(moving.len())),
        moving.len() as u64,
        Unit::Items,
    );
    let taken = taken_trash_names(store, ts, &copies, &written);
    let deleting: Vec<usize> = (0..moving.len()).filter(|i| !taken[*i]).collect();
    let groups: Vec<Vec<RefChange>> = deleting
        .iter()
        .map(|&i| {
            vec![RefChange::Delete {
                name: moving[i].refname.clone(),
                expected: moving[i].oid,
            }]
        })
        .collect();
    let outcome = RefDb::new(store.repo()).edit(&groups, tx_options(store, Mode::SkipChanged));
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            // Nothing is known to be deleted: take out the copies of refs still in place.
            let _ = remove_copies_of_unmoved(store, &moving, &copies, &written);
            return Err(e);
        }
    };
    progress.inc(moving.len() as u64);
    progress.finish();
    let mut unmoved: Vec<usize> = (0..moving.len()).filter(|i| taken[*i]).collect();
    for i in &unmoved {
        let name = &copies[*i].0;
        skipped.push(SkippedRef {
            reason: format!("its trash name {name} was taken by another writer"),
            ..changed(moving[*i], Some(moving[*i].oid.to_string()))
        });
    }
    for s in &outcome.skipped {
        let i = deleting[s.group];
        skipped.push(changed(moving[i], s.actual.clone()));
        unmoved.push(i);
    }
    let stray: Vec<(String, ObjectId)> = unmoved
        .iter()
        .filter(|i| written[**i])
        .map(|i| copies[*i].clone())
        .collect();
    if let Err(e) = RefDb::new(store.repo()).remove_packed(&stray, locks) {
        // The refs moved already: report the copies left behind rather than fail the run.
        for s in skipped.iter_mut() {
            if let Some((copy, _)) = stray.iter().find(|(c, _)| *c == trash_ref(ts, &s.refname)) {
                s.reason = format!("{}; its copy {copy} could not be taken out ({e})", s.reason);
            }
        }
    }
    sync_packed_refs(store)?;
    let moved: Vec<&Decision> = outcome
        .applied
        .iter()
        .map(|&g| moving[deleting[g]])
        .collect();
    let report_commit = match moved.is_empty() {
        true => None,
        false => Some(report::write(store, &gc_report(ts, &moved, &skipped))?.to_string()),
    };
    let packed_refs = pack_loose_refs(store)?;
    let mut moved_refs: Vec<String> = moved.iter().map(|d| d.refname.clone()).collect();
    moved_refs.sort();
    Ok(Applied {
        trash_time: crate::report::rfc3339(ts),
        trash_ts: ts,
        moved: moved.len(),
        skipped,
        report_commit,
        undo: format!("artifact-store trash restore {ts}"),
        packed_refs,
        moved_refs,
    })
}

/// Refuses a batch whose every trash name is blocked: a loose ref file named like one of
/// the directories of `refs/artifact-store/trash/<ts>/`.
fn refuse_refs_in_the_way(gitdir: &Path, ts: i64) -> Result<()> {
    let batch = format!("{TRASH_NAMESPACE}/{ts}");
    let mut dir = batch.as_str();
    loop {
        if gitdir.join(dir).is_file() {
            return Err(Error::Conflict {
                message: format!("the ref {dir} is in the way of the trash batch {batch}/"),
                hint: Some(format!("rename or delete {dir}, then run gc again")),
            });
        }
        match dir.rsplit_once('/') {
            Some((parent, _)) if parent != "refs" => dir = parent,
            _ => return Ok(()),
        }
    }
}

/// Marks the copies whose trash name someone else holds: `packed-refs` had it, or a ref
/// named like one of its directories or under it (so it was not written), or a loose ref,
/// or a held `<ref>.lock`, is at that name, above it or under it within
/// `refs/artifact-store/trash/<ts>/` (`revert-to-tag --hard` keeps old tips there under
/// the git layer's per-ref lock, not under the gc lock). Looked for after the copies are in
/// `packed-refs`: a writer that locks such a name later sees the copy.
fn taken_trash_names(
    store: &Store,
    ts: i64,
    copies: &[(String, ObjectId)],
    written: &[bool],
) -> Vec<bool> {
    let loose = RefDb::new(store.repo()).loose_names_under(&format!("{TRASH_NAMESPACE}/{ts}/"));
    if loose.is_empty() {
        return written.iter().map(|w| !w).collect();
    }
    let loose: HashSet<&str> = loose.iter().map(String::as_str).collect();
    let dirs_of = |name: &'_ str| -> Vec<String> {
        name.match_indices('/')
            .map(|(i, _)| name[..i].to_string())
            .collect()
    };
    let mut blocked: HashSet<String> = HashSet::new();
    for name in &loose {
        blocked.insert(name.to_string());
        blocked.extend(dirs_of(name));
    }
    copies
        .iter()
        .zip(written)
        .map(|((name, _), written)| {
            !written
                || blocked.contains(name)
                || dirs_of(name).iter().any(|d| loose.contains(d.as_str()))
        })
        .collect()
}

/// After a failed deletion step: removes the copies of refs that still hold the planned
/// value (their objects stay reachable from the ref itself).
fn remove_copies_of_unmoved(
    store: &Store,
    moving: &[&Decision],
    copies: &[(String, ObjectId)],
    written: &[bool],
) -> Result<usize> {
    let current = current_values(store)?;
    let unmoved: Vec<(String, ObjectId)> = moving
        .iter()
        .zip(copies.iter().zip(written))
        .filter(|(d, (_, written))| **written && current.get(&d.refname) == Some(&d.oid))
        .map(|(_, (copy, _))| copy.clone())
        .collect();
    let removed = RefDb::new(store.repo()).remove_packed(&unmoved, bulk_locks(store))?;
    sync_packed_refs(store)?;
    Ok(removed)
}

/// How a holder of the gc lock treats the ref locks in its way: a lock older than
/// `stale_lock_seconds` was left by a killed bulk writer and is removed.
pub(crate) fn bulk_locks(store: &Store) -> LockPolicy {
    store.lock_policy().bulk()
}

/// Transaction options for a holder of the gc lock.
pub(super) fn tx_options(store: &Store, mode: Mode) -> TxOptions {
    TxOptions {
        mode,
        packed: true,
        locks: bulk_locks(store),
    }
}

fn changed(d: &Decision, actual: Option<String>) -> SkippedRef {
    let reason = match &actual {
        None => "deleted since the plan".to_string(),
        Some(now) => format!("moved to {} since the plan", &now[..now.len().min(12)]),
    };
    SkippedRef {
        refname: d.refname.clone(),
        expected: d.oid.to_string(),
        actual,
        reason,
    }
}

/// Returns the first second at or after `now` that no trash ref uses yet.
fn free_trash_ts(store: &Store, now: i64) -> Result<i64> {
    let used: BTreeSet<i64> = RefDb::new(store.repo())
        .with_prefix(&format!("{TRASH_NAMESPACE}/"))?
        .iter()
        .filter_map(|(name, _)| parse_trash_ref(name).map(|(ts, _)| ts))
        .collect();
    let mut ts = now;
    while used.contains(&ts) {
        ts += 1;
    }
    Ok(ts)
}

/// Reads the current value of every ref a plan can prune, by prefix.
fn current_values(store: &Store) -> Result<HashMap<String, ObjectId>> {
    let prefixes = [
        format!("refs/heads/{}/", store.config().prefix().as_str()),
        format!("refs/tags/{CORR_PREFIX}"),
        format!("refs/tags/{PROMPT_PREFIX}"),
    ];
    let mut out = HashMap::new();
    for prefix in &prefixes {
        out.extend(RefDb::new(store.repo()).with_prefix(prefix)?);
    }
    Ok(out)
}

/// Flushes `packed-refs` and the git directory when the store is durable.
pub(super) fn sync_packed_refs(store: &Store) -> Result<()> {
    if store.config().durability == Durability::Fsync {
        durable::sync_ref(store.repo(), "packed-refs", false)?;
    }
    Ok(())
}

fn gc_report(ts: i64, moved: &[&Decision], skipped: &[SkippedRef]) -> Report {
    let mut summary = vec![format!(
        "Moved {} to {TRASH_NAMESPACE}/{ts}/.",
        super::refs(moved.len())
    )];
    if !skipped.is_empty() {
        summary.push(format!(
            "Skipped {} that changed after planning.",
            super::refs(skipped.len())
        ));
    }
    summary.push(format!("Undo: artifact-store trash restore {ts}"));
    let mut rows: Vec<String> = moved
        .iter()
        .map(|d| format!("moved\t{}\t{}\t{}", d.refname, d.oid, d.reason))
        .collect();
    rows.extend(
        skipped
            .iter()
            .map(|s| format!("skipped\t{}\t{}\t{}", s.refname, s.expected, s.reason)),
    );
    Report {
        kind: "gc",
        ts,
        title: format!("gc: {} moved to the trash", super::refs(moved.len())),
        summary,
        rows,
    }
}

/// Packs loose refs into `packed-refs` when there are more than the threshold; a ref that
/// moves meanwhile stays loose. Returns how many were packed.
fn pack_loose_refs(store: &Store) -> Result<usize> {
    let refs = RefDb::new(store.repo());
    if refs.count_loose() <= LOOSE_REFS_PACK_THRESHOLD {
        return Ok(0);
    }
    let packed = refs.pack_loose(bulk_locks(store))?;
    sync_packed_refs(store)?;
    Ok(packed)
}
