//! The kinds of remote (local path, file://, git:// through `git daemon`), how
//! `remote_name` picks one, and `push_timeout` against a remote that never answers.

use crate::common;

use common::{commit_args, has_ref, rev, store_with_remote, Env};
use std::path::Path;

const BRANCH: &str = "refs/heads/ai/generated/wf/t";

#[test]
fn commit_push_reaches_a_local_path_a_file_url_and_a_git_daemon() {
    let env = Env::new();
    let daemon = env.daemon();
    let remote = env.bare_remote("remote.git");
    let urls = [
        remote.to_str().unwrap().to_string(),
        format!("file://{}", remote.display()),
        daemon.url("remote.git"),
    ];
    let file = env.write("report.json", "{\"passed\": 1}\n");
    for (i, url) in urls.iter().enumerate() {
        let store = store_with_remote(&env, &format!("s{i}.git"), url);
        let corr = format!("via{i}");
        let mut args = commit_args(&store, &corr, &[file.to_str().unwrap()]);
        args.extend(["--prompt-hash", "7a8b9c0d", "--push"]);
        let run = env.run(&args).ok();
        let result = run.json();
        assert_eq!(result["pushed"], true, "{url}: {}", run.stderr);
        let sha = result["commit_sha"].as_str().unwrap();
        let store = Path::new(&store);
        let tag = format!("refs/tags/corr_{corr}");
        assert_eq!(
            rev(&env, &remote, &format!("{tag}^{{commit}}")),
            sha,
            "{url}"
        );
        assert_eq!(
            rev(&env, &remote, &tag),
            rev(&env, store, &tag),
            "{url}: same tag object"
        );
        assert_eq!(
            rev(&env, &remote, "refs/tags/prompt_7a8b9c0d^{commit}"),
            sha,
            "{url}"
        );
        assert_eq!(rev(&env, &remote, BRANCH), sha, "{url}");
    }
    env.fsck(&remote);
}

#[test]
fn remote_name_is_a_configured_remote_or_a_path_from_config_or_environment() {
    let env = Env::new();
    let store = env.store_at("s.git");
    let s = store.to_str().unwrap();
    let one = env.bare_remote("one.git");
    let two = env.bare_remote("two.git");
    let f = env.write("a.txt", "a\n");
    let f = f.to_str().unwrap();

    let mut args = commit_args(s, "nowhere", &[f]);
    args.push("--push");
    let run = env.run(&args).ok();
    assert_eq!(run.json()["pushed"], false);
    assert!(
        run.stderr.contains("no remote named \"origin\""),
        "{}",
        run.stderr
    );

    let mut args = commit_args(s, "by-env", &[f]);
    args.push("--push");
    let run = env
        .run_env(&args, &[("GIT_REMOTE_NAME", one.to_str().unwrap())])
        .ok();
    assert_eq!(run.json()["pushed"], true, "{}", run.stderr);
    assert!(has_ref(&env, &one, "refs/tags/corr_by-env"));

    env.git_in(
        &store,
        &["remote", "add", "upstream", two.to_str().unwrap()],
    );
    let mut args = vec!["-c", "remote_name=upstream"];
    args.extend(commit_args(s, "by-name", &[f]));
    args.push("--push");
    let run = env.run(&args).ok();
    assert_eq!(run.json()["pushed"], true, "{}", run.stderr);
    assert!(has_ref(&env, &two, "refs/tags/corr_by-name"));
    assert!(
        !has_ref(&env, &two, "refs/tags/corr_by-env"),
        "only the commit's own tags"
    );
}

/// A remote that accepts the connection and never answers: the push gives up after
/// `push_timeout` seconds without progress, and the commit stands.
#[test]
fn a_silent_remote_times_out_after_push_timeout() {
    let env = Env::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for _ in 0..4 {
            match listener.accept() {
                Ok((socket, _)) => open.push(socket),
                Err(_) => break,
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(5));
    });
    let store = store_with_remote(&env, "s.git", &format!("git://127.0.0.1:{port}/remote.git"));
    let f = env.write("a.txt", "a\n");
    let mut args = vec!["-c", "push_timeout=1"];
    args.extend(commit_args(&store, "slow", &[f.to_str().unwrap()]));
    args.push("--push");
    let started = std::time::Instant::now();
    let run = env.run(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.json()["pushed"], false);
    assert!(run.stderr.contains("push_timeout"), "{}", run.stderr);
    let run = env.run_env(&["--repo", &store, "push"], &[("GIT_PUSH_TIMEOUT", "1")]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    drop(held);
}
