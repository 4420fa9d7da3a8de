//! `artifact-store gc`: the retention plan, and with --apply its execution.

use std::path::PathBuf;

use clap::Args;

use artifact_store::error::exit;
use artifact_store::retention::{Applied, GcOutcome, GcRequest, Plan, Policy, Rules, Verdict};
use artifact_store::Result;

use super::progress::Bar;
use super::{fmt, Ctx};

/// Prune task branches and store tags by the retention policy (a dry run unless --apply).
///
/// Prints the plan: per workflow, branches and tags kept and pruned. With -v, every ref
/// with its decision and reason, e.g. `keep: pinned (release-2025-11)`, `keep: last_run`,
/// `prune: outside keep_last=10 (rank 14)`, `prune: older than 30 days (41 days)`.
/// --json prints the plan as data. The plan changes nothing.
///
/// The policy is the config's [retention] table (see docs/retention.md), or --policy FILE.
/// Always kept: pinned commits, the newest branch of each workflow (last_run), the newest
/// whose tip passed (last_pass), commits reachable from the base branch or any branch
/// outside the store's prefix, and the tip's tags of kept branches.
///
/// --apply moves every pruned ref to refs/artifact-store/trash/<unix_ts>/<ref> in one ref
/// transaction (objects stay reachable); a ref that changed since the plan is skipped and
/// reported. A report commit goes to refs/artifact-store/reports (`git log` it), and the
/// undo command is printed: `artifact-store trash restore <unix_ts>`.
///
/// --apply --remote then deletes the moved refs on the remote (`remote_name`, default
/// origin; or `--remote NAME|URL`) where they still hold the pruned value, after checking
/// each is in the local trash. Like push, it gives up after push_timeout seconds without an
/// answer and uses the same credentials (ssh agent or key, git's credential helpers).
///
/// Exit codes: 2 bad policy, 4 another gc holds the lock, 6 the remote step failed (the
/// local apply stands).
///
/// Examples:
///   artifact-store gc -v
///   artifact-store gc --policy retention.toml --json
///   artifact-store gc --apply
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct GcArgs {
    /// Carry the plan out: move every pruned ref to the trash.
    #[arg(long)]
    apply: bool,
    /// With --apply, also delete the pruned refs on a remote: the configured remote_name
    /// (default origin) when given alone, or the remote NAME or URL given.
    #[arg(long, requires = "apply", value_name = "NAME|URL", num_args = 0..=1, default_missing_value = "")]
    remote: Option<String>,
    /// Read the [retention] table from FILE instead of the config.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

/// Runs `gc`; returns the exit code.
pub fn run(ctx: &Ctx, args: &GcArgs) -> Result<i32> {
    let policy = args.policy.as_deref().map(Policy::from_file).transpose()?;
    let store = ctx.store()?;
    let request = GcRequest {
        apply: args.apply,
        remote: args.remote.is_some(),
        remote_name: args.remote.clone().filter(|r| !r.is_empty()),
        policy,
    };
    let mut outcome = store.gc(&request, &Bar::new(&ctx.out))?;
    if ctx.out.json {
        return Ok(ctx.out.report(&artifact_store::report::of(&outcome)));
    }
    let remote_error = outcome.remote_error.take();
    render(ctx, args, &outcome);
    Ok(match remote_error {
        Some(e) => ctx.out.error(&e),
        None => exit::OK,
    })
}

fn render(ctx: &Ctx, args: &GcArgs, outcome: &GcOutcome) {
    let plan = &outcome.plan;
    ctx.out.data(&summary_table(plan));
    if ctx.out.verbose > 0 {
        let rows: Vec<Vec<String>> = plan
            .refs
            .iter()
            .map(|d| {
                let verdict = match d.decision {
                    Verdict::Keep => "keep",
                    Verdict::Prune => "prune",
                };
                vec![d.refname.clone(), format!("{verdict}: {}", d.reason)]
            })
            .collect();
        ctx.out.data("");
        ctx.out.data(&fmt::table(&["REF", "DECISION"], &rows));
    }
    if !outcome.rules_set {
        ctx.out.status(
            "no retention rule is set, so everything is kept; see [retention] in docs/retention.md",
        );
    }
    match &outcome.applied {
        None => dry_run_status(ctx, args, plan),
        Some(applied) => applied_status(ctx, applied),
    }
    if let Some(remote) = &outcome.remote {
        ctx.out.data(&format!(
            "remote {}: deleted {} ({} not there)",
            remote.remote,
            fmt::count(remote.deleted.len(), "ref"),
            match remote.absent {
                1 => "1 was".to_string(),
                n => format!("{} were", fmt::thousands(n as u64)),
            }
        ));
        for s in &remote.skipped {
            ctx.out.warn(&format!(
                "left {} on remote {}: {}",
                s.refname, remote.remote, s.reason
            ));
        }
    }
}

fn summary_table(plan: &Plan) -> String {
    let rows: Vec<Vec<String>> = plan
        .workflows
        .iter()
        .map(|w| {
            let mut rules = rules_text(&w.rules);
            if !w.overrides.is_empty() {
                rules.push_str(&format!(" ({})", w.overrides.join(", ")));
            }
            vec![
                w.workflow
                    .clone()
                    .unwrap_or_else(|| "(no branch)".to_string()),
                number(w.branches.kept),
                number(w.branches.pruned),
                number(w.tags.kept),
                number(w.tags.pruned),
                rules,
            ]
        })
        .chain(std::iter::once(vec![
            "total".to_string(),
            number(plan.workflows.iter().map(|w| w.branches.kept).sum()),
            number(plan.workflows.iter().map(|w| w.branches.pruned).sum()),
            number(plan.workflows.iter().map(|w| w.tags.kept).sum()),
            number(plan.workflows.iter().map(|w| w.tags.pruned).sum()),
            String::new(),
        ]))
        .collect();
    let header = [
        "WORKFLOW",
        "BRANCHES KEPT",
        "PRUNED",
        "TAGS KEPT",
        "PRUNED",
        "RULES",
    ];
    fmt::table(&header, &rows)
}

fn number(n: usize) -> String {
    fmt::thousands(n as u64)
}

fn rules_text(rules: &Rules) -> String {
    let mut parts = Vec::new();
    if let Some(n) = rules.keep_last {
        parts.push(format!("keep_last={n}"));
    }
    if let Some(n) = rules.max_age_days {
        parts.push(format!("max_age_days={n}"));
    }
    if let Some(n) = rules.keep_versions {
        parts.push(format!("keep_versions={n}"));
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" ")
    }
}

fn dry_run_status(ctx: &Ctx, args: &GcArgs, plan: &Plan) {
    match plan.total.pruned {
        0 => ctx.out.status("dry run: nothing to prune"),
        n => ctx.out.status(&format!(
            "dry run: nothing changed; `{}` moves {} to the trash (-v lists every ref)",
            ctx.command_line(&apply_args(args)),
            fmt::count(n, "ref")
        )),
    }
}

/// The arguments of `gc` that carry this plan out: `--apply` and every flag that changes
/// the plan (`--policy FILE`, `--remote`), so the hint applies what was shown.
fn apply_args(args: &GcArgs) -> Vec<String> {
    let mut out = vec!["gc".to_string(), "--apply".to_string()];
    if let Some(policy) = &args.policy {
        out.push("--policy".to_string());
        out.push(policy.display().to_string());
    }
    match args.remote.as_deref() {
        None => {}
        Some("") => out.push("--remote".to_string()),
        Some(remote) => out.push(format!("--remote={remote}")),
    }
    out
}

fn applied_status(ctx: &Ctx, applied: &Applied) {
    if !applied.skipped.is_empty() {
        ctx.out.warn(&format!(
            "skipped {} that changed after planning:",
            fmt::count(applied.skipped.len(), "ref")
        ));
        for s in &applied.skipped {
            ctx.out.warn(&format!("  {}: {}", s.refname, s.reason));
        }
    }
    if applied.moved == 0 {
        ctx.out.data("moved nothing");
        return;
    }
    ctx.out.data(&format!(
        "moved {} to refs/artifact-store/trash/{}/ (report {} on refs/artifact-store/reports)",
        fmt::count(applied.moved, "ref"),
        applied.trash_ts,
        applied
            .report_commit
            .as_deref()
            .map(fmt::short)
            .unwrap_or("-")
    ));
    if applied.packed_refs > 0 {
        ctx.out.status(&format!(
            "packed {} into packed-refs",
            fmt::count(applied.packed_refs, "loose ref")
        ));
    }
    ctx.out.data(&format!("undo: {}", applied.undo));
}
