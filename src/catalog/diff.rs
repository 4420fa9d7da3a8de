//! `diff A B`: files added, removed and changed between two artifact sets, and metric deltas.

use crate::git::ObjectId;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::{metrics_of, ArtifactSet};
use crate::error::Result;
use crate::metadata::METADATA_FILE;
use crate::store::Store;

/// One file that differs.
#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    /// Path relative to the artifact directory.
    pub path: String,
    /// Size in A, when present there.
    pub size_a: Option<u64>,
    /// Size in B, when present there.
    pub size_b: Option<u64>,
    /// `sha256:<hex>` in A, when present there and recorded.
    pub checksum_a: Option<String>,
    /// `sha256:<hex>` in B, when present there and recorded.
    pub checksum_b: Option<String>,
}

/// One side of a diff: the REF as typed and the set object (`docs/json.md`) it names.
#[derive(Debug, Clone, Serialize)]
pub struct DiffSide {
    /// The REF as the user typed it.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Workflow id.
    pub workflow_id: String,
    /// Task id.
    pub task_id: String,
    /// Correlation id (`corr_...`).
    pub correlation_id: Option<String>,
    /// Prompt hash.
    pub prompt_hash: Option<String>,
    /// Commit id.
    pub commit_sha: String,
    /// Commit time, RFC 3339 UTC.
    pub commit_time: String,
    /// Commit time, unix seconds.
    pub commit_time_unix: i64,
    /// Task branch.
    pub branch: String,
    /// Every store tag naming the commit.
    pub tags: Vec<String>,
    /// Test status.
    pub test_status: Option<String>,
}

impl DiffSide {
    fn of(reference: &str, set: &ArtifactSet) -> DiffSide {
        DiffSide {
            reference: reference.to_string(),
            workflow_id: set.workflow_id.clone(),
            task_id: set.task_id.clone(),
            correlation_id: set.correlation_id.clone(),
            prompt_hash: set.prompt_hash.clone(),
            commit_sha: set.commit_sha.clone(),
            commit_time: set.commit_time.clone(),
            commit_time_unix: set.time,
            branch: set.branch.clone(),
            tags: set.tags.clone(),
            test_status: set.test_status.clone(),
        }
    }
}

/// One `test_metrics` key compared.
#[derive(Debug, Clone, Serialize)]
pub struct MetricDelta {
    /// Metric name.
    pub name: String,
    /// Value in A.
    pub a: Value,
    /// Value in B.
    pub b: Value,
    /// `b - a` when both are numbers.
    pub delta: Option<f64>,
}

/// The difference between two artifact sets.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// The older set.
    pub a: DiffSide,
    /// The newer set.
    pub b: DiffSide,
    /// Files only in B.
    pub added: Vec<FileChange>,
    /// Files only in A.
    pub removed: Vec<FileChange>,
    /// Files in both with other content.
    pub changed: Vec<FileChange>,
    /// Every `test_metrics` key of either side.
    pub metrics: Vec<MetricDelta>,
}

impl Store {
    /// Compares the artifact sets REF_A and REF_B (metadata.json itself is left out of the files).
    pub fn diff(&self, a: &str, b: &str) -> Result<DiffReport> {
        let set_a = self.show(a)?;
        let set_b = self.show(b)?;
        Ok(compare((a, &set_a), (b, &set_b)))
    }
}

type Indexed<'a> = BTreeMap<String, (ObjectId, u64, Option<&'a String>)>;

fn index(s: &ArtifactSet) -> Indexed<'_> {
    s.files
        .iter()
        .filter(|f| f.path != METADATA_FILE)
        .map(|f| (f.path.clone(), (f.oid, f.size, f.checksum.as_ref())))
        .collect()
}

fn compare((ref_a, a): (&str, &ArtifactSet), (ref_b, b): (&str, &ArtifactSet)) -> DiffReport {
    let (fa, fb) = (index(a), index(b));
    let mut report = DiffReport {
        a: DiffSide::of(ref_a, a),
        b: DiffSide::of(ref_b, b),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        metrics: Vec::new(),
    };
    let paths: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    for path in paths {
        let (ea, eb) = (fa.get(path), fb.get(path));
        let change = || FileChange {
            path: path.clone(),
            size_a: ea.map(|e| e.1),
            size_b: eb.map(|e| e.1),
            checksum_a: ea.and_then(|e| e.2.cloned()),
            checksum_b: eb.and_then(|e| e.2.cloned()),
        };
        match (ea, eb) {
            (None, Some(_)) => report.added.push(change()),
            (Some(_), None) => report.removed.push(change()),
            (Some(x), Some(y)) if x.0 != y.0 => report.changed.push(change()),
            _ => {}
        }
    }
    let (ma, mb) = (metrics_of(&a.metadata), metrics_of(&b.metadata));
    let names: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    for name in names {
        let va = ma.get(name).cloned().unwrap_or(Value::Null);
        let vb = mb.get(name).cloned().unwrap_or(Value::Null);
        let delta = match (va.as_f64(), vb.as_f64()) {
            (Some(x), Some(y)) => Some(round(y - x)),
            _ => None,
        };
        report.metrics.push(MetricDelta {
            name: name.clone(),
            a: va,
            b: vb,
            delta,
        });
    }
    report
}

/// Rounds away binary noise (`98.2 - 120.5` prints as `-22.3`, not `-22.299999999999997`).
fn round(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}
