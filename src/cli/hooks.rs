//! `artifact-store hooks install`: install the git hooks from hooks/ into a repository.

use clap::{Args, Subcommand};

use artifact_store::Result;

use super::Ctx;

/// Manage the git hooks that keep secrets and stray pushes out of the repositories
/// around a store.
#[derive(Debug, Args)]
pub struct HooksArgs {
    #[command(subcommand)]
    command: HooksCommand,
}

#[derive(Debug, Subcommand)]
enum HooksCommand {
    Install(InstallArgs),
}

/// Install the pre-commit hook (or, with --server, the pre-receive hook) into a repository.
///
/// The repository is --repo, else the one around the current directory; the hook goes to
/// core.hooksPath when set, else to hooks/ in the git directory. Each hook is a thin
/// script that execs `artifact-store hook <name>`, run from the absolute path of the
/// binary that installed it (ARTIFACT_STORE_BIN overrides it; PATH is the fallback when
/// that file is gone; with neither, the hook blocks the commit or push and says to
/// reinstall). A different hook already there is refused (exit 4) unless --force, which
/// keeps it as <name>.bak. Installing again is a no-op, or updates our own hook to the
/// binary now installing it.
///
/// pre-commit scans the staged content for secrets and blocks the commit on a finding.
/// pre-receive, for the shared remote, refuses deletions and rewrites of store refs except
/// by hooks.retention_identity, blobs holding secrets, and, with hooks.bot_identity set,
/// bot pushes outside the store refs.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Install the pre-receive hook for a shared (usually bare) remote instead.
    #[arg(long)]
    server: bool,
    /// Replace a different existing hook, keeping it as <name>.bak.
    #[arg(long)]
    force: bool,
}

/// Runs `hooks`.
pub fn run(ctx: &Ctx, args: &HooksArgs) -> Result<()> {
    let HooksCommand::Install(args) = &args.command;
    let binary = std::env::current_exe().ok();
    let outcome = ctx
        .store()?
        .install_hooks_for(args.server, args.force, binary.as_deref())?;
    if ctx.out.json {
        ctx.out.json_ok(&outcome);
        return Ok(());
    }
    for hook in &outcome.hooks {
        ctx.out.data(&format!(
            "{} {}: {}",
            hook.action,
            hook.name,
            hook.path.display()
        ));
        match &hook.binary {
            Some(binary) => ctx
                .out
                .status(&format!("the hook runs {}", binary.display())),
            None => ctx.out.warn(
                "the path of this binary is unknown or not UTF-8: the hook runs `artifact-store` from PATH",
            ),
        }
        if let Some(backup) = &hook.backup {
            ctx.out.status(&format!(
                "the previous hook is kept at {}; undo with `mv {} {}`",
                backup.display(),
                backup.display(),
                hook.path.display()
            ));
        }
    }
    Ok(())
}
