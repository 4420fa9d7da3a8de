//! Rolls small packs together before lookups slow down: every small commit adds a pack
//! ([`super::pack`]), and libgit2 and git search packs one by one.
//!
//! When `objects/pack` holds more than [`MAX_PACKS`] packs, the smallest are rolled into
//! one, chosen geometrically (as `git repack --geometric=2`) so the same bytes are not
//! rewritten over and over; their entries are copied as stored. The new pack is in place
//! before any old one goes, so every object stays readable throughout.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use git2::Repository;

use super::durable;
use super::pack::{write_pack, Copier, Source, STAGING_DIR};
use super::packfile;
use crate::error::{Error, Result};

/// Lock serializing [`consolidate`], in the git directory.
pub const REPACK_LOCK_FILE: &str = "artifact-store-repack.lock";
/// More packs than this and [`consolidate`] rolls the small ones together.
pub const MAX_PACKS: usize = 24;
/// A staging file older than this was left by a killed process. (The repack lock goes
/// stale after the store's `stale_lock_seconds`, passed to [`consolidate`].)
const STALE: Duration = Duration::from_secs(600);

/// The objects of the packs at `stems`, to roll into one: whole entries are copied as they
/// are stored (no inflating, no hashing, no compressing again); delta entries (packs that
/// `git gc` wrote) and packs with a version 1 index are read whole through `odb`.
fn roll_up_sources(stems: &[PathBuf]) -> Result<(Vec<Source<'static>>, Vec<PathBuf>)> {
    let mut sources = Vec::new();
    let mut packs = Vec::with_capacity(stems.len());
    for (n, stem) in stems.iter().enumerate() {
        let pack_path = stem.with_extension("pack");
        let idx = fs::read(stem.with_extension("idx"))
            .map_err(Error::io("failed to read", stem.with_extension("idx")))?;
        let pack_len = fs::metadata(&pack_path)
            .map_err(Error::io("failed to read", &pack_path))?
            .len();
        let mut entries = match packfile::read_index(&idx, &stem.with_extension("idx"))? {
            packfile::PackIndex::V2(entries) => entries,
            packfile::PackIndex::V1(oids) => {
                sources.extend(oids.into_iter().map(Source::Odb));
                packs.push(pack_path);
                continue;
            }
        };
        entries.sort_by_key(|e| e.offset);
        // An entry lies between the 12-byte header and the 20-byte trailer; an index that
        // says otherwise would have a copy read (and allocate) past the pack's end.
        if entries
            .iter()
            .any(|e| e.offset < 12 || e.offset >= pack_len.saturating_sub(20))
        {
            return Err(Error::Corrupt {
                message: format!(
                    "{}: not a valid pack index: an entry lies outside its {pack_len}-byte pack",
                    stem.with_extension("idx").display()
                ),
            });
        }
        let mut file = Copier::default();
        for (i, e) in entries.iter().enumerate() {
            let end = entries
                .get(i + 1)
                .map_or(pack_len.saturating_sub(20), |next| next.offset);
            let kind = file.read(&pack_path, e.offset, e.offset + 1)?[0] >> 4 & 7;
            sources.push(if (1..=4).contains(&kind) && end > e.offset {
                Source::Copy {
                    oid: e.oid,
                    crc: e.crc,
                    pack: n,
                    start: e.offset,
                    end,
                }
            } else {
                Source::Odb(e.oid)
            });
        }
        packs.push(pack_path);
    }
    Ok((sources, packs))
}

/// A pack in `objects/pack` that may be rolled up.
#[derive(Debug, Clone)]
struct PackOnDisk {
    /// Path without the extension: `.../pack-<hash>`.
    stem: PathBuf,
    /// Size of the `.pack` file.
    size: u64,
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
/// The new pack is in place (and flushed, when `durable_on`) before any old one is
/// removed, so every object stays readable throughout. A repack lock older than
/// `lock_stale` was left by a killed commit and is removed first, due or not: it blocks no
/// commit, only consolidation, and a leftover lock file should not outlive the bound. Two
/// consolidations at once (one taking over a live but slow one's lock) cost work, not
/// objects: each writes its new pack before it removes any.
pub fn consolidate(repo: &Repository, durable_on: bool, lock_stale: Duration) -> Result<usize> {
    let gitdir = repo.commondir().to_path_buf();
    let lock = gitdir.join(REPACK_LOCK_FILE);
    if older_than(&lock, lock_stale) {
        let _ = fs::remove_file(&lock);
    }
    if count_packs(&gitdir) <= MAX_PACKS {
        return Ok(0);
    }
    let Some(_lock) = RepackLock::acquire(&gitdir, lock_stale)? else {
        return Ok(0);
    };
    let objects = gitdir.join("objects");
    sweep_staging(&objects.join(STAGING_DIR));
    let packs = rollable(&objects.join("pack"))?;
    let chosen = geometric(packs);
    if chosen.len() < 2 {
        return Ok(0);
    }
    let odb = repo
        .odb()
        .map_err(Error::git("failed to open the object database"))?;
    odb.refresh()
        .map_err(Error::git("failed to refresh the object database"))?;
    let stems: Vec<PathBuf> = chosen.iter().map(|p| p.stem.clone()).collect();
    let (sources, packs) = roll_up_sources(&stems)?;
    let combined = write_pack(&objects, &odb, sources, &packs, durable_on)?;
    for pack in &chosen {
        if pack.stem.with_extension("pack") == combined {
            continue;
        }
        for ext in ["idx", "rev", "pack"] {
            match fs::remove_file(pack.stem.with_extension(ext)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::io("failed to remove", pack.stem.with_extension(ext))(e))
                }
            }
        }
    }
    if durable_on {
        durable::sync_files(&[objects.join("pack")])?;
    }
    Ok(chosen.len())
}

/// The packs with an index and no `.keep`, `.bitmap` or `.promisor` beside them.
fn rollable(packdir: &Path) -> Result<Vec<PackOnDisk>> {
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
/// is at most twice the size of those already picked together. What remains is a geometric
/// progression, so a byte is rewritten about log2(packs) times over its life.
fn geometric(mut packs: Vec<PackOnDisk>) -> Vec<PackOnDisk> {
    packs.sort_by_key(|p| p.size);
    let mut total = 0u64;
    let mut chosen = Vec::new();
    for pack in packs {
        if chosen.len() >= 2 && pack.size > total.saturating_mul(2) {
            break;
        }
        total += pack.size;
        chosen.push(pack);
    }
    chosen
}

/// Removes staging files older than [`STALE`]: left by killed writers.
fn sweep_staging(staging: &Path) {
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

fn older_than(path: &Path, bound: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > bound)
}

/// [`REPACK_LOCK_FILE`], removed on drop.
struct RepackLock(PathBuf);

impl RepackLock {
    /// Takes the lock; `None` when another live process holds it.
    fn acquire(gitdir: &Path, stale: Duration) -> Result<Option<RepackLock>> {
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
        let chosen = geometric(packs);
        assert_eq!(chosen.len(), 30);
        assert!(chosen.iter().all(|p| p.size == 10));
    }

    #[test]
    fn geometric_takes_a_pack_up_to_twice_the_running_total() {
        let chosen = geometric(vec![pack(1), pack(1), pack(4), pack(9), pack(100)]);
        let sizes: Vec<u64> = chosen.iter().map(|p| p.size).collect();
        assert_eq!(sizes, vec![1, 1, 4, 9]);
        let chosen = geometric(vec![pack(1), pack(1), pack(5), pack(6)]);
        assert_eq!(chosen.len(), 2);
    }
}
