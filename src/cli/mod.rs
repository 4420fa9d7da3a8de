//! Command-line parsing, output, and the mapping from library errors to exit codes.

mod commit;
mod compact;
mod demo;
mod diff;
mod eventlog;
mod export;
mod fmt;
mod gc;
mod hook;
mod hooks;
mod init;
mod list;
mod log;
mod output;
mod pin;
mod progress;
mod push;
mod revert;
mod scan;
#[cfg(feature = "web")]
mod serve;
mod show;
mod spark;
mod stats;
mod subscribe;
mod trash;
mod unpin;
mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use artifact_store::error::exit;
use artifact_store::{OpenOptions, Store};

pub use output::Output;

/// Versions AI-generated artifacts in git: one branch per task, tags per correlation
/// id and prompt, secret-scanned, written into git's object database with no worktree.
///
/// Start with `artifact-store demo`, then `artifact-store init STORE` and
/// `artifact-store --repo STORE commit --workflow W --task T --correlation-id C FILES...`.
/// Exit codes: 0 ok, 1 internal or git error, 2 usage or invalid input, 3 secret
/// detected, 4 conflict, 5 not found, 6 required push failed.
#[derive(Debug, Parser)]
#[command(name = "artifact-store", version, max_term_width = 100)]
pub struct Cli {
    /// Store repository (default: the git repository around the current directory).
    // The environment variable is read by `repo_from_env`, not by clap: clap would print
    // `--repo <PATH>` in the usage line of every error once the variable is set, as if the
    // flag were required, and would refuse it set and empty.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "PATH"
    )]
    repo: Option<PathBuf>,
    /// Config file (default: artifact-store.toml in the worktree root, then in the git dir).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    /// Override one config key for this run, e.g. `-c durability=none` (repeatable).
    #[arg(
        short = 'c',
        global = true,
        help_heading = "Global options",
        value_name = "KEY=VALUE"
    )]
    config_values: Vec<String>,
    /// Print results (and errors) as JSON on stdout.
    #[arg(long, global = true, help_heading = "Global options")]
    json: bool,
    /// Print nothing but data and errors.
    #[arg(short, long, global = true, help_heading = "Global options")]
    quiet: bool,
    /// Print more detail on stderr (repeatable).
    #[arg(short, long, global = true, help_heading = "Global options", action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::InitArgs),
    Commit(commit::CommitArgs),
    Compact(compact::CompactArgs),
    List(list::ListArgs),
    Show(show::ShowArgs),
    Export(export::ExportArgs),
    Log(log::LogArgs),
    Diff(diff::DiffArgs),
    Verify(verify::VerifyArgs),
    Stats(stats::StatsArgs),
    RevertToTag(revert::RevertArgs),
    Scan(scan::ScanArgs),
    Gc(gc::GcArgs),
    Pin(pin::PinArgs),
    Unpin(unpin::UnpinArgs),
    Trash(trash::TrashArgs),
    Push(push::PushArgs),
    Hook(hook::HookArgs),
    Hooks(hooks::HooksArgs),
    Demo(demo::DemoArgs),
    Subscribe(subscribe::SubscribeArgs),
    #[cfg(feature = "web")]
    Serve(serve::ServeArgs),
}

/// The environment variable naming the store repository.
const REPO_ENV: &str = "ARTIFACT_STORE_REPO";

/// What every command receives: output settings and how to open the store.
pub struct Ctx {
    out: Output,
    open: OpenOptions,
    /// The global flags given that choose the store and its config (`--repo`, `--config`,
    /// `-c`), for a command line the user is told to run next.
    globals: Vec<String>,
}

impl Ctx {
    fn store(&self) -> artifact_store::Result<Store> {
        Store::open(&self.open)
    }

    /// Returns `artifact-store` with this run's store flags and `args`, quoted for a POSIX
    /// shell: a command the user can paste to go on with the same store and config.
    fn command_line(&self, args: &[String]) -> String {
        std::iter::once("artifact-store".to_string())
            .chain(self.globals.iter().chain(args).map(|a| fmt::shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The store repository the environment names: `ARTIFACT_STORE_REPO`, unless unset or
/// empty (an empty value is a variable cleared, not a path).
fn repo_from_env() -> Option<PathBuf> {
    std::env::var_os(REPO_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The `clap` command, with `--repo`'s help naming its environment variable and value as
/// clap shows them for its own `env` arguments.
fn command() -> clap::Command {
    use clap::CommandFactory;
    let value = std::env::var(REPO_ENV).unwrap_or_default();
    Cli::command().mut_arg("repo", |arg| {
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        arg.help(format!("{help} [env: {REPO_ENV}={value}]"))
    })
}

/// Whether `--json` is among the arguments (before any `--`): read from the raw command
/// line, since a command line that does not parse has no parsed flags to ask.
fn json_asked(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// The parser's error as a usage [`artifact_store::Error`]: its sentence (continuation
/// lines joined) as the message, its tips (a similar command or flag) as the hint.
fn usage_error(e: &clap::Error) -> artifact_store::Error {
    let text = e.render().to_string();
    let mut message = String::new();
    let mut tips = Vec::new();
    let mut usage = None;
    let mut in_message = true;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(first) = line.strip_prefix("error: ") {
            message.push_str(first.trim());
        } else if let Some(tip) = trimmed.strip_prefix("tip: ") {
            tips.push(tip.to_string());
            in_message = false;
        } else if let Some(u) = trimmed.strip_prefix("Usage: ") {
            usage = Some(u.to_string());
            in_message = false;
        } else if trimmed.is_empty() || trimmed.starts_with("For more information") {
            in_message = false;
        } else if in_message {
            message.push(' ');
            message.push_str(trimmed);
        }
    }
    if message.is_empty() {
        message = e.kind().to_string();
    }
    let mut hint = tips.join("; ");
    if let Some(usage) = usage {
        if !hint.is_empty() {
            hint.push_str("; ");
        }
        hint.push_str(&format!("usage: {usage}"));
    }
    if !hint.is_empty() {
        hint.push_str("; ");
    }
    hint.push_str("`--help` shows every command and flag");
    artifact_store::Error::Usage {
        message,
        hint: Some(hint),
    }
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> i32 {
    use clap::FromArgMatches;
    let cli = match command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && json_asked(std::env::args_os()) => {
            return Output::new(true, false, 0).error(&usage_error(&e));
        }
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    let json = cli.json || matches!(&cli.command, Command::List(args) if args.wants_json());
    let out = Output::new(json, cli.quiet, cli.verbose);
    let mut overrides = Vec::new();
    for pair in &cli.config_values {
        match pair.split_once('=') {
            Some((k, v)) => overrides.push((k.trim().to_string(), v.to_string())),
            None => {
                return out.error(&artifact_store::Error::InvalidInput(format!(
                    "-c {pair:?}: expected KEY=VALUE"
                )))
            }
        }
    }
    let mut globals = Vec::new();
    if let Some(repo) = &cli.repo {
        globals.extend(["--repo".to_string(), repo.display().to_string()]);
    }
    if let Some(config) = &cli.config {
        globals.extend(["--config".to_string(), config.display().to_string()]);
    }
    for pair in &cli.config_values {
        globals.extend(["-c".to_string(), pair.clone()]);
    }
    let ctx = Ctx {
        out,
        open: OpenOptions {
            repo: cli.repo.or_else(repo_from_env),
            config_file: cli.config,
            overrides,
        },
        globals,
    };
    let result = match &cli.command {
        Command::Init(args) => init::run(&ctx, args).map(|()| exit::OK),
        Command::Commit(args) => commit::run(&ctx, args).map(|()| exit::OK),
        Command::Compact(args) => compact::run(&ctx, args).map(|()| exit::OK),
        Command::List(args) => list::run(&ctx, args),
        Command::Show(args) => show::run(&ctx, args).map(|()| exit::OK),
        Command::Export(args) => export::run(&ctx, args).map(|()| exit::OK),
        Command::Log(args) => log::run(&ctx, args).map(|()| exit::OK),
        Command::Diff(args) => diff::run(&ctx, args).map(|()| exit::OK),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Stats(args) => stats::run(&ctx, args).map(|()| exit::OK),
        Command::RevertToTag(args) => revert::run(&ctx, args).map(|()| exit::OK),
        Command::Scan(args) => scan::run(&ctx, args),
        Command::Gc(args) => gc::run(&ctx, args),
        Command::Pin(args) => pin::run(&ctx, args).map(|()| exit::OK),
        Command::Unpin(args) => unpin::run(&ctx, args).map(|()| exit::OK),
        Command::Trash(args) => trash::run(&ctx, args).map(|()| exit::OK),
        Command::Push(args) => push::run(&ctx, args),
        Command::Hook(args) => hook::run(&ctx, args),
        Command::Hooks(args) => hooks::run(&ctx, args).map(|()| exit::OK),
        Command::Demo(args) => demo::run(&ctx, args).map(|()| exit::OK),
        Command::Subscribe(args) => subscribe::run(&ctx, args).map(|()| exit::OK),
        #[cfg(feature = "web")]
        Command::Serve(args) => serve::run(&ctx, args).map(|()| exit::OK),
    };
    match result {
        Ok(code) => code,
        Err(e) => ctx.out.error(&e),
    }
}
