//! Reading a repository's index (the staging area), for the pre-commit hook's scan.

use std::path::Path;

use super::{ObjectId, Repo};
use crate::error::{Error, Result};

/// Returns the repository at or around `path` and the files and symlinks its index
/// stages (submodule entries left out), in index order, with their blob ids. The index
/// is `GIT_INDEX_FILE` when set (relative to `path`), as git sets it for hooks.
pub fn staged_files(path: &Path) -> Result<(Repo, Vec<(String, ObjectId)>)> {
    let repo = Repo::discover(path)?;
    // `git commit -a` and `git commit <paths>` hand hooks a temporary index.
    let index = match std::env::var_os("GIT_INDEX_FILE") {
        Some(file) => git2::Index::open(&path.join(file)),
        None => repo.index(),
    }
    .map_err(Error::git("failed to read the index"))?;
    let files = index
        .iter()
        .filter(|entry| {
            let mode = entry.mode & 0o170000;
            mode == 0o100000 || mode == 0o120000
        })
        .map(|entry| {
            (
                String::from_utf8_lossy(&entry.path).into_owned(),
                ObjectId::from(entry.id),
            )
        })
        .collect();
    Ok((repo, files))
}
