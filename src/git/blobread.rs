//! Reads blobs in pieces, so that a large artifact is never inflated whole into memory.

use std::io::{ErrorKind, Read};

use git2::{Oid, Repository};

use crate::error::{Error, Result};

/// Bytes handed over at a time.
const PIECE: usize = 1 << 20;

/// Calls `each` with the content of blob `oid` in order, one piece at a time; returns the
/// size. A loose blob is streamed (libgit2 maps the compressed file and inflates it piece
/// by piece); a packed one is read whole, as libgit2 has no streaming reader for packs.
/// `what` names the blob in errors.
pub fn for_each_piece(
    repo: &Repository,
    oid: Oid,
    what: &str,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let failed = || Error::git(format!("failed to read {what}"));
    let odb = repo.odb().map_err(failed())?;
    let Ok((mut reader, size, _)) = odb.reader(oid) else {
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
