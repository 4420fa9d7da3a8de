//! The retention policy: the `[retention]` config table, per-workflow glob overrides, and the
//! rules each workflow ends up with.
//!
//! A config value: [`crate::Config::validate`] checks it with [`Policy::from_config`], and
//! the retention operation (`src/retention/`) plans with the [`Policy`] it gives.

use std::collections::BTreeMap;
use std::path::Path;

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Days a pruned ref stays in the trash when `trash_days` is not set.
pub const DEFAULT_TRASH_DAYS: u64 = 30;

/// The `[retention]` table as written; every value is checked by [`Policy::from_config`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Task branches kept per workflow, newest by last commit time.
    pub keep_last: Option<i64>,
    /// Task branches whose last commit is older than this many days are pruned.
    pub max_age_days: Option<i64>,
    /// `corr_` tags kept per kept task branch, newest first (the rollback depth).
    pub keep_versions: Option<i64>,
    /// Days a pruned ref stays restorable before `trash purge` deletes it.
    pub trash_days: Option<i64>,
    /// Overrides by workflow glob: `[retention.workflows."wf_bench_*"]`.
    pub workflows: BTreeMap<String, RuleOverride>,
}

/// One `[retention.workflows."<glob>"]` table: the keys it sets replace the global ones.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleOverride {
    /// As `[retention] keep_last`.
    pub keep_last: Option<i64>,
    /// As `[retention] max_age_days`.
    pub max_age_days: Option<i64>,
    /// As `[retention] keep_versions`.
    pub keep_versions: Option<i64>,
}

/// The rules one workflow is planned with; `None` means the rule is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rules {
    /// Task branches kept, newest first.
    pub keep_last: Option<u64>,
    /// Age limit of a task branch's last commit, in days.
    pub max_age_days: Option<u64>,
    /// `corr_` tags kept per kept task branch.
    pub keep_versions: Option<u64>,
}

/// A validated policy: global rules, trash lifetime, and compiled overrides.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Rules of a workflow no override matches.
    pub rules: Rules,
    /// Days pruned refs stay restorable.
    pub trash_days: u64,
    /// Overrides, least specific (shortest glob) first, so longer globs win per key.
    overrides: Vec<(String, GlobMatcher, Rules)>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rules: Rules::default(),
            trash_days: DEFAULT_TRASH_DAYS,
            overrides: Vec::new(),
        }
    }
}

impl RetentionConfig {
    /// Sets one `retention.<key>` from text, as `-c retention.keep_last=5` gives it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let number = value.trim().parse::<i64>().map_err(|_| Error::Config {
            origin: None,
            message: format!("{key} = {value:?}: expected a whole number"),
        })?;
        let slot = match key {
            "retention.keep_last" => &mut self.keep_last,
            "retention.max_age_days" => &mut self.max_age_days,
            "retention.keep_versions" => &mut self.keep_versions,
            "retention.trash_days" => &mut self.trash_days,
            _ => {
                return Err(Error::Config {
                    origin: None,
                    message: format!(
                        "unknown key {key:?}; per-workflow overrides are set in the config file (see docs/config.md)"
                    ),
                })
            }
        };
        *slot = Some(number);
        Ok(())
    }
}

impl Policy {
    /// Checks a `[retention]` table (no negative values, globs that parse) and compiles it.
    pub fn from_config(config: &RetentionConfig) -> Result<Policy> {
        let rules = Rules {
            keep_last: count("retention.keep_last", config.keep_last)?,
            max_age_days: count("retention.max_age_days", config.max_age_days)?,
            keep_versions: count("retention.keep_versions", config.keep_versions)?,
        };
        let trash_days =
            count("retention.trash_days", config.trash_days)?.unwrap_or(DEFAULT_TRASH_DAYS);
        let mut overrides = Vec::new();
        for (pattern, o) in &config.workflows {
            let at = |key: &str| format!("retention.workflows.{pattern:?}.{key}");
            let glob = Glob::new(pattern).map_err(|e| Error::Config {
                origin: None,
                message: format!(
                    "retention.workflows.{pattern:?}: not a valid glob ({})",
                    e.kind()
                ),
            })?;
            let set = Rules {
                keep_last: count(&at("keep_last"), o.keep_last)?,
                max_age_days: count(&at("max_age_days"), o.max_age_days)?,
                keep_versions: count(&at("keep_versions"), o.keep_versions)?,
            };
            overrides.push((pattern.clone(), glob.compile_matcher(), set));
        }
        overrides.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(Policy {
            rules,
            trash_days,
            overrides,
        })
    }

    /// Reads a policy file: the `[retention]` table, written as such or at the top level.
    pub fn from_file(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).map_err(Error::io("failed to read", path))?;
        let bad = |message: String| Error::Config {
            origin: Some(path.to_path_buf()),
            message,
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| bad(e.message().into()))?;
        if table.len() == 1 {
            if let Some(toml::Value::Table(inner)) = table.remove("retention") {
                table = inner;
            }
        }
        let config: RetentionConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.message().into()))?;
        Policy::from_config(&config).map_err(|e| match e {
            Error::Config { message, .. } => bad(message),
            other => other,
        })
    }

    /// Returns the rules for `workflow` and the globs that shaped them.
    pub fn rules_for(&self, workflow: &str) -> (Rules, Vec<String>) {
        let mut rules = self.rules;
        let mut matched = Vec::new();
        for (pattern, matcher, set) in &self.overrides {
            if !matcher.is_match(workflow) {
                continue;
            }
            matched.push(pattern.clone());
            rules.keep_last = set.keep_last.or(rules.keep_last);
            rules.max_age_days = set.max_age_days.or(rules.max_age_days);
            rules.keep_versions = set.keep_versions.or(rules.keep_versions);
        }
        (rules, matched)
    }

    /// Returns whether no rule prunes anything anywhere.
    pub fn is_empty(&self) -> bool {
        let none = |r: &Rules| {
            r.keep_last.is_none() && r.max_age_days.is_none() && r.keep_versions.is_none()
        };
        none(&self.rules) && self.overrides.iter().all(|(_, _, r)| none(r))
    }
}

fn count(key: &str, value: Option<i64>) -> Result<Option<u64>> {
    match value {
        None => Ok(None),
        Some(v) => u64::try_from(v).map(Some).map_err(|_| Error::Config {
            origin: None,
            message: format!("{key} = {v}: must be zero or more"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy> {
        let config: RetentionConfig = toml::from_str(text).map_err(|e| Error::Config {
            origin: None,
            message: e.message().to_string(),
        })?;
        Policy::from_config(&config)
    }

    #[test]
    fn longer_globs_win_per_key_and_unset_keys_fall_through() {
        let policy = parse(
            "keep_last = 10\nmax_age_days = 30\n\
             [workflows.\"wf_*\"]\nkeep_last = 5\nkeep_versions = 2\n\
             [workflows.\"wf_bench_*\"]\nkeep_last = 3\n",
        )
        .unwrap();
        let (rules, matched) = policy.rules_for("wf_bench_1");
        assert_eq!(matched, ["wf_*", "wf_bench_*"]);
        assert_eq!(
            rules,
            Rules {
                keep_last: Some(3),
                max_age_days: Some(30),
                keep_versions: Some(2)
            }
        );
        let (rules, matched) = policy.rules_for("other");
        assert!(matched.is_empty());
        assert_eq!(rules.keep_last, Some(10));
        assert_eq!(policy.trash_days, DEFAULT_TRASH_DAYS);
    }

    #[test]
    fn negative_values_unknown_keys_and_bad_globs_are_refused() {
        let err = parse("keep_last = -1").unwrap_err().to_string();
        assert!(err.contains("retention.keep_last = -1"), "{err}");
        let err = parse("[workflows.\"wf\"]\nkeep_versions = -2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("keep_versions = -2"), "{err}");
        let err = parse("keep_lats = 1").unwrap_err().to_string();
        assert!(err.contains("keep_lats"), "{err}");
        let err = parse("[workflows.\"wf\"]\ntrash_days = 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("trash_days"), "{err}");
        let err = parse("[workflows.\"wf_[a\"]\nkeep_last = 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid glob"), "{err}");
    }

    #[test]
    fn flags_set_retention_keys() {
        let mut config = RetentionConfig::default();
        config.set("retention.keep_last", "4").unwrap();
        assert_eq!(config.keep_last, Some(4));
        assert!(config.set("retention.keep_last", "many").is_err());
        assert!(config.set("retention.nope", "1").is_err());
        config.set("retention.trash_days", "-1").unwrap();
        assert!(Policy::from_config(&config).is_err());
    }
}
