//! Scans what is staged in a repository's index: the pre-commit hook's view.

use std::path::Path;

use git2::Repository;

use crate::error::{Error, Result};
use crate::scan::{FileScan, ScanReport, Scanner, Skipped};

/// Scans every staged blob (stage 0 entries, files and symlinks) of the repository at or
/// around `path`; submodule entries are skipped.
pub fn scan_staged(path: &Path, scanner: &Scanner) -> Result<ScanReport> {
    let repo = Repository::discover(path).map_err(|source| Error::NoRepository {
        path: path.to_path_buf(),
        source,
    })?;
    let index = repo
        .index()
        .map_err(Error::git("failed to read the index"))?;
    let mut report = ScanReport::default();
    for entry in index.iter() {
        let mode = entry.mode & 0o170000;
        if mode != 0o100000 && mode != 0o120000 {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path).into_owned();
        let blob = repo
            .find_blob(entry.id)
            .map_err(Error::git(format!("failed to read staged {name}")))?;
        match scanner.scan_bytes(&name, blob.content()) {
            FileScan::Findings(found) => {
                report.files_scanned += 1;
                report.bytes_scanned += blob.size() as u64;
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
