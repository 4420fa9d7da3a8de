//! Loose ref files: how many there are, and their values, to pack them when they pile up.

use std::path::Path;

use crate::git::ObjectId as Oid;

/// Loose ref files under `refs/` above which gc and commits pack them into `packed-refs`.
///
/// Every commit leaves a loose branch update and two loose tags; reading and editing refs
/// stays fast while most of them are packed. git's own `gc --auto` packs refs too, but
/// a store may never run it.
pub const LOOSE_REFS_PACK_THRESHOLD: usize = 1000;

/// Counts the loose ref files under `refs/` (lock files aside).
pub fn count_loose_refs(gitdir: &Path) -> usize {
    fn walk(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|entry| match entry.file_type() {
                Ok(t) if t.is_dir() => walk(&entry.path()),
                Ok(_) if !entry.file_name().to_string_lossy().ends_with(".lock") => 1,
                _ => 0,
            })
            .sum()
    }
    walk(&gitdir.join("refs"))
}

/// Calls `each` with the full name (`refs/...`) and the path of every file below the ref
/// directory `rel` (lock files included), recursively; names that are not UTF-8 are no ref
/// the store writes and are passed over.
pub(super) fn for_each_file(gitdir: &Path, rel: &str, each: &mut dyn FnMut(String, &Path)) {
    let Ok(entries) = std::fs::read_dir(gitdir.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let full = format!("{rel}/{name}");
        match entry.file_type() {
            Ok(t) if t.is_dir() => for_each_file(gitdir, &full, each),
            Ok(_) => each(full, &entry.path()),
            Err(_) => {}
        }
    }
}

/// Lists the loose direct refs under `refs/` with their values, for packing.
pub fn loose_refs(gitdir: &Path) -> Vec<(String, Oid)> {
    let mut out = Vec::new();
    for_each_file(gitdir, "refs", &mut |full, path| {
        if full.ends_with(".lock") {
            return;
        }
        if let Some(oid) = super::format::read_loose(path) {
            out.push((full, oid));
        }
    });
    out
}

/// Deletes the loose file of each ref (full name, value) that still holds that value, each
/// under its `<ref>.lock`; a ref whose lock is held, or that moved, stays. For refs
/// `packed-refs` already holds at that value. Returns how many went.
///
/// The lock is a hard link to the ref file: like a new file, `link` fails when the name
/// exists, so every git writer (which creates `<ref>.lock` exclusively) sees it as held,
/// but it allocates no inode, the costly part of creating a file here (20-30 µs against
/// 0.2-1 ms, `docs/performance.md`). The link carries the ref file's old mtime, so callers
/// hold the gc lock, under which committers never break a ref lock as stale
/// ([`super::lock`]).
pub fn prune(gitdir: &Path, refs: &[(String, Oid)]) -> usize {
    let mut pruned = 0;
    for (name, value) in refs {
        let file = gitdir.join(name);
        let lock = gitdir.join(format!("{name}.lock"));
        if std::fs::hard_link(&file, &lock).is_err() {
            continue;
        }
        let holds = super::format::read_loose(&file) == Some(*value);
        if holds && std::fs::remove_file(&file).is_ok() {
            pruned += 1;
        }
        let _ = std::fs::remove_file(&lock);
    }
    pruned
}

/// Names of the loose refs under `dir` (a ref directory such as `refs/x/`), and of the
/// refs whose `<ref>.lock` is held there: what other writers have put, or are putting, there.
pub fn names_under(gitdir: &Path, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_file(gitdir, dir.trim_end_matches('/'), &mut |full, _| {
        out.push(full.strip_suffix(".lock").unwrap_or(&full).to_string());
    });
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn prune_deletes_only_unlocked_refs_that_still_hold_the_packed_value() {
        let dir = tempfile::tempdir().unwrap();
        let a = Oid::from_str("1111111111111111111111111111111111111111").unwrap();
        let b = Oid::from_str("2222222222222222222222222222222222222222").unwrap();
        std::fs::create_dir_all(dir.path().join("refs/tags")).unwrap();
        for name in ["same", "moved", "locked"] {
            std::fs::write(
                dir.path().join(format!("refs/tags/{name}")),
                format!("{a}\n"),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("refs/tags/locked.lock"), "").unwrap();
        let refs = [
            ("refs/tags/same".to_string(), a),
            ("refs/tags/moved".to_string(), b),
            ("refs/tags/locked".to_string(), a),
            ("refs/tags/gone".to_string(), a),
        ];
        assert_eq!(prune(dir.path(), &refs), 1);
        let left: Vec<String> = loose_refs(dir.path()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&"refs/tags/moved".to_string()));
        assert!(left.contains(&"refs/tags/locked".to_string()));
        assert!(!dir.path().join("refs/tags/same.lock").exists());
        assert!(!dir.path().join("refs/tags/moved.lock").exists());
        assert!(
            dir.path().join("refs/tags/locked.lock").exists(),
            "another writer's lock stays"
        );
    }
}
