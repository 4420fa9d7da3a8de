//! `--where` and `--since`: parsing never panics, a parsed filter prints back to text that
//! parses to the same filter, and matching any metadata document never panics.

#![no_main]

use artifact_store::catalog::query::{parse_since, Where};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // First line: the filter; the rest, when it is JSON, the metadata it is matched on.
    let (expr, rest) = text.split_once('\n').unwrap_or((text, ""));
    let _ = parse_since(expr, 1_700_000_000);
    let _ = parse_since(expr, i64::MIN);
    let _ = parse_since(expr, i64::MAX);
    let Ok(filter) = Where::parse(expr) else {
        return;
    };
    let printed = filter.to_string();
    let again = Where::parse(&printed)
        .unwrap_or_else(|e| panic!("{expr:?} printed as {printed:?}, which fails: {e}"));
    assert_eq!(again, filter, "{expr:?} printed as {printed:?}");
    let fixed = json!({"test_metrics": {"win_rate": 0.58, "net_pnl": -3, "n": 1e300},
        "test_status": "passed", "tags": [1, "a"], "none": null, "flag": true});
    let _ = filter.matches(&fixed);
    if let Ok(doc) = serde_json::from_str::<Value>(rest) {
        let _ = filter.matches(&doc);
    }
});
