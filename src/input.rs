//! Collects and validates the files of one commit request before anything is written.
//!
//! A plain path keeps its name (`out/` lands as `<artifact_dir>/out/...`, like `cp -r`);
//! `DIR/.` puts a directory's contents at the artifact directory's root. Symlinks inside a
//! committed directory are stored as git symlinks when they point inside it and refused
//! otherwise; a symlink given directly is refused. Nothing here follows a link to read it.
//! Every name and the set of paths as a whole go through [`crate::git::pathcheck`]: git's
//! fsck rules, and no collision with the store's own `metadata.json` or between inputs.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::git::pathcheck;
use crate::metadata::METADATA_FILE;
use crate::scan::LARGE_FILE_BYTES;

/// One source given by the caller, with an optional name in the artifact directory.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// File or directory on disk.
    pub source: PathBuf,
    /// Path inside the artifact directory; defaults to the source's own name.
    pub target: Option<String>,
}

impl InputSpec {
    /// Returns a spec that keeps the source's own name.
    pub fn path(source: impl Into<PathBuf>) -> InputSpec {
        InputSpec {
            source: source.into(),
            target: None,
        }
    }
}

/// What a collected entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file of this many bytes.
    File {
        /// Size when collected.
        size: u64,
        /// Owner-executable bit set.
        executable: bool,
    },
    /// A symlink to a path inside its directory; the target text is stored.
    Symlink {
        /// The link's target, as written in the link.
        target: String,
    },
}

/// One file of an artifact set, validated.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Where it is read from.
    pub source: PathBuf,
    /// `/`-separated path inside the artifact directory.
    pub target: String,
    /// File or symlink.
    pub kind: EntryKind,
}

/// Collects every file named by `specs`, refusing anything docs/design.md calls bad input.
pub fn collect(specs: &[InputSpec], max_file_size: u64) -> Result<Vec<InputFile>> {
    if specs.is_empty() {
        return Err(Error::InvalidInput(
            "no files to commit: give at least one file or directory".to_string(),
        ));
    }
    let mut out = Vec::new();
    for spec in specs {
        collect_one(spec, max_file_size, &mut out)?;
    }
    if out.is_empty() {
        return Err(Error::InvalidInput(
            "no files to commit: the directories given are empty".to_string(),
        ));
    }
    check_targets(&out)?;
    Ok(out)
}

fn collect_one(spec: &InputSpec, max: u64, out: &mut Vec<InputFile>) -> Result<()> {
    let source = &spec.source;
    let meta = fs::symlink_metadata(source).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::InvalidPath {
            path: source.clone(),
            reason: "no such file or directory".to_string(),
        },
        _ => Error::io("failed to read", source)(e),
    })?;
    if meta.file_type().is_symlink() {
        return Err(Error::InvalidPath {
            path: source.clone(),
            reason: "is a symbolic link; pass the file or directory it points to".to_string(),
        });
    }
    let base = match &spec.target {
        Some(target) => Some(check_target_path(source, target)?),
        None if meta.is_dir() && contents_only(source) => None,
        None => Some(name_of(source)?),
    };
    if meta.is_dir() {
        let root = fs::canonicalize(source).map_err(Error::io("failed to resolve", source))?;
        walk(&root, source, base.as_deref(), max, out)
    } else if meta.is_file() {
        let target = base.ok_or_else(|| Error::InvalidPath {
            path: source.clone(),
            reason: "has no file name".to_string(),
        })?;
        out.push(file_entry(source, target, &meta, max)?);
        Ok(())
    } else {
        Err(not_regular(source))
    }
}

fn contents_only(source: &Path) -> bool {
    let text = source.as_os_str().to_string_lossy();
    // `out/./` and `out/.//` name `out/.` too: trailing slashes do not change the path.
    let text = text.trim_end_matches('/');
    text == "." || text.ends_with("/.") || source.file_name().is_none()
}

fn name_of(source: &Path) -> Result<String> {
    let name = source.file_name().ok_or_else(|| Error::InvalidPath {
        path: source.to_path_buf(),
        reason: "has no file name".to_string(),
    })?;
    let name = name.to_str().ok_or_else(|| not_utf8(source))?;
    check_component(source, name)?;
    Ok(name.to_string())
}

fn check_target_path(source: &Path, target: &str) -> Result<String> {
    let trimmed = target.trim_matches('/');
    if trimmed.is_empty() {
        return Err(Error::InvalidPath {
            path: source.to_path_buf(),
            reason: format!("target name {target:?} is empty"),
        });
    }
    for part in trimmed.split('/') {
        check_component(source, part)?;
    }
    Ok(trimmed.to_string())
}

fn check_component(source: &Path, name: &str) -> Result<()> {
    pathcheck::check_component(name)
        .map_err(|why| Error::InvalidInput(format!("{}: {why}", source.display())))
}

fn walk(
    root: &Path,
    dir: &Path,
    base: Option<&str>,
    max: u64,
    out: &mut Vec<InputFile>,
) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(Error::io("failed to list", dir))?
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::io("failed to list", dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| not_utf8(&path))?;
        check_component(&path, name)?;
        let target = match base {
            Some(base) => format!("{base}/{name}"),
            None => name.to_string(),
        };
        let meta = fs::symlink_metadata(&path).map_err(Error::io("failed to read", &path))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            walk(root, &path, Some(&target), max, out)?;
        } else if kind.is_file() {
            out.push(file_entry(&path, target, &meta, max)?);
        } else if kind.is_symlink() {
            out.push(symlink_entry(root, &path, target)?);
        } else {
            return Err(not_regular(&path));
        }
    }
    Ok(())
}

fn file_entry(path: &Path, target: String, meta: &fs::Metadata, max: u64) -> Result<InputFile> {
    if meta.size() > max {
        return Err(Error::InvalidPath {
            path: path.to_path_buf(),
            reason: format!(
                "is {} bytes, over the limit of {} bytes (max_file_size)",
                meta.size(),
                max
            ),
        });
    }
    Ok(InputFile {
        source: path.to_path_buf(),
        target,
        kind: EntryKind::File {
            size: meta.size(),
            executable: meta.permissions().mode() & 0o100 != 0,
        },
    })
}

fn symlink_entry(root: &Path, path: &Path, target: String) -> Result<InputFile> {
    let outside = || {
        Error::InvalidPath {
        path: path.to_path_buf(),
        reason: format!(
            "is a symbolic link that resolves outside {}; only links inside a committed directory are kept",
            root.display()
        ),
    }
    };
    let resolved = fs::canonicalize(path).map_err(|_| outside())?;
    if !resolved.starts_with(root) {
        return Err(outside());
    }
    let link = fs::read_link(path).map_err(Error::io("failed to read link", path))?;
    let link = link.to_str().ok_or_else(|| not_utf8(path))?.to_string();
    Ok(InputFile {
        source: path.to_path_buf(),
        target,
        kind: EntryKind::Symlink { target: link },
    })
}

/// Checks the set's paths as a whole: each by git's rules (`git::pathcheck`), and
/// together for collisions with each other and with the store's own `metadata.json`.
fn check_targets(files: &[InputFile]) -> Result<()> {
    for file in files {
        let (symlink, size) = match file.kind {
            EntryKind::Symlink { .. } => (true, 0),
            EntryKind::File { size, .. } => (false, size),
        };
        pathcheck::check_entry(&file.target, symlink, size, LARGE_FILE_BYTES)?;
    }
    pathcheck::check_collisions(files.iter().map(|f| f.target.as_str()), &[METADATA_FILE])
}

fn not_regular(path: &Path) -> Error {
    Error::InvalidPath {
        path: path.to_path_buf(),
        reason: "is not a regular file, directory or symbolic link".to_string(),
    }
}

fn not_utf8(path: &Path) -> Error {
    Error::InvalidPath {
        path: path.to_path_buf(),
        reason: "has a name that is not UTF-8".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn targets(files: &[InputFile]) -> Vec<&str> {
        files.iter().map(|f| f.target.as_str()).collect()
    }

    #[test]
    fn directories_keep_their_name_and_dot_means_contents() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir_all(out.join("sub")).unwrap();
        fs::write(out.join("a.csv"), "1").unwrap();
        fs::write(out.join("sub/b.txt"), "2").unwrap();
        let named = collect(&[InputSpec::path(&out)], 100).unwrap();
        assert_eq!(targets(&named), ["out/a.csv", "out/sub/b.txt"]);
        let contents = collect(&[InputSpec::path(out.join("."))], 100).unwrap();
        assert_eq!(targets(&contents), ["a.csv", "sub/b.txt"]);
    }

    #[test]
    fn symlinks_inside_are_kept_and_outside_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("real.txt"), "x").unwrap();
        symlink("real.txt", out.join("link.txt")).unwrap();
        let files = collect(&[InputSpec::path(&out)], 100).unwrap();
        assert_eq!(
            files[0].kind,
            EntryKind::Symlink {
                target: "real.txt".into()
            }
        );
        symlink("/etc/passwd", out.join("passwd")).unwrap();
        let err = collect(&[InputSpec::path(&out)], 100).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        let err = collect(&[InputSpec::path(out.join("link.txt"))], 100).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn duplicates_oversize_and_empty_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(a.join("x.txt"), "1").unwrap();
        fs::write(b.join("x.txt"), "22").unwrap();
        let err = collect(
            &[
                InputSpec::path(a.join("x.txt")),
                InputSpec::path(b.join("x.txt")),
            ],
            100,
        );
        assert!(err.unwrap_err().to_string().contains("both map to"));
        let err = collect(&[InputSpec::path(b.join("x.txt"))], 1).unwrap_err();
        assert!(err.to_string().contains("over the limit"));
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(collect(&[InputSpec::path(&empty)], 100).is_err());
        assert!(collect(&[], 100).is_err());
        fs::write(dir.path().join(METADATA_FILE), "{}").unwrap();
        assert!(collect(&[InputSpec::path(dir.path().join(METADATA_FILE))], 100).is_err());
    }
}
