//! `artifact-store stats`: what the store holds and how big it is.

use clap::Args;

use artifact_store::Result;

use super::fmt;
use super::Ctx;

/// Count workflows, tasks, versions, tags, pins and trash; measure the repository on disk
/// (loose and packed); list the largest artifact sets.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// How many of the largest artifact sets to list.
    #[arg(long, default_value_t = 5, value_name = "N")]
    top: usize,
}

/// Runs `stats`.
pub fn run(ctx: &Ctx, args: &StatsArgs) -> Result<()> {
    let store = ctx.store()?;
    let s = store.stats(args.top)?;
    if ctx.out.json {
        ctx.out.json_ok(&s);
        return Ok(());
    }
    let out = &ctx.out;
    out.data(&format!("workflows    {}", s.workflows));
    out.data(&format!("tasks        {}", s.tasks));
    out.data(&format!("versions     {} (corr_ tags)", s.versions));
    out.data(&format!("prompt tags  {}", s.prompt_tags));
    out.data(&format!("pins         {}", s.pins));
    out.data(&format!("trash        {}", s.trash));
    out.data(&format!(
        "loose        {} objects, {}",
        s.loose_objects,
        fmt::bytes(s.loose_bytes)
    ));
    out.data(&format!(
        "packed       {} packs, {}",
        s.packs,
        fmt::bytes(s.pack_bytes)
    ));
    if !s.largest.is_empty() {
        out.data("largest:");
        let rows: Vec<Vec<String>> = s
            .largest
            .iter()
            .map(|l| {
                vec![
                    format!("  {}", fmt::bytes(l.bytes)),
                    format!("{} files", l.files),
                    l.branch.clone(),
                ]
            })
            .collect();
        out.data(&fmt::table(&["  SIZE", "FILES", "BRANCH"], &rows));
    }
    Ok(())
}
