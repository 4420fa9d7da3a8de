//! The native half of the `artifact_store` Python package: the library's operations, called
//! in process, with the GIL released while they work.
//!
//! Every result crosses to Python as the text of the CLI's `--json` output, built by
//! `artifact_store::report` (so the package, the CLI and the web API cannot disagree), and
//! every failure as that output's error object, turned into the package's exception classes
//! by `artifact_store/_errors.py`. The Python half (`artifact_store/__init__.py`) holds the
//! documented API: names, defaults, paths, the config dataclass and the docstrings.
//!
//! A `git2` repository handle may move between threads but not be shared by them, so a
//! store keeps a small pool of handles onto one repository: a call takes an idle handle (or
//! opens one more), works on it without the GIL, and puts it back. The handles share the
//! configuration and one compiled scanner (`Store::open_again`); commits from several
//! threads to one branch race on its compare-and-swap and the loser rebuilds, as commits
//! from several processes do.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::prelude::*;
use serde::Serialize;

use artifact_store::catalog::{query, ListQuery};
use artifact_store::metadata::{self, TestStatus};
use artifact_store::report::{self, Report};
use artifact_store::retention::{GcRequest, Policy, Silent};
use artifact_store::scan::RuleSpec;
use artifact_store::{
    CommitRequest, CorrelationId, Error, InputSpec, OpenOptions, PromptHash, RevertMode,
    RevertRequest, TaskId, WorkflowId,
};

/// Calls on one handle between two reopenings of its repository (see `Store::reopen`: the
/// git layer keeps every pack it has seen mapped, and a commit writes one).
const REOPEN_EVERY: u32 = 256;
/// Idle handles kept for the next calls; more are opened while more threads call at once.
const MAX_IDLE: usize = 8;

/// What an operation gives back: its JSON output and the warnings it had for the user.
struct Done {
    report: Report,
    warnings: Vec<String>,
    /// A failure found beside data (verify's problems, scan's findings, push's refusals)
    /// is returned as data, `success: false` with its `error`, not raised.
    failure_is_data: bool,
}

impl Done {
    fn ok<T: Serialize + ?Sized>(data: &T) -> Done {
        Done {
            report: Report {
                body: report::success(data),
                exit_code: 0,
            },
            warnings: Vec::new(),
            failure_is_data: false,
        }
    }

    fn of<T: report::Reportable + ?Sized>(data: &T) -> Done {
        Done {
            report: report::of(data),
            warnings: Vec::new(),
            failure_is_data: false,
        }
    }

    /// The CLI's output for `data`, a failure beside it included, returned as data.
    fn data<T: report::Reportable + ?Sized>(data: &T) -> Done {
        Done {
            failure_is_data: true,
            ..Done::of(data)
        }
    }

    fn warn(mut self, warnings: Vec<String>) -> Done {
        self.warnings = warnings;
        self
    }
}

/// One repository handle of the pool.
struct Handle {
    store: artifact_store::Store,
    calls: u32,
}

/// An open artifact store shared by every Python thread that calls it.
#[pyclass(frozen, module = "artifact_store._native")]
struct Store {
    /// The handle the others are opened from; never lent out.
    first: Mutex<artifact_store::Store>,
    /// Handles no call is using.
    idle: Mutex<Vec<Handle>>,
    /// The repository's git directory.
    git_dir: PathBuf,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Store {
    fn take(&self) -> artifact_store::Result<Handle> {
        if let Some(handle) = lock(&self.idle).pop() {
            return Ok(handle);
        }
        let store = lock(&self.first).open_again()?;
        Ok(Handle { store, calls: 0 })
    }

    fn give_back(&self, mut handle: Handle) {
        handle.calls += 1;
        // A failed reopening keeps the handle in use; the next call tries again.
        if handle.calls >= REOPEN_EVERY && handle.store.reopen().is_ok() {
            handle.calls = 0;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(handle);
        }
    }

    /// Runs `work` on a handle without the GIL and hands its output to Python.
    fn call<F>(&self, py: Python<'_>, work: F) -> PyResult<Output>
    where
        F: FnOnce(&artifact_store::Store) -> artifact_store::Result<Done> + Send,
    {
        let done = py.detach(|| {
            let handle = self.take()?;
            let done = work(&handle.store);
            self.give_back(handle);
            done
        });
        finish(py, done)
    }
}

/// What a call returns to Python: the JSON text and the warnings.
type Output = (String, Vec<String>);

/// Turns an operation's outcome into the JSON text Python reads, or raises the exception
/// that stands for its error object.
fn finish(py: Python<'_>, done: artifact_store::Result<Done>) -> PyResult<Output> {
    let done = match done {
        Ok(done) => done,
        Err(e) => Done {
            report: report::failure(&e),
            warnings: Vec::new(),
            failure_is_data: false,
        },
    };
    let text = py.detach(|| serde_json::to_string(&done.report.body));
    let text = text.map_err(|e| {
        pyo3::exceptions::PyRuntimeError::new_err(format!("the output is not JSON: {e}"))
    })?;
    if done.report.body.get("error").is_some() && !done.failure_is_data {
        return Err(raise(py, &text, done.report.exit_code));
    }
    Ok((text, done.warnings))
}

/// Builds the package's exception for a failed operation's JSON output.
fn raise(py: Python<'_>, body: &str, exit_code: i32) -> PyErr {
    let built = py
        .import("artifact_store._errors")
        .and_then(|m| m.call_method1("from_report", (body, exit_code)));
    match built {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

fn raise_error(py: Python<'_>, error: &Error) -> PyErr {
    let report = report::failure(error);
    match serde_json::to_string(&report.body) {
        Ok(text) => raise(py, &text, report.exit_code),
        Err(e) => pyo3::exceptions::PyRuntimeError::new_err(e.to_string()),
    }
}

#[pymethods]
impl Store {
    /// Opens the store at `repo` (or around the current directory) with its configuration
    /// file, then `overrides` (`key`, `value` pairs, as `-c key=value`), then
    /// `secret_patterns` as extra scanner rules; compiles the scanner's rules once.
    #[new]
    #[pyo3(signature = (repo=None, config_file=None, overrides=Vec::new(), secret_patterns=Vec::new()))]
    fn new(
        py: Python<'_>,
        repo: Option<PathBuf>,
        config_file: Option<PathBuf>,
        overrides: Vec<(String, String)>,
        secret_patterns: Vec<String>,
    ) -> PyResult<Store> {
        let opened = py.detach(move || -> artifact_store::Result<artifact_store::Store> {
            let options = OpenOptions {
                repo,
                config_file,
                overrides,
            };
            let mut store = artifact_store::Store::open(&options)?;
            if !secret_patterns.is_empty() {
                store.configure(|config| {
                    for (i, pattern) in secret_patterns.into_iter().enumerate() {
                        config.scan.rules.push(RuleSpec {
                            id: format!("secret-pattern-{}", i + 1),
                            regex: pattern,
                            ..RuleSpec::default()
                        });
                    }
                })?;
            }
            if store.config().scan_for_secrets {
                store.scanner()?;
            }
            Ok(store)
        });
        let store = opened.map_err(|e| raise_error(py, &e))?;
        Ok(Store {
            git_dir: store.git_dir().to_path_buf(),
            first: Mutex::new(store),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The repository's git directory.
    #[getter]
    fn git_dir(&self) -> PathBuf {
        self.git_dir.clone()
    }

    /// The effective configuration's keys that the Python config maps to, as JSON.
    fn settings(&self) -> String {
        let store = lock(&self.first);
        let c = store.config();
        serde_json::json!({
            "branch_prefix": c.branch_prefix,
            "remote_name": c.remote_name,
            "author_name": c.author_name,
            "author_email": c.author_email,
            "scan_for_secrets": c.scan_for_secrets,
            "auto_push": c.auto_push,
            "push_timeout": c.push_timeout,
            "require_test_passed": c.require_test_passed,
            "require_correlation_id": c.require_correlation_id,
            "artifact_dir": c.artifact_dir,
            "base_branch": c.base_branch,
            "durability": match c.durability {
                artifact_store::config::Durability::Fsync => "fsync",
                artifact_store::config::Durability::None => "none",
            },
        })
        .to_string()
    }

    /// `commit`: one artifact set; the JSON of `commit --json`.
    #[pyo3(signature = (workflow, task, files, metadata=None, correlation_id=None, prompt_hash=None, status=None, force=false, push=None, require_push=false))]
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        py: Python<'_>,
        workflow: String,
        task: String,
        files: Vec<PathBuf>,
        metadata: Option<String>,
        correlation_id: Option<String>,
        prompt_hash: Option<String>,
        status: Option<String>,
        force: bool,
        push: Option<bool>,
        require_push: bool,
    ) -> PyResult<Output> {
        self.call(py, move |store| {
            let inputs = files.into_iter().map(InputSpec::path).collect();
            let mut request =
                CommitRequest::new(WorkflowId::new(&workflow)?, TaskId::new(&task)?, inputs);
            request.correlation_id = correlation_id
                .as_deref()
                .map(CorrelationId::new)
                .transpose()?;
            request.prompt_hash = prompt_hash.as_deref().map(PromptHash::new).transpose()?;
            request.status = status.as_deref().map(TestStatus::parse).transpose()?;
            if let Some(text) = metadata {
                request.metadata = metadata::parse_caller(&text, "the metadata argument")?;
            }
            request.force = force;
            request.push = push;
            request.require_push = require_push;
            let outcome = store.commit(request)?;
            Ok(Done::ok(&outcome).warn(outcome.warnings))
        })
    }

    /// `revert-to-tag`; the JSON of `revert-to-tag --json`.
    #[pyo3(signature = (tag, target="main".to_string(), path=None, hard=false, force=false, dry_run=false, create=false))]
    #[allow(clippy::too_many_arguments)]
    fn revert(
        &self,
        py: Python<'_>,
        tag: String,
        target: String,
        path: Option<String>,
        hard: bool,
        force: bool,
        dry_run: bool,
        create: bool,
    ) -> PyResult<Output> {
        self.call(py, move |store| {
            let mut request = RevertRequest::new(tag);
            request.target = target;
            request.path = path;
            request.mode = if hard {
                RevertMode::Hard
            } else {
                RevertMode::Restore
            };
            request.force = force;
            request.dry_run = dry_run;
            request.create = create;
            let outcome = store
                .revert_to_tag(&request)
                .map_err(|e| e.with_confirmation_hint(CONFIRM_HINT))?;
            Ok(Done::ok(&outcome).warn(outcome.warnings.clone()))
        })
    }

    /// `list`; the JSON of `list --json` (`sets`, `unreadable`).
    #[pyo3(signature = (workflow=None, task=None, status=None, since=None, wheres=Vec::new(), limit=50, all_versions=false))]
    #[allow(clippy::too_many_arguments)]
    fn list(
        &self,
        py: Python<'_>,
        workflow: Option<String>,
        task: Option<String>,
        status: Option<String>,
        since: Option<String>,
        wheres: Vec<String>,
        limit: usize,
        all_versions: bool,
    ) -> PyResult<Output> {
        self.call(py, move |store| {
            let query = ListQuery {
                workflow: workflow.as_deref().map(WorkflowId::new).transpose()?,
                task: task.as_deref().map(TaskId::new).transpose()?,
                status: status.as_deref().map(TestStatus::parse).transpose()?,
                since: since
                    .as_deref()
                    .map(|s| query::parse_since(s, now()))
                    .transpose()?,
                wheres: wheres
                    .iter()
                    .map(|w| query::Where::parse(w))
                    .collect::<artifact_store::Result<_>>()?,
                limit,
                all_versions,
                brief: false,
            };
            let listing = store.list(&query)?;
            Ok(Done::of(&listing).warn(listing.warnings.clone()))
        })
    }

    /// The artifact set a correlation id names, as one row of `list --json`'s `sets`, or
    /// `None` when no such id was committed.
    fn find_correlation(&self, py: Python<'_>, correlation_id: String) -> PyResult<Option<String>> {
        let found = py.detach(move || {
            let id = CorrelationId::new(&correlation_id)?;
            let handle = self.take()?;
            let set = handle.store.show(&id.tag_ref());
            self.give_back(handle);
            match set {
                Ok(set) => Ok(Some(set)),
                Err(Error::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        });
        match found {
            Ok(Some(set)) => Ok(Some(
                serde_json::to_string(&set.list_view()).expect("a set serializes"),
            )),
            Ok(None) => Ok(None),
            Err(e) => Err(raise_error(py, &e)),
        }
    }

    /// `show REF`.
    fn show(&self, py: Python<'_>, reference: String) -> PyResult<Output> {
        self.call(py, move |store| {
            Ok(Done::ok(&store.show(&reference)?.show_view()))
        })
    }

    /// `log W/T`.
    #[pyo3(signature = (workflow_task, limit=50))]
    fn log(&self, py: Python<'_>, workflow_task: String, limit: usize) -> PyResult<Output> {
        self.call(py, move |store| {
            Ok(Done::ok(&store.log(&workflow_task, limit)?))
        })
    }

    /// `diff A B`.
    fn diff(&self, py: Python<'_>, a: String, b: String) -> PyResult<Output> {
        self.call(py, move |store| Ok(Done::ok(&store.diff(&a, &b)?)))
    }

    /// `export REF --to DIR`.
    #[pyo3(signature = (reference, to, force=false))]
    fn export(
        &self,
        py: Python<'_>,
        reference: String,
        to: PathBuf,
        force: bool,
    ) -> PyResult<Output> {
        self.call(py, move |store| {
            Ok(Done::ok(&store.export(&reference, &to, force)?))
        })
    }

    /// `verify REF`, or `verify --all` without one.
    #[pyo3(signature = (reference=None))]
    fn verify(&self, py: Python<'_>, reference: Option<String>) -> PyResult<Output> {
        self.call(py, move |store| {
            let report = match reference {
                Some(r) => store.verify(&r)?,
                None => store.verify_all()?,
            };
            Ok(Done::data(&report))
        })
    }

    /// `stats`.
    #[pyo3(signature = (top=10))]
    fn stats(&self, py: Python<'_>, top: usize) -> PyResult<Output> {
        self.call(py, move |store| Ok(Done::ok(&store.stats(top)?)))
    }

    /// `scan PATH...` with the store's compiled scanner.
    fn scan(&self, py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Output> {
        self.call(py, move |store| {
            let report = store.scanner()?.scan_paths(&paths).map_err(Error::from)?;
            Ok(Done::data(&report))
        })
    }

    /// `gc [--apply] [--remote [NAME]] [--policy FILE]`.
    #[pyo3(signature = (apply=false, remote=None, policy=None))]
    fn gc(
        &self,
        py: Python<'_>,
        apply: bool,
        remote: Option<String>,
        policy: Option<PathBuf>,
    ) -> PyResult<Output> {
        self.call(py, move |store| {
            let request = GcRequest {
                apply,
                remote: remote.is_some(),
                remote_name: remote.filter(|r| !r.is_empty()),
                policy: policy.as_deref().map(Policy::from_file).transpose()?,
            };
            Ok(Done::of(&store.gc(&request, &Silent)?))
        })
    }

    /// `pin REF [--name NAME]`.
    #[pyo3(signature = (reference, name=None))]
    fn pin(&self, py: Python<'_>, reference: String, name: Option<String>) -> PyResult<Output> {
        self.call(py, move |store| {
            Ok(Done::ok(&store.pin(&reference, name.as_deref())?))
        })
    }

    /// `unpin NAME`.
    fn unpin(&self, py: Python<'_>, name: String) -> PyResult<Output> {
        self.call(py, move |store| Ok(Done::ok(&store.unpin(&name)?)))
    }

    /// `push --pending`.
    fn push_pending(&self, py: Python<'_>) -> PyResult<Output> {
        self.call(py, |store| {
            Ok(Done::data(&store.push_pending(&mut |_| {})?))
        })
    }
}

/// How to confirm a hard revert, in this face's keywords.
const CONFIRM_HINT: &str = "pass hard=True, force=True to do it anyway (the old tip is kept in the trash), or leave out hard for a forward restore that keeps history";

/// `init PATH [--bare]`: creates a store repository, or adopts the one already there.
#[pyfunction]
#[pyo3(signature = (path, bare=false))]
fn init(py: Python<'_>, path: PathBuf, bare: bool) -> PyResult<String> {
    let done = py.detach(move || artifact_store::Store::init(&path, bare).map(|o| Done::ok(&o)));
    finish(py, done).map(|(text, _)| text)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The native half of `artifact_store`; use the package, not this module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Store>()?;
    m.add_function(wrap_pyfunction!(init, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
