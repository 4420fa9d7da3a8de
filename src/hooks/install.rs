//! `hooks install`: writes the hook scripts into a repository's hooks directory.
//!
//! The directory is `core.hooksPath` when the repository sets it, else `hooks/` in the
//! common git directory (shared by linked worktrees). A hook that is already there with
//! other content is left alone unless forced; when forced it is kept beside as
//! `<name>.bak` (or `.bak.1`, `.bak.2`, ...) and the outcome names the backup.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{PRE_COMMIT, PRE_RECEIVE};
use crate::error::{Error, Result};
use crate::store::Store;

/// One hook and what installing it did.
#[derive(Debug, Clone, Serialize)]
pub struct HookInstall {
    /// Hook name, `pre-commit` or `pre-receive`.
    pub name: String,
    /// Where it now is.
    pub path: PathBuf,
    /// `installed`, `unchanged` (already this script) or `replaced`.
    pub action: &'static str,
    /// Where a replaced hook was moved.
    pub backup: Option<PathBuf>,
}

/// What `hooks install` did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallOutcome {
    /// Always true; refusals are errors.
    pub success: bool,
    /// Each hook handled.
    pub hooks: Vec<HookInstall>,
}

impl Store {
    /// Installs `pre-commit` (or, for a shared remote, `pre-receive`) into the repository's
    /// hooks directory; refuses to replace a different hook unless `force`.
    pub fn install_hooks(&self, server: bool, force: bool) -> Result<InstallOutcome> {
        let dir = self.hooks_dir()?;
        std::fs::create_dir_all(&dir).map_err(Error::io("failed to create", &dir))?;
        let (name, script) = if server {
            ("pre-receive", PRE_RECEIVE)
        } else {
            ("pre-commit", PRE_COMMIT)
        };
        let hook = install_one(&dir, name, script, force)?;
        Ok(InstallOutcome {
            success: true,
            hooks: vec![hook],
        })
    }

    fn hooks_dir(&self) -> Result<PathBuf> {
        let repo = self.repo();
        let configured = repo
            .config()
            .and_then(|c| c.get_path("core.hooksPath"))
            .ok();
        Ok(match configured {
            Some(path) if path.is_absolute() => path,
            Some(path) => repo.workdir().unwrap_or(repo.path()).join(path),
            None => repo.commondir().join("hooks"),
        })
    }
}

fn install_one(dir: &Path, name: &str, script: &str, force: bool) -> Result<HookInstall> {
    let path = dir.join(name);
    let mut hook = HookInstall {
        name: name.to_string(),
        path: path.clone(),
        action: "installed",
        backup: None,
    };
    match std::fs::read(&path) {
        Ok(existing) if existing == script.as_bytes() => {
            hook.action = "unchanged";
            set_executable(&path)?;
            return Ok(hook);
        }
        Ok(_) if !force => {
            return Err(Error::Conflict {
                message: format!("{} already exists with other content", path.display()),
                hint: Some(
                    "merge it by hand, or pass --force to keep it as <name>.bak and install ours"
                        .to_string(),
                ),
            })
        }
        Ok(_) => {
            let backup = free_backup(&path);
            std::fs::rename(&path, &backup).map_err(Error::io("failed to move aside", &path))?;
            hook.action = "replaced";
            hook.backup = Some(backup);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("failed to read", &path)(e)),
    }
    let tmp = dir.join(format!(".{name}.artifact-store.tmp"));
    std::fs::write(&tmp, script).map_err(Error::io("failed to write", &tmp))?;
    set_executable(&tmp)?;
    std::fs::rename(&tmp, &path).map_err(Error::io("failed to install", &path))?;
    Ok(hook)
}

fn free_backup(path: &Path) -> PathBuf {
    let first = path.with_extension("bak");
    if !first.exists() {
        return first;
    }
    (1..)
        .map(|n| PathBuf::from(format!("{}.bak.{n}", path.display())))
        .find(|p| !p.exists())
        .expect("an unused backup name exists")
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(Error::io("failed to make executable", path))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> Result<()> {
    Ok(())
}
