//! The event-driven committer: `TEST_PASSED` in, a commit through [`Store::commit`], and
//! `ARTIFACT_COMMITTED` or `ARTIFACT_COMMIT_FAILED` out, over Redis Streams or Pub/Sub.
//!
//! ```text
//! handler    transport-free: payload -> Envelope -> CommitRequest -> Store::commit -> answer
//! envelope   the store's envelope and CloudEvents 1.0; outcome events
//! paths      artifact paths resolved under the artifacts root, named in the artifact dir
//! streams    consumer group: own pending first, then new; XAUTOCLAIM; dead-letter; ack last
//! pubsub     channels: at-most-once, the same handling
//! worker     one thread per Handler (each with its own Store); one task stays on one worker
//! conn       timeouts, transient errors, jittered backoff, one warning per outage
//! log        the sink the caller renders (the library never prints), and the totals
//! ```
//!
//! [`Handler`] is usable on its own: a Rust program with events from elsewhere calls
//! [`Handler::handle`] and publishes [`Handled::reply`] however it likes.
//!
//! [`Store::commit`]: crate::Store::commit

mod conn;
pub mod envelope;
mod error;
pub mod handler;
pub mod log;
pub mod paths;
mod pubsub;
mod streams;
mod worker;

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use envelope::{Envelope, EventKind, Format};
pub use error::EventError;
pub use handler::{Handled, Handler, HandlerOptions, Outcome};
pub use log::{EventLine, EventLog, Totals};

use crate::error::{Error, Result};

/// Deliveries one worker commits together by default: their small artifact sets share one
/// pack and one set of flushes (`Store::commit_batch`). Under a light load a batch is the
/// one delivery there is.
pub const DEFAULT_BATCH: usize = 16;

/// How events arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A stream read by a consumer group: at-least-once, acknowledged after the answer.
    Streams,
    /// A channel: at-most-once; what is published while no subscriber listens is lost.
    PubSub,
}

/// Everything the subscriber needs besides its handlers.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// `redis://host:port/db`.
    pub redis_url: String,
    /// Streams or pub/sub.
    pub transport: Transport,
    /// Stream (or channel) events are read from.
    pub input: String,
    /// Stream (or channel) answers are written to.
    pub output: String,
    /// Consumer group (streams).
    pub group: String,
    /// Consumer name in the group (streams).
    pub consumer: String,
    /// Stream that takes entries which failed `max_deliveries` times.
    pub dead_letter: String,
    /// Deliveries of one entry before it is dead-lettered.
    pub max_deliveries: u64,
    /// Stop after this many deliveries are handled.
    pub max_events: Option<u64>,
    /// Entries pending longer than this are claimed from their consumer (streams).
    pub claim_idle: Duration,
    /// How often to look for such entries (streams).
    pub claim_every: Duration,
    /// How often to report totals; `None` reports them only at the end.
    pub totals_every: Option<Duration>,
    /// Longest wait of one blocking read; the response timeout is above it.
    pub block: Duration,
    /// Most deliveries one worker commits together; 1 commits them one at a time.
    pub batch: usize,
}

impl SubscribeOptions {
    /// Returns the defaults the command line documents, for `input` and `consumer`.
    pub fn new(redis_url: &str, transport: Transport) -> SubscribeOptions {
        SubscribeOptions {
            redis_url: redis_url.to_string(),
            transport,
            input: "test_results".to_string(),
            output: "workflow_events".to_string(),
            group: "artifact-store".to_string(),
            consumer: format!("artifact-store-{}", std::process::id()),
            dead_letter: "test_results:dlq".to_string(),
            max_deliveries: 5,
            max_events: None,
            claim_idle: Duration::from_secs(60),
            claim_every: Duration::from_secs(5),
            totals_every: Some(Duration::from_secs(60)),
            block: Duration::from_secs(1),
            batch: DEFAULT_BATCH,
        }
    }
}

/// State every thread of one subscriber shares.
pub(crate) struct Shared<'a> {
    pub(crate) options: &'a SubscribeOptions,
    pub(crate) client: redis::Client,
    pub(crate) log: &'a dyn EventLog,
    pub(crate) stop: &'a AtomicBool,
    pub(crate) counters: log::Counters,
    pub(crate) outage: conn::Outage,
    pub(crate) in_flight: Mutex<HashSet<String>>,
    /// The error that stopped the subscriber from a worker (Redis refusing it a command).
    pub(crate) fatal: Mutex<Option<Error>>,
    /// Batches being handled now, and when the last one ended: the idle time that
    /// consolidation uses.
    pub(crate) busy: std::sync::atomic::AtomicUsize,
    pub(crate) last_busy: Mutex<Instant>,
}

impl Shared<'_> {
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops the subscriber with `error`, which `subscribe` returns; the first one wins.
    pub(crate) fn fail(&self, error: Error) {
        let mut fatal = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        fatal.get_or_insert(error);
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn done_with(&self, id: &str) {
        let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(id);
    }

    pub(crate) fn is_in_flight(&self, id: &str) -> bool {
        let set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        set.contains(id)
    }
}

/// Runs the subscriber until `stop` is set or `max_events` deliveries are handled; one
/// worker thread per handler. Returns the final totals (also reported to `log`).
///
/// Redis being away is not an error: the subscriber reconnects with backoff. Errors are a
/// bad URL, or a key of the wrong type where the input stream should be.
pub fn subscribe(
    options: &SubscribeOptions,
    handlers: Vec<Handler>,
    log: &dyn EventLog,
    stop: &AtomicBool,
) -> Result<Totals> {
    if handlers.is_empty() {
        return Err(Error::InvalidInput("at least one handler is needed".into()));
    }
    if options.batch == 0 {
        return Err(Error::InvalidInput(
            "the batch size must be at least 1".into(),
        ));
    }
    if options.max_deliveries == 0 {
        return Err(Error::InvalidInput(
            "max deliveries must be at least 1".into(),
        ));
    }
    let client = redis::Client::open(options.redis_url.as_str()).map_err(|e| {
        Error::InvalidInput(format!(
            "invalid Redis URL {:?}: {e}",
            crate::error::display_url(&options.redis_url)
        ))
    })?;
    let shared = Shared {
        options,
        client,
        log,
        stop,
        counters: log::Counters::default(),
        outage: conn::Outage::default(),
        in_flight: Mutex::new(HashSet::new()),
        fatal: Mutex::new(None),
        busy: Default::default(),
        last_busy: Mutex::new(Instant::now()),
    };
    let compactor = handlers[0].store().compactor();
    let finished = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| compact_when_idle(&shared, &compactor, &finished));
        let pool = worker::Pool::start(scope, &shared, handlers);
        let result = match options.transport {
            Transport::Streams => streams::run(&shared, pool),
            Transport::PubSub => pubsub::run(&shared, pool),
        };
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    });
    let totals = shared.counters.snapshot();
    log.totals(&totals, true);
    result?;
    let fatal = shared.fatal.into_inner().unwrap_or_else(|p| p.into_inner());
    match fatal {
        Some(error) => Err(error),
        None => Ok(totals),
    }
}

/// The subscriber's idle time: once no batch has been handled for
/// [`crate::store::Compactor::IDLE`], a due consolidation step runs on this thread (at most
/// one check a second). Workers never wait for it: a batch that arrives meanwhile is
/// committed beside it, as a commit beside a background `compact`.
fn compact_when_idle(
    shared: &Shared<'_>,
    compactor: &crate::store::Compactor,
    finished: &AtomicBool,
) {
    use std::sync::atomic::Ordering;
    let mut checked = Instant::now();
    while !finished.load(Ordering::Relaxed) && !shared.stopping() {
        std::thread::sleep(Duration::from_millis(100));
        if shared.busy.load(Ordering::Relaxed) > 0 || checked.elapsed() < Duration::from_secs(1) {
            continue;
        }
        let last = *shared.last_busy.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() < crate::store::Compactor::IDLE {
            continue;
        }
        checked = Instant::now();
        if let Err(e) = compactor.step() {
            shared.log.warning(&format!(
                "consolidation in idle time failed (the objects stay as they were): {e}"
            ));
        }
    }
}
