//! Loose ref files: how many there are, and their values, to pack them when they pile up.

use std::path::Path;

use git2::Oid;

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

/// Lists the loose direct refs under `refs/` with their values, for packing.
pub fn loose_refs(gitdir: &Path) -> Vec<(String, Oid)> {
    fn walk(gitdir: &Path, rel: &str, out: &mut Vec<(String, Oid)>) {
        let Ok(entries) = std::fs::read_dir(gitdir.join(rel)) else {
            return;
        };
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let full = format!("{rel}/{name}");
            match entry.file_type() {
                Ok(t) if t.is_dir() => walk(gitdir, &full, out),
                Ok(_) if !name.ends_with(".lock") => {
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    if let Ok(oid) = Oid::from_str(text.trim()) {
                        out.push((full, oid));
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(gitdir, "refs", &mut out);
    out
}

/// Deletes the loose file of each ref (full name, value) that still holds that value, each
/// under its `<ref>.lock` as every git writer takes it; a ref whose lock is held, or that
/// moved, stays. For refs `packed-refs` already holds at that value. Returns how many went.
pub fn prune(gitdir: &Path, refs: &[(String, Oid)]) -> usize {
    let mut pruned = 0;
    for (name, value) in refs {
        let file = gitdir.join(name);
        let lock = gitdir.join(format!("{name}.lock"));
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
            .is_err()
        {
            continue;
        }
        let holds = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| Oid::from_str(text.trim()).ok())
            == Some(*value);
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
    fn walk(gitdir: &Path, rel: &str, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(gitdir.join(rel)) else {
            return;
        };
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let full = format!("{rel}/{name}");
            match entry.file_type() {
                Ok(t) if t.is_dir() => walk(gitdir, &full, out),
                Ok(_) => out.push(full.strip_suffix(".lock").unwrap_or(&full).to_string()),
                Err(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(gitdir, dir.trim_end_matches('/'), &mut out);
    out.sort();
    out.dedup();
    out
}
