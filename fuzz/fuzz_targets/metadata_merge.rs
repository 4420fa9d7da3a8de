//! The metadata merge: caller metadata (`--metadata` JSON, then `--set key=value` pairs)
//! merged with the fields the store generates. Store keys always win, every other caller
//! key is kept as given, and metadata.json reads back as the document written.

#![no_main]

use std::collections::BTreeMap;

use artifact_store::metadata::{self, StoreFields, TestStatus, STORE_KEYS};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // First line: the caller's JSON object; every further line: one `--set` argument.
    let mut lines = text.split('\n');
    let mut caller =
        metadata::parse_caller(lines.next().unwrap_or(""), "fuzz").unwrap_or_else(|_| Map::new());
    let sets: Vec<_> = lines.filter_map(|l| metadata::parse_set(l).ok()).collect();
    let last = sets.last().cloned();
    metadata::apply_sets(&mut caller, sets);
    if let Some((path, value)) = last {
        let mut node = caller.get(&path[0]);
        for part in &path[1..] {
            node = node.and_then(|n| n.get(part));
        }
        assert_eq!(node, Some(&value), "the last --set wins at {path:?}");
    }
    if metadata::check_caller(&caller).is_err() {
        return;
    }
    let mut sums = BTreeMap::new();
    sums.insert("artifacts/wf/t/a.py".to_string(), "sha256:00ff".to_string());
    let fields = StoreFields {
        workflow_id: "wf",
        task_id: "t",
        correlation_id: "corr_x",
        prompt_hash: Some("7a8b"),
        commit_timestamp: "2025-11-07T14:30:00Z".to_string(),
        test_status: TestStatus::Failed,
        checksums: &sums,
    };
    let doc = metadata::build(&fields, &caller);
    let map = doc.as_object().expect("metadata is an object");
    assert_eq!(map["workflow_id"], "wf");
    assert_eq!(map["task_id"], "t");
    assert_eq!(map["correlation_id"], "corr_x");
    assert_eq!(map["prompt_hash"], "7a8b");
    assert_eq!(map["test_status"], "failed");
    assert_eq!(
        map.keys().next().map(String::as_str),
        Some("schema_version")
    );
    assert_eq!(map.keys().last().map(String::as_str), Some("checksums"));
    for (key, value) in &caller {
        if !STORE_KEYS.contains(&key.as_str()) {
            assert_eq!(map.get(key), Some(value), "caller key {key:?} kept");
        }
    }
    let bytes = metadata::to_bytes(&doc);
    let back: Value = serde_json::from_slice(&bytes).expect("metadata.json reads back");
    assert_eq!(back, doc);
    assert_eq!(metadata::checksums_of(&back), sums);
});
