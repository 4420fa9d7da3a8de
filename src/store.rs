//! `Store`: an open repository and its configuration; every operation hangs off it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::config::{Config, CONFIG_FILE};
use crate::error::{Error, Result};
use crate::git::refs::LockPolicy;
use crate::git::{Repo, Signature, Time};
use crate::scan::Scanner;

mod compact;

pub use compact::{CompactOutcome, CompactPending, CompactRequest, Compactor};

/// How to find and configure a store.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Repo path; `None` discovers the repository around the current directory.
    pub repo: Option<PathBuf>,
    /// Config file; `None` looks for `artifact-store.toml` in the store.
    pub config_file: Option<PathBuf>,
    /// `key=value` overrides applied last.
    pub overrides: Vec<(String, String)>,
}

/// What `init` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InitOutcome {
    /// Always true; errors are reported apart (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// The repository's git directory.
    pub git_dir: PathBuf,
    /// The worktree, for a non-bare repository.
    pub work_dir: Option<PathBuf>,
    /// Whether the repository is bare.
    pub bare: bool,
    /// False when an existing repository was adopted unchanged.
    pub created: bool,
}

/// An open artifact store.
pub struct Store {
    repo: Repo,
    config: Config,
    /// Shared by the handles [`Store::open_again`] makes, so the rules compile once.
    scanner: Arc<OnceLock<Scanner>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("git_dir", &self.repo.path())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `opts.repo` (or around the current directory) with its config.
    pub fn open(opts: &OpenOptions) -> Result<Store> {
        if let Some(file) = &opts.config_file {
            Config::check_explicit(file)?;
        }
        let repo = match &opts.repo {
            Some(path) => Repo::open(path)?,
            None => Repo::discover(Path::new("."))?,
        };
        let mut candidates = Vec::new();
        if let Some(workdir) = repo.workdir() {
            candidates.push(workdir.join(CONFIG_FILE));
        }
        candidates.push(repo.path().join(CONFIG_FILE));
        let config = Config::load(opts.config_file.as_deref(), &candidates, &opts.overrides)?;
        Ok(Store {
            repo,
            config,
            scanner: Arc::new(OnceLock::new()),
        })
    }

    /// Opens the same repository again as another handle, for another thread: the
    /// repository handle is not shared between threads, the configuration is copied and
    /// the compiled scanner is shared (its rules compile once for all the handles).
    pub fn open_again(&self) -> Result<Store> {
        Ok(Store {
            repo: Repo::open(self.repo.path())?,
            config: self.config.clone(),
            scanner: Arc::clone(&self.scanner),
        })
    }

    /// Changes the configuration of an open store, as a face that takes its settings as
    /// values rather than `key=value` text does (the Python package's `secret_patterns`
    /// become `[scan]` rules). The result is validated as a loaded config is; the scanner
    /// is built again on its next use. Handles made by [`Store::open_again`] before the
    /// change keep the configuration they had.
    pub fn configure(&mut self, change: impl FnOnce(&mut Config)) -> Result<()> {
        let mut config = self.config.clone();
        change(&mut config);
        config.validate()?;
        self.config = config;
        self.scanner = Arc::new(OnceLock::new());
        Ok(())
    }

    /// Creates a store repository at `path`, or adopts the repository already there unchanged.
    pub fn init(path: &Path, bare: bool) -> Result<InitOutcome> {
        if let Ok(repo) = Repo::open(path) {
            return Ok(InitOutcome {
                success: true,
                git_dir: repo.path().to_path_buf(),
                work_dir: repo.workdir().map(Path::to_path_buf),
                bare: repo.is_bare(),
                created: false,
            });
        }
        std::fs::create_dir_all(path).map_err(Error::io("failed to create", path))?;
        let repo = Repo::init(path, bare, "main")?;
        Ok(InitOutcome {
            success: true,
            git_dir: repo.path().to_path_buf(),
            work_dir: repo.workdir().map(Path::to_path_buf),
            bare,
            created: true,
        })
    }

    /// Returns the effective configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Returns the repository's git directory: the common one, which holds the refs and
    /// objects, also when the store was opened from a linked worktree (`git worktree add`),
    /// whose own git directory holds only its HEAD and index.
    pub fn git_dir(&self) -> &Path {
        self.repo.commondir()
    }

    pub(crate) fn repo(&self) -> &Repo {
        &self.repo
    }

    /// The lock policy of a ref writer that does not hold the gc lock, from the config
    /// (`stale_lock_seconds`, `lock_timeout`): the git layer is handed it, and never reads
    /// the config itself.
    pub(crate) fn lock_policy(&self) -> LockPolicy {
        LockPolicy::new(self.config.stale_lock_seconds, self.config.lock_timeout)
    }

    /// Returns the secret scanner built from the configuration, built on first use.
    pub fn scanner(&self) -> Result<&Scanner> {
        if let Some(scanner) = self.scanner.get() {
            return Ok(scanner);
        }
        let built = Scanner::new(&self.config.scan)?;
        Ok(self.scanner.get_or_init(|| built))
    }

    /// Returns the commit time: `GIT_COMMITTER_DATE` when set (for reproducible stores), else now.
    pub(crate) fn commit_time(&self) -> Result<Time> {
        for var in ["GIT_COMMITTER_DATE", "GIT_AUTHOR_DATE"] {
            if let Ok(text) = std::env::var(var) {
                if !text.trim().is_empty() {
                    return parse_git_date(&text).ok_or_else(|| Error::Config {
                        origin: None,
                        message: format!(
                            "${var} = {text:?}: expected \"@<unix seconds> +hhmm\" or RFC 3339"
                        ),
                    });
                }
            }
        }
        let now = chrono::Utc::now().timestamp();
        Ok(Time::new(now, 0))
    }

    /// Opens the repository again, keeping the config and the compiled scanner.
    ///
    /// The git layer never forgets a pack it has seen, even once it is deleted: its index stays
    /// mapped and its file open. A long-running process that commits (one small pack per
    /// commit, rolled together now and then) reopens every so often to let them go.
    pub fn reopen(&mut self) -> Result<()> {
        let path = self.repo.path().to_path_buf();
        self.repo = Repo::open(&path)?;
        Ok(())
    }

    /// Packs every loose direct ref under `refs/` into `packed-refs`, as
    /// `git pack-refs --all --prune` does, waiting up to `wait` for a lock in the way
    /// (never removing one); returns how many loose files were deleted.
    pub fn pack_loose_refs(&self, wait: std::time::Duration) -> Result<usize> {
        let locks = LockPolicy {
            timeout: wait,
            stale_after: None,
            holds_gc_lock: true,
        };
        crate::git::refs::RefDb::new(&self.repo).pack_loose(locks)
    }

    /// Returns the author/committer signature at `time`.
    pub(crate) fn signature(&self, time: &Time) -> Result<Signature> {
        Signature::new(&self.config.author_name, &self.config.author_email, *time)
    }
}

/// Parses a date in the forms git takes in `GIT_COMMITTER_DATE`: `@1700000000 +0100`,
/// `1700000000 +0100`, `1700000000`, RFC 2822, ISO 8601 and RFC 3339; gix-date does the
/// parsing. Relative dates (`yesterday`, `2 days ago`) are refused, as git refuses them there.
pub fn parse_git_date(text: &str) -> Option<Time> {
    let text = text.trim();
    let parsed = gix_date::parse(text, None).ok().or_else(|| {
        // RFC 3339 with a `Z` zone, which gix-date's strict ISO 8601 form does not take.
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| gix_date::Time::new(t.timestamp(), t.offset().local_minus_utc()))
    })?;
    Some(Time::new(parsed.seconds, parsed.offset / 60))
}

/// Formats a commit time as RFC 3339 UTC, `2025-11-07T14:30:00Z`.
pub fn rfc3339_utc<T: Into<Time> + Copy>(time: &T) -> String {
    let time: Time = (*time).into();
    chrono::DateTime::from_timestamp(time.seconds(), 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| time.seconds().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_dates_parse_in_the_forms_git_accepts() {
        let t = parse_git_date("@1700000000 +0130").unwrap();
        assert_eq!((t.seconds(), t.offset_minutes()), (1700000000, 90));
        let t = parse_git_date("2025-11-07T14:30:00Z").unwrap();
        assert_eq!(rfc3339_utc(&t), "2025-11-07T14:30:00Z");
        let t = parse_git_date("1700000000 -0500").unwrap();
        assert_eq!((t.seconds(), t.offset_minutes()), (1700000000, -300));
        let t = parse_git_date("1700000000").unwrap();
        assert_eq!((t.seconds(), t.offset_minutes()), (1700000000, 0));
        let t = parse_git_date("2025-11-07T15:30:00+01:00").unwrap();
        assert_eq!(
            (rfc3339_utc(&t).as_str(), t.offset_minutes()),
            ("2025-11-07T14:30:00Z", 60)
        );
        let t = parse_git_date("Fri, 07 Nov 2025 14:30:00 +0000").unwrap();
        assert_eq!(rfc3339_utc(&t), "2025-11-07T14:30:00Z");
        for bad in ["yesterday", "2 days ago", "", "soon", "@"] {
            assert!(parse_git_date(bad).is_none(), "{bad:?}");
        }
    }
}
