//! The network side: one libgit2 operation (list, fetch, push) on a worker thread, with
//! progress relayed to the caller and an idle timeout.
//!
//! libgit2's connect and read timeouts are process-wide settings reachable only through
//! unsafe calls, so each operation runs on a thread of its own with its own repository
//! handle, and the caller stops waiting after `push_timeout` seconds without progress. The
//! abandoned operation is told to stop at its next callback; if it completes anyway, no
//! harm is done: the next push finds the refs already there.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use git2::{AutotagOption, Direction, ErrorCode, FetchOptions, PushOptions};
use git2::{RemoteCallbacks, Repository};

use crate::error::{Error, Result};
use crate::git::{ObjectId, Repo};

/// Progress of a push, for a caller that shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushProgress {
    /// Refs to consider, once the remote's refs are listed.
    Planned {
        /// Refs that need a push.
        refs: usize,
    },
    /// Objects being packed for sending.
    Packing {
        /// Objects done.
        current: usize,
        /// Objects in all.
        total: usize,
    },
    /// Objects being sent.
    Sending {
        /// Objects sent.
        current: usize,
        /// Objects in all.
        total: usize,
        /// Bytes sent.
        bytes: usize,
    },
    /// Objects being received while fetching a remote tip.
    Receiving {
        /// Objects received.
        current: usize,
        /// Objects in all.
        total: usize,
        /// Bytes received.
        bytes: usize,
    },
    /// Refs settled (pushed or refused) out of those planned.
    Refs {
        /// Refs settled.
        done: usize,
        /// Refs planned.
        total: usize,
    },
}

/// Where remote operations go: a repository and a remote name or URL.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    gitdir: PathBuf,
    remote: String,
    idle: Duration,
}

/// The refs a remote advertises.
#[derive(Debug, Default, Clone)]
pub(crate) struct Listing {
    refs: BTreeMap<String, ObjectId>,
    peeled: BTreeMap<String, ObjectId>,
}

impl Listing {
    /// Returns the object the remote's ref holds.
    pub(crate) fn get(&self, refname: &str) -> Option<ObjectId> {
        self.refs.get(refname).copied()
    }

    /// Returns what the remote says its annotated tag peels to (upload-pack listings only).
    pub(crate) fn peeled(&self, refname: &str) -> Option<ObjectId> {
        self.peeled.get(refname).copied()
    }

    /// Records that the remote now holds `oid` at `refname`.
    pub(crate) fn set(&mut self, refname: &str, oid: ObjectId) {
        self.refs.insert(refname.to_string(), oid);
        self.peeled.remove(refname);
    }

    fn of(heads: &[git2::RemoteHead<'_>]) -> Listing {
        let mut listing = Listing::default();
        for head in heads {
            match head.name().strip_suffix("^{}") {
                Some(tag) => listing.peeled.insert(tag.to_string(), head.oid().into()),
                None => listing
                    .refs
                    .insert(head.name().to_string(), head.oid().into()),
            };
        }
        listing
    }
}

/// The result of a push call the remote took as a whole.
#[derive(Debug, Default)]
pub(crate) struct Pushed {
    /// Refs the server answered with a status string (a rejection), and the status.
    pub(crate) rejected: BTreeMap<String, String>,
    /// What the server printed (hook output), last lines.
    pub(crate) messages: Vec<String>,
    /// The refs the server advertised on the push connection, before the push.
    pub(crate) advertised: Listing,
}

/// Why a remote operation did not complete.
#[derive(Debug)]
pub(crate) enum WireError {
    /// libgit2 refused before sending anything: a ref is not a fast-forward of the
    /// remote's value, or the remote's value is unknown here.
    NotFastForward(String),
    /// Anything else: unreachable, refused as a whole, timed out.
    Failed(String),
}

type WireResult<T> = std::result::Result<T, WireError>;

enum Event<T> {
    Progress(PushProgress),
    Done(WireResult<T>),
}

/// What the worker holds to report progress and notice it was abandoned.
struct Relay<T> {
    tx: Sender<Event<T>>,
    cancel: Arc<AtomicBool>,
}

impl<T> Relay<T> {
    fn progress(&self, p: PushProgress) {
        let _ = self.tx.send(Event::Progress(p));
    }

    fn live(&self) -> bool {
        !self.cancel.load(Ordering::Relaxed)
    }
}

impl Endpoint {
    /// Returns the endpoint of `name`, a configured remote of `repo` or a URL, checking
    /// that it exists; an operation that sees no progress for `push_timeout` seconds is
    /// given up.
    pub(crate) fn named(repo: &Repo, name: &str, push_timeout: u64) -> Result<Endpoint> {
        let name = name.to_string();
        match repo.find_remote(&name) {
            Ok(_) => {}
            Err(_) if looks_like_url(&name) => {}
            Err(e) => {
                return Err(Error::Remote {
                    message: format!("there is no remote named {name:?}: {}", e.message()),
                    hint: Some(format!(
                        "add it with `git --git-dir {} remote add {name} URL`, or set remote_name (env GIT_REMOTE_NAME) to a remote or a URL",
                        repo.path().display()
                    )),
                })
            }
        }
        Ok(Endpoint {
            gitdir: repo.path().to_path_buf(),
            remote: name,
            idle: Duration::from_secs(push_timeout.max(1)),
        })
    }

    /// Returns the remote's name (or URL) as configured.
    pub(crate) fn name(&self) -> &str {
        &self.remote
    }

    /// Lists the remote's refs, with the peeled value of each annotated tag.
    pub(crate) fn list(&self, progress: &mut dyn FnMut(&PushProgress)) -> WireResult<Listing> {
        self.run(progress, |remote, relay| {
            let callbacks = callbacks(relay);
            let connection = remote
                .connect_auth(Direction::Fetch, Some(callbacks), None)
                .map_err(failed("failed to connect"))?;
            Ok(Listing::of(
                connection.list().map_err(failed("failed to list refs"))?,
            ))
        })
    }

    /// Downloads the objects of `refspecs` (source names only: no local ref is written).
    pub(crate) fn fetch(
        &self,
        refspecs: Vec<String>,
        progress: &mut dyn FnMut(&PushProgress),
    ) -> WireResult<()> {
        self.run(progress, move |remote, relay| {
            let mut options = FetchOptions::new();
            options
                .remote_callbacks(callbacks(relay))
                .update_fetchhead(false)
                .download_tags(AutotagOption::None);
            remote
                .fetch(&refspecs, Some(&mut options), None)
                .map_err(failed("failed to fetch"))
        })
    }

    /// Pushes `refspecs` in one call on one connection, after reading the refs the server
    /// advertises on it; a server-side rejection comes back per ref.
    pub(crate) fn push(
        &self,
        refspecs: Vec<String>,
        progress: &mut dyn FnMut(&PushProgress),
    ) -> WireResult<Pushed> {
        self.run(progress, move |remote, relay| {
            let rejected = RefCell::new(BTreeMap::new());
            let said = RefCell::new(Vec::new());
            let (result, advertised) = {
                let mut connection = remote
                    .connect_auth(Direction::Push, Some(callbacks(relay)), None)
                    .map_err(failed("failed to connect"))?;
                let advertised =
                    Listing::of(connection.list().map_err(failed("failed to list refs"))?);
                let mut cb = callbacks(relay);
                cb.push_update_reference(|refname, status| {
                    if let Some(status) = status {
                        rejected
                            .borrow_mut()
                            .insert(refname.to_string(), status.to_string());
                    }
                    Ok(())
                });
                cb.sideband_progress(|data| {
                    said.borrow_mut().extend_from_slice(data);
                    relay.live()
                });
                let mut options = PushOptions::new();
                options.remote_callbacks(cb);
                let result = connection.remote().push(&refspecs, Some(&mut options));
                (result, advertised)
            };
            match result {
                Ok(()) => Ok(Pushed {
                    rejected: rejected.into_inner(),
                    messages: last_lines(&said.into_inner()),
                    advertised,
                }),
                Err(e) if e.code() == ErrorCode::NotFastForward => {
                    Err(WireError::NotFastForward(e.message().to_string()))
                }
                Err(e) => Err(failed("failed to push")(e)),
            }
        })
    }

    /// Runs `op` on a worker thread; relays its progress; gives up after `idle` without any.
    fn run<T, F>(&self, progress: &mut dyn FnMut(&PushProgress), op: F) -> WireResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut git2::Remote<'_>, &Relay<T>) -> WireResult<T> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Event<T>>();
        let cancel = Arc::new(AtomicBool::new(false));
        let relay = Relay {
            tx: tx.clone(),
            cancel: Arc::clone(&cancel),
        };
        let gitdir = self.gitdir.clone();
        let name = self.remote.clone();
        std::thread::Builder::new()
            .name("artifact-store-remote".to_string())
            .spawn(move || {
                let result = Repository::open(&gitdir)
                    .map_err(failed("failed to open the store"))
                    .and_then(|repo| {
                        let mut remote = resolve(&repo, &name)?;
                        op(&mut remote, &relay)
                    });
                let _ = tx.send(Event::Done(result));
            })
            .map_err(|e| WireError::Failed(format!("failed to start a thread: {e}")))?;
        loop {
            match rx.recv_timeout(self.idle) {
                Ok(Event::Progress(p)) => progress(&p),
                Ok(Event::Done(result)) => return result,
                Err(RecvTimeoutError::Timeout) => {
                    cancel.store(true, Ordering::Relaxed);
                    return Err(WireError::Failed(format!(
                        "no answer for {} s (push_timeout)",
                        self.idle.as_secs()
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(WireError::Failed("the remote worker stopped".to_string()))
                }
            }
        }
    }
}

/// The callbacks every operation shares: progress, cancellation, credentials.
fn callbacks<T>(relay: &Relay<T>) -> RemoteCallbacks<'_> {
    let mut cb = RemoteCallbacks::new();
    cb.transfer_progress(|p| {
        if p.received_objects() == p.total_objects() || p.received_objects() % 256 == 0 {
            relay.progress(PushProgress::Receiving {
                current: p.received_objects(),
                total: p.total_objects(),
                bytes: p.received_bytes(),
            });
        }
        relay.live()
    });
    cb.sideband_progress(|_| relay.live());
    cb.pack_progress(|_, current, total| {
        if current == total || current % 256 == 0 {
            relay.progress(PushProgress::Packing { current, total });
        }
    });
    cb.push_transfer_progress(|current, total, bytes| {
        if current == total || current % 256 == 0 {
            relay.progress(PushProgress::Sending {
                current,
                total,
                bytes,
            });
        }
    });
    cb.push_negotiation(|_| {
        if relay.live() {
            Ok(())
        } else {
            Err(git2::Error::from_str("abandoned after push_timeout"))
        }
    });
    super::creds::install(&mut cb);
    cb
}

/// Returns the named remote, or an anonymous one when the name is a URL or a path.
fn resolve<'r>(repo: &'r Repository, name: &str) -> WireResult<git2::Remote<'r>> {
    match repo.find_remote(name) {
        Ok(remote) => Ok(remote),
        Err(_) if looks_like_url(name) => repo
            .remote_anonymous(name)
            .map_err(failed("invalid remote URL")),
        Err(e) => Err(failed("no such remote")(e)),
    }
}

/// Whether a `remote_name` is a URL or a path rather than the name of a configured remote.
fn looks_like_url(name: &str) -> bool {
    name.contains('/') || name.contains(':') || name.starts_with('.')
}

fn failed(what: &'static str) -> impl FnOnce(git2::Error) -> WireError {
    move |e| WireError::Failed(format!("{what}: {}", e.message()))
}

/// The last few lines the server printed, without progress noise.
fn last_lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<String> = text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    lines[lines.len().saturating_sub(20)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_names_with_a_slash_or_colon_are_urls_or_paths() {
        for url in [
            "/srv/a.git",
            "./a.git",
            "file:///srv/a.git",
            "git://h/a.git",
            "host:a.git",
        ] {
            assert!(looks_like_url(url), "{url}");
        }
        assert!(!looks_like_url("origin"));
    }

    #[test]
    fn server_messages_keep_the_last_lines_without_progress_noise() {
        let lines = last_lines(b"Resolving 10%\rResolving 100%\nbranch frozen\n\n");
        assert_eq!(lines, ["Resolving 10%", "Resolving 100%", "branch frozen"]);
        let many: String = (0..30).map(|i| format!("line {i}\n")).collect();
        assert_eq!(last_lines(many.as_bytes())[0], "line 10");
    }
}
