//! `metadata.json`: its schema, the merge of caller keys, checksums, and commit trailers.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

mod read;

pub(crate) use read::{find_commit, metadata_at, read_metadata_at, subtree};

/// Version of the metadata.json schema written.
pub const SCHEMA_VERSION: u64 = 1;

/// Name of the file written into every artifact directory.
pub const METADATA_FILE: &str = "metadata.json";

/// Keys the store owns; a caller's value for them is replaced.
pub const STORE_KEYS: &[&str] = &[
    "schema_version",
    "workflow_id",
    "task_id",
    "correlation_id",
    "prompt_hash",
    "commit_timestamp",
    "test_status",
    "files",
    "checksums",
];

/// Outcome of a test run, as recorded in metadata and trailers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStatus {
    /// Tests passed.
    Passed,
    /// Tests failed.
    Failed,
}

impl TestStatus {
    /// Parses `passed` or `failed`, any case.
    pub fn parse(value: &str) -> Result<TestStatus> {
        match value.to_ascii_lowercase().as_str() {
            "passed" | "pass" => Ok(TestStatus::Passed),
            "failed" | "fail" => Ok(TestStatus::Failed),
            _ => Err(Error::InvalidInput(format!(
                "test status {value:?} is neither \"passed\" nor \"failed\""
            ))),
        }
    }

    /// Returns `passed` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Passed => "passed",
            TestStatus::Failed => "failed",
        }
    }
}

/// Parses a `--set key=value`: dotted keys nest, values are JSON when they parse as JSON.
pub fn parse_set(arg: &str) -> Result<(Vec<String>, Value)> {
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| Error::InvalidInput(format!("--set {arg:?}: expected key=value")))?;
    let path: Vec<String> = key.split('.').map(str::to_string).collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(Error::InvalidInput(format!(
            "--set {key:?}: a key has no empty parts (`a.b`, not `a..b` or `.a`)"
        )));
    }
    let value = serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.into()));
    Ok((path, value))
}

/// Applies `--set` pairs over a caller object; an intermediate non-object is replaced.
pub fn apply_sets(target: &mut Map<String, Value>, sets: Vec<(Vec<String>, Value)>) {
    for (path, value) in sets {
        let mut node = &mut *target;
        let (last, parents) = path
            .split_last()
            .expect("parse_set never yields an empty path");
        for part in parents {
            let entry = node
                .entry(part.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            node = entry.as_object_mut().expect("made an object just above");
        }
        node.insert(last.clone(), value);
    }
}

/// Parses caller metadata text, which must be one JSON object.
pub fn parse_caller(text: &str, origin: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::InvalidInput(format!(
            "metadata from {origin} must be a JSON object, not {}",
            json_type(&other)
        ))),
        Err(e) => Err(Error::InvalidInput(format!(
            "metadata from {origin} is not valid JSON: {e}"
        ))),
    }
}

/// Deepest nesting of objects and arrays a metadata.json document may have, its own top
/// object counted. Parsers stop at some depth (`serde_json` at 128), and the document is
/// also embedded a few levels down in `show --json` and `list --json`; 64 leaves room.
pub const MAX_DEPTH: usize = 64;

/// Checks that caller metadata, merged into metadata.json, stays within [`MAX_DEPTH`];
/// deeper metadata could be written but not reliably read back.
pub fn check_caller(caller: &Map<String, Value>) -> Result<()> {
    fn fits(value: &Value, room: usize) -> bool {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(map) => Box::new(map.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => return true,
        };
        room > 0 && children.into_iter().all(|child| fits(child, room - 1))
    }
    if caller.values().all(|value| fits(value, MAX_DEPTH - 1)) {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "metadata nests objects and arrays deeper than {MAX_DEPTH} levels (metadata.json's own counted)"
    )))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The store-owned fields of one artifact set's metadata.
#[derive(Debug, Clone)]
pub struct StoreFields<'a> {
    /// Workflow id.
    pub workflow_id: &'a str,
    /// Task id.
    pub task_id: &'a str,
    /// Correlation id, tag form.
    pub correlation_id: &'a str,
    /// Prompt hash, when given.
    pub prompt_hash: Option<&'a str>,
    /// Commit time, RFC 3339 UTC.
    pub commit_timestamp: String,
    /// Test status.
    pub test_status: TestStatus,
    /// Repo path of each file to its `sha256:` checksum.
    pub checksums: &'a BTreeMap<String, String>,
}

/// Returns the dotted paths of the keys whose values differ between two metadata.json
/// documents (a key on one side only counts), sorted; the keys every commit writes anew
/// (`commit_timestamp`) or derives from the files (`files`, `checksums`) are left out.
/// Names only: values are never returned.
pub fn differing_fields(stored: &Value, wanted: &Value) -> Vec<String> {
    const DERIVED: &[&str] = &["commit_timestamp", "files", "checksums"];
    let mut out = Vec::new();
    diff_into(
        stored,
        wanted,
        "",
        &mut |key| DERIVED.contains(&key),
        &mut out,
    );
    out.sort();
    out
}

fn diff_into(
    a: &Value,
    b: &Value,
    prefix: &str,
    skip: &mut dyn FnMut(&str) -> bool,
    out: &mut Vec<String>,
) {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        if a != b {
            out.push(prefix.to_string());
        }
        return;
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        if prefix.is_empty() && skip(key) {
            continue;
        }
        let path = match prefix {
            "" => key.clone(),
            _ => format!("{prefix}.{key}"),
        };
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => diff_into(x, y, &path, &mut |_| false, out),
            _ => out.push(path),
        }
    }
}

/// Builds the metadata.json document: store keys first, caller keys, then files and checksums.
pub fn build(fields: &StoreFields<'_>, caller: &Map<String, Value>) -> Value {
    let mut doc = Map::new();
    doc.insert("schema_version".into(), SCHEMA_VERSION.into());
    doc.insert("workflow_id".into(), fields.workflow_id.into());
    doc.insert("task_id".into(), fields.task_id.into());
    doc.insert("correlation_id".into(), fields.correlation_id.into());
    doc.insert(
        "prompt_hash".into(),
        fields.prompt_hash.map_or(Value::Null, Value::from),
    );
    doc.insert(
        "commit_timestamp".into(),
        fields.commit_timestamp.clone().into(),
    );
    doc.insert("test_status".into(), fields.test_status.as_str().into());
    for (key, value) in caller {
        if !STORE_KEYS.contains(&key.as_str()) {
            doc.insert(key.clone(), value.clone());
        }
    }
    let files: Vec<Value> = fields
        .checksums
        .keys()
        .map(|k| Value::from(k.as_str()))
        .collect();
    doc.insert("files".into(), Value::Array(files));
    let sums: Map<String, Value> = fields
        .checksums
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    doc.insert("checksums".into(), Value::Object(sums));
    Value::Object(doc)
}

/// Serializes a metadata document the way it is stored: pretty, with a final newline.
pub fn to_bytes(doc: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(doc).expect("a serde_json::Value always serializes");
    bytes.push(b'\n');
    bytes
}

/// Reads the `checksums` map out of a stored metadata document.
pub fn checksums_of(doc: &Value) -> BTreeMap<String, String> {
    doc.get("checksums")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The trailers the store writes on every commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    /// `Workflow-Id`.
    pub workflow_id: Option<String>,
    /// `Task-Id`.
    pub task_id: Option<String>,
    /// `Correlation-Id`.
    pub correlation_id: Option<String>,
    /// `Prompt-Hash`.
    pub prompt_hash: Option<String>,
    /// `Test-Status`.
    pub test_status: Option<String>,
}

impl Trailers {
    /// Parses the trailer block of a commit message.
    pub fn parse(message: &str) -> Trailers {
        let mut out = Trailers::default();
        for (key, value) in crate::git::message_trailers(message) {
            let slot = match key.to_ascii_lowercase().as_str() {
                "workflow-id" => &mut out.workflow_id,
                "task-id" => &mut out.task_id,
                "correlation-id" => &mut out.correlation_id,
                "prompt-hash" => &mut out.prompt_hash,
                "test-status" => &mut out.test_status,
                _ => continue,
            };
            *slot = Some(value.trim().to_string());
        }
        out
    }

    /// Renders the trailer block, one `Key: value` a line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let pairs = [
            ("Workflow-Id", &self.workflow_id),
            ("Task-Id", &self.task_id),
            ("Correlation-Id", &self.correlation_id),
            ("Prompt-Hash", &self.prompt_hash),
            ("Test-Status", &self.test_status),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                out.push_str(&format!("{key}: {value}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differing_fields_names_changed_added_and_removed_keys_by_path_only() {
        let stored = serde_json::json!({"a": 1, "m": {"x": 1, "y": [1]}, "gone": true,
            "commit_timestamp": "t1", "files": ["f"], "checksums": {"f": "1"}});
        let wanted = serde_json::json!({"a": 2, "m": {"x": 1, "y": [2], "z": null}, "new": "v",
            "commit_timestamp": "t2", "files": ["g"], "checksums": {"g": "2"}});
        assert_eq!(
            differing_fields(&stored, &wanted),
            ["a", "gone", "m.y", "m.z", "new"]
        );
        assert!(differing_fields(&stored, &stored).is_empty());
    }

    #[test]
    fn sets_nest_dotted_keys_and_parse_json_values() {
        let mut caller = parse_caller(
            r#"{"test_metrics": {"win_rate": 0.5}, "agent_version": "a"}"#,
            "test",
        )
        .unwrap();
        let sets = [
            "test_metrics.net_pnl=120.5",
            "llm_version=gpt-4",
            "tags=[1,2]",
            "agent_version.major=2",
        ]
        .iter()
        .map(|s| parse_set(s).unwrap())
        .collect();
        apply_sets(&mut caller, sets);
        assert_eq!(
            Value::Object(caller),
            json!({"test_metrics": {"win_rate": 0.5, "net_pnl": 120.5},
                   "agent_version": {"major": 2}, "llm_version": "gpt-4", "tags": [1, 2]})
        );
        assert!(parse_set("novalue").is_err());
        assert!(parse_set("a..b=1").is_err());
    }

    /// The store's fields of one commit of `w/t`, with `sums` as checksums.
    fn fields(sums: &BTreeMap<String, String>) -> StoreFields<'_> {
        StoreFields {
            workflow_id: "w",
            task_id: "t",
            correlation_id: "corr_1",
            prompt_hash: None,
            commit_timestamp: "2025-11-07T14:30:00Z".into(),
            test_status: TestStatus::Passed,
            checksums: sums,
        }
    }

    #[test]
    fn store_keys_win_and_caller_keys_are_kept() {
        let caller = parse_caller(
            r#"{"workflow_id": "spoof", "files": 3, "nested": {"deep": [1, {"x": null}]}}"#,
            "test",
        )
        .unwrap();
        let mut sums = BTreeMap::new();
        sums.insert("artifacts/w/t/a.py".to_string(), "sha256:00".to_string());
        let fields = fields(&sums);
        let doc = build(&fields, &caller);
        assert_eq!(doc["workflow_id"], "w");
        assert_eq!(doc["files"], json!(["artifacts/w/t/a.py"]));
        assert_eq!(doc["nested"], json!({"deep": [1, {"x": null}]}));
        assert_eq!(checksums_of(&doc), sums);
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys.first().map(|k| k.as_str()), Some("schema_version"));
        assert_eq!(keys.last().map(|k| k.as_str()), Some("checksums"));
    }

    #[test]
    fn metadata_nested_deeper_than_max_depth_is_refused() {
        let nested = |parts: usize| {
            let mut caller = Map::new();
            let key = vec!["a"; parts].join(".");
            apply_sets(&mut caller, vec![parse_set(&format!("{key}=1")).unwrap()]);
            caller
        };
        let sums = BTreeMap::new();
        let fields = fields(&sums);
        let deepest = nested(MAX_DEPTH);
        assert!(check_caller(&deepest).is_ok());
        let doc = build(&fields, &deepest);
        let back: Value = serde_json::from_slice(&to_bytes(&doc)).unwrap();
        assert_eq!(back, doc);

        assert!(check_caller(&nested(MAX_DEPTH + 1)).is_err());
        // What the limit guards against: past 127 levels, serde_json reads nothing back.
        let doc = build(&fields, &nested(128));
        assert!(serde_json::from_slice::<Value>(&to_bytes(&doc)).is_err());
        let arrays = |levels: usize| {
            let value = (0..levels).fold(Value::from(1), |v, _| Value::Array(vec![v]));
            let mut caller = Map::new();
            caller.insert("a".to_string(), value);
            caller
        };
        assert!(check_caller(&arrays(MAX_DEPTH - 1)).is_ok());
        assert!(check_caller(&arrays(MAX_DEPTH)).is_err());
    }

    #[test]
    fn a_number_in_metadata_reads_back_as_the_number_written() {
        // Without serde_json's float_roundtrip, parsing is not correctly rounded: this value
        // was stored as 2.3333333333333338e42 and read back as 2.3333333333333335e42.
        let mut caller = Map::new();
        let sets = [
            "gs=[1,2333333333333333333333333333333333333333333]",
            "x=0.30000000000000004441",
        ];
        apply_sets(
            &mut caller,
            sets.iter().map(|s| parse_set(s).unwrap()).collect(),
        );
        let sums = BTreeMap::new();
        let fields = fields(&sums);
        let doc = build(&fields, &caller);
        let back: Value = serde_json::from_slice(&to_bytes(&doc)).unwrap();
        assert_eq!(back, doc);
        // The nearest double to the decimal given, read and written alike.
        assert_eq!(back["gs"][1].as_f64(), Some(2.3333333333333332e42));
    }

    #[test]
    fn metadata_must_be_an_object() {
        assert!(parse_caller("[1]", "x").is_err());
        assert!(parse_caller("{", "x").is_err());
        assert!(parse_caller("\"s\"", "x").is_err());
    }

    #[test]
    fn trailers_round_trip() {
        let t = Trailers {
            workflow_id: Some("wf".into()),
            task_id: Some("t".into()),
            correlation_id: Some("corr_x".into()),
            prompt_hash: None,
            test_status: Some("passed".into()),
        };
        let message = format!("artifacts(wf/t): corr_x\n\n{}", t.render());
        assert_eq!(Trailers::parse(&message), t);
    }
}
