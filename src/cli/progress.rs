//! A progress bar on stderr for long work (commit, export, verify, scan, gc, push): drawn
//! only where a person watches (stderr is a terminal, neither `--json` nor `--quiet`), and
//! only once the command has run for about a second, so quick commands print nothing.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use artifact_store::progress::{Progress, Unit};

use super::Output;

/// How long a command runs before its bar appears.
const DELAY: Duration = Duration::from_secs(1);

/// The environment variable that sets the delay in milliseconds (`0`: at once), for
/// scripts that record a terminal session and for the tests.
pub const DELAY_ENV: &str = "ARTIFACT_STORE_PROGRESS_DELAY_MS";

/// Draws each step of a long operation as one bar.
pub struct Bar {
    enabled: bool,
    born: Instant,
    delay: Duration,
    current: Mutex<Option<Shown>>,
}

/// The bar of the current step, and the thread that reveals it when the delay is over.
struct Shown {
    bar: ProgressBar,
    reveal: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Bar {
    /// Returns a bar that draws only where a person watches.
    pub fn new(out: &Output) -> Bar {
        let delay = std::env::var(DELAY_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map_or(DELAY, Duration::from_millis);
        Bar {
            enabled: Bar::wanted(out),
            born: Instant::now(),
            delay,
            current: Mutex::new(None),
        }
    }

    /// Whether progress is drawn at all for this run.
    pub fn wanted(out: &Output) -> bool {
        !out.quiet && !out.json && std::io::stderr().is_terminal()
    }

    /// Starts a step whose position the caller sets (`set`), as push reports it.
    pub fn stage(&self, stage: &str, total: u64, unit: Unit) {
        self.start(stage, total, unit);
    }

    /// Sets the position of the current step.
    pub fn set(&self, position: u64) {
        if let Some(shown) = self.lock().as_ref() {
            shown.bar.set_position(position);
        }
    }

    /// Whether a step is under way.
    pub fn active(&self) -> bool {
        self.lock().is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Shown>> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn style(unit: Unit) -> ProgressStyle {
    let template = match unit {
        Unit::Items => "{msg} [{wide_bar}] {human_pos}/{human_len} {elapsed}",
        Unit::Bytes => "{msg} [{wide_bar}] {bytes}/{total_bytes} {elapsed}",
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Shows `bar` on stderr and keeps it drawn while the work goes on.
fn reveal(bar: &ProgressBar) {
    bar.set_draw_target(ProgressDrawTarget::stderr());
    // Drawn now: once the steady tick runs, `tick` does nothing.
    bar.tick();
    bar.enable_steady_tick(Duration::from_millis(200));
}

impl Progress for Bar {
    fn start(&self, stage: &str, total: u64, unit: Unit) {
        self.finish();
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
            .with_style(style(unit))
            .with_message(stage.to_string());
        let wait = self.delay.saturating_sub(self.born.elapsed());
        let reveal_later = if wait.is_zero() {
            reveal(&bar);
            None
        } else {
            let (tx, rx) = mpsc::channel::<()>();
            let later = bar.clone();
            let handle = std::thread::spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(wait) {
                    reveal(&later);
                }
            });
            Some((tx, handle))
        };
        *self.lock() = Some(Shown {
            bar,
            reveal: reveal_later,
        });
    }

    fn inc(&self, n: u64) {
        if let Some(shown) = self.lock().as_ref() {
            shown.bar.inc(n);
        }
    }

    fn finish(&self) {
        let Some(shown) = self.lock().take() else {
            return;
        };
        if let Some((tx, handle)) = shown.reveal {
            drop(tx);
            let _ = handle.join();
        }
        shown.bar.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}
