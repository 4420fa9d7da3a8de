//! `artifact-store demo`: the main job on a demo store, and how to browse the result.

use std::path::PathBuf;

use clap::Args;

use artifact_store::{demo, Error, Result};

use super::Ctx;

/// Run the main job on a demo store, then show how to browse it with git or `serve`.
///
/// Creates a bare store in a new directory, commits a sample agent run (strategy, test report, trades, equity curve, log) twice, redeliver
/// the second commit to show idempotency, and print the git commands to browse it all, and the `serve` command to see it.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory to build the demo in (default: a new directory under the system temp dir,
    /// kept afterwards so you can browse it).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Runs `demo`.
pub fn run(ctx: &Ctx, args: &DemoArgs) -> Result<()> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => tempfile::Builder::new()
            .prefix("artifact-store-demo-")
            .tempdir()
            .map_err(Error::io(
                "failed to create a temporary directory in",
                std::env::temp_dir(),
            ))?
            .keep(),
    };
    let report = demo::run(&dir)?;
    if ctx.out.json {
        ctx.out.json_ok(&report);
        return Ok(());
    }
    let git = format!("git --git-dir {}", report.store.display());
    let out = &ctx.out;
    out.data(&format!("demo store: {}", report.store.display()));
    out.data(&format!(
        "agent output committed: {}/",
        report.run_dir.display()
    ));
    for (what, c) in ["run 1", "run 2", "run 2 redelivered"]
        .iter()
        .zip(&report.commits)
    {
        let note = if c.duplicate {
            "  (duplicate: nothing new written)"
        } else {
            ""
        };
        out.data(&format!(
            "  {what:<18} {} {} [{}]{note}",
            &c.commit_sha[..12],
            c.branch,
            c.tags.join(", ")
        ));
    }
    out.data("");
    out.data("browse it with plain git:");
    out.data(&format!("  {git} log --format='%h %s%n%(trailers:only)' ai/generated/wf_rsi_strategy/task_coder_001"));
    out.data(&format!("  {git} tag -l 'corr_*' 'prompt_*'"));
    out.data(&format!(
        "  {git} show corr_demo-002:artifacts/wf_rsi_strategy/task_coder_001/metadata.json"
    ));
    out.data(&format!("  {git} diff corr_demo-001 corr_demo-002 --stat"));
    if cfg!(feature = "web") {
        out.data("");
        out.data("or look at it in a browser (the equity curves of both runs on one chart):");
        out.data(&format!(
            "  artifact-store --repo {} serve --open",
            report.store.display()
        ));
        out.data("  then http://127.0.0.1:8080/compare?refs=corr_demo-001,corr_demo-002");
    }
    Ok(())
}
