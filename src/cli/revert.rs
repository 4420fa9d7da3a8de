//! `artifact-store revert-to-tag`: bring a branch back to the state of a store tag.

use clap::Args;

use artifact_store::refs::TRASH_NAMESPACE;
use artifact_store::{Result, RevertMode, RevertOutcome, RevertRequest};

use super::Ctx;

/// Bring a branch back to the state of a store tag (`corr_<id>` or `prompt_<hash>`).
///
/// By default this is a forward restore: a new commit on the target whose tree is the
/// tag's tree (with --path, only that path is restored and the rest is kept). History is
/// kept, so a pushed branch never needs a force-push. When the target already has that
/// tree, nothing is written and `"changed": false`.
///
/// --hard --force instead moves the target to the tagged commit, dropping the commits
/// after it from the branch. The old tip is kept under
/// `refs/artifact-store/trash/<unix_ts>/refs/heads/<target>` and the command that undoes
/// the move is printed.
///
/// When the target is checked out in a non-bare repository, its worktree and index follow
/// the new commit; uncommitted changes to tracked files refuse the revert (exit 4) and
/// nothing is changed.
///
/// Exit codes: 2 bad flags or a tag that is not a store tag, 4 dirty worktree or the
/// branch moved meanwhile, 5 unknown tag or target branch.
///
/// Examples:
///   artifact-store revert-to-tag corr_abc123
///   artifact-store revert-to-tag abc123 --path artifacts/wf_rsi/task_coder_001 --dry-run
///   artifact-store revert-to-tag prompt_7a8b9c0d --target release --hard --force
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RevertArgs {
    /// Store tag to go back to: `corr_<id>` (or just `<id>`) or `prompt_<hash>`.
    #[arg(value_name = "TAG")]
    tag: String,
    /// Branch to bring back.
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    target: String,
    /// Restore only this file or directory of the tree; the rest of the target is kept.
    /// A path the tag does not have is removed.
    #[arg(long, value_name = "P", conflicts_with = "hard")]
    path: Option<String>,
    /// Report what would happen (changed or not, the target's current tip); write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Move the target to the tagged commit instead of committing on top of it; rewrites
    /// the branch's history, so it needs --force.
    #[arg(long)]
    hard: bool,
    /// Confirm --hard.
    #[arg(long, requires = "hard")]
    force: bool,
    /// Create the target at the tagged commit when it does not exist (else exit 5).
    #[arg(long)]
    create: bool,
}

/// Runs `revert-to-tag`.
pub fn run(ctx: &Ctx, args: &RevertArgs) -> Result<()> {
    let request = request(args);
    let store = ctx.store()?;
    let outcome = store
        .revert_to_tag(&request)
        .map_err(|e| e.with_confirmation_hint(CONFIRM_HINT))?;
    for warning in &outcome.warnings {
        ctx.out.warn(warning);
    }
    if ctx.out.json {
        ctx.out.json_ok(&outcome);
        return Ok(());
    }
    ctx.out.data(&summary(&outcome));
    if let Some(undo) = &outcome.undo {
        ctx.out.data(&format!("undo: {undo}"));
    }
    if let Some(trash) = &outcome.trash_ref {
        if let Some((ts, _)) = trash
            .strip_prefix(TRASH_NAMESPACE)
            .and_then(|rest| rest.trim_start_matches('/').split_once('/'))
        {
            ctx.out.status(&format!(
                "`artifact-store trash list` shows {trash}; `artifact-store trash restore {ts}` puts it back once the branch is moved away"
            ));
        }
    }
    if let (Some(dir), true) = (&outcome.worktree, outcome.changed) {
        let verb = if outcome.dry_run {
            "would follow"
        } else {
            "followed"
        };
        ctx.out.status(&format!(
            "the worktree and index in {} {verb}",
            dir.display()
        ));
    }
    Ok(())
}

fn request(args: &RevertArgs) -> RevertRequest {
    let mut request = RevertRequest::new(&args.tag);
    request.target = args.target.clone();
    request.path = args.path.clone();
    request.mode = if args.hard {
        RevertMode::Hard
    } else {
        RevertMode::Restore
    };
    request.force = args.force;
    request.dry_run = args.dry_run;
    request.create = args.create;
    request
}

/// How to confirm a hard revert, in this face's flags.
const CONFIRM_HINT: &str = "pass --hard --force to do it anyway (the old tip is kept in the trash and the undo command is printed), or leave out --hard for a forward restore that keeps history";

/// One line saying what happened (or would happen, in a dry run).
fn summary(o: &RevertOutcome) -> String {
    let short = |sha: &Option<String>| sha.as_deref().map_or("", |s| &s[..12]).to_string();
    let tip = short(&o.commit_sha);
    let was = short(&o.previous_sha);
    let tag = format!("{} ({})", o.reverted_to, &o.tag_commit[..12]);
    let what = match &o.path {
        Some(path) => format!("{path} on {}", o.branch),
        None => o.branch.clone(),
    };
    let line = match (o.changed, o.created, o.mode) {
        (false, _, RevertMode::Hard) => format!("unchanged: {} is already at {tag}", o.branch),
        (false, _, RevertMode::Restore) => {
            format!("unchanged: {what} ({tip}) already matches {tag}")
        }
        (true, true, _) if o.dry_run => format!("would create {} at {tag}", o.branch),
        (true, true, _) => format!("created {} at {tag}", o.branch),
        (true, false, RevertMode::Hard) if o.dry_run => format!(
            "would move {} from {was} to {tag}, keeping the old tip in the trash",
            o.branch
        ),
        (true, false, RevertMode::Hard) => format!(
            "moved {} from {was} to {tag}; the old tip is kept as {}",
            o.branch,
            o.trash_ref.as_deref().unwrap_or("?")
        ),
        (true, false, RevertMode::Restore) if o.dry_run => {
            format!("would revert {what} ({was}) to {tag} with a new commit")
        }
        (true, false, RevertMode::Restore) => {
            format!("reverted {what} to {tag} with new commit {tip} (was {was})")
        }
    };
    if o.dry_run {
        format!("dry run: {line}")
    } else {
        line
    }
}
