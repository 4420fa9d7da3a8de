//! Why one event failed, the kind named in its `ARTIFACT_COMMIT_FAILED` answer, and whether
//! a redelivery may succeed where this delivery did not.

use crate::error::Error;

/// Why one event could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The payload is not JSON.
    #[error("the event is not valid JSON")]
    NotJson {
        /// The parser's reason.
        #[source]
        source: serde_json::Error,
    },
    /// The payload is JSON but not an object.
    #[error("the event is {found}, not a JSON object")]
    NotObject {
        /// What it is instead.
        found: &'static str,
    },
    /// A stream entry without the `event` field.
    #[error("the stream entry has no `event` field holding the envelope")]
    NoEventField,
    /// The payload is larger than [`MAX_EVENT_BYTES`](super::handler::MAX_EVENT_BYTES);
    /// nothing of it is committed.
    #[error("the event is {size} bytes, over the limit of {max} bytes")]
    TooLarge {
        /// Size of the payload.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A field has the wrong JSON type.
    #[error("`{field}` must be {expected}")]
    WrongType {
        /// The field, dotted (`data.artifacts`).
        field: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A CloudEvents envelope of another spec version.
    #[error("CloudEvents specversion {found:?} is not supported; 1.0 is")]
    SpecVersion {
        /// The version given.
        found: String,
    },
    /// A field the store needs is absent or empty.
    #[error("`{field}` is missing")]
    MissingField {
        /// The field, dotted.
        field: &'static str,
    },
    /// An artifact path leaves the artifacts root; it was not read.
    #[error("artifact `{key}` ({path}) resolves outside the artifacts root; it was not read")]
    OutsideRoot {
        /// The artifact's key in `data.artifacts`.
        key: String,
        /// The path as the event gave it.
        path: String,
    },
    /// An artifact path names nothing.
    #[error("artifact `{key}` ({path}) does not exist under the artifacts root")]
    MissingFile {
        /// The artifact's key in `data.artifacts`.
        key: String,
        /// The path as the event gave it.
        path: String,
    },
    /// The entry came back more often than allowed without an answer (a subscriber may
    /// have died on it each time); it goes to the dead-letter stream unhandled.
    #[error("delivered {deliveries} times without an answer, more than the {max} allowed")]
    TooManyDeliveries {
        /// Deliveries so far, this one included.
        deliveries: u64,
        /// The limit, `--max-deliveries`.
        max: u64,
    },
    /// The store refused or failed the commit.
    #[error(transparent)]
    Store(#[from] Error),
}

impl EventError {
    /// Returns the stable kind named in the `ARTIFACT_COMMIT_FAILED` answer.
    pub fn kind(&self) -> &'static str {
        match self {
            EventError::NotJson { .. }
            | EventError::NotObject { .. }
            | EventError::NoEventField
            | EventError::TooLarge { .. }
            | EventError::WrongType { .. }
            | EventError::SpecVersion { .. } => "malformed_event",
            EventError::MissingField { .. } => "missing_field",
            EventError::OutsideRoot { .. } => "path_outside_root",
            EventError::MissingFile { .. } => "missing_file",
            EventError::TooManyDeliveries { .. } => "max_deliveries",
            EventError::Store(e) => e.kind(),
        }
    }

    /// Returns true when a later delivery may succeed: a lock held, a git or I/O error.
    /// Everything else (bad input, secrets, conflicts) fails the same way every time.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            EventError::Store(
                Error::Locked { .. }
                    | Error::Git { .. }
                    | Error::Io { .. }
                    | Error::StorageFull { .. }
            )
        )
    }

    /// Returns the message with its causes, for the answer and the log; never a secret,
    /// since no error of the store quotes file contents.
    pub fn full_message(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lock_git_and_io_errors_are_retried() {
        let locked = EventError::Store(Error::Locked {
            refname: "refs/heads/x".into(),
            lock: "x.lock".into(),
        });
        assert!(locked.retryable());
        assert_eq!(locked.kind(), "locked");
        let secret = EventError::Store(Error::SecretsFound { findings: vec![] });
        assert!(!secret.retryable());
        assert_eq!(secret.kind(), "secret_detected");
        assert!(!EventError::NoEventField.retryable());
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let err = EventError::NotJson { source: json };
        assert!(err
            .full_message()
            .starts_with("the event is not valid JSON: EOF"));
    }
}
