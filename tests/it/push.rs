//! Push after commit, the non-fast-forward re-apply (both rejection forms), against real
//! remotes: bare repositories on disk and a `git daemon` on a loopback port.

use crate::common;

use common::{commit_args, has_ref, rev, store_with_remote, Env};
use std::path::Path;

const BRANCH: &str = "refs/heads/ai/generated/wf/t";

#[test]
fn only_auto_push_or_a_push_flag_pushes() {
    let env = Env::new();
    let remote = env.bare_remote("remote.git");
    let store = store_with_remote(&env, "s.git", remote.to_str().unwrap());
    let file = env.write("a.txt", "a\n");
    let f = file.to_str().unwrap();
    let run = env.run(&commit_args(&store, "c1", &[f])).ok();
    assert_eq!(run.json()["pushed"], false);
    assert!(!has_ref(&env, &remote, BRANCH), "no push without auto_push");

    let mut args = vec!["-c", "auto_push=true"];
    args.extend(commit_args(&store, "c2", &[f]));
    let run = env.run(&args).ok();
    assert_eq!(run.json()["pushed"], true, "{}", run.stderr);
    let run = env
        .run_env(
            &commit_args(&store, "c3", &[env.write("b.txt", "b\n").to_str().unwrap()]),
            &[("ARTIFACT_STORE_AUTO_PUSH", "1")],
        )
        .ok();
    assert_eq!(run.json()["pushed"], true);
    assert_eq!(
        rev(&env, &remote, BRANCH),
        run.json()["commit_sha"].as_str().unwrap()
    );
    // The commit before auto_push went out with the branch; its tag waits for push --pending.
    assert!(!has_ref(&env, &remote, "refs/tags/corr_c1"));
    let report = env
        .run(&["--repo", &store, "--json", "push", "--pending"])
        .ok()
        .json();
    let pushed: Vec<&str> = report["pushed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ref"].as_str().unwrap())
        .collect();
    assert_eq!(pushed, ["refs/tags/corr_c1"]);
}

#[test]
fn a_remote_that_is_down_keeps_the_commit_and_push_pending_sends_it_later() {
    let env = Env::new();
    let mut daemon = env.daemon();
    let remote = env.bare_remote("remote.git");
    let store = store_with_remote(&env, "s.git", &daemon.url("remote.git"));
    daemon.stop();
    let file = env.write("a.txt", "a\n");
    let f = file.to_str().unwrap();

    let mut args = commit_args(&store, "down1", &[f]);
    args.push("--push");
    let run = env.run(&args);
    assert_eq!(
        run.code, 0,
        "a failed push never fails a landed commit: {}",
        run.stderr
    );
    let first = run.json();
    assert_eq!(first["pushed"], false);
    assert!(run.stderr.contains("warning: not pushed"), "{}", run.stderr);

    let other = env.write("b.txt", "b\n");
    let mut args = commit_args(&store, "down2", &[other.to_str().unwrap()]);
    args.push("--require-push");
    let run = env.run(&args);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert_eq!(run.json()["error"]["kind"], "remote");
    let store_path = Path::new(&store);
    let second = rev(&env, store_path, "refs/tags/corr_down2^{commit}");
    assert_eq!(
        rev(&env, store_path, BRANCH),
        second,
        "the commit landed locally"
    );

    let run = env.run(&["--repo", &store, "push", "--pending"]);
    assert_eq!(run.code, 6, "remote still down: {}", run.stderr);

    daemon.restart(&env);
    let run = env
        .run(&["--repo", &store, "--json", "push", "--pending"])
        .ok();
    let report = run.json();
    assert_eq!(report["success"], true);
    assert_eq!(report["refused"].as_array().unwrap().len(), 0);
    let mut pushed: Vec<&str> = report["pushed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ref"].as_str().unwrap())
        .collect();
    pushed.sort();
    assert_eq!(
        pushed,
        [BRANCH, "refs/tags/corr_down1", "refs/tags/corr_down2"]
    );
    assert_eq!(rev(&env, &remote, BRANCH), second);
    assert_eq!(
        rev(&env, &remote, "refs/tags/corr_down1^{commit}"),
        first["commit_sha"].as_str().unwrap()
    );

    let again = env
        .run(&["--repo", &store, "--json", "push", "--pending"])
        .ok();
    let again = again.json();
    assert_eq!(again["pushed"].as_array().unwrap().len(), 0, "idempotent");
    assert_eq!(again["up_to_date"], 3);
    env.fsck(&remote);
}

/// Store B has not seen A's commit: libgit2 refuses B's push before sending anything.
#[test]
fn a_client_side_non_fast_forward_is_reapplied_onto_the_remote_tip() {
    let env = Env::new();
    let remote = env.bare_remote("remote.git");
    let url = remote.to_str().unwrap();
    let a = store_with_remote(&env, "a.git", url);
    let b = store_with_remote(&env, "b.git", url);
    let fa = env.write("a/strategy.py", "print('a')\n");
    let fb = env.write("b/strategy.py", "print('b')\n");
    let mut args = commit_args(&a, "first", &[fa.to_str().unwrap()]);
    args.extend(["--prompt-hash", "7a8b9c0d", "--push"]);
    let first = env.run(&args).ok().json();
    let mut args = commit_args(&b, "second", &[fb.to_str().unwrap()]);
    args.extend(["--prompt-hash", "7a8b9c0d", "--push"]);
    let run = env.run(&args).ok();
    assert!(run.stderr.contains("re-applied"), "{}", run.stderr);
    let second = run.json();
    assert_eq!(second["pushed"], true, "{}", run.stderr);
    let tip = second["commit_sha"].as_str().unwrap();

    assert_eq!(rev(&env, &remote, BRANCH), tip);
    assert_eq!(
        rev(&env, &remote, &format!("{tip}^")),
        first["commit_sha"].as_str().unwrap(),
        "re-applied onto the remote tip"
    );
    assert_eq!(rev(&env, &remote, "refs/tags/corr_second^{commit}"), tip);
    assert_eq!(
        rev(&env, &remote, "refs/tags/prompt_7a8b9c0d^{commit}"),
        tip
    );
    let b_path = Path::new(&b);
    assert_eq!(
        rev(&env, b_path, "refs/tags/corr_second^{commit}"),
        tip,
        "tag moved"
    );
    assert_eq!(rev(&env, b_path, BRANCH), tip);
    let content = env.git_in(
        &remote,
        &["show", &format!("{tip}:artifacts/wf/t/strategy.py")],
    );
    assert_eq!(content, "print('b')");
    let meta: serde_json::Value = serde_json::from_str(&env.git_in(
        &remote,
        &["show", &format!("{tip}:artifacts/wf/t/metadata.json")],
    ))
    .unwrap();
    assert_eq!(meta["correlation_id"], "corr_second");
    let message = env.git_in(&remote, &["log", "-1", "--format=%B", tip]);
    assert!(message.contains("Correlation-Id: corr_second"), "{message}");
    env.fsck(&remote);
    env.fsck(b_path);
}

/// The remote's pre-receive hook moves the branch itself on the first push it sees, as
/// another machine winning the race would: the push call succeeds, but the server answers
/// the branch with a status string.
#[test]
fn a_server_side_rejection_status_is_fetched_reapplied_and_pushed_again() {
    let env = Env::new();
    let daemon = env.daemon();
    let remote = env.bare_remote("remote.git");
    let store = store_with_remote(&env, "s.git", &daemon.url("remote.git"));
    let f1 = env.write("one/a.txt", "1\n");
    let mut args = commit_args(&store, "before", &[f1.to_str().unwrap()]);
    args.push("--push");
    let before = env.run(&args).ok().json();
    assert_eq!(before["pushed"], true);
    let hook = remote.join("hooks/pre-receive");
    std::fs::write(&hook, RACING_HOOK).unwrap();
    make_executable(&hook);
    std::fs::write(remote.join("race.arm"), "").unwrap();

    let f2 = env.write("two/a.txt", "2\n");
    let mut args = commit_args(&store, "after", &[f2.to_str().unwrap()]);
    args.push("--push");
    let run = env.run(&args).ok();
    assert!(!remote.join("race.arm").exists(), "the racing hook fired");
    let after = run.json();
    assert_eq!(after["pushed"], true, "{}", run.stderr);
    let tip = after["commit_sha"].as_str().unwrap();
    let racer = env.git_in(&remote, &["rev-parse", &format!("{tip}^")]);
    assert_ne!(racer, before["commit_sha"].as_str().unwrap());
    assert_eq!(
        env.git_in(&remote, &["log", "-1", "--format=%s", &racer]),
        "other machine"
    );
    assert_eq!(rev(&env, &remote, BRANCH), tip);
    assert_eq!(rev(&env, &remote, "refs/tags/corr_after^{commit}"), tip);
    let files = env.git_in(&remote, &["ls-tree", "-r", "--name-only", tip]);
    assert!(files.contains("artifacts/other/x.txt"), "{files}");
    assert!(files.contains("artifacts/wf/t/a.txt"), "{files}");
    env.fsck(&remote);
}

/// On its first run (while `race.arm` exists) moves the pushed branch to a new commit made
/// in the repository proper, outside the push's quarantine.
const RACING_HOOK: &str = r#"#!/bin/sh
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
[ -e race.arm ] || exit 0
rm race.arm
while read old new ref; do
  case "$ref" in refs/heads/ai/generated/*) ;; *) continue ;; esac
  blob=$(echo other | git hash-object -w --stdin)
  GIT_INDEX_FILE=race.index git read-tree "$old"
  GIT_INDEX_FILE=race.index git update-index --add --cacheinfo "100644,$blob,artifacts/other/x.txt"
  tree=$(GIT_INDEX_FILE=race.index git write-tree)
  rm -f race.index
  c=$(git commit-tree -p "$old" -m "other machine" "$tree")
  git update-ref "$ref" "$c" "$old"
done
exit 0
"#;

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A per-ref `update` hook on the remote refuses the branch: its tags still go out.
#[test]
fn tags_go_out_in_their_own_call_when_the_branch_is_refused() {
    let env = Env::new();
    let daemon = env.daemon();
    let remote = env.bare_remote("remote.git");
    let store = store_with_remote(&env, "s.git", &daemon.url("remote.git"));
    let hook = remote.join("hooks/update");
    std::fs::write(
        &hook,
        "#!/bin/sh\ncase \"$1\" in refs/heads/*) echo \"branch frozen\" >&2; exit 1;; esac\nexit 0\n",
    )
    .unwrap();
    make_executable(&hook);
    let f = env.write("a.txt", "a\n");
    let mut args = commit_args(&store, "frozen", &[f.to_str().unwrap()]);
    args.push("--push");
    let run = env.run(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = run.json();
    assert_eq!(result["pushed"], false);
    assert!(run.stderr.contains("branch frozen"), "{}", run.stderr);
    assert!(!has_ref(&env, &remote, BRANCH));
    assert_eq!(
        rev(&env, &remote, "refs/tags/corr_frozen^{commit}"),
        result["commit_sha"].as_str().unwrap()
    );

    let run = env.run(&["--repo", &store, "--json", "push"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["refused"][0]["ref"], BRANCH);
    assert!(report["refused"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("branch frozen"));
    assert_eq!(report["up_to_date"], 1);
}
