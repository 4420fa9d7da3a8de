//! `artifact-store log`: the versions of one task.

use clap::Args;

use artifact_store::Result;

use super::fmt;
use super::Ctx;

/// Show the versions of one task branch, newest first, with their tags.
///
/// --json prints an array of {"commit_sha", "commit_time", "correlation_id",
/// "test_status", "tags", "summary"}.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  artifact-store log wf_rsi/task_coder_001\n  artifact-store log wf_rsi/task_coder_001 -n 5 --json"
)]
pub struct LogArgs {
    /// The task, as WORKFLOW/TASK.
    #[arg(value_name = "W/T")]
    task: String,
    /// At most N versions.
    #[arg(long, short = 'n', default_value_t = 20, value_name = "N")]
    limit: usize,
}

/// Runs `log`.
pub fn run(ctx: &Ctx, args: &LogArgs) -> Result<()> {
    let store = ctx.store()?;
    let log = store.log(&args.task, args.limit)?;
    if ctx.out.json {
        ctx.out.json_ok(&log);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = log
        .entries
        .iter()
        .map(|e| {
            vec![
                fmt::short(&e.commit_sha).to_string(),
                fmt::ago(e.time),
                e.correlation_id.clone().unwrap_or_else(|| "-".into()),
                e.test_status.clone().unwrap_or_else(|| "-".into()),
                e.tags.join(", "),
            ]
        })
        .collect();
    ctx.out.data(&fmt::table(
        &["COMMIT", "COMMITTED", "CORRELATION", "STATUS", "TAGS"],
        &rows,
    ));
    Ok(())
}
