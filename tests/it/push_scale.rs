//! Scale-out: two machines (two clones of one bare remote served by `git daemon` on
//! 127.0.0.1) commit to the same task branches at the same time; every commit and tag
//! reaches the remote exactly once.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::Env;

const TASKS: [&str; 2] = ["t0", "t1"];
const PER_STORE: usize = 12;

#[test]
fn two_stores_racing_on_the_same_branches_land_every_commit_and_tag_exactly_once() {
    let env = Env::new();
    let daemon = env.daemon();
    let remote = env.bare_remote("remote.git");
    seed_main(&env, &daemon.url("remote.git"));
    let stores: Vec<String> = ["a.git", "b.git"]
        .iter()
        .map(|name| {
            let path = env.path(name);
            let url = daemon.url("remote.git");
            env.git(&["clone", "-q", "--bare", &url, path.to_str().unwrap()]);
            path.to_str().unwrap().to_string()
        })
        .collect();
    for (i, _) in stores.iter().enumerate() {
        for n in 0..PER_STORE {
            env.write(
                &format!("in/{i}/{n}/result.json"),
                format!("{{\"run\": \"{i}-{n}\"}}\n"),
            );
        }
    }

    let results: Vec<Vec<(String, String, serde_json::Value, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let env = &env;
                s.spawn(move || {
                    (0..PER_STORE)
                        .map(|n| commit(env, store, i, n))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let mut reapplied = 0;
    let mut expected = BTreeMap::new();
    for (task, corr, result, stderr) in results.iter().flatten() {
        assert_eq!(result["pushed"], true, "{corr}: {stderr}");
        assert_eq!(result["duplicate"], false, "{corr}");
        reapplied += usize::from(stderr.contains("re-applied"));
        expected.insert(corr.clone(), (task.clone(), result["commit_sha"].clone()));
    }
    assert!(
        reapplied > 0,
        "the stores never raced; the test proves nothing"
    );

    let mut on_remote = BTreeMap::new();
    for task in TASKS {
        let branch = format!("refs/heads/ai/generated/wf/{task}");
        let log = env.git_in(
            &remote,
            &[
                "log",
                "--format=%H %(trailers:key=Correlation-Id,valueonly,separator=)",
                &branch,
            ],
        );
        for line in log.lines() {
            let (sha, corr) = line.split_once(' ').unwrap_or((line, ""));
            if corr.is_empty() {
                continue; // the seed commit on main
            }
            let previous = on_remote.insert(corr.to_string(), (task.to_string(), sha.to_string()));
            assert!(previous.is_none(), "{corr} is on the remote twice");
        }
    }
    assert_eq!(
        on_remote.len(),
        2 * PER_STORE,
        "every commit reached the remote"
    );
    let tags = env.git_in(
        &remote,
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/tags/corr_*",
        ],
    );
    assert_eq!(tags.lines().count(), 2 * PER_STORE, "one tag per commit");
    for (corr, (task, sha)) in &on_remote {
        let (want_task, reported) = &expected[corr];
        assert_eq!(task, want_task, "{corr} is on its own task branch");
        assert_eq!(
            reported, sha,
            "{corr}: the result names the commit on the remote"
        );
        let tagged = env.git_in(
            &remote,
            &["rev-parse", &format!("refs/tags/{corr}^{{commit}}")],
        );
        assert_eq!(&tagged, sha, "{corr}: the remote tag names its commit");
    }
    for store in &stores {
        let again = env
            .run(&["--repo", store, "--json", "push", "--pending"])
            .ok()
            .json();
        assert_eq!(
            again["pushed"],
            serde_json::json!([]),
            "{store}: nothing left to push"
        );
        assert_eq!(again["refused"], serde_json::json!([]), "{store}");
    }
    env.fsck(&remote);
}

/// Gives the remote a `main` for the task branches to start from.
fn seed_main(env: &Env, url: &str) {
    let work = env.path("seed");
    env.git(&["init", "-q", "-b", "main", work.to_str().unwrap()]);
    env.write("seed/README.md", "shared remote\n");
    env.git_in(&work, &["add", "README.md"]);
    env.git_in(&work, &["commit", "-q", "-m", "seed"]);
    env.git_in(&work, &["push", "-q", url, "main"]);
}

/// Commits run `n` of store `i` to task `n % 2`, requiring the push.
fn commit(
    env: &Env,
    store: &str,
    i: usize,
    n: usize,
) -> (String, String, serde_json::Value, String) {
    let task = TASKS[n % TASKS.len()];
    let corr = format!("corr_s{i}n{n}");
    let input = env.path(&format!("in/{i}/{n}/result.json"));
    let run = env.run(&[
        "--repo",
        store,
        "--json",
        "-c",
        "durability=none",
        "commit",
        "--workflow",
        "wf",
        "--task",
        task,
        "--correlation-id",
        &corr,
        "--require-push",
        input.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{corr}: {}\n{}", run.stdout, run.stderr);
    assert!(Path::new(store).exists());
    let json = run.json();
    (task.to_string(), corr, json, run.stderr)
}
