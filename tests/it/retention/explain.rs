//! The plan explains itself: `gc -v` gives every ref its decision and reason.

use super::common::Env;
use super::{fixture, run_at};

#[test]
fn verbose_plan_says_why_for_every_ref() {
    let env = Env::new();
    let store = fixture(&env);
    let run = run_at(&env, &store, &["gc", "-v"]);
    let line = |refname: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{refname} ")))
            .unwrap_or_else(|| panic!("no line for {refname} in\n{}", run.stdout))
            .split_once("  ")
            .unwrap()
            .1
            .trim()
            .to_string()
    };
    let head = |wt: &str| format!("refs/heads/ai/generated/{wt}");
    assert_eq!(line(&head("wf_alpha/t1")), "keep: last_run");
    assert_eq!(
        line(&head("wf_alpha/t4")),
        "prune: outside keep_last=3 (rank 4)"
    );
    assert_eq!(
        line(&head("wf_alpha/t5")),
        "prune: outside keep_last=3 (rank 5); older than 30 days (40 days)"
    );
    assert_eq!(line(&head("wf_alpha/t6")), "keep: reachable from release");
    assert_eq!(line(&head("wf_beta/t2")), "keep: last_pass");
    assert_eq!(
        line(&head("wf_beta/t3")),
        "prune: older than 30 days (60 days)"
    );
    assert_eq!(line(&head("wf_beta/t4")), "keep: pinned (beta-t4)");
    assert_eq!(
        line(&head("wf_bench_1/t2")),
        "prune: outside keep_last=1 (rank 2)"
    );
    assert_eq!(line(&head("wf_bench_1/t4")), "keep: reachable from main");
    assert_eq!(
        line("refs/tags/corr_wf_alpha-t4-v1"),
        "keep: pinned (release-2025-11)"
    );
    assert_eq!(
        line("refs/tags/corr_wf_alpha-t1-v1"),
        "prune: outside keep_versions=2 (version 3 of ai/generated/wf_alpha/t1)"
    );
    assert_eq!(
        line("refs/tags/prompt_shared0001"),
        "keep: on kept branch ai/generated/wf_alpha/t1"
    );
    let table = run
        .stdout
        .lines()
        .find(|l| l.starts_with("wf_bench_1"))
        .unwrap();
    assert!(
        table.contains("keep_last=1 max_age_days=30 keep_versions=1 (wf_b*, wf_bench_*)"),
        "{table}"
    );
    assert!(
        run.stderr.contains("dry run: nothing changed"),
        "{}",
        run.stderr
    );
}
