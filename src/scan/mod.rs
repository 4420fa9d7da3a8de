//! Secret scanner: built-in and configured rules, keyword prefilter, entropy and allowlists.
//!
//! The scanner looks for credentials in artifacts before they are committed. A scan of one
//! blob goes through these stages:
//!
//! - `prefilter`: one ASCII case-insensitive Aho-Corasick pass finds the rule keywords;
//!   every hit opens a small window (its line and the next, or a bounded block of lines
//!   for multi-line formats such as PEM keys), and nearby windows of one rule merge, so
//!   the cost stays linear in the input however dense the hits.
//! - `engine`: runs each rule's regex over its windows, extracts the secret, applies the
//!   rule's entropy threshold and checks (`checks`, `lookalike`, `generic`), then the
//!   allowlists (`allow`, `glob`) and inline `artifact-store:allow` markers.
//! - `decode`: UTF-16 and UTF-32 blobs (by byte order mark, or by their pattern of NUL
//!   bytes) are scanned once more as the UTF-8 text they decode to; `unescape`: text with
//!   `\uXXXX` or `\/` escapes is scanned once more as the text a JSON reader gets.
//! - `walk`: lists files and directories and shares them between worker threads.
//! - `stream`: a blob above [`LARGE_FILE_BYTES`] is scanned in bounded, overlapping parts
//!   ([`Scanner::stream`]), so memory does not grow with the file.
//!
//! Rules live in `builtin_*` (one file per family of providers), `config` adds configured
//! rules and `gitleaks` loads gitleaks rule files; `sarif` renders reports.
//!
//! A secret is never stored, printed or returned: findings hold [`redact`]ed excerpts of
//! at most four characters.

mod allow;
mod builtin_ai;
mod builtin_cloud;
mod builtin_dev;
mod builtin_generic;
mod builtin_saas;
mod checks;
mod config;
mod decode;
mod engine;
mod entropy;
mod error;
mod generic;
mod gitleaks;
mod glob;
mod known;
mod lookalike;
mod prefilter;
mod rule;
mod sarif;
mod stream;
mod text;
mod unescape;
mod walk;

use std::path::PathBuf;

pub use config::{RuleSpec, ScanConfig};
pub use error::ScanError;
pub use sarif::sarif;
pub use stream::{StreamScan, LARGE_FILE_BYTES};

use allow::Allowlist;
use prefilter::Prefilter;
use rule::Rule;

/// One detected secret, located and redacted; it never holds the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Identifier of the rule that matched, e.g. `github-pat`.
    pub rule_id: String,
    /// Path of the scanned file, or a label such as `metadata.json:test_metrics.token`.
    pub path: String,
    /// 1-based line of the first character of the secret.
    pub line: usize,
    /// 1-based column, counted in characters, of the first character of the secret.
    pub column: usize,
    /// At most the first four characters of the secret followed by `****`.
    pub redacted: String,
}

/// Why a file was not scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// The path matches an `allow_paths` glob or an allowlisted path pattern.
    AllowedPath,
}

impl SkipReason {
    /// Returns the stable name used in reports: `allowed-path`. (Binary content is not a
    /// reason: it is scanned like text.)
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AllowedPath => "allowed-path",
        }
    }
}

/// The outcome of scanning one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileScan {
    /// The blob was scanned; the list is empty when it holds no secret.
    Findings(Vec<Finding>),
    /// The blob was not scanned.
    Skipped(SkipReason),
}

impl FileScan {
    /// Returns the findings, or an empty slice when the blob was skipped.
    pub fn findings(&self) -> &[Finding] {
        match self {
            FileScan::Findings(findings) => findings,
            FileScan::Skipped(_) => &[],
        }
    }
}

/// A file that [`Scanner::scan_paths`] did not scan, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// Path of the file.
    pub path: String,
    /// `binary` or `allowed-path`.
    pub reason: String,
}

/// The result of scanning files and directories.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScanReport {
    /// Every finding, ordered by path, line and column.
    pub findings: Vec<Finding>,
    /// Number of files whose content was scanned.
    pub files_scanned: u64,
    /// Total size in bytes of the files whose content was scanned.
    pub bytes_scanned: u64,
    /// Files that were not scanned, ordered by path.
    pub skipped: Vec<Skipped>,
}

/// `scan --list-rules`: the ids of every active rule.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RuleList {
    /// Built-in and configured rule ids, in the order the scanner tries them.
    pub rules: Vec<String>,
}

/// A compiled set of rules and allowlists; `Send + Sync`, cheap to share by reference.
#[derive(Debug)]
pub struct Scanner {
    rules: Vec<Rule>,
    prefilter: Prefilter,
    allow: Allowlist,
    rejected: Vec<String>,
}

impl Scanner {
    /// Returns a scanner with the built-in rules and no configuration.
    pub fn builtin() -> Scanner {
        let rules = rule::builtin_rules();
        let prefilter =
            Prefilter::new(&rules).expect("built-in keywords always build an automaton");
        Scanner {
            rules,
            prefilter,
            allow: Allowlist::default(),
            rejected: Vec::new(),
        }
    }

    /// Returns a scanner with the built-in rules plus the rules, disabled ids and allowlists
    /// of `config`; a configured rule whose id equals a built-in id replaces the built-in.
    pub fn new(config: &ScanConfig) -> Result<Scanner, ScanError> {
        config::build(config)
    }

    /// Returns the number of active rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Returns the ids of the active rules, in evaluation order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|rule| rule.id.as_str())
    }

    /// Returns the ids of gitleaks rules that were skipped because their regex does not
    /// compile with this crate's regex engine (look-around, backreferences, ...).
    pub fn rejected_rules(&self) -> &[String] {
        &self.rejected
    }

    /// Scans one in-memory blob; `path` is only for findings and path allowlists.
    pub fn scan_bytes(&self, path: &str, data: &[u8]) -> FileScan {
        if self.allow.path_allowed(path) {
            return FileScan::Skipped(SkipReason::AllowedPath);
        }
        // Binary content is scanned too: one NUL byte must not wave a key through, and
        // pickles, notebooks' outputs and archives carry keys as plain bytes.
        let mut findings = engine::path_findings(&self.rules, path);
        findings.extend(engine::scan(self, path, data));
        // UTF-16 and UTF-32 text is scanned decoded too, located in the decoded text.
        if let Some(wide) = decode::detect(data) {
            findings.extend(engine::scan(self, path, &decode::decode(wide, data)));
        }
        engine::finish(&mut findings);
        FileScan::Findings(findings)
    }

    /// Whether an `allow_paths` glob skips `path` (a path inside the scanned tree).
    pub fn path_allowed(&self, path: &str) -> bool {
        self.allow.path_allowed(path)
    }

    /// Scans a text value that is not a file, such as a metadata value labelled
    /// `metadata.json:test_metrics.token`; the label's last key also counts as the name the
    /// value is assigned to, so `token` labels a bare high-entropy value as a secret.
    pub fn scan_text(&self, path: &str, text: &str) -> Vec<Finding> {
        if self.allow.path_allowed(path) {
            return Vec::new();
        }
        let mut findings = engine::scan(self, path, text.as_bytes());
        findings.extend(engine::scan_labelled_value(self, path, text, &findings));
        engine::finish(&mut findings);
        findings
    }

    /// Scans files and directories recursively (skips `.git` directories, does not follow
    /// symlinks below the given paths), sharing the files between worker threads.
    pub fn scan_paths(&self, paths: &[PathBuf]) -> Result<ScanReport, ScanError> {
        walk::scan_paths(self, paths, &crate::progress::Silent)
    }

    /// Scans as [`Scanner::scan_paths`] does, reporting to `progress` the files scanned.
    pub fn scan_paths_with(
        &self,
        paths: &[PathBuf],
        progress: &dyn crate::progress::Progress,
    ) -> Result<ScanReport, ScanError> {
        let result = walk::scan_paths(self, paths, progress);
        progress.finish();
        result
    }
}

/// Returns at most the first four characters of `secret` followed by `****`; a short
/// secret keeps at most a quarter of its characters, so `abcdefgh` becomes `ab****`.
pub fn redact(secret: &str) -> String {
    let total = secret.chars().count();
    let keep = (total / 4).min(4);
    let mut out: String = secret.chars().take(keep).collect();
    out.push_str("****");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_keeps_at_most_four_chars_or_a_quarter() {
        assert_eq!(redact("abcdefghijklmnopqrstuvwxyz"), "abcd****");
        assert_eq!(redact("abcdefgh"), "ab****");
        assert_eq!(redact("abc"), "****");
        assert_eq!(redact(""), "****");
        assert_eq!(redact("ééééééééééééééééé"), "éééé****");
    }

    #[test]
    fn scanner_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Scanner>();
    }
}
