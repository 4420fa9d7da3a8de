//! Output discipline: data on stdout, status and warnings on stderr, JSON when asked.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::borrow::Cow;
use std::io::Write;

use artifact_store::report::{self, Report};
use artifact_store::Error;
use serde::Serialize;

/// Where and how a command reports.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// JSON on stdout instead of human text.
    pub json: bool,
    /// No status lines.
    pub quiet: bool,
    /// Extra detail on stderr.
    pub verbose: u8,
}

impl Output {
    /// Returns the output settings of this run.
    pub fn new(json: bool, quiet: bool, verbose: u8) -> Output {
        Output {
            json,
            quiet,
            verbose,
        }
    }

    /// Prints one line of data to stdout.
    pub fn data(&self, line: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", printable(line));
    }

    /// Prints text that ends its own lines (JSON Lines, CSV) to stdout, nothing added.
    pub fn text(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(printable(text).as_bytes());
        let _ = stdout.flush();
    }

    /// Prints a value as JSON on stdout, exactly as given.
    pub fn json_value<T: Serialize>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).expect("output types always serialize");
        self.data(&text);
    }

    /// Prints a successful command's data as its JSON output (`report::success`).
    pub fn json_ok<T: Serialize + ?Sized>(&self, data: &T) {
        self.json_value(&report::success(data));
    }

    /// Prints a command's JSON output; returns its exit code.
    pub fn report(&self, report: &Report) -> i32 {
        self.json_value(&report.body);
        report.exit_code
    }

    /// Prints a status line on stderr unless quiet.
    pub fn status(&self, line: &str) {
        if !self.quiet {
            eprintln!("{}", printable(line));
        }
    }

    /// Prints a detail line on stderr when verbose.
    pub fn detail(&self, line: &str) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{}", printable(line));
        }
    }

    /// Prints a warning on stderr (even when quiet: warnings are not status).
    pub fn warn(&self, line: &str) {
        eprintln!("warning: {}", printable(line));
    }

    /// Reports an error as text on stderr (and as JSON on stdout with --json); returns its exit code.
    pub fn error(&self, error: &Error) -> i32 {
        let findings = match error {
            Error::SecretsFound { findings } => Some(findings),
            _ => None,
        };
        if self.json {
            self.json_value(&report::failure(error).body);
        }
        eprintln!("error: {}", printable(&error.to_string()));
        for cause in error.causes() {
            eprintln!("  caused by: {}", printable(&cause));
        }
        for f in findings.into_iter().flatten() {
            let line = format!(
                "  {}:{}:{} {} {}",
                f.path, f.line, f.column, f.rule_id, f.redacted
            );
            eprintln!("{}", printable(&line));
        }
        if let Some(hint) = error.hint() {
            eprintln!("hint: {}", printable(&hint));
        }
        error.exit_code()
    }
}

/// Returns `text` with every control character but newline and tab written as `\u{..}`:
/// metadata values, file names and ids come from events and repositories, and must not
/// drive the terminal (colours, titles, cursor moves) of whoever reads the output. JSON
/// output is unchanged, since JSON already escapes them.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(printable("plain\tline\n"), "plain\tline\n");
        assert_eq!(
            printable("\u{1b}]0;title\u{7}\u{1b}[31mred\r"),
            "\\u{1b}]0;title\\u{7}\\u{1b}[31mred\\u{d}"
        );
        assert_eq!(printable("caf\u{e9} \u{9b}"), "caf\u{e9} \\u{9b}");
    }
}
