//! How the store behaves as it grows: bounded searches, refs kept packed.

mod common;

use artifact_store::commit::RECOVERY_DEPTH;
use common::{commit_args, Env};

/// Appends `count` commits with other correlation ids on top of `branch`, as fast as git can.
fn pile_commits(env: &Env, store: &std::path::Path, branch: &str, count: usize, from: usize) {
    let mut stream = String::new();
    for i in from..from + count {
        let msg = format!(
            "artifacts(wf/t): corr_other{i}\n\nWorkflow-Id: wf\nTask-Id: t\nCorrelation-Id: corr_other{i}\nTest-Status: passed\n"
        );
        stream.push_str(&format!(
            "commit {branch}\ncommitter Test Bot <bot@example.invalid> {} +0000\ndata {}\n{msg}",
            1_700_000_000 + i,
            msg.len()
        ));
        if i == from {
            stream.push_str(&format!("from {branch}^0\n"));
        }
        stream.push_str(&format!(
            "M 100644 inline artifacts/wf/t/n.txt\ndata {}\n{i}\n\n",
            format!("{i}\n").len()
        ));
    }
    env.git_stdin(
        &["-C", store.to_str().unwrap(), "fast-import", "--quiet"],
        &stream,
    );
}

#[test]
fn a_lost_tag_is_repaired_up_to_the_recovery_depth_and_no_further() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let branch = "refs/heads/ai/generated/wf/t";
    let f = env.write("a.txt", "1\n");
    let first = env
        .run(&commit_args(s, "abc", &[f.to_str().unwrap()]))
        .ok()
        .json();
    // The lost tag's commit is the oldest of the RECOVERY_DEPTH newest: still found.
    pile_commits(&env, &store, branch, RECOVERY_DEPTH - 1, 0);
    env.git_in(&store, &["tag", "-d", "corr_abc"]);
    let run = env.run(&commit_args(s, "abc", &[f.to_str().unwrap()])).ok();
    assert_eq!(run.json()["duplicate"], true, "{}", run.stdout);
    assert_eq!(run.json()["commit_sha"], first["commit_sha"]);
    assert!(
        run.stderr.contains("repaired missing tag corr_abc"),
        "{}",
        run.stderr
    );

    // One commit more and it is out of reach: the search stops, and the run commits anew.
    pile_commits(&env, &store, branch, 1, RECOVERY_DEPTH);
    env.git_in(&store, &["tag", "-d", "corr_abc"]);
    let again = env
        .run(&commit_args(s, "abc", &[f.to_str().unwrap()]))
        .ok()
        .json();
    assert_eq!(again["duplicate"], false);
    assert_ne!(again["commit_sha"], first["commit_sha"]);
    assert_eq!(
        env.git_in(&store, &["rev-parse", "corr_abc^{commit}"]),
        again["commit_sha"].as_str().unwrap()
    );
    let with_trailer = env.git_in(
        &store,
        &[
            "rev-list",
            "--count",
            "--grep=^Correlation-Id: corr_abc$",
            branch,
        ],
    );
    assert_eq!(with_trailer, "2");
    env.fsck(&store);
}
