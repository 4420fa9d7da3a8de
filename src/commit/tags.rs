//! The store's tags: annotated tag objects for `corr_<id>` and `prompt_<hash>`, written
//! beside the commit before the branch moves; their refs moved with compare-and-swap under
//! the branch's lock policy; and tags repaired for a commit found by its trailer.

use std::ops::ControlFlow;

use crate::git::{ObjectId, Repo, Signature};

use super::write::subject;
use super::{Existing, Prepared};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::git::durable;
use crate::git::refs::{CasReport, LockPolicy, RefDb};
use crate::store::Store;

/// The tag objects of a commit written into its pack, before any ref names them.
#[derive(Default)]
pub(super) struct TagObjects {
    pub(super) corr: Option<ObjectId>,
    pub(super) prompt: Option<ObjectId>,
}

/// Writes the annotated tag objects `land` will point the tags at, beside the commit.
pub(super) fn write_tag_objects(
    store: &Store,
    repo: &Repo,
    p: &Prepared,
    commit: ObjectId,
    time: &crate::git::Time,
) -> Result<TagObjects> {
    let sig = store.signature(time)?;
    let subject = subject(p);
    let corr = tag_object(repo, p.corr.as_str(), commit, &sig, &subject)?;
    let prompt = match &p.prompt {
        Some(prompt) => Some(tag_object(
            repo,
            &prompt.tag_name(),
            commit,
            &sig,
            &subject,
        )?),
        None => None,
    };
    Ok(TagObjects {
        corr: Some(corr),
        prompt,
    })
}

/// Writes the store's annotated tags of one commit: the tag objects, then each ref by
/// compare-and-swap under the same lock policy as the branch, so a `<tag>.lock` left by a
/// killed commit is removed once stale instead of failing the repair for good.
pub(super) struct Tagger<'r> {
    pub(super) repo: &'r Repo,
    pub(super) sig: Signature,
    pub(super) subject: String,
    pub(super) durable: bool,
    pub(super) policy: LockPolicy,
}

impl Tagger<'_> {
    /// Creates `refname` for `commit` with the tag object `tag` (written here when `None`):
    /// `expected` `None` means "must not exist".
    pub(super) fn create(
        &self,
        refname: &str,
        name: &str,
        commit: ObjectId,
        tag: Option<ObjectId>,
        expected: Option<ObjectId>,
        warnings: &mut Vec<String>,
    ) -> Result<ObjectId> {
        let repo = self.repo;
        let tag = match tag {
            Some(tag) => tag,
            None => self.object(name, commit)?,
        };
        let log = format!("artifact-store: tag {name}");
        let moved = RefDb::new(repo).update(refname, &log, self.policy, |current| {
            Ok(match current == expected {
                true => ControlFlow::Continue(tag),
                false => ControlFlow::Break(()),
            })
        })?;
        let report = match moved {
            ControlFlow::Continue((_, report)) => report,
            ControlFlow::Break(()) => {
                return Err(Error::Conflict {
                    message: format!(
                        "{name} was created by another writer while this commit landed at {}",
                        &commit.to_string()[..12]
                    ),
                    hint: Some(format!("inspect both with `git show {name}` and `git log`")),
                })
            }
        };
        warnings.extend(stale_lock_warnings(&report));
        if self.durable {
            durable::sync_ref(repo, refname, false)?;
        }
        Ok(tag)
    }

    /// Writes (and, when durable, flushes) the tag object `name` on `commit`.
    fn object(&self, name: &str, commit: ObjectId) -> Result<ObjectId> {
        let tag = tag_object(self.repo, name, commit, &self.sig, &self.subject)?;
        if self.durable {
            durable::sync_objects(self.repo, &[tag])?;
        }
        Ok(tag)
    }

    /// Moves `prompt_<hash>` to `commit` unless it already names a newer commit; with
    /// `repair`, only when it is missing, names an ancestor of `commit` or an older commit.
    pub(super) fn move_prompt(
        &self,
        prompt: &crate::refs::PromptHash,
        commit: ObjectId,
        mut tag: Option<ObjectId>,
        repair: bool,
        warnings: &mut Vec<String>,
    ) -> Result<bool> {
        let repo = self.repo;
        let refname = prompt.tag_ref();
        let ours = commit_time(repo, commit)?;
        for _ in 0..20 {
            let current = crate::git::ref_oid(repo, &refname)?;
            if let Some(current_commit) = crate::git::ref_target(repo, &refname)? {
                if current_commit == commit {
                    return Ok(true);
                }
                let theirs = commit_time(repo, current_commit)?;
                let stays = match repair {
                    false => theirs > ours,
                    true => {
                        theirs >= ours
                            && !repo.graph_descendant_of(commit, current_commit).map_err(
                                Error::git(format!("failed to compare {refname} with {commit}")),
                            )?
                    }
                };
                if stays {
                    return Ok(false);
                }
            }
            let name = prompt.tag_name();
            let object = match tag {
                Some(object) => object,
                None => *tag.insert(self.object(&name, commit)?),
            };
            match self.create(&refname, &name, commit, Some(object), current, warnings) {
                Ok(_) => return Ok(true),
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

/// Writes an annotated tag object `name` on `commit`.
fn tag_object(
    repo: &Repo,
    name: &str,
    commit: ObjectId,
    sig: &Signature,
    subject: &str,
) -> Result<ObjectId> {
    repo.write_tag(name, commit, sig, &format!("{subject}\n"))
}

fn commit_time(repo: &Repo, commit: ObjectId) -> Result<i64> {
    Ok(repo
        .commit_view(commit)
        .map_err(Error::git(format!("failed to read commit {commit}")))?
        .time()
        .seconds())
}

pub(super) fn stale_lock_warnings(report: &CasReport) -> impl Iterator<Item = String> + '_ {
    report.stale_locks_removed.iter().map(|lock| {
        format!(
            "removed a stale lock left by a dead process: {}",
            lock.display()
        )
    })
}

pub(super) fn lock_policy(store: &Store) -> LockPolicy {
    store.lock_policy()
}

/// Recreates the tags of a commit found by its trailer, and moves its prompt tag forward
/// when a crash left it behind; returns the tags that name it and those that could not be
/// written (each with a warning): the commit is on its branch either way.
pub(super) fn repair_tags(
    store: &Store,
    p: &Prepared,
    existing: &Existing,
    warnings: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<String>)> {
    let repo = store.repo();
    let commit = repo
        .commit_view(existing.commit)
        .map_err(Error::git("failed to read the existing commit"))?;
    let tagger = Tagger {
        repo,
        sig: commit.committer,
        subject: commit.summary.unwrap_or_default(),
        durable: store.config().durability == Durability::Fsync,
        policy: lock_policy(store),
    };
    let mut tags = Vec::new();
    let mut missing = Vec::new();
    let mut fail = |name: String, e: Error, warnings: &mut Vec<String>| {
        warnings.push(super::write::missing_tag_warning(
            &name,
            existing.commit,
            &existing.branch,
            &e,
        ));
        missing.push(name);
    };
    if existing.tag_present {
        // A run killed as it created the tag may have left its lock behind (`refs::lock`).
        RefDb::new(repo).clear_finished_lock(&p.corr.tag_ref(), tagger.policy);
        tags.push(p.corr.to_string());
    } else {
        match tagger.create(
            &p.corr.tag_ref(),
            p.corr.as_str(),
            existing.commit,
            None,
            None,
            warnings,
        ) {
            Ok(_) => {
                warnings.push(format!("repaired missing tag {}", p.corr));
                tags.push(p.corr.to_string());
            }
            // Another run of the same commit wrote it meanwhile.
            Err(Error::Conflict { .. })
                if crate::git::ref_target(repo, &p.corr.tag_ref())
                    .ok()
                    .flatten()
                    == Some(existing.commit) =>
            {
                tags.push(p.corr.to_string());
            }
            Err(e) => fail(p.corr.to_string(), e, warnings),
        }
    }
    // A prompt hash the commit does not record is not tagged on it.
    let recorded = !existing.differing.iter().any(|f| f == "prompt_hash");
    if let Some(prompt) = p.prompt.as_ref().filter(|_| recorded) {
        let before = crate::git::ref_target(repo, &prompt.tag_ref())
            .ok()
            .flatten();
        match tagger.move_prompt(prompt, existing.commit, None, true, warnings) {
            Ok(true) => {
                if before != Some(existing.commit) {
                    warnings.push(format!("repaired tag {}", prompt.tag_name()));
                }
                tags.push(prompt.tag_name());
            }
            Ok(false) => {}
            Err(e) => fail(prompt.tag_name(), e, warnings),
        }
    }
    Ok((tags, missing))
}
