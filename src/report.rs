//! The one JSON vocabulary every face speaks: the CLI's `--json`, the Python package's
//! dicts and the web view's API are all built here, so the three can never disagree.
//!
//! Every output is one JSON object with a boolean `success` and a `schema_version`
//! ([`SCHEMA_VERSION`]); lists sit under a named key. A success is the operation's own
//! report (a `Serialize` type of the operation) with those two keys put first; a failure is
//! `{"success": false, "schema_version", "error": {"kind", "message", "hint", "causes"}}`,
//! plus whatever the operation had already found (a `list` that could not read some sets
//! still returns the rows it read). `docs/json.md` states the rules and the compatibility
//! promise; `docs/schema/<command>.json` is the schema of each command's output.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Error;

/// The version of the JSON vocabulary. Within a version, changes are additive only: a key
/// may be added, none is renamed, removed or changes type.
pub const SCHEMA_VERSION: u32 = 1;

/// Returns unix seconds as RFC 3339 UTC (`2026-01-02T03:04:05Z`), the form of every
/// `*_time` key; the seconds themselves go in the `*_unix` key beside it.
pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| unix.to_string())
}

/// A file of an artifact set as every output names it: `{path, size, checksum}`, the path
/// relative to the set's artifact directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileObject {
    /// Path relative to the artifact directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// `sha256:<hex>` as recorded in metadata.json (`null` for metadata.json itself).
    pub checksum: Option<String>,
}

/// One command's JSON output and the exit code that goes with it.
#[derive(Debug, Clone)]
pub struct Report {
    /// The whole JSON object, `success` first.
    pub body: Value,
    /// The process exit code the CLI ends with (0 on success; `docs/design.md`'s table).
    pub exit_code: i32,
}

impl Report {
    /// Whether the output says `success: true`.
    pub fn success(&self) -> bool {
        self.body.get("success") == Some(&Value::Bool(true))
    }
}

/// A failure reported beside data: the error object and its exit code.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `{"kind", "message", "hint", "causes"}`.
    pub error: Value,
    /// The exit code of the error.
    pub exit_code: i32,
}

impl Failure {
    /// The failure that stands for `error`.
    pub fn of(error: &Error) -> Failure {
        Failure {
            error: error_object(error),
            exit_code: error.exit_code(),
        }
    }
}

/// An operation's result that may carry a failure beside what it found: `list` with sets
/// it could not read, `gc --remote` whose remote step failed after the local apply landed.
pub trait Reportable: Serialize {
    /// The failure to report beside the data, if any.
    fn failure(&self) -> Option<Failure> {
        None
    }
}

impl Reportable for crate::scan::ScanReport {
    /// Findings make a scan a failure: `secret_detected`, exit 3. The findings are the
    /// report's own `findings`; the error object does not repeat them.
    fn failure(&self) -> Option<Failure> {
        if self.findings.is_empty() {
            return None;
        }
        let files: std::collections::BTreeSet<&str> =
            self.findings.iter().map(|f| f.path.as_str()).collect();
        let error = Error::SecretsFound {
            findings: self.findings.clone(),
        };
        let mut failure = Failure::of(&error);
        if let Value::Object(map) = &mut failure.error {
            map.remove("findings");
            let n = self.findings.len();
            let message = format!(
                "{n} possible secret{} found in {} file{}",
                if n == 1 { "" } else { "s" },
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            );
            map.insert("message".into(), message.into());
        }
        Some(failure)
    }
}

impl Reportable for crate::scan::RuleList {}

/// Returns the JSON output of a finished operation: its data with `success` and
/// `schema_version` first, or, when the operation reports a failure beside its data, the
/// error object and the data together, with the failure's exit code.
pub fn of<T: Reportable + ?Sized>(data: &T) -> Report {
    match data.failure() {
        None => Report {
            body: envelope(true, data),
            exit_code: 0,
        },
        Some(failure) => {
            let mut body = envelope(false, data);
            if let Value::Object(map) = &mut body {
                map.insert("error".into(), failure.error);
            }
            Report {
                body,
                exit_code: failure.exit_code,
            }
        }
    }
}

/// Returns the JSON output of a successful operation whose data never carries a failure.
pub fn success<T: Serialize + ?Sized>(data: &T) -> Value {
    envelope(true, data)
}

/// Returns the JSON output of a failed operation: `{"success": false, "schema_version",
/// "error": {...}}`, with the error's exit code.
pub fn failure(error: &Error) -> Report {
    let mut map = Map::new();
    map.insert("success".into(), Value::Bool(false));
    map.insert("schema_version".into(), SCHEMA_VERSION.into());
    map.insert("error".into(), error_object(error));
    Report {
        body: Value::Object(map),
        exit_code: error.exit_code(),
    }
}

/// Returns `{"kind", "message", "hint", "causes"}` (and `undo`, `findings` where the error
/// has them) for an error. `causes` is the chain of underlying reasons, outermost first.
/// A secret's text never appears: findings carry only their redacted form.
pub fn error_object(error: &Error) -> Value {
    let mut map = Map::new();
    map.insert("kind".into(), error.kind().into());
    map.insert("message".into(), error.to_string().into());
    map.insert("hint".into(), error.hint().map_or(Value::Null, Value::from));
    map.insert(
        "causes".into(),
        Value::Array(causes(error).into_iter().map(Value::from).collect()),
    );
    if let Some(undo) = error.undo() {
        map.insert("undo".into(), undo.into());
    }
    if let Error::SecretsFound { findings } = error {
        map.insert(
            "findings".into(),
            serde_json::to_value(findings).unwrap_or(Value::Null),
        );
    }
    Value::Object(map)
}

/// Returns the messages of an error's sources, outermost first ([`Error::causes`]).
pub fn causes(error: &Error) -> Vec<String> {
    error.causes()
}

/// Serializes `data` as an object and puts `success` and `schema_version` first; data
/// that says `success: false` itself (a `verify` that found problems) stays a failure.
/// Data that is not an object (a bug in an operation's report type) is kept under `data`.
fn envelope<T: Serialize + ?Sized>(success: bool, data: &T) -> Value {
    let mut map = Map::new();
    map.insert("success".into(), Value::Bool(success));
    map.insert("schema_version".into(), SCHEMA_VERSION.into());
    match serde_json::to_value(data) {
        Ok(Value::Object(fields)) => {
            if fields.get("success") == Some(&Value::Bool(false)) {
                map.insert("success".into(), Value::Bool(false));
            }
            for (k, v) in fields {
                if k != "success" && k != "schema_version" {
                    map.insert(k, v);
                }
            }
        }
        Ok(other) => {
            map.insert("data".into(), other);
        }
        Err(e) => {
            return failure(&Error::Internal {
                message: format!("the output could not be written as JSON: {e}"),
            })
            .body
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Found {
        sets: Vec<u32>,
    }
    impl Reportable for Found {}

    #[test]
    fn success_puts_the_envelope_first() {
        let r = of(&Found { sets: vec![1, 2] });
        assert_eq!(r.exit_code, 0);
        let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["success", "schema_version", "sets"]);
        assert!(r.success());
    }

    #[test]
    fn failure_carries_kind_hint_and_causes() {
        let e = Error::NotFound("nothing named \"x\"".into());
        let r = failure(&e);
        assert_eq!(r.exit_code, 5);
        assert_eq!(r.body["error"]["kind"], "not_found");
        assert_eq!(r.body["error"]["causes"], Value::Array(vec![]));
        assert!(r.body["error"].get("hint").is_some());
        assert!(!r.success());
    }
}
