//! The wall around libgit2: tree building, refs (all through [`refs::RefDb`]), durability.
//!
//! Modules above this one speak in the store's own types and call these helpers; the
//! libgit2 traps measured in docs/field-notes.md (lock races, fsync) are handled here once.

pub mod bigdelta;
pub mod blobdiff;
pub mod blobread;
pub mod blobwrite;
pub mod compact;
pub mod delta;
pub mod durable;
pub mod index;
pub mod pack;
pub mod packfile;
pub mod packread;
pub mod pathcheck;
pub mod pushed;
pub mod reapplication;
pub mod refs;
pub mod remote;
pub mod repack;
pub mod reserve;
pub mod rewrite;
pub mod tree;
pub mod treepath;
pub mod types;
pub mod worktree;

pub use types::{
    is_valid_refname, message_trailers, CommitView, ObjectId, ObjectKind, Repo, Signature, Time,
};

use git2::{Oid, Repository};

/// Returns the commit a ref points at, or `None` when the ref does not exist.
///
/// A ref that names something other than a commit (a tag on a blob, say) is invalid input.
pub fn ref_target(repo: &Repository, refname: &str) -> crate::error::Result<Option<ObjectId>> {
    use crate::error::Error;
    let reference = match repo.find_reference(refname) {
        Ok(reference) => reference,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(Error::git(format!("failed to read {refname}"))(e)),
    };
    match reference.peel_to_commit() {
        Ok(commit) => Ok(Some(commit.id().into())),
        Err(e)
            if matches!(
                e.code(),
                git2::ErrorCode::Peel | git2::ErrorCode::InvalidSpec
            ) =>
        {
            Err(Error::InvalidInput(format!(
                "{refname} points at an object that is not a commit"
            )))
        }
        Err(e) => Err(match missing_on_the_way(repo, &reference) {
            Some(corrupt) => corrupt,
            None => Error::git(format!("failed to resolve {refname}"))(e),
        }),
    }
}

/// Follows `reference` through tag objects to the first object that cannot be read and
/// returns it as [`crate::error::Error::Corrupt`], named by the ref; `None` when every
/// object on the way reads.
fn missing_on_the_way(
    repo: &Repository,
    reference: &git2::Reference<'_>,
) -> Option<crate::error::Error> {
    use crate::error::Error;
    let refname = reference.name().unwrap_or("a ref");
    let mut oid = reference.resolve().ok()?.target()?;
    let mut what = if refname.starts_with("refs/tags/") {
        "object"
    } else {
        "commit"
    };
    for _ in 0..32 {
        let object = match repo.find_object(oid, None) {
            Ok(object) => object,
            Err(e) => return Some(Error::corrupt_object(refname, what, oid, &e)),
        };
        let tag = object.as_tag()?;
        what = match tag.target_type() {
            Some(git2::ObjectType::Commit) => "commit",
            Some(git2::ObjectType::Tag) => "tag",
            _ => "object",
        };
        oid = tag.target_id();
    }
    None
}

/// Reads `refname` and peels it to a commit: `None` when the ref does not exist,
/// `Some(None)` when it names something that does not peel to a commit.
pub fn ref_commit(
    repo: &Repository,
    refname: &str,
) -> crate::error::Result<Option<Option<ObjectId>>> {
    let reference = match repo.find_reference(refname) {
        Ok(reference) => reference,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => {
            return Err(crate::error::Error::git(format!(
                "failed to read {refname}"
            ))(e))
        }
    };
    Ok(Some(reference.peel_to_commit().ok().map(|c| c.id().into())))
}

/// Returns the commit `oid` names, following tag objects; `None` for a tree or blob. An
/// object on the way that cannot be read is [`crate::error::Error::Corrupt`], named by
/// `refname`, never "names no commit".
pub fn commit_named_by(
    repo: &Repository,
    refname: &str,
    oid: ObjectId,
) -> crate::error::Result<Option<ObjectId>> {
    use crate::error::Error;
    let oid = Oid::from(oid);
    let mut object = repo
        .find_object(oid, None)
        .map_err(|e| Error::corrupt_object(refname, "object", oid, &e))?;
    loop {
        match object.kind() {
            Some(git2::ObjectType::Commit) => return Ok(Some(object.id().into())),
            Some(git2::ObjectType::Tag) => {
                let tag = object
                    .peel_to_tag()
                    .map_err(|e| Error::corrupt_object(refname, "tag", object.id(), &e))?;
                let target = tag.target_id();
                object = repo
                    .find_object(target, None)
                    .map_err(|e| Error::corrupt_object(refname, "object", target, &e))?;
            }
            _ => return Ok(None),
        }
    }
}

/// Peels object `oid` (a commit, or a tag on one) to its commit.
pub fn peel_to_commit(repo: &Repository, oid: ObjectId) -> crate::error::Result<ObjectId> {
    repo.find_object(oid.into(), None)
        .and_then(|o| o.peel(git2::ObjectType::Commit))
        .map(|c| c.id().into())
        .map_err(crate::error::Error::git(format!("failed to read {oid}")))
}

/// Returns the object a ref names once every tag object is peeled off, and its kind;
/// `None` when the ref or an object on the way cannot be read.
pub fn ref_peeled(repo: &Repository, refname: &str) -> Option<(Option<ObjectKind>, ObjectId)> {
    let object = repo
        .find_reference(refname)
        .and_then(|r| r.peel(git2::ObjectType::Any))
        .ok()?;
    Some((ObjectKind::from_raw(object.kind()), object.id().into()))
}

/// Returns the object id a ref holds directly (a tag object for annotated tags).
pub fn ref_oid(repo: &Repository, refname: &str) -> crate::error::Result<Option<ObjectId>> {
    match repo.refname_to_id(refname) {
        Ok(oid) => Ok(Some(oid.into())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(crate::error::Error::git(format!(
            "failed to read {refname}"
        ))(e)),
    }
}

/// Walks the first-parent history from `tip`, newest first; `what` names it in errors.
///
/// Each commit is read as the walk reaches it, so the commits before a missing or damaged
/// one are still yielded; that one is [`crate::error::Error::Corrupt`], naming its id, and
/// ends the walk.
pub fn first_parents<'r>(
    repo: &'r Repository,
    tip: ObjectId,
    what: &str,
) -> crate::error::Result<impl Iterator<Item = crate::error::Result<ObjectId>> + 'r> {
    use crate::error::Error;
    let what = what.to_string();
    let mut next = Some(Oid::from(tip));
    Ok(std::iter::from_fn(move || {
        let oid = next.take()?;
        match repo.find_commit(oid) {
            Ok(commit) => {
                next = commit.parent_id(0).ok();
                Some(Ok(oid.into()))
            }
            Err(e) => Some(Err(Error::corrupt_object(&what, "commit", oid, &e))),
        }
    }))
}

/// Gives a reason to a failed write whose reason libgit2 lost.
///
/// On a full disk libgit2 reports a failed object write as "no error" (the write's `errno`
/// is gone by then), a failed tag as "failed to create tag annotation", and an object it
/// reported written can be missing when the branch is moved to it ("target OID ... doesn't
/// exist": the ref is not moved). So after any libgit2 error of a write path, a 64 KiB
/// probe file is written and flushed in the object directory; its I/O error ("No space
/// left on device", "Read-only file system") replaces `e`. Any other error, or a probe
/// that succeeds, returns `e`.
pub fn explain_lost_write(repo: &Repository, e: crate::error::Error) -> crate::error::Error {
    use std::io::Write;
    if !matches!(
        e,
        crate::error::Error::Git { .. } | crate::error::Error::Corrupt { .. }
    ) {
        return e;
    }
    let objects = repo.commondir().join("objects");
    let probe = tempfile::Builder::new()
        .prefix("artifact-store-probe")
        .tempfile_in(&objects)
        .and_then(|mut f| {
            f.write_all(&[0u8; 64 << 10])?;
            f.as_file().sync_all()
        });
    match probe {
        Ok(()) => e,
        Err(io) => crate::error::Error::io("failed to write objects into", objects)(io),
    }
}

/// Fixtures shared by this module's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use git2::{Oid, Repository};

    /// A bare repository in a temp dir holding one commit of the empty tree.
    pub fn repo_with_commit() -> (tempfile::TempDir, Repository, Oid) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let sig = git2::Signature::new("t", "t@example.invalid", &git2::Time::new(1, 0)).unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let commit = repo.commit(None, &sig, &sig, "c\n", &tree, &[]).unwrap();
        drop(tree);
        (dir, repo, commit)
    }

    /// A deterministic byte stream (xorshift) of `n` bytes: content no delta finds twice.
    pub fn noise(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }
}
