//! Errors name their real cause: a path with no repository is said plainly with a next
//! step, a damaged store is `corrupt` (exit 1) naming the file or object, never invalid
//! input, and no error shows libgit2's class and code numbers.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{commit_args, Env, Run};

/// Asserts what the user sees for a path that holds no repository: exit 5, kind
/// `no_repository`, the path named in one plain sentence, a hint to create one, and none
/// of libgit2's class/code noise.
#[track_caller]
fn assert_no_repository(run: &Run, path: &str, what: &str) {
    assert_eq!(run.code, 5, "{what}\n{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["success"], false, "{what}");
    assert_eq!(json["error"]["kind"], "no_repository", "{what}: {json}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("not a git repository: {path}")),
        "{what}: {message}"
    );
    let hint = json["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!("artifact-store init {path}")),
        "{hint}"
    );
    assert!(hint.contains("--repo"), "{hint}");
    for noise in ["class=", "code=", "NotFound", "(-3)", "caused by"] {
        assert!(
            !run.stderr.contains(noise),
            "{what}: {noise} in {}",
            run.stderr
        );
        assert!(
            !run.stdout.contains(noise),
            "{what}: {noise} in {}",
            run.stdout
        );
    }
    assert!(
        run.stderr
            .contains(&format!("error: not a git repository: {path}")),
        "{what}: {}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: "), "{what}: {}", run.stderr);
}

#[test]
fn a_path_without_a_repository_is_named_plainly_with_a_next_step() {
    let env = Env::new();
    let plain_dir = env.path("plain");
    std::fs::create_dir_all(plain_dir.join("sub")).unwrap();
    std::fs::write(plain_dir.join("notes.txt"), "not a repository\n").unwrap();
    let file = env.write("a-file.txt", "hello\n");
    let input = env.write("in/report.txt", "all passed\n");
    let missing = env.path("nowhere/at/all");
    let places: Vec<(&str, PathBuf)> = vec![
        ("an empty-ish directory", plain_dir.clone()),
        ("a directory inside a plain one", plain_dir.join("sub")),
        ("a path that does not exist", missing.clone()),
        ("a regular file", file.clone()),
        ("the temp dir root", std::env::temp_dir()),
    ];
    let input = input.to_str().unwrap();
    for (what, place) in &places {
        let p = place.to_str().unwrap();
        let commands: Vec<Vec<&str>> = vec![
            vec!["list"],
            vec!["show", "corr_x"],
            vec!["log", "wf/t"],
            vec!["verify", "corr_x"],
            vec!["stats"],
            vec!["gc"],
            commit_args(p, "x", &[input])[3..].to_vec(),
        ];
        for command in commands {
            let mut args = vec!["--repo", p, "--json"];
            args.extend_from_slice(&command);
            let run = env.run(&args);
            assert_no_repository(&run, p, &format!("{what}: {command:?}"));
        }
    }
    // Nothing was created where the store looked.
    assert!(!missing.exists());
    assert!(!plain_dir.join("objects").exists());
    assert_eq!(std::fs::read(&file).unwrap(), b"hello\n");
    // Without --json the human line is the same sentence.
    let run = env.run(&["--repo", missing.to_str().unwrap(), "list"]);
    assert_eq!(run.code, 5);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "error: not a git repository: {} (no such file or directory)",
            missing.display()
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("class="), "{}", run.stderr);
}

/// A bare store with one task branch of five versions, every ref packed.
fn store_with_packed_refs(env: &Env) -> PathBuf {
    let store = env.store();
    let s = store.to_str().unwrap();
    for (i, corr) in ["p1", "p2", "p3", "p4", "p5"].iter().enumerate() {
        let file = env.write("in/trades.csv", format!("date,pnl\n2025-01-0{i},{i}\n"));
        env.run(&commit_args(s, corr, &[file.to_str().unwrap()]))
            .ok();
    }
    env.git_in(&store, &["pack-refs", "--all"]);
    store
}

/// Each way `packed-refs` can be damaged, applied to its text.
type TextDamage = (&'static str, fn(&str) -> String);

fn packed_refs_damages() -> Vec<TextDamage> {
    vec![
        ("a line of garbage", |text| {
            format!("{text}garbage line here\n")
        }),
        ("a peeled line before any ref", |text| {
            let (header, rest) = text.split_once('\n').unwrap();
            format!("{header}\n^{}\n{rest}", "1".repeat(40))
        }),
        ("a value cut short", |text| {
            let (header, rest) = text.split_once('\n').unwrap();
            format!("{header}\nabc123 refs/tags/corr_cut\n{rest}")
        }),
        ("a ref with no name", |text| {
            format!("{text}{} \n", "2".repeat(40))
        }),
    ]
}

#[test]
fn damaged_packed_refs_is_a_corrupt_store_named_by_its_path() {
    let env = Env::new();
    let store = store_with_packed_refs(&env);
    let s = store.to_str().unwrap();
    let packed = store.join("packed-refs");
    let original = std::fs::read_to_string(&packed).unwrap();
    let policy = env.write("policy.toml", "[retention]\nkeep_versions = 1\n");
    let policy = policy.to_str().unwrap();
    // The policy prunes tags: the dry run says so on the healthy store.
    let plan = env
        .run(&["--repo", s, "--json", "gc", "--policy", policy])
        .ok();
    assert!(plan.stdout.contains("corr_p1"), "{}", plan.stdout);
    let before = env.snapshot(&store);
    for (what, damage) in packed_refs_damages() {
        let damaged = damage(&original);
        std::fs::write(&packed, &damaged).unwrap();
        let run = env.run(&["--repo", s, "--json", "gc", "--apply", "--policy", policy]);
        assert_eq!(run.code, 1, "{what}\n{}\n{}", run.stdout, run.stderr);
        let json = run.json();
        assert_eq!(json["error"]["kind"], "corrupt", "{what}: {json}");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&packed.display().to_string()),
            "{what}: {message}"
        );
        assert!(message.contains("line"), "{what}: {message}");
        assert!(
            json["error"]["hint"].as_str().unwrap().contains("git fsck"),
            "{what}: {json}"
        );
        assert!(!run.stderr.contains("class="), "{}", run.stderr);
        // Nothing was written: the file is as damaged as it was, no ref moved.
        assert_eq!(std::fs::read_to_string(&packed).unwrap(), damaged, "{what}");
        std::fs::write(&packed, &original).unwrap();
        assert_eq!(env.snapshot(&store), before, "{what}");
        env.fsck(&store);
    }
}

fn loose_path(store: &Path, oid: &str) -> PathBuf {
    store.join("objects").join(&oid[..2]).join(&oid[2..])
}

/// A bare store with every object loose: a task branch whose two versions differ in a
/// subdirectory, so that bringing it back to the first reads that version's trees.
fn loose_store(env: &Env) -> PathBuf {
    let store = env.store();
    let s = store.to_str().unwrap();
    let dir = env.path("in/dir");
    for (corr, text) in [("l1", "first\n"), ("l2", "second\n")] {
        env.write("in/dir/sub/x.txt", text);
        env.write("in/dir/y.txt", format!("{corr}\n"));
        env.run(&commit_args(s, corr, &[dir.to_str().unwrap()]))
            .ok();
    }
    let packdir = store.join("objects/pack");
    let aside = env.path("packs-aside");
    std::fs::create_dir_all(&aside).unwrap();
    for entry in std::fs::read_dir(&packdir).unwrap().flatten() {
        std::fs::rename(entry.path(), aside.join(entry.file_name())).unwrap();
    }
    for entry in std::fs::read_dir(&aside).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "pack") {
            let status = env
                .git_cmd(&["-C", s, "unpack-objects", "-q"])
                .stdin(std::fs::File::open(entry.path()).unwrap())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
    store
}

/// Each way one loose object can be damaged.
type FileDamage = (&'static str, fn(&Path));

fn object_damages() -> Vec<FileDamage> {
    vec![
        ("removed", |path| std::fs::remove_file(path).unwrap()),
        ("not zlib at all", |path| {
            std::fs::remove_file(path).unwrap();
            std::fs::write(path, b"this is not a zlib stream").unwrap();
        }),
        ("a zlib stream with no object header", |path| {
            std::fs::remove_file(path).unwrap();
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(b"no header here").unwrap();
            std::fs::write(path, z.finish().unwrap()).unwrap();
        }),
    ]
}

#[test]
fn a_write_command_over_a_damaged_object_says_corrupt_naming_it() {
    for (what, damage) in object_damages() {
        for target in ["artifacts/wf/t/dir/sub", "artifacts/wf/t/dir"] {
            let env = Env::new();
            let store = loose_store(&env);
            let s = store.to_str().unwrap();
            let oid = env.git_in(&store, &["rev-parse", &format!("corr_l1:{target}")]);
            let oid = oid.trim().to_string();
            let refs = env.snapshot(&store).0;
            damage(&loose_path(&store, &oid));
            let branch = "ai/generated/wf/t";
            let run = env.run(&[
                "--repo",
                s,
                "--json",
                "revert-to-tag",
                "corr_l1",
                "--target",
                branch,
            ]);
            let case = format!("{target} {what}");
            assert_eq!(run.code, 1, "{case}\n{}\n{}", run.stdout, run.stderr);
            let json = run.json();
            assert_eq!(json["error"]["kind"], "corrupt", "{case}: {json}");
            let message = json["error"]["message"].as_str().unwrap();
            assert!(message.contains(&oid), "{case}: {message}");
            assert!(
                json["error"]["hint"].as_str().unwrap().contains("git fsck"),
                "{case}: {json}"
            );
            for noise in ["class=", "callback", "code="] {
                assert!(!run.stderr.contains(noise), "{case}: {}", run.stderr);
            }
            // No ref moved (objects written before the damage was met stay dangling).
            let after = env.git_in(
                &store,
                &["for-each-ref", "--format=%(refname) %(objectname)"],
            );
            assert_eq!(after, refs, "{case}");
        }
    }
}

#[test]
fn a_ref_typed_as_a_name_git_refuses_is_not_found_never_a_git_error() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let file = env.write("in/report.txt", "all passed\n");
    env.run(&commit_args(s, "r1", &[file.to_str().unwrap()]))
        .ok();
    let before = env.snapshot(&store);
    let out = env.path("out");
    let out = out.to_str().unwrap();
    for spec in [
        "corr_r1^{tree}",
        "corr_r1~1",
        "corr_r1:artifacts",
        "prompt_ab..cd",
        "corr_r1.lock",
        "corr_a b",
        "refs/tags/corr_r1^{}",
        "refs/heads/x..y",
        "refs/tags/corr_r1@{0}",
    ] {
        for args in [
            vec!["show", spec],
            vec!["verify", spec],
            vec!["export", spec, "--to", out],
            vec!["diff", "corr_r1", spec],
        ] {
            let mut full = vec!["--repo", s, "--json"];
            full.extend_from_slice(&args);
            let run = env.run(&full);
            let case = format!("{args:?}");
            assert_eq!(run.code, 5, "{case}\n{}\n{}", run.stdout, run.stderr);
            let json = run.json();
            assert_eq!(json["error"]["kind"], "not_found", "{case}: {json}");
            let message = json["error"]["message"].as_str().unwrap();
            assert!(message.contains("nothing named"), "{case}: {message}");
            for noise in ["class=", "code=", "caused by"] {
                assert!(!run.stderr.contains(noise), "{case}: {}", run.stderr);
            }
        }
    }
    assert!(!env.path("out").exists());
    assert_eq!(env.snapshot(&store), before);
    env.fsck(&store);
}
