//! Writes a commit's new objects as one pack instead of a dozen loose files, and rolls
//! small packs together before lookups slow down.
//!
//! Creating a file costs about a millisecond on ext4 here (inode allocation), and a small
//! commit wrote about twelve loose objects. A [`PackWriter`] collects the objects in memory
//! (a libgit2 mempack behind a repository handle that sees the store's objects as an
//! alternate), then [`PackWriter::flush`] writes them as a pack and its index
//! ([`super::packfile`]) in a staging directory, flushes both, and moves them into
//! `objects/pack`: the pack first, its index
//! last, as git does, so a reader never sees an index without its pack. Only then may a ref
//! name the objects. A process killed on the way leaves files in the staging directory
//! and nothing a reader can see.
//!
//! Every commit adds a pack; [`super::repack`] rolls the small ones together and
//! [`super::compact`] consolidates them with deltas.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use git2::{Mempack, ObjectType, Odb, Oid, Repository};

use super::durable;
use super::packfile::PackFile;
use crate::error::{Error, Result};

/// Staging directory for packs being written, under `objects/`.
pub const STAGING_DIR: &str = "artifact-store-incoming";

/// A repository handle whose writes go to memory until [`PackWriter::flush`].
pub struct PackWriter<'a> {
    repo: &'a super::Repo,
    mempack: &'a Mempack<'a>,
    objects: PathBuf,
}

/// Runs `f` with a [`PackWriter`] over the object database of the repository at `gitdir`.
///
/// Objects `f` writes through [`PackWriter::repo`] stay in memory until flushed; whatever
/// is not flushed when `f` returns is dropped.
pub fn with_writer<T>(gitdir: &Path, f: impl FnOnce(&PackWriter<'_>) -> Result<T>) -> Result<T> {
    let objects = gitdir.join("objects");
    let objects_text = objects
        .to_str()
        .ok_or_else(|| Error::InvalidInput(format!("{}: not a UTF-8 path", objects.display())))?;
    let odb = Odb::new().map_err(Error::git("failed to create an object database"))?;
    odb.add_disk_alternate(objects_text)
        .map_err(Error::git(format!("failed to open {}", objects.display())))?;
    let repo = super::Repo::from_raw(
        Repository::from_odb(odb).map_err(Error::git("failed to wrap the object database"))?,
    );
    let odb = repo
        .odb()
        .map_err(Error::git("failed to open the object database"))?;
    let mempack = odb
        .add_new_mempack_backend(1000)
        .map_err(Error::git("failed to add an in-memory object store"))?;
    f(&PackWriter {
        repo: &repo,
        mempack: &mempack,
        objects,
    })
}

impl PackWriter<'_> {
    /// Returns the handle to write objects through; reads see the store's objects too.
    pub fn repo(&self) -> &super::Repo {
        self.repo
    }

    /// Writes `oids` (objects written through [`PackWriter::repo`], or already stored) as
    /// one pack in `objects/pack`, flushed to disk first when `durable_on`, and empties the
    /// memory; returns the pack's path, `None` when there was nothing to write.
    ///
    /// Exactly these objects go in, whole (no deltas): libgit2's own mempack dump would add
    /// every object reachable from each commit's tree, the base branch's files included.
    /// `blobs` are blobs whose bytes the caller holds: written from them, not read back.
    pub fn flush(
        &self,
        oids: &[super::ObjectId],
        blobs: &[(super::ObjectId, &[u8])],
        durable_on: bool,
    ) -> Result<Option<PathBuf>> {
        if oids.is_empty() {
            return Ok(None);
        }
        let odb = self
            .repo
            .odb()
            .map_err(Error::git("failed to open the object database"))?;
        let held: std::collections::HashMap<Oid, &[u8]> = blobs
            .iter()
            .map(|(oid, data)| (Oid::from(oid), *data))
            .collect();
        let sources = oids
            .iter()
            .map(Oid::from)
            .map(|oid| match held.get(&oid) {
                Some(data) => Source::Data(oid, ObjectType::Blob, data),
                None => Source::Odb(oid),
            })
            .collect();
        let pack = write_pack(&self.objects, &odb, sources, durable_on)?;
        self.mempack
            .reset()
            .map_err(Error::git("failed to clear the in-memory object store"))?;
        Ok(Some(pack))
    }
}

/// One object of a pack being written: read whole from the object database, or given.
pub(super) enum Source<'a> {
    Odb(Oid),
    Data(Oid, ObjectType, &'a [u8]),
}

impl Source<'_> {
    fn oid(&self) -> Oid {
        match self {
            Source::Odb(oid) | Source::Data(oid, ..) => *oid,
        }
    }
}

/// Writes `sources` (repeated ids skipped) as a pack and its index in the staging
/// directory, flushes both when `durable_on`, and moves them into `objects/pack`, index
/// last; returns the pack's path.
pub(super) fn write_pack(
    objects: &Path,
    odb: &Odb<'_>,
    sources: Vec<Source<'_>>,
    durable_on: bool,
) -> Result<PathBuf> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let staging = objects.join(STAGING_DIR);
    let packdir = objects.join("pack");
    for dir in [&staging, &packdir] {
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(Error::io("failed to create", dir))?;
        }
    }
    let mut seen = HashSet::with_capacity(sources.len());
    let unique: Vec<Source> = sources
        .into_iter()
        .filter(|s| seen.insert(s.oid()))
        .collect();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tmp = format!(
        "tmp-{}-{nanos}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let tmp_pack = staging.join(format!("{tmp}.pack"));
    let tmp_idx = staging.join(format!("{tmp}.idx"));
    let written = (|| {
        let mut encoded = encode_large_in_parallel(&unique, &tmp_pack)?;
        let mut pack = PackFile::create(&tmp_pack, unique.len())?;
        for (i, source) in unique.iter().enumerate() {
            if let Some(entry) = encoded.remove(&i) {
                pack.add_encoded(source.oid(), &entry)?;
                continue;
            }
            match source {
                Source::Odb(oid) => {
                    let object = odb
                        .read(*oid)
                        .map_err(Error::git(format!("failed to read object {oid}")))?;
                    pack.add(*oid, object.kind(), object.data())?;
                }
                Source::Data(oid, kind, data) => pack.add(*oid, *kind, data)?,
            }
        }
        let finished = pack.finish(&tmp_idx, false)?;
        if durable_on {
            durable::sync_files(&[tmp_pack.clone(), tmp_idx.clone()])?;
        }
        Ok(finished)
    })();
    let finished = match written {
        Ok(finished) => finished,
        Err(e) => {
            let _ = fs::remove_file(&tmp_pack);
            let _ = fs::remove_file(&tmp_idx);
            return Err(e);
        }
    };
    let file = |ext: &str| packdir.join(format!("pack-{}.{ext}", finished.name));
    fs::rename(&tmp_pack, file("pack"))
        .map_err(Error::io("failed to move into place", &tmp_pack))?;
    fs::rename(&tmp_idx, file("idx")).map_err(Error::io("failed to move into place", &tmp_idx))?;
    if durable_on {
        durable::sync_files(std::slice::from_ref(&packdir))?;
    }
    Ok(file("pack"))
}

/// Blobs at least this large are deflated on a thread of their own when the set is large
/// enough to spread ([`PARALLEL_MIN_TOTAL`]).
const PARALLEL_MIN_BLOB: usize = 64 << 10;
/// Below this many bytes of such blobs, deflating on the calling thread costs less than
/// starting threads.
const PARALLEL_MIN_TOTAL: usize = 256 << 10;

/// A blob to deflate: its position in the pack, id, type and bytes.
type Blob<'a> = (usize, Oid, ObjectType, &'a [u8]);

/// Deflates the large in-memory blobs of `sources` on every core (at most four), each
/// thread with its own compressor; returns their encoded entries by position. Deflating is
/// most of writing a pack of fresh files, and a commit has the machine to itself; a pack
/// of small objects returns nothing and is written on the calling thread as before.
fn encode_large_in_parallel(
    sources: &[Source<'_>],
    path: &Path,
) -> Result<std::collections::HashMap<usize, Vec<u8>>> {
    let mut large: Vec<Blob<'_>> = sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Source::Data(oid, kind, data) if data.len() >= PARALLEL_MIN_BLOB => {
                Some((i, *oid, *kind, *data))
            }
            _ => None,
        })
        .collect();
    let total: usize = large.iter().map(|(.., data)| data.len()).sum();
    let threads = crate::progress::cores().min(4).min(large.len());
    if total < PARALLEL_MIN_TOTAL || threads < 2 {
        return Ok(Default::default());
    }
    // Longest first onto the least-loaded thread keeps the slowest thread short.
    large.sort_by_key(|(.., data)| std::cmp::Reverse(data.len()));
    let mut shares: Vec<(usize, Vec<Blob<'_>>)> = vec![(0, Vec::new()); threads];
    for item in large {
        let lightest = shares
            .iter_mut()
            .min_by_key(|share| share.0)
            .expect("at least two threads");
        lightest.0 += item.3.len();
        lightest.1.push(item);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter()
            .map(|(_, share)| {
                scope.spawn(move || {
                    let mut zlib = None;
                    share
                        .iter()
                        .map(|&(i, oid, kind, data)| {
                            let mut entry = Vec::new();
                            super::packfile::encode(
                                &mut entry,
                                oid,
                                kind,
                                data,
                                (&mut zlib, flate2::Compression::fast()),
                                path,
                            )?;
                            Ok((i, entry))
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut encoded = std::collections::HashMap::new();
        for handle in handles {
            let part = handle
                .join()
                .unwrap_or_else(|_| Err(Error::thread_died("deflating objects")))?;
            encoded.extend(part);
        }
        Ok(encoded)
    })
}
