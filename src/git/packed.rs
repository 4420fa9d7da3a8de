//! Writes refs straight into `packed-refs`, under `packed-refs.lock`, with no `<ref>.lock`
//! per ref.
//!
//! A ref transaction (gix-ref's as git's) creates a lock file for every ref it edits, and
//! creating a file is the dominant cost of a bulk edit (docs/performance.md). For names
//! that only one process at a time writes (the trash, under the store's gc lock) that
//! per-ref lock protects nothing, so [`add`] merges them into `packed-refs` in one rewrite,
//! under the lock every writer of `packed-refs` takes (git, libgit2, gix-ref). A name the
//! file already holds is never overwritten; a loose ref of the same name is the caller's to
//! look for ([`super::loose::names_under`]). [`remove`] takes entries out again, each only
//! while it still holds the value given.
//!
//! A `packed-refs.lock` older than the stale bound is taken as left by a killed bulk writer
//! and removed first ([`super::locks`]): callers hold the gc lock.
//!
//! The file is read after the lock is taken, its lines are kept byte for byte, the result
//! is sorted by name, and annotated tags get their `^<peeled>` line, so git, libgit2 and
//! gix-ref read it as they read their own.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use std::str::FromStr;

use git2::Repository;

use super::ObjectId as Oid;

use super::locks::BulkLocks;
use crate::error::{Error, Result};

/// How the file says it is written, when it says nothing: the header git writes.
const DEFAULT_HEADER: &[u8] = b"# pack-refs with: peeled fully-peeled sorted ";

/// A ref for [`add`] to write.
#[derive(Debug, Clone)]
pub struct NewRef {
    /// Full ref name.
    pub name: String,
    /// What it names.
    pub value: Oid,
    /// A ref holding the same value, whose `^<peeled>` line (or its absence, when the file
    /// says it records every peel) `packed-refs` may already have: no object read then.
    pub copy_of: Option<String>,
}

/// Adds `refs` to `packed-refs` in one rewrite. Returns, in the order of `refs`, whether
/// each was written (`false`: `packed-refs` already holds that name, or a ref whose name is
/// a directory of it or has it as a directory, and is left as it is).
pub fn add(repo: &Repository, refs: &[NewRef], locks: BulkLocks) -> Result<Vec<bool>> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let mut order: Vec<usize> = (0..refs.len()).collect();
    order.sort_by(|a, b| refs[*a].name.cmp(&refs[*b].name));
    let names: HashSet<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    if names.len() < refs.len() {
        return Err(Error::InvalidInput(
            "a ref is given twice for packed-refs".to_string(),
        ));
    }
    for NewRef { name, .. } in refs {
        gix_ref::FullName::try_from(name.as_str())
            .map_err(|e| Error::InvalidInput(format!("{name:?} is not a valid ref name ({e})")))?;
        let mut dirs = name.match_indices('/').map(|(i, _)| &name[..i]);
        if let Some(dir) = dirs.find(|d| names.contains(d)) {
            return Err(Error::InvalidInput(format!(
                "{dir} and {name} cannot both be refs"
            )));
        }
    }
    let odb = repo
        .odb()
        .map_err(Error::git("failed to open the object database"))?;
    rewrite(repo.commondir(), locks, |table| {
        let mut written = vec![false; refs.len()];
        let mut new = Vec::with_capacity(refs.len());
        let mut ancestors = HashMap::new();
        for &i in &order {
            let NewRef {
                name,
                value,
                copy_of,
            } = &refs[i];
            if table.in_the_way(name.as_bytes(), &mut ancestors) {
                continue;
            }
            let known = copy_of
                .as_deref()
                .and_then(|source| table.known_peel(source, *value));
            let peeled = match known {
                Some(peeled) => peeled,
                None => peel(&odb, *value, name)?,
            };
            let hex = value.to_string();
            let mut text = format!("{hex} {name}\n");
            if let Some(peeled) = peeled {
                text.push_str(&format!("^{peeled}\n"));
            }
            new.push(Record::new(Cow::Owned(text.into_bytes()), hex.len()));
            written[i] = true;
        }
        let changed = !new.is_empty();
        table.merge(new);
        Ok((written, changed))
    })
}

/// Removes from `packed-refs` every entry of `refs` (full name, value) that it holds at
/// that value, in one rewrite; entries holding anything else, and loose refs, stay.
/// Returns how many were removed.
pub fn remove(repo: &Repository, refs: &[(String, Oid)], locks: BulkLocks) -> Result<usize> {
    if refs.is_empty() {
        return Ok(0);
    }
    let wanted: HashMap<&[u8], Oid> = refs.iter().map(|(n, o)| (n.as_bytes(), *o)).collect();
    rewrite(repo.commondir(), locks, |table| {
        let before = table.records.len();
        table.records.retain(|r| {
            wanted
                .get(r.name())
                .is_none_or(|expected| r.value() != Some(*expected))
        });
        let removed = before - table.records.len();
        Ok((removed, removed > 0))
    })
}

/// Packs every loose direct ref under `refs/`, as `git pack-refs --all --prune` does: their
/// values go into `packed-refs` in one rewrite (replacing what a name held there), then
/// each loose file that still holds the value packed is deleted under its `<ref>.lock`. A
/// ref another writer holds or moved meanwhile stays loose, and so does one whose name a
/// packed ref is in the way of. Returns how many loose files were deleted. The caller
/// holds the gc lock ([`super::loose::prune`] says why).
pub fn pack_loose(repo: &Repository, locks: BulkLocks) -> Result<usize> {
    let mut loose = super::loose::loose_refs(repo.commondir());
    if loose.is_empty() {
        return Ok(0);
    }
    loose.sort();
    let written = store_values(repo, &loose, locks)?;
    let packed: Vec<(String, Oid)> = loose
        .into_iter()
        .zip(written)
        .filter_map(|(r, w)| w.then_some(r))
        .collect();
    Ok(super::loose::prune(repo.commondir(), &packed))
}

/// Writes `refs` (full name, value; sorted by name, each once) into `packed-refs` in one
/// rewrite, replacing the value a name held. Returns, in order, whether each is there now.
fn store_values(repo: &Repository, refs: &[(String, Oid)], locks: BulkLocks) -> Result<Vec<bool>> {
    let odb = repo
        .odb()
        .map_err(Error::git("failed to open the object database"))?;
    rewrite(repo.commondir(), locks, |table| {
        let mut written = vec![false; refs.len()];
        let mut new = Vec::new();
        let mut changed = false;
        let mut ancestors = HashMap::new();
        for (i, (name, value)) in refs.iter().enumerate() {
            let existing = table.find(name.as_bytes());
            if existing.is_some_and(|at| table.records[at].value() == Some(*value)) {
                written[i] = true;
                continue;
            }
            if existing.is_none() && table.in_the_way(name.as_bytes(), &mut ancestors) {
                continue;
            }
            let peeled = match odb.read_header((*value).into()) {
                Ok((_, git2::ObjectType::Tag)) => peel(&odb, *value, name)?,
                Ok(_) => None,
                Err(e) => {
                    return Err(Error::git(format!(
                        "failed to read object {value}, which {name} holds"
                    ))(e))
                }
            };
            let hex = value.to_string();
            let mut text = format!("{hex} {name}\n");
            if let Some(peeled) = peeled {
                text.push_str(&format!("^{peeled}\n"));
            }
            let record = Record::new(Cow::Owned(text.into_bytes()), hex.len());
            match existing {
                Some(at) => table.records[at] = record,
                None => new.push(record),
            }
            written[i] = true;
            changed = true;
        }
        table.merge(new);
        Ok((written, changed))
    })
}

/// Returns what `oid` finally names when it is an annotated tag (`None` for anything else).
fn peel(odb: &git2::Odb<'_>, oid: Oid, name: &str) -> Result<Option<Oid>> {
    let mut next = oid;
    for _ in 0..64 {
        let object = odb.read(next.into()).map_err(Error::git(format!(
            "failed to read object {next}, which {name} is to hold"
        )))?;
        if object.kind() != git2::ObjectType::Tag {
            return Ok((next != oid).then_some(next));
        }
        let target = gix_object::TagRefIter::from_bytes(object.data(), gix_hash::Kind::Sha1)
            .target_id()
            .ok()
            .and_then(|id| Oid::from_bytes(id.as_bytes()).ok())
            .ok_or_else(|| Error::Corrupt {
                message: format!("tag object {next}, which {name} is to hold, names no target"),
            })?;
        next = target;
    }
    Err(Error::Corrupt {
        message: format!("the tag objects behind {name} nest more than 64 deep or form a loop"),
    })
}

/// One ref of `packed-refs`: its lines (`<hex> <name>` and any `^<peeled>` line).
struct Record<'a> {
    text: Cow<'a, [u8]>,
    /// Where the name ends (the name starts after the space at `hex_len`).
    name_end: usize,
    hex_len: usize,
}

impl<'a> Record<'a> {
    fn new(text: Cow<'a, [u8]>, hex_len: usize) -> Record<'a> {
        let name_end = text.iter().position(|b| *b == b'\n').unwrap_or(text.len());
        Record {
            text,
            name_end,
            hex_len,
        }
    }

    fn name(&self) -> &[u8] {
        &self.text[self.hex_len + 1..self.name_end]
    }

    fn value(&self) -> Option<Oid> {
        Oid::from_str(std::str::from_utf8(&self.text[..self.hex_len]).ok()?).ok()
    }

    /// The object of its `^` line, when it has one.
    fn peeled_line(&self) -> Option<Oid> {
        let line = self.text.get(self.name_end + 1..)?.strip_prefix(b"^")?;
        let hex = line.strip_suffix(b"\n").unwrap_or(line);
        Oid::from_str(std::str::from_utf8(hex).ok()?).ok()
    }
}

/// `packed-refs` as read under its lock: the header line and the refs, sorted by name.
struct Table<'a> {
    header: Vec<u8>,
    records: Vec<Record<'a>>,
    /// The header says every annotated tag has its `^` line.
    fully_peeled: bool,
    /// The header says every annotated tag under `refs/tags/` has its `^` line.
    tags_peeled: bool,
}

impl<'a> Table<'a> {
    fn parse(bytes: &'a [u8], path: &Path) -> Result<Table<'a>> {
        let mut header = match bytes.is_empty() {
            true => DEFAULT_HEADER.to_vec(),
            // A file without a header promises nothing about peeling or order.
            false => b"# pack-refs with:".to_vec(),
        };
        let mut records: Vec<Record<'a>> = Vec::new();
        let mut sorted = true;
        let mut at = 0;
        let mut line_no = 0;
        while at < bytes.len() {
            let end = bytes[at..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |i| at + i + 1);
            let line = &bytes[at..end];
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            line_no += 1;
            let unreadable = || {
                Error::corrupt_file(
                    path,
                    format_args!(
                        "line {line_no} is not a ref, a peeled line or the header; nothing was written"
                    ),
                )
            };
            if line_no == 1 && content.starts_with(b"# pack-refs with:") {
                header = content.to_vec();
            } else if content.first() == Some(&b'^') {
                let last = records.last_mut().ok_or_else(unreadable)?;
                let start = at - last.text.len();
                last.text = Cow::Borrowed(&bytes[start..end]);
            } else {
                let space = content
                    .iter()
                    .position(|b| *b == b' ')
                    .filter(|i| *i >= 40 && *i + 1 < content.len())
                    .ok_or_else(unreadable)?;
                let record = Record::new(Cow::Borrowed(line), space);
                if records.last().is_some_and(|r| r.name() >= record.name()) {
                    sorted = false;
                }
                records.push(record);
            }
            at = end;
        }
        if !sorted {
            records.sort_by(|a, b| a.name().cmp(b.name()));
        }
        let fully_peeled = contains_trait(&header, b"fully-peeled");
        let tags_peeled = contains_trait(&header, b"peeled");
        if !contains_trait(&header, b"sorted") {
            if header.last() != Some(&b' ') {
                header.push(b' ');
            }
            header.extend_from_slice(b"sorted ");
        }
        Ok(Table {
            header,
            records,
            fully_peeled,
            tags_peeled,
        })
    }

    fn find(&self, name: &[u8]) -> Option<usize> {
        self.records.binary_search_by(|r| r.name().cmp(name)).ok()
    }

    /// What `source` peels to when the table records it at `value`: `Some(None)` for
    /// a ref known not to be an annotated tag, `None` when the table cannot tell.
    fn known_peel(&self, source: &str, value: Oid) -> Option<Option<Oid>> {
        let record = &self.records[self.find(source.as_bytes())?];
        if record.value() != Some(value) {
            return None;
        }
        match record.peeled_line() {
            Some(peeled) => Some(Some(peeled)),
            None if self.fully_peeled || (self.tags_peeled && source.starts_with("refs/tags/")) => {
                Some(None)
            }
            None => None,
        }
    }

    /// Whether the table holds `name`, a ref named like one of its directories, or a ref
    /// under `name/`; `ancestors` caches the directory lookups across calls.
    fn in_the_way(&self, name: &[u8], ancestors: &mut HashMap<Vec<u8>, bool>) -> bool {
        if self.find(name).is_some() {
            return true;
        }
        let mut under = name.to_vec();
        under.push(b'/');
        let at = self
            .records
            .partition_point(|r| r.name() < under.as_slice());
        if self
            .records
            .get(at)
            .is_some_and(|r| r.name().starts_with(&under))
        {
            return true;
        }
        name.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .any(|(i, _)| {
                let dir = &name[..i];
                match ancestors.get(dir) {
                    Some(held) => *held,
                    None => {
                        let held = self.find(dir).is_some();
                        ancestors.insert(dir.to_vec(), held);
                        held
                    }
                }
            })
    }

    /// Merges `new` (sorted by name, no name the table holds) into the table.
    fn merge(&mut self, new: Vec<Record<'a>>) {
        if new.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.records);
        let mut merged = Vec::with_capacity(old.len() + new.len());
        let (mut old, mut new) = (old.into_iter().peekable(), new.into_iter().peekable());
        loop {
            let take_old = match (old.peek(), new.peek()) {
                (Some(o), Some(n)) => o.name() < n.name(),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = match take_old {
                true => old.next(),
                false => new.next(),
            };
            merged.extend(next);
        }
        self.records = merged;
    }

    fn to_bytes(&self) -> Vec<u8> {
        let size = self.records.iter().map(|r| r.text.len() + 1).sum::<usize>();
        let mut out = Vec::with_capacity(self.header.len() + 1 + size);
        out.extend_from_slice(&self.header);
        out.push(b'\n');
        for record in &self.records {
            out.extend_from_slice(&record.text);
            if out.last() != Some(&b'\n') {
                out.push(b'\n');
            }
        }
        out
    }
}

fn contains_trait(header: &[u8], name: &[u8]) -> bool {
    header
        .strip_prefix(b"# pack-refs with:")
        .unwrap_or(header)
        .split(|b| *b == b' ')
        .any(|word| word == name)
}

/// Locks `packed-refs`, reads it, lets `edit` change the table (it returns its result and
/// whether anything changed), and writes the file back when something did.
fn rewrite<T>(
    gitdir: &Path,
    locks: BulkLocks,
    edit: impl for<'a> FnOnce(&mut Table<'a>) -> Result<(T, bool)>,
) -> Result<T> {
    let path = gitdir.join("packed-refs");
    super::locks::clear_stale(gitdir, ["packed-refs"], locks)?;
    let mut lock = gix_lock::File::acquire_to_update_resource(
        &path,
        gix_lock::acquire::Fail::from(locks.timeout),
        None,
        0,
    )
    .map_err(|source| lock_error(&path, source))?;
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("failed to read", path)(e)),
    };
    let mut table = Table::parse(&bytes, &path)?;
    let (result, changed) = edit(&mut table)?;
    if changed {
        let text = table.to_bytes();
        lock.with_mut(|file| file.write_all(&text))
            .map_err(Error::io("failed to write", lock_path(&path)))?;
        lock.commit()
            .map_err(|e| Error::io("failed to replace", path.clone())(e.error))?;
    }
    Ok(result)
}

fn lock_path(path: &Path) -> PathBuf {
    path.with_extension("lock")
}

fn lock_error(path: &Path, source: gix_error::Error) -> Error {
    let lock = lock_path(path);
    match lock.exists() {
        true => Error::Locked {
            refname: "packed-refs".to_string(),
            lock,
        },
        false => Error::RefTransaction {
            context: format!("failed to lock {}", path.display()),
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NOW: BulkLocks = BulkLocks {
        timeout: Duration::ZERO,
        stale_after: None,
    };

    fn new(name: &str, value: Oid) -> NewRef {
        NewRef {
            name: name.to_string(),
            value,
            copy_of: None,
        }
    }

    fn repo() -> (tempfile::TempDir, Repository, Oid, Oid) {
        let (dir, repo, commit) = crate::git::testing::repo_with_commit();
        let sig = git2::Signature::new("t", "t@example.invalid", &git2::Time::new(1, 0)).unwrap();
        let object = repo.find_object(commit, None).unwrap();
        let tag = repo
            .tag_annotation_create("v1", &object, &sig, "v1\n")
            .unwrap();
        drop(object);
        (dir, repo, commit.into(), tag.into())
    }

    #[test]
    fn added_refs_are_sorted_in_peeled_and_never_overwrite() {
        let (dir, repo, commit, tag) = repo();
        let other = Oid::from_str("1111111111111111111111111111111111111111").unwrap();
        std::fs::write(
            dir.path().join("packed-refs"),
            format!("# pack-refs with: peeled fully-peeled \n{commit} refs/heads/z\n{tag} refs/tags/a\n^{commit}\n"),
        )
        .unwrap();
        let refs = vec![
            new("refs/trash/tag", tag),
            new("refs/heads/z", other),
            new("refs/heads/a", commit),
            new("refs/tags/a/under", commit),
        ];
        let written = add(&repo, &refs, NOW).unwrap();
        assert_eq!(written, [true, false, true, false]);
        let under = [new("refs/trash", commit)];
        assert_eq!(add(&repo, &under, NOW).unwrap(), [false]);

        let text = std::fs::read_to_string(dir.path().join("packed-refs")).unwrap();
        assert_eq!(
            text,
            format!(
                "# pack-refs with: peeled fully-peeled sorted \n{commit} refs/heads/a\n\
                 {commit} refs/heads/z\n{tag} refs/tags/a\n^{commit}\n{tag} refs/trash/tag\n^{commit}\n"
            )
        );
        assert_eq!(repo.refname_to_id("refs/heads/z").unwrap(), commit);
        let peeled = repo
            .find_reference("refs/trash/tag")
            .unwrap()
            .peel_to_commit()
            .unwrap();
        assert_eq!(peeled.id(), commit);
        assert!(!dir.path().join("packed-refs.lock").exists());

        // A copy takes its peel from its source's line (here one no object backs, to show
        // nothing was read), or reads the object when the source holds something else.
        let fake = Oid::from_str("2222222222222222222222222222222222222222").unwrap();
        let packed = dir.path().join("packed-refs");
        let text = std::fs::read_to_string(&packed).unwrap();
        std::fs::write(
            &packed,
            text.replace(
                &format!("refs/tags/a\n^{commit}"),
                &format!("refs/tags/a\n^{fake}"),
            ),
        )
        .unwrap();
        let copies = [
            NewRef {
                copy_of: Some("refs/tags/a".to_string()),
                ..new("refs/copy/a", tag)
            },
            NewRef {
                copy_of: Some("refs/heads/a".to_string()),
                ..new("refs/copy/b", tag)
            },
            NewRef {
                copy_of: Some("refs/heads/a".to_string()),
                ..new("refs/copy/c", commit)
            },
        ];
        add(&repo, &copies, NOW).unwrap();
        let text = std::fs::read_to_string(&packed).unwrap();
        assert!(
            text.contains(&format!("{tag} refs/copy/a\n^{fake}\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{tag} refs/copy/b\n^{commit}\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{commit} refs/copy/c\n{commit} refs/heads/a")),
            "{text}"
        );
    }

    #[test]
    fn remove_takes_only_entries_at_the_given_value() {
        let (dir, repo, commit, tag) = repo();
        let other = Oid::from_str("1111111111111111111111111111111111111111").unwrap();
        let refs = vec![new("refs/trash/a", commit), new("refs/trash/b", tag)];
        add(&repo, &refs, NOW).unwrap();
        let gone = vec![
            ("refs/trash/a".to_string(), other),
            ("refs/trash/b".to_string(), tag),
            ("refs/trash/c".to_string(), tag),
        ];
        assert_eq!(remove(&repo, &gone, NOW).unwrap(), 1);
        let text = std::fs::read_to_string(dir.path().join("packed-refs")).unwrap();
        assert_eq!(
            text,
            format!("# pack-refs with: peeled fully-peeled sorted \n{commit} refs/trash/a\n")
        );
    }

    #[test]
    fn an_unsorted_file_is_sorted_and_a_held_lock_or_bad_line_writes_nothing() {
        let (dir, repo, commit, _) = repo();
        let packed = dir.path().join("packed-refs");
        std::fs::write(
            &packed,
            format!("{commit} refs/heads/b\n{commit} refs/heads/a"),
        )
        .unwrap();
        add(&repo, &[new("refs/heads/c", commit)], NOW).unwrap();
        assert_eq!(
            std::fs::read_to_string(&packed).unwrap(),
            format!("# pack-refs with: sorted \n{commit} refs/heads/a\n{commit} refs/heads/b\n{commit} refs/heads/c\n")
        );
        std::fs::write(dir.path().join("packed-refs.lock"), "").unwrap();
        let err = add(&repo, &[new("refs/heads/d", commit)], NOW).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        std::fs::remove_file(dir.path().join("packed-refs.lock")).unwrap();
        std::fs::write(&packed, format!("{commit} refs/heads/a\nnot a ref\n")).unwrap();
        let err = add(&repo, &[new("refs/heads/d", commit)], NOW).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(std::fs::read_to_string(&packed)
            .unwrap()
            .ends_with("not a ref\n"));
    }
}
