//! `gc --apply --remote`: deletes the refs an apply moved to the trash on the configured
//! remote too, after checking that each is still in the local trash with its objects.
//! Only remote refs that still hold the pruned value are deleted; others are reported.

use std::collections::{BTreeMap, HashMap};

use git2::{Direction, Oid, PushOptions, RemoteCallbacks};
use serde::Serialize;

use super::apply::{Applied, SkippedRef};
use super::plan::Plan;
use crate::error::{Error, Result};
use crate::git::refscan;
use crate::refs::{trash_ref, TRASH_NAMESPACE};
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
pub(super) fn delete_pruned(
    store: &Store,
    plan: &Plan,
    applied: &Applied,
) -> Result<RemoteOutcome> {
    let configured = &store.config().remote_name;
    let name = crate::error::display_url(configured);
    let moved: BTreeMap<&str, Oid> = plan
        .pruned()
        .filter(|d| applied.moved_refs.binary_search(&d.refname).is_ok())
        .map(|d| (d.refname.as_str(), d.oid))
        .collect();
    check_local_trash(store, applied.trash_ts, &moved)?;
    let fail = |what: &str, e: git2::Error| Error::Remote {
        message: format!("failed to {what} remote {name:?}: {}", e.message()),
        hint: Some(format!(
            "the local prune landed; `artifact-store trash restore {}` undoes it",
            applied.trash_ts
        )),
    };
    let mut remote = store
        .repo()
        .find_remote(configured)
        .map_err(|e| Error::Remote {
            message: format!("there is no remote named {name:?}: {}", e.message()),
            hint: Some(
                "add it with `git remote add`, or set remote_name in the config".to_string(),
            ),
        })?;
    let held = list_remote(&mut remote).map_err(|e| fail("list the refs of", e))?;
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
            Some(there) if *there == expected => specs.push(format!(":{refname}")),
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
    let rejected = push_deletes(&mut remote, &specs).map_err(|e| fail("push to", e))?;
    if !rejected.is_empty() {
        return Err(Error::Remote {
            message: format!(
                "remote {name:?} refused to delete {} refs: {}",
                rejected.len(),
                rejected.join(", ")
            ),
            hint: None,
        });
    }
    outcome.deleted = specs.iter().map(|s| s[1..].to_string()).collect();
    Ok(outcome)
}

/// Returns the remote's refs and their values.
fn list_remote(
    remote: &mut git2::Remote<'_>,
) -> std::result::Result<HashMap<String, Oid>, git2::Error> {
    remote.connect(Direction::Push)?;
    let held = remote
        .list()?
        .iter()
        .map(|head| (head.name().to_string(), head.oid()))
        .collect();
    remote.disconnect()?;
    Ok(held)
}

/// Checks that every moved ref is in the local trash at its value, with its objects.
fn check_local_trash(store: &Store, ts: i64, moved: &BTreeMap<&str, Oid>) -> Result<()> {
    let prefix = format!("{TRASH_NAMESPACE}/{ts}/");
    let trash: HashMap<String, Oid> = refscan::refs_with_prefix(store.git_dir(), &prefix)?
        .into_iter()
        .collect();
    let repo = store.repo();
    for (refname, oid) in moved {
        let kept = trash.get(&trash_ref(ts, refname)) == Some(oid);
        let present = repo
            .find_object(*oid, None)
            .and_then(|o| o.peel(git2::ObjectType::Commit))
            .is_ok();
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

/// Pushes delete refspecs; returns the refs the remote rejected, with its reasons.
fn push_deletes(
    remote: &mut git2::Remote<'_>,
    specs: &[String],
) -> std::result::Result<Vec<String>, git2::Error> {
    let mut rejected = Vec::new();
    {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.push_update_reference(|refname, status| {
            if let Some(status) = status {
                rejected.push(format!("{refname} ({status})"));
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        remote.push(specs, Some(&mut options))?;
    }
    Ok(rejected)
}
