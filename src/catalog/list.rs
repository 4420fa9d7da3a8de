//! `list`: artifact sets newest first, by task branch tips or every version, filtered.

use crate::git::ObjectId;
use serde::Serialize;
use serde_json::Value;

use std::collections::BTreeSet;

use super::query::{nearest_key, Where};
use super::{ArtifactSet, ListView};
use crate::error::{Error, Result};
use crate::metadata::{TestStatus, Trailers};
use crate::refs::{TaskId, WorkflowId};
use crate::store::Store;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only this workflow's branches (read by prefix).
    pub workflow: Option<WorkflowId>,
    /// Only this task.
    pub task: Option<TaskId>,
    /// Only sets with this test status.
    pub status: Option<TestStatus>,
    /// Only sets committed at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Metadata filters, all of which must hold.
    pub wheres: Vec<Where>,
    /// At most this many rows.
    pub limit: usize,
    /// Every version on each branch instead of the tips only.
    pub all_versions: bool,
    /// Rows without their tags (left empty) and without their files' checksums: for a
    /// face that shows neither, such as the CLI's table and CSV (two ref lookups a row
    /// fewer). The files themselves are still read: that is how a missing object is found.
    pub brief: bool,
}

/// An artifact set `list` selected but could not read: an object it needs is missing from
/// the object database or damaged.
#[derive(Debug, Clone, Serialize)]
pub struct Unreadable {
    /// Task branch, short form.
    pub branch: String,
    /// The commit, when its id is known.
    pub commit_sha: Option<String>,
    /// What cannot be read: the object id and where it sits.
    pub message: String,
}

/// What `list` found: the rows it could read and the sets it could not.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Matching sets, newest first.
    pub rows: Vec<ArtifactSet>,
    /// Sets that could not be read, never silently left out.
    pub unreadable: Vec<Unreadable>,
    /// What the user should know about the query: a `--where` key that no set in scope
    /// carries, with the nearest key that does.
    pub warnings: Vec<String>,
}

impl Serialize for Listing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        let sets: Vec<ListView<'_>> = self.rows.iter().map(ArtifactSet::list_view).collect();
        map.serialize_entry("sets", &sets)?;
        map.serialize_entry("unreadable", &self.unreadable)?;
        map.serialize_entry("warnings", &self.warnings)?;
        map.end()
    }
}

impl crate::report::Reportable for Listing {
    fn failure(&self) -> Option<crate::report::Failure> {
        self.unreadable_error()
            .map(|e| crate::report::Failure::of(&e))
    }
}

impl Listing {
    /// The error that stands for the sets `list` could not read, if any: it names the
    /// first of them (its branch, the object and where it sits) and how many there are.
    pub fn unreadable_error(&self) -> Option<Error> {
        let n = self.unreadable.len();
        let first = self.unreadable.first()?;
        let first = format!("{}: {}", first.branch, first.message);
        Some(Error::Corrupt {
            message: if n == 1 {
                format!("an artifact set cannot be read and is not listed: {first}")
            } else {
                format!("{n} artifact sets cannot be read and are not listed, the first: {first}")
            },
        })
    }
}

impl Store {
    /// Lists artifact sets newest first (by commit time).
    ///
    /// A selected set whose commit, trees or metadata.json cannot be read is not left out:
    /// it is returned in [`Listing::unreadable`] with the object that failed.
    pub fn list(&self, q: &ListQuery) -> Result<Listing> {
        let branches = self.task_branches(q.workflow.as_ref(), q.task.as_ref())?;
        let mut listing = Listing::default();
        let mut candidates: Vec<(i64, ObjectId, String)> = Vec::new();
        let per_branch = if q.all_versions && q.wheres.is_empty() && q.status.is_none() {
            q.limit
        } else {
            usize::MAX
        };
        for (branch, tip) in branches {
            let found = if q.all_versions {
                self.versions_of(&branch, tip, per_branch, q.since, &mut candidates)
            } else {
                super::find_commit(self.repo(), tip)
                    .map(|c| candidates.push((c.time().seconds(), tip, branch.clone())))
            };
            match found {
                Ok(()) => {}
                Err(Error::Corrupt { message }) => listing.unreadable.push(Unreadable {
                    branch,
                    commit_sha: Some(tip.to_string()),
                    message,
                }),
                Err(e) => return Err(e),
            }
        }
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
        let mut keys = BTreeSet::new();
        for (time, oid, branch) in candidates {
            if listing.rows.len() >= q.limit {
                break;
            }
            if q.since.is_some_and(|since| time < since) {
                continue;
            }
            match self.row_if_matches(q, oid, &branch, &mut keys) {
                Ok(Some(row)) => listing.rows.push(row),
                Ok(None) => {}
                Err(Error::Corrupt { message }) => listing.unreadable.push(Unreadable {
                    branch,
                    commit_sha: Some(oid.to_string()),
                    message,
                }),
                Err(e) => return Err(e),
            }
        }
        listing.warnings = unknown_keys(&q.wheres, &keys);
        Ok(listing)
    }

    /// Returns `(short branch, tip)` of the task branches selected, read by ref prefix.
    pub(crate) fn task_branches(
        &self,
        workflow: Option<&WorkflowId>,
        task: Option<&TaskId>,
    ) -> Result<Vec<(String, ObjectId)>> {
        let base = format!("refs/heads/{}/", self.config().prefix().as_str());
        let scan_prefix = match workflow {
            Some(w) => format!("{base}{w}/"),
            None => base.clone(),
        };
        let mut out = Vec::new();
        for (name, oid) in crate::git::refs::RefDb::new(self.repo()).with_prefix(&scan_prefix)? {
            let rest = &name[base.len()..];
            let Some((_, t)) = rest.split_once('/') else {
                continue;
            };
            if t.contains('/') || task.is_some_and(|task| task.as_str() != t) {
                continue;
            }
            out.push((name["refs/heads/".len()..].to_string(), oid));
        }
        Ok(out)
    }

    fn versions_of(
        &self,
        branch: &str,
        tip: ObjectId,
        max: usize,
        since: Option<i64>,
        out: &mut Vec<(i64, ObjectId, String)>,
    ) -> Result<()> {
        let repo = self.repo();
        for oid in crate::git::first_parents(repo, tip, branch)?.take(max) {
            let oid = oid?;
            let commit = super::find_commit(repo, oid)?;
            let time = commit.time().seconds();
            if since.is_some_and(|s| time < s) {
                break;
            }
            let trailers = Trailers::parse(commit.message());
            // A restore commit (revert-to-tag onto a task branch) has no Correlation-Id
            // of its own, but is a version of the task all the same.
            if trailers.correlation_id.is_some() || trailers.workflow_id.is_some() {
                out.push((time, oid, branch.to_string()));
            }
        }
        Ok(())
    }

    fn row_if_matches(
        &self,
        q: &ListQuery,
        oid: ObjectId,
        branch: &str,
        keys: &mut BTreeSet<String>,
    ) -> Result<Option<ArtifactSet>> {
        let repo = self.repo();
        let commit = super::find_commit(repo, oid)?;
        let trailers = Trailers::parse(commit.message());
        let (Some(wf), Some(task)) = (&trailers.workflow_id, &trailers.task_id) else {
            return Ok(None);
        };
        if let Some(status) = q.status {
            if trailers.test_status.as_deref() != Some(status.as_str()) {
                return Ok(None);
            }
        }
        let dir = self.config().artifact_dir_for(wf, task);
        let metadata = match super::read_metadata_at(repo, &commit, &dir)? {
            Some(Value::Object(map)) => map,
            _ => return Ok(None),
        };
        if !q.wheres.is_empty() {
            super::query::key_paths(&metadata, keys);
        }
        let doc = Value::Object(metadata);
        if !q.wheres.iter().all(|w| w.matches(&doc)) {
            return Ok(None);
        }
        // The files are read even for a brief row: walking the tree and reading each
        // blob's header is how `list` finds a set with a missing object, which it never
        // leaves out silently (docs/read-side.md).
        let files = super::list_files(repo, &commit, &dir)?.unwrap_or_default();
        let set = if q.brief {
            let mut set =
                super::assemble_brief(oid, &commit, &trailers, branch.to_string(), dir, doc);
            set.files = files;
            set
        } else {
            self.assemble(oid, &commit, &trailers, branch.to_string(), dir, files, doc)?
        };
        Ok(Some(set))
    }
}

/// Warns of each `--where` key that no set read carries: a typo or a missing prefix
/// (`net_pnl` for `test_metrics.net_pnl`) matches nothing, silently, otherwise. Every set
/// in scope was read when nothing matched, and a set that matched carries every key; so
/// `keys` covers the scope whenever a warning can be due.
fn unknown_keys(wheres: &[Where], keys: &BTreeSet<String>) -> Vec<String> {
    let known: Vec<String> = keys.iter().cloned().collect();
    let mut out = Vec::new();
    let mut warned = BTreeSet::new();
    for w in wheres {
        let key = w.key();
        if keys.contains(&key) || !warned.insert(key.clone()) {
            continue;
        }
        let nearest = match nearest_key(&key, &known) {
            Some(near) => format!(
                "; did you mean {near:?}? (--where '{near}{}{}')",
                w.op.symbol(),
                w.value
            ),
            None => String::new(),
        };
        out.push(format!(
            "no artifact set in scope has the key {key:?}, so --where '{w}' matches nothing{nearest}"
        ));
    }
    out
}
