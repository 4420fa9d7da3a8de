//! `export REF --to DIR`: an artifact set's files on disk, byte-identical.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::Store;

/// What `export` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// Always true; failures are errors.
    pub success: bool,
    /// Commit exported.
    pub commit_sha: String,
    /// Directory written to.
    pub to: PathBuf,
    /// Files written, relative to `to`.
    pub files: Vec<String>,
    /// Bytes written.
    pub bytes: u64,
}

impl Store {
    /// Writes every file of REF's artifact set (metadata.json included) under `to`.
    ///
    /// Existing files are refused (exit 4) before anything is written, unless `force`.
    pub fn export(&self, spec: &str, to: &Path, force: bool) -> Result<ExportReport> {
        let set = self.show(spec)?;
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
        let mut bytes = 0;
        for file in &set.files {
            let blob = self
                .repo()
                .find_blob(file.oid)
                .map_err(Error::git(format!("failed to read {}", file.path)))?;
            let path = to.join(&file.path);
            write_one(&path, blob.content(), file.mode, force)?;
            bytes += blob.size() as u64;
        }
        Ok(ExportReport {
            success: true,
            commit_sha: set.commit_sha,
            to: to.to_path_buf(),
            files: set.files.iter().map(|f| f.path.clone()).collect(),
            bytes,
        })
    }
}

fn write_one(path: &Path, content: &[u8], mode: i32, force: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("failed to create", parent))?;
    }
    if force && path.symlink_metadata().is_ok() {
        std::fs::remove_file(path).map_err(Error::io("failed to replace", path))?;
    }
    if mode == crate::git::tree::MODE_LINK {
        let target = String::from_utf8_lossy(content).into_owned();
        return std::os::unix::fs::symlink(target, path)
            .map_err(Error::io("failed to create symlink", path));
    }
    std::fs::write(path, content).map_err(Error::io("failed to write", path))?;
    if mode == crate::git::tree::MODE_EXEC {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(Error::io("failed to set permissions on", path))?;
    }
    Ok(())
}
