//! Consolidation of the object store (`compact`): what runs after commits on its own, and
//! what an operator runs now. The work is [`crate::git::compact`]; this is the store's
//! view of it, with the knobs from the config (`auto_compact`, `compact_threshold`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::Store;
use crate::config::Durability;
use crate::error::Result;
use crate::git::compact::{self, Options, Scope};

/// What to consolidate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactRequest {
    /// Every pack and loose object, due or not (`compact`); otherwise the step the store
    /// takes on its own, and only when one is due (`compact --auto`).
    pub full: bool,
    /// Plan and measure, write nothing.
    pub dry_run: bool,
}

/// What a consolidation did, or in a dry run would do.
#[derive(Debug, Clone, Serialize)]
pub struct CompactOutcome {
    /// Whether it wrote (or would write) a pack.
    pub ran: bool,
    /// A dry run: nothing was written.
    pub dry_run: bool,
    /// `full` or `step`.
    pub scope: &'static str,
    /// Why nothing ran, when nothing did: `nothing due`, `another consolidation is
    /// running`, `nothing to consolidate`.
    pub skipped: Option<String>,
    /// Packs and loose objects consolidated.
    pub packs: usize,
    pub loose_objects: usize,
    /// Objects in the new pack.
    pub objects: usize,
    /// Bytes on disk of what was consolidated, and of the pack and index replacing it.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// `bytes_before - bytes_after` (negative when the new pack is larger).
    pub saved: i64,
    /// Deltas computed against natural bases (and chain roots), and deltas kept as stored.
    pub deltas_new: usize,
    pub deltas_reused: usize,
    /// Whole objects deflated again at zlib's default level.
    pub recompressed: usize,
    /// Longest delta chain in the new pack (at most 50).
    pub max_depth: usize,
    /// The new pack.
    pub pack: Option<PathBuf>,
}

/// What waits for consolidation, as `stats` shows it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CompactPending {
    /// Bytes on disk of the loose objects and the packs no consolidation wrote.
    pub bytes: u64,
    pub packs: usize,
    pub loose_objects: usize,
    /// Whether the store would consolidate after the next commit.
    pub due: bool,
}

impl Store {
    /// Consolidates the object store; see `docs/storage.md`. Never waits for a lock: when
    /// another consolidation runs, this one reports `skipped`.
    pub fn compact(&self, req: CompactRequest) -> Result<CompactOutcome> {
        let opts = self.compact_options(req);
        let report = compact::run(&self.repo, &opts)?;
        if report.ran && !req.dry_run {
            self.repo.refresh_odb()?;
        }
        Ok(CompactOutcome {
            ran: report.ran,
            dry_run: req.dry_run,
            scope: if req.full { "full" } else { "step" },
            skipped: report.skipped,
            packs: report.packs,
            loose_objects: report.loose,
            objects: report.objects,
            bytes_before: report.bytes_before,
            bytes_after: report.bytes_after,
            saved: report.bytes_before as i64 - report.bytes_after as i64,
            deltas_new: report.deltas_new,
            deltas_reused: report.deltas_reused,
            recompressed: report.recompressed,
            max_depth: report.max_depth,
            pack: report.pack,
        })
    }

    /// What waits for consolidation, and whether a step is due.
    pub fn compact_pending(&self) -> CompactPending {
        let pending = compact::pending(self.git_dir());
        CompactPending {
            bytes: pending.bytes,
            packs: pending.packs,
            loose_objects: pending.loose,
            due: self.config.auto_compact && pending.is_due(self.config.compact_threshold),
        }
    }

    /// A handle that runs consolidation steps on another thread (the subscriber's idle
    /// time), with its own repository handle.
    pub fn compactor(&self) -> Compactor {
        Compactor {
            git_dir: self.git_dir().to_path_buf(),
            options: self.compact_options(CompactRequest::default()),
            enabled: self.config.auto_compact,
        }
    }

    fn compact_options(&self, req: CompactRequest) -> Options {
        Options {
            scope: if req.full { Scope::Full } else { Scope::Step },
            durable: self.config.durability == Durability::Fsync,
            lock_stale: self.config.stale_lock_bound(),
            dry_run: req.dry_run,
            threshold: if req.full {
                0
            } else {
                self.config.compact_threshold
            },
        }
    }
}

/// Runs the automatic consolidation step from any thread; see [`Store::compactor`].
#[derive(Debug, Clone)]
pub struct Compactor {
    git_dir: PathBuf,
    options: Options,
    enabled: bool,
}

impl Compactor {
    /// Whether a step is due (always false with `auto_compact = false`).
    pub fn is_due(&self) -> bool {
        self.enabled && compact::pending(&self.git_dir).is_due(self.options.threshold)
    }

    /// Runs one step when due; returns whether a pack was written.
    pub fn step(&self) -> Result<bool> {
        if !self.is_due() {
            return Ok(false);
        }
        Ok(compact::run_at(&self.git_dir, &self.options)?.ran)
    }

    /// How long a step waits for the store to be idle before it starts.
    pub const IDLE: Duration = Duration::from_secs(2);
}
