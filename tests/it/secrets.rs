//! The commit gate and the `scan` command: nothing that looks like a credential is written,
//! and no secret is ever printed.

use crate::common;

use common::{commit_args, Env};

/// A Stripe-style live key, built at run time so this file holds no literal.
fn stripe_key() -> String {
    format!("sk_{}_{}", "live", "Zq8Rk2Vw7Lp4Xn9Tb3Hc6Mf1Yd5G")
}

fn aws_key() -> String {
    format!("{}{}", "AKIA", "Q7R2M5XLK3J6WZN4")
}

#[track_caller]
fn assert_never_printed(secret: &str, run: &common::Run) {
    assert!(
        !run.stdout.contains(secret),
        "stdout holds the secret:\n{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains(secret),
        "stderr holds the secret:\n{}",
        run.stderr
    );
    assert!(
        !run.stdout.contains(&secret[4..]) && !run.stderr.contains(&secret[4..]),
        "a tail of the secret was printed"
    );
}

#[test]
fn a_secret_in_a_file_aborts_the_commit_with_exit_3_and_writes_nothing() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let seed = env.write("seed.txt", "ok\n");
    env.run(&commit_args(s, "seed", &[seed.to_str().unwrap()]))
        .ok();
    let key = stripe_key();
    env.write(
        "run/strategy.py",
        format!("import os\n\nAPI_KEY = \"{key}\"\n"),
    );
    env.write("run/report.json", "{\"passed\": 3}\n");
    let before = env.snapshot(&store);
    let run = env.run(&commit_args(
        s,
        "leak",
        &[env.path("run/.").to_str().unwrap()],
    ));
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_never_printed(&key, &run);
    let err = run.json();
    assert_eq!(err["error"]["kind"], "secret_detected");
    let finding = &err["error"]["findings"][0];
    assert_eq!(finding["path"], "artifacts/wf/t/strategy.py");
    assert_eq!(finding["line"], 3);
    assert_eq!(finding["column"], 12);
    let redacted = finding["redacted"].as_str().unwrap();
    assert!(
        redacted.starts_with("sk_l") && redacted.len() < 12,
        "{redacted}"
    );
    assert!(
        run.stderr.contains("artifacts/wf/t/strategy.py:3:12"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.snapshot(&store),
        before,
        "no object, no ref: nothing reached the repository"
    );
    env.fsck(&store);
}

#[test]
fn a_secret_in_caller_metadata_is_caught_too() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("a.txt", "clean\n");
    let key = aws_key();
    let before = env.snapshot(&store);
    let mut args = commit_args(s, "meta", &[f.to_str().unwrap()]);
    let set = format!("broker.aws_access_key_id={key}");
    args.extend(["--set", &set]);
    let run = env.run(&args);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_never_printed(&key, &run);
    assert_eq!(env.snapshot(&store), before);
    env.fsck(&store);
}

#[test]
fn scanning_can_be_turned_off_with_a_warning() {
    let env = Env::new();
    let store = env.store();
    let key = stripe_key();
    let f = env.write("a.py", format!("API_KEY = \"{key}\"\n"));
    let mut args = vec!["-c", "scan_for_secrets=false"];
    args.extend(commit_args(
        store.to_str().unwrap(),
        "off",
        &[f.to_str().unwrap()],
    ));
    let run = env.run(&args).ok();
    assert!(
        run.stderr.contains("warning: secret scanning is off"),
        "{}",
        run.stderr
    );
    env.fsck(&store);
}

#[test]
fn look_alikes_in_artifacts_commit_fine_and_the_stores_own_metadata_scans_clean() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    env.write(
        "run/strategy.py",
        "import os\nAPI_KEY = os.environ[\"BROKER_API_KEY\"]\npassword = \"changeme\"\nmax_tokens = 4096\ntoken = \"${TOKEN}\"\n",
    );
    env.write(
        "run/config.yaml",
        "aws_access_key_id: AKIAIOSFODNN7EXAMPLE\napi_key: <YOUR_KEY>\n",
    );
    env.run(&commit_args(
        s,
        "clean",
        &[env.path("run/.").to_str().unwrap()],
    ))
    .ok();
    let out = env.path("exported");
    env.run(&[
        "--repo",
        s,
        "export",
        "clean",
        "--to",
        out.to_str().unwrap(),
    ])
    .ok();
    let run = env.run(&["scan", out.to_str().unwrap()]);
    assert_eq!(
        run.code, 0,
        "metadata.json with sha256 checksums must not trip the scanner:\n{}",
        run.stdout
    );
    env.fsck(&store);
}

#[test]
fn scan_reports_in_human_json_and_sarif_and_exits_3() {
    let env = Env::new();
    let key = stripe_key();
    env.write(
        "tree/src/app.py",
        format!("x = 1\nstripe.api_key = \"{key}\"\n"),
    );
    env.write("tree/notes.md", "nothing here\n");
    env.write("tree/.git/config", format!("token = \"{key}\"\n"));
    env.write("tree/blob.bin", [0u8, 1, 2, 3, 0, 5]);
    let tree = env.path("tree");
    let t = tree.to_str().unwrap();

    let human = env.run(&["scan", t]);
    assert_eq!(human.code, 3);
    assert_never_printed(&key, &human);
    let line = human.stdout.lines().next().unwrap();
    assert!(line.starts_with(&format!("{t}/src/app.py:2:19 ")), "{line}");
    assert_eq!(
        human.stdout.lines().count(),
        1,
        ".git is skipped:\n{}",
        human.stdout
    );

    let json = env.run(&["scan", "--format", "json", t]);
    assert_eq!(json.code, 3);
    let report = json.json();
    assert_eq!(report["files_scanned"], 3, "binary files are scanned too");
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);
    assert_eq!(report["skipped"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        env.run(&["--json", "scan", t]).json(),
        report,
        "--json means --format json"
    );

    let sarif = env.run(&["scan", "--format", "sarif", t]);
    assert_eq!(sarif.code, 3);
    let doc = sarif.json();
    assert_eq!(doc["version"], "2.1.0");
    assert_eq!(doc["runs"][0]["tool"]["driver"]["name"], "artifact-store");
    assert_eq!(
        doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        2
    );
    assert_never_printed(&key, &sarif);

    let clean = env.run(&["scan", env.path("tree/notes.md").to_str().unwrap()]);
    assert_eq!(clean.code, 0);
    let missing = env.run(&["scan", "/nonexistent/dir"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
}

#[test]
fn scan_staged_reads_the_index_not_the_worktree() {
    let env = Env::new();
    let repo = env.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    env.git_in(&repo, &["init", "-q"]);
    let key = aws_key();
    std::fs::write(
        repo.join("deploy.sh"),
        format!("export AWS_ACCESS_KEY_ID={key}\n"),
    )
    .unwrap();
    env.git_in(&repo, &["add", "deploy.sh"]);
    // The worktree copy is cleaned, but the staged blob still holds the key.
    std::fs::write(
        repo.join("deploy.sh"),
        "export AWS_ACCESS_KEY_ID=$FROM_VAULT\n",
    )
    .unwrap();
    let mut cmd = env.cmd(&["scan", "--staged"]);
    cmd.current_dir(&repo);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("deploy.sh:1:"), "{stdout}");
    assert!(!stdout.contains(&key));
    env.git_in(&repo, &["add", "deploy.sh"]);
    let mut cmd = env.cmd(&["scan", "--staged"]);
    cmd.current_dir(&repo);
    assert_eq!(cmd.output().unwrap().status.code(), Some(0));
}

#[test]
fn a_secret_in_one_file_of_a_large_set_loaded_in_parallel_is_caught() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let filler: String = (0..6000)
        .map(|i| format!("{i},{},{}\n", i * 7, i % 13))
        .collect();
    let key = stripe_key();
    env.write("big/a.csv", &filler);
    env.write(
        "big/b.csv",
        format!("{filler}charge_key = \"{key}\"\n{filler}"),
    );
    env.write("big/c.csv", &filler);
    let before = env.snapshot(&store);
    let run = env.run(&commit_args(
        s,
        "big",
        &[env.path("big/.").to_str().unwrap()],
    ));
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_never_printed(&key, &run);
    assert_eq!(
        run.json()["error"]["findings"][0]["path"],
        "artifacts/wf/t/b.csv"
    );
    assert_eq!(run.json()["error"]["findings"][0]["line"], 6001);
    assert_eq!(env.snapshot(&store), before);
    env.fsck(&store);
}
