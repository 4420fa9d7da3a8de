//! Retention against real stores built with fixed commit times: the plan and `gc --apply`
//! checked ref by ref against survivors this file computes on its own, then the trash,
//! pins, bad policies, concurrent committers and a remote.

use crate::common;
#[path = "retention/explain.rs"]
mod explain;
#[path = "retention/order.rs"]
mod order;
#[path = "retention/safety.rs"]
mod safety;
#[path = "retention/trash.rs"]
mod trash;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::Env;

const DAY: i64 = 86_400;
/// The time `gc` runs at in these tests.
const NOW: i64 = 1_750_000_000;

const POLICY: &str = r#"
[retention]
keep_last = 3
max_age_days = 30
keep_versions = 2
trash_days = 7

[retention.workflows."wf_b*"]
keep_versions = 1

[retention.workflows."wf_bench_*"]
keep_last = 1
"#;

/// One task branch of the fixture: `versions` commits, the tip `days` old.
#[derive(Clone, Copy)]
struct Task {
    wf: &'static str,
    task: &'static str,
    versions: u32,
    days: i64,
    tip_passed: bool,
}

const TASKS: &[Task] = &[
    Task {
        wf: "wf_alpha",
        task: "t1",
        versions: 3,
        days: 1,
        tip_passed: false,
    },
    Task {
        wf: "wf_alpha",
        task: "t2",
        versions: 2,
        days: 5,
        tip_passed: true,
    },
    Task {
        wf: "wf_alpha",
        task: "t3",
        versions: 1,
        days: 10,
        tip_passed: false,
    },
    Task {
        wf: "wf_alpha",
        task: "t4",
        versions: 2,
        days: 20,
        tip_passed: false,
    },
    Task {
        wf: "wf_alpha",
        task: "t5",
        versions: 1,
        days: 40,
        tip_passed: true,
    },
    Task {
        wf: "wf_alpha",
        task: "t6",
        versions: 1,
        days: 50,
        tip_passed: false,
    },
    Task {
        wf: "wf_beta",
        task: "t1",
        versions: 1,
        days: 45,
        tip_passed: false,
    },
    Task {
        wf: "wf_beta",
        task: "t2",
        versions: 3,
        days: 50,
        tip_passed: true,
    },
    Task {
        wf: "wf_beta",
        task: "t3",
        versions: 1,
        days: 60,
        tip_passed: false,
    },
    Task {
        wf: "wf_beta",
        task: "t4",
        versions: 2,
        days: 70,
        tip_passed: false,
    },
    Task {
        wf: "wf_bench_1",
        task: "t1",
        versions: 1,
        days: 2,
        tip_passed: false,
    },
    Task {
        wf: "wf_bench_1",
        task: "t2",
        versions: 1,
        days: 3,
        tip_passed: false,
    },
    Task {
        wf: "wf_bench_1",
        task: "t3",
        versions: 2,
        days: 4,
        tip_passed: true,
    },
    Task {
        wf: "wf_bench_1",
        task: "t4",
        versions: 1,
        days: 5,
        tip_passed: false,
    },
];

/// Pinned by name: the tip of wf_beta/t4 and an old version of wf_alpha/t4.
const PINS: &[(&str, &str)] = &[
    ("beta-t4", "wf_beta/t4/v2"),
    ("release-2025-11", "wf_alpha/t4/v1"),
];
/// Branches outside the prefix: `main` at wf_bench_1/t4's tip, `release` at wf_alpha/t6's.
const OUTSIDE: &[(&str, &str)] = &[("main", "wf_bench_1/t4"), ("release", "wf_alpha/t6")];
/// The oldest version of wf_alpha/t1 is made from a prompt that no later commit uses.
const SHARED_PROMPT: (&str, &str) = ("wf_alpha/t1/v1", "shared0001");

fn corr(t: &Task, v: u32) -> String {
    format!("corr_{}-{}-v{v}", t.wf, t.task)
}

fn prompt(t: &Task, v: u32) -> String {
    if format!("{}/{}/v{v}", t.wf, t.task) == SHARED_PROMPT.0 {
        SHARED_PROMPT.1.to_string()
    } else {
        format!("p{}{}", t.wf.replace('_', ""), t.task)
    }
}

/// Commits one version with its commit time fixed.
pub(crate) fn commit_at(
    env: &Env,
    store: &Path,
    (wf, task): (&str, &str),
    corr: &str,
    prompt: &str,
    secs: i64,
    status: &str,
) {
    let dir = env.path(&format!("runs/{corr}"));
    env.write(
        &format!("runs/{corr}/result.csv"),
        format!("{corr},{secs}\n"),
    );
    env.commit_dated(
        store,
        secs,
        &[
            "-w",
            wf,
            "-t",
            task,
            "--correlation-id",
            corr,
            "--prompt-hash",
            prompt,
            "--status",
            status,
        ],
        &dir,
    );
}

/// Builds the fixture store with its config, pins and outside branches.
pub(crate) fn fixture(env: &Env) -> PathBuf {
    let store = env.store();
    std::fs::write(store.join("artifact-store.toml"), POLICY).unwrap();
    for t in TASKS {
        for v in 1..=t.versions {
            let secs = NOW - t.days * DAY - i64::from(t.versions - v) * 3600;
            let status = if v == t.versions && t.tip_passed {
                "passed"
            } else {
                "failed"
            };
            commit_at(
                env,
                &store,
                (t.wf, t.task),
                &corr(t, v),
                &prompt(t, v),
                secs,
                status,
            );
        }
    }
    for (name, at) in PINS {
        let (wf, task, v) = split(at);
        let t = TASKS.iter().find(|t| t.wf == wf && t.task == task).unwrap();
        run_at(env, &store, &["pin", &corr(t, v), "--name", name]);
    }
    for (branch, at) in OUTSIDE {
        let tip = env.git_in(&store, &["rev-parse", &format!("ai/generated/{at}")]);
        env.git_in(
            &store,
            &["update-ref", &format!("refs/heads/{branch}"), &tip],
        );
    }
    store
}

fn split(at: &str) -> (&str, &str, u32) {
    let mut parts = at.split('/');
    let (wf, task) = (parts.next().unwrap(), parts.next().unwrap());
    let v = parts.next().map_or(0, |v| v[1..].parse().unwrap());
    (wf, task, v)
}

/// Runs the store binary at `NOW`, asserting success.
#[track_caller]
pub(crate) fn run_at(env: &Env, store: &Path, args: &[&str]) -> common::Run {
    run_time(env, store, NOW, args).ok()
}

/// Runs the store binary with the clock at `secs`.
pub(crate) fn run_time(env: &Env, store: &Path, secs: i64, args: &[&str]) -> common::Run {
    let mut full = vec!["--repo", store.to_str().unwrap()];
    full.extend_from_slice(args);
    let mut cmd = env.cmd(&full);
    cmd.env("GIT_COMMITTER_DATE", format!("@{secs} +0000"));
    let out = cmd.output().unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The refs that must survive, worked out from the fixture's table alone.
fn expected_survivors() -> BTreeSet<String> {
    let rules = |wf: &str| match wf {
        "wf_alpha" => (3, 2),
        "wf_beta" => (3, 1),
        _ => (1, 1),
    };
    let pinned = |t: &Task, v: u32| PINS.iter().any(|(_, at)| split(at) == (t.wf, t.task, v));
    let outside = |t: &Task| {
        OUTSIDE
            .iter()
            .any(|(_, at)| *at == format!("{}/{}", t.wf, t.task))
    };
    let mut keep = BTreeSet::new();
    let mut by_wf: BTreeMap<&str, Vec<&Task>> = BTreeMap::new();
    for t in TASKS {
        by_wf.entry(t.wf).or_default().push(t);
    }
    for (wf, mut tasks) in by_wf {
        tasks.sort_by_key(|t| t.days);
        let (keep_last, keep_versions) = rules(wf);
        let last_pass = tasks.iter().position(|t| t.tip_passed);
        for (i, t) in tasks.iter().enumerate() {
            let kept = pinned(t, t.versions)
                || outside(t)
                || i == 0
                || last_pass == Some(i)
                || (i < keep_last && t.days <= 30);
            if kept {
                keep.insert(format!("refs/heads/ai/generated/{}/{}", t.wf, t.task));
            }
            for v in 1..=t.versions {
                let newest_first = t.versions - v + 1;
                let tag_kept = pinned(t, v)
                    || outside(t)
                    || (kept && (newest_first == 1 || newest_first <= keep_versions));
                if tag_kept {
                    keep.insert(format!("refs/tags/{}", corr(t, v)));
                }
                let prompt_on_this = (v == t.versions) || prompt(t, v) == SHARED_PROMPT.1;
                if prompt_on_this && (kept || pinned(t, v) || outside(t)) {
                    keep.insert(format!("refs/tags/prompt_{}", prompt(t, v)));
                }
            }
        }
    }
    keep
}

pub(crate) fn store_refs(env: &Env, store: &Path) -> BTreeMap<String, String> {
    env.git_in(
        store,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads/ai/",
            "refs/tags/",
        ],
    )
    .lines()
    .map(|l| {
        let (name, oid) = l.split_once(' ').unwrap();
        (name.to_string(), oid.to_string())
    })
    .collect()
}

#[test]
fn apply_keeps_exactly_the_survivors_and_trashes_the_rest() {
    let env = Env::new();
    let store = fixture(&env);
    let before = store_refs(&env, &store);
    let expected = expected_survivors();
    assert!(
        expected.len() < before.len() && expected.len() > 10,
        "the fixture prunes some"
    );

    let plan = run_at(&env, &store, &["--json", "gc"]).json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(store_refs(&env, &store), before, "the plan changes nothing");
    let planned_keep: BTreeSet<String> = plan["refs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["decision"] == "keep")
        .map(|d| d["ref"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<_> = expected.difference(&planned_keep).collect();
    let extra: Vec<_> = planned_keep.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "kept but not expected: {extra:?}\nexpected but pruned: {missing:?}"
    );

    let applied = run_at(&env, &store, &["--json", "gc", "--apply"]).json();
    let ts = applied["applied"]["trash_time_unix"].as_i64().unwrap();
    assert_eq!(ts, NOW);
    let after = store_refs(&env, &store);
    assert_eq!(
        after.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "survivors, ref by ref"
    );
    for (name, oid) in &before {
        let trash = format!("refs/artifact-store/trash/{ts}/{name}");
        let held = env
            .git(&[
                "-C",
                store.to_str().unwrap(),
                "rev-parse",
                "--verify",
                "-q",
                &trash,
            ])
            .stdout;
        match expected.contains(name) {
            true => assert_eq!(&after[name], oid, "{name} kept unchanged"),
            false => assert_eq!(held.trim(), oid, "{name} is in the trash at its value"),
        }
        if !expected.contains(name) && name.starts_with("refs/tags/") {
            let kind = env.git_in(&store, &["cat-file", "-t", &trash]);
            assert_eq!(kind, "tag", "{trash} still names the annotated tag object");
        }
    }
    env.fsck(&store);
    let log = env.git_in(
        &store,
        &["log", "--format=%s", "refs/artifact-store/reports"],
    );
    assert_eq!(
        log,
        format!(
            "gc: {} refs moved to the trash",
            before.len() - expected.len()
        )
    );
    let again = run_at(&env, &store, &["--json", "gc"]).json();
    assert_eq!(
        again["total"]["pruned"], 0,
        "a second plan finds nothing more"
    );
}
