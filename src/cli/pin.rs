//! `artifact-store pin`: keep a commit, its tags and a branch whose tip it is from retention.

use clap::Args;

use artifact_store::Result;

use super::{fmt, Ctx};

/// Pin a commit so that retention never prunes it.
///
/// The pin is the ref `refs/artifact-store/pins/<name>`. `gc` keeps the corr_ and prompt_
/// tags on a pinned commit and a task branch whose tip it is, each with the reason
/// `keep: pinned (<name>)`. Pinning the same commit again under the same name changes
/// nothing; a name that pins another commit is refused (exit 4).
///
/// Examples:
///   artifact-store pin corr_abc123 --name release-2025-11
///   artifact-store pin ai/generated/wf_rsi/task_coder_001
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PinArgs {
    /// What to pin: `corr_<id>`, a tag, a branch, `W/T` or a commit sha.
    #[arg(value_name = "REF")]
    reference: String,
    /// Pin name (letters, digits, '.', '_', '-'); default: REF with '/' made '-'.
    #[arg(long, value_name = "N")]
    name: Option<String>,
}

/// Runs `pin`.
pub fn run(ctx: &Ctx, args: &PinArgs) -> Result<()> {
    let store = ctx.store()?;
    let outcome = store.pin(&args.reference, args.name.as_deref())?;
    if ctx.out.json {
        ctx.out.json_ok(&outcome);
        return Ok(());
    }
    let verb = if outcome.created {
        "pinned"
    } else {
        "already pinned"
    };
    ctx.out.data(&format!(
        "{verb}: {} ({}) as {}",
        args.reference,
        fmt::short(&outcome.commit_sha),
        outcome.refname
    ));
    if outcome.created {
        ctx.out
            .status(&format!("undo: artifact-store unpin {}", outcome.name));
    }
    Ok(())
}
