//! `diff A B`: files added, removed and changed between two artifact sets, what changed
//! inside each (line counts, unified hunks, a CSV table summary), and metric deltas.

use crate::git::ObjectId;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::table::{self, CsvSummary};
use super::{metrics_of, ArtifactSet};
use crate::error::Result;
use crate::git::blobdiff::BlobPair;
use crate::metadata::METADATA_FILE;
use crate::store::Store;

/// Files above this size (either side) are not read for a diff: they are reported
/// `too_large`, without line counts (the size at which reads start to stream).
pub const DIFF_MAX_BYTES: u64 = crate::scan::LARGE_FILE_BYTES;

/// A metric delta whose magnitude is above this is not shown as a number: `f64` holds
/// integers exactly only up to 2^53 (about 9.007e15), so such a difference is not exact.
pub const DELTA_MAX: f64 = 1e15;

/// How `diff` looks inside files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffOptions {
    /// Render each text file's unified diff into [`FileChange::patch`].
    pub patch: bool,
    /// Lines of context around each hunk of a patch.
    pub context_lines: u32,
}

impl Default for DiffOptions {
    fn default() -> DiffOptions {
        DiffOptions {
            patch: false,
            context_lines: 3,
        }
    }
}

/// One side of a diff: the REF as typed and the set it names.
#[derive(Debug, Clone, Serialize)]
pub struct DiffSide {
    /// The REF as the caller gave it (`corr_a`, `W/T`, a sha).
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
    /// Lines only in B (every line of an added file); `null` for a binary or too large file.
    pub lines_added: Option<u64>,
    /// Lines only in A (every line of a removed file); `null` for a binary or too large file.
    pub lines_removed: Option<u64>,
    /// Either side is binary, as git decides (a NUL byte in the first 8000).
    pub binary: bool,
    /// Either side is above [`DIFF_MAX_BYTES`]: not read, no line counts.
    pub too_large: bool,
    /// Rows and columns added and removed, when both sides are CSV tables.
    pub csv: Option<CsvSummary>,
    /// The unified diff, when asked for ([`DiffOptions::patch`]) and the file is text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Blob in A.
    #[serde(skip)]
    pub oid_a: Option<ObjectId>,
    /// Blob in B.
    #[serde(skip)]
    pub oid_b: Option<ObjectId>,
}

/// Whether a metric's delta could be computed, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaStatus {
    /// Both are finite numbers: `delta` is `b - a`.
    Ok,
    /// One side does not have the metric.
    Missing,
    /// One side is not a number (text, a boolean, an object).
    NotNumeric,
    /// One side is `NaN` or infinite (written as text, since JSON has no such numbers).
    NonFinite,
    /// The difference is above [`DELTA_MAX`] or overflows: too large to show exactly.
    TooLarge,
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
    /// `b - a` when [`DeltaStatus::Ok`], rounded to 9 decimals.
    pub delta: Option<f64>,
    /// Why `delta` is what it is.
    pub delta_status: DeltaStatus,
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
    /// Compares the artifact sets REF_A and REF_B (metadata.json itself is left out of the
    /// files), with line counts and CSV summaries but no patch text.
    pub fn diff(&self, a: &str, b: &str) -> Result<DiffReport> {
        self.diff_with(a, b, &DiffOptions::default())
    }

    /// Compares the artifact sets REF_A and REF_B as `options` says.
    ///
    /// Each file that differs is read (both sides, when at most [`DIFF_MAX_BYTES`]) and
    /// diffed by the git layer (git's own diff of two blobs); a blob that cannot be read
    /// is [`crate::Error::Corrupt`].
    pub fn diff_with(&self, a: &str, b: &str, options: &DiffOptions) -> Result<DiffReport> {
        let set_a = self.show(a)?;
        let set_b = self.show(b)?;
        let mut report = compare(&set_a, &set_b);
        report.a.reference = a.to_string();
        report.b.reference = b.to_string();
        let changes = report
            .added
            .iter_mut()
            .chain(report.removed.iter_mut())
            .chain(report.changed.iter_mut());
        for change in changes {
            self.look_inside(change, options)?;
        }
        Ok(report)
    }

    /// Fills in what changed inside one file.
    fn look_inside(&self, change: &mut FileChange, options: &DiffOptions) -> Result<()> {
        let Some(pair) = BlobPair::read(
            self.repo(),
            change.oid_a,
            change.oid_b,
            DIFF_MAX_BYTES,
            &change.path,
        )?
        else {
            change.too_large = true;
            return Ok(());
        };
        let patch = options.patch.then_some(options.context_lines);
        let inside = pair.diff(self.repo(), &change.path, patch)?;
        change.binary = inside.binary;
        if !inside.binary {
            change.lines_added = Some(inside.lines_added);
            change.lines_removed = Some(inside.lines_removed);
            change.patch = inside.patch;
        }
        if let (Some(delimiter), Some(a), Some(b)) = (
            table::delimiter_of(&change.path),
            pair.old_bytes(),
            pair.new_bytes(),
        ) {
            if !inside.binary {
                change.csv = table::summarize(a, b, delimiter);
            }
        }
        Ok(())
    }
}

fn side(s: &ArtifactSet) -> DiffSide {
    DiffSide {
        reference: s.commit_sha.clone(),
        workflow_id: s.workflow_id.clone(),
        task_id: s.task_id.clone(),
        correlation_id: s.correlation_id.clone(),
        prompt_hash: s.prompt_hash.clone(),
        commit_sha: s.commit_sha.clone(),
        commit_time: s.commit_time.clone(),
        commit_time_unix: s.time,
        branch: s.branch.clone(),
        tags: s.tags.clone(),
        test_status: s.test_status.clone(),
    }
}

fn compare(a: &ArtifactSet, b: &ArtifactSet) -> DiffReport {
    type Indexed<'a> = BTreeMap<String, (ObjectId, u64, Option<&'a String>)>;
    fn index(s: &ArtifactSet) -> Indexed<'_> {
        s.files
            .iter()
            .filter(|f| f.path != METADATA_FILE)
            .map(|f| (f.path.clone(), (f.oid, f.size, f.checksum.as_ref())))
            .collect()
    }
    let (fa, fb) = (index(a), index(b));
    let mut report = DiffReport {
        a: side(a),
        b: side(b),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        metrics: Vec::new(),
    };
    let paths: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    for path in paths {
        let (in_a, in_b) = (fa.get(path), fb.get(path));
        let change = FileChange {
            path: path.clone(),
            size_a: in_a.map(|x| x.1),
            size_b: in_b.map(|x| x.1),
            checksum_a: in_a.and_then(|x| x.2.cloned()),
            checksum_b: in_b.and_then(|x| x.2.cloned()),
            lines_added: None,
            lines_removed: None,
            binary: false,
            too_large: false,
            csv: None,
            patch: None,
            oid_a: in_a.map(|x| x.0),
            oid_b: in_b.map(|x| x.0),
        };
        match (in_a, in_b) {
            (None, Some(_)) => report.added.push(change),
            (Some(_), None) => report.removed.push(change),
            (Some(x), Some(y)) if x.0 != y.0 => report.changed.push(change),
            _ => {}
        }
    }
    let (ma, mb) = (metrics_of(&a.metadata), metrics_of(&b.metadata));
    let names: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    for name in names {
        let va = ma.get(name).cloned().unwrap_or(Value::Null);
        let vb = mb.get(name).cloned().unwrap_or(Value::Null);
        let (delta, delta_status) = delta(&va, &vb);
        report.metrics.push(MetricDelta {
            name: name.clone(),
            a: va,
            b: vb,
            delta,
            delta_status,
        });
    }
    report
}

/// A metric value as a number: a JSON number, or the words JSON cannot hold as numbers
/// (`NaN`, `inf`, `-Infinity`, any case) as non-finite ones; `None` for anything else.
pub fn metric_number(v: &Value) -> Option<f64> {
    if let Some(n) = v.as_f64() {
        return Some(n);
    }
    let word = v.as_str()?.trim().to_ascii_lowercase();
    match word.as_str() {
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// `b - a` and its status.
fn delta(a: &Value, b: &Value) -> (Option<f64>, DeltaStatus) {
    if a.is_null() || b.is_null() {
        return (None, DeltaStatus::Missing);
    }
    let (Some(x), Some(y)) = (metric_number(a), metric_number(b)) else {
        return (None, DeltaStatus::NotNumeric);
    };
    if !x.is_finite() || !y.is_finite() {
        return (None, DeltaStatus::NonFinite);
    }
    let d = y - x;
    if !d.is_finite() || d.abs() > DELTA_MAX {
        return (None, DeltaStatus::TooLarge);
    }
    (Some(round(d)), DeltaStatus::Ok)
}

/// Rounds away binary noise (`98.2 - 120.5` prints as `-22.3`, not `-22.299999999999997`).
fn round(x: f64) -> f64 {
    if x.abs() >= 1e6 {
        return x;
    }
    (x * 1e9).round() / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deltas_are_exact_or_say_why_not() {
        assert_eq!(
            delta(&json!(120.5), &json!(98.2)),
            (Some(-22.3), DeltaStatus::Ok)
        );
        assert_eq!(
            delta(&json!(10), &json!(1e308)),
            (None, DeltaStatus::TooLarge)
        );
        assert_eq!(
            delta(&json!(-1e308), &json!(1e308)),
            (None, DeltaStatus::TooLarge)
        );
        assert_eq!(
            delta(&json!(1), &json!("NaN")),
            (None, DeltaStatus::NonFinite)
        );
        assert_eq!(
            delta(&json!("-inf"), &json!(1)),
            (None, DeltaStatus::NonFinite)
        );
        assert_eq!(
            delta(&json!(1), &json!("abc")),
            (None, DeltaStatus::NotNumeric)
        );
        assert_eq!(delta(&Value::Null, &json!(1)), (None, DeltaStatus::Missing));
        assert_eq!(
            delta(&json!(0), &json!(9e14)),
            (Some(9e14), DeltaStatus::Ok)
        );
    }
}
