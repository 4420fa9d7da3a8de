//! Progress of long work, as the library reports it: an operation counts, a face draws.
//!
//! Commit, export, verify, scan, gc and push take a [`Progress`]; the CLI draws it as a bar
//! on a terminal, the other faces pass [`Silent`]. The library never decides whether
//! anything is shown: it only says what step runs, how much of it there is and how much
//! is done.

/// What a step counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Things: refs, branches, files, artifact sets.
    Items,
    /// Bytes read, hashed, scanned or written.
    Bytes,
}

/// Receives the progress of a long operation. Workers on several threads may report at
/// once, hence `Sync`.
pub trait Progress: Sync {
    /// A step starts that will count to `total` (in `unit`).
    fn start(&self, _stage: &str, _total: u64, _unit: Unit) {}
    /// `n` more units of the current step are done.
    fn inc(&self, _n: u64) {}
    /// The current step is over.
    fn finish(&self) {}
}

/// Progress that nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

/// The cores this process may run on, which sizes the worker pools of long operations;
/// asked once: the standard library reads the cgroup files (`/proc/self/cgroup`, the CPU
/// quota) on every call, and a commit sized its pools three times over.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}
