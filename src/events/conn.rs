//! Redis connections with timeouts, which errors mean "Redis is away", jittered backoff,
//! and one warning per outage however many threads notice it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::{Client, Connection, RedisError};

use super::log::{Count, Counters, EventLog};

/// Time allowed to open a connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Response timeout of commands that do not block.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Margin of the blocking read's response timeout over its block time.
pub(crate) const BLOCK_MARGIN: Duration = Duration::from_secs(2);
/// First reconnect delay.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Largest reconnect delay.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Opens a connection whose responses time out after `response_timeout`.
pub(crate) fn open(client: &Client, response_timeout: Duration) -> redis::RedisResult<Connection> {
    let con = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    con.set_read_timeout(Some(response_timeout))?;
    con.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    Ok(con)
}

/// Returns true when `e` means the connection or the server is away for now: I/O errors,
/// timeouts, and a server still loading its data or failing over.
pub(crate) fn transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_timeout()
        || matches!(
            e.code(),
            Some("LOADING" | "TRYAGAIN" | "MASTERDOWN" | "CLUSTERDOWN" | "BUSY" | "READONLY")
        )
}

/// The error that ends the subscriber when Redis refuses it a command for lack of
/// permission (`NOPERM`): retrying would only ask again, and again.
/// A `NOPERM` inside a transaction counts too (Redis then aborts the whole `EXEC`).
pub(crate) fn refused(e: &RedisError) -> Option<crate::Error> {
    let noperm = e.code() == Some("NOPERM")
        || e.clone()
            .into_server_errors()
            .is_some_and(|errors| errors.iter().any(|(_, s)| s.code() == "NOPERM"));
    noperm.then(|| crate::Error::Permission {
        message: format!(
            "Redis refused a command: {e}; the subscriber's Redis user needs the ACL of docs/security.md"
        ),
        hint: Some(
            "grant the subscriber's Redis user the commands and keys of docs/security.md (`ACL SETUSER`), then start it again".to_string(),
        ),
    })
}

/// Exponential backoff from 100 ms to 5 s; each delay is drawn between half and all of
/// the current step (which starts at 200 ms and doubles up to 5 s), so subscribers that
/// lost the same server do not come back in step.
#[derive(Debug)]
pub(crate) struct Backoff {
    step: Duration,
    seed: u64,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
        Backoff {
            step: BACKOFF_MIN * 2,
            seed: (nanos ^ (u64::from(std::process::id()) << 32)) | 1,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.step = BACKOFF_MIN * 2;
    }

    /// Returns the next delay and doubles the step, up to the maximum.
    pub(crate) fn next_delay(&mut self) -> Duration {
        // xorshift64: enough spread for jitter, no dependency.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let step = self.step.as_millis() as u64;
        let delay = step / 2 + self.seed % (step / 2 + 1);
        self.step = (self.step * 2).min(BACKOFF_MAX);
        Duration::from_millis(delay)
    }
}

/// Sleeps `delay`, waking early when `stop` is set.
pub(crate) fn sleep(delay: Duration, stop: &AtomicBool) {
    let end = Instant::now() + delay;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// The current outage, shared by every thread talking to Redis.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    since: Mutex<Option<Instant>>,
}

impl Outage {
    /// Records that Redis could not be reached; warns once per outage, adding `note`.
    pub(crate) fn down(&self, log: &dyn EventLog, url: &str, error: &RedisError, note: &str) {
        let mut since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        if since.is_none() {
            *since = Some(Instant::now());
            log.warning(&format!(
                "Redis at {} is unavailable ({error}); reconnecting with backoff (100 ms up to 5 s){note}",
                crate::error::display_url(url)
            ));
        }
    }

    /// Records a working connection; after an outage, reports how long it lasted.
    pub(crate) fn up(&self, log: &dyn EventLog, counters: &Counters) {
        let mut since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(start) = since.take() {
            counters.add(Count::Reconnect);
            log.info(&format!(
                "reconnected to Redis after {} ms",
                start.elapsed().as_millis()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100ms_to_5s_with_jitter() {
        let mut backoff = Backoff::new();
        let delays: Vec<u64> = (0..10)
            .map(|_| backoff.next_delay().as_millis() as u64)
            .collect();
        assert!((100..=200).contains(&delays[0]), "{delays:?}");
        assert!((200..=400).contains(&delays[1]), "{delays:?}");
        for d in &delays[6..] {
            assert!((2500..=5000).contains(d), "{delays:?}");
        }
        let distinct: std::collections::BTreeSet<_> = delays[6..].iter().collect();
        assert!(distinct.len() > 1, "jittered: {delays:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= BACKOFF_MIN * 2);
    }
}
