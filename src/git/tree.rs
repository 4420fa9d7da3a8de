//! Builds trees in the object database, with no index and no worktree.

use std::collections::BTreeMap;

use git2::{Oid, Repository, Tree};

use crate::error::{Error, Result};

/// Git file mode of a regular file.
pub const MODE_FILE: i32 = 0o100644;
/// Git file mode of an executable file.
pub const MODE_EXEC: i32 = 0o100755;
/// Git file mode of a symbolic link.
pub const MODE_LINK: i32 = 0o120000;
/// Git file mode of a tree.
pub const MODE_TREE: i32 = 0o040000;

enum Node {
    Leaf(Oid, i32),
    Dir(BTreeMap<String, Node>),
}

/// Writes a tree holding `entries` (`a/b/c` paths, blob ids, modes), recording new objects.
pub fn write_tree(
    repo: &Repository,
    entries: &[(String, Oid, i32)],
    written: &mut Vec<Oid>,
) -> Result<Oid> {
    let mut root = BTreeMap::new();
    for (path, oid, mode) in entries {
        super::pathcheck::check_path(path)?;
        let mut node = &mut root;
        let parts: Vec<&str> = path.split('/').collect();
        let (last, dirs) = parts.split_last().expect("split always yields one part");
        for dir in dirs {
            let entry = node
                .entry((*dir).to_string())
                .or_insert_with(|| Node::Dir(BTreeMap::new()));
            node = match entry {
                Node::Dir(children) => children,
                Node::Leaf(..) => {
                    return Err(Error::InvalidInput(format!(
                        "{path}: {dir} is both a file and a directory"
                    )))
                }
            };
        }
        if node
            .insert((*last).to_string(), Node::Leaf(*oid, *mode))
            .is_some()
        {
            // Never drop what was there: a second entry at one path is a caller's error.
            return Err(Error::InvalidInput(format!(
                "artifact path {path:?} is given twice, or is both a file and a directory"
            )));
        }
    }
    write_dir(repo, &root, written)
}

fn write_dir(
    repo: &Repository,
    dir: &BTreeMap<String, Node>,
    written: &mut Vec<Oid>,
) -> Result<Oid> {
    let mut builder = repo
        .treebuilder(None)
        .map_err(Error::git("failed to start a tree"))?;
    for (name, node) in dir {
        let (oid, mode) = match node {
            Node::Leaf(oid, mode) => (*oid, *mode),
            Node::Dir(children) => (write_dir(repo, children, written)?, MODE_TREE),
        };
        builder
            .insert(name, oid, mode)
            .map_err(|e| refused_name(name, e))?;
    }
    let oid = builder
        .write()
        .map_err(Error::git("failed to write a tree"))?;
    written.push(oid);
    Ok(oid)
}

/// Returns a copy of `base` whose entry at `path` is the tree `new`, replacing whatever was there.
pub fn replace_subtree(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    path: &[&str],
    new: Oid,
    written: &mut Vec<Oid>,
) -> Result<Oid> {
    let Some((first, rest)) = path.split_first() else {
        return Err(Error::InvalidInput(
            "the artifact directory has no path component".to_string(),
        ));
    };
    super::pathcheck::check_component(first)
        .map_err(|why| Error::InvalidInput(format!("artifact directory {why}")))?;
    let mut builder = repo
        .treebuilder(base)
        .map_err(Error::git("failed to start a tree"))?;
    let existing = base.and_then(|t| t.get_name(first));
    if let Some(entry) = &existing {
        if entry.kind() != Some(git2::ObjectType::Tree) {
            // Putting a directory there would drop that file from the branch.
            return Err(Error::InvalidInput(format!(
                "{first:?} is a file, not a directory, on the branch the artifacts land on; the artifact directory would replace it (change artifact_dir, or move that file)"
            )));
        }
    }
    let oid = if rest.is_empty() {
        new
    } else {
        let child = match existing {
            Some(entry) => Some(
                repo.find_tree(entry.id())
                    .map_err(Error::git(format!("failed to read tree {first}")))?,
            ),
            None => None,
        };
        replace_subtree(repo, child.as_ref(), rest, new, written)?
    };
    builder
        .insert(first, oid, MODE_TREE)
        .map_err(|e| refused_name(first, e))?;
    let tree = builder
        .write()
        .map_err(Error::git("failed to write a tree"))?;
    written.push(tree);
    Ok(tree)
}

/// A name libgit2 would not put into a tree is the caller's input, not a git failure;
/// `pathcheck` refuses all of them first, so this is the wall behind it. libgit2 refuses
/// an entry with class `Tree` and no specific code; the id and mode given are the store's
/// own (a valid object, a regular mode), so a `Tree` refusal is the name.
fn refused_name(name: &str, e: git2::Error) -> Error {
    if e.class() == git2::ErrorClass::Tree {
        Error::InvalidInput(format!(
            "{name:?} cannot be a name in a git tree: {}",
            e.message()
        ))
    } else {
        Error::git(format!("failed to add {name} to a tree"))(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_entry_at_one_path_is_refused_never_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let blob = repo.blob(b"x\n").unwrap();
        let entry = |path: &str| (path.to_string(), blob, MODE_FILE);
        let write = |entries: &[(String, Oid, i32)]| write_tree(&repo, entries, &mut Vec::new());
        assert!(write(&[entry("a/b"), entry("c")]).is_ok());
        for entries in [
            vec![entry("metadata.json/r.csv"), entry("metadata.json")],
            vec![entry("metadata.json"), entry("metadata.json/r.csv")],
            vec![entry("a"), entry("a")],
            vec![entry("git~1/x")],
            vec![entry(".g\u{200c}it/x")],
            vec![entry(".git./x")],
        ] {
            let err = write(&entries).unwrap_err();
            assert_eq!(err.kind(), "invalid_input", "{entries:?}: {err}");
        }
        // Behind the validator, a name libgit2 refuses is still the caller's input.
        for name in ["git~1", ".git."] {
            let dir = BTreeMap::from([(name.to_string(), Node::Leaf(blob, MODE_FILE))]);
            let err = write_dir(&repo, &dir, &mut Vec::new()).unwrap_err();
            assert_eq!(err.kind(), "invalid_input", "{name:?}: {err}");
        }
        let base = repo
            .find_tree(write(&[entry("artifacts")]).unwrap())
            .unwrap();
        let new = write(&[entry("r.csv")]).unwrap();
        let err = replace_subtree(
            &repo,
            Some(&base),
            &["artifacts", "t"],
            new,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), "invalid_input", "{err}");
        let err = replace_subtree(&repo, None, &["GIT~1", "t"], new, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), "invalid_input", "{err}");
    }
}
