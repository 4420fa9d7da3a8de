//! The read side: resolve a REF, load an artifact set, list, log, diff, verify, export, stats.
//!
//! Every lookup is direct: `corr_x` and `prompt_h` are one ref read each, a workflow's
//! branches are read by prefix, and nothing on these paths walks every ref or all history.

mod diff;
mod export;
mod file;
mod list;
pub mod list_formats;
mod log;
pub mod query;
pub mod series;
mod stats;
pub mod table;
mod verify;

use std::collections::BTreeMap;

use crate::git::{CommitView, ObjectId, Repo};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::metadata::{Trailers, METADATA_FILE};
use crate::refs::{CorrelationId, PromptHash, CORR_PREFIX, PROMPT_PREFIX};
use crate::store::{rfc3339_utc, Store};

pub(crate) use crate::metadata::{find_commit, read_metadata_at, subtree};

pub use diff::{
    metric_number, DeltaStatus, DiffOptions, DiffReport, DiffSide, FileChange, MetricDelta,
    DELTA_MAX, DIFF_MAX_BYTES,
};
pub use export::ExportReport;
pub use file::Trailer;
pub use list::{ListQuery, Listing, Unreadable};
pub use log::{Log, LogEntry};
pub use series::Series;
pub use stats::{SetSize, Stats};
pub use table::CsvSummary;
pub use verify::{Problem, VerifyReport};

/// One file of an artifact set, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    /// Path relative to the artifact directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// `sha256:<hex>` as recorded in metadata.json, when recorded.
    pub checksum: Option<String>,
    /// Git file mode (`100644`, `100755`, `120000`).
    #[serde(skip)]
    pub mode: i32,
    /// Blob id.
    #[serde(skip)]
    pub oid: ObjectId,
}

/// One artifact set: a commit of the store with its metadata and files; what `show` loads
/// and what each row of `list` is.
///
/// As JSON it is a set object of `docs/json.md`: `workflow_id`, `task_id`,
/// `correlation_id`, `prompt_hash`, `commit_sha`, `commit_time` (and `commit_time_unix`),
/// `branch`, `tags` and `test_status` at its top level, then `files` and `metadata`. Each
/// command adds its own keys through a view: [`ArtifactSet::show_view`] (`parent`,
/// `artifact_dir`) and [`ArtifactSet::list_view`] (`test_metrics`).
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactSet {
    /// Workflow id, from the trailers.
    pub workflow_id: String,
    /// Task id, from the trailers.
    pub task_id: String,
    /// Correlation id (`corr_...`), from the trailers.
    pub correlation_id: Option<String>,
    /// Prompt hash, from the trailers.
    pub prompt_hash: Option<String>,
    /// Commit id.
    pub commit_sha: String,
    /// Commit time, RFC 3339 UTC.
    pub commit_time: String,
    /// Commit time, seconds since the epoch.
    #[serde(rename = "commit_time_unix")]
    pub time: i64,
    /// Task branch, from the trailers.
    pub branch: String,
    /// Every store tag naming this commit (`corr_`, `prompt_`).
    pub tags: Vec<String>,
    /// Test status, from the trailers.
    pub test_status: Option<String>,
    /// First parent, if any (`show`'s, in [`ShowView`]).
    #[serde(skip)]
    pub parent: Option<String>,
    /// Directory of the set in the tree (`show`'s, in [`ShowView`]).
    #[serde(skip)]
    pub artifact_dir: String,
    /// Files, metadata.json included, sorted by path.
    pub files: Vec<FileEntry>,
    /// The stored metadata.json.
    pub metadata: Value,
}

/// `show --json`'s set: the set object with where it sits in history and in the tree.
#[derive(Debug, Serialize)]
pub struct ShowView<'s> {
    #[serde(flatten)]
    set: &'s ArtifactSet,
    parent: &'s Option<String>,
    artifact_dir: &'s str,
}

/// A row of `list --json`'s `sets`: the set object with metadata.json's `test_metrics`
/// repeated at its top level (`null` when there are none), the key rows are filtered and
/// tabulated on.
#[derive(Debug, Serialize)]
pub struct ListView<'s> {
    #[serde(flatten)]
    set: &'s ArtifactSet,
    test_metrics: Option<&'s Value>,
}

impl ArtifactSet {
    /// The set as `show --json` prints it.
    pub fn show_view(&self) -> ShowView<'_> {
        ShowView {
            set: self,
            parent: &self.parent,
            artifact_dir: &self.artifact_dir,
        }
    }

    /// The set as a row of `list --json`.
    pub fn list_view(&self) -> ListView<'_> {
        ListView {
            set: self,
            test_metrics: self.metadata.get("test_metrics"),
        }
    }
}

/// The set of commit `oid` from what a reader already holds, without its files and tags
/// (left empty for the caller to fill or not): the part of [`Store::assemble`] that reads
/// nothing more.
pub(crate) fn assemble_brief(
    oid: ObjectId,
    commit: &CommitView,
    trailers: &Trailers,
    branch: String,
    dir: String,
    metadata: Value,
) -> ArtifactSet {
    let empty = serde_json::Map::new();
    let doc = metadata.as_object().unwrap_or(&empty);
    ArtifactSet {
        workflow_id: trailers.workflow_id.clone().unwrap_or_default(),
        task_id: trailers.task_id.clone().unwrap_or_default(),
        correlation_id: trailer_or_metadata(&trailers.correlation_id, doc, "correlation_id"),
        prompt_hash: trailer_or_metadata(&trailers.prompt_hash, doc, "prompt_hash"),
        commit_sha: oid.to_string(),
        commit_time: rfc3339_utc(&commit.time()),
        time: commit.time().seconds(),
        branch,
        tags: Vec::new(),
        test_status: trailer_or_metadata(&trailers.test_status, doc, "test_status"),
        parent: commit.parents.first().map(|p| p.to_string()),
        artifact_dir: dir,
        files: Vec::new(),
        metadata,
    }
}

impl Store {
    /// Resolves REF (`corr_x`, `x`, `prompt_h`, a tag, a branch, `W/T`, a sha) to a commit.
    pub fn resolve(&self, spec: &str) -> Result<ObjectId> {
        let repo = self.repo();
        for refname in candidate_refs(spec, self.config().prefix().as_str()) {
            if let Some(oid) = crate::git::ref_target(repo, &refname)? {
                return Ok(oid);
            }
        }
        let hex =
            spec.len() >= 4 && spec.len() <= 40 && spec.bytes().all(|b| b.is_ascii_hexdigit());
        if hex {
            if let Some(commit) = repo.commit_by_prefix(spec) {
                return Ok(commit);
            }
        }
        Err(Error::NotFound(format!(
            "nothing named {spec:?}: no corr_/prompt_ tag, tag, branch or commit by that name"
        )))
    }

    /// Loads the artifact set REF names; a commit the store did not write is refused.
    pub fn show(&self, spec: &str) -> Result<ArtifactSet> {
        let oid = self.resolve(spec)?;
        self.load_set(oid, spec)
    }

    pub(crate) fn load_set(&self, oid: ObjectId, spec: &str) -> Result<ArtifactSet> {
        let repo = self.repo();
        let commit = find_commit(repo, oid)?;
        let trailers = Trailers::parse(commit.message());
        let (Some(workflow), Some(task)) = (&trailers.workflow_id, &trailers.task_id) else {
            return Err(not_a_set(spec, oid));
        };
        let dir = self.config().artifact_dir_for(workflow, task);
        let files = list_files(repo, &commit, &dir)?.ok_or_else(|| not_a_set(spec, oid))?;
        let metadata = read_metadata(repo, &files, &dir)?.unwrap_or(Value::Null);
        let branch = format!("{}/{workflow}/{task}", self.config().prefix().as_str());
        self.assemble(oid, &commit, &trailers, branch, dir, files, metadata)
    }

    /// Builds the set of commit `oid` from what was read of it: its trailers, its branch,
    /// the artifact directory and its files, the stored metadata (whose checksums the files
    /// get, and which stands in for a trailer a commit lacks).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        &self,
        oid: ObjectId,
        commit: &CommitView,
        trailers: &Trailers,
        branch: String,
        dir: String,
        files: Vec<FileEntry>,
        metadata: Value,
    ) -> Result<ArtifactSet> {
        let checksums = crate::metadata::checksums_of(&metadata);
        let files = files
            .into_iter()
            .map(|mut f| {
                f.checksum = checksums.get(&format!("{dir}/{}", f.path)).cloned();
                f
            })
            .collect();
        let mut set = assemble_brief(oid, commit, trailers, branch, dir, metadata);
        set.tags = self.tags_of(oid, trailers)?;
        set.files = files;
        Ok(set)
    }

    /// Returns the store tags naming `oid`: its own `corr_` and `prompt_` tags, two lookups.
    pub(crate) fn tags_of(&self, oid: ObjectId, trailers: &Trailers) -> Result<Vec<String>> {
        let mut tags = Vec::new();
        if let Some(corr) = trailers
            .correlation_id
            .as_deref()
            .and_then(|c| CorrelationId::new(c).ok())
        {
            if crate::git::ref_target(self.repo(), &corr.tag_ref())? == Some(oid) {
                tags.push(corr.to_string());
            }
        }
        if let Some(prompt) = trailers
            .prompt_hash
            .as_deref()
            .and_then(|p| PromptHash::new(p).ok())
        {
            if crate::git::ref_target(self.repo(), &prompt.tag_ref())? == Some(oid) {
                tags.push(prompt.tag_name());
            }
        }
        Ok(tags)
    }
}

/// The ref names REF may be; a name git would refuse (`corr_x^{tree}`, `refs/x..y`) is none
/// of them, so REF typed that way is not found rather than a git error.
fn candidate_refs(spec: &str, prefix: &str) -> Vec<String> {
    if spec.starts_with("refs/") {
        return match crate::git::is_valid_refname(spec) {
            true => vec![spec.to_string()],
            false => Vec::new(),
        };
    }
    let mut out = Vec::new();
    if spec.starts_with(CORR_PREFIX) || spec.starts_with(PROMPT_PREFIX) {
        out.push(format!("refs/tags/{spec}"));
    } else if CorrelationId::new(spec).is_ok() {
        out.push(format!("refs/tags/{CORR_PREFIX}{spec}"));
    }
    if crate::git::is_valid_refname(&format!("refs/tags/{spec}")) {
        out.push(format!("refs/tags/{spec}"));
        out.push(format!("refs/heads/{spec}"));
        out.push(format!("refs/heads/{prefix}/{spec}"));
    }
    out.retain(|name| crate::git::is_valid_refname(name));
    out.dedup();
    out
}

fn not_a_set(spec: &str, oid: ObjectId) -> Error {
    Error::InvalidInput(format!(
        "{spec} names commit {}, which is not an artifact set of this store (no Workflow-Id/Task-Id trailers or no metadata.json)",
        &oid.to_string()[..12]
    ))
}

/// Lists the files under `dir` in a commit's tree; `None` when there is no metadata.json there.
///
/// Every tree under `dir` is read and every blob's header: an object that is missing or
/// cannot be read is [`Error::Corrupt`], named by its path and id, never skipped.
pub(crate) fn list_files(
    repo: &Repo,
    commit: &CommitView,
    dir: &str,
) -> Result<Option<Vec<FileEntry>>> {
    let Some(sub) = subtree(repo, commit, dir)? else {
        return Ok(None);
    };
    let mut files: Vec<FileEntry> = crate::git::tree::list_blobs(repo, sub, dir)?
        .into_iter()
        .map(|b| FileEntry {
            path: b.path,
            size: b.size,
            checksum: None,
            mode: b.mode,
            oid: b.id,
        })
        .collect();
    if !files.iter().any(|f| f.path == METADATA_FILE) {
        return Ok(None);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Some(files))
}

/// Reads and parses the metadata.json listed in `files`; a blob that cannot be read is a
/// corrupt store, one that does not parse is `None`.
fn read_metadata(repo: &Repo, files: &[FileEntry], dir: &str) -> Result<Option<Value>> {
    let Some(entry) = files.iter().find(|f| f.path == METADATA_FILE) else {
        return Ok(None);
    };
    let blob = repo.read_blob(entry.oid).map_err(|e| {
        Error::corrupt_object(&format!("{dir}/{METADATA_FILE}"), "blob", entry.oid, &e)
    })?;
    Ok(serde_json::from_slice(&blob).ok())
}

/// Returns a trailer's value, else the same key of the set's metadata.json: a restore commit
/// (`revert-to-tag` onto a task branch) has no `Correlation-Id` trailer of its own, but
/// holds the restored set, whose metadata names it.
pub(crate) fn trailer_or_metadata(
    trailer: &Option<String>,
    metadata: &serde_json::Map<String, Value>,
    key: &str,
) -> Option<String> {
    trailer.clone().or_else(|| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

/// Returns the `test_metrics` numbers of a metadata document, by key.
pub(crate) fn metrics_of(metadata: &Value) -> BTreeMap<String, Value> {
    metadata
        .get("test_metrics")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_tried_in_a_fixed_order_without_scanning() {
        assert_eq!(
            candidate_refs("corr_abc", "ai/generated")[0],
            "refs/tags/corr_abc"
        );
        let bare = candidate_refs("abc", "ai/generated");
        assert_eq!(bare[0], "refs/tags/corr_abc");
        assert!(bare.contains(&"refs/heads/ai/generated/abc".to_string()));
        assert_eq!(candidate_refs("refs/heads/x", "p"), ["refs/heads/x"]);
        assert!(candidate_refs("wf/t", "ai/generated")
            .contains(&"refs/heads/ai/generated/wf/t".to_string()));
    }
}
