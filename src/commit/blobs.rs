//! Writes a request's blobs, on every core for large sets.
//!
//! Compressing blobs is most of a commit's work, so large sets are split across the cores,
//! each worker with its own repository handle (a `Repo` is not `Sync`).

use crate::git::ObjectId;
use crate::git::Repo;

use super::Prepared;
use crate::error::{Error, Result};
use crate::progress::{Progress, Silent, Unit};

/// Below this many bytes, blobs are written on the calling thread.
const PARALLEL_BLOB_BYTES: u64 = 256 << 10;

/// Writes (and, when durable, flushes) every file's blob; returns their ids in file order.
///
/// Compressing blobs is most of a commit's work, so large sets are split across the
/// cores, each worker with its own repository handle (a `Repo` is not `Sync`).
pub(super) fn write_blobs(
    repo: &Repo,
    p: &Prepared,
    progress: &dyn Progress,
) -> Result<Vec<ObjectId>> {
    let total: u64 = p.files.iter().map(|f| f.bytes.len() as u64).sum();
    progress.start("writing objects", set_bytes(p), Unit::Bytes);
    let workers = crate::progress::cores().min(p.files.len()).min(4);
    if total < PARALLEL_BLOB_BYTES || workers < 2 {
        return write_blob_batch(repo, p, &(0..p.files.len()).collect::<Vec<_>>(), progress);
    }
    // Longest-first onto the least-loaded worker keeps the slowest worker short.
    let mut order: Vec<usize> = (0..p.files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(p.files[i].bytes.len()));
    let mut batches: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); workers];
    for i in order {
        let lightest = batches
            .iter_mut()
            .min_by_key(|b| b.0)
            .expect("at least two workers");
        lightest.0 += p.files[i].bytes.len() as u64;
        lightest.1.push(i);
    }
    let gitdir = repo.commondir().to_path_buf();
    let results: Vec<Result<Vec<ObjectId>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = batches
            .iter()
            .map(|(_, batch)| {
                let gitdir = &gitdir;
                scope.spawn(move || {
                    let repo = Repo::open_existing(gitdir)?;
                    write_blob_batch(&repo, p, batch, progress)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::thread_died("writing blobs")))
            })
            .collect()
    });
    let mut oids = vec![ObjectId::ZERO; p.files.len()];
    for ((_, batch), result) in batches.iter().zip(results) {
        for (i, oid) in batch.iter().zip(result?) {
            oids[*i] = oid;
        }
    }
    Ok(oids)
}

/// Writes every file's blob on the calling thread, through `repo` (an in-memory pack
/// writer's handle, which is not shared across threads).
pub(super) fn write_blobs_here(repo: &Repo, p: &Prepared) -> Result<Vec<ObjectId>> {
    write_blob_batch(repo, p, &(0..p.files.len()).collect::<Vec<_>>(), &Silent)
}

/// Returns the bytes of a set as its files were sized when collected.
pub(super) fn set_bytes(p: &Prepared) -> u64 {
    p.files
        .iter()
        .map(|f| match f.file.kind {
            crate::input::EntryKind::File { size, .. } => size,
            crate::input::EntryKind::Symlink { .. } => 0,
        })
        .sum()
}

fn write_blob_batch(
    repo: &Repo,
    p: &Prepared,
    batch: &[usize],
    progress: &dyn Progress,
) -> Result<Vec<ObjectId>> {
    let mut oids = Vec::with_capacity(batch.len());
    for &i in batch {
        let loaded = &p.files[i];
        if let Some(large) = &loaded.large {
            oids.push(super::large::write(repo, loaded, large, progress)?);
            continue;
        }
        let oid = repo.blob(&loaded.bytes).map_err(Error::git(format!(
            "failed to write {}",
            loaded.file.source.display()
        )))?;
        progress.inc(loaded.bytes.len() as u64);
        oids.push(oid);
    }
    Ok(oids)
}
