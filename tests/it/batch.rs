//! `Store::commit_batch` (group commit), as a Rust program and the subscriber use it: each
//! set lands once and in order, fails on its own, and a group of small sets is one pack.

use std::path::{Path, PathBuf};
use std::process::Command;

use artifact_store::commit::CommitRequest;
use artifact_store::input::InputSpec;
use artifact_store::refs::{CorrelationId, TaskId, WorkflowId};
use artifact_store::{Error, OpenOptions, Store};

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn packs(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("objects/pack"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                .count()
        })
        .unwrap_or(0)
}

fn loose_objects(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("objects"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().len() == 2)
        .map(|e| std::fs::read_dir(e.path()).unwrap().count())
        .sum()
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    store: Store,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let repo = root.join("store.git");
        Store::init(&repo, true).unwrap();
        let store = Store::open(&OpenOptions {
            repo: Some(repo.clone()),
            config_file: None,
            overrides: vec![],
        })
        .unwrap();
        Fixture {
            _dir: dir,
            root,
            repo,
            store,
        }
    }

    fn request(&self, task: &str, corr: &str, content: &str) -> CommitRequest {
        let dir = self.root.join("runs").join(corr);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("trades.csv");
        std::fs::write(&file, content).unwrap();
        let mut request = CommitRequest::new(
            WorkflowId::new("wf").unwrap(),
            TaskId::new(task).unwrap(),
            vec![InputSpec::path(file)],
        );
        request.correlation_id = Some(CorrelationId::new(corr).unwrap());
        request
    }
}

#[test]
fn a_batch_lands_each_set_once_in_order_and_its_small_sets_as_one_pack() {
    let f = Fixture::new();
    let big: String = (0..300_000).map(|i| format!("{i},0.5\n")).collect();
    assert!(big.len() > 2 << 20, "above the pack limit");
    let requests = vec![
        f.request("t1", "a", "day,pnl\n1,10\n"),
        f.request("t2", "b", "day,pnl\n1,20\n"),
        f.request("t1", "c", "day,pnl\n1,30\n"),
        // The same event again: a duplicate of b, not a second commit.
        f.request("t2", "b", "day,pnl\n1,20\n"),
        // A live-looking key fails this set alone.
        f.request(
            "t3",
            "s",
            &format!("key={}{}\n", "AKIA", "Q7R2M5XLK3J6WZN4"),
        ),
        // A large set lands on its own, after the sets before it on its branch.
        f.request("t1", "d", &big),
        f.request("t2", "e", "day,pnl\n1,50\n"),
    ];
    let results = f.store.commit_batch(requests);
    assert_eq!(results.len(), 7);

    let sha = |i: usize| results[i].as_ref().unwrap().commit_sha.clone();
    for i in [0, 1, 2, 5, 6] {
        let done = results[i].as_ref().unwrap();
        assert!(!done.duplicate, "set {i}");
    }
    let dup = results[3].as_ref().unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.commit_sha, sha(1));
    match &results[4] {
        Err(Error::SecretsFound { findings }) => assert_eq!(findings.len(), 1),
        other => panic!("{other:?}"),
    }

    // Order on each branch is the order given.
    let t1 = git(
        &f.repo,
        &["rev-list", "--first-parent", "ai/generated/wf/t1"],
    );
    assert_eq!(
        t1.split_whitespace().collect::<Vec<_>>(),
        [sha(5), sha(2), sha(0)]
    );
    let t2 = git(
        &f.repo,
        &["rev-list", "--first-parent", "ai/generated/wf/t2"],
    );
    assert_eq!(t2.split_whitespace().collect::<Vec<_>>(), [sha(6), sha(1)]);
    assert!(git(&f.repo, &["branch", "--list", "ai/generated/wf/t3"]).is_empty());

    // Every tag names its commit, and each commit holds its own set.
    let sets = [
        ("a", 0, "t1", "10"),
        ("b", 1, "t2", "20"),
        ("c", 2, "t1", "30"),
        ("e", 6, "t2", "50"),
    ];
    for (corr, i, task, pnl) in sets {
        let tagged = git(&f.repo, &["rev-parse", &format!("corr_{corr}^{{commit}}")]);
        assert_eq!(tagged.trim(), sha(i), "corr_{corr}");
        let csv = git(
            &f.repo,
            &[
                "show",
                &format!("corr_{corr}:artifacts/wf/{task}/trades.csv"),
            ],
        );
        assert_eq!(csv, format!("day,pnl\n1,{pnl}\n"));
    }

    // a, b, c in one pack; e alone after d (a group of one is a plain commit, one pack);
    // d's 3 MB as loose objects. No secret reached the object store.
    assert_eq!(packs(&f.repo), 2, "one pack for the group, one for e");
    assert!(loose_objects(&f.repo) >= 1, "the large set is loose");
    let all = git(&f.repo, &["rev-list", "--all", "--objects"]);
    for line in all.lines() {
        let oid = line.split_whitespace().next().unwrap();
        let body = git(&f.repo, &["cat-file", "-p", oid]);
        assert!(!body.contains("Q7R2M5XLK3J6WZN4"), "the key was stored");
    }
    git(&f.repo, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn a_batch_gives_the_same_commits_as_one_commit_at_a_time() {
    let one = Fixture::new();
    let many = Fixture::new();
    std::env::set_var("GIT_COMMITTER_DATE", "@1767225600 +0000");
    let sets = [("t1", "a"), ("t2", "b"), ("t1", "c"), ("t3", "d")];
    for (task, corr) in sets {
        one.store
            .commit(one.request(task, corr, &format!("x,{corr}\n")))
            .unwrap();
    }
    let requests = sets
        .iter()
        .map(|(task, corr)| many.request(task, corr, &format!("x,{corr}\n")))
        .collect();
    for result in many.store.commit_batch(requests) {
        result.unwrap();
    }
    for branch in ["t1", "t2", "t3"] {
        let refname = format!("ai/generated/wf/{branch}");
        assert_eq!(
            git(&one.repo, &["rev-parse", &refname]),
            git(&many.repo, &["rev-parse", &refname]),
            "{refname}: the same commit ids, so the same trees, metadata and parents"
        );
    }
    git(&many.repo, &["fsck", "--strict", "--no-dangling"]);
}
