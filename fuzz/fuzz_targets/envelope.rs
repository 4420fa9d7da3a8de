//! The event envelope parser and the handler's mapping of an event to a commit request:
//! no panic on any payload, an outcome event parses back as an answer to its input, and
//! a request only ever reads files under the artifacts root.

#![no_main]

use std::path::{Path, PathBuf};

use artifact_store::events::envelope::{outcome_event, ARTIFACT_COMMITTED};
use artifact_store::events::{Envelope, Handler, HandlerOptions};
use artifact_store::metadata::TestStatus;
use artifact_store::{input, OpenOptions, Store};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

thread_local! {
    /// The handler and its canonical root, made once per fuzzing process (a `Store` holds a
    /// libgit2 repository, which is not `Sync`).
    static HANDLER: (Handler, PathBuf) = handler();
}

/// A store and an artifacts root holding `r1/strategy.py`, `r1/report.json`, and two
/// symlinks out of the root.
fn handler() -> (Handler, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir").keep();
    let repo = dir.join("store.git");
    Store::init(&repo, true).expect("a new store");
    let root = dir.join("runs");
    std::fs::create_dir_all(root.join("r1")).expect("the artifacts root");
    std::fs::write(root.join("r1/strategy.py"), "print(1)\n").expect("an artifact");
    std::fs::write(root.join("r1/report.json"), "{}\n").expect("an artifact");
    std::fs::write(dir.join("outside.txt"), "x\n").expect("a file outside");
    std::os::unix::fs::symlink(dir.join("outside.txt"), root.join("out")).expect("link");
    std::os::unix::fs::symlink(&dir, root.join("up")).expect("link");
    let store = Store::open(&OpenOptions {
        repo: Some(repo),
        config_file: None,
        overrides: vec![],
    })
    .expect("the store opens");
    let options = HandlerOptions {
        artifacts_root: root.clone(),
        commit_failed: true,
    };
    let handler = Handler::new(store, &options).expect("a handler");
    let root = std::fs::canonicalize(root).expect("a canonical root");
    (handler, root)
}

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::parse(data) else {
        return;
    };
    let _ = envelope.kind();
    let _ = envelope.task_key();
    let reply = outcome_event(
        Some(&envelope),
        ARTIFACT_COMMITTED,
        json!({"duplicate": false}),
    );
    let answer = Envelope::from_value(reply).expect("an outcome event parses");
    assert_eq!(answer.format, envelope.format);
    assert_eq!(answer.correlation_id, envelope.correlation_id);
    assert_eq!(answer.workflow_id, envelope.workflow_id);
    assert_eq!(answer.task_id, envelope.task_id);

    HANDLER.with(|(handler, root)| check_request(handler, root, &envelope));
});

fn check_request(handler: &Handler, root: &Path, envelope: &Envelope) {
    let Ok(request) = handler.request(envelope, TestStatus::Passed) else {
        return;
    };
    for spec in &request.inputs {
        assert!(spec.source.starts_with(root), "{:?} read", spec.source);
    }
    if let Ok(files) = input::collect(&request.inputs, 1 << 20) {
        for file in files {
            assert!(file.source.starts_with(root), "{:?} read", file.source);
            assert!(!file.target.starts_with('/'), "{:?}", file.target);
            assert!(file
                .target
                .split('/')
                .all(|p| !p.is_empty() && p != ".." && p != "."));
        }
    }
}
