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
}

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
        })
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
