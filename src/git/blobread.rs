//! Reads blobs in pieces, so that a large artifact is never inflated whole into memory.

use std::io::{ErrorKind, Read};

use git2::{Oid, Repository};

use crate::error::{Error, Result};

/// Bytes handed over at a time.
const PIECE: usize = 1 << 20;

/// Calls `each` with the content of blob `oid` in order; returns the size. A blob of
/// `size` (from its header) above `stream_above` is streamed, one piece at a time: when
/// loose, inflated here from its file (libgit2's loose-object stream spins forever on a
/// file cut short, so it is not used); when packed, read from its pack entry by
/// [`super::packread`], a delta applied over a stream of its base (libgit2 has no
/// streaming reader for packs, and holds a delta's base and result whole). A smaller
/// one, or one in neither place (an alternate's), is read whole through libgit2, in one
/// piece. `what` names the blob in errors: its path in the set.
///
/// Every byte handed over is hashed as git hashes a blob (`blob <len>\0` + content), and
/// a blob that is missing, cannot be inflated, is shorter or longer than its header says,
/// or does not hash to `oid` is [`Error::Corrupt`], returned after the last piece. So a
/// caller that writes the pieces somewhere must keep them aside until this returns `Ok`.
pub fn for_each_piece(
    repo: &Repository,
    oid: impl Into<Oid>,
    size: u64,
    stream_above: u64,
    what: &str,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let oid: Oid = oid.into();
    let streamed = if size > stream_above {
        open_loose(repo, oid)
    } else {
        None
    };
    if size > stream_above && streamed.is_none() {
        let objects = repo.commondir().join("objects");
        if let Some(object) = super::packread::open(&objects, oid)? {
            return stream_packed(object, oid, what, each);
        }
    }
    let Some(file) = streamed else {
        // libgit2 hashes every object it reads from the object database and refuses one
        // that does not hash to its id (strict hash verification: on by default, and
        // asked for here so that no default can turn it off), so the bytes are checked
        // once, not twice (a 6 MB export spent a fifth of its time in the second hash).
        static STRICT: std::sync::Once = std::sync::Once::new();
        STRICT.call_once(|| git2::opts::strict_hash_verification(true));
        let blob = repo
            .find_blob(oid)
            .map_err(|e| Error::corrupt_object(what, "blob", oid, &e))?;
        each(blob.content())?;
        return Ok(blob.size() as u64);
    };
    let mut z = flate2::read::ZlibDecoder::new(std::io::BufReader::with_capacity(PIECE, file));
    let size = read_header(&mut z).ok_or_else(|| {
        Error::corrupt_at(
            what,
            "blob",
            oid,
            "cannot be read: its header is not a blob's",
        )
    })?;
    pump(z, size, oid, (what, Source::Loose), each)
}

/// Where a streamed blob is read from, for the words of its errors.
#[derive(Clone, Copy)]
enum Source {
    /// A loose object file: its size comes from its header.
    Loose,
    /// A pack entry: its size comes from the entry.
    Packed,
}

/// Hands over `reader`'s bytes in pieces of [`PIECE`], checking that they are `size`
/// bytes, no more and no fewer, and hash to `oid`; any failure is [`Error::Corrupt`]
/// naming `what`.
fn pump(
    mut reader: impl Read,
    size: u64,
    oid: Oid,
    (what, source): (&str, Source),
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let corrupt = |reason: &str| Error::corrupt_at(what, "blob", oid, reason);
    let (read_from, sized_by) = match source {
        Source::Loose => ("", "its header"),
        Source::Packed => (" from its pack", "its pack entry"),
    };
    let mut hash = BlobHash::new(size);
    let mut buf = vec![0u8; PIECE];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                if total > size {
                    return Err(corrupt(&format!(
                        "holds more bytes than the {size} {sized_by} says"
                    )));
                }
                hash.update(&buf[..n]);
                each(&buf[..n])?;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(corrupt(&format!("cannot be read{read_from}: {e}"))),
        }
    }
    if total != size {
        return Err(corrupt(&format!(
            "is cut short: {total} of the {size} bytes {sized_by} says"
        )));
    }
    hash.check(oid, what)?;
    Ok(total)
}

/// Hands over a packed blob's stream in pieces, checking its size and id.
fn stream_packed(
    object: super::packread::Object,
    oid: Oid,
    what: &str,
    each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    if object.kind != git2::ObjectType::Blob {
        return Err(Error::corrupt_at(what, "blob", oid, "is not a blob"));
    }
    pump(
        object.reader,
        object.size,
        oid,
        (what, Source::Packed),
        each,
    )
}

/// Opens the loose object file of `oid` in the repository's own object directory (the
/// common one, for a linked worktree); `None` when it is not there (packed, an alternate).
fn open_loose(repo: &Repository, oid: Oid) -> Option<std::fs::File> {
    let hex = oid.to_string();
    let path = repo
        .commondir()
        .join("objects")
        .join(&hex[..2])
        .join(&hex[2..]);
    std::fs::File::open(path).ok()
}

/// Reads a loose object's `blob <size>\0` header; `None` for any other.
fn read_header(z: &mut impl Read) -> Option<u64> {
    let mut header = Vec::with_capacity(32);
    let mut byte = [0u8; 1];
    while header.len() < 32 {
        z.read_exact(&mut byte).ok()?;
        if byte[0] == 0 {
            let text = std::str::from_utf8(&header).ok()?;
            let digits = text.strip_prefix("blob ")?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            return digits.parse().ok();
        }
        header.push(byte[0]);
    }
    None
}

/// Git's object id of a blob, computed as its bytes go by.
pub struct BlobHash(gix_hash::Hasher);

impl BlobHash {
    /// Starts the hash of a blob of `len` bytes.
    pub fn new(len: u64) -> BlobHash {
        let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
        hasher.update(format!("blob {len}\0").as_bytes());
        BlobHash(hasher)
    }

    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Fails with [`Error::Corrupt`] (naming `what` and `oid`) unless the bytes hash to `oid`.
    pub fn check(self, oid: Oid, what: &str) -> Result<()> {
        let matches = self
            .0
            .try_finalize()
            .is_ok_and(|id| id.as_bytes() == oid.as_bytes());
        if matches {
            Ok(())
        } else {
            Err(Error::corrupt_at(
                what,
                "blob",
                oid,
                "does not hash to its id: its stored bytes were changed",
            ))
        }
    }
}
