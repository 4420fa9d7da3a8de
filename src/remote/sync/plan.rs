//! Planning a round: which refs to push, fetch and re-apply, leave, or refuse.

use std::collections::BTreeSet;

use crate::git::ObjectId;

use super::{Engine, Planned};
use crate::error::{Error, Result};
use crate::git::reapplication::is_reapplication;
use crate::git::remote::wire::Listing;
use crate::remote::reapply::{self, Reapply};
use crate::remote::StoreRef;

impl Engine<'_> {
    pub(super) fn plan_branches(
        &mut self,
        pending: &mut BTreeSet<String>,
        listing: &Listing,
    ) -> Result<Vec<Planned>> {
        let mut plan = Vec::new();
        let mut diverged = Vec::new();
        for refname in pending.clone() {
            let Some((local, remote)) = self.settle_obvious(pending, &refname, listing)? else {
                continue;
            };
            match remote {
                None => plan.push(planned(refname, local, None, false)),
                Some(theirs) if !self.has(theirs) => diverged.push((refname, local, theirs)),
                Some(theirs) => match self.relation(local, theirs)? {
                    Relation::Ahead => plan.push(planned(refname, local, Some(theirs), false)),
                    Relation::Behind => self.remote_ahead(pending, &refname),
                    Relation::Diverged => diverged.push((refname, local, theirs)),
                },
            }
        }
        if !diverged.is_empty() {
            let specs = diverged.iter().map(|(r, _, _)| r.clone()).collect();
            self.fetch(specs)?;
        }
        for (refname, local, theirs) in diverged {
            if self.has(theirs) {
                self.plan_fetched(pending, &mut plan, refname, local, theirs)?;
            }
        }
        Ok(plan)
    }

    /// Plans a branch whose remote value was just fetched: push, leave, or re-apply first.
    fn plan_fetched(
        &mut self,
        pending: &mut BTreeSet<String>,
        plan: &mut Vec<Planned>,
        refname: String,
        local: ObjectId,
        theirs: ObjectId,
    ) -> Result<()> {
        match self.relation(local, theirs)? {
            Relation::Ahead => plan.push(planned(refname, local, Some(theirs), false)),
            Relation::Behind => self.remote_ahead(pending, &refname),
            Relation::Diverged => {
                match reapply::onto_remote(self.store, &refname, local, theirs)? {
                    Reapply::Moved { tip, moves } => {
                        self.report.reapplied.extend(moves);
                        if tip == theirs {
                            self.up_to_date(pending, &refname);
                        } else {
                            plan.push(planned(refname, tip, Some(theirs), false));
                        }
                    }
                    Reapply::LostRace => {}
                    Reapply::Refused(reason) => {
                        self.refuse(pending, &refname, local, Some(theirs), reason)
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn plan_tags(
        &mut self,
        pending: &mut BTreeSet<String>,
        listing: &Listing,
    ) -> Result<Vec<Planned>> {
        let mut plan = Vec::new();
        let mut differ = Vec::new();
        for refname in pending.clone() {
            let Some((local, remote)) = self.settle_obvious(pending, &refname, listing)? else {
                continue;
            };
            let Some(theirs) = remote else {
                plan.push(planned(refname, local, None, false));
                continue;
            };
            let ours = self.peel(&refname)?;
            let their_commit = listing.peeled(&refname).or_else(|| self.peel_local(theirs));
            if ours.is_some() && ours == their_commit {
                self.up_to_date(pending, &refname);
                continue;
            }
            differ.push((refname, local, theirs, ours, their_commit));
        }
        let missing: Vec<String> = differ
            .iter()
            .filter(|d| !d.4.is_some_and(|c| self.has(c)))
            .map(|d| d.0.clone())
            .collect();
        if !missing.is_empty() {
            self.fetch(missing)?;
        }
        for (refname, local, theirs, ours, their_commit) in differ {
            let their_commit = their_commit
                .filter(|c| self.has(*c))
                .or_else(|| self.peel_local(theirs));
            let decision = match (ours, their_commit) {
                (Some(ours), Some(t)) if self.has(t) => self.tag_decision(&refname, ours, t)?,
                _ => Decision::Refuse("the remote's value is not a commit this store can read"),
            };
            match decision {
                Decision::Force => plan.push(planned(refname, local, Some(theirs), true)),
                Decision::Behind => self.remote_ahead(pending, &refname),
                Decision::Refuse(why) => {
                    self.refuse(pending, &refname, local, Some(theirs), why.to_string())
                }
            }
        }
        Ok(plan)
    }

    /// Settles refs that need no planning: gone locally, equal on the remote, or rejected
    /// before with the remote unchanged since. Returns the local and remote values otherwise.
    fn settle_obvious(
        &mut self,
        pending: &mut BTreeSet<String>,
        refname: &str,
        listing: &Listing,
    ) -> Result<Option<(ObjectId, Option<ObjectId>)>> {
        let Some(local) = crate::git::ref_oid(self.store.repo(), refname)? else {
            pending.remove(refname);
            return Ok(None);
        };
        let remote = listing.get(refname);
        if remote == Some(local) {
            self.up_to_date(pending, refname);
            return Ok(None);
        }
        if let Some(rejected) = self.rejected.get(refname) {
            if rejected.remote == Some(remote) {
                let reason = rejected.reason.clone();
                self.refuse(pending, refname, local, remote, reason);
                return Ok(None);
            }
        }
        Ok(Some((local, remote)))
    }

    /// What to do with a tag or pin the remote holds at another commit.
    fn tag_decision(&self, refname: &str, ours: ObjectId, theirs: ObjectId) -> Result<Decision> {
        let repo = self.store.repo();
        let kind = StoreRef::of(refname, self.store.config().prefix().as_str());
        if kind == Some(StoreRef::CorrTag) {
            return Ok(if is_reapplication(repo, theirs, ours)? {
                Decision::Force
            } else {
                Decision::Refuse("the remote's tag names another commit with other content")
            });
        }
        if self.relation(ours, theirs)? == Relation::Ahead {
            return Ok(Decision::Force);
        }
        let time = |oid: ObjectId| -> Result<i64> {
            Ok(repo
                .commit_view(oid)
                .map_err(Error::git(format!("failed to read commit {oid}")))?
                .time()
                .seconds())
        };
        Ok(if time(ours)? > time(theirs)? {
            Decision::Force
        } else if kind == Some(StoreRef::PromptTag) {
            Decision::Behind
        } else {
            Decision::Refuse("the remote names a newer commit")
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Relation {
    /// The local value descends from the remote's.
    Ahead,
    /// The remote's value descends from the local one.
    Behind,
    /// Neither descends from the other.
    Diverged,
}

enum Decision {
    Force,
    Behind,
    Refuse(&'static str),
}

pub(super) fn planned(
    refname: String,
    local: ObjectId,
    remote: Option<ObjectId>,
    forced: bool,
) -> Planned {
    Planned {
        refname,
        local,
        remote: Some(remote),
        forced,
    }
}
