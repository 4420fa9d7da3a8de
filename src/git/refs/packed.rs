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
//! and removed first ([`super::lock`]): callers hold the gc lock.
//!
//! The file is read after the lock is taken, its lines are kept byte for byte, the result
//! is sorted by name, and annotated tags get their `^<peeled>` line, so git, libgit2 and
//! gix-ref read it as they read their own.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::Repository;

use crate::git::ObjectId as Oid;

use super::format;
use super::lock::LockPolicy;
use crate::error::{Error, Result};

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
pub fn add(repo: &Repository, refs: &[NewRef], locks: LockPolicy) -> Result<Vec<bool>> {
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
pub fn remove(repo: &Repository, refs: &[(String, Oid)], locks: LockPolicy) -> Result<usize> {
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

/// One ref for [`delete`] to remove, with the value it must hold.
#[derive(Debug, Clone)]
pub struct Doomed {
    /// Full ref name.
    pub name: String,
    /// The value it must hold to go.
    pub expected: Oid,
}

/// A ref [`delete`] left because it did not hold the value expected.
#[derive(Debug, Clone)]
pub struct Kept {
    /// Index in the caller's list.
    pub index: usize,
    /// What it held instead, as hex (`None`: it did not exist).
    pub actual: Option<String>,
}

/// Deletes `refs` in one rewrite of `packed-refs`, each only while it holds its expected
/// value, as `git update-ref --stdin` deletes them, without a lock file per ref.
///
/// Each ref is locked first, as every git writer locks it: `<ref>.lock` is made a hard link
/// to `lock_source` (the caller's gc lock file), which fails on an existing name as a new
/// file's `O_EXCL` does but allocates no inode (the costly part of a ref transaction,
/// docs/performance.md), and shares the gc lock's mtime: fresh while its holder lives, stale
/// once it dies ([`super::lock`]). Under every lock, and `packed-refs.lock`, each value is
/// read (the loose file, else the packed entry); the refs that hold their values leave
/// `packed-refs` in one rewrite, then their loose files and reflogs go, then the locks.
/// A ref holding anything else is kept and returned; with `all_or_nothing` one such ref
/// fails the whole call with [`Error::Conflict`] and nothing is written.
pub fn delete(
    repo: &Repository,
    refs: &[Doomed],
    lock_source: &Path,
    all_or_nothing: bool,
    locks: LockPolicy,
) -> Result<Vec<Kept>> {
    let gitdir = repo.commondir();
    let mut held = LinkLocks::take(gitdir, refs, lock_source, locks)?;
    let mut kept = Vec::new();
    let mut going = Vec::new();
    let outcome = rewrite(gitdir, locks, |table| {
        let mut doomed_names: HashSet<&[u8]> = HashSet::new();
        for (index, doomed) in refs.iter().enumerate() {
            let loose = gitdir.join(&doomed.name);
            let actual = match held.locked[index] {
                false => None,
                true => match super::format::read_loose(&loose) {
                    Some(oid) => Some((oid, true)),
                    None => table
                        .find(doomed.name.as_bytes())
                        .and_then(|at| table.records[at].value())
                        .map(|oid| (oid, false)),
                },
            };
            match actual {
                Some((oid, is_loose)) if oid == doomed.expected => {
                    doomed_names.insert(doomed.name.as_bytes());
                    going.push((index, is_loose));
                }
                other => {
                    let actual = other.map(|(oid, _)| oid.to_string());
                    if all_or_nothing {
                        return Err(Error::Conflict {
                            message: format!(
                                "{} changed while the refs were being edited ({}); nothing was changed",
                                doomed.name,
                                actual.as_deref().unwrap_or("it is gone")
                            ),
                            hint: Some("look at the ref, then run the command again".to_string()),
                        });
                    }
                    kept.push(Kept { index, actual });
                }
            }
        }
        let before = table.records.len();
        table.records.retain(|r| !doomed_names.contains(r.name()));
        Ok(((), table.records.len() != before))
    });
    if let Err(e) = outcome {
        held.release();
        let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
        remove_empty_parents(gitdir, &names);
        return Err(e);
    }
    for &(index, is_loose) in &going {
        let name = &refs[index].name;
        if is_loose {
            match std::fs::remove_file(gitdir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    held.release();
                    return Err(Error::io("failed to delete", gitdir.join(name))(e));
                }
            }
        }
        let _ = std::fs::remove_file(gitdir.join("logs").join(name));
    }
    held.release();
    let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    remove_empty_parents(gitdir, &names);
    Ok(kept)
}

/// `errno` of a `link` past the file system's limit of names per inode (Linux).
const EMLINK: i32 = 31;

/// The `<ref>.lock` links [`delete`] holds; released (unlinked) on drop.
struct LinkLocks {
    paths: Vec<Option<PathBuf>>,
    /// Whether each ref could be locked at all (`false`: a file is where a directory of
    /// its name would be, so the ref cannot exist).
    locked: Vec<bool>,
}

impl LinkLocks {
    fn take(
        gitdir: &Path,
        refs: &[Doomed],
        source: &Path,
        policy: LockPolicy,
    ) -> Result<LinkLocks> {
        let deadline = std::time::Instant::now() + policy.timeout;
        let mut held = LinkLocks {
            paths: Vec::with_capacity(refs.len()),
            locked: Vec::with_capacity(refs.len()),
        };
        let mut backoff = super::lock::Backoff::new();
        // ext4 allows 65,000 names per inode: past that, each lock is a file of its own.
        let mut links_full = false;
        for doomed in refs {
            gix_ref::FullName::try_from(doomed.name.as_str()).map_err(|e| {
                Error::InvalidInput(format!("{:?} is not a valid ref name ({e})", doomed.name))
            })?;
            let lock = super::lock::Lock::of(gitdir, &doomed.name);
            let path = lock.path();
            loop {
                let taken = match links_full {
                    false => std::fs::hard_link(source, &path),
                    true => std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                        .map(drop),
                };
                match taken {
                    Err(e) if e.raw_os_error() == Some(EMLINK) => links_full = true,
                    Ok(()) => {
                        held.paths.push(Some(path));
                        held.locked.push(true);
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let Some(parent) = path.parent() else {
                            return Err(Error::io("failed to lock", path)(e));
                        };
                        if !source.exists() {
                            return Err(Error::io("failed to lock", path)(e));
                        }
                        match std::fs::create_dir_all(parent) {
                            Ok(()) => continue,
                            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                                held.paths.push(None);
                                held.locked.push(false);
                                break;
                            }
                            Err(e) => return Err(Error::io("failed to make", parent)(e)),
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                        held.paths.push(None);
                        held.locked.push(false);
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        if lock.break_if_dead(policy)?.is_some() {
                            continue;
                        }
                        if std::time::Instant::now() >= deadline {
                            return Err(lock.held());
                        }
                        backoff.wait();
                    }
                    Err(e) => return Err(Error::io("failed to lock", path)(e)),
                }
            }
        }
        Ok(held)
    }

    fn release(&mut self) {
        for path in self.paths.drain(..).flatten() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for LinkLocks {
    fn drop(&mut self) {
        self.release();
    }
}

/// Removes the directories of `names` (full ref names) left empty, deepest first, as git
/// does after deleting refs; `refs/` and its first level (`refs/heads`, `refs/tags`) stay.
fn remove_empty_parents(gitdir: &Path, names: &[&str]) {
    let mut dirs: HashSet<&str> = HashSet::new();
    for name in names {
        let mut at = name.len();
        while let Some(slash) = name[..at].rfind('/') {
            let dir = &name[..slash];
            if dir.matches('/').count() < 2 || !dirs.insert(dir) {
                break;
            }
            at = slash;
        }
    }
    let mut dirs: Vec<&str> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
    for dir in dirs {
        let _ = std::fs::remove_dir(gitdir.join(dir));
        let _ = std::fs::remove_dir(gitdir.join("logs").join(dir));
    }
}

/// Packs every loose direct ref under `refs/`, as `git pack-refs --all --prune` does: their
/// values go into `packed-refs` in one rewrite (replacing what a name held there), then
/// each loose file that still holds the value packed is deleted under its `<ref>.lock`. A
/// ref another writer holds or moved meanwhile stays loose, and so does one whose name a
/// packed ref is in the way of. Returns how many loose files were deleted. The caller
/// holds the gc lock ([`super::loose::prune`] says why).
pub fn pack_loose(repo: &Repository, locks: LockPolicy) -> Result<usize> {
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
fn store_values(repo: &Repository, refs: &[(String, Oid)], locks: LockPolicy) -> Result<Vec<bool>> {
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
        format::oid(&self.text[..self.hex_len])
    }

    /// The object of its `^` line, when it has one.
    fn peeled_line(&self) -> Option<Oid> {
        let line = self.text.get(self.name_end + 1..)?.strip_prefix(b"^")?;
        let hex = line.strip_suffix(b"\n").unwrap_or(line);
        format::oid(hex)
    }
}

/// `packed-refs` as read under its lock: the header line and the refs, sorted by name.
struct Table<'a> {
    header: Vec<u8>,
    records: Vec<Record<'a>>,
    /// What the header promises about peeling.
    traits: format::Traits,
}

impl<'a> Table<'a> {
    fn parse(bytes: &'a [u8], path: &Path) -> Result<Table<'a>> {
        let mut header = match bytes.is_empty() {
            true => format::DEFAULT_HEADER.to_vec(),
            // A file without a header promises nothing about peeling or order.
            false => format::HEADER_PREFIX.to_vec(),
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
            match format::parse(content) {
                format::Line::Comment
                    if line_no == 1 && content.starts_with(format::HEADER_PREFIX) =>
                {
                    header = content.to_vec()
                }
                format::Line::Peeled(_) => {
                    let last = records.last_mut().ok_or_else(unreadable)?;
                    let start = at - last.text.len();
                    last.text = Cow::Borrowed(&bytes[start..end]);
                }
                format::Line::Ref { hex, .. } => {
                    let record = Record::new(Cow::Borrowed(line), hex.len());
                    if records.last().is_some_and(|r| r.name() >= record.name()) {
                        sorted = false;
                    }
                    records.push(record);
                }
                format::Line::Comment | format::Line::Other => return Err(unreadable()),
            }
            at = end;
        }
        if !sorted {
            records.sort_by(|a, b| a.name().cmp(b.name()));
        }
        let traits = format::Traits::of(&header);
        if !traits.sorted {
            if header.last() != Some(&b' ') {
                header.push(b' ');
            }
            header.extend_from_slice(b"sorted ");
        }
        Ok(Table {
            header,
            records,
            traits,
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
            None if self.traits.peel_known(source.as_bytes()) => Some(None),
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

/// Locks `packed-refs`, reads it, lets `edit` change the table (it returns its result and
/// whether anything changed), and writes the file back when something did.
fn rewrite<T>(
    gitdir: &Path,
    locks: LockPolicy,
    edit: impl for<'a> FnOnce(&mut Table<'a>) -> Result<(T, bool)>,
) -> Result<T> {
    let path = gitdir.join("packed-refs");
    let deadline = std::time::Instant::now() + locks.timeout;
    let mut backoff = super::lock::Backoff::new();
    let mut lock = loop {
        super::lock::clear_dead(gitdir, ["packed-refs"], locks)?;
        match gix_lock::File::acquire_to_update_resource(
            &path,
            gix_lock::acquire::Fail::Immediately,
            None,
            0,
        ) {
            Ok(lock) => break lock,
            // Taken between the wait and the attempt: wait again, by the same rule.
            Err(_) if lock_path(&path).exists() && std::time::Instant::now() < deadline => {
                backoff.wait()
            }
            Err(source) => return Err(lock_error(&path, source)),
        }
    };
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
    use std::str::FromStr;

    use std::time::Duration;

    use super::*;

    const NOW: LockPolicy = LockPolicy {
        timeout: Duration::ZERO,
        stale_after: None,
        holds_gc_lock: true,
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

    fn doomed(name: &str, expected: Oid) -> Doomed {
        Doomed {
            name: name.to_string(),
            expected,
        }
    }

    #[test]
    fn delete_takes_refs_at_their_value_loose_and_packed_and_leaves_no_lock() {
        let (dir, repo, commit, tag) = repo();
        let g = dir.path();
        let other = Oid::from_str("1111111111111111111111111111111111111111").unwrap();
        let names = [
            "refs/heads/ai/generated/wf/a",
            "refs/heads/ai/generated/wf/b",
            "refs/tags/corr_a",
            "refs/tags/corr_b",
            "refs/tags/corr_c",
        ];
        for name in names {
            repo.reference(name, commit.into(), true, "t").unwrap();
        }
        repo.reference("refs/tags/v1", tag.into(), true, "t")
            .unwrap();
        pack_loose(&repo, NOW).unwrap();
        // Loose again, over its packed entry: both go.
        repo.reference("refs/tags/corr_b", tag.into(), true, "t")
            .unwrap();
        let source = g.join(crate::git::refs::lock::GC_LOCK_FILE);
        std::fs::write(&source, "").unwrap();
        let refs = [
            doomed("refs/heads/ai/generated/wf/a", commit),
            doomed("refs/tags/corr_b", tag),
            doomed("refs/tags/corr_c", other),
            doomed("refs/tags/gone", commit),
            doomed("refs/tags/corr_a/under", commit),
        ];
        let kept = delete(&repo, &refs, &source, false, NOW).unwrap();
        let kept: Vec<(usize, Option<String>)> =
            kept.into_iter().map(|k| (k.index, k.actual)).collect();
        assert_eq!(kept, [(2, Some(commit.to_string())), (3, None), (4, None)]);
        for gone in ["refs/heads/ai/generated/wf/a", "refs/tags/corr_b"] {
            assert!(repo.find_reference(gone).is_err(), "{gone}");
        }
        for stays in [
            "refs/heads/ai/generated/wf/b",
            "refs/tags/corr_a",
            "refs/tags/corr_c",
        ] {
            assert_eq!(repo.refname_to_id(stays).unwrap(), commit, "{stays}");
        }
        let text = std::fs::read_to_string(g.join("packed-refs")).unwrap();
        assert!(
            !text.contains("corr_b") && !text.contains("wf/a\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("{tag} refs/tags/v1\n^{commit}\n")),
            "{text}"
        );
        let status = std::process::Command::new("git")
            .args(["fsck", "--strict", "--no-dangling"])
            .env("GIT_DIR", g)
            .status()
            .unwrap();
        assert!(status.success());
        let locks: Vec<String> = crate::git::refs::loose::names_under(g, "refs")
            .into_iter()
            .filter(|n| g.join(format!("{n}.lock")).exists())
            .collect();
        assert!(locks.is_empty(), "{locks:?}");
        assert!(
            !g.join("refs/tags/corr_a").is_dir(),
            "the lock's directory went"
        );
        assert!(source.exists(), "the lock source is the caller's");
    }

    #[test]
    fn delete_all_or_nothing_writes_nothing_and_a_held_lock_fails_naming_it() {
        let (dir, repo, commit, _) = repo();
        let g = dir.path();
        let other = Oid::from_str("1111111111111111111111111111111111111111").unwrap();
        for name in ["refs/tags/corr_a", "refs/tags/corr_b"] {
            repo.reference(name, commit.into(), true, "t").unwrap();
        }
        pack_loose(&repo, NOW).unwrap();
        let before = std::fs::read(g.join("packed-refs")).unwrap();
        let source = g.join(crate::git::refs::lock::GC_LOCK_FILE);
        std::fs::write(&source, "").unwrap();
        let refs = [
            doomed("refs/tags/corr_a", commit),
            doomed("refs/tags/corr_b", other),
        ];
        let err = delete(&repo, &refs, &source, true, NOW).unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        assert_eq!(std::fs::read(g.join("packed-refs")).unwrap(), before);

        std::fs::write(g.join("refs/tags/corr_a.lock"), "").unwrap();
        let err = delete(&repo, &refs[..1], &source, false, NOW).unwrap_err();
        assert!(
            matches!(err, Error::Locked { ref refname, .. } if refname == "refs/tags/corr_a"),
            "{err}"
        );
        assert_eq!(std::fs::read(g.join("packed-refs")).unwrap(), before);
        assert!(
            g.join("refs/tags/corr_a.lock").exists(),
            "another writer's lock stays"
        );
        assert_eq!(repo.refname_to_id("refs/tags/corr_a").unwrap(), commit);
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
