//! Property tests of the parsers that take outside input: ids and ref names, event
//! envelopes, `--where` and `--since`, the metadata merge, and the scanner. Each draws its
//! cases from a fixed-seed generator, so a failure names a case that reproduces; the
//! `fuzz/` targets explore the same properties without a bound (docs/fuzzing.md).
//!
//! `ARTIFACT_STORE_PROPERTY_CASES=N` multiplies the number of cases (default 1).

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use artifact_store::catalog::query::{parse_since, Where};
use artifact_store::events::envelope::{outcome_event, ARTIFACT_COMMITTED};
use artifact_store::events::{Envelope, Handler, HandlerOptions};
use artifact_store::metadata::{self, StoreFields, TestStatus, STORE_KEYS};
use artifact_store::refs::{self, BranchPrefix, CorrelationId, PinName, PromptHash};
use artifact_store::scan::{Finding, Scanner};
use artifact_store::{input, OpenOptions, Store, TaskId, WorkflowId};
use serde_json::{json, Map, Value};

/// SplitMix64: small, fast, and the same sequence on every machine.
struct Gen(u64);

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    /// A string of `0..max` pieces, each drawn from `pieces`.
    fn text(&mut self, pieces: &[&str], max: usize) -> String {
        let len = self.below(max + 1);
        (0..len).map(|_| self.pick(pieces)).collect()
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn cases(base: usize) -> usize {
    let factor = std::env::var("ARTIFACT_STORE_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    base * factor
}

/// Pieces that sit on every rule of git's ref names and of the store's ids.
const ID_PIECES: &[&str] = &[
    "a", "Z", "0", "9", "x", "wf", "t1", ".", ".", "..", "-", "_", "/", ".lock", "lock", "@", "@{",
    "{", "~", "^", ":", "?", "*", "[", "\\", " ", "\t", "\u{7f}", "é", "corr_", "prompt_",
];

/// Runs `git check-ref-format` on each name; returns those git refuses.
fn git_refuses(env: &common::Env, names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|name| {
            let run = env.git(&["check-ref-format", name.as_str()]);
            run.code != 0
        })
        .cloned()
        .collect()
}

#[test]
fn every_ref_name_built_from_accepted_ids_passes_git_check_ref_format() {
    let env = common::Env::new();
    let mut gen = Gen::new(0x1d5);
    let prefix = BranchPrefix::default();
    let mut built = Vec::new();
    let mut tried = 0;
    // Draw until enough ids pass, so that the git check sees a few hundred names.
    while built.len() < cases(400) && tried < cases(200_000) {
        tried += 1;
        let a = gen.text(ID_PIECES, 8);
        let b = gen.text(ID_PIECES, 8);
        if let (Ok(w), Ok(t)) = (WorkflowId::new(&a), TaskId::new(&b)) {
            built.push(prefix.task_ref(&w, &t));
        }
        if let Ok(c) = CorrelationId::new(&a) {
            built.push(c.tag_ref());
        }
        if let Ok(h) = PromptHash::new(&a) {
            built.push(h.tag_ref());
        }
        if let Ok(p) = PinName::new(&a) {
            built.push(refs::pin_ref(&p));
        }
        if let Ok(p) = BranchPrefix::new(&format!("{a}/{b}")) {
            let (w, t) = (WorkflowId::new("wf").unwrap(), TaskId::new("t").unwrap());
            built.push(p.task_ref(&w, &t));
        }
    }
    assert!(
        built.len() >= cases(400),
        "only {} names built",
        built.len()
    );
    built.sort();
    built.dedup();
    let refused = git_refuses(&env, &built);
    assert!(refused.is_empty(), "git refuses {refused:?}");
}

#[test]
fn ids_ending_in_a_dot_are_refused_because_git_refuses_their_refs() {
    let env = common::Env::new();
    // What git says about the ref these ids would build; the store must agree.
    assert_eq!(
        git_refuses(&env, &["refs/heads/ai/generated/wf/t.".to_string()]).len(),
        1
    );
    assert!(TaskId::new("t.").is_err());
    assert!(CorrelationId::new("corr_c.").is_err());
    assert!(WorkflowId::new("v1.").is_err());
    assert!(TaskId::new("v1.2").is_ok());
}

/// A store and an artifacts root with two files and two symlinks leaving the root.
struct Fixture {
    _env: common::Env,
    handler: Handler,
    root: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let env = common::Env::new();
    let repo = env.path("store.git");
    Store::init(&repo, true).unwrap();
    let root = env.path("runs");
    env.write("runs/r1/strategy.py", "print(1)\n");
    env.write("runs/r1/report.json", "{}\n");
    env.write("outside.txt", "x\n");
    std::os::unix::fs::symlink(env.path("outside.txt"), root.join("out")).unwrap();
    std::os::unix::fs::symlink(env.dir.path(), root.join("up")).unwrap();
    let store = Store::open(&OpenOptions {
        repo: Some(repo),
        config_file: None,
        overrides: vec![],
    })
    .unwrap();
    let options = HandlerOptions {
        artifacts_root: root.clone(),
        commit_failed: true,
    };
    let handler = Handler::new(store, &options).unwrap();
    let root = std::fs::canonicalize(root).unwrap();
    Fixture {
        _env: env,
        handler,
        root,
    }
}

/// A random JSON value of a few levels, from a small vocabulary.
fn json_value(gen: &mut Gen, depth: usize) -> Value {
    match gen.below(if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(gen.below(2) == 1),
        2 => json!(gen.next() as i64),
        3 => json!(gen.pick(&[
            "TEST_PASSED",
            "test_passed",
            "x.y.TEST_FAILED",
            "",
            "wf",
            "t1"
        ])),
        4 => json!(gen.text(ID_PIECES, 6)),
        5 => Value::Array(
            (0..gen.below(3))
                .map(|_| json_value(gen, depth - 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for _ in 0..gen.below(4) {
                let key = gen.pick(&["a", "metrics", "artifacts", "x_version", "prompt_hash"]);
                map.insert(key.to_string(), json_value(gen, depth - 1));
            }
            Value::Object(map)
        }
    }
}

const PATH_PIECES: &[&str] = &[
    "r1",
    "strategy.py",
    "report.json",
    "out",
    "up",
    "outside.txt",
    "..",
    ".",
    "/",
    "/",
    "store.git",
    "HEAD",
    "/etc",
    "passwd",
    "missing",
];

/// Paths that resolve, climb out, or pass through a symlink out of the root.
const KNOWN_PATHS: &[&str] = &[
    "r1/strategy.py",
    "r1/report.json",
    "r1",
    "r1/",
    ".",
    "./r1/../r1/report.json",
    "out",
    "up",
    "up/outside.txt",
    "up/runs/r1/strategy.py",
    "../outside.txt",
    "r1/../../outside.txt",
    "/etc/passwd",
    "r1/strategy.py/..",
    "r1//strategy.py",
];

/// An envelope of either shape, each field present, absent, or of a wrong type.
fn envelope(gen: &mut Gen, root: &Path) -> Value {
    let cloud = gen.below(3) == 0;
    let mut top = Map::new();
    if cloud {
        top.insert(
            "specversion".into(),
            json!(gen.pick(&["1.0", "1.0", "0.3"])),
        );
    }
    let fields: &[&str] = if cloud {
        &[
            "type",
            "id",
            "source",
            "correlationid",
            "workflowid",
            "taskid",
        ]
    } else {
        &[
            "event_type",
            "event_id",
            "source",
            "correlation_id",
            "workflow_id",
            "task_id",
        ]
    };
    for (i, field) in fields.iter().enumerate() {
        let value = match gen.below(8) {
            0 => continue,
            1 => json_value(gen, 1),
            _ if i == 0 => json!(gen.pick(&["TEST_PASSED", "Test_Failed", "a.b.test_passed"])),
            _ => json!(gen.pick(&["wf", "t1", "corr_1", "ok-1", "ok-1", "wf", "c.", "x..y"])),
        };
        top.insert(field.to_string(), value);
    }
    let mut artifacts = Map::new();
    for _ in 0..gen.below(3) + usize::from(gen.below(8) != 0) {
        let mut path = if gen.below(2) == 0 {
            gen.pick(KNOWN_PATHS).to_string()
        } else {
            gen.text(PATH_PIECES, 5)
        };
        if gen.below(4) == 0 {
            path = format!("{}/{path}", root.display());
        }
        let key = gen.text(&["k", "a", "/", "..", ".", "metadata.json", ".git"], 3);
        artifacts.insert(key, json!(path));
    }
    let mut data = Map::new();
    data.insert("artifacts".into(), Value::Object(artifacts));
    if gen.below(2) == 0 {
        data.insert("metrics".into(), json_value(gen, 3));
    }
    if gen.below(3) == 0 {
        data.insert("prompt_hash".into(), json_value(gen, 0));
    }
    top.insert("data".into(), Value::Object(data));
    Value::Object(top)
}

/// Damages a payload: truncates it, flips bytes, or splices in JSON tokens.
fn damage(gen: &mut Gen, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..gen.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = gen.below(bytes.len());
        match gen.below(4) {
            0 => bytes.truncate(at),
            1 => bytes[at] = gen.next() as u8,
            2 => {
                let token = gen.pick(&["{", "}", "[", "\"", ",", ":", "null", "\\u0000", "1e999"]);
                bytes.splice(at..at, token.bytes());
            }
            _ => {
                bytes.remove(at);
            }
        }
    }
    bytes
}

#[test]
fn envelopes_never_panic_answers_parse_back_and_requests_read_only_under_the_root() {
    let fx = fixture();
    let mut gen = Gen::new(0xe7e);
    let mut requests = 0;
    for _ in 0..cases(3000) {
        let value = envelope(&mut gen, &fx.root);
        let bytes = serde_json::to_vec(&value).unwrap();
        let bytes = if gen.below(3) == 0 {
            damage(&mut gen, bytes)
        } else {
            bytes
        };
        let Ok(env) = Envelope::parse(&bytes) else {
            continue;
        };
        let _ = (env.kind(), env.task_key());
        let reply = outcome_event(Some(&env), ARTIFACT_COMMITTED, json!({}));
        let answer = Envelope::from_value(reply).expect("an outcome event parses");
        assert_eq!(answer.format, env.format);
        assert_eq!(answer.correlation_id, env.correlation_id);
        let Ok(request) = fx.handler.request(&env, TestStatus::Passed) else {
            continue;
        };
        requests += 1;
        for spec in &request.inputs {
            assert!(spec.source.starts_with(&fx.root), "{spec:?} from {value}");
        }
        for file in input::collect(&request.inputs, 1 << 20).unwrap_or_default() {
            assert!(file.source.starts_with(&fx.root), "{file:?} from {value}");
            let parts: Vec<&str> = file.target.split('/').collect();
            assert!(
                parts.iter().all(|p| !matches!(*p, "" | "." | "..")),
                "{file:?}"
            );
        }
    }
    // The generator must reach the paths, not stop at the ids.
    assert!(requests > cases(40), "only {requests} requests were built");
}

const WHERE_PIECES: &[&str] = &[
    "a",
    "b",
    "test_metrics",
    ".",
    ".",
    "=",
    "=",
    "!",
    "<",
    ">",
    " ",
    "\t",
    "0",
    "1",
    "-",
    "0.5",
    "e9",
    "nan",
    "inf",
    "é",
    "\"",
    "\n",
];

#[test]
fn where_and_since_never_panic_and_a_filter_prints_back_to_itself() {
    let meta = json!({"a": {"b": 0.5}, "test_metrics": {"a": -1, "b": "x"}, "b": [1],
        "n": null, "t": true});
    let mut gen = Gen::new(0x3e4e);
    let mut parsed = 0;
    for _ in 0..cases(20_000) {
        let text = gen.text(WHERE_PIECES, 10);
        if let Ok(filter) = Where::parse(&text) {
            parsed += 1;
            let printed = filter.to_string();
            assert_eq!(
                Where::parse(&printed).ok(),
                Some(filter.clone()),
                "{text:?} printed as {printed:?}"
            );
            let _ = filter.matches(&meta);
        }
        let digits = gen.text(&["0", "1", "9", "99999999", "-", "+"], 8);
        let unit = gen.pick(&["s", "m", "h", "d", "w", "", "y", "T"]);
        let now = gen.pick(&[&0i64, &1_700_000_000, &i64::MIN, &i64::MAX]);
        let _ = parse_since(&format!("{digits}{unit}"), *now);
        let _ = parse_since(&text, *now);
    }
    assert!(parsed > cases(1000), "only {parsed} filters parsed");
}

#[test]
fn metadata_merge_keeps_caller_keys_lets_store_keys_win_and_reads_back() {
    let mut gen = Gen::new(0x3e7a);
    let mut sums = BTreeMap::new();
    sums.insert("artifacts/wf/t/a.py".to_string(), "sha256:00ff".to_string());
    let fields = StoreFields {
        workflow_id: "wf",
        task_id: "t",
        correlation_id: "corr_x",
        prompt_hash: None,
        commit_timestamp: "2025-11-07T14:30:00Z".into(),
        test_status: TestStatus::Passed,
        checksums: &sums,
    };
    let keys: Vec<&str> = STORE_KEYS.iter().copied().chain(["a", "b", "m"]).collect();
    for _ in 0..cases(3000) {
        let mut caller = match json_value(&mut gen, 4) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        if gen.below(2) == 0 {
            let key = gen.pick(&keys);
            caller.insert(key.to_string(), json_value(&mut gen, 2));
        }
        let mut sets = Vec::new();
        for _ in 0..gen.below(4) {
            let key = (0..1 + gen.below(4))
                .map(|_| gen.pick(&keys))
                .collect::<Vec<_>>()
                .join(".");
            let raw = gen.pick(&[
                "1",
                "x",
                "[1,2]",
                "{\"k\":null}",
                "",
                "=",
                "0.1",
                "1e-7",
                "2333333333333333333333333333333333333333333",
                "0.30000000000000004441",
                "123456789.123456789123456789",
                "-4.9e-324",
                "1.7976931348623157e308",
            ]);
            sets.push(metadata::parse_set(&format!("{key}={raw}")).unwrap());
        }
        let last = sets.last().cloned();
        metadata::apply_sets(&mut caller, sets);
        if let Some((path, value)) = last {
            let found = path[1..].iter().fold(caller.get(&path[0]), |node, part| {
                node.and_then(|n| n.get(part))
            });
            assert_eq!(found, Some(&value), "the last --set wins at {path:?}");
        }
        metadata::check_caller(&caller).expect("shallow metadata is accepted");
        let doc = metadata::build(&fields, &caller);
        assert_eq!(doc["workflow_id"], "wf");
        assert_eq!(doc["correlation_id"], "corr_x");
        assert_eq!(doc["prompt_hash"], Value::Null);
        assert_eq!(doc["files"], json!(["artifacts/wf/t/a.py"]));
        for (key, value) in &caller {
            if !STORE_KEYS.contains(&key.as_str()) {
                assert_eq!(doc.get(key), Some(value), "caller key {key:?}");
            }
        }
        let back: Value = serde_json::from_slice(&metadata::to_bytes(&doc)).unwrap();
        assert_eq!(back, doc);
        assert_eq!(metadata::checksums_of(&back), sums);
    }
}

/// Keyword prefixes, near-miss key shapes and structure the scanner's rules look for.
const SCAN_PIECES: &[&str] = &[
    "AKIA",
    "ghp_",
    "github_pat_",
    "sk_live_",
    "sk-ant-",
    "xoxb-",
    "eyJ",
    "-----BEGIN ",
    "PRIVATE KEY-----",
    "password",
    "api_key",
    "token",
    "secret",
    "=",
    ": ",
    "\"",
    "'",
    "\n",
    "\r\n",
    " ",
    "://",
    "@",
    "postgres",
    "?api_key=",
    "Authorization: Bearer ",
    "\\n",
    "artifact-store:allow",
    "A",
    "z",
    "0",
    "9",
    "+",
    "/",
    "_",
    "-",
    "aB3dE5gH7jK9mN1pQ3sT5vX7",
    "é",
    "\u{0}",
];

fn check_finding(finding: &Finding, text: &str) {
    let kept = finding
        .redacted
        .strip_suffix("****")
        .unwrap_or_else(|| panic!("{finding:?} is not redacted"));
    assert!(kept.chars().count() <= 4, "{finding:?} keeps too much");
    assert!(
        finding.line >= 1 && finding.line <= text.split('\n').count(),
        "{finding:?}"
    );
    assert!(finding.column >= 1, "{finding:?}");
}

#[test]
fn the_scanner_never_panics_and_findings_stay_redacted_and_in_bounds() {
    let scanner = Scanner::builtin();
    let mut gen = Gen::new(0x5ca9);
    let mut found = 0;
    for i in 0..cases(600) {
        let data = if i % 3 == 0 {
            gen.bytes(2048)
        } else {
            gen.text(SCAN_PIECES, 300).into_bytes()
        };
        let text = String::from_utf8_lossy(&data);
        for path in ["run/strategy.py", "config.env", "notes.md"] {
            for finding in scanner.scan_bytes(path, &data).findings() {
                found += 1;
                check_finding(finding, &text);
            }
        }
        for finding in scanner.scan_text("metadata.json:test_metrics.token", &text) {
            check_finding(&finding, &text);
        }
    }
    // Not a test of recall (scan_corpus is), only that the inputs reach the rules.
    assert!(found > 0, "no input reached a rule");
}
