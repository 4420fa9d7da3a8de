//! How the store behaves as it grows: bounded searches, refs kept packed.

use crate::common;

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

fn loose_ref_files(repo: &std::path::Path) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| match e.file_type().unwrap().is_dir() {
                        true => walk(&e.path()),
                        false => 1,
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&repo.join("refs"))
}

#[test]
fn packing_loose_refs_writes_the_packed_refs_git_pack_refs_writes() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    for (i, corr) in ["a", "b", "c"].iter().enumerate() {
        let f = env.write(&format!("{corr}.txt"), format!("{i}\n"));
        let mut args = commit_args(s, corr, &[f.to_str().unwrap()]);
        args.extend(["--prompt-hash", "beef1234"]);
        env.run(&args).ok();
    }
    env.git_in(&store, &["pack-refs", "--all"]);
    let f = env.write("d.txt", "d\n");
    env.run(&commit_args(s, "d", &[f.to_str().unwrap()])).ok();
    env.git_in(&store, &["branch", "plain", "ai/generated/wf/t~1"]);
    env.git_in(&store, &["tag", "light", "ai/generated/wf/t~2"]);
    assert!(
        loose_ref_files(&store) >= 4,
        "a moved branch, a tag and new refs are loose"
    );
    let theirs = env.path("theirs.git");
    copy_tree(&store, &theirs);
    let refs_before = env.git_in(
        &store,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    );

    let opened = artifact_store::Store::open(&artifact_store::OpenOptions {
        repo: Some(store.clone()),
        ..Default::default()
    })
    .unwrap();
    let pruned = opened
        .pack_loose_refs(std::time::Duration::from_secs(1))
        .unwrap();
    drop(opened);
    env.git_in(&theirs, &["pack-refs", "--all"]);

    assert!(pruned >= 4);
    assert_eq!(loose_ref_files(&store), 0);
    assert_eq!(
        std::fs::read_to_string(store.join("packed-refs")).unwrap(),
        std::fs::read_to_string(theirs.join("packed-refs")).unwrap()
    );
    let refs_after = env.git_in(
        &store,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    );
    assert_eq!(refs_before, refs_after);
    env.fsck(&store);
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

#[test]
fn commits_pack_the_loose_refs_once_they_pile_up() {
    use artifact_store::commit::refpack::CHECK_ONE_IN;
    use artifact_store::retention::LOOSE_REFS_PACK_THRESHOLD;
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "0\n");
    let first = env
        .run(&commit_args(s, "c0", &[f.to_str().unwrap()]))
        .ok()
        .json();
    let sha = first["commit_sha"].as_str().unwrap();
    let creates: String = (0..LOOSE_REFS_PACK_THRESHOLD + 100)
        .map(|i| format!("create refs/tags/bulk_{i:05} {sha}\n"))
        .collect();
    env.git_stdin(&["-C", s, "update-ref", "--stdin"], &creates);
    let piled = loose_ref_files(&store);
    assert!(piled > LOOSE_REFS_PACK_THRESHOLD);
    // One commit in CHECK_ONE_IN (by its id) checks; 20 times that many all missing it
    // has a chance of about 1 in 400,000,000.
    let mut commits = 0;
    while loose_ref_files(&store) > LOOSE_REFS_PACK_THRESHOLD {
        commits += 1;
        assert!(
            commits <= 20 * usize::from(CHECK_ONE_IN),
            "no commit packed the {piled} loose refs"
        );
        let refs = env.git_in(
            &store,
            &["for-each-ref", "--format=%(refname) %(objectname)"],
        );
        std::fs::write(&f, format!("{commits}\n")).unwrap();
        let corr = format!("c{commits}");
        let run = env.run(&commit_args(s, &corr, &[f.to_str().unwrap()])).ok();
        assert!(!run.stderr.contains("could not pack"), "{}", run.stderr);
        let after = env.git_in(
            &store,
            &["for-each-ref", "--format=%(refname) %(objectname)"],
        );
        let kept: Vec<&str> = refs
            .lines()
            .filter(|l| !l.starts_with("refs/heads/"))
            .collect();
        assert!(
            kept.iter().all(|l| after.lines().any(|a| a == *l)),
            "a ref was lost or moved"
        );
    }
    assert!(loose_ref_files(&store) < 10, "the packing left them packed");
    assert_eq!(
        env.git_in(
            &store,
            &[
                "for-each-ref",
                "--count=1",
                "--format=%(objectname)",
                "refs/tags/bulk_00000"
            ]
        ),
        sha
    );
    env.fsck(&store);
}
