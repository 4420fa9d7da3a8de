//! Scans what is staged in a repository's index: the pre-commit hook's view.

use std::path::Path;

use git2::Repository;

use crate::error::{Error, Result};
use crate::scan::{FileScan, ScanReport, Scanner, Skipped, LARGE_FILE_BYTES};

/// Scans every staged blob (stage 0 entries, files and symlinks) of the repository at or
/// around `path`; submodule entries are skipped. The index is `GIT_INDEX_FILE` when set
/// (relative to `path`), as git sets it for hooks.
pub fn scan_staged(path: &Path, scanner: &Scanner) -> Result<ScanReport> {
    let repo = Repository::discover(path).map_err(|e| Error::no_repository(path, &e))?;
    // `git commit -a` and `git commit <paths>` hand hooks a temporary index.
    let index = match std::env::var_os("GIT_INDEX_FILE") {
        Some(file) => git2::Index::open(&path.join(file)),
        None => repo.index(),
    }
    .map_err(Error::git("failed to read the index"))?;
    let mut report = ScanReport::default();
    for entry in index.iter() {
        let mode = entry.mode & 0o170000;
        if mode != 0o100000 && mode != 0o120000 {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path).into_owned();
        let (scan, size) = scan_blob(&repo, entry.id, &name, scanner)?;
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
fn scan_blob(
    repo: &Repository,
    oid: git2::Oid,
    name: &str,
    scanner: &Scanner,
) -> Result<(FileScan, u64)> {
    let what = format!("staged {name}");
    let odb = repo
        .odb()
        .map_err(Error::git("failed to open the object database"))?;
    let (size, _) = odb
        .read_header(oid)
        .map_err(Error::git(format!("failed to read {what}")))?;
    if size as u64 > LARGE_FILE_BYTES {
        let mut stream = scanner.stream(name);
        let size = crate::git::blobread::for_each_piece(
            repo,
            oid,
            size as u64,
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
        .find_blob(oid)
        .map_err(Error::git(format!("failed to read {what}")))?;
    Ok((scanner.scan_bytes(name, blob.content()), blob.size() as u64))
}
