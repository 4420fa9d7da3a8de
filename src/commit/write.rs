//! Lands a prepared artifact set: blobs, trees, commit, branch compare-and-swap, tags.

use std::ops::ControlFlow;

use git2::{ObjectType, Oid, Repository, Signature};

use super::{CommitOutcome, Existing, Prepared};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::git::{cas, durable, tree};
use crate::input::EntryKind;
use crate::metadata::{self, StoreFields, Trailers, METADATA_FILE};
use crate::store::{rfc3339_utc, Store};

/// Why a compare-and-swap attempt stopped without writing.
enum Stop {
    /// Another writer committed this correlation id meanwhile.
    CorrelationTaken,
}

/// Writes the objects, moves the branch and creates the tags.
pub(super) fn land(store: &Store, p: Prepared) -> Result<CommitOutcome> {
    let repo = store.repo();
    let durable_on = store.config().durability == Durability::Fsync;
    let lost = |e| crate::git::explain_lost_write(repo, e);
    let blobs = super::blobs::write_blobs(repo, &p).map_err(lost)?;
    let mut written = blobs.clone();
    let mut leaves = Vec::with_capacity(p.files.len() + 1);
    for (loaded, oid) in p.files.iter().zip(blobs) {
        let mode = match loaded.file.kind {
            EntryKind::Symlink { .. } => tree::MODE_LINK,
            EntryKind::File {
                executable: true, ..
            } => tree::MODE_EXEC,
            EntryKind::File { .. } => tree::MODE_FILE,
        };
        leaves.push((loaded.file.target.clone(), oid, mode));
    }
    let branch_ref = store.config().prefix().task_ref(&p.workflow, &p.task);
    let base_ref = crate::refs::branch_ref(&store.config().base_branch);
    let old_corr_tag = crate::git::ref_oid(repo, &p.corr.tag_ref())?;
    let policy = lock_policy(store);
    let log = format!("artifact-store: commit {}", p.corr);
    let mut time = store.commit_time()?;
    let mut landed_on = None;
    let mut tag_objects = (None, None);
    let result = cas::update(repo, &branch_ref, &log, policy, |tip| {
        landed_on = tip;
        if !p.force && crate::git::ref_oid(repo, &p.corr.tag_ref())?.is_some() {
            return Ok(ControlFlow::Break(Stop::CorrelationTaken));
        }
        let parent = match tip {
            Some(tip) => Some(tip),
            None => crate::git::ref_target(repo, &base_ref)?,
        };
        time = store.commit_time()?;
        let commit = build_commit(store, &p, &leaves, parent, &time, &mut written)?;
        // The tag objects too, so that once the branch moves only two ref files remain.
        let sig = store.signature(&time)?;
        let corr_tag = tag_object(repo, p.corr.as_str(), commit, &sig, &subject(&p))?;
        let prompt_tag = p
            .prompt
            .as_ref()
            .map(|h| tag_object(repo, &h.tag_name(), commit, &sig, &subject(&p)))
            .transpose()?;
        written.push(corr_tag);
        written.extend(prompt_tag);
        tag_objects = (Some(corr_tag), prompt_tag);
        if durable_on {
            durable::sync_objects(repo, &written)?;
            written.clear();
        }
        Ok(ControlFlow::Continue(commit))
    })
    .map_err(lost)?;
    let (commit, report) = match result {
        ControlFlow::Continue(done) => done,
        ControlFlow::Break(Stop::CorrelationTaken) => return store.commit_after_race(p),
    };
    if durable_on {
        durable::sync_ref(repo, &branch_ref, landed_on.is_none())?;
    }
    let mut warnings = p.warnings.clone();
    warnings.extend(stale_lock_warnings(&report));
    let tagger = Tagger {
        repo,
        sig: store.signature(&time)?,
        subject: subject(&p),
        durable: durable_on,
        policy,
    };
    let mut tags = vec![p.corr.to_string()];
    let expected = if p.force { old_corr_tag } else { None };
    let (corr_tag, prompt_tag) = tag_objects;
    tagger
        .create(
            &p.corr.tag_ref(),
            p.corr.as_str(),
            commit,
            corr_tag,
            expected,
            &mut warnings,
        )
        .map_err(lost)?;
    if let Some(prompt) = &p.prompt {
        if tagger
            .move_prompt(prompt, commit, prompt_tag, false, &mut warnings)
            .map_err(lost)?
        {
            tags.push(prompt.tag_name());
        } else {
            warnings.push(format!(
                "{} already names a newer commit; left as it is",
                prompt.tag_name()
            ));
        }
    }
    Ok(CommitOutcome {
        success: true,
        branch: store.config().prefix().task_branch(&p.workflow, &p.task),
        commit_sha: commit.to_string(),
        tags,
        pushed: false,
        duplicate: false,
        files: p.files.len(),
        bytes: p.files.iter().map(super::Loaded::len).sum(),
        retries: report.retries,
        warnings,
    })
}

impl Store {
    /// Settles a request whose correlation id another writer committed while this one ran.
    fn commit_after_race(&self, p: Prepared) -> Result<CommitOutcome> {
        match self.find_existing(&p)? {
            Some(existing) if existing.same_content => self.duplicate(&p, &existing),
            Some(existing) => Err(super::conflict(&p, &existing)),
            None => Err(Error::Conflict {
                message: format!("{} appeared and vanished while committing", p.corr),
                hint: Some("run the commit again".to_string()),
            }),
        }
    }
}

fn subject(p: &Prepared) -> String {
    format!("artifacts({}/{}): {}", p.workflow, p.task, p.corr)
}

fn build_commit(
    store: &Store,
    p: &Prepared,
    leaves: &[(String, Oid, i32)],
    parent: Option<Oid>,
    time: &git2::Time,
    written: &mut Vec<Oid>,
) -> Result<Oid> {
    let repo = store.repo();
    let fields = StoreFields {
        workflow_id: p.workflow.as_str(),
        task_id: p.task.as_str(),
        correlation_id: p.corr.as_str(),
        prompt_hash: p.prompt.as_ref().map(|h| h.as_str()),
        commit_timestamp: rfc3339_utc(time),
        test_status: p.status,
        checksums: &p.checksums,
    };
    let doc = metadata::build(&fields, &p.caller);
    let meta_blob = repo
        .blob(&metadata::to_bytes(&doc))
        .map_err(Error::git("failed to write metadata.json"))?;
    written.push(meta_blob);
    let mut entries = leaves.to_vec();
    entries.push((METADATA_FILE.to_string(), meta_blob, tree::MODE_FILE));
    let artifact_tree = tree::write_tree(repo, &entries, written)?;
    let parent_commit = parent
        .map(|oid| repo.find_commit(oid))
        .transpose()
        .map_err(Error::git("failed to read the parent commit"))?;
    let base_tree = parent_commit
        .as_ref()
        .map(|c| c.tree())
        .transpose()
        .map_err(Error::git("failed to read the parent tree"))?;
    let components: Vec<&str> = p.artifact_dir.split('/').collect();
    let root = tree::replace_subtree(
        repo,
        base_tree.as_ref(),
        &components,
        artifact_tree,
        written,
    )?;
    let root = repo
        .find_tree(root)
        .map_err(Error::git("failed to read the new tree"))?;
    let trailers = Trailers {
        workflow_id: Some(p.workflow.to_string()),
        task_id: Some(p.task.to_string()),
        correlation_id: Some(p.corr.to_string()),
        prompt_hash: p.prompt.as_ref().map(|h| h.to_string()),
        test_status: Some(p.status.as_str().to_string()),
    };
    let message = format!("{}\n\n{}", subject(p), trailers.render());
    let sig = store.signature(time)?;
    let parents: Vec<&git2::Commit<'_>> = parent_commit.iter().collect();
    let commit = repo
        .commit(None, &sig, &sig, &message, &root, &parents)
        .map_err(Error::git("failed to write the commit"))?;
    written.push(commit);
    Ok(commit)
}

/// Writes the store's annotated tags of one commit: the tag objects, then each ref by
/// compare-and-swap under the same lock policy as the branch, so a `<tag>.lock` left by a
/// killed commit is removed once stale instead of failing the repair for good.
struct Tagger<'r> {
    repo: &'r Repository,
    sig: Signature<'r>,
    subject: String,
    durable: bool,
    policy: cas::LockPolicy,
}

impl Tagger<'_> {
    /// Creates `refname` for `commit` with the tag object `tag` (written here when `None`):
    /// `expected` `None` means "must not exist".
    fn create(
        &self,
        refname: &str,
        name: &str,
        commit: Oid,
        tag: Option<Oid>,
        expected: Option<Oid>,
        warnings: &mut Vec<String>,
    ) -> Result<Oid> {
        let repo = self.repo;
        let tag = match tag {
            Some(tag) => tag,
            None => self.object(name, commit)?,
        };
        let log = format!("artifact-store: tag {name}");
        let moved = cas::update(repo, refname, &log, self.policy, |current| {
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
    fn object(&self, name: &str, commit: Oid) -> Result<Oid> {
        let tag = tag_object(self.repo, name, commit, &self.sig, &self.subject)?;
        if self.durable {
            durable::sync_objects(self.repo, &[tag])?;
        }
        Ok(tag)
    }

    /// Moves `prompt_<hash>` to `commit` unless it already names a newer commit; with
    /// `repair`, only when it is missing, names an ancestor of `commit` or an older commit.
    fn move_prompt(
        &self,
        prompt: &crate::refs::PromptHash,
        commit: Oid,
        mut tag: Option<Oid>,
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
    repo: &Repository,
    name: &str,
    commit: Oid,
    sig: &Signature<'_>,
    subject: &str,
) -> Result<Oid> {
    let object = repo
        .find_object(commit, Some(ObjectType::Commit))
        .map_err(Error::git(format!("failed to read commit {commit}")))?;
    repo.tag_annotation_create(name, &object, sig, &format!("{subject}\n"))
        .map_err(Error::git(format!("failed to write tag {name}")))
}

fn commit_time(repo: &Repository, commit: Oid) -> Result<i64> {
    Ok(repo
        .find_commit(commit)
        .map_err(Error::git(format!("failed to read commit {commit}")))?
        .time()
        .seconds())
}

fn stale_lock_warnings(report: &cas::CasReport) -> impl Iterator<Item = String> + '_ {
    report.stale_locks_removed.iter().map(|lock| {
        format!(
            "removed a stale lock left by a dead process: {}",
            lock.display()
        )
    })
}

fn lock_policy(store: &Store) -> cas::LockPolicy {
    cas::LockPolicy::of(store.config())
}

/// Recreates the tags of a commit found by its trailer, and moves its prompt tag forward
/// when a crash left it behind; returns the tags that name it.
pub(super) fn repair_tags(
    store: &Store,
    p: &Prepared,
    existing: &Existing,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>> {
    let repo = store.repo();
    let commit = repo
        .find_commit(existing.commit)
        .map_err(Error::git("failed to read the existing commit"))?;
    let tagger = Tagger {
        repo,
        sig: commit.committer().to_owned(),
        subject: commit
            .summary()
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_string(),
        durable: store.config().durability == Durability::Fsync,
        policy: lock_policy(store),
    };
    let mut tags = vec![p.corr.to_string()];
    if !existing.tag_present {
        match tagger.create(
            &p.corr.tag_ref(),
            p.corr.as_str(),
            existing.commit,
            None,
            None,
            warnings,
        ) {
            Ok(_) => warnings.push(format!("repaired missing tag {}", p.corr)),
            Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(prompt) = &p.prompt {
        let before = crate::git::ref_target(repo, &prompt.tag_ref())?;
        if tagger.move_prompt(prompt, existing.commit, None, true, warnings)? {
            if before != Some(existing.commit) {
                warnings.push(format!("repaired tag {}", prompt.tag_name()));
            }
            tags.push(prompt.tag_name());
        }
    }
    Ok(tags)
}
