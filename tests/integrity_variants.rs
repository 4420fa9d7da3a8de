//! Variants of the integrity families that the first round of fixes missed: each test
//! would pass a hostile input through on the code before its fix.

mod common;

use std::path::{Path, PathBuf};

use common::{commit_args, Env};

/// Moves every pack out of the store and unpacks its objects as loose ones.
fn unpack_all(env: &Env, store: &Path) {
    let packdir = store.join("objects/pack");
    let aside = env.path("packs-aside");
    std::fs::create_dir_all(&aside).unwrap();
    for entry in std::fs::read_dir(&packdir).unwrap().flatten() {
        std::fs::rename(entry.path(), aside.join(entry.file_name())).unwrap();
    }
    for entry in std::fs::read_dir(&aside).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "pack") {
            let status = env
                .git_cmd(&["-C", store.to_str().unwrap(), "unpack-objects", "-q"])
                .stdin(std::fs::File::open(entry.path()).unwrap())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}

fn loose_path(store: &Path, oid: &str) -> PathBuf {
    store.join("objects").join(&oid[..2]).join(&oid[2..])
}

/// A store with three versions `c1`, `c2`, `c3` of wf/t, every object loose.
fn three_versions(env: &Env) -> PathBuf {
    let store = env.store();
    let s = store.to_str().unwrap();
    for i in 1..=3 {
        let file = env.write("in/a.txt", format!("version {i}\n"));
        let corr = format!("c{i}");
        env.run(&commit_args(s, &corr, &[file.to_str().unwrap()]))
            .ok();
    }
    unpack_all(env, &store);
    store
}

/// `gc` over a store whose history lacks a commit (or a tag object) in the middle never
/// plans to prune what lies below it: it stops, corrupt, and moves nothing.
#[test]
fn gc_over_a_missing_commit_or_tag_object_is_corrupt_and_moves_nothing() {
    for (what, spec) in [
        ("middle commit", "corr_c2^{commit}"),
        ("tag object", "corr_c1"),
    ] {
        for rules in [&["-c", "retention.keep_versions=10"][..], &[][..]] {
            let env = Env::new();
            let store = three_versions(&env);
            let s = store.to_str().unwrap();
            let oid = env.git_in(&store, &["rev-parse", spec]);
            std::fs::remove_file(loose_path(&store, &oid)).unwrap();
            let before = env.snapshot(&store);
            for apply in [false, true] {
                let mut args = vec!["--repo", s];
                args.extend_from_slice(rules);
                args.extend_from_slice(&["--json", "gc"]);
                if apply {
                    args.push("--apply");
                }
                let run = env.run(&args);
                assert_eq!(run.code, 1, "{what} {rules:?} apply={apply}: {run:?}");
                let json = run.json();
                assert_eq!(json["error"]["kind"], "corrupt", "{what}: {json}");
                let message = json["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(&oid), "{what}: {message}");
                assert_eq!(env.snapshot(&store), before, "{what}: refs moved");
            }
        }
    }
}
