//! The layers of `src/` point one way: faces over operations over the model over the git
//! layer, the scanner and the error type. These tests read every `src/**/*.rs`, collect
//! the top-level modules each file names through `crate::`, and fail when a name points up,
//! sideways where it may not, or round in a cycle. `docs/architecture.md` explains the
//! layers; the tables below are the same ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The faces: the CLI, the Redis subscriber, the web view. Nothing names them.
const FACES: &[&str] = &["main", "cli", "events", "web"];

/// The operations, each over the model.
const OPERATIONS: &[&str] = &[
    "commit",
    "catalog",
    "revert",
    "retention",
    "remote",
    "hooks",
    "staged",
    "demo",
];

/// The model: the store, ref names, metadata, config values, input.
const MODEL: &[&str] = &["store", "refs", "metadata", "config", "input", "report"];

/// The base: the git layer, the scanner, the error type.
const BASE: &[&str] = &["git", "scan", "error", "progress"];

/// What each base module may name besides itself: git and the scanner stand side by side
/// and do not name each other; the error type wraps the scanner's errors; both report
/// progress through `progress`, which names nothing.
const BASE_ALLOWED: &[(&str, &[&str])] = &[
    ("git", &["error", "progress"]),
    ("scan", &["progress"]),
    ("error", &["scan"]),
    ("progress", &[]),
];

/// Where an operation names another, and why: `gc --remote` prunes the remote through the
/// push endpoint; the demo is a scripted run of commits.
const OPERATION_CALLS: &[(&str, &str)] = &[("retention", "remote"), ("demo", "commit")];

fn layer_of(module: &str) -> Option<usize> {
    [BASE, MODEL, OPERATIONS, FACES]
        .iter()
        .position(|layer| layer.contains(&module))
}

fn layer_name(layer: usize) -> &'static str {
    [
        "base (git, scan, error, progress)",
        "model",
        "operations",
        "faces",
    ][layer]
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/git/cas.rs` is `git`, `src/config.rs` is
/// `config`, `src/main.rs` is `main`; `src/lib.rs` is the crate root (`None`).
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

/// Source text without comments (`//`, `//!`, `///`, `/* */`) and without string literals,
/// so that a doc link or a message mentioning `crate::x` is not taken for a use of it.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"' && !(i > 0 && matches!(b[i - 1], b'\'' | b'#' | b'\\')) {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i..].starts_with(b"r#\"") || b[i..].starts_with(b"r##\"") {
            let hashes = if b[i + 1..].starts_with(b"##") { 2 } else { 1 };
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            i += 2 + hashes;
            while i < b.len() && !b[i..].starts_with(&close) {
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else {
            let len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + len]);
            i += len;
        }
    }
    out
}

/// The names `lib.rs` re-exports at the crate root (`crate::Config`), each with its module.
fn root_reexports() -> BTreeMap<String, String> {
    let lib = code_only(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
    let re = regex::Regex::new(r"pub use (\w+)::(?:\{([^}]*)\}|(\w+));").unwrap();
    let mut out = BTreeMap::new();
    for c in re.captures_iter(&lib) {
        let names = c.get(2).or(c.get(3)).unwrap().as_str();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            out.insert(name.to_string(), c[1].to_string());
        }
    }
    out
}

/// The top-level modules `code` names through `crate::`, including each name of a
/// `crate::{a, b::c}` group.
fn named_modules(code: &str, reexports: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let mut names = Vec::new();
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            names.push(item);
        } else {
            names.push(rest.to_string());
        }
        for name in names {
            let ident: String = name
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if ident.is_empty() || ident == "self" {
                continue;
            }
            match reexports.get(&ident) {
                Some(module) => out.insert(module.clone()),
                None => out.insert(ident),
            };
        }
    }
    out
}

/// Every top-level module's names, with the files that name each.
fn imports() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let reexports = root_reexports();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&file) else {
            continue;
        };
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let rel = file.strip_prefix(src()).unwrap().display().to_string();
        let names = out.entry(module.clone()).or_default();
        for named in named_modules(&code, &reexports) {
            if named != module {
                names.entry(named).or_default().insert(format!("src/{rel}"));
            }
        }
    }
    out
}

fn describe(bad: &[String]) -> String {
    format!(
        "{} upward or sideways name(s), see docs/architecture.md:\n  {}",
        bad.len(),
        bad.join("\n  ")
    )
}

#[test]
fn every_module_has_a_layer() {
    let all = imports();
    let unplaced: Vec<_> = all
        .keys()
        .chain(all.values().flat_map(|n| n.keys()))
        .filter(|m| layer_of(m).is_none())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules in no layer of tests/layers.rs (add each to a layer there and to docs/architecture.md): {unplaced:?}"
    );
}

#[test]
fn nothing_names_a_module_of_a_higher_layer() {
    let mut bad = Vec::new();
    for (module, names) in imports() {
        let Some(own) = layer_of(&module) else {
            continue;
        };
        for (named, files) in names {
            if layer_of(&named).is_some_and(|l| l > own) {
                bad.push(format!(
                    "{module} ({}) names {named} ({}) in {}",
                    layer_name(own),
                    layer_name(layer_of(&named).unwrap_or(0)),
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", describe(&bad));
}

#[test]
fn the_git_layer_and_the_scanner_name_nothing_above_them() {
    let all = imports();
    let mut bad = Vec::new();
    for (module, allowed) in BASE_ALLOWED {
        for (named, files) in all.get(*module).into_iter().flatten() {
            if !allowed.contains(&named.as_str()) {
                bad.push(format!(
                    "{module} names {named} in {}",
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", describe(&bad));
}

#[test]
fn config_names_no_feature_module() {
    let all = imports();
    let bad: Vec<_> = all
        .get("config")
        .into_iter()
        .flatten()
        .filter(|(named, _)| !BASE.contains(&named.as_str()) && !MODEL.contains(&named.as_str()))
        .map(|(named, files)| format!("config names {named} in {files:?}"))
        .collect();
    assert!(bad.is_empty(), "{}", describe(&bad));
}

#[test]
fn commit_names_nothing_of_retention() {
    let all = imports();
    let files = all.get("commit").and_then(|n| n.get("retention"));
    assert!(
        files.is_none(),
        "commit names retention in {files:?}; the gc lock is in src/git/refs/lock.rs"
    );
}

#[test]
fn operations_do_not_call_each_other_but_where_written_down() {
    let mut bad = Vec::new();
    for (module, names) in imports() {
        if !OPERATIONS.contains(&module.as_str()) {
            continue;
        }
        for (named, files) in names {
            if OPERATIONS.contains(&named.as_str())
                && !OPERATION_CALLS.contains(&(module.as_str(), named.as_str()))
            {
                bad.push(format!(
                    "{module} names {named} in {}",
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", describe(&bad));
}

#[test]
fn modules_form_no_cycle() {
    let all = imports();
    // Depth-first search from each module; a name back onto the path is a cycle.
    fn visit(
        m: &str,
        all: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_string());
            cycles.push(cycle.join(" -> "));
            return;
        }
        if !done.insert(m.to_string()) {
            return;
        }
        path.push(m.to_string());
        for named in all.get(m).into_iter().flat_map(|n| n.keys()) {
            visit(named, all, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for m in all.keys() {
        visit(m, &all, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "module cycles: {cycles:?}");
}

#[test]
fn the_map_in_lib_rs_names_every_module_in_its_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let map: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .skip_while(|l| !l.trim_start().starts_with("```text"))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("```"))
        .collect();
    let declared: Vec<String> = code_only(&lib)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    assert!(!declared.is_empty());
    let mut bad = Vec::new();
    for module in &declared {
        let Some(layer) = layer_of(module) else {
            bad.push(format!("{module} is in no layer"));
            continue;
        };
        let Some(row) = map.iter().position(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.trim_end_matches(',') == module)
        }) else {
            bad.push(format!("{module} is not in the map of src/lib.rs"));
            continue;
        };
        // The map draws its layers top down, separated by rules of dashes.
        let rules_above = map[..row].iter().filter(|l| l.contains("-----")).count();
        if rules_above != 3 - layer {
            bad.push(format!(
                "{module} is drawn below {rules_above} rule(s) in the map, but belongs to the {} layer",
                layer_name(layer)
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_reader_finds_every_form_of_a_name_and_skips_comments_and_strings() {
    let reexports: BTreeMap<String, String> = [("Config", "config"), ("Store", "store")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let code = code_only(
        r##"
use crate::retention::GcLock;
use crate::{catalog::find, hooks::{self, HooksConfig}, Config};
pub(crate) use crate::remote as push;
fn f() -> crate::Store { crate::revert::run(); }
macro_rules! m { () => { $crate::events::x() } }
// crate::cli is only named in a comment
/* crate::staged in a block /* nested crate::scan */ still a comment crate::input */
/// [`crate::refs`] in a doc link
let s = "crate::metadata in a string \" crate::git";
let c = '"'; let t = crate::commit::x;
let r = r#"crate::error"# ;
"##,
    );
    let found: Vec<String> = named_modules(&code, &reexports).into_iter().collect();
    assert_eq!(
        found,
        [
            "catalog",
            "commit",
            "config",
            "hooks",
            "remote",
            "retention",
            "revert",
            "store"
        ],
        "{code}"
    );
}

/// Files outside `src/git/` allowed to name the git library: the error enum keeps the
/// library's error as the source of `Error::Git` and classifies it by code.
const NAMES_GIT2_OUTSIDE_THE_GIT_LAYER: &[&str] = &["error.rs"];

#[test]
fn only_the_git_layer_names_the_git_library() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut offenders = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(src())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with("git/") || NAMES_GIT2_OUTSIDE_THE_GIT_LAYER.contains(&rel.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            // Comments too: "libgit2" in a doc says the library leaks past the wall.
            if line.contains("git2") {
                offenders.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "outside src/git/, only {NAMES_GIT2_OUTSIDE_THE_GIT_LAYER:?} may name git2:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_git_layer_is_private_to_the_crate() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let code = code_only(&lib);
    assert!(
        code.contains("pub(crate) mod git;"),
        "src/lib.rs: `mod git` is not pub(crate)"
    );
    // The store's own types may be re-exported (`ObjectId`); the library's may not.
    let reexports: Vec<&str> = code
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("pub use git") || l.starts_with("pub use crate::git"))
        .collect();
    assert!(
        reexports
            .iter()
            .all(|l| !l.contains("git2") && !l.contains("Repo") && !l.contains("::*")),
        "src/lib.rs re-exports more than the store's own value types: {reexports:?}"
    );
}
