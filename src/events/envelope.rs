//! Event envelopes: parsing the store's own JSON envelope and CloudEvents 1.0, and building
//! the outcome events written back.
//!
//! Both shapes are read into one [`Envelope`]; unknown fields are ignored. An outcome event
//! answers in the shape its input came in (a CloudEvents input gets a CloudEvents answer).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::EventError;

/// `source` of every outcome event.
pub const SOURCE: &str = "artifact-store";
/// Event type of a successful (or duplicate) commit.
pub const ARTIFACT_COMMITTED: &str = "ARTIFACT_COMMITTED";
/// Event type of a commit that failed for good.
pub const ARTIFACT_COMMIT_FAILED: &str = "ARTIFACT_COMMIT_FAILED";

/// The shape an event came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The store's own envelope: `event_type`, `correlation_id`, `workflow_id`, ...
    Native,
    /// CloudEvents 1.0: `specversion`, `type`, `id`, `source`, `correlationid`, `data`.
    CloudEvents,
}

/// What an event asks for, from its type compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `TEST_PASSED`: commit the artifacts.
    TestPassed,
    /// `TEST_FAILED`: committed only when the subscriber is told to.
    TestFailed,
    /// Anything else; not for the store.
    Other(String),
}

/// One parsed event: the envelope fields, and `data` as given.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Shape it came in.
    pub format: Format,
    /// `event_id` (or CloudEvents `id`).
    pub event_id: Option<String>,
    /// `event_type` (or CloudEvents `type`), as given.
    pub event_type: String,
    /// `correlation_id` (or the CloudEvents `correlationid` extension).
    pub correlation_id: Option<String>,
    /// `workflow_id` (CloudEvents: the `workflowid` extension or `data.workflow_id`).
    pub workflow_id: Option<String>,
    /// `task_id` (CloudEvents: the `taskid` extension or `data.task_id`).
    pub task_id: Option<String>,
    /// `source` of the event.
    pub source: Option<String>,
    /// `data`, empty when absent.
    pub data: Map<String, Value>,
}

impl Envelope {
    /// Parses an envelope from JSON bytes; either shape, unknown fields ignored.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, EventError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|source| EventError::NotJson { source })?;
        Envelope::from_value(value)
    }

    /// Reads an envelope from a parsed JSON value.
    pub fn from_value(value: Value) -> Result<Envelope, EventError> {
        let Value::Object(mut top) = value else {
            return Err(EventError::NotObject {
                found: type_name(&value),
            });
        };
        let data = match top.remove("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(_) => return Err(wrong_type("data", "an object")),
        };
        if top.contains_key("specversion") {
            let version = text(&top, "specversion")?.unwrap_or_default();
            if version != "1.0" {
                return Err(EventError::SpecVersion { found: version });
            }
            return Ok(Envelope {
                format: Format::CloudEvents,
                event_id: text(&top, "id")?,
                event_type: required(&top, "type")?,
                correlation_id: first_text(&top, &data, "correlationid", "correlation_id")?,
                workflow_id: first_text(&top, &data, "workflowid", "workflow_id")?,
                task_id: first_text(&top, &data, "taskid", "task_id")?,
                source: text(&top, "source")?,
                data,
            });
        }
        Ok(Envelope {
            format: Format::Native,
            event_id: text(&top, "event_id")?,
            event_type: required(&top, "event_type")?,
            correlation_id: text(&top, "correlation_id")?,
            workflow_id: text(&top, "workflow_id")?,
            task_id: text(&top, "task_id")?,
            source: text(&top, "source")?,
            data,
        })
    }

    /// Returns what the event asks for: the type compared case-insensitively, and for
    /// CloudEvents also its last dot-separated segment (`com.example.test_passed`).
    pub fn kind(&self) -> EventKind {
        let full = self.event_type.to_ascii_uppercase();
        let last = match self.format {
            Format::CloudEvents => full.rsplit('.').next().unwrap_or(&full).to_string(),
            Format::Native => full.clone(),
        };
        match (full.as_str(), last.as_str()) {
            ("TEST_PASSED", _) | (_, "TEST_PASSED") => EventKind::TestPassed,
            ("TEST_FAILED", _) | (_, "TEST_FAILED") => EventKind::TestFailed,
            _ => EventKind::Other(self.event_type.clone()),
        }
    }

    /// Returns the key that keeps one task's events in order: `workflow/task`.
    pub fn task_key(&self) -> String {
        format!(
            "{}/{}",
            self.workflow_id.as_deref().unwrap_or(""),
            self.task_id.as_deref().unwrap_or("")
        )
    }
}

/// Longest id [`head`] keeps; a longer value reads as absent.
const HEAD_FIELD_MAX: usize = 256;

/// Reads only the ids of a payload too large to handle (its event id and type, correlation,
/// workflow and task ids, source), so its refusal can still name them; every other value,
/// however large, is skipped without being copied. `None` when the payload is not a JSON
/// object. `data` is left empty.
pub(crate) fn head(bytes: &[u8]) -> Option<Envelope> {
    // serde would also read a struct from an array, by position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let h: Head = serde_json::from_slice(bytes).ok()?;
    let data = h.data.unwrap_or_default();
    let either = |top: Short, inner: Short| top.0.or(inner.0);
    if h.specversion.0.is_some() {
        return Some(Envelope {
            format: Format::CloudEvents,
            event_id: h.id.0,
            event_type: h.r#type.0.unwrap_or_default(),
            correlation_id: either(h.correlationid, data.correlation_id),
            workflow_id: either(h.workflowid, data.workflow_id),
            task_id: either(h.taskid, data.task_id),
            source: h.source.0,
            data: Map::new(),
        });
    }
    Some(Envelope {
        format: Format::Native,
        event_id: h.event_id.0,
        event_type: h.event_type.0.unwrap_or_default(),
        correlation_id: h.correlation_id.0,
        workflow_id: h.workflow_id.0,
        task_id: h.task_id.0,
        source: h.source.0,
        data: Map::new(),
    })
}

/// The top-level fields [`head`] reads; serde skips the others without copying them.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Head {
    specversion: Short,
    id: Short,
    r#type: Short,
    correlationid: Short,
    workflowid: Short,
    taskid: Short,
    event_id: Short,
    event_type: Short,
    correlation_id: Short,
    workflow_id: Short,
    task_id: Short,
    source: Short,
    data: Option<DataHead>,
}

/// The ids a CloudEvents envelope may carry in `data`.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct DataHead {
    correlation_id: Short,
    workflow_id: Short,
    task_id: Short,
}

/// A short non-empty string; any other value (a long string, a number, an object) is
/// consumed without being kept and reads as `None`.
#[derive(Default)]
struct Short(Option<String>);

impl<'de> serde::Deserialize<'de> for Short {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Short, D::Error> {
        d.deserialize_any(ShortVisitor)
    }
}

struct ShortVisitor;

impl<'de> serde::de::Visitor<'de> for ShortVisitor {
    type Value = Short;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, s: &str) -> Result<Short, E> {
        let keep = !s.is_empty() && s.len() <= HEAD_FIELD_MAX;
        Ok(Short(keep.then(|| s.to_string())))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Short, E> {
        Ok(Short(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Short, E> {
        Ok(Short(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Short, E> {
        Ok(Short(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Short, E> {
        Ok(Short(None))
    }

    fn visit_unit<E>(self) -> Result<Short, E> {
        Ok(Short(None))
    }

    fn visit_none<E>(self) -> Result<Short, E> {
        Ok(Short(None))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Short, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Short(None))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Short, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Short(None))
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &'static str) -> EventError {
    EventError::WrongType {
        field: field.to_string(),
        expected,
    }
}

/// Reads a string field; absent, null and empty are `None`; another type is an error.
pub(crate) fn text(map: &Map<String, Value>, key: &str) -> Result<Option<String>, EventError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(key, "a string")),
    }
}

fn required(map: &Map<String, Value>, key: &'static str) -> Result<String, EventError> {
    text(map, key)?.ok_or(EventError::MissingField { field: key })
}

fn first_text(
    top: &Map<String, Value>,
    data: &Map<String, Value>,
    extension: &str,
    data_key: &str,
) -> Result<Option<String>, EventError> {
    match text(top, extension)? {
        Some(found) => Ok(Some(found)),
        None => {
            text(data, data_key).map_err(|_| wrong_type(&format!("data.{data_key}"), "a string"))
        }
    }
}

/// Builds an outcome event answering `input` (when it could be parsed) in its own shape.
pub fn outcome_event(input: Option<&Envelope>, event_type: &str, data: Value) -> Value {
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let id = new_event_id(input.and_then(|e| e.correlation_id.as_deref()));
    let corr = input.and_then(|e| e.correlation_id.clone());
    let workflow = input.and_then(|e| e.workflow_id.clone());
    let task = input.and_then(|e| e.task_id.clone());
    let cause = input.and_then(|e| e.event_id.clone());
    match input.map(|e| e.format) {
        Some(Format::CloudEvents) => {
            let mut event = json!({
                "specversion": "1.0", "type": event_type, "source": SOURCE, "id": id,
                "time": now, "datacontenttype": "application/json",
            });
            let ext = [
                ("correlationid", corr),
                ("workflowid", workflow),
                ("taskid", task),
                ("causationid", cause),
            ];
            for (key, value) in ext {
                if let Some(value) = value {
                    event[key] = Value::String(value);
                }
            }
            event["data"] = data;
            event
        }
        _ => json!({
            "event_id": id, "event_type": event_type, "correlation_id": corr,
            "workflow_id": workflow, "task_id": task, "source": SOURCE, "timestamp": now,
            "causation_id": cause, "data": data,
        }),
    }
}

/// Returns a fresh 32-hex-digit event id, unique per process and call.
fn new_event_id(salt: Option<&str>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let seed = format!("{}/{nanos}/{n}/{}", std::process::id(), salt.unwrap_or(""));
    let digest = format!("{:x}", Sha256::digest(seed.as_bytes()));
    digest[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_envelopes_ignore_unknown_fields_and_compare_types_case_insensitively() {
        let raw = br#"{"event_id":"e1","event_type":"test_Passed","correlation_id":"corr_a",
            "workflow_id":"wf","task_id":"t","source":"tester","extra":{"x":1},
            "data":{"artifacts":{"strategy":"s.py"},"metrics":{"n":1},"unknown":true}}"#;
        let env = Envelope::parse(raw).unwrap();
        assert_eq!(env.format, Format::Native);
        assert_eq!(env.kind(), EventKind::TestPassed);
        assert_eq!(env.correlation_id.as_deref(), Some("corr_a"));
        assert_eq!(env.task_key(), "wf/t");
        assert_eq!(env.data["metrics"]["n"], 1);
    }

    #[test]
    fn cloudevents_take_the_correlationid_extension_and_ids_from_data() {
        let raw = br#"{"specversion":"1.0","type":"com.example.TEST_FAILED","id":"ce-1",
            "source":"/tester","correlationid":"abc","datacontenttype":"application/json",
            "data":{"workflow_id":"wf","task_id":"t","artifacts":{}}}"#;
        let env = Envelope::parse(raw).unwrap();
        assert_eq!(env.format, Format::CloudEvents);
        assert_eq!(env.kind(), EventKind::TestFailed);
        assert_eq!(env.event_id.as_deref(), Some("ce-1"));
        assert_eq!(env.correlation_id.as_deref(), Some("abc"));
        assert_eq!(env.task_key(), "wf/t");
        let reply = outcome_event(Some(&env), ARTIFACT_COMMITTED, json!({"duplicate": false}));
        assert_eq!(reply["specversion"], "1.0");
        assert_eq!(reply["correlationid"], "abc");
        assert_eq!(reply["causationid"], "ce-1");
        assert_eq!(reply["source"], SOURCE);
    }

    #[test]
    fn malformed_envelopes_name_what_is_wrong() {
        let kind = |raw: &[u8]| Envelope::parse(raw).unwrap_err().kind();
        assert_eq!(kind(b"{not json"), "malformed_event");
        assert_eq!(kind(b"[1,2]"), "malformed_event");
        assert_eq!(kind(br#"{"correlation_id":"a"}"#), "missing_field");
        assert_eq!(
            kind(br#"{"event_type":"TEST_PASSED","data":[]}"#),
            "malformed_event"
        );
        assert_eq!(kind(br#"{"event_type":7}"#), "malformed_event");
        assert_eq!(
            kind(br#"{"specversion":"0.3","type":"TEST_PASSED"}"#),
            "malformed_event"
        );
        let other = Envelope::parse(br#"{"event_type":"STRATEGY_GENERATED"}"#).unwrap();
        assert_eq!(other.kind(), EventKind::Other("STRATEGY_GENERATED".into()));
    }

    #[test]
    fn the_head_of_a_large_payload_keeps_its_ids_and_skips_the_rest() {
        let blob = "y".repeat(100_000);
        let native = json!({"padding": blob, "event_id": "e1", "event_type": "TEST_PASSED",
            "correlation_id": "corr_h", "workflow_id": "wf", "task_id": "t",
            "data": {"metrics": {"blob": blob}, "n": [1, 2, {"a": null}]}, "source": 7});
        let env = head(native.to_string().as_bytes()).unwrap();
        assert_eq!(env.format, Format::Native);
        assert_eq!(env.correlation_id.as_deref(), Some("corr_h"));
        assert_eq!(env.task_key(), "wf/t");
        assert_eq!(env.event_id.as_deref(), Some("e1"));
        assert_eq!(env.source, None, "not a string");
        assert!(env.data.is_empty());
        let cloud = json!({"specversion": "1.0", "type": "x.test_passed", "id": "c1",
            "correlationid": blob, "data": {"correlation_id": "corr_d", "workflow_id": "wf",
            "task_id": "t", "blob": blob}});
        let env = head(cloud.to_string().as_bytes()).unwrap();
        assert_eq!(env.format, Format::CloudEvents);
        assert_eq!(
            env.correlation_id.as_deref(),
            Some("corr_d"),
            "a long id is absent"
        );
        assert_eq!(env.kind(), EventKind::TestPassed);
        assert!(head(b"[1, 2]").is_none());
        assert!(head(b"{\"correlation_id\": \"a\"").is_none());
    }

    #[test]
    fn event_ids_are_unique() {
        assert_ne!(new_event_id(None), new_event_id(None));
        assert_eq!(new_event_id(Some("x")).len(), 32);
    }
}
