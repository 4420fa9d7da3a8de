//! The store's tags: annotated tag objects for `corr_<id>` and `prompt_<hash>`, their refs
//! moved with compare-and-swap, and tags repaired for a commit found by its trailer.

use git2::{ObjectType, Oid, Repository, Signature};

use super::write::subject;
use super::{Existing, Prepared};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::git::{cas, durable};
use crate::store::Store;

/// The tag objects of a commit written into its pack, before any ref names them.
#[derive(Default)]
pub(super) struct TagObjects {
    pub(super) corr: Option<Oid>,
    pub(super) prompt: Option<Oid>,
}

/// Writes the annotated tag objects `land` will point the tags at, beside the commit.
pub(super) fn write_tag_objects(
    store: &Store,
    repo: &Repository,
    p: &Prepared,
    commit: Oid,
    time: &git2::Time,
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

/// Writes an annotated tag object naming `commit`.
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

/// Creates an annotated tag ref with compare-and-swap: `expected` `None` means "must not exist".
/// `prebuilt` is a tag object already written and flushed; without one, it is written here.
#[allow(clippy::too_many_arguments)]
pub(super) fn create_tag(
    repo: &Repository,
    refname: &str,
    name: &str,
    commit: Oid,
    sig: &Signature<'_>,
    subject: &str,
    expected: Option<Oid>,
    durable_on: bool,
    prebuilt: Option<Oid>,
) -> Result<Oid> {
    let tag = match prebuilt {
        Some(tag) => tag,
        None => {
            let tag = tag_object(repo, name, commit, sig, subject)?;
            if durable_on {
                durable::sync_objects(repo, &[tag])?;
            }
            tag
        }
    };
    let log = format!("artifact-store: tag {name}");
    match repo.reference_matching(refname, tag, true, expected.unwrap_or(Oid::ZERO_SHA1), &log) {
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
pub(super) fn move_prompt_tag(
    repo: &Repository,
    prompt: &crate::refs::PromptHash,
    commit: Oid,
    sig: &Signature<'_>,
    subject: &str,
    durable_on: bool,
    prebuilt: Option<Oid>,
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
            prebuilt,
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
            None,
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
                None,
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
