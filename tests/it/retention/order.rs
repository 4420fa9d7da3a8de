//! The order of an apply's steps, watched in process: the trash copies are in place before
//! any pruned ref is deleted, so a crash between the steps loses nothing, and the copies of
//! refs that were not deleted (changed meanwhile, or whose trash name another writer took)
//! are taken out again, so the trash holds exactly what moved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use artifact_store::retention::{Progress, Unit, Verdict};
use artifact_store::{GcRequest, OpenOptions, Store};

use super::common::Env;
use super::fixture;

const TRASH: &str = "refs/artifact-store/trash/";

/// Runs `action` when the apply starts its deletion step.
struct BeforeDeleting<F: Fn() + Sync> {
    action: F,
    seen: Mutex<Vec<String>>,
}

impl<F: Fn() + Sync> Progress for BeforeDeleting<F> {
    fn start(&self, stage: &str, _total: u64, _unit: Unit) {
        self.seen.lock().unwrap().push(stage.to_string());
        if stage.starts_with("deleting ") {
            (self.action)();
        }
    }
}

fn open(store: &Path) -> Store {
    Store::open(&OpenOptions {
        repo: Some(store.to_path_buf()),
        ..OpenOptions::default()
    })
    .unwrap()
}

/// The refs the plan prunes, with the values it saw.
fn pruned(store: &Store) -> BTreeMap<String, String> {
    let plan = store
        .gc(&GcRequest::default(), &artifact_store::retention::Silent)
        .unwrap()
        .plan;
    plan.refs
        .iter()
        .filter(|d| d.decision == Verdict::Prune)
        .map(|d| (d.refname.clone(), d.oid.to_string()))
        .collect()
}

/// Every trash ref, by original name: (trash ref, value).
fn trash(env: &Env, store: &Path) -> BTreeMap<String, (String, String)> {
    env.git_in(
        store,
        &["for-each-ref", "--format=%(refname) %(objectname)", TRASH],
    )
    .lines()
    .map(|line| {
        let (name, oid) = line.split_once(' ').unwrap();
        let original = name[TRASH.len()..].split_once('/').unwrap().1.to_string();
        (original, (name.to_string(), oid.to_string()))
    })
    .collect()
}

fn value(env: &Env, store: &Path, refname: &str) -> Option<String> {
    let run = env.git(&[
        "-C",
        store.to_str().unwrap(),
        "rev-parse",
        "--verify",
        "-q",
        refname,
    ]);
    (run.code == 0).then(|| run.stdout.trim().to_string())
}

#[test]
fn a_crash_before_the_deletions_leaves_every_pruned_ref_in_place_beside_its_copy() {
    let env = Env::new();
    let path = fixture(&env);
    let store = open(&path);
    let pruned = pruned(&store);
    assert!(pruned.len() > 5, "{pruned:?}");
    assert!(pruned.keys().any(|r| r.starts_with("refs/tags/corr_")));
    assert!(pruned.keys().any(|r| r.starts_with("refs/heads/")));
    let probe = BeforeDeleting {
        action: || panic!("crash between the trash copies and the deletions"),
        seen: Mutex::new(Vec::new()),
    };
    let request = GcRequest {
        apply: true,
        ..GcRequest::default()
    };
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.gc(&request, &probe);
    }));
    assert!(crashed.is_err(), "the deletion step was reached");
    let trash = trash(&env, &path);
    for (refname, oid) in &pruned {
        assert_eq!(
            value(&env, &path, refname).as_deref(),
            Some(oid.as_str()),
            "{refname} is still in place: no ref is deleted before its copy is written"
        );
        let (copy, held) = trash
            .get(refname)
            .unwrap_or_else(|| panic!("{refname} has its copy before any deletion"));
        assert_eq!(held, oid, "{copy}");
        if refname.starts_with("refs/tags/") {
            assert_eq!(env.git_in(&path, &["cat-file", "-t", copy]), "tag");
            assert_eq!(
                env.git_in(&path, &["rev-parse", &format!("{copy}^{{commit}}")]),
                env.git_in(&path, &["rev-parse", &format!("{refname}^{{commit}}")]),
                "{copy} peels as its tag does"
            );
        }
    }
    assert_eq!(trash.len(), pruned.len());
    let packed = std::fs::read_to_string(path.join("packed-refs")).unwrap();
    assert!(packed.contains(TRASH), "the copies are packed");
    assert!(
        !path.join("refs/artifact-store/trash").exists(),
        "no loose file or lock per copy"
    );
    env.fsck(&path);
}

#[test]
fn refs_that_were_not_deleted_leave_no_copy_in_the_trash() {
    let env = Env::new();
    let path = fixture(&env);
    let store = open(&path);
    let pruned = pruned(&store);
    let mut branches = pruned.keys().filter(|r| r.starts_with("refs/heads/"));
    let changed = branches.next().unwrap().clone();
    let taken = branches.next().unwrap().clone();
    let elsewhere = env.git_in(&path, &["rev-parse", "refs/heads/main"]);
    assert_ne!(Some(&elsewhere), pruned.get(&changed));
    let taken_copy: Mutex<Option<PathBuf>> = Mutex::new(None);
    let probe = BeforeDeleting {
        action: || {
            // A committer moves one pruned branch; another writer (as `revert-to-tag
            // --hard` does) puts a loose ref at the trash name of a second one.
            env.git_in(&path, &["update-ref", &changed, &elsewhere]);
            let (copy, _) = trash(&env, &path).remove(&taken).unwrap();
            let file = path.join(&copy);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, format!("{}\n", pruned[&taken])).unwrap();
            *taken_copy.lock().unwrap() = Some(file);
        },
        seen: Mutex::new(Vec::new()),
    };
    let request = GcRequest {
        apply: true,
        ..GcRequest::default()
    };
    let outcome = store.gc(&request, &probe).unwrap();
    assert!(probe
        .seen
        .lock()
        .unwrap()
        .iter()
        .any(|s| s.starts_with("copying ")));
    let applied = outcome.applied.unwrap();
    let skipped: BTreeMap<&str, &str> = applied
        .skipped
        .iter()
        .map(|s| (s.refname.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped[changed.as_str()].starts_with("moved to "),
        "{skipped:?}"
    );
    assert!(skipped[taken.as_str()].contains("was taken"), "{skipped:?}");
    assert_eq!(value(&env, &path, &changed), Some(elsewhere));
    assert_eq!(value(&env, &path, &taken).as_ref(), pruned.get(&taken));

    let trash = trash(&env, &path);
    let file = taken_copy.lock().unwrap().clone().unwrap();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        pruned[&taken],
        "the other writer's trash ref is left as it wrote it"
    );
    let packed = std::fs::read_to_string(path.join("packed-refs")).unwrap();
    assert!(
        !packed.contains(&format!(" {TRASH}{}/{changed}\n", applied.trash_ts)),
        "the changed ref's copy is gone from packed-refs"
    );
    assert!(
        !packed.contains(&format!(" {TRASH}{}/{taken}\n", applied.trash_ts)),
        "the copy under a taken name is gone from packed-refs"
    );
    assert!(!trash.contains_key(&changed), "no copy of a changed ref");
    let moved: Vec<&String> = trash.keys().filter(|r| **r != taken).collect();
    let mut expected: Vec<&String> = applied.moved_refs.iter().collect();
    expected.sort();
    assert_eq!(moved, expected, "the trash holds exactly what moved");
    for refname in &applied.moved_refs {
        assert_eq!(value(&env, &path, refname), None, "{refname} was deleted");
        assert_eq!(trash[refname].1, pruned[refname]);
    }
    assert_eq!(applied.moved, pruned.len() - 2);
    env.fsck(&path);
}
