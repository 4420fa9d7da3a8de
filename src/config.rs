//! Configuration: the `artifact-store.toml` file, then environment variables, then flags.
//!
//! Every key is documented in `docs/config.md`; [`Config::set`] is the one place a key
//! is parsed from text, so environment variables and `-c key=value` flags agree.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use hooks::HooksConfig;
pub use retention::{Policy, RetentionConfig};

use crate::error::{Error, Result};
use crate::refs::BranchPrefix;
use crate::scan::ScanConfig;

pub mod hooks;
pub mod retention;

/// Name of the config file looked up in a store.
pub const CONFIG_FILE: &str = "artifact-store.toml";

/// Whether objects and refs are flushed to stable storage before a commit returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// fsync every object and ref file written, and their directories (the default).
    Fsync,
    /// Leave flushing to the operating system; for throwaway stores.
    None,
}

/// The store's configuration, after every layer is applied.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Branch namespace, `ai/generated`.
    pub branch_prefix: String,
    /// Branch a new task branch starts from when it exists, `main`.
    pub base_branch: String,
    /// Where a task's files go, with `{workflow_id}` and `{task_id}` placeholders.
    pub artifact_dir: String,
    /// Author and committer name.
    pub author_name: String,
    /// Author and committer email.
    pub author_email: String,
    /// Refuse commits without a correlation id.
    pub require_correlation_id: bool,
    /// Refuse commits whose test status is not `passed`.
    pub require_test_passed: bool,
    /// fsync objects and refs, or not.
    pub durability: Durability,
    /// Largest single file accepted, in bytes (`"100MB"`-style strings accepted).
    #[serde(deserialize_with = "de_size")]
    pub max_file_size: u64,
    /// A ref lock older than this many seconds is taken as left by a dead process and
    /// removed; 0 never removes one.
    pub stale_lock_seconds: u64,
    /// Seconds a ref update keeps retrying against locks and lost races before giving up.
    pub lock_timeout: u64,
    /// Scan every commit for secrets.
    pub scan_for_secrets: bool,
    /// Scanner rules and allowlists.
    pub scan: ScanConfig,
    /// Push after every commit.
    pub auto_push: bool,
    /// Remote pushed to.
    pub remote_name: String,
    /// Seconds a push may take.
    pub push_timeout: u64,
    /// Retention policy (`[retention]`), with per-workflow overrides.
    pub retention: RetentionConfig,
    /// What the git hooks allow (`[hooks]`): the retention and bot identities.
    pub hooks: HooksConfig,
    /// Consolidate the object store on its own after commits (deltas between versions).
    pub auto_compact: bool,
    /// Bytes of new packs and loose objects that make a consolidation due.
    #[serde(deserialize_with = "de_size")]
    pub compact_threshold: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            branch_prefix: "ai/generated".to_string(),
            base_branch: "main".to_string(),
            artifact_dir: "artifacts/{workflow_id}/{task_id}".to_string(),
            author_name: "artifact-store".to_string(),
            author_email: "artifact-store@localhost".to_string(),
            require_correlation_id: true,
            require_test_passed: false,
            durability: Durability::Fsync,
            max_file_size: 2 << 30,
            stale_lock_seconds: 10,
            lock_timeout: 20,
            scan_for_secrets: true,
            scan: ScanConfig::default(),
            auto_push: false,
            remote_name: "origin".to_string(),
            push_timeout: 30,
            retention: Default::default(),
            hooks: Default::default(),
            auto_compact: true,
            compact_threshold: 1 << 20,
        }
    }
}

/// Environment variables read, each with the key it sets.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("GIT_AUTHOR_NAME", "author_name"),
    ("GIT_AUTHOR_EMAIL", "author_email"),
    ("GIT_REMOTE_NAME", "remote_name"),
    ("GIT_PUSH_TIMEOUT", "push_timeout"),
    ("ARTIFACT_STORE_BRANCH_PREFIX", "branch_prefix"),
    ("ARTIFACT_STORE_BASE_BRANCH", "base_branch"),
    ("ARTIFACT_STORE_ARTIFACT_DIR", "artifact_dir"),
    ("ARTIFACT_STORE_AUTHOR_NAME", "author_name"),
    ("ARTIFACT_STORE_AUTHOR_EMAIL", "author_email"),
    (
        "ARTIFACT_STORE_REQUIRE_CORRELATION_ID",
        "require_correlation_id",
    ),
    ("ARTIFACT_STORE_REQUIRE_TEST_PASSED", "require_test_passed"),
    ("ARTIFACT_STORE_DURABILITY", "durability"),
    ("ARTIFACT_STORE_MAX_FILE_SIZE", "max_file_size"),
    ("ARTIFACT_STORE_STALE_LOCK_SECONDS", "stale_lock_seconds"),
    ("ARTIFACT_STORE_LOCK_TIMEOUT", "lock_timeout"),
    ("ARTIFACT_STORE_SCAN_FOR_SECRETS", "scan_for_secrets"),
    ("ARTIFACT_STORE_AUTO_PUSH", "auto_push"),
    ("ARTIFACT_STORE_AUTO_COMPACT", "auto_compact"),
    ("ARTIFACT_STORE_COMPACT_THRESHOLD", "compact_threshold"),
];

/// The error of a config file given by name that is not there.
fn missing_file(path: &Path) -> Error {
    Error::Config {
        origin: None,
        message: format!(
            "the config file {} does not exist; pass an existing TOML file to --config, or leave --config out to use artifact-store.toml in the store",
            path.display()
        ),
    }
}

impl Config {
    /// Loads the layers: `file` (or the store's own file), the environment, then `overrides`.
    pub fn load(
        explicit_file: Option<&Path>,
        store_files: &[PathBuf],
        overrides: &[(String, String)],
    ) -> Result<Config> {
        let mut config = match explicit_file {
            Some(path) => Config::from_file(path)?,
            None => match store_files.iter().find(|p| p.is_file()) {
                Some(path) => Config::from_file(path)?,
                None => Config::default(),
            },
        };
        for (var, key) in ENV_KEYS {
            if let Ok(value) = std::env::var(var) {
                if !value.is_empty() {
                    config.set(key, &value).map_err(|e| with_origin(e, var))?;
                }
            }
        }
        for (key, value) in overrides {
            config.set(key, value)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Reads one TOML file, every key optional.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => missing_file(path),
            _ => Error::io("failed to read", path)(e),
        })?;
        toml::from_str(&text).map_err(|e| Error::Config {
            origin: Some(path.to_path_buf()),
            message: e.message().to_string(),
        })
    }

    /// Refuses a config file named explicitly (`--config FILE`) that does not exist: a
    /// mistyped path is a usage error, found before the repository is even opened.
    pub fn check_explicit(path: &Path) -> Result<()> {
        match path.try_exists() {
            Ok(false) => Err(missing_file(path)),
            _ => Ok(()),
        }
    }

    /// Sets one key from its text form, as an environment variable or flag gives it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |what: &str| Error::Config {
            origin: None,
            message: format!("{key} = {value:?}: expected {what}"),
        };
        match key {
            "branch_prefix" => self.branch_prefix = value.to_string(),
            "base_branch" => self.base_branch = value.to_string(),
            "artifact_dir" => self.artifact_dir = value.to_string(),
            "author_name" => self.author_name = value.to_string(),
            "author_email" => self.author_email = value.to_string(),
            "remote_name" => self.remote_name = value.to_string(),
            "require_correlation_id" => {
                self.require_correlation_id = parse_bool(value).ok_or_else(|| bad("a boolean"))?
            }
            "require_test_passed" => {
                self.require_test_passed = parse_bool(value).ok_or_else(|| bad("a boolean"))?
            }
            "scan_for_secrets" => {
                self.scan_for_secrets = parse_bool(value).ok_or_else(|| bad("a boolean"))?
            }
            "auto_push" => self.auto_push = parse_bool(value).ok_or_else(|| bad("a boolean"))?,
            "auto_compact" => {
                self.auto_compact = parse_bool(value).ok_or_else(|| bad("a boolean"))?
            }
            "compact_threshold" => {
                self.compact_threshold = parse_size(value).ok_or_else(|| bad("a size like 1MiB"))?
            }
            "durability" => {
                self.durability = match value.to_ascii_lowercase().as_str() {
                    "fsync" | "true" | "on" => Durability::Fsync,
                    "none" | "false" | "off" => Durability::None,
                    _ => return Err(bad("\"fsync\" or \"none\"")),
                }
            }
            "max_file_size" => {
                self.max_file_size = parse_size(value).ok_or_else(|| bad("a size like 2GB"))?
            }
            "stale_lock_seconds" => {
                self.stale_lock_seconds = value.parse().map_err(|_| bad("whole seconds"))?
            }
            "lock_timeout" => {
                self.lock_timeout = value.parse().map_err(|_| bad("whole seconds"))?
            }
            "push_timeout" => {
                self.push_timeout = value.parse().map_err(|_| bad("whole seconds"))?
            }
            _ if key.starts_with("retention.") => self.retention.set(key, value)?,
            _ if key.starts_with("hooks.") => self.hooks.set(key, value)?,
            _ => {
                return Err(Error::Config {
                    origin: None,
                    message: format!("unknown key {key:?} (see docs/config.md)"),
                })
            }
        }
        Ok(())
    }

    /// Checks values that the types alone do not.
    pub fn validate(&self) -> Result<()> {
        BranchPrefix::new(&self.branch_prefix)?;
        crate::refs::check_branch_name(&self.base_branch).map_err(|reason| Error::Config {
            origin: None,
            message: format!("base_branch {:?}: {reason}", self.base_branch),
        })?;
        artifact_dir_template_check(&self.artifact_dir)?;
        if self.author_name.trim().is_empty() || self.author_email.trim().is_empty() {
            return Err(Error::Config {
                origin: None,
                message: "author_name and author_email must not be empty".to_string(),
            });
        }
        Policy::from_config(&self.retention)?;
        if self.max_file_size == 0 {
            return Err(Error::Config {
                origin: None,
                message: "max_file_size must be above zero".to_string(),
            });
        }
        Ok(())
    }

    /// How long a lock may go untouched before it counts as left by a killed process
    /// (`stale_lock_seconds`; `0` means never).
    pub fn stale_lock_bound(&self) -> std::time::Duration {
        match self.stale_lock_seconds {
            0 => std::time::Duration::MAX,
            s => std::time::Duration::from_secs(s),
        }
    }

    /// Returns the artifact directory of a task: `artifact_dir` with its placeholders filled.
    pub fn artifact_dir_for(&self, workflow: &str, task: &str) -> String {
        self.artifact_dir
            .replace("{workflow_id}", workflow)
            .replace("{task_id}", task)
    }

    /// Returns the validated branch prefix.
    pub fn prefix(&self) -> BranchPrefix {
        BranchPrefix::new(&self.branch_prefix).unwrap_or_default()
    }
}

fn with_origin(error: Error, var: &str) -> Error {
    match error {
        Error::Config { message, .. } => Error::Config {
            origin: None,
            message: format!("{message} (from ${var})"),
        },
        other => other,
    }
}

fn artifact_dir_template_check(template: &str) -> Result<()> {
    let rendered = template
        .replace("{workflow_id}", "w")
        .replace("{task_id}", "t");
    let bad = |why: &str| Error::Config {
        origin: None,
        message: format!("artifact_dir {template:?}: {why}"),
    };
    if !template.contains("{task_id}") {
        return Err(bad(
            "must contain {task_id}, so tasks do not overwrite each other",
        ));
    }
    if rendered.contains('{') || rendered.contains('}') {
        return Err(bad(
            "only {workflow_id} and {task_id} are known placeholders",
        ));
    }
    if rendered.starts_with('/') {
        return Err(bad("must be relative to the repository root"));
    }
    for part in rendered.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.eq_ignore_ascii_case(".git") {
            return Err(bad("has an empty, '.', '..' or '.git' component"));
        }
    }
    Ok(())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Parses `1048576`, `100MB`, `2GiB`, `512k` (powers of 1024 throughout).
pub fn parse_size(value: &str) -> Option<u64> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let number: u64 = digits.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    number.checked_mul(1u64 << shift)
}

fn de_size<'de, D: serde::Deserializer<'de>>(de: D) -> std::result::Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(u64),
        Text(String),
    }
    match Size::deserialize(de)? {
        Size::Number(n) => Ok(n),
        Size::Text(t) => {
            parse_size(&t).ok_or_else(|| serde::de::Error::custom(format!("bad size {t:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("100MB"), Some(100 << 20));
        assert_eq!(parse_size("2 GiB"), Some(2 << 30));
        assert_eq!(parse_size("12x"), None);
    }

    #[test]
    fn flags_override_file_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CONFIG_FILE);
        std::fs::write(
            &file,
            "artifact_dir = \"Backtest/codes/{task_id}\"\nmax_file_size = \"1MB\"\n",
        )
        .unwrap();
        let config =
            Config::load(Some(&file), &[], &[("max_file_size".into(), "2MB".into())]).unwrap();
        assert_eq!(config.artifact_dir, "Backtest/codes/{task_id}");
        assert_eq!(config.max_file_size, 2 << 20);
    }

    #[test]
    fn unknown_keys_and_bad_templates_are_refused() {
        let mut config = Config::default();
        assert!(config.set("no_such_key", "1").is_err());
        assert!(config.set("durability", "sometimes").is_err());
        config.artifact_dir = "../escape/{task_id}".into();
        assert!(config.validate().is_err());
        config.artifact_dir = "artifacts/{workflow_id}".into();
        assert!(config.validate().is_err());
        let err = toml::from_str::<Config>("branch_prefx = \"x\"").unwrap_err();
        assert!(err.to_string().contains("branch_prefx"));
    }
}
