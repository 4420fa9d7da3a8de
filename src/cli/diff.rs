//! `artifact-store diff`: what changed between two artifact sets.

use clap::Args;

use artifact_store::catalog::{
    metric_number, DeltaStatus, DiffOptions, DiffReport, DiffSide, FileChange, MetricDelta, Series,
};
use artifact_store::{Result, Store};

use super::fmt;
use super::spark;
use super::Ctx;

/// Compare two artifact sets: files added, removed and changed, what changed inside each,
/// and the `test_metrics` side by side with their deltas.
///
/// Each text file shows its line counts (`+12 -3`); `--patch` prints its unified diff.
/// A binary file says `binary file differs`; a file above 8 MiB, `too large to diff`.
/// A CSV file that is a table on both sides gets a summary (rows and columns added and
/// removed) and its numeric columns drawn as sparklines, A above B. Metric deltas are
/// `b - a` (`net_pnl: 120.5 -> 98.2 (-22.3)`); NaN and infinities are shown as words,
/// and a delta above 1e15 as `delta too large to show`.
///
/// --json prints {"a", "b" (each the REF typed and its set), "added", "removed",
/// "changed": [{"path", "size_a", "size_b", "checksum_a", "checksum_b", "lines_added",
/// "lines_removed", "binary", "too_large", "csv", "patch"}], "metrics": [{"name", "a", "b",
/// "delta", "delta_status"}]}; docs/schema/diff.json.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  artifact-store diff corr_abc123 corr_def456\n  artifact-store diff abc123 wf_rsi/task_coder_001 --json\n  artifact-store diff corr_abc123 corr_def456 --patch"
)]
pub struct DiffArgs {
    /// The older set.
    #[arg(value_name = "REF_A")]
    a: String,
    /// The newer set.
    #[arg(value_name = "REF_B")]
    b: String,
    /// Print the unified diff of each changed text file (in --json: each file's `patch`).
    #[arg(long, short = 'p')]
    patch: bool,
    /// Lines of context around each hunk of --patch.
    #[arg(long, short = 'U', value_name = "N", default_value_t = 3)]
    unified: u32,
}

/// Runs `diff`.
pub fn run(ctx: &Ctx, args: &DiffArgs) -> Result<()> {
    let store = ctx.store()?;
    let options = DiffOptions {
        patch: args.patch,
        context_lines: args.unified,
    };
    let report = store.diff_with(&args.a, &args.b, &options)?;
    if ctx.out.json {
        ctx.out.json_ok(&report);
        return Ok(());
    }
    let out = &ctx.out;
    out.data(&format!("{} -> {}", side(&report.a), side(&report.b)));
    let size = |s: Option<u64>| s.map(fmt::bytes).unwrap_or_default();
    for f in &report.added {
        out.data(&format!(
            "  added    {} ({}){}",
            f.path,
            size(f.size_b),
            inside(f)
        ));
    }
    for f in &report.removed {
        out.data(&format!(
            "  removed  {} ({}){}",
            f.path,
            size(f.size_a),
            inside(f)
        ));
    }
    let mut drawn_files = 0;
    for f in &report.changed {
        out.data(&format!(
            "  changed  {} ({} -> {}){}",
            f.path,
            size(f.size_a),
            size(f.size_b),
            inside(f)
        ));
        if let Some(csv) = &f.csv {
            out.data(&format!("{:11}{}", "", table_line(csv)));
            if drawn_files < artifact_store::catalog::series::SERIES_MAX_FILES {
                drawn_files += 1;
                for line in sparklines(&store, f)? {
                    out.data(&format!("{:11}{line}", ""));
                }
            }
        }
    }
    if report.added.is_empty() && report.removed.is_empty() && report.changed.is_empty() {
        out.data("  no file changes");
    }
    if !report.metrics.is_empty() {
        out.data("metrics:");
        for m in &report.metrics {
            out.data(&format!(
                "  {}: {} -> {}{}",
                m.name,
                spark::value(&m.a),
                spark::value(&m.b),
                delta(m)
            ));
        }
    }
    if args.patch {
        print_patches(ctx, &report);
    }
    Ok(())
}

/// `corr_a1 (1a2b3c4d5e6f)`: the REF as typed, then the commit (once, when REF is the
/// commit's own hex).
fn side(s: &DiffSide) -> String {
    let short = fmt::short(&s.commit_sha);
    if s.commit_sha.starts_with(&s.reference) || s.reference.starts_with(short) {
        short.to_string()
    } else {
        format!("{} ({short})", s.reference)
    }
}

/// What changed inside a file: ` +12 -3`, ` binary file differs`, ` too large to diff`.
fn inside(f: &FileChange) -> String {
    if f.too_large {
        return "  too large to diff".into();
    }
    if f.binary {
        return match (f.size_a, f.size_b) {
            (Some(_), Some(_)) => "  binary file differs".into(),
            _ => "  binary".into(),
        };
    }
    match (f.lines_added, f.lines_removed) {
        (Some(a), Some(r)) => format!("  +{} -{}", fmt::thousands(a), fmt::thousands(r)),
        _ => String::new(),
    }
}

/// `table: 40 -> 49 rows (+12 -3); columns +fee -slippage`.
fn table_line(csv: &artifact_store::catalog::CsvSummary) -> String {
    let mut text = format!(
        "table: {} -> {} (+{} -{})",
        fmt::thousands(csv.rows_a),
        fmt::count(csv.rows_b as usize, "row"),
        fmt::thousands(csv.rows_added),
        fmt::thousands(csv.rows_removed)
    );
    if !csv.columns_added.is_empty() || !csv.columns_removed.is_empty() {
        let mut cols: Vec<String> = csv.columns_added.iter().map(|c| format!("+{c}")).collect();
        cols.extend(csv.columns_removed.iter().map(|c| format!("-{c}")));
        text.push_str(&format!("; columns {}", cols.join(" ")));
    }
    text
}

/// The numeric series of both versions of a table file, A drawn above B on one scale.
fn sparklines(store: &Store, f: &FileChange) -> Result<Vec<String>> {
    let (Some(oid_a), Some(oid_b)) = (f.oid_a, f.oid_b) else {
        return Ok(Vec::new());
    };
    let a = store.file_series(&f.path, oid_a, spark::WIDTH)?;
    let b = store.file_series(&f.path, oid_b, spark::WIDTH)?;
    let mut lines = Vec::new();
    let pairs: Vec<(&Series, &Series)> = a
        .iter()
        .filter_map(|sa| b.iter().find(|sb| sb.name == sa.name).map(|sb| (sa, sb)))
        .take(spark::MAX_SHOWN)
        .collect();
    let width = pairs
        .iter()
        .map(|(s, _)| s.name.chars().count())
        .max()
        .unwrap_or(0);
    for (sa, sb) in pairs {
        let lo = sa.min.min(sb.min);
        let hi = sa.max.max(sb.max);
        let pad = " ".repeat(width);
        let w = sa.points.len().max(sb.points.len());
        lines.push(format!(
            "{:<width$}  a {:<w$}  {}",
            sa.name,
            spark::line(&sa.points, lo, hi),
            spark::figures(sa),
        ));
        lines.push(format!(
            "{pad}  b {:<w$}  {}",
            spark::line(&sb.points, lo, hi),
            spark::figures(sb),
        ));
    }
    Ok(lines)
}

/// ` (-22.3)`, ` (delta too large to show)`, ` (no delta: NaN)`; nothing when a side
/// is missing or not a number.
fn delta(m: &MetricDelta) -> String {
    match m.delta_status {
        DeltaStatus::Ok => m.delta.map(|d| format!(" ({d:+})")).unwrap_or_default(),
        DeltaStatus::TooLarge => " (delta too large to show)".into(),
        DeltaStatus::NonFinite => {
            let nan = [&m.a, &m.b]
                .iter()
                .any(|v| metric_number(v).is_some_and(f64::is_nan));
            if nan {
                " (no delta: not a number)".into()
            } else {
                " (no delta: infinite)".into()
            }
        }
        DeltaStatus::Missing | DeltaStatus::NotNumeric => String::new(),
    }
}

/// Prints each file's unified diff, or why there is none.
fn print_patches(ctx: &Ctx, report: &DiffReport) {
    let files = report
        .added
        .iter()
        .chain(report.removed.iter())
        .chain(report.changed.iter());
    for f in files {
        ctx.out.data("");
        if f.too_large {
            ctx.out.data(&format!("too large to diff: {}", f.path));
        } else if f.binary {
            ctx.out.data(&format!("binary file differs: {}", f.path));
        } else if let Some(patch) = &f.patch {
            ctx.out.data(patch.trim_end_matches('\n'));
        }
    }
}
