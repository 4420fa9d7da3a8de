//! `artifact-store push`: push the store's refs to the remote.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::Args;

use artifact_store::error::exit;
use artifact_store::progress::{Progress, Unit};
use artifact_store::{PushProgress, PushReport, Result};

use super::progress::Bar;
use super::{fmt, Ctx, Output};

/// Push every store ref the remote lacks or holds at an older commit.
///
/// Task branches go first. A branch the remote holds at a commit this store has not seen
/// (another machine pushed first) is fetched, and this store's commits on it are re-applied
/// onto the remote tip (same files, metadata.json, message and correlation id; their tags
/// move with them) and pushed again, a bounded number of times. Then the corr_ and prompt_
/// tags and the pins, in calls of their own. Trash and report refs are never pushed.
/// Running it again pushes nothing. `push` and `push --pending` do the same.
///
/// The remote is remote_name (default origin, env GIT_REMOTE_NAME): a configured remote,
/// or a path or URL. Without the ssh/https features, local paths, file:// and git:// work.
/// On a terminal, a progress bar appears on stderr once the push has run for about a
/// second (never with --json or -q); --progress prints progress lines instead, also on a
/// pipe; -q silences it.
///
/// --json prints {"success", "remote", "pushed": [{"ref", "old", "new", "forced"}],
/// "refused": [{"ref", "local", "remote", "reason"}], "reapplied": [{"branch",
/// "correlation_id", "from", "to", "duplicate"}], "up_to_date", "remote_ahead": [ref...]},
/// with "success": false and an "error" object when a ref was refused
/// (docs/schema/push.json). Exit 0 when nothing was refused; 6 when a ref was refused or
/// the remote is unreachable.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push every store ref not yet on the remote (what `push` does anyway).
    #[arg(long)]
    pending: bool,
    /// Print progress lines on stderr, also when stderr is not a terminal.
    #[arg(long)]
    progress: bool,
}

/// Runs `push`; returns the process exit code.
pub fn run(ctx: &Ctx, args: &PushArgs) -> Result<i32> {
    let _ = args.pending;
    let store = ctx.store()?;
    let mut meter = Meter::new(&ctx.out, args.progress);
    let report = store.push_pending(&mut |p| meter.update(p))?;
    meter.finish();
    if ctx.out.json {
        return Ok(ctx.out.report(&artifact_store::report::of(&report)));
    } else {
        human(ctx, &report);
    }
    Ok(if report.refused.is_empty() {
        exit::OK
    } else {
        exit::REMOTE
    })
}

fn human(ctx: &Ctx, report: &PushReport) {
    for moved in &report.reapplied {
        let what = if moved.duplicate {
            "already on the remote as"
        } else {
            "re-applied as"
        };
        ctx.out.status(&format!(
            "{} {} {what} {} on {}",
            moved.correlation_id.as_deref().unwrap_or("commit"),
            &moved.from[..12],
            &moved.to[..12],
            moved.branch
        ));
    }
    for pushed in &report.pushed {
        let old = pushed.old.as_deref().map_or("(new)", |o| &o[..12]);
        let forced = if pushed.forced { " (forced)" } else { "" };
        ctx.out.data(&format!(
            "{}  {old} -> {}{forced}",
            pushed.refname,
            &pushed.new[..12]
        ));
    }
    for refused in &report.refused {
        ctx.out
            .warn(&format!("refused {}: {}", refused.refname, refused.reason));
    }
    ctx.out.status(&format!(
        "{} pushed to {}, {} up to date, {} newer on the remote, {} refused",
        fmt::count(report.pushed.len(), "ref"),
        report.remote,
        report.up_to_date,
        report.remote_ahead.len(),
        report.refused.len()
    ));
}

/// How a push's progress is shown: a bar on a terminal, lines when asked with
/// --progress, nothing otherwise (a pipe, --json, --quiet).
struct Meter {
    bar: Option<Bar>,
    lines: Option<Lines>,
    stage: Option<&'static str>,
}

impl Meter {
    fn new(out: &Output, forced: bool) -> Meter {
        let lines = (forced && !out.quiet).then(Lines::new);
        let bar = (lines.is_none() && Bar::wanted(out)).then(|| Bar::new(out));
        Meter {
            bar,
            lines,
            stage: None,
        }
    }

    fn update(&mut self, p: &PushProgress) {
        if let Some(lines) = &mut self.lines {
            lines.update(p);
        }
        let Some(bar) = &self.bar else {
            return;
        };
        let (stage, position, total, unit) = match *p {
            PushProgress::Planned { .. } => return,
            PushProgress::Packing { current, total } => {
                ("packing objects", current, total, Unit::Items)
            }
            PushProgress::Sending { current, total, .. } => {
                ("sending objects", current, total, Unit::Items)
            }
            PushProgress::Receiving { current, total, .. } => {
                ("fetching remote tips", current, total, Unit::Items)
            }
            PushProgress::Refs { done, total } => ("pushing refs", done, total, Unit::Items),
        };
        if self.stage != Some(stage) || !bar.active() {
            self.stage = Some(stage);
            bar.stage(stage, total as u64, unit);
        }
        bar.set(position as u64);
    }

    fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
        if let Some(lines) = &mut self.lines {
            lines.finish();
        }
    }
}

/// Progress lines on stderr for --progress: one rewritten line on a terminal, else a line
/// every few seconds.
struct Lines {
    tty: bool,
    last: Option<Instant>,
    open_line: bool,
}

impl Lines {
    fn new() -> Lines {
        Lines {
            tty: std::io::stderr().is_terminal(),
            last: None,
            open_line: false,
        }
    }

    fn update(&mut self, p: &PushProgress) {
        let (text, done) = describe(p);
        let every = Duration::from_millis(if self.tty { 100 } else { 2000 });
        if done || self.last.is_none_or(|t| t.elapsed() >= every) {
            self.last = Some(Instant::now());
            self.print(&text);
        }
    }

    #[allow(clippy::print_stderr)]
    fn print(&mut self, text: &str) {
        if self.tty {
            eprint!("\r\x1b[2K{text}");
            self.open_line = true;
        } else {
            eprintln!("{text}");
        }
    }

    #[allow(clippy::print_stderr)]
    fn finish(&mut self) {
        if self.open_line {
            eprintln!();
            self.open_line = false;
        }
    }
}

/// Returns a progress line and whether its phase is complete.
fn describe(p: &PushProgress) -> (String, bool) {
    match *p {
        PushProgress::Planned { refs } => {
            (format!("push: {} to push", fmt::count(refs, "ref")), true)
        }
        PushProgress::Packing { current, total } => (
            format!("push: packing objects {current}/{total}"),
            current == total,
        ),
        PushProgress::Sending {
            current,
            total,
            bytes,
        } => (
            format!(
                "push: sending objects {current}/{total} ({})",
                fmt::bytes(bytes as u64)
            ),
            current == total,
        ),
        PushProgress::Receiving {
            current,
            total,
            bytes,
        } => (
            format!(
                "push: fetching remote tips {current}/{total} ({})",
                fmt::bytes(bytes as u64)
            ),
            current == total,
        ),
        PushProgress::Refs { done, total } => {
            (format!("push: {done}/{total} refs settled"), done == total)
        }
    }
}
