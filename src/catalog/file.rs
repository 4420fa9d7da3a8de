//! One file of an artifact set read by its path, and a set's commit trailers: what a
//! viewer needs beyond `show` (the web view's file download and previews).

use serde::Serialize;

use super::{find_commit, ArtifactSet, FileEntry};
use crate::error::{Error, Result};
use crate::git::ObjectId;
use crate::store::Store;
/// One trailer of a set's commit message (`Correlation-Id: run-42`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trailer {
    /// The key as written (`Workflow-Id`).
    pub key: String,
    /// The value, trimmed.
    pub value: String,
}

impl Store {
    /// Returns the entry and the bytes of the file at `path` in `set`.
    ///
    /// `path` is matched exactly against the paths the set's tree lists (relative to its
    /// artifact directory); nothing is resolved, so `..`, `.`, an absolute path or an
    /// empty part never names anything outside the set: such a path is refused as not
    /// found, like a path the set does not hold.
    pub fn set_file<'s>(
        &self,
        set: &'s ArtifactSet,
        path: &str,
    ) -> Result<(&'s FileEntry, Vec<u8>)> {
        let not_found = || {
            Error::NotFound(format!(
                "the artifact set {} holds no file {path:?}",
                &set.commit_sha[..set.commit_sha.len().min(12)]
            ))
        };
        let plain = !path.is_empty()
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !plain {
            return Err(not_found());
        }
        let entry = set
            .files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(not_found)?;
        let bytes = self.repo().read_blob(entry.oid).map_err(|e| {
            Error::corrupt_object(
                &format!("{}/{}", set.artifact_dir, entry.path),
                "blob",
                entry.oid,
                &e,
            )
        })?;
        Ok((entry, bytes))
    }

    /// Returns every trailer of the commit of `set`, in the order written.
    pub fn set_trailers(&self, set: &ArtifactSet) -> Result<Vec<Trailer>> {
        let oid = ObjectId::from_hex(&set.commit_sha)?;
        let commit = find_commit(self.repo(), oid)?;
        Ok(crate::git::message_trailers(commit.message())
            .into_iter()
            .map(|(key, value)| Trailer {
                key,
                value: value.trim().to_string(),
            })
            .collect())
    }
}
