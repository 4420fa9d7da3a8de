//! `artifact-store unpin`: remove a pin.

use clap::Args;

use artifact_store::Result;

use super::{fmt, Ctx};

/// Remove a pin; the commit is then kept or pruned by the policy alone.
///
/// Exit codes: 5 when there is no pin by that name.
#[derive(Debug, Args)]
pub struct UnpinArgs {
    /// The pin's name, as `pin --name` gave it.
    #[arg(value_name = "NAME")]
    name: String,
}

/// Runs `unpin`.
pub fn run(ctx: &Ctx, args: &UnpinArgs) -> Result<()> {
    let store = ctx.store()?;
    let outcome = store.unpin(&args.name)?;
    if ctx.out.json {
        ctx.out.json_ok(&outcome);
        return Ok(());
    }
    ctx.out.data(&format!(
        "unpinned {} (was {})",
        outcome.name,
        fmt::short(&outcome.commit_sha)
    ));
    ctx.out.status(&format!(
        "undo: artifact-store pin {} --name {}",
        outcome.commit_sha, outcome.name
    ));
    Ok(())
}
