//! The default build speaks local paths, file:// and git:// without any TLS or SSH
//! library; the `ssh` and `https` features pass through to git2.

use std::path::Path;
use std::process::Command;

#[test]
fn the_default_build_links_no_tls_or_ssh_library() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("run cargo tree");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("git2 v0.21"), "{text}");
    for line in text.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        for banned in [
            "openssl",
            "libssh2",
            "native-tls",
            "rustls",
            "schannel",
            "security-framework",
        ] {
            assert!(
                !name.starts_with(banned),
                "the default build pulls in {line}"
            );
        }
    }
}

#[test]
fn the_ssh_and_https_features_enable_git2s() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let features: toml::Table = toml::from_str::<toml::Table>(&manifest).unwrap()["features"]
        .as_table()
        .unwrap()
        .clone();
    // The remotes' transports are opt-in; the web view is the one default feature.
    let default: Vec<&str> = features["default"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(default, ["web"]);
    assert_eq!(
        features["ssh"].as_array().unwrap()[0].as_str(),
        Some("git2/ssh")
    );
    assert_eq!(
        features["https"].as_array().unwrap()[0].as_str(),
        Some("git2/https")
    );
}
