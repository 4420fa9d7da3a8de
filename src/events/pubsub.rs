//! Redis Pub/Sub, at-most-once, for buses that already publish on channels: the same
//! handling as streams, answers published on the output channel. Redis keeps nothing for
//! an absent subscriber, so what is published while the subscriber is away (stopped,
//! restarting, or cut off from Redis) is lost; each outage says so in its warning.
//!
//! Memory: the client reads one message at a time, and a payload over `MAX_EVENT_BYTES` is
//! reduced to its size and ids before the next is read ([`Body::of`]), so what waits in a
//! worker's queue is never larger than the limit. (Redis itself disconnects a subscriber
//! more than 32 MB behind by default, `client-output-buffer-limit pubsub`.)

use std::time::{Duration, Instant};

use super::conn::{self, Backoff, COMMAND_TIMEOUT};
use super::log::Count;
use super::worker::{Body, Job, Pool};
use super::Shared;
use crate::error::Result;

/// How often a subscriber waiting for messages looks at the stop flag and the totals.
const POLL: Duration = Duration::from_millis(500);

/// Listens until a stop is asked for or `max_events` messages are dispatched.
pub(crate) fn run(shared: &Shared<'_>, pool: Pool) -> Result<()> {
    let mut received = 0u64;
    let mut last_totals = Instant::now();
    let mut backoff = Backoff::new();
    let limit_reached = |n: u64| shared.options.max_events.is_some_and(|max| n >= max);
    let mut connected;
    while !shared.stopping() && !limit_reached(received) {
        connected = false;
        let result = listen(
            shared,
            &pool,
            &mut received,
            &mut last_totals,
            &mut backoff,
            &mut connected,
        );
        match result {
            Ok(()) => break,
            Err(e) if conn::refused(&e).is_some() => {
                return Err(conn::refused(&e).expect("checked above"));
            }
            // One immediate retry for a connection that worked until now and was cut; an
            // error Redis answers would come back at once, so it waits like an outage.
            Err(e) if (connected && conn::transient(&e)) || shared.stopping() => {}
            Err(e) => {
                let note = format!(
                    "; messages published on channel {} until then are lost",
                    shared.options.input
                );
                shared
                    .outage
                    .down(shared.log, &shared.options.redis_url, &e, &note);
                conn::sleep(backoff.next_delay(), shared.stop);
            }
        }
    }
    Ok(())
}

fn listen(
    shared: &Shared<'_>,
    pool: &Pool,
    received: &mut u64,
    last_totals: &mut Instant,
    backoff: &mut Backoff,
    connected: &mut bool,
) -> redis::RedisResult<()> {
    let o = shared.options;
    let mut con = conn::open(&shared.client, COMMAND_TIMEOUT)?;
    let mut pubsub = con.as_pubsub();
    pubsub.subscribe(&o.input)?;
    pubsub.set_read_timeout(Some(POLL))?;
    *connected = true;
    shared.outage.up(shared.log, &shared.counters);
    backoff.reset();
    shared
        .log
        .info(&format!("subscribed to channel {}", o.input));
    loop {
        if shared.stopping() || o.max_events.is_some_and(|max| *received >= max) {
            return Ok(());
        }
        if let Some(every) = o.totals_every {
            if last_totals.elapsed() >= every {
                *last_totals = Instant::now();
                shared.log.totals(&shared.counters.snapshot(), false);
            }
        }
        let body = match pubsub.get_message() {
            // The message is dropped here; only what is within the limit is copied.
            Ok(message) => Body::of(message.get_payload_bytes()),
            Err(e) if e.is_timeout() => continue,
            Err(e) => return Err(e),
        };
        *received += 1;
        shared.counters.add(Count::Received);
        pool.dispatch(Job {
            id: received.to_string(),
            body,
            deliveries: 1,
            recount: false,
        });
    }
}
