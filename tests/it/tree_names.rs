//! Names and contents git refuses in a tree, and paths that would collide with the store's
//! own entries or with each other: each refused before anything is written (exit 2,
//! `invalid_input`), on the command line and through the subscriber; names that merely
//! resemble them still commit, pass `git fsck --strict` and a `receive.fsckObjects` remote.

use crate::common;
use crate::events::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{commit_args, store_with_remote, Env};
use serde_json::json;

/// Every code point HFS+ ignores in a name (git's `next_hfs_char`).
const HFS_IGNORED: [char; 16] = [
    '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
    '\u{202e}', '\u{206a}', '\u{206b}', '\u{206c}', '\u{206d}', '\u{206e}', '\u{206f}', '\u{feff}',
];

/// One store, its state before any refused input, and a counter for case directories.
struct Refusals {
    env: Env,
    store: PathBuf,
    before: (String, usize),
    n: usize,
}

impl Refusals {
    /// A store holding one ordinary commit, so that "nothing written" means something.
    fn new() -> Refusals {
        let env = Env::new();
        let store = env.store();
        let seed = env.write("seed/a.txt", "seed\n");
        env.run(&commit_args(
            store.to_str().unwrap(),
            "corr_seed",
            &[seed.to_str().unwrap()],
        ))
        .ok();
        let before = env.snapshot(&store);
        Refusals {
            env,
            store,
            before,
            n: 0,
        }
    }

    /// A fresh directory for one case.
    fn case_dir(&mut self) -> PathBuf {
        self.n += 1;
        let dir = self.env.path(&format!("cases/{}", self.n));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Commits `inputs`; asserts exit 2, kind `invalid_input`, and nothing written.
    #[track_caller]
    fn refuse(&self, what: &str, inputs: &[&Path]) -> common::Run {
        let inputs: Vec<&str> = inputs.iter().map(|p| p.to_str().unwrap()).collect();
        let corr = format!("corr_r{}", self.n);
        let run = self
            .env
            .run(&commit_args(self.store.to_str().unwrap(), &corr, &inputs));
        self.check_refused(what, &run);
        run
    }

    #[track_caller]
    fn check_refused(&self, what: &str, run: &common::Run) {
        assert_eq!(
            run.code, 2,
            "{what}: expected exit 2\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        let json = run.json();
        assert_eq!(json["success"], false, "{what}");
        assert_eq!(json["error"]["kind"], "invalid_input", "{what}: {json}");
        assert_eq!(
            self.env.snapshot(&self.store),
            self.before,
            "{what}: something was written"
        );
    }

    /// The directory `<case>/.` holding one file at `rel`, with `content`.
    fn tree_with(&mut self, rel: &str, content: &str) -> PathBuf {
        let dir = self.case_dir();
        let file = dir.join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, content).unwrap();
        dir.join(".")
    }

    fn done(self) {
        self.env.fsck(&self.store);
    }
}

#[test]
fn dotgit_look_alikes_are_refused_in_every_spelling_and_at_every_depth() {
    let mut r = Refusals::new();
    let mut names: Vec<String> = Vec::new();
    for (i, c) in HFS_IGNORED.iter().enumerate() {
        // Each ignorable code point once, at a position and a case that move around.
        let base = if i % 2 == 0 { ".git" } else { ".GiT" };
        let mut chars: Vec<char> = base.chars().collect();
        chars.insert(i % 5, *c);
        names.push(chars.into_iter().collect());
    }
    names.push(".g\u{200c}i\u{200d}t\u{feff}".to_string());
    for ntfs in [
        "git~1",
        "GIT~1",
        ".git.",
        ".git ",
        ".GIT. .",
        "git~1.",
        ".git::$INDEX_ALLOCATION",
        ".git:stream",
        ".Git",
    ] {
        names.push(ntfs.to_string());
    }
    for name in &names {
        // A directory at the root, a directory deep down, and a plain file.
        let at_root = r.tree_with(&format!("{name}/config"), "x\n");
        r.refuse(&format!("{name:?} at the root"), &[&at_root]);
        let deep = r.tree_with(&format!("a/b/{name}/hooks/post-checkout"), "x\n");
        r.refuse(&format!("{name:?} deep down"), &[&deep]);
        let file = r.tree_with(&format!("sub/{name}"), "x\n");
        r.refuse(&format!("{name:?} as a file"), &[&file]);
    }
    // Given directly, the name is the target itself.
    let dir = r.case_dir();
    let direct = dir.join(".g\u{200c}it");
    std::fs::write(&direct, "x\n").unwrap();
    r.refuse("a file named .g\\u200cit given directly", &[&direct]);
    r.done();
}

#[test]
fn git_files_look_alikes_and_hostile_gitmodules_are_refused() {
    let mut r = Refusals::new();
    let hostile = "[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch$IFS/tmp/pwned\n";
    let benign = "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n";
    // Names that HFS+ or NTFS read as .gitmodules: git checks them as one, and the store
    // takes only the plain spelling.
    for name in [
        ".GITMODULES",
        ".git\u{200c}modules",
        ".gitmodules.",
        ".gitmodules ",
        ".gitmodules::$DATA",
        "GITMOD~1",
        "gi7eba~1",
        ".gitattributes.",
        "GITATT~1",
        ".gitignore ",
        ".MAILMAP",
    ] {
        for content in [hostile, benign] {
            let tree = r.tree_with(&format!("sub/{name}"), content);
            r.refuse(&format!("{name:?}"), &[&tree]);
        }
    }
    // One hostile .gitmodules per rule of git's fsck, at the root and nested.
    let contents = [
        (
            "gitmodulesName",
            "[submodule \"../../modules/evil\"]\n\tpath = x\n\turl = ./x\n",
        ),
        (
            "gitmodulesName (backslash)",
            "[submodule \"a\\\\..\\\\..\\\\b\"]\n\tpath = x\n",
        ),
        ("gitmodulesName (empty)", "[submodule \"\"]\n\tpath = x\n"),
        ("gitmodulesUrl (option)", hostile),
        (
            "gitmodulesUrl (dash)",
            "[submodule \"x\"]\n\turl = -oProxyCommand=sh\n",
        ),
        (
            "gitmodulesUrl (newline)",
            "[submodule \"x\"]\n\turl = ./%0ahost=evil.example\n",
        ),
        (
            "gitmodulesUrl (climbs to a scheme)",
            "[submodule \"x\"]\n\turl = ../../:evil\n",
        ),
        (
            "gitmodulesUrl (no host)",
            "[submodule \"x\"]\n\turl = https:///example.com/x\n",
        ),
        (
            "gitmodulesUrl (newline for curl)",
            "[submodule \"x\"]\n\turl = https://example.com%0a/x\n",
        ),
        (
            "gitmodulesUrl (old-style section)",
            "[submodule.x]\n\turl = --upload-pack=sh\n",
        ),
        (
            "gitmodulesPath",
            "[submodule \"x\"]\n\tpath = -x\n\turl = ./x\n",
        ),
        (
            "gitmodulesUpdate",
            "[submodule \"x\"]\n\tpath = x\n\tupdate = !sh -c id\n",
        ),
        ("gitmodulesParse", "[submodule \"x\"\n\tpath = x\n"),
        (
            "gitmodulesParse (bad escape)",
            "[submodule \"x\"]\n\tpath = a\\qb\n",
        ),
    ];
    for (rule, content) in contents {
        for at in [".gitmodules", "deep/er/.gitmodules"] {
            let tree = r.tree_with(at, content);
            let run = r.refuse(&format!("{rule} at {at}"), &[&tree]);
            assert!(
                !run.stdout.contains("pwned") && !run.stderr.contains("pwned"),
                "{rule}: the content was echoed"
            );
        }
    }
    // git fsck wants a file wherever it finds these two names.
    for at in [".gitmodules/a.txt", "x/.gitattributes/y/a.txt"] {
        let tree = r.tree_with(at, "x\n");
        r.refuse(&format!("a directory at {at}"), &[&tree]);
    }
    // .gitattributes: a line of 2048 bytes or more.
    let long = format!("*.bin {}\n", "x".repeat(2042));
    assert_eq!(long.len(), 2049);
    for at in [".gitattributes", "a/.gitattributes"] {
        let tree = r.tree_with(at, &format!("*.txt text\n{long}"));
        r.refuse(&format!("a long .gitattributes line at {at}"), &[&tree]);
    }
    // The files git reads itself may not be symbolic links.
    for name in [".gitmodules", ".gitattributes", ".gitignore", ".mailmap"] {
        let dir = r.case_dir();
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("d/real.txt"), "x\n").unwrap();
        std::os::unix::fs::symlink("real.txt", dir.join("d").join(name)).unwrap();
        r.refuse(&format!("{name} as a symlink"), &[&dir.join("d")]);
    }
    r.done();
}

#[test]
fn paths_that_collide_with_the_store_or_each_other_are_refused() {
    let mut r = Refusals::new();
    // A directory named metadata.json, at the artifact root, in any case.
    for name in ["metadata.json", "METADATA.JSON", "Metadata.json"] {
        let tree = r.tree_with(&format!("{name}/r.csv"), "x\n");
        r.refuse(&format!("a directory {name}"), &[&tree]);
        let tree = r.tree_with(&format!("{name}/deeper/r.csv"), "x\n");
        r.refuse(&format!("a nested file under {name}"), &[&tree]);
    }
    // A file that lands as metadata.json in another spelling.
    let tree = r.tree_with("Metadata.JSON", "{}\n");
    r.refuse("a file Metadata.JSON", &[&tree]);
    let dir = r.case_dir();
    std::fs::write(dir.join("metadata.json"), "{}\n").unwrap();
    r.refuse(
        "a file metadata.json given directly",
        &[&dir.join("metadata.json")],
    );
    // A directory named metadata.json given by its name.
    let dir = r.case_dir();
    std::fs::create_dir_all(dir.join("metadata.json")).unwrap();
    std::fs::write(dir.join("metadata.json/r.csv"), "x\n").unwrap();
    r.refuse(
        "a directory metadata.json given by name",
        &[&dir.join("metadata.json")],
    );
    // Two inputs: a file `a` and a file `a/b`, in both orders and in other cases.
    let one = r.case_dir();
    std::fs::write(one.join("a"), "file\n").unwrap();
    let two = r.tree_with("a/b", "nested\n");
    r.refuse("a file a, then a/b", &[&one.join("a"), &two]);
    r.refuse("a/b, then a file a", &[&two, &one.join("a")]);
    let upper = r.tree_with("A/b", "nested\n");
    r.refuse("a file a, then A/b", &[&one.join("a"), &upper]);
    // Two files that differ only in case would be one on a case-insensitive checkout.
    let dir = r.case_dir();
    std::fs::write(dir.join("Report.csv"), "1\n").unwrap();
    std::fs::write(dir.join("report.csv"), "2\n").unwrap();
    r.refuse("Report.csv and report.csv", &[&dir.join(".")]);
    r.done();
}

#[test]
fn over_long_names_and_unstable_files_are_refused() {
    let mut r = Refusals::new();
    // A path past the store's limit, made of names each short enough for the disk.
    let deep = (0..9)
        .map(|_| "d".repeat(120))
        .collect::<Vec<_>>()
        .join("/");
    let tree = r.tree_with(&format!("{deep}/f.txt"), "x\n");
    r.refuse("a path over 1024 bytes", &[&tree]);
    // A file whose stated size is not its length (a /proc pseudo-file): its content is the
    // environment, so nothing of it may be printed either.
    let token = "ghp_Xw3k9QmZ2vB7nR4tY8uL1pD6sF0aJ5cH2eGq";
    let store = r.store.to_str().unwrap().to_string();
    let run = r.env.run_env(
        &commit_args(&store, "corr_proc", &["/proc/self/environ"]),
        &[("TREE_NAMES_TOKEN", token)],
    );
    r.check_refused("/proc/self/environ", &run);
    assert!(
        !run.stdout.contains(&token[4..]) && !run.stderr.contains(&token[4..]),
        "the environment was echoed"
    );
    let run = r
        .env
        .run(&commit_args(&store, "corr_proc2", &["/proc/self/status"]));
    r.check_refused("/proc/self/status", &run);
    r.done();
}

/// Files whose names merely resemble refused ones.
fn tricky_but_valid(env: &Env) -> PathBuf {
    let files: &[(&str, &str)] = &[
        (".github/workflows/ci.yml", "on: push\n"),
        ("git~1x/a.txt", "a\n"),
        ("git~2/a.txt", "a\n"),
        ("x.git/a.txt", "a\n"),
        (".gitkeep", "a\n"),
        (".git\u{200c}x/a.txt", "a\n"),
        (
            "my.gitmodules",
            "[submodule \"x\"]\n\turl = --upload-pack=sh\n",
        ),
        (".gitmodules.bak", "anything\n"),
        ("gitmod~5", "a\n"),
        (".gitignore", "*.tmp\n"),
        (".gitattributes", "*.csv text\n"),
        (".mailmap", "A <a@example.com>\n"),
        (
            ".gitmodules",
            "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n",
        ),
        ("sub/metadata.json", "{\"mine\": true}\n"),
        ("metadata.json.bak", "{}\n"),
        ("caf\u{e9}/r\u{e9}sum\u{e9}.txt", "x\n"),
    ];
    let dir = env.path("valid");
    for (rel, content) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    std::fs::write(dir.join(format!("{}.txt", "n".repeat(251))), "255 bytes\n").unwrap();
    dir
}

#[test]
fn names_that_merely_resemble_commit_and_pass_fsck() {
    let env = Env::new();
    let store = env.store();
    let dir = tricky_but_valid(&env);
    let run = env
        .run(&commit_args(
            store.to_str().unwrap(),
            "corr_ok",
            &[dir.join(".").to_str().unwrap()],
        ))
        .ok();
    let sha = run.json()["commit_sha"].as_str().unwrap().to_string();
    env.fsck(&store);
    let listed = env.git_in(
        &store,
        &[
            "-c",
            "core.quotePath=false",
            "ls-tree",
            "-r",
            "--name-only",
            &sha,
        ],
    );
    for rel in [
        ".github/workflows/ci.yml",
        "git~1x/a.txt",
        ".git\u{200c}x/a.txt",
        ".gitmodules",
        "sub/metadata.json",
        "metadata.json",
    ] {
        assert!(
            listed.lines().any(|l| l == format!("artifacts/wf/t/{rel}")),
            "{rel} missing from:\n{listed}"
        );
    }
    // Every file on disk is in the tree, and metadata.json lists exactly those.
    let meta: serde_json::Value = serde_json::from_str(&env.git_in(
        &store,
        &["show", &format!("{sha}:artifacts/wf/t/metadata.json")],
    ))
    .unwrap();
    let files = meta["files"].as_array().unwrap().len();
    assert_eq!(files, 17, "{meta}");
    assert_eq!(listed.lines().count(), files + 1, "{listed}");
}

#[test]
fn a_remote_with_receive_fsck_objects_accepts_what_the_store_pushes() {
    let env = Env::new();
    let daemon = env.daemon();
    let remote = env.bare_remote("remote.git");
    env.git_in(&remote, &["config", "receive.fsckObjects", "true"]);
    let store = store_with_remote(&env, "s.git", &daemon.url("remote.git"));
    let dir = tricky_but_valid(&env);
    let target = dir.join(".");
    let mut args = commit_args(&store, "corr_push", &["--require-push"]);
    args.push(target.to_str().unwrap());
    let run = env.run(&args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["pushed"], true, "{}", run.stderr);
    let sha = run.json()["commit_sha"].as_str().unwrap().to_string();
    assert_eq!(
        common::rev(&env, &remote, "refs/heads/ai/generated/wf/t"),
        sha
    );
    env.fsck(&remote);
}

#[test]
fn the_subscriber_fails_colliding_and_hostile_names_at_once_without_retrying() {
    let env = Env::new();
    let Some(redis) = support::Redis::start(&env) else {
        return;
    };
    let store = env.store();
    let names = support::Names::new("tree-names");
    let mut con = redis.con();
    env.write("runs/one/report.json", "{\"run\": 1}\n");
    env.write("runs/two/report.json", "{\"run\": 2}\n");
    // Two artifacts share a basename, so each lands under its key: the key is a name.
    let clash = |key: &str| json!({ key: "one/report.json", "other": "two/report.json" });
    let long_key = "k".repeat(300);
    let cases = [
        ("corr_meta", clash("metadata.json")),
        ("corr_meta_case", clash("Metadata.JSON")),
        ("corr_hfs", clash(".g\u{200c}it")),
        ("corr_ntfs", clash("git~1")),
        ("corr_dot", clash(".git.")),
        ("corr_long", clash(&long_key)),
        ("corr_mods", clash("GITMOD~1")),
    ];
    for (corr, artifacts) in &cases {
        let event = support::test_passed(corr, "t", artifacts.clone());
        support::publish(&mut con, &names.input, &event.to_string());
    }
    let good = support::test_passed("corr_fine", "t", clash("fine"));
    support::publish(&mut con, &names.input, &good.to_string());
    let total = cases.len() + 1;
    let mut sub = support::subscriber(
        &env,
        &store,
        &redis.url,
        &names,
        &[
            "--max-events",
            &total.to_string(),
            "--workers",
            "1",
            "--max-deliveries",
            "5",
        ],
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
        assert!(answer["data"].get("dead_letter").is_none(), "{answer}");
    }
    assert_eq!(got[total - 1]["event_type"], "ARTIFACT_COMMITTED");
    assert!(
        !log.contains("outcome=retry"),
        "a refused name was retried:\n{log}"
    );
    assert_eq!(support::committed(&env, &store), ["corr_fine"]);
    assert_eq!(support::pending(&mut con, &names.input, &names.group), 0);
    env.fsck(&store);
}

#[test]
fn the_library_refuses_bad_target_names_alone_and_in_a_batch() {
    use artifact_store::{
        CommitRequest, CorrelationId, InputSpec, OpenOptions, Store, TaskId, WorkflowId,
    };
    let env = Env::new();
    let repo = env.store();
    let store = Store::open(&OpenOptions {
        repo: Some(repo.clone()),
        config_file: None,
        overrides: vec![],
    })
    .unwrap();
    let file = env.write("lib/r.csv", "day,pnl\n1,10\n");
    let request = |corr: &str, target: &str| {
        let mut request = CommitRequest::new(
            WorkflowId::new("wf").unwrap(),
            TaskId::new("t").unwrap(),
            vec![InputSpec {
                source: file.clone(),
                target: Some(target.to_string()),
            }],
        );
        request.correlation_id = Some(CorrelationId::new(corr).unwrap());
        request
    };
    let long = "n".repeat(256);
    let bad = [
        "metadata.json",
        "METADATA.json/r.csv",
        "metadata.json/r.csv",
        ".g\u{200c}it/config",
        "git~1/config",
        ".git./config",
        "a/.GIT /b",
        &long,
        "ok/GITMOD~1",
    ];
    let before = env.snapshot(&repo);
    for (i, target) in bad.iter().enumerate() {
        let err = store
            .commit(request(&format!("corr_l{i}"), target))
            .unwrap_err();
        assert_eq!(err.kind(), "invalid_input", "{target:?}: {err}");
        assert_eq!(err.exit_code(), 2, "{target:?}");
    }
    // The batch path (one pack for several sets) checks each set the same way.
    let mut batch: Vec<CommitRequest> = bad
        .iter()
        .enumerate()
        .map(|(i, target)| request(&format!("corr_b{i}"), target))
        .collect();
    batch.push(request("corr_fine", "fine/r.csv"));
    let results = store.commit_batch(batch);
    for (target, result) in bad.iter().zip(&results) {
        let err = result.as_ref().unwrap_err();
        assert_eq!(err.kind(), "invalid_input", "{target:?}: {err}");
    }
    assert!(results.last().unwrap().is_ok(), "{:?}", results.last());
    let after = env.snapshot(&repo);
    assert_ne!(before, after, "the good set landed");
    assert_eq!(
        env.git_in(&repo, &["ls-tree", "-r", "--name-only", "corr_fine"]),
        "artifacts/wf/t/fine/r.csv\nartifacts/wf/t/metadata.json"
    );
    env.fsck(&repo);
}

#[test]
fn an_artifact_dir_template_with_a_dotgit_look_alike_is_refused() {
    let mut r = Refusals::new();
    let tree = r.tree_with("a.txt", "x\n");
    let store = r.store.to_str().unwrap().to_string();
    for template in [
        ".g\u{200c}it/{task_id}",
        "x/GIT~1/{task_id}",
        "{workflow_id}/.gitmodules./{task_id}",
    ] {
        let mut args = vec!["-c".to_string(), format!("artifact_dir={template}")];
        args.extend(
            commit_args(&store, "corr_dir", &[tree.to_str().unwrap()])
                .iter()
                .map(|s| s.to_string()),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = r.env.run(&args);
        assert!(
            run.code == 2 && !run.stdout.contains("\"success\": true"),
            "{template}: {}{}",
            run.stdout,
            run.stderr
        );
        assert_eq!(r.env.snapshot(&r.store), r.before, "{template}");
    }
    r.done();
}

#[test]
fn a_file_on_the_base_branch_where_the_artifact_directory_goes_is_not_dropped() {
    let mut r = Refusals::new();
    let store = r.store.clone();
    // `main` holds a file named `artifacts`, where artifact directories go.
    let blob = r.env.git_stdin(
        &[
            "-C",
            store.to_str().unwrap(),
            "hash-object",
            "-w",
            "--stdin",
        ],
        "keep me\n",
    );
    let tree = r.env.git_stdin(
        &["-C", store.to_str().unwrap(), "mktree"],
        &format!("100644 blob {blob}\tartifacts\n"),
    );
    let commit = r.env.git_stdin(
        &[
            "-C",
            store.to_str().unwrap(),
            "commit-tree",
            &tree,
            "-m",
            "base",
        ],
        "",
    );
    r.env
        .git_in(&store, &["update-ref", "refs/heads/main", &commit]);
    r.before = r.env.snapshot(&store);
    let files = r.tree_with("a.txt", "x\n");
    let store_s = store.to_str().unwrap().to_string();
    let mut args = commit_args(&store_s, "corr_base", &[]);
    args[7] = "fresh";
    let files_s = files.to_str().unwrap().to_string();
    args.push(&files_s);
    let run = r.env.run(&args);
    r.check_refused("a file where the artifact directory goes", &run);
    r.done();
}
