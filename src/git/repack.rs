//! Rolls small packs together before lookups slow down: every small commit adds a pack
//! ([`super::pack`]), and libgit2 and git search packs one by one.
//!
//! When `objects/pack` holds more than [`MAX_PACKS`] packs, the smallest are rolled into
//! one, chosen geometrically (as `git repack --geometric=2`) so the same bytes are not
//! rewritten over and over; their entries are copied as stored, deltas included
//! ([`super::compact`] writes the pack). The new pack is in place before any old one goes,
//! so every object stays readable throughout.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use git2::Repository;

use crate::error::{Error, Result};

/// Lock serializing [`consolidate`], in the git directory.
pub const REPACK_LOCK_FILE: &str = "artifact-store-repack.lock";
/// More packs than this and [`consolidate`] rolls the small ones together.
pub const MAX_PACKS: usize = 24;
/// A staging file older than this was left by a killed process. (The repack lock goes
/// stale after the store's `stale_lock_seconds`, passed to [`consolidate`].)
const STALE: Duration = Duration::from_secs(600);

/// A pack in `objects/pack` that may be rolled up.
#[derive(Debug, Clone)]
pub(super) struct PackOnDisk {
    /// Path without the extension: `.../pack-<hash>`.
    pub(super) stem: PathBuf,
    /// Size of the `.pack` file.
    pub(super) size: u64,
}

/// Counts the packs (`.idx` files) in `objects/pack`.
pub fn count_packs(gitdir: &Path) -> usize {
    fs::read_dir(gitdir.join("objects").join("pack")).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".idx"))
            .count()
    })
}

/// Rolls small packs into one when there are more than [`MAX_PACKS`]; returns how many
/// packs were rolled up (0 when nothing was due, or another process is doing it).
///
/// Entries are copied as stored, deltas included (their base offsets rewritten), through
/// [`super::compact::run`] with [`super::compact::Scope::Roll`]: no delta is computed
/// here, that is the later consolidation's work. The new pack is in place (and flushed,
/// when `durable_on`) before any old one is removed, so every object stays readable
/// throughout. A repack lock older than `lock_stale` was left by a killed process and is
/// removed first, due or not: it blocks no commit, only consolidation, and a leftover lock
/// file should not outlive the bound. A live consolidation touches its lock every second.
pub fn consolidate(repo: &Repository, durable_on: bool, lock_stale: Duration) -> Result<usize> {
    let report = super::compact::run(
        repo,
        &super::compact::Options {
            scope: super::compact::Scope::Roll,
            durable: durable_on,
            lock_stale,
            dry_run: false,
            threshold: 0,
        },
    )?;
    Ok(if report.ran { report.packs } else { 0 })
}

/// The packs with an index and no `.keep`, `.bitmap` or `.promisor` beside them.
pub(super) fn rollable(packdir: &Path) -> Result<Vec<PackOnDisk>> {
    let entries = fs::read_dir(packdir).map_err(Error::io("failed to list", packdir))?;
    let mut packs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("idx") {
            continue;
        }
        let stem = path.with_extension("");
        if ["keep", "bitmap", "promisor"]
            .iter()
            .any(|ext| stem.with_extension(ext).exists())
        {
            continue;
        }
        if let Ok(meta) = fs::metadata(stem.with_extension("pack")) {
            packs.push(PackOnDisk {
                stem,
                size: meta.len(),
            });
        }
    }
    Ok(packs)
}

/// Picks the smallest packs to roll up: from the smallest, each next pack joins while it
/// is at most twice the size of those already picked together (`start` bytes count as
/// picked already: loose objects joining the roll-up). What remains is a geometric
/// progression, so a byte is rewritten about log2(packs) times over its life.
pub(super) fn geometric(mut packs: Vec<PackOnDisk>, start: u64) -> Vec<PackOnDisk> {
    packs.sort_by_key(|p| p.size);
    let mut total = start;
    let mut chosen = Vec::new();
    for pack in packs {
        if (chosen.len() >= 2 || start > 0) && pack.size > total.saturating_mul(2) {
            break;
        }
        total += pack.size;
        chosen.push(pack);
    }
    chosen
}

/// Removes staging files older than [`STALE`]: left by killed writers.
pub(super) fn sweep_staging(staging: &Path) {
    let Ok(entries) = fs::read_dir(staging) else {
        return;
    };
    for entry in entries.flatten() {
        if is_stale(&entry.path()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn is_stale(path: &Path) -> bool {
    older_than(path, STALE)
}

pub(super) fn older_than(path: &Path, bound: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > bound)
}

/// [`REPACK_LOCK_FILE`], removed on drop.
pub(super) struct RepackLock(PathBuf);

impl RepackLock {
    /// Marks the lock as alive: its mtime is what staleness is judged by.
    pub(super) fn touch(&self) {
        if let Ok(file) = fs::File::options().write(true).open(&self.0) {
            let _ = file.set_modified(SystemTime::now());
        }
    }

    /// Takes the lock; `None` when another live process holds it.
    pub(super) fn acquire(gitdir: &Path, stale: Duration) -> Result<Option<RepackLock>> {
        let path = gitdir.join(REPACK_LOCK_FILE);
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(Some(RepackLock(path))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if !older_than(&path, stale) {
                        return Ok(None);
                    }
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(Error::io("failed to create", &path)(e)),
            }
        }
        Ok(None)
    }
}

impl Drop for RepackLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_repack_lock_is_removed_by_the_next_commit_a_fresh_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let lock = dir.path().join(REPACK_LOCK_FILE);
        fs::write(&lock, "").unwrap();
        assert_eq!(
            consolidate(&repo, false, Duration::from_secs(60)).unwrap(),
            0
        );
        assert!(lock.exists(), "a fresh lock belongs to a live roll-up");
        let old = SystemTime::now() - Duration::from_secs(120);
        fs::File::options()
            .write(true)
            .open(&lock)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(
            consolidate(&repo, false, Duration::from_secs(60)).unwrap(),
            0
        );
        assert!(!lock.exists(), "a killed roll-up's lock outlived the bound");
    }

    fn pack(size: u64) -> PackOnDisk {
        PackOnDisk {
            stem: PathBuf::from(format!("pack-{size}")),
            size,
        }
    }

    #[test]
    fn geometric_rolls_up_the_small_packs_and_leaves_a_big_one() {
        let mut packs: Vec<PackOnDisk> = (0..30).map(|_| pack(10)).collect();
        packs.push(pack(100_000));
        let chosen = geometric(packs, 0);
        assert_eq!(chosen.len(), 30);
        assert!(chosen.iter().all(|p| p.size == 10));
    }

    #[test]
    fn geometric_takes_a_pack_up_to_twice_the_running_total() {
        let chosen = geometric(vec![pack(1), pack(1), pack(4), pack(9), pack(100)], 0);
        let sizes: Vec<u64> = chosen.iter().map(|p| p.size).collect();
        assert_eq!(sizes, vec![1, 1, 4, 9]);
        let chosen = geometric(vec![pack(1), pack(1), pack(5), pack(6)], 0);
        assert_eq!(chosen.len(), 2);
    }
}
