//! `log W/T`: the versions of one task branch, newest first, with their tags.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::metadata::Trailers;
use crate::store::{rfc3339_utc, Store};

/// One version of a task: a set object of `docs/json.md` and the commit's subject.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// `Workflow-Id` trailer, else the task branch's workflow.
    pub workflow_id: String,
    /// `Task-Id` trailer, else the task branch's task.
    pub task_id: String,
    /// `Correlation-Id` trailer.
    pub correlation_id: Option<String>,
    /// `Prompt-Hash` trailer.
    pub prompt_hash: Option<String>,
    /// Commit id.
    pub commit_sha: String,
    /// Commit time, RFC 3339 UTC.
    pub commit_time: String,
    /// Commit time, unix seconds.
    #[serde(rename = "commit_time_unix")]
    pub time: i64,
    /// The task branch, full name without `refs/heads/`.
    pub branch: String,
    /// Every store tag naming this commit.
    pub tags: Vec<String>,
    /// `Test-Status` trailer.
    pub test_status: Option<String>,
    /// Commit subject.
    pub summary: String,
}

/// The versions of one task branch, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct Log {
    /// The task branch, full name without `refs/heads/`.
    pub branch: String,
    /// Newest first.
    pub entries: Vec<LogEntry>,
}

impl Store {
    /// Returns up to `limit` versions of the task branch `workflow/task`, newest first.
    pub fn log(&self, workflow_task: &str, limit: usize) -> Result<Log> {
        let (wf, task) = workflow_task.split_once('/').ok_or_else(|| {
            Error::InvalidInput(format!("{workflow_task:?}: expected WORKFLOW/TASK"))
        })?;
        let wf = crate::refs::WorkflowId::new(wf)?;
        let task = crate::refs::TaskId::new(task)?;
        let refname = self.config().prefix().task_ref(&wf, &task);
        let repo = self.repo();
        let tip = crate::git::ref_target(repo, &refname)?.ok_or_else(|| {
            Error::NotFound(format!(
                "no task branch {}",
                &refname["refs/heads/".len()..]
            ))
        })?;
        let mut out = Vec::new();
        for oid in crate::git::first_parents(repo, tip, &refname)?.take(limit) {
            let oid = oid?;
            let commit = super::find_commit(repo, oid)?;
            let trailers = Trailers::parse(commit.message());
            out.push(LogEntry {
                workflow_id: trailers
                    .workflow_id
                    .clone()
                    .unwrap_or_else(|| wf.to_string()),
                task_id: trailers.task_id.clone().unwrap_or_else(|| task.to_string()),
                commit_sha: oid.to_string(),
                commit_time: rfc3339_utc(&commit.time()),
                time: commit.time().seconds(),
                branch: refname["refs/heads/".len()..].to_string(),
                tags: self.tags_of(oid, &trailers)?,
                correlation_id: trailers.correlation_id,
                prompt_hash: trailers.prompt_hash,
                test_status: trailers.test_status,
                summary: commit.summary.clone().unwrap_or_default(),
            });
        }
        Ok(Log {
            branch: refname["refs/heads/".len()..].to_string(),
            entries: out,
        })
    }
}
