//! The artifact set a restore commit on a task branch carries, so the read side keeps
//! reading the branch: the restored set's metadata.json with `reverted_*` fields added,
//! and the `Workflow-Id`/`Task-Id`/`Test-Status` trailers (no `Correlation-Id`: that id
//! stays the key of the commit its tag names).

use crate::git::{ObjectId, Repo};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::tree::{self, Entry};
use crate::error::{Error, Result};
use crate::git::tree::MODE_FILE;
use crate::metadata::{Trailers, METADATA_FILE};
use crate::refs::{TaskId, WorkflowId};
use crate::scan::LARGE_FILE_BYTES;
use crate::store::Store;

/// The task whose branch a revert targets.
pub(crate) struct TaskSet {
    pub(crate) workflow: WorkflowId,
    pub(crate) task: TaskId,
    /// Its artifact directory in the tree.
    pub(crate) dir: String,
}

impl TaskSet {
    /// Returns the task whose branch `refname` is (`refs/heads/<prefix>/<W>/<T>`), if any.
    pub(crate) fn of(store: &Store, refname: &str) -> Option<TaskSet> {
        let base = format!("refs/heads/{}/", store.config().prefix().as_str());
        let (workflow, task) = refname.strip_prefix(&base)?.split_once('/')?;
        let workflow = WorkflowId::new(workflow).ok()?;
        let task = TaskId::new(task).ok()?;
        let dir = store
            .config()
            .artifact_dir_for(workflow.as_str(), task.as_str());
        Some(TaskSet {
            workflow,
            task,
            dir,
        })
    }

    fn metadata_path(&self) -> String {
        format!("{}/{METADATA_FILE}", self.dir)
    }

    /// Returns the metadata.json entry the restore lands at the task's directory: the tag's
    /// when the whole tree or a path covering it is restored, else the tip's.
    pub(crate) fn landing(
        &self,
        repo: &Repo,
        tip_tree: ObjectId,
        tag_tree: ObjectId,
        path: Option<&str>,
    ) -> Result<Option<Entry>> {
        let file = self.metadata_path();
        let from_tag = path.is_none_or(|p| covers(p, &file));
        tree::entry_at(repo, if from_tag { tag_tree } else { tip_tree }, &file)
    }

    /// Refuses a restore that would leave the task branch without the artifact set it has.
    pub(crate) fn check_kept(
        &self,
        repo: &Repo,
        tip_tree: ObjectId,
        tag_tree: ObjectId,
        path: Option<&str>,
        tag: &str,
    ) -> Result<()> {
        let had = tree::entry_at(repo, tip_tree, &self.metadata_path())?.is_some();
        if !had || self.landing(repo, tip_tree, tag_tree, path)?.is_some() {
            return Ok(());
        }
        Err(Error::InvalidRequest {
            message: format!(
                "restoring {tag} onto the task branch of {}/{} would leave it without its artifact set ({} has no {})",
                self.workflow,
                self.task,
                tag,
                self.metadata_path()
            ),
            hint: Some(format!(
                "revert that task to one of its own tags (`artifact-store log {}/{}`), or restore onto another branch with --target",
                self.workflow, self.task
            )),
        })
    }
}

impl TaskSet {
    /// Refuses to create the task branch at a tag whose tree holds no set of this task:
    /// the new branch would be read as another task's, listed twice under that task.
    pub(crate) fn check_created(&self, repo: &Repo, tag_tree: ObjectId, tag: &str) -> Result<()> {
        if tree::entry_at(repo, tag_tree, &self.metadata_path())?.is_some() {
            return Ok(());
        }
        Err(Error::InvalidRequest {
            message: format!(
                "creating the task branch of {}/{} at {tag} would give it no artifact set of its own ({tag} has no {})",
                self.workflow,
                self.task,
                self.metadata_path()
            ),
            hint: Some(format!(
                "create another branch with --target, or revert {}/{} to one of its own tags",
                self.workflow, self.task
            )),
        })
    }
}

/// True when restoring `path` replaces `file` (the path is the file or a directory above it).
fn covers(path: &str, file: &str) -> bool {
    file == path || file.starts_with(&format!("{path}/"))
}

/// What the restore commit says about the set it carries.
pub(super) struct Restored {
    /// The tree with the rewritten metadata.json.
    pub(super) tree: ObjectId,
    /// The store trailers of the restore commit.
    pub(super) trailers: Trailers,
}

/// Where a restore comes from and what it restores.
pub(super) struct Origin<'a> {
    pub(super) tag: &'a str,
    pub(super) tag_commit: ObjectId,
    pub(super) from: ObjectId,
    pub(super) path: Option<&'a str>,
}

/// Rewrites the metadata.json that `tree` holds at the task's directory: the restored
/// set's document plus `reverted_to`, `reverted_commit`, `reverted_from` (and
/// `reverted_path`); files and checksums recomputed when only part of the set was
/// restored. `None` when the tree holds no readable metadata there.
pub(super) fn carry(
    repo: &Repo,
    task: &TaskSet,
    tree: ObjectId,
    origin: &Origin<'_>,
    written: &mut Vec<ObjectId>,
) -> Result<Option<Restored>> {
    let base = tree;
    let file = task.metadata_path();
    let Some((blob, _)) = tree::entry_at(repo, base, &file)? else {
        return Ok(None);
    };
    let text = repo
        .read_blob(blob)
        .map_err(Error::git(format!("failed to read {file}")))?;
    let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(&text) else {
        return Ok(None);
    };
    doc.insert("reverted_to".into(), origin.tag.into());
    doc.insert(
        "reverted_commit".into(),
        origin.tag_commit.to_string().into(),
    );
    doc.insert("reverted_from".into(), origin.from.to_string().into());
    if let Some(path) = origin.path {
        doc.insert("reverted_path".into(), path.into());
        if path.starts_with(&format!("{}/", task.dir)) {
            recount(repo, base, &task.dir, &mut doc)?;
        }
    }
    let bytes = crate::metadata::to_bytes(&Value::Object(doc.clone()));
    let new_blob = repo
        .blob(&bytes)
        .map_err(Error::git(format!("failed to write {file}")))?;
    written.push(new_blob);
    let tree = tree::splice(repo, base, &file, Some((new_blob, MODE_FILE)), written)?;
    let status = doc.get("test_status").and_then(Value::as_str);
    Ok(Some(Restored {
        tree,
        trailers: Trailers {
            workflow_id: Some(task.workflow.to_string()),
            task_id: Some(task.task.to_string()),
            correlation_id: None,
            prompt_hash: None,
            test_status: status.map(str::to_string),
        },
    }))
}

/// Lists the files and checksums of what the directory now holds: part of the set came
/// from the tag, the rest from the tip, and the document must describe both.
fn recount(repo: &Repo, base: ObjectId, dir: &str, doc: &mut Map<String, Value>) -> Result<()> {
    let Some((sub, _)) = tree::entry_at(repo, base, dir)? else {
        return Ok(());
    };
    let blobs: Vec<(String, ObjectId, u64)> = crate::git::tree::list_blobs(repo, sub, dir)?
        .into_iter()
        .filter(|b| b.path != METADATA_FILE)
        .map(|b| (format!("{dir}/{}", b.path), b.id, b.size))
        .collect();
    let mut sums = Map::new();
    for (path, oid, size) in blobs {
        let mut hasher = Sha256::new();
        crate::git::blobread::for_each_piece(repo, oid, size, LARGE_FILE_BYTES, &path, |piece| {
            hasher.update(piece);
            Ok(())
        })?;
        sums.insert(path, format!("sha256:{:x}", hasher.finalize()).into());
    }
    let files = sums.keys().map(|k| Value::from(k.as_str())).collect();
    doc.insert("files".into(), Value::Array(files));
    doc.insert("checksums".into(), Value::Object(sums));
    Ok(())
}

/// True when `message` is the restore commit of exactly this tag commit and path.
pub(crate) fn is_restore_of(message: &str, tag_commit: ObjectId, path: Option<&str>) -> bool {
    let mut commit = None;
    let mut restored_path = None;
    for (key, value) in crate::git::message_trailers(message) {
        match key.to_ascii_lowercase().as_str() {
            "reverted-commit" => commit = Some(value.trim().to_string()),
            "reverted-path" => restored_path = Some(value.trim().to_string()),
            _ => {}
        }
    }
    commit.as_deref() == Some(tag_commit.to_string().as_str()) && restored_path.as_deref() == path
}
