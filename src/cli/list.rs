//! `artifact-store list`: artifact sets, newest first.

use clap::{Args, ValueEnum};
use serde_json::Value;

use artifact_store::catalog::{query, ListQuery, Listing};
use artifact_store::error::exit;
use artifact_store::metadata::TestStatus;
use artifact_store::{Result, TaskId, WorkflowId};

use super::fmt;
use super::Ctx;

/// List artifact sets, newest first (by commit time).
///
/// By default one row per task branch (its tip); --all-versions lists every tagged
/// version. A workflow's branches are read by ref prefix, so `--workflow` stays fast on
/// stores with many thousands of branches.
///
/// --where filters on metadata keys, dotted for nested ones, with = != < <= > >=;
/// numbers compare as numbers: `--where 'test_metrics.win_rate>=0.5' --where llm_version=gpt-4`.
///
/// --json prints an array of objects: the stored metadata.json keys plus `branch` and
/// `commit_sha`.
///
/// --format jsonl prints those objects one per line; --format csv a header and one line
/// per set: workflow_id, task_id, correlation_id, commit_sha, commit_time, test_status,
/// branch, prompt_hash, agent_version, llm_version, the other metadata keys, then one
/// column per metric (`test_metrics.net_pnl`). Both read as they are in DuckDB
/// (`read_csv_auto`, `read_json_auto`) and pandas; a text cell that a spreadsheet would
/// run as a formula (`=`, `+`, `-`, `@`) starts with `'`.
///
/// A set whose objects cannot be read (a damaged object database) is never left out
/// silently: a warning names it on stderr and the exit code is 1; with --json the output
/// becomes `{success: false, error: {kind: "corrupt", ...}, rows, unreadable}`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  artifact-store list\n  artifact-store list --workflow wf_rsi --since 7d\n  artifact-store list --where 'test_metrics.win_rate>=0.5' --where llm_version=gpt-4\n  artifact-store list --all-versions --task task_coder_001 --json\n  artifact-store list --workflow wf_rsi --format csv > runs.csv"
)]
pub struct ListArgs {
    /// Only this workflow.
    #[arg(long, short = 'w', value_name = "W")]
    workflow: Option<String>,
    /// Only this task.
    #[arg(long, short = 't', value_name = "T")]
    task: Option<String>,
    /// Only sets whose tests passed or failed.
    #[arg(long, value_name = "passed|failed")]
    status: Option<String>,
    /// Only sets committed since DATE: 2025-11-07, an RFC 3339 time, or an age (36h, 7d).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Metadata filter KEY OP VALUE (repeatable; all must hold).
    #[arg(long = "where", value_name = "KEY<OP>VALUE")]
    wheres: Vec<String>,
    /// At most N rows.
    #[arg(long, short = 'n', default_value_t = 50, value_name = "N")]
    limit: usize,
    /// Every tagged version, not only the tip of each task branch.
    #[arg(long)]
    all_versions: bool,
    /// Output format (`--json` is `--format json`).
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,
}

/// What `list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table for people.
    Table,
    /// One JSON object, as --json.
    Json,
    /// One JSON object per set, one per line.
    Jsonl,
    /// Comma-separated values, one column per metric.
    Csv,
}

impl ListArgs {
    /// Whether the output is JSON (`--format json`), so errors are JSON too.
    pub fn wants_json(&self) -> bool {
        self.format == Some(Format::Json)
    }
}

/// Runs `list`.
pub fn run(ctx: &Ctx, args: &ListArgs) -> Result<i32> {
    let format = match (ctx.out.json, args.format) {
        (true, None | Some(Format::Json)) => Format::Json,
        (true, Some(other)) => {
            return Err(artifact_store::Error::InvalidInput(format!(
                "--json and --format {} ask for two formats; use one of them",
                other
                    .to_possible_value()
                    .map(|v| v.get_name().to_string())
                    .unwrap_or_default()
            )))
        }
        (false, format) => format.unwrap_or(Format::Table),
    };
    let query = ListQuery {
        workflow: args.workflow.as_deref().map(WorkflowId::new).transpose()?,
        task: args.task.as_deref().map(TaskId::new).transpose()?,
        status: args.status.as_deref().map(TestStatus::parse).transpose()?,
        since: args
            .since
            .as_deref()
            .map(|s| query::parse_since(s, chrono::Utc::now().timestamp()))
            .transpose()?,
        wheres: args
            .wheres
            .iter()
            .map(|w| query::Where::parse(w))
            .collect::<Result<_>>()?,
        limit: args.limit,
        all_versions: args.all_versions,
        // The table and the CSV show no tags; JSON carries them.
        brief: matches!(format, Format::Table | Format::Csv),
    };
    let store = ctx.store()?;
    let listing = store.list(&query)?;
    let rows = &listing.rows;
    for warning in &listing.warnings {
        ctx.out.warn(warning);
    }
    let code = if listing.unreadable.is_empty() {
        exit::OK
    } else {
        exit::INTERNAL
    };
    for u in &listing.unreadable {
        ctx.out.warn(&format!(
            "the artifact set on {}{} cannot be read: {}",
            u.branch,
            u.commit_sha
                .as_deref()
                .map(|c| format!(" (commit {})", fmt::short(c)))
                .unwrap_or_default(),
            u.message
        ));
    }
    match format {
        Format::Json => {
            ctx.out.report(&artifact_store::report::of(&listing));
            return finish(ctx, &listing, code);
        }
        Format::Jsonl => {
            ctx.out.text(&listing.to_jsonl());
            return finish(ctx, &listing, code);
        }
        Format::Csv => {
            ctx.out.text(&listing.to_csv());
            return finish(ctx, &listing, code);
        }
        Format::Table => {}
    }
    if rows.is_empty() {
        if listing.unreadable.is_empty() {
            ctx.out.status("no artifact sets match");
        }
        return finish(ctx, &listing, code);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let get = |k: &str| {
                r.metadata
                    .get(k)
                    .map(fmt::scalar)
                    .unwrap_or_else(|| "-".into())
            };
            vec![
                get("workflow_id"),
                get("task_id"),
                get("correlation_id"),
                get("test_status"),
                fmt::ago(r.time),
                fmt::short(&r.commit_sha).to_string(),
                metrics(r.metadata.get("test_metrics")),
            ]
        })
        .collect();
    ctx.out.data(&fmt::table(
        &[
            "WORKFLOW",
            "TASK",
            "CORRELATION",
            "STATUS",
            "COMMITTED",
            "COMMIT",
            "METRICS",
        ],
        &cells,
    ));
    finish(ctx, &listing, code)
}

/// Ends a human listing: when sets could not be read, how many, and the hint.
fn finish(ctx: &Ctx, listing: &Listing, code: i32) -> Result<i32> {
    let n = listing.unreadable.len();
    if n > 0 {
        ctx.out.warn(&format!(
            "{n} artifact set{} could not be read and {} not listed",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" }
        ));
        if let Some(hint) = listing.unreadable_error().and_then(|e| e.hint()) {
            ctx.out.warn(&hint);
        }
    }
    Ok(code)
}

/// Formats up to three metrics as `k=v`.
pub fn metrics(value: Option<&Value>) -> String {
    let Some(Value::Object(map)) = value else {
        return String::new();
    };
    let mut parts: Vec<String> = map
        .iter()
        .filter(|(_, v)| v.is_number() || v.is_string() || v.is_boolean())
        .take(3)
        .map(|(k, v)| format!("{k}={}", fmt::scalar(v)))
        .collect();
    if map.len() > 3 {
        parts.push("…".into());
    }
    parts.join(" ")
}
