//! Regressions for what the fuzz targets and property tests found (docs/fuzzing.md), each
//! seen through the binary the way a user meets it.

use crate::common;

use common::{commit_args, Env};

#[test]
fn a_task_or_correlation_id_ending_in_a_dot_is_refused_with_exit_2_and_nothing_written() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    env.write("a.txt", "hello\n");
    let before = env.snapshot(&store);
    let runs = [
        ["--workflow", "wf", "--task", "t.", "--correlation-id", "c1"],
        ["--workflow", "wf", "--task", "t", "--correlation-id", "c1."],
        ["--workflow", "wf.", "--task", "t", "--correlation-id", "c1"],
    ];
    for ids in runs {
        let mut args = vec!["--repo", s, "commit"];
        args.extend_from_slice(&ids);
        args.push("a.txt");
        let run = env.run(&args);
        assert_eq!(run.code, 2, "{ids:?}: {}", run.stderr);
        assert!(run.stderr.contains("ends in '.'"), "{}", run.stderr);
    }
    assert_eq!(env.snapshot(&store), before);
    env.fsck(&store);
}

#[test]
fn set_keys_deeper_than_metadata_json_can_be_read_back_are_refused_and_the_deepest_allowed_reads_back(
) {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    env.write("a.txt", "hello\n");
    let set = |parts: usize| format!("{}=1", vec!["k"; parts].join("."));

    let before = env.snapshot(&store);
    // 128 parts used to commit a metadata.json that `show` read as null, checksums and all.
    for parts in [65, 128] {
        let deeper = set(parts);
        let mut args = commit_args(s, "deep", &["a.txt"]);
        args.extend(["--set", deeper.as_str()]);
        let run = env.run(&args);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("deeper than 64 levels"),
            "{}",
            run.stderr
        );
        assert_eq!(env.snapshot(&store), before);
    }

    let deepest = set(64);
    let mut args = commit_args(s, "deepest", &["a.txt"]);
    args.extend(["--set", deepest.as_str()]);
    env.run(&args).ok();
    let shown = env
        .run(&["--repo", s, "--json", "show", "corr_deepest"])
        .ok()
        .json();
    let mut node = &shown["metadata"];
    for _ in 0..63 {
        node = &node["k"];
    }
    assert_eq!(node["k"], 1, "the deepest metadata reads back");
    assert!(
        shown["files"][0]["checksum"].as_str().is_some(),
        "{}",
        shown["files"]
    );
    env.run(&["--repo", s, "verify", "corr_deepest"]).ok();
    env.fsck(&store);
}

#[test]
fn list_since_an_age_too_long_for_a_timestamp_is_refused_with_exit_2() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    for age in ["9223372036854775807m", "15250284452472w"] {
        let run = env.run(&["--repo", s, "list", "--since", age]);
        assert_eq!(run.code, 2, "{age}: {}", run.stderr);
        assert!(run.stderr.contains("--since"), "{}", run.stderr);
    }
}

#[test]
fn list_where_with_an_operator_after_spaces_is_a_doubled_operator() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let run = env.run(&["--repo", s, "list", "--where", "test_status= =passed"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("doubled operator"), "{}", run.stderr);
}

/// Many findings on one long line used to cost the whole line each (its inline-marker
/// search and its column count); they are now counted once per line. This checks the
/// columns and the marker stay right; `benches/scan_linear.sh` (family
/// `findings-one-line`) shows the cost linear.
#[test]
fn many_findings_on_one_long_line_keep_their_columns_and_the_line_marker() {
    use artifact_store::scan::Scanner;
    let scanner = Scanner::builtin();
    let keys: Vec<String> = (0..2000u32)
        .map(|i| {
            let body: String = (0..16)
                .map(|j| {
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[((i * 7 + j * 13 + i / 32) % 32) as usize]
                        as char
                })
                .collect();
            format!("AKIA{body}")
        })
        .collect();
    let line = format!("é {}", keys.join(" "));
    let found = scanner.scan_bytes("keys.txt", line.as_bytes());
    let columns: Vec<usize> = found
        .findings()
        .iter()
        .filter(|f| f.rule_id == "aws-access-key-id")
        .map(|f| f.column)
        .collect();
    assert!(columns.len() > 1500, "{} found", columns.len());
    // Key k starts after "é " (2 characters) and k keys of 20 characters plus a space.
    for column in &columns {
        assert_eq!((column - 3) % 21, 0, "column {column}");
    }
    let marked = format!("{line} # artifact-store:allow\nAKIAQWERTYUIOPASDFGH\n");
    let found = scanner.scan_bytes("keys.txt", marked.as_bytes());
    let lines: Vec<usize> = found.findings().iter().map(|f| f.line).collect();
    assert!(
        !lines.is_empty() && lines.iter().all(|&l| l == 2),
        "{lines:?}"
    );
}
