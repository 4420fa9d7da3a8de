//! The library's one error type, and the exit code and JSON kind each variant maps to.

use std::path::PathBuf;

use crate::scan::Finding;

/// Exit codes of the command line, as docs/design.md fixes them.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Internal, I/O or git error.
    pub const INTERNAL: i32 = 1;
    /// Usage error or invalid input.
    pub const USAGE: i32 = 2;
    /// A secret was detected.
    pub const SECRET: i32 = 3;
    /// Conflict: tag exists with other content, ref moved, lock held.
    pub const CONFLICT: i32 = 4;
    /// Something named does not exist.
    pub const NOT_FOUND: i32 = 5;
    /// A required push failed.
    pub const REMOTE: i32 = 6;
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An id, prefix or hash does not follow docs/design.md's rules.
    #[error("invalid {kind} \"{value}\": {reason}")]
    InvalidId {
        /// What the value was meant to be ("workflow id", ...).
        kind: &'static str,
        /// The value, escaped for display.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// An input file or directory cannot be committed.
    #[error("{}: {reason}", path.display())]
    InvalidPath {
        /// The path given.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// A request is malformed in some other way.
    #[error("{0}")]
    InvalidInput(String),
    /// A request is refused as given, with a next step for the user.
    #[error("{message}")]
    InvalidRequest {
        /// Why it was refused.
        message: String,
        /// How to ask for what was meant, when there is a way.
        hint: Option<String>,
    },
    /// A destructive request was not confirmed (a hard revert without `force`). The library
    /// says what it would destroy; each face words the hint in its own terms (a flag, a
    /// keyword argument), so the rule lives in one place and its advice in each face.
    #[error("{message}")]
    Unconfirmed {
        /// What the request would destroy.
        message: String,
        /// How to confirm it, in the words of the face that asked.
        hint: Option<String>,
    },
    /// The configuration file or a configuration value is wrong.
    #[error("invalid configuration{}: {message}", origin.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Config {
        /// The file the value came from, when it came from a file.
        origin: Option<PathBuf>,
        /// What is wrong.
        message: String,
    },
    /// The scanner's rules or allowlists are invalid.
    #[error("invalid secret-scanner configuration")]
    ScanConfig {
        /// What the scanner refused.
        #[source]
        source: crate::scan::ScanError,
    },
    /// The secret scanner found credentials; nothing was written.
    #[error("{} secret{} detected; nothing was committed", findings.len(), if findings.len() == 1 { "" } else { "s" })]
    SecretsFound {
        /// Redacted findings.
        findings: Vec<Finding>,
    },
    /// The request conflicts with what the store already holds.
    #[error("{message}")]
    Conflict {
        /// What conflicts.
        message: String,
        /// A next step for the user, when there is one.
        hint: Option<String>,
    },
    /// A lock file blocks a ref update and did not go stale in time.
    #[error("{} is locked by {}", refname, lock.display())]
    Locked {
        /// The ref that could not be updated.
        refname: String,
        /// The lock file in the way.
        lock: PathBuf,
    },
    /// A ref, tag, commit or path does not exist; the text is a whole sentence.
    #[error("{0}")]
    NotFound(String),
    /// No repository where one was expected.
    #[error("not a git repository: {}{}", path.display(), reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    NoRepository {
        /// Where the store looked.
        path: PathBuf,
        /// Why it is not one, when that is more than "nothing is there" (libgit2's message,
        /// without its class and code).
        reason: Option<String>,
    },
    /// A git operation failed.
    #[error("{context}")]
    Git {
        /// What the store was doing.
        context: String,
        /// libgit2's reason.
        #[source]
        source: git2::Error,
    },
    /// A batched ref transaction (gix-ref) failed as a whole; nothing in it was applied.
    #[error("{context}")]
    RefTransaction {
        /// What the store was doing.
        context: String,
        /// gix-ref's reason.
        #[source]
        source: gix_error::Error,
    },
    /// A remote refused or failed an operation that was asked for.
    #[error("{message}")]
    Remote {
        /// What failed, with the remote's name.
        message: String,
        /// A next step for the user, when there is one.
        hint: Option<String>,
    },
    /// The filesystem under the store ran out of space (`ErrorKind::StorageFull`, ENOSPC)
    /// while writing; what was half-written is removed.
    #[error("no space left on device: failed to write {what} to {}", path.display())]
    StorageFull {
        /// What was being written ("the blob of /path/to/file").
        what: String,
        /// The file or directory written to.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A command failed after it had moved refs to the trash; they stay there, and `undo`
    /// puts them back.
    #[error("{message}; undo with `{undo}`")]
    AfterTrash {
        /// What had been done when the failure came.
        message: String,
        /// The command that restores what was moved.
        undo: String,
        /// The failure.
        #[source]
        source: Box<Error>,
    },
    /// The object database lacks an object the store needs, or holds other bytes under its
    /// id: the message names the object, its id and where it sits (a path in the set, a ref).
    #[error("{message}")]
    Corrupt {
        /// What is damaged, with the object id.
        message: String,
    },
    /// Something failed that is neither the user's input, a damaged store, git nor the
    /// filesystem: a worker thread that died, an invariant of the store's own code broken.
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
    /// A service the store talks to (Redis) refused a command for lack of permission: a
    /// problem of the deployment's configuration, which asking again does not change.
    #[error("{message}")]
    Permission {
        /// What was refused, by whom.
        message: String,
        /// Where the needed permissions are written down.
        hint: Option<String>,
    },
    /// The command line does not parse: an unknown command or flag, a missing argument, a
    /// value of the wrong form.
    #[error("{message}")]
    Usage {
        /// What is wrong, as the parser says it.
        message: String,
        /// A next step: the parser's suggestion, or where the usage is shown.
        hint: Option<String>,
    },
    /// `verify` found problems: checksums that do not match, tags off their branch, ...
    /// (each one is listed beside the error in the report).
    #[error("{message}")]
    Integrity {
        /// How many problems, and the first of them.
        message: String,
    },
    /// A file system operation failed.
    #[error("{context} {}", path.display())]
    Io {
        /// What the store was doing ("failed to read").
        context: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Returns the exit code docs/design.md assigns to this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidId { .. }
            | Error::InvalidPath { .. }
            | Error::InvalidInput(_)
            | Error::InvalidRequest { .. }
            | Error::Unconfirmed { .. }
            | Error::Config { .. }
            | Error::ScanConfig { .. }
            | Error::Permission { .. }
            | Error::Usage { .. } => exit::USAGE,
            Error::SecretsFound { .. } => exit::SECRET,
            Error::Conflict { .. } | Error::Locked { .. } => exit::CONFLICT,
            Error::NotFound(_) | Error::NoRepository { .. } => exit::NOT_FOUND,
            Error::Git { .. } | Error::Io { .. } | Error::Corrupt { .. } => exit::INTERNAL,
            Error::Internal { .. } | Error::Integrity { .. } => exit::INTERNAL,
            Error::RefTransaction { .. } => exit::INTERNAL,
            Error::Remote { .. } => exit::REMOTE,
            Error::StorageFull { .. } => exit::INTERNAL,
            Error::AfterTrash { source, .. } => source.exit_code(),
        }
    }

    /// Returns this error with `hint` as its next step when it is an
    /// [`Error::Unconfirmed`] refusal, and unchanged otherwise: the library says what a
    /// request would destroy, each face how to confirm it in its own terms.
    pub fn with_confirmation_hint(self, hint: &str) -> Error {
        match self {
            Error::Unconfirmed { message, .. } => Error::Unconfirmed {
                message,
                hint: Some(hint.to_string()),
            },
            other => other,
        }
    }

    /// Returns the command that undoes what a failed command had already done, if any.
    pub fn undo(&self) -> Option<&str> {
        match self {
            Error::AfterTrash { undo, .. } => Some(undo),
            _ => None,
        }
    }

    /// Returns the stable machine-readable kind used in JSON error objects.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidId { .. } => "invalid_id",
            Error::InvalidPath { .. } => "invalid_path",
            Error::InvalidInput(_) => "invalid_input",
            Error::InvalidRequest { .. } | Error::Unconfirmed { .. } => "invalid_input",
            Error::Config { .. } | Error::ScanConfig { .. } => "config",
            Error::SecretsFound { .. } => "secret_detected",
            Error::Conflict { .. } => "conflict",
            Error::Locked { .. } => "locked",
            Error::NotFound(_) => "not_found",
            Error::NoRepository { .. } => "no_repository",
            Error::Git { .. } => "git",
            Error::Io { .. } => "io",
            Error::Corrupt { .. } => "corrupt",
            Error::Internal { .. } => "internal",
            Error::Integrity { .. } => "integrity",
            Error::Usage { .. } => "usage",
            Error::Permission { .. } => "permission",
            Error::RefTransaction { .. } => "git",
            Error::Remote { .. } => "remote",
            Error::StorageFull { .. } => "storage_full",
            Error::AfterTrash { source, .. } => source.kind(),
        }
    }

    /// Returns a next step for the user, when one exists.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Conflict { hint, .. } => hint.clone(),
            Error::InvalidRequest { hint, .. } | Error::Unconfirmed { hint, .. } => hint.clone(),
            Error::Remote { hint, .. } => hint.clone(),
            Error::Usage { hint, .. } => hint.clone(),
            Error::Permission { hint, .. } => hint.clone(),
            Error::Config { origin, .. } => Some(match origin {
                Some(file) => format!("fix the value in {}; docs/config.md lists every key", file.display()),
                None => "fix the value given in the environment or on the command line; docs/config.md lists every key".to_string(),
            }),
            Error::ScanConfig { .. } => Some(
                "fix the rule or allowlist named above; docs/scanner.md shows the format".to_string(),
            ),
            Error::Locked { lock, .. } => Some(format!(
                "if no other artifact-store or git process is running, remove {}",
                lock.display()
            )),
            Error::NoRepository { path, .. } => Some(format!(
                "create one with `artifact-store init {}`, or pass --repo (or set ARTIFACT_STORE_REPO) with the path of an existing store",
                path.display()
            )),
            Error::Git { .. } | Error::Io { .. } | Error::StorageFull { .. } => {
                self.storage_hint()
            }
            Error::AfterTrash { undo, source, .. } => {
                let then = source.hint().map(|h| format!("; {h}")).unwrap_or_default();
                Some(format!(
                    "the moved refs are kept in the trash: `{undo}` puts them back{then}"
                ))
            }
            Error::Integrity { .. } => Some(
                "every problem is listed with its subject; see docs/read-side.md (verify) for what each kind means and how to repair it".to_string(),
            ),
            Error::Corrupt { .. } => Some(
                "the repository's object database is damaged: run `git fsck --strict` in it to list every damaged object, then restore the repository (or the objects named) from its remote or a backup".to_string(),
            ),
            Error::Internal { .. } => Some(
                "this is a bug in artifact-store, not in the input or the store: run the command again, and report it with the command and this message if it recurs".to_string(),
            ),
            Error::RefTransaction { .. } => Some(
                "nothing in the batch was applied: run the command again; `git fsck --strict` in the repository checks its refs".to_string(),
            ),
            Error::SecretsFound { .. } => Some(
                "remove the secret, or mark a false positive with an `artifact-store:allow` comment on its line".to_string(),
            ),
            // The message says what was refused and why; the fix is in the user's own input.
            Error::InvalidId { .. }
            | Error::InvalidPath { .. }
            | Error::InvalidInput(_)
            | Error::NotFound(_) => None,
        }
    }

    /// Returns the messages of the error's sources, outermost first, as every face shows
    /// them: libgit2's reasons by their message alone, never its `class=`/`code=` suffix.
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            out.push(match cause.downcast_ref::<git2::Error>() {
                Some(git) => git.message().to_string(),
                None => cause.to_string(),
            });
            source = cause.source();
        }
        out
    }

    /// Whether the error is the filesystem under the store running out of space.
    /// An I/O error says so by its kind or errno. libgit2 reports a failed write with the
    /// generic code and keeps no errno (only `strerror`'s text, appended to its message),
    /// so a git error is read by that text: the one place where no code exists.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::Git { source, .. } => storage_full(source.message()),
            Error::Io { source, .. } => is_enospc(source),
            Error::StorageFull { .. } => true,
            Error::AfterTrash { source, .. } => source.is_storage_full(),
            _ => false,
        }
    }

    /// A hint for a full or read-only filesystem under the store.
    fn storage_hint(&self) -> Option<String> {
        if self.is_storage_full() {
            return Some(
                "the filesystem holding the store is full: free space, then run the command again (a commit re-run with the same correlation id lands once)"
                    .to_string(),
            );
        }
        // EROFS (30): by kind for I/O; libgit2 keeps only the operating system's text.
        let read_only = match self {
            Error::Git { source, .. } => {
                source.class() == git2::ErrorClass::Os
                    && source.message().contains("Read-only file system")
            }
            Error::Io { source, .. } => {
                source.kind() == std::io::ErrorKind::ReadOnlyFilesystem
                    || source.raw_os_error() == Some(30)
            }
            _ => false,
        };
        read_only.then(|| {
            "the store is on a read-only filesystem: make it writable, then run the command again".to_string()
        })
    }

    /// Describes an object of the store that cannot be read: `place` is where it sits (a
    /// path in the set, a ref; may be empty), `what` its type (`blob`, `tree`, `commit`).
    /// A missing object, one whose bytes do not hash to its id and one that cannot be
    /// inflated or parsed are all a corrupt store, never invalid input.
    pub fn corrupt_object(
        place: &str,
        what: &str,
        oid: impl std::fmt::Display,
        source: &git2::Error,
    ) -> Error {
        let reason = if source.code() == git2::ErrorCode::NotFound {
            "is missing from the object database".to_string()
        } else if source.code() == git2::ErrorCode::HashsumMismatch {
            "does not hash to its id: its stored bytes were changed".to_string()
        } else {
            format!("cannot be read: {}", source.message())
        };
        Error::corrupt_at(place, what, oid, &reason)
    }

    /// Builds [`Error::Corrupt`] for object `oid` of type `what` at `place`, for `reason`.
    pub fn corrupt_at(place: &str, what: &str, oid: impl std::fmt::Display, reason: &str) -> Error {
        let place = if place.is_empty() {
            String::new()
        } else {
            format!("{place}: ")
        };
        Error::Corrupt {
            message: format!("{place}{what} {oid} {reason}"),
        }
    }

    /// Builds [`Error::NoRepository`] for `path` from libgit2's reason for not opening it:
    /// nothing there, or no repository there, is said plainly; anything else keeps
    /// libgit2's message (never its class and code).
    pub fn no_repository(path: impl Into<PathBuf>, source: &git2::Error) -> Error {
        let path = path.into();
        let path = std::path::absolute(&path).unwrap_or(path);
        let reason = if source.code() != git2::ErrorCode::NotFound {
            Some(source.message().to_string())
        } else if !path.exists() {
            Some("no such file or directory".to_string())
        } else {
            None
        };
        Error::NoRepository { path, reason }
    }

    /// Builds [`Error::Internal`] for a worker thread that panicked while doing `what`.
    /// The panic's payload is not kept: it may quote data the thread was reading.
    pub fn thread_died(what: &str) -> Error {
        Error::Internal {
            message: format!("a thread {what} stopped with a panic"),
        }
    }

    /// Builds [`Error::Corrupt`] for a file of the store that does not parse.
    pub fn corrupt_file(path: &std::path::Path, reason: impl std::fmt::Display) -> Error {
        Error::Corrupt {
            message: format!("{} is damaged: {reason}", path.display()),
        }
    }

    /// Wraps a libgit2 error with what the store was doing, classified by its class and
    /// code (never its text): see [`Error::from_git`].
    pub fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
        let context = context.into();
        move |source| Error::from_git(context, source)
    }

    /// Classifies a libgit2 error the caller did not handle itself. The object database
    /// failing to find, inflate or parse an object (class `Odb` or `Zlib`, class `Object`
    /// with no specific code, or bytes that do not hash to their id) is a damaged store:
    /// [`Error::Corrupt`], naming what the store was doing and libgit2's reason. An
    /// ambiguous short id stays a git error (the caller resolves user text before this), as
    /// does a write that failed on a full disk (libgit2 keeps no errno, only the operating
    /// system's text), and everything else. A caller that can name the object and its
    /// place uses [`Error::corrupt_object`] instead.
    pub fn from_git(context: String, source: git2::Error) -> Error {
        use git2::{ErrorClass, ErrorCode};
        if storage_full(source.message()) {
            return Error::Git { context, source };
        }
        let damaged = match (source.class(), source.code()) {
            (_, ErrorCode::HashsumMismatch) => true,
            (_, ErrorCode::Ambiguous) => false,
            (ErrorClass::Odb | ErrorClass::Zlib, _) => true,
            // A stored object that does not parse (a loose object's header, a commit);
            // a peel to the wrong type has its own code and stays a git error.
            (ErrorClass::Object, ErrorCode::GenericError) => true,
            _ => false,
        };
        if damaged {
            return Error::Corrupt {
                message: format!("{context}: {}", source.message()),
            };
        }
        Error::Git { context, source }
    }

    /// Wraps an I/O error with what the store was doing and the path involved.
    pub fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            context,
            path,
            source,
        }
    }
}

impl From<crate::scan::ScanError> for Error {
    fn from(e: crate::scan::ScanError) -> Error {
        use crate::scan::ScanError;
        match e {
            ScanError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::InvalidPath {
                    path,
                    reason: "no such file or directory".to_string(),
                }
            }
            ScanError::Io { path, source } => Error::Io {
                context: "failed to read",
                path,
                source,
            },
            other => Error::ScanConfig { source: other },
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns a URL fit for messages and logs (a Redis URL, a remote): the password in its
/// user part and a `pass`/`password` query value (Redis unix-socket URLs) become `***`.
/// Anything that is not a URL is returned as it is.
pub fn display_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return unparsable_url(url);
    };
    if !url.contains("://") {
        // `host:path` (scp-like) parses as a scheme and a path; it holds no password.
        return url.to_string();
    }
    let mut hidden = false;
    if parsed.password().is_some() {
        hidden = parsed.set_password(Some("***")).is_ok();
    }
    let secret_key = |key: &str| key == "pass" || key == "password";
    if parsed.query_pairs().any(|(key, _)| secret_key(&key)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| match secret_key(&key) {
                true => (key.into_owned(), "***".to_string()),
                false => (key.into_owned(), value.into_owned()),
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
        hidden = true;
    }
    match hidden {
        true => parsed.to_string(),
        false => url.to_string(),
    }
}

/// A URL the `url` crate refuses (a port out of range, say) is still shown without its
/// password: everything between the user name and the last `@` of the authority is hidden.
fn unparsable_url(url: &str) -> String {
    let Some(scheme) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => {
            let user = authority[..at].split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme], &rest[at..])
        }
        None => url.to_string(),
    }
}

/// Whether an I/O error is a full filesystem or an exceeded quota, by its kind or errno
/// (ENOSPC, 28), not by its text.
pub fn is_enospc(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded
    ) || error.raw_os_error() == Some(28)
}

/// ENOSPC and EDQUOT as libgit2 words them (it appends `strerror`'s text and keeps no errno).
fn storage_full(text: &str) -> bool {
    text.contains("No space left on device") || text.contains("Disk quota exceeded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libgit2_errors_are_classified_by_class_and_code_not_text() {
        use git2::{ErrorClass, ErrorCode};
        let kind = |code, class, text: &str| {
            Error::git("reading x")(git2::Error::new(code, class, text)).kind()
        };
        // The same text reads differently by class and code, and different texts alike.
        for text in ["object not found", "failed to read object", ""] {
            assert_eq!(kind(ErrorCode::NotFound, ErrorClass::Odb, text), "corrupt");
            assert_eq!(
                kind(ErrorCode::GenericError, ErrorClass::Zlib, text),
                "corrupt"
            );
            assert_eq!(
                kind(ErrorCode::GenericError, ErrorClass::Object, text),
                "corrupt"
            );
            assert_eq!(
                kind(ErrorCode::HashsumMismatch, ErrorClass::Invalid, text),
                "corrupt"
            );
            assert_eq!(kind(ErrorCode::Ambiguous, ErrorClass::Odb, text), "git");
            assert_eq!(kind(ErrorCode::Peel, ErrorClass::Object, text), "git");
            assert_eq!(kind(ErrorCode::GenericError, ErrorClass::Os, text), "git");
            assert_eq!(
                kind(ErrorCode::NotFound, ErrorClass::Reference, text),
                "git"
            );
        }
        let full = |class| {
            Error::git("writing")(git2::Error::new(
                ErrorCode::GenericError,
                class,
                "failed to write: No space left on device",
            ))
        };
        for class in [ErrorClass::Os, ErrorClass::Odb, ErrorClass::Filesystem] {
            assert!(full(class).is_storage_full(), "{class:?}");
            assert_eq!(full(class).kind(), "git", "{class:?}");
            assert!(full(class).hint().is_some());
        }
        let io = std::io::Error::from_raw_os_error(28);
        assert!(Error::io("failed to write", "/x")(io).is_storage_full());
        let io = std::io::Error::other("No space left on device");
        assert!(!Error::io("failed to write", "/x")(io).is_storage_full());
    }

    #[test]
    fn every_kind_has_its_exit_code_and_the_new_ones_a_hint() {
        let internal = Error::thread_died("writing blobs");
        assert_eq!((internal.kind(), internal.exit_code()), ("internal", 1));
        assert!(internal.to_string().contains("writing blobs"));
        assert!(internal.hint().is_some());
        let permission = Error::Permission {
            message: "Redis refused a command".into(),
            hint: Some("grant it".into()),
        };
        assert_eq!(
            (permission.kind(), permission.exit_code()),
            ("permission", 2)
        );
        let corrupt = Error::corrupt_file(std::path::Path::new("/s/packed-refs"), "line 3");
        assert_eq!((corrupt.kind(), corrupt.exit_code()), ("corrupt", 1));
        assert!(corrupt.to_string().contains("/s/packed-refs"));
        let missing = git2::Error::new(
            git2::ErrorCode::NotFound,
            git2::ErrorClass::Repository,
            "could not find repository at '/nowhere'",
        );
        let none = Error::no_repository("/tmp", &missing);
        assert_eq!((none.kind(), none.exit_code()), ("no_repository", 5));
        assert_eq!(none.to_string(), "not a git repository: /tmp");
        assert!(std::error::Error::source(&none).is_none());
        for e in [
            Error::Config {
                origin: None,
                message: "x".into(),
            },
            Error::RefTransaction {
                context: "x".into(),
                source: gix_error::Error::from_error(std::io::Error::other("x")),
            },
        ] {
            assert!(e.hint().is_some(), "{e:?}");
        }
    }

    #[test]
    fn passwords_in_urls_are_not_displayed() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://u:s3cret@h:1/0", "redis://u:***@h:1/0"),
            ("rediss://:s3cret@h", "rediss://:***@h"),
            ("redis://u:p@ss:w0rd@h/2", "redis://u:***@h/2"),
            ("redis://user@h", "redis://user@h"),
            (
                "redis+unix:///run/r.sock?db=1&pass=s3cret",
                "redis+unix:///run/r.sock?db=1&pass=***",
            ),
            (
                "https://x-access-token:t0k3n@git.example/o/r.git",
                "https://x-access-token:***@git.example/o/r.git",
            ),
            ("/srv/shared.git", "/srv/shared.git"),
            ("not a url", "not a url"),
            ("host:a.git", "host:a.git"),
            ("redis://u:pw@h:99999", "redis://u:***@h:99999"),
            ("git@host:o/r.git", "git@host:o/r.git"),
            (
                "ssh://deploy:pw@git.example:2222/o/r.git",
                "ssh://deploy:***@git.example:2222/o/r.git",
            ),
            (
                "redis://h/0?password=s3cret&db=2",
                "redis://h/0?password=***&db=2",
            ),
        ] {
            assert_eq!(display_url(url), shown);
        }
    }
}
