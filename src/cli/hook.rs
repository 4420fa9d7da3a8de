//! `artifact-store hook <name>`: what the scripts in hooks/ run.

use std::io::Read;

use clap::{Args, ValueEnum};

use artifact_store::error::exit;
use artifact_store::hooks::parse_updates;
use artifact_store::scan::Scanner;
use artifact_store::{Error, OpenOptions, Result, Store};

use super::Ctx;

/// Run a git hook: the scripts in hooks/ exec this with their name.
///
/// pre-commit scans what is staged (the index git is about to commit) with the secret
/// scanner; on a finding it prints rule, file, line, column and a redacted excerpt on
/// stderr and exits 3, which blocks the commit. A line holding `artifact-store:allow`
/// is never reported; `git commit --no-verify` skips the hook.
///
/// pre-receive reads `<old> <new> <ref>` lines on stdin, as git gives them, and refuses
/// the push (exit 4, or 3 for a secret) when a store ref (task branch, corr_ or prompt_
/// tag, pin) would be deleted or rewritten by anyone but hooks.retention_identity, when a
/// pushed blob holds a secret, or when hooks.bot_identity pushes anything but store refs.
/// The pusher is named by the first of hooks.identity_env that is set.
///
/// Both read the store config of the repository they run in; --repo is ignored.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// The hook to run.
    #[arg(value_enum)]
    name: HookName,
    /// Arguments git passes to the hook (unused).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HookName {
    PreCommit,
    PreReceive,
}

/// Runs `hook`; returns the process exit code.
pub fn run(ctx: &Ctx, args: &HookArgs) -> Result<i32> {
    let store = Store::open(&OpenOptions {
        repo: None,
        ..ctx.open.clone()
    })?;
    match args.name {
        HookName::PreCommit => pre_commit(ctx, &store),
        HookName::PreReceive => pre_receive(ctx, &store),
    }
}

fn pre_commit(ctx: &Ctx, store: &Store) -> Result<i32> {
    let scanner = Scanner::new(&store.config().scan).map_err(Error::from)?;
    let here = std::env::current_dir().map_err(Error::io("failed to read", "."))?;
    let report = artifact_store::staged::scan_staged(&here, &scanner)?;
    if report.findings.is_empty() {
        return Ok(exit::OK);
    }
    Ok(ctx.out.error(&Error::SecretsFound {
        findings: report.findings,
    }))
}

fn pre_receive(ctx: &Ctx, store: &Store) -> Result<i32> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(Error::io("failed to read ref updates from", "stdin"))?;
    let updates = parse_updates(&input)?;
    let pusher = store.config().hooks.pusher(|name| std::env::var(name).ok());
    let report = store.check_receive(&updates, pusher.as_deref())?;
    if ctx.out.json {
        ctx.out.report(&artifact_store::report::of(&report));
    }
    for rejection in &report.rejections {
        ctx.out.warn(&format!(
            "artifact-store refuses {}: {}",
            rejection.refname, rejection.reason
        ));
    }
    for f in &report.findings {
        ctx.out.warn(&format!(
            "secret in a pushed blob: {}:{}:{} {} {}",
            f.path, f.line, f.column, f.rule_id, f.redacted
        ));
    }
    if !report.findings.is_empty() {
        ctx.out.warn(&format!(
            "artifact-store refuses the push: {} in pushed blobs; remove {} from history, or mark a false positive with `artifact-store:allow` on its line",
            super::fmt::count(report.findings.len(), "secret"),
            if report.findings.len() == 1 { "it" } else { "them" }
        ));
        return Ok(exit::SECRET);
    }
    Ok(if report.allowed() {
        exit::OK
    } else {
        exit::CONFLICT
    })
}
