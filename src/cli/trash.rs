//! `artifact-store trash list | restore | purge`: the refs gc and revert-to-tag --hard moved.

use clap::{Args, Subcommand};

use artifact_store::retention::{GitGc, TrashList};
use artifact_store::Result;

use super::{fmt, Ctx};

/// Pruned refs: list them, put them back, or delete them for good once expired.
///
/// gc --apply (and revert-to-tag --hard) move refs to
/// refs/artifact-store/trash/<unix_ts>/<original ref>, where their objects stay reachable.
///
/// Examples:
///   artifact-store trash list
///   artifact-store trash restore 1762525800
///   artifact-store trash restore ai/generated/wf_rsi/task_coder_001
///   artifact-store trash purge --older-than 30 --prune-objects
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TrashArgs {
    #[command(subcommand)]
    command: TrashCommand,
}

#[derive(Debug, Subcommand)]
enum TrashCommand {
    List(ListArgs),
    Restore(RestoreArgs),
    Purge(PurgeArgs),
}

/// List the trash by time: a table of batches (when, how many refs, when each expires),
/// then their refs (the first 20 of each batch unless -v).
///
/// Examples:
///   artifact-store trash list
///   artifact-store trash list -v --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ListArgs {}

/// Put trashed refs back where they were.
///
/// TS restores a whole batch (`gc --apply` prints its undo command); a ref restores one ref,
/// named by its trash name or its original name (the newest copy). When any ref to restore
/// exists again, nothing is restored (exit 4). Exit 5 when the trash has no such batch or ref.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A batch's unix time, a trash ref, or an original ref (`refs/heads/...`, `W/T`, a tag).
    #[arg(value_name = "TS|REF")]
    what: String,
}

/// Delete trash batches older than --older-than days (default: retention.trash_days, 30).
///
/// Deleting the refs frees no space by itself: git's garbage collection removes the objects
/// nothing reaches any more. --prune-objects runs `git gc --prune=now` afterwards when the
/// git CLI is installed; run it only while no other process writes to the store.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Batches older than this many days go (0: every batch).
    #[arg(long, value_name = "DAYS")]
    older_than: Option<u64>,
    /// Then run `git gc --prune=now` to reclaim the space.
    #[arg(long)]
    prune_objects: bool,
}

/// Runs `trash`.
pub fn run(ctx: &Ctx, args: &TrashArgs) -> Result<()> {
    let store = ctx.store()?;
    match &args.command {
        TrashCommand::List(_) => {
            let list = store.trash_list()?;
            if ctx.out.json {
                ctx.out.json_ok(&list);
            } else {
                print_list(ctx, &list);
            }
        }
        TrashCommand::Restore(a) => {
            let outcome = store.trash_restore(&a.what)?;
            if ctx.out.json {
                ctx.out.json_ok(&outcome);
                return Ok(());
            }
            for e in &outcome.restored {
                ctx.out
                    .data(&format!("restored {} ({})", e.original, fmt::short(&e.oid)));
            }
            ctx.out.status(&format!(
                "restored {} (report {})",
                fmt::count(outcome.restored.len(), "ref"),
                fmt::short(&outcome.report_commit)
            ));
        }
        TrashCommand::Purge(a) => {
            let outcome = store.trash_purge(a.older_than, a.prune_objects)?;
            if ctx.out.json {
                ctx.out.json_ok(&outcome);
                return Ok(());
            }
            ctx.out.data(&format!(
                "purged {} from {} older than {}",
                fmt::count(outcome.purged, "trash ref"),
                fmt::count_as(outcome.batches.len(), "batch", "batches"),
                fmt::count(outcome.older_than_days as usize, "day")
            ));
            match &outcome.git_gc {
                GitGc::NotRequested if outcome.purged > 0 => ctx.out.status(
                    "the objects go when git's gc finds them unreachable: `git gc --prune=now`, or pass --prune-objects",
                ),
                GitGc::NotRequested => {}
                GitGc::Ran => ctx.out.status("ran `git gc --prune=now`"),
                GitGc::NotInstalled => ctx
                    .out
                    .warn("the git CLI is not installed; run `git gc --prune=now` where it is"),
                GitGc::Failed(why) => ctx.out.warn(&format!("`git gc --prune=now` failed: {why}")),
            }
        }
    }
    Ok(())
}

fn print_list(ctx: &Ctx, list: &TrashList) {
    if list.batches.is_empty() {
        ctx.out.status("the trash is empty");
        return;
    }
    let batches: Vec<Vec<String>> = list
        .batches
        .iter()
        .map(|batch| {
            let when = chrono::DateTime::from_timestamp(batch.ts, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
                .unwrap_or_default();
            let left = list.trash_days as i64 - batch.age_days;
            let expiry = match left {
                1.. => format!("in {}", fmt::count(left as usize, "day")),
                _ => format!("expired (trash_days={})", list.trash_days),
            };
            vec![
                batch.ts.to_string(),
                when,
                fmt::count(batch.age_days.max(0) as usize, "day"),
                fmt::thousands(batch.count as u64),
                expiry,
            ]
        })
        .collect();
    ctx.out.data(&fmt::table(
        &["BATCH", "TRASHED", "AGE", "REFS", "EXPIRES"],
        &batches,
    ));
    let shown = if ctx.out.verbose > 0 { usize::MAX } else { 20 };
    let mut refs = Vec::new();
    let mut more = Vec::new();
    for batch in &list.batches {
        for e in batch.refs.iter().take(shown) {
            refs.push(vec![
                batch.ts.to_string(),
                fmt::short(&e.oid).to_string(),
                e.original.clone(),
            ]);
        }
        if batch.refs.len() > shown {
            more.push(format!(
                "batch {}: {} more (-v lists all)",
                batch.ts,
                fmt::thousands((batch.refs.len() - shown) as u64)
            ));
        }
    }
    ctx.out.data("");
    ctx.out
        .data(&fmt::table(&["BATCH", "COMMIT", "REF"], &refs));
    for line in more {
        ctx.out.data(&line);
    }
    ctx.out
        .status("restore a batch with `artifact-store trash restore <BATCH>`");
}
