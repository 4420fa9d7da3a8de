//! The event handler used as a library, with no Redis: what a Rust program with events from
//! another source runs.

use artifact_store::events::{Handler, HandlerOptions, Outcome};
use artifact_store::{OpenOptions, Store};
use serde_json::json;

#[test]
fn a_rust_program_can_commit_events_from_anywhere_through_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("store.git");
    Store::init(&repo, true).unwrap();
    let runs = dir.path().join("runs");
    std::fs::create_dir_all(runs.join("r1")).unwrap();
    std::fs::write(runs.join("r1/strategy.py"), "print('rsi')\n").unwrap();
    let store = Store::open(&OpenOptions {
        repo: Some(repo),
        config_file: None,
        overrides: vec![("durability".into(), "none".into())],
    })
    .unwrap();
    let options = HandlerOptions {
        artifacts_root: runs,
        commit_failed: false,
    };
    let handler = Handler::new(store, &options).unwrap();
    let event = json!({"event_type": "Test_Passed", "correlation_id": "lib1", "workflow_id": "wf",
        "task_id": "t", "data": {"artifacts": {"strategy": "r1/strategy.py"}, "metrics": {"n": 1}}});
    let payload = event.to_string();

    let first = handler.handle(payload.as_bytes());
    let Outcome::Committed(done) = &first.outcome else {
        panic!("{:?}", first.outcome)
    };
    assert_eq!(done.tags, ["corr_lib1"]);
    let reply = first.reply().unwrap();
    assert_eq!(reply["event_type"], "ARTIFACT_COMMITTED");
    assert_eq!(reply["correlation_id"], "lib1");
    assert_eq!(reply["data"]["duplicate"], false);

    let again = handler.handle(payload.as_bytes());
    assert_eq!(again.outcome_name(), "duplicate");
    assert_eq!(
        again.reply().unwrap()["data"]["commit_sha"],
        reply["data"]["commit_sha"]
    );

    let escape = event
        .to_string()
        .replace("r1/strategy.py", "../store.git/HEAD");
    let failed = handler.handle(escape.as_bytes());
    assert!(!failed.retryable());
    let reply = failed.reply().unwrap();
    assert_eq!(reply["event_type"], "ARTIFACT_COMMIT_FAILED");
    assert_eq!(reply["data"]["error"]["kind"], "path_outside_root");
}
