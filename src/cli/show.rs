//! `artifact-store show`: one artifact set's metadata, files and refs.

use clap::Args;

use artifact_store::Result;

use super::fmt;
use super::Ctx;

/// Show one artifact set: metadata, files with sizes and checksums, branch, tags, parent.
///
/// REF is `corr_abc` or `abc` (the correlation id), `prompt_<hash>` (the newest commit of
/// that prompt), any tag, a task branch (`ai/generated/W/T` or `W/T`), or a commit sha.
/// Lookups are direct ref reads. A missing REF exits 5.
///
/// --json prints {"commit_sha", "branch", "tags", "parent", "commit_time",
/// "artifact_dir", "metadata", "files": [{"path", "size", "checksum"}]}.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  artifact-store show corr_abc123\n  artifact-store show wf_rsi/task_coder_001\n  artifact-store show prompt_7a8b9c0d --json"
)]
pub struct ShowArgs {
    /// What to show.
    #[arg(value_name = "REF")]
    reference: String,
}

/// Runs `show`.
pub fn run(ctx: &Ctx, args: &ShowArgs) -> Result<()> {
    let store = ctx.store()?;
    let set = store.show(&args.reference)?;
    if ctx.out.json {
        ctx.out.json_ok(&set.show_view());
        return Ok(());
    }
    let out = &ctx.out;
    let m = &set.metadata;
    let get = |k: &str| m.get(k).map(fmt::scalar).unwrap_or_else(|| "-".into());
    out.data(&format!("commit     {}", set.commit_sha));
    out.data(&format!("branch     {}", set.branch));
    out.data(&format!(
        "tags       {}",
        if set.tags.is_empty() {
            "-".into()
        } else {
            set.tags.join(", ")
        }
    ));
    out.data(&format!(
        "parent     {}",
        set.parent.as_deref().unwrap_or("-")
    ));
    out.data(&format!(
        "committed  {} ({})",
        set.commit_time,
        fmt::ago(set.time)
    ));
    out.data(&format!("status     {}", get("test_status")));
    out.data(&format!("prompt     {}", get("prompt_hash")));
    for key in ["agent_version", "llm_version"] {
        if m.get(key).is_some() {
            out.data(&format!(
                "{:<10} {}",
                key.trim_end_matches("_version").to_owned() + "",
                get(key)
            ));
        }
    }
    if let Some(serde_json::Value::Object(metrics)) = m.get("test_metrics") {
        let text: Vec<String> = metrics
            .iter()
            .map(|(k, v)| format!("{k}={}", fmt::scalar(v)))
            .collect();
        out.data(&format!("metrics    {}", text.join(" ")));
    }
    out.data(&format!("files      {}/", set.artifact_dir));
    let rows: Vec<Vec<String>> = set
        .files
        .iter()
        .map(|f| {
            vec![
                format!("  {}", fmt::bytes(f.size)),
                f.checksum
                    .as_deref()
                    .map(|c| c[..c.len().min(19)].to_string() + "…")
                    .unwrap_or_else(|| "-".into()),
                f.path.clone(),
            ]
        })
        .collect();
    let table = fmt::table(&["  SIZE", "SHA256", "PATH"], &rows);
    out.data(&table);
    for line in super::spark::of_set(&store, &set)? {
        out.data(&line);
    }
    Ok(())
}
