//! Worker threads: each owns a [`Handler`] (so its own `Store`) and a Redis connection for
//! answers. Events of one task always go to the same worker, so they commit in order.
//!
//! For each delivery: handle, then write the answer, the dead-letter entry (if any) and the
//! acknowledgement in one MULTI/EXEC, retried across outages. Nothing is acknowledged
//! before its answer is written.

use std::hash::{Hash, Hasher};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;
use std::time::{Duration, Instant};

use redis::{Connection, RedisResult};
use serde_json::Value;

use super::conn::{self, Backoff, COMMAND_TIMEOUT};
use super::handler::failure_event;
use super::log::{Count, EventLine};
use super::{Envelope, EventError, Handled, Handler, Outcome, Shared, Transport};

/// Jobs queued per worker beyond the one in hand.
const QUEUE: usize = 2;
/// Events between two reopenings of a worker's repository (see `Store::reopen`).
const REOPEN_EVERY: u32 = 256;
/// Attempts to write an answer once a stop is asked for, before leaving it pending.
const ATTEMPTS_WHEN_STOPPING: u32 = 8;

/// One delivery of one event.
#[derive(Debug)]
pub(crate) struct Job {
    /// Stream entry id, or the message number on a channel.
    pub(crate) id: String,
    /// The envelope; `None` for a stream entry without an `event` field.
    pub(crate) payload: Option<Vec<u8>>,
    /// Deliveries so far, this one included.
    pub(crate) deliveries: u64,
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
            let (tx, rx) = sync_channel(QUEUE);
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
        let key = job
            .payload
            .as_deref()
            .and_then(|p| Envelope::parse(p).ok())
            .map(|e| e.task_key())
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
    for job in jobs {
        process(&handler, &mut answers, job, shared);
        since_reopen += 1;
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

fn process(handler: &Handler, answers: &mut Answers<'_>, mut job: Job, shared: &Shared<'_>) {
    let start = Instant::now();
    if let Some((handled, dead)) = attempt(handler, &mut job, shared, start) {
        let dead_error = match (&handled.outcome, dead) {
            (Outcome::Failed(e), true) => Some(DeadLetter { error: e }),
            _ => None,
        };
        let reply = match &dead_error {
            Some(d) => Some(failure_event(
                handled.envelope.as_ref(),
                d.error,
                Some(&shared.options.dead_letter),
            )),
            None => handled.reply(),
        };
        if answers.deliver(&job, reply.as_ref(), dead_error.as_ref()) {
            let name = if dead {
                "dead_lettered"
            } else {
                handled.outcome_name()
            };
            count(shared, name);
            log_line(shared, &job, &handled, name, start);
        }
    }
    shared.done_with(&job.id);
}

/// Handles a job until it has an answer: `(handled, dead-letter it)`; `None` when it is
/// left unacknowledged for redelivery. Pub/sub has no redelivery, so it retries here.
fn attempt(
    handler: &Handler,
    job: &mut Job,
    shared: &Shared<'_>,
    start: Instant,
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
        let handled = match &job.payload {
            Some(payload) => handler.handle(payload),
            None => handled_without(job, EventError::NoEventField),
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
    Handled {
        envelope: job.payload.as_deref().and_then(|p| Envelope::parse(p).ok()),
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

/// Writes answers, dead-letter entries and acknowledgements on the worker's connection.
struct Answers<'a> {
    shared: &'a Shared<'a>,
    con: Option<Connection>,
}

impl Answers<'_> {
    /// Writes everything for `job`, retrying across outages; false when it gave up.
    fn deliver(&mut self, job: &Job, reply: Option<&Value>, dead: Option<&DeadLetter<'_>>) -> bool {
        let shared = self.shared;
        let nothing_to_write = reply.is_none() && dead.is_none();
        if nothing_to_write && shared.options.transport == Transport::PubSub {
            return true;
        }
        let pipe = self.pipeline(job, reply, dead);
        let mut backoff = Backoff::new();
        let mut stopping_attempts = 0;
        loop {
            match self.run(&pipe) {
                Ok(()) => {
                    shared.outage.up(shared.log, &shared.counters);
                    return true;
                }
                Err(e) if conn::transient(&e) => {
                    shared
                        .outage
                        .down(shared.log, &shared.options.redis_url, &e, "");
                    if shared.stopping() {
                        stopping_attempts += 1;
                        if stopping_attempts >= ATTEMPTS_WHEN_STOPPING {
                            shared.log.warning(&format!(
                                "stopping without an answer for entry {}: Redis is away; it stays pending",
                                job.id
                            ));
                            return false;
                        }
                    }
                    std::thread::sleep(backoff.next_delay());
                }
                Err(e) => {
                    shared.log.warning(&format!(
                        "Redis refused the answer for entry {}: {e}",
                        job.id
                    ));
                    return false;
                }
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

    fn pipeline(
        &self,
        job: &Job,
        reply: Option<&Value>,
        dead: Option<&DeadLetter<'_>>,
    ) -> redis::Pipeline {
        let o = self.shared.options;
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(reply) = reply {
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
        if let Some(dead) = dead {
            self.dead_letter(&mut pipe, job, dead);
        }
        if o.transport == Transport::Streams {
            pipe.cmd("XACK")
                .arg(&o.input)
                .arg(&o.group)
                .arg(&job.id)
                .ignore();
        }
        pipe
    }

    fn dead_letter(&self, pipe: &mut redis::Pipeline, job: &Job, dead: &DeadLetter<'_>) {
        let o = self.shared.options;
        pipe.cmd("XADD")
            .arg(&o.dead_letter)
            .arg("*")
            .arg("event")
            .arg(job.payload.as_deref().unwrap_or_default())
            .arg("reason")
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
