//! CSV files as tables and as numeric series: what the pages preview and chart.
//!
//! A CSV is charted when it has a time-or-index column (a column named like a time whose
//! values are dates or epoch numbers, any column whose values are all dates, or a first
//! column of increasing numbers) and at least one other column of numbers. Long series
//! are thinned on the server before they reach the browser (`downsample`): the x range is
//! cut into buckets and each bucket keeps its first point and, for every column, the
//! points of its lowest and its highest value, so spikes and drawdowns survive.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// A parsed CSV: its header and its rows (each as many cells as it had).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// The first line's cells.
    pub header: Vec<String>,
    /// The lines after it.
    pub rows: Vec<Vec<String>>,
    /// Whether `max_rows` cut the rows short.
    pub truncated: bool,
}

/// Parses CSV text (RFC 4180: quoted cells, doubled quotes, CRLF or LF), at most
/// `max_rows` rows after the header.
pub fn parse_csv(text: &str, max_rows: usize) -> Table {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut truncated = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                _ => cell.push(c),
            }
            continue;
        }
        match c {
            '"' if cell.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut cell)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut cell));
                if !(row.len() == 1 && row[0].is_empty()) {
                    lines.push(std::mem::take(&mut row));
                } else {
                    row.clear();
                }
                if lines.len() > max_rows {
                    truncated = chars.peek().is_some();
                    break;
                }
            }
            _ => cell.push(c),
        }
    }
    if !truncated && (!cell.is_empty() || !row.is_empty()) {
        row.push(cell);
        lines.push(row);
    }
    let mut lines = lines.into_iter();
    let header = lines.next().unwrap_or_default();
    Table {
        header,
        rows: lines.collect(),
        truncated,
    }
}

/// What the x axis of a chart is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XKind {
    /// Seconds since the epoch.
    Time,
    /// A step, index or other increasing number.
    Index,
}

/// A CSV's numeric columns over its time-or-index column, sorted by x.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The x column's name.
    pub x_name: String,
    /// Time or index.
    pub x_kind: XKind,
    /// The x values.
    pub x: Vec<f64>,
    /// Each numeric column: its name and values (`None` where a cell is empty).
    pub columns: Vec<(String, Vec<Option<f64>>)>,
    /// Points before downsampling.
    pub points: usize,
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

/// Returns seconds since the epoch for an RFC 3339 time, `YYYY-MM-DD HH:MM:SS[.f]`,
/// `YYYY-MM-DDTHH:MM:SS[.f]` (taken as UTC) or `YYYY-MM-DD`.
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

fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The values of column `i`, `None` for an empty or missing cell.
fn column<'t>(table: &'t Table, i: usize) -> impl Iterator<Item = &'t str> + 't {
    table
        .rows
        .iter()
        .map(move |r| r.get(i).map(String::as_str).unwrap_or(""))
}

/// Finds the x column and how to read it: `(index, kind, epoch divisor)`.
fn x_column(table: &Table) -> Option<(usize, XKind, f64)> {
    let filled = |i: usize| column(table, i).filter(|v| !v.trim().is_empty()).count();
    let all = |i: usize, f: &dyn Fn(&str) -> bool| {
        filled(i) >= 2 && column(table, i).filter(|v| !v.trim().is_empty()).all(f)
    };
    let named_time =
        |i: usize| TIME_NAMES.contains(&table.header[i].trim().to_lowercase().as_str());
    for i in 0..table.header.len() {
        if all(i, &|v| parse_time(v).is_some()) {
            return Some((i, XKind::Time, 1.0));
        }
        if named_time(i) && all(i, &|v| number(v).is_some()) {
            // Epoch numbers: seconds, or milliseconds when too large for seconds.
            let big = column(table, i).filter_map(number).any(|v| v > 1e11);
            return Some((i, XKind::Time, if big { 1000.0 } else { 1.0 }));
        }
    }
    let increasing = column(table, 0)
        .map(number)
        .collect::<Option<Vec<f64>>>()
        .is_some_and(|v| v.len() >= 2 && v.windows(2).all(|w| w[0] <= w[1]));
    increasing.then_some((0, XKind::Index, 1.0))
}

/// Returns the chartable series of a table, or `None` when it has no time-or-index column
/// or no other numeric column.
pub fn series(table: &Table) -> Option<Series> {
    let (xi, x_kind, divisor) = x_column(table)?;
    let numeric: Vec<usize> = (0..table.header.len())
        .filter(|&i| i != xi)
        .filter(|&i| {
            let mut values = column(table, i).filter(|v| !v.trim().is_empty()).peekable();
            values.peek().is_some() && values.all(|v| number(v).is_some())
        })
        .filter(|&i| column(table, i).filter_map(number).count() >= 2)
        .collect();
    if numeric.is_empty() {
        return None;
    }
    let mut points: Vec<(f64, &Vec<String>)> = table
        .rows
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
        .map(|&i| {
            let values = points
                .iter()
                .map(|(_, r)| r.get(i).and_then(|v| number(v)))
                .collect();
            (table.header[i].trim().to_string(), values)
        })
        .collect();
    Some(Series {
        x_name: table.header[xi].trim().to_string(),
        x_kind,
        x: points.iter().map(|p| p.0).collect(),
        columns,
        points: points.len(),
    })
}

/// Thins `s` to about `max` points: buckets of equal count along x, each keeping its first
/// point and the lowest and highest point of every column. A series of `max` points or
/// fewer is returned as it is.
pub fn downsample(s: &Series, max: usize) -> Series {
    let n = s.x.len();
    if n <= max || max < 4 {
        return s.clone();
    }
    let per_bucket = 1 + 2 * s.columns.len();
    let buckets = (max / per_bucket).max(1);
    let mut keep: Vec<usize> = Vec::with_capacity(buckets * per_bucket + 1);
    for b in 0..buckets {
        let (lo, hi) = (b * n / buckets, ((b + 1) * n / buckets).min(n));
        if lo >= hi {
            continue;
        }
        keep.push(lo);
        for (_, values) in &s.columns {
            let in_bucket = (lo..hi).filter_map(|i| values[i].map(|v| (i, v)));
            let min = in_bucket.clone().min_by(|a, b| a.1.total_cmp(&b.1));
            let max = in_bucket.max_by(|a, b| a.1.total_cmp(&b.1));
            keep.extend(min.map(|m| m.0));
            keep.extend(max.map(|m| m.0));
        }
    }
    keep.push(n - 1);
    keep.sort_unstable();
    keep.dedup();
    Series {
        x_name: s.x_name.clone(),
        x_kind: s.x_kind,
        x: keep.iter().map(|&i| s.x[i]).collect(),
        columns: s
            .columns
            .iter()
            .map(|(name, v)| (name.clone(), keep.iter().map(|&i| v[i]).collect()))
            .collect(),
        points: s.points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_quotes_and_line_ends() {
        let t = parse_csv("a,b\r\n1,\"x, \"\"y\"\"\"\n\n2,3", 10);
        assert_eq!(t.header, ["a", "b"]);
        assert_eq!(t.rows, [vec!["1", "x, \"y\""], vec!["2", "3"]]);
        assert!(!t.truncated);
        let t = parse_csv("a\n1\n2\n3\n", 2);
        assert_eq!(t.rows.len(), 2);
        assert!(t.truncated);
    }

    #[test]
    fn a_time_column_and_numbers_make_a_series() {
        let t = parse_csv(
            "timestamp,equity,side\n2025-11-03T16:30:00Z,10011.5,buy\n2025-11-03T15:30:00Z,9994,sell\n",
            100,
        );
        let s = series(&t).unwrap();
        assert_eq!(s.x_kind, XKind::Time);
        assert_eq!(s.x, [1762183800.0, 1762187400.0]);
        assert_eq!(
            s.columns,
            [("equity".to_string(), vec![Some(9994.0), Some(10011.5)])]
        );
    }

    #[test]
    fn an_index_column_or_epoch_numbers_make_a_series_and_text_does_not() {
        let s = series(&parse_csv("step,loss\n1,0.9\n2,0.5\n3,0.4", 10)).unwrap();
        assert_eq!(s.x_kind, XKind::Index);
        let s = series(&parse_csv("ts,v\n1762183800000,1\n1762183860000,2", 10)).unwrap();
        assert_eq!((s.x_kind, s.x[0]), (XKind::Time, 1762183800.0));
        assert!(series(&parse_csv("name,v\nb,1\na,2", 10)).is_none());
        assert!(series(&parse_csv("step,name\n1,a\n2,b", 10)).is_none());
    }

    #[test]
    fn downsampling_keeps_the_extremes() {
        let n = 100_000;
        let mut y: Vec<Option<f64>> = (0..n).map(|i| Some((i % 100) as f64)).collect();
        y[54_321] = Some(-500.0);
        y[77_777] = Some(900.0);
        let s = Series {
            x_name: "i".into(),
            x_kind: XKind::Index,
            x: (0..n).map(|i| i as f64).collect(),
            columns: vec![("v".into(), y)],
            points: n,
        };
        let d = downsample(&s, 2000);
        assert!(d.x.len() <= 2001, "{}", d.x.len());
        let values: Vec<f64> = d.columns[0].1.iter().flatten().copied().collect();
        assert!(values.contains(&-500.0) && values.contains(&900.0));
        assert_eq!((d.x[0], *d.x.last().unwrap()), (0.0, (n - 1) as f64));
        assert_eq!(d.points, n);
    }
}
