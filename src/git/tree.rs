//! Builds trees in the object database, with no index and no worktree.

use std::collections::BTreeMap;

use git2::{Oid, Repository, Tree};

use super::{ObjectId, Signature};
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
    entries: &[(String, ObjectId, i32)],
    written: &mut Vec<ObjectId>,
) -> Result<ObjectId> {
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
            .insert((*last).to_string(), Node::Leaf((*oid).into(), *mode))
            .is_some()
        {
            // Never drop what was there: a second entry at one path is a caller's error.
            return Err(Error::InvalidInput(format!(
                "artifact path {path:?} is given twice, or is both a file and a directory"
            )));
        }
    }
    write_dir(repo, &root, written).map(ObjectId::from)
}

fn write_dir(
    repo: &Repository,
    dir: &BTreeMap<String, Node>,
    written: &mut Vec<ObjectId>,
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
    written.push(oid.into());
    Ok(oid)
}

/// Returns a copy of the tree `base` whose entry at `path` is the tree `new`, replacing
/// whatever was there.
pub fn replace_subtree(
    repo: &Repository,
    base: Option<ObjectId>,
    path: &[&str],
    new: ObjectId,
    written: &mut Vec<ObjectId>,
) -> Result<ObjectId> {
    let base = base
        .map(|id| repo.find_tree(id.into()))
        .transpose()
        .map_err(Error::git("failed to read the parent tree"))?;
    replace_in(repo, base.as_ref(), path, new.into(), written).map(ObjectId::from)
}

fn replace_in(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    path: &[&str],
    new: Oid,
    written: &mut Vec<ObjectId>,
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
        replace_in(repo, child.as_ref(), rest, new, written)?
    };
    builder
        .insert(first, oid, MODE_TREE)
        .map_err(|e| refused_name(first, e))?;
    let tree = builder
        .write()
        .map_err(Error::git("failed to write a tree"))?;
    written.push(tree.into());
    Ok(tree)
}

/// Writes a commit of `tree` with `parents`, by `sig` as author and committer, and
/// records it in `written`.
pub fn write_commit(
    repo: &Repository,
    tree: ObjectId,
    parents: &[ObjectId],
    sig: &Signature,
    message: &str,
    written: &mut Vec<ObjectId>,
) -> Result<ObjectId> {
    let tree = repo
        .find_tree(tree.into())
        .map_err(Error::git("failed to read the new tree"))?;
    let parents = parents
        .iter()
        .map(|id| repo.find_commit(id.into()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::git("failed to read the parent commit"))?;
    let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
    let sig = sig.raw()?;
    let commit = repo
        .commit(None, &sig, &sig, message, &tree, &parents)
        .map_err(Error::git("failed to write the commit"))?;
    written.push(commit.into());
    Ok(commit.into())
}

/// Writes a copy of tree `base` (an empty tree for `None`) with blob `blob` added under
/// the first name `name(1)`, `name(2)`, ... it does not hold yet; returns the tree and
/// the name used.
pub fn add_blob_new_name(
    repo: &Repository,
    base: Option<ObjectId>,
    name: impl Fn(u32) -> String,
    blob: ObjectId,
) -> Result<(ObjectId, String)> {
    let base = base
        .map(|id| repo.find_tree(id.into()))
        .transpose()
        .map_err(Error::git("failed to read the last report"))?;
    let mut builder = repo
        .treebuilder(base.as_ref())
        .map_err(Error::git("failed to build the report tree"))?;
    let mut n = 1;
    let file = loop {
        let file = name(n);
        n += 1;
        let taken = builder
            .get(&file)
            .map_err(Error::git("failed to build the report tree"))?
            .is_some();
        if !taken {
            break file;
        }
    };
    builder
        .insert(&file, blob.into(), MODE_FILE)
        .map_err(Error::git("failed to build the report tree"))?;
    let tree = builder
        .write()
        .map_err(Error::git("failed to write the report tree"))?;
    Ok((tree.into(), file))
}

/// The tree of commit `commit`.
pub fn commit_tree(repo: &Repository, commit: ObjectId) -> Result<ObjectId> {
    repo.find_commit(commit.into())
        .map(|c| c.tree_id().into())
        .map_err(Error::git("failed to read the parent commit"))
}

/// A blob found under a tree by [`list_blobs`].
#[derive(Debug, Clone)]
pub struct BlobEntry {
    /// Path relative to the tree listed, `/`-separated.
    pub path: String,
    /// Size in bytes, from the blob's header.
    pub size: u64,
    /// Git file mode (`100644`, `100755`, `120000`).
    pub mode: i32,
    /// Blob id.
    pub id: ObjectId,
}

/// Returns the tree at `dir` under the root tree `root` of commit `commit`, `None` when
/// there is no tree by that path; an object on the way that cannot be read is a corrupt
/// store, named with its path.
pub fn subtree(
    repo: &Repository,
    commit: ObjectId,
    root: ObjectId,
    dir: &str,
) -> Result<Option<ObjectId>> {
    let mut tree = repo.find_tree(root.into()).map_err(|e| {
        Error::corrupt_object(&format!("tree of commit {commit}"), "tree", root, &e)
    })?;
    let mut at = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(part);
        let Some(entry) = tree.get_name(part) else {
            return Ok(None);
        };
        if entry.kind() != Some(git2::ObjectType::Tree) {
            return Ok(None);
        }
        let id = entry.id();
        drop(entry);
        tree = repo
            .find_tree(id)
            .map_err(|e| Error::corrupt_object(&at, "tree", id, &e))?;
    }
    Ok(Some(tree.id().into()))
}

/// Returns the id and kind of the entry `name` of tree `tree` (at `dir`, for errors).
pub fn entry(
    repo: &Repository,
    tree: ObjectId,
    dir: &str,
    name: &str,
) -> Result<Option<(ObjectId, Option<super::ObjectKind>)>> {
    let tree = repo
        .find_tree(tree.into())
        .map_err(|e| Error::corrupt_object(dir, "tree", tree, &e))?;
    Ok(tree
        .get_name(name)
        .map(|e| (e.id().into(), super::ObjectKind::from_raw(e.kind()))))
}

/// Lists every blob under tree `tree` (at `dir` in the commit, for errors), depth first in
/// tree order; every tree under it is read and every blob's header, so an object that is
/// missing or cannot be read is [`Error::Corrupt`], named by its path and id.
pub fn list_blobs(repo: &Repository, tree: ObjectId, dir: &str) -> Result<Vec<BlobEntry>> {
    let root = repo
        .find_tree(tree.into())
        .map_err(|e| Error::corrupt_object(dir, "tree", tree, &e))?;
    let odb = repo
        .odb()
        .map_err(Error::git("failed to open the object database"))?;
    let mut out = Vec::new();
    collect_blobs(repo, &odb, &root, dir, "", &mut out)?;
    Ok(out)
}

/// Checks that every object under the entry `id` (a tree or a blob, mode `mode`) is in the
/// object database, naming the first one missing by `label` and its path below it.
pub fn check_present(repo: &Repository, id: ObjectId, mode: i32, label: &str) -> Result<()> {
    if mode == 0o040000 {
        return list_blobs(repo, id, label).map(|_| ());
    }
    if mode == 0o160000 {
        // A submodule's commit lives in another repository.
        return Ok(());
    }
    let odb = repo
        .odb()
        .map_err(Error::git("failed to open the object database"))?;
    odb.read_header(id.into())
        .map(|_| ())
        .map_err(|e| Error::corrupt_object(label, "blob", id, &e))
}

fn collect_blobs(
    repo: &Repository,
    odb: &git2::Odb<'_>,
    tree: &Tree<'_>,
    dir: &str,
    rel: &str,
    out: &mut Vec<BlobEntry>,
) -> Result<()> {
    for entry in tree.iter() {
        let name = String::from_utf8_lossy(entry.name_bytes());
        let path = format!("{rel}{name}");
        let full = format!("{dir}/{path}");
        let id = entry.id();
        match entry.kind() {
            Some(git2::ObjectType::Tree) => {
                let sub = repo
                    .find_tree(id)
                    .map_err(|e| Error::corrupt_object(&full, "tree", id, &e))?;
                collect_blobs(repo, odb, &sub, dir, &format!("{path}/"), out)?;
            }
            Some(git2::ObjectType::Blob) => {
                let (size, _) = odb
                    .read_header(id)
                    .map_err(|e| Error::corrupt_object(&full, "blob", id, &e))?;
                out.push(BlobEntry {
                    path,
                    size: size as u64,
                    mode: entry.filemode(),
                    id: id.into(),
                });
            }
            _ => {}
        }
    }
    Ok(())
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
        let raw_blob = repo.blob(b"x\n").unwrap();
        let blob = ObjectId::from(raw_blob);
        let entry = |path: &str| (path.to_string(), blob, MODE_FILE);
        let write =
            |entries: &[(String, ObjectId, i32)]| write_tree(&repo, entries, &mut Vec::new());
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
            let dir = BTreeMap::from([(name.to_string(), Node::Leaf(raw_blob, MODE_FILE))]);
            let err = write_dir(&repo, &dir, &mut Vec::new()).unwrap_err();
            assert_eq!(err.kind(), "invalid_input", "{name:?}: {err}");
        }
        let base = write(&[entry("artifacts")]).unwrap();
        let new = write(&[entry("r.csv")]).unwrap();
        let err = replace_subtree(&repo, Some(base), &["artifacts", "t"], new, &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), "invalid_input", "{err}");
        let err = replace_subtree(&repo, None, &["GIT~1", "t"], new, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), "invalid_input", "{err}");
    }
}
