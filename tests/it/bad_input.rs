//! Bad input gets a clear error, the documented exit code, and changes nothing.

use crate::common;

use common::Env;

struct Case {
    name: &'static str,
    args: Vec<String>,
    code: i32,
    kind: &'static str,
    says: &'static str,
}

fn case(
    name: &'static str,
    code: i32,
    kind: &'static str,
    says: &'static str,
    args: &[&str],
) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        kind,
        says,
    }
}

#[test]
fn every_bad_input_is_refused_with_its_exit_code_and_the_repository_is_unchanged() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let good = env.write("in/good.txt", "ok\n");
    let good = good.to_str().unwrap();
    // One real commit first, so "unchanged" is measured on a store with history.
    env.run(&[
        "--repo",
        s,
        "commit",
        "-w",
        "wf",
        "-t",
        "t",
        "--correlation-id",
        "seed",
        good,
    ])
    .ok();

    let dup_a = env.write("a/x.txt", "1");
    let dup_b = env.write("b/x.txt", "2");
    let big = env.write("big.bin", vec![b'x'; 4096]);
    let outside = env.path("linkdir");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("fine.txt"), "x").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", outside.join("passwd")).unwrap();
    let toplink = env.path("toplink");
    std::os::unix::fs::symlink(good, &toplink).unwrap();
    let empty = env.path("emptydir");
    std::fs::create_dir_all(&empty).unwrap();
    let array_meta = env.write("array.json", "[1, 2]");
    let broken_meta = env.write("broken.json", "{\"a\": ");
    let fifo = env.path("fifo");
    let made_fifo = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let long = "x".repeat(129);

    let base = |wf: &str, task: &str, corr: &str| -> Vec<String> {
        [
            "--repo",
            s,
            "--json",
            "commit",
            "-w",
            wf,
            "-t",
            task,
            "--correlation-id",
            corr,
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let with = |mut v: Vec<String>, extra: &[&str]| -> Vec<String> {
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let mut cases = vec![case(
        "workflow with a space",
        2,
        "invalid_id",
        "workflow id",
        &with(base("wf x", "t", "c"), &[good])
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
    )];
    let table: Vec<(&str, i32, &str, &str, Vec<String>)> = vec![
        (
            "workflow with ..",
            2,
            "invalid_id",
            "'..'",
            with(base("a..b", "t", "c"), &[good]),
        ),
        (
            "task with /",
            2,
            "invalid_id",
            "task id",
            with(base("wf", "a/b", "c"), &[good]),
        ),
        (
            "task with a control character",
            2,
            "invalid_id",
            "control character",
            with(base("wf", "t\u{7}", "c"), &[good]),
        ),
        (
            "task ending in .lock",
            2,
            "invalid_id",
            ".lock",
            with(base("wf", "t.lock", "c"), &[good]),
        ),
        (
            "empty workflow",
            2,
            "invalid_id",
            "empty",
            with(base("", "t", "c"), &[good]),
        ),
        (
            "workflow over 128",
            2,
            "invalid_id",
            "longer than 128",
            with(base(&long, "t", "c"), &[good]),
        ),
        (
            "correlation id with a space",
            2,
            "invalid_id",
            "correlation id",
            with(base("wf", "t", "a b"), &[good]),
        ),
        (
            "correlation id of only the prefix",
            2,
            "invalid_id",
            "correlation id",
            with(base("wf", "t", "corr_"), &[good]),
        ),
        (
            "prompt hash too short",
            2,
            "invalid_id",
            "prompt hash",
            with(base("wf", "t", "c"), &["--prompt-hash", "abc", good]),
        ),
        (
            "prompt hash with a dash",
            2,
            "invalid_id",
            "prompt hash",
            with(base("wf", "t", "c"), &["--prompt-hash", "ab-cd", good]),
        ),
        (
            "missing file",
            2,
            "invalid_path",
            "no such file",
            with(base("wf", "t", "c"), &["/nonexistent/file.txt"]),
        ),
        (
            "symlink out of the directory",
            2,
            "invalid_path",
            "outside",
            with(base("wf", "t", "c"), &[outside.to_str().unwrap()]),
        ),
        (
            "symlink given directly",
            2,
            "invalid_path",
            "symbolic link",
            with(base("wf", "t", "c"), &[toplink.to_str().unwrap()]),
        ),
        (
            "two inputs to one path",
            2,
            "invalid_input",
            "both map to",
            with(
                base("wf", "t", "c"),
                &[dup_a.to_str().unwrap(), dup_b.to_str().unwrap()],
            ),
        ),
        (
            "metadata that is an array",
            2,
            "invalid_input",
            "JSON object",
            with(
                base("wf", "t", "c"),
                &["--metadata", array_meta.to_str().unwrap(), good],
            ),
        ),
        (
            "metadata that is not JSON",
            2,
            "invalid_input",
            "not valid JSON",
            with(
                base("wf", "t", "c"),
                &["--metadata", broken_meta.to_str().unwrap(), good],
            ),
        ),
        (
            "metadata file missing",
            2,
            "invalid_path",
            "no such metadata file",
            with(
                base("wf", "t", "c"),
                &["--metadata", "/nonexistent.json", good],
            ),
        ),
        (
            "--set without =",
            2,
            "invalid_input",
            "key=value",
            with(base("wf", "t", "c"), &["--set", "novalue", good]),
        ),
        (
            "no files at all",
            2,
            "invalid_input",
            "no files",
            base("wf", "t", "c"),
        ),
        (
            "only an empty directory",
            2,
            "invalid_input",
            "empty",
            with(base("wf", "t", "c"), &[empty.to_str().unwrap()]),
        ),
        (
            "file over the size limit",
            2,
            "invalid_path",
            "over the limit",
            with(
                vec!["-c".into(), "max_file_size=1KB".into()],
                &base("wf", "t", "c")
                    .iter()
                    .map(|s| s.as_str())
                    .chain([big.to_str().unwrap()])
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "unknown status",
            2,
            "invalid_input",
            "neither",
            with(base("wf", "t", "c"), &["--status", "maybe", good]),
        ),
        (
            "bad config override",
            2,
            "config",
            "unknown key",
            with(
                vec!["-c".into(), "nope=1".into()],
                &base("wf", "t", "c")
                    .iter()
                    .map(|s| s.as_str())
                    .chain([good])
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "failed status when passed is required",
            2,
            "invalid_input",
            "require_test_passed",
            with(
                vec!["-c".into(), "require_test_passed=true".into()],
                &base("wf", "t", "c")
                    .iter()
                    .map(|s| s.as_str())
                    .chain(["--status", "failed", good])
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "no correlation id when one is required",
            2,
            "invalid_input",
            "correlation id is required",
            vec![
                "--repo".into(),
                s.into(),
                "--json".into(),
                "commit".into(),
                "-w".into(),
                "wf".into(),
                "-t".into(),
                "t".into(),
                good.into(),
            ],
        ),
        (
            "no repository",
            5,
            "no_repository",
            "not a git repository",
            vec![
                "--repo".into(),
                env.path("nowhere").to_str().unwrap().into(),
                "--json".into(),
                "commit".into(),
                "-w".into(),
                "wf".into(),
                "-t".into(),
                "t".into(),
                "--correlation-id".into(),
                "c".into(),
                good.into(),
            ],
        ),
    ];
    for (name, code, kind, says, args) in table {
        cases.push(Case {
            name,
            args,
            code,
            kind,
            says,
        });
    }
    if made_fifo {
        cases.push(Case {
            name: "a fifo",
            args: with(base("wf", "t", "c"), &[fifo.to_str().unwrap()]),
            code: 2,
            kind: "invalid_path",
            says: "not a regular file",
        });
    }

    for case in &cases {
        let run = env.refused_unchanged(&store, &case.args, case.code, case.kind);
        assert!(
            run.stderr.starts_with("error: ") && run.stderr.contains(case.says),
            "{}: stderr should say {:?}:\n{}",
            case.name,
            case.says,
            run.stderr
        );
    }
}

#[test]
fn usage_errors_exit_2_and_help_teaches() {
    let env = Env::new();
    let run = env.run(&["commit", "--workflow"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let help = env.run(&["commit", "--help"]).ok();
    for needle in [
        "--correlation-id",
        "--set",
        "--metadata",
        "--force",
        "duplicate",
        "Example",
    ] {
        assert!(
            help.stdout.contains(needle),
            "commit --help should mention {needle}:\n{}",
            help.stdout
        );
    }
    let top = env.run(&["--help"]).ok();
    assert!(top.stdout.contains("Exit codes"), "{}", top.stdout);
}
