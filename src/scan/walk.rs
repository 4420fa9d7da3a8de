//! Scanning of files and directories: a single-threaded walk lists the files (skipping
//! `.git` directories and symlinks), then worker threads pull files from a shared queue.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::progress::{Progress, Unit};

use super::{FileScan, ScanError, ScanReport, Scanner, Skipped, LARGE_FILE_BYTES};

/// The most worker threads a scan uses.
const MAX_WORKERS: usize = 8;

/// One file to scan: its path and the label used in findings.
struct Entry {
    path: PathBuf,
    label: String,
}

/// Scans `paths` recursively with `scanner`.
pub(crate) fn scan_paths(
    scanner: &Scanner,
    paths: &[PathBuf],
    progress: &dyn Progress,
) -> Result<ScanReport, ScanError> {
    let mut entries = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
        if meta.is_dir() {
            walk_dir(path, &mut entries)?;
        } else if meta.is_file() {
            entries.push(entry(path.clone()));
        }
    }
    progress.start("scanning files", entries.len() as u64, Unit::Items);
    let workers = crate::progress::cores()
        .clamp(1, MAX_WORKERS)
        .min(entries.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let parts: Vec<Result<ScanReport, (usize, ScanError)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| scope.spawn(|| worker(scanner, &entries, (&next, &failed), progress)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    merge(parts)
}

/// Scans files from the shared queue until it is empty or another worker failed.
fn worker(
    scanner: &Scanner,
    entries: &[Entry],
    (next, failed): (&AtomicUsize, &AtomicBool),
    progress: &dyn Progress,
) -> Result<ScanReport, (usize, ScanError)> {
    let mut report = ScanReport::default();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(entry) = entries.get(index) else {
            return Ok(report);
        };
        if failed.load(Ordering::Relaxed) {
            return Ok(report);
        }
        let scanned = scan_file(scanner, entry);
        progress.inc(1);
        let (scan, size) = match scanned {
            Ok(done) => done,
            Err(source) => {
                failed.store(true, Ordering::Relaxed);
                return Err((index, io_error(&entry.path, source)));
            }
        };
        match scan {
            FileScan::Findings(findings) => {
                report.files_scanned += 1;
                report.bytes_scanned += size;
                report.findings.extend(findings);
            }
            FileScan::Skipped(reason) => report.skipped.push(Skipped {
                path: entry.label.clone(),
                reason: reason.as_str().to_string(),
            }),
        }
    }
}

/// Scans one file: read whole when small, streamed in bounded parts above
/// [`LARGE_FILE_BYTES`]; returns the outcome and the bytes read.
fn scan_file(scanner: &Scanner, entry: &Entry) -> std::io::Result<(FileScan, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(&entry.path)?;
    let size = file.metadata()?.len();
    if size > LARGE_FILE_BYTES {
        return scanner.scan_reader(&entry.label, file);
    }
    let mut data = Vec::with_capacity(size as usize + 1);
    file.read_to_end(&mut data)?;
    Ok((scanner.scan_bytes(&entry.label, &data), data.len() as u64))
}

/// Merges the workers' reports, or returns the error of the earliest failed file.
fn merge(parts: Vec<Result<ScanReport, (usize, ScanError)>>) -> Result<ScanReport, ScanError> {
    let mut report = ScanReport::default();
    let mut first_error: Option<(usize, ScanError)> = None;
    for part in parts {
        match part {
            Ok(part) => {
                report.files_scanned += part.files_scanned;
                report.bytes_scanned += part.bytes_scanned;
                report.findings.extend(part.findings);
                report.skipped.extend(part.skipped);
            }
            Err((index, error)) => {
                if first_error.as_ref().is_none_or(|(i, _)| index < *i) {
                    first_error = Some((index, error));
                }
            }
        }
    }
    if let Some((_, error)) = first_error {
        return Err(error);
    }
    report.findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, &a.rule_id).cmp(&(&b.path, b.line, b.column, &b.rule_id))
    });
    report.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// Lists the regular files under `dir`, sorted, skipping `.git` directories and symlinks.
fn walk_dir(dir: &Path, entries: &mut Vec<Entry>) -> Result<(), ScanError> {
    let mut children = Vec::new();
    for child in std::fs::read_dir(dir).map_err(|source| io_error(dir, source))? {
        let child = child.map_err(|source| io_error(dir, source))?;
        let kind = child
            .file_type()
            .map_err(|source| io_error(&child.path(), source))?;
        children.push((child.path(), kind));
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in children {
        if kind.is_dir() {
            if path.file_name().is_some_and(|name| name == ".git") {
                continue;
            }
            walk_dir(&path, entries)?;
        } else if kind.is_file() {
            entries.push(entry(path));
        }
    }
    Ok(())
}

fn entry(path: PathBuf) -> Entry {
    let label = path.to_string_lossy().replace('\\', "/");
    let label = label
        .strip_prefix("./")
        .map(str::to_string)
        .unwrap_or(label);
    Entry { path, label }
}

fn io_error(path: &Path, source: std::io::Error) -> ScanError {
    ScanError::Io {
        path: path.to_path_buf(),
        source,
    }
}
