//! Numeric series in an artifact set's CSV files (an equity curve, a drawdown): the one
//! reader behind the sparklines of `show` and `diff` and the charts of the web view.
//!
//! A table file (`table.rs`'s rules) is drawn over its x column, the first of: a column
//! whose every filled cell is a date or time (RFC 3339, `YYYY-MM-DD HH:MM[:SS]`,
//! `YYYY-MM-DD`); a column named like a time (`timestamp`, `time`, `date`, `ts`, ...)
//! holding epoch seconds or milliseconds; else a first column of non-decreasing numbers (a
//! step or an index). Rows are sorted by x. Every other column whose filled cells are all
//! numbers is a series; `NaN` and infinite cells are gaps (counted, not drawn), and a column
//! needs two finite values. Long series are thinned by [`Curves::downsample`], which keeps
//! each bucket's extremes so spikes and drawdowns survive. Work is bounded for the
//! sparklines: a file above [`SERIES_MAX_BYTES`] is not read, at most
//! [`SERIES_MAX_FILES`] files of a set are and [`SERIES_MAX_TOTAL_BYTES`] in all.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
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

/// What the x axis of a table file's curves is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XKind {
    /// Seconds since the epoch.
    Time,
    /// A step, index or other non-decreasing number.
    Index,
}

/// One numeric column over x.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column's name, from the header.
    pub name: String,
    /// One value per x: `None` for an empty, `NaN` or infinite cell.
    pub values: Vec<Option<f64>>,
}

/// A table file's numeric columns over its x column, its rows sorted by x.
#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    /// The x column's name.
    pub x_name: String,
    /// Time or index.
    pub x_kind: XKind,
    /// The x values, non-decreasing.
    pub x: Vec<f64>,
    /// The numeric columns, in the header's order.
    pub columns: Vec<Column>,
    /// Rows before any downsampling.
    pub points: usize,
}

/// One numeric column of a CSV file with its figures: what a sparkline draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The file, relative to the artifact directory.
    pub path: String,
    /// The x column's name.
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
    /// The finite values in x order, downsampled ([`Curves::downsample`]) to at most the
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

    /// Column `i` of `curves` with its figures, thinned to at most `max_points`; `None`
    /// when the column has fewer than two finite values.
    fn of(path: &str, curves: &Curves, i: usize, max_points: usize) -> Option<Series> {
        let column = &curves.columns[i];
        let finite: Vec<f64> = column.values.iter().flatten().copied().collect();
        let (&first, &last) = (finite.first()?, finite.last()?);
        let (min, max) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let thin = curves.only(i).downsample(max_points);
        Some(Series {
            path: path.to_string(),
            index: curves.x_name.clone(),
            name: column.name.clone(),
            count: finite.len(),
            gaps: column.values.len() - finite.len(),
            first,
            last,
            min,
            max,
            points: thin.columns[0].values.iter().flatten().copied().collect(),
        })
    }
}

/// The numeric series of one table file's bytes (`path` gives its delimiter), equity
/// curves first; none when it is not a table or has no x column. `max_points` bounds each
/// series' points.
pub fn from_csv(path: &str, bytes: &[u8], max_points: usize) -> Vec<Series> {
    let Some(curves) = Curves::parse(path, bytes) else {
        return Vec::new();
    };
    let mut out: Vec<Series> = (0..curves.columns.len())
        .filter_map(|i| Series::of(path, &curves, i, max_points))
        .collect();
    out.sort_by_key(|s| !s.is_equity());
    out
}

impl Curves {
    /// Reads the curves of one table file's bytes (`path` gives its delimiter); `None` when
    /// it is not a table, or has no x column or no other numeric column.
    pub fn parse(path: &str, bytes: &[u8]) -> Option<Curves> {
        let (header, rows) = table::read_all(bytes, table::delimiter_of(path)?)?;
        let (xi, x_kind, divisor) = x_column(&header, &rows)?;
        let numeric: Vec<usize> = (0..header.len())
            .filter(|&i| i != xi && is_numeric(&rows, i))
            .collect();
        if numeric.is_empty() {
            return None;
        }
        let mut points: Vec<(f64, &Vec<String>)> = rows
            .iter()
            .filter_map(|r| {
                let cell = r.get(xi)?;
                let x = match x_kind {
                    XKind::Time if divisor == 1.0 && number(cell).is_none() => parse_time(cell)?,
                    _ => number(cell)? / divisor,
                };
                Some((x, r))
            })
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let columns = numeric
            .iter()
            .map(|&i| Column {
                name: header[i].clone(),
                values: points
                    .iter()
                    .map(|(_, r)| cell(r, i).and_then(number))
                    .collect(),
            })
            .collect();
        Some(Curves {
            x_name: header[xi].clone(),
            x_kind,
            x: points.iter().map(|p| p.0).collect(),
            columns,
            points: points.len(),
        })
    }

    /// The curves of column `i` alone, so that it is thinned on its own extremes.
    pub fn only(&self, i: usize) -> Curves {
        Curves {
            x_name: self.x_name.clone(),
            x_kind: self.x_kind,
            x: self.x.clone(),
            columns: vec![self.columns[i].clone()],
            points: self.points,
        }
    }

    /// Thins the curves to about `max` points: buckets of equal count along x, each keeping
    /// its first point and the lowest and highest point of every column, and the last point
    /// of all. Curves of `max` points or fewer are returned as they are.
    pub fn downsample(&self, max: usize) -> Curves {
        let n = self.x.len();
        if n <= max || max < 4 {
            return self.clone();
        }
        let per_bucket = 1 + 2 * self.columns.len();
        let buckets = (max / per_bucket).max(1);
        let mut keep: Vec<usize> = Vec::with_capacity(buckets * per_bucket + 1);
        for b in 0..buckets {
            let (lo, hi) = (b * n / buckets, ((b + 1) * n / buckets).min(n));
            if lo >= hi {
                continue;
            }
            keep.push(lo);
            for column in &self.columns {
                let in_bucket = (lo..hi).filter_map(|i| column.values[i].map(|v| (i, v)));
                let min = in_bucket.clone().min_by(|a, b| a.1.total_cmp(&b.1));
                let max = in_bucket.max_by(|a, b| a.1.total_cmp(&b.1));
                keep.extend(min.map(|m| m.0));
                keep.extend(max.map(|m| m.0));
            }
        }
        keep.push(n - 1);
        keep.sort_unstable();
        keep.dedup();
        Curves {
            x_name: self.x_name.clone(),
            x_kind: self.x_kind,
            x: keep.iter().map(|&i| self.x[i]).collect(),
            columns: self
                .columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    values: keep.iter().map(|&i| c.values[i]).collect(),
                })
                .collect(),
            points: self.points,
        }
    }
}

const TIME_NAMES: &[&str] = &[
    "timestamp",
    "time",
    "date",
    "datetime",
    "ts",
    "dt",
    "time_utc",
    "timestamp_utc",
    "date_time",
];

/// Returns seconds since the epoch for an RFC 3339 time, `YYYY-MM-DD HH:MM[:SS[.f]]`,
/// `YYYY-MM-DDTHH:MM[:SS[.f]]` (taken as UTC) or `YYYY-MM-DD`.
pub fn parse_time(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.len() < 10 || !t.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_millis() as f64 / 1000.0);
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, format) {
            return Some(dt.and_utc().timestamp_millis() as f64 / 1000.0);
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp() as f64)
}

/// A finite number, `None` for anything else (empty, text, `NaN`, infinities).
fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Cell `i` of a row, when the row has it.
fn cell(row: &[String], i: usize) -> Option<&str> {
    row.get(i).map(String::as_str)
}

/// The filled cells of column `i`.
fn filled<'r>(rows: &'r [Vec<String>], i: usize) -> impl Iterator<Item = &'r str> + 'r {
    rows.iter()
        .filter_map(move |r| cell(r, i))
        .filter(|v| !v.trim().is_empty())
}

/// A column is numeric when every filled cell parses as a number (`NaN` and infinities
/// included: they are gaps) and two of them are finite.
fn is_numeric(rows: &[Vec<String>], i: usize) -> bool {
    filled(rows, i).all(|v| v.trim().parse::<f64>().is_ok())
        && filled(rows, i).filter_map(number).nth(1).is_some()
}

/// Finds the x column and how to read it: `(index, kind, epoch divisor)`.
fn x_column(header: &[String], rows: &[Vec<String>]) -> Option<(usize, XKind, f64)> {
    let all = |i: usize, f: &dyn Fn(&str) -> bool| {
        filled(rows, i).nth(1).is_some() && filled(rows, i).all(f)
    };
    let named_time = |i: usize| TIME_NAMES.contains(&header[i].to_lowercase().as_str());
    for i in 0..header.len() {
        if all(i, &|v| parse_time(v).is_some()) {
            return Some((i, XKind::Time, 1.0));
        }
        if named_time(i) && all(i, &|v| number(v).is_some()) {
            // Epoch numbers: seconds, or milliseconds when too large for seconds.
            let big = filled(rows, i).filter_map(number).any(|v| v > 1e11);
            return Some((i, XKind::Time, if big { 1000.0 } else { 1.0 }));
        }
    }
    let increasing = rows
        .iter()
        .map(|r| cell(r, 0).and_then(number))
        .collect::<Option<Vec<f64>>>()
        .is_some_and(|v| v.len() >= 2 && v.windows(2).all(|w| w[0] <= w[1]));
    increasing.then_some((0, XKind::Index, 1.0))
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
    /// than [`SERIES_MAX_BYTES`] or not a table with an x column.
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
mod tests;
