//! Writes a pack (version 2, whole objects, no deltas) and its index (version 2) to files.
//!
//! libgit2's pack builder searches for deltas and its indexer inflates and hashes every
//! object again; for a commit's dozen fresh objects both cost more than they save. Here
//! each object is deflated once as it is written, and the index is built from the ids,
//! offsets and CRCs already known. Formats: git's `Documentation/gitformat-pack.txt`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, FlushCompress, Status};
use git2::{ObjectType, Oid};

use crate::error::{Error, Result};

/// Packs and indexes are never written again once made, so they are created read-only, as
/// git and libgit2 create theirs (the open descriptor writes them all the same).
const READ_ONLY: u32 = 0o444;

/// A pack being written to `path`; [`PackFile::finish`] adds the trailer and the index.
pub struct PackFile {
    path: PathBuf,
    /// `None` for a dry run: entries are counted, not written.
    out: Option<BufWriter<File>>,
    hasher: gix_hash::Hasher,
    offset: u64,
    entries: Vec<Entry>,
    buf: Vec<u8>,
    zlib: Option<Compress>,
}

struct Entry {
    oid: Oid,
    crc: u32,
    offset: u64,
}

/// What [`PackFile::finish`] wrote.
pub struct Finished {
    /// The pack's checksum in hex: its name, `pack-<name>.pack`.
    pub name: String,
    /// Objects in the pack.
    #[cfg_attr(not(test), allow(dead_code))]
    pub objects: usize,
}

impl PackFile {
    /// Creates `path` (which must not exist) and writes the header for `count` objects.
    pub fn create(path: &Path, count: usize) -> Result<PackFile> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .mode(READ_ONLY)
            .open(path)
            .map_err(Error::io("failed to create", path))?;
        PackFile::start(
            path.to_path_buf(),
            Some(BufWriter::with_capacity(64 << 10, file)),
            count,
        )
    }

    /// A pack that writes nothing and counts what it would: a dry run's size.
    pub fn dry_run(count: usize) -> Result<PackFile> {
        PackFile::start(PathBuf::from("(dry run)"), None, count)
    }

    /// A pack writing to `out` (nothing when `None`), its header for `count` objects done.
    fn start(path: PathBuf, out: Option<BufWriter<File>>, count: usize) -> Result<PackFile> {
        let mut pack = PackFile {
            path,
            out,
            hasher: gix_hash::hasher(gix_hash::Kind::Sha1),
            offset: 0,
            entries: Vec::with_capacity(count),
            buf: Vec::new(),
            zlib: None,
        };
        pack.header(count)?;
        Ok(pack)
    }

    fn header(&mut self, count: usize) -> Result<()> {
        let count = u32::try_from(count).map_err(|_| Error::Internal {
            message: format!("{count} objects are too many for one pack"),
        })?;
        let mut header = Vec::with_capacity(12);
        header.extend_from_slice(b"PACK");
        header.extend_from_slice(&2u32.to_be_bytes());
        header.extend_from_slice(&count.to_be_bytes());
        self.emit(&header)
    }

    /// Starts an entry for `oid` written in parts with [`PackFile::part`]; returns its
    /// offset. [`PackFile::end_entry`] completes it with the CRC of its parts.
    pub fn start_entry(&mut self, oid: Oid) -> u64 {
        self.entries.push(Entry {
            oid,
            crc: 0,
            offset: self.offset,
        });
        self.offset
    }

    /// Writes the next bytes of the entry started last.
    pub fn part(&mut self, bytes: &[u8], crc: &mut flate2::Crc) -> Result<()> {
        crc.update(bytes);
        self.emit(bytes)
    }

    /// Whether this is a dry run's pack, which counts bytes and writes none.
    pub fn is_dry_run(&self) -> bool {
        self.out.is_none()
    }

    /// Counts `n` bytes of the entry started last without their content: a dry run only.
    pub fn count(&mut self, n: u64) {
        debug_assert!(self.out.is_none());
        self.offset += n;
    }

    /// Completes the entry started last with the CRC of its bytes.
    pub fn end_entry(&mut self, crc: &flate2::Crc) {
        if let Some(last) = self.entries.last_mut() {
            last.crc = crc.sum();
        }
    }

    /// Appends one whole object.
    pub fn add(&mut self, oid: Oid, kind: ObjectType, data: &[u8]) -> Result<()> {
        let mut entry = std::mem::take(&mut self.buf);
        encode(
            &mut entry,
            oid,
            kind,
            data,
            (&mut self.zlib, Compression::fast()),
            &self.path,
        )?;
        self.add_encoded(oid, &entry)?;
        self.buf = entry;
        Ok(())
    }

    /// Appends one whole object already encoded by [`encode`] (its header and zlib stream).
    pub fn add_encoded(&mut self, oid: Oid, entry: &[u8]) -> Result<()> {
        let mut crc = flate2::Crc::new();
        crc.update(entry);
        self.entries.push(Entry {
            oid,
            crc: crc.sum(),
            offset: self.offset,
        });
        self.emit(entry)
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<()> {
        self.offset += bytes.len() as u64;
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        self.hasher.update(bytes);
        out.write_all(bytes)
            .map_err(Error::io("failed to write", &self.path))
    }

    /// For a dry run: the bytes the pack and its index would take.
    pub fn dry_total(&self) -> u64 {
        let large = self
            .entries
            .iter()
            .filter(|e| e.offset >= 0x8000_0000)
            .count() as u64;
        self.offset + 20 + index_bytes(self.entries.len() as u64) + large * 8
    }

    /// Writes the trailer, flushes the pack (to disk when `sync`), and writes its index to
    /// `idx_path` (created new, flushed the same way).
    pub fn finish(mut self, idx_path: &Path, sync: bool) -> Result<Finished> {
        let Some(out) = self.out.take() else {
            return Err(Error::Internal {
                message: "a dry run's pack cannot be finished".to_string(),
            });
        };
        let checksum = self
            .hasher
            .clone()
            .try_finalize()
            .map_err(|e| Error::corrupt_file(&self.path, e))?;
        let checksum = checksum.as_bytes().to_vec();
        let mut out = out;
        out.write_all(&checksum)
            .map_err(Error::io("failed to write", &self.path))?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io("failed to write", &self.path)(e.into_error()))?;
        if sync {
            file.sync_all()
                .map_err(Error::io("failed to fsync", &self.path))?;
        }
        let objects = self.entries.len();
        write_index(idx_path, &mut self.entries, &checksum, sync)?;
        Ok(Finished {
            name: hex(&checksum),
            objects,
        })
    }
}

/// Bytes of a version 2 index of `count` objects, without large offsets.
pub fn index_bytes(count: u64) -> u64 {
    8 + 1024 + count * 28 + 40
}

/// Writes a version 2 index for `entries` (sorted here) of the pack whose checksum is `pack`.
fn write_index(path: &Path, entries: &mut [Entry], pack: &[u8], sync: bool) -> Result<()> {
    entries.sort_by_key(|e| e.oid);
    let mut idx = Vec::with_capacity(8 + 1024 + entries.len() * 28 + 40);
    idx.extend_from_slice(b"\xfftOc");
    idx.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for e in entries.iter() {
        fanout[usize::from(e.oid.as_bytes()[0])] += 1;
    }
    let mut total = 0u32;
    for n in fanout {
        total += n;
        idx.extend_from_slice(&total.to_be_bytes());
    }
    for e in entries.iter() {
        idx.extend_from_slice(e.oid.as_bytes());
    }
    for e in entries.iter() {
        idx.extend_from_slice(&e.crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for e in entries.iter() {
        let small = match u32::try_from(e.offset) {
            Ok(offset) if offset < 0x8000_0000 => offset,
            _ => {
                large.extend_from_slice(&e.offset.to_be_bytes());
                0x8000_0000 | (large.len() / 8 - 1) as u32
            }
        };
        idx.extend_from_slice(&small.to_be_bytes());
    }
    idx.extend_from_slice(&large);
    idx.extend_from_slice(pack);
    let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
    hasher.update(&idx);
    let own = hasher
        .try_finalize()
        .map_err(|e| Error::corrupt_file(path, e))?;
    idx.extend_from_slice(own.as_bytes());
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .mode(READ_ONLY)
        .open(path)
        .map_err(Error::io("failed to create", path))?;
    file.write_all(&idx)
        .map_err(Error::io("failed to write", path))?;
    if sync {
        file.sync_all()
            .map_err(Error::io("failed to fsync", path))?;
    }
    Ok(())
}

/// Writes an index of `entries` (id, offset) for a pack that is not there: a test's way to
/// an index with offsets past 2 GiB without writing 2 GiB.
#[cfg(test)]
pub fn write_test_index(path: &Path, entries: &[(Oid, u64)]) {
    let mut entries: Vec<Entry> = entries
        .iter()
        .map(|&(oid, offset)| Entry {
            oid,
            crc: 0,
            offset,
        })
        .collect();
    write_index(path, &mut entries, &[0; 20], false).unwrap();
}

/// One object listed in a pack index.
pub struct IndexEntry {
    /// The object's id.
    pub oid: Oid,
    /// Where its entry starts in the pack.
    pub offset: u64,
}

/// What a pack index lists.
pub enum PackIndex {
    /// A version 2 index: ids, CRCs and offsets.
    V2(Vec<IndexEntry>),
    /// A version 1 index: ids only here (it has no CRCs).
    V1(Vec<Oid>),
}

/// Reads a pack index (version 1 or 2), the one reader of `.idx` files in the store;
/// `path` names it in errors.
///
/// The object count in the fan-out table is never trusted further than the file's length:
/// a version 2 index of N objects is at least `8 + 1024 + N * 28 + 40` bytes, a version 1
/// index `1024 + N * 24 + 40`. An index that claims more, whose fan-out decreases, or that
/// is cut short is [`Error::Corrupt`] (a damaged or planted file in the object database),
/// found before anything is allocated for its entries.
pub fn read_index(idx: &[u8], path: &Path) -> Result<PackIndex> {
    let bad = |why: &str| Error::Corrupt {
        message: format!("{}: not a valid pack index: {why}", path.display()),
    };
    let word = |at: usize| -> Result<u32> {
        idx.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| bad("it is cut short"))
    };
    let v2 = idx.starts_with(b"\xfftOc");
    if v2 && word(4)? != 2 {
        return Err(bad("unknown version"));
    }
    let fanout = if v2 { 8 } else { 0 };
    let mut previous = 0;
    for i in 0..256 {
        let n = word(fanout + i * 4)?;
        if n < previous {
            return Err(bad("its fan-out table decreases"));
        }
        previous = n;
    }
    let count = previous as usize;
    let per_object = if v2 { 28 } else { 24 };
    let needed = (count as u64)
        .saturating_mul(per_object)
        .saturating_add(fanout as u64 + 1024 + 40);
    if needed > idx.len() as u64 {
        return Err(bad(&format!(
            "it claims {count} objects, more than its {} bytes can hold",
            idx.len()
        )));
    }
    let start = fanout + 256 * 4;
    let oid_at = |at: usize| -> Result<Oid> {
        idx.get(at..at + 20)
            .and_then(|raw| Oid::from_bytes(raw).ok())
            .ok_or_else(|| bad("it is cut short"))
    };
    if !v2 {
        return (0..count)
            .map(|i| oid_at(start + i * 24 + 4))
            .collect::<Result<_>>()
            .map(PackIndex::V1);
    }
    let crcs_at = start + count * 20;
    let offsets_at = crcs_at + count * 4;
    let large_at = offsets_at + count * 4;
    let mut entries = Vec::with_capacity(count);
    for i in 0..count {
        let small = word(offsets_at + i * 4)?;
        let offset = if small & 0x8000_0000 == 0 {
            u64::from(small)
        } else {
            let at = large_at + (small & 0x7fff_ffff) as usize * 8;
            idx.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| bad("a large offset lies past its end"))?
        };
        entries.push(IndexEntry {
            oid: oid_at(start + i * 20)?,
            offset,
        });
    }
    Ok(PackIndex::V2(entries))
}

/// Writes into `entry` (cleared first) one whole object as a pack stores it: the type and
/// size header, then the zlib stream, deflated with `zlib` (made on first use, reused).
/// Entries can be encoded on several threads, each with its own compressor, and added in
/// order with [`PackFile::add_encoded`]. `path` names the pack in errors.
pub fn encode(
    entry: &mut Vec<u8>,
    oid: Oid,
    kind: ObjectType,
    data: &[u8],
    (zlib, level): (&mut Option<Compress>, Compression),
    path: &Path,
) -> Result<()> {
    let code: u8 = match kind {
        ObjectType::Commit => 1,
        ObjectType::Tree => 2,
        ObjectType::Blob => 3,
        ObjectType::Tag => 4,
        _ => {
            return Err(Error::Corrupt {
                message: format!("object {oid} has no type a pack can hold"),
            })
        }
    };
    entry.clear();
    entry_header(entry, code, data.len() as u64);
    if data.len() < STORE_BELOW {
        stored_zlib(entry, data);
        return Ok(());
    }
    deflate_into(entry, data, (zlib, level), oid, path)
}

/// Appends a pack entry's type and size header: `code` 1 to 4 for whole objects, 6 for a
/// delta against an earlier offset, 7 for a delta against an object id.
pub fn entry_header(entry: &mut Vec<u8>, code: u8, size: u64) {
    let mut size = size;
    let mut byte = (code << 4) | (size & 0x0f) as u8;
    size >>= 4;
    while size > 0 {
        entry.push(byte | 0x80);
        byte = (size & 0x7f) as u8;
        size >>= 7;
    }
    entry.push(byte);
}

/// Appends the distance back to a delta's base as an offset delta encodes it.
pub fn ofs_distance(entry: &mut Vec<u8>, distance: u64) {
    let mut buf = [0u8; 10];
    let mut pos = buf.len() - 1;
    let mut ofs = distance;
    buf[pos] = (ofs & 0x7f) as u8;
    ofs >>= 7;
    while ofs > 0 {
        ofs -= 1;
        pos -= 1;
        buf[pos] = 0x80 | (ofs & 0x7f) as u8;
        ofs >>= 7;
    }
    entry.extend_from_slice(&buf[pos..]);
}

/// Appends `data` deflated at `level` as one zlib stream, with `zlib` (made on first use
/// at that level, reused while the level stays the same).
pub fn deflate_into(
    entry: &mut Vec<u8>,
    data: &[u8],
    (zlib, level): (&mut Option<Compress>, Compression),
    oid: Oid,
    path: &Path,
) -> Result<()> {
    let z = zlib.get_or_insert_with(|| Compress::new(level, true));
    z.reset();
    let mut input = data;
    loop {
        entry.reserve(input.len() / 2 + 64);
        let before = z.total_in();
        let status = z
            .compress_vec(input, entry, FlushCompress::Finish)
            .map_err(|e| Error::Internal {
                message: format!(
                    "zlib failed to deflate object {oid} for {}: {e}",
                    path.display()
                ),
            })?;
        input = &input[(z.total_in() - before) as usize..];
        if status == Status::StreamEnd {
            return Ok(());
        }
    }
}

/// Objects smaller than this are stored in the zlib stream uncompressed: trees, commits and
/// tags gain little from deflating, and setting up a compressor costs more than they weigh.
const STORE_BELOW: usize = 1024;

/// Appends `data` as a zlib stream of stored (uncompressed) blocks: any inflater reads it.
fn stored_zlib(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&[0x78, 0x01]);
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let len = chunk.len() as u16;
        out.push(u8::from(chunks.peek().is_none()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_pack_is_read_back_by_libgit2_object_for_object() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init_bare(dir.path()).unwrap();
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let blobs = [b"".to_vec(), b"hello\n".to_vec(), big];
        let oids: Vec<Oid> = blobs
            .iter()
            .map(|b| Oid::hash_object(ObjectType::Blob, b).unwrap())
            .collect();
        let packdir = dir.path().join("objects/pack");
        let mut pack = PackFile::create(&packdir.join("tmp.pack"), blobs.len()).unwrap();
        for (oid, blob) in oids.iter().zip(&blobs) {
            pack.add(*oid, ObjectType::Blob, blob).unwrap();
        }
        let done = pack.finish(&packdir.join("tmp.idx"), false).unwrap();
        assert_eq!(done.objects, 3);
        let idx_path = packdir.join("tmp.idx");
        let PackIndex::V2(index) =
            read_index(&std::fs::read(&idx_path).unwrap(), &idx_path).unwrap()
        else {
            panic!("a version 2 index was written");
        };
        let mut listed: Vec<Oid> = index.iter().map(|e| e.oid).collect();
        let mut expected = oids.clone();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected);
        assert!(index.iter().all(|e| e.offset >= 12));
        for ext in ["pack", "idx"] {
            std::fs::rename(
                packdir.join(format!("tmp.{ext}")),
                packdir.join(format!("pack-{}.{ext}", done.name)),
            )
            .unwrap();
        }
        let odb = repo.odb().unwrap();
        odb.refresh().unwrap();
        for (oid, blob) in oids.iter().zip(&blobs) {
            let object = odb.read(*oid).unwrap();
            assert_eq!(object.kind(), ObjectType::Blob);
            assert_eq!(object.data(), &blob[..]);
        }
    }

    #[test]
    fn an_index_claiming_more_objects_than_its_length_holds_is_corrupt() {
        let path = Path::new("pack-x.idx");
        let fanout = |last: u32| -> Vec<u8> {
            (0..256u32)
                .flat_map(|i| if i < 255 { i.min(last) } else { last }.to_be_bytes())
                .collect()
        };
        let v2 = |last: u32, tail: usize| {
            let mut idx = b"\xfftOc\0\0\0\x02".to_vec();
            idx.extend(fanout(last));
            idx.extend(vec![0; tail]);
            idx
        };
        let mut v1 = fanout(u32::MAX);
        v1.extend([0; 40]);
        let mut decreasing = v2(0, 40);
        decreasing[8..12].copy_from_slice(&9u32.to_be_bytes());
        for bad in [
            v2(u32::MAX, 40),
            v2(0xffff_fff0, 40),
            v2(1, 40 + 27),
            v2(0, 0)[..100].to_vec(),
            v1,
            decreasing,
            b"\xfftOc\0\0\0\x03".to_vec(),
        ] {
            let Err(e) = read_index(&bad, path) else {
                panic!("accepted a bad index of {} bytes", bad.len());
            };
            assert_eq!(e.kind(), "corrupt");
            assert!(e.to_string().contains("pack-x.idx"), "{e}");
        }
        let Ok(PackIndex::V2(none)) = read_index(&v2(0, 40), path) else {
            panic!("an empty index was refused");
        };
        assert!(none.is_empty());
    }
}
