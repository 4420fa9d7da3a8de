//! `revert-to-tag`, driven through the binary against real repositories and checked with
//! the git CLI: forward restore, --path, --hard --force and its undo, refusals, dry runs,
//! and a checked-out worktree that follows or refuses.

use crate::common;
#[path = "revert/worktree.rs"]
mod worktree;

use std::path::PathBuf;

use common::{commit_args, Env, Run};
use serde_json::json;

const DIR: &str = "artifacts/wf/t";

/// A store whose `main` has the artifacts of `corr_c2` plus a later README change, and
/// whose `corr_c1` (also `prompt_abcd1234`) has older artifacts and the older README.
struct Seeded {
    env: Env,
    store: PathBuf,
}

impl Seeded {
    fn new() -> Seeded {
        let env = Env::new();
        let store = env.store();
        let s = store.to_str().unwrap();
        let work = env.path("work");
        env.git(&["init", "-q", "-b", "main", work.to_str().unwrap()])
            .ok();
        env.write("work/README.md", "readme v0\n");
        env.write("work/docs/keep.txt", "keep\n");
        env.git_in(&work, &["add", "-A"]);
        env.git_in(&work, &["commit", "-q", "-m", "start"]);
        env.git_in(&work, &["push", "-q", s, "main"]);
        commit_versions(&env, s);
        env.git_in(
            &store,
            &["update-ref", "refs/heads/main", "corr_c2^{commit}"],
        );
        env.git_in(&work, &["fetch", "-q", s, "main"]);
        env.git_in(&work, &["reset", "-q", "--hard", "FETCH_HEAD"]);
        env.write("work/README.md", "readme v1\n");
        env.git_in(&work, &["commit", "-q", "-am", "later readme"]);
        env.git_in(&work, &["push", "-q", s, "main"]);
        Seeded { env, store }
    }

    fn s(&self) -> &str {
        self.store.to_str().unwrap()
    }

    fn rev(&self, spec: &str) -> String {
        self.env.git_in(&self.store, &["rev-parse", spec])
    }

    /// Runs `artifact-store --repo STORE <args>`.
    fn run(&self, args: &[&str]) -> Run {
        let mut full = vec!["--repo", self.s()];
        full.extend_from_slice(args);
        self.env.run(&full)
    }

    /// Runs a command that must fail with `code` and leave every ref and object as it was.
    #[track_caller]
    fn refused(&self, args: &[&str], code: i32) -> Run {
        let before = self.env.snapshot(&self.store);
        let run = self.run(args);
        assert_eq!(
            run.code, code,
            "{args:?}\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        assert_eq!(self.env.snapshot(&self.store), before, "{args:?} wrote");
        self.env.fsck(&self.store);
        run
    }
}

/// Commits `corr_c1` (a.txt v1, prompt abcd1234) then `corr_c2` (a.txt v2, b.txt) to `wf/t`.
fn commit_versions(env: &Env, s: &str) {
    let a1 = env.write("run1/a.txt", "a v1\n");
    let mut args = commit_args(s, "c1", &[a1.to_str().unwrap()]);
    args.splice(4..4, ["--prompt-hash", "abcd1234"]);
    env.run(&args).ok();
    let a2 = env.write("run2/a.txt", "a v2\n");
    let b2 = env.write("run2/b.txt", "b v2\n");
    env.run(&commit_args(
        s,
        "c2",
        &[a2.to_str().unwrap(), b2.to_str().unwrap()],
    ))
    .ok();
}

#[test]
fn forward_restore_commits_the_tag_tree_on_top_of_the_old_tip() {
    let t = Seeded::new();
    let old = t.rev("main");
    let task_branch = t.rev("ai/generated/wf/t");
    let run = t.run(&["--json", "revert-to-tag", "corr_c1"]).ok();
    let new = t.rev("main");
    assert_eq!(
        run.json(),
        json!({"success": true, "schema_version": 1, "commit_sha": new, "reverted_to": "corr_c1", "branch": "main",
               "changed": true, "mode": "restore", "dry_run": false})
    );
    assert_ne!(new, old);
    assert_eq!(t.rev("main^{tree}"), t.rev("corr_c1^{tree}"));
    assert_eq!(t.rev("main^"), old, "the old tip is the parent");
    assert_eq!(t.rev("main^@"), old, "one parent only");
    let log = t
        .env
        .git_in(&t.store, &["log", "-1", "--format=%s%n%(trailers)", "main"]);
    assert_eq!(
        log,
        format!(
            "Revert main to corr_c1\nReverted-To: corr_c1\nReverted-Commit: {}",
            t.rev("corr_c1^{commit}")
        )
    );
    let author = t
        .env
        .git_in(&t.store, &["log", "-1", "--format=%an <%ae>", "main"]);
    assert_eq!(author, "Test Bot <bot@example.invalid>");
    assert_eq!(
        t.rev("ai/generated/wf/t"),
        task_branch,
        "other branches stay"
    );
    t.env.fsck(&t.store);
}

#[test]
fn path_restore_replaces_only_that_path_and_removes_it_when_the_tag_lacks_it() {
    let t = Seeded::new();
    let old = t.rev("main");
    let run = t
        .run(&["revert-to-tag", "c1", "--path", &format!("{DIR}/")])
        .ok();
    assert!(
        run.stdout
            .starts_with(&format!("reverted {DIR} on main to corr_c1")),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert_eq!(
        t.rev(&format!("main:{DIR}")),
        t.rev(&format!("corr_c1:{DIR}"))
    );
    assert_eq!(t.rev("main:README.md"), t.rev(&format!("{old}:README.md")));
    assert_eq!(
        t.rev("main:docs/keep.txt"),
        t.rev(&format!("{old}:docs/keep.txt"))
    );
    assert_eq!(t.rev("main^"), old);
    let trailers = t
        .env
        .git_in(&t.store, &["log", "-1", "--format=%(trailers)", "main"]);
    assert!(
        trailers.contains(&format!("Reverted-Path: {DIR}")),
        "{trailers}"
    );
    t.env.fsck(&t.store);

    // A path the tag does not have is removed; its neighbours stay.
    let t = Seeded::new();
    let old = t.rev("main");
    t.run(&[
        "revert-to-tag",
        "corr_c1",
        "--path",
        &format!("{DIR}/b.txt"),
    ])
    .ok();
    let files = t
        .env
        .git_in(&t.store, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(!files.contains("b.txt"), "{files}");
    assert_eq!(
        t.rev(&format!("main:{DIR}/a.txt")),
        t.rev(&format!("{old}:{DIR}/a.txt"))
    );
    t.env.fsck(&t.store);

    // A path in neither the tag nor the target is most likely a typo.
    let run = t.refused(&["revert-to-tag", "c1", "--path", "nope/x"], 5);
    assert!(run.stderr.contains("nope/x"), "{}", run.stderr);
    t.refused(&["revert-to-tag", "c1", "--path", "a/../b"], 2);
}

#[test]
fn nothing_to_change_writes_no_commit() {
    let t = Seeded::new();
    // Only README differs from corr_c1 outside the artifacts: docs/ already matches.
    let before = t.env.snapshot(&t.store);
    let run = t
        .run(&["--json", "revert-to-tag", "c1", "--path", "docs"])
        .ok();
    assert_eq!(run.json()["changed"], false);
    assert_eq!(run.json()["commit_sha"], t.rev("main"));
    assert_eq!(t.env.snapshot(&t.store), before);

    t.env.git_in(
        &t.store,
        &["update-ref", "refs/heads/main", "corr_c1^{commit}"],
    );
    let before = t.env.snapshot(&t.store);
    for args in [
        vec!["--json", "revert-to-tag", "c1"],
        vec!["--json", "revert-to-tag", "prompt_abcd1234"],
        vec!["--json", "revert-to-tag", "corr_c1", "--hard", "--force"],
    ] {
        let run = t.run(&args).ok();
        let result = run.json();
        assert_eq!(result["changed"], false, "{args:?}");
        assert_eq!(result["commit_sha"], t.rev("main"), "{args:?}");
        assert!(result.get("undo").is_none(), "{args:?}");
        assert_eq!(t.env.snapshot(&t.store), before, "{args:?} wrote");
    }
    let run = t.run(&["revert-to-tag", "c1"]).ok();
    assert!(run.stdout.starts_with("unchanged: main"), "{}", run.stdout);
    t.env.fsck(&t.store);
}

#[test]
fn hard_force_moves_the_ref_keeps_the_old_tip_in_the_trash_and_prints_a_working_undo() {
    let t = Seeded::new();
    let old = t.rev("main");
    let tagged = t.rev("corr_c1^{commit}");
    let run = t
        .run(&["--json", "revert-to-tag", "corr_c1", "--hard", "--force"])
        .ok();
    let result = run.json();
    assert_eq!(result["commit_sha"], tagged);
    assert_eq!(result["changed"], true);
    assert_eq!(result["mode"], "hard");
    assert_eq!(t.rev("main"), tagged);

    let trash = t.env.git_in(
        &t.store,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/artifact-store/trash/",
        ],
    );
    let (name, held) = trash.split_once(' ').expect("one trash ref");
    assert_eq!(held, old, "the old tip is kept");
    let ts = name
        .strip_prefix("refs/artifact-store/trash/")
        .and_then(|rest| rest.strip_suffix("/refs/heads/main"))
        .unwrap_or_else(|| panic!("unexpected trash ref {name}"));
    assert!(ts.parse::<i64>().is_ok(), "{name}");
    assert_eq!(result["trash_ref"], name);

    let undo = result["undo"].as_str().expect("an undo command");
    assert_eq!(
        undo.split_whitespace().collect::<Vec<_>>()[2..],
        [
            "update-ref",
            "refs/heads/main",
            old.as_str(),
            tagged.as_str()
        ]
    );
    let words: Vec<&str> = undo.split_whitespace().collect();
    assert_eq!(words[0], "git");
    t.env.git(&words[1..]).ok();
    assert_eq!(t.rev("main"), old, "the undo command puts main back");
    t.env.fsck(&t.store);

    // Human output: what happened, then the undo command.
    let run = t.run(&["revert-to-tag", "c1", "--hard", "--force"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("moved main from"), "{}", run.stdout);
    assert!(
        lines[1].starts_with("undo: git --git-dir="),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("artifact-store trash restore"),
        "{}",
        run.stderr
    );
    t.env.fsck(&t.store);
}

/// `revert-to-tag corr_c1 --hard --force --json` at the unix time `at`; it must succeed.
fn hard_revert_at(t: &Seeded, at: i64) -> std::process::Output {
    let out = t
        .env
        .cmd(&[
            "--repo",
            t.s(),
            "--json",
            "revert-to-tag",
            "corr_c1",
            "--hard",
            "--force",
        ])
        .env("GIT_COMMITTER_DATE", format!("@{at} +0000"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn hard_never_shares_a_trash_ref_another_writer_made() {
    // `gc --apply` writes its trash copies before it deletes, and takes back the copies of
    // refs it did not delete: a revert that adopted such a copy as its own could lose the
    // old tip. So a trash name that exists, even at the old tip, is passed over.
    let t = Seeded::new();
    let old = t.rev("main");
    let at = 1_750_000_000_i64;
    let theirs = format!("refs/artifact-store/trash/{at}/refs/heads/main");
    t.env.git_in(&t.store, &["update-ref", &theirs, &old]);
    let out = hard_revert_at(&t, at);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = format!("refs/artifact-store/trash/{}/refs/heads/main", at + 1);
    assert_eq!(result["trash_ref"], ours.as_str());
    assert_eq!(t.rev(&ours), old);
    assert_eq!(
        t.rev(&theirs),
        old,
        "the other writer's trash ref is left alone"
    );
    t.env.fsck(&t.store);
}

#[test]
fn hard_clears_the_lock_a_run_killed_inside_the_rename_of_its_trash_copy_left() {
    // libgit2 moves a new ref into place by link then unlink: a run killed between the two
    // leaves the trash copy and its lock, and no later run writes that name again.
    let t = Seeded::new();
    let old = t.rev("main");
    let at = 1_750_000_000_i64;
    let killed = format!("refs/artifact-store/trash/{at}/refs/heads/main");
    t.env.git_in(&t.store, &["update-ref", &killed, &old]);
    let lock = t.store.join(format!("{killed}.lock"));
    std::fs::hard_link(t.store.join(&killed), &lock).unwrap();
    hard_revert_at(&t, at);
    assert!(!lock.exists(), "the finished lock is gone");
    assert_eq!(t.rev(&killed), old, "the copy it guarded stays");
    t.env.git_in(&t.store, &["update-ref", "-d", &killed]);
    t.env.fsck(&t.store);
}

#[test]
fn hard_without_force_is_a_usage_error_that_says_why() {
    let t = Seeded::new();
    let run = t.refused(&["revert-to-tag", "corr_c1", "--hard"], 2);
    assert!(run.stderr.contains("history"), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    let run = t.refused(&["--json", "revert-to-tag", "corr_c1", "--hard"], 2);
    assert_eq!(run.json()["error"]["kind"], "invalid_input");
    t.refused(&["revert-to-tag", "corr_c1", "--force"], 2);
    t.refused(
        &[
            "revert-to-tag",
            "corr_c1",
            "--hard",
            "--force",
            "--path",
            DIR,
        ],
        2,
    );
}

#[test]
fn unknown_tags_exit_5_and_change_nothing() {
    let t = Seeded::new();
    for tag in ["corr_nope", "nope", "prompt_ffff0000"] {
        let run = t.refused(&["--json", "revert-to-tag", tag], 5);
        assert_eq!(run.json()["error"]["kind"], "not_found", "{tag}");
    }
    t.refused(&["revert-to-tag", "corr_a b"], 2);
    t.refused(&["revert-to-tag", "prompt_x"], 2);
}

#[test]
fn a_tag_the_store_did_not_write_is_refused_with_a_hint() {
    let t = Seeded::new();
    t.env
        .git_in(&t.store, &["tag", "-a", "v1.0", "-m", "release", "corr_c1"]);
    t.env.git_in(&t.store, &["tag", "light", "corr_c1"]);
    for tag in ["v1.0", "refs/tags/v1.0", "light"] {
        let run = t.refused(&["revert-to-tag", tag], 2);
        assert!(run.stderr.contains("not a store tag"), "{}", run.stderr);
        assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    }
}

#[test]
fn a_missing_target_exits_5_unless_created() {
    let t = Seeded::new();
    let run = t.refused(&["--json", "revert-to-tag", "c1", "--target", "release"], 5);
    assert_eq!(run.json()["error"]["kind"], "not_found");
    assert!(
        run.stderr
            .contains("target branch release not found; pass --create"),
        "{}",
        run.stderr
    );
    t.refused(&["revert-to-tag", "c1", "--target", "bad..name"], 2);

    let run = t
        .run(&[
            "--json",
            "revert-to-tag",
            "c1",
            "--target",
            "release",
            "--create",
        ])
        .ok();
    let tagged = t.rev("corr_c1^{commit}");
    assert_eq!(t.rev("refs/heads/release"), tagged);
    assert_eq!(run.json()["changed"], true);
    assert_eq!(run.json()["commit_sha"], tagged);
    assert_eq!(run.json()["branch"], "release");
    t.env.fsck(&t.store);
}

#[test]
fn dry_run_reports_and_writes_nothing() {
    let t = Seeded::new();
    let tip = t.rev("main");
    let cases: [&[&str]; 5] = [
        &[],
        &["--path", DIR],
        &["--hard", "--force"],
        &["--target", "new", "--create"],
        &["--path", "docs"],
    ];
    for extra in cases {
        let mut args = vec!["--json", "revert-to-tag", "corr_c1", "--dry-run"];
        args.extend_from_slice(extra);
        let before = t.env.snapshot(&t.store);
        let result = t.run(&args).ok().json();
        assert_eq!(t.env.snapshot(&t.store), before, "{extra:?} wrote");
        assert_eq!(result["dry_run"], true, "{extra:?}");
        let creating = extra.contains(&"--create");
        let unchanged = extra.contains(&"docs");
        assert_eq!(result["changed"], !unchanged, "{extra:?}");
        let current = if creating { json!(null) } else { json!(tip) };
        assert_eq!(result["commit_sha"], current, "{extra:?}");
    }
    let run = t.run(&["revert-to-tag", "c1", "--dry-run"]).ok();
    assert!(
        run.stdout.starts_with("dry run: would revert main"),
        "{}",
        run.stdout
    );
    t.env.fsck(&t.store);
}

#[test]
fn help_explains_modes_and_exit_codes() {
    let env = Env::new();
    let help = env.run(&["revert-to-tag", "--help"]).ok();
    for needle in [
        "--hard",
        "--force",
        "--path",
        "--dry-run",
        "--create",
        "trash",
        "Exit codes",
    ] {
        assert!(help.stdout.contains(needle), "{needle}:\n{}", help.stdout);
    }
}
