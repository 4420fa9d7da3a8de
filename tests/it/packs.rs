//! Small commits land as one pack each, small packs are rolled together, large sets stay
//! loose, and a commit killed at any moment leaves no ref naming a missing object.

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{commit_args, Env};

/// `git count-objects -v` as (loose objects, packs).
fn counts(env: &Env, store: &Path) -> (usize, usize) {
    let text = env.git_in(store, &["count-objects", "-v"]);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().parse::<usize>().unwrap())
            .unwrap()
    };
    (field("count:"), field("packs:"))
}

/// Writes a fresh five-file set of about 50 KB under `dir` and returns the paths.
fn five_files(env: &Env, dir: &str, seed: usize) -> Vec<String> {
    (0..5)
        .map(|i| {
            let line = format!("set {seed} file {i}: {}\n", seed * 7919 + i);
            let path = env.write(&format!("{dir}/f{i}.txt"), line.repeat(10_000 / line.len()));
            path.to_str().unwrap().to_string()
        })
        .collect()
}

/// Asserts every ref of the store resolves through the `git` CLI to a readable object.
#[track_caller]
fn every_ref_reads(env: &Env, store: &Path) {
    let refs = env.git_in(store, &["for-each-ref", "--format=%(refname)"]);
    for name in refs.lines() {
        env.git_in(store, &["cat-file", "-e", &format!("{name}^{{commit}}")]);
    }
}

#[test]
fn small_commits_write_no_loose_objects_and_their_packs_stay_few() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let commits = 60;
    for n in 0..commits {
        let files = five_files(&env, &format!("set{n}"), n);
        let corr = format!("c{n}");
        let mut args = commit_args(s, &corr, &[]);
        args[7] = if n % 2 == 0 { "even" } else { "odd" };
        args.extend(files.iter().map(String::as_str));
        args.extend(["--set", "prompt_hash=0123456789abcdef"]);
        let out = env.run(&args).ok().json();
        assert_eq!(out["duplicate"], false);
    }
    let (loose, packs) = counts(&env, &store);
    assert_eq!(loose, 0, "a small commit wrote loose objects");
    assert!(
        (2..=25).contains(&packs),
        "{commits} commits left {packs} packs; expected them rolled together to at most 25"
    );
    // Every commit, its files and both tags are readable by git and by the store.
    assert_eq!(
        env.git_in(&store, &["rev-list", "--count", "ai/generated/wf/even"]),
        (commits / 2).to_string()
    );
    assert_eq!(
        env.git_in(&store, &["tag", "--list", "corr_*"])
            .lines()
            .count(),
        commits
    );
    let last = format!("corr_c{}", commits - 1);
    env.run(&["--repo", s, "verify", &last]).ok();
    let shown = env.git_in(&store, &["show", "corr_c0:artifacts/wf/even/f3.txt"]);
    assert!(shown.starts_with("set 0 file 3: 3\n"), "{shown:.40}");
    // A redelivered correlation id finds its commit in a rolled-up pack.
    let files = five_files(&env, "set0", 0);
    let mut args = commit_args(s, "c0", &[]);
    args[7] = "even";
    args.extend(files.iter().map(String::as_str));
    args.extend(["--set", "prompt_hash=0123456789abcdef"]);
    assert_eq!(env.run(&args).ok().json()["duplicate"], true);
    every_ref_reads(&env, &store);
    env.fsck(&store);
    // Each pack and index the store wrote is one git itself accepts, byte for byte, and
    // read-only, as git leaves its own.
    for entry in std::fs::read_dir(store.join("objects/pack")).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o444, "{}", path.display());
        if path.extension().is_some_and(|e| e == "idx") {
            let run = env.git(&["verify-pack", path.to_str().unwrap()]);
            assert_eq!(
                run.code,
                0,
                "git verify-pack {}: {}",
                path.display(),
                run.stderr
            );
        }
    }
    let staging = store.join("objects/artifact-store-incoming");
    assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0);
}

#[test]
fn a_one_megabyte_set_deflated_on_several_threads_is_one_pack_git_reads_back() {
    // Blobs of 64 KiB and more, 256 KiB and more in all, are deflated on every core and
    // added to the pack in order; small ones and the trees on the calling thread.
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let sizes = [400_000, 300_000, 100_000, 100_000, 3_000];
    let mut files = Vec::new();
    let mut contents = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let line = format!("row {i},{}\n", i * 31);
        let body: String = (0..)
            .map(|n| format!("{line}{n}\n"))
            .take_while({
                let mut len = 0;
                move |chunk| {
                    len += chunk.len();
                    len <= *size
                }
            })
            .collect();
        let path = env.write(&format!("mb/f{i}.csv"), &body);
        files.push(path.to_str().unwrap().to_string());
        contents.push(body);
    }
    let mut args = commit_args(s, "mb", &[]);
    args.extend(files.iter().map(String::as_str));
    env.run(&args).ok();
    let (loose, packs) = counts(&env, &store);
    assert_eq!((loose, packs), (0, 1), "one pack, no loose object");
    for (i, body) in contents.iter().enumerate() {
        let shown = env.git_in(
            &store,
            &["show", &format!("corr_mb:artifacts/wf/t/f{i}.csv")],
        );
        assert!(shown == body.trim_end(), "f{i}.csv read back differs");
    }
    for entry in std::fs::read_dir(store.join("objects/pack")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "idx") {
            assert_eq!(env.git(&["verify-pack", path.to_str().unwrap()]).code, 0);
        }
    }
    env.fsck(&store);
}

#[test]
fn a_set_above_the_pack_bound_is_written_as_loose_objects() {
    let env = Env::new();
    let store = env.store();
    let big = env.write("big.bin", "0123456789abcdef\n".repeat(150_000));
    let (_, packs_before) = counts(&env, &store);
    env.run(&commit_args(
        store.to_str().unwrap(),
        "big",
        &[big.to_str().unwrap()],
    ))
    .ok();
    let (loose, packs) = counts(&env, &store);
    assert!(
        loose >= 6,
        "a 2.5 MB set should land loose, saw {loose} loose objects"
    );
    assert_eq!(packs, packs_before);
    env.fsck(&store);
}

#[test]
fn commits_killed_at_random_moments_leave_fsck_clean_and_every_ref_readable() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut killed = 0;
    for n in 0..30 {
        let files = five_files(&env, &format!("k{n}"), n);
        let corr = format!("k{n}");
        // A task of its own: a kill inside a ref update leaves that ref's lock behind.
        let mut args = commit_args(s, &corr, &[]);
        args[7] = &corr;
        args.extend(files.iter().map(String::as_str));
        let mut child = env
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a commit");
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(rng % 40_000));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        every_ref_reads(&env, &store);
    }
    assert!(
        killed > 0,
        "no commit was killed; the delays are too long here"
    );
    env.fsck(&store);
    // The store still commits, and the rolled-up packs hold everything that landed.
    let files = five_files(&env, "after", 99);
    let mut args = commit_args(s, "after", &[]);
    args.extend(files.iter().map(String::as_str));
    env.run(&args).ok();
    every_ref_reads(&env, &store);
    env.fsck(&store);
}
