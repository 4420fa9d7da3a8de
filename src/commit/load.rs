//! Reads, hashes and scans the files of a request, on every core for large sets.
//!
//! This is where every file's bytes meet the secret scanner, before any object exists.
//! Files above `scan::LARGE_FILE_BYTES` are hashed and scanned as streams (`large`).

use sha2::{Digest, Sha256};

use super::Loaded;
use crate::error::{Error, Result};
use crate::input::{EntryKind, InputFile};
use crate::progress::{Progress, Unit};
use crate::scan::{FileScan, Finding, Scanner};

/// Below this many bytes, files are loaded on the calling thread.
const PARALLEL_LOAD_BYTES: u64 = 256 << 10;

/// One file read: its bytes, its `sha256:` checksum, and what the scanner found in it.
pub(super) struct LoadedFile {
    pub(super) loaded: Loaded,
    pub(super) checksum: String,
    pub(super) findings: Vec<Finding>,
}

/// Loads every file in order; `scanner` is `None` when scanning is off.
pub(super) fn load_all(
    files: Vec<InputFile>,
    scanner: Option<&Scanner>,
    dir: &str,
    progress: &dyn Progress,
) -> Result<Vec<LoadedFile>> {
    let total: u64 = files.iter().map(size_of).sum();
    progress.start("reading and scanning", total, Unit::Bytes);
    let workers = crate::progress::cores().min(files.len()).min(4);
    if total < PARALLEL_LOAD_BYTES || workers < 2 {
        return files
            .into_iter()
            .map(|f| load_one(f, scanner, dir, progress))
            .collect();
    }
    let mut slots: Vec<Option<InputFile>> = files.into_iter().map(Some).collect();
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(slots[i].as_ref().map_or(0, size_of)));
    let mut batches: Vec<(u64, Vec<(usize, InputFile)>)> =
        (0..workers).map(|_| (0, Vec::new())).collect();
    for i in order {
        let file = slots[i].take().expect("each file is taken once");
        let lightest = batches
            .iter_mut()
            .min_by_key(|b| b.0)
            .expect("at least two workers");
        lightest.0 += size_of(&file);
        lightest.1.push((i, file));
    }
    let results: Vec<Result<Vec<(usize, LoadedFile)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = batches
            .into_iter()
            .map(|(_, batch)| {
                scope.spawn(move || {
                    batch
                        .into_iter()
                        .map(|(i, f)| load_one(f, scanner, dir, progress).map(|l| (i, l)))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::thread_died("reading the input files")))
            })
            .collect()
    });
    let mut out: Vec<Option<LoadedFile>> = (0..slots.len()).map(|_| None).collect();
    for result in results {
        for (i, loaded) in result? {
            out[i] = Some(loaded);
        }
    }
    Ok(out
        .into_iter()
        .map(|l| l.expect("every file was loaded"))
        .collect())
}

fn size_of(file: &InputFile) -> u64 {
    match file.kind {
        EntryKind::File { size, .. } => size,
        EntryKind::Symlink { .. } => 0,
    }
}

fn load_one(
    file: InputFile,
    scanner: Option<&Scanner>,
    dir: &str,
    progress: &dyn Progress,
) -> Result<LoadedFile> {
    if super::large::is_large(&file) {
        return super::large::load(file, scanner, dir, progress);
    }
    let bytes = read_entry(&file)?;
    progress.inc(size_of(&file));
    let checksum = format!("sha256:{:x}", Sha256::digest(&bytes));
    let findings = match scanner {
        Some(scanner) => match scanner.scan_bytes(&format!("{dir}/{}", file.target), &bytes) {
            FileScan::Findings(found) => found,
            FileScan::Skipped(_) => Vec::new(),
        },
        None => Vec::new(),
    };
    Ok(LoadedFile {
        loaded: Loaded {
            file,
            bytes,
            large: None,
        },
        checksum,
        findings,
    })
}

fn read_entry(file: &InputFile) -> Result<Vec<u8>> {
    match &file.kind {
        EntryKind::Symlink { target } => Ok(target.clone().into_bytes()),
        EntryKind::File { size, .. } => {
            use std::io::Read;
            let source = std::fs::File::open(&file.source)
                .map_err(Error::io("failed to read", &file.source))?;
            // One byte more than announced tells a file that grew, or a pseudo-file
            // (`/proc`, `/sys`) whose stated size is not its length, without reading it all.
            let mut bytes = Vec::with_capacity(usize::try_from(*size).unwrap_or(0));
            source
                .take(size.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(Error::io("failed to read", &file.source))?;
            if bytes.len() as u64 != *size {
                return Err(Error::InvalidInput(format!(
                    "{}: its size changed while it was read ({} bytes stated, {}{} read); only regular files of a stable, known length can be committed",
                    file.source.display(),
                    size,
                    bytes.len(),
                    if bytes.len() as u64 > *size { " or more" } else { "" }
                )));
            }
            Ok(bytes)
        }
    }
}
