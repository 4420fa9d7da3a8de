//! `artifact-store verify`: checksums and tag/trailer agreement.

use clap::Args;

use artifact_store::error::exit;
use artifact_store::Result;

use super::Ctx;

/// Recompute every file's sha256 against metadata.json, and check that each `corr_` tag's
/// commit carries the matching Correlation-Id trailer and lies on its task branch.
///
/// Exits 0 when everything holds and 1 when any problem is found, each one reported.
/// This checks the store's own promises; `git fsck` checks git's (object integrity,
/// connectivity). Run both; see docs/read-side.md.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// One artifact set to verify.
    #[arg(
        value_name = "REF",
        conflicts_with = "all",
        required_unless_present = "all"
    )]
    reference: Option<String>,
    /// Every `corr_` tag and every task branch tip.
    #[arg(long)]
    all: bool,
}

/// Runs `verify`; returns the process exit code.
pub fn run(ctx: &Ctx, args: &VerifyArgs) -> Result<i32> {
    let store = ctx.store()?;
    let report = match &args.reference {
        Some(r) => store.verify(r)?,
        None => store.verify_all()?,
    };
    if ctx.out.json {
        ctx.out.json_ok(&report);
    } else {
        for p in &report.problems {
            ctx.out
                .data(&format!("{}: {}: {}", p.subject, p.kind, p.message));
        }
        let summary = format!(
            "{} artifact set{}, {} files, {} tags checked: {}",
            report.sets,
            if report.sets == 1 { "" } else { "s" },
            report.files,
            report.tags,
            if report.success {
                "ok".to_string()
            } else {
                format!("{} problems", report.problems.len())
            }
        );
        if report.success {
            ctx.out.data(&summary);
        } else {
            ctx.out.warn(&summary);
        }
    }
    Ok(if report.success {
        exit::OK
    } else {
        exit::INTERNAL
    })
}
