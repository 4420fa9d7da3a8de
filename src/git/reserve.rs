//! Space kept in reserve for the refs a commit writes after its branch has moved.
//!
//! Once the branch moves, a commit still writes its `corr_` and `prompt_` tag refs. On a
//! disk that fills in that instant, they would fail and leave the commit on its branch
//! without its tags (a re-run repairs them, but the store would not be as it was). So the
//! store keeps [`RESERVE_FILE`] in the git dir, [`RESERVE_BYTES`] long: a commit makes sure
//! it exists *before* moving the branch (and fails, changing nothing, when it cannot), and
//! a tag write that then meets a full disk removes it and tries once more, in the space
//! just freed. The next commit makes it again, or fails cleanly while the disk stays full.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The reserve, in the git dir.
pub const RESERVE_FILE: &str = "artifact-store-reserve";
/// Its size: room for a few ref files and lock files on any block size up to 16 KiB.
pub const RESERVE_BYTES: u64 = 64 << 10;

fn path(gitdir: &Path) -> PathBuf {
    gitdir.join(RESERVE_FILE)
}

/// Makes sure the reserve exists at full size; one `stat` when it does. A partial one left
/// by a failed attempt is removed, so a full disk loses nothing to it.
pub fn ensure(gitdir: &Path) -> std::io::Result<()> {
    let path = path(gitdir);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= RESERVE_BYTES) {
        return Ok(());
    }
    let written = std::fs::File::create(&path).and_then(|mut file| {
        // Real bytes, not a hole: the blocks must be taken now to be given back later.
        file.write_all(&[0u8; RESERVE_BYTES as usize])?;
        file.sync_all()
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    written
}

/// Gives the reserve's space back; returns whether there was one to give.
pub fn release(gitdir: &Path) -> bool {
    std::fs::remove_file(path(gitdir)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_makes_it_once_and_release_gives_it_back() {
        let dir = tempfile::tempdir().unwrap();
        ensure(dir.path()).unwrap();
        let meta = std::fs::metadata(path(dir.path())).unwrap();
        assert_eq!(meta.len(), RESERVE_BYTES);
        ensure(dir.path()).unwrap();
        assert!(release(dir.path()));
        assert!(!release(dir.path()));
        assert!(!path(dir.path()).exists());
    }
}
