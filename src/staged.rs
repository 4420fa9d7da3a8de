//! Scans what is staged in a repository's index: the pre-commit hook's view.

use std::path::Path;

use crate::error::{Error, Result};
use crate::git::{ObjectId, Repo};
use crate::scan::{FileScan, ScanReport, Scanner, Skipped, LARGE_FILE_BYTES};

/// Scans every staged blob (stage 0 entries, files and symlinks) of the repository at or
/// around `path`; submodule entries are skipped. The index is `GIT_INDEX_FILE` when set
/// (relative to `path`), as git sets it for hooks.
pub fn scan_staged(path: &Path, scanner: &Scanner) -> Result<ScanReport> {
    let (repo, staged) = crate::git::index::staged_files(path)?;
    let mut report = ScanReport::default();
    for (name, id) in staged {
        let (scan, size) = scan_blob(&repo, id, &name, scanner)?;
        match scan {
            FileScan::Findings(found) => {
                report.files_scanned += 1;
                report.bytes_scanned += size;
                report.findings.extend(found);
            }
            FileScan::Skipped(reason) => report.skipped.push(Skipped {
                path: name,
                reason: reason.as_str().to_string(),
            }),
        }
    }
    report
        .findings
        .sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    Ok(report)
}

/// Scans one staged blob: whole when small, as a stream above [`LARGE_FILE_BYTES`].
fn scan_blob(repo: &Repo, oid: ObjectId, name: &str, scanner: &Scanner) -> Result<(FileScan, u64)> {
    let what = format!("staged {name}");
    let size = repo
        .object_size(oid)
        .map_err(Error::git(format!("failed to read {what}")))?;
    if size > LARGE_FILE_BYTES {
        let mut stream = scanner.stream(name);
        let size = crate::git::blobread::for_each_piece(
            repo,
            oid,
            size,
            LARGE_FILE_BYTES,
            &what,
            |piece| {
                stream.update(piece);
                Ok(())
            },
        )?;
        return Ok((stream.finish(), size));
    }
    let blob = repo
        .read_blob(oid)
        .map_err(Error::git(format!("failed to read {what}")))?;
    Ok((scanner.scan_bytes(name, &blob), blob.len() as u64))
}
