//! `revert-to-tag`: brings a branch back to the state of a store tag, by a forward
//! restore commit (history kept) or by moving the branch (old tip kept in the trash).
//!
//! Everything is checked and planned before anything is written: the tag, the target,
//! then, when there is something to change, a checked-out worktree. A plan with nothing
//! to change returns at once, and a dry run after the checks. `apply` then writes the
//! objects, updates a checked-out worktree and moves the ref by compare-and-swap.

mod apply;
mod set;
use crate::git::treepath as tree;

use crate::git::ObjectId;
use crate::git::Repo;

use crate::error::{Error, Result};
use crate::refs::{CorrelationId, PromptHash, CORR_PREFIX, PROMPT_PREFIX};
use crate::store::Store;

/// How a branch is brought back to a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RevertMode {
    /// A new commit on the target whose tree is the tag's; history is kept.
    Restore,
    /// The target ref moves to the tagged commit; the old tip goes to the trash.
    Hard,
}

/// One request to bring a branch back to a store tag.
#[derive(Debug, Clone)]
pub struct RevertRequest {
    /// `corr_<id>`, `<id>` (meaning `corr_<id>`) or `prompt_<hash>`.
    pub tag: String,
    /// Target branch, short (`main`) or full (`refs/heads/main`).
    pub target: String,
    /// Restore only this path of the tree (restore mode only).
    pub path: Option<String>,
    /// Restore by a new commit, or move the ref.
    pub mode: RevertMode,
    /// Confirms a hard revert, which rewrites the target's history; without it a hard
    /// revert is refused ([`Error::Unconfirmed`]), a dry run too.
    pub force: bool,
    /// Plan and report, write nothing.
    pub dry_run: bool,
    /// Create a missing target at the tagged commit instead of failing.
    pub create: bool,
}

impl RevertRequest {
    /// Returns a forward restore of `main` to `tag`, with every option off.
    pub fn new(tag: impl Into<String>) -> RevertRequest {
        RevertRequest {
            tag: tag.into(),
            target: "main".to_string(),
            path: None,
            mode: RevertMode::Restore,
            force: false,
            dry_run: false,
            create: false,
        }
    }
}

/// What a revert did (or, in a dry run, would do); serializes to the documented JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RevertOutcome {
    /// Always true; failures are errors (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// The target's tip afterwards (its current tip in a dry run; null if it does not exist).
    pub commit_sha: Option<String>,
    /// The store tag reverted to, `corr_<id>` or `prompt_<hash>`.
    pub reverted_to: String,
    /// Target branch, short form.
    pub branch: String,
    /// Whether the target changed (or would change, in a dry run).
    pub changed: bool,
    /// Restore or hard.
    pub mode: RevertMode,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The command that undoes a hard revert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
    /// Where a hard revert kept the old tip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trash_ref: Option<String>,
    /// The target's tip before, when it existed.
    #[serde(skip)]
    pub previous_sha: Option<String>,
    /// The commit the tag names.
    #[serde(skip)]
    pub tag_commit: String,
    /// True when the target did not exist and was (or would be) created.
    #[serde(skip)]
    pub created: bool,
    /// The path restored, normalized, when only a path was.
    #[serde(skip)]
    pub path: Option<String>,
    /// The worktree that followed (or would follow) the target, when it is checked out.
    #[serde(skip)]
    pub worktree: Option<std::path::PathBuf>,
    /// Things the user should know that did not stop the revert.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// A store tag, resolved.
pub(crate) struct Tag {
    pub(crate) name: String,
    pub(crate) commit: ObjectId,
}

/// The target branch, validated.
pub(crate) struct Target {
    pub(crate) short: String,
    pub(crate) refname: String,
}

/// What applying the request will do, decided before anything is written.
pub(crate) enum Plan {
    /// The target already has the tag's state.
    Unchanged,
    /// The target does not exist: create it at the tagged commit.
    Create,
    /// A new commit on the tip whose tree (or subtree at the path) is the tag's.
    Restore,
    /// Move the target to the tagged commit.
    Hard,
}

impl Store {
    /// Brings `req.target` back to the tree of the store tag `req.tag`.
    ///
    /// A hard revert needs `req.force`: it is refused before anything is read, so every
    /// face (CLI, Python, events) gets the same rule and only words its hint.
    pub fn revert_to_tag(&self, req: &RevertRequest) -> Result<RevertOutcome> {
        if req.mode == RevertMode::Hard && !req.force {
            return Err(Error::Unconfirmed {
                message: format!(
                    "a hard revert moves {} back to {} and drops the commits after it from the branch's history, which breaks clones that fetched them",
                    req.target, req.tag
                ),
                hint: Some("confirm it with force (the old tip is kept in the trash), or revert by a forward restore, which keeps history".to_string()),
            });
        }
        let repo = self.repo();
        let path = req.path.as_deref().map(tree::normalize).transpose()?;
        if path.is_some() && req.mode == RevertMode::Hard {
            return Err(Error::InvalidInput(
                "--path restores part of the tree with a new commit; --hard moves the whole branch: use one or the other".to_string(),
            ));
        }
        let target = Target::parse(&req.target)?;
        let tag = resolve_tag(repo, &req.tag)?;
        let tip = crate::git::ref_oid(repo, &target.refname)?;
        if tip.is_none() && !req.create {
            return Err(Error::NotFound(format!(
                "target branch {} not found; pass --create to create it at the tag",
                target.short
            )));
        }
        let task = set::TaskSet::of(self, &target.refname);
        if let (None, Some(task)) = (tip, task.as_ref()) {
            let tag_tree = repo
                .read_commit_tree(tag.commit)
                .map_err(|e| Error::corrupt_object(&tag.name, "commit", tag.commit, &e))?;
            task.check_created(repo, tag_tree, &tag.name)?;
        }
        let plan = plan(repo, req.mode, &tag, tip, path.as_deref(), task.as_ref())?;
        if !matches!(plan, Plan::Unchanged) {
            // A tag whose tree lacks an object would put a commit on the target that git
            // cannot check out: a damaged store, said before anything is written.
            let tag_tree = repo
                .read_commit_tree(tag.commit)
                .map_err(|e| Error::corrupt_object(&tag.name, "commit", tag.commit, &e))?;
            match path.as_deref() {
                None => crate::git::tree::check_present(repo, tag_tree, 0o040000, &tag.name)?,
                Some(p) => {
                    if let Some((id, mode)) = tree::entry_at(repo, tag_tree, p)? {
                        let label = format!("{}:{p}", tag.name);
                        crate::git::tree::check_present(repo, id, mode, &label)?;
                    }
                }
            }
        }
        let checked_out = match plan {
            Plan::Unchanged => None,
            _ => crate::git::worktree::guard(repo, &target.refname)?,
        };
        let mut outcome = RevertOutcome {
            success: true,
            commit_sha: tip.map(|t| t.to_string()),
            reverted_to: tag.name.clone(),
            branch: target.short.clone(),
            changed: !matches!(plan, Plan::Unchanged),
            mode: req.mode,
            dry_run: req.dry_run,
            undo: None,
            trash_ref: None,
            previous_sha: tip.map(|t| t.to_string()),
            tag_commit: tag.commit.to_string(),
            created: matches!(plan, Plan::Create),
            path,
            worktree: checked_out.as_ref().map(|c| c.workdir.clone()),
            warnings: Vec::new(),
        };
        if req.dry_run || !outcome.changed {
            return Ok(outcome);
        }
        let job = apply::Job {
            tag: &tag,
            target: &target,
            tip,
            path: outcome.path.as_deref(),
            plan: &plan,
            checked_out: checked_out.as_ref(),
            task: task.as_ref(),
        };
        let done = apply::run(self, &job)?;
        outcome.commit_sha = Some(done.new_tip.to_string());
        outcome.undo = done.undo;
        outcome.trash_ref = done.trash_ref;
        outcome.warnings = done.warnings;
        Ok(outcome)
    }
}

impl Target {
    /// Validates a branch name given short (`main`) or full (`refs/heads/main`).
    fn parse(given: &str) -> Result<Target> {
        let short = given.strip_prefix("refs/heads/").unwrap_or(given);
        crate::refs::check_branch_name(short).map_err(|reason| Error::InvalidId {
            kind: "target branch",
            value: given.escape_debug().to_string(),
            reason,
        })?;
        Ok(Target {
            short: short.to_string(),
            refname: format!("refs/heads/{short}"),
        })
    }
}

/// Resolves a store tag name to the commit it names; refuses tags the store did not write.
fn resolve_tag(repo: &Repo, given: &str) -> Result<Tag> {
    let given = given.strip_prefix("refs/tags/").unwrap_or(given);
    let name = if given.starts_with(PROMPT_PREFIX) {
        PromptHash::new(given)?.tag_name()
    } else if given.starts_with(CORR_PREFIX) {
        CorrelationId::new(given)?.as_str().to_string()
    } else {
        if plain_tag_exists(repo, given)? {
            return Err(not_a_store_tag(repo, given));
        }
        CorrelationId::new(given)?.as_str().to_string()
    };
    let refname = format!("refs/tags/{name}");
    let Some(commit) = crate::git::ref_commit(repo, &refname)? else {
        return Err(Error::NotFound(format!("tag {name} not found")));
    };
    let commit = commit
        .ok_or_else(|| Error::InvalidInput(format!("tag {name} does not point at a commit")))?;
    Ok(Tag { name, commit })
}

fn plain_tag_exists(repo: &Repo, name: &str) -> Result<bool> {
    let refname = format!("refs/tags/{name}");
    if !crate::git::is_valid_refname(&refname) {
        return Ok(false);
    }
    Ok(crate::git::ref_oid(repo, &refname)?.is_some())
}

fn not_a_store_tag(repo: &Repo, name: &str) -> Error {
    let corr = format!("{CORR_PREFIX}{name}");
    let also = match plain_tag_exists(repo, &corr) {
        Ok(true) => format!("; to use the correlation tag {corr}, name it in full"),
        _ => String::new(),
    };
    Error::InvalidRequest {
        message: format!(
            "tag {name} is not a store tag: revert-to-tag takes corr_<id> or prompt_<hash>"
        ),
        hint: Some(format!(
            "list store tags with `git tag -l 'corr_*' 'prompt_*'`; to move a branch to {name}, use git itself{also}"
        )),
    }
}

/// Decides what applying the request will do, writing nothing. On a task branch, a tip
/// that is already the restore of this tag (and path) is unchanged, and a restore that
/// would leave the branch without its artifact set is refused.
fn plan(
    repo: &Repo,
    mode: RevertMode,
    tag: &Tag,
    tip: Option<ObjectId>,
    path: Option<&str>,
    task: Option<&set::TaskSet>,
) -> Result<Plan> {
    let Some(tip) = tip else {
        return Ok(Plan::Create);
    };
    let tip_commit = repo
        .commit_view(tip)
        .map_err(Error::git(format!("failed to read the target's tip {tip}")))?;
    if mode == RevertMode::Hard {
        return Ok(if tip == tag.commit {
            Plan::Unchanged
        } else {
            Plan::Hard
        });
    }
    let tip_tree = repo
        .read_commit_tree(tip_commit.id)
        .map_err(Error::git(format!("failed to read the tree of {tip}")))?;
    let tag_tree = repo
        .read_commit_tree(tag.commit)
        .map_err(Error::git(format!(
            "failed to read the tree of {}",
            tag.name
        )))?;
    let same = match path {
        None => tip_tree == tag_tree,
        Some(path) => {
            let ours = tree::entry_at(repo, tip_tree, path)?;
            let theirs = tree::entry_at(repo, tag_tree, path)?;
            if ours.is_none() && theirs.is_none() {
                return Err(Error::NotFound(format!(
                    "path {path} not found in {} or in the target",
                    tag.name
                )));
            }
            ours == theirs
        }
    };
    if same {
        return Ok(Plan::Unchanged);
    }
    let Some(task) = task else {
        return Ok(Plan::Restore);
    };
    if set::is_restore_of(tip_commit.message(), tag.commit, path) {
        return Ok(Plan::Unchanged);
    }
    task.check_kept(repo, tip_tree, tag_tree, path, &tag.name)?;
    Ok(Plan::Restore)
}
