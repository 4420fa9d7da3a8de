//! One way to write a ref: no file outside `src/git/refs/` writes one.
//!
//! Every ref the store creates, moves or deletes goes through `git::refs::RefDb`, under one
//! lock protocol. This test reads the library's sources and fails on any call that writes a
//! ref by another road: libgit2's ref calls and transactions, gix-ref or gix-lock, a
//! `git update-ref` or `git pack-refs` run, a direct write of `packed-refs`. Unit tests
//! (`#[cfg(test)]` modules) and comments are not library code and are left out.

use std::path::{Path, PathBuf};

/// The one module allowed to write refs.
const ALLOWED: &str = "src/git/refs/";

/// Files outside [`ALLOWED`] allowed one named pattern, and why.
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "src/git/durable.rs",
        ".join(\"packed-refs\")",
        "flushes packed-refs to disk after a write; writes nothing",
    ),
    (
        "src/retention/trash.rs",
        "\"gc\", \"--prune=now\"",
        "trash purge runs `git gc` under the gc lock; git packs refs by the same lock files",
    ),
];

/// Code that writes a ref, or `packed-refs`, or takes a ref lock.
const WRITERS: &[&str] = &[
    ".reference(",
    ".reference_matching(",
    ".reference_symbolic(",
    ".reference_symbolic_matching(",
    ".set_target(",
    ".set_symbolic_target(",
    ".delete()",
    ".transaction()",
    ".lock_ref(",
    "tag_lightweight(",
    ".tag(",
    ".tag_delete(",
    ".set_head(",
    ".set_head_detached(",
    ".commit(Some(",
    "gix_ref::",
    "gix_lock::",
    "\"update-ref\"",
    "\"pack-refs\"",
    "\"gc\", \"--prune=now\"",
    ".join(\"packed-refs\")",
    "packed-refs.lock",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The library code of a source file: up to its unit tests, without comment lines.
fn library_code(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(i, line)| (i + 1, line))
        .collect()
}

fn writers_in(root: &Path, file: &Path) -> Vec<String> {
    let rel = file
        .strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/");
    let text = std::fs::read_to_string(file).unwrap();
    let mut found = Vec::new();
    for (line_no, line) in library_code(&text) {
        for pattern in WRITERS {
            let excepted = EXCEPTIONS.iter().any(|(f, p, _)| *f == rel && p == pattern);
            if line.contains(pattern) && !excepted {
                found.push(format!("{rel}:{line_no}: {pattern}: {}", line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_file_outside_the_refs_module_writes_a_ref() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    let (inside, outside): (Vec<_>, Vec<_>) = files
        .iter()
        .partition(|f| f.starts_with(root.join(ALLOWED)));
    let offenders: Vec<String> = outside.iter().flat_map(|f| writers_in(root, f)).collect();
    assert!(
        offenders.is_empty(),
        "refs are written outside {ALLOWED}; go through git::refs::RefDb:\n{}",
        offenders.join("\n")
    );
    // The scan sees the writers where they are: it is not vacuous.
    let inside: Vec<String> = inside.iter().flat_map(|f| writers_in(root, f)).collect();
    for pattern in [".transaction()", "gix_ref::", "gix_lock::", ".lock_ref("] {
        assert!(
            inside.iter().any(|hit| hit.contains(pattern)),
            "{pattern} not found in {ALLOWED}: {inside:#?}"
        );
    }
}

#[test]
fn the_scan_catches_each_kind_of_writer_and_skips_tests_and_comments() {
    let code = "fn f() {\n    // repo.reference(\"x\")\n    let _ = repo.reference_matching(a, b, true, c, d);\n    r.delete();\n    std::process::Command::new(\"git\").args([\"update-ref\", \"-d\", n]);\n}\n#[cfg(test)]\nmod tests {\n    fn t() { repo.reference(\"refs/x\", o, true, \"t\"); }\n}\n";
    let dir = std::env::temp_dir().join(format!("ref-writers-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let file = dir.join("src/x.rs");
    std::fs::write(&file, code).unwrap();
    let found = writers_in(&dir, &file);
    std::fs::remove_dir_all(&dir).unwrap();
    let lines: Vec<&str> = found
        .iter()
        .map(|f| f.split(": ").nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        lines,
        [".reference_matching(", ".delete()", "\"update-ref\""],
        "{found:#?}"
    );
}
