//! The human face: suggestions for typos, usage that teaches, plurals, human sizes and
//! dates, one table style, examples in every read command's help, `--where` refusals and
//! warnings, progress bars on a terminal only, and gc's hint that keeps its flags.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{commit_args, Env, Run};

/// Commits `files` as `corr` on task `task` of workflow `wf`, asserting success.
fn commit(env: &Env, store: &str, task: &str, corr: &str, files: &[&str], sets: &[&str]) -> Run {
    commit_env(env, store, (task, corr), files, sets, &[])
}

/// Commits an hour before the commit that follows, so that `keep_last = 1` prunes it.
fn commit_older(env: &Env, store: &str, task: &str, corr: &str, files: &[&str]) -> Run {
    let an_hour_ago = format!("@{} +0000", chrono::Utc::now().timestamp() - 3600);
    commit_env(
        env,
        store,
        (task, corr),
        files,
        &[],
        &[("GIT_COMMITTER_DATE", &an_hour_ago)],
    )
}

fn commit_env(
    env: &Env,
    store: &str,
    (task, corr): (&str, &str),
    files: &[&str],
    sets: &[&str],
    vars: &[(&str, &str)],
) -> Run {
    let mut args = vec![
        "--repo",
        store,
        "commit",
        "--workflow",
        "wf",
        "--task",
        task,
        "--correlation-id",
        corr,
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    args.extend_from_slice(files);
    env.run_env(&args, vars).ok()
}

/// A store with one set (`corr_one` on wf/t) holding `a.txt`, and its path.
fn store_with_one_set(env: &Env) -> String {
    let store = env.store().to_str().unwrap().to_string();
    let a = env.write("a.txt", "alpha\n");
    commit(
        env,
        &store,
        "t",
        "one",
        &[a.to_str().unwrap()],
        &["test_metrics.net_pnl=120.5", "test_metrics.win_rate=0.58"],
    );
    store
}

/// Quotes one word for `sh`.
fn sh_word(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Runs the store binary under a pseudo-terminal (`script` from util-linux), with the
/// hermetic environment plus `vars`; returns what the terminal showed (stdout and stderr
/// together) in `stdout`.
fn run_tty(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut inner = env.cmd(args);
    // A terminal as a person has one: without TERM, a terminal counts as a dumb one.
    inner.env("TERM", "xterm").envs(vars.iter().copied());
    let line = std::iter::once(env!("CARGO_BIN_EXE_artifact-store"))
        .chain(args.iter().copied())
        .map(sh_word)
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script.env_clear();
    for (key, value) in inner.get_envs() {
        if let Some(value) = value {
            script.env(key, value);
        }
    }
    script
        .current_dir(inner.get_current_dir().unwrap())
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null());
    let out = script
        .output()
        .expect("run `script` (util-linux) for a pseudo-terminal");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn typos_of_commands_and_flags_get_a_did_you_mean() {
    let env = Env::new();
    for (args, suggestion) in [
        (&["comit"][..], "'commit'"),
        (&["stat"][..], "'stats'"),
        (&["verfy", "--all"][..], "'verify'"),
        (&["lst"][..], "'list'"),
        (&["--workflw", "x", "list"][..], "--workflow"),
        (&["list", "--workflw", "x"][..], "--workflow"),
        (&["list", "--limt", "3"][..], "--limit"),
        (&["--jsn", "list"][..], "--json"),
        (&["gc", "--aply"][..], "--apply"),
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("similar") || run.stderr.contains("exists"),
            "{args:?} suggests nothing:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(suggestion),
            "{args:?} should suggest {suggestion}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn verify_without_a_ref_says_to_pass_one_or_all() {
    let env = Env::new();
    let store = store_with_one_set(&env);
    let run = env.run(&["--repo", &store, "verify"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("pass a REF, or --all"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("verify --all"), "{}", run.stderr);
    assert!(!run.stderr.contains("required arguments"), "{}", run.stderr);

    let json = env.run(&["--repo", &store, "--json", "verify"]);
    assert_eq!(json.code, 2);
    let body = json.json();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["kind"], "invalid_input");
    assert!(body["error"]["message"].as_str().unwrap().contains("--all"));

    let help = env.run(&["verify", "--help"]).ok();
    assert!(
        help.stdout
            .contains("Usage: artifact-store verify [OPTIONS] <REF | --all>"),
        "{}",
        help.stdout
    );
    // Both forms still work.
    env.run(&["--repo", &store, "verify", "corr_one"]).ok();
    env.run(&["--repo", &store, "verify", "--all"]).ok();
}

#[test]
fn repo_is_optional_in_usage_and_help_names_its_environment_variable() {
    let env = Env::new();
    let store = store_with_one_set(&env);
    let vars = [("ARTIFACT_STORE_REPO", store.as_str())];
    for args in [
        &["show"][..],
        &["diff", "corr_one"][..],
        &["export", "corr_one"][..],
    ] {
        let run = env.run_env(args, &vars);
        assert_eq!(run.code, 2, "{args:?}");
        let usage = run
            .stderr
            .lines()
            .find(|l| l.starts_with("Usage:"))
            .unwrap_or_else(|| panic!("no usage line:\n{}", run.stderr));
        assert!(!usage.contains("--repo"), "{args:?}: {usage}");
    }
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    for help in ["-h", "--help"] {
        let shown = words(&env.run(&["list", help]).ok().stdout);
        assert!(
            shown.contains("[--repo <PATH>]") || shown.contains("[OPTIONS]"),
            "{shown}"
        );
        assert!(shown.contains("[env: ARTIFACT_STORE_REPO=]"), "{shown}");
        let set = words(&env.run_env(&["list", help], &vars).ok().stdout);
        assert!(
            set.contains(&format!("[env: ARTIFACT_STORE_REPO={store}]")),
            "{set}"
        );
    }
    // The variable is honoured: list finds the set with no --repo.
    let listed = env.run_env(&["--json", "list"], &vars).ok().json();
    assert_eq!(listed["sets"].as_array().unwrap().len(), 1);
}

#[test]
fn an_empty_repo_variable_is_unset() {
    let env = Env::new();
    let work = env.path("work");
    env.run(&["init", work.to_str().unwrap()]).ok();
    let mut cmd = env.cmd(&["--json", "list"]);
    cmd.env("ARTIFACT_STORE_REPO", "").current_dir(&work);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("a value is required"), "{stderr}");
    // Outside any repository the empty variable is no path either: not found, not usage.
    let run = env.run_env(&["list"], &[("ARTIFACT_STORE_REPO", "")]);
    assert_eq!(run.code, 5, "{}", run.stderr);
}

#[test]
fn a_missing_config_file_is_a_config_error_with_exit_2() {
    let env = Env::new();
    let store = store_with_one_set(&env);
    let missing = env.path("missing.toml");
    let missing = missing.to_str().unwrap();
    for args in [
        vec![
            "--repo",
            store.as_str(),
            "--config",
            missing,
            "--json",
            "list",
        ],
        vec!["--config", missing, "--json", "list"],
        vec!["--config", missing, "--json", "scan", store.as_str()],
    ] {
        let run = env.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let body = run.json();
        assert_eq!(body["error"]["kind"], "config", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("does not exist"),
            "{body}"
        );
    }
}

#[test]
fn counts_are_singular_for_one_in_every_command_that_prints_one() {
    let env = Env::new();
    let store = env.store().to_str().unwrap().to_string();
    let a = env.write("a.txt", "alpha\n");
    let committed = commit_older(&env, &store, "t1", "one", &[a.to_str().unwrap()]);
    assert!(
        committed.stdout.starts_with("committed 1 file ("),
        "{}",
        committed.stdout
    );

    let verified = env.run(&["--repo", &store, "verify", "corr_one"]).ok();
    assert_eq!(
        verified.stdout.trim(),
        "1 artifact set, 1 file, 1 tag checked: ok"
    );

    let out = env.path("out");
    let exported = env
        .run(&[
            "--repo",
            &store,
            "export",
            "corr_one",
            "--to",
            out.to_str().unwrap(),
        ])
        .ok();
    // metadata.json is a file of the set too.
    assert!(
        exported.stdout.starts_with("exported 2 files ("),
        "{}",
        exported.stdout
    );

    // A tag on a commit whose trailer names another id: exactly one problem.
    let sha = env.git_in(Path::new(&store), &["rev-parse", "corr_one^{commit}"]);
    env.git_in(
        Path::new(&store),
        &["update-ref", "refs/tags/corr_other", &sha],
    );
    let problem = env.run(&["--repo", &store, "verify", "--all"]);
    assert_eq!(problem.code, 1, "{}", problem.stderr);
    assert!(
        problem
            .stderr
            .contains("1 artifact set, 1 file, 2 tags checked: 1 problem\n"),
        "{}",
        problem.stderr
    );
    env.git_in(
        Path::new(&store),
        &["update-ref", "-d", "refs/tags/corr_other"],
    );

    let secret = env.write(
        "leak/config.py",
        format!("key={}{}\n", "AKIA", "Q7R2M5XLK3J6WZN4"),
    );
    let scanned = env.run(&["scan", secret.parent().unwrap().to_str().unwrap()]);
    assert_eq!(scanned.code, 3, "{}", scanned.stderr);
    assert!(
        scanned
            .stderr
            .contains("1 finding in 1 file (25 B) scanned"),
        "{}",
        scanned.stderr
    );

    // gc: two branches, keep_last = 1 prunes the older with its tag.
    let b = env.write("b.txt", "beta\n");
    commit(&env, &store, "t2", "two", &[b.to_str().unwrap()], &[]);
    let policy = env.write("policy.toml", "[retention]\nkeep_last = 1\n");
    let applied = env
        .run(&[
            "--repo",
            &store,
            "gc",
            "--apply",
            "--policy",
            policy.to_str().unwrap(),
        ])
        .ok();
    assert!(
        applied.stdout.contains("moved 2 refs to"),
        "{}",
        applied.stdout
    );
    let restored = env
        .run(&["--repo", &store, "trash", "restore", "refs/tags/corr_one"])
        .ok();
    assert!(
        restored.stderr.contains("restored 1 ref (report"),
        "{}",
        restored.stderr
    );
    let purged = env
        .run(&["--repo", &store, "trash", "purge", "--older-than", "0"])
        .ok();
    assert!(
        purged
            .stdout
            .contains("purged 1 trash ref from 1 batch older than 0 days"),
        "{}",
        purged.stdout
    );

    let remote = env.bare_remote("remote.git");
    let pushed = env
        .run(&[
            "--repo",
            &store,
            "-c",
            &format!("remote_name={}", remote.display()),
            "push",
        ])
        .ok();
    assert!(
        pushed.stderr.contains(" refs pushed to ") || pushed.stderr.contains("1 ref pushed to "),
        "{}",
        pushed.stderr
    );
    let again = env
        .run(&[
            "--repo",
            &store,
            "-c",
            &format!("remote_name={}", remote.display()),
            "push",
        ])
        .ok();
    assert!(
        again.stderr.contains("0 refs pushed to "),
        "{}",
        again.stderr
    );
}

#[test]
fn scan_prints_human_sizes() {
    let env = Env::new();
    let dir = env.path("big");
    env.write("big/a.txt", vec![b'a'; 3 << 20]);
    env.write("big/b.txt", vec![b'b'; 1536]);
    let run = env.run(&["scan", dir.to_str().unwrap()]).ok();
    assert!(
        run.stderr
            .contains("0 findings in 2 files (3.0 MiB) scanned, 0 skipped"),
        "{}",
        run.stderr
    );
    // JSON keeps the exact byte count.
    let json = env
        .run(&["--json", "scan", dir.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(json["bytes_scanned"], (3 << 20) + 1536);
}

#[test]
fn ages_beyond_a_week_print_as_dates() {
    let env = Env::new();
    let store = store_with_one_set(&env);
    let shown = env
        .run(&["--repo", &store, "--json", "show", "corr_one"])
        .ok()
        .json();
    let time = chrono::DateTime::parse_from_rfc3339(shown["commit_time"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let date = chrono::DateTime::from_timestamp(time, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let later = (time + 553 * 86_400).to_string();
    let soon = (time + 3 * 86_400).to_string();
    for args in [&["list"][..], &["log", "wf/t"][..]] {
        let mut full = vec!["--repo", store.as_str()];
        full.extend_from_slice(args);
        let old = env.run_env(&full, &[("ARTIFACT_STORE_NOW", &later)]).ok();
        assert!(old.stdout.contains(&date), "{args:?}: {}", old.stdout);
        assert!(!old.stdout.contains("553d"), "{args:?}: {}", old.stdout);
        let recent = env.run_env(&full, &[("ARTIFACT_STORE_NOW", &soon)]).ok();
        assert!(
            recent.stdout.contains("3d ago"),
            "{args:?}: {}",
            recent.stdout
        );
    }
}

/// Returns the first line of `text` that starts with `first`.
fn header<'a>(text: &'a str, first: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(first))
        .unwrap_or_else(|| panic!("no line starting with {first}:\n{text}"))
}

#[test]
fn every_table_header_is_upper_case_and_trash_list_is_a_table() {
    let env = Env::new();
    let store = env.store().to_str().unwrap().to_string();
    let a = env.write("a.txt", "alpha\n");
    commit_older(&env, &store, "t1", "one", &[a.to_str().unwrap()]);
    commit(&env, &store, "t2", "two", &[a.to_str().unwrap()], &[]);
    let policy = env.write("policy.toml", "[retention]\nkeep_last = 1\n");
    let policy = policy.to_str().unwrap();
    let plan = env
        .run(&["--repo", &store, "gc", "-v", "--policy", policy])
        .ok();
    let checks = [
        header(&plan.stdout, "WORKFLOW").to_string(),
        header(&plan.stdout, "REF").to_string(),
    ];
    env.run(&["--repo", &store, "gc", "--apply", "--policy", policy])
        .ok();
    let trash = env.run(&["--repo", &store, "trash", "list"]).ok();
    let batches = header(&trash.stdout, "BATCH ").to_string();
    assert!(batches.contains("TRASHED"), "{batches}");
    assert!(
        batches.contains("REFS") && batches.contains("EXPIRES"),
        "{batches}"
    );
    let refs = trash
        .stdout
        .lines()
        .filter(|l| l.starts_with("BATCH "))
        .nth(1)
        .unwrap_or_else(|| panic!("no table of refs:\n{}", trash.stdout))
        .to_string();
    assert!(refs.contains("COMMIT") && refs.ends_with("REF"), "{refs}");
    assert!(
        trash.stdout.contains("refs/heads/ai/generated/wf/t1"),
        "{}",
        trash.stdout
    );
    let listed = env.run(&["--repo", &store, "list"]).ok();
    let logged = env.run(&["--repo", &store, "log", "wf/t2"]).ok();
    let shown = env.run(&["--repo", &store, "show", "corr_two"]).ok();
    let stats = env.run(&["--repo", &store, "stats"]).ok();
    for line in checks.iter().map(String::as_str).chain([
        batches.as_str(),
        refs.as_str(),
        header(&listed.stdout, "WORKFLOW"),
        header(&logged.stdout, "COMMIT"),
        header(&shown.stdout, "  SIZE"),
        header(&stats.stdout, "  SIZE"),
    ]) {
        assert_eq!(
            line,
            line.to_uppercase(),
            "a header not in upper case: {line}"
        );
    }
}

#[test]
fn every_read_command_has_examples_in_its_help() {
    let env = Env::new();
    for command in [
        "list", "show", "log", "diff", "verify", "stats", "export", "scan", "trash", "gc",
    ] {
        let run = env.run(&[command, "--help"]).ok();
        let examples = run
            .stdout
            .split_once("Examples:")
            .unwrap_or_else(|| panic!("{command} --help has no examples:\n{}", run.stdout))
            .1;
        assert!(
            examples.contains(&format!("artifact-store {command}")),
            "{command}: {examples}"
        );
    }
}

#[test]
fn where_refuses_an_empty_value_and_a_non_number_for_an_order() {
    let env = Env::new();
    let store = store_with_one_set(&env);
    for (filter, says) in [
        ("test_metrics.win_rate>=", "nothing to compare"),
        ("test_metrics.win_rate=", "nothing to compare"),
        ("test_metrics.win_rate>=abc", "compares numbers"),
        ("test_metrics.win_rate>abc", "compares numbers"),
        ("test_metrics.win_rate<=x1", "compares numbers"),
        ("test_metrics.win_rate<1,5", "compares numbers"),
    ] {
        let run = env.run(&["--repo", &store, "list", "--where", filter]);
        assert_eq!(run.code, 2, "{filter}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{filter}: {}", run.stderr);
        assert!(
            run.stderr.contains("e.g. --where 'test_metrics.win_rate"),
            "{filter}: {}",
            run.stderr
        );
        let json = env.run(&["--repo", &store, "--json", "list", "--where", filter]);
        assert_eq!(json.code, 2);
        assert_eq!(json.json()["error"]["kind"], "invalid_input");
    }
    // What it can compare still works.
    let ok = env
        .run(&[
            "--repo",
            &store,
            "--json",
            "list",
            "--where",
            "test_metrics.win_rate>=0.5",
        ])
        .ok()
        .json();
    assert_eq!(ok["sets"].as_array().unwrap().len(), 1);
    assert_eq!(ok["warnings"], serde_json::json!([]));
}

#[test]
fn where_on_a_key_no_set_has_warns_with_the_nearest_key() {
    let env = Env::new();
    let store = store_with_one_set(&env);
    for (filter, nearest) in [
        ("net_pnl>0", "test_metrics.net_pnl"),
        ("win_rate>=0.5", "test_metrics.win_rate"),
        ("test_metrics.netpnl>0", "test_metrics.net_pnl"),
        ("test_metric.win_rate>0", "test_metrics.win_rate"),
    ] {
        let run = env.run(&["--repo", &store, "list", "--where", filter]).ok();
        assert!(
            run.stderr.contains(&format!("did you mean \"{nearest}\"")),
            "{filter}: {}",
            run.stderr
        );
        let json = env
            .run(&["--repo", &store, "--json", "list", "--where", filter])
            .ok();
        let body = json.json();
        let warnings = body["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{body}");
        assert!(warnings[0].as_str().unwrap().contains(nearest), "{body}");
        assert!(json.stderr.contains("warning: "), "{}", json.stderr);
    }
    let far = env
        .run(&["--repo", &store, "list", "--where", "zzz_unknown=1"])
        .ok();
    assert!(
        far.stderr.contains("has the key \"zzz_unknown\""),
        "{}",
        far.stderr
    );
    assert!(!far.stderr.contains("did you mean"), "{}", far.stderr);
    // A key that exists but matches nothing is no typo: no warning.
    let none = env
        .run(&[
            "--repo",
            &store,
            "list",
            "--where",
            "test_metrics.net_pnl>1000",
        ])
        .ok();
    assert!(!none.stderr.contains("warning"), "{}", none.stderr);
}

#[test]
fn gc_dry_run_hint_keeps_the_policy_file_quoted_and_applies_the_same_plan() {
    let env = Env::new();
    let store = env.store().to_str().unwrap().to_string();
    let a = env.write("a.txt", "alpha\n");
    commit_older(&env, &store, "t1", "one", &[a.to_str().unwrap()]);
    commit(&env, &store, "t2", "two", &[a.to_str().unwrap()], &[]);
    let policy = env.write("my policies/keep one.toml", "[retention]\nkeep_last = 1\n");
    let policy = policy.to_str().unwrap();
    let plan = env
        .run(&[
            "--repo",
            &store,
            "-c",
            "durability=none",
            "gc",
            "--policy",
            policy,
        ])
        .ok();
    let hint = plan
        .stderr
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no command in the hint:\n{}", plan.stderr));
    assert!(
        hint.contains(&format!("--policy '{policy}'")),
        "the hint drops or misquotes --policy: {hint}"
    );
    assert!(hint.contains(&format!("--repo {store}")), "{hint}");
    assert!(hint.contains("-c durability=none"), "{hint}");
    assert!(
        plan.stderr.contains("moves 2 refs to the trash"),
        "{}",
        plan.stderr
    );
    // The hint, run as the shell reads it, moves what the plan showed.
    let sh = env.cmd(&[]);
    let bin = env!("CARGO_BIN_EXE_artifact-store");
    let line = hint.replacen("artifact-store", &sh_word(bin), 1);
    let mut run = Command::new("sh");
    for (key, value) in sh.get_envs() {
        if let Some(value) = value {
            run.env(key, value);
        }
    }
    let out = run
        .current_dir(sh.get_current_dir().unwrap())
        .args(["-c", &line])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{line}: {stdout}");
    assert!(stdout.contains("moved 2 refs to"), "{line}: {stdout}");
    assert!(!stdout.contains("moved nothing"), "{stdout}");
}

#[test]
fn a_long_commit_shows_progress_on_a_terminal_only() {
    let env = Env::new();
    let store = env.store().to_str().unwrap().to_string();
    // Above the pack threshold, so that blobs are written one by one with their bytes.
    let big = env.write("big.bin", vec![b'x'; 3 << 20]);
    let big = big.to_str().unwrap();
    let now = [("ARTIFACT_STORE_PROGRESS_DELAY_MS", "0")];
    let tty = run_tty(&env, &commit_args(&store, "tty", &[big])[..], &now);
    assert_eq!(tty.code, 0, "{}", tty.stdout);
    // commit_args asks for --json: no bar, even on a terminal.
    assert!(
        !tty.stdout.contains("reading and scanning"),
        "{}",
        tty.stdout
    );

    let human = |corr: &'static str| {
        vec![
            "--repo",
            &store,
            "commit",
            "--workflow",
            "wf",
            "--task",
            "t",
            "--correlation-id",
            corr,
            big,
        ]
    };
    let shown = run_tty(&env, &human("bar"), &now);
    assert_eq!(shown.code, 0, "{}", shown.stdout);
    assert!(
        shown.stdout.contains("reading and scanning"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("MiB"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("committed 1 file"),
        "{}",
        shown.stdout
    );

    let piped = env.run_env(&human("pipe"), &now).ok();
    assert!(
        !piped.stderr.contains("reading and scanning"),
        "{}",
        piped.stderr
    );
    assert!(!piped.stderr.contains('\u{1b}'), "{}", piped.stderr);

    let mut quiet_args = vec!["-q"];
    quiet_args.extend(human("quiet"));
    let quiet = run_tty(&env, &quiet_args, &now);
    assert!(
        !quiet.stdout.contains("reading and scanning"),
        "{}",
        quiet.stdout
    );

    // With the default delay a quick command draws nothing.
    let a = env.write("a.txt", "alpha\n");
    let quick = run_tty(
        &env,
        &[
            "--repo",
            &store,
            "commit",
            "--workflow",
            "wf",
            "--task",
            "q",
            "--correlation-id",
            "quick",
            a.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(quick.code, 0, "{}", quick.stdout);
    assert!(
        !quick.stdout.contains("reading and scanning"),
        "{}",
        quick.stdout
    );
}

#[test]
fn export_verify_scan_and_gc_show_progress_on_a_terminal() {
    let env = Env::new();
    let store = env.store().to_str().unwrap().to_string();
    let big = env.write("run/big.bin", vec![b'y'; 1 << 20]);
    commit(&env, &store, "t", "one", &[big.to_str().unwrap()], &[]);
    let now = [("ARTIFACT_STORE_PROGRESS_DELAY_MS", "0")];
    let out = env.path("out");
    let run_dir = env.path("run");
    let exported = run_tty(
        &env,
        &[
            "--repo",
            &store,
            "export",
            "corr_one",
            "--to",
            out.to_str().unwrap(),
        ],
        &now,
    );
    assert_eq!(exported.code, 0, "{}", exported.stdout);
    assert!(exported.stdout.contains("exporting"), "{}", exported.stdout);
    for (args, stage) in [
        (vec!["--repo", &store, "verify", "corr_one"], "verifying"),
        (
            vec!["--repo", &store, "verify", "--all"],
            "verifying artifact sets",
        ),
        (vec!["scan", run_dir.to_str().unwrap()], "scanning files"),
        (vec!["--repo", &store, "gc"], "reading task branches"),
    ] {
        let tty = run_tty(&env, &args, &now);
        assert_eq!(tty.code, 0, "{args:?}: {}", tty.stdout);
        assert!(tty.stdout.contains(stage), "{args:?}: {}", tty.stdout);
        let mut json_args = vec!["--json"];
        json_args.extend(args.iter().copied());
        let json = run_tty(&env, &json_args, &now);
        assert_eq!(json.code, 0, "{json_args:?}: {}", json.stdout);
        assert!(
            !json.stdout.contains(stage),
            "{json_args:?}: {}",
            json.stdout
        );
        let piped = env.run_env(&args, &now);
        assert!(!piped.stderr.contains(stage), "{args:?}: {}", piped.stderr);
    }
}
