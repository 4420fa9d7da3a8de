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

/// Runs `cmd` with `stdin` written to its standard input.
fn pipe(mut cmd: Command, stdin: &str) -> Run {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a test process");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    to_run(child.wait_with_output().unwrap())
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
            .env("ARTIFACT_STORE_BIN", env!("CARGO_BIN_EXE_artifact-store"))
            // No background consolidation outliving a test and racing its `git fsck`;
            // the tests of consolidation turn it on (`-c auto_compact=true`).
            .env("ARTIFACT_STORE_AUTO_COMPACT", "false")
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
        pipe(self.cmd(args), stdin)
    }

    /// Returns a `git` command with the hermetic environment.
    pub fn git_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        self.hermetic(&mut cmd);
        cmd.args(args);
        cmd
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
                    || line.starts_with("notice: HEAD points to an unborn")
                    || line == "notice: No default references",
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

    /// Runs the store binary with `args` (`--json` among them) and asserts that it was
    /// refused, exit `code` with an error object of `kind`, and that `repo` is as it was:
    /// every ref with the same value, no object added ([`Env::snapshot`]), `git fsck
    /// --strict` clean. Returns the run, for what else a test asserts of it.
    #[track_caller]
    pub fn refused_unchanged(
        &self,
        repo: &Path,
        args: &[impl AsRef<str>],
        code: i32,
        kind: &str,
    ) -> Run {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let before = self.snapshot(repo);
        let run = self.run(&args);
        assert_eq!(
            run.code, code,
            "{args:?}: exit code\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        let json = run.json();
        assert_eq!(json["success"], false, "{args:?}: {json}");
        assert_eq!(json["error"]["kind"], kind, "{args:?}: {json}");
        assert_eq!(
            self.snapshot(repo),
            before,
            "{args:?} was refused, yet the repository changed"
        );
        self.fsck(repo);
        run
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

impl Env {
    /// Commits the directory `dir` into `store` (`--repo STORE -q commit ARGS DIR/.`) with
    /// its commit time fixed at `secs` (unix seconds, UTC), and asserts that it succeeded:
    /// how the read-side tests build stores whose order in time they know.
    pub fn commit_dated(&self, store: &Path, secs: i64, args: &[&str], dir: &Path) {
        let dot = dir.join(".");
        let mut full = vec!["--repo", store.to_str().unwrap(), "-q", "commit"];
        full.extend_from_slice(args);
        full.push(dot.to_str().unwrap());
        let out = self
            .cmd(&full)
            .env("GIT_COMMITTER_DATE", format!("@{secs} +0000"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the store binary with extra environment variables.
    pub fn run_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = self.cmd(args);
        cmd.envs(vars.iter().copied()).stdin(Stdio::null());
        to_run(cmd.output().expect("run artifact-store"))
    }

    /// Runs `git` with extra environment variables.
    pub fn git_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new("git");
        self.hermetic(&mut cmd);
        cmd.args(args).envs(vars.iter().copied());
        to_run(cmd.output().expect("run git"))
    }

    /// Runs `git` with `stdin` as standard input, asserting success.
    #[track_caller]
    pub fn git_stdin(&self, args: &[&str], stdin: &str) -> String {
        let mut cmd = Command::new("git");
        self.hermetic(&mut cmd);
        cmd.args(args);
        let run = pipe(cmd, stdin);
        assert_eq!(run.code, 0, "git {args:?} failed:\n{}", run.stderr);
        run.stdout.trim_end().to_string()
    }

    /// Creates a bare store at `rel` with `artifact-store init --bare` and returns its path.
    pub fn store_at(&self, rel: &str) -> PathBuf {
        let path = self.path(rel);
        self.run(&["init", "--bare", path.to_str().unwrap()]).ok();
        path
    }

    /// Creates an empty bare repository at `rel` (a remote) and returns its path.
    pub fn bare_remote(&self, rel: &str) -> PathBuf {
        let path = self.path(rel);
        let run = self.git(&["init", "--bare", "-q", "-b", "main", path.to_str().unwrap()]);
        assert_eq!(run.code, 0, "git init --bare failed:\n{}", run.stderr);
        path
    }

    /// Starts `git daemon` serving every repository under the sandbox on a free port.
    pub fn daemon(&self) -> Daemon {
        for _ in 0..20 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            if let Some(daemon) = Daemon::start(self, port) {
                return daemon;
            }
        }
        panic!("git daemon did not start on any port");
    }
}

/// A `git daemon` on 127.0.0.1 serving the sandbox (`--export-all
/// --enable=receive-pack`), stopped on drop.
pub struct Daemon {
    child: Option<std::process::Child>,
    pub port: u16,
    base: PathBuf,
}

impl Daemon {
    /// Starts a daemon on `port`; `None` when it does not come up (port taken).
    pub fn start(env: &Env, port: u16) -> Option<Daemon> {
        let base = env.dir.path().to_path_buf();
        // `git daemon` would run git-daemon as a child; run it directly so kill stops it.
        let exec_path = env.git(&["--exec-path"]).stdout.trim().to_string();
        let mut cmd = Command::new(Path::new(&exec_path).join("git-daemon"));
        env.hermetic(&mut cmd);
        cmd.args([
            "--export-all",
            "--enable=receive-pack",
            "--reuseaddr",
            "--informative-errors",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", base.display()),
            base.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn git daemon");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return None;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Daemon {
                    child: Some(child),
                    port,
                    base,
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Returns the `git://` URL of a repository under the sandbox.
    pub fn url(&self, rel: &str) -> String {
        format!("git://127.0.0.1:{}/{rel}", self.port)
    }

    /// Stops the daemon and waits until the port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Starts the daemon again on the same port.
    pub fn restart(&mut self, env: &Env) {
        self.stop();
        for _ in 0..100 {
            if let Some(mut again) = Daemon::start(env, self.port) {
                self.child = again.child.take();
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("git daemon did not restart on port {}", self.port);
    }

    /// Returns the directory the daemon serves.
    pub fn base(&self) -> &Path {
        &self.base
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A store at `name` in the sandbox whose `origin` is `url`; returns its path as text.
pub fn store_with_remote(env: &Env, name: &str, url: &str) -> String {
    let store = env.store_at(name);
    env.git_in(&store, &["remote", "add", "origin", url]);
    store.to_str().unwrap().to_string()
}

/// Resolves `spec` in `repo`, asserting it exists.
pub fn rev(env: &Env, repo: &Path, spec: &str) -> String {
    env.git_in(repo, &["rev-parse", "--verify", "-q", spec])
}

/// Returns whether `refname` resolves in `repo`.
pub fn has_ref(env: &Env, repo: &Path, refname: &str) -> bool {
    env.git(&[
        "-C",
        repo.to_str().unwrap(),
        "rev-parse",
        "--verify",
        "-q",
        refname,
    ])
    .code
        == 0
}

/// Sets the mtime of `path` to `age` ago: a lock a dead process stopped touching.
pub fn backdate(path: &Path, age: std::time::Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

/// Creates an empty lock file at `path` (and its directories), last touched `age` ago.
pub fn old_lock(path: &Path, age: std::time::Duration) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, "").unwrap();
    backdate(path, age);
}

/// A xorshift generator; the seed comes from `ARTIFACT_STORE_CRASH_SEED` or the clock and is
/// printed, so a failing run can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(scenario: &str) -> Rng {
        let seed = std::env::var("ARTIFACT_STORE_CRASH_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        #[allow(clippy::print_stderr)] // the seed replays a failure
        {
            eprintln!("{scenario}: ARTIFACT_STORE_CRASH_SEED={seed}");
        }
        Rng::seeded(seed)
    }

    pub fn seeded(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A delay drawn uniformly from `0..max`.
    pub fn delay(&mut self, max: std::time::Duration) -> std::time::Duration {
        let nanos = max.as_nanos().max(1) as u64;
        std::time::Duration::from_nanos(self.next() % nanos)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
