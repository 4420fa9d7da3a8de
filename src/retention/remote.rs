//! `gc --apply --remote`: deletes the refs an apply moved to the trash on the configured
//! remote too, after checking that each is still in the local trash with its objects.
//! Only remote refs that still hold the pruned value are deleted; others are reported.

use std::collections::{BTreeMap, HashMap};

use crate::git::ObjectId;
use serde::Serialize;

use super::apply::{Applied, SkippedRef};
use super::plan::Plan;
use crate::error::{Error, Result};
use crate::git::refs::RefDb;
use crate::git::remote::wire::{Endpoint, WireError};
use crate::refs::{trash_ref, TRASH_NAMESPACE};
use crate::remote::PushProgress;
use crate::store::Store;

/// What happened on the remote.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteOutcome {
    /// The remote's name.
    pub remote: String,
    /// Refs deleted there.
    pub deleted: Vec<String>,
    /// Pruned refs the remote did not have.
    pub absent: usize,
    /// Pruned refs the remote holds at another value: left alone.
    pub skipped: Vec<SkippedRef>,
}

/// Deletes the moved refs on the remote; errors leave the local apply in place.
///
/// `remote` names a configured remote or a URL; `None` means the store's `remote_name`.
/// The listing and the push go through the same endpoint as `push`, so `push_timeout`
/// bounds each and the same credentials callback serves ssh and https.
pub(super) fn delete_pruned(
    store: &Store,
    remote: Option<&str>,
    plan: &Plan,
    applied: &Applied,
    progress: &mut dyn FnMut(&PushProgress),
) -> Result<RemoteOutcome> {
    let configured = remote.unwrap_or(&store.config().remote_name);
    let name = crate::error::display_url(configured);
    let moved: BTreeMap<&str, ObjectId> = plan
        .pruned()
        .filter(|d| applied.moved_refs.binary_search(&d.refname).is_ok())
        .map(|d| (d.refname.as_str(), d.oid))
        .collect();
    if moved.is_empty() {
        return Ok(RemoteOutcome {
            remote: name,
            deleted: Vec::new(),
            absent: 0,
            skipped: Vec::new(),
        });
    }
    check_local_trash(store, applied.trash_ts, &moved)?;
    let undo = format!(
        "the local prune landed; `artifact-store trash restore {}` undoes it",
        applied.trash_ts
    );
    let fail = |what: &str, e: WireError| {
        let (WireError::NotFastForward(m) | WireError::Failed(m)) = e;
        Error::Remote {
            message: format!("failed to {what} remote {name:?}: {m}"),
            hint: Some(undo.clone()),
        }
    };
    let endpoint = Endpoint::named(store.repo(), configured, store.config().push_timeout).map_err(|e| match e {
        Error::Remote { message, .. } => Error::Remote {
            message,
            hint: Some(format!(
                "add it with `git remote add`, give a URL (`gc --apply --remote URL`), or set remote_name in the config; {undo}"
            )),
        },
        other => other,
    })?;
    let held = endpoint
        .list(progress)
        .map_err(|e| fail("list the refs of", e))?;
    let mut outcome = RemoteOutcome {
        remote: name.clone(),
        deleted: Vec::new(),
        absent: 0,
        skipped: Vec::new(),
    };
    let mut specs = Vec::new();
    for (refname, expected) in moved {
        match held.get(refname) {
            None => outcome.absent += 1,
            Some(there) if there == expected => specs.push(format!(":{refname}")),
            Some(there) => outcome.skipped.push(SkippedRef {
                refname: refname.to_string(),
                expected: expected.to_string(),
                actual: Some(there.to_string()),
                reason: format!("holds {} on the remote", &there.to_string()[..12]),
            }),
        }
    }
    if specs.is_empty() {
        return Ok(outcome);
    }
    let pushed = endpoint
        .push(specs.clone(), progress)
        .map_err(|e| fail("push to", e))?;
    if !pushed.rejected.is_empty() {
        let rejected: Vec<String> = pushed
            .rejected
            .iter()
            .map(|(refname, status)| format!("{refname} ({status})"))
            .collect();
        return Err(Error::Remote {
            message: format!(
                "remote {name:?} refused to delete {}: {}",
                super::refs(rejected.len()),
                rejected.join(", ")
            ),
            hint: Some(undo),
        });
    }
    outcome.deleted = specs.iter().map(|s| s[1..].to_string()).collect();
    Ok(outcome)
}

/// Checks that every moved ref is in the local trash at its value, with its objects.
fn check_local_trash(store: &Store, ts: i64, moved: &BTreeMap<&str, ObjectId>) -> Result<()> {
    let prefix = format!("{TRASH_NAMESPACE}/{ts}/");
    let trash: HashMap<String, ObjectId> = RefDb::new(store.repo())
        .with_prefix(&prefix)?
        .into_iter()
        .collect();
    let repo = store.repo();
    for (refname, oid) in moved {
        let kept = trash.get(&trash_ref(ts, refname)) == Some(oid);
        let present = crate::git::peel_to_commit(repo, *oid).is_ok();
        if !kept || !present {
            return Err(Error::Remote {
                message: format!(
                    "{refname} is not in the local trash at {} with its commit; nothing was deleted on the remote",
                    &oid.to_string()[..12]
                ),
                hint: Some("run `artifact-store trash list` and `git fsck`".to_string()),
            });
        }
    }
    Ok(())
}
