//! `artifact-store verify`: checksums and tag/trailer agreement.

use clap::Args;

use artifact_store::error::exit;
use artifact_store::{Error, Result};

use super::progress::Bar;
use super::{fmt, Ctx};

/// Recompute every file's sha256 against metadata.json, and check that each `corr_` tag's
/// commit carries the matching Correlation-Id trailer and lies on its task branch.
///
/// Exits 0 when everything holds and 1 when any problem is found, each one reported.
/// This checks the store's own promises; `git fsck` checks git's (object integrity,
/// connectivity). Run both; see docs/read-side.md.
#[derive(Debug, Args)]
#[command(
    override_usage = "artifact-store verify [OPTIONS] <REF | --all>",
    after_help = "Examples:\n  artifact-store verify corr_abc123\n  artifact-store verify wf_rsi/task_coder_001\n  artifact-store verify --all --json"
)]
pub struct VerifyArgs {
    /// One artifact set to verify (see `show --help` for the forms REF takes).
    #[arg(value_name = "REF", conflicts_with = "all")]
    reference: Option<String>,
    /// Every `corr_` tag and every task branch tip.
    #[arg(long)]
    all: bool,
}

/// Runs `verify`; returns the process exit code.
pub fn run(ctx: &Ctx, args: &VerifyArgs) -> Result<i32> {
    if args.reference.is_none() && !args.all {
        return Err(Error::InvalidRequest {
            message: "verify needs an artifact set to check: pass a REF, or --all for every set"
                .to_string(),
            hint: Some(
                "`artifact-store verify corr_abc123` checks one set; `artifact-store verify --all` checks every corr_ tag and task branch".to_string(),
            ),
        });
    }
    let store = ctx.store()?;
    let bar = Bar::new(&ctx.out);
    let report = match &args.reference {
        Some(r) => store.verify_with(r, &bar)?,
        None => store.verify_all_with(&bar)?,
    };
    if ctx.out.json {
        return Ok(ctx.out.report(&artifact_store::report::of(&report)));
    } else {
        for p in &report.problems {
            ctx.out
                .data(&format!("{}: {}: {}", p.subject, p.kind, p.message));
        }
        let summary = format!(
            "{}, {}, {} checked: {}",
            fmt::count(report.sets, "artifact set"),
            fmt::count(report.files, "file"),
            fmt::count(report.tags, "tag"),
            if report.success {
                "ok".to_string()
            } else {
                fmt::count(report.problems.len(), "problem")
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
