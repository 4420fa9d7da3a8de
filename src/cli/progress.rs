//! A progress bar on stderr for long retention steps: only when stderr is a terminal, the
//! output is not quiet, and the step counts more than a few hundred refs.

use std::cell::RefCell;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use artifact_store::retention::Progress;

use super::Output;

/// Steps smaller than this draw nothing.
const MIN_UNITS: u64 = 300;

/// Draws each step of a long operation as one bar.
pub struct Bar {
    enabled: bool,
    current: RefCell<Option<ProgressBar>>,
}

impl Bar {
    /// Returns a bar that draws only where a person watches.
    pub fn new(out: &Output) -> Bar {
        Bar {
            enabled: !out.quiet && std::io::stderr().is_terminal(),
            current: RefCell::new(None),
        }
    }
}

impl Progress for Bar {
    fn start(&self, stage: &str, total: u64) {
        self.finish();
        if !self.enabled || total <= MIN_UNITS {
            return;
        }
        let style = ProgressStyle::with_template("{msg:<32} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::new(total).with_style(style);
        bar.set_message(stage.to_string());
        *self.current.borrow_mut() = Some(bar);
    }

    fn inc(&self, n: u64) {
        if let Some(bar) = self.current.borrow().as_ref() {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.current.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}
