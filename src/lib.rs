//! `artifact-store` versions AI-generated artifacts in git, through libgit2, with no worktree.
//!
//! # Architecture
//!
//! One core, two faces; arrows point down only.
//!
//! ```text
//! src/main.rs, src/cli/   face: clap commands, human and --json output, exit codes
//! events                  face: Redis subscriber (streams, pub/sub) on the public API below
//! ----------------------------------------------------------------------------------
//! catalog    read side: resolve REF, list, show, log, diff, verify, export, stats
//! store      Store: an open repository + Config; every operation hangs off it
//! commit     the commit pipeline: validate, scan, build the tree in the ODB, CAS, tag
//! input      collects and validates the files of a request (symlinks, sizes, names)
//! metadata   metadata.json schema, caller-key merge, checksums, commit trailers
//! scan       the secret scanner, called once before any object is written
//! staged     scans what is staged in an index (the pre-commit hook's view)
//! revert     revert-to-tag: a branch back to a store tag, by forward commit or hard move
//! remote     push: branches then tags, non-fast-forward re-apply and retry, pending sync
//! hooks      pre-receive rules for a shared remote, installing the hook scripts
//! retention  gc: policy, plan with reasons, apply to the trash, pins, trash restore/purge
//! refs       every ref name the store reads or writes, and validated id newtypes
//! config     config file + environment + flags
//! git        the wall around libgit2: trees, compare-and-swap refs, packed refs, fsync
//! error      one error enum; the CLI maps it to exit codes
//! ```
//!
//! The library never prints and never exits; it returns data and [`Error`]s.

#![deny(clippy::unwrap_used)]

pub mod catalog;
pub mod commit;
pub mod config;
pub mod demo;
pub mod error;
pub mod events;
pub mod git;
pub mod hooks;
pub mod input;
pub mod metadata;
pub mod refs;
pub mod remote;
pub mod retention;
pub mod revert;
pub mod scan;
pub mod staged;
pub mod store;

pub use commit::{CommitOutcome, CommitRequest};
pub use config::Config;
pub use error::{Error, Result};
pub use input::InputSpec;
pub use refs::{BranchPrefix, CorrelationId, PromptHash, TaskId, WorkflowId};
pub use remote::{PushProgress, PushReport};
pub use retention::{GcOutcome, GcRequest};
pub use revert::{RevertMode, RevertOutcome, RevertRequest};
pub use store::{OpenOptions, Store};
