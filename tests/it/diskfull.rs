//! Disk full and read-only: a store on a size-limited tmpfs, filled up, or remounted
//! read-only. A commit that cannot be written fails with exit 1 and a message naming the
//! problem, and leaves the store as it was; once space returns, the same commit lands once.
//!
//! Mounting needs root (CI runs as root on machines that allow it). Where `mount` fails,
//! the tests fail under `CI=true` and are skipped with a message otherwise
//! (docs/robustness.md).
#![allow(clippy::print_stderr)]

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Env;

/// A tmpfs mounted in the sandbox, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`4m`) at `<sandbox>/fs`; `None` (skipped) where the machine
    /// does not allow it, outside CI.
    fn mount(env: &Env, size: &str) -> Option<Tmpfs> {
        let dir = env.path("fs");
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&dir)
            .output();
        let failure = match out {
            Ok(out) if out.status.success() => return Some(Tmpfs { dir }),
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        let message = format!(
            "cannot mount a tmpfs ({}); the disk-full and read-only tests need root and mount",
            failure.trim()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}; CI runs them as root, so this is a failure under CI=true");
        }
        eprintln!("SKIPPED: {message}");
        None
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Fills the filesystem of `dir` with `<dir>/filler` until a write fails with ENOSPC;
/// returns the filler's size.
fn fill(dir: &Path) -> u64 {
    let path = dir.join("filler");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    file.sync_all().ok();
    std::fs::metadata(&path).unwrap().len()
}

/// Frees `bytes` of the filler (0: leaves the disk full).
fn free(dir: &Path, filled: u64, bytes: u64) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("filler"))
        .unwrap();
    file.set_len(filled.saturating_sub(bytes)).unwrap();
}

fn commit(env: &Env, store: &Path, corr: &str, dir: &Path) -> common::Run {
    let store = store.to_str().unwrap();
    let dir = dir.to_str().unwrap();
    let mut args = common::commit_args(store, corr, &[dir]);
    args.extend(["--prompt-hash", "feedc0de"]);
    env.run(&args)
}

/// Five files of about 10 KB, their content unique to `tag`.
fn artifacts(env: &Env, tag: &str) -> PathBuf {
    for f in 0..5 {
        let line = format!("{tag} file {f} {}\n", "y".repeat(70));
        env.write(&format!("runs/{tag}/f{f}.csv"), line.repeat(120));
    }
    env.path(&format!("runs/{tag}"))
}

/// Lock files and leftover temporary files in the git directory.
fn litter(store: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), out);
            } else if name.ends_with(".lock")
                || name.starts_with("tmp_")
                || name.starts_with("artifact-store-probe")
            {
                out.push(entry.path());
            }
        }
    }
    let mut out = Vec::new();
    walk(store, &mut out);
    out
}

/// Asserts the run failed with exit 1 naming `problem` on stderr, as JSON kind `io` or `git`.
#[track_caller]
fn assert_fails_naming(run: &common::Run, problem: &str) {
    assert_eq!(
        run.code, 1,
        "exit 1 for an I/O failure\n{}\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains(problem),
        "stderr names the problem: {}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["success"], false);
    let kind = json["error"]["kind"].as_str().unwrap();
    assert!(kind == "io" || kind == "git", "{json}");
}

/// Asserts a run failed on a full disk: exit 1, the OS error on stderr, kind `storage_full`.
#[track_caller]
fn assert_storage_full(run: &common::Run) {
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("No space left on device"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.json()["error"]["kind"],
        "storage_full",
        "{}",
        run.stdout
    );
}

/// Asserts the commit of `corr` is the branch tip, once, with its tags on it.
#[track_caller]
fn assert_landed_once(env: &Env, store: &Path, corr: &str, sha: &str) {
    let log = env.git_in(
        store,
        &[
            "log",
            "--format=%(trailers:key=Correlation-Id,valueonly,separator=)",
            "ai/generated/wf/t",
        ],
    );
    let tag = format!("corr_{corr}");
    assert_eq!(
        log.lines().filter(|l| *l == tag).count(),
        1,
        "one commit for {tag}"
    );
    assert_eq!(common::rev(env, store, "ai/generated/wf/t"), sha);
    assert_eq!(common::rev(env, store, &format!("{tag}^{{commit}}")), sha);
    assert_eq!(common::rev(env, store, "prompt_feedc0de^{commit}"), sha);
}

#[test]
fn a_commit_on_a_full_disk_fails_clearly_changes_nothing_and_lands_once_space_returns() {
    let env = Env::new();
    let Some(fs) = Tmpfs::mount(&env, "4m") else {
        return;
    };
    let store = env.store_at("fs/store.git");
    commit(&env, &store, "first", &artifacts(&env, "first")).ok();
    let filled = fill(&fs.dir);
    let before = env.snapshot(&store);

    let run = commit(&env, &store, "second", &artifacts(&env, "second"));
    assert_fails_naming(&run, "No space left on device");
    assert_eq!(
        env.snapshot(&store),
        before,
        "refs and objects as they were"
    );
    env.fsck(&store);
    assert_eq!(litter(&store), Vec::<PathBuf>::new());

    free(&fs.dir, filled, filled);
    let run = commit(&env, &store, "second", &artifacts(&env, "second")).ok();
    let json = run.json();
    assert_eq!(json["duplicate"], false);
    assert_landed_once(&env, &store, "second", json["commit_sha"].as_str().unwrap());
    env.fsck(&store);
}

#[test]
fn commits_with_the_disk_filling_at_every_step_fail_cleanly_or_land_whole() {
    let env = Env::new();
    let Some(fs) = Tmpfs::mount(&env, "4m") else {
        return;
    };
    let store = env.store_at("fs/store.git");
    commit(&env, &store, "first", &artifacts(&env, "first")).ok();
    let (mut failed, mut landed, mut from_reserve) = (0, 0, 0);
    // Free one more page each step, so the disk fills at every stage of the write.
    for pages in 0..24u64 {
        let corr = format!("step{pages}");
        let dir = artifacts(&env, &corr);
        let filled = fill(&fs.dir);
        free(&fs.dir, filled, pages * 4096);
        let before = env.snapshot(&store).0;
        let run = commit(&env, &store, &corr, &dir);
        let after = env.snapshot(&store).0;
        let on_branch = match run.code {
            0 => {
                landed += 1;
                // The disk filled after the branch moved: the reserve finished the tags.
                if run.stderr.contains("space kept in reserve") {
                    from_reserve += 1;
                }
                assert_landed_once(
                    &env,
                    &store,
                    &corr,
                    run.json()["commit_sha"].as_str().unwrap(),
                );
                true
            }
            _ => {
                assert_eq!(
                    after, before,
                    "a failed commit changed refs: {}",
                    run.stderr
                );
                failed += 1;
                assert_fails_naming(&run, "No space left on device");
                false
            }
        };
        env.fsck(&store);
        assert_eq!(litter(&store), Vec::<PathBuf>::new(), "step {pages}");
        free(&fs.dir, filled, filled);
        let again = commit(&env, &store, &corr, &dir).ok().json();
        assert_eq!(again["duplicate"], on_branch, "{again}");
        assert_landed_once(&env, &store, &corr, again["commit_sha"].as_str().unwrap());
    }
    eprintln!(
        "disk filling up: {failed} commits failed changing nothing, {landed} landed whole \
         ({from_reserve} of them finished their tags in the reserved space)"
    );
    assert!(failed > 0 && landed > 0, "the sweep covers both sides");
    assert!(
        from_reserve > 0,
        "the sweep reaches the tag writes after the branch moved"
    );
}

#[test]
fn a_commit_into_a_read_only_store_fails_clearly_and_changes_nothing() {
    let env = Env::new();
    let Some(fs) = Tmpfs::mount(&env, "16m") else {
        return;
    };
    let store = env.store_at("fs/store.git");
    commit(&env, &store, "first", &artifacts(&env, "first")).ok();
    fs.remount("ro");
    let before = env.snapshot(&store);
    let run = commit(&env, &store, "second", &artifacts(&env, "second"));
    fs.remount("rw");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("Read-only file system"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: the store is on a read-only filesystem"),
        "{}",
        run.stderr
    );
    assert_eq!(env.snapshot(&store), before);
    env.fsck(&store);
    assert_eq!(litter(&store), Vec::<PathBuf>::new());
    let run = commit(&env, &store, "second", &artifacts(&env, "second")).ok();
    let sha = run.json()["commit_sha"].as_str().unwrap().to_string();
    assert_landed_once(&env, &store, "second", &sha);
}

/// A file of `bytes` pseudo-random lines (incompressible enough that deflate does not
/// shrink it to nothing), above the streaming threshold when `bytes` is.
fn big_file(env: &Env, rel: &str, bytes: usize) -> PathBuf {
    let mut rng = common::Rng::new(rel);
    let mut text = String::with_capacity(bytes + 64);
    while text.len() < bytes {
        text.push_str(&format!("{:016x},{:016x}\n", rng.next(), rng.next()));
    }
    env.write(rel, text)
}

/// Every file under `objects/` that is not an object, a pack or an index: what a write
/// that stopped half-way would leave.
fn object_litter(store: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                walk(&path, out);
                continue;
            }
            let parent = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy();
            let object = parent.len() == 2 && name.len() == 38;
            let pack = parent == "pack"
                && (name.ends_with(".pack") || name.ends_with(".idx") || name.ends_with(".rev"));
            if !(object || pack) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&store.join("objects"), &mut out);
    out.retain(|p| !p.ends_with("objects/info/packs") && !p.ends_with("objects/info/alternates"));
    out
}

#[test]
fn a_streamed_blob_on_a_full_disk_names_the_cause_and_leaves_no_temporary_object() {
    let env = Env::new();
    let Some(fs) = Tmpfs::mount(&env, "8m") else {
        return;
    };
    let store = env.store_at("fs/store.git");
    commit(&env, &store, "first", &artifacts(&env, "first")).ok();
    let big = big_file(&env, "runs/big/data.csv", (8 << 20) + 4096);
    for free_pages in [0u64, 64, 512] {
        let filled = fill(&fs.dir);
        free(&fs.dir, filled, free_pages * 4096);
        let before = env.snapshot(&store);
        let run = commit(&env, &store, "big", big.parent().unwrap());
        assert_storage_full(&run);
        let message = run.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(
            message.contains("no space left on device"),
            "the JSON message names the cause: {message}"
        );
        assert!(message.contains("data.csv"), "{message}");
        assert!(
            run.stderr
                .contains(&store.join("objects").display().to_string()),
            "the path written: {}",
            run.stderr
        );
        assert!(run
            .stderr
            .contains("hint: the filesystem holding the store is full"));
        assert_eq!(env.snapshot(&store), before, "{free_pages} pages free");
        env.fsck(&store);
        assert_eq!(litter(&store), Vec::<PathBuf>::new());
        assert_eq!(object_litter(&store), Vec::<PathBuf>::new());
        free(&fs.dir, filled, filled);
    }
    let run = commit(&env, &store, "big", big.parent().unwrap()).ok();
    let sha = run.json()["commit_sha"].as_str().unwrap().to_string();
    assert_landed_once(&env, &store, "big", &sha);
    env.fsck(&store);
}

/// The branches and tags of `store`, with their values.
fn store_refs(env: &Env, store: &Path) -> String {
    env.git_in(
        store,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads",
            "refs/tags",
        ],
    )
}

#[test]
fn gc_apply_meeting_a_full_disk_after_moving_refs_prints_the_undo_and_the_trash_restores() {
    let env = Env::new();
    let Some(fs) = Tmpfs::mount(&env, "4m") else {
        return;
    };
    let store = env.store_at("fs/store.git");
    let s = store.to_str().unwrap().to_string();
    for t in 0..6 {
        let file = env.write(&format!("gc/{t}/f.txt"), format!("task {t}\n"));
        let (task, corr) = (format!("t{t}"), format!("gc{t}"));
        let mut args = common::commit_args(&s, &corr, &[file.to_str().unwrap()]);
        args[7] = &task;
        env.run(&args).ok();
    }
    let policy = env.write("policy.toml", "[retention]\nkeep_last = 1\n");
    let policy = policy.to_str().unwrap();
    let before = store_refs(&env, &store);
    let (mut interrupted, mut landed, mut refused) = (0, 0, 0);
    // Free one more page each step, so the disk fills at every stage of the apply.
    for pages in 0..20u64 {
        // Packed refs: deleting them frees no page, so the disk stays full for the report.
        env.git_in(&store, &["pack-refs", "--all"]);
        let filled = fill(&fs.dir);
        free(&fs.dir, filled, pages * 4096);
        let run = env.run(&["--repo", &s, "--json", "gc", "--apply", "--policy", policy]);
        let ts = if run.code == 0 {
            landed += 1;
            run.json()["applied"]["trash_time_unix"].to_string()
        } else {
            let json = run.json();
            let error = &json["error"];
            assert!(
                run.stderr.contains("No space left on device"),
                "{}",
                run.stderr
            );
            let Some(undo) = error["undo"].as_str() else {
                // Failed before anything moved: nothing to undo, and nothing is gone.
                refused += 1;
                assert_eq!(store_refs(&env, &store), before, "{}", run.stderr);
                let trash = env.git_in(&store, &["for-each-ref", "refs/artifact-store/trash"]);
                assert_eq!(trash, "", "{}", run.stderr);
                free(&fs.dir, filled, filled);
                continue;
            };
            interrupted += 1;
            assert!(undo.starts_with("artifact-store trash restore "), "{undo}");
            for text in [&error["message"], &error["hint"]] {
                assert!(text.as_str().unwrap().contains(undo), "{json}");
            }
            assert!(
                run.stderr.contains(&format!("undo with `{undo}`")),
                "the human error names the undo: {}",
                run.stderr
            );
            undo.rsplit(' ').next().unwrap().to_string()
        };
        free(&fs.dir, filled, filled);
        env.fsck(&store);
        env.run(&["--repo", &s, "--json", "trash", "restore", &ts])
            .ok();
        assert_eq!(store_refs(&env, &store), before, "step {pages}: restored");
        env.fsck(&store);
    }
    eprintln!(
        "gc --apply on a filling disk: {refused} failed moving nothing, {interrupted} failed \
         after moving refs (undo printed, trash restored), {landed} applied"
    );
    assert!(
        interrupted > 0,
        "the sweep reaches a failure after refs moved"
    );
    assert!(landed > 0, "the sweep reaches an apply that lands");
}

#[test]
fn a_consolidation_meeting_a_full_disk_loses_nothing_and_runs_once_space_returns() {
    let env = Env::new();
    let Some(fs) = Tmpfs::mount(&env, "16m") else {
        return;
    };
    let store = fs.dir.join("store.git");
    env.run(&["init", "--bare", store.to_str().unwrap()]).ok();
    let versions = 8;
    for n in 0..versions {
        crate::compact::commit_version(&env, &store, n, 3000, &[]);
    }
    let s = store.to_str().unwrap();
    let before = env.snapshot(&store);
    let filled = fill(&fs.dir);
    let run = env.run(&["--repo", s, "--json", "compact"]);
    assert_storage_full(&run);
    // Nothing lost, nothing half-written left behind, nothing locked.
    assert_eq!(env.snapshot(&store), before);
    env.fsck(&store);
    for n in 0..versions {
        env.run(&["--repo", s, "verify", &format!("corr_c{n}")])
            .ok();
    }
    let staging = store.join("objects/artifact-store-incoming");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert!(litter(&store).is_empty(), "{:?}", litter(&store));
    free(&fs.dir, filled, filled);
    let done = env.run(&["--repo", s, "--json", "compact"]).ok().json();
    assert_eq!(done["ran"], true);
    assert!(done["saved"].as_i64().unwrap() > 0, "{done}");
    env.fsck(&store);
    for n in 0..versions {
        env.run(&["--repo", s, "verify", &format!("corr_c{n}")])
            .ok();
    }
}
