//! Artifact paths from an event, resolved under the artifacts root and named in the
//! artifact directory.
//!
//! A path is refused before anything is opened when it leaves the root: lexically (`..`
//! climbing out, an absolute path elsewhere) or through a symlink on the way (checked on
//! the canonical path). Only then does the commit pipeline read it.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::EventError;
use crate::input::InputSpec;

/// One artifact of an event: its key, the path given, where it is read, where it lands.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Key in `data.artifacts` (`test_report`).
    pub key: String,
    /// The path as the event gave it.
    pub given: String,
    /// Canonical path under the artifacts root.
    pub source: PathBuf,
    /// Path inside the artifact directory.
    pub target: String,
}

impl Artifact {
    /// Returns the commit input for this artifact.
    pub fn input(&self) -> InputSpec {
        InputSpec {
            source: self.source.clone(),
            target: Some(self.target.clone()),
        }
    }
}

/// Resolves every `(key, path)` under `root` (canonical) and names each in the artifact
/// directory: by its own file name, or `<key>/<file name>` when two artifacts share a name.
pub fn resolve_all(root: &Path, given: &[(String, String)]) -> Result<Vec<Artifact>, EventError> {
    let mut out = Vec::with_capacity(given.len());
    for (key, path) in given {
        let source = resolve(root, key, path)?;
        let name = file_name(path).unwrap_or_else(|| key.clone());
        out.push(Artifact {
            key: key.clone(),
            given: path.clone(),
            source,
            target: name,
        });
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for artifact in &out {
        *seen.entry(artifact.target.clone()).or_default() += 1;
    }
    for artifact in &mut out {
        if seen[&artifact.target] > 1 {
            // The key becomes a directory: one that is empty or starts or ends with '/'
            // would be trimmed on the way into the tree, and metadata.json's `artifacts`
            // map would name a path the set does not hold.
            let key = &artifact.key;
            if key.is_empty() || key.starts_with('/') || key.ends_with('/') {
                return Err(EventError::Store(crate::Error::InvalidInput(format!(
                    "artifact key {key:?} shares the file name {:?} with another artifact, so it would land under its key, and {key:?} is not a directory name",
                    artifact.target
                ))));
            }
            artifact.target = format!("{key}/{}", artifact.target);
        }
    }
    Ok(out)
}

/// Resolves one path under `root`, refusing any that leaves it.
pub fn resolve(root: &Path, key: &str, given: &str) -> Result<PathBuf, EventError> {
    let outside = || EventError::OutsideRoot {
        key: key.to_string(),
        path: given.to_string(),
    };
    let joined = lexical(root, Path::new(given)).ok_or_else(outside)?;
    if !joined.starts_with(root) {
        return Err(outside());
    }
    let canonical = match std::fs::canonicalize(&joined) {
        Ok(path) => path,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EventError::MissingFile {
                key: key.to_string(),
                path: given.to_string(),
            })
        }
        Err(e) => {
            return Err(EventError::Store(crate::Error::io(
                "failed to resolve",
                &joined,
            )(e)))
        }
    };
    if !canonical.starts_with(root) {
        return Err(outside());
    }
    Ok(canonical)
}

/// Joins `path` to `root` and folds `.` and `..` without touching the file system;
/// `None` when `..` climbs above the file system root.
fn lexical(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut out = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        root.to_path_buf()
    };
    for part in path.components() {
        match part {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(name) => out.push(name),
        }
    }
    Some(out)
}

fn file_name(given: &str) -> Option<String> {
    Path::new(given)
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => name.to_str().map(str::to_string),
            _ => None,
        })
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("run/reports")).unwrap();
        std::fs::write(root.join("run/reports/report.json"), "{}").unwrap();
        std::fs::write(root.join("run/report.json"), "{}").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "x").unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        (dir, root)
    }

    #[test]
    fn paths_inside_resolve_and_escapes_are_refused() {
        let (dir, root) = setup();
        let kind = |p: &str| resolve(&root, "k", p).unwrap_err().kind();
        assert!(resolve(&root, "k", "run/reports/report.json").is_ok());
        assert!(resolve(&root, "k", "run/reports/../report.json").is_ok());
        let abs = root.join("run/report.json");
        assert!(resolve(&root, "k", abs.to_str().unwrap()).is_ok());
        assert_eq!(kind("../secret.txt"), "path_outside_root");
        assert_eq!(kind("run/../../secret.txt"), "path_outside_root");
        assert_eq!(
            kind(dir.path().join("secret.txt").to_str().unwrap()),
            "path_outside_root"
        );
        assert_eq!(kind("/etc/passwd"), "path_outside_root");
        assert_eq!(kind("../../../../../../../../.."), "path_outside_root");
        symlink(dir.path().join("secret.txt"), root.join("link")).unwrap();
        assert_eq!(kind("link"), "path_outside_root");
        symlink(dir.path(), root.join("up")).unwrap();
        assert_eq!(kind("up/secret.txt"), "path_outside_root");
        assert_eq!(kind("run/none.csv"), "missing_file");
    }

    #[test]
    fn artifacts_land_by_file_name_and_clashing_names_under_their_key() {
        let (_dir, root) = setup();
        let given = vec![
            (
                "test_report".to_string(),
                "run/reports/report.json".to_string(),
            ),
            ("summary".to_string(), "run/report.json".to_string()),
            ("reports".to_string(), "run/reports/".to_string()),
        ];
        let out = resolve_all(&root, &given).unwrap();
        let targets: Vec<&str> = out.iter().map(|a| a.target.as_str()).collect();
        assert_eq!(
            targets,
            ["test_report/report.json", "summary/report.json", "reports"]
        );
    }
}
