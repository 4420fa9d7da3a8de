//! `artifact-store init`: create a store repository or adopt an existing one.

use std::path::PathBuf;

use clap::Args;

use artifact_store::{Result, Store};

use super::Ctx;

/// Create a store repository, or adopt an existing git repository unchanged.
///
/// A new repository's HEAD names `main`, the default base branch. An existing
/// repository is left exactly as it is: no config, hooks or refs are written.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the store (default: the current directory).
    path: Option<PathBuf>,
    /// Create a bare repository (no worktree), as a shared store usually is.
    #[arg(long)]
    bare: bool,
}

/// Runs `init`.
pub fn run(ctx: &Ctx, args: &InitArgs) -> Result<()> {
    let path = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let outcome = Store::init(&path, args.bare)?;
    if ctx.out.json {
        ctx.out.json_ok(&outcome);
        return Ok(());
    }
    let kind = if outcome.bare { "bare store" } else { "store" };
    let verb = if outcome.created {
        "Created"
    } else {
        "Adopted existing repository as"
    };
    ctx.out
        .data(&format!("{verb} {kind} at {}", outcome.git_dir.display()));
    if outcome.created && args.bare {
        ctx.out.status(&format!(
            "next: artifact-store --repo {} commit --workflow W --task T --correlation-id C FILES...",
            path.display()
        ));
    }
    Ok(())
}
