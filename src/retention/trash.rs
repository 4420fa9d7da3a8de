//! The trash: `refs/artifact-store/trash/<unix_ts>/<original ref>`. Listed by time, restored
//! to where the refs were (never over a ref that exists again), purged once expired.

use std::collections::BTreeMap;
use std::process::Command;

use crate::git::ObjectId;
use serde::Serialize;

use super::apply::{sync_packed_refs, tx_options};
use super::report::{self, Report};
use crate::config::retention::Policy;
use crate::error::{Error, Result};
use crate::git::refs::{GcLock, Mode, RefChange, RefDb};
use crate::refs::{parse_trash_ref, TRASH_NAMESPACE};
use crate::store::Store;

const DAY: i64 = 86_400;

/// One ref in the trash.
#[derive(Debug, Clone, Serialize)]
pub struct TrashEntry {
    /// `refs/artifact-store/trash/<ts>/<original>`.
    pub trash_ref: String,
    /// Where it was.
    pub original: String,
    /// What it holds (a tag object for annotated tags).
    pub oid: String,
}

/// The refs trashed at one time.
#[derive(Debug, Clone, Serialize)]
pub struct TrashBatch {
    /// When the refs moved, RFC 3339 UTC.
    pub time: String,
    /// Unix seconds, the `<ts>` of the ref names: what `trash restore` takes.
    #[serde(rename = "time_unix")]
    pub ts: i64,
    /// Whole days since then.
    pub age_days: i64,
    /// How many refs.
    pub count: usize,
    /// The refs, by original name.
    pub refs: Vec<TrashEntry>,
}

/// `trash list`.
#[derive(Debug, Clone, Serialize)]
pub struct TrashList {
    /// Always true (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// Days a batch stays before `trash purge` takes it by default.
    pub trash_days: u64,
    /// Oldest first.
    pub batches: Vec<TrashBatch>,
}

/// `trash restore`.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    /// Always true; a refusal is an error (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// The refs put back.
    pub restored: Vec<TrashEntry>,
    /// The report commit.
    pub report_commit: String,
}

/// Whether `git gc --prune=now` ran after a purge.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum GitGc {
    /// `--prune-objects` was not given.
    NotRequested,
    /// It ran and succeeded.
    Ran,
    /// No `git` on `PATH`.
    NotInstalled,
    /// It ran and failed, with its stderr.
    Failed(String),
}

/// A batch `trash purge` deleted.
#[derive(Debug, Clone, Serialize)]
pub struct PurgedBatch {
    /// When its refs were trashed, RFC 3339 UTC.
    pub time: String,
    /// The same, unix seconds: the `<ts>` of its ref names.
    pub time_unix: i64,
}

/// `trash purge`.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeOutcome {
    /// Always true (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// Batches older than this many days were purged.
    pub older_than_days: u64,
    /// Refs deleted.
    pub purged: usize,
    /// The batches purged.
    pub batches: Vec<PurgedBatch>,
    /// The report commit, when anything was purged.
    pub report_commit: Option<String>,
    /// What `git gc` did.
    pub git_gc: GitGc,
}

impl Store {
    /// Lists the trash by time, oldest first.
    pub fn trash_list(&self) -> Result<TrashList> {
        let now = self.commit_time()?.seconds();
        let trash_days = Policy::from_config(&self.config().retention)?.trash_days;
        let batches = self
            .trash_batches()?
            .into_iter()
            .map(|(ts, refs)| TrashBatch {
                time: crate::report::rfc3339(ts),
                ts,
                age_days: (now - ts).max(0) / DAY,
                count: refs.len(),
                refs,
            })
            .collect();
        Ok(TrashList {
            success: true,
            trash_days,
            batches,
        })
    }

    /// Puts back the refs of batch `<ts>`, or one ref (its trash name or original name, the
    /// newest copy); refuses, changing nothing, when any of them exists again.
    pub fn trash_restore(&self, spec: &str) -> Result<RestoreOutcome> {
        let _lock = GcLock::acquire(self.git_dir(), self.lock_policy())?;
        let chosen = self.select(spec)?;
        let mut conflicts = Vec::new();
        for entry in &chosen {
            if let Some(now) = crate::git::ref_oid(self.repo(), &entry.original)? {
                conflicts.push(format!(
                    "{} (now {})",
                    entry.original,
                    &now.to_string()[..12]
                ));
            }
        }
        if !conflicts.is_empty() {
            return Err(refuse(&conflicts));
        }
        let groups = chosen
            .iter()
            .map(|e| {
                let oid = oid_of(e)?;
                Ok(vec![
                    RefChange::Create {
                        name: e.original.clone(),
                        value: oid,
                    },
                    RefChange::Delete {
                        name: e.trash_ref.clone(),
                        expected: oid,
                    },
                ])
            })
            .collect::<Result<Vec<_>>>()?;
        RefDb::new(self.repo()).edit(&groups, tx_options(self, Mode::Atomic))?;
        sync_packed_refs(self)?;
        let report = Report {
            kind: "restore",
            ts: self.commit_time()?.seconds(),
            title: format!(
                "restore: {} put back from the trash",
                super::refs(chosen.len())
            ),
            summary: vec![format!("Restored {spec}.")],
            rows: chosen
                .iter()
                .map(|e| format!("restored\t{}\t{}\tfrom {}", e.original, e.oid, e.trash_ref))
                .collect(),
        };
        let commit = report::write(self, &report)?;
        Ok(RestoreOutcome {
            success: true,
            restored: chosen,
            report_commit: commit.to_string(),
        })
    }

    /// Deletes the trash batches older than `older_than_days` (default: `trash_days`), then
    /// with `prune_objects` runs `git gc --prune=now` when git is installed.
    pub fn trash_purge(
        &self,
        older_than_days: Option<u64>,
        prune_objects: bool,
    ) -> Result<PurgeOutcome> {
        let days = match older_than_days {
            Some(days) => days,
            None => Policy::from_config(&self.config().retention)?.trash_days,
        };
        let _lock = GcLock::acquire(self.git_dir(), self.lock_policy())?;
        let now = self.commit_time()?.seconds();
        let cutoff = now.saturating_sub((days as i64).saturating_mul(DAY));
        let expired: Vec<(i64, Vec<TrashEntry>)> = self
            .trash_batches()?
            .into_iter()
            .filter(|(ts, _)| *ts < cutoff || (days == 0 && *ts <= now))
            .collect();
        let entries: Vec<&TrashEntry> = expired.iter().flat_map(|(_, refs)| refs).collect();
        let groups = entries
            .iter()
            .map(|e| {
                Ok(vec![RefChange::Delete {
                    name: e.trash_ref.clone(),
                    expected: oid_of(e)?,
                }])
            })
            .collect::<Result<Vec<_>>>()?;
        let outcome = RefDb::new(self.repo()).edit(&groups, tx_options(self, Mode::SkipChanged))?;
        sync_packed_refs(self)?;
        let purged: Vec<&TrashEntry> = outcome.applied.iter().map(|&i| entries[i]).collect();
        let report_commit = match purged.is_empty() {
            true => None,
            false => Some(report::write(self, &purge_report(now, days, &purged))?.to_string()),
        };
        let git_gc = match prune_objects {
            true => run_git_gc(self.git_dir()),
            false => GitGc::NotRequested,
        };
        Ok(PurgeOutcome {
            success: true,
            older_than_days: days,
            purged: purged.len(),
            batches: expired
                .iter()
                .map(|(ts, _)| PurgedBatch {
                    time: crate::report::rfc3339(*ts),
                    time_unix: *ts,
                })
                .collect(),
            report_commit,
            git_gc,
        })
    }

    fn trash_batches(&self) -> Result<BTreeMap<i64, Vec<TrashEntry>>> {
        let mut batches: BTreeMap<i64, Vec<TrashEntry>> = BTreeMap::new();
        for (name, oid) in RefDb::new(self.repo()).with_prefix(&format!("{TRASH_NAMESPACE}/"))? {
            let Some((ts, original)) = parse_trash_ref(&name) else {
                continue;
            };
            let original = original.to_string();
            batches.entry(ts).or_default().push(TrashEntry {
                trash_ref: name,
                original,
                oid: oid.to_string(),
            });
        }
        Ok(batches)
    }

    /// Returns the entries `spec` names: a batch time, a trash ref, or an original ref.
    fn select(&self, spec: &str) -> Result<Vec<TrashEntry>> {
        let mut batches = self.trash_batches()?;
        if let Ok(ts) = spec.parse::<i64>() {
            return batches.remove(&ts).ok_or_else(|| {
                Error::NotFound(format!(
                    "the trash has nothing from {ts}; see `artifact-store trash list`."
                ))
            });
        }
        let prefix = self.config().prefix();
        let candidates = [
            spec.to_string(),
            format!("refs/heads/{spec}"),
            format!("refs/tags/{spec}"),
            format!("refs/heads/{}/{spec}", prefix.as_str()),
        ];
        for (_, entries) in batches.into_iter().rev() {
            if let Some(entry) = entries
                .into_iter()
                .find(|e| e.trash_ref == spec || candidates.contains(&e.original))
            {
                return Ok(vec![entry]);
            }
        }
        Err(Error::NotFound(format!(
            "nothing in the trash is named {spec:?}; see `artifact-store trash list`."
        )))
    }
}

fn oid_of(entry: &TrashEntry) -> Result<ObjectId> {
    ObjectId::parse(&entry.oid, format!("bad object id in {}", entry.trash_ref))
}

fn refuse(conflicts: &[String]) -> Error {
    let shown: Vec<&str> = conflicts.iter().take(10).map(String::as_str).collect();
    let more = match conflicts.len() > shown.len() {
        true => format!(" and {} more", conflicts.len() - shown.len()),
        false => String::new(),
    };
    Error::Conflict {
        message: format!(
            "{} of the refs to restore exist again: {}{more}; nothing was restored",
            conflicts.len(),
            shown.join(", ")
        ),
        hint: Some(
            "move or delete those refs first, or restore the others one by one with `artifact-store trash restore <ref>`"
                .to_string(),
        ),
    }
}

fn purge_report(now: i64, days: u64, purged: &[&TrashEntry]) -> Report {
    Report {
        kind: "purge",
        ts: now,
        title: format!("purge: {} trash refs deleted", purged.len()),
        summary: vec![
            format!("Deleted trash refs older than {days} days."),
            "Their objects go when `git gc --prune=now` finds nothing else reaching them."
                .to_string(),
        ],
        rows: purged
            .iter()
            .map(|e| format!("purged\t{}\t{}\twas {}", e.trash_ref, e.oid, e.original))
            .collect(),
    }
}

/// Runs `git gc --prune=now` on the store, when a `git` is installed.
fn run_git_gc(gitdir: &std::path::Path) -> GitGc {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(gitdir)
        .args(["gc", "--prune=now", "--quiet"])
        .output();
    match output {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => GitGc::NotInstalled,
        Err(e) => GitGc::Failed(e.to_string()),
        Ok(out) if out.status.success() => GitGc::Ran,
        Ok(out) => GitGc::Failed(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    }
}
