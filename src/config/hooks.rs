//! The `[hooks]` config table: who may do what on a shared remote. The rules that use it
//! are in the hooks operation (`src/hooks/receive.rs`); the table is a config value, so it
//! lives here with the rest of the config.

use serde::Deserialize;

use crate::error::{Error, Result};

/// The `[hooks]` table: who may do what on a shared remote.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    /// Environment variables naming the pushing user on the server; the first one set wins.
    pub identity_env: Vec<String>,
    /// The identity allowed to delete and rewrite store refs (the retention job).
    pub retention_identity: Option<String>,
    /// The committing bot's identity; when set, it may push store refs only.
    pub bot_identity: Option<String>,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            identity_env: [
                "ARTIFACT_STORE_PUSHER",
                "GL_USER",
                "GITEA_PUSHER_NAME",
                "REMOTE_USER",
            ]
            .map(str::to_string)
            .to_vec(),
            retention_identity: None,
            bot_identity: None,
        }
    }
}

impl HooksConfig {
    /// Sets one `hooks.*` key from its text form.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let optional = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
        match key {
            "hooks.retention_identity" => self.retention_identity = optional(value),
            "hooks.bot_identity" => self.bot_identity = optional(value),
            "hooks.identity_env" => {
                self.identity_env = value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            _ => {
                return Err(Error::Config {
                    origin: None,
                    message: format!("unknown key {key:?} (see docs/config.md)"),
                })
            }
        }
        Ok(())
    }

    /// Returns the pusher's identity: the first of `identity_env` that `lookup` finds set.
    pub fn pusher(&self, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
        self.identity_env
            .iter()
            .filter_map(|name| lookup(name))
            .find(|v| !v.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_keys_parse_and_the_first_set_identity_variable_wins() {
        let mut config = HooksConfig::default();
        config.set("hooks.retention_identity", "gc-bot").unwrap();
        config.set("hooks.bot_identity", " ").unwrap();
        config.set("hooks.identity_env", "A, B").unwrap();
        assert_eq!(config.retention_identity.as_deref(), Some("gc-bot"));
        assert_eq!(config.bot_identity, None);
        assert!(config.set("hooks.nope", "x").is_err());
        let lookup = |name: &str| match name {
            "A" => Some(String::new()),
            "B" => Some("alice".to_string()),
            _ => None,
        };
        assert_eq!(config.pusher(lookup).as_deref(), Some("alice"));
        let parsed: crate::Config =
            toml::from_str("[hooks]\nretention_identity = \"gc\"\n").unwrap();
        assert_eq!(parsed.hooks.retention_identity.as_deref(), Some("gc"));
        assert_eq!(parsed.hooks.identity_env[0], "ARTIFACT_STORE_PUSHER");
    }
}
