//! Safety: bad policies are refused before anything is read, an apply racing committers
//! prunes nothing new and resurrects nothing, and `--remote` deletes only what the local
//! trash holds.

use std::collections::BTreeSet;
use std::process::{Child, Stdio};

use super::common::Env;
use super::{fixture, run_at, run_time, store_refs, NOW};

#[test]
fn bad_policies_exit_2_before_the_store_is_read() {
    let env = Env::new();
    let store = fixture(&env);
    let snapshot = env.snapshot(&store);
    let cases = [
        (
            "[retention]\nkeep_last = -1\n",
            "retention.keep_last = -1: must be zero or more",
        ),
        ("[retention]\nkeep_lats = 3\n", "keep_lats"),
        (
            "[retention.workflows.\"wf_[\"]\nkeep_last = 1\n",
            "not a valid glob",
        ),
        (
            "[retention.workflows.\"wf_*\"]\nmax_age_days = -5\n",
            "max_age_days = -5",
        ),
        (
            "[retention.workflows.\"wf_*\"]\ntrash_days = 5\n",
            "trash_days",
        ),
    ];
    for (text, says) in cases {
        let file = env.write("bad.toml", text);
        let config = run_time(
            &env,
            &store,
            NOW,
            &["--config", file.to_str().unwrap(), "gc", "--apply"],
        );
        assert_eq!(config.code, 2, "{text}: {}", config.stderr);
        assert!(config.stderr.contains(says), "{text}: {}", config.stderr);
        let policy = env.run(&[
            "--repo",
            "/nonexistent/store",
            "gc",
            "--policy",
            file.to_str().unwrap(),
        ]);
        assert_eq!(
            policy.code, 2,
            "--policy is checked before the repository is opened: {}",
            policy.stderr
        );
        assert!(policy.stderr.contains(says), "{}", policy.stderr);
    }
    let flag = run_time(
        &env,
        &store,
        NOW,
        &["-c", "retention.keep_versions=-2", "gc"],
    );
    assert_eq!(flag.code, 2, "{}", flag.stderr);
    assert_eq!(env.snapshot(&store), snapshot, "nothing changed");
}

/// Starts a committer process: one new task (or version) per call, with its own id.
fn spawn_commit(env: &Env, store: &str, wf: &str, task: &str, corr: &str) -> Child {
    let dir = env.path(&format!("runs/{corr}"));
    env.write(&format!("runs/{corr}/out.txt"), corr);
    env.cmd(&[
        "--repo",
        store,
        "-q",
        "commit",
        "-w",
        wf,
        "-t",
        task,
        "--correlation-id",
        corr,
        "--prompt-hash",
        &format!("race{}", corr.replace(['_', '-'], "")),
        dir.join(".").to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

#[test]
fn apply_while_others_commit_prunes_nothing_new_and_nothing_comes_back() {
    let env = Env::new();
    let store = fixture(&env);
    let s = store.to_str().unwrap();
    // 3,000 more task branches (on one commit) to prune and 1,500 loose tags of someone
    // else's to pack make the apply long enough for the committers below to run through it.
    let tip = env.git_in(&store, &["rev-parse", "ai/generated/wf_alpha/t3"]);
    let script: String = (0..3000)
        .map(|i| format!("create refs/heads/ai/generated/wf_load/t{i:04} {tip}\n"))
        .chain((0..1500).map(|i| format!("create refs/tags/load-{i:04} {tip}\n")))
        .collect();
    let mut update = env.git(&["--version"]);
    update.code = {
        let mut cmd = std::process::Command::new("git");
        cmd.args(["-C", s, "update-ref", "--stdin"])
            .stdin(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait().unwrap().code().unwrap()
    };
    assert_eq!(update.code, 0);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let made = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let (stop, env, s) = (stop.clone(), &env, s);
                scope.spawn(move || {
                    let mut made = Vec::new();
                    for n in 0.. {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) && n >= 4 {
                            break;
                        }
                        let (task, corr) = match n % 2 {
                            0 => (format!("w{w}n{n}"), format!("corr_race-{w}-{n}")),
                            _ => ("t1".to_string(), format!("corr_race-{w}-{n}")),
                        };
                        let wf = if n % 2 == 0 { "wf_new" } else { "wf_alpha" };
                        let out = spawn_commit(env, s, wf, &task, &corr)
                            .wait_with_output()
                            .unwrap();
                        assert!(
                            out.status.success(),
                            "{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        made.push((
                            format!("refs/heads/ai/generated/{wf}/{task}"),
                            format!("refs/tags/{corr}"),
                        ));
                    }
                    made
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let applied = run_at(&env, &store, &["--json", "gc", "--apply"]).json();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let made: Vec<_> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        (applied, made)
    });
    let (applied, made) = made;
    let planned: BTreeSet<String> = applied["refs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["decision"] == "prune")
        .map(|d| d["ref"].as_str().unwrap().to_string())
        .collect();
    let skipped: BTreeSet<String> = applied["applied"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ref"].as_str().unwrap().to_string())
        .collect();
    let moved: BTreeSet<String> = planned.difference(&skipped).cloned().collect();
    assert!(
        moved.len() > 3000,
        "the load branches were pruned: {}",
        moved.len()
    );
    let ts = applied["applied"]["trash_time_unix"].as_i64().unwrap();
    let after = store_refs(&env, &store);
    let unplanned: Vec<&String> = made
        .iter()
        .flat_map(|(branch, tag)| [branch, tag])
        .filter(|r| !planned.contains(*r))
        .collect();
    assert!(
        unplanned.len() > 4,
        "commits landed after the plan: {unplanned:?}"
    );
    for r in unplanned {
        assert!(
            after.contains_key(r),
            "{r}, which the plan did not prune, is still there"
        );
    }
    for r in &skipped {
        assert!(
            after.contains_key(r),
            "{r} changed after the plan and was not clobbered"
        );
    }
    let trash: BTreeSet<String> = env
        .git_in(
            &store,
            &[
                "for-each-ref",
                "--format=%(refname)",
                &format!("refs/artifact-store/trash/{ts}/"),
            ],
        )
        .lines()
        .map(|l| l[format!("refs/artifact-store/trash/{ts}/").len()..].to_string())
        .collect();
    for r in &moved {
        assert!(!after.contains_key(r), "{r} came back after it was pruned");
        assert!(trash.contains(r), "{r} is in the trash");
    }
    assert_eq!(trash.len(), moved.len());
    // The 1,500 loose load tags end up packed: by this gc, or by a concurrent commit that
    // found over 1,000 loose refs before the gc took its lock (`commit::refpack`).
    assert!(
        applied["applied"]["packed_refs"].as_u64().is_some(),
        "{applied}"
    );
    let still_loose = (0..1500)
        .filter(|i| store.join(format!("refs/tags/load-{i:04}")).exists())
        .count();
    assert_eq!(still_loose, 0, "loose load tags left after gc --apply");
    assert_eq!(env.git_in(&store, &["rev-parse", "load-0001"]), tip);
    env.fsck(&store);
}

#[test]
fn remote_refs_are_deleted_only_when_the_local_trash_holds_them() {
    let env = Env::new();
    let store = fixture(&env);
    let remote = env.path("remote.git");
    env.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    env.git_in(
        &store,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    env.git_in(
        &store,
        &[
            "push",
            "-q",
            "origin",
            "refs/heads/*:refs/heads/*",
            "refs/tags/*:refs/tags/*",
        ],
    );
    // Someone else moved one pruned branch on the remote: it must be left alone.
    let moved_there = env.git_in(&store, &["rev-parse", "ai/generated/wf_alpha/t1"]);
    env.git_in(
        &remote,
        &[
            "update-ref",
            "refs/heads/ai/generated/wf_beta/t3",
            &moved_there,
        ],
    );

    let out = run_at(&env, &store, &["--json", "gc", "--apply", "--remote"]).json();
    let ts = out["applied"]["trash_time_unix"].as_i64().unwrap();
    let deleted: Vec<String> = out["remote"]["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        deleted.len() as u64 + 1,
        out["applied"]["moved"].as_u64().unwrap()
    );
    assert_eq!(
        out["remote"]["skipped"][0]["ref"],
        "refs/heads/ai/generated/wf_beta/t3"
    );
    let on_remote = store_refs(&env, &remote);
    let local = store_refs(&env, &store);
    for r in &deleted {
        assert!(!on_remote.contains_key(r), "{r} is gone from the remote");
        let trash = format!("refs/artifact-store/trash/{ts}/{r}");
        env.git_in(&store, &["rev-parse", "--verify", "-q", &trash]);
    }
    for r in local.keys() {
        assert!(on_remote.contains_key(r), "{r} survives on the remote");
    }
    assert_eq!(on_remote["refs/heads/ai/generated/wf_beta/t3"], moved_there);
    env.fsck(&store);
    env.fsck(&remote);
}

#[test]
fn a_missing_remote_fails_with_exit_6_after_the_local_apply() {
    let env = Env::new();
    let store = fixture(&env);
    let run = run_time(&env, &store, NOW, &["gc", "--apply", "--remote"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr.contains("no remote named \"origin\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("undo: artifact-store trash restore"),
        "{}",
        run.stdout
    );
}

/// `--remote URL` needs no configured remote, and deletes there what `--remote` would.
#[test]
fn remote_accepts_a_url_where_a_name_is() {
    let env = Env::new();
    let store = fixture(&env);
    let remote = env.path("by-url.git");
    env.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    let url = format!("file://{}", remote.display());
    env.git_in(
        &store,
        &[
            "push",
            "-q",
            &url,
            "refs/heads/*:refs/heads/*",
            "refs/tags/*:refs/tags/*",
        ],
    );
    let out = run_at(&env, &store, &["--json", "gc", "--apply", "--remote", &url]).json();
    let deleted = out["remote"]["deleted"].as_array().unwrap();
    assert!(!deleted.is_empty(), "{out}");
    assert_eq!(
        deleted.len() as u64,
        out["applied"]["moved"].as_u64().unwrap()
    );
    let on_remote = store_refs(&env, &remote);
    assert_eq!(
        on_remote,
        store_refs(&env, &store),
        "the remote matches the store"
    );
    env.fsck(&remote);
}

/// A remote that accepts the connection and never answers: `gc --apply --remote` gives up
/// after `push_timeout` seconds (exit 6, the undo command printed), it does not hang.
#[test]
fn a_silent_remote_times_out_after_push_timeout_with_the_undo_printed() {
    let env = Env::new();
    let store = fixture(&env);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _held = std::thread::spawn(move || {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept() {
            open.push(socket);
        }
    });
    let url = format!("git://127.0.0.1:{port}/remote.git");
    let started = std::time::Instant::now();
    let run = run_time(
        &env,
        &store,
        NOW,
        &[
            "-c",
            "push_timeout=1",
            "--json",
            "gc",
            "--apply",
            "--remote",
            &url,
        ],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "bounded by push_timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(run.code, 6, "{}{}", run.stdout, run.stderr);
    let out = run.json();
    assert_eq!(out["success"], false, "{out}");
    assert!(out.to_string().contains("push_timeout"), "{out}");
    let ts = out["applied"]["trash_time_unix"].as_i64().unwrap();
    assert!(
        out.to_string()
            .contains(&format!("artifact-store trash restore {ts}")),
        "{out}"
    );
    env.fsck(&store);
}
