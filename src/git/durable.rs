//! Flushes the loose objects and ref files the store wrote, and their directories.
//!
//! libgit2 can fsync (`GIT_OPT_ENABLE_FSYNC_GITDIR`) but the `git2` crate exposes no
//! setter, and a repository's `core.fsyncObjectFiles` belongs to its owner. So the store
//! flushes exactly what it wrote, objects before the refs that name them. Flushes of
//! independent files run on several threads: the journal commits them together.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use git2::Repository;

use crate::error::{Error, Result};

/// Flushes each object's loose file and fan-out directory (packed or absent ones are skipped).
pub fn sync_objects(repo: &Repository, oids: &[super::ObjectId]) -> Result<()> {
    let objects = repo.commondir().join("objects");
    let mut files = Vec::with_capacity(oids.len());
    let mut dirs = BTreeSet::new();
    for oid in oids {
        let hex = oid.to_string();
        let dir = objects.join(&hex[..2]);
        files.push(dir.join(&hex[2..]));
        dirs.insert(dir);
    }
    let present = sync_all(&files)?;
    if present > 0 {
        dirs.insert(objects);
        sync_all(&dirs.into_iter().collect::<Vec<_>>())?;
    }
    Ok(())
}

/// Flushes a loose ref file and its directory; for a ref that is `new`, every directory
/// up to the git directory too, since any of them may have just been created.
pub fn sync_ref(repo: &Repository, refname: &str, new: bool) -> Result<()> {
    let gitdir = repo.commondir().to_path_buf();
    let file = gitdir.join(refname);
    if !sync_path(&file)? {
        return sync_path(&gitdir.join("packed-refs")).map(|_| ());
    }
    let mut paths = Vec::new();
    let mut dir: Option<&Path> = file.parent();
    while let Some(d) = dir {
        paths.push(d.to_path_buf());
        if d == gitdir || !new {
            break;
        }
        dir = d.parent();
    }
    sync_all(&paths).map(|_| ())
}

/// Flushes files or directories the caller wrote; missing ones are skipped.
pub fn sync_files(paths: &[PathBuf]) -> Result<()> {
    sync_all(paths).map(|_| ())
}

/// fsyncs every path, on up to four threads; returns how many existed.
///
/// Concurrent fsyncs on one ext4 file system share a journal commit, so even two paths
/// are flushed on two threads.
fn sync_all(paths: &[PathBuf]) -> Result<usize> {
    if paths.len() < 2 {
        return paths
            .iter()
            .try_fold(0, |n, p| Ok(n + usize::from(sync_path(p)?)));
    }
    let workers = paths.len().min(4);
    let chunk = paths.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .try_fold(0, |n, p| Ok(n + usize::from(sync_path(p)?)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::thread_died("syncing files to disk")))
            })
            .sum()
    })
}

/// fsyncs one file or directory; returns false when it does not exist.
fn sync_path(path: &Path) -> Result<bool> {
    match File::open(path) {
        Ok(f) => {
            f.sync_all().map_err(Error::io("failed to fsync", path))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("failed to open for fsync", path)(e)),
    }
}
