//! The subscriber's structured log on stderr: `key=value` text or one JSON object a line.
#![allow(clippy::print_stderr)]

use std::io::Write;

use clap::ValueEnum;
use serde_json::{json, Map, Value};

use artifact_store::events::{EventLine, EventLog, Handler, SubscribeOptions, Totals, Transport};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `2025-11-07T14:30:00.123Z INFO event correlation_id=corr_abc outcome=committed ...`
    Text,
    /// `{"ts": "...", "level": "info", "msg": "event", "correlation_id": "corr_abc", ...}`
    Json,
}

/// Writes the subscriber's reports to stderr.
pub struct StderrLog {
    format: LogFormat,
}

impl StderrLog {
    /// Returns a log in `format`.
    pub fn new(format: LogFormat) -> StderrLog {
        StderrLog { format }
    }

    /// Reports what the subscriber listens to and where it commits.
    pub fn started(&self, options: &SubscribeOptions, handlers: &[Handler], workers: u64) {
        let (transport, consumer) = match options.transport {
            Transport::Streams => ("streams", Some(options.consumer.clone())),
            Transport::PubSub => ("pubsub", None),
        };
        let mut fields = Map::new();
        fields.insert("transport".into(), json!(transport));
        fields.insert("input".into(), json!(options.input));
        fields.insert("output".into(), json!(options.output));
        if let Some(consumer) = consumer {
            fields.insert("group".into(), json!(options.group));
            fields.insert("consumer".into(), json!(consumer));
        }
        fields.insert("workers".into(), json!(workers));
        fields.insert("batch".into(), json!(options.batch));
        if let Some(h) = handlers.first() {
            fields.insert(
                "store".into(),
                json!(h.store().git_dir().display().to_string()),
            );
            fields.insert(
                "artifacts_root".into(),
                json!(h.artifacts_root().display().to_string()),
            );
        }
        self.write("info", "started", fields);
    }

    fn write(&self, level: &str, msg: &str, fields: Map<String, Value>) {
        let ts = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let line = match self.format {
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert("ts".into(), json!(ts));
                object.insert("level".into(), json!(level));
                object.insert("msg".into(), json!(msg));
                object.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
                Value::Object(object).to_string()
            }
            LogFormat::Text => {
                let mut line = format!("{ts} {:<5} {msg}", level.to_ascii_uppercase());
                for (key, value) in fields {
                    match value {
                        Value::Null => continue,
                        Value::String(s) if !needs_quotes(&s) => {
                            line.push_str(&format!(" {key}={s}"))
                        }
                        other => line.push_str(&format!(" {key}={other}")),
                    }
                }
                line
            }
        };
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{}", super::output::printable(&line));
    }
}

fn needs_quotes(text: &str) -> bool {
    text.is_empty()
        || text
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '=')
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl EventLog for StderrLog {
    fn event(&self, line: &EventLine) {
        let level = match line.outcome {
            "failed" | "dead_lettered" | "retry" => "warn",
            _ => "info",
        };
        let fields = object(serde_json::to_value(line).unwrap_or_default());
        self.write(level, "event", fields);
    }

    fn totals(&self, totals: &Totals, last: bool) {
        let mut fields = object(serde_json::to_value(totals).unwrap_or_default());
        if last {
            fields.insert("final".into(), json!(true));
        }
        self.write("info", "totals", fields);
    }

    fn warning(&self, message: &str) {
        self.write("warn", message, Map::new());
    }

    fn info(&self, message: &str) {
        self.write("info", message, Map::new());
    }
}
