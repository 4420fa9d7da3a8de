//! Secrets do not slip through an encoding, a glued prefix, a JSON escape, an allow marker
//! on a neighbouring line, or an AWS key id assignment with an unusual alphabet: through
//! `scan` (exit 3), `scan --staged`, the streaming scan of large files, and `commit`
//! (exit 3, nothing written, no secret bytes in the object database).

use crate::common;

use std::path::Path;

use artifact_store::scan::{FileScan, Scanner};
use common::{commit_args, Env, Run};

/// Fake secrets built at run time, so this file holds no literal: (rule id, secret).
fn secrets() -> Vec<(&'static str, String)> {
    vec![
        (
            "github-pat",
            format!("{}{}", "ghp_", "R7cVq2LmN8xT4bZ9wK1pH6sD3fJ0aY5eU2iO"),
        ),
        (
            "stripe-secret-key",
            format!("sk_{}_{}", "live", "Zq8Rk2Vw7Lp4Xn9Tb3Hc6Mf1Yd5G"),
        ),
        (
            "aws-access-key-id",
            format!("{}{}", "AKIA", "Q7R2M5XLK3J6WZN4"),
        ),
        (
            "slack-bot-token",
            format!(
                "{}{}",
                "xoxb-", "1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
            ),
        ),
        (
            "gitlab-pat",
            format!("{}{}", "glpat-", "Xy7Kp2Lm9Qr4Tz8Wn3Vb"),
        ),
        (
            "gcp-api-key",
            format!("{}{}", "AIza", "SyD4k7Lm2Qp9Xr5Tv8Wz1Nb6Hc3Jf0Gy7Ue"),
        ),
        (
            "sendgrid-api-token",
            format!(
                "{}{}.{}",
                "SG.", "Ab3Cd5Ef7Gh9Ij1Kl3Mn5P", "Qr7St9Uv1Wx3Yz5Ab7Cd9Ef1Gh3Ij5Kl7Mn9Op1Qr3S"
            ),
        ),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Enc {
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

const ENCODINGS: [Enc; 4] = [Enc::Utf16Le, Enc::Utf16Be, Enc::Utf32Le, Enc::Utf32Be];

/// Encodes `text` as PowerShell's `>` and other Windows tools write it.
fn encode(text: &str, enc: Enc, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let chars = std::iter::once('\u{feff}')
        .filter(|_| bom)
        .chain(text.chars());
    for ch in chars {
        match enc {
            Enc::Utf16Le | Enc::Utf16Be => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    match enc {
                        Enc::Utf16Le => out.extend_from_slice(&unit.to_le_bytes()),
                        _ => out.extend_from_slice(&unit.to_be_bytes()),
                    }
                }
            }
            Enc::Utf32Le => out.extend_from_slice(&(ch as u32).to_le_bytes()),
            Enc::Utf32Be => out.extend_from_slice(&(ch as u32).to_be_bytes()),
        }
    }
    out
}

fn utf16le(text: &str) -> Vec<u8> {
    encode(text, Enc::Utf16Le, false)
}

/// A text holding every secret, each on its own line (lines 2, 3, ...).
fn secrets_text() -> String {
    let mut text = String::from("# settings written by a generated script\r\n");
    for (_, secret) in secrets() {
        text.push_str(&format!("value: {secret}\r\n"));
    }
    text
}

#[track_caller]
fn assert_not_leaked(secret: &str, run: &Run) {
    for (name, out) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!out.contains(secret), "{name} holds the secret:\n{out}");
        assert!(
            !out.contains(&secret[5..]),
            "{name} holds a tail of the secret:\n{out}"
        );
    }
}

fn scan_json(env: &Env, path: &Path) -> Run {
    env.run(&["scan", "--format", "json", path.to_str().unwrap()])
}

/// The (rule id, line) of each finding of a `scan --format json` run.
fn found(run: &Run) -> Vec<(String, u64)> {
    run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Asserts that the object database holds none of the secrets, neither as UTF-8 nor in
/// any of the wide encodings.
#[track_caller]
fn assert_odb_clean(env: &Env, repo: &Path, secrets: &[String]) {
    let out = env
        .git_cmd(&[
            "-C",
            repo.to_str().unwrap(),
            "cat-file",
            "--batch-all-objects",
            "--batch",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let haystack = out.stdout;
    for secret in secrets {
        let mut forms = vec![secret.as_bytes().to_vec()];
        for enc in ENCODINGS {
            forms.push(encode(secret, enc, false));
        }
        for form in forms {
            assert!(
                !haystack.windows(form.len()).any(|w| w == form.as_slice()),
                "the object database holds a form of a secret"
            );
        }
    }
}

/// Commits `files` (paths under the sandbox) with extra args; returns the run after
/// checking that it was refused for a secret and left the store untouched.
#[track_caller]
fn assert_commit_refused(env: &Env, files: &[&Path], extra: &[&str], secrets: &[String]) -> Run {
    let store = env.path("store.git");
    if !store.exists() {
        env.store();
        let seed = env.write("seed/seed.txt", "ok\n");
        env.run(&commit_args(
            store.to_str().unwrap(),
            "seed",
            &[seed.to_str().unwrap()],
        ))
        .ok();
    }
    let s = store.to_str().unwrap();
    let before = env.snapshot(&store);
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let mut args = commit_args(s, "leak", &names);
    args.extend_from_slice(extra);
    let run = env.run(&args);
    assert_eq!(
        run.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.json()["error"]["kind"], "secret_detected");
    for secret in secrets {
        assert_not_leaked(secret, &run);
    }
    assert_eq!(
        env.snapshot(&store),
        before,
        "nothing reached the repository"
    );
    env.fsck(&store);
    assert_odb_clean(env, &store, secrets);
    run
}

fn all_secrets() -> Vec<String> {
    secrets().into_iter().map(|(_, s)| s).collect()
}

#[test]
fn every_wide_encoding_is_decoded_and_scanned_with_every_rule_family() {
    let env = Env::new();
    let text = secrets_text();
    let expected: Vec<(String, u64)> = secrets()
        .iter()
        .enumerate()
        .map(|(i, (rule, _))| (rule.to_string(), i as u64 + 2))
        .collect();
    for enc in ENCODINGS {
        for bom in [true, false] {
            let path = env.write(&format!("out-{enc:?}-{bom}.txt"), encode(&text, enc, bom));
            let run = scan_json(&env, &path);
            assert_eq!(run.code, 3, "{enc:?} bom={bom}: {}", run.stdout);
            let mut got = found(&run);
            got.sort_by_key(|(_, line)| *line);
            assert_eq!(got, expected, "{enc:?} bom={bom}");
            for secret in all_secrets() {
                assert_not_leaked(&secret, &run);
            }
            let first = &run.json()["findings"][0];
            assert_eq!(first["column"], 8, "columns count decoded characters");
            assert_eq!(first["redacted"], "ghp_****");
        }
    }
}

#[test]
fn a_commit_of_a_wide_encoded_secret_is_refused_and_writes_nothing() {
    let env = Env::new();
    let text = secrets_text();
    for enc in ENCODINGS {
        for bom in [true, false] {
            let f = env.write(
                &format!("run-{enc:?}-{bom}/out.txt"),
                encode(&text, enc, bom),
            );
            let run = assert_commit_refused(&env, &[&f], &[], &all_secrets());
            let findings = run.json()["error"]["findings"].as_array().unwrap().len();
            assert_eq!(findings, secrets().len(), "{enc:?} bom={bom}");
        }
    }
}

#[test]
fn wide_text_without_a_bom_is_found_among_other_bytes_and_short_texts() {
    let scanner = Scanner::builtin();
    for (rule, secret) in secrets() {
        // As short as it gets: the token alone, and a token after a binary-looking header.
        for enc in ENCODINGS {
            let alone = encode(&secret, enc, false);
            let ids: Vec<String> = scanner
                .scan_bytes("a.bin", &alone)
                .findings()
                .iter()
                .map(|f| f.rule_id.clone())
                .collect();
            assert_eq!(ids, [rule], "{enc:?} alone");
        }
        let mut odd = vec![0x7fu8];
        odd.extend(utf16le(&format!("key {secret}\n")));
        let f = scanner.scan_bytes("odd.dat", &odd);
        assert!(
            f.findings().iter().any(|f| f.rule_id == rule),
            "utf-16 at an odd offset: {f:?}"
        );
    }
}

#[test]
fn large_wide_files_are_streamed_decoded_and_refused() {
    let env = Env::new();
    let (_, secret) = secrets().remove(0);
    let mut text = String::with_capacity(5 << 20);
    let mut lines = 0;
    while text.len() < (5 << 20) {
        text.push_str("plain words of a long generated log line, nothing secret here\n");
        lines += 1;
    }
    text.push_str(&format!("token {secret}\n"));
    let data = encode(&text, Enc::Utf16Le, true);
    assert!(data.len() as u64 > artifact_store::scan::LARGE_FILE_BYTES);
    let path = env.write("big/log.txt", &data);
    let run = scan_json(&env, &path);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_eq!(found(&run), [("github-pat".to_string(), lines + 1)]);
    assert_not_leaked(&secret, &run);
    let streamed = Scanner::builtin()
        .scan_reader("log.txt", &data[..])
        .unwrap()
        .0;
    assert_eq!(streamed, Scanner::builtin().scan_bytes("log.txt", &data));
    assert_commit_refused(&env, &[&path], &[], &[secret]);
}

#[test]
fn scan_staged_decodes_wide_blobs() {
    let env = Env::new();
    let work = env.path("work");
    env.git(&["init", "-q", work.to_str().unwrap()]).ok();
    let (_, secret) = secrets().remove(1);
    std::fs::write(
        work.join("out.txt"),
        encode(&format!("k: {secret}\n"), Enc::Utf16Be, true),
    )
    .unwrap();
    env.git_in(&work, &["add", "out.txt"]);
    let mut cmd = env.cmd(&["scan", "--staged", "--format", "json"]);
    cmd.current_dir(&work);
    let out = cmd.output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert_eq!(found(&run), [("stripe-secret-key".to_string(), 1)]);
    assert_not_leaked(&secret, &run);
}

const GLUES: [&str; 5] = ["config_token_", "pre_", "x", "my_", "Z9"];

#[test]
fn tokens_glued_to_an_identifier_are_found() {
    let env = Env::new();
    let mut text = String::new();
    let mut expected = Vec::new();
    for glue in GLUES {
        for (rule, secret) in secrets() {
            if rule == "gcp-api-key" && glue.ends_with(|c: char| c.is_ascii_alphanumeric()) {
                // `AIza` is too plain a prefix: glued after a letter or digit it occurs in
                // random base62 text, so it counts only after `_` or punctuation.
                continue;
            }
            text.push_str(&format!("{glue}{secret}\n"));
            expected.push((rule.to_string(), expected.len() as u64 + 1));
        }
    }
    for name in ["glued.txt", "glued.py"] {
        let path = env.write(name, &text);
        let run = scan_json(&env, &path);
        assert_eq!(run.code, 3, "{}", run.stdout);
        let mut got = found(&run);
        got.sort_by_key(|(_, line)| *line);
        assert_eq!(got, expected, "{name}");
        for secret in all_secrets() {
            assert_not_leaked(&secret, &run);
        }
    }
    let f = env.write("c/glued.txt", &text);
    assert_commit_refused(&env, &[&f], &[], &all_secrets());
    let random = format!(
        "{}{}",
        "GWw4hjABFzZCGiRpmlDyDdo87Jn9BN9THUA47muVRNunbTJ",
        "AIzaTesb6Tscfcni8vIpWZqNCXFDFslJtVSvFDq"
    );
    let path = env.write("random.txt", format!("{random}\n"));
    assert_eq!(
        scan_json(&env, &path).code,
        0,
        "a prefix inside random base62 text"
    );
}

#[test]
fn glued_tokens_in_set_keys_and_values_are_refused() {
    let env = Env::new();
    let clean = env.write("clean/a.txt", "nothing to see\n");
    for (i, (_, secret)) in secrets().into_iter().enumerate() {
        let glue = ["config_token_", "pre_", "my_"][i % 3];
        let as_key = format!("{glue}{secret}=1");
        assert_commit_refused(
            &env,
            &[&clean],
            &["--set", &as_key],
            std::slice::from_ref(&secret),
        );
        let as_value = format!("note={glue}{secret}");
        assert_commit_refused(
            &env,
            &[&clean],
            &["--set", &as_value],
            std::slice::from_ref(&secret),
        );
        let nested = format!("run.{glue}{secret}.x=ok");
        assert_commit_refused(&env, &[&clean], &["--set", &nested], &[secret]);
    }
}

/// What ends a line for a human reader, besides `\n`.
const BREAKS: [&str; 7] = ["\r", "\0", "\x0b", "\x0c", "\u{85}", "\u{2028}", "\u{2029}"];

#[test]
fn an_allow_marker_does_not_reach_across_a_line_break_of_any_kind() {
    let env = Env::new();
    let scanner = Scanner::builtin();
    for (rule, secret) in secrets() {
        for brk in BREAKS {
            for text in [
                format!("x = 1  # artifact-store:allow{brk}value: {secret}\n"),
                format!("value: {secret}{brk}# artifact-store:allow\n"),
                format!("# artifact-store:allow{brk}{brk}value: {secret}{brk}\r\n"),
            ] {
                let ids: Vec<String> = scanner
                    .scan_bytes("f.txt", text.as_bytes())
                    .findings()
                    .iter()
                    .map(|f| f.rule_id.clone())
                    .collect();
                assert_eq!(
                    ids,
                    [rule],
                    "break {brk:?} in {:?}",
                    text.replace(&secret, "S")
                );
            }
        }
    }
    let (_, secret) = secrets().remove(0);
    let text = format!("ok = 1 # artifact-store:allow\rtoken: {secret}\n");
    let path = env.write("cr.txt", &text);
    let run = scan_json(&env, &path);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_not_leaked(&secret, &run);
    let f = env.write("c/nul.txt", format!("a # artifact-store:allow\0{secret}\n"));
    assert_commit_refused(&env, &[&f], &[], &[secret]);
}

#[test]
fn an_allow_marker_still_works_on_its_own_line() {
    let env = Env::new();
    for (_, secret) in secrets() {
        for end in ["\n", "\r\n", "\r", ""] {
            let text = format!("first\nvalue: {secret}  # artifact-store:allow{end}second{end}");
            let path = env.write("allowed.txt", &text);
            let run = scan_json(&env, &path);
            assert_eq!(run.code, 0, "end {end:?}: {}", run.stdout);
            let marker_first = format!("// artifact-store:allow (test key) {secret}{end}");
            let path = env.write("allowed2.txt", &marker_first);
            assert_eq!(scan_json(&env, &path).code, 0, "marker first, end {end:?}");
        }
    }
    // A wide-encoded human allowlist works too.
    let (_, secret) = secrets().remove(0);
    let text = format!("value: {secret}  # artifact-store:allow\r\n");
    let path = env.write("wide-allowed.txt", encode(&text, Enc::Utf16Le, true));
    assert_eq!(scan_json(&env, &path).code, 0);
}

/// `\uXXXX` escape of one character, in lower or upper case hex.
fn esc(ch: char, upper: bool) -> String {
    let hex = format!("{:04x}", ch as u32);
    if upper {
        format!("\\u{}", hex.to_uppercase())
    } else {
        format!("\\u{hex}")
    }
}

#[test]
fn json_escapes_do_not_hide_a_secret() {
    let env = Env::new();
    for (rule, secret) in secrets() {
        let chars: Vec<char> = secret.chars().collect();
        let one: String = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| if i == 5 { esc(c, true) } else { c.to_string() })
            .collect();
        let all: String = chars.iter().map(|&c| esc(c, false)).collect();
        let mixed: String = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if i % 2 == 0 {
                    esc(c, i % 4 == 0)
                } else {
                    c.to_string()
                }
            })
            .collect();
        for (variant, escaped) in [("one", one), ("all", all), ("mixed", mixed)] {
            let text = format!("{{\n  \"note\": \"x\",\n  \"value\": \"{escaped}\"\n}}\n");
            let path = env.write("escaped.json", &text);
            let run = scan_json(&env, &path);
            assert_eq!(run.code, 3, "{rule} {variant}: {}", run.stdout);
            assert_eq!(found(&run), [(rule.to_string(), 3)], "{rule} {variant}");
            assert_eq!(run.json()["findings"][0]["column"], 13, "{rule} {variant}");
            assert_not_leaked(&secret, &run);
            assert!(!run.stdout.contains(&escaped[10..]));
        }
    }
    let hook = format!(
        "https:\\/\\/hooks.slack.com\\/services\\/{}\\/{}\\/{}",
        "T0A1B2C3D", "B0E4F5G6H", "Xk9Lm2Np4Qr6St8Uv0Wx2Yz"
    );
    let path = env.write("hook.json", format!("{{\"webhook\": \"{hook}\"}}\n"));
    let run = scan_json(&env, &path);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_eq!(found(&run), [("slack-webhook-url".to_string(), 1)]);
    assert!(!run.stdout.contains("Xk9Lm2Np4Qr6St8Uv0Wx2Yz"));

    let (_, secret) = secrets().remove(0);
    let all: String = secret.chars().map(|c| esc(c, false)).collect();
    let f = env.write("c/escaped.json", format!("{{\"value\": \"{all}\"}}\n"));
    assert_commit_refused(&env, &[&f], &[], &[secret]);
    // A `--set` value written with escapes, unquoted (stored with its backslashes) or as a
    // quoted JSON string (parsed), is refused too.
    let clean = env.write("c3/a.txt", "clean\n");
    let (_, stripe) = secrets().remove(1);
    let escaped: String = stripe.chars().map(|c| esc(c, false)).collect();
    for value in [
        format!("note={escaped}"),
        format!("note=\"{escaped}\""),
        format!("note=pre_{}", &escaped[..30]) + &stripe[5..],
    ] {
        assert_commit_refused(
            &env,
            &[&clean],
            &["--set", &value],
            std::slice::from_ref(&stripe),
        );
    }
    // An escaped backslash is not an escape: the text holds a literal `\u0041`.
    let literal = "{\"re\": \"ghp_\\\\u0041\"}\n";
    let path = env.write("literal.json", literal);
    assert_eq!(scan_json(&env, &path).code, 0);
}

#[test]
fn an_aws_access_key_id_assignment_is_a_finding_whatever_its_alphabet() {
    let env = Env::new();
    // 16 characters after AKIA that are not base32 (lower case, 0, 1, 8, 9).
    let values = [
        format!("{}{}", "AKIA", "1089abcdefgh0189"),
        format!("{}{}", "ASIA", "x0y1z8w9v0u1t8s9"),
        format!("{}{}", "ZX01", "k8Jq0Lw1Me9Nr8Pt"),
        format!("{}{}", "AKIA", "1111222233334444"),
    ];
    for value in &values {
        let variants = [
            ("a.py", format!("AWS_ACCESS_KEY_ID = \"{value}\"\n")),
            ("a.py", format!("aws_access_key_id='{value}'\n")),
            ("a.yaml", format!("aws_access_key_id: {value}\n")),
            ("a.yaml", format!("Aws-Access-Key-Id: \"{value}\"\n")),
            ("a.sh", format!("export AWS_ACCESS_KEY_ID={value}\n")),
            ("a.env", format!("AWS_ACCESS_KEY_ID={value}\n")),
            (
                "a.json",
                format!("{{\"aws_access_key_id\": \"{value}\"}}\n"),
            ),
            (
                "credentials",
                format!("[default]\naws_access_key_id = {value}\n"),
            ),
            ("a.ts", format!("const awsAccessKeyId = \"{value}\";\n")),
        ];
        for (name, text) in &variants {
            let path = env.write(&format!("v/{name}"), text);
            let run = scan_json(&env, &path);
            assert_eq!(run.code, 3, "{name}: {text}{}", run.stdout);
            assert_not_leaked(value, &run);
            std::fs::remove_file(&path).unwrap();
        }
    }
    let f = env.write("c/creds", format!("aws_access_key_id = {}\n", values[0]));
    assert_commit_refused(&env, &[&f], &[], &[values[0].clone()]);
    let set = format!("aws_access_key_id={}", values[1]);
    let clean = env.write("c2/a.txt", "clean\n");
    assert_commit_refused(&env, &[&clean], &["--set", &set], &[values[1].clone()]);

    // Look-alikes stay silent.
    let example = format!("{}{}", "AKIAIOSFODNN7", "EXAMPLE");
    for (name, text) in [
        (
            "b.py",
            "aws_access_key_id = os.environ[\"AWS_ACCESS_KEY_ID\"]\n".to_string(),
        ),
        ("b.py", "aws_access_key_id=aws_access_key_id,\n".to_string()),
        (
            "b.sh",
            "export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID}\n".to_string(),
        ),
        (
            "b.yaml",
            "aws_access_key_id: <your-access-key-id>\n".to_string(),
        ),
        (
            "b.yaml",
            "aws_access_key_id: \"{{ aws_key_id }}\"\n".to_string(),
        ),
        ("b.env", format!("AWS_ACCESS_KEY_ID={example}\n")),
        ("b.env", "AWS_ACCESS_KEY_ID=\n".to_string()),
        (
            "b.md",
            "Set aws_access_key_id to your key id.\n".to_string(),
        ),
    ] {
        let path = env.write(&format!("n/{name}"), &text);
        let run = scan_json(&env, &path);
        assert_eq!(run.code, 0, "{name}: {text}{}", run.stdout);
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn the_streaming_scan_matches_the_whole_scan_on_wide_text() {
    let scanner = Scanner::builtin();
    let text = secrets_text().repeat(3);
    for enc in ENCODINGS {
        for bom in [true, false] {
            let data = encode(&text, enc, bom);
            let whole = scanner.scan_bytes("w.txt", &data);
            assert_eq!(whole.findings().len(), 3 * secrets().len(), "{enc:?} {bom}");
            for piece in [1, 3, 7, 4096] {
                let mut stream = scanner.stream("w.txt");
                for part in data.chunks(piece) {
                    stream.update(part);
                }
                assert_eq!(
                    stream.finish(),
                    whole,
                    "{enc:?} bom={bom} pieces of {piece}"
                );
            }
        }
    }
    assert!(matches!(scanner.scan_bytes("e", b""), FileScan::Findings(f) if f.is_empty()));
}

#[test]
fn an_event_with_a_glued_or_escaped_secret_in_its_metadata_or_a_wide_artifact_is_refused() {
    use artifact_store::events::{Handler, HandlerOptions};
    use artifact_store::{OpenOptions, Store};
    let env = Env::new();
    let repo = env.path("events.git");
    Store::init(&repo, true).unwrap();
    let runs = env.path("runs");
    env.write("runs/r1/ok.txt", "fine\n");
    let store = Store::open(&OpenOptions {
        repo: Some(repo.clone()),
        config_file: None,
        overrides: vec![("durability".into(), "none".into())],
    })
    .unwrap();
    let options = HandlerOptions {
        artifacts_root: runs,
        commit_failed: false,
    };
    let handler = Handler::new(store, &options).unwrap();
    let (_, ghp) = secrets().remove(0);
    let (_, stripe) = secrets().remove(1);
    env.write(
        "runs/r2/out.txt",
        encode(&format!("k {stripe}\n"), Enc::Utf16Le, true),
    );
    let escaped: String = ghp.chars().map(|c| esc(c, true)).collect();
    let events = [
        format!(r#"{{"metrics": {{"config_token_{ghp}": 1}}, "artifacts": {{"a": "r1/ok.txt"}}}}"#),
        format!(r#"{{"metrics": {{"note": "pre_{stripe}"}}, "artifacts": {{"a": "r1/ok.txt"}}}}"#),
        format!(r#"{{"metrics": {{"note": "{escaped}"}}, "artifacts": {{"a": "r1/ok.txt"}}}}"#),
        r#"{"artifacts": {"a": "r2/out.txt"}}"#.to_string(),
    ];
    let before = env.snapshot(&repo);
    for (i, data) in events.iter().enumerate() {
        let payload = format!(
            r#"{{"event_type": "TEST_PASSED", "correlation_id": "ev{i}", "workflow_id": "wf", "task_id": "t", "data": {data}}}"#
        );
        let done = handler.handle(payload.as_bytes());
        let reply = done.reply().unwrap();
        assert_eq!(
            reply["event_type"], "ARTIFACT_COMMIT_FAILED",
            "event {i}: {reply}"
        );
        assert_eq!(
            reply["data"]["error"]["kind"], "secret_detected",
            "event {i}"
        );
        let text = reply.to_string();
        for secret in [&ghp, &stripe] {
            assert!(
                !text.contains(&secret[4..]),
                "event {i}: the reply holds a secret"
            );
        }
    }
    assert_eq!(env.snapshot(&repo), before);
    env.fsck(&repo);
    assert_odb_clean(&env, &repo, &[ghp, stripe]);
}

#[test]
fn the_pre_receive_hook_decodes_wide_pushed_blobs() {
    let env = Env::new();
    let server = env.bare_remote("server.git");
    env.run(&[
        "--repo",
        server.to_str().unwrap(),
        "hooks",
        "install",
        "--server",
    ])
    .ok();
    let work = env.path("work");
    let run = env.git(&["init", "-q", "-b", "main", work.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (_, secret) = secrets().remove(3);
    env.write(
        "work/out.txt",
        encode(&format!("token {secret}\r\n"), Enc::Utf32Be, false),
    );
    env.git_in(&work, &["add", "out.txt"]);
    env.git_in(&work, &["commit", "-q", "-m", "generated"]);
    let url = server.to_str().unwrap();
    let run = env.git(&["-C", work.to_str().unwrap(), "push", "-q", url, "main"]);
    assert_ne!(run.code, 0, "the secret was pushed");
    assert!(run.stderr.contains(":out.txt:1:"), "{}", run.stderr);
    assert_not_leaked(&secret, &run);
    let heads = env.git_in(&server, &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(heads, "", "no ref moved");
}

#[test]
fn a_marker_on_the_line_where_a_match_starts_does_not_cover_a_value_on_the_next() {
    let scanner = Scanner::builtin();
    let value = format!("{}{}", "Xk9Lm2Np4Qr6St8Uv0Wx", "2Yz7Ab");
    for brk in ["\n", "\r", "\r\n", "\x0b", "\x0c"] {
        let text = format!("<!-- artifact-store:allow --><password>{brk}  {value}</password>\n");
        let ids: Vec<String> = scanner
            .scan_bytes("settings.xml", text.as_bytes())
            .findings()
            .iter()
            .map(|f| f.rule_id.clone())
            .collect();
        assert!(!ids.is_empty(), "break {brk:?}");
    }
    let own = format!("<password>{value}</password> <!-- artifact-store:allow -->\n");
    assert!(scanner
        .scan_bytes("s.xml", own.as_bytes())
        .findings()
        .is_empty());
}

#[test]
fn tokens_one_separator_apart_are_all_found() {
    let scanner = Scanner::builtin();
    let google = |tail: &str| format!("{}{}{tail}", "AIza", "SyD4k7Lm2Qp9Xr5Tv8Wz1Nb6Hc3Jf0Gy7U");
    let keys = [google("a"), google("b"), google("c")];
    for sep in [",", " ", ";", "\n"] {
        let text = format!("keys: my_{}\n", keys.join(sep));
        let found = scanner.scan_bytes("k.txt", text.as_bytes());
        assert_eq!(found.findings().len(), 3, "separator {sep:?}: {found:?}");
    }
}

#[test]
fn the_families_compose_in_a_wide_file() {
    let scanner = Scanner::builtin();
    let (_, ghp) = secrets().remove(0);
    let (_, stripe) = secrets().remove(1);
    let escaped: String = ghp.chars().map(|c| esc(c, false)).collect();
    let text = format!(
        "{{\"a\": \"{escaped}\",\r\n \"b\": \"# artifact-store:allow\u{2028}pre_{stripe}\"}}\r\n"
    );
    for enc in ENCODINGS {
        let data = encode(&text, enc, false);
        let found: Vec<(String, usize)> = scanner
            .scan_bytes("mixed.json", &data)
            .findings()
            .iter()
            .map(|f| (f.rule_id.clone(), f.line))
            .collect();
        assert_eq!(
            found,
            [
                ("github-pat".to_string(), 1),
                ("stripe-secret-key".to_string(), 2)
            ],
            "{enc:?}"
        );
    }
}

/// A token used as a key or a name (`ghp_...: 1`, `ghp_...=1`, a YAML or INI key glued to
/// a prefix) or ending a sentence (`... ghp_....`) is found like one followed by a space.
#[test]
fn tokens_followed_by_key_or_sentence_punctuation_are_found() {
    let env = Env::new();
    let suffixes = [
        ": 1", ":", ":1", "=1", "=", " = 1", ".", "!", "?", "...", "#x", "(x)", "+x", "*", "%",
    ];
    let mut text = String::new();
    let mut expected = Vec::new();
    for glue in ["", "config_token_", "x", "pre_"] {
        for suffix in suffixes {
            for (rule, secret) in secrets() {
                if rule == "gcp-api-key" && glue.ends_with(|c: char| c.is_ascii_alphanumeric()) {
                    continue;
                }
                text.push_str(&format!("{glue}{secret}{suffix}\n"));
                expected.push((rule.to_string(), expected.len() as u64 + 1));
            }
        }
    }
    for name in ["keys.yaml", "keys.ini", "notes.md"] {
        let path = env.write(name, &text);
        let run = scan_json(&env, &path);
        assert_eq!(run.code, 3, "{}", run.stdout);
        let mut got = found(&run);
        got.sort_by_key(|(_, line)| *line);
        let missed: Vec<_> = expected
            .iter()
            .filter(|e| !got.contains(e))
            .map(|(rule, line)| {
                (
                    rule,
                    text.lines()
                        .nth(*line as usize - 1)
                        .map(|l| &l[l.len() - 4..]),
                )
            })
            .collect();
        assert!(
            missed.is_empty(),
            "{name}: missed (rule, line end): {missed:?}"
        );
        for secret in all_secrets() {
            assert_not_leaked(&secret, &run);
        }
    }
    let f = env.write("c/keys.yaml", &text);
    assert_commit_refused(&env, &[&f], &[], &all_secrets());
    // A token's prefix with a file or host name after a dot is not a token at its end.
    let name = format!("{}{}", "ico-", "7a388b69018576d24b59331fd60aab0c");
    let path = env.write("asset.txt", format!("/assets/video_box.{name}.png\n"));
    assert_eq!(scan_json(&env, &path).code, 0, "a dotted file name");
}
