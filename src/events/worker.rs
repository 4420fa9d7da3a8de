//! Worker threads: each owns a [`Handler`] (so its own `Store`) and a Redis connection for
//! answers. Events of one task always go to the same worker, so they commit in order.
//!
//! A worker takes what is queued for it, up to `batch` deliveries and [`BATCH_BYTES`] of
//! payloads, and handles them as one batch ([`Handler::handle_batch`]: small artifact sets
//! share one pack and one set of flushes). Then it writes every answer, dead-letter entry and acknowledgement of the
//! batch in one MULTI/EXEC, retried across outages. Nothing is acknowledged before its
//! answer is written. Under a light load a batch is one delivery, handled at once.

use std::hash::{Hash, Hasher};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;
use std::time::{Duration, Instant};

use redis::{Connection, RedisResult};
use serde_json::Value;

use super::conn::{self, Backoff, COMMAND_TIMEOUT};
use super::handler::{failure_event, MAX_EVENT_BYTES};
use super::log::{Count, EventLine};
use super::{Envelope, EventError, Handled, Handler, Outcome, Shared, Transport};

/// Events between two reopenings of a worker's repository (see `Store::reopen`).
const REOPEN_EVERY: u32 = 256;
/// How long a stopping worker keeps trying to write its answers while Redis is away before it
/// leaves their entries pending (a restart redelivers them, answered as duplicates).
const GRACE_WHEN_STOPPING: Duration = Duration::from_secs(5);
/// Most payload bytes one batch handles together. A batch's envelopes are parsed and its
/// commit requests (metadata included) built before any of them commits, and a parsed
/// envelope of small JSON values takes many times its size (a 1 MiB array of zeros, 35 MB):
/// sixteen such events in a batch, times the workers, would be a gigabyte. Past this a
/// batch is cut (one event at least), so a worker holds about one large event parsed; the
/// small events group commit is for (a few KB each) are not affected.
const BATCH_BYTES: usize = MAX_EVENT_BYTES;

/// What a delivery carries, decided as it is read: a payload over
/// [`MAX_EVENT_BYTES`](super::handler::MAX_EVENT_BYTES) is dropped there and then, so no
/// queue, batch, answer or dead-letter entry ever holds one.
#[derive(Debug)]
pub(crate) enum Body {
    /// The envelope as received, within the limit.
    Event(Vec<u8>),
    /// A stream entry without an `event` field.
    NoEvent,
    /// A payload over the limit: its size, and its ids when they could be read from it.
    TooLarge {
        /// Size of the payload, in bytes.
        size: usize,
        /// The ids read from it ([`envelope::head`](super::envelope::head)).
        head: Option<Box<Envelope>>,
    },
}

impl Body {
    /// Keeps `payload` when it is within the limit; else only its size and ids.
    pub(crate) fn of(payload: &[u8]) -> Body {
        if payload.len() > MAX_EVENT_BYTES {
            Body::TooLarge {
                size: payload.len(),
                head: super::envelope::head(payload).map(Box::new),
            }
        } else {
            Body::Event(payload.to_vec())
        }
    }

    /// Takes `payload` when it is within the limit; else only its size and ids.
    pub(crate) fn owned(payload: Vec<u8>) -> Body {
        if payload.len() > MAX_EVENT_BYTES {
            Body::of(&payload)
        } else {
            Body::Event(payload)
        }
    }

    /// Bytes of payload held.
    fn len(&self) -> usize {
        self.payload().map_or(0, <[u8]>::len)
    }

    fn payload(&self) -> Option<&[u8]> {
        match self {
            Body::Event(payload) => Some(payload),
            Body::NoEvent | Body::TooLarge { .. } => None,
        }
    }
}

/// One delivery of one event.
#[derive(Debug)]
pub(crate) struct Job {
    /// Stream entry id, or the message number on a channel.
    pub(crate) id: String,
    /// The envelope, or why there is none to handle.
    pub(crate) body: Body,
    /// Deliveries so far, this one included.
    pub(crate) deliveries: u64,
    /// Redis has counted one delivery less (a pending entry re-read after a restart, which
    /// does not count): the worker sets the count to `deliveries` before trying it.
    pub(crate) recount: bool,
}

/// The workers' queues.
pub(crate) struct Pool {
    senders: Vec<SyncSender<Job>>,
}

impl Pool {
    /// Starts one worker per handler inside `scope`.
    pub(crate) fn start<'scope, 'env>(
        scope: &'scope Scope<'scope, 'env>,
        shared: &'env Shared<'env>,
        handlers: Vec<Handler>,
    ) -> Pool {
        let mut senders = Vec::with_capacity(handlers.len());
        for handler in handlers {
            // Queued beyond those in hand: the next batch.
            let (tx, rx) = sync_channel(shared.options.batch);
            senders.push(tx);
            scope.spawn(move || run(handler, rx, shared));
        }
        Pool { senders }
    }

    /// Returns the number of workers.
    pub(crate) fn len(&self) -> usize {
        self.senders.len()
    }

    /// Queues a job on the worker of its task; blocks while that worker is busy.
    pub(crate) fn dispatch(&self, job: Job) {
        if let [only] = &self.senders[..] {
            // One worker: nothing to route, and no envelope to parse a first time for it.
            let _ = only.send(job);
            return;
        }
        // Only the ids are read (not the whole envelope, which the worker parses anyway).
        let key = match &job.body {
            Body::Event(p) => super::envelope::head(p).map(|e| e.task_key()),
            Body::TooLarge { head, .. } => head.as_ref().map(|h| h.task_key()),
            Body::NoEvent => None,
        }
        .unwrap_or_else(|| job.id.clone());
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        let index = (hasher.finish() % self.senders.len() as u64) as usize;
        // A send fails only when the worker is gone; its entry stays pending then.
        let _ = self.senders[index].send(job);
    }
}

fn run(mut handler: Handler, jobs: Receiver<Job>, shared: &Shared<'_>) {
    let mut answers = Answers { shared, con: None };
    let mut since_reopen = 0;
    let streams = shared.options.transport == Transport::Streams;
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        if streams && shared.stopping() {
            // Queued, not in hand: left pending, this consumer takes it up first next time.
            shared.done_with(&first.id);
            continue;
        }
        // A redelivered entry is tried alone: if it is what stopped the last attempt (a
        // crash, a lock held), it holds back no other entry, nor counts against one.
        let alone = first.deliveries > 1;
        let mut bytes = first.body.len();
        let mut batch = vec![first];
        while !alone && batch.len() < shared.options.batch {
            match jobs.try_recv() {
                // A payload that would take the batch past its bytes starts the next one.
                Ok(job) if job.deliveries > 1 || bytes + job.body.len() > BATCH_BYTES => {
                    carried = Some(job);
                    break;
                }
                Ok(job) => {
                    bytes += job.body.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        since_reopen += batch.len() as u32;
        shared
            .busy
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        process(&handler, &mut answers, batch, shared);
        *shared.last_busy.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        shared
            .busy
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        // A failed reopening keeps the handle in use; the next one tries again.
        if since_reopen >= REOPEN_EVERY && handler.reopen_store().is_ok() {
            since_reopen = 0;
        }
    }
}

/// A failure that ends in the dead-letter stream.
struct DeadLetter<'e> {
    error: &'e EventError,
}

/// One delivery with its answer decided.
struct Decided {
    job: Job,
    handled: Handled,
    dead: bool,
}

impl Decided {
    fn dead_letter(&self) -> Option<DeadLetter<'_>> {
        match (&self.handled.outcome, self.dead) {
            (Outcome::Failed(error), true) => Some(DeadLetter { error }),
            _ => None,
        }
    }

    fn reply(&self, shared: &Shared<'_>) -> Option<Value> {
        match self.dead_letter() {
            Some(d) => Some(failure_event(
                self.handled.envelope.as_ref(),
                d.error,
                Some(&shared.options.dead_letter),
            )),
            None => self.handled.reply(),
        }
    }
}

fn process(handler: &Handler, answers: &mut Answers<'_>, batch: Vec<Job>, shared: &Shared<'_>) {
    let start = Instant::now();
    let max = shared.options.max_deliveries;
    // The first attempt of every delivery that gets one, as one batch.
    let fresh: Vec<&[u8]> = batch
        .iter()
        .filter(|job| job.deliveries <= max)
        .filter_map(|job| job.body.payload())
        .collect();
    answers.recount(&batch);
    let mut firsts = handler.handle_batch(&fresh).into_iter();
    let mut decided = Vec::with_capacity(batch.len());
    for mut job in batch {
        let first = match &job.body {
            Body::Event(_) if job.deliveries <= max => firsts.next(),
            _ => None,
        };
        match attempt(handler, &mut job, shared, start, first) {
            Some((handled, dead)) => decided.push(Decided { job, handled, dead }),
            None => shared.done_with(&job.id),
        }
    }
    let delivered = answers.deliver(&decided);
    for (d, delivered) in decided.iter().zip(delivered) {
        if delivered {
            let name = if d.dead {
                "dead_lettered"
            } else {
                d.handled.outcome_name()
            };
            count(shared, name);
            log_line(shared, &d.job, &d.handled, name, start);
        }
        shared.done_with(&d.job.id);
    }
}

/// Handles a job until it has an answer: `(handled, dead-letter it)`; `None` when it is
/// left unacknowledged for redelivery. Pub/sub has no redelivery, so it retries here.
/// `first` is the first attempt, when the batch made it.
fn attempt(
    handler: &Handler,
    job: &mut Job,
    shared: &Shared<'_>,
    start: Instant,
    mut first: Option<Handled>,
) -> Option<(Handled, bool)> {
    let options = shared.options;
    let in_place = options.transport == Transport::PubSub;
    let mut backoff = Backoff::new();
    loop {
        if job.deliveries > options.max_deliveries {
            let error = EventError::TooManyDeliveries {
                deliveries: job.deliveries,
                max: options.max_deliveries,
            };
            return Some((handled_without(job, error), true));
        }
        let handled = match (first.take(), &job.body) {
            (Some(handled), _) => handled,
            (None, Body::Event(payload)) => handler.handle(payload),
            (None, Body::NoEvent) => handled_without(job, EventError::NoEventField),
            (None, Body::TooLarge { size, .. }) => handled_without(
                job,
                EventError::TooLarge {
                    size: *size,
                    max: MAX_EVENT_BYTES,
                },
            ),
        };
        if !handled.retryable() {
            return Some((handled, false));
        }
        if job.deliveries >= options.max_deliveries || (in_place && shared.stopping()) {
            return Some((handled, true));
        }
        log_line(shared, job, &handled, "retry", start);
        shared.counters.add(Count::Retried);
        if !in_place {
            // Left unacknowledged: XAUTOCLAIM delivers it again after `claim_idle`.
            return None;
        }
        conn::sleep(backoff.next_delay(), shared.stop);
        job.deliveries += 1;
    }
}

/// A failure decided without running the handler.
fn handled_without(job: &Job, error: EventError) -> Handled {
    let envelope = match &job.body {
        Body::Event(p) => Envelope::parse(p).ok(),
        Body::TooLarge { head, .. } => head.as_deref().cloned(),
        Body::NoEvent => None,
    };
    Handled {
        envelope,
        outcome: Outcome::Failed(error),
        elapsed: Duration::ZERO,
    }
}

fn count(shared: &Shared<'_>, outcome: &str) {
    let counters = &shared.counters;
    match outcome {
        "committed" => counters.add(Count::Committed),
        "duplicate" => counters.add(Count::Duplicate),
        "ignored" => counters.add(Count::Ignored),
        "dead_lettered" => {
            counters.add(Count::DeadLettered);
            counters.add(Count::Failed);
        }
        _ => counters.add(Count::Failed),
    }
}

fn log_line(
    shared: &Shared<'_>,
    job: &Job,
    handled: &Handled,
    outcome: &'static str,
    start: Instant,
) {
    let (sha, branch, kind, error) = match &handled.outcome {
        Outcome::Committed(done) => (
            Some(done.commit_sha.clone()),
            Some(done.branch.clone()),
            None,
            None,
        ),
        Outcome::Failed(e) => (None, None, Some(e.kind()), Some(e.full_message())),
        Outcome::Ignored { event_type } => {
            (None, None, None, Some(format!("event type {event_type:?}")))
        }
    };
    shared.log.event(&EventLine {
        correlation_id: handled.correlation_id().map(str::to_string),
        outcome,
        commit_sha: sha,
        ms: start.elapsed().as_millis() as u64,
        entry: job.id.clone(),
        deliveries: job.deliveries,
        branch,
        error_kind: kind,
        error,
    });
}

/// How writing a batch's answers ended.
enum Delivery {
    Written,
    /// Redis stayed away while stopping; the entries stay pending.
    GaveUp,
    /// Redis answered with an error.
    Refused(redis::RedisError),
}

/// Writes answers, dead-letter entries and acknowledgements on the worker's connection.
struct Answers<'a> {
    shared: &'a Shared<'a>,
    con: Option<Connection>,
}

impl Answers<'_> {
    /// Writes everything for a batch in one transaction, retrying across outages; returns,
    /// per delivery, whether its answer is written. When Redis refuses the transaction
    /// (not an outage), each delivery is tried on its own, so one bad entry holds no other.
    fn deliver(&mut self, decided: &[Decided]) -> Vec<bool> {
        let shared = self.shared;
        let writes: Vec<bool> = decided.iter().map(|d| self.writes_something(d)).collect();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (d, _) in decided.iter().zip(&writes).filter(|(_, w)| **w) {
            self.add_commands(&mut pipe, d);
        }
        if !writes.contains(&true) {
            return vec![true; decided.len()];
        }
        let label = match decided {
            [one] => format!("entry {}", one.job.id),
            many => format!("{} entries", many.len()),
        };
        match self.run_until_done(&pipe, &label) {
            Delivery::Written => vec![true; decided.len()],
            Delivery::GaveUp => writes.iter().map(|w| !w).collect(),
            Delivery::Refused(_) if decided.len() > 1 => decided
                .iter()
                .zip(&writes)
                .map(|(d, w)| !w || self.deliver(std::slice::from_ref(d))[0])
                .collect(),
            Delivery::Refused(e) => {
                shared
                    .log
                    .warning(&format!("Redis refused the answer for {label}: {e}"));
                if let Some(fatal) = conn::refused(&e) {
                    // Every later answer would be refused too: stop, the entry stays pending.
                    shared.fail(fatal);
                }
                vec![false]
            }
        }
    }

    /// Sets Redis's delivery count of the re-read entries about to be tried (one XCLAIM
    /// each, one round trip); with Redis away they are tried anyway, uncounted.
    fn recount(&mut self, batch: &[Job]) {
        let o = self.shared.options;
        let mut pipe = redis::pipe();
        let mut any = false;
        for job in batch
            .iter()
            .filter(|j| j.recount && j.deliveries <= o.max_deliveries)
        {
            pipe.cmd("XCLAIM")
                .arg(&o.input)
                .arg(&o.group)
                .arg(&o.consumer)
                .arg(0)
                .arg(&job.id)
                .arg("RETRYCOUNT")
                .arg(job.deliveries)
                .arg("JUSTID")
                .ignore();
            any = true;
        }
        if any {
            if let Err(e) = self.run(&pipe) {
                self.shared.log.warning(&format!(
                    "could not count the redelivery of {} entries: {e}",
                    batch.len()
                ));
                if let Some(fatal) = conn::refused(&e) {
                    self.shared.fail(fatal);
                }
            }
        }
    }

    /// Whether a delivery has anything to write: an acknowledgement, or an answer (every
    /// outcome but an ignored event has one; a dead-lettered one is a failure). Decided
    /// from the outcome, so the answer is built once, by [`Answers::add_commands`].
    fn writes_something(&self, d: &Decided) -> bool {
        self.shared.options.transport == Transport::Streams
            || !matches!(d.handled.outcome, Outcome::Ignored { .. })
    }

    /// Runs `pipe`, retrying across outages.
    fn run_until_done(&mut self, pipe: &redis::Pipeline, label: &str) -> Delivery {
        let shared = self.shared;
        let mut backoff = Backoff::new();
        let mut stopping_since: Option<Instant> = None;
        loop {
            match self.run(pipe) {
                Ok(()) => {
                    shared.outage.up(shared.log, &shared.counters);
                    return Delivery::Written;
                }
                Err(e) if conn::transient(&e) => {
                    shared
                        .outage
                        .down(shared.log, &shared.options.redis_url, &e, "");
                    let mut delay = backoff.next_delay();
                    if shared.stopping() {
                        let since = *stopping_since.get_or_insert_with(Instant::now);
                        let left = GRACE_WHEN_STOPPING.saturating_sub(since.elapsed());
                        if left.is_zero() {
                            shared.log.warning(&format!(
                                "stopping without an answer for {label}: Redis is away; it stays pending"
                            ));
                            return Delivery::GaveUp;
                        }
                        delay = delay.min(left);
                    }
                    std::thread::sleep(delay);
                }
                Err(e) => return Delivery::Refused(e),
            }
        }
    }

    /// Runs `pipe` on the open connection, or on a fresh one when that fails.
    fn run(&mut self, pipe: &redis::Pipeline) -> RedisResult<()> {
        if let Some(con) = &mut self.con {
            match pipe.query::<()>(con) {
                Ok(()) => return Ok(()),
                Err(e) if !conn::transient(&e) => return Err(e),
                Err(_) => self.con = None,
            }
        }
        let mut con = conn::open(&self.shared.client, COMMAND_TIMEOUT)?;
        pipe.query::<()>(&mut con)?;
        self.con = Some(con);
        Ok(())
    }

    /// Adds one delivery's answer, dead-letter entry and acknowledgement to `pipe`.
    fn add_commands(&self, pipe: &mut redis::Pipeline, d: &Decided) {
        let o = self.shared.options;
        if let Some(reply) = d.reply(self.shared) {
            let text = reply.to_string();
            match o.transport {
                Transport::Streams => pipe
                    .cmd("XADD")
                    .arg(&o.output)
                    .arg("*")
                    .arg("event")
                    .arg(text),
                Transport::PubSub => pipe.cmd("PUBLISH").arg(&o.output).arg(text),
            };
            pipe.ignore();
        }
        if let Some(dead) = d.dead_letter() {
            self.dead_letter(pipe, &d.job, &dead);
        }
        if o.transport == Transport::Streams {
            pipe.cmd("XACK")
                .arg(&o.input)
                .arg(&o.group)
                .arg(&d.job.id)
                .ignore();
        }
    }

    /// Adds the dead-letter entry: the payload as received, or for one over the limit
    /// (never held) its `size` and the `correlation_id` read from it.
    fn dead_letter(&self, pipe: &mut redis::Pipeline, job: &Job, dead: &DeadLetter<'_>) {
        let o = self.shared.options;
        let cmd = pipe.cmd("XADD").arg(&o.dead_letter).arg("*");
        match &job.body {
            Body::Event(payload) => cmd.arg("event").arg(payload.as_slice()),
            Body::NoEvent => cmd.arg("event").arg(""),
            Body::TooLarge { size, head } => {
                cmd.arg("size").arg(*size);
                match head.as_ref().and_then(|h| h.correlation_id.as_deref()) {
                    Some(corr) => cmd.arg("correlation_id").arg(corr),
                    None => cmd,
                }
            }
        };
        cmd.arg("reason")
            .arg(dead.error.full_message())
            .arg("kind")
            .arg(dead.error.kind())
            .arg("source")
            .arg(&o.input)
            .arg("source_id")
            .arg(&job.id)
            .arg("deliveries")
            .arg(job.deliveries)
            .arg("consumer")
            .arg(&o.consumer)
            .ignore();
    }
}
