//! `revert-to-tag` onto a task branch: the restore commit carries the restored set's
//! metadata and store trailers, so every read command keeps reading the branch, and the
//! correlation id stays the key of the commit its tag names.

use crate::common;

use std::path::PathBuf;

use common::{commit_args, Env, Run};
use serde_json::Value;

const BRANCH: &str = "ai/generated/wf/t";
const DIR: &str = "artifacts/wf/t";

/// A bare store whose task `wf/t` has `corr_c1` (a.txt v1) then `corr_c2` (a.txt v2, b.txt).
struct Task {
    env: Env,
    store: PathBuf,
}

impl Task {
    fn new() -> Task {
        let env = Env::new();
        let store = env.store();
        let s = store.to_str().unwrap().to_string();
        let a1 = env.write("run1/a.txt", "a v1\n");
        let mut args = commit_args(&s, "c1", &[a1.to_str().unwrap()]);
        args.splice(
            4..4,
            ["--prompt-hash", "abcd1234", "--set", "test_metrics.pnl=1"],
        );
        env.run(&args).ok();
        let a2 = env.write("run2/a.txt", "a v2\n");
        let b2 = env.write("run2/b.txt", "b v2\n");
        let mut args = commit_args(&s, "c2", &[a2.to_str().unwrap(), b2.to_str().unwrap()]);
        args.splice(4..4, ["--set", "test_metrics.pnl=2"]);
        env.run(&args).ok();
        Task { env, store }
    }

    fn s(&self) -> &str {
        self.store.to_str().unwrap()
    }

    fn rev(&self, spec: &str) -> String {
        self.env.git_in(&self.store, &["rev-parse", spec])
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut full = vec!["--repo", self.s()];
        full.extend_from_slice(args);
        self.env.run(&full)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        self.run(&full).ok().json()
    }

    /// Reverts the task branch to `tag` with `extra` arguments; returns the new tip.
    fn revert(&self, tag: &str, extra: &[&str]) -> String {
        let mut args = vec!["--json", "revert-to-tag", tag, "--target", BRANCH];
        args.extend_from_slice(extra);
        let out = self.run(&args).ok().json();
        assert_eq!(out["branch"], BRANCH);
        self.rev(BRANCH)
    }

    /// Asserts what every read command says about the branch after a revert to `corr_c1`
    /// whose restored files are `a.txt` = `a_text` and no `b.txt`.
    #[track_caller]
    fn reads_as_c1(&self, tip: &str, a_text: &str) {
        let show = self.json(&["show", "wf/t"]);
        assert_eq!(show["commit_sha"], tip);
        assert_eq!(show["branch"], BRANCH);
        let files: Vec<&str> = show["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(files, ["a.txt", "metadata.json"], "{show}");

        let list = self.json(&["list"]);
        let rows = list["sets"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{list}");
        assert_eq!(rows[0]["commit_sha"], tip);
        assert_eq!(rows[0]["metadata"]["reverted_to"], "corr_c1");
        assert_eq!(rows[0]["correlation_id"], "corr_c1");
        assert_eq!(rows[0]["metadata"]["test_metrics"]["pnl"], 1);
        let versions = self.json(&["list", "--all-versions"]);
        assert_eq!(versions["sets"][0]["commit_sha"], tip, "{versions}");
        assert_eq!(versions["sets"].as_array().unwrap().len(), 3, "{versions}");
        let passed = self.json(&["list", "--status", "passed"]);
        assert_eq!(passed["sets"][0]["commit_sha"], tip);

        let log = self.json(&["log", "wf/t"]);
        assert_eq!(log["entries"][0]["commit_sha"], tip);
        assert_eq!(log["entries"][0]["test_status"], "passed");
        assert_eq!(log["entries"].as_array().unwrap().len(), 3);

        let verify = self.json(&["verify", "--all"]);
        assert_eq!(verify["success"], true, "{verify}");
        let verify = self.json(&["verify", "wf/t"]);
        assert_eq!(verify["success"], true, "{verify}");

        let diff = self.json(&["diff", "corr_c2", "wf/t"]);
        assert!(diff.to_string().contains("b.txt"), "{diff}");

        let out = self.env.path(&format!("export-{}", &tip[..8]));
        self.run(&["export", "wf/t", "--to", out.to_str().unwrap()])
            .ok();
        assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), a_text);
        assert!(!out.join("b.txt").exists());

        self.run(&["stats"]).ok();
        let gc = self.run(&["gc"]).ok();
        assert!(!gc.stdout.contains("no_metadata"), "{}", gc.stdout);

        // The correlation id still names the commit its tag names, and stays the key.
        let show = self.json(&["show", "corr_c1"]);
        assert_eq!(show["commit_sha"], self.rev("corr_c1^{commit}"));
        self.env.fsck(&self.store);
    }

    /// Commits `corr_c1` again: the same files are a duplicate of the tagged commit, other
    /// files a conflict; neither touches the restore commit.
    #[track_caller]
    fn corr_c1_stays_the_key(&self) {
        let tip = self.rev(BRANCH);
        let a1 = self.env.write("again/a.txt", "a v1\n");
        let out = self
            .env
            .run(&commit_args(self.s(), "c1", &[a1.to_str().unwrap()]))
            .ok()
            .json();
        assert_eq!(out["duplicate"], true, "{out}");
        assert_eq!(out["commit_sha"], self.rev("corr_c1^{commit}"));
        let other = self.env.write("other/a.txt", "a v9\n");
        let run = self
            .env
            .run(&commit_args(self.s(), "c1", &[other.to_str().unwrap()]));
        assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
        assert_eq!(self.rev(BRANCH), tip);
    }
}

#[test]
fn whole_tree_revert_of_a_task_branch_reads_as_the_restored_set() {
    let t = Task::new();
    let old = t.rev(BRANCH);
    let tip = t.revert("corr_c1", &[]);
    assert_eq!(t.rev(&format!("{tip}^")), old);
    let meta: Value = serde_json::from_str(
        &t.env
            .git_in(&t.store, &["show", &format!("{tip}:{DIR}/metadata.json")]),
    )
    .unwrap();
    assert_eq!(meta["reverted_to"], "corr_c1");
    assert_eq!(meta["reverted_from"], old.as_str());
    assert_eq!(meta["reverted_commit"], t.rev("corr_c1^{commit}").as_str());
    assert_eq!(meta["workflow_id"], "wf");
    let trailers = t
        .env
        .git_in(&t.store, &["log", "-1", "--format=%(trailers)", BRANCH]);
    assert!(
        trailers.contains("Workflow-Id: wf\nTask-Id: t\n"),
        "{trailers}"
    );
    assert!(!trailers.contains("Correlation-Id"), "{trailers}");
    t.reads_as_c1(&tip, "a v1\n");
    t.corr_c1_stays_the_key();

    // Reverting again to the same tag changes nothing.
    let again = t.json(&["revert-to-tag", "corr_c1", "--target", BRANCH]);
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(t.rev(BRANCH), tip);
}

#[test]
fn path_revert_of_the_artifact_dir_reads_as_the_restored_set() {
    for given in [DIR.to_string(), format!("{DIR}/"), "artifacts".to_string()] {
        let t = Task::new();
        let tip = t.revert("c1", &["--path", &given]);
        t.reads_as_c1(&tip, "a v1\n");
        t.corr_c1_stays_the_key();
    }
}

#[test]
fn path_revert_of_one_file_lists_the_files_the_set_now_holds() {
    let t = Task::new();
    let tip = t.revert("corr_c1", &["--path", &format!("{DIR}/a.txt")]);
    let show = t.json(&["show", "wf/t"]);
    assert_eq!(show["commit_sha"], tip);
    assert_eq!(show["metadata"]["reverted_path"], format!("{DIR}/a.txt"));
    assert_eq!(
        show["metadata"]["files"],
        serde_json::json!([format!("{DIR}/a.txt"), format!("{DIR}/b.txt")])
    );
    let verify = t.json(&["verify", "--all"]);
    assert_eq!(verify["success"], true, "{verify}");
    let list = t.json(&["list"]);
    assert_eq!(list["sets"][0]["commit_sha"], tip);
    t.env.fsck(&t.store);
}

#[test]
fn hard_revert_of_a_task_branch_reads_as_the_tagged_set() {
    let t = Task::new();
    let tip = t.revert("corr_c1", &["--hard", "--force"]);
    assert_eq!(tip, t.rev("corr_c1^{commit}"));
    let show = t.json(&["show", "wf/t"]);
    assert_eq!(show["commit_sha"], tip);
    let verify = t.json(&["verify", "--all"]);
    assert_eq!(verify["success"], true, "{verify}");
    assert_eq!(t.json(&["list"])["sets"][0]["commit_sha"], tip);
    t.env.fsck(&t.store);
}

#[test]
fn dry_run_onto_a_task_branch_writes_nothing() {
    let t = Task::new();
    for extra in [&[][..], &["--path", DIR][..], &["--hard", "--force"][..]] {
        let before = t.env.snapshot(&t.store);
        let mut args = vec!["--json", "revert-to-tag", "corr_c1", "--target", BRANCH];
        args.extend_from_slice(extra);
        args.push("--dry-run");
        let out = t.run(&args).ok().json();
        assert_eq!(out["dry_run"], true);
        assert_eq!(out["changed"], true);
        assert_eq!(t.env.snapshot(&t.store), before, "{extra:?} wrote");
    }
    t.env.fsck(&t.store);
}

#[test]
fn reverting_a_task_branch_to_another_tasks_tag_is_refused() {
    let t = Task::new();
    let x = t.env.write("run3/x.txt", "x\n");
    let s = t.s().to_string();
    let mut args = commit_args(&s, "other", &[x.to_str().unwrap()]);
    args[7] = "t2";
    t.env.run(&args).ok();
    let before = t.env.snapshot(&t.store);
    for extra in [&[][..], &["--path", "artifacts"][..]] {
        let mut args = vec!["--json", "revert-to-tag", "corr_other", "--target", BRANCH];
        args.extend_from_slice(extra);
        let run = t.run(&args);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert_eq!(run.json()["error"]["kind"], "invalid_input");
        assert_eq!(t.env.snapshot(&t.store), before);
    }
    t.env.fsck(&t.store);
    assert_eq!(t.json(&["verify", "--all"])["success"], true);
}

#[test]
fn a_prompt_tag_and_a_full_ref_name_restore_the_task_branch_the_same_way() {
    let t = Task::new();
    let target = format!("refs/heads/{BRANCH}");
    let out = t.json(&["revert-to-tag", "prompt_abcd1234", "--target", &target]);
    assert_eq!(out["changed"], true, "{out}");
    let tip = t.rev(BRANCH);
    let show = t.json(&["show", "wf/t"]);
    assert_eq!(show["commit_sha"], tip);
    assert_eq!(show["metadata"]["reverted_to"], "prompt_abcd1234");
    assert_eq!(show["metadata"]["correlation_id"], "corr_c1");
    assert_eq!(t.json(&["verify", "--all"])["success"], true);
    assert_eq!(t.json(&["list"])["sets"][0]["commit_sha"], tip);
    t.env.fsck(&t.store);
}

/// `--create` of a task branch at another task's tag would make a branch the store reads
/// as that other task's (listed twice under it): refused, exit 2, nothing written, in
/// every mode. Creating the task's own branch again, or a branch outside the prefix, works.
#[test]
fn creating_a_task_branch_at_another_tasks_tag_is_refused() {
    let task = Task::new();
    let before = task.env.snapshot(&task.store);
    for extra in [&[][..], &["--dry-run"][..], &["--hard", "--force"][..]] {
        for target in ["ai/generated/wf/other", "refs/heads/ai/generated/wf2/t"] {
            let mut args = vec![
                "--json",
                "revert-to-tag",
                "c2",
                "--target",
                target,
                "--create",
            ];
            args.extend_from_slice(extra);
            let run = task.run(&args);
            assert_eq!(run.code, 2, "{target} {extra:?}: {run:?}");
            assert!(run.stdout.contains("no artifact set"), "{}", run.stdout);
            assert_eq!(task.env.snapshot(&task.store), before, "{target} {extra:?}");
        }
    }
    let listed = |task: &Task| task.json(&["list"])["sets"].as_array().map_or(0, Vec::len);
    assert_eq!(listed(&task), 1);
    task.run(&["revert-to-tag", "c2", "--target", "release", "--create"])
        .ok();
    task.env.git_in(
        &task.store,
        &["update-ref", "-d", &format!("refs/heads/{BRANCH}")],
    );
    task.run(&["revert-to-tag", "c2", "--target", BRANCH, "--create"])
        .ok();
    assert_eq!(listed(&task), 1);
    task.run(&["verify", "--all"]).ok();
    task.env.fsck(&task.store);
}
