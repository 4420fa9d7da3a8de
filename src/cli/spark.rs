//! Sparklines: a numeric series drawn on one line of Unicode blocks, with its figures.

use artifact_store::catalog::{ArtifactSet, Series};
use artifact_store::{Result, Store};

/// Points drawn per sparkline (the library downsamples to this).
pub const WIDTH: usize = 40;

/// Series drawn by `show` before the rest are only counted.
pub const MAX_SHOWN: usize = 8;

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Draws `points` between `lo` and `hi` (the lowest block at `lo`, the highest at `hi`).
pub fn line(points: &[f64], lo: f64, hi: f64) -> String {
    let span = hi - lo;
    points
        .iter()
        .map(|&v| {
            if span.is_nan() || span <= 0.0 || span.is_infinite() {
                return BLOCKS[0];
            }
            let level = ((v - lo) / span * 7.0).round();
            BLOCKS[level.clamp(0.0, 7.0) as usize]
        })
        .collect()
}

/// The lines `show` prints under its files: each numeric series of the set's CSV tables
/// (equity curves first) as a sparkline with its figures; none when there is no series.
pub fn of_set(store: &Store, set: &ArtifactSet) -> Result<Vec<String>> {
    let series = store.series(set, WIDTH)?;
    if series.is_empty() {
        return Ok(Vec::new());
    }
    let label = |s: &Series| format!("{} {}", s.path, s.name);
    let shown = &series[..series.len().min(MAX_SHOWN)];
    let width = shown
        .iter()
        .map(|s| label(s).chars().count())
        .max()
        .unwrap_or(0);
    let points = shown.iter().map(|s| s.points.len()).max().unwrap_or(0);
    let mut lines = vec!["series".to_string()];
    for s in shown {
        lines.push(format!(
            "  {:<width$}  {:<points$}  {}",
            label(s),
            line(&s.points, s.min, s.max),
            figures(s)
        ));
    }
    if series.len() > shown.len() {
        let more = series.len() - shown.len();
        lines.push(format!("  … and {more} more series"));
    }
    Ok(lines)
}

/// `first 100 last 103.5 min 99 max 103.5 (250 points)`.
pub fn figures(s: &Series) -> String {
    let gaps = match s.gaps {
        0 => String::new(),
        n => format!(", {}", super::fmt::count(n, "gap")),
    };
    format!(
        "first {}  last {}  min {}  max {}  ({}{gaps})",
        number(s.first),
        number(s.last),
        number(s.min),
        number(s.max),
        super::fmt::count(s.count, "point"),
    )
}

/// A number for people: integers without a fraction, others to at most 6 decimals,
/// very large or very small ones in exponent form; `NaN`, `inf`, `-inf` as words.
pub fn number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = x.abs();
    if a >= 1e15 || (a != 0.0 && a < 1e-6) {
        return format!("{x:e}");
    }
    let text = format!("{x:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// A metric value for people: a number in its shortest exact form (`98.2`, `1e308` for
/// very large or very small ones, never `1e+308` nor 309 digits), anything else as
/// `fmt::scalar` shows it.
pub fn value(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) if v.is_f64() => {
            let a = x.abs();
            if a >= 1e15 || (a != 0.0 && a < 1e-6) {
                format!("{x:e}")
            } else {
                format!("{x}")
            }
        }
        _ => super::fmt::scalar(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_span_low_to_high() {
        assert_eq!(line(&[0.0, 7.0, 3.5, 1.0], 0.0, 7.0), "▁█▅▂");
        assert_eq!(line(&[5.0, 5.0], 5.0, 5.0), "▁▁");
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number(100.0), "100");
        assert_eq!(number(103.5), "103.5");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(1e308), "1e308");
        assert_eq!(number(-2.5e-9), "-2.5e-9");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "-inf");
        assert_eq!(value(&serde_json::json!(1e308)), "1e308");
        assert_eq!(value(&serde_json::json!(98.2)), "98.2");
        assert_eq!(value(&serde_json::json!(10)), "10");
        assert_eq!(value(&serde_json::json!("NaN")), "NaN");
    }
}
