//! `artifact-store subscribe`: the event-driven committer on Redis.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use artifact_store::events::{self, Handler, HandlerOptions, SubscribeOptions, Transport};
use artifact_store::{Error, Result};

use super::eventlog::{LogFormat, StderrLog};
use super::Ctx;

/// Commit the artifacts of `TEST_PASSED` events from Redis and answer `ARTIFACT_COMMITTED`.
///
/// Each event's `data.artifacts` paths are resolved under --artifacts-root (a path that
/// leaves it fails the event unread) and committed like `artifact-store commit`, with
/// `data.metrics` as `test_metrics`. The answer (`ARTIFACT_COMMITTED`, with
/// `"duplicate": true` for a correlation id already committed, or `ARTIFACT_COMMIT_FAILED`
/// naming the error kind) goes to --output.
///
/// streams (default): a consumer group on the --input stream, at-least-once. An entry is
/// acknowledged only after its commit (or its final failure) and its answer are written;
/// failures that may pass (a lock held) are retried by redelivery, up to --max-deliveries,
/// then moved to --dead-letter. pubsub: channels, at-most-once; messages published while
/// the subscriber is away are lost.
///
/// Logs go to stderr, one line per event and a totals line every --totals-every seconds.
/// SIGINT/SIGTERM finish the events in hand (one batch per worker), acknowledge them and
/// exit 0; entries read but not yet in hand stay pending for the next start.
///
/// Example:
///   artifact-store --repo /srv/artifacts.git subscribe --artifacts-root /srv/runs
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SubscribeArgs {
    /// Redis server; `redis://USER:PASSWORD@HOST:PORT` for an ACL user. Prefer the
    /// environment for a password: a flag is visible to other users in the process list.
    #[arg(
        long,
        env = "REDIS_URL",
        hide_env_values = true,
        value_name = "URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis: String,
    /// Streams (consumer group, at-least-once) or pub/sub (channels, at-most-once).
    #[arg(long, value_enum, value_name = "T", default_value_t = TransportArg::Streams)]
    transport: TransportArg,
    /// Stream (or channel) to read events from.
    #[arg(long, value_name = "NAME", default_value = "test_results")]
    input: String,
    /// Stream (or channel) to write outcome events to.
    #[arg(long, value_name = "NAME", default_value = "workflow_events")]
    output: String,
    /// Consumer group (streams).
    #[arg(long, value_name = "NAME", default_value = "artifact-store")]
    group: String,
    /// Consumer name in the group (streams) [default: <host name>-<pid>]. A subscriber
    /// restarted with the same name takes up its own pending entries at once; others
    /// are claimed after --claim-idle-ms.
    #[arg(long, value_name = "NAME")]
    consumer: Option<String>,
    /// Directory every artifact path resolves under; nothing outside it is read.
    #[arg(long, value_name = "DIR", default_value = ".")]
    artifacts_root: PathBuf,
    /// Deliveries of one entry without success before it goes to the dead-letter stream.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    max_deliveries: u64,
    /// Stream that takes entries delivered --max-deliveries times [default: <input>:dlq].
    #[arg(long, value_name = "NAME")]
    dead_letter: Option<String>,
    /// Also commit `TEST_FAILED` events, with `test_status: failed` (else they are ignored).
    #[arg(long)]
    commit_failed: bool,
    /// Stop after handling N deliveries (for scripts and tests).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_events: Option<u64>,
    /// Worker threads, each with its own store handle; one task's events stay in order on
    /// one [default: the number of cores, at most 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    workers: Option<u64>,
    /// Deliveries one worker commits together when events arrive faster than they are
    /// committed: their small artifact sets share one pack and one set of disk flushes.
    /// Each event still succeeds or fails on its own. 1 commits one at a time.
    #[arg(long, value_name = "N", default_value_t = events::DEFAULT_BATCH as u64, value_parser = clap::value_parser!(u64).range(1..=256))]
    batch: u64,
    /// Claim entries pending longer than this from any consumer (a dead one, or this one
    /// after a failure that may pass); keep it above the slowest commit.
    #[arg(long, value_name = "MS", default_value_t = 60_000)]
    claim_idle_ms: u64,
    /// How often to look for such entries.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    claim_every_ms: u64,
    /// Seconds between totals lines; 0 prints them only at exit.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    totals_every: u64,
    /// Log lines as text or JSON objects, on stderr.
    #[arg(long, value_enum, value_name = "F", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportArg {
    Streams,
    Pubsub,
}

/// Runs `subscribe` until SIGINT, SIGTERM or --max-events.
pub fn run(ctx: &Ctx, args: &SubscribeArgs) -> Result<()> {
    let options = options(args);
    let handler_options = HandlerOptions {
        artifacts_root: args.artifacts_root.clone(),
        commit_failed: args.commit_failed,
    };
    let workers = args.workers.unwrap_or_else(default_workers);
    let mut handlers = Vec::new();
    for _ in 0..workers {
        handlers.push(Handler::new(ctx.store()?, &handler_options)?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping ends the process at once.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(Error::io(
                "failed to install a signal handler for",
                "SIGINT/SIGTERM",
            ))?;
    }
    let log = StderrLog::new(args.log_format);
    log.started(&options, &handlers, workers);
    events::subscribe(&options, handlers, &log, &stop)?;
    Ok(())
}

fn options(args: &SubscribeArgs) -> SubscribeOptions {
    let transport = match args.transport {
        TransportArg::Streams => Transport::Streams,
        TransportArg::Pubsub => Transport::PubSub,
    };
    let mut options = SubscribeOptions::new(&args.redis, transport);
    options.input = args.input.clone();
    options.output = args.output.clone();
    options.group = args.group.clone();
    options.consumer = args
        .consumer
        .clone()
        .unwrap_or_else(|| format!("{}-{}", host_name(), std::process::id()));
    options.dead_letter = args
        .dead_letter
        .clone()
        .unwrap_or_else(|| format!("{}:dlq", args.input));
    options.max_deliveries = args.max_deliveries;
    options.max_events = args.max_events;
    options.batch = args.batch as usize;
    options.claim_idle = Duration::from_millis(args.claim_idle_ms);
    options.claim_every = Duration::from_millis(args.claim_every_ms);
    options.totals_every = (args.totals_every > 0).then(|| Duration::from_secs(args.totals_every));
    options
}

/// One worker per core, at most 4: a commit is mostly CPU (scan, hash, compress) with a
/// few flushes, so more workers than cores only queue on them.
fn default_workers() -> u64 {
    artifact_store::progress::cores().min(4) as u64
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{Cli, Command};
    use super::*;

    fn parse(args: &[&str]) -> SubscribeOptions {
        let mut full = vec!["artifact-store", "subscribe"];
        full.extend_from_slice(args);
        let cli = Cli::try_parse_from(full).unwrap();
        let Command::Subscribe(args) = cli.command else {
            panic!("not subscribe")
        };
        options(&args)
    }

    #[test]
    fn subscribe_flags_default_as_documented() {
        std::env::remove_var("REDIS_URL");
        let o = parse(&[]);
        assert_eq!(o.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(o.transport, Transport::Streams);
        assert_eq!(
            (o.input.as_str(), o.output.as_str()),
            ("test_results", "workflow_events")
        );
        assert_eq!(o.group, "artifact-store");
        assert_eq!(
            o.consumer,
            format!("{}-{}", host_name(), std::process::id())
        );
        assert_eq!(o.dead_letter, "test_results:dlq");
        assert_eq!(o.max_deliveries, 5);
        assert_eq!(o.max_events, None);
        assert_eq!(o.batch, 16);
        assert_eq!(parse(&["--batch", "1"]).batch, 1);
        let zero = Cli::try_parse_from(["artifact-store", "subscribe", "--batch", "0"]);
        assert!(zero.is_err(), "a batch of none is refused");
        let o = parse(&[
            "--input",
            "runs",
            "--transport",
            "pubsub",
            "--max-events",
            "3",
        ]);
        assert_eq!(o.dead_letter, "runs:dlq");
        assert_eq!(o.transport, Transport::PubSub);
        assert_eq!(o.max_events, Some(3));
    }
}
