//! Paths inside a tree: validating `--path`, reading the entry there, splicing one
//! tree's entry into another, in the object database only, and refusing a tree that git
//! would call broken before it lands on a branch or in a worktree.

use std::collections::HashSet;
use std::path::Path;

use git2::{ObjectType, Repository, Tree};

use super::tree::MODE_TREE;
use super::ObjectId;
use crate::error::{Error, Result};

/// Refuses `tree` when an entry anywhere in it is named `.`, `..` or `.git` (any case),
/// holds a `/`, or shares its name with another entry of its tree: what `git fsck`
/// rejects and what would send a checkout outside the worktree or fail it half-way.
/// Such a tree can only come from a hostile push or fetch; the store never writes one.
/// Subtrees the target already holds at the same path (`old`, its tip's tree) are not
/// looked into, so the cost follows what the revert changes, not the size of the branch.
pub(crate) fn check_sane(
    repo: &Repository,
    tree: ObjectId,
    old: ObjectId,
    tag: &str,
) -> Result<()> {
    let refuse = |path: &str, why: &str| {
        Error::InvalidInput(format!(
            "{tag} holds a tree git refuses: {path:?} {why}; nothing was changed"
        ))
    };
    let mut seen = HashSet::new();
    let read = |oid: ObjectId| {
        repo.find_tree(oid.into())
            .map_err(Error::git(format!("failed to read tree {oid}")))
    };
    let mut stack = vec![(tree, Some(old), String::new())];
    while let Some((oid, old, dir)) = stack.pop() {
        if old == Some(oid) || !seen.insert(oid) {
            continue;
        }
        let tree = read(oid)?;
        let old = old.map(read).transpose()?;
        let mut names = HashSet::new();
        for entry in tree.iter() {
            let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
            let path = format!("{dir}{name}");
            if name.is_empty()
                || name == "."
                || name == ".."
                || name.eq_ignore_ascii_case(".git")
                || name.contains('/')
            {
                return Err(refuse(&path, "is not a valid entry name"));
            }
            if !names.insert(name) {
                return Err(refuse(&path, "appears twice in its directory"));
            }
            if entry.kind() == Some(ObjectType::Tree) {
                let before = old
                    .as_ref()
                    .and_then(|t| t.get_name_bytes(entry.name_bytes()))
                    .filter(|e| e.kind() == Some(ObjectType::Tree))
                    .map(|e| ObjectId::from(e.id()));
                stack.push((entry.id().into(), before, format!("{path}/")));
            }
        }
    }
    Ok(())
}

/// One tree entry: its object and git file mode.
pub(crate) type Entry = (ObjectId, i32);

/// Normalizes a `--path`: `/`-separated, no empty, `.`, `..` or `.git` parts, not the root.
pub(crate) fn normalize(given: &str) -> Result<String> {
    let invalid = |reason: &str| Error::InvalidPath {
        path: given.into(),
        reason: reason.to_string(),
    };
    if given.contains('\0') || given.contains('\\') {
        return Err(invalid("a path in the tree uses '/' and has no NUL"));
    }
    let mut parts = Vec::new();
    for part in given.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Err(invalid("a path in the tree has no '..' parts")),
            p if p.eq_ignore_ascii_case(".git") => {
                return Err(invalid("git trees hold no .git entries"))
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(invalid(
            "this is the whole tree; leave out --path to restore it all",
        ));
    }
    Ok(parts.join("/"))
}

/// Returns the entry at `path` in the tree `tree`, or `None` when there is none.
pub(crate) fn entry_at(repo: &Repository, tree: ObjectId, path: &str) -> Result<Option<Entry>> {
    let tree = repo
        .find_tree(tree.into())
        .map_err(Error::git(format!("failed to read tree {tree}")))?;
    match tree.get_path(Path::new(path)) {
        Ok(entry) => Ok(Some((entry.id().into(), entry.filemode()))),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(Error::git(format!("failed to look up {path}"))(e)),
    }
}

/// Returns a copy of `base` with `entry` at `path` (or nothing there, for `None`),
/// recording the trees written. Directories left empty by a removal are removed too.
pub(crate) fn splice(
    repo: &Repository,
    base: ObjectId,
    path: &str,
    entry: Option<Entry>,
    written: &mut Vec<ObjectId>,
) -> Result<ObjectId> {
    let base = repo
        .find_tree(base.into())
        .map_err(Error::git(format!("failed to read tree {base}")))?;
    let parts: Vec<&str> = path.split('/').collect();
    match splice_in(repo, Some(&base), &parts, entry, written)? {
        Some(oid) => Ok(oid),
        None => {
            let empty = repo
                .treebuilder(None)
                .and_then(|b| b.write())
                .map_err(Error::git("failed to write an empty tree"))?;
            written.push(empty.into());
            Ok(empty.into())
        }
    }
}

/// Splices below one directory level; `None` means the directory ended up empty.
fn splice_in(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    parts: &[&str],
    entry: Option<Entry>,
    written: &mut Vec<ObjectId>,
) -> Result<Option<ObjectId>> {
    let (first, rest) = parts
        .split_first()
        .expect("normalize leaves at least one part");
    let mut builder = repo
        .treebuilder(base)
        .map_err(Error::git("failed to start a tree"))?;
    let existing = base.and_then(|t| t.get_name(first));
    let replacement = if rest.is_empty() {
        entry
    } else {
        let child = match &existing {
            Some(e) if e.kind() == Some(ObjectType::Tree) => Some(
                repo.find_tree(e.id())
                    .map_err(Error::git(format!("failed to read tree {first}")))?,
            ),
            _ => None,
        };
        if child.is_none() && entry.is_none() {
            // Nothing to remove below a path that is not a directory here.
            return write(builder, written).map(Some);
        }
        splice_in(repo, child.as_ref(), rest, entry, written)?.map(|oid| (oid, MODE_TREE))
    };
    match replacement {
        Some((oid, mode)) => {
            builder
                .insert(first, oid.into(), mode)
                .map_err(Error::git(format!("failed to add {first} to a tree")))?;
        }
        None if existing.is_some() => {
            builder
                .remove(first)
                .map_err(Error::git(format!("failed to remove {first} from a tree")))?;
        }
        None => {}
    }
    if builder.is_empty() {
        return Ok(None);
    }
    write(builder, written).map(Some)
}

fn write(builder: git2::TreeBuilder<'_>, written: &mut Vec<ObjectId>) -> Result<ObjectId> {
    let oid = builder
        .write()
        .map_err(Error::git("failed to write a tree"))?;
    written.push(oid.into());
    Ok(oid.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tree::{write_tree, MODE_FILE};

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        (dir, repo)
    }

    fn tree_of(repo: &Repository, files: &[(&str, &str)]) -> ObjectId {
        let entries: Vec<(String, ObjectId, i32)> = files
            .iter()
            .map(|(p, c)| {
                let blob = repo.blob(c.as_bytes()).unwrap().into();
                (p.to_string(), blob, MODE_FILE)
            })
            .collect();
        write_tree(repo, &entries, &mut Vec::new()).unwrap()
    }

    #[test]
    fn paths_are_normalized_and_escapes_refused() {
        assert_eq!(normalize("./a//b/").unwrap(), "a/b");
        for bad in ["", "/", ".", "a/../b", ".git/config", "a/.GIT", "a\\b"] {
            assert!(normalize(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn splicing_replaces_one_path_and_keeps_the_rest() {
        let (_dir, repo) = repo();
        let base = tree_of(&repo, &[("keep.txt", "k"), ("a/x", "1"), ("a/y", "2")]);
        let other = tree_of(&repo, &[("keep.txt", "other"), ("a/x", "9")]);
        let entry = entry_at(&repo, other, "a").unwrap();
        let spliced = splice(&repo, base, "a", entry, &mut Vec::new()).unwrap();
        assert_eq!(entry_at(&repo, spliced, "a").unwrap(), entry);
        assert_eq!(
            entry_at(&repo, spliced, "keep.txt").unwrap(),
            entry_at(&repo, base, "keep.txt").unwrap()
        );
    }

    #[test]
    fn removing_the_last_entry_removes_emptied_directories() {
        let (_dir, repo) = repo();
        let base = tree_of(&repo, &[("keep.txt", "k"), ("a/b/x", "1")]);
        let spliced = splice(&repo, base, "a/b/x", None, &mut Vec::new()).unwrap();
        assert!(entry_at(&repo, spliced, "a").unwrap().is_none());
        assert_eq!(repo.find_tree(spliced.into()).unwrap().len(), 1);
        let only = tree_of(&repo, &[("x", "1")]);
        let empty = splice(&repo, only, "x", None, &mut Vec::new()).unwrap();
        assert_eq!(repo.find_tree(empty.into()).unwrap().len(), 0);
    }

    #[test]
    fn removing_below_a_file_leaves_the_file() {
        let (_dir, repo) = repo();
        let base = tree_of(&repo, &[("a", "file")]);
        let spliced = splice(&repo, base, "a/b", None, &mut Vec::new()).unwrap();
        assert_eq!(spliced, base);
    }
}
