//! The scanner's path globs (`allow_paths`): every pattern form the configuration accepts,
//! pinned case by case, and the same globs honoured by `scan PATH`, `scan --staged` (the
//! pre-commit hook's view) and `commit`.

use crate::common;

use std::path::Path;

use artifact_store::scan::{FileScan, ScanConfig, ScanError, Scanner, SkipReason};
use common::{commit_args, Env, Run};

/// A fake token built at run time: `ghp_` and 36 characters of a fixed pattern.
fn github_token() -> String {
    format!(
        "ghp_{}",
        "R7kQ2xW9mZp4Lc8VbN3s"
            .repeat(2)
            .get(..36)
            .unwrap_or_default()
    )
}

fn scanner(globs: &[&str]) -> Scanner {
    let config = ScanConfig {
        allow_paths: globs.iter().map(|g| g.to_string()).collect(),
        ..ScanConfig::default()
    };
    Scanner::new(&config).unwrap_or_else(|e| panic!("{globs:?} is refused: {e}"))
}

/// Returns whether `path` is skipped by `glob`, checked through every entry point of the
/// scanner that takes a path: a blob, a stream and a text value. They must agree.
fn skipped(glob: &str, path: &str) -> bool {
    let scanner = scanner(&[glob]);
    let data = format!("token = {}\n", github_token());
    let blob = match scanner.scan_bytes(path, data.as_bytes()) {
        FileScan::Skipped(SkipReason::AllowedPath) => true,
        FileScan::Findings(found) => {
            assert_eq!(found.len(), 1, "{glob:?} on {path:?}: {found:?}");
            false
        }
    };
    let mut stream = scanner.stream(path);
    stream.update(data.as_bytes());
    let streamed = matches!(stream.finish(), FileScan::Skipped(SkipReason::AllowedPath));
    let text = scanner.scan_text(path, &data).is_empty();
    assert_eq!(
        (blob, blob),
        (streamed, text),
        "{glob:?} on {path:?}: blob, stream and text disagree"
    );
    blob
}

/// Checks each `(path, expected)` against `glob`, and reports every mismatch at once.
#[track_caller]
fn check(glob: &str, cases: &[(&str, bool)]) {
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(path, want)| skipped(glob, path) != *want)
        .map(|(path, want)| format!("{glob:?} on {path:?}: expected skipped={want}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_star_matches_within_one_segment() {
    check(
        "docs/*.md",
        &[
            ("docs/a.md", true),
            ("docs/.md", true),
            ("docs/sub/a.md", false),
            ("xdocs/a.md", false),
            ("docs/a.mdx", false),
            ("a/docs/a.md", false),
        ],
    );
    check(
        "src/*",
        &[("src/a", true), ("src/", true), ("src/a/b", false)],
    );
    check(
        "*/x.txt",
        &[
            ("a/x.txt", true),
            ("/x.txt", true),
            ("x.txt", false),
            ("a/b/x.txt", false),
        ],
    );
    check(
        "a*b*c",
        &[
            ("abc", true),
            ("aXbYc", true),
            ("dir/aXbYc", true),
            ("aX/bc", false),
            ("aXbYcZ", false),
        ],
    );
}

#[test]
fn a_glob_without_a_slash_matches_the_whole_path_or_the_file_name_at_any_depth() {
    check(
        "*.lock",
        &[
            ("Cargo.lock", true),
            ("deep/dir/Cargo.lock", true),
            (".lock", true),
            ("Cargo.lock.bak", false),
            ("lock/Cargo.toml", false),
        ],
    );
    check(
        "*",
        &[("a", true), ("a/b", true), ("x/y/.env", true), ("", true)],
    );
    check(
        "secrets.txt",
        &[
            ("secrets.txt", true),
            ("a/b/secrets.txt", true),
            ("secrets.txt/x", false),
            ("xsecrets.txt", false),
        ],
    );
    check(
        ".env",
        &[(".env", true), ("app/.env", true), ("app/x.env", false)],
    );
    check(
        "*.env",
        &[(".env", true), ("app/.env", true), ("app/x.env", true)],
    );
}

#[test]
fn a_question_mark_matches_one_character_of_a_segment() {
    check(
        "file?.txt",
        &[
            ("file1.txt", true),
            ("d/fileé.txt", true),
            ("file10.txt", false),
            ("file.txt", false),
        ],
    );
    check("a?b", &[("axb", true), ("a/b", false), ("ab", false)]);
    check("x/?", &[("x/y", true), ("x/", false), ("x/yz", false)]);
}

#[test]
fn a_double_star_with_a_slash_matches_whole_segments() {
    check(
        "fixtures/**",
        &[
            ("fixtures/a", true),
            ("fixtures/a/b/c.txt", true),
            ("fixtures/", true),
            ("fixtures", false),
            ("fixturesX/a", false),
            ("x/fixtures/a", false),
        ],
    );
    check(
        "**/test_*.py",
        &[
            ("test_a.py", true),
            ("a/b/test_a.py", true),
            ("/test_a.py", true),
            ("a/b/xtest_a.py", false),
            ("test_a/b.py", false),
        ],
    );
    check(
        "a/**/z.txt",
        &[
            ("a/z.txt", true),
            ("a/b/c/z.txt", true),
            ("a//z.txt", true),
            ("b/z.txt", false),
            ("a/bz.txt", false),
            ("xa/z.txt", false),
            ("a/z.txt/y", false),
        ],
    );
    check(
        "**/node_modules/**",
        &[
            ("node_modules/x", true),
            ("a/node_modules/b/c", true),
            ("node_modules", false),
            ("a/node_modulesx/b", false),
        ],
    );
    check(
        "a/**/b/**",
        &[
            ("a/b/c", true),
            ("a/x/b/y/z", true),
            ("a/b", false),
            ("a/xb/c", false),
        ],
    );
    check(
        "**/",
        &[("a/", true), ("a/b/", true), ("a", false), ("a/b", false)],
    );
    check("**", &[("a", true), ("a/b/c", true), ("", true)]);
}

/// A `**` that is not followed by `/` matches the rest of the path, `/` included, and
/// whatever the glob says after it is not looked at; a `**/` inside a segment matches the
/// rest of that segment and any number of whole segments after it.
#[test]
fn a_double_star_inside_a_segment_keeps_its_meaning() {
    check(
        "a**",
        &[
            ("a", true),
            ("abc", true),
            ("a/b/c", true),
            ("x/abc", true),
            ("ba", false),
        ],
    );
    check(
        "a/b**",
        &[
            ("a/b", true),
            ("a/bc/d", true),
            ("a/c", false),
            ("x/a/b", false),
        ],
    );
    check("**.txt", &[("a.txt", true), ("a/b/c.rs", true), ("", true)]);
    check(
        "x/**z/y",
        &[("x/", true), ("x/anything/at/all", true), ("y/x/a", false)],
    );
    check("a***", &[("a", true), ("a/b", true), ("b", false)]);
    check(
        "a**/b",
        &[
            ("ab", true),
            ("ax/b", true),
            ("a/b", true),
            ("ax/y/b", true),
            ("xa/b", false),
            ("ax/bc", false),
        ],
    );
    check(
        "d/x**/**/y",
        &[
            ("d/xy", true),
            ("d/x1/y", true),
            ("d/x1/2/3/y", true),
            ("d/y", false),
            ("d/x1/y/z", false),
        ],
    );
}

#[test]
fn a_backslash_makes_the_next_character_literal() {
    check("a\\*b", &[("a*b", true), ("axb", false), ("a\\*b", false)]);
    check(
        "\\?.txt",
        &[("?.txt", true), ("d/?.txt", true), ("a.txt", false)],
    );
    check("a\\\\b", &[("a\\b", true), ("ab", false)]);
    check("a\\", &[("a\\", true), ("a", false)]);
    check("a\\/b", &[("a/b", true), ("x/a/b", false)]);
    check("\\**", &[("*", true), ("*x", true), ("x*", false)]);
    check("\\a\\b", &[("ab", true), ("x/ab", true), ("\\a\\b", false)]);
}

/// Brackets and braces are not glob syntax: they match themselves.
#[test]
fn brackets_and_braces_match_themselves() {
    check(
        "[abc].txt",
        &[("[abc].txt", true), ("d/[abc].txt", true), ("a.txt", false)],
    );
    check(
        "file[0-9].log",
        &[("file[0-9].log", true), ("file1.log", false)],
    );
    check("[!a]", &[("[!a]", true), ("b", false)]);
    check("[", &[("[", true), ("x/[", true)]);
    check("]", &[("]", true)]);
    check(
        "*.{js,ts}",
        &[("a.{js,ts}", true), ("a.js", false), ("a.ts", false)],
    );
    check("{", &[("{", true)]);
    check("a,b", &[("a,b", true), ("a", false)]);
    check("!x", &[("!x", true), ("y", false)]);
    check("^a$.(b)|c+", &[("^a$.(b)|c+", true), ("a.b", false)]);
}

#[test]
fn a_leading_slash_or_dot_slash_and_a_trailing_slash() {
    check(
        "/abs/**",
        &[("/abs/x", true), ("/abs/x/y", true), ("abs/x", false)],
    );
    check(
        "/x.txt",
        &[("/x.txt", true), ("x.txt", false), ("a/x.txt", false)],
    );
    check(
        "./docs/*.md",
        &[
            ("docs/a.md", true),
            ("./docs/a.md", true),
            ("x/docs/a.md", false),
        ],
    );
    // Once `./` is gone the glob has no `/`: it matches file names.
    check(
        "./*.lock",
        &[("deep/x.lock", true), ("x.lock", true), ("x.lockx", false)],
    );
    check(
        "*.md",
        &[("./a.md", true), ("././a.md", true), ("./x/a.md", true)],
    );
    check(".//a", &[("/a", true), ("a", false)]);
    check(
        "fixtures/",
        &[
            ("fixtures/", true),
            ("fixtures/a", false),
            ("fixtures", false),
        ],
    );
    check(
        "fixtures/**/",
        &[
            ("fixtures/a/", true),
            ("fixtures/", true),
            ("fixtures/a", false),
        ],
    );
}

#[test]
fn globs_are_case_sensitive_and_unicode_aware() {
    check("*.LOCK", &[("a.LOCK", true), ("a.lock", false)]);
    check(
        "日本/*.txt",
        &[("日本/ファイル.txt", true), ("日本/a/b.txt", false)],
    );
    check(
        "?.txt",
        &[("é.txt", true), ("日.txt", true), ("ab.txt", false)],
    );
    check("a?c", &[("a\u{1F600}c", true)]);
    check("a b/*", &[("a b/c d", true), ("ab/c", false)]);
}

#[test]
fn any_of_several_globs_skips_a_path() {
    let scanner = scanner(&["fixtures/**", "*.snap", "docs/*.md"]);
    let data = format!("token = {}\n", github_token());
    for (path, want) in [
        ("fixtures/a/b", true),
        ("x/y.snap", true),
        ("docs/a.md", true),
        ("docs/a/b.md", false),
        ("src/main.rs", false),
    ] {
        let got = matches!(
            scanner.scan_bytes(path, data.as_bytes()),
            FileScan::Skipped(SkipReason::AllowedPath)
        );
        assert_eq!(got, want, "{path:?}");
    }
}

#[test]
fn an_empty_glob_is_refused() {
    for glob in ["", "./"] {
        let config = ScanConfig {
            allow_paths: vec!["ok/**".into(), glob.into()],
            ..ScanConfig::default()
        };
        match Scanner::new(&config) {
            Err(ScanError::InvalidGlob { glob: named, .. }) => assert_eq!(named, glob),
            other => panic!("{glob:?}: {other:?}"),
        }
    }
}

fn assert_no_leak(token: &str, run: &Run) {
    assert!(
        !run.stdout.contains(token) && !run.stderr.contains(token),
        "the secret leaked:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

/// Writes the same secret to files under `work/`, and the `allow_paths` of its config.
fn tree_with_secrets(env: &Env, globs: &str) -> (std::path::PathBuf, String) {
    let token = github_token();
    let work = env.path("work");
    for rel in [
        "fixtures/a/key.txt",
        "src/x.snap",
        "src/main.txt",
        "[f]ixtures/b.txt",
        "logs/app.txt",
    ] {
        env.write(&format!("work/{rel}"), format!("token = {token}\n"));
    }
    env.write(
        "work/artifact-store.toml",
        format!("[scan]\nallow_paths = {globs}\n"),
    );
    (work, token)
}

fn run_in(env: &Env, dir: &Path, args: &[&str]) -> Run {
    let out = env.cmd(args).current_dir(dir).output().expect("run");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn paths_of(report: &serde_json::Value, key: &str, field: &str) -> Vec<String> {
    let mut paths: Vec<String> = report[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key}: {report}"))
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_string())
        .collect();
    paths.sort();
    paths
}

const GLOBS: &str = r#"["fixtures/**", "*.snap", "[l]ogs/**", "src/*.{txt,log}"]"#;

#[test]
fn scan_path_and_scan_staged_skip_the_same_paths() {
    let env = Env::new();
    let (work, token) = tree_with_secrets(&env, GLOBS);
    let config = work.join("artifact-store.toml");
    let c = config.to_str().unwrap();

    let scanned = run_in(
        &env,
        &work,
        &[
            "--config",
            c,
            "scan",
            "--json",
            "fixtures",
            "src",
            "[f]ixtures",
            "logs",
        ],
    );
    assert_eq!(scanned.code, 3, "{}\n{}", scanned.stdout, scanned.stderr);
    assert_no_leak(&token, &scanned);
    let report = scanned.json();
    let found = paths_of(&report, "findings", "path");
    let skipped = paths_of(&report, "skipped", "path");
    assert_eq!(found, ["[f]ixtures/b.txt", "logs/app.txt", "src/main.txt"]);
    assert_eq!(skipped, ["fixtures/a/key.txt", "src/x.snap"]);

    let git = |args: &[&str]| {
        let run = env.git(&[&["-C", work.to_str().unwrap()], args].concat());
        assert_eq!(run.code, 0, "{}", run.stderr);
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    let staged = run_in(&env, &work, &["scan", "--staged", "--json"]);
    assert_eq!(staged.code, 3, "{}\n{}", staged.stdout, staged.stderr);
    assert_no_leak(&token, &staged);
    let report = staged.json();
    assert_eq!(paths_of(&report, "findings", "path"), found);
    assert_eq!(paths_of(&report, "skipped", "path"), skipped);

    // The pre-commit hook reads the same config and blocks on the same files.
    let hook = run_in(&env, &work, &["hook", "pre-commit"]);
    assert_eq!(hook.code, 3, "{}\n{}", hook.stdout, hook.stderr);
    assert_no_leak(&token, &hook);
    for path in &found {
        assert!(
            hook.stderr.contains(&format!("{path}:1:")),
            "{}",
            hook.stderr
        );
    }
    for path in &skipped {
        assert!(!hook.stderr.contains(path.as_str()), "{}", hook.stderr);
    }
}

#[test]
fn commit_skips_allowed_file_names_and_refuses_the_rest_unchanged() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    std::fs::write(
        store.join("artifact-store.toml"),
        "[scan]\nallow_paths = [\"*.snap\", \"**/golden/**\", \"[x].txt\"]\n",
    )
    .unwrap();
    let snap = env.write("in/out.snap", format!("token = {}\n", github_token()));
    let ok = env.run(&commit_args(s, "c1", &[snap.to_str().unwrap()]));
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    env.fsck(&store);

    // Another token, so that the object database can be searched for it.
    let token = github_token().replace('R', "T");
    for (i, name) in ["out.snap.txt", "x.txt", "a.SNAP"].iter().enumerate() {
        let file = env.write(&format!("in{i}/{name}"), format!("token = {token}\n"));
        let before = env.snapshot(&store);
        let corr = format!("c2_{i}");
        let refused = env.run(&commit_args(s, &corr, &[file.to_str().unwrap()]));
        assert_eq!(
            refused.code, 3,
            "{name}: {}\n{}",
            refused.stdout, refused.stderr
        );
        assert!(refused.stdout.contains(name), "{name}: {}", refused.stdout);
        assert_no_leak(&token, &refused);
        assert_eq!(env.snapshot(&store), before, "{name}");
        env.fsck(&store);
        let objects = env.git_in(&store, &["cat-file", "--batch-all-objects", "--batch"]);
        assert!(
            !objects.contains(&token),
            "{name}: the secret is in the store"
        );
    }
}

#[test]
fn an_empty_glob_in_the_config_refuses_scan_and_commit_and_changes_nothing() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let token = github_token();
    let file = env.write("in/a.txt", format!("token = {token}\n"));
    for glob in ["", "./"] {
        std::fs::write(
            store.join("artifact-store.toml"),
            format!("[scan]\nallow_paths = [\"*.txt\", {glob:?}]\n"),
        )
        .unwrap();
        let before = env.snapshot(&store);
        let commit = env.run(&commit_args(s, "e1", &[file.to_str().unwrap()]));
        assert_eq!(
            commit.code, 2,
            "{glob:?}: {}\n{}",
            commit.stdout, commit.stderr
        );
        assert_eq!(
            commit.json()["error"]["kind"],
            "config",
            "{}",
            commit.stdout
        );
        assert!(
            commit
                .stderr
                .contains(&format!("invalid path glob `{glob}`: empty glob")),
            "{glob:?}: {}",
            commit.stderr
        );
        assert_no_leak(&token, &commit);
        assert_eq!(env.snapshot(&store), before, "{glob:?}");
        env.fsck(&store);

        let scan = env.run(&["--repo", s, "--json", "scan", file.to_str().unwrap()]);
        assert_eq!(scan.code, 2, "{glob:?}: {}\n{}", scan.stdout, scan.stderr);
        assert_eq!(scan.json()["error"]["kind"], "config", "{}", scan.stdout);
        assert_no_leak(&token, &scan);
    }
}
