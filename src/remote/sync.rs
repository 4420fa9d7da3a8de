//! The push engine: rounds of list, plan, fetch and re-apply, push; branches first, then
//! tags and pins in calls of their own.
//!
//! A ref is retried while the remote keeps changing under it, up to
//! [`PUSH_ATTEMPTS`](super::PUSH_ATTEMPTS) rounds. A ref the server rejects although
//! nobody moved it meanwhile (a hook, a protected branch) is refused at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::git::ObjectId;

use super::PUSH_ATTEMPTS;
use super::{PushProgress, PushReport, PushedRef, RefusedRef};
use crate::error::{Error, Result};
use crate::git::refs::RefDb;
use crate::git::remote::wire::{Endpoint, Listing, Pushed, WireError};
use crate::refs::{CORR_PREFIX, PINS_NAMESPACE, PROMPT_PREFIX};
use crate::store::Store;

mod plan;

use plan::Relation;

/// Refspecs per push call: large syncs go in several calls, with progress between them.
const REFS_PER_CALL: usize = 1000;

/// One ref to push: its local value, the remote's value when known, whether forced.
struct Planned {
    refname: String,
    local: ObjectId,
    remote: Option<Option<ObjectId>>,
    forced: bool,
}

/// A ref the server rejected, with what the remote held when it did (when known).
struct Rejected {
    remote: Option<Option<ObjectId>>,
    reason: String,
}

/// Pushes sets of refs to one remote and collects what happened.
pub(super) struct Engine<'a> {
    store: &'a Store,
    endpoint: Endpoint,
    progress: &'a mut dyn FnMut(&PushProgress),
    report: PushReport,
    rejected: BTreeMap<String, Rejected>,
    /// The remote's refs as the last push call saw them, with its accepted updates.
    advertised: Option<Listing>,
    settled: usize,
    planned: usize,
}

/// Returns the store's task branches and its tags and pins, as full ref names.
pub(super) fn pending_refs(store: &Store) -> Result<(Vec<String>, Vec<String>)> {
    let refs = RefDb::new(store.repo());
    let prefix = format!("refs/heads/{}/", store.config().prefix().as_str());
    let names = |p: &str| -> Result<Vec<String>> {
        Ok(refs
            .with_prefix(p)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    };
    let branches = names(&prefix)?;
    let mut tags = names(&format!("refs/tags/{CORR_PREFIX}"))?;
    tags.extend(names(&format!("refs/tags/{PROMPT_PREFIX}"))?);
    tags.extend(names(&format!("{PINS_NAMESPACE}/"))?);
    Ok((branches, tags))
}

impl<'a> Engine<'a> {
    pub(super) fn new(
        store: &'a Store,
        progress: &'a mut dyn FnMut(&PushProgress),
    ) -> Result<Engine<'a>> {
        let endpoint = Endpoint::named(
            store.repo(),
            &store.config().remote_name,
            store.config().push_timeout,
        )?;
        let report = PushReport {
            remote: crate::error::display_url(endpoint.name()),
            ..PushReport::default()
        };
        Ok(Engine {
            store,
            endpoint,
            progress,
            report,
            rejected: BTreeMap::new(),
            advertised: None,
            settled: 0,
            planned: 0,
        })
    }

    /// Pushes `branches`, then `tags`; `optimistic` pushes the branches once before
    /// listing the remote (one connection instead of two when nobody raced).
    pub(super) fn run(
        &mut self,
        branches: Vec<String>,
        tags: Vec<String>,
        optimistic: bool,
    ) -> Result<()> {
        self.branches(branches, optimistic)?;
        self.tags(tags)
    }

    /// Returns the report; `success` says whether nothing was refused.
    pub(super) fn finish(mut self) -> PushReport {
        self.report.success = self.report.refused.is_empty();
        self.report
    }

    fn branches(&mut self, refs: Vec<String>, optimistic: bool) -> Result<()> {
        let mut pending: BTreeSet<String> = refs.into_iter().collect();
        for attempt in 0..PUSH_ATTEMPTS {
            if pending.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                backoff(attempt);
            }
            let plan = if optimistic && attempt == 0 {
                self.unplanned(&pending)?
            } else {
                let listing = self.list()?;
                self.plan_branches(&mut pending, &listing)?
            };
            self.push_planned(plan, &mut pending)?;
        }
        self.give_up(pending)
    }

    fn tags(&mut self, refs: Vec<String>) -> Result<()> {
        let mut pending: BTreeSet<String> = refs.into_iter().collect();
        for attempt in 0..PUSH_ATTEMPTS {
            if pending.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                backoff(attempt);
            }
            // The first round reads the refs the branch push was just shown, when it ran.
            let listing = match self.advertised.take() {
                Some(listing) if attempt == 0 => listing,
                _ => self.list()?,
            };
            let plan = self.plan_tags(&mut pending, &listing)?;
            self.push_planned(plan, &mut pending)?;
        }
        self.give_up(pending)
    }

    /// The branches as they are locally, pushed without looking at the remote first.
    fn unplanned(&mut self, pending: &BTreeSet<String>) -> Result<Vec<Planned>> {
        let mut plan = Vec::new();
        for refname in pending {
            if let Some(local) = crate::git::ref_oid(self.store.repo(), refname)? {
                plan.push(Planned {
                    refname: refname.clone(),
                    local,
                    remote: None,
                    forced: false,
                });
            }
        }
        Ok(plan)
    }

    /// Pushes a plan in calls of [`REFS_PER_CALL`]; records what the server said.
    fn push_planned(&mut self, plan: Vec<Planned>, pending: &mut BTreeSet<String>) -> Result<()> {
        if plan.is_empty() {
            return Ok(());
        }
        self.planned = self.planned.max(self.settled + pending.len());
        (self.progress)(&PushProgress::Planned {
            refs: pending.len(),
        });
        for chunk in plan.chunks(REFS_PER_CALL) {
            let specs = chunk
                .iter()
                .map(|p| {
                    let plus = if p.forced { "+" } else { "" };
                    format!("{plus}{}:{}", p.refname, p.refname)
                })
                .collect();
            let pushed = match self.endpoint.push(specs, self.progress) {
                Ok(pushed) => pushed,
                Err(WireError::NotFastForward(_)) => continue,
                Err(WireError::Failed(message)) => return Err(self.unreachable(message)),
            };
            self.record(chunk, &pushed, pending);
            let mut after = pushed.advertised;
            for p in chunk
                .iter()
                .filter(|p| !pushed.rejected.contains_key(&p.refname))
            {
                after.set(&p.refname, p.local);
            }
            self.advertised = Some(after);
            (self.progress)(&PushProgress::Refs {
                done: self.settled,
                total: self.planned,
            });
        }
        Ok(())
    }

    /// Records what the server said about each ref of one push call.
    fn record(&mut self, chunk: &[Planned], pushed: &Pushed, pending: &mut BTreeSet<String>) {
        for p in chunk {
            match pushed.rejected.get(&p.refname) {
                Some(status) => {
                    let mut reason = status.clone();
                    if !pushed.messages.is_empty() {
                        reason = format!("{reason} (remote said: {})", pushed.messages.join(" | "));
                    }
                    self.rejected.insert(
                        p.refname.clone(),
                        Rejected {
                            remote: p.remote,
                            reason,
                        },
                    );
                }
                None => {
                    pending.remove(&p.refname);
                    self.report.pushed.push(PushedRef {
                        refname: p.refname.clone(),
                        old: p.remote.flatten().map(|o| o.to_string()),
                        new: p.local.to_string(),
                        forced: p.forced,
                    });
                    self.settled += 1;
                }
            }
        }
    }

    fn give_up(&mut self, pending: BTreeSet<String>) -> Result<()> {
        for refname in pending {
            let local = crate::git::ref_oid(self.store.repo(), &refname)?.unwrap_or(ObjectId::ZERO);
            let reason = self.rejected.get(&refname).map_or_else(
                || format!("the remote kept moving; gave up after {PUSH_ATTEMPTS} attempts"),
                |r| r.reason.clone(),
            );
            self.report.refused.push(RefusedRef {
                refname,
                local: local.to_string(),
                remote: None,
                reason,
            });
        }
        Ok(())
    }

    fn list(&mut self) -> Result<Listing> {
        self.endpoint
            .list(self.progress)
            .map_err(|e| self.unreachable(wire_message(e)))
    }

    fn fetch(&mut self, refspecs: Vec<String>) -> Result<()> {
        self.endpoint
            .fetch(refspecs, self.progress)
            .map_err(|e| self.unreachable(wire_message(e)))
    }

    fn unreachable(&self, message: String) -> Error {
        Error::Remote {
            message: format!("remote {:?}: {message}", self.report.remote),
            hint: Some(
                "commits stay local; `artifact-store push --pending` pushes them once the remote is back"
                    .to_string(),
            ),
        }
    }

    fn peel(&self, refname: &str) -> Result<Option<ObjectId>> {
        match crate::git::ref_target(self.store.repo(), refname) {
            Ok(target) => Ok(target),
            Err(Error::InvalidInput(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Returns the commit `oid` peels to, when this store holds it.
    fn peel_local(&self, oid: ObjectId) -> Option<ObjectId> {
        crate::git::peel_to_commit(self.store.repo(), oid).ok()
    }

    fn has(&self, oid: ObjectId) -> bool {
        self.store.repo().has_object(oid)
    }

    fn relation(&self, ours: ObjectId, theirs: ObjectId) -> Result<Relation> {
        let repo = self.store.repo();
        let check = |a: ObjectId, b: ObjectId| {
            repo.graph_descendant_of(a, b)
                .map_err(Error::git(format!("failed to compare {a} with {b}")))
        };
        Ok(if check(ours, theirs)? {
            Relation::Ahead
        } else if check(theirs, ours)? {
            Relation::Behind
        } else {
            Relation::Diverged
        })
    }

    fn up_to_date(&mut self, pending: &mut BTreeSet<String>, refname: &str) {
        pending.remove(refname);
        self.report.up_to_date += 1;
    }

    fn remote_ahead(&mut self, pending: &mut BTreeSet<String>, refname: &str) {
        pending.remove(refname);
        self.report.remote_ahead.push(refname.to_string());
    }

    fn refuse(
        &mut self,
        pending: &mut BTreeSet<String>,
        refname: &str,
        local: ObjectId,
        remote: Option<ObjectId>,
        reason: String,
    ) {
        pending.remove(refname);
        self.settled += 1;
        self.report.refused.push(RefusedRef {
            refname: refname.to_string(),
            local: local.to_string(),
            remote: remote.map(|o| o.to_string()),
            reason,
        });
    }
}

fn wire_message(e: WireError) -> String {
    match e {
        WireError::NotFastForward(m) | WireError::Failed(m) => m,
    }
}

/// Sleeps before a new round: 20 ms doubling up to 640 ms, with jitter, so two machines
/// that keep colliding drift apart.
fn backoff(attempt: u32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let cap = 20u64 << attempt.min(5);
    let jitter = u64::from(nanos ^ std::process::id().rotate_left(16)) % cap;
    std::thread::sleep(Duration::from_millis(cap / 2 + jitter / 2));
}
