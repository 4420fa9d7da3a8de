//! `export REF --to DIR`: an artifact set's files on disk, byte-identical.
//!
//! The tree read may come from anyone who can write to the repository or to a remote it
//! fetches from, so nothing is written outside DIR: every tree path is checked (no `..`,
//! `.` or `.git` part) and every symlink target must stay inside DIR, before anything is
//! written; files are created with `O_EXCL` and parent directories are never followed
//! through a symlink, so a link in the tree (or already in DIR) cannot redirect a write.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::git::tree::MODE_LINK;
use crate::metadata::METADATA_FILE;
use crate::progress::{Progress, Silent, Unit};
use crate::scan::LARGE_FILE_BYTES;
use crate::store::Store;

/// Threads an export reads and writes its files on, at most.
const EXPORT_THREADS: usize = 4;

/// Sets up to this many bytes are exported on one thread: below it, starting threads and
/// opening repository handles costs more than it saves.
const PARALLEL_ABOVE: u64 = 1 << 20;

/// What `export` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// Always true; failures are errors (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// Workflow id of the set exported.
    pub workflow_id: String,
    /// Task id of the set exported.
    pub task_id: String,
    /// Correlation id of the set exported.
    pub correlation_id: Option<String>,
    /// Commit exported.
    pub commit_sha: String,
    /// Task branch of the set.
    pub branch: String,
    /// Directory written to.
    pub to: PathBuf,
    /// Files written (`{path, size, checksum}`), paths relative to `to`.
    pub files: Vec<super::FileEntry>,
    /// Bytes written.
    pub bytes: u64,
}

impl Store {
    /// Writes every file of REF's artifact set (metadata.json included) under `to`.
    ///
    /// Existing files are refused (exit 4) before anything is written, unless `force`.
    /// Each file is written to a temporary name beside its target and renamed into place
    /// only once its bytes hash to its blob id and to the sha256 metadata.json records; on
    /// any failure ([`Error::Corrupt`] for bytes that do not match) the temporary file and
    /// every file and directory this export created are removed. A set whose tree and
    /// metadata.json disagree on its files is [`Error::Corrupt`] before anything is written.
    pub fn export(&self, spec: &str, to: &Path, force: bool) -> Result<ExportReport> {
        self.export_with(spec, to, force, &Silent)
    }

    /// Exports as [`Store::export`] does, reporting to `progress` the bytes written.
    pub fn export_with(
        &self,
        spec: &str,
        to: &Path,
        force: bool,
        progress: &dyn Progress,
    ) -> Result<ExportReport> {
        let set = self.show(spec)?;
        for file in &set.files {
            check_tree_path(&file.path)?;
        }
        for file in set.files.iter().filter(|f| f.mode == MODE_LINK) {
            let blob = self.repo().read_blob(file.oid).map_err(|e| {
                Error::corrupt_object(
                    &format!("{}/{}", set.artifact_dir, file.path),
                    "blob",
                    file.oid,
                    &e,
                )
            })?;
            check_link(&file.path, &blob)?;
        }
        check_listed(&set)?;
        if !force {
            let existing: Vec<&str> = set
                .files
                .iter()
                .filter(|f| to.join(&f.path).symlink_metadata().is_ok())
                .map(|f| f.path.as_str())
                .collect();
            if !existing.is_empty() {
                return Err(Error::Conflict {
                    message: format!(
                        "{} file{} already exist{} in {}: {}",
                        existing.len(),
                        if existing.len() == 1 { "" } else { "s" },
                        if existing.len() == 1 { "s" } else { "" },
                        to.display(),
                        existing
                            .iter()
                            .take(5)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    hint: Some("export to an empty directory, or pass --force to overwrite".into()),
                });
            }
        }
        let made_to = !to.exists();
        std::fs::create_dir_all(to).map_err(Error::io("failed to create", to))?;
        let mut done = Written::default();
        if made_to {
            done.dirs.push(to.to_path_buf());
        }
        let mut checked = HashSet::new();
        let total = set.files.iter().map(|f| f.size).sum();
        progress.start("exporting", total, Unit::Bytes);
        let written = set
            .files
            .iter()
            .try_for_each(|file| create_parents(to, &file.path, &mut checked, &mut done.dirs))
            .and_then(|()| self.export_files(&set, (to, force), &mut done, progress));
        let bytes = match written {
            Ok(n) => n,
            Err(e) => {
                progress.finish();
                done.undo();
                return Err(e);
            }
        };
        progress.finish();
        Ok(ExportReport {
            success: true,
            workflow_id: set.workflow_id,
            task_id: set.task_id,
            correlation_id: set.correlation_id,
            commit_sha: set.commit_sha,
            branch: set.branch,
            to: to.to_path_buf(),
            files: set.files,
            bytes,
        })
    }
}

/// Refuses a set whose tree and metadata.json disagree on its files: a file metadata.json
/// lists that the tree lacks would be left out silently, and one it does not list has no
/// checksum to check its bytes against. `verify` reports both (`missing_file`,
/// `unlisted_file`); export writes nothing.
fn check_listed(set: &super::ArtifactSet) -> Result<()> {
    let listed = crate::metadata::checksums_of(&set.metadata);
    let prefix = format!("{}/", set.artifact_dir);
    for file in set.files.iter().filter(|f| f.path != METADATA_FILE) {
        let full = format!("{prefix}{}", file.path);
        if !listed.contains_key(&full) {
            return Err(Error::Corrupt {
                message: format!(
                    "{full}: the set's tree holds it, but its metadata.json does not list it, so its bytes cannot be checked; nothing was exported"
                ),
            });
        }
    }
    for path in listed.keys() {
        let rel = path.strip_prefix(&prefix).unwrap_or(path);
        if !set.files.iter().any(|f| f.path == rel) {
            return Err(Error::Corrupt {
                message: format!(
                    "{path}: metadata.json lists it, but the set's tree does not hold it; nothing was exported"
                ),
            });
        }
    }
    Ok(())
}

/// Refuses a tree path that could leave the export directory or write into a `.git`.
fn check_tree_path(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.split('/').any(|part| {
            part.is_empty() || part == "." || part == ".." || part.eq_ignore_ascii_case(".git")
        });
    if bad {
        return Err(unsafe_entry(
            path,
            "has an empty, '.', '..' or '.git' path component",
        ));
    }
    Ok(())
}

/// Refuses a symlink whose target is absolute or climbs out of the export directory.
/// `..` is accepted only before the first name (`../../x`, not `x/../..`): a name there
/// may itself be a symlink, which would make a lexical count of the levels wrong.
fn check_link(path: &str, target: &[u8]) -> Result<()> {
    let target = Path::new(
        std::str::from_utf8(target)
            .map_err(|_| unsafe_entry(path, "is a symbolic link whose target is not UTF-8"))?,
    );
    let outside = || {
        unsafe_entry(
            path,
            &format!(
                "is a symbolic link to {}, which is absolute, leaves the exported directory or has '..' after a name",
                target.display()
            ),
        )
    };
    let mut depth = path.split('/').count() - 1;
    let mut named = false;
    for part in target.components() {
        match part {
            Component::Normal(_) => named = true,
            Component::CurDir => {}
            Component::ParentDir if depth > 0 && !named => depth -= 1,
            _ => return Err(outside()),
        }
    }
    Ok(())
}

fn unsafe_entry(path: &str, reason: &str) -> Error {
    Error::InvalidPath {
        path: PathBuf::from(path),
        reason: format!("{reason}; the tree is refused and nothing was written"),
    }
}

/// Creates the directories above `rel` under `to`, refusing to pass through anything but
/// a real directory (a symlink there would send the write elsewhere); `checked` holds the
/// directories already seen to be real, so each is looked at once.
/// Directories it creates are added to `made`.
fn create_parents(
    to: &Path,
    rel: &str,
    checked: &mut HashSet<PathBuf>,
    made: &mut Vec<PathBuf>,
) -> Result<()> {
    let mut dir = to.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        dir.push(part);
        if checked.contains(&dir) {
            continue;
        }
        match dir.symlink_metadata() {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::InvalidPath {
                    path: dir,
                    reason: "is in the way: a directory is needed there and it is a file or a symbolic link, which export never writes through".to_string(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir).map_err(Error::io("failed to create", &dir))?;
                made.push(dir.clone());
            }
            Err(e) => return Err(Error::io("failed to read", &dir)(e)),
        }
        checked.insert(dir.clone());
    }
    Ok(())
}

/// What one export thread did: bytes written, files put in place, and its failure with
/// the index of the file that failed.
type Share = (u64, Written, Option<(usize, Error)>);

/// What an export has put in place so far, taken back when a later file fails.
#[derive(Default)]
struct Written {
    /// Files created where nothing was before.
    files: Vec<PathBuf>,
    /// Directories created, outermost first.
    dirs: Vec<PathBuf>,
}

impl Written {
    /// Removes the files this export created and the directories it made that are empty.
    /// (A file that `--force` replaced stays replaced: its new bytes were checked.)
    fn undo(&self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        for dir in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl Store {
    /// Writes every file of `set` under `to` (their directories made already), on up to
    /// [`EXPORT_THREADS`] threads when the set holds more than one file and more than
    /// [`PARALLEL_ABOVE`] bytes: inflating and hashing are the cost of an export, and a
    /// set's files are independent. Each thread reads through a repository handle of its
    /// own (a handle is not shared between threads) and takes the largest files left
    /// first. Every file written is recorded in `done`, so that a failure anywhere takes
    /// all of them back; the error reported is that of the first failing file in the
    /// set's order, and a failure stops the other threads before their next file.
    fn export_files(
        &self,
        set: &super::ArtifactSet,
        out: (&Path, bool),
        done: &mut Written,
        progress: &dyn Progress,
    ) -> Result<u64> {
        let total: u64 = set.files.iter().map(|f| f.size).sum();
        let threads = crate::progress::cores()
            .min(EXPORT_THREADS)
            .min(set.files.len());
        if threads <= 1 || total <= PARALLEL_ABOVE {
            let mut bytes = 0;
            for file in &set.files {
                bytes += self.export_one(&set.artifact_dir, file, out, done, progress)?;
            }
            return Ok(bytes);
        }
        let mut order: Vec<usize> = (0..set.files.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(set.files[i].size));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let work = |store: &Store| {
            use std::sync::atomic::Ordering::SeqCst;
            let mut mine = Written::default();
            let mut bytes = 0;
            let mut error: Option<(usize, Error)> = None;
            while !failed.load(SeqCst) {
                let Some(&i) = order.get(next.fetch_add(1, SeqCst)) else {
                    break;
                };
                let file = &set.files[i];
                match store.export_one(&set.artifact_dir, file, out, &mut mine, progress) {
                    Ok(n) => bytes += n,
                    Err(e) => {
                        failed.store(true, SeqCst);
                        error = Some((i, e));
                    }
                }
            }
            (bytes, mine, error)
        };
        let handles = (1..threads)
            .map(|_| self.open_again())
            .collect::<Result<Vec<Store>>>()?;
        let results: Vec<Share> = std::thread::scope(|scope| {
            let others: Vec<_> = handles
                .into_iter()
                .map(|store| scope.spawn(move || work(&store)))
                .collect();
            let mut results = vec![work(self)];
            results.extend(others.into_iter().map(|h| {
                h.join().unwrap_or_else(|_| {
                    let e = Error::Internal {
                        message: "an export thread panicked".into(),
                    };
                    (0, Written::default(), Some((usize::MAX, e)))
                })
            }));
            results
        });
        let mut bytes = 0;
        let mut first: Option<(usize, Error)> = None;
        for (n, mine, error) in results {
            bytes += n;
            done.files.extend(mine.files);
            if let Some((i, e)) = error {
                if first.as_ref().is_none_or(|(j, _)| i < *j) {
                    first = Some((i, e));
                }
            }
        }
        match first {
            Some((_, e)) => Err(e),
            None => Ok(bytes),
        }
    }

    /// Writes one file of a set (`path` relative to the set's directory `dir`) under `to`:
    /// into a temporary file beside it first, checked against its object id and the
    /// sha256 metadata.json records, then renamed into place. A file whose bytes do not
    /// match is never at its name; the temporary file is removed on any failure.
    fn export_one(
        &self,
        dir: &str,
        file: &super::FileEntry,
        (to, force): (&Path, bool),
        done: &mut Written,
        progress: &dyn Progress,
    ) -> Result<u64> {
        use sha2::{Digest, Sha256};
        use std::io::Write;
        let path = to.join(&file.path);
        let full = format!("{dir}/{}", file.path);
        let parent = path.parent().unwrap_or(to);
        use std::os::unix::fs::PermissionsExt;
        let mode = if file.mode == crate::git::tree::MODE_EXEC {
            0o755
        } else {
            0o644
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".artifact-store-export-")
            .permissions(std::fs::Permissions::from_mode(mode))
            .tempfile_in(parent)
            .map_err(Error::io("failed to create a temporary file in", parent))?;
        let mut sha = Sha256::new();
        let mut content = Vec::new();
        let size = crate::git::blobread::for_each_piece(
            self.repo(),
            file.oid,
            file.size,
            LARGE_FILE_BYTES,
            &full,
            |piece| {
                sha.update(piece);
                progress.inc(piece.len() as u64);
                if file.mode == MODE_LINK {
                    content.extend_from_slice(piece);
                    Ok(())
                } else {
                    tmp.write_all(piece)
                        .map_err(Error::io("failed to write", tmp.path()))
                }
            },
        )?;
        let actual = format!("sha256:{:x}", sha.finalize());
        if let Some(expected) = &file.checksum {
            if expected != &actual {
                return Err(Error::corrupt_at(
                    &full,
                    "blob",
                    file.oid,
                    &format!(
                        "hashes to {}…, not to the {}… metadata.json records; it was not exported",
                        &actual[..19.min(actual.len())],
                        &expected[..19.min(expected.len())]
                    ),
                ));
            }
        }
        let existed = path.symlink_metadata().is_ok();
        if file.mode == MODE_LINK {
            drop(tmp);
            check_link(&file.path, &content)?;
            write_link(&path, &content, force)?;
        } else {
            tmp.flush()
                .map_err(Error::io("failed to write", tmp.path()))?;
            place(tmp, &path, force)?;
        }
        if !existed {
            done.files.push(path);
        }
        Ok(size)
    }
}

/// Renames a checked temporary file to `path`: over what is there when `force` (a rename
/// replaces a symlink, never follows it), else only when nothing is there.
fn place(tmp: tempfile::NamedTempFile, path: &Path, force: bool) -> Result<()> {
    if force {
        tmp.persist(path)
            .map(drop)
            .map_err(|e| Error::io("failed to create", path)(e.error))
    } else {
        tmp.persist_noclobber(path)
            .map(drop)
            .map_err(|e| Error::io("failed to create", path)(e.error))
    }
}

/// Creates the symbolic link `path` to `target` (whatever is at `path` removed first when
/// `force`); a link is created, never followed.
fn write_link(path: &Path, target: &[u8], force: bool) -> Result<()> {
    if force && path.symlink_metadata().is_ok() {
        std::fs::remove_file(path).map_err(Error::io("failed to replace", path))?;
    }
    let target = String::from_utf8_lossy(target).into_owned();
    std::os::unix::fs::symlink(target, path).map_err(Error::io("failed to create symlink", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_paths_that_leave_the_directory_are_refused() {
        for ok in ["a.csv", "out/sub/b.txt", ".hidden", "..a", "a..b"] {
            assert!(check_tree_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "..",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            ".git/hooks/x",
            "a/.GIT/c",
            "",
        ] {
            assert!(check_tree_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn symlinks_must_stay_inside_the_export() {
        assert!(check_link("link", b"real.txt").is_ok());
        assert!(check_link("sub/link", b"../real.txt").is_ok());
        assert!(check_link("a/b/link", b"../../x/y").is_ok());
        assert!(check_link("sub/link", b"x/../y").is_err());
        assert!(check_link("link", b"../real.txt").is_err());
        assert!(check_link("sub/link", b"../../real.txt").is_err());
        assert!(check_link("link", b"/etc/passwd").is_err());
        assert!(check_link("link", &[0xff, 0xfe]).is_err());
    }
}
