//! The commit pipeline, driven through the binary and checked with the git CLI.

use crate::common;

use common::{commit_args, Env};
use serde_json::json;

const DIR: &str = "artifacts/wf/t";

#[test]
fn commit_writes_branch_annotated_tags_metadata_and_trailers() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let a = env.write("out/strategy.py", "print('rsi')\n");
    let b = env.write("out/report.json", "{\"passed\": 12}\n");
    let run = env
        .run(&[
            "--repo",
            s,
            "--json",
            "commit",
            "--workflow",
            "wf",
            "--task",
            "t",
            "--correlation-id",
            "abc123",
            "--prompt-hash",
            "7a8b9c0d",
            "--set",
            "test_metrics.net_pnl=120.5",
            "--set",
            "agent_version=coder-v1.0",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ])
        .ok();
    let result = run.json();
    let sha = result["commit_sha"].as_str().unwrap().to_string();
    let time = result["commit_time"].as_str().unwrap().to_string();
    let unix = result["commit_time_unix"].as_i64().unwrap();
    let files = result["files"].clone();
    assert_eq!(
        result,
        json!({"success": true, "schema_version": 1, "workflow_id": "wf", "task_id": "t",
               "correlation_id": "corr_abc123", "prompt_hash": "7a8b9c0d", "commit_sha": sha,
               "commit_time": time, "commit_time_unix": unix, "branch": "ai/generated/wf/t",
               "tags": ["corr_abc123", "prompt_7a8b9c0d"], "test_status": "passed",
               "pushed": false, "duplicate": false, "tags_missing": [],
               "metadata_differs": false, "differing_fields": [], "files": files})
    );
    assert_eq!(files.as_array().unwrap().len(), 2, "{files}");
    let keys: Vec<&str> = result
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "success",
            "schema_version",
            "workflow_id",
            "task_id",
            "correlation_id",
            "prompt_hash",
            "commit_sha",
            "commit_time",
            "commit_time_unix",
            "branch",
            "tags",
            "test_status",
            "pushed",
            "duplicate",
            "tags_missing",
            "metadata_differs",
            "differing_fields",
            "files"
        ]
    );

    let refs = env.git_in(
        &store,
        &[
            "for-each-ref",
            "--format=%(refname) %(objecttype) %(*objectname)",
        ],
    );
    assert!(
        refs.contains("refs/heads/ai/generated/wf/t commit"),
        "{refs}"
    );
    assert!(
        refs.contains(&format!("refs/tags/corr_abc123 tag {sha}")),
        "{refs}"
    );
    assert!(
        refs.contains(&format!("refs/tags/prompt_7a8b9c0d tag {sha}")),
        "{refs}"
    );
    assert_eq!(
        env.git_in(&store, &["cat-file", "-t", "corr_abc123"]),
        "tag"
    );

    let meta: serde_json::Value = serde_json::from_str(&env.git_in(
        &store,
        &["show", &format!("corr_abc123:{DIR}/metadata.json")],
    ))
    .unwrap();
    assert_eq!(meta["schema_version"], 1);
    assert_eq!(meta["correlation_id"], "corr_abc123");
    assert_eq!(meta["prompt_hash"], "7a8b9c0d");
    assert_eq!(meta["test_status"], "passed");
    assert_eq!(meta["agent_version"], "coder-v1.0");
    assert_eq!(meta["test_metrics"], json!({"net_pnl": 120.5}));
    assert_eq!(
        meta["files"],
        json!([format!("{DIR}/report.json"), format!("{DIR}/strategy.py")])
    );
    let sum = env.git_in(&store, &["show", &format!("corr_abc123:{DIR}/strategy.py")]);
    assert_eq!(sum, "print('rsi')");
    let expected = format!(
        "sha256:{:x}",
        <sha2::Sha256 as sha2::Digest>::digest(b"print('rsi')\n")
    );
    assert_eq!(meta["checksums"][format!("{DIR}/strategy.py")], expected);

    let trailers = env.git_in(
        &store,
        &["log", "-1", "--format=%s%n%(trailers)", "corr_abc123"],
    );
    assert_eq!(
        trailers,
        "artifacts(wf/t): corr_abc123\nWorkflow-Id: wf\nTask-Id: t\nCorrelation-Id: corr_abc123\nPrompt-Hash: 7a8b9c0d\nTest-Status: passed"
    );
    let author = env.git_in(&store, &["log", "-1", "--format=%an <%ae>", "corr_abc123"]);
    assert_eq!(author, "Test Bot <bot@example.invalid>");
    env.fsck(&store);
}

#[test]
fn directories_keep_layout_and_the_artifact_dir_is_replaced_whole() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    env.write("run/reports/summary.json", "{}\n");
    env.write("run/trades.csv", "a,b\n");
    env.write("run/old.log", "x\n");
    let run_dir = env.path("run/.");
    env.run(&commit_args(s, "c1", &[run_dir.to_str().unwrap()]))
        .ok();
    let files = env.git_in(&store, &["ls-tree", "-r", "--name-only", "corr_c1"]);
    assert_eq!(
        files,
        format!("{DIR}/metadata.json\n{DIR}/old.log\n{DIR}/reports/summary.json\n{DIR}/trades.csv")
    );
    std::fs::remove_file(env.path("run/old.log")).unwrap();
    env.run(&commit_args(s, "c2", &[run_dir.to_str().unwrap()]))
        .ok();
    let files = env.git_in(&store, &["ls-tree", "-r", "--name-only", "corr_c2"]);
    assert!(
        !files.contains("old.log"),
        "a file the run no longer produces must disappear:\n{files}"
    );
    let named = env.path("run/reports");
    env.run(&commit_args(s, "c3", &[named.to_str().unwrap()]))
        .ok();
    let files = env.git_in(&store, &["ls-tree", "-r", "--name-only", "corr_c3"]);
    assert_eq!(
        files,
        format!("{DIR}/metadata.json\n{DIR}/reports/summary.json")
    );
    assert_eq!(
        env.git_in(&store, &["rev-list", "--count", "ai/generated/wf/t"]),
        "3"
    );
    env.fsck(&store);
}

#[test]
fn new_task_branch_starts_from_the_base_branch_and_keeps_its_files() {
    let env = Env::new();
    let repo = env.path("repo");
    env.run(&["init", repo.to_str().unwrap()]).ok();
    std::fs::write(repo.join("README.md"), "base\n").unwrap();
    env.git_in(&repo, &["add", "README.md"]);
    env.git_in(&repo, &["commit", "-qm", "base"]);
    let base = env.git_in(&repo, &["rev-parse", "main"]);
    let f = env.write("a.txt", "1\n");
    env.run(&commit_args(
        repo.to_str().unwrap(),
        "c1",
        &[f.to_str().unwrap()],
    ))
    .ok();
    assert_eq!(env.git_in(&repo, &["rev-parse", "corr_c1^"]), base);
    let files = env.git_in(&repo, &["ls-tree", "-r", "--name-only", "corr_c1"]);
    assert_eq!(
        files,
        format!("README.md\n{DIR}/a.txt\n{DIR}/metadata.json")
    );

    let bare = env.store();
    env.run(&commit_args(
        bare.to_str().unwrap(),
        "c1",
        &[f.to_str().unwrap()],
    ))
    .ok();
    let parents = env.git_in(&bare, &["rev-list", "--parents", "-n1", "corr_c1"]);
    assert_eq!(
        parents.split(' ').count(),
        1,
        "without a base branch the first commit is a root"
    );
    env.fsck(&repo);
    env.fsck(&bare);
}

#[test]
fn commit_never_touches_worktree_index_or_head() {
    let env = Env::new();
    let repo = env.path("repo");
    env.run(&["init", repo.to_str().unwrap()]).ok();
    std::fs::write(repo.join("tracked.txt"), "v1\n").unwrap();
    env.git_in(&repo, &["add", "tracked.txt"]);
    env.git_in(&repo, &["commit", "-qm", "base"]);
    std::fs::write(repo.join("tracked.txt"), "dirty\n").unwrap();
    std::fs::write(repo.join("staged.txt"), "s\n").unwrap();
    env.git_in(&repo, &["add", "staged.txt"]);
    let index_before = std::fs::read(repo.join(".git/index")).unwrap();
    let status_before = env.git_in(&repo, &["status", "--porcelain"]);
    let head_before = env.git_in(&repo, &["symbolic-ref", "HEAD"]);
    let f = env.write("a.txt", "1\n");
    env.run(&commit_args(
        repo.to_str().unwrap(),
        "c1",
        &[f.to_str().unwrap()],
    ))
    .ok();
    assert_eq!(
        std::fs::read(repo.join(".git/index")).unwrap(),
        index_before
    );
    assert_eq!(env.git_in(&repo, &["status", "--porcelain"]), status_before);
    assert_eq!(env.git_in(&repo, &["symbolic-ref", "HEAD"]), head_before);
    assert!(
        !repo.join("artifacts").exists(),
        "nothing may be checked out"
    );
    env.fsck(&repo);
}

#[test]
fn same_correlation_and_content_is_a_duplicate_that_writes_nothing() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "1\n");
    let first = env
        .run(&commit_args(s, "abc", &[f.to_str().unwrap()]))
        .ok()
        .json();
    let before = env.snapshot(&store);
    let again = env
        .run(&commit_args(s, "corr_abc", &[f.to_str().unwrap()]))
        .ok()
        .json();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["commit_sha"], first["commit_sha"]);
    assert_eq!(
        env.snapshot(&store),
        before,
        "a duplicate moves no ref and writes no object"
    );
    env.fsck(&store);
}

#[test]
fn same_correlation_with_other_content_conflicts_unless_forced() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "1\n");
    let first = env
        .run(&commit_args(s, "abc", &[f.to_str().unwrap()]))
        .ok()
        .json();
    std::fs::write(&f, "2\n").unwrap();
    let conflict = commit_args(s, "abc", &[f.to_str().unwrap()]);
    let run = env.refused_unchanged(&store, &conflict, 4, "conflict");
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);

    let mut forced = commit_args(s, "abc", &[f.to_str().unwrap()]);
    forced.insert(4, "--force");
    let second = env.run(&forced).ok().json();
    assert_ne!(second["commit_sha"], first["commit_sha"]);
    let tagged = env.git_in(&store, &["rev-parse", "corr_abc^{commit}"]);
    assert_eq!(tagged, second["commit_sha"].as_str().unwrap());
    env.fsck(&store);
}

#[test]
fn missing_tag_after_a_crash_is_found_by_trailer_and_repaired() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "1\n");
    let first = env
        .run(&commit_args(s, "abc", &[f.to_str().unwrap()]))
        .ok()
        .json();
    let g = env.write("b.txt", "2\n");
    env.run(&commit_args(s, "later", &[g.to_str().unwrap()]))
        .ok();
    env.git_in(&store, &["tag", "-d", "corr_abc"]);
    let run = env.run(&commit_args(s, "abc", &[f.to_str().unwrap()])).ok();
    let again = run.json();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["commit_sha"], first["commit_sha"]);
    assert!(
        run.stderr.contains("repaired missing tag corr_abc"),
        "{}",
        run.stderr
    );
    assert_eq!(env.git_in(&store, &["cat-file", "-t", "corr_abc"]), "tag");
    assert_eq!(
        env.git_in(&store, &["rev-parse", "corr_abc^{commit}"]),
        first["commit_sha"].as_str().unwrap()
    );
    assert_eq!(
        env.git_in(&store, &["rev-list", "--count", "ai/generated/wf/t"]),
        "2"
    );
    env.fsck(&store);
}

#[test]
fn prompt_tag_moves_to_the_newest_commit_of_its_prompt() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "1\n");
    let mut args = commit_args(s, "p1", &[f.to_str().unwrap()]);
    args.extend(["--prompt-hash", "beef1234"]);
    env.run(&args).ok();
    std::fs::write(&f, "2\n").unwrap();
    let mut args = commit_args(s, "p2", &[f.to_str().unwrap()]);
    args.extend(["--prompt-hash", "prompt_beef1234"]);
    let second = env.run(&args).ok().json();
    assert_eq!(
        env.git_in(&store, &["rev-parse", "prompt_beef1234^{commit}"]),
        second["commit_sha"].as_str().unwrap()
    );
    assert_eq!(
        env.git_in(&store, &["cat-file", "-t", "prompt_beef1234"]),
        "tag"
    );
    env.fsck(&store);
}

#[test]
fn caller_metadata_from_file_stdin_and_set_is_kept_and_store_keys_win() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "1\n");
    let meta = env.write(
        "meta.json",
        r#"{"workflow_id": "spoofed", "llm_version": "gpt-4", "test_metrics": {"win_rate": 0.5, "by_day": [1, 2]}}"#,
    );
    let mut args = commit_args(s, "m1", &[f.to_str().unwrap()]);
    args.extend([
        "--metadata",
        meta.to_str().unwrap(),
        "--set",
        "test_metrics.net_pnl=-3.5",
    ]);
    env.run(&args).ok();
    let stored: serde_json::Value = serde_json::from_str(
        &env.git_in(&store, &["show", &format!("corr_m1:{DIR}/metadata.json")]),
    )
    .unwrap();
    assert_eq!(stored["workflow_id"], "wf");
    assert_eq!(stored["llm_version"], "gpt-4");
    assert_eq!(
        stored["test_metrics"],
        json!({"win_rate": 0.5, "by_day": [1, 2], "net_pnl": -3.5})
    );

    let mut args = commit_args(s, "m2", &[f.to_str().unwrap()]);
    args.extend(["--metadata", "-", "--status", "failed"]);
    env.run_stdin(&args, r#"{"agent_version": "coder-v2"}"#)
        .ok();
    let stored: serde_json::Value = serde_json::from_str(
        &env.git_in(&store, &["show", &format!("corr_m2:{DIR}/metadata.json")]),
    )
    .unwrap();
    assert_eq!(stored["agent_version"], "coder-v2");
    assert_eq!(stored["test_status"], "failed");
    let status = env.git_in(
        &store,
        &[
            "log",
            "-1",
            "--format=%(trailers:key=Test-Status,valueonly)",
            "corr_m2",
        ],
    );
    assert_eq!(status, "failed");
    env.fsck(&store);
}

#[test]
fn human_output_is_one_line_on_stdout() {
    let env = Env::new();
    let store = env.store();
    let f = env.write("a.txt", "1\n");
    let run = env
        .run(&[
            "--repo",
            store.to_str().unwrap(),
            "commit",
            "-w",
            "wf",
            "-t",
            "t",
            "--correlation-id",
            "h1",
            f.to_str().unwrap(),
        ])
        .ok();
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(
        run.stdout
            .starts_with("committed 1 file (2 B) to ai/generated/wf/t at "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.trim_end().ends_with("tagged corr_h1"),
        "{}",
        run.stdout
    );
    env.fsck(&store);
}

#[test]
fn config_file_in_the_store_then_environment_then_flags() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    std::fs::write(
        store.join("artifact-store.toml"),
        "artifact_dir = \"Backtest/codes/{task_id}\"\nbranch_prefix = \"bots/out\"\nauthor_name = \"file-bot\"\nauthor_email = \"file@example.invalid\"\n",
    )
    .unwrap();
    let f = env.write("a.txt", "1\n");
    // The hermetic environment sets GIT_AUTHOR_NAME/EMAIL, which override the file.
    let first = env
        .run(&commit_args(s, "k1", &[f.to_str().unwrap()]))
        .ok()
        .json();
    assert_eq!(first["branch"], "bots/out/wf/t");
    let files = env.git_in(&store, &["ls-tree", "-r", "--name-only", "corr_k1"]);
    assert_eq!(
        files,
        "Backtest/codes/t/a.txt\nBacktest/codes/t/metadata.json"
    );
    assert_eq!(
        env.git_in(&store, &["log", "-1", "--format=%an", "corr_k1"]),
        "Test Bot"
    );

    // Without the environment variables, the file's author is used.
    let mut cmd = env.cmd(&commit_args(s, "k2", &[f.to_str().unwrap()]));
    cmd.env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL");
    std::fs::write(&f, "2\n").unwrap();
    assert!(cmd.output().unwrap().status.success());
    assert_eq!(
        env.git_in(&store, &["log", "-1", "--format=%an <%ae>", "corr_k2"]),
        "file-bot <file@example.invalid>"
    );

    // A flag beats both.
    std::fs::write(&f, "3\n").unwrap();
    let mut args = vec!["-c", "artifact_dir=out/{workflow_id}-{task_id}"];
    args.extend(commit_args(s, "k3", &[f.to_str().unwrap()]));
    env.run(&args).ok();
    let files = env.git_in(&store, &["ls-tree", "-r", "--name-only", "corr_k3"]);
    assert!(files.contains("out/wf-t/a.txt"), "{files}");
    env.fsck(&store);
}
