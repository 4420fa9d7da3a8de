//! `push --pending`: which refs go, which never do, idempotence, progress, and one
//! correlation id committed on two machines.

use crate::common;

use common::{commit_args, store_with_remote, Env};
use serde_json::Value;
use std::path::Path;

const BRANCH: &str = "refs/heads/ai/generated/wf/t";

fn refs_of(report: &Value, key: &str) -> Vec<String> {
    let mut refs: Vec<String> = report[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ref"].as_str().unwrap().to_string())
        .collect();
    refs.sort();
    refs
}

fn remote_refs(env: &Env, remote: &Path) -> String {
    env.git_in(remote, &["for-each-ref", "--format=%(refname)"])
}

#[test]
fn pending_pushes_store_refs_only_and_is_idempotent() {
    let env = Env::new();
    let remote = env.bare_remote("remote.git");
    let store = store_with_remote(&env, "s.git", remote.to_str().unwrap());
    let s = Path::new(&store);
    let a = env.write("a.txt", "a\n");
    let mut args = commit_args(&store, "one", &[a.to_str().unwrap()]);
    args.push("--push");
    let one = env.run(&args).ok().json();
    let b = env.write("b.txt", "b\n");
    let mut args = commit_args(&store, "two", &[b.to_str().unwrap()]);
    args.extend(["--prompt-hash", "feedbeef"]);
    let two = env.run(&args).ok().json();
    let tip = two["commit_sha"].as_str().unwrap();
    env.git_in(s, &["update-ref", "refs/artifact-store/pins/keep", tip]);
    env.git_in(
        s,
        &[
            "update-ref",
            &format!("refs/artifact-store/trash/1700000000/{BRANCH}"),
            tip,
        ],
    );
    env.git_in(s, &["update-ref", "refs/artifact-store/reports", tip]);
    env.git_in(s, &["update-ref", "refs/heads/main", tip]);

    let run = env
        .run(&["--repo", &store, "--json", "push", "--pending"])
        .ok();
    let report = run.json();
    let keys: Vec<&str> = report
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
            "remote",
            "pushed",
            "refused",
            "reapplied",
            "up_to_date",
            "remote_ahead"
        ]
    );
    assert_eq!(report["success"], true);
    assert_eq!(report["remote"], "origin");
    assert_eq!(
        refs_of(&report, "pushed"),
        [
            "refs/artifact-store/pins/keep",
            BRANCH,
            "refs/tags/corr_two",
            "refs/tags/prompt_feedbeef"
        ]
    );
    let branch = report["pushed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ref"] == BRANCH)
        .unwrap();
    assert_eq!(
        branch["old"], one["commit_sha"],
        "the remote held an older commit"
    );
    assert_eq!(branch["new"], tip);
    assert_eq!(branch["forced"], false);
    assert_eq!(report["up_to_date"], 1, "corr_one went out with its commit");
    let held = remote_refs(&env, &remote);
    assert!(!held.contains("trash"), "{held}");
    assert!(!held.contains("reports"), "{held}");
    assert!(!held.contains("refs/heads/main"), "{held}");

    let again = env.run(&["--repo", &store, "--json", "push"]).ok().json();
    assert_eq!(again["pushed"], serde_json::json!([]));
    assert_eq!(again["up_to_date"], 5);
    let run = env.run(&["--repo", &store, "push"]).ok();
    assert!(
        run.stderr.contains("0 refs pushed to origin, 5 up to date"),
        "{}",
        run.stderr
    );
    env.fsck(&remote);
}

#[test]
fn push_progress_lines_only_when_asked_never_on_a_pipe_by_itself() {
    let env = Env::new();
    let remote = env.bare_remote("remote.git");
    let store = store_with_remote(&env, "s.git", remote.to_str().unwrap());
    let a = env.write("a.txt", "a\n");
    let one = env
        .run(&commit_args(&store, "one", &[a.to_str().unwrap()]))
        .ok()
        .json();
    let small = env.run(&["--repo", &store, "push"]).ok();
    assert!(!small.stderr.contains("push: "), "{}", small.stderr);

    let tip = one["commit_sha"].as_str().unwrap();
    let edits: String = (0..150)
        .map(|i| format!("create refs/tags/corr_bulk{i:03} {tip}\n"))
        .collect();
    env.git_stdin(&["-C", &store, "update-ref", "--stdin"], &edits);
    // A large push on a pipe (or with --json) draws nothing: progress is for terminals.
    let large = env.run(&["--repo", &store, "--json", "push"]).ok();
    assert!(!large.stderr.contains("push: "), "{}", large.stderr);
    assert_eq!(large.json()["pushed"].as_array().unwrap().len(), 150);

    env.git_in(
        Path::new(&store),
        &["update-ref", "refs/tags/corr_late", tip],
    );
    let forced = env.run(&["--repo", &store, "push", "--progress"]).ok();
    assert!(
        forced.stderr.contains("push: 1 ref to push"),
        "{}",
        forced.stderr
    );
    assert!(
        forced.stderr.contains("push: 1/1 refs settled"),
        "{}",
        forced.stderr
    );
    let quiet = env
        .run(&["--repo", &store, "-q", "push", "--progress"])
        .ok();
    assert_eq!(quiet.stderr, "");
}

/// A redelivered event committed on two machines: the remote ends up with one commit.
#[test]
fn one_correlation_id_committed_on_two_machines_lands_once() {
    let env = Env::new();
    let remote = env.bare_remote("remote.git");
    let url = remote.to_str().unwrap();
    let a = store_with_remote(&env, "a.git", url);
    let b = store_with_remote(&env, "b.git", url);
    let file = env.write("report.json", "{\"trades\": 12}\n");
    let f = file.to_str().unwrap();
    let mut args = commit_args(&a, "redelivered", &[f]);
    args.push("--push");
    let first = env
        .run_env(&args, &[("GIT_COMMITTER_DATE", "@1700000000 +0000")])
        .ok()
        .json();
    let mut args = commit_args(&b, "redelivered", &[f]);
    args.push("--push");
    let run = env
        .run_env(&args, &[("GIT_COMMITTER_DATE", "@1700000100 +0000")])
        .ok();
    let second = run.json();
    assert_eq!(second["pushed"], true, "{}", run.stderr);
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["commit_sha"], first["commit_sha"]);
    let log = env.git_in(
        &remote,
        &[
            "log",
            "--format=%(trailers:key=Correlation-Id,valueonly)",
            BRANCH,
        ],
    );
    assert_eq!(log.lines().filter(|l| !l.is_empty()).count(), 1, "{log}");
    let b_path = Path::new(&b);
    assert_eq!(
        env.git_in(
            b_path,
            &["rev-parse", "refs/tags/corr_redelivered^{commit}"]
        ),
        first["commit_sha"].as_str().unwrap()
    );
    assert_eq!(
        env.git_in(b_path, &["rev-parse", BRANCH]),
        first["commit_sha"].as_str().unwrap()
    );

    // The same id with other files on a third machine is refused, not pushed twice.
    let c = store_with_remote(&env, "c.git", url);
    let other = env.write("other.json", "{\"trades\": 13}\n");
    let mut args = commit_args(&c, "redelivered", &[other.to_str().unwrap()]);
    args.push("--push");
    let run = env.run(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["pushed"], false);
    assert!(run.stderr.contains("with other files"), "{}", run.stderr);
    assert_eq!(
        env.git_in(
            &remote,
            &["rev-parse", "refs/tags/corr_redelivered^{commit}"]
        ),
        first["commit_sha"].as_str().unwrap()
    );
    env.fsck(&remote);
}

/// Tags the remote holds at other commits: a newer prompt tag is left, a corr tag that names
/// other content is refused; neither is overwritten.
#[test]
fn tags_the_remote_holds_elsewhere_are_left_or_refused_never_overwritten() {
    let env = Env::new();
    let remote = env.bare_remote("remote.git");
    let url = remote.to_str().unwrap();
    let a = store_with_remote(&env, "a.git", url);
    let b = store_with_remote(&env, "b.git", url);
    let f1 = env.write("x.txt", "1\n");
    let f2 = env.write("y.txt", "2\n");
    let mut args = commit_args(&b, "clash", &[f2.to_str().unwrap()]);
    args.extend(["--prompt-hash", "cafe1234"]);
    env.run_env(&args, &[("GIT_COMMITTER_DATE", "@1700000000 +0000")])
        .ok();
    let mut args = commit_args(&a, "clash", &[f1.to_str().unwrap()]);
    args.extend(["--prompt-hash", "cafe1234", "--push"]);
    let theirs = env
        .run_env(&args, &[("GIT_COMMITTER_DATE", "@1700000500 +0000")])
        .ok()
        .json();
    // b's branch diverges with the same id and other files; its older prompt tag stays behind.
    let run = env.run(&["--repo", &b, "--json", "push"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    let report = run.json();
    assert_eq!(
        refs_of(&report, "refused"),
        [BRANCH, "refs/tags/corr_clash"]
    );
    assert_eq!(
        report["remote_ahead"],
        serde_json::json!(["refs/tags/prompt_cafe1234"])
    );
    for tag in [
        "refs/tags/corr_clash^{commit}",
        "refs/tags/prompt_cafe1234^{commit}",
    ] {
        assert_eq!(
            env.git_in(&remote, &["rev-parse", tag]),
            theirs["commit_sha"].as_str().unwrap()
        );
    }
}
