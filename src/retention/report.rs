//! The retention log: one commit per gc, restore or purge on `refs/artifact-store/reports`,
//! browsable with `git log refs/artifact-store/reports`. Each commit's tree holds every
//! report so far as `<kind>-<unix_ts>.tsv`; its message says what happened, why and when.

use std::ops::ControlFlow;

use crate::git::{tree, ObjectId, Repo};

use crate::config::Durability;
use crate::error::{Error, Result};
use crate::git::durable;
use crate::git::refs::RefDb;
use crate::refs::REPORTS_REF;
use crate::store::{rfc3339_utc, Store};

/// Reports with at most this many rows list them in the commit message too.
const ROWS_IN_MESSAGE: usize = 50;

/// One entry of the retention log.
pub(crate) struct Report {
    /// `gc`, `restore` or `purge`.
    pub(crate) kind: &'static str,
    /// The trash time it is about.
    pub(crate) ts: i64,
    /// The subject line.
    pub(crate) title: String,
    /// Lines of the message body.
    pub(crate) summary: Vec<String>,
    /// Tab-separated rows: action, ref, object id, reason.
    pub(crate) rows: Vec<String>,
}

/// Commits `report` on top of `refs/artifact-store/reports`; returns the commit.
pub(crate) fn write(store: &Store, report: &Report) -> Result<ObjectId> {
    let repo = store.repo();
    let time = store.commit_time()?;
    let sig = store.signature(&time)?;
    let mut body = String::from("action\tref\toid\treason\n");
    for row in &report.rows {
        body.push_str(row);
        body.push('\n');
    }
    let blob = repo
        .blob(body.as_bytes())
        .map_err(Error::git("failed to write the report"))?;
    let mut written = vec![blob];
    // Called under the gc lock: a reports lock left by a killed gc is stale, not alive.
    let policy = super::apply::bulk_locks(store);
    let landed =
        RefDb::new(repo).update(REPORTS_REF, "artifact-store: report", policy, |parent| {
            let (tree, file) = report_tree(repo, parent, report, blob)?;
            let message = message(report, &file, &rfc3339_utc(&time));
            let parents: Vec<ObjectId> = parent.into_iter().collect();
            written.push(tree);
            let commit = tree::write_commit(repo, tree, &parents, &sig, &message, &mut written)?;
            Ok(ControlFlow::<(), ObjectId>::Continue(commit))
        })?;
    let ControlFlow::Continue((commit, _)) = landed else {
        unreachable!("the report builder never stops early")
    };
    if store.config().durability == Durability::Fsync {
        durable::sync_objects(repo, &written)?;
        durable::sync_ref(repo, REPORTS_REF, false)?;
    }
    Ok(commit)
}

/// Returns the last report's tree plus this report's file, and the file's name.
fn report_tree(
    repo: &Repo,
    parent: Option<ObjectId>,
    report: &Report,
    blob: ObjectId,
) -> Result<(ObjectId, String)> {
    let base = parent.map(|p| tree::commit_tree(repo, p)).transpose()?;
    let name = |n: u32| match n {
        1 => format!("{}-{}.tsv", report.kind, report.ts),
        n => format!("{}-{}-{n}.tsv", report.kind, report.ts),
    };
    tree::add_blob_new_name(repo, base, name, blob)
}

fn message(report: &Report, file: &str, when: &str) -> String {
    let mut text = format!("{}\n\n", report.title);
    for line in &report.summary {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&format!("When: {when}\n\n"));
    if report.rows.len() <= ROWS_IN_MESSAGE {
        for row in &report.rows {
            text.push_str(&row.replace('\t', "  "));
            text.push('\n');
        }
    } else {
        text.push_str(&format!(
            "{} rows; the full list: git show {REPORTS_REF}:{file}\n",
            report.rows.len()
        ));
    }
    text
}
