//! Lock files a killed bulk writer left behind: `<ref>.lock` and `packed-refs.lock`.
//!
//! A gc, trash restore or purge killed in the middle of its ref transaction leaves a lock
//! per ref it was editing, and `packed-refs.lock`; git, libgit2 and gix-ref all wait on
//! such a lock and then fail, so without this the next gc would fail for good. The next
//! bulk writer holds the gc lock ([`super::cas::GC_LOCK_FILE`]), so no other bulk writer is
//! alive; committers hold a ref lock for milliseconds. A lock it meets that is older than
//! the stale bound is therefore left by a killed process, and is removed; a younger one is
//! waited for, until it goes away or goes stale.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::cas::LockPolicy;
use crate::error::{Error, Result};

/// `<git dir>/artifact-store-gc.lock`: one bulk ref writer (gc, restore, purge) at a time.
///
/// While held, a thread touches the file every [`HEARTBEAT`]; committers read a fresh
/// mtime as "the bulk writer is alive" and leave its per-ref locks alone however long its
/// transaction takes (see [`super::cas`]). A lock whose mtime stops moving for
/// the stale bound was left by a killed process and is taken over.
pub(crate) struct GcLock {
    path: PathBuf,
    stop: Option<std::sync::mpsc::Sender<()>>,
    heartbeat: Option<std::thread::JoinHandle<()>>,
}

/// How often a held gc lock's mtime is refreshed.
const HEARTBEAT: Duration = Duration::from_millis(500);

impl GcLock {
    /// Takes the lock in `gitdir`; one held by a live writer is waited for up to
    /// `policy.timeout` (zero: one attempt), one whose mtime stopped moving for
    /// `policy.stale_after` (its writer was killed) is taken over. Then every ref lock
    /// older than `policy.stale_after` is removed: a bulk writer alive is this one, and
    /// committers hold their locks for milliseconds. `stale_after: None` takes nothing over.
    pub(crate) fn acquire(gitdir: &Path, policy: LockPolicy) -> Result<GcLock> {
        let path = gitdir.join(super::cas::GC_LOCK_FILE);
        let stale_after = policy.stale_after.unwrap_or(Duration::MAX);
        let timeout = policy.timeout;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => {
                    let _ = writeln!(&file, "{}", std::process::id());
                    let lock = GcLock::hold(path, file);
                    if let Some(bound) = policy.stale_after {
                        sweep_stale(gitdir, bound)?;
                    }
                    return Ok(lock);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| SystemTime::now().duration_since(m).ok());
                    // One heartbeat more: the dead writer's last ref locks, made after its
                    // last touch, are stale too by then, and the sweep above takes them.
                    if age.is_some_and(|age| {
                        age > stale_after.max(HEARTBEAT * 4).saturating_add(HEARTBEAT)
                    }) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                }
                Err(e) => return Err(Error::io("failed to create", &path)(e)),
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::Locked {
                    refname: "the store's refs (another gc, trash restore or trash purge runs)"
                        .to_string(),
                    lock: path,
                });
            }
            std::thread::sleep(HEARTBEAT / 5);
        }
    }

    fn hold(path: PathBuf, file: std::fs::File) -> GcLock {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let heartbeat = std::thread::Builder::new()
            .name("gc-lock-heartbeat".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(HEARTBEAT)
                {
                    let _ = file.set_modified(SystemTime::now());
                }
            })
            .ok();
        GcLock {
            path,
            stop: Some(stop),
            heartbeat,
        }
    }
}

impl Drop for GcLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(heartbeat) = self.heartbeat.take() {
            let _ = heartbeat.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// How a bulk writer treats the locks in its way.
#[derive(Debug, Clone, Copy)]
pub struct BulkLocks {
    /// How long to wait for a lock to go away or go stale.
    pub timeout: Duration,
    /// A lock older than this is removed; `None` never removes one (only waits).
    pub stale_after: Option<Duration>,
}

/// Waits until no `<name>.lock` of `names` (full ref names, or `packed-refs`) is held,
/// removing each one older than the stale bound. Returns the locks removed; fails with
/// [`Error::Locked`] naming a lock still held after the timeout.
pub fn clear_stale<'n>(
    gitdir: &Path,
    names: impl IntoIterator<Item = &'n str>,
    locks: BulkLocks,
) -> Result<Vec<PathBuf>> {
    let mut held: Vec<(String, PathBuf)> = names
        .into_iter()
        .map(|name| (name.to_string(), gitdir.join(format!("{name}.lock"))))
        .filter(|(_, lock)| lock.exists())
        .collect();
    let deadline = Instant::now() + locks.timeout;
    let mut removed = Vec::new();
    loop {
        let mut still = Vec::with_capacity(held.len());
        for (name, lock) in held {
            match age(&lock) {
                None => {}
                Some(age) if locks.stale_after.is_some_and(|bound| age >= bound) => {
                    match std::fs::remove_file(&lock) {
                        Ok(()) => removed.push(lock),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io("failed to remove stale lock", lock)(e)),
                    }
                }
                Some(_) => still.push((name, lock)),
            }
        }
        held = still;
        match held.first() {
            None => return Ok(removed),
            Some((name, lock)) if Instant::now() >= deadline => {
                return Err(Error::Locked {
                    refname: name.clone(),
                    lock: lock.clone(),
                })
            }
            Some(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Removes every `refs/**/<ref>.lock` and `packed-refs.lock` older than `stale_after`:
/// for a new holder of the gc lock, what killed writers left on refs nobody edits again.
/// Returns the locks removed.
pub fn sweep_stale(gitdir: &Path, stale_after: Duration) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => walk(&entry.path(), out),
                Ok(_) if entry.file_name().to_string_lossy().ends_with(".lock") => {
                    out.push(entry.path())
                }
                _ => {}
            }
        }
    }
    let mut found = vec![gitdir.join("packed-refs.lock")];
    walk(&gitdir.join("refs"), &mut found);
    let mut removed = Vec::new();
    for lock in found {
        if age(&lock).is_some_and(|age| age >= stale_after) {
            match std::fs::remove_file(&lock) {
                Ok(()) => removed.push(lock),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("failed to remove stale lock", lock)(e)),
            }
        }
    }
    Ok(removed)
}

/// How long ago the file was last modified; `None` when it does not exist.
fn age(path: &Path) -> Option<Duration> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_age(path: &Path, age: Duration) {
        std::fs::write(path, "").unwrap();
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - age)
            .unwrap();
    }

    #[test]
    fn stale_locks_go_young_ones_are_waited_for_and_a_live_one_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("refs/heads")).unwrap();
        let stale = dir.path().join("refs/heads/a.lock");
        let young = dir.path().join("packed-refs.lock");
        set_age(&stale, Duration::from_secs(60));
        set_age(&young, Duration::ZERO);
        let locks = BulkLocks {
            timeout: Duration::from_secs(5),
            stale_after: Some(Duration::from_millis(300)),
        };
        let start = Instant::now();
        let removed = clear_stale(
            dir.path(),
            ["refs/heads/a", "refs/heads/b", "packed-refs"],
            locks,
        )
        .unwrap();
        assert_eq!(removed, [stale.clone(), young.clone()]);
        assert!(start.elapsed() >= Duration::from_millis(250));
        assert!(!stale.exists() && !young.exists());

        set_age(&young, Duration::from_secs(60));
        let never = BulkLocks {
            timeout: Duration::from_millis(100),
            stale_after: None,
        };
        let err = clear_stale(dir.path(), ["packed-refs"], never).unwrap_err();
        assert!(
            matches!(err, Error::Locked { ref lock, .. } if *lock == young),
            "{err}"
        );
        assert!(young.exists());
    }
}
