//! `list`: artifact sets newest first, by task branch tips or every version, filtered.

use crate::git::ObjectId;
use serde::Serialize;
use serde_json::{Map, Value};

use std::collections::BTreeSet;

use super::query::{nearest_key, Where};
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
}

/// One row: a set object of `docs/json.md` (who, which commit, when, where, tags) with its
/// files and the stored metadata.
#[derive(Debug, Clone)]
pub struct ListRow {
    /// Workflow id, from the trailers.
    pub workflow_id: String,
    /// Task id, from the trailers.
    pub task_id: String,
    /// Correlation id (`corr_...`), from the trailers.
    pub correlation_id: Option<String>,
    /// Prompt hash, from the trailers.
    pub prompt_hash: Option<String>,
    /// Task branch, short form.
    pub branch: String,
    /// Commit id.
    pub commit_sha: String,
    /// Commit time, unix seconds.
    pub time: i64,
    /// Every store tag naming the commit.
    pub tags: Vec<String>,
    /// Test status, from the trailers.
    pub test_status: Option<String>,
    /// The set's files, metadata.json included, sorted by path.
    pub files: Vec<super::FileEntry>,
    /// The stored metadata.json.
    pub metadata: Map<String, Value>,
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
    pub rows: Vec<ListRow>,
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
        let sets: Vec<Value> = self.rows.iter().map(ListRow::to_json).collect();
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

impl ListRow {
    /// Returns the row as `docs/json.md`'s set object: `workflow_id`, `task_id`,
    /// `correlation_id`, `prompt_hash`, `commit_sha`, `commit_time`, `commit_time_unix`,
    /// `branch`, `tags`, `test_status`, `test_metrics` (metadata's, for the readers that
    /// filter on them), `files` (`{path, size, checksum}`) and `metadata`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "workflow_id": self.workflow_id,
            "task_id": self.task_id,
            "correlation_id": self.correlation_id,
            "prompt_hash": self.prompt_hash,
            "commit_sha": self.commit_sha,
            "commit_time": crate::report::rfc3339(self.time),
            "commit_time_unix": self.time,
            "branch": self.branch,
            "tags": self.tags,
            "test_status": self.test_status,
            "test_metrics": self.metadata.get("test_metrics"),
            "files": self.files,
            "metadata": self.metadata,
        })
    }
}

impl From<super::ArtifactSet> for ListRow {
    /// The row `list` prints for a set `show` loaded (what a lookup by correlation id gives).
    fn from(set: super::ArtifactSet) -> ListRow {
        ListRow {
            workflow_id: set.workflow_id,
            task_id: set.task_id,
            correlation_id: set.correlation_id,
            prompt_hash: set.prompt_hash,
            branch: set.branch,
            commit_sha: set.commit_sha,
            time: set.time,
            tags: set.tags,
            test_status: set.test_status,
            files: set.files,
            metadata: match set.metadata {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }
}

impl Serialize for ListRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
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
            match self.row_if_matches(q, oid, &branch, time, &mut keys) {
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
        time: i64,
        keys: &mut BTreeSet<String>,
    ) -> Result<Option<ListRow>> {
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
        let checksums = crate::metadata::checksums_of(&doc);
        let Value::Object(metadata) = doc else {
            unreachable!("built as an object just above")
        };
        let mut files = super::list_files(repo, &commit, &dir)?.unwrap_or_default();
        for f in &mut files {
            f.checksum = checksums.get(&format!("{dir}/{}", f.path)).cloned();
        }
        Ok(Some(ListRow {
            workflow_id: wf.clone(),
            task_id: task.clone(),
            correlation_id: super::trailer_or_metadata(
                &trailers.correlation_id,
                &metadata,
                "correlation_id",
            ),
            prompt_hash: super::trailer_or_metadata(
                &trailers.prompt_hash,
                &metadata,
                "prompt_hash",
            ),
            branch: branch.to_string(),
            commit_sha: oid.to_string(),
            time,
            tags: self.tags_of(oid, &trailers)?,
            test_status: super::trailer_or_metadata(
                &trailers.test_status,
                &metadata,
                "test_status",
            ),
            files,
            metadata,
        }))
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
