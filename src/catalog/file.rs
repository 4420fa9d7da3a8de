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
    /// Returns the entry of the file at `path` in `set`.
    ///
    /// `path` is matched exactly against the paths the set's tree lists (relative to its
    /// artifact directory); nothing is resolved, so `..`, `.`, an absolute path or an
    /// empty part never names anything outside the set: such a path is refused as not
    /// found, like a path the set does not hold.
    pub fn set_file_entry<'s>(&self, set: &'s ArtifactSet, path: &str) -> Result<&'s FileEntry> {
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
        set.files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(not_found)
    }

    /// Returns the entry and the bytes of the file at `path` in `set` (found as
    /// [`Store::set_file_entry`] finds it), read whole: for files a caller bounds by size.
    pub fn set_file<'s>(
        &self,
        set: &'s ArtifactSet,
        path: &str,
    ) -> Result<(&'s FileEntry, Vec<u8>)> {
        let entry = self.set_file_entry(set, path)?;
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

    /// Hands the bytes of `entry`, a file of `set`, to `each` in pieces of at most 1 MiB,
    /// as `export` reads them: a blob above the streaming threshold is never held whole,
    /// loose or packed (as a delta too). The bytes are checked against the blob id; a
    /// mismatch is [`Error::Corrupt`], returned after the last piece.
    pub fn set_file_pieces(
        &self,
        set: &ArtifactSet,
        entry: &FileEntry,
        each: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        crate::git::blobread::for_each_piece(
            self.repo(),
            entry.oid,
            entry.size,
            crate::scan::LARGE_FILE_BYTES,
            &format!("{}/{}", set.artifact_dir, entry.path),
            each,
        )
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
