//! `artifact-store stats`: what the store holds and how big it is.

use clap::Args;

use artifact_store::Result;

use super::fmt;
use super::Ctx;

/// Count workflows, tasks, versions, tags, pins and trash; measure the repository on disk
/// (loose and packed); list the largest artifact sets.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  artifact-store stats\n  artifact-store stats --top 10 --json")]
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
    out.data(&format!(
        "workflows    {}",
        fmt::thousands(s.workflows as u64)
    ));
    out.data(&format!("tasks        {}", fmt::thousands(s.tasks as u64)));
    out.data(&format!(
        "versions     {} (corr_ tags)",
        fmt::thousands(s.versions as u64)
    ));
    out.data(&format!(
        "prompt tags  {}",
        fmt::thousands(s.prompt_tags as u64)
    ));
    out.data(&format!("pins         {}", fmt::thousands(s.pins as u64)));
    out.data(&format!("trash        {}", fmt::thousands(s.trash as u64)));
    out.data(&format!(
        "loose        {}, {}",
        fmt::count(s.loose_objects as usize, "object"),
        fmt::bytes(s.loose_bytes)
    ));
    out.data(&format!(
        "packed       {}, {}",
        fmt::count(s.packs as usize, "pack"),
        fmt::bytes(s.pack_bytes)
    ));
    let st = &s.storage;
    out.data(&format!(
        "stored       {} in all versions, {} on disk ({:.1}x)",
        fmt::bytes(st.raw_bytes),
        fmt::bytes(st.disk_bytes),
        st.ratio
    ));
    let would = match st.compact_would_save {
        Some(n) if n > 0 => format!("`compact` would save {}", fmt::bytes(n as u64)),
        Some(_) => "`compact` would save nothing".to_string(),
        None => "`compact --dry-run` says what it would save".to_string(),
    };
    out.data(&format!(
        "pending      {} not yet consolidated{}; {would}",
        fmt::bytes(st.pending_bytes),
        if st.compact_due { " (due)" } else { "" }
    ));
    if !s.largest.is_empty() {
        out.data("largest:");
        let rows: Vec<Vec<String>> = s
            .largest
            .iter()
            .map(|l| {
                vec![
                    format!("  {}", fmt::bytes(l.bytes)),
                    fmt::count(l.files, "file"),
                    l.branch.clone(),
                ]
            })
            .collect();
        out.data(&fmt::table(&["  SIZE", "FILES", "BRANCH"], &rows));
    }
    Ok(())
}
