//! Reads blobs in pieces, so that a large artifact is never inflated whole into memory.

use std::io::{ErrorKind, Read};

use git2::{Oid, Repository};

use crate::error::{Error, Result};
use crate::scan::LARGE_FILE_BYTES;

/// Bytes handed over at a time.
const PIECE: usize = 1 << 20;

/// Calls `each` with the content of blob `oid` in order; returns the size. A blob of
/// `size` (from its header) above [`LARGE_FILE_BYTES`] that is loose is streamed, one
/// piece at a time (libgit2 maps the compressed file and inflates it piece by piece);
/// a smaller one, or a packed one (libgit2 has no streaming reader for packs), is read
/// whole, in one piece, exactly as before streaming existed. `what` names the blob in
/// errors.
pub fn for_each_piece(
    repo: &Repository,
    oid: Oid,
    size: u64,
    what: &str,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let failed = || Error::git(format!("failed to read {what}"));
    let odb = if size > LARGE_FILE_BYTES {
        Some(repo.odb().map_err(failed())?)
    } else {
        None
    };
    let streamed = odb
        .as_ref()
        .and_then(|odb| odb.reader(oid).ok())
        .map(|(reader, size, _)| (reader, size));
    let Some((mut reader, size)) = streamed else {
        let blob = repo.find_blob(oid).map_err(failed())?;
        each(blob.content())?;
        return Ok(blob.size() as u64);
    };
    let mut buf = vec![0u8; PIECE.min(size.max(1))];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                each(&buf[..n])?;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Error::Git {
                    context: format!("failed to read {what}"),
                    source: git2::Error::from_str(&e.to_string()),
                })
            }
        }
    }
    if total != size as u64 {
        return Err(Error::Git {
            context: format!("failed to read {what}"),
            source: git2::Error::from_str(&format!("read {total} of {size} bytes")),
        });
    }
    Ok(total)
}
