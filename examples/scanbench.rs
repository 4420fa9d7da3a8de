//! Scans the given paths with the built-in rules and prints files, bytes, throughput and
//! findings (rule, path, line, column, redacted excerpt): `scanbench DIR...`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use artifact_store::scan::Scanner;

fn main() -> ExitCode {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: scanbench PATH...");
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let scanner = Scanner::builtin();
    let built = started.elapsed();
    let report = match scanner.scan_paths(&paths) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let total = started.elapsed();
    let mb = report.bytes_scanned as f64 / 1e6;
    println!(
        "{} files, {:.1} MB, {} rules built in {:.1} ms, total {:.1} ms, {:.0} MB/s, {} findings, {} skipped",
        report.files_scanned,
        mb,
        scanner.rule_count(),
        built.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        mb / total.as_secs_f64(),
        report.findings.len(),
        report.skipped.len(),
    );
    for f in report.findings.iter().take(100) {
        println!(
            "{} {}:{}:{} {}",
            f.rule_id, f.path, f.line, f.column, f.redacted
        );
    }
    if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}
