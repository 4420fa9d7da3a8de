//! `artifact-store export`: write an artifact set's files to disk.

use std::path::PathBuf;

use clap::Args;

use artifact_store::Result;

use super::progress::Bar;
use super::{fmt, Ctx};

/// Write an artifact set's files (metadata.json included) into DIR, byte-identical.
///
/// Executable bits and symlinks are restored as stored. Existing files are refused
/// (exit 4) before anything is written, unless --force.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  artifact-store export corr_abc123 --to ./restored\n  artifact-store export wf_rsi/task_coder_001 --to ./latest --force"
)]
pub struct ExportArgs {
    /// The artifact set (see `show --help` for the forms REF takes).
    #[arg(value_name = "REF")]
    reference: String,
    /// Directory to write into (created when missing).
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Overwrite files that exist.
    #[arg(long)]
    force: bool,
}

/// Runs `export`.
pub fn run(ctx: &Ctx, args: &ExportArgs) -> Result<()> {
    let store = ctx.store()?;
    let report = store.export_with(&args.reference, &args.to, args.force, &Bar::new(&ctx.out))?;
    if ctx.out.json {
        ctx.out.json_ok(&report);
        return Ok(());
    }
    ctx.out.data(&format!(
        "exported {} ({}) of {} to {}",
        fmt::count(report.files.len(), "file"),
        fmt::bytes(report.bytes),
        fmt::short(&report.commit_sha),
        report.to.display()
    ));
    Ok(())
}
