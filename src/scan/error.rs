//! Errors of the secret scanner: each variant names the rule, pattern or path that failed.

use std::path::PathBuf;

/// An error while building a [`Scanner`](super::Scanner) or reading files to scan.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A configured rule's regex does not compile.
    #[error("invalid regex in rule `{id}`")]
    InvalidRule {
        /// Id of the rule.
        id: String,
        /// Why the regex does not compile.
        #[source]
        source: regex::Error,
    },
    /// A configured rule is malformed (empty id, bad entropy, missing secret group, ...).
    #[error("invalid rule `{id}`: {reason}")]
    InvalidRuleSpec {
        /// Id of the rule (may be empty).
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `allow_regexes` entry does not compile.
    #[error("invalid allow regex #{index}")]
    InvalidAllowRegex {
        /// 0-based position of the regex in `allow_regexes`.
        index: usize,
        /// Why the regex does not compile.
        #[source]
        source: regex::Error,
    },
    /// An `allow_paths` glob is malformed.
    #[error("invalid path glob `{glob}`: {reason}")]
    InvalidGlob {
        /// The glob as written.
        glob: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `disabled_rules` names a rule that does not exist.
    #[error("unknown rule `{id}` in disabled_rules")]
    UnknownRule {
        /// The id as written.
        id: String,
    },
    /// A gitleaks rule file could not be read.
    #[error("failed to read gitleaks config {path}")]
    GitleaksRead {
        /// Path of the gitleaks file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A gitleaks rule file is not valid TOML of the expected shape.
    #[error("failed to parse gitleaks config {path}")]
    Gitleaks {
        /// Path of the gitleaks file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A gitleaks allowlist regex or path pattern does not compile.
    #[error("invalid allowlist pattern in gitleaks config {path}")]
    GitleaksAllowlist {
        /// Path of the gitleaks file.
        path: PathBuf,
        /// Why the pattern does not compile.
        #[source]
        source: regex::Error,
    },
    /// The keyword automaton could not be built.
    #[error("failed to build the keyword prefilter")]
    Prefilter {
        /// The automaton error.
        #[source]
        source: aho_corasick::BuildError,
    },
    /// A file or directory could not be read.
    #[error("failed to read {path}")]
    Io {
        /// Path that failed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
