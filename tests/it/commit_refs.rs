//! A commit that fails has not moved its branch; one that landed says so: refs in the way
//! of the tags, held locks, a branch checked out in a worktree, tags lost after the branch
//! moved, and re-commits whose metadata differs.

use crate::common;
use crate::events::support;

use std::path::Path;
use std::time::Duration;

use common::{commit_args, has_ref, old_lock, rev, Env};
use serde_json::Value;

const BRANCH: &str = "refs/heads/ai/generated/wf/t";

/// A store holding one commit of `f.txt` on `wf/t` as `corr_base` with prompt `base0`.
fn store_with_one_commit(env: &Env) -> (std::path::PathBuf, String) {
    let store = env.store();
    let s = store.to_str().unwrap().to_string();
    let file = env.write("base/f.txt", "base\n");
    let mut args = commit_args(&s, "base", &[file.to_str().unwrap()]);
    args.extend(["--prompt-hash", "base0"]);
    env.run(&args).ok();
    (store, s)
}

/// The arguments of a `--json` commit of a new file as `corr`, with extra flags.
fn commit_of(env: &Env, store: &str, corr: &str, extra: &[&str]) -> Vec<String> {
    let file = env.write(&format!("{corr}/f.txt"), format!("{corr}\n"));
    let mut args = commit_args(store, corr, &[file.to_str().unwrap()]);
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

/// A commit of a new file as `corr`, with extra flags.
fn commit(env: &Env, store: &str, corr: &str, extra: &[&str]) -> common::Run {
    let args = commit_of(env, store, corr, extra);
    env.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Runs `args` against `store` and asserts a refused commit that changed nothing
/// (`Env::refused_unchanged`: exit code, JSON kind, refs and objects as they were, fsck
/// clean) whose message and stderr name `named`.
#[track_caller]
fn refused(
    env: &Env,
    store: &Path,
    args: &[impl AsRef<str>],
    (code, kind): (i32, &str),
    named: &str,
) -> common::Run {
    let run = env.refused_unchanged(store, args, code, kind);
    let json = run.json();
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains(named), "{message} names {named}");
    assert!(run.stderr.contains(named), "{}", run.stderr);
    run
}

#[test]
fn a_tag_name_that_holds_no_commit_refuses_the_commit_before_the_branch_moves() {
    let env = Env::new();
    let (store, s) = store_with_one_commit(&env);
    let blob = env.git_stdin(
        &["-C", &s, "hash-object", "-w", "--stdin"],
        "not a commit\n",
    );
    let tree = rev(&env, &store, &format!("{BRANCH}^{{tree}}"));
    env.git_in(
        &store,
        &["tag", "-a", "-m", "on a blob", "annotated_blob", &blob],
    );
    let annotated = rev(&env, &store, "refs/tags/annotated_blob");
    // Each: the tag ref, what it holds, the flags of a commit that would write it.
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "refs/tags/prompt_beef",
            blob.clone(),
            vec!["--prompt-hash", "beef"],
        ),
        ("refs/tags/prompt_cafe", tree, vec!["--prompt-hash", "cafe"]),
        (
            "refs/tags/prompt_f00d",
            annotated,
            vec!["--prompt-hash", "f00d"],
        ),
        ("refs/tags/corr_onblob", blob.clone(), vec![]),
    ];
    for (i, (refname, target, flags)) in cases.iter().enumerate() {
        env.git_in(&store, &["update-ref", refname, target]);
        let corr = match refname.strip_prefix("refs/tags/corr_") {
            Some(id) => id.to_string(),
            None => format!("new{i}"),
        };
        let args = commit_of(&env, &s, &corr, flags);
        refused(&env, &store, &args, (4, "conflict"), refname);
        env.git_in(&store, &["update-ref", "-d", refname]);
    }
    // With the way clear, the same commit lands with both tags.
    let run = commit(&env, &s, "new0", &["--prompt-hash", "beef"]).ok();
    assert_eq!(
        run.json()["tags"],
        serde_json::json!(["corr_new0", "prompt_beef"])
    );
    env.fsck(&store);
}

#[test]
fn a_ref_above_or_below_a_name_the_commit_writes_refuses_it_before_the_branch_moves() {
    for packed in [false, true] {
        let env = Env::new();
        let (store, s) = store_with_one_commit(&env);
        let mut tip = rev(&env, &store, BRANCH);
        // Each: a ref in the way, and the workflow, correlation id and flags of the commit
        // it blocks (its correlation tag, its prompt tag, its new branch from above or below).
        let cases: [(&str, &str, &str, &[&str]); 4] = [
            ("refs/tags/corr_dfa/x", "wf", "dfa", &[]),
            (
                "refs/tags/prompt_d0f0/x/y",
                "wf",
                "df1",
                &["--prompt-hash", "d0f0"],
            ),
            ("refs/heads/ai/generated/wf2", "wf2", "df2", &[]),
            ("refs/heads/ai/generated/wf3/t/deeper", "wf3", "df3", &[]),
        ];
        for (blocker, workflow, corr, flags) in cases {
            env.git_in(&store, &["update-ref", blocker, &tip]);
            if packed {
                env.git_in(&store, &["pack-refs", "--all"]);
            }
            let file = env.write(&format!("{corr}/f.txt"), format!("{corr}\n"));
            let mut args = vec![
                "--repo",
                &s,
                "--json",
                "commit",
                "--workflow",
                workflow,
                "--task",
                "t",
                "--correlation-id",
                corr,
            ];
            args.extend_from_slice(flags);
            args.push(file.to_str().unwrap());
            refused(&env, &store, &args, (4, "conflict"), blocker);
            let branch = format!("refs/heads/ai/generated/{workflow}/t");
            if workflow != "wf" {
                assert!(!has_ref(&env, &store, &branch), "{branch} was not created");
            }
            env.git_in(&store, &["update-ref", "-d", blocker]);
            // The way cleared, it lands.
            env.run(&args).ok();
            tip = rev(&env, &store, BRANCH);
        }
    }
}

#[test]
fn a_tag_whose_name_extends_another_is_not_taken_for_a_collision() {
    // `refs/tags/corr_base` blocks `refs/tags/corr_base/y`, not `refs/tags/corr_base.y`.
    let env = Env::new();
    let (store, s) = store_with_one_commit(&env);
    let run = commit(&env, &s, "base.y", &[]).ok();
    assert_eq!(run.json()["tags"], serde_json::json!(["corr_base.y"]));
    env.fsck(&store);
}

#[test]
fn a_held_tag_lock_refuses_the_commit_and_a_stale_one_is_removed() {
    let env = Env::new();
    let (store, s) = store_with_one_commit(&env);
    for (lock, flags) in [
        ("refs/tags/corr_held.lock", vec!["-c", "lock_timeout=1"]),
        (
            "refs/tags/prompt_10ck.lock",
            vec!["-c", "lock_timeout=1", "--prompt-hash", "10ck"],
        ),
    ] {
        let path = store.join(lock);
        old_lock(&path, Duration::ZERO);
        let corr = if lock.contains("corr_") {
            "held"
        } else {
            "held2"
        };
        let file = env.write(&format!("{corr}/f.txt"), "x\n");
        let mut args = vec!["--repo", s.as_str(), "--json"];
        args.extend_from_slice(&flags[..2]);
        args.extend([
            "commit",
            "--workflow",
            "wf",
            "--task",
            "t",
            "--correlation-id",
            corr,
        ]);
        args.extend_from_slice(&flags[2..]);
        args.push(file.to_str().unwrap());
        refused(&env, &store, &args, (4, "locked"), lock);
        assert!(path.exists(), "a live writer's lock is left alone");
        // Left by a dead process: removed with a warning, and the commit lands whole.
        old_lock(&path, Duration::from_secs(3600));
        let run = env.run(&args).ok();
        assert!(
            run.stderr.contains("removed a stale lock"),
            "{}",
            run.stderr
        );
        let json = run.json();
        assert_eq!(json["tags_missing"], serde_json::json!([]), "{json}");
        assert!(has_ref(&env, &store, &format!("refs/tags/corr_{corr}")));
        assert!(!path.exists());
        env.fsck(&store);
    }
}

#[test]
fn a_held_packed_refs_lock_does_not_keep_the_tags_from_being_written() {
    let env = Env::new();
    let (store, s) = store_with_one_commit(&env);
    env.git_in(&store, &["pack-refs", "--all"]);
    old_lock(&store.join("packed-refs.lock"), Duration::ZERO);
    // The prompt tag is packed: moving it writes a loose ref over it.
    let run = commit(
        &env,
        &s,
        "pk",
        &["-c", "lock_timeout=1", "--prompt-hash", "base0"],
    );
    let run = run.ok();
    let json = run.json();
    assert_eq!(
        json["tags"],
        serde_json::json!(["corr_pk", "prompt_base0"]),
        "{json}"
    );
    assert_eq!(json["tags_missing"], serde_json::json!([]));
    let sha = json["commit_sha"].as_str().unwrap();
    assert_eq!(rev(&env, &store, "prompt_base0^{commit}"), sha);
    std::fs::remove_file(store.join("packed-refs.lock")).unwrap();
    env.fsck(&store);
}

#[test]
fn a_tag_lost_after_its_commit_landed_is_named_missing_and_a_rerun_writes_it() {
    let env = Env::new();
    let (store, s) = store_with_one_commit(&env);
    let file = env.write("base/f.txt", "base\n");
    let args = {
        let mut args = commit_args(&s, "base", &[file.to_str().unwrap()]);
        args.extend(["--prompt-hash", "base0"]);
        args
    };
    let sha = rev(&env, &store, BRANCH);
    // Both tags gone, and a ref in the way of the correlation tag: the re-run finds the
    // commit by its trailer, writes the prompt tag, and names the one it cannot write.
    env.git_in(&store, &["tag", "-d", "corr_base", "prompt_base0"]);
    env.git_in(&store, &["update-ref", "refs/tags/corr_base/x", &sha]);
    let run = env.run(&args).ok();
    let json = run.json();
    assert_eq!(json["success"], true);
    assert_eq!(json["duplicate"], true);
    assert_eq!(json["commit_sha"], sha.as_str());
    assert_eq!(json["tags"], serde_json::json!(["prompt_base0"]), "{json}");
    assert_eq!(json["tags_missing"], serde_json::json!(["corr_base"]));
    assert!(
        run.stderr.contains("tag corr_base was not written") && run.stderr.contains("again"),
        "{}",
        run.stderr
    );
    let human: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let run = env.run(&human).ok();
    assert!(
        run.stdout.contains("(duplicate); tag missing: corr_base"),
        "{}",
        run.stdout
    );
    // The way cleared, the same commit again writes it.
    env.git_in(&store, &["update-ref", "-d", "refs/tags/corr_base/x"]);
    let run = env.run(&args).ok();
    let json = run.json();
    assert_eq!(
        json["tags"],
        serde_json::json!(["corr_base", "prompt_base0"]),
        "{json}"
    );
    assert_eq!(json["tags_missing"], serde_json::json!([]));
    assert!(
        run.stderr.contains("repaired missing tag corr_base"),
        "{}",
        run.stderr
    );
    assert_eq!(rev(&env, &store, "corr_base^{commit}"), sha);
    assert_eq!(rev(&env, &store, BRANCH), sha, "nothing new was committed");
    env.fsck(&store);
}

/// A non-bare store (adopted by `init`) whose main worktree has the task branch checked out.
fn non_bare_on_task_branch(env: &Env) -> (std::path::PathBuf, String) {
    let repo = env.path("work");
    env.git_in(
        env.dir.path(),
        &["init", "-q", "-b", "main", repo.to_str().unwrap()],
    );
    std::fs::write(repo.join("README"), "hi\n").unwrap();
    env.git_in(&repo, &["add", "README"]);
    env.git_in(&repo, &["commit", "-q", "-m", "init"]);
    let r = repo.to_str().unwrap().to_string();
    env.run(&["init", &r]).ok();
    commit(env, &r, "first", &[]).ok();
    env.git_in(&repo, &["switch", "-q", "ai/generated/wf/t"]);
    (repo, r)
}

#[test]
fn a_branch_checked_out_in_a_worktree_is_not_moved_under_it() {
    let env = Env::new();
    // The main worktree of a non-bare store.
    let (repo, r) = non_bare_on_task_branch(&env);
    let tip = rev(&env, &repo, BRANCH);
    let args = commit_of(&env, &r, "second", &[]);
    let run = refused(&env, &repo, &args, (4, "conflict"), "ai/generated/wf/t");
    assert!(run.json()["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("--force"));
    assert_eq!(env.git_in(&repo, &["status", "--porcelain"]), "");
    // Elsewhere in the same store, nothing is refused.
    let file = env.write("other/f.txt", "o\n");
    env.run(&[
        "--repo",
        &r,
        "commit",
        "--workflow",
        "wf",
        "--task",
        "other",
        "--correlation-id",
        "other",
        file.to_str().unwrap(),
    ])
    .ok();
    // --force commits anyway, and says the worktree did not follow.
    let run = commit(&env, &r, "second", &["--force"]).ok();
    assert!(run.stderr.contains("did not follow"), "{}", run.stderr);
    assert_ne!(rev(&env, &repo, BRANCH), tip);

    // A linked worktree of a bare store.
    let env = Env::new();
    let (store, s) = store_with_one_commit(&env);
    let wt = env.path("linked");
    env.git_in(
        &store,
        &[
            "worktree",
            "add",
            "-q",
            wt.to_str().unwrap(),
            "ai/generated/wf/t",
        ],
    );
    let tip = rev(&env, &store, BRANCH);
    let args = commit_of(&env, &s, "third", &[]);
    refused(&env, &store, &args, (4, "conflict"), wt.to_str().unwrap());
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    // Opened from the linked worktree itself, the same.
    let w = wt.to_str().unwrap();
    let run = commit(&env, w, "third", &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(rev(&env, &store, BRANCH), tip);
    // Switched away, the commit lands.
    env.git_in(&wt, &["switch", "-q", "--detach"]);
    commit(&env, &s, "third", &[]).ok();
    assert_ne!(rev(&env, &store, BRANCH), tip);
    env.fsck(&store);
}

/// Commits `base` again with `flags` and returns the JSON result and stderr.
fn recommit(env: &Env, s: &str, flags: &[&str]) -> (Value, String) {
    let file = env.write("meta/f.txt", "same files\n");
    let mut args = commit_args(s, "meta", &[file.to_str().unwrap()]);
    args.extend_from_slice(flags);
    let run = env.run(&args).ok();
    (run.json(), run.stderr)
}

#[test]
fn a_recommit_whose_metadata_differs_says_which_fields_differ() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap().to_string();
    let first = [
        "--set",
        "a=1",
        "--set",
        "m.x=1",
        "--set",
        "agent_version=v1",
        "--prompt-hash",
        "abcd1",
    ];
    let (json, _) = recommit(&env, &s, &first);
    assert_eq!(json["duplicate"], false);
    assert_eq!(json["metadata_differs"], false);
    assert_eq!(json["differing_fields"], serde_json::json!([]));
    let stored = env.git_in(&store, &["show", "corr_meta:artifacts/wf/t/metadata.json"]);
    let sha = json["commit_sha"].clone();

    // Identical metadata: a duplicate, no flag, no warning.
    let (json, stderr) = recommit(&env, &s, &first);
    assert_eq!(json["duplicate"], true);
    assert_eq!(json["metadata_differs"], false, "{json}");
    assert_eq!(json["differing_fields"], serde_json::json!([]));
    assert!(!stderr.contains("differs"), "{stderr}");

    let secretish = "VALUE-NEVER-SHOWN-7f3e";
    let set_value = format!("a={secretish}");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec![
                "--set",
                &set_value,
                "--set",
                "m.x=1",
                "--set",
                "agent_version=v1",
                "--prompt-hash",
                "abcd1",
            ],
            vec!["a"],
        ),
        (
            vec![
                "--set",
                "a=1",
                "--set",
                "m.x=2",
                "--set",
                "agent_version=v1",
                "--prompt-hash",
                "abcd1",
            ],
            vec!["m.x"],
        ),
        (
            vec![
                "--set",
                "a=1",
                "--set",
                "m.x=1",
                "--set",
                "agent_version=v2",
                "--prompt-hash",
                "abcd1",
            ],
            vec!["agent_version"],
        ),
        (
            vec![
                "--set",
                "a=1",
                "--set",
                "m.x=1",
                "--set",
                "agent_version=v1",
                "--prompt-hash",
                "abcd1",
                "--status",
                "failed",
            ],
            vec!["test_status"],
        ),
        (
            vec![
                "--set",
                "a=1",
                "--set",
                "m.x=1",
                "--set",
                "agent_version=v1",
                "--prompt-hash",
                "abcd1",
                "--set",
                "b=new",
            ],
            vec!["b"],
        ),
        (
            vec![
                "--set",
                "m.x=1",
                "--set",
                "agent_version=v1",
                "--prompt-hash",
                "abcd1",
            ],
            vec!["a"],
        ),
        (
            vec![
                "--set",
                "a=1",
                "--set",
                "m.x=1",
                "--set",
                "agent_version=v1",
                "--prompt-hash",
                "ef012",
            ],
            vec!["prompt_hash"],
        ),
        (
            vec![
                "--set",
                "a=1",
                "--set",
                "m.x=1",
                "--set",
                "agent_version=v1",
            ],
            vec!["prompt_hash"],
        ),
        (
            vec![
                "--set",
                "a=2",
                "--set",
                "m.y=1",
                "--set",
                "agent_version=v1",
                "--prompt-hash",
                "abcd1",
            ],
            vec!["a", "m.x", "m.y"],
        ),
    ];
    for (flags, fields) in cases {
        let (json, stderr) = recommit(&env, &s, &flags);
        assert_eq!(json["duplicate"], true, "{flags:?}: {json}");
        assert_eq!(json["commit_sha"], sha);
        assert_eq!(json["metadata_differs"], true, "{flags:?}: {json}");
        assert_eq!(
            json["differing_fields"],
            serde_json::json!(fields),
            "{flags:?}"
        );
        assert!(stderr.contains("metadata differs in"), "{stderr}");
        for field in &fields {
            assert!(stderr.contains(field), "{stderr} names {field}");
        }
        assert!(!stderr.contains(secretish) && !json.to_string().contains(secretish));
        assert_eq!(
            env.git_in(&store, &["show", "corr_meta:artifacts/wf/t/metadata.json"]),
            stored,
            "the first commit's metadata stays"
        );
    }
    assert!(
        !has_ref(&env, &store, "refs/tags/prompt_ef012"),
        "a prompt hash the commit does not record is not tagged on it"
    );
    let count = env.git_in(&store, &["rev-list", "--count", BRANCH]);
    assert_eq!(count, "1", "nothing new was committed");
    env.fsck(&store);
}

/// The answer to the `n`th event (0-based) with `corr`.
fn answer_for(got: &[Value], corr: &str, n: usize) -> Value {
    got.iter()
        .filter(|a| a["correlation_id"] == corr)
        .nth(n)
        .unwrap_or_else(|| panic!("no answer {n} for {corr} in {got:?}"))
        .clone()
}

#[test]
fn the_subscriber_never_answers_a_final_failure_for_a_commit_on_its_branch() {
    use support::*;
    let env = Env::new();
    let Some(redis) = Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let s = store.to_str().unwrap().to_string();
    // A task branch checked out in a linked worktree.
    let seed = env.write("seed/f.txt", "seed\n");
    env.run(&[
        "--repo",
        &s,
        "commit",
        "--workflow",
        "wf",
        "--task",
        "tw",
        "--correlation-id",
        "seed",
        seed.to_str().unwrap(),
    ])
    .ok();
    let wt = env.path("linked");
    env.git_in(
        &store,
        &[
            "worktree",
            "add",
            "-q",
            wt.to_str().unwrap(),
            "ai/generated/wf/tw",
        ],
    );
    let tw_tip = rev(&env, &store, "refs/heads/ai/generated/wf/tw");

    let names = Names::new("refs");
    let mut con = redis.con();
    let first = test_passed("corr_m1", "t", artifacts(&env, "m1", "1"));
    let mut second = first.clone();
    second["data"]["metrics"]["net_pnl"] = serde_json::json!(99.5);
    second["data"]["agent_version"] = serde_json::json!("coder-v2");
    let blocked = test_passed("corr_w1", "tw", artifacts(&env, "w1", "w"));
    let lost = test_passed("corr_lost", "t2", artifacts(&env, "lost", "l"));
    // A ref in the way of a correlation tag, in the same batch as sets that land.
    let in_the_way = test_passed("corr_dfb", "t3", artifacts(&env, "dfb", "d"));
    env.git_in(&store, &["update-ref", "refs/tags/corr_dfb/x", &tw_tip]);
    // The same again under a new event id: a redelivery, not other metadata.
    let mut republished = first.clone();
    republished["event_id"] = serde_json::json!("ev-republished");
    for event in [&first, &republished, &second, &blocked, &in_the_way, &lost] {
        publish(&mut con, &names.input, &event.to_string());
    }
    let mut sub = subscriber(&env, &store, &redis.url, &names, &["--max-events", "6"]);
    assert_eq!(sub.wait(Duration::from_secs(60)), Some(0), "{}", sub.log());
    let got = answers(&mut con, &names.output);

    let a = answer_for(&got, "corr_m1", 0);
    assert_eq!(a["event_type"], "ARTIFACT_COMMITTED", "{a}");
    assert_eq!(a["data"]["duplicate"], false);
    assert_eq!(a["data"]["metadata_differs"], false);
    assert_eq!(a["data"]["tags_missing"], serde_json::json!([]));
    let same = answer_for(&got, "corr_m1", 1);
    assert_eq!(same["data"]["duplicate"], true, "{same}");
    assert_eq!(same["data"]["metadata_differs"], false, "{same}");
    assert_eq!(same["data"]["differing_fields"], serde_json::json!([]));
    let differs = answer_for(&got, "corr_m1", 2);
    assert_eq!(differs["event_type"], "ARTIFACT_COMMITTED", "{differs}");
    assert_eq!(differs["data"]["duplicate"], true);
    assert_eq!(differs["data"]["metadata_differs"], true, "{differs}");
    assert_eq!(
        differs["data"]["differing_fields"],
        serde_json::json!(["agent_version", "test_metrics.net_pnl"])
    );
    assert!(!differs.to_string().contains("99.5") && !differs.to_string().contains("coder-v2"));

    let refused = answer_for(&got, "corr_w1", 0);
    assert_eq!(refused["event_type"], "ARTIFACT_COMMIT_FAILED", "{refused}");
    assert_eq!(refused["data"]["error"]["kind"], "conflict");
    let message = refused["data"]["error"]["message"].as_str().unwrap();
    assert!(message.contains(wt.to_str().unwrap()), "{message}");
    assert_eq!(rev(&env, &store, "refs/heads/ai/generated/wf/tw"), tw_tip);
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    assert!(!has_ref(&env, &store, "refs/tags/corr_w1"));
    let refused = answer_for(&got, "corr_dfb", 0);
    assert_eq!(refused["event_type"], "ARTIFACT_COMMIT_FAILED", "{refused}");
    assert_eq!(refused["data"]["error"]["kind"], "conflict");
    let message = refused["data"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("refs/tags/corr_dfb/x"), "{message}");
    assert!(!has_ref(&env, &store, "refs/heads/ai/generated/wf/t3"));
    env.git_in(&store, &["update-ref", "-d", "refs/tags/corr_dfb/x"]);

    // The tag of a landed commit lost, and a ref in the way of writing it again: the
    // redelivered event is answered as committed, naming the missing tag.
    let sha = rev(&env, &store, "corr_lost^{commit}");
    env.git_in(&store, &["tag", "-d", "corr_lost"]);
    env.git_in(&store, &["update-ref", "refs/tags/corr_lost/x", &sha]);
    publish(&mut con, &names.input, &lost.to_string());
    let mut sub = subscriber(&env, &store, &redis.url, &names, &["--max-events", "1"]);
    assert_eq!(sub.wait(Duration::from_secs(60)), Some(0), "{}", sub.log());
    let got = answers(&mut con, &names.output);
    let again = answer_for(&got, "corr_lost", 1);
    assert_eq!(again["event_type"], "ARTIFACT_COMMITTED", "{again}");
    assert_eq!(again["data"]["commit_sha"], sha.as_str());
    assert_eq!(again["data"]["duplicate"], true);
    assert_eq!(
        again["data"]["tags_missing"],
        serde_json::json!(["corr_lost"])
    );
    env.fsck(&store);
}
