//! `diff` looks inside files: line counts, `--patch` hunks, binary and too-large files,
//! CSV table summaries, the refs as typed, sane metric deltas; `show` and `diff` draw the
//! numeric series of CSV files as sparklines.

use crate::common;

use std::path::{Path, PathBuf};

use common::Env;
use serde_json::{json, Value};

/// Commits `files` (name, bytes) as correlation `corr` of wf/t, with `--set` pairs.
fn commit(env: &Env, store: &Path, corr: &str, files: &[(&str, &[u8])], sets: &[&str]) {
    let dir = env.path(&format!("runs/{corr}"));
    for (name, content) in files {
        env.write(&format!("runs/{corr}/{name}"), content);
    }
    let mut args = vec![
        "--repo".to_string(),
        store.to_str().unwrap().to_string(),
        "-q".into(),
        "commit".into(),
        "-w".into(),
        "wf".into(),
        "-t".into(),
        "t".into(),
        "--correlation-id".into(),
        corr.into(),
    ];
    for s in sets {
        args.push("--set".into());
        args.push(s.to_string());
    }
    args.push(dir.join(".").to_str().unwrap().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run(&args).ok();
}

/// Two sets, `one` then `two`, covering every kind of change.
fn two_sets(env: &Env) -> PathBuf {
    let store = env.store();
    commit(
        env,
        &store,
        "one",
        &[
            ("strategy.py", b"def f():\n    return 1\n\nprint(f())\n"),
            ("gone.txt", b"a\nb\n"),
            ("model.bin", b"\x00\x01\x02\x03weights"),
            (
                "trades.csv",
                b"id,side,note\n1,buy,\"a, b\"\n2,sell,\"say \"\"hi\"\"\"\n3,buy,\"two\nlines\"\n",
            ),
            (
                "notes.csv",
                b"this is prose, not a table\nit has, two, many commas\n",
            ),
            ("was_empty.txt", b""),
        ],
        &[
            "test_metrics.net_pnl=120.5",
            "test_metrics.big=10",
            "test_metrics.ratio=1",
            "test_metrics.sharpe=inf",
        ],
    );
    commit(
        env,
        &store,
        "two",
        &[
            ("strategy.py", b"def f():\n    return 2\n\nprint(f())\nprint('done')\n"),
            ("model.bin", b"\x00\x01\x02\x04weights"),
            ("trades.csv", b"id,side,note,fee\n1,buy,\"a, b\",0.1\n3,buy,\"two\nlines\",0.1\n4,sell,new,0.2\n5,buy,x,0\n"),
            ("notes.csv", b"this is prose, still not a table\nit has, two, many commas\n"),
            ("was_empty.txt", b"now\nfull\n"),
            ("empty.txt", b""),
        ],
        &["test_metrics.net_pnl=98.2", "test_metrics.big=1e308", "test_metrics.ratio=NaN", "test_metrics.sharpe=2"],
    );
    store
}

fn by_path<'a>(list: &'a Value, path: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} not in {list}"))
}

#[test]
fn json_carries_line_counts_csv_summaries_and_the_refs_typed() {
    let env = Env::new();
    let store = two_sets(&env);
    let s = store.to_str().unwrap();
    let d = env
        .run(&["--repo", s, "--json", "diff", "one", "corr_two"])
        .ok()
        .json();
    assert_eq!(d["success"], true);
    assert_eq!(d["a"]["ref"], "one");
    assert_eq!(d["b"]["ref"], "corr_two");
    assert_eq!(d["a"]["correlation_id"], "corr_one");
    assert_eq!(d["b"]["commit_sha"].as_str().unwrap().len(), 40);
    assert_eq!(d["b"]["branch"], "ai/generated/wf/t");

    let py = by_path(&d["changed"], "strategy.py");
    assert_eq!(
        (py["lines_added"].clone(), py["lines_removed"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(py["binary"], false);
    assert_eq!(py["csv"], Value::Null);
    assert!(py.get("patch").is_none(), "no patch unless asked: {py}");

    let bin = by_path(&d["changed"], "model.bin");
    assert_eq!(bin["binary"], true);
    assert_eq!(bin["lines_added"], Value::Null);

    let trades = by_path(&d["changed"], "trades.csv");
    assert_eq!(
        trades["csv"],
        json!({"rows_a": 3, "rows_b": 4, "rows_added": 2, "rows_removed": 1,
               "columns_added": ["fee"], "columns_removed": []})
    );
    // A .csv that is not a table gets line counts only.
    let notes = by_path(&d["changed"], "notes.csv");
    assert_eq!(notes["csv"], Value::Null);
    assert_eq!(
        (notes["lines_added"].clone(), notes["lines_removed"].clone()),
        (json!(1), json!(1))
    );

    // Empty files: an added empty file has no lines; an empty file filled has all added.
    let empty = by_path(&d["added"], "empty.txt");
    assert_eq!(
        (empty["lines_added"].clone(), empty["lines_removed"].clone()),
        (json!(0), json!(0))
    );
    let filled = by_path(&d["changed"], "was_empty.txt");
    assert_eq!(
        (
            filled["lines_added"].clone(),
            filled["lines_removed"].clone()
        ),
        (json!(2), json!(0))
    );
    let gone = by_path(&d["removed"], "gone.txt");
    assert_eq!(
        (gone["lines_added"].clone(), gone["lines_removed"].clone()),
        (json!(0), json!(2))
    );

    let metric = |name: &str| {
        d["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        metric("net_pnl"),
        json!({"name": "net_pnl", "a": 120.5, "b": 98.2, "delta": -22.3, "delta_status": "ok"})
    );
    assert_eq!(metric("big")["delta"], Value::Null);
    assert_eq!(metric("big")["delta_status"], "too_large");
    assert_eq!(metric("ratio")["delta_status"], "non_finite");
    assert_eq!(metric("sharpe")["delta_status"], "non_finite");
}

#[test]
fn human_output_names_refs_and_shows_what_changed_inside() {
    let env = Env::new();
    let store = two_sets(&env);
    let s = store.to_str().unwrap();
    let sha = |r: &str| {
        common::rev(&env, &store, &format!("refs/tags/corr_{r}^{{commit}}"))[..12].to_string()
    };
    let out = env
        .run(&["--repo", s, "diff", "corr_one", "two"])
        .ok()
        .stdout;
    assert!(
        out.starts_with(&format!(
            "corr_one ({}) -> two ({})\n",
            sha("one"),
            sha("two")
        )),
        "{out}"
    );
    assert!(
        out.contains("changed  strategy.py (34 B -> 48 B)  +2 -1\n"),
        "{out}"
    );
    assert!(
        out.contains("changed  model.bin (11 B -> 11 B)  binary file differs\n"),
        "{out}"
    );
    assert!(out.contains("removed  gone.txt (4 B)  +0 -2\n"), "{out}");
    assert!(out.contains("added    empty.txt (0 B)  +0 -0\n"), "{out}");
    assert!(
        out.contains("table: 3 -> 4 rows (+2 -1); columns +fee\n"),
        "{out}"
    );
    assert!(out.contains("  net_pnl: 120.5 -> 98.2 (-22.3)\n"), "{out}");
    assert!(
        out.contains("  big: 10 -> 1e308 (delta too large to show)\n"),
        "{out}"
    );
    assert!(
        out.contains("  ratio: 1 -> NaN (no delta: not a number)\n"),
        "{out}"
    );
    assert!(
        out.contains("  sharpe: inf -> 2 (no delta: infinite)\n"),
        "{out}"
    );
    assert!(!out.contains("+inf") && !out.contains("e+308"), "{out}");
    assert!(!out.contains("@@"), "no hunks without --patch: {out}");
}

#[test]
fn patch_prints_unified_hunks_and_says_when_there_are_none() {
    let env = Env::new();
    let store = two_sets(&env);
    let s = store.to_str().unwrap();
    let out = env
        .run(&["--repo", s, "diff", "one", "two", "--patch"])
        .ok()
        .stdout;
    let expected = "--- a/strategy.py\n+++ b/strategy.py\n@@ -1,4 +1,5 @@\n def f():\n-    return 1\n+    return 2\n \n print(f())\n+print('done')\n";
    assert!(out.contains(expected), "{out}");
    assert!(out.contains("binary file differs: model.bin"), "{out}");
    assert!(
        out.contains("--- a/gone.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n"),
        "{out}"
    );
    assert!(out.contains("--- /dev/null\n+++ b/empty.txt\n"), "{out}");

    let d = env
        .run(&[
            "--repo", s, "--json", "diff", "one", "two", "--patch", "-U", "0",
        ])
        .ok()
        .json();
    let py = by_path(&d["changed"], "strategy.py");
    assert_eq!(
        py["patch"],
        "--- a/strategy.py\n+++ b/strategy.py\n@@ -2 +2 @@ def f():\n-    return 1\n+    return 2\n@@ -4,0 +5 @@ print(f())\n+print('done')\n"
    );
    assert!(by_path(&d["changed"], "model.bin").get("patch").is_none());
    // The same patch, applied by git to the old file, gives the new one.
    let old = env.write(
        "apply/strategy.py",
        b"def f():\n    return 1\n\nprint(f())\n",
    );
    let patch = env.write("apply/p.diff", py["patch"].as_str().unwrap());
    let applied = env.git(&[
        "-C",
        old.parent().unwrap().to_str().unwrap(),
        "apply",
        "--unidiff-zero",
        patch.to_str().unwrap(),
    ]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_eq!(
        std::fs::read_to_string(&old).unwrap(),
        "def f():\n    return 2\n\nprint(f())\nprint('done')\n"
    );
}

#[test]
fn a_file_above_the_streaming_size_is_too_large_to_diff() {
    let env = Env::new();
    let store = env.store();
    let big_a = vec![b'a'; (8 << 20) + 1];
    let mut big_b = big_a.clone();
    big_b[0] = b'b';
    commit(
        &env,
        &store,
        "one",
        &[("big.txt", &big_a), ("small.txt", b"x\n")],
        &[],
    );
    commit(
        &env,
        &store,
        "two",
        &[("big.txt", &big_b), ("small.txt", b"y\n")],
        &[],
    );
    let s = store.to_str().unwrap();
    let d = env
        .run(&["--repo", s, "--json", "diff", "one", "two"])
        .ok()
        .json();
    let big = by_path(&d["changed"], "big.txt");
    assert_eq!(big["too_large"], true);
    assert_eq!(big["lines_added"], Value::Null);
    assert_eq!(by_path(&d["changed"], "small.txt")["lines_added"], 1);
    let out = env
        .run(&["--repo", s, "diff", "one", "two", "--patch"])
        .ok()
        .stdout;
    assert!(
        out.contains("changed  big.txt (8.0 MiB -> 8.0 MiB)  too large to diff"),
        "{out}"
    );
    assert!(out.contains("too large to diff: big.txt"), "{out}");
}

#[test]
fn show_and_diff_draw_numeric_csv_series_as_sparklines() {
    let env = Env::new();
    let store = env.store();
    let curve = |n: usize, slope: f64| {
        let mut text = String::from("date,equity,symbol\n");
        for i in 0..n {
            text.push_str(&format!(
                "2025-01-{:02},{},X\n",
                i + 1,
                100.0 + slope * i as f64
            ));
        }
        text
    };
    commit(
        &env,
        &store,
        "one",
        &[
            ("equity_curve.csv", curve(8, 1.0).as_bytes()),
            ("trades.csv", b"who,what\na,b\n"),
        ],
        &[],
    );
    commit(
        &env,
        &store,
        "two",
        &[
            ("equity_curve.csv", curve(8, 2.0).as_bytes()),
            ("trades.csv", b"who,what\na,c\n"),
        ],
        &[],
    );
    let s = store.to_str().unwrap();
    let show = env.run(&["--repo", s, "show", "two"]).ok().stdout;
    assert!(
        show.contains("series\n  equity_curve.csv equity  ▁▂▃▄▅▆▇█  first 100  last 114  min 100  max 114  (8 points)\n"),
        "{show}"
    );
    assert!(
        !show.contains("symbol"),
        "a text column is no series: {show}"
    );
    let diff = env.run(&["--repo", s, "diff", "one", "two"]).ok().stdout;
    assert!(
        diff.contains("equity  a ▁▂▂▃▃▄▄▅  first 100  last 107  min 100  max 107  (8 points)\n"),
        "{diff}"
    );
    assert!(
        diff.contains("        b ▁▂▃▄▅▆▇█  first 100  last 114  min 100  max 114  (8 points)\n"),
        "{diff}"
    );
    let json = env.run(&["--repo", s, "--json", "show", "two"]).ok().stdout;
    assert!(!json.contains('▁'), "sparklines are for people only");
}
