//! Push: the store's refs to a shared remote, the non-fast-forward retry, pending sync.
//!
//! A push moves task branches first and tags in calls of their own, so that a rejected
//! branch never holds its tags back. A branch the remote holds at a commit this store has
//! not seen (another machine pushed first) is fetched, and this store's commits on it are
//! re-applied onto the remote tip as new commits with the same metadata, message and
//! correlation id; their tags move with them; then the push is tried again, a bounded
//! number of times. Both forms of a non-fast-forward are handled: the git layer refusing before
//! sending anything, and the server answering a ref with a status string.
//!
//! Only store refs travel: task branches under the prefix, `corr_`/`prompt_` tags and
//! pins. Trash and report refs stay local.

mod reapply;
mod sync;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::Store;

pub use crate::git::remote::wire::PushProgress;
pub use crate::refs::StoreRef;

/// How many rounds of list, re-apply and push a ref gets before it is reported refused.
pub const PUSH_ATTEMPTS: u32 = 10;

/// One ref the remote now holds at the local value.
#[derive(Debug, Clone, Serialize)]
pub struct PushedRef {
    /// Full ref name.
    #[serde(rename = "ref")]
    pub refname: String,
    /// What the remote held before, `null` when it lacked the ref.
    pub old: Option<String>,
    /// What it holds now.
    pub new: String,
    /// Whether the update replaced a value that was not an ancestor (tags and pins only).
    pub forced: bool,
}

/// One ref the remote did not take, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedRef {
    /// Full ref name.
    #[serde(rename = "ref")]
    pub refname: String,
    /// The local value.
    pub local: String,
    /// The remote's value, `null` when it lacks the ref.
    pub remote: Option<String>,
    /// The remote's status string or the store's own reason.
    pub reason: String,
}

/// A local commit re-applied onto a newer remote tip.
#[derive(Debug, Clone, Serialize)]
pub struct Reapplied {
    /// The task branch, full ref name.
    pub branch: String,
    /// The commit's correlation id, when it is a store commit.
    pub correlation_id: Option<String>,
    /// The commit as it was made here.
    pub from: String,
    /// The commit that replaces it on the branch.
    pub to: String,
    /// True when the remote already held this correlation id with the same files, so no
    /// new commit was made and `to` is the remote's commit.
    pub duplicate: bool,
}

/// What a push did; `push --json` prints it. Refused refs make it a failure.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushReport {
    /// True when nothing was refused (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// The remote's name (or URL).
    pub remote: String,
    /// Refs the remote now holds at the local value.
    pub pushed: Vec<PushedRef>,
    /// Refs left as they are on the remote.
    pub refused: Vec<RefusedRef>,
    /// Commits re-applied onto newer remote tips before pushing.
    pub reapplied: Vec<Reapplied>,
    /// Refs the remote already held at the local value.
    pub up_to_date: usize,
    /// Refs the remote holds at a newer commit than the local one: nothing to push.
    pub remote_ahead: Vec<String>,
}

impl PushReport {
    /// The error that stands for the refs the remote refused, if any.
    pub fn refused_error(&self) -> Option<Error> {
        let first = self.refused.first()?;
        let message = match self.refused.len() {
            1 => format!(
                "{} refused {}: {}",
                self.remote, first.refname, first.reason
            ),
            n => format!(
                "{} refused {n} refs, the first {}: {}",
                self.remote, first.refname, first.reason
            ),
        };
        Some(Error::Remote {
            message,
            hint: Some(
                "the refs pushed are listed under `pushed`, the refused ones under `refused`; run `artifact-store push` again once the reason is fixed"
                    .to_string(),
            ),
        })
    }
}

impl crate::report::Reportable for PushReport {
    fn failure(&self) -> Option<crate::report::Failure> {
        self.refused_error().map(|e| crate::report::Failure::of(&e))
    }
}

impl Store {
    /// Pushes every store ref the remote lacks or holds at an older commit: task branches
    /// (re-applying onto the remote tip where another writer got there first), then
    /// `corr_`/`prompt_` tags and pins. Running it again pushes nothing.
    ///
    /// A remote that cannot be reached is an [`Error::Remote`]; refs the remote refuses
    /// are listed in the report.
    pub fn push_pending(&self, progress: &mut dyn FnMut(&PushProgress)) -> Result<PushReport> {
        let mut engine = sync::Engine::new(self, progress)?;
        let (branches, tags) = sync::pending_refs(self)?;
        let result = engine.run(branches, tags, false);
        let report = engine.finish();
        result.map(|()| report)
    }

    /// Pushes the branch (short name) and tags (names) of a commit that landed. The
    /// caller learns which commits were re-applied onto the remote tip (the remote had
    /// moved on) even when the push then failed, and whether everything reached the remote.
    pub(crate) fn push_landed(&self, branch: &str, tags: &[String]) -> LandedPush {
        let mut quiet = |_: &PushProgress| {};
        let mut engine = match sync::Engine::new(self, &mut quiet) {
            Ok(engine) => engine,
            Err(e) => {
                return LandedPush {
                    reapplied: Vec::new(),
                    result: Err(e),
                }
            }
        };
        let branch = crate::refs::branch_ref(branch);
        let tags = tags.iter().map(|t| format!("refs/tags/{t}")).collect();
        let result = engine.run(vec![branch], tags, true);
        let report = engine.finish();
        let result = result.and_then(|()| match report.refused.first() {
            Some(refused) => Err(Error::Remote {
                message: format!(
                    "remote {:?} refused {}: {}",
                    report.remote, refused.refname, refused.reason
                ),
                hint: None,
            }),
            None => Ok(()),
        });
        LandedPush {
            reapplied: report.reapplied,
            result,
        }
    }
}

/// What [`Store::push_landed`] did.
pub(crate) struct LandedPush {
    /// Each local commit re-applied onto the remote tip, and what replaced it.
    pub reapplied: Vec<Reapplied>,
    /// Whether the branch and tags reached the remote, or why not.
    pub result: Result<()>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_refs_are_branches_under_the_prefix_corr_and_prompt_tags_and_pins() {
        let of = |r: &str| StoreRef::of(r, "ai/generated");
        assert_eq!(
            of("refs/heads/ai/generated/wf/t"),
            Some(StoreRef::TaskBranch)
        );
        assert_eq!(of("refs/tags/corr_abc"), Some(StoreRef::CorrTag));
        assert_eq!(of("refs/tags/prompt_7a8b"), Some(StoreRef::PromptTag));
        assert_eq!(of("refs/artifact-store/pins/keep"), Some(StoreRef::Pin));
        for other in [
            "refs/heads/main",
            "refs/heads/ai/generatedx/wf/t",
            "refs/tags/v1.0",
            "refs/artifact-store/trash/1700000000/refs/heads/ai/generated/wf/t",
            "refs/artifact-store/reports",
        ] {
            assert_eq!(of(other), None, "{other}");
        }
        assert_eq!(
            StoreRef::of("refs/heads/bots/wf/t", "bots"),
            Some(StoreRef::TaskBranch)
        );
    }
}
