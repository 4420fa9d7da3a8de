//! Flushes the loose objects and ref files the store wrote, and their directories.
//!
//! libgit2 can fsync (`GIT_OPT_ENABLE_FSYNC_GITDIR`) but the `git2` crate exposes no
//! setter, and a repository's `core.fsyncObjectFiles` belongs to its owner. So the store
//! flushes exactly what it wrote, objects before the refs that name them.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use git2::{Oid, Repository};

use crate::error::{Error, Result};

/// Flushes each object's loose file (objects already packed or absent are skipped).
pub fn sync_objects(repo: &Repository, oids: &[Oid]) -> Result<()> {
    let objects = repo.path().join("objects");
    let mut dirs = BTreeSet::new();
    for oid in oids {
        let hex = oid.to_string();
        let dir = objects.join(&hex[..2]);
        let file = dir.join(&hex[2..]);
        if sync_file(&file)? {
            dirs.insert(dir);
        }
    }
    if !dirs.is_empty() {
        dirs.insert(objects);
    }
    for dir in dirs {
        sync_file(&dir)?;
    }
    Ok(())
}

/// Flushes a loose ref file and every directory from it up to the git directory.
pub fn sync_ref(repo: &Repository, refname: &str) -> Result<()> {
    let gitdir = repo.path().to_path_buf();
    let file = gitdir.join(refname);
    if !sync_file(&file)? {
        return sync_file(&gitdir.join("packed-refs")).map(|_| ());
    }
    let mut dir: Option<&Path> = file.parent();
    while let Some(d) = dir {
        sync_file(d)?;
        if d == gitdir {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// fsyncs one file or directory; returns false when it does not exist.
fn sync_file(path: &Path) -> Result<bool> {
    match File::open(path) {
        Ok(f) => {
            f.sync_all().map_err(Error::io("failed to fsync", path))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("failed to open for fsync", path)(e)),
    }
}
