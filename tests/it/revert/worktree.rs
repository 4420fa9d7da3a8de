//! `revert-to-tag` on a non-bare repository whose target is checked out: the worktree
//! and index follow, or the revert is refused and nothing changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::common::Env;
use super::{commit_versions, DIR};

/// A non-bare store whose `main` is checked out at `tag`.
fn checked_out(env: &Env, tag: &str) -> PathBuf {
    let repo = env.path("repo");
    env.run(&["init", repo.to_str().unwrap()]).ok();
    commit_versions(env, repo.to_str().unwrap());
    env.git_in(&repo, &["checkout", "-q", "-B", "main", tag]);
    assert_eq!(env.git_in(&repo, &["status", "--porcelain"]), "");
    repo
}

/// Every file under `dir` (the `.git` directory aside) and its content.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn tree_files(env: &Env, repo: &Path, rev: &str) -> BTreeMap<String, Vec<u8>> {
    let names = env.git_in(repo, &["ls-tree", "-r", "--name-only", rev]);
    names
        .lines()
        .map(|n| {
            let content = env.git(&["-C", repo.to_str().unwrap(), "show", &format!("{rev}:{n}")]);
            (n.to_string(), content.stdout.into_bytes())
        })
        .collect()
}

#[test]
fn a_checked_out_target_has_its_worktree_and_index_follow() {
    let env = Env::new();
    let repo = checked_out(&env, "corr_c2");
    let r = repo.to_str().unwrap();
    env.run(&["--repo", r, "revert-to-tag", "corr_c1"]).ok();
    assert_eq!(env.git_in(&repo, &["status", "--porcelain"]), "");
    assert_eq!(
        env.git_in(&repo, &["rev-parse", "HEAD^{tree}"]),
        env.git_in(&repo, &["rev-parse", "corr_c1^{tree}"])
    );
    assert_eq!(files(&repo), tree_files(&env, &repo, "corr_c1"));
    assert!(!repo.join(DIR).join("b.txt").exists());
    let restored = env.git_in(&repo, &["rev-parse", "main"]);
    env.fsck(&repo);

    let run = env
        .run(&[
            "--repo",
            r,
            "--json",
            "revert-to-tag",
            "c2",
            "--hard",
            "--force",
        ])
        .ok();
    assert_eq!(env.git_in(&repo, &["status", "--porcelain"]), "");
    assert_eq!(files(&repo), tree_files(&env, &repo, "corr_c2"));
    let undo = run.json()["undo"].as_str().unwrap().to_string();
    assert_eq!(undo, format!("git -C {r} reset --keep {restored}"));
    let words: Vec<&str> = undo.split_whitespace().collect();
    env.git(&words[1..]).ok();
    assert_eq!(env.git_in(&repo, &["rev-parse", "main"]), restored);
    assert_eq!(env.git_in(&repo, &["status", "--porcelain"]), "");
    assert_eq!(files(&repo), tree_files(&env, &repo, "corr_c1"));
    env.fsck(&repo);
}

#[test]
fn a_dirty_worktree_refuses_and_nothing_changes() {
    type Dirty = fn(&Env, &Path);
    let cases: [(&str, Dirty); 3] = [
        ("unstaged edit", |env, _| {
            env.write(&format!("repo/{DIR}/a.txt"), "local edit\n");
        }),
        ("staged edit", |env, repo| {
            env.write(&format!("repo/{DIR}/a.txt"), "staged edit\n");
            env.git_in(repo, &["add", "-A"]);
        }),
        ("deleted file", |env, _| {
            std::fs::remove_file(env.path(&format!("repo/{DIR}/b.txt"))).unwrap();
        }),
    ];
    for (what, make_dirty) in cases {
        let env = Env::new();
        let repo = checked_out(&env, "corr_c2");
        make_dirty(&env, &repo);
        let index = || std::fs::read(repo.join(".git/index")).unwrap();
        let before = (env.snapshot(&repo), index(), files(&repo));
        let run = env.run(&["--repo", repo.to_str().unwrap(), "revert-to-tag", "c1"]);
        assert_eq!(run.code, 4, "{what}: {}", run.stderr);
        assert!(
            run.stderr.contains("uncommitted changes"),
            "{what}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("hint:"), "{what}: {}", run.stderr);
        assert_eq!(
            (env.snapshot(&repo), index(), files(&repo)),
            before,
            "{what}"
        );
        // Nothing to change touches nothing, so a dirty worktree does not matter.
        let run = env
            .run(&[
                "--repo",
                repo.to_str().unwrap(),
                "--json",
                "revert-to-tag",
                "c2",
            ])
            .ok();
        assert_eq!(run.json()["changed"], false, "{what}");
        let after = (env.snapshot(&repo), index(), files(&repo));
        assert_eq!(after, before, "{what}");
        env.fsck(&repo);
    }
}

#[test]
fn untracked_files_survive_and_one_in_the_way_refuses() {
    let env = Env::new();
    let repo = checked_out(&env, "corr_c1");
    let r = repo.to_str().unwrap();
    env.write(&format!("repo/{DIR}/b.txt"), "mine\n");
    let refs = || env.snapshot(&repo).0;
    let before = (refs(), files(&repo));
    let run = env.run(&["--repo", r, "revert-to-tag", "c2"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("untracked"), "{}", run.stderr);
    assert_eq!((refs(), files(&repo)), before);

    std::fs::remove_file(repo.join(DIR).join("b.txt")).unwrap();
    env.write("repo/notes.txt", "keep me\n");
    env.run(&["--repo", r, "revert-to-tag", "c2"]).ok();
    assert_eq!(
        std::fs::read_to_string(repo.join("notes.txt")).unwrap(),
        "keep me\n"
    );
    assert_eq!(
        env.git_in(&repo, &["status", "--porcelain"]),
        "?? notes.txt"
    );
    env.fsck(&repo);
}

#[test]
fn a_target_checked_out_in_another_worktree_is_refused_there_and_followed_from_it() {
    let env = Env::new();
    let repo = checked_out(&env, "corr_c2");
    let wt = env.path("wt");
    env.git_in(&repo, &["branch", "feature", "corr_c2"]);
    env.git_in(
        &repo,
        &["worktree", "add", "-q", wt.to_str().unwrap(), "feature"],
    );
    let before = env.snapshot(&repo);
    let args = ["revert-to-tag", "c1", "--target", "feature"];
    let mut full = vec!["--repo", repo.to_str().unwrap()];
    full.extend_from_slice(&args);
    let run = env.run(&full);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("worktree"), "{}", run.stderr);
    assert_eq!(env.snapshot(&repo), before);

    let mut full = vec!["--repo", wt.to_str().unwrap()];
    full.extend_from_slice(&args);
    env.run(&full).ok();
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    assert_eq!(files(&wt), tree_files(&env, &wt, "corr_c1"));
    env.fsck(&repo);
}

#[test]
fn a_ref_that_cannot_move_puts_the_worktree_back_and_leaves_no_trash() {
    let env = Env::new();
    let repo = checked_out(&env, "corr_c2");
    let r = repo.to_str().unwrap();
    let lock = repo.join(".git/refs/heads/main.lock");
    std::fs::write(&lock, "").unwrap();
    let refs = || env.snapshot(&repo).0;
    let before = (refs(), files(&repo));
    for extra in [&[][..], &["--hard", "--force"][..]] {
        let mut args = vec![
            "--repo",
            r,
            "-c",
            "stale_lock_seconds=0",
            "-c",
            "lock_timeout=1",
            "revert-to-tag",
            "c1",
        ];
        args.extend_from_slice(extra);
        let run = env.run(&args);
        assert_eq!(run.code, 4, "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains("main.lock"), "{}", run.stderr);
        assert_eq!((refs(), files(&repo)), before, "{extra:?}");
        assert_eq!(env.git_in(&repo, &["status", "--porcelain"]), "");
    }
    std::fs::remove_file(&lock).unwrap();
    env.fsck(&repo);
}

#[test]
fn creating_the_unborn_checked_out_branch_checks_out_the_tag() {
    let env = Env::new();
    let repo = env.path("repo");
    let r = repo.to_str().unwrap();
    env.run(&["init", r]).ok();
    commit_versions(&env, r);
    env.write("repo/notes.txt", "untracked\n");
    env.run(&["--repo", r, "revert-to-tag", "c2", "--create"])
        .ok();
    assert_eq!(
        env.git_in(&repo, &["rev-parse", "HEAD"]),
        env.git_in(&repo, &["rev-parse", "corr_c2^{commit}"])
    );
    assert_eq!(
        env.git_in(&repo, &["status", "--porcelain"]),
        "?? notes.txt"
    );
    let mut expected = tree_files(&env, &repo, "corr_c2");
    expected.insert("notes.txt".to_string(), b"untracked\n".to_vec());
    assert_eq!(files(&repo), expected);
    env.fsck(&repo);
}
