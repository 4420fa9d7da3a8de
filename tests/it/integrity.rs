//! A damaged object database is never reported as healthy, and `export` never writes bytes
//! whose hash does not match: stores are damaged with plain file operations (a loose object
//! removed, rewritten with other bytes, a pack cut short, an index planted) and every read
//! command is run over them.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{commit_args, Env, Run};

const SET: &str = "artifacts/wf/t";

/// A store holding `corr_x` (trades.csv, sub/x.txt, run.sh) on wf/t and `corr_y` on wf/u,
/// every object loose (the packs a commit writes are unpacked), so that one object can be
/// removed or rewritten on its own.
fn loose_store(env: &Env) -> PathBuf {
    let store = env.store();
    let s = store.to_str().unwrap();
    env.write(
        "in/trades.csv",
        "date,pnl\n2025-01-01,12.5\n2025-01-02,-3.0\n",
    );
    env.write("in/sub/x.txt", "hello\n");
    env.run(&commit_args(
        s,
        "x",
        &[
            env.path("in/trades.csv").to_str().unwrap(),
            env.path("in/sub").to_str().unwrap(),
        ],
    ))
    .ok();
    env.write("other/report.txt", "all passed\n");
    let report = env.path("other/report.txt");
    let mut args = commit_args(s, "y", &[report.to_str().unwrap()]);
    args[7] = "u";
    env.run(&args).ok();
    unpack_all(env, &store);
    store
}

/// Moves every pack out of the store and unpacks its objects as loose ones.
fn unpack_all(env: &Env, store: &Path) {
    let packdir = store.join("objects/pack");
    let aside = env.path("packs-aside");
    std::fs::create_dir_all(&aside).unwrap();
    for entry in std::fs::read_dir(&packdir).unwrap().flatten() {
        std::fs::rename(entry.path(), aside.join(entry.file_name())).unwrap();
    }
    for entry in std::fs::read_dir(&aside).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "pack") {
            let status = env
                .git_cmd(&["-C", store.to_str().unwrap(), "unpack-objects", "-q"])
                .stdin(std::fs::File::open(entry.path()).unwrap())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}

fn rev(env: &Env, store: &Path, spec: &str) -> String {
    env.git_in(store, &["rev-parse", spec])
}

fn loose_path(store: &Path, oid: &str) -> PathBuf {
    store.join("objects").join(&oid[..2]).join(&oid[2..])
}

/// Removes the loose object `oid`.
fn remove(store: &Path, oid: &str) {
    std::fs::remove_file(loose_path(store, oid)).unwrap();
}

/// Rewrites the loose object `oid` as a valid zlib stream of a blob of other bytes.
fn rewrite(store: &Path, oid: &str, content: &[u8]) {
    let path = loose_path(store, oid);
    std::fs::remove_file(&path).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(format!("blob {}\0", content.len()).as_bytes())
        .unwrap();
    z.write_all(content).unwrap();
    std::fs::write(&path, z.finish().unwrap()).unwrap();
}

/// Asserts a run failed as a corrupt store: exit 1, JSON kind `corrupt` naming every one of
/// `names` (paths, ids), a hint to run git fsck, no "ok" and no raw libgit2 callback code.
#[track_caller]
fn assert_corrupt(run: &Run, names: &[&str]) {
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let json = run.json();
    assert_eq!(json["success"], false, "{}", run.stdout);
    assert_eq!(json["error"]["kind"], "corrupt", "{}", run.stdout);
    let message = json["error"]["message"].as_str().unwrap();
    for name in names {
        assert!(message.contains(name), "{name} not in {message}");
        assert!(run.stderr.contains(name), "{name} not in {}", run.stderr);
    }
    assert!(json["error"]["hint"].as_str().unwrap().contains("git fsck"));
    assert_no_ok(run);
}

#[track_caller]
fn assert_no_ok(run: &Run) {
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains(": ok"), "{all}");
    assert!(!all.contains("callback"), "{all}");
    assert!(!all.contains("class="), "{all}");
}

/// Runs a read command with `--json` on `store`.
fn read(env: &Env, store: &Path, args: &[&str]) -> Run {
    let mut full = vec!["--repo", store.to_str().unwrap(), "--json"];
    full.extend_from_slice(args);
    env.run(&full)
}

/// One kind of damage to `corr_x`; returns the names the error must carry.
type Damage = fn(&Env, &Path) -> Vec<String>;

fn blob_removed(env: &Env, store: &Path) -> Vec<String> {
    let oid = rev(env, store, &format!("corr_x:{SET}/trades.csv"));
    remove(store, &oid);
    vec![format!("{SET}/trades.csv"), oid]
}

fn metadata_removed(env: &Env, store: &Path) -> Vec<String> {
    let oid = rev(env, store, &format!("corr_x:{SET}/metadata.json"));
    remove(store, &oid);
    vec![format!("{SET}/metadata.json"), oid]
}

fn subtree_removed(env: &Env, store: &Path) -> Vec<String> {
    let oid = rev(env, store, &format!("corr_x:{SET}/sub"));
    remove(store, &oid);
    vec![format!("{SET}/sub"), oid]
}

fn set_tree_removed(env: &Env, store: &Path) -> Vec<String> {
    let oid = rev(env, store, &format!("corr_x:{SET}"));
    remove(store, &oid);
    vec![SET.to_string(), oid]
}

fn commit_removed(env: &Env, store: &Path) -> Vec<String> {
    let oid = rev(env, store, "corr_x^{commit}");
    remove(store, &oid);
    vec![oid]
}

const DAMAGES: [(&str, Damage); 5] = [
    ("blob_removed", blob_removed),
    ("metadata_removed", metadata_removed),
    ("subtree_removed", subtree_removed),
    ("set_tree_removed", set_tree_removed),
    ("commit_removed", commit_removed),
];

#[test]
fn no_read_command_says_ok_over_a_missing_object() {
    for (name, damage) in DAMAGES {
        let env = Env::new();
        let store = loose_store(&env);
        let names = damage(&env, &store);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let branch_tip = rev(&env, &store, "ai/generated/wf/t");
        let before = env.snapshot(&store);
        for args in [
            &["verify", "corr_x"][..],
            &["verify", "x"],
            &["verify", "--all"],
            &["show", "corr_x"],
            &["diff", "corr_y", "corr_x"],
            &["diff", "corr_x", "corr_y"],
            &["stats"],
        ] {
            let run = read(&env, &store, args);
            assert_corrupt(&run, &names);
        }
        let dest = env.path("out");
        let run = read(
            &env,
            &store,
            &["export", "corr_x", "--to", dest.to_str().unwrap()],
        );
        assert_corrupt(&run, &names);
        assert!(!dest.exists(), "{name}: export left {dest:?} behind");

        // log reads commits only: it fails over a missing commit, not over a missing file.
        let run = read(&env, &store, &["log", "wf/t"]);
        if name == "commit_removed" {
            assert_corrupt(&run, &names);
        } else {
            assert_eq!(run.code, 0, "{name}: {}", run.stderr);
            assert_eq!(run.json()["entries"][0]["commit_sha"], branch_tip.as_str());
        }

        // list never leaves a set out silently: it reads every tree and blob header of a
        // set (its files' sizes), so any of these damages makes the set unreadable.
        let run = read(&env, &store, &["list"]);
        assert_corrupt(&run, &names);
        let json = run.json();
        let unreadable = json["unreadable"].as_array().unwrap();
        assert_eq!(unreadable.len(), 1, "{name}: {json}");
        assert_eq!(unreadable[0]["branch"], "ai/generated/wf/t");
        for n in &names {
            assert!(
                unreadable[0]["message"].as_str().unwrap().contains(n),
                "{name}: {n} not in {json}"
            );
        }
        assert_eq!(json["sets"][0]["correlation_id"], "corr_y");
        let human = env.run(&["--repo", store.to_str().unwrap(), "list"]);
        assert_eq!(human.code, 1);
        assert!(human.stdout.contains("corr_y"), "{}", human.stdout);
        assert!(
            human
                .stderr
                .contains("warning: the artifact set on ai/generated/wf/t"),
            "{}",
            human.stderr
        );
        for n in &names {
            assert!(
                human.stderr.contains(n),
                "{name}: {n} not in {}",
                human.stderr
            );
        }

        // the healthy set still reads; no read wrote anything.
        read(&env, &store, &["verify", "corr_y"]).ok();
        read(&env, &store, &["show", "corr_y"]).ok();
        assert_eq!(env.snapshot(&store), before, "{name}");
    }
}

#[test]
fn a_blob_rewritten_with_other_bytes_fails_verify_and_export() {
    for same_length in [true, false] {
        let env = Env::new();
        let store = loose_store(&env);
        let oid = rev(&env, &store, &format!("corr_x:{SET}/trades.csv"));
        let other: &[u8] = if same_length {
            b"date,pnl\n2025-01-01,99.5\n2025-01-02,-3.0\n"
        } else {
            b"forged\n"
        };
        rewrite(&store, &oid, other);
        let path = format!("{SET}/trades.csv");
        for args in [&["verify", "corr_x"][..], &["verify", "--all"]] {
            let run = read(&env, &store, args);
            assert_corrupt(&run, &[&path, &oid, "does not hash to its id"]);
        }
        let dest = env.path("out");
        let run = read(
            &env,
            &store,
            &["export", "corr_x", "--to", dest.to_str().unwrap()],
        );
        assert_corrupt(&run, &[&path, &oid]);
        assert!(!dest.exists(), "export left {dest:?} behind");
        assert_not_anywhere(&env, b"forged");
    }
}

#[test]
fn a_failed_export_keeps_what_was_there_and_adds_nothing() {
    let env = Env::new();
    let store = loose_store(&env);
    let oid = rev(&env, &store, &format!("corr_x:{SET}/trades.csv"));
    rewrite(&store, &oid, b"forged bytes here\n");
    let dest = env
        .write("dest/trades.csv", "old\n")
        .parent()
        .unwrap()
        .to_path_buf();
    env.write("dest/keep.txt", "mine\n");
    let run = read(
        &env,
        &store,
        &[
            "export",
            "corr_x",
            "--to",
            dest.to_str().unwrap(),
            "--force",
        ],
    );
    assert_corrupt(&run, &[&oid]);
    let mut names: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["keep.txt", "trades.csv"]);
    assert_eq!(std::fs::read(dest.join("trades.csv")).unwrap(), b"old\n");
}

/// A set large enough to be exported on several threads (over 1 MiB, six files): one
/// forged blob among them fails the export with its name, and every file the other
/// threads had already put in place is taken back, in a directory that existed and in
/// one the export made.
#[test]
fn a_failed_export_on_several_threads_takes_back_every_file() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let names = ["a.csv", "b.csv", "c.csv", "d.csv", "e.csv"];
    let mut paths = Vec::new();
    for (i, name) in names.iter().enumerate() {
        env.write(&format!("in/{name}"), big_text(400 << 10, 2 * i as u64 + 3));
        paths.push(
            env.path(&format!("in/{name}"))
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    env.run(&commit_args(s, "x", &refs)).ok();
    unpack_all(&env, &store);
    let oid = rev(&env, &store, &format!("corr_x:{SET}/c.csv"));
    rewrite(&store, &oid, &big_text(400 << 10, 99));
    let whole = read(&env, &store, &["verify", "corr_x"]);
    assert_ne!(whole.code, 0, "{}", whole.stdout);
    env.write("dest/keep.txt", "mine\n");
    for (dest, before) in [("dest", vec!["keep.txt"]), ("fresh/out", vec![])] {
        let to = env.path(dest);
        let run = read(
            &env,
            &store,
            &["export", "corr_x", "--to", to.to_str().unwrap()],
        );
        assert_corrupt(&run, &[&oid, &format!("{SET}/c.csv")]);
        let mut left: Vec<String> = std::fs::read_dir(&to)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        left.sort();
        assert_eq!(left, before, "{dest}");
    }
    assert!(!env.path("fresh/out").exists());
}

/// A file of `size` bytes, no two 4 KiB blocks alike.
fn big_text(size: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    let mut x = seed | 1;
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(format!("{x:016x},{}\n", x % 1000).as_bytes());
    }
    out.truncate(size);
    out
}

#[test]
fn a_streamed_blob_with_changed_or_cut_bytes_is_never_exported() {
    for damage in ["changed", "cut", "removed"] {
        let env = Env::new();
        let store = env.store();
        let s = store.to_str().unwrap();
        let size = 9 << 20;
        env.write("in/big.csv", big_text(size, 7));
        env.write("in/small.txt", "small\n");
        env.run(&commit_args(
            s,
            "x",
            &[
                env.path("in/big.csv").to_str().unwrap(),
                env.path("in/small.txt").to_str().unwrap(),
            ],
        ))
        .ok();
        unpack_all(&env, &store);
        let oid = rev(&env, &store, &format!("corr_x:{SET}/big.csv"));
        let path = loose_path(&store, &oid);
        match damage {
            "changed" => {
                let mut other = big_text(size, 7);
                other[size - 10..].copy_from_slice(b"FORGEDBYTE");
                rewrite(&store, &oid, &other);
            }
            "cut" => {
                let bytes = std::fs::read(&path).unwrap();
                std::fs::remove_file(&path).unwrap();
                std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
            }
            _ => remove(&store, &oid),
        }
        let dest = env.path("out");
        let run = read(
            &env,
            &store,
            &["export", "corr_x", "--to", dest.to_str().unwrap()],
        );
        assert_corrupt(&run, &[&format!("{SET}/big.csv"), &oid]);
        assert!(!dest.exists(), "{damage}: export left {dest:?} behind");
        let run = read(&env, &store, &["verify", "corr_x"]);
        assert_corrupt(&run, &[&format!("{SET}/big.csv"), &oid]);
    }
}

/// Asserts `needle` is in no file under the sandbox but the damaged store's objects.
fn assert_not_anywhere(env: &Env, needle: &[u8]) {
    fn walk(dir: &Path, needle: &[u8]) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.ends_with("objects") || path.ends_with("in") {
                continue;
            }
            if path.is_dir() {
                walk(&path, needle);
            } else if let Ok(bytes) = std::fs::read(&path) {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{path:?} holds bytes that do not match their id"
                );
            }
        }
    }
    walk(&env.path(""), needle);
}

#[test]
fn a_cut_pack_is_a_corrupt_store() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    env.write("in/a.txt", big_text(64 << 10, 3));
    env.run(&commit_args(
        s,
        "x",
        &[env.path("in/a.txt").to_str().unwrap()],
    ))
    .ok();
    let pack = std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .unwrap();
    let bytes = std::fs::read(&pack).unwrap();
    std::fs::remove_file(&pack).unwrap();
    std::fs::write(&pack, &bytes[..bytes.len() / 2]).unwrap();
    for args in [
        &["verify", "corr_x"][..],
        &["verify", "--all"],
        &["show", "corr_x"],
        &["diff", "corr_x", "corr_x"],
        &["stats"],
        &["log", "wf/t"],
        &["list"],
        &[
            "export",
            "corr_x",
            "--to",
            env.path("out").to_str().unwrap(),
        ],
    ] {
        let run = read(&env, &store, args);
        assert_eq!(run.code, 1, "{args:?}: {}{}", run.stdout, run.stderr);
        assert_eq!(
            run.json()["error"]["kind"],
            "corrupt",
            "{args:?}: {}",
            run.stdout
        );
        assert_no_ok(&run);
    }
    assert!(!env.path("out").exists());
}

/// Writes a pack of no objects and, beside it, `idx` under a made-up pack name.
fn plant_index(store: &Path, name: &str, idx: &[u8]) {
    let stem = store.join("objects/pack").join(format!("pack-{name}"));
    let mut pack = b"PACK\0\0\0\x02\0\0\0\0".to_vec();
    pack.extend_from_slice(&[0; 20]);
    std::fs::write(stem.with_extension("pack"), pack).unwrap();
    std::fs::write(stem.with_extension("idx"), idx).unwrap();
}

/// Pack indexes whose fan-out claims far more objects than the file holds.
fn planted_indexes() -> Vec<(&'static str, Vec<u8>)> {
    let fanout = |last: u32| -> Vec<u8> {
        (0..256u32)
            .flat_map(|i| if i < 255 { i.min(last) } else { last }.to_be_bytes())
            .collect()
    };
    let mut v2 = b"\xfftOc\0\0\0\x02".to_vec();
    v2.extend(fanout(0xffff_fff0));
    v2.extend_from_slice(&[0; 40]);
    let mut v1 = fanout(0x7fff_ffff);
    v1.extend_from_slice(&[0; 40]);
    let mut v2_few = b"\xfftOc\0\0\0\x02".to_vec();
    v2_few.extend(fanout(3));
    v2_few.extend_from_slice(&[0; 40]);
    // Two objects, room for them, but offsets far past the end of the pack.
    let mut far = b"\xfftOc\0\0\0\x02".to_vec();
    far.extend(fanout(2));
    far.extend([0x11; 20]);
    far.extend([0x22; 20]);
    far.extend([0; 8]);
    far.extend(12u32.to_be_bytes());
    far.extend(0x8000_0000u32.to_be_bytes());
    far.extend((1u64 << 40).to_be_bytes());
    far.extend([0; 40]);
    vec![
        ("v2", v2),
        ("v1", v1),
        ("v2_three_objects_in_no_room", v2_few),
        ("v2_offsets_past_the_pack", far),
    ]
}

/// Runs the store binary with its address space capped at 1 GiB (`ulimit -v`).
fn run_capped(env: &Env, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new("sh");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.path(""))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test Bot")
        .env("GIT_AUTHOR_EMAIL", "bot@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test Bot")
        .env("GIT_COMMITTER_EMAIL", "bot@example.invalid")
        .current_dir(env.path(""))
        .args(["-c", "ulimit -v 1048576 && exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_artifact-store"))
        .args(args)
        .stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_planted_pack_index_claiming_billions_of_objects_costs_no_allocation() {
    for (kind, idx) in planted_indexes() {
        let env = Env::new();
        let store = env.store();
        let s = store.to_str().unwrap();
        env.write("in/a.txt", "one\n");
        env.run(&commit_args(
            s,
            "x",
            &[env.path("in/a.txt").to_str().unwrap()],
        ))
        .ok();
        // More packs than the roll-up bound, so the next commit reads every index.
        let packdir = store.join("objects/pack");
        let real = std::fs::read_dir(&packdir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "pack"))
            .unwrap();
        for i in 0..24 {
            let stem = packdir.join(format!("pack-{i:040x}"));
            std::fs::copy(&real, stem.with_extension("pack")).unwrap();
            std::fs::copy(real.with_extension("idx"), stem.with_extension("idx")).unwrap();
        }
        let planted = "f".repeat(40);
        plant_index(&store, &planted, &idx);
        env.write("in/b.txt", "two\n");
        let started = std::time::Instant::now();
        let run = run_capped(
            &env,
            &commit_args(s, "y", &[env.path("in/b.txt").to_str().unwrap()]),
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        // The commit lands (its objects and refs do not depend on the roll-up); the roll-up
        // is skipped with a warning that names the planted index as not valid.
        assert_eq!(run.code, 0, "{kind}: {}{}", run.stdout, run.stderr);
        assert_eq!(run.json()["tags"][0], "corr_y");
        assert!(
            run.stderr
                .contains(&format!("pack-{planted}.idx: not a valid pack index")),
            "{kind}: {}",
            run.stderr
        );
        assert_eq!(
            env.git_in(&store, &["cat-file", "-p", &format!("corr_y:{SET}/b.txt")]),
            "two"
        );
    }
}

#[test]
fn a_rewritten_metadata_json_or_a_missing_tag_object_is_a_corrupt_store() {
    let env = Env::new();
    let store = loose_store(&env);
    let meta = rev(&env, &store, &format!("corr_x:{SET}/metadata.json"));
    let bytes = env.git_in(&store, &["cat-file", "blob", &meta]);
    rewrite(&store, &meta, bytes.replace("corr_x", "corr_z").as_bytes());
    let path = format!("{SET}/metadata.json");
    for args in [
        &["verify", "corr_x"][..],
        &["verify", "--all"],
        &["show", "corr_x"],
        &["diff", "corr_x", "corr_y"],
        &["stats"],
    ] {
        assert_corrupt(&read(&env, &store, args), &[&path, &meta]);
    }
    let run = read(&env, &store, &["list"]);
    assert_corrupt(&run, &[]);
    assert!(run.json()["unreadable"][0]["message"]
        .as_str()
        .unwrap()
        .contains(&meta));

    let env = Env::new();
    let store = loose_store(&env);
    let tag = rev(&env, &store, "refs/tags/corr_x");
    remove(&store, &tag);
    let dest = env.path("out");
    for args in [
        &["verify", "corr_x"][..],
        &["verify", "--all"],
        &["show", "corr_x"],
        &["diff", "corr_y", "corr_x"],
        &["export", "corr_x", "--to", dest.to_str().unwrap()],
    ] {
        assert_corrupt(&read(&env, &store, args), &["refs/tags/corr_x", &tag]);
    }
    assert!(!dest.exists());
    // through its branch the set reads, but its tags cannot: still no "ok"
    assert_corrupt(
        &read(&env, &store, &["show", "wf/t"]),
        &["refs/tags/corr_x", &tag],
    );
}

#[test]
fn a_missing_commit_in_the_history_fails_log_and_list_all_versions() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    for (corr, text) in [("a", "one\n"), ("b", "two\n"), ("c", "three\n")] {
        env.write("in/f.txt", text);
        env.run(&commit_args(
            s,
            corr,
            &[env.path("in/f.txt").to_str().unwrap()],
        ))
        .ok();
    }
    unpack_all(&env, &store);
    let middle = rev(&env, &store, "corr_b^{commit}");
    remove(&store, &middle);
    let run = read(&env, &store, &["log", "wf/t"]);
    assert_corrupt(&run, &[&middle]);
    let run = read(&env, &store, &["list", "--all-versions"]);
    assert_corrupt(&run, &[]);
    let json = run.json();
    assert!(
        json["unreadable"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&middle),
        "{json}"
    );
    assert_eq!(json["sets"][0]["correlation_id"], "corr_c");
    // the tip alone still reads
    read(&env, &store, &["list"]).ok();
    read(&env, &store, &["verify", "corr_c"]).ok();
    assert_corrupt(&read(&env, &store, &["verify", "corr_b"]), &[&middle]);
}

/// Rewrites the loose object `oid` with the content of object `from` (same type).
fn rewrite_with(env: &Env, store: &Path, oid: &str, kind: &str, from: &str) {
    let out = env
        .git_cmd(&["-C", store.to_str().unwrap(), "cat-file", kind, from])
        .output()
        .unwrap();
    assert!(out.status.success());
    let path = loose_path(store, oid);
    std::fs::remove_file(&path).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(format!("{kind} {}\0", out.stdout.len()).as_bytes())
        .unwrap();
    z.write_all(&out.stdout).unwrap();
    std::fs::write(&path, z.finish().unwrap()).unwrap();
}

#[test]
fn a_tree_or_commit_rewritten_with_another_objects_bytes_is_a_corrupt_store() {
    for kind in ["tree", "commit"] {
        let env = Env::new();
        let store = loose_store(&env);
        let (oid, from, place) = if kind == "tree" {
            (
                rev(&env, &store, &format!("corr_x:{SET}")),
                rev(&env, &store, "corr_y:artifacts/wf/u"),
                SET.to_string(),
            )
        } else {
            (
                rev(&env, &store, "corr_x^{commit}"),
                rev(&env, &store, "corr_y^{commit}"),
                String::new(),
            )
        };
        rewrite_with(&env, &store, &oid, kind, &from);
        let dest = env.path("out");
        for args in [
            &["verify", "corr_x"][..],
            &["verify", "--all"],
            &["show", "corr_x"],
            &["diff", "corr_y", "corr_x"],
            &["stats"],
            &["export", "corr_x", "--to", dest.to_str().unwrap()],
        ] {
            let run = read(&env, &store, args);
            assert_corrupt(&run, &[&oid, &place]);
        }
        assert!(!dest.exists());
    }
}

/// `revert-to-tag` to a tag whose tree lacks a blob would commit a tree git cannot check
/// out: it is refused as a corrupt store, naming the object, before anything is written.
#[test]
fn a_revert_to_a_tag_whose_tree_lacks_an_object_writes_nothing() {
    let env = Env::new();
    let store = loose_store(&env);
    let s = store.to_str().unwrap();
    // A newer version on the task branch, so that reverting it to corr_x changes it.
    let newer = env.write("newer/summary.txt", "a later run\n");
    env.run(&commit_args(s, "z", &[newer.to_str().unwrap()]))
        .ok();
    let oid = rev(&env, &store, &format!("corr_x:{SET}/trades.csv"));
    remove(&store, &oid);
    let before = env.snapshot(&store);
    let cases: [&[&str]; 4] = [
        &["revert-to-tag", "corr_x", "--target", "main", "--create"],
        &["revert-to-tag", "corr_x", "--target", "ai/generated/wf/t"],
        &[
            "revert-to-tag",
            "corr_x",
            "--target",
            "ai/generated/wf/t",
            "--path",
            SET,
        ],
        &[
            "revert-to-tag",
            "corr_x",
            "--dry-run",
            "--target",
            "main",
            "--create",
        ],
    ];
    for case in cases {
        let mut args = vec!["--repo", s, "--json"];
        args.extend_from_slice(case);
        let run = env.run(&args);
        assert_eq!(run.code, 1, "{case:?}: {}{}", run.stdout, run.stderr);
        let out = run.json();
        assert_eq!(out["error"]["kind"], "corrupt", "{case:?}: {out}");
        let message = out["error"]["message"].as_str().unwrap();
        assert!(message.contains(&oid), "{case:?}: {message}");
        assert!(message.contains("trades.csv"), "{case:?}: {message}");
        assert_eq!(env.snapshot(&store), before, "{case:?}: nothing written");
    }
}
