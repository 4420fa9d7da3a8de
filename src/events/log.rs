//! What the subscriber reports, through a sink its caller provides: one record per event,
//! periodic totals, warnings. The library never prints; the command line renders these.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Receives the subscriber's reports; implementations decide how to render them.
pub trait EventLog: Send + Sync {
    /// Reports one handled delivery.
    fn event(&self, line: &EventLine);
    /// Reports the running totals; `last` on the final report before returning.
    fn totals(&self, totals: &Totals, last: bool);
    /// Reports a condition worth attention (an outage, an entry that vanished).
    fn warning(&self, message: &str);
    /// Reports a state change (subscribed, reconnected).
    fn info(&self, message: &str);
}

/// One handled delivery.
#[derive(Debug, Clone, Serialize)]
pub struct EventLine {
    /// Correlation id the event gave, when it parsed.
    pub correlation_id: Option<String>,
    /// `committed`, `duplicate`, `failed`, `retry`, `dead_lettered` or `ignored`.
    pub outcome: &'static str,
    /// The commit, when there is one.
    pub commit_sha: Option<String>,
    /// Milliseconds from taking the event to its answer written.
    pub ms: u64,
    /// Stream entry id (streams) or message number (pub/sub).
    pub entry: String,
    /// Times the entry was delivered, this delivery included.
    pub deliveries: u64,
    /// Task branch, when committed.
    pub branch: Option<String>,
    /// Error kind, when failed.
    pub error_kind: Option<&'static str>,
    /// Error message, when failed (never a secret).
    pub error: Option<String>,
}

/// Running totals since the subscriber started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Deliveries taken from Redis.
    pub received: u64,
    /// New commits.
    pub committed: u64,
    /// Events already committed (answered with `duplicate: true`).
    pub duplicates: u64,
    /// Events answered with `ARTIFACT_COMMIT_FAILED` (dead-lettered ones included).
    pub failed: u64,
    /// Entries moved to the dead-letter stream.
    pub dead_lettered: u64,
    /// Events of other types, acknowledged without an answer.
    pub ignored: u64,
    /// Deliveries left for redelivery after a failure that may pass.
    pub retried: u64,
    /// Connections re-established after an outage.
    pub reconnects: u64,
}

/// Thread-safe counters behind [`Totals`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    received: AtomicU64,
    committed: AtomicU64,
    duplicates: AtomicU64,
    failed: AtomicU64,
    dead_lettered: AtomicU64,
    ignored: AtomicU64,
    retried: AtomicU64,
    reconnects: AtomicU64,
}

/// One counter of [`Counters`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Count {
    Received,
    Committed,
    Duplicate,
    Failed,
    DeadLettered,
    Ignored,
    Retried,
    Reconnect,
}

impl Counters {
    pub(crate) fn add(&self, which: Count) {
        let counter = match which {
            Count::Received => &self.received,
            Count::Committed => &self.committed,
            Count::Duplicate => &self.duplicates,
            Count::Failed => &self.failed,
            Count::DeadLettered => &self.dead_lettered,
            Count::Ignored => &self.ignored,
            Count::Retried => &self.retried,
            Count::Reconnect => &self.reconnects,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Totals {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Totals {
            received: get(&self.received),
            committed: get(&self.committed),
            duplicates: get(&self.duplicates),
            failed: get(&self.failed),
            dead_lettered: get(&self.dead_lettered),
            ignored: get(&self.ignored),
            retried: get(&self.retried),
            reconnects: get(&self.reconnects),
        }
    }
}
