//! `artifact-store scan`: the secret scanner on its own.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use artifact_store::error::exit;
use artifact_store::scan::{self, ScanReport, Scanner};
use artifact_store::{Config, Error, Result};

use artifact_store::progress::Progress;

use super::progress::Bar;
use super::{fmt, Ctx};

/// Scan files and directories for secrets: exit 0 when clean, 3 when anything is found.
///
/// Directories are walked recursively (`.git` skipped, symlinks not followed) on every
/// core. Binary files are scanned like text. Findings show rule, file, line, column
/// and a redacted excerpt (at most the first 4 characters); a secret is never printed.
///
/// Rules come built in (over 40 credential formats) plus the `[scan]` table of the store's
/// config (extra rules, disabled rules, allowed paths and regexes, a gitleaks TOML rule file).
/// A line holding `artifact-store:allow` is never reported.
///
/// --format json prints {"success", "schema_version", "findings": [{"rule_id", "path",
/// "line", "column", "redacted"}], "files_scanned", "bytes_scanned", "skipped": [{"path",
/// "reason"}]}, with "success": false and an "error" object when anything is found
/// (docs/schema/scan.json); --format sarif prints SARIF 2.1.0 for code-scanning tools.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  artifact-store scan ./run-output\n  artifact-store scan --format sarif . > findings.sarif\n  artifact-store scan --staged\n  artifact-store scan --list-rules"
)]
pub struct ScanArgs {
    /// Output format (--json means json).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Scan what is staged in the repository around the current directory (for pre-commit).
    #[arg(long, conflicts_with = "paths")]
    staged: bool,
    /// Print the ids of every active rule (built in and configured) and exit.
    #[arg(long, conflicts_with_all = ["paths", "staged"])]
    list_rules: bool,
    /// Files and directories to scan.
    #[arg(value_name = "PATH", required_unless_present_any = ["staged", "list_rules"])]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Sarif,
}

/// Runs `scan`; returns the process exit code.
pub fn run(ctx: &Ctx, args: &ScanArgs) -> Result<i32> {
    let config = scan_config(ctx)?;
    let scanner = Scanner::new(&config.scan).map_err(Error::from)?;
    for id in scanner.rejected_rules() {
        ctx.out.warn(&format!(
            "gitleaks rule {id} skipped: its regex does not compile in Rust's regex crate"
        ));
    }
    if args.list_rules {
        let ids: Vec<&str> = scanner.rule_ids().collect();
        if ctx.out.json {
            let list = scan::RuleList {
                rules: ids.iter().map(|id| id.to_string()).collect(),
            };
            ctx.out.json_ok(&list);
        } else {
            ids.iter().for_each(|id| ctx.out.data(id));
        }
        return Ok(exit::OK);
    }
    let report = if args.staged {
        artifact_store::staged::scan_staged(
            &std::env::current_dir().map_err(Error::io("failed to read", "."))?,
            &scanner,
        )?
    } else {
        let bar = Bar::new(&ctx.out);
        let json = ctx.out.json || args.format != Format::Human;
        let silent = artifact_store::progress::Silent;
        let progress: &dyn Progress = if json { &silent } else { &bar };
        scanner
            .scan_paths_with(&args.paths, progress)
            .map_err(Error::from)?
    };
    let format = if ctx.out.json {
        Format::Json
    } else {
        args.format
    };
    match format {
        Format::Json => return Ok(ctx.out.report(&artifact_store::report::of(&report))),
        Format::Sarif => ctx
            .out
            .json_value(&scan::sarif(&report, env!("CARGO_PKG_VERSION"))),
        Format::Human => human(ctx, &report),
    }
    Ok(if report.findings.is_empty() {
        exit::OK
    } else {
        exit::SECRET
    })
}

fn human(ctx: &Ctx, report: &ScanReport) {
    for f in &report.findings {
        ctx.out.data(&format!(
            "{}:{}:{} {} {}",
            f.path, f.line, f.column, f.rule_id, f.redacted
        ));
    }
    for s in &report.skipped {
        ctx.out
            .detail(&format!("skipped {} ({})", s.path, s.reason));
    }
    ctx.out.status(&format!(
        "{} in {} ({}) scanned, {} skipped",
        fmt::count(report.findings.len(), "finding"),
        fmt::count(report.files_scanned as usize, "file"),
        fmt::bytes(report.bytes_scanned),
        fmt::thousands(report.skipped.len() as u64)
    ));
}

/// The store's config when there is a store around, else the defaults (plus --config/-c).
fn scan_config(ctx: &Ctx) -> Result<Config> {
    match ctx.store() {
        Ok(store) => Ok(store.config().clone()),
        Err(Error::NoRepository { .. }) => {
            Config::load(ctx.open.config_file.as_deref(), &[], &ctx.open.overrides)
        }
        Err(e) => Err(e),
    }
}
