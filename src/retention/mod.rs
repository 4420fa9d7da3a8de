//! Retention as ref pruning: a policy, a plan that explains every decision, an apply that
//! moves pruned refs to the trash in one batched transaction, a report log, pins, and a
//! trash that can be listed, restored from and purged.
//!
//! Objects are never deleted here: a pruned ref keeps its objects reachable from
//! `refs/artifact-store/trash/<unix_ts>/<original ref>` until `trash purge`, after which
//! git's own garbage collection (`git gc`) reclaims what nothing reaches any more.

mod apply;
mod inventory;
mod pins;
mod plan;
mod reason;
mod remote;
mod report;
mod trash;

use crate::git::ObjectId;
use serde::Serialize;

use crate::error::Result;
use crate::git::refs::GcLock;
use crate::store::Store;

pub use crate::config::retention::{Policy, RetentionConfig, RuleOverride, Rules};
pub use crate::git::refs::LOOSE_REFS_PACK_THRESHOLD;
pub use crate::progress::{Progress, Silent, Unit};
pub use apply::{Applied, SkippedRef};
pub use pins::PinOutcome;
pub use plan::{Counts, Decision, Plan, RefKind, Verdict, WorkflowPlan};
pub use remote::RemoteOutcome;
pub use trash::{
    GitGc, PurgeOutcome, PurgedBatch, RestoreOutcome, TrashBatch, TrashEntry, TrashList,
};

/// What `gc` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct GcRequest {
    /// Carry the plan out; otherwise only plan.
    pub apply: bool,
    /// Also delete the pruned refs on the remote (with `apply`).
    pub remote: bool,
    /// The remote to delete them on, a name or a URL; `None` is the configured `remote_name`.
    pub remote_name: Option<String>,
    /// A policy to use instead of the config's `[retention]`.
    pub policy: Option<Policy>,
}

/// What `gc` did: the plan, and with `--apply` what moved.
#[derive(Debug, Serialize)]
pub struct GcOutcome {
    /// True unless an error is reported apart (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Whether any rule is set at all (a store with none keeps everything).
    pub rules_set: bool,
    /// The plan.
    #[serde(flatten)]
    pub plan: Plan,
    /// What the apply did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    /// What happened on the remote, with `--remote`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteOutcome>,
    /// The remote step's failure, after the local apply landed.
    #[serde(skip)]
    pub remote_error: Option<crate::Error>,
}

impl crate::report::Reportable for GcOutcome {
    fn failure(&self) -> Option<crate::report::Failure> {
        self.remote_error.as_ref().map(crate::report::Failure::of)
    }
}

impl Store {
    /// Plans retention under the request's policy and, when asked, applies the plan.
    pub fn gc(&self, request: &GcRequest, progress: &dyn Progress) -> Result<GcOutcome> {
        let policy = match &request.policy {
            Some(policy) => policy.clone(),
            None => Policy::from_config(&self.config().retention)?,
        };
        let now = self.commit_time()?.seconds();
        let lock = match request.apply {
            true => Some(GcLock::acquire(self.git_dir(), self.lock_policy())?),
            false => None,
        };
        let inventory = self.retention_inventory(progress)?;
        progress.finish();
        let plan = plan::plan(&inventory, &policy, now);
        let mut outcome = GcOutcome {
            success: true,
            dry_run: !request.apply,
            rules_set: !policy.is_empty(),
            plan,
            applied: None,
            remote: None,
            remote_error: None,
        };
        if !request.apply {
            return Ok(outcome);
        }
        let applied = apply::apply(self, &outcome.plan, now, progress)?;
        if request.remote {
            // A delete push sends no objects: nothing worth a progress bar.
            let mut relay = |_: &crate::remote::PushProgress| {};
            match remote::delete_pruned(
                self,
                request.remote_name.as_deref(),
                &outcome.plan,
                &applied,
                &mut relay,
            ) {
                Ok(remote) => outcome.remote = Some(remote),
                Err(e) => outcome.remote_error = Some(e),
            }
        }
        outcome.applied = Some(applied);
        drop(lock);
        Ok(outcome)
    }
}

/// Counts refs in a sentence: `1 ref`, `2 refs`.
pub(crate) fn refs(n: usize) -> String {
    match n {
        1 => "1 ref".to_string(),
        n => format!("{n} refs"),
    }
}

/// Serializes an object id as its full hex form.
pub(crate) fn ser_oid<S: serde::Serializer>(oid: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&oid.to_string())
}
