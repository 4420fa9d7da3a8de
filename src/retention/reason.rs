//! Why a ref is kept or pruned, in the words `gc -v` prints after `keep: ` or `prune: `.

use std::fmt;

/// The reason behind one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// A pin names the commit.
    Pinned(String),
    /// The branch is checked out in a worktree of the store (its path): pruning it would
    /// leave that worktree on a branch that no longer exists.
    CheckedOut(String),
    /// The base branch or a branch outside the store's prefix reaches the commit.
    Reachable(String),
    /// The newest task branch of its workflow.
    LastRun,
    /// The newest task branch of its workflow whose tip passed its tests.
    LastPass,
    /// Inside every branch rule set: `(limit, rank)` and `(days, age in days)`.
    WithinRules {
        keep_last: Option<(u64, usize)>,
        max_age: Option<(u64, i64)>,
    },
    /// No branch rule is set for the workflow.
    NoBranchRule,
    /// Outside `keep_last` and/or older than `max_age_days`.
    Expired {
        keep_last: Option<(u64, usize)>,
        max_age: Option<(u64, i64)>,
    },
    /// A tag on the tip of a kept branch: always kept.
    Tip(String),
    /// A tag on a kept branch (a `prompt_` tag, or `keep_versions` is not set).
    OnKeptBranch(String),
    /// A `corr_` tag within `keep_versions` of a kept branch.
    WithinVersions {
        keep: u64,
        version: usize,
        branch: String,
    },
    /// A `corr_` tag beyond `keep_versions` of every kept branch holding its commit.
    OutsideVersions {
        keep: u64,
        version: usize,
        branch: String,
    },
    /// A tag whose commit no kept branch holds (the pruned branch holding it, if any).
    CommitNotKept(Option<String>),
    /// A tag that names no commit: the store leaves it alone.
    NotACommit,
}

impl Reason {
    /// Returns whether the ref stays.
    pub(crate) fn keeps(&self) -> bool {
        !matches!(
            self,
            Reason::Expired { .. } | Reason::OutsideVersions { .. } | Reason::CommitNotKept(_)
        )
    }

    /// Returns the stable code of the rule behind the reason, as `--json` gives it.
    pub(crate) fn rule(&self) -> &'static str {
        match self {
            Reason::Pinned(_) => "pinned",
            Reason::CheckedOut(_) => "checked_out",
            Reason::Reachable(_) => "reachable",
            Reason::LastRun => "last_run",
            Reason::LastPass => "last_pass",
            Reason::WithinRules { .. } => "within_rules",
            Reason::NoBranchRule => "no_rule",
            Reason::Expired {
                keep_last: Some(_), ..
            } => "keep_last",
            Reason::Expired { .. } => "max_age_days",
            Reason::Tip(_) => "tip",
            Reason::OnKeptBranch(_) => "kept_branch",
            Reason::WithinVersions { .. } | Reason::OutsideVersions { .. } => "keep_versions",
            Reason::CommitNotKept(_) => "commit_not_kept",
            Reason::NotACommit => "not_a_commit",
        }
    }
}

fn rules_text(
    f: &mut fmt::Formatter<'_>,
    keep_last: &Option<(u64, usize)>,
    max_age: &Option<(u64, i64)>,
    expired: bool,
) -> fmt::Result {
    let mut parts = Vec::new();
    if let Some((n, rank)) = keep_last {
        parts.push(match expired {
            true => format!("outside keep_last={n} (rank {rank})"),
            false => format!("within keep_last={n} (rank {rank})"),
        });
    }
    if let Some((days, age)) = max_age {
        parts.push(match expired {
            true => format!("older than {} ({})", in_days(*days as i64), in_days(*age)),
            false => format!("within max_age_days={days} ({})", in_days(*age)),
        });
    }
    f.write_str(&parts.join(if expired { "; " } else { " and " }))
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Pinned(name) => write!(f, "pinned ({name})"),
            Reason::CheckedOut(dir) => write!(f, "checked out in {dir}"),
            Reason::Reachable(branch) => write!(f, "reachable from {branch}"),
            Reason::LastRun => f.write_str("last_run"),
            Reason::LastPass => f.write_str("last_pass"),
            Reason::WithinRules { keep_last, max_age } => rules_text(f, keep_last, max_age, false),
            Reason::NoBranchRule => f.write_str("no keep_last or max_age_days rule"),
            Reason::Expired { keep_last, max_age } => rules_text(f, keep_last, max_age, true),
            Reason::Tip(branch) => write!(f, "tip of {branch}"),
            Reason::OnKeptBranch(branch) => write!(f, "on kept branch {branch}"),
            Reason::WithinVersions {
                keep,
                version,
                branch,
            } => write!(
                f,
                "within keep_versions={keep} (version {version} of {branch})"
            ),
            Reason::OutsideVersions {
                keep,
                version,
                branch,
            } => write!(
                f,
                "outside keep_versions={keep} (version {version} of {branch})"
            ),
            Reason::CommitNotKept(Some(branch)) => {
                write!(f, "commit not kept ({branch} is pruned)")
            }
            Reason::CommitNotKept(None) => f.write_str("commit not kept (on no task branch)"),
            Reason::NotACommit => f.write_str("names no commit"),
        }
    }
}

/// Counts days in a sentence: `1 day`, `30 days`.
fn in_days(n: i64) -> String {
    if n == 1 {
        "1 day".to_string()
    } else {
        format!("{n} days")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_the_issue_writes_them() {
        assert_eq!(
            Reason::Pinned("release-2025-11".into()).to_string(),
            "pinned (release-2025-11)"
        );
        let rank = Reason::Expired {
            keep_last: Some((10, 14)),
            max_age: None,
        };
        assert_eq!(rank.to_string(), "outside keep_last=10 (rank 14)");
        assert_eq!(rank.rule(), "keep_last");
        let age = Reason::Expired {
            keep_last: None,
            max_age: Some((30, 41)),
        };
        assert_eq!(age.to_string(), "older than 30 days (41 days)");
        assert!(!age.keeps());
        assert_eq!(
            Reason::Reachable("main".into()).to_string(),
            "reachable from main"
        );
        assert_eq!(Reason::LastRun.to_string(), "last_run");
    }
}
