//! Named numeric series in an artifact set's CSV files (an equity curve, a drawdown), for
//! the sparklines of `show` and `diff` and the charts of the web view.
//!
//! A series is a numeric column of a table file (`table.rs`'s rules) whose first column is
//! a time or an index: every value of it a date or time (`2025-11-07`, `2025-11-07T09:30:00Z`,
//! `2025-11-07 09:30`) or a number, in non-decreasing order. A column is numeric when every
//! non-empty cell parses as a number; empty, `NaN` and infinite cells are gaps (counted,
//! not drawn) and a column needs two finite values. Work is bounded: a file above
//! [`SERIES_MAX_BYTES`] is not read, at most [`SERIES_MAX_FILES`] files of a set are and
//! [`SERIES_MAX_TOTAL_BYTES`] in all, and the points handed out are downsampled to the
//! caller's width.

use serde::Serialize;

use super::{table, ArtifactSet};
use crate::error::Result;
use crate::git::ObjectId;
use crate::store::Store;

/// Files larger than this are not read for series.
pub const SERIES_MAX_BYTES: u64 = 2 << 20;

/// At most this many table files of a set are read for series.
pub const SERIES_MAX_FILES: usize = 16;

/// Once this many bytes of a set's table files are read, no further file is.
pub const SERIES_MAX_TOTAL_BYTES: u64 = 8 << 20;

/// One numeric column of a CSV file, over its time or index column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The file, relative to the artifact directory.
    pub path: String,
    /// The time or index column's name.
    pub index: String,
    /// The numeric column's name.
    pub name: String,
    /// Finite values in the column.
    pub count: usize,
    /// Empty, `NaN` or infinite cells, left out.
    pub gaps: usize,
    /// The first finite value.
    pub first: f64,
    /// The last finite value.
    pub last: f64,
    /// The smallest finite value.
    pub min: f64,
    /// The largest finite value.
    pub max: f64,
    /// The values in order, downsampled (the mean of each of equal runs) to at most the
    /// number of points asked for.
    pub points: Vec<f64>,
}

impl Series {
    /// Whether this looks like an equity curve (its column or file is named so), which
    /// is shown first.
    pub fn is_equity(&self) -> bool {
        let lower = |s: &str| s.to_ascii_lowercase();
        lower(&self.name).contains("equity") || lower(&self.path).contains("equity")
    }
}

/// The numeric series of one table file's bytes (`path` gives its delimiter); none when it
/// is not a table or has no time-or-index column. `max_points` bounds each series' points.
pub fn from_csv(path: &str, bytes: &[u8], max_points: usize) -> Vec<Series> {
    let Some(delimiter) = table::delimiter_of(path) else {
        return Vec::new();
    };
    let Some((names, mut reader)) = table::open(bytes, delimiter) else {
        return Vec::new();
    };
    let mut index = Index::default();
    let mut columns: Vec<Column> = (1..names.len()).map(|_| Column::default()).collect();
    let read = table::each_record(&mut reader, |record| {
        index.push(record.get(0).unwrap_or_default());
        for (column, cell) in columns.iter_mut().zip(record.iter().skip(1)) {
            column.push(cell);
        }
    });
    if read.is_none() || !index.ok || index.rows < 2 {
        return Vec::new();
    }
    let mut out: Vec<Series> = columns
        .into_iter()
        .zip(names.iter().skip(1))
        .filter_map(|(column, name)| column.finish(path, &names[0], name, max_points))
        .collect();
    out.sort_by_key(|s| !s.is_equity());
    out
}

/// Whether the first column is a time or an index, checked as the rows go by.
struct Index {
    ok: bool,
    rows: usize,
    last_number: Option<f64>,
    last_time: Option<String>,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            ok: true,
            rows: 0,
            last_number: None,
            last_time: None,
        }
    }
}

impl Index {
    fn push(&mut self, cell: &[u8]) {
        self.rows += 1;
        if !self.ok {
            return;
        }
        let Ok(text) = std::str::from_utf8(cell) else {
            self.ok = false;
            return;
        };
        let text = text.trim();
        if let Some(n) = text.parse::<f64>().ok().filter(|n| n.is_finite()) {
            self.ok = self.last_time.is_none() && self.last_number.is_none_or(|last| n >= last);
            self.last_number = Some(n);
        } else if looks_like_time(text) {
            self.ok = self.last_number.is_none()
                && self.last_time.as_deref().is_none_or(|last| text >= last);
            self.last_time = Some(text.to_string());
        } else {
            self.ok = false;
        }
    }
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space and a time: ISO dates sort as text.
fn looks_like_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b.len() == 10 || matches!(b[10], b'T' | b' '))
}

/// One candidate numeric column, its values kept while it stays numeric.
#[derive(Default)]
struct Column {
    not_numeric: bool,
    values: Vec<f64>,
    gaps: usize,
}

impl Column {
    fn push(&mut self, cell: &[u8]) {
        if self.not_numeric {
            return;
        }
        let text = std::str::from_utf8(cell).unwrap_or("\u{0}").trim();
        if text.is_empty() {
            self.gaps += 1;
            return;
        }
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => self.values.push(n),
            Ok(_) => self.gaps += 1,
            Err(_) => {
                self.not_numeric = true;
                self.values = Vec::new();
            }
        }
    }

    fn finish(self, path: &str, index: &str, name: &str, max_points: usize) -> Option<Series> {
        if self.not_numeric || self.values.len() < 2 {
            return None;
        }
        let v = &self.values;
        let (min, max) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        Some(Series {
            path: path.to_string(),
            index: index.to_string(),
            name: name.to_string(),
            count: v.len(),
            gaps: self.gaps,
            first: v[0],
            last: v[v.len() - 1],
            min,
            max,
            points: downsample(v, max_points),
        })
    }
}

/// At most `n` points: the mean of each of `n` consecutive runs of equal length (the
/// values themselves when there are `n` or fewer).
pub fn downsample(values: &[f64], n: usize) -> Vec<f64> {
    let n = n.max(1);
    if values.len() <= n {
        return values.to_vec();
    }
    (0..n)
        .map(|i| {
            let start = i * values.len() / n;
            let end = ((i + 1) * values.len() / n).max(start + 1);
            let run = &values[start..end];
            run.iter().sum::<f64>() / run.len() as f64
        })
        .collect()
}

impl Store {
    /// The numeric series of a set's table files, equity curves first, then by path and
    /// column. Files above [`SERIES_MAX_BYTES`] are skipped, and past the first
    /// [`SERIES_MAX_FILES`] table files, or [`SERIES_MAX_TOTAL_BYTES`], none is read.
    pub fn series(&self, set: &ArtifactSet, max_points: usize) -> Result<Vec<Series>> {
        let mut out = Vec::new();
        let tables = set
            .files
            .iter()
            .filter(|f| table::delimiter_of(&f.path).is_some() && f.size <= SERIES_MAX_BYTES)
            .take(SERIES_MAX_FILES);
        let mut budget = SERIES_MAX_TOTAL_BYTES;
        for file in tables {
            if file.size > budget {
                break;
            }
            budget -= file.size;
            out.extend(self.file_series(&file.path, file.oid, max_points)?);
        }
        out.sort_by_key(|s| !s.is_equity());
        Ok(out)
    }

    /// The numeric series of one blob of a table file named `path`; none when it is larger
    /// than [`SERIES_MAX_BYTES`] or not a table with a time-or-index column.
    pub fn file_series(&self, path: &str, oid: ObjectId, max_points: usize) -> Result<Vec<Series>> {
        if table::delimiter_of(path).is_none() {
            return Ok(Vec::new());
        }
        let Some(pair) = crate::git::blobdiff::BlobPair::read(
            self.repo(),
            None,
            Some(oid),
            SERIES_MAX_BYTES,
            path,
        )?
        else {
            return Ok(Vec::new());
        };
        Ok(from_csv(
            path,
            pair.new_bytes().unwrap_or_default(),
            max_points,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_equity_curve_over_dates_is_a_series_and_comes_first() {
        let csv = "date,drawdown,equity,note\n\
                   2025-01-01,0,100,a\n2025-01-02,-1,99,b\n2025-01-03,0,103.5,c\n";
        let s = from_csv("curve.csv", csv.as_bytes(), 40);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["equity", "drawdown"]);
        let e = &s[0];
        assert_eq!((e.first, e.last, e.min, e.max), (100.0, 103.5, 99.0, 103.5));
        assert_eq!(e.points, [100.0, 99.0, 103.5]);
        assert_eq!(e.index, "date");
    }

    #[test]
    fn gaps_nan_and_infinities_are_left_out() {
        let csv = "i,v\n0,1\n1,\n2,NaN\n3,inf\n4,3\n";
        let s = from_csv("x.csv", csv.as_bytes(), 10);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].count, s[0].gaps), (2, 3));
        assert_eq!(s[0].points, [1.0, 3.0]);
    }

    #[test]
    fn no_series_without_a_time_or_index_column() {
        for csv in [
            "name,v\nx,1\ny,2\n",
            "i,v\n2,1\n1,2\n",
            "i,v\n0,1\n",
            "i,v\n0,a\n1,b\n",
            "plain text, not a table\nsecond line\n",
        ] {
            assert!(from_csv("x.csv", csv.as_bytes(), 10).is_empty(), "{csv}");
        }
        assert!(from_csv("x.txt", b"i,v\n0,1\n1,2\n", 10).is_empty());
    }

    #[test]
    fn downsampling_keeps_runs_means() {
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        let d = downsample(&v, 10);
        assert_eq!(d.len(), 10);
        assert_eq!(d[0], 4.5);
        assert_eq!(d[9], 94.5);
        assert_eq!(downsample(&[1.0, 2.0], 10), [1.0, 2.0]);
    }
}
