//! `hooks install`: writes the hook scripts into a repository's hooks directory.
//!
//! The directory is `core.hooksPath` when the repository sets it, else `hooks/` in the
//! common git directory (shared by linked worktrees). The script records the absolute
//! path of the installing binary (its `installed=` line, shell-quoted), so a commit does
//! not depend on `PATH`. A hook of ours (any recorded path, or the scripts of earlier
//! versions) is updated in place; a hook with other content is left alone unless forced;
//! when forced it is kept beside as `<name>.bak` (or `.bak.1`, `.bak.2`, ...) and the
//! outcome names the backup.

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
    /// `installed`, `unchanged` (already this script), `updated` (our hook, rewritten for
    /// this binary) or `replaced` (another hook, kept as the backup).
    pub action: &'static str,
    /// Where a replaced hook was moved.
    pub backup: Option<PathBuf>,
    /// The binary the hook runs, recorded by absolute path; `None` when none was given
    /// (the hook then looks for `artifact-store` on `PATH`).
    pub binary: Option<PathBuf>,
}

/// What `hooks install` did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallOutcome {
    /// Always true; refusals are errors (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// Each hook handled.
    pub hooks: Vec<HookInstall>,
}

impl Store {
    /// Installs `pre-commit` (or, for a shared remote, `pre-receive`) into the repository's
    /// hooks directory, running `artifact-store` from `PATH`; refuses to replace a
    /// different hook unless `force`.
    pub fn install_hooks(&self, server: bool, force: bool) -> Result<InstallOutcome> {
        self.install_hooks_for(server, force, None)
    }

    /// Installs the hook as [`Store::install_hooks`] does, recording `binary` (an
    /// absolute path, usually the running executable) as the program the hook runs; the
    /// hook falls back to `PATH` when that file is gone, and blocks with a message naming
    /// the fix when neither is there.
    pub fn install_hooks_for(
        &self,
        server: bool,
        force: bool,
        binary: Option<&Path>,
    ) -> Result<InstallOutcome> {
        let dir = self.hooks_dir()?;
        std::fs::create_dir_all(&dir).map_err(Error::io("failed to create", &dir))?;
        let (name, template, legacy) = if server {
            ("pre-receive", PRE_RECEIVE, LEGACY_PRE_RECEIVE)
        } else {
            ("pre-commit", PRE_COMMIT, LEGACY_PRE_COMMIT)
        };
        let binary = binary.filter(|b| b.is_absolute() && b.to_str().is_some());
        let script = render(template, binary);
        let ours = |existing: &[u8]| existing == legacy.as_bytes() || is_ours(template, existing);
        let mut hook = install_one(&dir, name, &script, force, ours)?;
        hook.binary = binary.map(Path::to_path_buf);
        Ok(InstallOutcome {
            success: true,
            hooks: vec![hook],
        })
    }

    fn hooks_dir(&self) -> Result<PathBuf> {
        Ok(self.repo().hooks_dir())
    }
}

/// The scripts `hooks install` wrote before it recorded the binary's path.
const LEGACY_PRE_COMMIT: &str = "#!/bin/sh
# artifact-store pre-commit hook: blocks a commit whose staged content holds a secret.
# Findings are printed redacted; a line holding `artifact-store:allow` is never reported.
# Installed by `artifact-store hooks install`; ARTIFACT_STORE_BIN names the binary when it
# is not on PATH. See hooks/README.md.
exec \"${ARTIFACT_STORE_BIN:-artifact-store}\" hook pre-commit \"$@\"
";
const LEGACY_PRE_RECEIVE: &str = "#!/bin/sh
# artifact-store pre-receive hook for a shared remote: refuses deletions and rewrites of
# store refs (ai/generated/*, corr_*, prompt_*, pins) except by the retention identity,
# any pushed blob holding a secret, and, when configured, bot pushes outside store refs.
# Installed by `artifact-store hooks install --server`; ARTIFACT_STORE_BIN names the
# binary when it is not on PATH. See hooks/README.md.
exec \"${ARTIFACT_STORE_BIN:-artifact-store}\" hook pre-receive \"$@\"
";

/// Returns the script with `binary` recorded on its `installed=` line, single-quoted for
/// the shell (a `'` in the path becomes `'\''`; nothing else is special inside quotes).
fn render(template: &str, binary: Option<&Path>) -> String {
    let (before, after) =
        split_installed(template).expect("the shipped hook scripts hold an installed= line");
    let quoted = match binary.and_then(Path::to_str) {
        Some(path) => format!("'{}'", path.replace('\'', r"'\''")),
        None => "''".to_string(),
    };
    format!("{before}\ninstalled={quoted}\n{after}")
}

/// Splits a script around its `installed=` line.
fn split_installed(script: &str) -> Option<(&str, &str)> {
    let start = script.find("\ninstalled=")?;
    let value = &script[start + "\ninstalled=".len()..];
    let end = quoted_end(value)?;
    let rest = value[end..].strip_prefix('\n')?;
    Some((&script[..start], rest))
}

/// Returns where a run of single-quoted words (`'a'\''b'`) ends.
fn quoted_end(value: &str) -> Option<usize> {
    let mut i = 0;
    let bytes = value.as_bytes();
    loop {
        if bytes.get(i) != Some(&b'\'') {
            return (i > 0).then_some(i);
        }
        i += 1 + value[i + 1..].find('\'')? + 1;
        if value[i..].starts_with("\\'") {
            i += 2;
        }
    }
}

/// True when `existing` is this template with any binary recorded.
fn is_ours(template: &str, existing: &[u8]) -> bool {
    let (Ok(existing), Some((before, after))) =
        (std::str::from_utf8(existing), split_installed(template))
    else {
        return false;
    };
    matches!(split_installed(existing), Some((b, a)) if b == before && a == after)
}

fn install_one(
    dir: &Path,
    name: &str,
    script: &str,
    force: bool,
    ours: impl Fn(&[u8]) -> bool,
) -> Result<HookInstall> {
    let path = dir.join(name);
    let mut hook = HookInstall {
        name: name.to_string(),
        path: path.clone(),
        action: "installed",
        backup: None,
        binary: None,
    };
    match std::fs::read(&path) {
        Ok(existing) if existing == script.as_bytes() => {
            hook.action = "unchanged";
            set_executable(&path)?;
            return Ok(hook);
        }
        Ok(existing) if ours(&existing) => hook.action = "updated",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_binary_is_quoted_and_read_back_as_ours() {
        for path in ["/usr/bin/artifact-store", "/opt/my tools/it's \"q\"/$x`y`"] {
            let script = render(PRE_COMMIT, Some(Path::new(path)));
            assert!(is_ours(PRE_COMMIT, script.as_bytes()), "{script}");
            let quoted = format!("installed='{}'\n", path.replace('\'', r"'\''"));
            assert!(script.contains(&quoted), "{script}");
        }
        assert_eq!(render(PRE_RECEIVE, None), PRE_RECEIVE);
        assert!(!is_ours(PRE_COMMIT, b"#!/bin/sh\necho mine\n"));
        let edited = PRE_COMMIT.replace("exit 1", "exit 0");
        assert!(!is_ours(PRE_COMMIT, edited.as_bytes()));
    }
}
