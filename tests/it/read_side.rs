//! The read side: list, show, export, log, diff, verify, stats against real stores.

use crate::common;

use std::path::{Path, PathBuf};

use common::Env;
use serde_json::json;

/// A store with two workflows; wf_a/t1 has three versions, wf_a/t2 one (failed), wf_b/t1 one.
fn populated(env: &Env) -> PathBuf {
    let store = env.store();
    let commit = |wf: &str,
                  task: &str,
                  corr: &str,
                  secs: i64,
                  status: &str,
                  pnl: f64,
                  win: f64,
                  files: &[(&str, &str)]| {
        let dir = env.path(&format!("runs/{corr}"));
        for (name, content) in files {
            env.write(&format!("runs/{corr}/{name}"), content);
        }
        env.commit_dated(
            &store,
            secs,
            &[
                "-w",
                wf,
                "-t",
                task,
                "--correlation-id",
                corr,
                "--status",
                status,
                "--prompt-hash",
                &format!("{wf}{task}").replace('_', ""),
                "--set",
                &format!("test_metrics.net_pnl={pnl}"),
                "--set",
                &format!("test_metrics.win_rate={win}"),
                "--set",
                "llm_version=gpt-4",
            ],
            &dir,
        );
    };
    commit(
        "wf_a",
        "t1",
        "a1",
        1_700_000_000,
        "passed",
        98.2,
        0.51,
        &[("trades.csv", "a,b\n1,2\n"), ("old.log", "x\n")],
    );
    commit(
        "wf_a",
        "t1",
        "a2",
        1_700_000_100,
        "passed",
        120.5,
        0.58,
        &[("trades.csv", "a,b\n1,2\n3,4\n"), ("report.json", "{}\n")],
    );
    commit(
        "wf_a",
        "t2",
        "a3",
        1_700_000_200,
        "failed",
        -5.0,
        0.2,
        &[("trades.csv", "a,b\n")],
    );
    commit(
        "wf_b",
        "t1",
        "b1",
        1_700_000_300,
        "passed",
        10.0,
        0.9,
        &[("x.py", "print(1)\n")],
    );
    commit(
        "wf_a",
        "t1",
        "a4",
        1_700_000_400,
        "passed",
        130.0,
        0.61,
        &[("trades.csv", "a,b\n9,9\n")],
    );
    store
}

fn list(env: &Env, store: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["--repo", store.to_str().unwrap(), "--json", "list"];
    args.extend_from_slice(extra);
    env.run(&args).ok().json()["sets"]
        .as_array()
        .unwrap()
        .clone()
}

fn corrs(rows: &[serde_json::Value]) -> Vec<&str> {
    rows.iter()
        .map(|r| r["correlation_id"].as_str().unwrap())
        .collect()
}

#[test]
fn list_shows_branch_tips_newest_first_and_filters() {
    let env = Env::new();
    let store = populated(&env);
    let rows = list(&env, &store, &[]);
    assert_eq!(corrs(&rows), ["corr_a4", "corr_b1", "corr_a3"]);
    let first = &rows[0];
    assert_eq!(first["branch"], "ai/generated/wf_a/t1");
    assert_eq!(
        first["commit_sha"].as_str().unwrap(),
        env.git_in(&store, &["rev-parse", "ai/generated/wf_a/t1"])
    );
    for key in [
        "workflow_id",
        "task_id",
        "correlation_id",
        "prompt_hash",
        "commit_time",
        "tags",
        "files",
        "metadata",
    ] {
        assert!(first.get(key).is_some(), "row lacks {key}: {first}");
    }
    for key in ["test_metrics", "files", "checksums", "llm_version"] {
        assert!(
            first["metadata"].get(key).is_some(),
            "metadata lacks {key}: {first}"
        );
    }
    assert_eq!(first["files"][1]["path"], "trades.csv");
    assert_eq!(first["files"][1]["size"], 8);
    assert_eq!(
        corrs(&list(&env, &store, &["--workflow", "wf_a"])),
        ["corr_a4", "corr_a3"]
    );
    assert_eq!(
        corrs(&list(&env, &store, &["--task", "t1"])),
        ["corr_a4", "corr_b1"]
    );
    assert_eq!(
        corrs(&list(&env, &store, &["--status", "failed"])),
        ["corr_a3"]
    );
    assert_eq!(corrs(&list(&env, &store, &["--limit", "1"])), ["corr_a4"]);
    assert_eq!(
        corrs(&list(&env, &store, &["--since", "2023-11-14T22:17:30Z"])),
        ["corr_a4", "corr_b1"]
    );
    assert_eq!(
        corrs(&list(
            &env,
            &store,
            &["--all-versions", "--workflow", "wf_a"]
        )),
        ["corr_a4", "corr_a3", "corr_a2", "corr_a1"]
    );
    let rich = list(
        &env,
        &store,
        &[
            "--all-versions",
            "--where",
            "test_metrics.win_rate>=0.55",
            "--where",
            "llm_version=gpt-4",
        ],
    );
    assert_eq!(corrs(&rich), ["corr_a4", "corr_b1", "corr_a2"]);
    assert_eq!(
        corrs(&list(
            &env,
            &store,
            &["--all-versions", "--where", "test_metrics.net_pnl<0"]
        )),
        ["corr_a3"]
    );
}

#[test]
fn list_human_output_is_an_aligned_table() {
    let env = Env::new();
    let store = populated(&env);
    let mut cmd = env.cmd(&[
        "--repo",
        store.to_str().unwrap(),
        "list",
        "--workflow",
        "wf_a",
    ]);
    cmd.env("ARTIFACT_STORE_NOW", "1700003600");
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let sha_a4 = env.git_in(&store, &["rev-parse", "--short=12", "corr_a4^{commit}"]);
    let sha_a3 = env.git_in(&store, &["rev-parse", "--short=12", "corr_a3^{commit}"]);
    let expected = format!(
        "WORKFLOW  TASK  CORRELATION  STATUS  COMMITTED  COMMIT        METRICS\n\
         wf_a      t1    corr_a4      passed  53m ago    {sha_a4}  net_pnl=130 win_rate=0.61\n\
         wf_a      t2    corr_a3      failed  56m ago    {sha_a3}  net_pnl=-5 win_rate=0.2\n"
    );
    assert_eq!(out, expected);
}

#[test]
fn list_with_a_malformed_where_exits_2() {
    let env = Env::new();
    let store = populated(&env);
    for bad in ["win_rate", "=1", "a==1", "a.=1"] {
        let run = env.run(&[
            "--repo",
            store.to_str().unwrap(),
            "--json",
            "list",
            "--where",
            bad,
        ]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert_eq!(run.json()["error"]["kind"], "invalid_input");
    }
}

#[test]
fn show_resolves_every_ref_form_to_the_same_set() {
    let env = Env::new();
    let store = populated(&env);
    let s = store.to_str().unwrap();
    let sha = env.git_in(&store, &["rev-parse", "corr_a4^{commit}"]);
    let forms = [
        "corr_a4",
        "a4",
        "prompt_wfat1",
        "ai/generated/wf_a/t1",
        "wf_a/t1",
        &sha[..10],
        &sha,
    ];
    for form in forms {
        let set = env.run(&["--repo", s, "--json", "show", form]).ok().json();
        assert_eq!(set["commit_sha"], sha.as_str(), "{form}");
    }
    let set = env.run(&["--repo", s, "--json", "show", "a4"]).ok().json();
    assert_eq!(set["branch"], "ai/generated/wf_a/t1");
    assert_eq!(set["tags"], json!(["corr_a4", "prompt_wfat1"]));
    assert_eq!(
        set["parent"].as_str().unwrap(),
        env.git_in(&store, &["rev-parse", "corr_a2^{commit}"])
    );
    assert_eq!(set["metadata"]["correlation_id"], "corr_a4");
    assert_eq!(set["metadata"]["test_metrics"]["net_pnl"], 130.0);
    let files = set["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[1]["path"], "trades.csv");
    assert_eq!(files[1]["size"], 8);
    assert!(files[1]["checksum"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let human = env.run(&["--repo", s, "show", "a4"]).ok().stdout;
    assert!(human.contains(&format!("commit     {sha}")), "{human}");
    assert!(
        human.contains("tags       corr_a4, prompt_wfat1"),
        "{human}"
    );
    assert!(human.contains("trades.csv"), "{human}");
}

#[test]
fn show_of_a_missing_ref_exits_5_and_of_a_foreign_tag_exits_2() {
    let env = Env::new();
    let store = populated(&env);
    let s = store.to_str().unwrap();
    let run = env.run(&["--repo", s, "--json", "show", "corr_nope"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert_eq!(run.json()["error"]["kind"], "not_found");
    env.git_in(&store, &["tag", "v1.0", "corr_a1^{commit}^{tree}"]);
    // A tag on something that is not one of the store's commits.
    let blob = env.git_in(
        &store,
        &["rev-parse", "corr_a1:artifacts/wf_a/t1/trades.csv"],
    );
    env.git_in(&store, &["tag", "-f", "v1.0", &blob]);
    let run = env.run(&["--repo", s, "--json", "show", "v1.0"]);
    assert_eq!(
        run.code, 2,
        "a tag on a blob names no commit: {}",
        run.stderr
    );
    assert!(run.stderr.contains("not a commit"), "{}", run.stderr);
    let tree = env.git_in(&store, &["rev-parse", "corr_a1^{tree}"]);
    let foreign = env.git_in(&store, &["commit-tree", &tree, "-m", "hand-made"]);
    env.git_in(&store, &["tag", "-f", "v1.0", &foreign]);
    let run = env.run(&["--repo", s, "--json", "show", "v1.0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not an artifact set"), "{}", run.stderr);
}

#[test]
fn export_writes_identical_files_and_refuses_to_overwrite() {
    let env = Env::new();
    let store = populated(&env);
    let s = store.to_str().unwrap();
    let to = env.path("exported");
    env.run(&["--repo", s, "export", "a2", "--to", to.to_str().unwrap()])
        .ok();
    for name in ["trades.csv", "report.json", "metadata.json"] {
        let stored = env.git_in(
            &store,
            &[
                "cat-file",
                "blob",
                &format!("corr_a2:artifacts/wf_a/t1/{name}"),
            ],
        );
        let written = std::fs::read_to_string(to.join(name)).unwrap();
        assert_eq!(written.trim_end(), stored, "{name}");
    }
    std::fs::write(to.join("trades.csv"), "local edit").unwrap();
    let run = env.run(&[
        "--repo",
        s,
        "--json",
        "export",
        "a2",
        "--to",
        to.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(to.join("trades.csv")).unwrap(),
        "local edit",
        "nothing was overwritten"
    );
    env.run(&[
        "--repo",
        s,
        "export",
        "a2",
        "--to",
        to.to_str().unwrap(),
        "--force",
    ])
    .ok();
    assert_eq!(
        std::fs::read_to_string(to.join("trades.csv")).unwrap(),
        "a,b\n1,2\n3,4\n"
    );
}

#[test]
fn log_lists_versions_newest_first_with_tags() {
    let env = Env::new();
    let store = populated(&env);
    let s = store.to_str().unwrap();
    let entries = env
        .run(&["--repo", s, "--json", "log", "wf_a/t1"])
        .ok()
        .json();
    let got: Vec<(&str, serde_json::Value)> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["correlation_id"].as_str().unwrap(), e["tags"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("corr_a4", json!(["corr_a4", "prompt_wfat1"])),
            ("corr_a2", json!(["corr_a2"])),
            ("corr_a1", json!(["corr_a1"]))
        ]
    );
    let limited = env
        .run(&["--repo", s, "--json", "log", "wf_a/t1", "--limit", "1"])
        .ok()
        .json();
    assert_eq!(limited["entries"].as_array().unwrap().len(), 1);
    let run = env.run(&["--repo", s, "log", "wf_a/nope"]);
    assert_eq!(run.code, 5);
}

#[test]
fn diff_reports_files_and_metric_deltas() {
    let env = Env::new();
    let store = populated(&env);
    let s = store.to_str().unwrap();
    let d = env
        .run(&["--repo", s, "--json", "diff", "a1", "a2"])
        .ok()
        .json();
    let files = |list: &serde_json::Value| -> Vec<serde_json::Value> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|f| {
                json!([
                    f["path"],
                    f["size_a"],
                    f["size_b"],
                    f["lines_added"],
                    f["lines_removed"]
                ])
            })
            .collect()
    };
    assert_eq!(files(&d["added"]), [json!(["report.json", null, 3, 1, 0])]);
    assert_eq!(files(&d["removed"]), [json!(["old.log", 2, null, 0, 1])]);
    assert_eq!(files(&d["changed"]), [json!(["trades.csv", 8, 12, 1, 0])]);
    let sizes = |key: &str| -> serde_json::Value {
        d[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| json!({"path": f["path"], "size_a": f["size_a"], "size_b": f["size_b"]}))
            .collect()
    };
    assert_eq!(
        sizes("added"),
        json!([{"path": "report.json", "size_a": null, "size_b": 3}])
    );
    assert_eq!(
        sizes("removed"),
        json!([{"path": "old.log", "size_a": 2, "size_b": null}])
    );
    assert_eq!(
        sizes("changed"),
        json!([{"path": "trades.csv", "size_a": 8, "size_b": 12}])
    );
    assert_eq!(d["a"]["ref"], "a1");
    assert!(d["changed"][0]["checksum_b"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(
        d["metrics"][0],
        json!({"name": "net_pnl", "a": 98.2, "b": 120.5, "delta": 22.3, "delta_status": "ok"})
    );
    let human = env.run(&["--repo", s, "diff", "a2", "a1"]).ok().stdout;
    assert!(human.contains("net_pnl: 120.5 -> 98.2 (-22.3)"), "{human}");
    assert!(
        human.contains("changed  trades.csv (12 B -> 8 B)  +0 -1"),
        "{human}"
    );
}

#[test]
fn verify_catches_a_blob_edited_behind_the_stores_back() {
    let env = Env::new();
    let store = populated(&env);
    let s = store.to_str().unwrap();
    let ok = env
        .run(&["--repo", s, "--json", "verify", "--all"])
        .ok()
        .json();
    assert_eq!(ok["success"], true);
    assert_eq!(ok["tags"], 5);
    env.run(&["--repo", s, "verify", "a2"]).ok();

    // Rewrite wf_a/t1's tip with a tampered trades.csv, keeping message and metadata.
    let tip = "ai/generated/wf_a/t1";
    let fake = env.path("fake.csv");
    std::fs::write(&fake, "a,b\n6,6\n").unwrap();
    let blob = env.git_in(&store, &["hash-object", "-w", fake.to_str().unwrap()]);
    let dir_tree = env.git_in(&store, &["rev-parse", &format!("{tip}:artifacts/wf_a/t1")]);
    let listing = env.git_in(&store, &["ls-tree", &dir_tree]);
    let edited: String = listing
        .lines()
        .map(|l| {
            if l.ends_with("\ttrades.csv") {
                format!("100644 blob {blob}\ttrades.csv\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let new_dir = mktree(&env, &store, &edited);
    let wf_tree = env.git_in(&store, &["rev-parse", &format!("{tip}:artifacts/wf_a")]);
    let wf_listing: String = env
        .git_in(&store, &["ls-tree", &wf_tree])
        .lines()
        .map(|l| {
            if l.ends_with("\tt1") {
                format!("040000 tree {new_dir}\tt1\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let new_wf = mktree(&env, &store, &wf_listing);
    let root = mktree(
        &env,
        &store,
        &format!(
            "040000 tree {}\tartifacts\n",
            mktree(&env, &store, &format!("040000 tree {new_wf}\twf_a\n"))
        ),
    );
    let message = env.git_in(&store, &["log", "-1", "--format=%B", tip]);
    let parent = env.git_in(&store, &["rev-parse", &format!("{tip}^")]);
    let forged = env.git_in(
        &store,
        &["commit-tree", &root, "-p", &parent, "-m", &message],
    );
    env.git_in(
        &store,
        &["update-ref", &format!("refs/heads/{tip}"), &forged],
    );

    let run = env.run(&["--repo", s, "--json", "verify", "--all"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report = run.json();
    assert_eq!(report["success"], false);
    let kinds: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"checksum_mismatch"), "{report}");
    assert!(
        kinds.contains(&"not_on_branch"),
        "corr_a4 no longer lies on its branch: {report}"
    );
    let human = env.run(&["--repo", s, "verify", "wf_a/t1"]);
    assert_eq!(human.code, 1);
    assert!(
        human
            .stdout
            .contains("artifacts/wf_a/t1/trades.csv: metadata says sha256:"),
        "{}",
        human.stdout
    );
}

fn mktree(env: &Env, store: &Path, listing: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .args(["-C", store.to_str().unwrap(), "mktree"])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(listing.as_bytes())
        .unwrap();
    let _ = env;
    String::from_utf8(child.wait_with_output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn stats_counts_what_the_store_holds() {
    let env = Env::new();
    let store = populated(&env);
    let s = store.to_str().unwrap();
    let st = env.run(&["--repo", s, "--json", "stats"]).ok().json();
    assert_eq!(
        (
            st["workflows"].as_u64(),
            st["tasks"].as_u64(),
            st["versions"].as_u64()
        ),
        (Some(2), Some(3), Some(5))
    );
    assert_eq!(st["prompt_tags"], 3);
    // The object counts agree with git's own, whether commits wrote packs or loose objects.
    let counts = env.git_in(&store, &["count-objects", "-v"]);
    let git = |key: &str| -> u64 {
        counts
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {counts}"))
    };
    assert_eq!(st["loose_objects"].as_u64(), Some(git("count")), "{counts}");
    assert_eq!(st["packs"].as_u64(), Some(git("packs")), "{counts}");
    assert!(
        git("count") + git("in-pack") > 10,
        "five versions hold more than ten objects: {counts}"
    );
    assert_eq!(st["largest"][0]["branch"], "ai/generated/wf_a/t1");
    env.fsck(&store);
}
