//! The transport-free handler: one event payload in, one commit through [`Store::commit`],
//! one outcome event out. The Redis transports call it; so can any other source of events.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::envelope::{self, Envelope, EventKind, ARTIFACT_COMMITTED, ARTIFACT_COMMIT_FAILED};
use super::paths::{self, Artifact};
use super::EventError;
use crate::commit::{CommitOutcome, CommitRequest};
use crate::error::{Error, Result};
use crate::metadata::TestStatus;
use crate::refs::{CorrelationId, PromptHash, TaskId, WorkflowId};
use crate::store::Store;

/// Largest event payload handled, in bytes: an event names its artifacts by path, so
/// only its ids and metadata (metrics, versions) count here; a larger one fails as
/// `malformed_event` before its fields reach metadata.json, git or the answer's data.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// How the handler maps events to commits.
#[derive(Debug, Clone)]
pub struct HandlerOptions {
    /// Directory every artifact path resolves under; nothing outside it is read.
    pub artifacts_root: PathBuf,
    /// Also commit `TEST_FAILED` events, with `test_status: failed`.
    pub commit_failed: bool,
}

/// Commits the artifacts of test events into one store.
#[derive(Debug)]
pub struct Handler {
    store: Store,
    root: PathBuf,
    commit_failed: bool,
}

/// What became of one event.
#[derive(Debug)]
pub enum Outcome {
    /// Committed, or found already committed (`duplicate`).
    Committed(Box<CommitOutcome>),
    /// Not committed; see [`EventError::retryable`].
    Failed(EventError),
    /// An event type the store does not act on (or `TEST_FAILED` without `commit_failed`).
    Ignored {
        /// The type given.
        event_type: String,
    },
}

/// One handled event: its envelope (when it parsed), the outcome, and the time taken.
#[derive(Debug)]
pub struct Handled {
    /// The envelope, when the payload parsed as one; its `data` is left empty (what the
    /// commit needed of it went into the request, and the answer needs only the ids).
    pub envelope: Option<Envelope>,
    /// What happened.
    pub outcome: Outcome,
    /// Wall time spent.
    pub elapsed: Duration,
}

impl Handler {
    /// Returns a handler committing into `store`; the artifacts root must exist.
    pub fn new(store: Store, options: &HandlerOptions) -> Result<Handler> {
        let root = std::fs::canonicalize(&options.artifacts_root).map_err(Error::io(
            "failed to resolve the artifacts root",
            &options.artifacts_root,
        ))?;
        Ok(Handler {
            store,
            root,
            commit_failed: options.commit_failed,
        })
    }

    /// Returns the store committed into.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Opens the store's repository again (see [`Store::reopen`]); the subscriber does it
    /// every few hundred events.
    pub fn reopen_store(&mut self) -> Result<()> {
        self.store.reopen()
    }

    /// Returns the canonical artifacts root.
    pub fn artifacts_root(&self) -> &Path {
        &self.root
    }

    /// Handles one envelope given as JSON bytes.
    pub fn handle(&self, payload: &[u8]) -> Handled {
        self.handle_batch(&[payload])
            .pop()
            .expect("one handled event per payload")
    }

    /// Handles several envelopes, in order, as [`Handler::handle`] would one after the
    /// other; their commits go through [`Store::commit_batch`], so small artifact sets
    /// share one pack and one set of flushes. Each event succeeds or fails on its own.
    pub fn handle_batch(&self, payloads: &[&[u8]]) -> Vec<Handled> {
        let start = Instant::now();
        let mut planned = Vec::with_capacity(payloads.len());
        let mut requests = Vec::new();
        for payload in payloads {
            if payload.len() > MAX_EVENT_BYTES {
                // Refused before it is parsed (a parsed 30 MB payload is several times
                // that); only its ids are read, so the answer can name them.
                let error = EventError::TooLarge {
                    size: payload.len(),
                    max: MAX_EVENT_BYTES,
                };
                planned.push((envelope::head(payload), Some(Outcome::Failed(error))));
                continue;
            }
            let (envelope, plan) = match Envelope::parse(payload) {
                Ok(mut envelope) => {
                    let plan = self.plan(&envelope).map_err(|outcome| *outcome);
                    // The request holds what it needs of `data`; the answer needs only the
                    // ids. A batch waiting for its commit so holds no parsed `data`.
                    envelope.data = Map::new();
                    (Some(envelope), plan)
                }
                Err(e) => (None, Err(Outcome::Failed(e))),
            };
            let outcome = match plan {
                Ok(request) => {
                    requests.push(request);
                    None
                }
                Err(outcome) => Some(outcome),
            };
            planned.push((envelope, outcome));
        }
        let mut commits = self.store.commit_batch(requests).into_iter();
        planned
            .into_iter()
            .map(|(envelope, outcome)| {
                let outcome = outcome.unwrap_or_else(|| {
                    match commits.next().expect("one commit result per request") {
                        Ok(done) => Outcome::Committed(Box::new(redelivery(done))),
                        Err(e) => Outcome::Failed(EventError::Store(e)),
                    }
                });
                Handled {
                    envelope,
                    outcome,
                    elapsed: start.elapsed(),
                }
            })
            .collect()
    }

    /// Handles an envelope already parsed.
    pub fn handle_envelope(&self, envelope: &Envelope) -> Outcome {
        match self.plan(envelope) {
            Ok(request) => match self.store.commit(request) {
                Ok(done) => Outcome::Committed(Box::new(redelivery(done))),
                Err(e) => Outcome::Failed(EventError::Store(e)),
            },
            Err(outcome) => *outcome,
        }
    }

    /// The commit an envelope asks for, or the outcome when it asks for none.
    fn plan(&self, envelope: &Envelope) -> Result<CommitRequest, Box<Outcome>> {
        let status = match envelope.kind() {
            EventKind::TestPassed => TestStatus::Passed,
            EventKind::TestFailed if self.commit_failed => TestStatus::Failed,
            EventKind::TestFailed | EventKind::Other(_) => {
                return Err(Box::new(Outcome::Ignored {
                    event_type: envelope.event_type.clone(),
                }))
            }
        };
        self.request(envelope, status)
            .map_err(|e| Box::new(Outcome::Failed(e)))
    }

    /// Builds the commit request of an event: ids, artifacts under the root, metadata.
    pub fn request(
        &self,
        envelope: &Envelope,
        status: TestStatus,
    ) -> Result<CommitRequest, EventError> {
        let need =
            |value: &Option<String>, field| value.clone().ok_or(EventError::MissingField { field });
        let corr = need(&envelope.correlation_id, "correlation_id")?;
        let workflow = WorkflowId::new(&need(&envelope.workflow_id, "workflow_id")?)?;
        let task = TaskId::new(&need(&envelope.task_id, "task_id")?)?;
        let corr = CorrelationId::new(&corr)?;
        let given = artifact_paths(&envelope.data)?;
        let artifacts = paths::resolve_all(&self.root, &given)?;
        let mut request = CommitRequest::new(
            workflow,
            task,
            artifacts.iter().map(Artifact::input).collect(),
        );
        request.correlation_id = Some(corr);
        request.status = Some(status);
        request.prompt_hash = envelope::text(&envelope.data, "prompt_hash")
            .map_err(|_| wrong("data.prompt_hash", "a string"))?
            .map(|p| PromptHash::new(&p))
            .transpose()?;
        request.metadata = self.metadata(envelope, &artifacts, &request);
        Ok(request)
    }

    fn metadata(
        &self,
        envelope: &Envelope,
        artifacts: &[Artifact],
        request: &CommitRequest,
    ) -> Map<String, Value> {
        let mut meta = Map::new();
        if let Some(metrics) = envelope.data.get("metrics") {
            meta.insert("test_metrics".into(), metrics.clone());
        }
        for (key, value) in &envelope.data {
            let versioned = key.ends_with("_version") && (value.is_string() || value.is_number());
            if versioned {
                meta.insert(key.clone(), value.clone());
            }
        }
        let dir = self
            .store
            .config()
            .artifact_dir_for(request.workflow.as_str(), request.task.as_str());
        let map: Map<String, Value> = artifacts
            .iter()
            .map(|a| (a.key.clone(), json!(format!("{dir}/{}", a.target))))
            .collect();
        meta.insert("artifacts".into(), Value::Object(map));
        let mut event = Map::new();
        for (key, value) in [
            ("id", &envelope.event_id),
            ("type", &Some(envelope.event_type.clone())),
            ("source", &envelope.source),
        ] {
            if let Some(value) = value {
                event.insert(key.into(), json!(value));
            }
        }
        meta.insert("event".into(), Value::Object(event));
        meta
    }
}

/// Leaves the `event` key (the id, type and source of the delivery that made the commit) out
/// of a duplicate's differing metadata: the same artifact set and metadata published again
/// under a new event id is a redelivery, not other metadata.
fn redelivery(mut done: CommitOutcome) -> CommitOutcome {
    let provenance = |f: &String| f == "event" || f.starts_with("event.");
    if done.differing_fields.iter().any(provenance) {
        done.differing_fields.retain(|f| !provenance(f));
        if done.differing_fields.is_empty() {
            done.metadata_differs = false;
            done.warnings
                .retain(|w| !w.contains("but its metadata differs in"));
        }
    }
    done
}

fn wrong(field: &str, expected: &'static str) -> EventError {
    EventError::WrongType {
        field: field.to_string(),
        expected,
    }
}

/// Reads `data.artifacts`: an object of key to path, in the order given.
fn artifact_paths(data: &Map<String, Value>) -> Result<Vec<(String, String)>, EventError> {
    let artifacts = match data.get("artifacts") {
        None | Some(Value::Null) => {
            return Err(EventError::MissingField {
                field: "data.artifacts",
            })
        }
        Some(Value::Object(map)) => map,
        Some(_) => return Err(wrong("data.artifacts", "an object of name to path")),
    };
    if artifacts.is_empty() {
        return Err(EventError::MissingField {
            field: "data.artifacts",
        });
    }
    artifacts
        .iter()
        .map(|(key, value)| match value {
            Value::String(path) if !path.is_empty() => Ok((key.clone(), path.clone())),
            _ => Err(wrong(&format!("data.artifacts.{key}"), "a non-empty path")),
        })
        .collect()
}

impl Handled {
    /// Returns the correlation id the event gave, when it gave one.
    pub fn correlation_id(&self) -> Option<&str> {
        self.envelope.as_ref()?.correlation_id.as_deref()
    }

    /// Returns true when the event failed in a way a redelivery may cure.
    pub fn retryable(&self) -> bool {
        matches!(&self.outcome, Outcome::Failed(e) if e.retryable())
    }

    /// Returns the outcome's name in logs: committed, duplicate, failed or ignored.
    pub fn outcome_name(&self) -> &'static str {
        match &self.outcome {
            Outcome::Committed(done) if done.duplicate => "duplicate",
            Outcome::Committed(_) => "committed",
            Outcome::Failed(_) => "failed",
            Outcome::Ignored { .. } => "ignored",
        }
    }

    /// Returns the outcome event to publish; `None` for an ignored event.
    pub fn reply(&self) -> Option<Value> {
        let env = self.envelope.as_ref();
        match &self.outcome {
            Outcome::Committed(done) => Some(envelope::outcome_event(
                env,
                ARTIFACT_COMMITTED,
                // The commit's own report (`docs/schema/commit.json`, without the envelope).
                serde_json::to_value(done).unwrap_or_else(|_| json!({})),
            )),
            Outcome::Failed(e) => Some(failure_event(env, e, None)),
            Outcome::Ignored { .. } => None,
        }
    }
}

/// Builds the `ARTIFACT_COMMIT_FAILED` answer for `error`; `dead_letter` names the stream
/// the entry was moved to, when it was.
pub fn failure_event(
    env: Option<&Envelope>,
    error: &EventError,
    dead_letter: Option<&str>,
) -> Value {
    let mut body = json!({"kind": error.kind(), "message": error.full_message()});
    if let EventError::Store(Error::SecretsFound { findings }) = error {
        body["findings"] = findings
            .iter()
            .map(|f| json!({"rule_id": f.rule_id, "path": f.path, "line": f.line, "column": f.column}))
            .collect();
    }
    let mut data = json!({"error": body});
    if let Some(stream) = dead_letter {
        data["dead_letter"] = json!(stream);
    }
    envelope::outcome_event(env, ARTIFACT_COMMIT_FAILED, data)
}
