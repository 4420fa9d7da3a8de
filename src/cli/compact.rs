//! `artifact-store compact`: consolidate the object store now (or say what that would save),
//! and the background run a commit starts when a consolidation is due.

use std::process::{Command, Stdio};

use clap::Args;

use artifact_store::store::{CompactOutcome, CompactRequest};
use artifact_store::{Result, Store};

use super::fmt;
use super::Ctx;

/// Consolidate the object store: every version of a file stored as its difference to the
/// next one, in one pack.
///
/// The store does this on its own after commits (in a background process, never making a
/// commit wait) once 1 MiB of new objects is pending (`compact_threshold`); turn that off
/// with `auto_compact = false`. This command runs it now, over everything, and waits for it.
/// Reads, `git` itself and `git gc` keep working throughout.
///
///   artifact-store compact --dry-run    # what it would save
///   artifact-store compact              # do it now
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Say what a consolidation would write and save; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only the step the store takes on its own, and only when one is due.
    #[arg(long)]
    auto: bool,
}

/// Runs `compact`.
pub fn run(ctx: &Ctx, args: &CompactArgs) -> Result<()> {
    let store = ctx.store()?;
    let request = CompactRequest {
        full: !args.auto,
        dry_run: args.dry_run,
    };
    let mut outcome = store.compact(request)?;
    // The background step goes on while steps are due: commits that landed meanwhile.
    if args.auto && !args.dry_run {
        for _ in 0..8 {
            if !(outcome.ran && store.compact_pending().due) {
                break;
            }
            outcome = store.compact(request)?;
        }
    }
    if ctx.out.json {
        ctx.out.json_ok(&outcome);
        return Ok(());
    }
    ctx.out.data(&summary(&outcome));
    Ok(())
}

fn summary(o: &CompactOutcome) -> String {
    if !o.ran {
        return format!(
            "nothing consolidated: {}",
            o.skipped.as_deref().unwrap_or("nothing to do")
        );
    }
    let verb = if o.dry_run {
        "would consolidate"
    } else {
        "consolidated"
    };
    let saved = if o.saved >= 0 {
        format!("{} saved", fmt::bytes(o.saved as u64))
    } else {
        format!("{} more", fmt::bytes(o.saved.unsigned_abs()))
    };
    format!(
        "{verb} {} pack{} and {} loose object{} ({}) into one pack of {} objects ({}): {saved}; {} new deltas, {} kept, longest chain {}",
        o.packs,
        if o.packs == 1 { "" } else { "s" },
        o.loose_objects,
        if o.loose_objects == 1 { "" } else { "s" },
        fmt::bytes(o.bytes_before),
        o.objects,
        fmt::bytes(o.bytes_after),
        o.deltas_new,
        o.deltas_reused,
        o.max_depth,
    )
}

/// After a commit: when a consolidation is due, starts `compact --auto` as a process of its
/// own (at the lowest CPU priority, detached, output discarded) and returns at once. The
/// commit never waits for it; a failure to start it is not the commit's failure.
pub fn after_commit(ctx: &Ctx, store: &Store) {
    if !store.compact_pending().due {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args: Vec<std::ffi::OsString> = vec!["--repo".into(), store.git_dir().into()];
    if let Some(file) = &ctx.open.config_file {
        args.push("--config".into());
        args.push(file.into());
    }
    for (key, value) in &ctx.open.overrides {
        args.push("-c".into());
        args.push(format!("{key}={value}").into());
    }
    args.extend(["-q".into(), "compact".into(), "--auto".into()]);
    let spawn = |mut cmd: Command| {
        use std::os::unix::process::CommandExt;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
    };
    let mut niced = Command::new("nice");
    niced.args(["-n", "19"]).arg(&exe).args(&args);
    if spawn(niced).is_err() {
        let mut plain = Command::new(&exe);
        plain.args(&args);
        let _ = spawn(plain);
    }
}
