//! Gathers what the planner reads: task branches with their first-parent histories, store
//! tags peeled to commits, pins, and the commits protected ref histories reach. Refs are
//! read by prefix (`git::refs::RefDb::with_prefix`), never by walking every ref of the repository.

use std::collections::HashMap;

use crate::git::{ObjectId, Repo};

use super::plan::rank_order;
use super::{Progress, Unit};
use crate::error::{Error, Result};
use crate::git::refs::RefDb;
use crate::metadata::{find_commit, metadata_at, Trailers};
use crate::refs::{CORR_PREFIX, PINS_NAMESPACE, PROMPT_PREFIX};
use crate::store::Store;

/// A task branch as the planner sees it.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    /// `refs/heads/<prefix>/<workflow>/<task>`.
    pub(crate) refname: String,
    pub(crate) workflow: String,
    pub(crate) tip: ObjectId,
    /// Commit time of the tip, unix seconds.
    pub(crate) time: i64,
    /// The tip's `test_status` is `passed` (`None`: not read, as nothing depended on it).
    pub(crate) passed: Option<bool>,
    /// First-parent history from the tip, stopping before commits reachable from a protected ref.
    pub(crate) history: Vec<ObjectId>,
}

/// A `corr_` or `prompt_` tag.
#[derive(Debug, Clone)]
pub(crate) struct Tag {
    /// `refs/tags/<name>`.
    pub(crate) refname: String,
    /// What the ref holds (a tag object for annotated tags).
    pub(crate) value: ObjectId,
    /// The commit it peels to; `None` when it names no commit.
    pub(crate) commit: Option<ObjectId>,
}

/// Everything the planner reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inventory {
    pub(crate) branches: Vec<Branch>,
    pub(crate) tags: Vec<Tag>,
    /// `(pin name, commit)`.
    pub(crate) pins: Vec<(String, ObjectId)>,
    /// Commits reachable from the base branch or a branch outside the prefix, with its name.
    pub(crate) protected: HashMap<ObjectId, String>,
    /// Branches checked out in a worktree of the store (`refs/heads/...`), with its path.
    pub(crate) checked_out: HashMap<String, String>,
}

impl Store {
    /// Reads everything a retention plan depends on.
    pub(crate) fn retention_inventory(&self, progress: &dyn Progress) -> Result<Inventory> {
        let protected = self.protected_commits()?;
        let heads = self.task_branches(None, None)?;
        progress.start("reading task branches", heads.len() as u64, Unit::Items);
        let mut branches = Vec::with_capacity(heads.len());
        for (short, tip) in heads {
            branches.push(self.branch_of(&short, tip, &protected)?);
            progress.inc(1);
        }
        self.mark_last_pass(&mut branches)?;
        Ok(Inventory {
            branches,
            tags: self.store_tags()?,
            pins: self.pinned_commits()?,
            protected,
            checked_out: self.checked_out_branches()?,
        })
    }

    /// The branch each worktree of the store has checked out (its HEAD names it): the main
    /// worktree's and every linked one's (`git worktree add`) that still exists.
    fn checked_out_branches(&self) -> Result<HashMap<String, String>> {
        Ok(crate::git::worktree::checked_out_branches(self.repo())?
            .into_iter()
            .map(|(branch, dir)| (branch, dir.display().to_string()))
            .collect())
    }

    /// Maps every commit reachable from the base branch or another branch outside the
    /// prefix to that branch's short name (the base branch first).
    fn protected_commits(&self) -> Result<HashMap<ObjectId, String>> {
        let repo = self.repo();
        let task_dir = format!("refs/heads/{}/", self.config().prefix().as_str());
        let base = crate::refs::branch_ref(&self.config().base_branch);
        let mut tips: Vec<(String, ObjectId)> = RefDb::new(self.repo())
            .with_prefix("refs/heads/")?
            .into_iter()
            .filter(|(name, _)| !name.starts_with(&task_dir))
            .collect();
        tips.sort_by_key(|(name, _)| (*name != base, name.clone()));
        let mut reached = HashMap::new();
        let mut walked: Vec<ObjectId> = Vec::new();
        for (name, tip) in tips {
            let short = name.trim_start_matches("refs/heads/").to_string();
            if repo.commit_view(tip).is_err() {
                continue;
            }
            let history = crate::git::rewrite::commits_between(repo, tip, &walked, false).map_err(
                |e| match e {
                    Error::Git { source, .. } => {
                        Error::git(format!("failed to walk the history of {short}"))(source)
                    }
                    e => e,
                },
            )?;
            for oid in history {
                reached.entry(oid).or_insert_with(|| short.clone());
            }
            walked.push(tip);
        }
        Ok(reached)
    }

    fn branch_of(
        &self,
        short: &str,
        tip: ObjectId,
        protected: &HashMap<ObjectId, String>,
    ) -> Result<Branch> {
        let repo = self.repo();
        let commit = find_commit(repo, tip)?;
        let time = commit.time().seconds();
        let workflow = short
            .strip_prefix(self.config().prefix().as_str())
            .and_then(|rest| rest.trim_start_matches('/').split('/').next())
            .unwrap_or_default()
            .to_string();
        let mut history = Vec::new();
        // A parent that cannot be read ends the walk with an error naming the branch: a
        // history cut short would leave the tags below it on no branch, and prune them.
        for oid in crate::git::first_parents(repo, tip, short)? {
            let oid = oid?;
            if protected.contains_key(&oid) {
                break;
            }
            history.push(oid);
        }
        Ok(Branch {
            refname: format!("refs/heads/{short}"),
            workflow,
            tip,
            time,
            passed: None,
            history,
        })
    }

    /// Reads `test_status` of tips, newest first per workflow, up to the first that passed.
    fn mark_last_pass(&self, branches: &mut [Branch]) -> Result<()> {
        let order: Vec<Vec<usize>> = rank_order(branches).into_values().collect();
        for idxs in order {
            for i in idxs {
                let passed = self.tip_passed(branches[i].tip)?;
                branches[i].passed = Some(passed);
                if passed {
                    break;
                }
            }
        }
        Ok(())
    }

    fn tip_passed(&self, tip: ObjectId) -> Result<bool> {
        let repo = self.repo();
        let commit = find_commit(repo, tip)?;
        let trailers = Trailers::parse(commit.message());
        let (Some(wf), Some(task)) = (&trailers.workflow_id, &trailers.task_id) else {
            return Ok(false);
        };
        let dir = self
            .config()
            .artifact_dir
            .replace("{workflow_id}", wf)
            .replace("{task_id}", task);
        let status = match metadata_at(repo, &commit, &dir) {
            Some(doc) => doc
                .get("test_status")
                .and_then(|s| s.as_str())
                .map(str::to_string),
            None => trailers.test_status.clone(),
        };
        Ok(status.as_deref() == Some("passed"))
    }

    fn store_tags(&self) -> Result<Vec<Tag>> {
        let mut tags = Vec::new();
        for prefix in [CORR_PREFIX, PROMPT_PREFIX] {
            let scan = format!("refs/tags/{prefix}");
            for (refname, value, peeled) in RefDb::new(self.repo()).with_prefix_peeled(&scan)? {
                let commit = match peeled {
                    Some(p) => commit_or_none(self.repo(), &refname, p, true)?,
                    None => commit_or_none(self.repo(), &refname, value, false)?,
                };
                tags.push(Tag {
                    refname,
                    value,
                    commit,
                });
            }
        }
        Ok(tags)
    }

    /// Returns `(pin name, commit)` of every pin.
    pub(crate) fn pinned_commits(&self) -> Result<Vec<(String, ObjectId)>> {
        let prefix = format!("{PINS_NAMESPACE}/");
        let mut pins = Vec::new();
        for (name, oid) in RefDb::new(self.repo()).with_prefix(&prefix)? {
            if let Some(commit) = commit_or_none(self.repo(), &name, oid, false)? {
                pins.push((name[prefix.len()..].to_string(), commit));
            }
        }
        Ok(pins)
    }
}

/// Returns the commit `oid` names (peeling tags); `None` for a tree or blob. With
/// `known_peeled`, `oid` is the end of the peel chain `packed-refs` recorded: no read.
/// An object on the way that cannot be read is a corrupt store, never "names no commit":
/// that would take a tag whose commit is only unreadable for one the store does not own.
fn commit_or_none(
    repo: &Repo,
    refname: &str,
    oid: ObjectId,
    known_peeled: bool,
) -> Result<Option<ObjectId>> {
    if known_peeled {
        return Ok(Some(oid));
    }
    crate::git::commit_named_by(repo, refname, oid)
}
