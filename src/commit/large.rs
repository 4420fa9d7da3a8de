//! Files above [`LARGE_FILE_BYTES`]: streamed in two passes, never held whole in memory.
//!
//! The first pass (at load, before anything is written) reads the file once through the
//! sha256 of its metadata checksum and the streaming secret scan. The second pass (at
//! write, only once the scan gate passed) reads it again into a [`BlobWriter`], which
//! deflates it into a temporary loose object, hashing it with sha256 again; the object is
//! renamed into place only when the size and sha256 match the first pass, so a file that
//! changed between the passes fails the commit and leaves no object behind, and a disk
//! that fills up fails it naming the cause ([`Error::StorageFull`]), again leaving nothing.

use std::fs::File;
use std::io::{ErrorKind, Read};

use crate::git::ObjectId;
use crate::git::Repo;
use sha2::{Digest, Sha256};

use super::load::LoadedFile;
use super::Loaded;
use crate::error::{Error, Result};
use crate::git::blobwrite::BlobWriter;
use crate::input::{EntryKind, InputFile};
use crate::progress::Progress;
use crate::scan::{FileScan, Scanner, LARGE_FILE_BYTES};

/// Bytes read at a time.
const READ: usize = 1 << 20;

/// What the first pass learned about a large file.
#[derive(Debug, Clone)]
pub(crate) struct Large {
    /// Bytes read, equal to the size the file had when it was collected.
    pub(crate) size: u64,
    /// sha256 of those bytes.
    pub(crate) sha256: [u8; 32],
}

/// Returns whether `file` takes the streaming path.
pub(super) fn is_large(file: &InputFile) -> bool {
    matches!(file.kind, EntryKind::File { size, .. } if size > LARGE_FILE_BYTES)
}

/// First pass: hashes and scans a large file without holding it.
pub(super) fn load(
    file: InputFile,
    scanner: Option<&Scanner>,
    dir: &str,
    progress: &dyn Progress,
) -> Result<LoadedFile> {
    let EntryKind::File { size, .. } = file.kind else {
        unreachable!("only regular files are large");
    };
    let mut scan = scanner.map(|s| s.stream(&format!("{dir}/{}", file.target)));
    let mut hasher = Sha256::new();
    let mut source = File::open(&file.source).map_err(Error::io("failed to open", &file.source))?;
    let read = each_chunk(&mut (&mut source).take(size + 1), &file, |chunk| {
        hasher.update(chunk);
        if let Some(scan) = &mut scan {
            scan.update(chunk);
        }
        progress.inc(chunk.len() as u64);
    })?;
    if read != size {
        // Not a file of a stable, known length: invalid input, as for a small file.
        return Err(Error::InvalidInput(format!(
            "{}: its size changed while it was read ({size} bytes stated, {read}{} read); only regular files of a stable, known length can be committed",
            file.source.display(),
            if read > size { " or more" } else { "" }
        )));
    }
    let findings = match scan.map(|s| s.finish()) {
        Some(FileScan::Findings(found)) => found,
        Some(FileScan::Skipped(_)) | None => Vec::new(),
    };
    let digest = hasher.finalize();
    Ok(LoadedFile {
        checksum: format!("sha256:{digest:x}"),
        loaded: Loaded {
            file,
            bytes: Vec::new(),
            large: Some(Large {
                size,
                sha256: digest.into(),
            }),
        },
        findings,
    })
}

/// Second pass: streams a large file into the object database as a loose blob; the blob
/// appears only when the bytes are the ones the first pass hashed and scanned.
pub(super) fn write(
    repo: &Repo,
    loaded: &Loaded,
    large: &Large,
    progress: &dyn Progress,
) -> Result<ObjectId> {
    let file = &loaded.file;
    let mut source = File::open(&file.source).map_err(Error::io("failed to open", &file.source))?;
    let size = source
        .metadata()
        .map_err(Error::io("failed to read", &file.source))?
        .len();
    if size != large.size {
        return Err(changed(file));
    }
    let declared = usize::try_from(size).map_err(|_| changed(file))?;
    let mut writer = BlobWriter::new(
        repo,
        declared as u64,
        format!("the blob of {}", file.source.display()),
    )?;
    let mut hasher = Sha256::new();
    let mut write_error = None;
    let read = each_chunk(&mut (&mut source).take(size + 1), file, |chunk| {
        hasher.update(chunk);
        progress.inc(chunk.len() as u64);
        if write_error.is_none() {
            write_error = writer.write(chunk).err();
        }
    })?;
    if read != size || <[u8; 32]>::from(hasher.finalize()) != large.sha256 {
        // Dropping the writer removes its temporary file: nothing is left behind.
        return Err(changed(file));
    }
    if let Some(e) = write_error {
        return Err(e);
    }
    writer.finish()
}

/// Reads `source` to its end in [`READ`]-byte chunks; returns the bytes read.
fn each_chunk(source: &mut impl Read, file: &InputFile, mut f: impl FnMut(&[u8])) -> Result<u64> {
    let mut buf = vec![0u8; READ];
    let mut total = 0u64;
    loop {
        match source.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                total += n as u64;
                f(&buf[..n]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("failed to read", &file.source)(e)),
        }
    }
}

fn changed(file: &InputFile) -> Error {
    Error::Conflict {
        message: format!(
            "{} changed while it was being committed",
            file.source.display()
        ),
        hint: Some("commit once the writer of this file has finished".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    fn loose_objects(repo: &Repo) -> usize {
        let mut count = 0;
        for dir in std::fs::read_dir(repo.path().join("objects"))
            .unwrap()
            .flatten()
        {
            let name = dir.file_name().to_string_lossy().into_owned();
            if name.len() == 2 || name.starts_with("tmp") {
                count += std::fs::read_dir(dir.path()).map_or(1, |d| d.count());
            }
        }
        count
    }

    #[test]
    fn a_file_changed_between_the_passes_fails_and_leaves_no_object() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(&dir.path().join("store.git"), true, "main").unwrap();
        let source = dir.path().join("big.txt");
        let content: Vec<u8> = (0..LARGE_FILE_BYTES + 4096)
            .map(|i| b"abcdefghij\n"[(i % 11) as usize])
            .collect();
        std::fs::write(&source, &content).unwrap();
        let file = InputFile {
            source: source.clone(),
            target: "big.txt".to_string(),
            kind: EntryKind::File {
                size: content.len() as u64,
                executable: false,
            },
        };
        assert!(is_large(&file));
        let loaded = load(file, Some(&Scanner::builtin()), "artifacts", &Silent).unwrap();
        assert!(loaded.findings.is_empty());
        let large = loaded.loaded.large.clone().unwrap();

        // Same size, one byte different: only the hash tells.
        let mut edited = content.clone();
        edited[LARGE_FILE_BYTES as usize] = b'X';
        std::fs::write(&source, &edited).unwrap();
        let err = write(&repo, &loaded.loaded, &large, &Silent).unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        assert!(err
            .to_string()
            .contains("changed while it was being committed"));
        assert_eq!(loose_objects(&repo), 0, "no object, no temporary file");

        // Grown.
        let mut grown = content.clone();
        grown.push(b'\n');
        std::fs::write(&source, &grown).unwrap();
        assert!(matches!(
            write(&repo, &loaded.loaded, &large, &Silent),
            Err(Error::Conflict { .. })
        ));
        assert_eq!(loose_objects(&repo), 0);

        // Back as it was: the blob is the file, under git's own id for it.
        std::fs::write(&source, &content).unwrap();
        let oid = write(&repo, &loaded.loaded, &large, &Silent).unwrap();
        assert_eq!(oid, ObjectId::hash_file(&source).unwrap());
        assert_eq!(repo.read_blob(oid).unwrap(), content);
        assert_eq!(loose_objects(&repo), 1);
    }
}
