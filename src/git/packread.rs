//! Objects read as streams from the object directory, loose or packed, deltas included,
//! without ever holding one whole in memory.
//!
//! libgit2 (like git) inflates a packed object whole, and for a delta holds its base and
//! its result whole too. For a large blob stored as a delta by consolidation that would
//! be two copies of the file in memory. Here a pack entry is parsed directly: a whole
//! entry is inflated as it is read; a delta entry is applied as it is read over a stream
//! of its base (recursively along its chain, one stream per link), with
//! [`bigdelta::Applied`]. Deltas written by consolidation copy forward only, so each base
//! is read forward once; a delta whose copies go back (git's own, after a `git gc` by
//! hand) gets its base inflated into an unnamed temporary file first, read where each
//! copy says, still without holding it in memory.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::ZlibDecoder;
use git2::{ObjectType, Oid};

use super::bigdelta::{self, Applied, BaseSource};
use crate::error::{Error, Result};

/// Buffer of each stream reading a pack or loose file.
const BUFFER: usize = 64 << 10;
/// A delta chain longer than this is taken for a loop in a damaged pack.
const MAX_CHAIN: usize = 10_000;

/// An object being read: its type, its size, and its bytes in order.
pub struct Object {
    pub kind: ObjectType,
    pub size: u64,
    pub reader: Box<dyn Read>,
}

/// Opens object `oid` of the object directory `objects` as a stream: loose, or in one of
/// its packs (version 2 indexes). `None` when it is in neither (an alternate's, or a pack
/// with a version 1 index), for the caller to read it another way.
pub fn open(objects: &Path, oid: Oid) -> Result<Option<Object>> {
    open_at(objects, oid, 0)
}

fn open_at(objects: &Path, oid: Oid, depth: usize) -> Result<Option<Object>> {
    if let Some(object) = open_loose(objects, oid)? {
        return Ok(Some(object));
    }
    let packdir = objects.join("pack");
    let Ok(entries) = fs::read_dir(&packdir) else {
        return Ok(None);
    };
    for entry in entries.flatten() {
        let idx = entry.path();
        if idx.extension().is_none_or(|e| e != "idx") {
            continue;
        }
        let Some(offset) = find_in_index(&idx, oid)? else {
            continue;
        };
        let pack_path = idx.with_extension("pack");
        let file = match File::open(&pack_path) {
            Ok(file) => file,
            // Replaced by a consolidation between the listing and now: look again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("failed to open", &pack_path)(e)),
        };
        let pack = Rc::new(Pack {
            file,
            path: pack_path,
            objects: objects.to_path_buf(),
        });
        return open_entry(&pack, offset, depth).map(Some);
    }
    Ok(None)
}

/// A loose object's stream, its header read; `None` when there is no such file.
fn open_loose(objects: &Path, oid: Oid) -> Result<Option<Object>> {
    let hex = oid.to_string();
    let path = objects.join(&hex[..2]).join(&hex[2..]);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("failed to open", &path)(e)),
    };
    let mut z = ZlibDecoder::new(BufReader::with_capacity(BUFFER, file));
    let mut header = Vec::with_capacity(32);
    let mut byte = [0u8; 1];
    let bad = || corrupt(&path, "its header is not an object's");
    while header.len() < 32 {
        z.read_exact(&mut byte).map_err(|_| bad())?;
        if byte[0] == 0 {
            let text = std::str::from_utf8(&header).map_err(|_| bad())?;
            let (kind, size) = text.split_once(' ').ok_or_else(bad)?;
            let kind = ObjectType::from_str(kind).ok_or_else(bad)?;
            let size = size.parse().map_err(|_| bad())?;
            return Ok(Some(Object {
                kind,
                size,
                reader: Box::new(z.take(size)),
            }));
        }
        header.push(byte[0]);
    }
    Err(bad())
}

fn corrupt(path: &Path, why: &str) -> Error {
    Error::Corrupt {
        message: format!("{}: {why}", path.display()),
    }
}

/// The offset of `oid` in the pack of index `idx` (version 2), found by a binary search
/// reading a few words of the file; `None` when it is not listed (or the index is of
/// version 1).
fn find_in_index(idx: &Path, oid: Oid) -> Result<Option<u64>> {
    let file = match File::open(idx) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("failed to open", idx)(e)),
    };
    let len = file
        .metadata()
        .map_err(Error::io("failed to read", idx))?
        .len();
    let read = |at: u64, buf: &mut [u8]| -> Result<()> {
        if at + buf.len() as u64 > len {
            return Err(corrupt(idx, "not a valid pack index: it is cut short"));
        }
        file.read_exact_at(buf, at)
            .map_err(Error::io("failed to read", idx))
    };
    let word = |at: u64| -> Result<u32> {
        let mut b = [0u8; 4];
        read(at, &mut b)?;
        Ok(u32::from_be_bytes(b))
    };
    let mut magic = [0u8; 8];
    read(0, &mut magic)?;
    if magic != *b"\xfftOc\0\0\0\x02" {
        return Ok(None);
    }
    let first = usize::from(oid.as_bytes()[0]);
    let count = u64::from(word(8 + 255 * 4)?);
    let mut lo = if first == 0 {
        0
    } else {
        u64::from(word(8 + (first as u64 - 1) * 4)?)
    };
    let mut hi = u64::from(word(8 + first as u64 * 4)?);
    let names = 8 + 1024;
    let mut name = [0u8; 20];
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        read(names + mid * 20, &mut name)?;
        match name.as_slice().cmp(oid.as_bytes()) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                let offsets = names + count * 24;
                let small = word(offsets + mid * 4)?;
                if small & 0x8000_0000 == 0 {
                    return Ok(Some(u64::from(small)));
                }
                let mut big = [0u8; 8];
                read(
                    offsets + count * 4 + u64::from(small & 0x7fff_ffff) * 8,
                    &mut big,
                )?;
                return Ok(Some(u64::from_be_bytes(big)));
            }
        }
    }
    Ok(None)
}

struct Pack {
    file: File,
    path: PathBuf,
    objects: PathBuf,
}

/// Reads a pack from an offset on, by `pread`: several streams share one descriptor.
struct PackReader {
    pack: Rc<Pack>,
    at: u64,
}

impl Read for PackReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.pack.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Where a delta entry's base is.
pub(crate) enum Base {
    None,
    Offset(u64),
    Id(Oid),
}

/// A pack entry's header.
pub(crate) struct Parsed {
    /// Entry type: 1 to 4 whole, 6 and 7 deltas.
    pub code: u8,
    /// The object's size, or the delta's.
    pub size: u64,
    /// Header bytes before the zlib stream (the base reference included).
    pub header: usize,
    pub base: Base,
}

/// Reads a pack entry's header at `offset` from its first bytes.
pub(crate) fn parse_entry(head: &[u8], offset: u64) -> Option<Parsed> {
    let mut at = 0;
    let mut byte = *head.get(at)?;
    at += 1;
    let code = (byte >> 4) & 7;
    let mut size = u64::from(byte & 0x0f);
    let mut shift = 4;
    while byte & 0x80 != 0 {
        byte = *head.get(at)?;
        at += 1;
        if shift > 57 {
            return None;
        }
        size |= u64::from(byte & 0x7f) << shift;
        shift += 7;
    }
    let base = match code {
        1..=4 => Base::None,
        6 => {
            let mut c = *head.get(at)?;
            at += 1;
            let mut ofs = u64::from(c & 0x7f);
            while c & 0x80 != 0 {
                c = *head.get(at)?;
                at += 1;
                ofs = ofs.checked_add(1)?.checked_mul(128)? + u64::from(c & 0x7f);
            }
            Base::Offset(offset.checked_sub(ofs)?)
        }
        7 => {
            let oid = Oid::from_bytes(head.get(at..at + 20)?).ok()?;
            at += 20;
            Base::Id(oid)
        }
        _ => return None,
    };
    Some(Parsed {
        code,
        size,
        header: at,
        base,
    })
}

pub(crate) fn kind_of(code: u8) -> Option<ObjectType> {
    match code {
        1 => Some(ObjectType::Commit),
        2 => Some(ObjectType::Tree),
        3 => Some(ObjectType::Blob),
        4 => Some(ObjectType::Tag),
        _ => None,
    }
}

/// The zlib stream of the entry whose data starts at `at`.
fn inflated(pack: &Rc<Pack>, at: u64) -> Box<dyn Read> {
    Box::new(ZlibDecoder::new(BufReader::with_capacity(
        BUFFER,
        PackReader {
            pack: Rc::clone(pack),
            at,
        },
    )))
}

/// Opens the entry at `offset`: whole, or a delta over a stream of its base.
fn open_entry(pack: &Rc<Pack>, offset: u64, depth: usize) -> Result<Object> {
    if depth > MAX_CHAIN {
        return Err(corrupt(&pack.path, "a delta chain loops"));
    }
    let mut head = [0u8; 64];
    let got = read_head(pack, offset, &mut head)?;
    let parsed = parse_entry(&head[..got], offset)
        .ok_or_else(|| corrupt(&pack.path, &format!("no valid entry at offset {offset}")))?;
    let data = offset + parsed.header as u64;
    if let Some(kind) = kind_of(parsed.code) {
        return Ok(Object {
            kind,
            size: parsed.size,
            reader: Box::new(inflated(pack, data).take(parsed.size)),
        });
    }
    let base = match parsed.base {
        Base::Offset(at) => open_entry(pack, at, depth + 1)?,
        Base::Id(oid) => open_at(&pack.objects, oid, depth + 1)?.ok_or_else(|| {
            corrupt(
                &pack.path,
                &format!("the base {oid} of the delta at offset {offset} is missing"),
            )
        })?,
        Base::None => return Err(corrupt(&pack.path, "an entry of an unknown type")),
    };
    let bad = |e: io::Error| corrupt(&pack.path, &format!("the delta at offset {offset}: {e}"));
    let forward = bigdelta::copies_forward(&mut inflated(pack, data)).map_err(bad)?;
    let source = if forward {
        BaseSource::Forward(base.reader)
    } else {
        BaseSource::File(spill(base.reader, &pack.objects)?)
    };
    let applied = Applied::new(inflated(pack, data), source, base.size).map_err(bad)?;
    let size = applied.target_len();
    Ok(Object {
        kind: base.kind,
        size,
        reader: Box::new(applied),
    })
}

fn read_head(pack: &Pack, offset: u64, head: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < head.len() {
        let n = pack
            .file
            .read_at(&mut head[got..], offset + got as u64)
            .map_err(Error::io("failed to read", &pack.path))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Writes a base to an unnamed temporary file in the object directory (gone when closed,
/// or when the process dies), for a delta that reads its base out of order.
fn spill(mut base: Box<dyn Read>, objects: &Path) -> Result<File> {
    let mut file = tempfile::tempfile_in(objects)
        .map_err(Error::io("failed to create a temporary file in", objects))?;
    io::copy(&mut base, &mut file)
        .map_err(Error::io("failed to write a temporary file in", objects))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::noise;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// git's own delta of one half-swapped version against the other copies backwards in
    /// its base: read through a temporary file, byte for byte; so is every other object.
    #[test]
    fn a_delta_git_wrote_with_backward_copies_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "--bare", "-q"]);
        let (a, b) = (noise(1, 200_000), noise(2, 200_000));
        let versions = [[a.clone(), b.clone()].concat(), [b, a].concat()];
        let mut oids = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            let file = dir.path().join(format!("v{i}"));
            std::fs::write(&file, v).unwrap();
            let oid = git(dir.path(), &["hash-object", "-w", file.to_str().unwrap()]);
            // Reachable, or repack leaves it loose.
            git(dir.path(), &["tag", &format!("v{i}"), &oid]);
            oids.push(oid);
        }
        git(dir.path(), &["repack", "-adf", "-q"]);
        let objects = dir.path().join("objects");
        let mut backward = 0;
        for (oid, v) in oids.iter().zip(&versions) {
            let oid = Oid::from_str(oid).unwrap();
            let object = open(&objects, oid).unwrap().expect("packed");
            assert_eq!(object.size, v.len() as u64);
            let mut read = Vec::new();
            let mut reader = object.reader;
            reader.read_to_end(&mut read).unwrap();
            assert!(read == *v, "{oid} read back differently");
            // Which of the two git stored as a delta, and whether its copies go back.
            let pack_dir = objects.join("pack");
            for entry in fs::read_dir(&pack_dir).unwrap().flatten() {
                let idx = entry.path();
                if idx.extension().is_none_or(|e| e != "idx") {
                    continue;
                }
                let Some(offset) = find_in_index(&idx, oid).unwrap() else {
                    continue;
                };
                let pack = Rc::new(Pack {
                    file: File::open(idx.with_extension("pack")).unwrap(),
                    path: idx.with_extension("pack"),
                    objects: objects.clone(),
                });
                let mut head = [0u8; 64];
                let got = read_head(&pack, offset, &mut head).unwrap();
                let parsed = parse_entry(&head[..got], offset).unwrap();
                if parsed.code >= 6 {
                    let data = offset + parsed.header as u64;
                    if !bigdelta::copies_forward(&mut inflated(&pack, data)).unwrap() {
                        backward += 1;
                    }
                }
            }
        }
        assert_eq!(backward, 1, "git wrote no delta copying backwards");
    }

    /// A pack past 2 GiB lists offsets in the index's 64-bit table; lookups find them.
    #[test]
    fn an_index_with_large_offsets_is_searched_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let idx = dir.path().join("pack-x.idx");
        let offsets = [12u64, 0x7fff_ffff, 0x8000_0000, 5 << 32];
        let oids: Vec<Oid> = (0..offsets.len())
            .map(|i| Oid::hash_object(ObjectType::Blob, &[i as u8]).unwrap())
            .collect();
        let entries: Vec<(Oid, u64)> = oids.iter().copied().zip(offsets).collect();
        super::super::packfile::write_test_index(&idx, &entries);
        for (oid, offset) in &entries {
            assert_eq!(find_in_index(&idx, *oid).unwrap(), Some(*offset));
        }
        let absent = Oid::hash_object(ObjectType::Blob, b"absent").unwrap();
        assert_eq!(find_in_index(&idx, absent).unwrap(), None);
        let bytes = std::fs::read(&idx).unwrap();
        let super::super::packfile::PackIndex::V2(read) =
            super::super::packfile::read_index(&bytes, &idx).unwrap()
        else {
            panic!("a version 2 index");
        };
        let mut listed: Vec<(Oid, u64)> = read.iter().map(|e| (e.oid, e.offset)).collect();
        let mut expected = entries.clone();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected);
    }
}
