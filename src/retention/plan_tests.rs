//! Planning on inventories built in memory.

use std::collections::HashMap;

use crate::git::ObjectId;

use super::*;
use crate::config::retention::{Policy, RetentionConfig};

const NOW: i64 = 1_800_000_000;

fn oid(n: u32) -> ObjectId {
    ObjectId::from_hex(&format!("{n:040x}")).unwrap()
}

fn policy(text: &str) -> Policy {
    let config: RetentionConfig = toml::from_str(text).unwrap();
    Policy::from_config(&config).unwrap()
}

/// A branch `wf/t<task>` of `versions` commits (ids `task*100 + v`, tip first), its tip
/// `age_days` old, each commit tagged `corr_<id>`.
fn branch(
    inv: &mut Inventory,
    wf: &str,
    task: u32,
    versions: u32,
    age_days: i64,
    passed: Option<bool>,
) {
    let history: Vec<ObjectId> = (0..versions).rev().map(|v| oid(task * 100 + v)).collect();
    for c in &history {
        inv.tags.push(Tag {
            refname: format!("refs/tags/corr_{c}"),
            value: oid(900_000 + task * 100 + inv.tags.len() as u32),
            commit: Some(*c),
        });
    }
    inv.branches.push(Branch {
        refname: format!("refs/heads/ai/generated/{wf}/t{task}"),
        workflow: wf.to_string(),
        tip: history[0],
        time: NOW - age_days * DAY,
        passed,
        history,
    });
}

fn decisions(plan: &Plan) -> HashMap<String, String> {
    plan.refs
        .iter()
        .map(|d| {
            let verdict = if d.decision == Verdict::Keep {
                "keep"
            } else {
                "prune"
            };
            (d.refname.clone(), format!("{verdict}: {}", d.reason))
        })
        .collect()
}

fn branch_ref(wf: &str, task: u32) -> String {
    format!("refs/heads/ai/generated/{wf}/t{task}")
}

#[test]
fn branches_outside_keep_last_or_too_old_are_pruned_with_their_reasons() {
    let mut inv = Inventory::default();
    for task in 1..=6 {
        branch(&mut inv, "wf", task, 1, task as i64 * 10, Some(false));
    }
    let plan = plan(&inv, &policy("keep_last = 3\nmax_age_days = 45"), NOW);
    let d = decisions(&plan);
    assert_eq!(d[&branch_ref("wf", 1)], "keep: last_run");
    assert_eq!(
        d[&branch_ref("wf", 2)],
        "keep: within keep_last=3 (rank 2) and within max_age_days=45 (20 days)"
    );
    assert_eq!(
        d[&branch_ref("wf", 4)],
        "prune: outside keep_last=3 (rank 4)"
    );
    assert_eq!(
        d[&branch_ref("wf", 5)],
        "prune: outside keep_last=3 (rank 5); older than 45 days (50 days)"
    );
    let w = &plan.workflows[0];
    assert_eq!((w.branches.kept, w.branches.pruned), (3, 3));
    assert_eq!((w.tags.kept, w.tags.pruned), (3, 3));
    assert_eq!(plan.pruned().count(), 6);
}

#[test]
fn always_kept_rules_win_over_the_rules() {
    let mut inv = Inventory::default();
    branch(&mut inv, "wf", 1, 1, 1, Some(false));
    branch(&mut inv, "wf", 2, 1, 100, Some(true));
    branch(&mut inv, "wf", 3, 1, 200, None);
    branch(&mut inv, "wf", 4, 1, 300, None);
    branch(&mut inv, "wf", 5, 1, 400, None);
    inv.pins.push(("release-2025-11".into(), oid(300)));
    inv.protected.insert(oid(400), "main".into());
    let plan = plan(&inv, &policy("keep_last = 1\nmax_age_days = 30"), NOW);
    let d = decisions(&plan);
    assert_eq!(d[&branch_ref("wf", 1)], "keep: last_run");
    assert_eq!(d[&branch_ref("wf", 2)], "keep: last_pass");
    assert_eq!(d[&branch_ref("wf", 3)], "keep: pinned (release-2025-11)");
    assert_eq!(d[&branch_ref("wf", 4)], "keep: reachable from main");
    assert_eq!(
        d[&branch_ref("wf", 5)],
        "prune: outside keep_last=1 (rank 5); older than 30 days (400 days)"
    );
    assert_eq!(
        d[&format!("refs/tags/corr_{}", oid(300))],
        "keep: pinned (release-2025-11)"
    );
    assert_eq!(
        d[&format!("refs/tags/corr_{}", oid(500))],
        "prune: commit not kept (ai/generated/wf/t5 is pruned)"
    );
}

#[test]
fn keep_versions_keeps_the_newest_corr_tags_and_always_the_tip() {
    let mut inv = Inventory::default();
    branch(&mut inv, "wf", 1, 5, 0, None);
    branch(&mut inv, "other", 2, 3, 0, None);
    let text = "keep_versions = 2\n[workflows.\"oth*\"]\nkeep_versions = 0\n";
    let plan = plan(&inv, &policy(text), NOW);
    let d = decisions(&plan);
    let corr = |n| format!("refs/tags/corr_{}", oid(n));
    assert_eq!(d[&corr(104)], "keep: tip of ai/generated/wf/t1");
    assert_eq!(
        d[&corr(103)],
        "keep: within keep_versions=2 (version 2 of ai/generated/wf/t1)"
    );
    assert_eq!(
        d[&corr(102)],
        "prune: outside keep_versions=2 (version 3 of ai/generated/wf/t1)"
    );
    assert_eq!(
        d[&corr(100)],
        "prune: outside keep_versions=2 (version 5 of ai/generated/wf/t1)"
    );
    assert_eq!(d[&corr(202)], "keep: tip of ai/generated/other/t2");
    assert_eq!(
        d[&corr(201)],
        "prune: outside keep_versions=0 (version 2 of ai/generated/other/t2)"
    );
    let other = plan
        .workflows
        .iter()
        .find(|w| w.workflow.as_deref() == Some("other"))
        .unwrap();
    assert_eq!(other.overrides, ["oth*"]);
    assert_eq!(other.rules.keep_versions, Some(0));
}

#[test]
fn prompt_tags_follow_their_commit_and_orphans_go() {
    let mut inv = Inventory::default();
    branch(&mut inv, "wf", 1, 4, 0, None);
    branch(&mut inv, "wf", 2, 1, 90, None);
    inv.tags.push(Tag {
        refname: "refs/tags/prompt_deep".into(),
        value: oid(7001),
        commit: Some(oid(100)),
    });
    inv.tags.push(Tag {
        refname: "refs/tags/prompt_gone".into(),
        value: oid(7002),
        commit: Some(oid(200)),
    });
    inv.tags.push(Tag {
        refname: "refs/tags/prompt_orphan".into(),
        value: oid(7003),
        commit: Some(oid(9999)),
    });
    inv.tags.push(Tag {
        refname: "refs/tags/prompt_tree".into(),
        value: oid(7004),
        commit: None,
    });
    let plan = plan(&inv, &policy("keep_versions = 1\nmax_age_days = 30"), NOW);
    let d = decisions(&plan);
    assert_eq!(
        d["refs/tags/prompt_deep"],
        "keep: on kept branch ai/generated/wf/t1"
    );
    assert_eq!(
        d["refs/tags/prompt_gone"],
        "prune: commit not kept (ai/generated/wf/t2 is pruned)"
    );
    assert_eq!(
        d["refs/tags/prompt_orphan"],
        "prune: commit not kept (on no task branch)"
    );
    assert_eq!(d["refs/tags/prompt_tree"], "keep: names no commit");
    let last = plan.workflows.last().unwrap();
    assert_eq!(last.workflow, None);
    assert_eq!((last.tags.kept, last.tags.pruned), (1, 1));
    let pruned: Vec<_> = plan.pruned().map(|d| d.oid).collect();
    assert!(
        pruned.contains(&oid(7002)),
        "a pruned tag carries its tag object id"
    );
}

#[test]
fn no_rules_keep_everything() {
    let mut inv = Inventory::default();
    for task in 1..=4 {
        branch(&mut inv, "wf", task, 3, 1000, None);
    }
    let plan = plan(&inv, &Policy::default(), NOW);
    assert_eq!(plan.pruned().count(), 0);
    let d = decisions(&plan);
    assert_eq!(
        d[&branch_ref("wf", 3)],
        "keep: no keep_last or max_age_days rule"
    );
}

#[test]
fn ranks_break_ties_by_name_and_count_per_workflow() {
    let mut inv = Inventory::default();
    branch(&mut inv, "a", 2, 1, 5, None);
    branch(&mut inv, "a", 1, 1, 5, None);
    branch(&mut inv, "b", 3, 1, 50, None);
    let plan = plan(&inv, &policy("keep_last = 1"), NOW);
    let d = decisions(&plan);
    assert_eq!(d[&branch_ref("a", 1)], "keep: last_run");
    assert_eq!(
        d[&branch_ref("a", 2)],
        "prune: outside keep_last=1 (rank 2)"
    );
    assert_eq!(d[&branch_ref("b", 3)], "keep: last_run");
    assert_eq!(
        plan.refs[0].refname,
        branch_ref("a", 1),
        "newest first within a workflow"
    );
}
