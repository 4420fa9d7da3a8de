//! Variants of the integrity families that the first round of fixes missed: each test
//! would pass a hostile input through on the code before its fix.

use crate::common;
use crate::events::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{commit_args, Env};
use serde_json::json;

/// Moves every pack out of the store and unpacks its objects as loose ones.
fn unpack_all(env: &Env, store: &Path) {
    let packdir = store.join("objects/pack");
    let aside = env.path("packs-aside");
    std::fs::create_dir_all(&aside).unwrap();
    for entry in std::fs::read_dir(&packdir).unwrap().flatten() {
        std::fs::rename(entry.path(), aside.join(entry.file_name())).unwrap();
    }
    for entry in std::fs::read_dir(&aside).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "pack") {
            let status = env
                .git_cmd(&["-C", store.to_str().unwrap(), "unpack-objects", "-q"])
                .stdin(std::fs::File::open(entry.path()).unwrap())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}

fn loose_path(store: &Path, oid: &str) -> PathBuf {
    store.join("objects").join(&oid[..2]).join(&oid[2..])
}

/// A store with three versions `c1`, `c2`, `c3` of wf/t, every object loose.
fn three_versions(env: &Env) -> PathBuf {
    let store = env.store();
    let s = store.to_str().unwrap();
    for i in 1..=3 {
        let file = env.write("in/a.txt", format!("version {i}\n"));
        let corr = format!("c{i}");
        env.run(&commit_args(s, &corr, &[file.to_str().unwrap()]))
            .ok();
    }
    unpack_all(env, &store);
    store
}

/// `gc` over a store whose history lacks a commit (or a tag object) in the middle never
/// plans to prune what lies below it: it stops, corrupt, and moves nothing.
#[test]
fn gc_over_a_missing_commit_or_tag_object_is_corrupt_and_moves_nothing() {
    for (what, spec) in [
        ("middle commit", "corr_c2^{commit}"),
        ("tag object", "corr_c1"),
    ] {
        for rules in [&["-c", "retention.keep_versions=10"][..], &[][..]] {
            let env = Env::new();
            let store = three_versions(&env);
            let s = store.to_str().unwrap();
            let oid = env.git_in(&store, &["rev-parse", spec]);
            std::fs::remove_file(loose_path(&store, &oid)).unwrap();
            let before = env.snapshot(&store);
            for apply in [false, true] {
                let mut args = vec!["--repo", s];
                args.extend_from_slice(rules);
                args.extend_from_slice(&["--json", "gc"]);
                if apply {
                    args.push("--apply");
                }
                let run = env.run(&args);
                assert_eq!(run.code, 1, "{what} {rules:?} apply={apply}: {run:?}");
                let json = run.json();
                assert_eq!(json["error"]["kind"], "corrupt", "{what}: {json}");
                let message = json["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(&oid), "{what}: {message}");
                assert_eq!(env.snapshot(&store), before, "{what}: refs moved");
            }
        }
    }
}

/// `DIR/./` (and `DIR/.//`) names the same directory as `DIR/.`: its contents land at the
/// artifact directory's root, so a `metadata.json` in it collides with the store's own and
/// is refused, as it is for `DIR/.`.
#[test]
fn dir_dot_with_trailing_slashes_commits_contents_and_refuses_a_metadata_json() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    env.write("bad/metadata.json/r.csv", "x\n");
    env.write("bad2/METADATA.JSON", "{}\n");
    let before = env.snapshot(&store);
    for (i, input) in ["bad/./", "bad/.//", "bad2/./", "bad2/.///"]
        .iter()
        .enumerate()
    {
        let path = format!(
            "{}/{input}",
            env.path("").to_str().unwrap().trim_end_matches('/')
        );
        let corr = format!("c{i}");
        let run = env.run(&commit_args(s, &corr, &[&path]));
        assert_eq!(run.code, 2, "{input}: {run:?}");
        assert_eq!(run.json()["error"]["kind"], "invalid_input", "{input}");
        assert!(
            run.stdout.contains("metadata.json"),
            "{input}: {}",
            run.stdout
        );
        assert_eq!(
            env.snapshot(&store),
            before,
            "{input}: something was written"
        );
    }
    env.fsck(&store);
    env.write("good/a.txt", "a\n");
    let path = format!(
        "{}/good/./",
        env.path("").to_str().unwrap().trim_end_matches('/')
    );
    env.run(&commit_args(s, "ok", &[&path])).ok();
    let files = env.git_in(
        &store,
        &["ls-tree", "-r", "--name-only", "ai/generated/wf/t"],
    );
    assert_eq!(files, "artifacts/wf/t/a.txt\nartifacts/wf/t/metadata.json");
    env.fsck(&store);
}

/// Two artifacts of one file name land under their keys; a key that is not a directory
/// name (empty, or with a '/' at either end) is refused at once (final, not retried), and
/// never trimmed into a path the `artifacts` map of metadata.json does not name.
#[test]
fn the_subscriber_refuses_an_artifact_key_that_cannot_be_a_directory() {
    let env = Env::new();
    let Some(redis) = support::Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = support::Names::new("key-dirs");
    let mut con = redis.con();
    env.write("runs/one/report.json", "{\"run\": 1}\n");
    env.write("runs/two/report.json", "{\"run\": 2}\n");
    let clash = |key: &str| json!({ key: "one/report.json", "other": "two/report.json" });
    let cases = [
        ("corr_empty", clash("")),
        ("corr_slash", clash("/")),
        ("corr_lead", clash("/lead")),
        ("corr_trail", clash("trail/")),
        ("corr_both", clash("//")),
    ];
    for (corr, artifacts) in &cases {
        let event = support::test_passed(corr, "t", artifacts.clone());
        support::publish(&mut con, &names.input, &event.to_string());
    }
    let good = support::test_passed("corr_fine", "t", clash("a/b"));
    support::publish(&mut con, &names.input, &good.to_string());
    let total = cases.len() + 1;
    let mut sub = support::subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        &["--max-events", &total.to_string(), "--workers", "1"],
    );
    assert_eq!(sub.wait(Duration::from_secs(90)), Some(0), "{}", sub.log());
    let got = support::answers(&mut con, &names.output);
    let log = sub.log();
    assert_eq!(
        got.len(),
        total,
        "one answer each, no retry: {got:#?}\n{log}"
    );
    for (answer, (corr, _)) in got.iter().zip(&cases) {
        assert_eq!(answer["correlation_id"], *corr, "{answer}");
        assert_eq!(answer["event_type"], "ARTIFACT_COMMIT_FAILED", "{answer}");
        assert_eq!(answer["data"]["error"]["kind"], "invalid_input", "{answer}");
    }
    assert_eq!(got[total - 1]["event_type"], "ARTIFACT_COMMITTED", "{log}");
    assert!(!log.contains("outcome=retry"), "retried:\n{log}");
    assert_eq!(support::committed(&env, &store), ["corr_fine"]);
    assert_eq!(support::pending(&mut con, &names.input, &names.group), 0);
    // Every path the `artifacts` map names is in the committed tree.
    let meta = env.git_in(
        &store,
        &["show", "ai/generated/wf/t:artifacts/wf/t/metadata.json"],
    );
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    for (key, path) in meta["artifacts"].as_object().unwrap() {
        let spec = format!("ai/generated/wf/t:{}", path.as_str().unwrap());
        let run = env.git(&["-C", store.to_str().unwrap(), "cat-file", "-e", &spec]);
        assert_eq!(
            run.code, 0,
            "artifact {key:?} names {path}, not in the tree"
        );
    }
    env.fsck(&store);
}

/// A store opened from a linked worktree (`git worktree add`) writes its objects and refs
/// where git reads them, the common git directory: git finds every object, and the read
/// commands run from that worktree see every set.
#[test]
fn a_commit_from_a_linked_worktree_lands_in_the_common_object_database() {
    let env = Env::new();
    let main = env.path("main");
    env.run(&["init", main.to_str().unwrap()]).ok();
    let m = main.to_str().unwrap();
    let first = env.write("in/a.txt", "first\n");
    env.run(&commit_args(m, "c1", &[first.to_str().unwrap()]))
        .ok();
    let wt = env.path("linked");
    let w = wt.to_str().unwrap();
    env.git_in(
        &main,
        &["worktree", "add", "-q", "--detach", w, "ai/generated/wf/t"],
    );
    let small = env.write("in/b.txt", "second\n");
    let mut big = vec![0u8; 9 << 20];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2654435761) >> 13) as u8;
    }
    let big = env.write("in/big.bin", &big);
    for (corr, task, file) in [("c2", "u", &small), ("c3", "v", &big)] {
        let mut args = commit_args(w, corr, &[file.to_str().unwrap()]);
        args[7] = task;
        args.extend_from_slice(&["--prompt-hash", "abcd1234"]);
        env.run(&args).ok();
    }
    // Nothing but the worktree's own files under its git directory.
    let own = main.join(".git/worktrees/linked");
    assert!(
        !own.join("objects").exists(),
        "objects under {}",
        own.display()
    );
    assert!(!own.join("refs/heads").exists() && !own.join("packed-refs").exists());
    env.fsck(&main);
    for task in ["t", "u", "v"] {
        env.git_in(
            &main,
            &[
                "cat-file",
                "-e",
                &format!("ai/generated/wf/{task}^{{tree}}"),
            ],
        );
    }
    let list = env.run(&["--repo", w, "--json", "list"]).ok().json();
    let mut corrs: Vec<String> = list["sets"]
        .as_array()
        .or_else(|| list.as_array())
        .expect("a list of sets")
        .iter()
        .map(|s| s["correlation_id"].as_str().unwrap_or_default().to_string())
        .collect();
    corrs.sort();
    assert_eq!(corrs, ["corr_c1", "corr_c2", "corr_c3"], "{list}");
    env.run(&["--repo", w, "verify", "--all"]).ok();
    env.run(&[
        "--repo",
        w,
        "export",
        "corr_c3",
        "--to",
        env.path("out").to_str().unwrap(),
    ])
    .ok();
}

/// `gc` keeps a task branch that a worktree has checked out: pruning it would leave that
/// worktree on a branch that no longer exists (git itself will not delete such a branch).
#[test]
fn gc_keeps_a_task_branch_checked_out_in_a_worktree() {
    let env = Env::new();
    let main = env.path("main");
    env.run(&["init", main.to_str().unwrap()]).ok();
    let m = main.to_str().unwrap();
    for (corr, task) in [("c1", "t"), ("c2", "u")] {
        let file = env.write(&format!("in/{task}.txt"), format!("{task}\n"));
        let mut args = commit_args(m, corr, &[file.to_str().unwrap()]);
        args[7] = task;
        env.run(&args).ok();
        std::thread::sleep(Duration::from_millis(1100));
    }
    let wt = env.path("linked");
    env.git_in(
        &main,
        &[
            "worktree",
            "add",
            "-q",
            wt.to_str().unwrap(),
            "ai/generated/wf/t",
        ],
    );
    let before = env.snapshot(&main);
    let plan = env
        .run(&["--repo", m, "-c", "retention.keep_last=1", "--json", "gc"])
        .ok()
        .json();
    let t = plan["refs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ref"] == "refs/heads/ai/generated/wf/t")
        .unwrap()
        .clone();
    assert_eq!(t["decision"], "keep", "{plan}");
    assert_eq!(t["rule"], "checked_out", "{plan}");
    assert!(t["reason"].as_str().unwrap().contains("linked"), "{plan}");
    env.run(&["--repo", m, "-c", "retention.keep_last=1", "gc", "--apply"])
        .ok();
    assert_eq!(
        env.snapshot(&main).0,
        before.0,
        "a checked-out branch was moved"
    );
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    env.fsck(&main);
}

/// Names Windows reads as the store's own `metadata.json` (trailing dots or spaces, a `:`
/// stream) or as each other are refused like a case-only collision: on a Windows checkout
/// one of the two would be lost. Names that merely resemble them still commit.
#[test]
fn names_windows_reads_as_metadata_json_or_as_each_other_are_refused() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let before = env.snapshot(&store);
    let cases: &[&[&str]] = &[
        &["metadata.json."],
        &["metadata.json "],
        &["metadata.json. ."],
        &["metadata.json::$DATA"],
        &["metadata.json:x"],
        &["METADATA.JSON.", "other.txt"],
        &["metadata.json./r.csv"],
        &["a.txt", "a.txt."],
        &["a.txt", "A.TXT  "],
        &["dir./x.txt", "dir/x.txt"],
        &["x", "x:y"],
    ];
    for (i, names) in cases.iter().enumerate() {
        let dir = format!("case{i}");
        for name in *names {
            env.write(&format!("{dir}/{name}"), "x\n");
        }
        let input = format!("{}/.", env.path(&dir).to_str().unwrap());
        let corr = format!("c{i}");
        let run = env.run(&commit_args(s, &corr, &[&input]));
        assert_eq!(run.code, 2, "{names:?}: {run:?}");
        assert_eq!(run.json()["error"]["kind"], "invalid_input", "{names:?}");
        assert_eq!(
            env.snapshot(&store),
            before,
            "{names:?}: something was written"
        );
    }
    env.fsck(&store);
    for name in ["metadata.json.bak", "metadata.jsonx", "a.b.c", "x.y"] {
        env.write(&format!("fine/{name}"), "x\n");
    }
    let input = format!("{}/.", env.path("fine").to_str().unwrap());
    env.run(&commit_args(s, "fine", &[&input])).ok();
    env.fsck(&store);
}

/// A commit on a task branch whose tree and metadata.json disagree (made with git
/// directly: a file added that metadata.json does not list, or a listed file removed) is
/// never exported as if whole: exit 1, `corrupt`, the path named, nothing written.
#[test]
fn export_refuses_a_set_whose_tree_and_metadata_disagree() {
    for variant in ["unlisted", "missing"] {
        let env = Env::new();
        let store = env.store();
        let s = store.to_str().unwrap();
        let a = env.write("in/a.txt", "a\n");
        let b = env.write("in/b.txt", "b\n");
        env.run(&commit_args(
            s,
            "c1",
            &[a.to_str().unwrap(), b.to_str().unwrap()],
        ))
        .ok();
        let index = env.path("tamper.index");
        let git = |args: &[&str]| -> String {
            let out = env
                .git_cmd(&[&["-C", s][..], args].concat())
                .env("GIT_INDEX_FILE", &index)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        git(&["read-tree", "ai/generated/wf/t"]);
        let named = match variant {
            "unlisted" => {
                let extra = env.write("extra.txt", "not in metadata\n");
                let blob = git(&["hash-object", "-w", extra.to_str().unwrap()]);
                let info = format!("100644,{blob},artifacts/wf/t/x.txt");
                git(&["update-index", "--add", "--cacheinfo", &info]);
                "artifacts/wf/t/x.txt"
            }
            _ => {
                let out = env
                    .git_cmd(&["-C", s, "update-index", "--index-info"])
                    .env("GIT_INDEX_FILE", &index)
                    .stdin(std::process::Stdio::piped())
                    .spawn()
                    .and_then(|mut child| {
                        use std::io::Write;
                        let zero = "0".repeat(40);
                        let line = format!("0 {zero}\tartifacts/wf/t/b.txt\n");
                        child.stdin.take().unwrap().write_all(line.as_bytes())?;
                        child.wait()
                    })
                    .unwrap();
                assert!(out.success());
                "artifacts/wf/t/b.txt"
            }
        };
        let tree = git(&["write-tree"]);
        let msg = git(&["log", "-1", "--format=%B", "ai/generated/wf/t"]);
        let commit = git(&["commit-tree", "-p", "ai/generated/wf/t", "-m", &msg, &tree]);
        git(&["update-ref", "refs/heads/ai/generated/wf/t", &commit]);
        let out = env.path("out");
        let run = env.run(&[
            "--repo",
            s,
            "--json",
            "export",
            "wf/t",
            "--to",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 1, "{variant}: {run:?}");
        let json = run.json();
        assert_eq!(json["error"]["kind"], "corrupt", "{variant}: {json}");
        assert!(
            json["error"]["message"].as_str().unwrap().contains(named),
            "{variant}: {json}"
        );
        assert!(!out.exists(), "{variant}: the export wrote {out:?}");
        // verify says the same.
        assert_ne!(
            env.run(&["--repo", s, "verify", "wf/t"]).code,
            0,
            "{variant}"
        );
        // The untampered set still exports.
        env.run(&[
            "--repo",
            s,
            "export",
            "corr_c1",
            "--to",
            env.path("ok").to_str().unwrap(),
        ])
        .ok();
    }
}
