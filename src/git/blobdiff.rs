//! What changed inside a file: libgit2's own diff of two blobs (line counts, unified hunks,
//! binary detection), with memory bounded by a size above which nothing is loaded.

use std::cell::{Cell, RefCell};

use git2::{Blob, DiffBinary, DiffDelta, DiffHunk, DiffLine, DiffOptions, Oid};

use super::Repo;
use crate::error::{Error, Result};

/// The two versions of one file, read from the object database; either may be absent
/// (a file added or removed).
pub struct BlobPair<'r> {
    old: Option<Blob<'r>>,
    new: Option<Blob<'r>>,
}

/// What libgit2's diff of two blobs found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobDiff {
    /// Git takes either side for binary (a NUL byte, or too few printable bytes, in its
    /// first 8000): no line counts then.
    pub binary: bool,
    /// Lines only in the new version (0 for a binary file).
    pub lines_added: u64,
    /// Lines only in the old version (0 for a binary file).
    pub lines_removed: u64,
    /// The unified diff (`diff --git` header and hunks), when asked for and not binary.
    pub patch: Option<String>,
}

impl<'r> BlobPair<'r> {
    /// Reads blobs `old` and `new`; `Ok(None)` when either is larger than `limit` bytes
    /// (from its header: such a blob is not loaded). `what` names the file in errors: a
    /// blob that is missing or cannot be read is [`Error::Corrupt`].
    pub fn read(
        repo: &'r Repo,
        old: Option<super::ObjectId>,
        new: Option<super::ObjectId>,
        limit: u64,
        what: &str,
    ) -> Result<Option<BlobPair<'r>>> {
        for id in [old, new].into_iter().flatten() {
            let size = repo
                .object_size(id)
                .map_err(|e| Error::corrupt_object(what, "blob", id, &e))?;
            if size > limit {
                return Ok(None);
            }
        }
        let load = |id: Option<super::ObjectId>| -> Result<Option<Blob<'r>>> {
            id.map(|id| {
                repo.find_blob(Oid::from(id))
                    .map_err(|e| Error::corrupt_object(what, "blob", id, &e))
            })
            .transpose()
        };
        Ok(Some(BlobPair {
            old: load(old)?,
            new: load(new)?,
        }))
    }

    /// The bytes of the old version, when there is one.
    pub fn old_bytes(&self) -> Option<&[u8]> {
        self.old.as_ref().map(Blob::content)
    }

    /// The bytes of the new version, when there is one.
    pub fn new_bytes(&self) -> Option<&[u8]> {
        self.new.as_ref().map(Blob::content)
    }

    /// Diffs the two versions with libgit2 (`path` names both sides); with `patch`, also
    /// renders the unified diff (`--- a/path`, `+++ b/path`, hunks) with that many lines of
    /// context. A missing side is `/dev/null`, as git writes it.
    pub fn diff(&self, repo: &Repo, path: &str, patch: Option<u32>) -> Result<BlobDiff> {
        let mut opts = DiffOptions::new();
        opts.context_lines(patch.unwrap_or(0));
        let binary = Cell::new(false);
        let (mut added, mut removed) = (0u64, 0u64);
        let text: RefCell<Option<Vec<u8>>> = RefCell::new(patch.map(|_| {
            let side = |present: bool, prefix: &str| match present {
                true => format!("{prefix}/{path}"),
                false => "/dev/null".to_string(),
            };
            format!(
                "--- {}\n+++ {}\n",
                side(self.old.is_some(), "a"),
                side(self.new.is_some(), "b")
            )
            .into_bytes()
        }));
        let mut on_file = |delta: DiffDelta<'_>, _: f32| {
            if delta.flags().is_binary()
                || delta.old_file().is_binary()
                || delta.new_file().is_binary()
            {
                binary.set(true);
            }
            true
        };
        let mut on_binary = |_: DiffDelta<'_>, _: DiffBinary<'_>| {
            binary.set(true);
            true
        };
        let mut on_hunk = |_: DiffDelta<'_>, hunk: DiffHunk<'_>| {
            if let Some(text) = text.borrow_mut().as_mut() {
                text.extend_from_slice(hunk.header());
            }
            true
        };
        let mut on_line = |_: DiffDelta<'_>, _: Option<DiffHunk<'_>>, line: DiffLine<'_>| {
            let origin = line.origin();
            match origin {
                '+' => added += 1,
                '-' => removed += 1,
                _ => {}
            }
            if let Some(text) = text.borrow_mut().as_mut() {
                if matches!(origin, '+' | '-' | ' ') {
                    text.push(origin as u8);
                }
                text.extend_from_slice(line.content());
            }
            true
        };
        repo.diff_blobs(
            self.old.as_ref(),
            Some(path),
            self.new.as_ref(),
            Some(path),
            Some(&mut opts),
            Some(&mut on_file),
            Some(&mut on_binary),
            Some(&mut on_hunk),
            Some(&mut on_line),
        )
        .map_err(Error::git(format!("failed to diff {path}")))?;
        if binary.get() {
            return Ok(BlobDiff {
                binary: true,
                lines_added: 0,
                lines_removed: 0,
                patch: None,
            });
        }
        Ok(BlobDiff {
            binary: false,
            lines_added: added,
            lines_removed: removed,
            patch: text
                .into_inner()
                .map(|t| String::from_utf8_lossy(&t).into_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::from_raw(git2::Repository::init_bare(dir.path()).unwrap());
        (dir, repo)
    }

    #[test]
    fn counts_lines_and_renders_hunks() {
        let (_d, repo) = repo();
        let a = repo.blob(b"one\ntwo\nthree\n").unwrap();
        let b = repo.blob(b"one\n2\nthree\nfour\n").unwrap();
        let pair = BlobPair::read(&repo, Some(a), Some(b), 1 << 20, "f")
            .unwrap()
            .unwrap();
        let d = pair.diff(&repo, "f.txt", Some(3)).unwrap();
        assert!(!d.binary);
        assert_eq!((d.lines_added, d.lines_removed), (2, 1));
        let patch = d.patch.unwrap();
        assert!(patch.contains("@@ -1,3 +1,4 @@"), "{patch}");
        assert!(patch.contains("-two\n+2\n"), "{patch}");
        assert!(pair.diff(&repo, "f.txt", None).unwrap().patch.is_none());
    }

    #[test]
    fn an_added_file_counts_every_line_and_binary_has_none() {
        let (_d, repo) = repo();
        let b = repo.blob(b"x\ny\n").unwrap();
        let pair = BlobPair::read(&repo, None, Some(b), 1 << 20, "f")
            .unwrap()
            .unwrap();
        let d = pair.diff(&repo, "new.txt", Some(3)).unwrap();
        assert_eq!((d.lines_added, d.lines_removed), (2, 0));
        assert!(d.patch.unwrap().contains("--- /dev/null"));
        let bin = repo.blob(b"\x00\x01\x02binary").unwrap();
        let bin2 = repo.blob(b"\x00\x01\x03binary").unwrap();
        let pair = BlobPair::read(&repo, Some(bin), Some(bin2), 1 << 20, "f")
            .unwrap()
            .unwrap();
        let d = pair.diff(&repo, "x.bin", Some(3)).unwrap();
        assert!(d.binary);
        assert!(d.patch.is_none());
    }

    #[test]
    fn a_blob_above_the_limit_is_not_loaded() {
        let (_d, repo) = repo();
        let big = repo.blob(&[b'a'; 100]).unwrap();
        assert!(BlobPair::read(&repo, None, Some(big), 99, "f")
            .unwrap()
            .is_none());
        assert!(BlobPair::read(&repo, None, Some(big), 100, "f")
            .unwrap()
            .is_some());
    }
}
