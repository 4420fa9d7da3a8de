//! `stats`: counts of what the store holds, its size on disk, its largest artifact sets.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::Store;

/// One artifact set's size.
#[derive(Debug, Clone, Serialize)]
pub struct SetSize {
    /// Workflow id of the tip's set.
    pub workflow_id: String,
    /// Task id of the tip's set.
    pub task_id: String,
    /// The tip.
    pub commit_sha: String,
    /// Task branch.
    pub branch: String,
    /// Bytes of its files at the tip.
    pub bytes: u64,
    /// Number of files at the tip.
    #[serde(rename = "file_count")]
    pub files: usize,
}

/// What the store holds.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Distinct workflows with at least one task branch.
    pub workflows: usize,
    /// Task branches.
    pub tasks: usize,
    /// `corr_` tags: one per committed version.
    pub versions: usize,
    /// `prompt_` tags.
    pub prompt_tags: usize,
    /// Pinned commits.
    pub pins: usize,
    /// Refs in the trash.
    pub trash: usize,
    /// Loose objects.
    pub loose_objects: u64,
    /// Bytes of loose objects.
    pub loose_bytes: u64,
    /// Pack files.
    pub packs: u64,
    /// Bytes of pack files and their indexes.
    pub pack_bytes: u64,
    /// Largest task-branch tips, biggest first.
    pub largest: Vec<SetSize>,
    /// What the versions weigh against what they take on disk.
    pub storage: Storage,
}

/// Every version's bytes against the bytes on disk, and what consolidation would save.
#[derive(Debug, Clone, Serialize)]
pub struct Storage {
    /// Bytes of every version's files (metadata.json included), as `export` writes them:
    /// the sum over every `corr_` tag.
    pub raw_bytes: u64,
    /// Bytes of loose objects, packs and their indexes.
    pub disk_bytes: u64,
    /// `raw_bytes / disk_bytes` (0 for an empty store).
    pub ratio: f64,
    /// Bytes of loose objects and of packs no consolidation wrote yet.
    pub pending_bytes: u64,
    /// Whether the next commit starts a consolidation.
    pub compact_due: bool,
    /// Bytes a full consolidation (`compact`) would save now, measured by a dry run;
    /// `null` above 256 MiB on disk, where `compact --dry-run` measures it on demand, and
    /// while a consolidation is running.
    pub compact_would_save: Option<i64>,
}

/// Stores larger than this on disk get no dry run from `stats`.
const DRY_RUN_UP_TO: u64 = 256 << 20;

impl Store {
    /// Counts refs by namespace, measures the object store, ranks the largest sets.
    pub fn stats(&self, top: usize) -> Result<Stats> {
        let branches = self.task_branches(None, None)?;
        let prefix_len = self.config().prefix().as_str().len() + 1;
        let workflows: BTreeSet<&str> = branches
            .iter()
            .filter_map(|(b, _)| b.get(prefix_len..).and_then(|rest| rest.split('/').next()))
            .collect();
        let count = |prefix: &str| -> Result<usize> {
            Ok(crate::git::refs::RefDb::new(self.repo())
                .with_prefix(prefix)?
                .len())
        };
        let mut largest = Vec::new();
        for (branch, tip) in &branches {
            match self.load_set(*tip, branch) {
                Ok(set) => largest.push(SetSize {
                    workflow_id: set.workflow_id,
                    task_id: set.task_id,
                    commit_sha: set.commit_sha,
                    branch: branch.clone(),
                    bytes: set.files.iter().map(|f| f.size).sum(),
                    files: set.files.len(),
                }),
                Err(Error::Corrupt { message }) => {
                    return Err(Error::Corrupt {
                        message: format!("{branch}: {message}"),
                    })
                }
                Err(_) => {}
            }
        }
        largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.branch.cmp(&b.branch)));
        largest.truncate(top);
        let (loose_objects, loose_bytes, packs, pack_bytes) =
            object_sizes(&self.git_dir().join("objects"));
        let disk_bytes = loose_bytes + pack_bytes;
        let raw_bytes = self.raw_bytes()?;
        let pending = self.compact_pending();
        let compact_would_save = if disk_bytes <= DRY_RUN_UP_TO {
            let dry = self.compact(crate::store::CompactRequest {
                full: true,
                dry_run: true,
            })?;
            match (dry.ran, dry.skipped.as_deref()) {
                (true, _) => Some(dry.saved),
                // Measured again once the running one is done.
                (false, Some("another consolidation is running")) => None,
                (false, _) => Some(0),
            }
        } else {
            None
        };
        let storage = Storage {
            raw_bytes,
            disk_bytes,
            ratio: if disk_bytes == 0 {
                0.0
            } else {
                raw_bytes as f64 / disk_bytes as f64
            },
            pending_bytes: pending.bytes,
            compact_due: pending.due,
            compact_would_save,
        };
        Ok(Stats {
            workflows: workflows.len(),
            tasks: branches.len(),
            versions: count("refs/tags/corr_")?,
            prompt_tags: count("refs/tags/prompt_")?,
            pins: count("refs/artifact-store/pins/")?,
            trash: count("refs/artifact-store/trash/")?,
            loose_objects,
            loose_bytes,
            packs,
            pack_bytes,
            largest,
            storage,
        })
    }

    /// The bytes of every tagged version's files: one tree listing per version, sizes from
    /// object headers (no blob is read).
    fn raw_bytes(&self) -> Result<u64> {
        let mut seen = std::collections::HashSet::new();
        let mut total = 0u64;
        for (name, _) in crate::git::refs::RefDb::new(self.repo()).with_prefix("refs/tags/corr_")? {
            let Ok(Some(oid)) = crate::git::ref_target(self.repo(), &name) else {
                continue;
            };
            if !seen.insert(oid) {
                continue;
            }
            let Ok(set) = super::find_commit(self.repo(), oid) else {
                continue;
            };
            let trailers = crate::metadata::Trailers::parse(set.message());
            let (Some(workflow), Some(task)) = (&trailers.workflow_id, &trailers.task_id) else {
                continue;
            };
            let dir = self.config().artifact_dir_for(workflow, task);
            if let Some(files) = super::list_files(self.repo(), &set, &dir)? {
                total += files.iter().map(|f| f.size).sum::<u64>();
            }
        }
        Ok(total)
    }
}

fn object_sizes(objects: &Path) -> (u64, u64, u64, u64) {
    let (mut loose, mut loose_bytes, mut packs, mut pack_bytes) = (0, 0, 0, 0);
    let Ok(dirs) = std::fs::read_dir(objects) else {
        return (0, 0, 0, 0);
    };
    for dir in dirs.flatten() {
        let name = dir.file_name();
        let name = name.to_string_lossy();
        let is_fanout = name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if !(is_fanout || name == "pack") {
            continue;
        }
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            if is_fanout {
                loose += 1;
                loose_bytes += size;
            } else {
                let fname = file.file_name();
                let fname = fname.to_string_lossy();
                if fname.ends_with(".pack") {
                    packs += 1;
                }
                if fname.ends_with(".pack") || fname.ends_with(".idx") {
                    pack_bytes += size;
                }
            }
        }
    }
    (loose, loose_bytes, packs, pack_bytes)
}
