//! `list --format jsonl|csv`: the catalog where analysts already work (DuckDB's
//! `read_json_auto`/`read_csv_auto`, pandas, a spreadsheet), built here so every face
//! writes the same bytes.
//!
//! JSON Lines: one object per line, the very objects of `list --json`'s `sets`.
//!
//! CSV: a header, then one line per set. The columns are fixed ([`CSV_COLUMNS`]), then
//! every other top-level metadata key any row has (sorted; the store's own bookkeeping keys
//! `schema_version`, `commit_timestamp`, `files` and `checksums` left out), then one
//! column per metric, `test_metrics.<name>` (the union over the rows, sorted). A cell is
//! empty where a row lacks the key; a number is written as JSON writes it, `true`/`false`
//! as such, an object or array as compact JSON. Quoting is RFC 4180's (a cell holding a
//! comma, a quote or a line break is quoted, quotes doubled); lines end with `\n`.
//!
//! Metadata comes from whoever sent the event, and a spreadsheet runs a cell that starts
//! with `=`, `+`, `-` or `@` as a formula. So a text cell starting with one of those (or
//! with a tab or carriage return) that is not a plain number gets a `'` in front, as OWASP
//! advises (`=HYPERLINK(...)` is written `'=HYPERLINK(...)`); numbers, including negative
//! ones, are written as they are. Control characters other than tab and line feed are
//! written as `\u{..}`, as the human output shows them, so a CSV on a terminal cannot drive it.

use std::collections::BTreeSet;

use serde_json::Value;

use super::list::Listing;
use super::ArtifactSet;

/// The first columns of `list --format csv`, always present, in this order.
pub const CSV_COLUMNS: &[&str] = &[
    "workflow_id",
    "task_id",
    "correlation_id",
    "commit_sha",
    "commit_time",
    "test_status",
    "branch",
    "prompt_hash",
    "agent_version",
    "llm_version",
];

/// Top-level metadata keys the CSV leaves out: the store's bookkeeping (the files are
/// `show`'s business) and the metrics, which get a column each.
const NOT_COLUMNS: &[&str] = &[
    "schema_version",
    "commit_timestamp",
    "files",
    "checksums",
    "test_metrics",
];

/// The prefix of a metric's column.
pub const METRIC_PREFIX: &str = "test_metrics.";

impl Listing {
    /// The sets as JSON Lines: each object of `list --json`'s `sets` on a line of its own.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            out.push_str(&serde_json::to_string(&row.list_view()).expect("a set serializes"));
            out.push('\n');
        }
        out
    }

    /// The column names of [`Listing::to_csv`], in order.
    pub fn csv_columns(&self) -> Vec<String> {
        let mut extra = BTreeSet::new();
        let mut metrics = BTreeSet::new();
        for row in &self.rows {
            for key in row.metadata.as_object().into_iter().flat_map(|m| m.keys()) {
                if !CSV_COLUMNS.contains(&key.as_str()) && !NOT_COLUMNS.contains(&key.as_str()) {
                    extra.insert(key.clone());
                }
            }
            if let Some(Value::Object(m)) = row.metadata.get("test_metrics") {
                metrics.extend(m.keys().map(|k| format!("{METRIC_PREFIX}{k}")));
            }
        }
        let mut columns: Vec<String> = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
        columns.extend(extra.into_iter().filter(|k| !metrics.contains(k)));
        columns.extend(metrics);
        columns
    }

    /// The sets as CSV, as this module's documentation describes.
    pub fn to_csv(&self) -> String {
        let columns = self.csv_columns();
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(Vec::new());
        let fail = "writing CSV into memory cannot fail";
        writer
            .write_record(columns.iter().map(|c| cell_text(c)))
            .expect(fail);
        for row in &self.rows {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| cell_text(&cell(row, c).unwrap_or_default()))
                .collect();
            writer.write_record(&cells).expect(fail);
        }
        String::from_utf8(writer.into_inner().expect(fail)).expect("cells are UTF-8")
    }
}

/// The raw value of one column of a row, before it is made safe; `None` when absent.
fn cell(row: &ArtifactSet, column: &str) -> Option<String> {
    let value = match column {
        "commit_sha" => return Some(row.commit_sha.clone()),
        "branch" => return Some(row.branch.clone()),
        "workflow_id" => return Some(row.workflow_id.clone()),
        "task_id" => return Some(row.task_id.clone()),
        "correlation_id" if row.correlation_id.is_some() => return row.correlation_id.clone(),
        "prompt_hash" if row.prompt_hash.is_some() => return row.prompt_hash.clone(),
        "test_status" if row.test_status.is_some() => return row.test_status.clone(),
        "commit_time" => return Some(row.commit_time.clone()),
        _ => match column.strip_prefix(METRIC_PREFIX) {
            Some(metric) => row.metadata.get("test_metrics")?.get(metric)?,
            None => row.metadata.get(column)?,
        },
    };
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A cell as written: a text that a spreadsheet would run as a formula gets a `'` in
/// front, and control characters other than tab and line feed are written `\u{..}`.
pub fn cell_text(raw: &str) -> String {
    let formula = raw.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(raw);
    let mut out = String::with_capacity(raw.len() + 1);
    if formula {
        out.push('\'');
    }
    for c in raw.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// `-12`, `+3.5`, `-1.5e-3`: a number as JSON or a person writes it, which no spreadsheet
/// runs as a formula.
fn is_plain_number(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (digits(int) || int.is_empty())
                && (digits(frac) || frac.is_empty())
                && !(int.is_empty() && frac.is_empty())
        }
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(meta: Value) -> ArtifactSet {
        let text = |k: &str| meta.get(k).and_then(Value::as_str).map(String::from);
        ArtifactSet {
            workflow_id: text("workflow_id").unwrap_or_default(),
            task_id: text("task_id").unwrap_or_default(),
            correlation_id: text("correlation_id"),
            prompt_hash: text("prompt_hash"),
            commit_sha: "ab".repeat(20),
            commit_time: "2023-11-14T22:13:20Z".into(),
            time: 1_700_000_000,
            branch: "ai/generated/w/t".into(),
            tags: Vec::new(),
            test_status: text("test_status"),
            parent: None,
            artifact_dir: "artifacts/w/t".into(),
            files: Vec::new(),
            metadata: meta,
        }
    }

    #[test]
    fn formulas_are_defused_and_numbers_are_not() {
        assert_eq!(cell_text("=1+1"), "'=1+1");
        assert_eq!(cell_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell_text("+cmd"), "'+cmd");
        assert_eq!(cell_text("-2+3"), "'-2+3");
        assert_eq!(cell_text("-5"), "-5");
        assert_eq!(cell_text("-1.5e-3"), "-1.5e-3");
        assert_eq!(cell_text("+.5"), "+.5");
        assert_eq!(cell_text("plain"), "plain");
        assert_eq!(cell_text("a\u{1b}[31m"), "a\\u{1b}[31m");
        assert_eq!(cell_text("two\nlines"), "two\nlines");
    }

    #[test]
    fn csv_has_fixed_columns_then_extras_then_metrics() {
        let listing = Listing {
            rows: vec![
                row(
                    json!({"workflow_id": "w", "test_metrics": {"b": 1, "a": -2.5},
                           "files": ["x"], "notes": "say \"hi\", ok"}),
                ),
                row(json!({"workflow_id": "w", "test_metrics": {"c": true}})),
            ],
            ..Listing::default()
        };
        let text = listing.to_csv();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with("workflow_id,task_id,correlation_id,commit_sha,commit_time,"));
        assert!(header.ends_with(",notes,test_metrics.a,test_metrics.b,test_metrics.c"));
        let first = lines.next().unwrap();
        assert!(first.contains(",2023-11-14T22:13:20Z,"), "{first}");
        assert!(
            first.ends_with(",\"say \"\"hi\"\", ok\",-2.5,1,"),
            "{first}"
        );
        assert!(lines.next().unwrap().ends_with(",,,,true"));
        let empty = Listing::default();
        assert_eq!(empty.to_csv().lines().count(), 1);
        assert_eq!(empty.to_jsonl(), "");
    }
}
