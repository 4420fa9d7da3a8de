//! `artifact-store diff`: what changed between two artifact sets.

use clap::Args;

use artifact_store::Result;

use super::fmt;
use super::Ctx;

/// Compare two artifact sets: files added, removed and changed (with sizes), and the
/// `test_metrics` side by side with their deltas (`net_pnl: 120.5 -> 98.2 (-22.3)`).
///
/// --json prints {"a", "b" (each the REF typed and its set), "added", "removed",
/// "changed": [{"path", "size_a", "size_b", "checksum_a", "checksum_b"}], "metrics":
/// [{"name", "a", "b", "delta"}]}; docs/schema/diff.json.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  artifact-store diff corr_abc123 corr_def456\n  artifact-store diff abc123 wf_rsi/task_coder_001 --json"
)]
pub struct DiffArgs {
    /// The older set.
    #[arg(value_name = "REF_A")]
    a: String,
    /// The newer set.
    #[arg(value_name = "REF_B")]
    b: String,
}

/// Runs `diff`.
pub fn run(ctx: &Ctx, args: &DiffArgs) -> Result<()> {
    let store = ctx.store()?;
    let report = store.diff(&args.a, &args.b)?;
    if ctx.out.json {
        ctx.out.json_ok(&report);
        return Ok(());
    }
    let out = &ctx.out;
    out.data(&format!(
        "{} -> {}",
        fmt::short(&report.a.commit_sha),
        fmt::short(&report.b.commit_sha)
    ));
    let size = |s: Option<u64>| s.map(fmt::bytes).unwrap_or_default();
    for f in &report.added {
        out.data(&format!("  added    {} ({})", f.path, size(f.size_b)));
    }
    for f in &report.removed {
        out.data(&format!("  removed  {} ({})", f.path, size(f.size_a)));
    }
    for f in &report.changed {
        out.data(&format!(
            "  changed  {} ({} -> {})",
            f.path,
            size(f.size_a),
            size(f.size_b)
        ));
    }
    if report.added.is_empty() && report.removed.is_empty() && report.changed.is_empty() {
        out.data("  no file changes");
    }
    if !report.metrics.is_empty() {
        out.data("metrics:");
        for m in &report.metrics {
            let delta = m.delta.map(|d| format!(" ({d:+})")).unwrap_or_default();
            out.data(&format!(
                "  {}: {} -> {}{delta}",
                m.name,
                fmt::scalar(&m.a),
                fmt::scalar(&m.b)
            ));
        }
    }
    Ok(())
}
