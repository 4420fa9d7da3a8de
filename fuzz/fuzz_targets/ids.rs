//! Id and ref-name validation: whatever `refs` accepts builds ref names git accepts, and
//! the commit trailers written from valid ids read back the same.

#![no_main]

use artifact_store::metadata::Trailers;
use artifact_store::refs::{self, BranchPrefix, CorrelationId, PinName, PromptHash};
use artifact_store::{TaskId, WorkflowId};
use libfuzzer_sys::fuzz_target;

fn assert_valid_ref(name: &str) {
    assert!(
        git2::Reference::is_valid_name(name),
        "built an invalid ref name {name:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // One input is read as one id, and split at the first newline as a workflow/task pair.
    let (first, second) = text.split_once('\n').unwrap_or((text, text));
    let prefix = BranchPrefix::default();
    for (w, t) in [(text, text), (first, second)] {
        if let (Ok(w), Ok(t)) = (WorkflowId::new(w), TaskId::new(t)) {
            assert_valid_ref(&prefix.task_ref(&w, &t));
            let trailers = Trailers {
                workflow_id: Some(w.to_string()),
                task_id: Some(t.to_string()),
                ..Trailers::default()
            };
            let message = format!("artifacts({w}/{t}): corr_x\n\n{}", trailers.render());
            assert_eq!(Trailers::parse(&message), trailers);
        }
    }
    if let Ok(p) = BranchPrefix::new(first) {
        let w = WorkflowId::new("wf").expect("a valid id");
        let t = TaskId::new("t").expect("a valid id");
        assert_valid_ref(&p.task_ref(&w, &t));
        assert_eq!(BranchPrefix::new(p.as_str()).ok(), Some(p));
    }
    if let Ok(c) = CorrelationId::new(text) {
        assert_valid_ref(&c.tag_ref());
        assert!(c.as_str().starts_with(refs::CORR_PREFIX));
        assert_eq!(CorrelationId::new(c.as_str()).ok(), Some(c.clone()));
    }
    if let Ok(h) = PromptHash::new(text) {
        assert_valid_ref(&h.tag_ref());
        assert_eq!(PromptHash::new(&h.tag_name()).ok(), Some(h));
    }
    if let Ok(pin) = PinName::new(text) {
        assert_valid_ref(&refs::pin_ref(&pin));
    }
    if refs::check_branch_name(text).is_ok() {
        assert_valid_ref(&refs::branch_ref(text));
    }
    if let Some((ts, original)) = refs::parse_trash_ref(text) {
        let rebuilt = refs::trash_ref(ts, original);
        assert_eq!(refs::parse_trash_ref(&rebuilt), Some((ts, original)));
    }
});
