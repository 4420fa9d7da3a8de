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
    /// Commit of A.
    pub a: String,
    /// Commit of B.
    pub b: String,
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
        let a = self.show(a)?;
        let b = self.show(b)?;
        Ok(compare(&a, &b))
    }
}

fn compare(a: &ArtifactSet, b: &ArtifactSet) -> DiffReport {
    let index = |s: &ArtifactSet| -> BTreeMap<String, (ObjectId, u64)> {
        s.files
            .iter()
            .filter(|f| f.path != METADATA_FILE)
            .map(|f| (f.path.clone(), (f.oid, f.size)))
            .collect()
    };
    let (fa, fb) = (index(a), index(b));
    let mut report = DiffReport {
        a: a.commit_sha.clone(),
        b: b.commit_sha.clone(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        metrics: Vec::new(),
    };
    let paths: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    for path in paths {
        let change = |size_a, size_b| FileChange {
            path: path.clone(),
            size_a,
            size_b,
        };
        match (fa.get(path), fb.get(path)) {
            (None, Some(&(_, sb))) => report.added.push(change(None, Some(sb))),
            (Some(&(_, sa)), None) => report.removed.push(change(Some(sa), None)),
            (Some(&(oa, sa)), Some(&(ob, sb))) if oa != ob => {
                report.changed.push(change(Some(sa), Some(sb)))
            }
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
