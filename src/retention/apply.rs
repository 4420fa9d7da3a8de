//! Carries a plan out: every pruned ref moves to `refs/artifact-store/trash/<ts>/<ref>` in
//! one gix-ref transaction, each move conditioned on the value the plan saw; refs that
//! changed are skipped and reported. Then the report commit, then packing of loose refs.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use git2::Oid;
use serde::Serialize;

use super::plan::{Decision, Plan};
use super::report::{self, Report};
use super::Progress;
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::git::reftx::{self, Mode, RefChange, TxOptions};
use crate::git::{durable, loose, refscan};
use crate::refs::{parse_trash_ref, trash_ref, CORR_PREFIX, PROMPT_PREFIX, TRASH_NAMESPACE};
use crate::store::Store;

/// Loose ref files under `refs/` above which an apply packs them into `packed-refs`.
///
/// Every commit leaves a loose branch update and two loose tags; reading and editing refs
/// stays fast while most of them are packed. git's own `gc --auto` packs refs too, but
/// a store may never run it.
pub const LOOSE_REFS_PACK_THRESHOLD: usize = 1000;

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
    /// The `<unix_ts>` of `refs/artifact-store/trash/<unix_ts>/`.
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

/// `<git dir>/artifact-store-gc.lock`: one bulk ref writer (gc, restore, purge) at a time.
pub(crate) struct GcLock(PathBuf);

/// A gc lock older than this is taken as left by a killed process.
const GC_LOCK_STALE: Duration = Duration::from_secs(3600);

impl GcLock {
    pub(crate) fn acquire(gitdir: &Path) -> Result<GcLock> {
        let path = gitdir.join("artifact-store-gc.lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(GcLock(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| SystemTime::now().duration_since(m).ok());
                    if age.is_some_and(|age| age > GC_LOCK_STALE) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    break;
                }
                Err(e) => return Err(Error::io("failed to create", &path)(e)),
            }
        }
        Err(Error::Locked {
            refname: "the store's refs (another gc, trash restore or trash purge runs)".to_string(),
            lock: path,
        })
    }
}

impl Drop for GcLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Moves the plan's pruned refs to the trash and writes the report.
pub(super) fn apply(
    store: &Store,
    plan: &Plan,
    now: i64,
    progress: &dyn Progress,
) -> Result<Applied> {
    let ts = free_trash_ts(store.git_dir(), now)?;
    let current = current_values(store)?;
    let mut skipped = Vec::new();
    let mut moving: Vec<&Decision> = Vec::new();
    for d in plan.pruned() {
        match current.get(&d.refname) {
            Some(now) if *now == d.oid => moving.push(d),
            now => skipped.push(changed(d, now.map(Oid::to_string))),
        }
    }
    let groups: Vec<Vec<RefChange>> = moving
        .iter()
        .map(|d| {
            vec![
                RefChange::Create {
                    name: trash_ref(ts, &d.refname),
                    value: d.oid,
                },
                RefChange::Delete {
                    name: d.refname.clone(),
                    expected: d.oid,
                },
            ]
        })
        .collect();
    progress.start(
        &format!("moving {} refs to the trash", groups.len()),
        groups.len() as u64,
    );
    let outcome = reftx::transact(store.repo(), &groups, tx_options(store, Mode::SkipChanged))?;
    progress.inc(groups.len() as u64);
    progress.finish();
    for s in &outcome.skipped {
        skipped.push(changed(moving[s.group], s.actual.clone()));
    }
    let moved: Vec<&Decision> = outcome.applied.iter().map(|&i| moving[i]).collect();
    sync_packed_refs(store)?;
    let report_commit = match moved.is_empty() {
        true => None,
        false => Some(report::write(store, &gc_report(ts, &moved, &skipped))?.to_string()),
    };
    let packed_refs = pack_loose_refs(store)?;
    let mut moved_refs: Vec<String> = moved.iter().map(|d| d.refname.clone()).collect();
    moved_refs.sort();
    Ok(Applied {
        trash_ts: ts,
        moved: moved.len(),
        skipped,
        report_commit,
        undo: format!("artifact-store trash restore {ts}"),
        packed_refs,
        moved_refs,
    })
}

pub(super) fn tx_options(store: &Store, mode: Mode) -> TxOptions {
    TxOptions {
        mode,
        packed: true,
        lock_timeout: Duration::from_secs(store.config().lock_timeout),
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
fn free_trash_ts(gitdir: &Path, now: i64) -> Result<i64> {
    let used: BTreeSet<i64> = refscan::refs_with_prefix(gitdir, &format!("{TRASH_NAMESPACE}/"))?
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
fn current_values(store: &Store) -> Result<HashMap<String, Oid>> {
    let prefixes = [
        format!("refs/heads/{}/", store.config().prefix().as_str()),
        format!("refs/tags/{CORR_PREFIX}"),
        format!("refs/tags/{PROMPT_PREFIX}"),
    ];
    let mut out = HashMap::new();
    for prefix in &prefixes {
        out.extend(refscan::refs_with_prefix(store.git_dir(), prefix)?);
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
        "Moved {} refs to {TRASH_NAMESPACE}/{ts}/.",
        moved.len()
    )];
    if !skipped.is_empty() {
        summary.push(format!(
            "Skipped {} refs that changed after planning.",
            skipped.len()
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
        title: format!("gc: {} refs moved to the trash", moved.len()),
        summary,
        rows,
    }
}

/// Packs loose refs into `packed-refs` when there are more than the threshold; a ref that
/// moves meanwhile stays loose. Returns how many were packed.
fn pack_loose_refs(store: &Store) -> Result<usize> {
    let gitdir = store.git_dir();
    if loose::count_loose_refs(gitdir) <= LOOSE_REFS_PACK_THRESHOLD {
        return Ok(0);
    }
    let groups: Vec<Vec<RefChange>> = loose::loose_refs(gitdir)
        .into_iter()
        .map(|(name, value)| vec![RefChange::Pack { name, value }])
        .collect();
    let outcome = reftx::transact(store.repo(), &groups, tx_options(store, Mode::SkipChanged))?;
    sync_packed_refs(store)?;
    Ok(outcome.applied.len())
}
