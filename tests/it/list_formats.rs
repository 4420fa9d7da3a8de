//! `list --format json|jsonl|csv`: the catalog as analysts read it. The CSV is read back
//! with Python's own `csv` module, as a notebook would.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Env;
use serde_json::Value;

/// Commits one set of workflow `wf`, task `task`, with `--set` pairs, at `secs`.
fn commit(env: &Env, store: &Path, task: &str, corr: &str, secs: i64, sets: &[&str]) {
    env.write(&format!("runs/{corr}/out.txt"), corr);
    let dir = env.path(&format!("runs/{corr}"));
    let mut args = vec!["-w", "wf", "-t", task];
    args.extend(["--correlation-id", corr, "--status", "passed"]);
    for pair in sets {
        args.extend(["--set", pair]);
    }
    env.commit_dated(store, secs, &args, &dir);
}

/// Three sets whose metadata holds everything CSV has to quote, and formulas.
fn store(env: &Env) -> PathBuf {
    let store = env.store();
    commit(
        env,
        &store,
        "t1",
        "r1",
        1_700_000_000,
        &[
            "test_metrics.net_pnl=-5.25",
            "test_metrics.win_rate=0.5",
            "llm_version=gpt-4, \"turbo\"",
            "notes=line one\nline two",
        ],
    );
    commit(
        env,
        &store,
        "t2",
        "r2",
        1_700_000_100,
        &[
            "test_metrics.net_pnl=120.5",
            "test_metrics.trades=42",
            "notes==HYPERLINK(\"http://evil.example\",\"click\")",
            "agent_version=@SUM(1+1)",
        ],
    );
    commit(env, &store, "t3", "r3", 1_700_000_200, &["notes=-1+2"]);
    store
}

/// Reads a CSV file with Python's `csv` module; returns its header and rows as JSON.
fn python_reads(path: &Path) -> Value {
    let script = "import csv, json, sys\n\
                  with open(sys.argv[1], newline='') as f:\n\
                  \x20   r = csv.reader(f)\n\
                  \x20   rows = list(r)\n\
                  print(json.dumps({'header': rows[0], 'rows': rows[1:]}))\n";
    let out = Command::new("python3")
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn csv_reads_back_in_python_with_every_value_in_its_column() {
    let env = Env::new();
    let store = store(&env);
    let s = store.to_str().unwrap();
    let run = env.run(&["--repo", s, "list", "--format", "csv"]).ok();
    let file = env.write("runs.csv", &run.stdout);
    let read = python_reads(&file);
    let header: Vec<&str> = read["header"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(
        header,
        [
            "workflow_id",
            "task_id",
            "correlation_id",
            "commit_sha",
            "commit_time",
            "test_status",
            "branch",
            "prompt_hash",
            "agent_version",
            "llm_version",
            "notes",
            "test_metrics.net_pnl",
            "test_metrics.trades",
            "test_metrics.win_rate",
        ]
    );
    let rows = read["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let col = |row: &Value, name: &str| {
        let i = header.iter().position(|h| *h == name).unwrap();
        row[i].as_str().unwrap().to_string()
    };
    // Newest first, as `list` prints.
    let (r3, r2, r1) = (&rows[0], &rows[1], &rows[2]);
    assert_eq!(col(r1, "correlation_id"), "corr_r1");
    assert_eq!(col(r1, "task_id"), "t1");
    assert_eq!(col(r1, "commit_time"), "2023-11-14T22:13:20Z");
    assert_eq!(col(r1, "branch"), "ai/generated/wf/t1");
    assert_eq!(col(r1, "test_status"), "passed");
    assert_eq!(
        col(r1, "commit_sha"),
        common::rev(&env, &store, "ai/generated/wf/t1")
    );
    assert_eq!(col(r1, "llm_version"), "gpt-4, \"turbo\"");
    assert_eq!(col(r1, "notes"), "line one\nline two");
    assert_eq!(
        col(r1, "test_metrics.net_pnl"),
        "-5.25",
        "a negative number stays a number"
    );
    assert_eq!(col(r1, "test_metrics.win_rate"), "0.5");
    assert_eq!(
        col(r1, "test_metrics.trades"),
        "",
        "a metric a row lacks is empty"
    );
    assert_eq!(col(r1, "agent_version"), "");
    assert_eq!(col(r2, "test_metrics.trades"), "42");
    // Formulas from metadata never reach a spreadsheet as formulas.
    assert_eq!(
        col(r2, "notes"),
        "'=HYPERLINK(\"http://evil.example\",\"click\")"
    );
    assert_eq!(col(r2, "agent_version"), "'@SUM(1+1)");
    assert_eq!(col(r3, "notes"), "'-1+2");
    assert_eq!(col(r3, "test_metrics.net_pnl"), "");
}

#[test]
fn jsonl_is_the_json_sets_one_per_line_and_format_json_is_json() {
    let env = Env::new();
    let store = store(&env);
    let s = store.to_str().unwrap();
    let json = env.run(&["--repo", s, "--json", "list"]).ok().json();
    let jsonl = env
        .run(&["--repo", s, "list", "--format", "jsonl"])
        .ok()
        .stdout;
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(Value::Array(lines), json["sets"]);
    assert_eq!(jsonl.matches('\n').count(), 3, "one object per line");
    let format_json = env
        .run(&["--repo", s, "list", "--format", "json"])
        .ok()
        .json();
    assert_eq!(format_json, json);
    // --format json is --json for errors too.
    let missing = env.run(&[
        "--repo",
        s,
        "list",
        "--format",
        "json",
        "--workflow",
        "no such",
    ]);
    assert_eq!(missing.code, 2);
    assert_eq!(missing.json()["success"], false);
}

#[test]
fn json_and_another_format_together_are_a_usage_error() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let run = env.run(&["--repo", s, "--json", "list", "--format", "csv"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["error"]["kind"], "invalid_input");
    let empty = env.run(&["--repo", s, "list", "--format", "csv"]).ok();
    assert_eq!(
        empty.stdout.lines().count(),
        1,
        "a header, even with no sets"
    );
    assert_eq!(
        env.run(&["--repo", s, "list", "--format", "jsonl"])
            .ok()
            .stdout,
        ""
    );
}
