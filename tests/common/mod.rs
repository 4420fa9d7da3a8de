//! Test environment: temp dirs, the built binary, the `git` CLI, hermetic settings.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A hermetic sandbox: its own HOME, no global or system git config, fixed dates.
pub struct Env {
    pub dir: tempfile::TempDir,
}

/// What one process run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn to_run(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating parents) and returns its path.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    fn hermetic(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test Bot")
            .env("GIT_AUTHOR_EMAIL", "bot@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test Bot")
            .env("GIT_COMMITTER_EMAIL", "bot@example.invalid")
            .env("LC_ALL", "C")
            .current_dir(self.dir.path());
    }

    /// Returns a command for the store binary with the hermetic environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_artifact-store"));
        self.hermetic(&mut cmd);
        cmd.args(args);
        cmd
    }

    /// Runs the store binary.
    pub fn run(&self, args: &[&str]) -> Run {
        to_run(
            self.cmd(args)
                .stdin(Stdio::null())
                .output()
                .expect("run artifact-store"),
        )
    }

    /// Runs the store binary with `stdin` as standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn artifact-store");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        to_run(child.wait_with_output().unwrap())
    }

    /// Runs `git` in the sandbox.
    pub fn git(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new("git");
        self.hermetic(&mut cmd);
        cmd.args(args);
        to_run(cmd.output().expect("run git"))
    }

    /// Runs `git --git-dir <repo>` and returns trimmed stdout, asserting success.
    #[track_caller]
    pub fn git_in(&self, repo: &Path, args: &[&str]) -> String {
        let mut full = vec!["-C", repo.to_str().unwrap()];
        full.extend_from_slice(args);
        let run = self.git(&full);
        assert_eq!(run.code, 0, "git {args:?} failed:\n{}", run.stderr);
        run.stdout.trim_end().to_string()
    }

    /// Creates a bare store with `artifact-store init --bare` and returns its path.
    pub fn store(&self) -> PathBuf {
        let path = self.path("store.git");
        self.run(&["init", "--bare", path.to_str().unwrap()]).ok();
        path
    }

    /// Asserts `git fsck --strict` is clean (dangling objects are allowed).
    #[track_caller]
    pub fn fsck(&self, repo: &Path) {
        let run = self.git(&[
            "-C",
            repo.to_str().unwrap(),
            "fsck",
            "--strict",
            "--no-progress",
        ]);
        assert_eq!(
            run.code, 0,
            "git fsck --strict failed:\n{}{}",
            run.stdout, run.stderr
        );
        for line in run.stdout.lines().chain(run.stderr.lines()) {
            assert!(
                line.starts_with("dangling")
                    || line.starts_with("notice: HEAD points to an unborn"),
                "git fsck --strict reported: {line}"
            );
        }
    }

    /// Every ref and its value, and the number of objects in the repository.
    pub fn snapshot(&self, repo: &Path) -> (String, usize) {
        let refs = self.git_in(repo, &["for-each-ref", "--format=%(refname) %(objectname)"]);
        let objects = self.git_in(repo, &["cat-file", "--batch-all-objects", "--batch-check"]);
        (refs, objects.lines().filter(|l| !l.is_empty()).count())
    }
}

/// Args of a commit into `store` for workflow `wf`, task `t`, correlation `corr`.
pub fn commit_args<'a>(store: &'a str, corr: &'a str, files: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--repo",
        store,
        "--json",
        "commit",
        "--workflow",
        "wf",
        "--task",
        "t",
        "--correlation-id",
        corr,
    ];
    args.extend_from_slice(files);
    args
}
