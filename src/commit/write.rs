//! Lands a prepared artifact set: blobs, trees, commit, branch compare-and-swap, tags.

use std::ops::ControlFlow;
use std::time::Duration;

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
    let blobs = super::blobs::write_blobs(repo, &p)?;
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
    let config = store.config();
    let policy = cas::LockPolicy {
        stale_after: (config.stale_lock_seconds > 0)
            .then(|| Duration::from_secs(config.stale_lock_seconds)),
        timeout: Duration::from_secs(config.lock_timeout),
    };
    let log = format!("artifact-store: commit {}", p.corr);
    let mut time = store.commit_time()?;
    let mut landed_on = None;
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
        if durable_on {
            durable::sync_objects(repo, &written)?;
            written.clear();
        }
        Ok(ControlFlow::Continue(commit))
    })?;
    let (commit, report) = match result {
        ControlFlow::Continue(done) => done,
        ControlFlow::Break(Stop::CorrelationTaken) => return store.commit_after_race(p),
    };
    if durable_on {
        durable::sync_ref(repo, &branch_ref, landed_on.is_none())?;
    }
    let mut warnings = p.warnings.clone();
    for lock in &report.stale_locks_removed {
        warnings.push(format!(
            "removed a stale lock left by a dead process: {}",
            lock.display()
        ));
    }
    let sig = store.signature(&time)?;
    let subject = subject(&p);
    let mut tags = vec![p.corr.to_string()];
    let expected = if p.force { old_corr_tag } else { None };
    create_tag(
        repo,
        &p.corr.tag_ref(),
        p.corr.as_str(),
        commit,
        &sig,
        &subject,
        expected,
        durable_on,
    )?;
    if let Some(prompt) = &p.prompt {
        if move_prompt_tag(repo, prompt, commit, &sig, &subject, durable_on)? {
            tags.push(prompt.tag_name());
        } else {
            warnings.push(format!(
                "{} already names a newer commit; left as it is",
                prompt.tag_name()
            ));
        }
    }
    warnings.extend(super::pack::after_commit(store, commit));
    Ok(CommitOutcome {
        success: true,
        branch: store.config().prefix().task_branch(&p.workflow, &p.task),
        commit_sha: commit.to_string(),
        tags,
        pushed: false,
        duplicate: false,
        files: p.files.len(),
        bytes: p.files.iter().map(|f| f.bytes.len() as u64).sum(),
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

/// Creates an annotated tag ref with compare-and-swap: `expected` `None` means "must not exist".
#[allow(clippy::too_many_arguments)]
fn create_tag(
    repo: &Repository,
    refname: &str,
    name: &str,
    commit: Oid,
    sig: &Signature<'_>,
    subject: &str,
    expected: Option<Oid>,
    durable_on: bool,
) -> Result<Oid> {
    let object = repo
        .find_object(commit, Some(ObjectType::Commit))
        .map_err(Error::git(format!("failed to read commit {commit}")))?;
    let tag = repo
        .tag_annotation_create(name, &object, sig, &format!("{subject}\n"))
        .map_err(Error::git(format!("failed to write tag {name}")))?;
    if durable_on {
        durable::sync_objects(repo, &[tag])?;
    }
    let log = format!("artifact-store: tag {name}");
    match crate::git::swap::swap(repo, refname, tag, expected, &log) {
        Ok(_) => {}
        Err(e) if cas::is_retryable(&e) => {
            return Err(Error::Conflict {
                message: format!(
                    "{name} was created by another writer while this commit landed at {}",
                    &commit.to_string()[..12]
                ),
                hint: Some(format!("inspect both with `git show {name}` and `git log`")),
            })
        }
        Err(e) => return Err(Error::git(format!("failed to create {refname}"))(e)),
    }
    if durable_on {
        durable::sync_ref(repo, refname, false)?;
    }
    Ok(tag)
}

/// Moves `prompt_<hash>` to `commit` unless it already names a newer commit.
fn move_prompt_tag(
    repo: &Repository,
    prompt: &crate::refs::PromptHash,
    commit: Oid,
    sig: &Signature<'_>,
    subject: &str,
    durable_on: bool,
) -> Result<bool> {
    let refname = prompt.tag_ref();
    let ours = repo
        .find_commit(commit)
        .map_err(Error::git("failed to read the new commit"))?
        .time()
        .seconds();
    for _ in 0..20 {
        let current = crate::git::ref_oid(repo, &refname)?;
        if let Some(current_commit) = crate::git::ref_target(repo, &refname)? {
            let theirs = repo
                .find_commit(current_commit)
                .map_err(Error::git(format!("failed to read {refname}")))?
                .time()
                .seconds();
            if current_commit == commit {
                return Ok(true);
            }
            if theirs > ours {
                return Ok(false);
            }
        }
        match create_tag(
            repo,
            &refname,
            &prompt.tag_name(),
            commit,
            sig,
            subject,
            current,
            durable_on,
        ) {
            Ok(_) => return Ok(true),
            Err(Error::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Recreates the tags of a commit found by its trailer; returns the tags that name it.
pub(super) fn repair_tags(
    store: &Store,
    p: &Prepared,
    existing: &Existing,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>> {
    let repo = store.repo();
    let durable_on = store.config().durability == Durability::Fsync;
    let commit = repo
        .find_commit(existing.commit)
        .map_err(Error::git("failed to read the existing commit"))?;
    let sig = commit.committer().to_owned();
    let subject = commit
        .summary()
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    let mut tags = vec![p.corr.to_string()];
    if !existing.tag_present {
        match create_tag(
            repo,
            &p.corr.tag_ref(),
            p.corr.as_str(),
            existing.commit,
            &sig,
            &subject,
            None,
            durable_on,
        ) {
            Ok(_) => warnings.push(format!("repaired missing tag {}", p.corr)),
            Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(prompt) = &p.prompt {
        let present = crate::git::ref_target(repo, &prompt.tag_ref())?;
        if present.is_none() {
            match create_tag(
                repo,
                &prompt.tag_ref(),
                &prompt.tag_name(),
                existing.commit,
                &sig,
                &subject,
                None,
                durable_on,
            ) {
                Ok(_) => warnings.push(format!("repaired missing tag {}", prompt.tag_name())),
                Err(Error::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if crate::git::ref_target(repo, &prompt.tag_ref())? == Some(existing.commit) {
            tags.push(prompt.tag_name());
        }
    }
    Ok(tags)
}
