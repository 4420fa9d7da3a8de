//! Trust boundaries from docs/security.md: a hostile tree exported to disk, secrets that
//! must not leak through errors and logs, credentials that must not be printed.

use crate::common;

use std::path::Path;

use artifact_store::events::handler::MAX_EVENT_BYTES;
use artifact_store::events::{Handler, HandlerOptions, Outcome};
use artifact_store::{OpenOptions, Store};
use common::{commit_args, Env};
use serde_json::json;

/// Writes `text` as a blob in `repo` and returns its id.
fn blob(env: &Env, repo: &Path, text: &str) -> String {
    env.git_stdin(
        &["-C", repo.to_str().unwrap(), "hash-object", "-w", "--stdin"],
        text,
    )
}

/// Writes a tree from `ls-tree`-style lines with `git mktree`, which checks neither
/// duplicate names nor `..`: what a hostile pusher or remote can hand the store.
fn tree(env: &Env, repo: &Path, lines: &[String]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    env.git_stdin(&["-C", repo.to_str().unwrap(), "mktree"], &text)
}

/// Commits `artifact_tree` as the artifact directory of wf/t (with the trailers `show`
/// needs) and returns the commit id.
fn hostile_commit(env: &Env, repo: &Path, artifact_tree: &str) -> String {
    let t = tree(env, repo, &[format!("040000 tree {artifact_tree}\tt")]);
    let wf = tree(env, repo, &[format!("040000 tree {t}\twf")]);
    let root = tree(env, repo, &[format!("040000 tree {wf}\tartifacts")]);
    let message =
        "artifacts(wf/t): corr_evil\n\nWorkflow-Id: wf\nTask-Id: t\nCorrelation-Id: corr_evil\n";
    env.git_stdin(
        &["-C", repo.to_str().unwrap(), "commit-tree", &root],
        message,
    )
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            out.push(entry.path().display().to_string());
            if entry.file_type().unwrap().is_dir() {
                out.extend(files_under(&entry.path()));
            }
        }
    }
    out
}

#[test]
fn export_of_a_hostile_tree_writes_nothing_outside_the_directory_and_nothing_at_all() {
    let env = Env::new();
    let store = env.store();
    let outside = env.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let meta = blob(&env, &store, "{\"schema_version\": 1}\n");
    let payload = blob(&env, &store, "written by a hostile tree\n");
    let link_out = blob(&env, &store, outside.to_str().unwrap());
    let climb = blob(&env, &store, "../../outside");
    let sub = tree(&env, &store, &[format!("100644 blob {payload}\tx")]);
    let meta_line = format!("100644 blob {meta}\tmetadata.json");
    let cases = [
        (
            "a symlink and a directory of one name",
            vec![
                format!("120000 blob {link_out}\td"),
                format!("040000 tree {sub}\td"),
                meta_line.clone(),
            ],
        ),
        (
            "a '..' entry",
            vec![format!("040000 tree {sub}\t.."), meta_line.clone()],
        ),
        (
            "a '.git' directory",
            vec![format!("040000 tree {sub}\t.git"), meta_line.clone()],
        ),
        (
            "a symlink climbing out",
            vec![format!("120000 blob {climb}\tescape"), meta_line.clone()],
        ),
    ];
    for (i, (what, lines)) in cases.iter().enumerate() {
        let commit = hostile_commit(&env, &store, &tree(&env, &store, lines));
        let to = env.path(&format!("exports/{i}/to"));
        for force in [false, true] {
            let mut args = vec![
                "--repo",
                store.to_str().unwrap(),
                "--json",
                "export",
                &commit,
                "--to",
                to.to_str().unwrap(),
            ];
            if force {
                args.push("--force");
            }
            let run = env.run(&args);
            assert_eq!(run.code, 2, "{what}: {}{}", run.stdout, run.stderr);
            assert_eq!(run.json()["error"]["kind"], "invalid_path", "{what}");
            assert!(
                files_under(&outside).is_empty(),
                "{what}: written outside: {:?}",
                files_under(&outside)
            );
            assert!(
                files_under(&env.path(&format!("exports/{i}"))).is_empty(),
                "{what}: written before the tree was refused: {:?}",
                files_under(&env.path(&format!("exports/{i}")))
            );
        }
    }
}

#[test]
fn export_never_writes_through_a_symlink_already_in_the_directory() {
    let env = Env::new();
    let store = env.store();
    env.write("out/sub/file.txt", "inside\n");
    std::os::unix::fs::symlink("sub/file.txt", env.path("out/link")).unwrap();
    let s = store.to_str().unwrap();
    let out = env.path("out");
    env.run(&commit_args(s, "corr_links", &[out.to_str().unwrap()]))
        .ok();

    let clean = env.path("clean");
    env.run(&[
        "--repo",
        s,
        "export",
        "corr_links",
        "--to",
        clean.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(
        std::fs::read_link(clean.join("out/link")).unwrap(),
        Path::new("sub/file.txt"),
        "a symlink inside the set is restored"
    );
    assert_eq!(
        std::fs::read_to_string(clean.join("out/link")).unwrap(),
        "inside\n"
    );

    let outside = env.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let to = env.path("to");
    std::fs::create_dir(&to).unwrap();
    std::os::unix::fs::symlink(&outside, to.join("out")).unwrap();
    for force in [false, true] {
        let mut args = vec!["--repo", s, "export", "corr_links", "--to"];
        args.push(to.to_str().unwrap());
        if force {
            args.push("--force");
        }
        let run = env.run(&args);
        assert_eq!(run.code, 2, "force={force}: {}", run.stderr);
        assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
        assert!(
            files_under(&outside).is_empty(),
            "force={force}: written through the symlink: {:?}",
            files_under(&outside)
        );
    }
    env.fsck(&store);
}

#[test]
fn a_redis_password_never_appears_in_help_errors_or_outage_warnings() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let password = "pw-9c1e5a7f3b";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();

    let help = env.run_env(
        &["subscribe", "--help"],
        &[(
            "REDIS_URL",
            &format!("redis://u:{password}@127.0.0.1:{port}"),
        )],
    );
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(help.stdout.contains("REDIS_URL"), "{}", help.stdout);
    assert!(!help.stdout.contains(password), "{}", help.stdout);

    let invalid = env.run_env(
        &["--repo", s, "subscribe", "--max-events", "1"],
        &[(
            "REDIS_URL",
            &format!("redis://u:{password}@127.0.0.1:99999"),
        )],
    );
    assert_eq!(invalid.code, 2, "{}", invalid.stderr);
    assert!(invalid.stderr.contains("u:***@"), "{}", invalid.stderr);
    assert!(!invalid.stderr.contains(password), "{}", invalid.stderr);

    // Nothing listens on `port`: the subscriber warns about the outage and keeps trying.
    let log = env.path("outage.log");
    let mut child = env
        .cmd(&["--repo", s, "subscribe", "--artifacts-root", s])
        .env(
            "REDIS_URL",
            format!("redis://u:{password}@127.0.0.1:{port}"),
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("unavailable") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("Redis at redis://u:***@127.0.0.1"), "{text}");
    assert!(!text.contains(password), "{text}");
}

/// A handler committing into a fresh bare store, artifacts under `runs/`.
fn handler(env: &Env) -> Handler {
    let repo = env.path("lib.git");
    Store::init(&repo, true).unwrap();
    std::fs::create_dir_all(env.path("runs/r1")).unwrap();
    env.write("runs/r1/strategy.py", "print('rsi')\n");
    let store = Store::open(&OpenOptions {
        repo: Some(repo),
        config_file: None,
        overrides: vec![("durability".into(), "none".into())],
    })
    .unwrap();
    let options = HandlerOptions {
        artifacts_root: env.path("runs"),
        commit_failed: false,
    };
    Handler::new(store, &options).unwrap()
}

#[test]
fn a_secret_in_event_metadata_is_refused_and_never_echoed_or_stored() {
    let env = Env::new();
    let handler = handler(&env);
    let secret = "ghp_Xw3k9QmZ2vB7nR4tY8uL1pD6sF0aJ5cH2eGq";
    let places = [
        json!({"metrics": {"net_pnl": 1.5, "api_token": secret}}),
        json!({"metrics": {"n": 1}, "llm_version": format!("gpt-4 {secret}")}),
        json!({"metrics": {"n": 1}, "notes": {"nested": [secret]}}),
    ];
    for (i, extra) in places.iter().enumerate() {
        let mut data = json!({"artifacts": {"strategy": "r1/strategy.py"}});
        for (k, v) in extra.as_object().unwrap() {
            data[k] = v.clone();
        }
        let event = json!({"event_type": "TEST_PASSED", "correlation_id": format!("leak{i}"),
            "workflow_id": "wf", "task_id": "t", "event_id": "ev", "data": data});
        let handled = handler.handle(event.to_string().as_bytes());
        let reply = handled.reply().unwrap().to_string();
        let outcome = format!("{:?}", handled.outcome);
        assert!(!reply.contains(&secret[4..]), "{reply}");
        assert!(!outcome.contains(&secret[4..]), "{outcome}");
        match &handled.outcome {
            // data.notes is not copied into metadata.json: nothing of it is stored.
            Outcome::Committed(done) => {
                assert_eq!(i, 2, "{outcome}");
                let stored = env.git_in(
                    &env.path("lib.git"),
                    &[
                        "cat-file",
                        "-p",
                        &format!("{}:artifacts/wf/t/metadata.json", done.commit_sha),
                    ],
                );
                assert!(!stored.contains(&secret[4..]), "{stored}");
            }
            Outcome::Failed(e) => {
                assert_eq!(e.kind(), "secret_detected", "{outcome}");
                assert!(reply.contains("metadata (caller keys)"), "{reply}");
            }
            Outcome::Ignored { .. } => panic!("{outcome}"),
        }
    }
    let log = env.git_in(&env.path("lib.git"), &["log", "--all", "--format=%B"]);
    assert!(!log.contains(&secret[4..]), "{log}");
    env.fsck(&env.path("lib.git"));
}

#[test]
fn an_oversized_event_fails_before_its_fields_reach_the_store() {
    let env = Env::new();
    let handler = handler(&env);
    let padding = "1".repeat(MAX_EVENT_BYTES);
    let event = json!({"event_type": "TEST_PASSED", "correlation_id": "big", "workflow_id": "wf",
        "task_id": "t", "data": {"artifacts": {"strategy": "r1/strategy.py"},
        "metrics": {"series": padding}}});
    let handled = handler.handle(event.to_string().as_bytes());
    let reply = handled.reply().unwrap();
    assert_eq!(reply["event_type"], "ARTIFACT_COMMIT_FAILED");
    assert_eq!(
        reply["correlation_id"], "big",
        "the answer still names the event"
    );
    assert_eq!(reply["data"]["error"]["kind"], "malformed_event");
    assert!(
        reply["data"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over the limit"),
        "{reply}"
    );
    assert!(!handled.retryable());
    assert!(
        reply.to_string().len() < 4096,
        "the answer does not echo the payload"
    );
    let refs = env.git_in(&env.path("lib.git"), &["for-each-ref"]);
    assert_eq!(refs, "", "nothing was committed");
}

#[test]
fn the_pre_receive_hook_scans_a_tag_pushed_on_a_bare_tree() {
    let env = Env::new();
    let server = env.bare_remote("server.git");
    let url = server.to_str().unwrap();
    env.run(&["--repo", url, "hooks", "install", "--server"])
        .ok();
    let work = env.path("work");
    env.git(&["init", "-q", "-b", "main", work.to_str().unwrap()]);
    env.write("work/a.txt", "a\n");
    env.git_in(&work, &["add", "a.txt"]);
    env.git_in(&work, &["commit", "-q", "-m", "a"]);
    let run = env.git(&["-C", work.to_str().unwrap(), "push", "-q", url, "main"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let key = format!("{}{}", "AKIA", "Q7R2M5XLK3J6WZN4");
    env.write(
        "work/deploy/env.sh",
        format!("export AWS_ACCESS_KEY_ID={key}\n"),
    );
    env.git_in(&work, &["add", "deploy/env.sh"]);
    let tree = env.git_in(&work, &["write-tree"]);
    env.git_in(&work, &["tag", "on-tree", &tree]);
    env.git_in(
        &work,
        &["tag", "-a", "-m", "annotated", "annotated-on-tree", &tree],
    );
    for tag in ["refs/tags/on-tree", "refs/tags/annotated-on-tree"] {
        let run = env.git(&["-C", work.to_str().unwrap(), "push", url, tag]);
        assert_ne!(run.code, 0, "{tag}: the secret was pushed");
        assert!(
            run.stderr.contains("secret in a pushed blob"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("deploy/env.sh:1:"), "{}", run.stderr);
        assert!(!run.stdout.contains(&key[4..]) && !run.stderr.contains(&key[4..]));
    }
    let refs = env.git_in(&server, &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(refs, "refs/heads/main");
    env.fsck(&server);
}

#[test]
fn a_password_in_the_remote_url_never_appears_in_push_output() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let token = "tok-5e8a1c9d2f";
    env.write("f.txt", "x\n");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let down = format!("remote_name=git://bot:{token}@127.0.0.1:{port}/x.git");
    let mut args = vec!["-c", down.as_str()];
    args.extend(commit_args(s, "corr_r1", &["f.txt"]));
    args.push("--push");
    let committed = env.run(&args);
    assert_eq!(committed.code, 0, "{}", committed.stderr);
    let failed = env.run(&["--repo", s, "-c", &down, "--json", "push"]);
    assert_eq!(failed.code, 6, "{}", failed.stderr);
    assert!(failed.stdout.contains("bot:***@"), "{}", failed.stdout);
    for out in [
        &committed.stdout,
        &committed.stderr,
        &failed.stdout,
        &failed.stderr,
    ] {
        assert!(!out.contains(token), "{out}");
    }

    let daemon = env.daemon();
    let server = env.bare_remote("server.git");
    let up = format!(
        "remote_name={}",
        daemon
            .url("server.git")
            .replacen("git://", &format!("git://bot:{token}@"), 1)
    );
    let pushed = env.run(&["--repo", s, "-c", &up, "--json", "push"]);
    assert_eq!(pushed.code, 0, "{}{}", pushed.stdout, pushed.stderr);
    assert!(pushed.json()["remote"]
        .as_str()
        .unwrap()
        .contains("bot:***@"));
    assert!(!pushed.stdout.contains(token) && !pushed.stderr.contains(token));
    let human = env.run(&[
        "--repo",
        s,
        "-c",
        &up,
        "commit",
        "--workflow",
        "wf",
        "--task",
        "t2",
        "--correlation-id",
        "corr_r2",
        "--push",
        "f.txt",
    ]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human.stderr.contains("pushed to git://bot:***@"),
        "{}",
        human.stderr
    );
    assert!(!human.stdout.contains(token) && !human.stderr.contains(token));
    assert!(common::has_ref(&env, &server, "refs/tags/corr_r2"));
    env.fsck(&server);
}

#[test]
fn control_characters_from_metadata_and_ids_never_reach_the_terminal_raw() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    env.write("f.txt", "x\n");
    let hostile = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[31mred";
    let set = format!("llm_version={hostile}");
    let mut args = commit_args(s, "corr_esc", &["f.txt"]);
    args.extend(["--set", &set]);
    env.run(&args).ok();
    let human = env.run(&["--repo", s, "show", "corr_esc"]).ok();
    assert!(!human.stdout.contains('\u{1b}') && !human.stdout.contains('\u{7}'));
    assert!(
        human.stdout.contains("\\u{1b}]0;owned\\u{7}"),
        "{}",
        human.stdout
    );
    let json = env.run(&["--repo", s, "--json", "show", "corr_esc"]).ok();
    assert_eq!(
        json.json()["metadata"]["llm_version"],
        hostile,
        "JSON keeps the value exactly"
    );
    let missing = env.run(&["--repo", s, "show", "\u{1b}[31mnope"]);
    assert_eq!(missing.code, 5, "{}", missing.stderr);
    assert!(!missing.stderr.contains('\u{1b}'), "{}", missing.stderr);
}

#[test]
fn revert_to_a_hostile_tag_is_refused_before_the_worktree_or_a_branch_changes() {
    let env = Env::new();
    let work = env.path("work");
    env.git(&["init", "-q", "-b", "main", work.to_str().unwrap()]);
    env.write("work/a.txt", "a\n");
    env.git_in(&work, &["add", "a.txt"]);
    env.git_in(&work, &["commit", "-q", "-m", "a"]);
    let main = env.git_in(&work, &["rev-parse", "main"]);
    let outside = env.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let meta = blob(&env, &work, "{\"schema_version\": 1}\n");
    let payload = blob(&env, &work, "written by a hostile tree\n");
    let link = blob(&env, &work, outside.to_str().unwrap());
    let sub = tree(&env, &work, &[format!("100644 blob {payload}\tx")]);
    let meta_line = format!("100644 blob {meta}\tmetadata.json");
    let cases = [
        vec![
            format!("120000 blob {link}\td"),
            format!("040000 tree {sub}\td"),
            meta_line.clone(),
        ],
        vec![format!("040000 tree {sub}\t.."), meta_line.clone()],
        vec![format!("040000 tree {sub}\t.GIT"), meta_line.clone()],
    ];
    let w = work.to_str().unwrap();
    for (i, lines) in cases.iter().enumerate() {
        let commit = hostile_commit(&env, &work, &tree(&env, &work, lines));
        let tag = format!("corr_evil{i}");
        env.git_in(&work, &["tag", "-a", "-m", "evil", &tag, &commit]);
        for mode in [&[][..], &["--hard", "--force"][..]] {
            let mut args = vec![
                "--repo",
                w,
                "--json",
                "revert-to-tag",
                &tag,
                "--target",
                "main",
            ];
            args.extend_from_slice(mode);
            let run = env.run(&args);
            assert_eq!(
                run.code, 2,
                "{lines:?} {mode:?}: {}{}",
                run.stdout, run.stderr
            );
            assert!(
                run.stdout.contains("holds a tree git refuses"),
                "{}",
                run.stdout
            );
            assert_eq!(env.git_in(&work, &["rev-parse", "main"]), main);
            assert_eq!(env.git_in(&work, &["status", "--porcelain"]), "");
            assert!(files_under(&outside).is_empty());
        }
    }
}
