//! Concurrency, locks, durability and init, against real repositories.
#![allow(clippy::print_stderr)]

use crate::common;

use std::process::Stdio;

use common::{commit_args, Env};

#[test]
fn concurrent_processes_on_one_branch_and_many_land_every_commit_and_tag() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap().to_string();
    let writers = 6;
    let per_writer = 8;
    let mut children = Vec::new();
    for w in 0..writers {
        let dir = env.path(&format!("w{w}"));
        std::fs::create_dir_all(&dir).unwrap();
        let script: Vec<String> = (0..per_writer)
            .map(|i| {
                let file = dir.join(format!("f{i}.txt"));
                std::fs::write(&file, format!("writer {w} commit {i}\n")).unwrap();
                // Writers 0-3 share one branch; 4 and 5 have their own.
                let task = if w < 4 { "shared".to_string() } else { format!("own{w}") };
                format!(
                    "{} --repo {s} -q commit -w wf -t {task} --correlation-id w{w}-c{i} --prompt-hash p{w}abcd {} || exit $?",
                    env!("CARGO_BIN_EXE_artifact-store"),
                    file.display()
                )
            })
            .collect();
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg(script.join("\n"));
        cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        children.push(cmd.spawn().unwrap());
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shared = env.git_in(&store, &["rev-list", "--count", "ai/generated/wf/shared"]);
    assert_eq!(
        shared,
        (4 * per_writer).to_string(),
        "every commit on the shared branch landed"
    );
    for w in 4..writers {
        let own = env.git_in(
            &store,
            &["rev-list", "--count", &format!("ai/generated/wf/own{w}")],
        );
        assert_eq!(own, per_writer.to_string());
    }
    let tags = env.git_in(&store, &["tag", "-l", "corr_*"]);
    assert_eq!(tags.lines().count(), writers * per_writer);
    for w in 0..writers {
        for i in 0..per_writer {
            let tagged = env.git_in(
                &store,
                &[
                    "log",
                    "-1",
                    "--format=%(trailers:key=Correlation-Id,valueonly)",
                    &format!("corr_w{w}-c{i}"),
                ],
            );
            assert_eq!(
                tagged,
                format!("corr_w{w}-c{i}"),
                "the tag names the commit of its own id"
            );
        }
    }
    let on_branch = env.git_in(
        &store,
        &[
            "log",
            "--format=%(trailers:key=Correlation-Id,valueonly)",
            "ai/generated/wf/shared",
        ],
    );
    assert_eq!(
        on_branch.lines().filter(|l| !l.is_empty()).count(),
        4 * per_writer
    );
    env.fsck(&store);
}

#[test]
fn a_stale_lock_left_by_a_killed_process_is_removed_with_a_warning() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "1\n");
    env.run(&commit_args(s, "c1", &[f.to_str().unwrap()])).ok();
    let lock = store.join("refs/heads/ai/generated/wf/t.lock");
    let hour = std::time::Duration::from_secs(3600);
    common::old_lock(&lock, hour);
    std::fs::write(&f, "2\n").unwrap();
    let run = env.run(&commit_args(s, "c2", &[f.to_str().unwrap()])).ok();
    assert!(
        run.stderr.contains("removed a stale lock"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("t.lock"), "{}", run.stderr);
    assert!(!lock.exists());
    env.fsck(&store);
}

#[test]
fn a_tag_lock_left_by_a_run_killed_inside_the_rename_is_cleared_by_the_rerun() {
    // libgit2 moves a new ref into place by link then unlink; killed between the two, a
    // commit leaves its tag and the tag's lock, a second name of the same file.
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "1\n");
    env.run(&commit_args(s, "c1", &[f.to_str().unwrap()])).ok();
    let tag = store.join("refs/tags/corr_c1");
    let lock = store.join("refs/tags/corr_c1.lock");
    std::fs::hard_link(&tag, &lock).unwrap();
    let run = env.run(&commit_args(s, "c1", &[f.to_str().unwrap()])).ok();
    assert_eq!(run.json()["duplicate"], true, "{}", run.stdout);
    assert!(!lock.exists(), "the re-run cleared the finished lock");
    env.git(&[
        "-C",
        s,
        "tag",
        "-f",
        "-a",
        "-m",
        "moved by hand",
        "corr_c1",
        "ai/generated/wf/t",
    ])
    .ok();
    env.fsck(&store);
}

#[test]
fn a_ref_lock_of_a_live_gc_is_never_broken_however_old() {
    // A gc transaction over many refs can hold its per-ref locks for longer than the stale
    // bound; it keeps `artifact-store-gc.lock` fresh meanwhile. Breaking one of its locks
    // would let this commit land on a ref that the transaction then deletes.
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "1\n");
    env.run(&commit_args(s, "c1", &[f.to_str().unwrap()])).ok();
    let lock = store.join("refs/heads/ai/generated/wf/t.lock");
    let hour = std::time::Duration::from_secs(3600);
    common::old_lock(&lock, hour);
    let gc_lock = store.join("artifact-store-gc.lock");
    std::fs::write(&gc_lock, "").unwrap();
    let before = env.git_in(&store, &["for-each-ref"]);
    std::fs::write(&f, "2\n").unwrap();
    let mut args = vec!["-c", "stale_lock_seconds=30", "-c", "lock_timeout=1"];
    args.extend(commit_args(s, "c2", &[f.to_str().unwrap()]));
    let run = env.run(&args);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.json()["error"]["kind"], "locked");
    assert!(lock.exists(), "the live gc's lock was removed");
    assert_eq!(env.git_in(&store, &["for-each-ref"]), before);

    // Once the gc lock stops being refreshed for the stale bound, the ref lock is fair game.
    common::backdate(&gc_lock, hour);
    let run = env.run(&args).ok();
    assert!(
        run.stderr.contains("removed a stale lock"),
        "{}",
        run.stderr
    );
    assert!(!lock.exists());
    env.fsck(&store);
}

#[test]
fn a_lock_that_never_goes_stale_fails_clearly_naming_the_lock_file() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "1\n");
    env.run(&commit_args(s, "c1", &[f.to_str().unwrap()])).ok();
    let lock = store.join("refs/heads/ai/generated/wf/t.lock");
    std::fs::write(&lock, "").unwrap();
    let before = env.git_in(&store, &["for-each-ref"]);
    std::fs::write(&f, "2\n").unwrap();
    let mut args = vec!["-c", "stale_lock_seconds=0", "-c", "lock_timeout=1"];
    args.extend(commit_args(s, "c2", &[f.to_str().unwrap()]));
    let run = env.run(&args);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.json()["error"]["kind"], "locked");
    assert!(
        run.stderr.contains(lock.to_str().unwrap()),
        "the error names the lock file:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
    assert_eq!(env.git_in(&store, &["for-each-ref"]), before);
    env.fsck(&store);
}

fn fsync_calls(env: &Env, extra: &[&str], corr: &str) -> Option<usize> {
    let store = env.path("store.git");
    let f = env.write(&format!("{corr}.txt"), corr);
    let trace = env.path(&format!("{corr}.strace"));
    let mut args = vec![
        "-f",
        "-qq",
        "-e",
        "trace=fsync,fdatasync",
        "-o",
        trace.to_str().unwrap(),
        env!("CARGO_BIN_EXE_artifact-store"),
    ];
    args.extend_from_slice(extra);
    args.extend(commit_args(
        store.to_str().unwrap(),
        corr,
        &[f.to_str().unwrap()],
    ));
    let mut cmd = std::process::Command::new("strace");
    cmd.args(&args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!(
            "strace unusable here: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = std::fs::read_to_string(trace).ok()?;
    Some(
        text.lines()
            .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
            .count(),
    )
}

#[test]
fn objects_and_refs_are_fsynced_by_default_and_not_when_durability_is_none() {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        panic!("strace is required for this test (.ci/run installs it)");
    }
    let env = Env::new();
    env.store();
    let on = fsync_calls(&env, &[], "durable").expect("strace run");
    let off = fsync_calls(&env, &["-c", "durability=none"], "fast").expect("strace run");
    // blob, metadata blob, 4 trees, commit, 2 tag objects (files + dirs) and 2 refs.
    assert!(
        on >= 10,
        "expected an fsync per object and ref written, saw {on}"
    );
    assert_eq!(off, 0, "durability=none must not fsync");
    env.fsck(&env.path("store.git"));
}

#[test]
fn init_creates_stores_and_adopts_an_existing_repository_unchanged() {
    let env = Env::new();
    let bare = env.path("new.git");
    let run = env
        .run(&["--json", "init", "--bare", bare.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(run["created"], true);
    assert_eq!(run["bare"], true);
    assert_eq!(
        env.git_in(&bare, &["rev-parse", "--is-bare-repository"]),
        "true"
    );
    assert_eq!(
        env.git_in(&bare, &["symbolic-ref", "HEAD"]),
        "refs/heads/main"
    );

    let existing = env.path("existing");
    std::fs::create_dir_all(&existing).unwrap();
    env.git_in(&existing, &["init", "-q", "-b", "trunk"]);
    std::fs::write(existing.join("x"), "x").unwrap();
    env.git_in(&existing, &["add", "x"]);
    env.git_in(&existing, &["commit", "-qm", "x"]);
    let listing = |p: &std::path::Path| {
        let mut out = Vec::new();
        for entry in walk(p) {
            let bytes = std::fs::read(&entry).unwrap_or_default();
            out.push((entry, bytes));
        }
        out
    };
    let before = listing(&existing.join(".git"));
    let run = env
        .run(&["--json", "init", existing.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(run["created"], false);
    assert_eq!(
        listing(&existing.join(".git")),
        before,
        "adopting must not change a byte"
    );
    env.fsck(&bare);
    env.fsck(&existing);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn demo_runs_and_its_store_passes_fsck() {
    let env = Env::new();
    let dir = env.path("demo");
    let run = env.run(&["demo", "--dir", dir.to_str().unwrap()]).ok();
    assert!(run.stdout.contains("duplicate"), "{}", run.stdout);
    let store = dir.join("store.git");
    assert_eq!(
        env.git_in(&store, &["tag", "-l", "corr_*"]),
        "corr_demo-001\ncorr_demo-002"
    );
    env.fsck(&store);
}
