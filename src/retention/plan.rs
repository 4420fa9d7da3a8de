//! Planning: which refs a policy keeps and prunes, each with its reason. Pure: it reads
//! an [`Inventory`] gathered beforehand and touches no repository, so it is unit-tested on
//! data built in memory.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::git::ObjectId;
use serde::Serialize;

pub(crate) use super::inventory::{Branch, Inventory, Tag};
use super::reason::Reason;
use crate::config::retention::{Policy, Rules};
use crate::refs::{CORR_PREFIX, PROMPT_PREFIX};

const DAY: i64 = 86_400;

/// What kind of ref a decision is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    /// A task branch.
    Branch,
    /// A `corr_` tag.
    CorrTag,
    /// A `prompt_` tag.
    PromptTag,
}

/// Keep or prune.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The ref stays.
    Keep,
    /// The ref moves to the trash.
    Prune,
}

/// The decision on one ref.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Full ref name.
    #[serde(rename = "ref")]
    pub refname: String,
    /// Branch, `corr_` tag or `prompt_` tag.
    pub kind: RefKind,
    /// The workflow it belongs to (`null`: a tag on no task branch).
    #[serde(rename = "workflow_id")]
    pub workflow: Option<String>,
    /// The value the plan saw; apply moves the ref only if it still holds it.
    #[serde(serialize_with = "super::ser_oid")]
    pub oid: ObjectId,
    /// Keep or prune.
    pub decision: Verdict,
    /// Why, as `-v` prints it after `keep: ` or `prune: `.
    pub reason: String,
    /// The rule behind the reason, a stable code (`pinned`, `keep_last`, ...).
    pub rule: &'static str,
}

/// Kept and pruned counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Refs kept.
    pub kept: usize,
    /// Refs pruned.
    pub pruned: usize,
}

/// One workflow's share of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowPlan {
    /// Workflow id (`null`: tags whose commit is on no task branch).
    #[serde(rename = "workflow_id")]
    pub workflow: Option<String>,
    /// The rules it was planned with.
    pub rules: Rules,
    /// Override globs that matched, least specific first.
    pub overrides: Vec<String>,
    /// Task branches.
    pub branches: Counts,
    /// `corr_` and `prompt_` tags.
    pub tags: Counts,
}

/// A retention plan: every store ref with its decision; applying it is another step.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The time ages are measured from, RFC 3339 UTC.
    #[serde(rename = "now")]
    pub now_time: String,
    /// The time ages are measured from, unix seconds.
    #[serde(rename = "now_unix")]
    pub now: i64,
    /// Per workflow, by name; tags on no task branch last.
    pub workflows: Vec<WorkflowPlan>,
    /// Totals over every workflow.
    pub total: Counts,
    /// Every decision: per workflow, branches newest first, then tags by name.
    pub refs: Vec<Decision>,
}

impl Plan {
    /// Returns the decisions to prune.
    pub fn pruned(&self) -> impl Iterator<Item = &Decision> {
        self.refs.iter().filter(|d| d.decision == Verdict::Prune)
    }
}

/// Returns each workflow's branch indices, newest tip first (ties by name).
pub(crate) fn rank_order(branches: &[Branch]) -> BTreeMap<&str, Vec<usize>> {
    let mut order: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, b) in branches.iter().enumerate() {
        order.entry(b.workflow.as_str()).or_default().push(i);
    }
    for idxs in order.values_mut() {
        idxs.sort_by(|&a, &b| {
            let (a, b) = (&branches[a], &branches[b]);
            b.time.cmp(&a.time).then_with(|| a.refname.cmp(&b.refname))
        });
    }
    order
}

/// A task branch whose history holds a commit, and that commit's version number on it.
struct Holder {
    branch: usize,
    version: usize,
}

struct Ctx<'a> {
    inv: &'a Inventory,
    rules: HashMap<&'a str, Rules>,
    pins: HashMap<ObjectId, &'a str>,
    kept: Vec<bool>,
    on: HashMap<ObjectId, Vec<Holder>>,
}

/// Decides every ref of `inv` under `policy`, with ages measured at `now`.
pub(crate) fn plan(inv: &Inventory, policy: &Policy, now: i64) -> Plan {
    let mut pins: HashMap<ObjectId, &str> = HashMap::new();
    for (name, commit) in &inv.pins {
        let slot = pins.entry(*commit).or_insert(name);
        if name.as_str() < *slot {
            *slot = name;
        }
    }
    let mut ctx = Ctx {
        inv,
        rules: HashMap::new(),
        pins,
        kept: vec![false; inv.branches.len()],
        on: HashMap::new(),
    };
    let mut groups: BTreeMap<Option<String>, (WorkflowPlan, Vec<Decision>)> = BTreeMap::new();
    for (workflow, idxs) in rank_order(&inv.branches) {
        let (rules, overrides) = policy.rules_for(workflow);
        ctx.rules.insert(workflow, rules);
        let entry = groups
            .entry(Some(workflow.to_string()))
            .or_insert_with(|| (workflow_plan(Some(workflow), rules, overrides), Vec::new()));
        let last_pass = idxs.iter().find(|&&i| inv.branches[i].passed == Some(true));
        for (rank0, &i) in idxs.iter().enumerate() {
            let reason = branch_reason(&ctx, i, rank0 + 1, last_pass == Some(&i), &rules, now);
            ctx.kept[i] = reason.keeps();
            count(&mut entry.0.branches, reason.keeps());
            entry.1.push(decision(
                &inv.branches[i].refname,
                RefKind::Branch,
                Some(workflow),
                inv.branches[i].tip,
                reason,
            ));
        }
    }
    index_histories(&mut ctx);
    let mut tags: Vec<&Tag> = inv.tags.iter().collect();
    tags.sort_by(|a, b| a.refname.cmp(&b.refname));
    for tag in tags {
        let (reason, workflow) = tag_reason(&ctx, tag);
        let kind = if tag
            .refname
            .starts_with(&format!("refs/tags/{PROMPT_PREFIX}"))
        {
            RefKind::PromptTag
        } else {
            RefKind::CorrTag
        };
        let entry = groups
            .entry(workflow.map(str::to_string))
            .or_insert_with(|| {
                let rules = workflow.map_or_else(|| policy.rules, |w| policy.rules_for(w).0);
                (workflow_plan(workflow, rules, Vec::new()), Vec::new())
            });
        count(&mut entry.0.tags, reason.keeps());
        entry
            .1
            .push(decision(&tag.refname, kind, workflow, tag.value, reason));
    }
    finish(groups, now)
}

fn workflow_plan(workflow: Option<&str>, rules: Rules, overrides: Vec<String>) -> WorkflowPlan {
    WorkflowPlan {
        workflow: workflow.map(str::to_string),
        rules,
        overrides,
        branches: Counts::default(),
        tags: Counts::default(),
    }
}

fn count(counts: &mut Counts, keep: bool) {
    if keep {
        counts.kept += 1;
    } else {
        counts.pruned += 1;
    }
}

fn decision(
    refname: &str,
    kind: RefKind,
    workflow: Option<&str>,
    oid: ObjectId,
    reason: Reason,
) -> Decision {
    Decision {
        refname: refname.to_string(),
        kind,
        workflow: workflow.map(str::to_string),
        oid,
        decision: if reason.keeps() {
            Verdict::Keep
        } else {
            Verdict::Prune
        },
        rule: reason.rule(),
        reason: reason.to_string(),
    }
}

fn finish(groups: BTreeMap<Option<String>, (WorkflowPlan, Vec<Decision>)>, now: i64) -> Plan {
    let mut workflows = Vec::new();
    let mut refs = Vec::new();
    let mut total = Counts::default();
    // `None` sorts first in a BTreeMap; tags on no branch are listed last.
    let (none, some): (Vec<_>, Vec<_>) = groups.into_iter().partition(|(k, _)| k.is_none());
    for (_, (wf, decisions)) in some.into_iter().chain(none) {
        total.kept += wf.branches.kept + wf.tags.kept;
        total.pruned += wf.branches.pruned + wf.tags.pruned;
        workflows.push(wf);
        refs.extend(decisions);
    }
    Plan {
        now_time: crate::report::rfc3339(now),
        now,
        workflows,
        total,
        refs,
    }
}

fn branch_reason(
    ctx: &Ctx<'_>,
    i: usize,
    rank: usize,
    last_pass: bool,
    rules: &Rules,
    now: i64,
) -> Reason {
    let b = &ctx.inv.branches[i];
    if let Some(pin) = ctx.pins.get(&b.tip) {
        return Reason::Pinned(pin.to_string());
    }
    if let Some(dir) = ctx.inv.checked_out.get(&b.refname) {
        return Reason::CheckedOut(dir.clone());
    }
    if let Some(by) = ctx.inv.protected.get(&b.tip) {
        return Reason::Reachable(by.clone());
    }
    if rank == 1 {
        return Reason::LastRun;
    }
    if last_pass {
        return Reason::LastPass;
    }
    let age = (now - b.time).max(0);
    let outside = rules.keep_last.filter(|&n| rank as u64 > n);
    let older = rules
        .max_age_days
        .filter(|&d| age > (d as i64).saturating_mul(DAY));
    if outside.is_some() || older.is_some() {
        return Reason::Expired {
            keep_last: outside.map(|n| (n, rank)),
            max_age: older.map(|d| (d, age / DAY)),
        };
    }
    if rules.keep_last.is_none() && rules.max_age_days.is_none() {
        return Reason::NoBranchRule;
    }
    Reason::WithinRules {
        keep_last: rules.keep_last.map(|n| (n, rank)),
        max_age: rules.max_age_days.map(|d| (d, age / DAY)),
    }
}

/// Records, for every commit on a task branch's history, the branches holding it and its
/// version number there (the count of `corr_`-tagged commits from the tip down to it).
fn index_histories(ctx: &mut Ctx<'_>) {
    let corr = format!("refs/tags/{CORR_PREFIX}");
    let tagged: HashSet<ObjectId> = ctx
        .inv
        .tags
        .iter()
        .filter(|t| t.refname.starts_with(&corr))
        .filter_map(|t| t.commit)
        .collect();
    for (i, b) in ctx.inv.branches.iter().enumerate() {
        let mut version = 0;
        for c in &b.history {
            if tagged.contains(c) {
                version += 1;
            }
            ctx.on
                .entry(*c)
                .or_default()
                .push(Holder { branch: i, version });
        }
    }
}

fn tag_reason<'a>(ctx: &Ctx<'a>, tag: &Tag) -> (Reason, Option<&'a str>) {
    let Some(commit) = tag.commit else {
        return (Reason::NotACommit, None);
    };
    let holders = ctx.on.get(&commit).map(Vec::as_slice).unwrap_or(&[]);
    let kept = holders.iter().find(|h| ctx.kept[h.branch]);
    let workflow = kept
        .or(holders.first())
        .map(|h| ctx.inv.branches[h.branch].workflow.as_str());
    if let Some(pin) = ctx.pins.get(&commit) {
        return (Reason::Pinned(pin.to_string()), workflow);
    }
    if let Some(by) = ctx.inv.protected.get(&commit) {
        return (Reason::Reachable(by.clone()), workflow);
    }
    let is_prompt = tag
        .refname
        .starts_with(&format!("refs/tags/{PROMPT_PREFIX}"));
    let mut beyond = None;
    for h in holders.iter().filter(|h| ctx.kept[h.branch]) {
        let b = &ctx.inv.branches[h.branch];
        let short = short_branch(&b.refname);
        if b.tip == commit {
            return (Reason::Tip(short), Some(&b.workflow));
        }
        if is_prompt {
            return (Reason::OnKeptBranch(short), Some(&b.workflow));
        }
        match ctx
            .rules
            .get(b.workflow.as_str())
            .and_then(|r| r.keep_versions)
        {
            None => return (Reason::OnKeptBranch(short), Some(&b.workflow)),
            Some(k) if h.version as u64 <= k => {
                return (
                    Reason::WithinVersions {
                        keep: k,
                        version: h.version,
                        branch: short,
                    },
                    Some(&b.workflow),
                )
            }
            Some(k) => beyond = beyond.or(Some((k, h.version, short))),
        }
    }
    if let Some((keep, version, branch)) = beyond {
        return (
            Reason::OutsideVersions {
                keep,
                version,
                branch,
            },
            workflow,
        );
    }
    let pruned_on = holders
        .first()
        .map(|h| short_branch(&ctx.inv.branches[h.branch].refname));
    (Reason::CommitNotKept(pruned_on), workflow)
}

/// Returns a branch ref's short name, `ai/generated/wf/t`.
pub(crate) fn short_branch(refname: &str) -> String {
    refname
        .strip_prefix("refs/heads/")
        .unwrap_or(refname)
        .to_string()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
