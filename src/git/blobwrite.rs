//! Streams one blob into `objects/` as a loose object, written by the store itself: a
//! temporary file beside the objects, deflated and hashed as the bytes come, renamed into
//! place only once complete. libgit2's ODB stream reports a failed write as "Write error"
//! and drops the OS error; here every failure keeps it, so a full disk is named as one
//! ([`Error::StorageFull`], by `ErrorKind::StorageFull` or ENOSPC, not by message text),
//! and the temporary file is removed on every failure path (it is a `NamedTempFile`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::ZlibEncoder;
use flate2::Compression;
use git2::{Oid, Repository};

use crate::error::{Error, Result};

/// A loose blob being written.
pub struct BlobWriter {
    encoder: ZlibEncoder<BufWriter<tempfile::NamedTempFile>>,
    hasher: gix_hash::Hasher,
    objects: PathBuf,
    what: String,
    declared: u64,
    written: u64,
}

impl BlobWriter {
    /// Starts a blob of `size` bytes in `repo`'s object database; `what` names it in
    /// errors ("the blob of /path/to/file").
    pub fn new(repo: &Repository, size: u64, what: String) -> Result<BlobWriter> {
        let objects = repo.commondir().join("objects");
        let tmp = tempfile::Builder::new()
            .prefix("tmp_obj_")
            .tempfile_in(&objects)
            .map_err(|e| failed(&what, &objects, e))?;
        let header = format!("blob {size}\0");
        let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
        hasher.update(header.as_bytes());
        // git writes loose objects at its fastest level (core.looseCompression = 1).
        let mut encoder =
            ZlibEncoder::new(BufWriter::with_capacity(1 << 16, tmp), Compression::fast());
        encoder
            .write_all(header.as_bytes())
            .map_err(|e| failed(&what, &objects, e))?;
        Ok(BlobWriter {
            encoder,
            hasher,
            objects,
            what,
            declared: size,
            written: 0,
        })
    }

    /// Adds the next bytes of the blob.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.encoder
            .write_all(bytes)
            .map_err(|e| failed(&self.what, &self.objects, e))
    }

    /// Completes the object and moves it into place; returns its id. Fewer or more bytes
    /// than declared is an error and leaves nothing behind.
    pub fn finish(self) -> Result<super::ObjectId> {
        self.finish_raw().map(super::ObjectId::from)
    }

    fn finish_raw(self) -> Result<Oid> {
        let BlobWriter {
            encoder,
            hasher,
            objects,
            what,
            declared,
            written,
        } = self;
        if written != declared {
            return Err(Error::InvalidInput(format!(
                "{what}: {written} bytes written where {declared} were declared"
            )));
        }
        let fail = |e| failed(&what, &objects, e);
        let buffered = encoder.finish().map_err(fail)?;
        let tmp = buffered.into_inner().map_err(|e| fail(e.into_error()))?;
        let id = hasher.try_finalize().map_err(|e| {
            Error::InvalidInput(format!("{what}: the object id cannot be computed: {e}"))
        })?;
        let oid = Oid::from_bytes(id.as_bytes()).map_err(Error::git("bad object id"))?;
        let hex = oid.to_string();
        let dir = objects.join(&hex[..2]);
        let path = dir.join(&hex[2..]);
        if path.exists() {
            return Ok(oid);
        }
        std::fs::create_dir_all(&dir).map_err(|e| failed(&what, &dir, e))?;
        read_only(tmp.as_file(), tmp.path()).map_err(|e| failed(&what, tmp.path(), e))?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => Ok(oid),
            // Another writer stored the same object meanwhile: the same bytes are there.
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(oid),
            Err(e) => Err(failed(&what, &path, e.error)),
        }
    }
}

#[cfg(unix)]
fn read_only(file: &File, _path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o444))
}

#[cfg(not(unix))]
fn read_only(_file: &File, _path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Names a failed write: a full disk as [`Error::StorageFull`], anything else as I/O.
pub(crate) fn failed(what: &str, path: &Path, source: std::io::Error) -> Error {
    if crate::error::is_enospc(&source) {
        return Error::StorageFull {
            what: what.to_string(),
            path: path.to_path_buf(),
            source,
        };
    }
    Error::Io {
        context: "failed to write an object in",
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_blob_has_gits_id_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let content: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut writer = BlobWriter::new(&repo, content.len() as u64, "test".into()).unwrap();
        for chunk in content.chunks(7777) {
            writer.write(chunk).unwrap();
        }
        let oid = writer.finish().unwrap();
        assert_eq!(
            oid,
            Oid::hash_object(git2::ObjectType::Blob, &content).unwrap()
        );
        assert_eq!(repo.find_blob(oid.into()).unwrap().content(), &content[..]);

        let mut short = BlobWriter::new(&repo, 10, "short".into()).unwrap();
        short.write(b"abc").unwrap();
        assert!(short.finish().is_err());
        let leftovers: Vec<_> = std::fs::read_dir(repo.path().join("objects"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("tmp_obj_"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
