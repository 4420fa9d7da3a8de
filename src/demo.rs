//! The demo: a store in a fresh directory, the sample run committed, its history shown.
//!
//! The sample files are compiled in, so `artifact-store demo` works from any directory.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, Result};
use crate::input::InputSpec;
use crate::metadata::TestStatus;
use crate::refs::{CorrelationId, PromptHash, TaskId, WorkflowId};
use crate::store::{OpenOptions, Store};
use crate::{CommitOutcome, CommitRequest};

/// The sample artifact set in `fixtures/sample-run/`.
pub const SAMPLE_RUN: &[(&str, &str)] = &[
    (
        "strategy.py",
        include_str!("../fixtures/sample-run/strategy.py"),
    ),
    (
        "test_report.json",
        include_str!("../fixtures/sample-run/test_report.json"),
    ),
    (
        "trades.csv",
        include_str!("../fixtures/sample-run/trades.csv"),
    ),
    (
        "equity_curve.csv",
        include_str!("../fixtures/sample-run/equity_curve.csv"),
    ),
    (
        "events.log",
        include_str!("../fixtures/sample-run/events.log"),
    ),
];

/// What the demo did.
#[derive(Debug, serde::Serialize)]
pub struct DemoReport {
    /// The store's git directory.
    pub store: PathBuf,
    /// The agent's output directory that was committed.
    pub run_dir: PathBuf,
    /// Each commit made, in order: first run, second run, a redelivery of the second.
    pub commits: Vec<CommitOutcome>,
}

/// Creates a bare store under `dir`, commits the sample run twice and redelivers the second.
pub fn run(dir: &Path) -> Result<DemoReport> {
    let store_path = dir.join("store.git");
    Store::init(&store_path, true)?;
    let run_dir = dir.join("agent-output");
    std::fs::create_dir_all(&run_dir).map_err(Error::io("failed to create", &run_dir))?;
    for (name, text) in SAMPLE_RUN {
        let path = run_dir.join(name);
        std::fs::write(&path, text).map_err(Error::io("failed to write", &path))?;
    }
    let store = Store::open(&OpenOptions {
        repo: Some(store_path),
        ..OpenOptions::default()
    })?;
    let mut commits = vec![store.commit(request(&run_dir, "demo-001", 98.2, 0.51)?)?];
    let trades = run_dir.join("trades.csv");
    let more = format!(
        "{}2025-11-07T18:02:00Z,BTC-USD,sell,0.05,67412.10,22.30\n",
        SAMPLE_RUN[2].1
    );
    std::fs::write(&trades, more).map_err(Error::io("failed to write", &trades))?;
    let curve = run_dir.join("equity_curve.csv");
    std::fs::write(&curve, second_curve(SAMPLE_RUN[3].1))
        .map_err(Error::io("failed to write", &curve))?;
    commits.push(store.commit(request(&run_dir, "demo-002", 120.5, 0.58)?)?);
    commits.push(store.commit(request(&run_dir, "demo-002", 120.5, 0.58)?)?);
    Ok(DemoReport {
        store: store.git_dir().to_path_buf(),
        run_dir,
        commits,
    })
}

/// The second run's equity curve: the first run's moves, larger and with a slower start,
/// so that the two curves part visibly when compared.
fn second_curve(first: &str) -> String {
    let mut out = String::new();
    for (i, line) in first.lines().enumerate() {
        let parsed = line
            .split_once(',')
            .and_then(|(t, v)| v.trim().parse::<f64>().ok().map(|v| (t, v)));
        match parsed {
            Some((t, equity)) => {
                let wave = ((i as f64) * 0.7).sin() * 6.0 - (i as f64) * 0.4;
                let v = 10_000.0 + (equity - 10_000.0) * 1.3 + wave;
                out.push_str(&format!("{t},{v:.2}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn request(run_dir: &Path, corr: &str, pnl: f64, win_rate: f64) -> Result<CommitRequest> {
    let mut request = CommitRequest::new(
        WorkflowId::new("wf_rsi_strategy")?,
        TaskId::new("task_coder_001")?,
        vec![InputSpec::path(run_dir.join("."))],
    );
    request.correlation_id = Some(CorrelationId::new(corr)?);
    request.prompt_hash = Some(PromptHash::new("7a8b9c0d1e2f3a4b")?);
    request.status = Some(TestStatus::Passed);
    let meta = json!({
        "agent_version": "coder-v1.0",
        "llm_version": "gpt-4",
        "test_metrics": {"total_trades": 12, "net_pnl": pnl, "win_rate": win_rate}
    });
    request.metadata = meta.as_object().cloned().unwrap_or_default();
    Ok(request)
}
