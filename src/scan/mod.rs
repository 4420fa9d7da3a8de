//! Secret scanner (interface; the rule set lands with the scanner).

use serde::{Deserialize, Serialize};

/// A redacted finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Rule that matched.
    pub rule_id: String,
    /// File or value scanned.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// At most the first 4 characters of the secret.
    pub redacted: String,
}

/// Why a file was not scanned.
#[derive(Debug, Clone, Serialize)]
pub enum SkipReason {
    /// It holds binary data.
    Binary,
}

/// Result of scanning one blob.
#[derive(Debug, Clone)]
pub enum FileScan {
    /// Findings, possibly none.
    Findings(Vec<Finding>),
    /// Not scanned.
    Skipped(SkipReason),
}

/// Scanner configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {}

/// The scanner.
#[derive(Debug, Default)]
pub struct Scanner {}

/// Scanner errors.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {}

impl Scanner {
    /// Returns the built-in scanner.
    pub fn builtin() -> Scanner {
        Scanner {}
    }
    /// Returns a scanner with the configured rules.
    pub fn new(_config: &ScanConfig) -> Result<Scanner, ScanError> {
        Ok(Scanner {})
    }
    /// Scans one blob.
    pub fn scan_bytes(&self, _path: &str, _data: &[u8]) -> FileScan {
        FileScan::Findings(Vec::new())
    }
    /// Scans one text value.
    pub fn scan_text(&self, _path: &str, _text: &str) -> Vec<Finding> {
        Vec::new()
    }
}
