//! `artifact-store commit`: commit files and directories as one artifact set.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;

use artifact_store::metadata::{self, TestStatus};
use artifact_store::{
    CommitRequest, CorrelationId, Error, InputSpec, PromptHash, Result, TaskId, WorkflowId,
};

use super::progress::Bar;
use super::{fmt, Ctx};

/// Commit files and directories as one artifact set on `ai/generated/<workflow>/<task>`.
///
/// Files land in the artifact directory (`artifacts/<workflow>/<task>/` by default),
/// which is replaced as a whole, next to a generated metadata.json with sha256 checksums.
/// A directory keeps its name (`out/` lands as `.../out/`); `out/.` commits its contents.
/// Everything is scanned for secrets before anything is written.
///
/// The correlation id is the idempotency key: the same id with the same files returns
/// the first commit (`"duplicate": true`); with other files it is a conflict (exit 4)
/// unless --force.
///
/// With --push (or auto_push), the task branch and then the new tags are pushed to the
/// remote (remote_name, default origin); if another machine pushed the branch first, this
/// commit is re-applied onto its tip and pushed again. A failed push never fails the
/// commit: the result says "pushed": false, a warning explains, exit 0, and
/// `artifact-store push --pending` sends it later. --require-push makes that exit 6.
///
/// Example:
///   artifact-store commit --workflow wf_rsi --task coder_001 --correlation-id abc123 \
///       --prompt-hash 7a8b9c0d --set test_metrics.net_pnl=120.5 strategy.py reports/
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Workflow id: letters, digits, '.', '_', '-'; at most 128.
    #[arg(long, short = 'w', value_name = "W")]
    workflow: String,
    /// Task id: letters, digits, '.', '_', '-'; at most 128.
    #[arg(long, short = 't', value_name = "T")]
    task: String,
    /// Correlation id (`abc` or `corr_abc`); tagged as `corr_<id>`.
    #[arg(long, value_name = "C")]
    correlation_id: Option<String>,
    /// Prompt hash (4-128 letters and digits); tagged as `prompt_<hash>` on the newest commit.
    #[arg(long, value_name = "H")]
    prompt_hash: Option<String>,
    /// Caller metadata: a JSON object in FILE, or `-` for stdin. Keys are kept as given.
    #[arg(long, value_name = "FILE|-")]
    metadata: Option<String>,
    /// Set one metadata key; dotted keys nest (`test_metrics.net_pnl=120.5`). Values
    /// that parse as JSON are stored as JSON, others as strings. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Test status recorded in metadata and trailers.
    #[arg(long, value_name = "passed|failed")]
    status: Option<String>,
    /// Commit even when the correlation id already names other content, moving its tag.
    #[arg(long)]
    force: bool,
    /// Push the branch and tags after committing, whatever auto_push says.
    #[arg(long)]
    push: bool,
    /// Push, and exit 6 when the push fails (the commit stays landed locally).
    #[arg(long)]
    require_push: bool,
    /// Files and directories to commit.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// Runs `commit`.
pub fn run(ctx: &Ctx, args: &CommitArgs) -> Result<()> {
    let request = request(args)?;
    let store = ctx.store()?;
    let outcome = store.commit_with(request, &Bar::new(&ctx.out))?;
    if !outcome.duplicate {
        super::compact::after_commit(ctx, &store);
    }
    for warning in &outcome.warnings {
        ctx.out.warn(warning);
    }
    if ctx.out.json {
        ctx.out.json_ok(&outcome);
        return Ok(());
    }
    let short = &outcome.commit_sha[..12];
    let missing = match outcome.tags_missing.as_slice() {
        [] => String::new(),
        names => format!(
            "; tag{} missing: {}",
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        ),
    };
    if outcome.duplicate {
        let differs = match outcome.metadata_differs {
            true => "; metadata differs, not recorded",
            false => "",
        };
        ctx.out.data(&format!(
            "unchanged: {} is already {short} on {} (duplicate{differs}){missing}",
            outcome.correlation_tag, outcome.branch
        ));
    } else {
        let tagged = match outcome.tags.is_empty() {
            true => "untagged".to_string(),
            false => format!("tagged {}", outcome.tags.join(", ")),
        };
        ctx.out.data(&format!(
            "committed {} ({}) to {} at {short}, {tagged}{missing}",
            fmt::count(outcome.file_count, "file"),
            fmt::bytes(outcome.bytes),
            outcome.branch,
        ));
    }
    if outcome.pushed {
        ctx.out.status(&format!(
            "pushed to {}",
            artifact_store::error::display_url(&store.config().remote_name)
        ));
    }
    ctx.out
        .detail(&format!("browse: git show --stat {}", outcome.commit_sha));
    if outcome.retries > 0 {
        ctx.out.detail(&format!(
            "lost {} and rebuilt",
            fmt::count(outcome.retries as usize, "compare-and-swap race")
        ));
    }
    Ok(())
}

fn request(args: &CommitArgs) -> Result<CommitRequest> {
    let workflow = WorkflowId::new(&args.workflow)?;
    let task = TaskId::new(&args.task)?;
    let inputs = args.paths.iter().map(InputSpec::path).collect();
    let mut request = CommitRequest::new(workflow, task, inputs);
    request.correlation_id = args
        .correlation_id
        .as_deref()
        .map(CorrelationId::new)
        .transpose()?;
    request.prompt_hash = args
        .prompt_hash
        .as_deref()
        .map(PromptHash::new)
        .transpose()?;
    request.status = args.status.as_deref().map(TestStatus::parse).transpose()?;
    request.force = args.force;
    request.push = args.push.then_some(true);
    request.require_push = args.require_push;
    if let Some(source) = &args.metadata {
        let text = if source == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(Error::io("failed to read metadata from", "stdin"))?;
            text
        } else {
            std::fs::read_to_string(source).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::InvalidPath {
                    path: source.into(),
                    reason: "no such metadata file".to_string(),
                },
                _ => Error::io("failed to read", source)(e),
            })?
        };
        request.metadata = metadata::parse_caller(&text, source)?;
    }
    let sets = args
        .sets
        .iter()
        .map(|s| metadata::parse_set(s))
        .collect::<Result<Vec<_>>>()?;
    metadata::apply_sets(&mut request.metadata, sets);
    Ok(request)
}
