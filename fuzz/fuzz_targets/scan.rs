//! The secret scanner on arbitrary bytes: no panic, and every finding stays redacted and
//! points inside the input.

#![no_main]

use std::sync::OnceLock;

use artifact_store::scan::{FileScan, Finding, Scanner};
use libfuzzer_sys::fuzz_target;

fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(Scanner::builtin)
}

fn check(finding: &Finding, text: &str) {
    let kept = finding
        .redacted
        .strip_suffix("****")
        .expect("a redacted excerpt ends in ****");
    assert!(kept.chars().count() <= 4, "{finding:?} keeps too much");
    let lines = text.split('\n').count();
    assert!(finding.line >= 1 && finding.line <= lines, "{finding:?}");
    assert!(finding.column >= 1, "{finding:?}");
}

fuzz_target!(|data: &[u8]| {
    let scanner = scanner();
    let text = String::from_utf8_lossy(data);
    if let FileScan::Findings(found) = scanner.scan_bytes("fuzz/input.py", data) {
        for finding in &found {
            check(finding, &text);
        }
    }
    for finding in scanner.scan_bytes("config.env", data).findings() {
        check(finding, &text);
    }
    for finding in scanner.scan_text("metadata.json:test_metrics.token", &text) {
        check(&finding, &text);
    }
});
