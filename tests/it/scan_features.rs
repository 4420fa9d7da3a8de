//! Scanner behaviour beyond single rules: allowlists, configuration, gitleaks files,
//! binary detection, look-alikes in metadata, PEM keys, SARIF and directory scans.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use artifact_store::scan::{
    redact, sarif, FileScan, RuleSpec, ScanConfig, ScanError, Scanner, SkipReason,
};

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

/// A fake PEM body of `lines` lines of base64.
fn pem_body(lines: usize) -> Vec<String> {
    let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        .chars()
        .collect();
    (0..lines)
        .map(|l| {
            (0..64)
                .map(|i| alphabet[(l * 131 + i * 37 + i * i) % alphabet.len()])
                .collect()
        })
        .collect()
}

fn pem(label: &str, headers: &str) -> String {
    format!(
        "-----BEGIN {label}-----\n{headers}{}\n-----END {label}-----\n",
        pem_body(8).join("\n")
    )
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("scan-test-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let path = self.0.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, data).expect("write file");
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ids(findings: &[artifact_store::scan::Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.rule_id.as_str()).collect()
}

#[test]
fn redaction_keeps_at_most_four_characters_and_never_the_secret() {
    let token = github_token();
    assert_eq!(redact(&token), "ghp_****");
    assert_eq!(redact("abcdefgh"), "ab****");
    assert_eq!(redact("abc"), "****");
    let findings = Scanner::builtin().scan_text("config.env", &format!("GH_TOKEN={token}\n"));
    assert_eq!(ids(&findings), ["github-pat"]);
    let f = &findings[0];
    assert_eq!((f.line, f.column, f.redacted.as_str()), (1, 10, "ghp_****"));
    let shown = format!("{f:?} {}", serde_json::to_string(f).unwrap_or_default());
    assert!(!shown.contains(&token) && !shown.contains(&token[4..]));
}

#[test]
fn lines_and_columns_count_characters() {
    let text = format!("é\n  ünïcode = 1; token: {}\n", github_token());
    let findings = Scanner::builtin().scan_text("f.txt", &text);
    assert_eq!(findings.len(), 1);
    assert_eq!((findings[0].line, findings[0].column), (2, 23));
}

#[test]
fn inline_allow_comment_suppresses_its_line_only() {
    let token = github_token();
    let text = format!("a = \"{token}\"  # artifact-store:allow\nb = \"{token}\"\n");
    let findings = Scanner::builtin().scan_text("f.py", &text);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].line, 2);
}

#[test]
fn disabled_rules_are_not_run() {
    let config = ScanConfig {
        disabled_rules: vec!["github-pat".into()],
        ..ScanConfig::default()
    };
    let scanner = Scanner::new(&config).expect("valid config");
    assert_eq!(scanner.rule_count() + 1, Scanner::builtin().rule_count());
    assert!(scanner
        .scan_text("f", &format!("x {}", github_token()))
        .is_empty());
    let unknown = ScanConfig {
        disabled_rules: vec!["no-such-rule".into()],
        ..ScanConfig::default()
    };
    assert!(
        matches!(Scanner::new(&unknown), Err(ScanError::UnknownRule { id }) if id == "no-such-rule")
    );
}

#[test]
fn allowed_paths_are_skipped() {
    let config = ScanConfig {
        allow_paths: vec!["fixtures/**".into(), "*.lock".into()],
        ..ScanConfig::default()
    };
    let scanner = Scanner::new(&config).expect("valid config");
    let data = format!("token = {}\n", github_token());
    assert_eq!(
        scanner.scan_bytes("fixtures/a/b.txt", data.as_bytes()),
        FileScan::Skipped(SkipReason::AllowedPath)
    );
    assert_eq!(
        scanner.scan_bytes("deep/Cargo.lock", data.as_bytes()),
        FileScan::Skipped(SkipReason::AllowedPath)
    );
    assert_eq!(
        scanner
            .scan_bytes("src/a.txt", data.as_bytes())
            .findings()
            .len(),
        1
    );
}

#[test]
fn allow_regexes_drop_matching_secrets() {
    let token = github_token();
    let config = ScanConfig {
        allow_regexes: vec![format!("^{}$", &token)],
        ..ScanConfig::default()
    };
    let scanner = Scanner::new(&config).expect("valid config");
    assert!(scanner.scan_text("f", &format!("t={token}")).is_empty());
    let bad = ScanConfig {
        allow_regexes: vec!["(".into()],
        ..ScanConfig::default()
    };
    assert!(matches!(
        Scanner::new(&bad),
        Err(ScanError::InvalidAllowRegex { index: 0, .. })
    ));
}

#[test]
fn extra_rules_come_from_config() {
    let config = ScanConfig {
        rules: vec![RuleSpec {
            id: "acme-token".into(),
            regex: r"\b(acme_[a-z0-9]{16})\b".into(),
            keywords: vec!["acme_".into()],
            entropy: Some(2.5),
            secret_group: Some(1),
        }],
        ..ScanConfig::default()
    };
    let scanner = Scanner::new(&config).expect("valid config");
    assert_eq!(scanner.rule_count(), Scanner::builtin().rule_count() + 1);
    let findings = scanner.scan_text("f", "deploy with acme_k3j9x0q2m8v7t5r1 today");
    assert_eq!(ids(&findings), ["acme-token"]);
    assert_eq!(findings[0].redacted, "acme****");
    assert!(
        scanner.scan_text("f", "acme_aaaaaaaaaaaaaaaa").is_empty(),
        "entropy threshold applies"
    );
    let broken = ScanConfig {
        rules: vec![RuleSpec {
            id: "broken".into(),
            regex: "(unclosed".into(),
            ..RuleSpec::default()
        }],
        ..ScanConfig::default()
    };
    assert!(
        matches!(Scanner::new(&broken), Err(ScanError::InvalidRule { id, .. }) if id == "broken")
    );
}

#[test]
fn scan_config_reads_from_toml() {
    let config: ScanConfig = toml::from_str(
        "disabled_rules = [\"jwt\"]\nallow_paths = [\"docs/**\"]\n[[rules]]\nid = \"x\"\nregex = \"x_[0-9]{8}\"\nkeywords = [\"x_\"]\n",
    )
    .expect("valid TOML");
    assert_eq!(config.rules[0].id, "x");
    assert!(toml::from_str::<ScanConfig>("unknown = 1").is_err());
}

#[test]
fn gitleaks_rules_load_and_look_around_is_rejected() {
    let dir = TempDir::new("gitleaks");
    let file = dir.write(
        "gitleaks.toml",
        br#"title = "custom"

[allowlist]
paths = ['''(?:^|/)vendor/''']
regexes = ['''^\$(?:\d+|{\d+})$''']

[[rules]]
id = "acme-key"
description = "Acme key"
regex = '''\b(acmek_[a-f0-9]{24})(?:[\x60'"\s;]|\\[nr]|$)'''
secretGroup = 1
entropy = 2.0
keywords = ["acmek_"]
[rules.allowlist]
regexes = ['''acmek_0{24}''']

[[rules]]
id = "lookahead-rule"
regex = '''password(?=\s*=)'''
keywords = ["password"]
"#,
    );
    let config = ScanConfig {
        gitleaks_config: Some(file),
        ..ScanConfig::default()
    };
    let scanner = Scanner::new(&config).expect("gitleaks file loads");
    assert_eq!(scanner.rejected_rules(), ["lookahead-rule"]);
    let findings = scanner.scan_text("f", "key: acmek_3fa9c0d21b7e4a58c6d09e1f\n");
    assert_eq!(ids(&findings), ["acme-key"]);
    assert!(scanner
        .scan_text("f", "key: acmek_000000000000000000000000\n")
        .is_empty());
    let vendored = scanner.scan_bytes("vendor/lib/a.txt", b"key: acmek_3fa9c0d21b7e4a58c6d09e1f\n");
    assert_eq!(vendored, FileScan::Skipped(SkipReason::AllowedPath));
    let missing = ScanConfig {
        gitleaks_config: Some(dir.path().join("nope.toml")),
        ..ScanConfig::default()
    };
    assert!(matches!(
        Scanner::new(&missing),
        Err(ScanError::GitleaksRead { .. })
    ));
    let bad = dir.write("bad.toml", b"[[rules]\nid=");
    let bad = ScanConfig {
        gitleaks_config: Some(bad),
        ..ScanConfig::default()
    };
    assert!(matches!(
        Scanner::new(&bad),
        Err(ScanError::Gitleaks { .. })
    ));
}

#[test]
fn binary_content_is_scanned_so_one_nul_byte_hides_nothing() {
    let scanner = Scanner::builtin();
    let mut data = vec![0u8, 1, 2, 3];
    data.extend_from_slice(format!("token {}", github_token()).as_bytes());
    data.extend_from_slice(&[0, 0xff, 0xfe, 7]);
    match scanner.scan_bytes("model.pkl", &data) {
        FileScan::Findings(findings) => {
            assert_eq!(findings.len(), 1, "{findings:?}");
            assert_eq!(findings[0].rule_id, "github-pat");
        }
        other => panic!("a key in binary content was not found: {other:?}"),
    }
}

#[test]
fn random_bytes_and_real_binaries_raise_no_findings() {
    let scanner = Scanner::builtin();
    // 8 MiB of xorshift noise: every byte value, no structure.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..8 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    assert_eq!(
        scanner.scan_bytes("noise.bin", &noise),
        FileScan::Findings(vec![])
    );
    // Deflated text, as in PNG image data, zip members and parquet pages: 4 MiB of trade
    // rows with the scanner's keywords in them, compressed.
    let mut rows = String::new();
    for i in 0..60_000u64 {
        let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        rows.push_str(&format!(
            "{i},token_count={},api_key_id={:016x},secret_ref=vault/{:08x},pnl={}.{:02}\n",
            x % 4096,
            x,
            x >> 32,
            x % 997,
            x % 100
        ));
    }
    let mut deflated = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut deflated, rows.as_bytes()).unwrap();
    let deflated = deflated.finish().unwrap();
    assert_eq!(
        scanner.scan_bytes("equity.png", &deflated),
        FileScan::Findings(vec![])
    );
}

#[test]
fn metadata_lookalikes_are_not_secrets() {
    let text = r#"{"schema_version": 1, "workflow_id": "wf_rsi_strategy", "task_id": "task_coder_001",
 "correlation_id": "corr_abc123", "prompt_hash": "7a8b9c0d1e2f3a4b",
 "commit_sha": "9fceb02d0ae598e95dc970b74767f19372d61af8", "parent": "1b2e3f4a5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
 "request_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "run_uuid": "7d444840-9dc0-11d1-b245-5ffdce74fad2",
 "test_metrics": {"total_trades": 12, "net_pnl": 120.5, "max_tokens": 4096, "tokens": 512,
   "prompt_tokens": 1834, "completion_tokens": 377, "token_count": 2211},
 "llm_version": "gpt-4", "model": {"max_tokens": 4096, "temperature": 0.2},
 "files": ["artifacts/wf_rsi_strategy/task_coder_001/strategy.py"],
 "checksums": {"artifacts/wf_rsi_strategy/task_coder_001/strategy.py": "sha256:3b1f5c0e2d4a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e",
   "artifacts/wf_rsi_strategy/task_coder_001/api_keys.md": "sha256:aa1f5c0e2d4a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6f"}}
"#;
    let scanner = Scanner::builtin();
    assert!(scanner.scan_text("metadata.json", text).is_empty());
    assert!(scanner
        .scan_bytes("metadata.json", text.as_bytes())
        .findings()
        .is_empty());
    for (label, value) in [
        (
            "metadata.json:commit_sha",
            "9fceb02d0ae598e95dc970b74767f19372d61af8",
        ),
        (
            "metadata.json:request_id",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
        ),
        ("metadata.json:test_metrics.max_tokens", "4096"),
        (
            "metadata.json:checksums.a",
            "sha256:3b1f5c0e2d4a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e",
        ),
    ] {
        assert!(
            scanner.scan_text(label, value).is_empty(),
            "{label} flagged"
        );
    }
}

#[test]
fn metadata_value_labelled_as_secret_is_found() {
    let scanner = Scanner::builtin();
    let findings = scanner.scan_text(
        "metadata.json:test_metrics.token",
        "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB",
    );
    assert_eq!(ids(&findings), ["generic-token"]);
    assert_eq!((findings[0].line, findings[0].column), (1, 1));
    assert!(scanner
        .scan_text(
            "metadata.json:test_metrics.note",
            "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB"
        )
        .is_empty());
}

#[test]
fn pem_private_keys_of_every_kind_are_found() {
    let scanner = Scanner::builtin();
    let encrypted =
        "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F1A2B3C4D5E6F708192A3B4C5D6E7F8\n\n";
    for (label, headers) in [
        ("RSA PRIVATE KEY", ""),
        ("EC PRIVATE KEY", ""),
        ("DSA PRIVATE KEY", ""),
        ("OPENSSH PRIVATE KEY", ""),
        ("PRIVATE KEY", ""),
        ("ENCRYPTED PRIVATE KEY", ""),
        ("RSA PRIVATE KEY", encrypted),
    ] {
        let findings = scanner.scan_text("key.pem", &pem(label, headers));
        assert_eq!(ids(&findings), ["private-key"], "{label}");
        assert!(
            findings[0].redacted.starts_with(&pem_body(1)[0][..4]),
            "{label}: body redacted"
        );
    }
    for public in [
        pem("PUBLIC KEY", ""),
        pem("CERTIFICATE", ""),
        format!("ssh-rsa AAAAB3NzaC1yc2E{} ci@host\n", pem_body(4).join("")),
    ] {
        assert!(
            scanner.scan_text("pub.pem", &public).is_empty(),
            "public material flagged"
        );
    }
}

#[test]
fn pem_key_inside_a_json_string_is_found() {
    let key = pem("PRIVATE KEY", "").replace('\n', "\\n");
    let json = format!(
        "{{\"type\": \"service_account\", \"project_id\": \"demo\", \"private_key\": \"{key}\", \"client_email\": \"svc@demo.iam.gserviceaccount.com\"}}"
    );
    let findings = Scanner::builtin().scan_text("sa.json", &json);
    assert_eq!(ids(&findings), ["private-key"]);
    assert!(findings[0].redacted.starts_with("ABCD") || findings[0].redacted.len() <= 8);
}

#[test]
fn sarif_document_has_the_expected_shape() {
    let dir = TempDir::new("sarif");
    dir.write(
        "a/config.env",
        format!("\n  GH_TOKEN={}\n", github_token()).as_bytes(),
    );
    let report = Scanner::builtin()
        .scan_paths(&[dir.path().to_path_buf()])
        .expect("scan");
    let doc = sarif(&report, "1.2.3");
    assert_eq!(doc["version"], "2.1.0");
    assert!(doc["$schema"].as_str().is_some_and(|s| s.contains("sarif")));
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "artifact-store");
    assert_eq!(run["tool"]["driver"]["version"], "1.2.3");
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "github-pat");
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["region"]["startLine"], 2);
    assert_eq!(location["region"]["startColumn"], 12);
    assert!(location["artifactLocation"]["uri"]
        .as_str()
        .is_some_and(|u| u.ends_with("a/config.env")));
    assert!(!doc.to_string().contains(&github_token()));
}

#[test]
fn scan_paths_skips_git_and_counts_files_and_bytes() {
    let dir = TempDir::new("paths");
    let secret = format!("token = \"{}\"\n", github_token());
    dir.write(".git/config", secret.as_bytes());
    dir.write("src/.git/objects/x", secret.as_bytes());
    let a = dir.write("src/main.py", b"print('hello')\n");
    dir.write("src/creds.env", secret.as_bytes());
    dir.write("bin/blob.bin", &[0u8, 159, 146, 150]);
    let mut pickle = b"\x80\x04\x95\x8c\x28".to_vec();
    pickle.extend_from_slice(github_token().as_bytes());
    pickle.extend_from_slice(b"\x94.");
    dir.write("bin/model.pkl", &pickle);
    let report = Scanner::builtin()
        .scan_paths(&[dir.path().to_path_buf()])
        .expect("scan");
    assert_eq!(report.files_scanned, 4, "binary files are scanned too");
    assert_eq!(
        report.bytes_scanned,
        (secret.len() + 15 + 4 + pickle.len()) as u64
    );
    let mut paths: Vec<_> = report.findings.iter().map(|f| f.path.clone()).collect();
    paths.sort();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths[0].ends_with("bin/model.pkl"), "{paths:?}");
    assert!(paths[1].ends_with("src/creds.env"), "{paths:?}");
    assert!(report.skipped.is_empty());
    let single = Scanner::builtin().scan_paths(&[a]).expect("scan one file");
    assert_eq!((single.files_scanned, single.findings.len()), (1, 0));
    let missing = Scanner::builtin().scan_paths(&[dir.path().join("missing")]);
    assert!(matches!(missing, Err(ScanError::Io { .. })));
}

#[cfg(unix)]
#[test]
fn scan_paths_does_not_follow_symlinks() {
    let dir = TempDir::new("links");
    let outside = TempDir::new("outside");
    outside.write(
        "secret.env",
        format!("token = \"{}\"\n", github_token()).as_bytes(),
    );
    dir.write("plain.txt", b"nothing here\n");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("linked")).expect("symlink");
    let report = Scanner::builtin()
        .scan_paths(&[dir.path().to_path_buf()])
        .expect("scan");
    assert_eq!((report.files_scanned, report.findings.len()), (1, 0));
}

#[test]
fn dense_keywords_and_long_lines_stay_fast() {
    let scanner = Scanner::builtin();
    let mut text = "-----BEGIN PRIVATE KEY-----\n".repeat(20_000);
    text.push_str(&"token=".repeat(50_000));
    text.push('\n');
    text.push_str(&"api_key: AAAA\n".repeat(20_000));
    text.push_str(&"a ".repeat(200_000));
    text.push_str(&format!(" token = {}\n", github_token()));
    let started = std::time::Instant::now();
    let findings = scanner.scan_text("dense.txt", &text);
    assert_eq!(ids(&findings), ["github-pat"]);
    assert!(
        started.elapsed().as_secs() < 20,
        "scan took {:?}",
        started.elapsed()
    );
}
