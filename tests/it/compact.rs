//! Versions cost their differences: consolidation stores each older version of a file as
//! a delta against the newer one, on its own after commits or now with `compact`; git reads
//! the result, `git fsck --strict` accepts it, and `git gc` afterwards does not undo it.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{commit_args, Env};

/// Version `n` of a growing backtest set in `dir`: trades and an equity curve that gain
/// rows, a log that gains lines, a small metrics file rewritten each time.
pub fn growing_set(env: &Env, dir: &str, n: usize, rows: usize) -> Vec<PathBuf> {
    let count = rows + n * rows / 20;
    let trades: String = (0..count)
        .map(|i| {
            format!(
                "2024-01-01T00:{:02}:00,{i},{}.{:02},{}\n",
                i % 60,
                i * 37 % 1000,
                i % 100,
                if i % 3 == 0 { "BUY" } else { "SELL" }
            )
        })
        .collect();
    let equity: String = (0..count)
        .map(|i| {
            format!(
                "{i},{:.4}\n",
                10_000.0 + (i as f64 * 0.37).sin() * 100.0 + i as f64
            )
        })
        .collect();
    let log: String = (0..count)
        .map(|i| {
            format!(
                "INFO step={i} loss={:.6} lr=0.001\n",
                1.0 / (1.0 + i as f64)
            )
        })
        .collect();
    vec![
        env.write(&format!("{dir}/trades.csv"), trades),
        env.write(&format!("{dir}/equity.csv"), equity),
        env.write(&format!("{dir}/run.log"), log),
        env.write(
            &format!("{dir}/metrics.json"),
            format!(
                "{{\"version\": {n}, \"sharpe\": {}}}\n",
                1.0 + n as f64 / 100.0
            ),
        ),
    ]
}

/// Commits version `n` (files in `set<n>`) with correlation id `c<n>`, extra arguments first.
pub fn commit_version(env: &Env, store: &Path, n: usize, rows: usize, extra: &[&str]) {
    let dir = format!("set{n}");
    let files = growing_set(env, &dir, n, rows);
    let corr = format!("c{n}");
    let s = store.to_str().unwrap();
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(commit_args(s, &corr, &[]));
    let paths: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    args.extend(paths);
    env.run(&args).ok();
}

/// Bytes of `objects/` (loose objects, packs and indexes).
pub fn object_bytes(store: &Path) -> u64 {
    let mut total = 0;
    let mut dirs = vec![store.join("objects")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

/// The longest delta chain `git verify-pack -v` reports over every pack (0: no delta).
fn longest_chain(env: &Env, store: &Path) -> usize {
    let packdir = store.join("objects/pack");
    let mut longest = 0;
    for entry in std::fs::read_dir(&packdir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("idx") {
            continue;
        }
        let out = env.git_in(store, &["verify-pack", "-v", path.to_str().unwrap()]);
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("chain length = ") {
                let n: usize = rest.split(':').next().unwrap().trim().parse().unwrap();
                longest = longest.max(n);
            }
        }
    }
    longest
}

/// Every version exports byte for byte as it was committed, and git reads each blob.
#[track_caller]
fn every_version_reads_back(env: &Env, store: &Path, versions: usize) {
    let s = store.to_str().unwrap();
    for n in 0..versions {
        let to = env.path(&format!("out{n}"));
        let _ = std::fs::remove_dir_all(&to);
        env.run(&[
            "--repo",
            s,
            "export",
            &format!("corr_c{n}"),
            "--to",
            to.to_str().unwrap(),
        ])
        .ok();
        for name in ["trades.csv", "equity.csv", "run.log", "metrics.json"] {
            let want = std::fs::read(env.path(&format!("set{n}/{name}"))).unwrap();
            let got = std::fs::read(to.join(name)).unwrap();
            assert!(
                want == got,
                "version {n}: {name} differs after consolidation"
            );
            let by_git = env.git(&[
                "-C",
                s,
                "cat-file",
                "blob",
                &format!("corr_c{n}:artifacts/wf/t/{name}"),
            ]);
            assert_eq!(by_git.code, 0, "{}", by_git.stderr);
            assert!(
                by_git.stdout.as_bytes() == &want[..],
                "git reads version {n} of {name} differently"
            );
        }
    }
}

#[test]
fn compact_stores_each_version_as_its_difference_and_git_reads_every_one() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let versions = 12;
    for n in 0..versions {
        commit_version(&env, &store, n, 4000, &[]);
    }
    let before = object_bytes(&store);
    let newest: u64 = growing_set(&env, "newest", versions - 1, 4000)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let dry = env
        .run(&["--repo", s, "--json", "compact", "--dry-run"])
        .ok()
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["ran"], true);
    assert_eq!(object_bytes(&store), before, "a dry run wrote something");
    let done = env.run(&["--repo", s, "--json", "compact"]).ok().json();
    assert_eq!(done["ran"], true);
    assert_eq!(
        done["saved"], dry["saved"],
        "the dry run said {dry}, the run did {done}"
    );
    assert!(done["deltas_new"].as_u64().unwrap() >= 3 * (versions as u64 - 1));
    let after = object_bytes(&store);
    assert!(
        after * 4 < before,
        "{before} bytes before, {after} after: versions did not cost their differences"
    );
    // About one compressed copy of the newest version, plus small deltas and the commits.
    assert!(
        after < newest / 2,
        "{after} bytes on disk for a newest set of {newest}"
    );
    let longest = longest_chain(&env, &store);
    assert!((1..=50).contains(&longest), "longest chain {longest}");
    env.fsck(&store);
    every_version_reads_back(&env, &store, versions);

    // git gc by hand afterwards keeps the deltas, and consolidation still works after it.
    env.git_in(&store, &["gc", "--quiet"]);
    env.fsck(&store);
    let after_gc = object_bytes(&store);
    assert!(
        after_gc < after * 3 / 2,
        "git gc undid it: {after} -> {after_gc}"
    );
    commit_version(&env, &store, versions, 4000, &[]);
    env.run(&["--repo", s, "compact"]).ok();
    env.fsck(&store);
    every_version_reads_back(&env, &store, versions + 1);
}

#[test]
fn delta_chains_stay_within_fifty() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let versions = 64;
    for n in 0..versions {
        commit_version(&env, &store, n, 60, &["-c", "durability=none"]);
        if n % 16 == 15 {
            env.run(&["--repo", s, "compact"]).ok();
        }
    }
    env.run(&["--repo", s, "compact"]).ok();
    let longest = longest_chain(&env, &store);
    assert!((2..=50).contains(&longest), "longest chain {longest}");
    env.fsck(&store);
    every_version_reads_back(&env, &store, versions);
}

/// Waits until no consolidation holds the lock and nothing is due by `knobs` (the `-c`
/// flags the writer ran with); returns the time taken.
pub fn wait_for_background(env: &Env, store: &Path, knobs: &[&str], bound: Duration) -> Duration {
    let s = store.to_str().unwrap();
    let start = Instant::now();
    loop {
        let mut args = vec!["--repo", s, "--json"];
        args.extend_from_slice(knobs);
        args.push("stats");
        let stats = env.run(&args).ok().json();
        let lock = store.join("artifact-store-repack.lock").exists();
        if !lock && stats["storage"]["compact_due"] == false {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < bound,
            "the background consolidation did not finish in {bound:?}: {stats}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn commits_consolidate_on_their_own_and_the_knob_turns_it_off() {
    let env = Env::new();
    let on = env.store();
    let versions = 10;
    let knobs = ["-c", "auto_compact=true", "-c", "compact_threshold=64KiB"];
    for n in 0..versions {
        commit_version(&env, &on, n, 3000, &knobs);
    }
    wait_for_background(&env, &on, &knobs, Duration::from_secs(60));
    let consolidated = object_bytes(&on);
    env.fsck(&on);
    every_version_reads_back(&env, &on, versions);
    let pending = env
        .run(&["--repo", on.to_str().unwrap(), "--json", "stats"])
        .ok()
        .json();
    assert!(
        pending["storage"]["pending_bytes"].as_u64().unwrap() < 64 << 10,
        "{pending}"
    );

    let env_off = Env::new();
    let off = env_off.store();
    let knobs = ["-c", "auto_compact=false", "-c", "compact_threshold=64KiB"];
    for n in 0..versions {
        commit_version(&env_off, &off, n, 3000, &knobs);
    }
    std::thread::sleep(Duration::from_millis(500));
    let left = object_bytes(&off);
    assert!(
        !off.join("artifact-store-compacted").exists(),
        "consolidated with auto_compact = false"
    );
    assert!(
        consolidated * 3 < left,
        "{consolidated} bytes with consolidation on, {left} with it off"
    );
}

#[test]
fn stats_tells_the_raw_bytes_the_disk_bytes_and_what_compact_would_save() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let versions = 6;
    let mut raw = 0;
    for n in 0..versions {
        commit_version(&env, &store, n, 3000, &[]);
        let show = env
            .run(&["--repo", s, "--json", "show", &format!("corr_c{n}")])
            .ok()
            .json();
        raw += show["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["size"].as_u64().unwrap())
            .sum::<u64>();
    }
    let before = env.run(&["--repo", s, "--json", "stats"]).ok().json();
    let st = &before["storage"];
    assert_eq!(st["raw_bytes"].as_u64().unwrap(), raw, "{st}");
    assert_eq!(st["disk_bytes"].as_u64().unwrap(), object_bytes(&store));
    let would = st["compact_would_save"].as_i64().unwrap();
    assert!(would > 0, "{st}");
    assert!(st["pending_bytes"].as_u64().unwrap() > 0);
    let human = env.run(&["--repo", s, "stats"]).ok().stdout;
    assert!(
        human.contains("in all versions") && human.contains("would save"),
        "{human}"
    );

    let done = env.run(&["--repo", s, "--json", "compact"]).ok().json();
    assert_eq!(done["saved"].as_i64().unwrap(), would);
    let after = env.run(&["--repo", s, "--json", "stats"]).ok().json();
    let st = &after["storage"];
    assert_eq!(st["raw_bytes"].as_u64().unwrap(), raw);
    assert_eq!(st["compact_would_save"].as_i64().unwrap(), 0, "{st}");
    assert_eq!(st["pending_bytes"].as_u64().unwrap(), 0, "{st}");
    assert!(st["ratio"].as_f64().unwrap() > 4.0, "{st}");
}

#[test]
fn compact_with_nothing_to_do_says_so() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let out = env.run(&["--repo", s, "compact"]).ok();
    assert!(
        out.stdout.contains("nothing consolidated"),
        "{}",
        out.stdout
    );
    let auto = env
        .run(&["--repo", s, "--json", "compact", "--auto"])
        .ok()
        .json();
    assert_eq!(auto["ran"], false);
    assert_eq!(auto["skipped"], "nothing due");
}

#[test]
fn files_over_the_streaming_threshold_get_deltas_too() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    // 9 MiB growing to about 10 MiB: above the 8 MiB streaming threshold.
    let line = |i: usize| {
        format!(
            "2024-01-01T00:00:{:02} fill id={i} px={}.{:03}\n",
            i % 60,
            100 + i % 7,
            i % 1000
        )
    };
    let mut text = String::new();
    let mut i = 0;
    let mut sizes = Vec::new();
    for n in 0..3 {
        while text.len() < (9 << 20) + n * (512 << 10) {
            text.push_str(&line(i));
            i += 1;
        }
        let path = env.write(&format!("big{n}/fills.log"), &text);
        sizes.push(text.len());
        let corr = format!("big{n}");
        env.run(&commit_args(s, &corr, &[path.to_str().unwrap()]))
            .ok();
    }
    let before = object_bytes(&store);
    let done = env.run(&["--repo", s, "--json", "compact"]).ok().json();
    assert!(done["deltas_new"].as_u64().unwrap() >= 2, "{done}");
    let after = object_bytes(&store);
    assert!(after * 2 < before, "{before} bytes before, {after} after");
    env.fsck(&store);
    for (n, size) in sizes.iter().enumerate() {
        let to = env.path(&format!("out{n}"));
        env.run(&[
            "--repo",
            s,
            "export",
            &format!("corr_big{n}"),
            "--to",
            to.to_str().unwrap(),
        ])
        .ok();
        let got = std::fs::read(to.join("fills.log")).unwrap();
        assert_eq!(got.len(), *size);
        assert!(got == std::fs::read(env.path(&format!("big{n}/fills.log"))).unwrap());
    }
}
