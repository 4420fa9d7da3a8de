//! The wall around libgit2: tree building, compare-and-swap ref updates, durability.
//!
//! Modules above this one speak in the store's own types and call these helpers; the
//! libgit2 traps measured in FIELD-NOTES.md (lock races, fsync) are handled here once.

pub mod cas;
pub mod durable;
pub mod tree;

pub use git2::{Oid, Repository};

/// Returns the commit a ref points at, or `None` when the ref does not exist.
pub fn ref_target(repo: &Repository, refname: &str) -> crate::error::Result<Option<Oid>> {
    match repo.find_reference(refname) {
        Ok(reference) => {
            let commit = reference
                .peel_to_commit()
                .map_err(crate::error::Error::git(format!(
                    "failed to resolve {refname}"
                )))?;
            Ok(Some(commit.id()))
        }
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(crate::error::Error::git(format!(
            "failed to read {refname}"
        ))(e)),
    }
}

/// Returns the object id a ref holds directly (a tag object for annotated tags).
pub fn ref_oid(repo: &Repository, refname: &str) -> crate::error::Result<Option<Oid>> {
    match repo.refname_to_id(refname) {
        Ok(oid) => Ok(Some(oid)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(crate::error::Error::git(format!(
            "failed to read {refname}"
        ))(e)),
    }
}
