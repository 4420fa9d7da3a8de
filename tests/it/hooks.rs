//! The git hooks, installed with `hooks install` and exercised by real `git commit` and
//! `git push` runs: pre-commit blocks staged secrets; pre-receive guards store refs.

use crate::common;

use std::path::{Path, PathBuf};

use common::{Env, Run};

/// An AWS-style access key id, built at run time so this file holds no literal.
fn aws_key() -> String {
    format!("{}{}", "AKIA", "Q7R2M5XLK3J6WZN4")
}

#[track_caller]
fn assert_not_leaked(secret: &str, run: &Run) {
    for out in [&run.stdout, &run.stderr] {
        assert!(
            !out.contains(&secret[4..]),
            "the secret was printed:\n{out}"
        );
    }
}

fn worktree(env: &Env, rel: &str) -> PathBuf {
    let path = env.path(rel);
    let run = env.git(&["init", "-q", "-b", "main", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    path
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("hooks")
            .join(name),
    )
    .unwrap()
}

#[test]
fn hooks_install_writes_the_script_and_never_silently_replaces_another() {
    let env = Env::new();
    let work = worktree(&env, "work");
    let w = work.to_str().unwrap();
    let run = env.run(&["--repo", w, "--json", "hooks", "install"]).ok();
    assert_eq!(run.json()["hooks"][0]["action"], "installed");
    let hook = work.join(".git/hooks/pre-commit");
    let bin = env!("CARGO_BIN_EXE_artifact-store");
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        shipped("pre-commit").replace("installed=''", &format!("installed='{bin}'"))
    );
    use std::os::unix::fs::PermissionsExt;
    assert_ne!(
        std::fs::metadata(&hook).unwrap().permissions().mode() & 0o111,
        0
    );
    let again = env.run(&["--repo", w, "--json", "hooks", "install"]).ok();
    assert_eq!(again.json()["hooks"][0]["action"], "unchanged");

    std::fs::write(&hook, "#!/bin/sh\necho mine\n").unwrap();
    let refused = env.run(&["--repo", w, "hooks", "install"]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    let forced = env.run(&["--repo", w, "hooks", "install", "--force"]).ok();
    assert!(
        forced.stdout.starts_with("replaced pre-commit"),
        "{}",
        forced.stdout
    );
    assert!(forced.stderr.contains("undo with `mv"), "{}", forced.stderr);
    let backup = work.join(".git/hooks/pre-commit.bak");
    assert_eq!(
        std::fs::read_to_string(backup).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    let bin = env!("CARGO_BIN_EXE_artifact-store");
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        shipped("pre-commit").replace("installed=''", &format!("installed='{bin}'"))
    );

    let server = env.bare_remote("server.git");
    let s = server.to_str().unwrap();
    env.run(&["--repo", s, "hooks", "install", "--server"]).ok();
    assert_eq!(
        std::fs::read_to_string(server.join("hooks/pre-receive")).unwrap(),
        shipped("pre-receive").replace("installed=''", &format!("installed='{bin}'"))
    );

    let other = worktree(&env, "other");
    env.git_in(&other, &["config", "core.hooksPath", ".githooks"]);
    env.run(&["--repo", other.to_str().unwrap(), "hooks", "install"])
        .ok();
    assert!(other.join(".githooks/pre-commit").is_file());
}

#[test]
fn the_pre_commit_hook_blocks_a_staged_secret_with_redacted_output() {
    let env = Env::new();
    let work = worktree(&env, "work");
    let w = work.to_str().unwrap();
    env.run(&["--repo", w, "hooks", "install"]).ok();
    let key = aws_key();
    env.write(
        "work/settings.py",
        format!("AWS_ACCESS_KEY_ID = \"{key}\"\n"),
    );
    env.git_in(&work, &["add", "settings.py"]);
    let blocked = env.git(&["-C", w, "commit", "-q", "-m", "add settings"]);
    assert_ne!(blocked.code, 0, "the commit went through");
    assert!(
        blocked.stderr.contains("settings.py:1:"),
        "{}",
        blocked.stderr
    );
    assert!(
        blocked.stderr.contains("AKIA"),
        "a redacted excerpt: {}",
        blocked.stderr
    );
    assert_not_leaked(&key, &blocked);
    assert_ne!(
        env.git(&["-C", w, "rev-parse", "-q", "--verify", "HEAD"])
            .code,
        0
    );

    env.write(
        "work/settings.py",
        format!("AWS_ACCESS_KEY_ID = \"{key}\"  # artifact-store:allow (documented test key)\n"),
    );
    env.git_in(&work, &["add", "settings.py"]);
    env.git_in(&work, &["commit", "-q", "-m", "allowed on purpose"]);

    // `git commit -a` hands the hook a temporary index: the unstaged edit is what gets
    // committed, so it is what gets scanned. The binary is found on PATH this time.
    env.write("work/settings.py", format!("KEY = \"{key}\"\n"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_artifact-store"))
        .parent()
        .unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let blocked = env.git_env(
        &["-C", w, "commit", "-q", "-a", "-m", "sneak it in"],
        &[("ARTIFACT_STORE_BIN", ""), ("PATH", &path)],
    );
    assert_ne!(
        blocked.code, 0,
        "commit -a went through:\n{}",
        blocked.stderr
    );
    assert!(
        blocked.stderr.contains("1 secret detected"),
        "{}",
        blocked.stderr
    );
    assert_not_leaked(&key, &blocked);
    let log = env.git_in(&work, &["log", "--format=%s"]);
    assert_eq!(log, "allowed on purpose");
}

/// A bare remote with the pre-receive hook and a `[hooks]` table in its config.
fn guarded_remote(env: &Env, rel: &str) -> PathBuf {
    let server = env.bare_remote(rel);
    env.run(&[
        "--repo",
        server.to_str().unwrap(),
        "hooks",
        "install",
        "--server",
    ])
    .ok();
    std::fs::write(
        server.join("artifact-store.toml"),
        "[hooks]\nretention_identity = \"gc-bot\"\nbot_identity = \"ai-bot\"\n",
    )
    .unwrap();
    server
}

/// A worktree with two commits on main; returns it and the two shas.
fn two_commits(env: &Env) -> (PathBuf, String, String) {
    let work = worktree(env, "work");
    let mut shas = Vec::new();
    for (file, text) in [("a.txt", "a\n"), ("b.txt", "b\n")] {
        env.write(&format!("work/{file}"), text);
        env.git_in(&work, &["add", file]);
        env.git_in(&work, &["commit", "-q", "-m", file]);
        shas.push(env.git_in(&work, &["rev-parse", "HEAD"]));
    }
    (work, shas.remove(0), shas.remove(0))
}

fn push(env: &Env, work: &Path, url: &str, spec: &str, pusher: &str) -> Run {
    env.git_env(
        &["-C", work.to_str().unwrap(), "push", "-q", url, spec],
        &[("ARTIFACT_STORE_PUSHER", pusher)],
    )
}

#[test]
fn the_pre_receive_hook_refuses_deleting_and_rewriting_store_refs_but_for_retention() {
    let env = Env::new();
    let server = guarded_remote(&env, "server.git");
    let url = server.to_str().unwrap();
    let (work, c1, c2) = two_commits(&env);
    let branch = "refs/heads/ai/generated/wf/t";
    let ok = |spec: &str, who: &str| {
        let run = push(&env, &work, url, spec, who);
        assert_eq!(
            run.code, 0,
            "{spec} by {who:?} was refused:\n{}",
            run.stderr
        );
    };
    let refused = |spec: &str, who: &str, why: &str| {
        let run = push(&env, &work, url, spec, who);
        assert_ne!(run.code, 0, "{spec} by {who:?} went through");
        assert!(run.stderr.contains(why), "{spec}: {}", run.stderr);
    };
    ok(&format!("{c1}:{branch}"), "");
    ok(&format!("{c2}:{branch}"), "");
    refused(
        &format!("+{c1}:{branch}"),
        "",
        "non-fast-forward update of a store ref",
    );
    refused(
        &format!(":{branch}"),
        "",
        "deleted only by the retention identity",
    );
    assert_eq!(env.git_in(&server, &["rev-parse", branch]), c2);

    env.git_in(&work, &["tag", "-a", "-m", "corr", "corr_x", &c1]);
    env.git_in(&work, &["tag", "-a", "-m", "prompt", "prompt_abcd", &c1]);
    ok("refs/tags/corr_x", "");
    ok("refs/tags/prompt_abcd", "");
    env.git_in(
        &work,
        &["tag", "-f", "-a", "-m", "prompt", "prompt_abcd", &c2],
    );
    ok("+refs/tags/prompt_abcd", "");
    env.git_in(&work, &["tag", "-f", "-a", "-m", "corr", "corr_x", &c2]);
    refused(
        "+refs/tags/corr_x",
        "",
        "non-fast-forward update of a store ref",
    );

    // corr_x may move to its commit re-applied elsewhere (same message, author, files).
    env.git_in(&work, &["checkout", "-q", "--orphan", "elsewhere"]);
    env.git_in(&work, &["rm", "-q", "-rf", "."]);
    env.write("work/c.txt", "c\n");
    env.git_in(&work, &["add", "c.txt"]);
    env.git_in(&work, &["commit", "-q", "-m", "elsewhere"]);
    env.git_in(&work, &["cherry-pick", &c1]);
    let reapplied = env.git_in(&work, &["rev-parse", "HEAD"]);
    env.git_in(
        &work,
        &["tag", "-f", "-a", "-m", "corr", "corr_x", &reapplied],
    );
    ok("+refs/tags/corr_x", "");

    ok(&format!("+{c1}:{branch}"), "gc-bot");
    ok(&format!(":{branch}"), "gc-bot");
    refused(
        &format!("{c1}:refs/heads/main"),
        "ai-bot",
        "the bot identity may push store refs only",
    );
    ok(&format!("{c1}:refs/heads/ai/generated/wf/u"), "ai-bot");
    ok(&format!("{c1}:refs/heads/main"), "a-human");
}

#[test]
fn the_pre_receive_hook_refuses_a_pushed_secret_through_git_daemon() {
    let env = Env::new();
    let daemon = env.daemon();
    guarded_remote(&env, "server.git");
    let url = daemon.url("server.git");
    let work = worktree(&env, "work");
    let key = aws_key();
    env.write("work/clean.txt", "nothing to see\n");
    env.git_in(&work, &["add", "clean.txt"]);
    env.git_in(&work, &["commit", "-q", "-m", "clean"]);
    let run = push(&env, &work, &url, "main", "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    env.write(
        "work/deploy/env.sh",
        format!("export AWS_ACCESS_KEY_ID={key}\n"),
    );
    env.git_in(&work, &["add", "deploy/env.sh"]);
    env.git_in(&work, &["commit", "-q", "-m", "deploy script"]);
    let run = push(&env, &work, &url, "main:refs/heads/feature", "");
    assert_ne!(run.code, 0, "the secret was pushed");
    assert!(
        run.stderr.contains("secret in a pushed blob"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(":deploy/env.sh:1:"), "{}", run.stderr);
    assert_not_leaked(&key, &run);
    let server = env.path("server.git");
    let heads = env.git_in(&server, &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(heads, "refs/heads/main");
}

/// The store's own pushes pass its guard: new branches and tags, a prompt tag moving
/// forward, and a commit re-applied after another machine pushed first.
#[test]
fn store_pushes_pass_the_pre_receive_hook() {
    let env = Env::new();
    let daemon = env.daemon();
    let server = guarded_remote(&env, "server.git");
    let url = daemon.url("server.git");
    let mut shas = Vec::new();
    for (name, corr) in [("a.git", "first"), ("b.git", "second")] {
        let store = env.store_at(name);
        env.git_in(&store, &["remote", "add", "origin", &url]);
        let file = env.write(&format!("{corr}.txt"), corr);
        let run = env.run(&[
            "--repo",
            store.to_str().unwrap(),
            "--json",
            "commit",
            "-w",
            "wf",
            "-t",
            "t",
            "--correlation-id",
            corr,
            "--prompt-hash",
            "abcd1234",
            "--require-push",
            file.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{corr}: {}", run.stderr);
        shas.push(run.json()["commit_sha"].as_str().unwrap().to_string());
    }
    assert_eq!(
        env.git_in(&server, &["rev-parse", &format!("{}^", shas[1])]),
        shas[0]
    );
    assert_eq!(
        env.git_in(
            &server,
            &["rev-parse", "refs/tags/prompt_abcd1234^{commit}"]
        ),
        shas[1]
    );
}

/// Each hook in `.pre-commit-hooks.yaml` runs the way the pre-commit framework runs it: its
/// `entry`, plus the file names unless `pass_filenames: false`.
#[test]
fn the_pre_commit_framework_hooks_run_their_entries() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"),
    )
    .unwrap();
    let hooks: Vec<(&str, &str, bool)> = text
        .split("\n- id: ")
        .skip(1)
        .map(|block| {
            let id = block.lines().next().unwrap().trim();
            let entry = block
                .lines()
                .find_map(|l| l.trim().strip_prefix("entry: "))
                .unwrap();
            (id, entry, !block.contains("pass_filenames: false"))
        })
        .collect();
    let ids: Vec<&str> = hooks.iter().map(|h| h.0).collect();
    assert_eq!(ids, ["artifact-store-scan", "artifact-store-scan-staged"]);
    let env = Env::new();
    let work = worktree(&env, "work");
    env.write("work/clean.txt", "fine\n");
    env.write("work/leak.txt", format!("token = \"{}\"\n", aws_key()));
    env.git_in(&work, &["add", "leak.txt"]);
    for (id, entry, files) in hooks {
        let parts: Vec<&str> = entry.split_whitespace().collect();
        assert_eq!(parts[0], "artifact-store", "{id}");
        let mut cmd = env.cmd(&parts[1..]);
        cmd.current_dir(&work);
        if files {
            cmd.arg("leak.txt");
        }
        let output = cmd.output().unwrap();
        assert_eq!(output.status.code(), Some(3), "{id}: {output:?}");
        if files {
            let clean = env
                .cmd(&parts[1..])
                .current_dir(&work)
                .arg("clean.txt")
                .output();
            assert_eq!(clean.unwrap().status.code(), Some(0), "{id}");
        }
    }
}

/// `allow_paths` globs name paths in the pushed tree, as they do for `scan --staged` and the
/// pre-commit hook: `fixtures/**` skips a fixture at the server too, and nothing else.
#[test]
fn the_pre_receive_hook_matches_allow_paths_against_the_path_in_the_tree() {
    let env = Env::new();
    let daemon = env.daemon();
    let server = guarded_remote(&env, "server.git");
    let config = server.join("artifact-store.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[scan]\nallow_paths = [\"fixtures/**\"]\n");
    std::fs::write(&config, text).unwrap();
    let url = daemon.url("server.git");
    let work = worktree(&env, "work");
    let key = aws_key();
    env.write(
        "work/fixtures/env.sh",
        format!("export AWS_ACCESS_KEY_ID={key}\n"),
    );
    env.git_in(&work, &["add", "fixtures/env.sh"]);
    env.git_in(&work, &["commit", "-q", "-m", "a fixture"]);
    let run = push(&env, &work, &url, "main", "");
    assert_eq!(run.code, 0, "an allowed path is skipped: {}", run.stderr);
    // Other bytes than the fixture's: a blob the server holds already is not scanned again.
    env.write(
        "work/src/env.sh",
        format!("#!/bin/sh\nexport AWS_ACCESS_KEY_ID={key}\n"),
    );
    env.git_in(&work, &["add", "src/env.sh"]);
    env.git_in(&work, &["commit", "-q", "-m", "not a fixture"]);
    let run = push(&env, &work, &url, "main:refs/heads/feature", "");
    assert_ne!(run.code, 0, "the secret outside fixtures/ was pushed");
    assert!(run.stderr.contains(":src/env.sh:2:"), "{}", run.stderr);
    assert_not_leaked(&key, &run);
}
