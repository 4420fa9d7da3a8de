//! Every ref name the store reads or writes, and the validated ids they are built from.
//!
//! Ids can only be constructed valid: a `WorkflowId` or `TaskId` that exists has passed
//! docs/design.md's rules, so ref names built from them never need checking again.

use std::fmt;

use crate::error::Error;

/// Longest workflow, task or correlation id accepted.
pub const MAX_ID_LEN: usize = 128;

/// Prefix of every correlation tag.
pub const CORR_PREFIX: &str = "corr_";
/// Prefix of every prompt tag.
pub const PROMPT_PREFIX: &str = "prompt_";

/// Checks an id against `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`, no `..`, no `.lock` or `.`
/// suffix.
fn check_id(kind: &'static str, value: &str) -> Result<(), Error> {
    let invalid = |reason: &str| Error::InvalidId {
        kind,
        value: value.escape_debug().to_string(),
        reason: reason.to_string(),
    };
    if value.is_empty() {
        return Err(invalid("it is empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(invalid("it is longer than 128 characters"));
    }
    let first = value.as_bytes()[0];
    if !first.is_ascii_alphanumeric() {
        return Err(invalid("it must start with a letter or a digit"));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        let what = if bad.is_control() {
            "a control character".to_string()
        } else if bad == ' ' {
            "a space".to_string()
        } else {
            format!("'{}'", bad.escape_debug())
        };
        return Err(invalid(&format!(
            "it contains {what}; allowed are letters, digits, '.', '_' and '-'"
        )));
    }
    if value.contains("..") {
        return Err(invalid("it contains '..'"));
    }
    if value.ends_with(".lock") {
        return Err(invalid("it ends in '.lock'"));
    }
    // git refuses a ref name ending in '.', and a task or correlation id ends one.
    if value.ends_with('.') {
        return Err(invalid("it ends in '.'"));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` and wraps it.
            pub fn new(value: &str) -> Result<Self, Error> {
                check_id($kind, value)?;
                Ok(Self(value.to_string()))
            }

            /// Returns the id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A workflow id: one directory level of the task branch names.
    WorkflowId,
    "workflow id"
);
id_type!(
    /// A task id: the last level of a task branch name.
    TaskId,
    "task id"
);

/// A correlation id, always held in its tag form `corr_<id>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CorrelationId(String);

impl CorrelationId {
    /// Accepts `corr_abc` or `abc`; both name the tag `corr_abc`.
    pub fn new(value: &str) -> Result<Self, Error> {
        let bare = value.strip_prefix(CORR_PREFIX).unwrap_or(value);
        check_id("correlation id", bare).map_err(|e| match e {
            Error::InvalidId { kind, reason, .. } => Error::InvalidId {
                kind,
                value: value.escape_debug().to_string(),
                reason,
            },
            other => other,
        })?;
        Ok(Self(format!("{CORR_PREFIX}{bare}")))
    }

    /// Returns the tag form, `corr_<id>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the full tag ref, `refs/tags/corr_<id>`.
    pub fn tag_ref(&self) -> String {
        format!("refs/tags/{}", self.0)
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A prompt hash: 4 to 128 ASCII alphanumerics.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromptHash(String);

impl PromptHash {
    /// Accepts `7a8b...` or `prompt_7a8b...`.
    pub fn new(value: &str) -> Result<Self, Error> {
        let bare = value.strip_prefix(PROMPT_PREFIX).unwrap_or(value);
        let ok = (4..=MAX_ID_LEN).contains(&bare.len())
            && bare.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(Error::InvalidId {
                kind: "prompt hash",
                value: value.escape_debug().to_string(),
                reason: "a prompt hash is 4 to 128 ASCII letters and digits".to_string(),
            });
        }
        Ok(Self(bare.to_string()))
    }

    /// Returns the hash without its tag prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the tag name, `prompt_<hash>`.
    pub fn tag_name(&self) -> String {
        format!("{PROMPT_PREFIX}{}", self.0)
    }

    /// Returns the full tag ref, `refs/tags/prompt_<hash>`.
    pub fn tag_ref(&self) -> String {
        format!("refs/tags/{PROMPT_PREFIX}{}", self.0)
    }
}

impl fmt::Display for PromptHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The branch namespace of the store, `ai/generated` by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchPrefix(String);

impl BranchPrefix {
    /// Validates a prefix: one or more `/`-separated segments, each a valid id.
    pub fn new(value: &str) -> Result<Self, Error> {
        let trimmed = value.trim_matches('/');
        if trimmed.is_empty() {
            return Err(Error::InvalidId {
                kind: "branch prefix",
                value: value.to_string(),
                reason: "it is empty".to_string(),
            });
        }
        for segment in trimmed.split('/') {
            check_id("branch prefix segment", segment)?;
        }
        Ok(Self(trimmed.to_string()))
    }

    /// Returns the prefix without slashes at either end.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns `refs/heads/<prefix>/<workflow>/<task>`.
    pub fn task_ref(&self, workflow: &WorkflowId, task: &TaskId) -> String {
        format!("refs/heads/{}", self.task_branch(workflow, task))
    }

    /// Returns the short branch name `<prefix>/<workflow>/<task>`.
    pub fn task_branch(&self, workflow: &WorkflowId, task: &TaskId) -> String {
        format!("{}/{workflow}/{task}", self.0)
    }
}

impl Default for BranchPrefix {
    fn default() -> Self {
        Self("ai/generated".to_string())
    }
}

/// Namespace of pruned or replaced refs, restorable until purged.
pub const TRASH_NAMESPACE: &str = "refs/artifact-store/trash";

/// Returns `refs/artifact-store/trash/<unix_ts>/<original ref>`.
pub fn trash_ref(unix_ts: i64, original: &str) -> String {
    format!("{TRASH_NAMESPACE}/{unix_ts}/{original}")
}

/// Namespace of pinned commits: `refs/artifact-store/pins/<name>`, never pruned.
pub const PINS_NAMESPACE: &str = "refs/artifact-store/pins";

/// The ref whose history is the log of retention runs (gc, restore, purge).
pub const REPORTS_REF: &str = "refs/artifact-store/reports";

/// Returns `refs/artifact-store/pins/<name>` for a validated pin name.
pub fn pin_ref(name: &PinName) -> String {
    format!("{PINS_NAMESPACE}/{name}")
}

/// Splits `refs/artifact-store/trash/<unix_ts>/<original ref>` into its time and original ref.
pub fn parse_trash_ref(name: &str) -> Option<(i64, &str)> {
    let rest = name.strip_prefix(TRASH_NAMESPACE)?.strip_prefix('/')?;
    let (ts, original) = rest.split_once('/')?;
    let ts = ts.parse().ok()?;
    original.starts_with("refs/").then_some((ts, original))
}

id_type!(
    /// A pin name: the last level of `refs/artifact-store/pins/<name>`.
    PinName,
    "pin name"
);

/// Returns `refs/heads/<name>` for a short branch name.
pub fn branch_ref(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_string()
    } else {
        format!("refs/heads/{name}")
    }
}

/// Checks a short branch name the way git does for the names the store handles.
pub fn check_branch_name(name: &str) -> Result<(), String> {
    let name = name.strip_prefix("refs/heads/").unwrap_or(name);
    if name.is_empty() {
        return Err("it is empty".to_string());
    }
    if !crate::git::is_valid_refname(&format!("refs/heads/{name}")) {
        return Err("it is not a valid git branch name".to_string());
    }
    Ok(())
}

/// What a store ref is, as push and the pre-receive hook treat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreRef {
    /// `refs/heads/<prefix>/...`.
    TaskBranch,
    /// `refs/tags/corr_*`.
    CorrTag,
    /// `refs/tags/prompt_*`.
    PromptTag,
    /// `refs/artifact-store/pins/*`.
    Pin,
}

impl StoreRef {
    /// Classifies a full ref name; `None` for refs the store does not own (and for trash
    /// and report refs, which never leave the machine).
    pub fn of(refname: &str, branch_prefix: &str) -> Option<StoreRef> {
        let branches = format!("refs/heads/{branch_prefix}/");
        if refname.starts_with(&branches) {
            Some(StoreRef::TaskBranch)
        } else if refname.starts_with(&format!("refs/tags/{CORR_PREFIX}")) {
            Some(StoreRef::CorrTag)
        } else if refname.starts_with(&format!("refs/tags/{PROMPT_PREFIX}")) {
            Some(StoreRef::PromptTag)
        } else if refname.starts_with(&format!("{PINS_NAMESPACE}/")) {
            Some(StoreRef::Pin)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_design_rules() {
        for ok in ["wf_rsi", "a", "A.b-c_d", "0", &"x".repeat(128)] {
            assert!(WorkflowId::new(ok).is_ok(), "{ok} should be valid");
        }
        for bad in [
            "",
            " wf",
            "wf x",
            "a/b",
            "a..b",
            "x.lock",
            "ends_in_a_dot.",
            ".hidden",
            "-dash",
            "tab\there",
            "nl\n",
            "ü",
            &"x".repeat(129),
        ] {
            assert!(TaskId::new(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn correlation_id_with_or_without_prefix_names_one_tag() {
        let a = CorrelationId::new("abc123").unwrap();
        let b = CorrelationId::new("corr_abc123").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.tag_ref(), "refs/tags/corr_abc123");
        assert!(CorrelationId::new("corr_").is_err());
        assert!(CorrelationId::new("corr_a b").is_err());
        assert!(CorrelationId::new("../x").is_err());
    }

    #[test]
    fn prompt_hash_is_4_to_128_alphanumerics() {
        assert_eq!(PromptHash::new("7a8b").unwrap().tag_name(), "prompt_7a8b");
        assert_eq!(PromptHash::new("prompt_7a8b9c").unwrap().as_str(), "7a8b9c");
        for bad in ["abc", "7a8b-9c", "", &"a".repeat(129), "7a8b 9c"] {
            assert!(PromptHash::new(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn trash_and_pin_refs_round_trip() {
        let name = trash_ref(1_700_000_000, "refs/heads/ai/generated/wf/t1");
        assert_eq!(
            parse_trash_ref(&name),
            Some((1_700_000_000, "refs/heads/ai/generated/wf/t1"))
        );
        assert_eq!(
            parse_trash_ref("refs/artifact-store/trash/x/refs/heads/a"),
            None
        );
        assert_eq!(
            parse_trash_ref("refs/artifact-store/trash/12/heads/a"),
            None
        );
        let pin = PinName::new("release-2025-11").unwrap();
        assert_eq!(pin_ref(&pin), "refs/artifact-store/pins/release-2025-11");
        assert!(PinName::new("a/b").is_err());
    }

    #[test]
    fn branch_names_are_built_under_the_prefix() {
        let prefix = BranchPrefix::new("ai/generated/").unwrap();
        let wf = WorkflowId::new("wf").unwrap();
        let task = TaskId::new("t1").unwrap();
        assert_eq!(prefix.task_ref(&wf, &task), "refs/heads/ai/generated/wf/t1");
        assert!(BranchPrefix::new("ai/../x").is_err());
        assert!(BranchPrefix::new("").is_err());
    }
}
