//! `artifact-store` versions AI-generated artifacts in git, with no worktree.
//!
//! # Architecture
//!
//! One core, thin faces; every `crate::` name points down (or within its layer, without
//! a cycle). `docs/architecture.md` tells what each module owns and where a change
//! starts; `tests/layers.rs` fails when a name points up.
//!
//! ```text
//! main       face: the binary; src/cli/ holds the clap commands, output, exit codes
//! events     face: Redis subscriber (streams, pub/sub) on the public API below
//! web        face: `serve`, the local web view and its JSON API (cargo feature `web`)
//! ----------------------------------------------------------------------------------
//! commit     the commit pipeline: validate, scan, build the tree in the ODB, CAS, tag
//! catalog    read side: resolve REF, list, show, log, diff, verify, export, stats
//! revert     revert-to-tag: a branch back to a store tag, by forward commit or hard move
//! retention  gc: plan with reasons, apply to the trash, pins, trash restore/purge
//! remote     push: branches then tags, non-fast-forward re-apply and retry, pending sync
//! hooks      pre-receive rules for a shared remote, installing the hook scripts
//! staged     scans what is staged in an index (the pre-commit hook's view)
//! demo       a fresh store with the sample run committed (calls commit)
//! ----------------------------------------------------------------------------------
//! store      Store: an open repository + Config; every operation hangs off it
//! refs       every ref name the store reads or writes, ref kinds, validated id newtypes
//! metadata   metadata.json schema, caller-key merge, checksums, trailers, reading a set's
//!            metadata from a commit
//! config     config file + environment + flags, and its value types ([retention] policy,
//!            [hooks] identities)
//! input      collects and validates the files of a request (symlinks, sizes, names)
//! report     the one JSON vocabulary of every face: envelope, errors as data
//! ----------------------------------------------------------------------------------
//! git        the wall: the one module that names the git library; the store's own ids,
//!            commits and trees over it; compare-and-swap refs, locks (gc lock too), packed
//!            refs, remotes, fsync; names only `error`, takes every policy value as an argument
//! scan       the secret scanner, called once before any object is written; names only
//!            `progress`
//! progress   the trait through which long operations report their progress to a face
//! error      one error enum (wraps the scanner's errors); the CLI maps it to exit codes
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
pub(crate) mod git;
pub mod hooks;
pub mod input;
pub mod metadata;
pub mod progress;
pub mod refs;
pub mod remote;
pub mod report;
pub mod retention;
pub mod revert;
pub mod scan;
pub mod staged;
pub mod store;
#[cfg(feature = "web")]
pub mod web;

pub use commit::{CommitOutcome, CommitRequest};
pub use config::Config;
pub use error::{Error, Result};
pub use git::ObjectId;
pub use input::InputSpec;
pub use refs::{BranchPrefix, CorrelationId, PromptHash, TaskId, WorkflowId};
pub use remote::{PushProgress, PushReport};
pub use retention::{GcOutcome, GcRequest};
pub use revert::{RevertMode, RevertOutcome, RevertRequest};
pub use store::{OpenOptions, Store};
