//! Redis Streams, at-least-once: a consumer group created with MKSTREAM (and again on
//! `NOGROUP`); on start and after every reconnect this consumer's own pending entries
//! first (read with id `0`), then new ones (`>`); every `claim_every`, XAUTOCLAIM of
//! entries idle longer than `claim_idle` from any consumer (a dead one, or this one after
//! a failure that may pass). Workers acknowledge; this thread only reads.
//!
//! The blocking read has its own connection, with a response timeout above its block time.
//!
//! Memory: every command that returns entry bodies asks for one entry (`XREADGROUP ...
//! COUNT 1`, `XRANGE id id`; XAUTOCLAIM claims with `JUSTID`), so the largest reply held is
//! one entry, whatever the batch size and however many oversized entries Redis holds; an
//! `event` field over `MAX_EVENT_BYTES` is reduced to its size and ids as it is read
//! ([`Body::of`]), and every other field is dropped there.
//!
//! Replies: XPENDING and XAUTOCLAIM (ids and counts only) are read with the redis crate's
//! `streams` types. The replies that carry entry bodies (XREADGROUP, XRANGE) are read here
//! from `redis::Value`, because the crate's `StreamReadReply` clones the whole reply before
//! parsing it (once more when the first layout does not fit), which holds two copies of
//! the largest entry at once and undoes the bound above, and because its
//! `HashMap<String, Value>` of fields refuses a field name that is not UTF-8: the whole
//! reply fails, and one such entry, published by anyone who may `XADD`, would stop the
//! reader on every read. Here such a field is passed over like any other field.

use std::time::Instant;

use redis::streams::{StreamAutoClaimReply, StreamPendingCountReply, StreamPendingId};
use redis::{Connection, RedisResult, Value};

use super::conn::{self, Backoff, BLOCK_MARGIN, COMMAND_TIMEOUT};
use super::log::Count;
use super::worker::{Body, Job, Pool};
use super::Shared;
use crate::error::{Error, Result};

/// Most XAUTOCLAIM rounds in one pass.
const CLAIM_ROUNDS: usize = 16;

/// One entry of a reply: its id and, unless it was deleted, its `event` field.
struct Entry {
    id: String,
    /// `None` when the entry is gone from the stream.
    body: Option<Body>,
}

struct Reader<'a> {
    shared: &'a Shared<'a>,
    pool: Pool,
    workers: usize,
    dispatched: u64,
    /// True once the current session reached Redis.
    connected: bool,
    last_claim: Option<Instant>,
    last_totals: Instant,
}

/// Reads until a stop is asked for or `max_events` deliveries are dispatched.
pub(crate) fn run(shared: &Shared<'_>, pool: Pool) -> Result<()> {
    let mut reader = Reader {
        shared,
        workers: pool.len(),
        pool,
        dispatched: 0,
        connected: false,
        last_claim: None,
        last_totals: Instant::now(),
    };
    let mut backoff = Backoff::new();
    while !reader.done() {
        reader.connected = false;
        match reader.session(&mut backoff) {
            Ok(()) => break,
            Err(e) if e.code() == Some("WRONGTYPE") => {
                // The deployment's keys, not the user's input: a configuration to fix.
                return Err(Error::Config {
                    origin: None,
                    message: format!(
                        "--input {} names a Redis key that exists and is not a stream: {e}",
                        shared.options.input
                    ),
                });
            }
            Err(e) if conn::refused(&e).is_some() => {
                return Err(conn::refused(&e).expect("checked above"));
            }
            // A connection that worked until now gets one immediate retry: a stale
            // socket is not an outage. A failure to reconnect is, and so is an error
            // Redis answers (which would come back at once).
            Err(e) if (reader.connected && conn::transient(&e)) || shared.stopping() => {}
            Err(e) => {
                shared
                    .outage
                    .down(shared.log, &shared.options.redis_url, &e, "");
                conn::sleep(backoff.next_delay(), shared.stop);
            }
        }
    }
    Ok(())
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.shared.stopping() || self.remaining() == Some(0)
    }

    fn remaining(&self) -> Option<u64> {
        let max = self.shared.options.max_events?;
        Some(max.saturating_sub(self.dispatched))
    }

    /// Entry ids listed at once (XPENDING, XAUTOCLAIM ... JUSTID): a batch for every worker.
    fn batch(&self) -> usize {
        let batch = (self.shared.options.batch * self.workers) as u64;
        self.remaining().map_or(batch, |r| r.min(batch)) as usize
    }

    /// One connected stretch: group, own pending, then new entries and periodic claims.
    fn session(&mut self, backoff: &mut Backoff) -> RedisResult<()> {
        let o = self.shared.options;
        let mut blocking = conn::open(&self.shared.client, o.block + BLOCK_MARGIN)?;
        let mut cmd = conn::open(&self.shared.client, COMMAND_TIMEOUT)?;
        self.ensure_group(&mut cmd)?;
        self.connected = true;
        self.shared
            .outage
            .up(self.shared.log, &self.shared.counters);
        backoff.reset();
        self.own_pending(&mut cmd)?;
        while !self.done() {
            self.tick_totals();
            let claim_due = self.last_claim.is_none_or(|t| t.elapsed() >= o.claim_every);
            if claim_due {
                self.claim(&mut cmd)?;
                self.last_claim = Some(Instant::now());
                continue;
            }
            let reply: RedisResult<Value> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&o.group)
                .arg(&o.consumer)
                // One entry a read: a reply of `batch` entries could be `batch` times the
                // largest entry Redis accepts. Workers still batch what is queued for them.
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(o.block.as_millis() as u64)
                .arg("STREAMS")
                .arg(&o.input)
                .arg(">")
                .query(&mut blocking);
            match reply {
                Ok(value) => {
                    for entry in read_reply(value) {
                        self.dispatch(entry, 1, false);
                    }
                }
                Err(e) if e.code() == Some("NOGROUP") => {
                    self.ensure_group(&mut cmd)?;
                    self.own_pending(&mut cmd)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Creates the group at the stream's start (MKSTREAM); an existing group is kept.
    fn ensure_group(&self, cmd: &mut Connection) -> RedisResult<()> {
        let o = self.shared.options;
        let created: RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&o.input)
            .arg(&o.group)
            .arg("0")
            .arg("MKSTREAM")
            .query(cmd);
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e),
            Ok(()) => {
                self.shared.log.info(&format!(
                    "created consumer group {} on stream {}",
                    o.group, o.input
                ));
                Ok(())
            }
        }
    }

    /// Dispatches this consumer's pending entries, oldest first, skipping those in hand.
    ///
    /// They are listed with XPENDING and read with XRANGE, neither of which counts a
    /// delivery: re-reading them with XREADGROUP would, for every entry a killed subscriber
    /// had read but not begun (a worker's queue), so a subscriber killed a few times in a
    /// row during a burst would dead-letter entries it never tried. Each entry's count goes
    /// up instead when a worker takes it up ([`Job::recount`]): an entry that kills the
    /// subscriber every time it is tried still reaches `--max-deliveries`.
    fn own_pending(&mut self, cmd: &mut Connection) -> RedisResult<()> {
        let o = self.shared.options;
        let mut from = "-".to_string();
        while !self.done() {
            let reply: StreamPendingCountReply = redis::cmd("XPENDING")
                .arg(&o.input)
                .arg(&o.group)
                .arg(&from)
                .arg("+")
                .arg(self.batch())
                .arg(&o.consumer)
                .query(cmd)?;
            let Some(last) = reply.ids.last() else {
                return Ok(());
            };
            from = format!("({}", last.id);
            for StreamPendingId {
                id,
                times_delivered,
                ..
            } in reply.ids
            {
                let count = times_delivered as u64;
                if self.done() {
                    break;
                }
                if self.shared.is_in_flight(&id) {
                    continue;
                }
                let body = self.read_entry(cmd, &id)?;
                self.dispatch(Entry { id, body }, count + 1, true);
            }
        }
        Ok(())
    }

    /// Reads one entry by id (`XRANGE id id`); `None` when it was deleted from the stream.
    fn read_entry(&self, cmd: &mut Connection, id: &str) -> RedisResult<Option<Body>> {
        let value: Value = redis::cmd("XRANGE")
            .arg(&self.shared.options.input)
            .arg(id)
            .arg(id)
            .query(cmd)?;
        Ok(entries_of(value).into_iter().next().and_then(|e| e.body))
    }

    /// Claims entries idle longer than `claim_idle`, from dead consumers or this one.
    ///
    /// They are claimed by id (`JUSTID`, which counts no delivery) and read one at a time,
    /// like this consumer's own pending entries after a restart; each one's count goes up
    /// when a worker takes it up ([`Job::recount`]).
    fn claim(&mut self, cmd: &mut Connection) -> RedisResult<()> {
        let o = self.shared.options;
        let mut start = "0-0".to_string();
        for _ in 0..CLAIM_ROUNDS {
            if self.done() {
                break;
            }
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(&o.input)
                .arg(&o.group)
                .arg(&o.consumer)
                .arg(o.claim_idle.as_millis() as u64)
                .arg(&start)
                .arg("COUNT")
                .arg(self.batch())
                .arg("JUSTID")
                .query(cmd)?;
            if !reply.deleted_ids.is_empty() {
                self.shared.log.warning(&format!(
                    "{} pending entries of {} were deleted from the stream before being handled",
                    reply.deleted_ids.len(),
                    o.input
                ));
            }
            let ids = reply.claimed.into_iter().map(|entry| entry.id).collect();
            self.redeliver(ids, cmd)?;
            if reply.next_stream_id == "0-0" {
                break;
            }
            start = reply.next_stream_id;
        }
        Ok(())
    }

    /// Reads and dispatches claimed entries, one at a time, with their delivery counts
    /// from XPENDING plus this one (counted when a worker takes it up).
    fn redeliver(&mut self, ids: Vec<String>, cmd: &mut Connection) -> RedisResult<()> {
        for id in ids {
            if self.done() {
                break;
            }
            if self.shared.is_in_flight(&id) {
                continue;
            }
            let deliveries = self.deliveries(cmd, &id)?;
            let body = self.read_entry(cmd, &id)?;
            self.dispatch(Entry { id, body }, deliveries + 1, true);
        }
        Ok(())
    }

    fn deliveries(&self, cmd: &mut Connection, id: &str) -> RedisResult<u64> {
        let o = self.shared.options;
        let reply: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&o.input)
            .arg(&o.group)
            .arg(id)
            .arg(id)
            .arg(1)
            .query(cmd)?;
        Ok(reply
            .ids
            .first()
            .map_or(1, |pending| pending.times_delivered as u64))
    }

    /// Queues an entry on its worker; `recount`: Redis has not counted this delivery yet.
    fn dispatch(&mut self, entry: Entry, deliveries: u64, recount: bool) {
        if self.shared.stopping() {
            return;
        }
        let Some(body) = entry.body else {
            self.shared.log.warning(&format!(
                "entry {} of {} was deleted from the stream while pending; skipped",
                entry.id, self.shared.options.input
            ));
            return;
        };
        {
            let mut set = self
                .shared
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            set.insert(entry.id.clone());
        }
        self.dispatched += 1;
        self.shared.counters.add(Count::Received);
        self.pool.dispatch(Job {
            id: entry.id,
            body,
            deliveries,
            recount,
        });
    }

    fn tick_totals(&mut self) {
        if let Some(every) = self.shared.options.totals_every {
            if self.last_totals.elapsed() >= every {
                self.last_totals = Instant::now();
                self.shared
                    .log
                    .totals(&self.shared.counters.snapshot(), false);
            }
        }
    }
}

/// Reads an XREADGROUP reply (RESP2 array or RESP3 map of one stream) into entries.
fn read_reply(value: Value) -> Vec<Entry> {
    let streams = match value {
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        _ => return Vec::new(),
    };
    streams
        .into_iter()
        .filter_map(|stream| match stream {
            Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
            _ => None,
        })
        .flat_map(entries_of)
        .collect()
}

fn entries_of(value: Value) -> Vec<Entry> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(mut parts) = item else {
                return None;
            };
            let fields = if parts.len() > 1 {
                parts.remove(1)
            } else {
                Value::Nil
            };
            let id = parts.into_iter().next().and_then(text)?;
            let body = match fields {
                Value::Array(kv) => Some(event_field(kv)),
                Value::Map(pairs) => Some(event_field(
                    pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
                )),
                _ => None,
            };
            Some(Entry { id, body })
        })
        .collect()
}

/// The entry's `event` field, reduced to its size and ids when over the limit; the other
/// fields are dropped as they are passed.
fn event_field(kv: Vec<Value>) -> Body {
    let mut iter = kv.into_iter();
    while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
        if text(k).as_deref() == Some("event") {
            return bytes(v).map_or(Body::NoEvent, Body::owned);
        }
    }
    Body::NoEvent
}

fn bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

fn text(value: Value) -> Option<String> {
    bytes(value).and_then(|b| String::from_utf8(b).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::FromRedisValue;

    /// An XREADGROUP reply of one entry whose fields are a non-UTF-8 name and `event`.
    fn reply_with_binary_field() -> Value {
        let fields = Value::Array(vec![
            Value::BulkString(b"\xff\xfe".to_vec()),
            Value::BulkString(b"x".to_vec()),
            Value::BulkString(b"event".to_vec()),
            Value::BulkString(b"{}".to_vec()),
        ]);
        let entry = Value::Array(vec![Value::BulkString(b"1-0".to_vec()), fields]);
        let stream = Value::Array(vec![
            Value::BulkString(b"in".to_vec()),
            Value::Array(vec![entry]),
        ]);
        Value::Array(vec![stream])
    }

    #[test]
    fn a_field_name_that_is_not_utf8_is_passed_over_where_the_crates_reply_type_fails() {
        let crates = redis::streams::StreamReadReply::from_redis_value(reply_with_binary_field());
        assert!(
            crates.is_err(),
            "the redis crate now reads it: use its type"
        );
        let ours = read_reply(reply_with_binary_field());
        assert_eq!(ours.len(), 1);
        assert_eq!(ours[0].id, "1-0");
        assert!(
            matches!(ours[0].body, Some(Body::Event(_))),
            "{:?}",
            ours[0].body.is_some()
        );
    }
}
