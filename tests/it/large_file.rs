//! Large files are streamed: committing and scanning a 1 GiB file keeps the process's peak
//! memory under 100 MB, the blob is the file byte for byte, and a secret cut by the
//! streaming scan's part boundaries is still found.
//!
//! Peak memory is the "Maximum resident set size" that GNU time (`/usr/bin/time -v`,
//! Debian package `time`, installed by `.ci/run`) reports for the store process.
//!
//! By default the file is 128 MiB: larger than the bound, so a path that held the file
//! whole would fail, yet quick in CI's debug build. The 1 GiB run of docs/performance.md
//! is `ARTIFACT_STORE_LARGE_TEST_MIB=1024 cargo test --release --test it large_file:: --
//! --nocapture` (any size in MiB works; the bound stays 100 MB).
#![allow(clippy::print_stderr)]

use crate::common;

use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{commit_args, Env};
use sha2::{Digest, Sha256};

/// The bound the issue sets on peak memory, 100 MB, in the KiB that GNU time reports
/// as "kbytes".
const RSS_LIMIT_KB: u64 = 100_000_000 / 1024;
/// Files above this are streamed (`scan::LARGE_FILE_BYTES`, docs/commit.md).
const LARGE_FILE_BYTES: u64 = 8 << 20;
/// Offsets where the streaming scan cuts its parts (docs/scanner.md): a part is 4 MiB of
/// new bytes after a 512 KiB overlap, and reports secrets starting before its last 256 KiB.
const HALF: u64 = 256 << 10;
const CHUNK: u64 = 4 << 20;

/// A deterministic generator (xorshift64*), so every run writes the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// One MiB of log-like text: timestamps, counters, hex ids and words, with scanner
/// keywords (`key`, `token`, `password`) holding values that are not secrets, so that the
/// scan opens windows and runs rules instead of only skimming.
fn text_block(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let words = [
        "loaded",
        "batch",
        "shard",
        "checkpoint",
        "evaluated",
        "merged",
        "skipped",
        "retry",
    ];
    let mut block = Vec::with_capacity((1 << 20) + 256);
    while block.len() < 1 << 20 {
        let r = rng.next();
        let line = match r % 16 {
            0 => format!("cache_key=item:{} max_tokens={}\n", r % 9973, r % 4096),
            1 => format!(
                "token_count: {} password_policy: min length {}\n",
                r % 100_000,
                r % 20
            ),
            _ => format!(
                "2026-11-23T01:{:02}:{:02}Z worker={} step={} id={:016x} {} {} items in {} ms\n",
                r % 60,
                (r >> 8) % 60,
                (r >> 16) % 64,
                (r >> 24) % 100_000,
                rng.next(),
                words[(r >> 40) as usize % words.len()],
                (r >> 44) % 10_000,
                (r >> 54) % 1000,
            ),
        };
        block.extend_from_slice(line.as_bytes());
    }
    block.truncate(1 << 20);
    block
}

/// Writes `size` bytes of text made of distinct 1 MiB blocks in a pseudo-random order,
/// and returns the sha256 of what was written. Each block starts with its own header
/// line, so no two MiB of the file are equal and zlib compresses every one afresh.
fn write_text_file(path: &Path, size: u64) -> String {
    let pool: Vec<Vec<u8>> = (0..16).map(text_block).collect();
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut rng = Rng(42);
    let mut written = 0u64;
    let mut n = 0u64;
    while written < size {
        let header = format!("# block {n} {:016x}\n", rng.next());
        let block = &pool[(rng.next() % 16) as usize];
        let take = (size - written).min((header.len() + block.len()) as u64) as usize;
        let part = [header.as_bytes(), block.as_slice()].concat();
        out.write_all(&part[..take]).unwrap();
        hasher.update(&part[..take]);
        written += take as u64;
        n += 1;
    }
    out.flush().unwrap();
    format!("{:x}", hasher.finalize())
}

/// Runs the store under `/usr/bin/time -v`; returns what it printed and its peak RSS in kB.
fn run_measured(env: &Env, args: &[&str]) -> (common::Run, u64) {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "GNU time is needed at /usr/bin/time (Debian package `time`; .ci/run installs it)"
    );
    let inner = env.cmd(args);
    let mut cmd = Command::new(time);
    cmd.arg("-v")
        .arg(inner.get_program())
        .args(inner.get_args());
    cmd.env_clear();
    for (key, value) in inner.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    if let Some(dir) = inner.get_current_dir() {
        cmd.current_dir(dir);
    }
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .expect("run /usr/bin/time");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let peak = stderr
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .next_back()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in GNU time's report:\n{stderr}"));
    let wall = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Elapsed (wall clock) time (h:mm:ss or m:ss): ")
        })
        .unwrap_or("?")
        .to_string();
    let args_shown: Vec<&str> = args
        .iter()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .collect();
    eprintln!("measured: {args_shown:?}: peak RSS {peak} kB, wall {wall}");
    let code = output.status.code().unwrap_or(-1);
    // GNU time reports a failing command on its first stderr line; keep the store's own.
    let own = stderr
        .lines()
        .take_while(|l| !l.starts_with("\tCommand being timed") && !l.starts_with("Command exited"))
        .collect::<Vec<_>>()
        .join("\n");
    let run = common::Run {
        code,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: own,
    };
    (run, peak)
}

/// sha256 of a blob as `git cat-file blob` prints it, read as a stream.
fn git_blob_sha256(env: &Env, repo: &Path, spec: &str) -> String {
    let mut child = Command::new("git")
        .args(["-C", repo.to_str().unwrap(), "cat-file", "blob", spec])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .current_dir(env.dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run git cat-file");
    let mut stdout = child.stdout.take().unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    assert!(
        child.wait().unwrap().success(),
        "git cat-file blob {spec} failed"
    );
    format!("{:x}", hasher.finalize())
}

/// The size of the large file: `ARTIFACT_STORE_LARGE_TEST_MIB` MiB, 128 by default.
fn test_size() -> u64 {
    let mib: u64 = std::env::var("ARTIFACT_STORE_LARGE_TEST_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    mib << 20
}

#[test]
fn a_large_file_commits_and_scans_in_under_100_mb() {
    let size = test_size();
    let mib = size >> 20;
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let big = env.path("run/big.log");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    let sha256 = write_text_file(&big, size);
    assert_eq!(std::fs::metadata(&big).unwrap().len(), size);
    let small = env.write("run/report.json", "{\"passed\": 3}\n");

    let (run, peak) = run_measured(
        &env,
        &commit_args(
            s,
            "big-1",
            &[big.to_str().unwrap(), small.to_str().unwrap()],
        ),
    );
    let out = run.ok().json();
    assert!(
        peak < RSS_LIMIT_KB,
        "commit of {mib} MiB peaked at {peak} kB, over {RSS_LIMIT_KB} kB"
    );
    let commit = out["commit_sha"].as_str().unwrap().to_string();
    let path = format!("{commit}:artifacts/wf/t/big.log");
    assert_eq!(
        env.git_in(&store, &["cat-file", "-s", &path]),
        size.to_string()
    );
    assert_eq!(git_blob_sha256(&env, &store, &path), sha256);
    let meta: serde_json::Value = serde_json::from_str(&env.git_in(
        &store,
        &[
            "cat-file",
            "blob",
            &format!("{commit}:artifacts/wf/t/metadata.json"),
        ],
    ))
    .unwrap();
    assert_eq!(
        meta["checksums"]["artifacts/wf/t/big.log"],
        format!("sha256:{sha256}")
    );
    assert_eq!(
        env.git_in(
            &store,
            &[
                "cat-file",
                "blob",
                &format!("{commit}:artifacts/wf/t/report.json")
            ]
        ),
        "{\"passed\": 3}"
    );
    env.fsck(&store);
    // Consolidation packs the blob, streamed, and stays within the bound itself.
    let (compact, peak) = run_measured(&env, &["--repo", s, "--json", "compact"]);
    compact.ok();
    assert!(
        peak < RSS_LIMIT_KB,
        "compact beside a {mib} MiB blob peaked at {peak} kB, over {RSS_LIMIT_KB} kB"
    );
    env.fsck(&store);
    let counts = env.git_in(&store, &["count-objects", "-v"]);
    assert!(counts.lines().any(|l| l == "count: 0"), "{counts}");
    // verify and export stream the packed blob from its pack entry.
    let (verify, peak) = run_measured(&env, &["--repo", s, "verify", "corr_big-1"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(
        peak < RSS_LIMIT_KB,
        "verify of {mib} MiB peaked at {peak} kB"
    );
    let out_dir = env.path("exported");
    let (export, _) = run_measured(
        &env,
        &[
            "--repo",
            s,
            "export",
            "corr_big-1",
            "--to",
            out_dir.to_str().unwrap(),
        ],
    );
    export.ok();
    let mut exported = std::fs::File::open(out_dir.join("big.log")).unwrap();
    let mut hasher = Sha256::new();
    std::io::copy(&mut exported, &mut hasher).unwrap();
    assert_eq!(format!("{:x}", hasher.finalize()), sha256);
    std::fs::remove_dir_all(&out_dir).unwrap();

    let (scan, peak) = run_measured(&env, &["--json", "scan", big.to_str().unwrap()]);
    let report = scan.ok().json();
    assert!(
        peak < RSS_LIMIT_KB,
        "scan of {mib} MiB peaked at {peak} kB, over {RSS_LIMIT_KB} kB"
    );
    assert_eq!(report["files_scanned"], 1);
    assert_eq!(report["bytes_scanned"], size);
    assert_eq!(report["findings"].as_array().unwrap().len(), 0);
}

/// A GitHub token, built at run time so this file holds no literal.
fn token(i: usize) -> String {
    format!(
        "ghp_{}{:04}",
        "R7cVq2LmN8xT4bZ9wK1pH6sD3fJ0aY5e",
        i * 37 % 10_000
    )
}

#[test]
fn secrets_across_the_streaming_cuts_abort_the_commit_and_the_scan() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let seed = env.write("seed.txt", "ok\n");
    env.run(&commit_args(s, "seed", &[seed.to_str().unwrap()]))
        .ok();
    // Each secret straddles a cut: the 1 MiB reads, and the ends of the parts' reported
    // ranges (HALF + k * CHUNK from the start of the file).
    let cuts = [
        1 << 20,
        3 << 20,
        HALF + CHUNK,
        HALF + 2 * CHUNK,
        HALF + 4 * CHUNK,
    ];
    let size = LARGE_FILE_BYTES + 12 * (1 << 20);
    let pool: Vec<Vec<u8>> = (0..4).map(text_block).collect();
    let mut filler = pool
        .iter()
        .flat_map(|block| block.split_inclusive(|&b| b == b'\n'))
        .filter(|line| line.ends_with(b"\n"))
        .cycle();
    let mut data = Vec::with_capacity(size as usize);
    let mut lines = 0;
    let mut expected = Vec::new();
    for (i, &cut) in cuts.iter().enumerate() {
        let secret = token(i);
        let assignment = format!("export GH_TOKEN={secret}\n");
        let start = cut as usize - "export GH_TOKEN=".len() - secret.len() / 2;
        while start - data.len() > 200 {
            data.extend_from_slice(filler.next().unwrap());
            lines += 1;
        }
        data.resize(start - 1, b'#');
        data.push(b'\n');
        lines += 1;
        expected.push((lines + 1, secret));
        data.extend_from_slice(assignment.as_bytes());
        lines += 1;
    }
    while (data.len() as u64) < size {
        data.extend_from_slice(filler.next().unwrap());
    }
    let big = env.write("run/big.log", &data);
    let before = env.snapshot(&store);

    let run = env.run(&commit_args(s, "leak", &[big.to_str().unwrap()]));
    assert_eq!(run.code, 3, "{}", run.stderr);
    let err = run.json();
    assert_eq!(err["error"]["kind"], "secret_detected");
    let found: Vec<(usize, String)> = err["error"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["path"], "artifacts/wf/t/big.log");
            assert_eq!(f["column"], 17, "{f}");
            (
                f["line"].as_u64().unwrap() as usize,
                f["rule_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(usize, String)> = expected
        .iter()
        .map(|(line, _)| (*line, "github-pat".to_string()))
        .collect();
    assert_eq!(found, want);
    for (_, secret) in &expected {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
        assert!(!run.stdout.contains(&secret[4..]) && !run.stderr.contains(&secret[4..]));
    }
    assert_eq!(
        env.snapshot(&store),
        before,
        "no object, no ref: nothing reached the repository"
    );
    env.fsck(&store);

    let scan = env.run(&["--json", "scan", big.to_str().unwrap()]);
    assert_eq!(scan.code, 3, "{}", scan.stderr);
    let lines: Vec<usize> = scan.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["line"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(lines, want.iter().map(|(l, _)| *l).collect::<Vec<_>>());

    // The pre-commit hook's view: the same file staged in a repository.
    let repo = env.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    env.git_in(&repo, &["init", "-q"]);
    std::fs::copy(&big, repo.join("big.log")).unwrap();
    env.git_in(&repo, &["add", "big.log"]);
    let mut cmd = env.cmd(&["--json", "scan", "--staged"]);
    cmd.current_dir(&repo);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let staged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let staged_lines: Vec<usize> = staged["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["line"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(staged_lines, lines);
    assert_eq!(staged["bytes_scanned"], data.len());
}

/// Writes `size` bytes of xorshift noise (incompressible, unlike any other version) and
/// returns their sha256.
fn write_noise_file(path: &Path, size: u64, seed: u64) -> String {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut rng = Rng(seed | 1);
    let mut block = vec![0u8; 1 << 20];
    let mut written = 0u64;
    while written < size {
        for word in block.chunks_exact_mut(8) {
            word.copy_from_slice(&rng.next().to_le_bytes());
        }
        let take = (size - written).min(block.len() as u64) as usize;
        out.write_all(&block[..take]).unwrap();
        hasher.update(&block[..take]);
        written += take as u64;
    }
    out.flush().unwrap();
    format!("{:x}", hasher.finalize())
}

/// Copies `from` to `to` with 100 bytes overwritten at half its length, 5,000 inserted at
/// three quarters, and its first `grow` bytes appended; returns the sha256 written.
fn write_edited_copy(from: &Path, to: &Path, grow: u64) -> String {
    let len = std::fs::metadata(from).unwrap().len();
    let mut input = std::io::BufReader::new(std::fs::File::open(from).unwrap());
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(to).unwrap());
    let mut hasher = Sha256::new();
    let mut put = |bytes: &[u8]| {
        out.write_all(bytes).unwrap();
        hasher.update(bytes);
    };
    let copy = |input: &mut dyn Read, n: u64, put: &mut dyn FnMut(&[u8])| {
        let mut buf = vec![0u8; 1 << 20];
        let mut left = n;
        while left > 0 {
            let k = left.min(buf.len() as u64) as usize;
            input.read_exact(&mut buf[..k]).unwrap();
            put(&buf[..k]);
            left -= k as u64;
        }
    };
    copy(&mut input, len / 2, &mut put);
    put(&[b'X'; 100]);
    std::io::copy(&mut (&mut input).take(100), &mut std::io::sink()).unwrap();
    copy(&mut input, len * 3 / 4 - len / 2 - 100, &mut put);
    put(&b"inserted line\n".repeat(5000 / 14 + 1)[..5000]);
    copy(&mut input, len - len * 3 / 4, &mut put);
    let mut again = std::fs::File::open(from).unwrap();
    copy(&mut again, grow, &mut put);
    out.flush().unwrap();
    format!("{:x}", hasher.finalize())
}

/// Bytes of every file under `objects` (loose objects, packs, indexes).
fn objects_bytes(store: &Path) -> u64 {
    fn walk(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let meta = e.metadata().unwrap();
                        if meta.is_dir() {
                            walk(&e.path())
                        } else {
                            meta.len()
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&store.join("objects"))
}

/// Bytes of the loose object file of `oid`.
fn loose_bytes(store: &Path, oid: &str) -> u64 {
    std::fs::metadata(store.join("objects").join(&oid[..2]).join(&oid[2..]))
        .unwrap()
        .len()
}

/// The blobs of `git verify-pack -v` stored as deltas in the store's packs.
fn deltas_in_packs(env: &Env, store: &Path) -> Vec<String> {
    let mut deltas = Vec::new();
    for entry in std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "idx") {
            continue;
        }
        let out = env.git_in(store, &["verify-pack", "-v", path.to_str().unwrap()]);
        for line in out.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sha1 type size size-in-pack offset depth base
            if fields.len() == 7 && fields[1] == "blob" {
                deltas.push(fields[0].to_string());
            }
        }
    }
    deltas
}

/// Exports and verifies every version, each under the memory bound, and checks what
/// export wrote against the sha256 of what was committed.
fn read_back_in_bounded_memory(env: &Env, store: &Path, versions: &[(&str, &str, &str)]) {
    let s = store.to_str().unwrap();
    for (corr, log_sha, noise_sha) in versions {
        let (verify, peak) = run_measured(env, &["--repo", s, "verify", corr]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
        assert!(peak < RSS_LIMIT_KB, "verify {corr} peaked at {peak} kB");
        let out_dir = env.path("exported");
        let (export, peak) = run_measured(
            env,
            &[
                "--repo",
                s,
                "export",
                corr,
                "--to",
                out_dir.to_str().unwrap(),
            ],
        );
        export.ok();
        assert!(peak < RSS_LIMIT_KB, "export {corr} peaked at {peak} kB");
        for (name, sha) in [("big.log", log_sha), ("noise.bin", noise_sha)] {
            let mut file = std::fs::File::open(out_dir.join(name)).unwrap();
            let mut hasher = Sha256::new();
            std::io::copy(&mut file, &mut hasher).unwrap();
            assert_eq!(&format!("{:x}", hasher.finalize()), sha, "{corr}: {name}");
        }
        std::fs::remove_dir_all(&out_dir).unwrap();
    }
}

#[test]
fn large_versions_consolidate_into_streamed_deltas_read_back_in_bounded_memory() {
    let size = test_size();
    let mib = size >> 20;
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    std::fs::create_dir_all(env.path("run")).unwrap();
    let log = env.path("run/big.log");
    let noise = env.path("run/noise.bin");
    let noise_size = size / 4 + (1 << 20);
    let l = log.to_str().unwrap();
    let n = noise.to_str().unwrap();
    // 1: the log at three quarters; 2: grown to full size (version 1 is its prefix);
    // 3: edited in the middle and grown again. The noise file is replaced by unrelated
    // noise in 2, and kept in 3.
    let mut shas = Vec::new();
    let mut oids = Vec::new();
    for (i, corr) in ["big-1", "big-2", "big-3"].iter().enumerate() {
        let log_sha = match i {
            0 => write_text_file(&log, size * 3 / 4),
            1 => write_text_file(&log, size),
            _ => {
                let previous = env.path("run/previous.log");
                std::fs::rename(&log, &previous).unwrap();
                let sha = write_edited_copy(&previous, &log, size / 16);
                std::fs::remove_file(&previous).unwrap();
                sha
            }
        };
        let noise_sha = match i {
            0 => write_noise_file(&noise, noise_size, 1),
            1 => write_noise_file(&noise, noise_size, 2),
            _ => shas
                .last()
                .map(|(_, n): &(String, String)| n.clone())
                .unwrap(),
        };
        let (run, peak) = run_measured(&env, &commit_args(s, corr, &[l, n]));
        let commit = run.ok().json()["commit_sha"].as_str().unwrap().to_string();
        assert!(peak < RSS_LIMIT_KB, "commit {corr} peaked at {peak} kB");
        let oid = |name: &str| {
            env.git_in(
                &store,
                &["rev-parse", &format!("{commit}:artifacts/wf/t/{name}")],
            )
        };
        oids.push((oid("big.log"), oid("noise.bin")));
        shas.push((log_sha, noise_sha));
    }
    let (log3, noise1, noise2) = (&oids[2].0, &oids[0].1, &oids[1].1);
    let newest_whole =
        loose_bytes(&store, log3) + loose_bytes(&store, noise1) + loose_bytes(&store, noise2);
    let before = objects_bytes(&store);

    let (compact, peak) = run_measured(&env, &["--repo", s, "--json", "compact"]);
    let report = compact.ok().json();
    eprintln!("compact: {report}");
    assert!(
        peak < RSS_LIMIT_KB,
        "compact of three {mib} MiB versions peaked at {peak} kB, over {RSS_LIMIT_KB} kB"
    );
    env.fsck(&store);
    // The two older logs are deltas (against the version that replaced each); the
    // noise files, unrelated, stay whole, and so does the newest log.
    for entry in std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "idx") {
            let listing = env.git_in(
                &store,
                &["verify-pack", "-v", entry.path().to_str().unwrap()],
            );
            eprintln!(
                "{}",
                listing
                    .lines()
                    .filter(|l| l.contains(" blob "))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    let mut deltas = deltas_in_packs(&env, &store);
    deltas.sort();
    let mut expected = vec![oids[0].0.clone(), oids[1].0.clone()];
    expected.sort();
    assert_eq!(deltas, expected);
    let after = objects_bytes(&store);
    eprintln!("bytes on disk: {before} loose, {after} consolidated, newest whole {newest_whole}");
    assert!(
        after < newest_whole + (2 << 20),
        "{after} bytes after consolidation, the versions stored whole take {newest_whole}"
    );
    for ((log_oid, noise_oid), (log_sha, noise_sha)) in oids.iter().zip(&shas) {
        assert_eq!(&git_blob_sha256(&env, &store, log_oid), log_sha);
        assert_eq!(&git_blob_sha256(&env, &store, noise_oid), noise_sha);
    }
    let versions: Vec<(&str, &str, &str)> = ["big-1", "big-2", "big-3"]
        .iter()
        .zip(&shas)
        .map(|(c, (l, n))| (*c, l.as_str(), n.as_str()))
        .collect();
    read_back_in_bounded_memory(&env, &store, &versions);

    // git gc by hand: git's pack reuses the deltas, which read the same way.
    env.git_in(&store, &["gc", "--quiet"]);
    env.fsck(&store);
    eprintln!(
        "after git gc: deltas {:?}, {} bytes",
        deltas_in_packs(&env, &store),
        objects_bytes(&store)
    );
    read_back_in_bounded_memory(&env, &store, &versions);
    // And deltas git computed itself (below its core.bigFileThreshold), whose copies need
    // not go forward, read back within the bound too.
    env.git_in(&store, &["repack", "-adf", "--quiet"]);
    env.fsck(&store);
    eprintln!(
        "after git repack -adf: deltas {:?}, {} bytes",
        deltas_in_packs(&env, &store),
        objects_bytes(&store)
    );
    read_back_in_bounded_memory(&env, &store, &versions);
}
