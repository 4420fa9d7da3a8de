//! `hooks install` records the installing binary by absolute path, so `git commit` and
//! `git push` run the scan with a `PATH` that lacks the binary; a binary gone from there
//! falls back to `PATH`, and with neither the hook blocks with a message naming the fix.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Env, Run};

/// A `PATH` with git and a shell but no `artifact-store`.
const BARE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// An AWS-style access key id, built at run time so this file holds no literal.
fn aws_key() -> String {
    format!("{}{}", "AKIA", "Q7R2M5XLK3J6WZN4")
}

/// Copies the built binary to `rel` under the sandbox (a name with spaces, quotes and `$`
/// in it) and returns the copy.
fn copy_binary(env: &Env, rel: &str) -> PathBuf {
    let to = env.path(rel);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_artifact-store"), &to).unwrap();
    to
}

/// Runs the binary at `bin` with the sandbox's hermetic settings and [`BARE_PATH`].
fn run_bin(env: &Env, bin: &Path, args: &[&str]) -> Run {
    // A copy made a moment ago can be busy (ETXTBSY) while another test's child still
    // holds its write descriptor from a fork; that passes.
    for _ in 0..50 {
        match spawn_bin(env, bin, args) {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            result => return result.unwrap(),
        }
    }
    spawn_bin(env, bin, args).unwrap()
}

fn spawn_bin(env: &Env, bin: &Path, args: &[&str]) -> std::io::Result<Run> {
    let output = Command::new(bin)
        .env_clear()
        .env("PATH", BARE_PATH)
        .env("HOME", env.dir.path())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C")
        .current_dir(env.dir.path())
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    Ok(Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs `git` with no `ARTIFACT_STORE_BIN` and `path` as `PATH`.
fn git_with_path(env: &Env, path: &str, args: &[&str]) -> Run {
    env.git_env(args, &[("ARTIFACT_STORE_BIN", ""), ("PATH", path)])
}

fn worktree(env: &Env) -> PathBuf {
    let path = env.path("work");
    env.git(&["init", "-q", "-b", "main", path.to_str().unwrap()])
        .ok();
    path
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

/// Stages `file` with `text` and commits it with `path` as `PATH`.
fn commit(env: &Env, work: &Path, path: &str, file: &str, text: &str) -> Run {
    std::fs::write(work.join(file), text).unwrap();
    env.git_in(work, &["add", file]);
    git_with_path(
        env,
        path,
        &["-C", work.to_str().unwrap(), "commit", "-q", "-m", file],
    )
}

/// Asserts a hook that found no binary: blocked, saying why and how to fix it, not a
/// shell's `not found`.
#[track_caller]
fn assert_clear_refusal(run: &Run, install: &str) {
    assert_ne!(run.code, 0, "went through:\n{}", run.stderr);
    assert!(run.stderr.contains("hook cannot run"), "{}", run.stderr);
    assert!(run.stderr.contains(install), "{}", run.stderr);
    assert!(!run.stderr.contains("exec:"), "{}", run.stderr);
    assert!(!run.stderr.contains(": not found"), "{}", run.stderr);
}

#[test]
fn the_pre_commit_hook_runs_the_installing_binary_without_it_on_path() {
    for rel in [
        "bin dir/it's \"q\" $HOME `x`/artifact-store",
        "plain/artifact-store",
    ] {
        let env = Env::new();
        let work = worktree(&env);
        let bin = copy_binary(&env, rel);
        let w = work.to_str().unwrap();
        let out = run_bin(&env, &bin, &["--repo", w, "--json", "hooks", "install"]).ok();
        assert_eq!(out.json()["hooks"][0]["binary"], bin.to_str().unwrap());
        assert!(!Path::new("/usr/local/bin/artifact-store").exists());

        let key = aws_key();
        let blocked = commit(
            &env,
            &work,
            BARE_PATH,
            "settings.py",
            &format!("KEY = \"{key}\"\n"),
        );
        assert_ne!(blocked.code, 0, "the secret went in:\n{}", blocked.stderr);
        assert!(
            blocked.stderr.contains("1 secret detected"),
            "{}",
            blocked.stderr
        );
        assert_not_leaked(&key, &blocked);
        env.git_in(&work, &["rm", "-q", "--cached", "settings.py"]);

        let clean = commit(&env, &work, BARE_PATH, "notes.txt", "clean\n");
        assert_eq!(clean.code, 0, "{}", clean.stderr);
        assert_eq!(env.git_in(&work, &["log", "--format=%s"]), "notes.txt");
    }
}

#[test]
fn a_moved_binary_falls_back_to_path_and_else_blocks_with_a_clear_message() {
    let env = Env::new();
    let work = worktree(&env);
    let bin = copy_binary(&env, "old place/artifact-store");
    let w = work.to_str().unwrap();
    run_bin(&env, &bin, &["--repo", w, "hooks", "install"]).ok();
    let moved = env.path("new place/artifact-store");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&bin, &moved).unwrap();

    // Neither the recorded path nor PATH: blocked, and the message says to reinstall.
    let refused = commit(&env, &work, BARE_PATH, "a.txt", "a\n");
    assert_clear_refusal(&refused, "hooks install");
    assert!(refused.stderr.contains("old place"), "{}", refused.stderr);
    let no_head = env.git(&["-C", w, "rev-parse", "-q", "--verify", "HEAD"]);
    assert_ne!(no_head.code, 0, "the commit happened");

    // ARTIFACT_STORE_BIN naming a missing file: the same kind of message.
    let run = env.git_env(
        &["-C", w, "commit", "-q", "-m", "a"],
        &[
            ("ARTIFACT_STORE_BIN", "/nowhere/artifact-store"),
            ("PATH", BARE_PATH),
        ],
    );
    assert_clear_refusal(&run, "ARTIFACT_STORE_BIN");

    // On PATH: the scan runs from there.
    let with_bin = format!("{}:{BARE_PATH}", moved.parent().unwrap().display());
    let key = aws_key();
    let blocked = commit(
        &env,
        &work,
        &with_bin,
        "s.py",
        &format!("KEY = \"{key}\"\n"),
    );
    assert!(
        blocked.stderr.contains("1 secret detected"),
        "{}",
        blocked.stderr
    );
    assert_not_leaked(&key, &blocked);
    env.git_in(&work, &["rm", "-q", "--cached", "s.py"]);
    let clean = commit(&env, &work, &with_bin, "a.txt", "a\n");
    assert_eq!(clean.code, 0, "{}", clean.stderr);

    // Reinstalling from the new place updates our hook without --force.
    let out = run_bin(&env, &moved, &["--repo", w, "--json", "hooks", "install"]).ok();
    assert_eq!(out.json()["hooks"][0]["action"], "updated");
    assert!(out.json()["hooks"][0]["backup"].is_null());
    let clean = commit(&env, &work, BARE_PATH, "b.txt", "b\n");
    assert_eq!(clean.code, 0, "{}", clean.stderr);
}

#[test]
fn a_hook_from_before_the_path_was_recorded_is_updated_in_place() {
    let env = Env::new();
    let work = worktree(&env);
    let hook = work.join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    let legacy = "#!/bin/sh\n\
# artifact-store pre-commit hook: blocks a commit whose staged content holds a secret.\n\
# Findings are printed redacted; a line holding `artifact-store:allow` is never reported.\n\
# Installed by `artifact-store hooks install`; ARTIFACT_STORE_BIN names the binary when it\n\
# is not on PATH. See hooks/README.md.\n\
exec \"${ARTIFACT_STORE_BIN:-artifact-store}\" hook pre-commit \"$@\"\n";
    std::fs::write(&hook, legacy).unwrap();
    let bin = copy_binary(&env, "b/artifact-store");
    let w = work.to_str().unwrap();
    let out = run_bin(&env, &bin, &["--repo", w, "--json", "hooks", "install"]).ok();
    assert_eq!(out.json()["hooks"][0]["action"], "updated");
    let clean = commit(&env, &work, BARE_PATH, "a.txt", "a\n");
    assert_eq!(clean.code, 0, "{}", clean.stderr);
}

#[test]
fn the_pre_receive_hook_runs_the_installing_binary_and_refuses_without_one() {
    let env = Env::new();
    let server = env.bare_remote("server.git");
    let url = server.to_str().unwrap();
    let bin = copy_binary(&env, "srv bin/it's/artifact-store");
    run_bin(&env, &bin, &["--repo", url, "hooks", "install", "--server"]).ok();
    let work = worktree(&env);
    let w = work.to_str().unwrap();
    env.write("work/a.txt", "a\n");
    env.git_in(&work, &["add", "a.txt"]);
    env.git_in(&work, &["commit", "-q", "-m", "a"]);
    let pushed = git_with_path(&env, BARE_PATH, &["-C", w, "push", "-q", url, "main"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);

    let key = aws_key();
    env.write("work/s.py", format!("KEY = \"{key}\"\n"));
    env.git_in(&work, &["add", "s.py"]);
    env.git_in(&work, &["commit", "-q", "--no-verify", "-m", "s"]);
    let refused = git_with_path(&env, BARE_PATH, &["-C", w, "push", "-q", url, "main"]);
    assert_ne!(refused.code, 0, "the secret was pushed");
    assert!(refused.stderr.contains("secret"), "{}", refused.stderr);
    assert_not_leaked(&key, &refused);

    std::fs::remove_file(&bin).unwrap();
    env.git_in(&work, &["reset", "-q", "--hard", "HEAD^"]);
    env.write("work/b.txt", "b\n");
    env.git_in(&work, &["add", "b.txt"]);
    env.git_in(&work, &["commit", "-q", "-m", "b"]);
    let before = env.git_in(&server, &["rev-parse", "main"]);
    let refused = git_with_path(&env, BARE_PATH, &["-C", w, "push", "-q", url, "main"]);
    assert_clear_refusal(&refused, "hooks install --server");
    assert_eq!(env.git_in(&server, &["rev-parse", "main"]), before);
}
