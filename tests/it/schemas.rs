//! Every `--json` output is one object on its command's published schema
//! (`docs/schema/<command>.json`, JSON Schema 2020-12): success and error paths alike,
//! usage errors included; the schemas are strict enough to catch a renamed key.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{Env, Run};
use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

const SCHEMA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema");

/// The commands with a schema of their own, as named in docs/json.md.
const COMMANDS: &[&str] = &[
    "commit",
    "list",
    "show",
    "log",
    "diff",
    "verify",
    "stats",
    "gc",
    "scan",
    "export",
    "pin",
    "unpin",
    "trash",
    "push",
    "revert-to-tag",
    "init",
    "demo",
    "hooks",
    "hook",
    "compact",
    "error",
];

/// Resolves `$ref`s between the schemas by file name, from docs/schema/ only.
struct SchemaDir;

impl Retrieve for SchemaDir {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.path().as_str().rsplit('/').next().unwrap_or_default();
        Ok(load(name))
    }
}

fn load(file: &str) -> Value {
    let path = Path::new(SCHEMA_DIR).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validators() -> &'static BTreeMap<&'static str, Validator> {
    static ALL: OnceLock<BTreeMap<&'static str, Validator>> = OnceLock::new();
    ALL.get_or_init(|| {
        COMMANDS
            .iter()
            .map(|&name| {
                let schema = load(&format!("{name}.json"));
                let validator = jsonschema::options()
                    .with_retriever(SchemaDir)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("docs/schema/{name}.json: {e}"));
                (name, validator)
            })
            .collect()
    })
}

/// Returns the errors of `value` against `schema`, one line each.
fn errors(schema: &str, value: &Value) -> Vec<String> {
    let validator = validators()
        .get(schema)
        .unwrap_or_else(|| panic!("no schema {schema}"));
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Asserts that a run printed one JSON object on `schema`, with `success` true exactly
/// when it exited 0 and an `error` object exactly when it failed; returns the object.
#[track_caller]
fn on_schema(schema: &str, run: &Run) -> Value {
    let json = run.json();
    let problems = errors(schema, &json);
    assert!(
        problems.is_empty(),
        "{schema}: {problems:#?}\n{json:#}\nstderr: {}",
        run.stderr
    );
    assert_eq!(
        json["success"],
        run.code == 0,
        "{schema}: exit {}",
        run.code
    );
    assert_eq!(json.get("error").is_some(), run.code != 0, "{json:#}");
    assert_eq!(json["schema_version"], 1);
    json
}

/// Asserts a failure on `schema` with this exit code and error kind; returns the object.
#[track_caller]
fn failed(schema: &str, run: &Run, code: i32, kind: &str) -> Value {
    assert_eq!(run.code, code, "{}\n{}", run.stdout, run.stderr);
    let json = on_schema(schema, run);
    assert_eq!(json["error"]["kind"], kind, "{json:#}");
    json
}

/// A bare store with two versions of `wf/t` (the second with a prompt hash) and one of
/// `wf/u`; returns the store path and the input files.
fn store(env: &Env) -> (String, PathBuf) {
    let store = env.store();
    let s = store.to_str().unwrap().to_string();
    let first = env.write("in1/trades.csv", "date,pnl\n2025-01-01,1\n");
    env.write("in1/strategy.py", "print('v1')\n");
    let second = env.write("in2/trades.csv", "date,pnl\n2025-01-01,1\n2025-01-02,2\n");
    env.write("in2/strategy.py", "print('v2')\n");
    let commit = |corr: &str, task: &str, dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "--repo",
            &s,
            "--json",
            "commit",
            "-w",
            "wf",
            "-t",
            task,
            "--correlation-id",
            corr,
            "--set",
            "test_metrics.net_pnl=1.5",
        ];
        args.extend_from_slice(extra);
        let dir = format!("{}/.", dir.display());
        args.push(&dir);
        on_schema("commit", &env.run(&args).ok())
    };
    commit("a", "t", first.parent().unwrap(), &[]);
    let b = commit(
        "b",
        "t",
        second.parent().unwrap(),
        &["--prompt-hash", "7a8b9c0d"],
    );
    assert_eq!(b["tags"], serde_json::json!(["corr_b", "prompt_7a8b9c0d"]));
    commit("c", "u", first.parent().unwrap(), &[]);
    (s, env.path("in2"))
}

#[test]
fn every_schema_is_a_valid_2020_12_schema_and_every_command_has_one() {
    for name in COMMANDS.iter().chain(&["common"]) {
        let schema = load(&format!("{name}.json"));
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert!(
            jsonschema::meta::is_valid(&schema),
            "docs/schema/{name}.json is not a valid schema"
        );
    }
    validators();
}

/// Runs `artifact-store --repo STORE --json ARGS`.
fn json_in(env: &Env, store: &str, args: &[&str]) -> Run {
    let mut full = vec!["--repo", store, "--json"];
    full.extend_from_slice(args);
    env.run(&full)
}

#[test]
fn commit_and_the_read_commands_are_on_their_schemas() {
    let env = Env::new();
    let (s, in2) = store(&env);
    let run = |args: &[&str]| json_in(&env, &s, args);

    // A duplicate without --prompt-hash still names every tag of its commit.
    let dir = format!("{}/.", in2.display());
    let dup = on_schema(
        "commit",
        &run(&[
            "commit",
            "-w",
            "wf",
            "-t",
            "t",
            "--correlation-id",
            "b",
            &dir,
        ])
        .ok(),
    );
    assert_eq!(dup["duplicate"], true);
    assert_eq!(
        dup["tags"],
        serde_json::json!(["corr_b", "prompt_7a8b9c0d"])
    );
    assert_eq!(dup["prompt_hash"], "7a8b9c0d");
    let conflict = run(&[
        "commit",
        "-w",
        "wf",
        "-t",
        "t",
        "--correlation-id",
        "a",
        &dir,
    ]);
    failed("commit", &conflict, 4, "conflict");
    let leaked = env.write(
        "leak/config.txt",
        format!("key = {}{}\n", "AKIA", "Q7R2M5XLK3J6WZN4"),
    );
    let secret = run(&[
        "commit",
        "-w",
        "wf",
        "-t",
        "t",
        "--correlation-id",
        "z",
        leaked.to_str().unwrap(),
    ]);
    let secret = failed("commit", &secret, 3, "secret_detected");
    assert!(!secret.to_string().contains("Q7R2M5XLK3J6WZN4"));

    let list = on_schema("list", &run(&["list"]).ok());
    let sets = list["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    let newest = &sets
        .iter()
        .find(|s| s["task_id"] == "t")
        .expect("wf/t listed");
    assert_eq!(newest["correlation_id"], "corr_b");
    assert_eq!(newest["prompt_hash"], "7a8b9c0d");
    assert_eq!(newest["branch"], "ai/generated/wf/t");
    assert!(newest["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "trades.csv" && f["size"] == 35));
    on_schema(
        "list",
        &run(&["list", "--all-versions", "--workflow", "wf"]).ok(),
    );
    failed(
        "list",
        &run(&["list", "--where", "novalue"]),
        2,
        "invalid_input",
    );

    let show = on_schema("show", &run(&["show", "corr_a"]).ok());
    assert_eq!(show["workflow_id"], "wf");
    failed("show", &run(&["show", "corr_nothing"]), 5, "not_found");

    let log = on_schema("log", &run(&["log", "wf/t"]).ok());
    assert_eq!(log["entries"][0]["tags"][1], "prompt_7a8b9c0d");
    assert_eq!(log["entries"][1]["correlation_id"], "corr_a");
    failed("log", &run(&["log", "wf/none"]), 5, "not_found");
    failed("log", &run(&["log", "no-slash"]), 2, "invalid_input");

    let diff = on_schema("diff", &run(&["diff", "a", "corr_b"]).ok());
    assert_eq!(diff["a"]["ref"], "a");
    assert_eq!(diff["b"]["commit_sha"], newest["commit_sha"]);
    assert_eq!(diff["changed"][0]["path"], "strategy.py");
    let patched = on_schema("diff", &run(&["diff", "a", "corr_b", "--patch"]).ok());
    assert!(patched["changed"][0]["patch"].is_string(), "{patched}");
    failed("diff", &run(&["diff", "a", "nothing"]), 5, "not_found");

    on_schema("verify", &run(&["verify", "corr_a"]).ok());
    on_schema("verify", &run(&["verify", "--all"]).ok());
    failed("verify", &run(&["verify", "corr_nothing"]), 5, "not_found");

    on_schema("compact", &run(&["compact", "--dry-run"]).ok());
    on_schema("compact", &run(&["compact"]).ok());
    let stats = on_schema("stats", &run(&["stats"]).ok());
    assert_eq!(stats["largest"][0]["workflow_id"], "wf");

    let to = env.path("out");
    let to = to.to_str().unwrap();
    let export = on_schema("export", &run(&["export", "corr_a", "--to", to]).ok());
    assert!(export["files"][0]["checksum"].is_string() || export["files"][0]["checksum"].is_null());
    failed(
        "export",
        &run(&["export", "corr_a", "--to", to]),
        4,
        "conflict",
    );

    on_schema("pin", &run(&["pin", "corr_a", "--name", "keep"]).ok());
    failed(
        "pin",
        &run(&["pin", "corr_b", "--name", "keep"]),
        4,
        "conflict",
    );
    on_schema("unpin", &run(&["unpin", "keep"]).ok());
    failed("unpin", &run(&["unpin", "keep"]), 5, "not_found");

    on_schema(
        "revert-to-tag",
        &run(&["revert-to-tag", "corr_a", "--target", "main", "--create"]).ok(),
    );
    on_schema(
        "revert-to-tag",
        &run(&["revert-to-tag", "corr_b", "--dry-run"]).ok(),
    );
    let hard = on_schema(
        "revert-to-tag",
        &run(&["revert-to-tag", "corr_b", "--hard", "--force"]).ok(),
    );
    assert!(
        hard["undo"].is_string() && hard["trash_ref"].is_string(),
        "{hard}"
    );
    failed(
        "revert-to-tag",
        &run(&["revert-to-tag", "corr_nothing"]),
        5,
        "not_found",
    );

    // No remote configured: push fails before anything is sent.
    failed("push", &run(&["push"]), 6, "remote");
    env.fsck(Path::new(&s));
}

#[test]
fn gc_trash_scan_init_demo_and_hooks_are_on_their_schemas() {
    let env = Env::new();
    let (s, _) = store(&env);
    let run = |args: &[&str]| json_in(&env, &s, args);
    let policy = env.write("policy.toml", "keep_last = 1\n");
    let policy = policy.to_str().unwrap();
    let plan = on_schema("gc", &run(&["gc", "--policy", policy]).ok());
    assert_eq!(plan["workflows"][0]["workflow_id"], "wf");
    assert!(plan["total"]["pruned"].as_u64().unwrap() > 0);
    assert!(plan["now"].as_str().unwrap().ends_with('Z'));
    let bad = env.write("bad.toml", "keep_last = -1\n");
    failed(
        "gc",
        &run(&["gc", "--policy", bad.to_str().unwrap()]),
        2,
        "config",
    );
    let applied = on_schema("gc", &run(&["gc", "--apply", "--policy", policy]).ok());
    let ts = applied["applied"]["trash_time_unix"].as_i64().unwrap();

    let list = on_schema("trash", &run(&["trash", "list"]).ok());
    assert_eq!(list["batches"][0]["time_unix"], ts);
    on_schema("trash", &run(&["trash", "restore", &ts.to_string()]).ok());
    failed(
        "trash",
        &run(&["trash", "restore", "12345"]),
        5,
        "not_found",
    );
    let purge = on_schema("trash", &run(&["trash", "purge", "--older-than", "0"]).ok());
    assert_eq!(purge["purged"], 0);

    let clean = env.write("scan/clean.txt", "nothing here\n");
    let scan = on_schema("scan", &run(&["scan", clean.to_str().unwrap()]).ok());
    assert_eq!(scan["files_scanned"], 1);
    let leaked = env.write(
        "scan/leak.txt",
        format!("key = {}{}\n", "AKIA", "Q7R2M5XLK3J6WZN4"),
    );
    let found = failed(
        "scan",
        &run(&["scan", leaked.to_str().unwrap()]),
        3,
        "secret_detected",
    );
    assert_eq!(found["findings"][0]["path"], leaked.to_str().unwrap());
    assert!(!found.to_string().contains("Q7R2M5XLK3J6WZN4"));
    let rules = on_schema("scan", &run(&["scan", "--list-rules"]).ok());
    assert!(!rules["rules"].as_array().unwrap().is_empty());
    failed(
        "scan",
        &run(&["scan", env.path("scan/none").to_str().unwrap()]),
        2,
        "invalid_path",
    );

    let fresh = env.path("fresh");
    let fresh = fresh.to_str().unwrap();
    on_schema("init", &env.run(&["--json", "init", fresh]).ok());
    let file = env.write("a-file", "x");
    let init_err = env.run(&["--json", "init", file.to_str().unwrap()]);
    assert_ne!(init_err.code, 0);
    on_schema("init", &init_err);
    on_schema(
        "hooks",
        &env.run(&["--repo", fresh, "--json", "hooks", "install"])
            .ok(),
    );
    let hooks_err = env.run(&["--repo", fresh, "--json", "hooks", "install", "--server"]);
    on_schema("hooks", &hooks_err);

    let demo = env.path("demo");
    let demo = demo.to_str().unwrap();
    let shown = on_schema("demo", &env.run(&["--json", "demo", "--dir", demo]).ok());
    assert_eq!(shown["commits"][2]["duplicate"], true);
    let again = env.run(&["--json", "demo", "--dir", file.to_str().unwrap()]);
    assert_ne!(again.code, 0);
    on_schema("demo", &again);
}

/// Damage, problems and refusals come back as `success: false` with an `error` beside
/// what the command found.
#[test]
fn failures_with_data_carry_an_error_beside_it() {
    let env = Env::new();
    let (s, _) = store(&env);
    let store = PathBuf::from(&s);
    let run = |args: &[&str]| json_in(&env, &s, args);

    // A corr_ tag on a commit with another Correlation-Id: a problem, so a failure.
    let a = env.git_in(&store, &["rev-parse", "corr_a"]);
    env.git_in(&store, &["tag", "corr_stray", &a]);
    let verify = failed("verify", &run(&["verify", "--all"]), 1, "integrity");
    assert_eq!(verify["problems"][0]["kind"], "trailer_mismatch");
    assert!(verify["error"]["message"]
        .as_str()
        .unwrap()
        .contains("corr_stray"));
    env.git_in(&store, &["tag", "-d", "corr_stray"]);

    let commit = env.git_in(&store, &["rev-parse", "corr_c"]);
    let message = env.git_in(&store, &["log", "-1", "--format=%B", &commit]);

    // gc --apply --remote with no remote: the local apply stands, the remote step fails.
    let policy = env.write("policy.toml", "keep_last = 1\n");
    let gc = failed(
        "gc",
        &run(&[
            "gc",
            "--apply",
            "--remote",
            "--policy",
            policy.to_str().unwrap(),
        ]),
        6,
        "remote",
    );
    assert!(gc["applied"]["moved"].as_u64().unwrap() > 0);

    // A task branch whose tree is gone: list names it under unreadable, and fails.
    let broken = env.git_stdin(
        &["-C", &s, "hash-object", "-t", "commit", "-w", "--literally", "--stdin"],
        &format!(
            "tree {}\nauthor A <a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n\n{message}\n",
            "1".repeat(40)
        ),
    );
    env.git_in(
        &store,
        &["update-ref", "refs/heads/ai/generated/wf/broken", &broken],
    );
    let list = failed("list", &run(&["list"]), 1, "corrupt");
    assert_eq!(list["unreadable"][0]["branch"], "ai/generated/wf/broken");
    assert_eq!(list["sets"].as_array().unwrap().len(), 1);
}

/// A push the remote refuses in part is a failure beside what was pushed.
#[test]
fn a_refused_push_is_a_failure_with_its_report() {
    let env = Env::new();
    let daemon = env.daemon();
    let remote = env.bare_remote("remote.git");
    let s = common::store_with_remote(&env, "s.git", &daemon.url("remote.git"));
    let hook = remote.join("hooks/update");
    std::fs::write(
        &hook,
        "#!/bin/sh\ncase \"$1\" in refs/heads/*) echo \"branch frozen\" >&2; exit 1;; esac\nexit 0\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let f = env.write("a.txt", "a\n");
    on_schema(
        "commit",
        &env.run(&common::commit_args(&s, "frozen", &[f.to_str().unwrap()]))
            .ok(),
    );
    let push = failed(
        "push",
        &env.run(&["--repo", &s, "--json", "push"]),
        6,
        "remote",
    );
    assert_eq!(push["refused"][0]["ref"], "refs/heads/ai/generated/wf/t");
    assert!(!push["pushed"].as_array().unwrap().is_empty());
    assert!(push["error"]["message"]
        .as_str()
        .unwrap()
        .contains("branch frozen"));
}

/// `hook pre-receive --json` as git runs it: a bare repository with the hook installed by
/// `hooks install --server`, the binary reached through a wrapper (`ARTIFACT_STORE_BIN`,
/// which the hook honours) that adds `--json` and keeps what it printed and its exit code.
/// A push of a new branch is accepted, a rewrite of a store branch and a pushed secret are
/// refused, each output on `hook.json`.
#[test]
fn the_pre_receive_hook_prints_its_schema_when_git_runs_it() {
    let env = Env::new();
    let server = env.bare_remote("server.git");
    let url = server.to_str().unwrap();
    env.run(&["--repo", url, "hooks", "install", "--server"])
        .ok();
    let wrapper = env.write(
        "json-hook.sh",
        format!(
            "#!/bin/sh\n'{}' --json \"$@\" > \"$HOOK_OUT\"\ncode=$?\necho $code > \"$HOOK_OUT.code\"\nexit $code\n",
            env!("CARGO_BIN_EXE_artifact-store")
        ),
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let work = env.path("work");
    env.git(&["init", "-q", "-b", "main", work.to_str().unwrap()]);
    let commit = |file: &str, text: &str| {
        env.write(&format!("work/{file}"), text);
        env.git_in(&work, &["add", file]);
        env.git_in(&work, &["commit", "-q", "-m", file]);
        env.git_in(&work, &["rev-parse", "HEAD"])
    };
    let pushes = std::cell::Cell::new(0);
    // Pushes `spec`; returns git's run and the hook's, as the hook printed it.
    let push = |spec: &str| -> (Run, Run) {
        pushes.set(pushes.get() + 1);
        let out = env.path(&format!("hook-{}.json", pushes.get()));
        let git = env.git_env(
            &["-C", work.to_str().unwrap(), "push", "-q", url, spec],
            &[
                ("ARTIFACT_STORE_BIN", wrapper.to_str().unwrap()),
                ("HOOK_OUT", out.to_str().unwrap()),
            ],
        );
        let code = std::fs::read_to_string(out.with_extension("json.code")).unwrap();
        let hook = Run {
            code: code.trim().parse().unwrap(),
            stdout: std::fs::read_to_string(&out).unwrap(),
            stderr: git.stderr.clone(),
        };
        (git, hook)
    };
    let branch = "refs/heads/ai/generated/wf/t";
    let c1 = commit("a.txt", "a\n");
    let c2 = commit("b.txt", "b\n");

    let (git, hook) = push(&format!("{c2}:{branch}"));
    assert_eq!(git.code, 0, "{}", git.stderr);
    let accepted = on_schema("hook", &hook);
    assert_eq!(accepted["rejections"], serde_json::json!([]));
    assert!(
        accepted["blobs_scanned"].as_u64().unwrap() >= 2,
        "{accepted:#}"
    );

    let (git, hook) = push(&format!("+{c1}:{branch}"));
    assert_ne!(git.code, 0, "a rewrite of a store branch went through");
    let refused = failed("hook", &hook, 4, "conflict");
    assert_eq!(refused["rejections"][0]["ref"], branch);
    assert_eq!(env.git_in(&server, &["rev-parse", branch]), c2);

    let key = format!("{}{}", "AKIA", "Q7R2M5XLK3J6WZN4");
    commit("env.sh", &format!("export AWS_ACCESS_KEY_ID={key}\n"));
    let (git, hook) = push("main:refs/heads/feature");
    assert_ne!(git.code, 0, "the secret was pushed");
    let secret = failed("hook", &hook, 3, "secret_detected");
    let path = secret["findings"][0]["path"].as_str().unwrap();
    assert!(path.ends_with("env.sh"), "{secret:#}");
    assert!(!hook.stdout.contains(&key[4..]), "{}", hook.stdout);
    assert!(!common::has_ref(&env, &server, "refs/heads/feature"));
}

/// With --json, a command line that does not parse is the error object on stdout, exit 2.
#[test]
fn usage_errors_are_json_with_json() {
    let env = Env::new();
    let cases: &[(&[&str], &str, &str)] = &[
        // verify without REF is refused by the command itself, naming --all.
        (&["--json", "verify"], "--all", "invalid_input"),
        (&["--json", "comit"], "comit", "usage"),
        (&["--json", "list", "--limit", "abc"], "abc", "usage"),
        (&["list", "--json", "--bogus"], "--bogus", "usage"),
        (&["--json", "gc", "--remote"], "--apply", "usage"),
    ];
    for (args, named, kind) in cases {
        let run = env.run(args);
        let json = failed("error", &run, 2, kind);
        let message = json["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{args:?}: {message}");
        assert!(
            !message.contains("Usage:") && !message.contains('\n'),
            "{message}"
        );
        assert!(json["error"]["hint"].is_string(), "{json}");
        assert!(run.stderr.contains("error: "), "{}", run.stderr);
    }
    // The parser's suggestion is the hint.
    let run = env.run(&["--json", "comit"]);
    let hint = run.json()["error"]["hint"].as_str().unwrap().to_string();
    assert!(hint.contains("'commit'"), "{hint}");
    // Without --json the parser's own text is unchanged, on stderr.
    let run = env.run(&["comit"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("Usage:"), "{}", run.stderr);
}

/// A path with no repository is said in the store's words, never libgit2's
/// `class=`/`code=`, with the command that creates one; the human face says the same.
#[test]
fn no_repository_is_said_plainly_in_both_faces() {
    let env = Env::new();
    let plain = env.path("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let p = plain.to_str().unwrap();
    let json = failed(
        "error",
        &env.run(&["--repo", p, "--json", "list"]),
        5,
        "no_repository",
    );
    assert_eq!(
        json["error"]["message"],
        format!("not a git repository: {p}")
    );
    let hint = json["error"]["hint"].as_str().unwrap();
    assert!(
        hint.starts_with(&format!("create one with `artifact-store init {p}`")),
        "{hint}"
    );
    let human = env.run(&["--repo", p, "list"]);
    assert_eq!(human.code, 5);
    assert!(
        human
            .stderr
            .contains(&format!("error: not a git repository: {p}\n")),
        "{}",
        human.stderr
    );
    assert!(human
        .stderr
        .contains(&format!("hint: create one with `artifact-store init {p}`")));
    for text in [&human.stderr, &json.to_string()] {
        assert!(!text.contains("class="), "{text}");
        assert!(!text.contains("code="), "{text}");
    }
}

/// A renamed or dropped key, or a key the shape does not have, fails the schema.
#[test]
fn the_schemas_catch_a_renamed_key() {
    let env = Env::new();
    let (s, _) = store(&env);
    let list = env.run(&["--repo", &s, "--json", "list"]).ok().json();
    assert!(errors("list", &list).is_empty());
    let renamed = |path: &[&str], from: &str, to: &str| {
        let mut doc = list.clone();
        let mut at = &mut doc;
        for key in path {
            at = match key.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*key],
            };
        }
        let value = at.as_object_mut().unwrap().remove(from).unwrap();
        at[to] = value;
        doc
    };
    for (path, from, to) in [
        (&["sets", "0"][..], "commit_time", "commit_timestamp"),
        (&["sets", "0"][..], "workflow_id", "workflow"),
        (&["sets", "0", "files", "0"][..], "size", "bytes"),
        (&[][..], "sets", "rows"),
    ] {
        let doc = renamed(path, from, to);
        assert!(
            !errors("list", &doc).is_empty(),
            "{from} -> {to} passed the schema"
        );
    }
    // Metadata stays open: a caller's own key is fine.
    let mut doc = list.clone();
    doc["sets"][0]["metadata"]["my_key"] = Value::from(1);
    assert!(errors("list", &doc).is_empty());
    // An error object must have its four keys.
    let e = serde_json::json!({"success": false, "schema_version": 1,
        "error": {"kind": "usage", "message": "x", "hint": null}});
    assert!(!errors("error", &e).is_empty());
}
