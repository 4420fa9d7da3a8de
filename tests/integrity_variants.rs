//! Variants of the integrity families that the first round of fixes missed: each test
//! would pass a hostile input through on the code before its fix.

mod common;
#[path = "events/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{commit_args, Env};
use serde_json::json;

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

/// `DIR/./` (and `DIR/.//`) names the same directory as `DIR/.`: its contents land at the
/// artifact directory's root, so a `metadata.json` in it collides with the store's own and
/// is refused, as it is for `DIR/.`.
#[test]
fn dir_dot_with_trailing_slashes_commits_contents_and_refuses_a_metadata_json() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    env.write("bad/metadata.json/r.csv", "x\n");
    env.write("bad2/METADATA.JSON", "{}\n");
    let before = env.snapshot(&store);
    for (i, input) in ["bad/./", "bad/.//", "bad2/./", "bad2/.///"]
        .iter()
        .enumerate()
    {
        let path = format!(
            "{}/{input}",
            env.path("").to_str().unwrap().trim_end_matches('/')
        );
        let corr = format!("c{i}");
        let run = env.run(&commit_args(s, &corr, &[&path]));
        assert_eq!(run.code, 2, "{input}: {run:?}");
        assert_eq!(run.json()["error"]["kind"], "invalid_input", "{input}");
        assert!(
            run.stdout.contains("metadata.json"),
            "{input}: {}",
            run.stdout
        );
        assert_eq!(
            env.snapshot(&store),
            before,
            "{input}: something was written"
        );
    }
    env.fsck(&store);
    env.write("good/a.txt", "a\n");
    let path = format!(
        "{}/good/./",
        env.path("").to_str().unwrap().trim_end_matches('/')
    );
    env.run(&commit_args(s, "ok", &[&path])).ok();
    let files = env.git_in(
        &store,
        &["ls-tree", "-r", "--name-only", "ai/generated/wf/t"],
    );
    assert_eq!(files, "artifacts/wf/t/a.txt\nartifacts/wf/t/metadata.json");
    env.fsck(&store);
}

/// Two artifacts of one file name land under their keys; a key that is not a directory
/// name (empty, or with a '/' at either end) is refused at once (final, not retried), and
/// never trimmed into a path the `artifacts` map of metadata.json does not name.
#[test]
fn the_subscriber_refuses_an_artifact_key_that_cannot_be_a_directory() {
    let env = Env::new();
    let Some(redis) = support::Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = support::Names::new("key-dirs");
    let mut con = redis.con();
    env.write("runs/one/report.json", "{\"run\": 1}\n");
    env.write("runs/two/report.json", "{\"run\": 2}\n");
    let clash = |key: &str| json!({ key: "one/report.json", "other": "two/report.json" });
    let cases = [
        ("corr_empty", clash("")),
        ("corr_slash", clash("/")),
        ("corr_lead", clash("/lead")),
        ("corr_trail", clash("trail/")),
        ("corr_both", clash("//")),
    ];
    for (corr, artifacts) in &cases {
        let event = support::test_passed(corr, "t", artifacts.clone());
        support::publish(&mut con, &names.input, &event.to_string());
    }
    let good = support::test_passed("corr_fine", "t", clash("a/b"));
    support::publish(&mut con, &names.input, &good.to_string());
    let total = cases.len() + 1;
    let mut sub = support::subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        &["--max-events", &total.to_string(), "--workers", "1"],
    );
    assert_eq!(sub.wait(Duration::from_secs(90)), Some(0), "{}", sub.log());
    let got = support::answers(&mut con, &names.output);
    let log = sub.log();
    assert_eq!(
        got.len(),
        total,
        "one answer each, no retry: {got:#?}\n{log}"
    );
    for (answer, (corr, _)) in got.iter().zip(&cases) {
        assert_eq!(answer["correlation_id"], *corr, "{answer}");
        assert_eq!(answer["event_type"], "ARTIFACT_COMMIT_FAILED", "{answer}");
        assert_eq!(answer["data"]["error"]["kind"], "invalid_input", "{answer}");
    }
    assert_eq!(got[total - 1]["event_type"], "ARTIFACT_COMMITTED", "{log}");
    assert!(!log.contains("outcome=retry"), "retried:\n{log}");
    assert_eq!(support::committed(&env, &store), ["corr_fine"]);
    assert_eq!(support::pending(&mut con, &names.input, &names.group), 0);
    // Every path the `artifacts` map names is in the committed tree.
    let meta = env.git_in(
        &store,
        &["show", "ai/generated/wf/t:artifacts/wf/t/metadata.json"],
    );
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    for (key, path) in meta["artifacts"].as_object().unwrap() {
        let spec = format!("ai/generated/wf/t:{}", path.as_str().unwrap());
        let run = env.git(&["-C", store.to_str().unwrap(), "cat-file", "-e", &spec]);
        assert_eq!(
            run.code, 0,
            "artifact {key:?} names {path}, not in the tree"
        );
    }
    env.fsck(&store);
}
