//! The one lock protocol of every ref writer: `<name>.lock` files, one staleness rule, one
//! backoff.
//!
//! Every writer of a ref, or of `packed-refs`, takes `<name>.lock` first (git, libgit2 and
//! gix-ref alike create it exclusively). A writer killed while holding one leaves it behind,
//! and every later writer would wait on it and fail, so a lock can be broken. The rule,
//! the same for a single compare-and-swap and for a bulk transaction ([`Lock::is_stale`]):
//!
//! - a lock whose mtime is at least the policy's `stale_after` old is stale, unless
//! - a bulk writer (gc, trash restore or purge) other than the caller is alive: it proves
//!   it by touching [`GC_LOCK_FILE`] every half second, and its per-ref locks are never
//!   removed, however old (a gc transaction over 60k refs can hold its locks for longer
//!   than the stale bound, and breaking one would let a commit land on a ref that the
//!   transaction then deletes).
//!
//! A policy with no `stale_after` never breaks a lock. Besides, a lock that is a second name
//! of its ref file (same inode) is what a process killed inside libgit2's `p_rename` leaves:
//! the update it guarded is over, so it goes at once, under the same bulk-writer exception
//! ([`Lock::is_finished_link`]).
//!
//! Waiting on a held lock uses one [`Backoff`]: jittered, doubling from 1 ms, capped at
//! 50 ms, until the policy's timeout.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, Result};

/// The bulk writers' lock, in the git dir, refreshed while held.
pub const GC_LOCK_FILE: &str = "artifact-store-gc.lock";

/// How recently a bulk writer must have touched [`GC_LOCK_FILE`] to count as alive, for a
/// policy that never breaks stale locks.
const DEFAULT_BULK_BOUND: Duration = Duration::from_secs(10);

/// How a writer treats the locks in its way.
#[derive(Debug, Clone, Copy)]
pub struct LockPolicy {
    /// A lock at least this old is stale and removed; `None` never removes one.
    pub stale_after: Option<Duration>,
    /// Waiting on a held lock, or retrying a lost race, stops after this long.
    pub timeout: Duration,
    /// The caller is the bulk writer holding [`GC_LOCK_FILE`]: its own fresh gc lock does
    /// not stop it from removing a stale lock (one left by the killed bulk writer before it).
    pub holds_gc_lock: bool,
}

impl LockPolicy {
    /// The policy of a writer that does not hold the gc lock: locks go stale after
    /// `stale_lock_seconds` (0: never), waits end after `lock_timeout_seconds`.
    pub fn new(stale_lock_seconds: u64, lock_timeout_seconds: u64) -> LockPolicy {
        LockPolicy {
            stale_after: (stale_lock_seconds > 0).then(|| Duration::from_secs(stale_lock_seconds)),
            timeout: Duration::from_secs(lock_timeout_seconds),
            holds_gc_lock: false,
        }
    }

    /// The same policy for the holder of the gc lock.
    pub fn bulk(self) -> LockPolicy {
        LockPolicy {
            holds_gc_lock: true,
            ..self
        }
    }
}

/// The lock file of one ref, or of `packed-refs`: `<gitdir>/<name>.lock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    gitdir: PathBuf,
    name: String,
}

impl Lock {
    /// The lock of `name` (a full ref name, or `packed-refs`) in `gitdir`.
    pub fn of(gitdir: &Path, name: &str) -> Lock {
        Lock {
            gitdir: gitdir.to_path_buf(),
            name: name.to_string(),
        }
    }

    /// Where the lock file is.
    pub fn path(&self) -> PathBuf {
        self.gitdir.join(format!("{}.lock", self.name))
    }

    /// How long ago the lock file was last modified; `None` when nobody holds it.
    pub fn age(&self) -> Option<Duration> {
        age(&self.path())
    }

    /// The one staleness rule (see the module docs): held, at least `stale_after` old, and
    /// no bulk writer but the caller alive.
    pub fn is_stale(&self, policy: LockPolicy) -> bool {
        let Some(stale_after) = policy.stale_after else {
            return false;
        };
        self.age().is_some_and(|age| age >= stale_after)
            && (policy.holds_gc_lock || !bulk_writer_alive(&self.gitdir, stale_after))
    }

    /// Whether the lock is a second name of the ref file itself (a finished update), with no
    /// bulk writer but the caller alive.
    pub fn is_finished_link(&self, policy: LockPolicy) -> bool {
        use std::os::unix::fs::MetadataExt;
        let (Ok(lock), Ok(file)) = (
            std::fs::symlink_metadata(self.path()),
            std::fs::symlink_metadata(self.gitdir.join(&self.name)),
        ) else {
            return false;
        };
        let bound = policy.stale_after.unwrap_or(DEFAULT_BULK_BOUND);
        lock.dev() == file.dev()
            && lock.ino() == file.ino()
            && (policy.holds_gc_lock || !bulk_writer_alive(&self.gitdir, bound))
    }

    /// Removes the lock when the rule says it may go (stale, or a finished link); returns
    /// its path when it was removed.
    pub fn break_if_dead(&self, policy: LockPolicy) -> Result<Option<PathBuf>> {
        if !self.is_finished_link(policy) && !self.is_stale(policy) {
            return Ok(None);
        }
        let path = self.path();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(Some(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("failed to remove stale lock", path)(e)),
        }
    }

    /// Removes the lock when it is a finished link ([`Lock::is_finished_link`]) only;
    /// returns its path when it was removed.
    pub fn break_if_finished(&self, policy: LockPolicy) -> Option<PathBuf> {
        if !self.is_finished_link(policy) {
            return None;
        }
        let path = self.path();
        std::fs::remove_file(&path).ok().map(|()| path)
    }

    /// The error of a lock still held when the wait is over.
    pub fn held(&self) -> Error {
        Error::Locked {
            refname: self.name.clone(),
            lock: self.path(),
        }
    }
}

/// Waits until no lock of `names` (full ref names, or `packed-refs`) is held, breaking the
/// dead ones by the rule. Returns the locks removed; fails with [`Error::Locked`] naming a
/// lock still held after the policy's timeout.
pub fn clear_dead<'n>(
    gitdir: &Path,
    names: impl IntoIterator<Item = &'n str>,
    policy: LockPolicy,
) -> Result<Vec<PathBuf>> {
    let mut held: Vec<Lock> = names
        .into_iter()
        .map(|name| Lock::of(gitdir, name))
        .filter(|lock| lock.path().exists())
        .collect();
    let deadline = Instant::now() + policy.timeout;
    let mut backoff = Backoff::new();
    let mut removed = Vec::new();
    loop {
        let mut still = Vec::with_capacity(held.len());
        for lock in held {
            if lock.age().is_none() {
                continue;
            }
            match lock.break_if_dead(policy)? {
                Some(path) => removed.push(path),
                None if lock.path().exists() => still.push(lock),
                None => {}
            }
        }
        held = still;
        match held.first() {
            None => return Ok(removed),
            Some(lock) if Instant::now() >= deadline => return Err(lock.held()),
            Some(_) => backoff.wait(),
        }
    }
}

/// Removes every `refs/**/<ref>.lock` and `packed-refs.lock` that is stale by the rule: for
/// a new holder of the gc lock, what killed writers left on refs nobody edits again.
/// Returns the locks removed.
pub fn sweep_dead(gitdir: &Path, policy: LockPolicy) -> Result<Vec<PathBuf>> {
    let mut found = vec!["packed-refs".to_string()];
    super::loose::for_each_file(gitdir, "refs", &mut |full, _| {
        if let Some(locked) = full.strip_suffix(".lock") {
            found.push(locked.to_string());
        }
    });
    let mut removed = Vec::new();
    for name in found {
        let lock = Lock::of(gitdir, &name);
        if lock.is_stale(policy) {
            removed.extend(lock.break_if_dead(policy)?);
        }
    }
    Ok(removed)
}

/// How often a held gc lock's mtime is refreshed.
const HEARTBEAT: Duration = Duration::from_millis(500);

/// `<git dir>/artifact-store-gc.lock`: one bulk ref writer (gc, restore, purge) at a time.
///
/// While held, a thread touches the file every [`HEARTBEAT`]; committers read a fresh
/// mtime as "the bulk writer is alive" and leave its per-ref locks alone however long its
/// transaction takes ([`Lock::is_stale`]). A gc lock whose mtime stops moving for the
/// stale bound (plus a heartbeat) was left by a killed process and is taken over.
pub struct GcLock {
    path: PathBuf,
    stop: Option<std::sync::mpsc::Sender<()>>,
    heartbeat: Option<std::thread::JoinHandle<()>>,
}

impl GcLock {
    /// Takes the gc lock of `gitdir`; one held by a live writer is waited for up to
    /// `policy.timeout` (zero: one attempt), one whose mtime stopped moving for the stale
    /// bound (its writer was killed) is taken over. Then every ref lock that is stale by the
    /// rule is removed ([`sweep_dead`]): a bulk writer alive is this one, and committers
    /// hold their locks for milliseconds. `stale_after: None` takes nothing over.
    pub fn acquire(gitdir: &Path, policy: LockPolicy) -> Result<GcLock> {
        use std::io::Write as _;
        let path = gitdir.join(GC_LOCK_FILE);
        let stale_after = policy.stale_after.unwrap_or(Duration::MAX);
        let deadline = Instant::now() + policy.timeout;
        let mut backoff = Backoff::new();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => {
                    let _ = writeln!(&file, "{}", std::process::id());
                    let lock = GcLock::hold(path, file);
                    if policy.stale_after.is_some() {
                        sweep_dead(gitdir, policy.bulk())?;
                    }
                    return Ok(lock);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // One heartbeat more: the dead writer's last ref locks, made after its
                    // last touch, are stale too by then, and the sweep above takes them.
                    let bound = stale_after.max(HEARTBEAT * 4).saturating_add(HEARTBEAT);
                    if age(&path).is_some_and(|age| age > bound) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                }
                Err(e) => return Err(Error::io("failed to create", &path)(e)),
            }
            if Instant::now() >= deadline {
                return Err(Error::Locked {
                    refname: "the store's refs (another gc, trash restore or trash purge runs)"
                        .to_string(),
                    lock: path,
                });
            }
            backoff.wait();
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

/// Whether a gc, trash restore or purge holds [`GC_LOCK_FILE`] and touched it within
/// `bound`.
fn bulk_writer_alive(gitdir: &Path, bound: Duration) -> bool {
    age(&gitdir.join(GC_LOCK_FILE)).is_some_and(|age| age < bound)
}

/// How long ago the file was last modified (zero for a future mtime); `None` when it does
/// not exist.
fn age(path: &Path) -> Option<Duration> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default(),
    )
}

/// The one wait between attempts on a held lock or a lost race: up to 2^attempt ms,
/// jittered, capped at 50 ms, at least 1 ms.
#[derive(Debug)]
pub struct Backoff {
    attempt: u32,
    state: u64,
}

impl Backoff {
    /// A fresh backoff, seeded from the clock and the process id.
    pub fn new() -> Backoff {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Backoff {
            attempt: 0,
            state: nanos ^ (u64::from(std::process::id()) << 32) | 1,
        }
    }

    /// Attempts waited so far.
    #[cfg(test)]
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The next wait (xorshift jitter; no need for a crypto-grade source here).
    pub fn next_delay(&mut self) -> Duration {
        self.attempt += 1;
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let cap = (1u64 << self.attempt.min(6)).min(50);
        Duration::from_millis(1 + self.state % cap)
    }

    /// Sleeps the next wait.
    pub fn wait(&mut self) {
        std::thread::sleep(self.next_delay());
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new()
    }
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

    fn policy(stale_after: Option<Duration>, holds_gc_lock: bool) -> LockPolicy {
        LockPolicy {
            stale_after,
            timeout: Duration::from_secs(5),
            holds_gc_lock,
        }
    }

    #[test]
    fn a_lock_is_stale_at_the_bound_not_before_and_never_without_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("refs/heads")).unwrap();
        let lock = Lock::of(dir.path(), "refs/heads/a");
        let bound = Some(Duration::from_secs(60));
        assert!(
            !lock.is_stale(policy(bound, false)),
            "no lock, nothing stale"
        );
        set_age(&lock.path(), Duration::from_secs(59));
        assert!(!lock.is_stale(policy(bound, false)));
        set_age(&lock.path(), Duration::from_secs(61));
        assert!(lock.is_stale(policy(bound, false)));
        assert!(lock.is_stale(policy(bound, true)));
        assert!(!lock.is_stale(policy(None, true)), "no bound never breaks");
        // A lock from the future (clock skew) is young.
        std::fs::File::options()
            .write(true)
            .open(lock.path())
            .unwrap()
            .set_modified(SystemTime::now() + Duration::from_secs(3600))
            .unwrap();
        assert!(!lock.is_stale(policy(bound, true)));
    }

    #[test]
    fn a_live_bulk_writer_keeps_every_lock_but_for_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("refs/heads")).unwrap();
        let lock = Lock::of(dir.path(), "refs/heads/a");
        let bound = Some(Duration::from_secs(60));
        set_age(&lock.path(), Duration::from_secs(600));
        set_age(&dir.path().join(GC_LOCK_FILE), Duration::ZERO);
        assert!(
            !lock.is_stale(policy(bound, false)),
            "a committer leaves it"
        );
        assert_eq!(lock.break_if_dead(policy(bound, false)).unwrap(), None);
        assert!(lock.path().exists());
        assert!(lock.is_stale(policy(bound, true)), "the gc holder takes it");
        // A gc lock its writer stopped touching is a dead writer's: no exception then.
        set_age(&dir.path().join(GC_LOCK_FILE), Duration::from_secs(120));
        assert_eq!(
            lock.break_if_dead(policy(bound, false)).unwrap(),
            Some(lock.path())
        );
        assert!(!lock.path().exists());
    }

    #[test]
    fn a_finished_link_goes_at_once_unless_a_bulk_writer_is_alive() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("refs/tags")).unwrap();
        let file = dir.path().join("refs/tags/corr_x");
        std::fs::write(&file, "1111111111111111111111111111111111111111\n").unwrap();
        let lock = Lock::of(dir.path(), "refs/tags/corr_x");
        std::fs::write(lock.path(), "").unwrap();
        let young = policy(Some(Duration::from_secs(600)), false);
        assert!(!lock.is_finished_link(young), "a file of its own is held");
        std::fs::remove_file(lock.path()).unwrap();
        std::fs::hard_link(&file, lock.path()).unwrap();
        set_age(&dir.path().join(GC_LOCK_FILE), Duration::ZERO);
        assert!(!lock.is_finished_link(young));
        assert!(lock.is_finished_link(young.bulk()));
        std::fs::remove_file(dir.path().join(GC_LOCK_FILE)).unwrap();
        assert_eq!(lock.break_if_dead(young).unwrap(), Some(lock.path()));
        assert!(file.exists(), "the ref itself stays");
    }

    #[test]
    fn dead_locks_go_young_ones_are_waited_for_and_a_live_one_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("refs/heads")).unwrap();
        let stale = dir.path().join("refs/heads/a.lock");
        let young = dir.path().join("packed-refs.lock");
        set_age(&stale, Duration::from_secs(60));
        set_age(&young, Duration::ZERO);
        let bulk = LockPolicy {
            timeout: Duration::from_secs(5),
            stale_after: Some(Duration::from_millis(300)),
            holds_gc_lock: true,
        };
        let start = Instant::now();
        let removed = clear_dead(
            dir.path(),
            ["refs/heads/a", "refs/heads/b", "packed-refs"],
            bulk,
        )
        .unwrap();
        assert_eq!(removed, [stale.clone(), young.clone()]);
        assert!(start.elapsed() >= Duration::from_millis(250));
        assert!(!stale.exists() && !young.exists());

        set_age(&young, Duration::from_secs(60));
        let never = LockPolicy {
            timeout: Duration::from_millis(100),
            stale_after: None,
            holds_gc_lock: true,
        };
        let err = clear_dead(dir.path(), ["packed-refs"], never).unwrap_err();
        assert!(
            matches!(err, Error::Locked { ref lock, .. } if *lock == young),
            "{err}"
        );
        assert!(young.exists());
    }

    #[test]
    fn the_sweep_takes_stale_locks_anywhere_under_refs_and_keeps_young_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("refs/trash/1/refs/tags")).unwrap();
        let old = dir.path().join("refs/trash/1/refs/tags/corr_a.lock");
        let packed = dir.path().join("packed-refs.lock");
        let young = dir.path().join("refs/trash/1/refs/tags/corr_b.lock");
        set_age(&old, Duration::from_secs(60));
        set_age(&packed, Duration::from_secs(60));
        set_age(&young, Duration::ZERO);
        let bound = policy(Some(Duration::from_secs(30)), true);
        let mut removed = sweep_dead(dir.path(), bound).unwrap();
        removed.sort();
        let mut want = vec![packed, old];
        want.sort();
        assert_eq!(removed, want);
        assert!(young.exists());
    }

    #[test]
    fn the_backoff_doubles_from_one_ms_and_stays_under_fifty() {
        let mut backoff = Backoff::new();
        for attempt in 1..=40u32 {
            let delay = backoff.next_delay();
            let cap = (1u64 << attempt.min(6)).min(50);
            assert!(delay >= Duration::from_millis(1), "{delay:?}");
            assert!(delay <= Duration::from_millis(cap), "{attempt}: {delay:?}");
        }
        assert_eq!(backoff.attempts(), 40);
    }
}
