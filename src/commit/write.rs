//! Lands a prepared artifact set: blobs, trees, commit, branch compare-and-swap, tags.

use std::ops::ControlFlow;

use crate::git::ObjectId;
use crate::git::Repo;

use super::tags::{lock_policy, stale_lock_warnings, write_tag_objects, TagObjects, Tagger};
use super::{CommitOutcome, Prepared};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::git::refs::{CasReport, RefDb};
use crate::git::{durable, pack, repack, reserve, tree};
use crate::input::EntryKind;
use crate::metadata::{self, StoreFields, Trailers, METADATA_FILE};
use crate::progress::Progress;
use crate::store::{rfc3339_utc, Store};

/// Why a compare-and-swap attempt stopped without writing.
enum Stop {
    /// Another writer committed this correlation id meanwhile.
    CorrelationTaken,
}

/// Artifact sets up to this many bytes are written as one pack per commit; larger ones as
/// loose objects, compressed on every core (and never held in memory twice).
pub(super) const PACK_MAX_BYTES: u64 = 2 << 20;

/// Writes the objects, moves the branch and creates the tags.
///
/// A small set's objects (blobs, trees, commit, tag objects) go into one pack, flushed
/// before the branch moves; see [`pack`]. A larger one's are loose objects, as git writes them.
pub(super) fn land(
    store: &Store,
    mut p: Prepared,
    progress: &dyn Progress,
) -> Result<CommitOutcome> {
    super::preflight::check(store, &mut p)?;
    if !packable(&p) {
        return land_with(store, p, None, progress);
    }
    let mut landed = pack::with_writer(store.repo().commondir(), |writer| {
        land_with(store, p, Some(writer), progress)
    })?;
    landed.warnings.extend(consolidate(store));
    Ok(landed)
}

/// Whether a set is written as a pack: small, and no streamed file (above 8 MiB), which
/// is never held in memory.
pub(super) fn packable(p: &Prepared) -> bool {
    super::blobs::set_bytes(p) <= PACK_MAX_BYTES && p.files.iter().all(|f| f.large.is_none())
}

/// Rolls small packs together when they pile up; returns a warning when that failed (the
/// packs stay as they are).
pub(super) fn consolidate(store: &Store) -> Option<String> {
    let durable_on = store.config().durability == Durability::Fsync;
    repack::consolidate(store.repo(), durable_on, store.config().stale_lock_bound())
        .err()
        .map(|e| format!("small packs were not rolled together: {e}"))
}

fn land_with(
    store: &Store,
    p: Prepared,
    writer: Option<&pack::PackWriter<'_>>,
    progress: &dyn Progress,
) -> Result<CommitOutcome> {
    let repo = store.repo();
    let objects = writer.map_or(repo, |w| w.repo());
    let durable_on = store.config().durability == Durability::Fsync;
    let lost = |e| crate::git::explain_lost_write(repo, e);
    let blobs = match writer {
        Some(_) => super::blobs::write_blobs_here(objects, &p),
        None => super::blobs::write_blobs(repo, &p, progress),
    }
    .map_err(lost)?;
    let mut written = blobs.clone();
    let leaves = leaves_of(&p, blobs);
    let branch_ref = store.config().prefix().task_ref(&p.workflow, &p.task);
    let base_ref = crate::refs::branch_ref(&store.config().base_branch);
    let old_corr_tag = crate::git::ref_oid(repo, &p.corr.tag_ref())?;
    let policy = lock_policy(store);
    let log = format!("artifact-store: commit {}", p.corr);
    let mut time = store.commit_time()?;
    let mut landed_on = None;
    let mut tag_objects = TagObjects::default();
    // Room for the tag refs once the branch has moved (`git::reserve`); a disk too full
    // for it fails the commit here, before anything moves.
    reserve::ensure(repo.commondir()).map_err(Error::io(
        "failed to keep space in reserve for the refs in",
        repo.commondir(),
    ))?;
    let result = RefDb::new(repo)
        .update(&branch_ref, &log, policy, |tip| {
            landed_on = tip;
            if !p.force && crate::git::ref_oid(repo, &p.corr.tag_ref())?.is_some() {
                return Ok(ControlFlow::Break(Stop::CorrelationTaken));
            }
            let parent = match tip {
                Some(tip) => Some(tip),
                None => crate::git::ref_target(repo, &base_ref)?,
            };
            time = store.commit_time()?;
            let commit = build_commit(store, objects, &p, &leaves, parent, &time, &mut written)?;
            match writer {
                Some(writer) => {
                    tag_objects =
                        seal_pack(store, writer, &p, &leaves, commit, &time, &mut written)?;
                }
                // The tag objects too, so that once the branch moves only ref files remain.
                None => {
                    tag_objects = write_tag_objects(store, repo, &p, commit, &time)?;
                    written.extend(tag_objects.corr);
                    written.extend(tag_objects.prompt);
                    if durable_on {
                        durable::sync_objects(repo, &written)?;
                        written.clear();
                    }
                }
            }
            Ok(ControlFlow::Continue(commit))
        })
        .map_err(lost)?;
    let (commit, report) = match result {
        ControlFlow::Continue(done) => done,
        ControlFlow::Break(Stop::CorrelationTaken) => return store.commit_after_race(p),
    };
    let landed = Landed {
        commit,
        report,
        new_branch: landed_on.is_none(),
        tag_objects,
        time,
        old_corr_tag,
    };
    finish(store, &p, landed)
}

/// The tree entries of a set's files, in file order, from their blob ids.
pub(super) fn leaves_of(p: &Prepared, blobs: Vec<ObjectId>) -> Vec<(String, ObjectId, i32)> {
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
    leaves
}

/// A commit whose branch has just moved to it; its tags are still to be written.
pub(super) struct Landed {
    pub(super) commit: ObjectId,
    pub(super) report: CasReport,
    /// The branch did not exist before.
    pub(super) new_branch: bool,
    pub(super) tag_objects: TagObjects,
    pub(super) time: crate::git::Time,
    /// What the correlation tag named before, for a forced commit.
    pub(super) old_corr_tag: Option<ObjectId>,
}

/// After the branch moved: flushes its ref, writes the tags (with the reserve's help on a
/// full disk) and now and then packs the loose refs.
pub(super) fn finish(store: &Store, p: &Prepared, landed: Landed) -> Result<CommitOutcome> {
    let repo = store.repo();
    let durable_on = store.config().durability == Durability::Fsync;
    let lost = |e| crate::git::explain_lost_write(repo, e);
    let branch_ref = store.config().prefix().task_ref(&p.workflow, &p.task);
    let policy = lock_policy(store);
    let Landed {
        commit,
        report,
        new_branch,
        tag_objects,
        time,
        old_corr_tag,
    } = landed;
    if durable_on {
        durable::sync_ref(repo, &branch_ref, new_branch)?;
    }
    let mut warnings = p.warnings.clone();
    warnings.extend(stale_lock_warnings(&report));
    let tagger = Tagger {
        repo,
        sig: store.signature(&time)?,
        subject: subject(p),
        durable: durable_on,
        policy,
    };
    let expected = if p.force { old_corr_tag } else { None };
    let branch = store.config().prefix().task_branch(&p.workflow, &p.task);
    // Each tag on its own: one that fails does not keep the other from being written.
    let write_corr = |retry: bool, warnings: &mut Vec<String>| -> Result<()> {
        // A second attempt may find the tag its first attempt wrote.
        if retry
            && crate::git::ref_target(repo, &p.corr.tag_ref())
                .ok()
                .flatten()
                == Some(commit)
        {
            return Ok(());
        }
        tagger
            .create(
                &p.corr.tag_ref(),
                p.corr.as_str(),
                commit,
                tag_objects.corr,
                expected,
                warnings,
            )
            .map(drop)
            .map_err(lost)
    };
    let write_prompt = |warnings: &mut Vec<String>| -> Result<bool> {
        match &p.prompt {
            Some(prompt) => tagger
                .move_prompt(prompt, commit, tag_objects.prompt, false, warnings)
                .map_err(lost),
            None => Ok(false),
        }
    };
    let mut corr = write_corr(false, &mut warnings);
    let mut prompt = write_prompt(&mut warnings);
    let full = corr.as_ref().err().is_some_and(Error::is_storage_full)
        || prompt.as_ref().err().is_some_and(Error::is_storage_full);
    if full && reserve::release(repo.commondir()) {
        warnings.push(
            "the disk is full: the space kept in reserve finished the tags; free space before the next commit"
                .to_string(),
        );
        if corr.is_err() {
            corr = write_corr(true, &mut warnings);
        }
        if prompt.is_err() {
            prompt = write_prompt(&mut warnings);
        }
    }
    let mut tags = Vec::new();
    let mut tags_missing = Vec::new();
    let mut missing = |name: String, e: Error, warnings: &mut Vec<String>| {
        warnings.push(missing_tag_warning(&name, commit, &branch, &e));
        tags_missing.push(name);
    };
    match corr {
        Ok(()) => tags.push(p.corr.to_string()),
        Err(e) => missing(p.corr.to_string(), e, &mut warnings),
    }
    if let Some(name) = p.prompt.as_ref().map(|h| h.tag_name()) {
        match prompt {
            Ok(true) => tags.push(name),
            Ok(false) => warnings.push(format!(
                "{name} already names a newer commit; left as it is"
            )),
            Err(e) => missing(name, e, &mut warnings),
        }
    }
    warnings.extend(super::refpack::after_commit(store, commit));
    Ok(CommitOutcome {
        success: true,
        workflow_id: p.workflow.to_string(),
        task_id: p.task.to_string(),
        correlation_id: p.corr.to_string(),
        prompt_hash: p.prompt.as_ref().map(|h| h.as_str().to_string()),
        commit_sha: commit.to_string(),
        commit_time: rfc3339_utc(&time),
        commit_time_unix: time.seconds(),
        branch,
        tags,
        test_status: Some(p.status.as_str().to_string()),
        pushed: false,
        duplicate: false,
        tags_missing,
        metadata_differs: false,
        differing_fields: Vec::new(),
        files: p.file_objects(),
        correlation_tag: p.corr.to_string(),
        file_count: p.files.len(),
        bytes: p.files.iter().map(super::Loaded::len).sum(),
        retries: report.retries,
        warnings,
    })
}

/// Adds the tag objects to the commit's objects and writes them all as one pack, flushed
/// when durable; returns the tag objects. The store's handle then re-reads `objects/pack`,
/// so the ref updates find the new objects at once, not after a miss through every pack.
fn seal_pack(
    store: &Store,
    writer: &pack::PackWriter<'_>,
    p: &Prepared,
    leaves: &[(String, ObjectId, i32)],
    commit: ObjectId,
    time: &crate::git::Time,
    written: &mut Vec<ObjectId>,
) -> Result<TagObjects> {
    let durable_on = store.config().durability == Durability::Fsync;
    let tag_objects = write_tag_objects(store, writer.repo(), p, commit, time)?;
    written.extend(tag_objects.corr);
    written.extend(tag_objects.prompt);
    let held: Vec<(ObjectId, &[u8])> = leaves
        .iter()
        .zip(&p.files)
        .map(|(leaf, file)| (leaf.1, &file.bytes[..]))
        .collect();
    writer.flush(written, &held, durable_on)?;
    written.clear();
    store.repo().refresh_odb()?;
    Ok(tag_objects)
}

/// The warning of a tag that could not be written after its commit landed.
pub(super) fn missing_tag_warning(name: &str, commit: ObjectId, branch: &str, e: &Error) -> String {
    format!(
        "the commit landed at {} on {branch}, but tag {name} was not written ({e}); run the same commit again to write it",
        &commit.to_string()[..12]
    )
}

impl Store {
    /// Settles a request whose correlation id another writer committed while this one ran.
    pub(super) fn commit_after_race(&self, p: Prepared) -> Result<CommitOutcome> {
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

pub(super) fn subject(p: &Prepared) -> String {
    format!("artifacts({}/{}): {}", p.workflow, p.task, p.corr)
}

pub(super) fn build_commit(
    store: &Store,
    repo: &Repo,
    p: &Prepared,
    leaves: &[(String, ObjectId, i32)],
    parent: Option<ObjectId>,
    time: &crate::git::Time,
    written: &mut Vec<ObjectId>,
) -> Result<ObjectId> {
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
    let base_tree = parent.map(|oid| tree::commit_tree(repo, oid)).transpose()?;
    let components: Vec<&str> = p.artifact_dir.split('/').collect();
    let root = tree::replace_subtree(repo, base_tree, &components, artifact_tree, written)?;
    let trailers = Trailers {
        workflow_id: Some(p.workflow.to_string()),
        task_id: Some(p.task.to_string()),
        correlation_id: Some(p.corr.to_string()),
        prompt_hash: p.prompt.as_ref().map(|h| h.to_string()),
        test_status: Some(p.status.as_str().to_string()),
    };
    let message = format!("{}\n\n{}", subject(p), trailers.render());
    let sig = store.signature(time)?;
    let parents: Vec<ObjectId> = parent.into_iter().collect();
    tree::write_commit(repo, root, &parents, &sig, &message, written)
}
