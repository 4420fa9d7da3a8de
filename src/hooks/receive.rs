//! `pre-receive`: checks a push against the store's rules before any ref moves.
//!
//! Run by the server inside its quarantine: the pushed objects are readable through the
//! environment git sets (`GIT_OBJECT_DIRECTORY`, `GIT_ALTERNATE_OBJECT_DIRECTORIES`) and
//! are not yet in the repository proper, which is how "new" is told from "already there".

use serde::Serialize;

use crate::git::{ObjectId, Repo};

use crate::error::{Error, Result};
use crate::git::reapplication::is_reapplication;
use crate::refs::StoreRef;
use crate::scan::{FileScan, Finding};
use crate::store::Store;

/// One line of a pre-receive hook's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// The ref's value before the push; zero when it is created.
    pub old: ObjectId,
    /// Its value after; zero when it is deleted.
    pub new: ObjectId,
    /// Full ref name.
    pub refname: String,
}

/// One ref update the hook refuses, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// Full ref name.
    #[serde(rename = "ref")]
    pub refname: String,
    /// Why it is refused.
    pub reason: String,
}

/// What the hook found; the push is refused when anything is listed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReceiveReport {
    /// Ref updates refused by the ref rules.
    pub rejections: Vec<Rejection>,
    /// Secrets in pushed blobs, redacted.
    pub findings: Vec<Finding>,
    /// New blobs scanned.
    pub blobs_scanned: usize,
}

impl crate::report::Reportable for ReceiveReport {
    /// A secret in a pushed blob is `secret_detected` (exit 3); a refused ref update is a
    /// `conflict` (exit 4). The findings and rejections are the report's own keys.
    fn failure(&self) -> Option<crate::report::Failure> {
        let error = if !self.findings.is_empty() {
            Error::SecretsFound {
                findings: self.findings.clone(),
            }
        } else {
            let first = self.rejections.first()?;
            Error::Conflict {
                message: format!(
                    "the push is refused: {} ref update{} broke the store's rules, the first {}: {}",
                    self.rejections.len(),
                    if self.rejections.len() == 1 { "" } else { "s" },
                    first.refname,
                    first.reason
                ),
                hint: None,
            }
        };
        let mut failure = crate::report::Failure::of(&error);
        if let serde_json::Value::Object(map) = &mut failure.error {
            map.remove("findings");
        }
        Some(failure)
    }
}

impl ReceiveReport {
    /// Returns whether the push may go ahead.
    pub fn allowed(&self) -> bool {
        self.rejections.is_empty() && self.findings.is_empty()
    }
}

/// Parses `<old> <new> <ref>` lines.
pub fn parse_updates(text: &str) -> Result<Vec<RefUpdate>> {
    let mut updates = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [old, new, refname] = parts[..] else {
            return Err(Error::InvalidInput(format!(
                "expected `<old> <new> <ref>`, got {line:?}"
            )));
        };
        let oid = |text: &str| {
            ObjectId::from_hex(text)
                .map_err(|_| Error::InvalidInput(format!("{text:?} is not an object id")))
        };
        updates.push(RefUpdate {
            old: oid(old)?,
            new: oid(new)?,
            refname: refname.to_string(),
        });
    }
    Ok(updates)
}

impl Store {
    /// Checks the ref updates of a push by `pusher` (the server's name for the pushing
    /// user, when it has one): the ref rules, then a secret scan of every new blob.
    pub fn check_receive(
        &self,
        updates: &[RefUpdate],
        pusher: Option<&str>,
    ) -> Result<ReceiveReport> {
        let pushed = pushed_objects(self)?;
        let repo = pushed.as_ref().unwrap_or(self.repo());
        let hooks = &self.config().hooks;
        let is = |who: &Option<String>| pusher.is_some() && who.as_deref() == pusher;
        let retention = is(&hooks.retention_identity);
        let bot = is(&hooks.bot_identity);
        let prefix = self.config().prefix();
        let mut report = ReceiveReport::default();
        for update in updates {
            let kind = StoreRef::of(&update.refname, prefix.as_str());
            let reason = match kind {
                None if bot => Some("the bot identity may push store refs only".to_string()),
                None => None,
                Some(_) if retention => None,
                Some(kind) => ref_rule(repo, kind, update)?,
            };
            if let Some(reason) = reason {
                report.rejections.push(Rejection {
                    refname: update.refname.clone(),
                    reason,
                });
            }
        }
        self.scan_pushed(repo, updates, &mut report)?;
        Ok(report)
    }

    /// Scans every blob the push brings that the repository did not hold before.
    fn scan_pushed(
        &self,
        repo: &Repo,
        updates: &[RefUpdate],
        report: &mut ReceiveReport,
    ) -> Result<()> {
        let scanner = self.scanner()?;
        let pushed: Vec<(&str, ObjectId)> = updates
            .iter()
            .map(|u| (u.refname.as_str(), u.new))
            .collect();
        for (path, oid) in crate::git::pushed::new_blobs(repo, self.repo(), &pushed)? {
            // `allow_paths` globs name paths in the tree, as `scan --staged` and the
            // pre-commit hook see them: match them against the part after `<commit>:` (a ref
            // or commit name holds no `:`).
            let in_tree = path.split_once(':').map_or(path.as_str(), |(_, p)| p);
            if scanner.path_allowed(in_tree) {
                continue;
            }
            let blob = repo
                .read_blob(oid)
                .map_err(Error::git(format!("failed to read {path}")))?;
            report.blobs_scanned += 1;
            if let FileScan::Findings(found) = scanner.scan_bytes(&path, &blob) {
                report.findings.extend(found);
            }
        }
        Ok(())
    }
}

/// The rule for one store ref update by someone other than the retention identity.
fn ref_rule(repo: &Repo, kind: StoreRef, update: &RefUpdate) -> Result<Option<String>> {
    if update.new.is_zero() {
        return Ok(Some(
            "store refs are deleted only by the retention identity (hooks.retention_identity)"
                .to_string(),
        ));
    }
    if update.old.is_zero() {
        return Ok(None);
    }
    let peel = |oid: ObjectId| crate::git::peel_to_commit(repo, oid);
    let (old, new) = (peel(update.old)?, peel(update.new)?);
    let descends = old == new
        || repo
            .graph_descendant_of(new, old)
            .map_err(Error::git("failed to compare commits"))?;
    let allowed = match kind {
        StoreRef::TaskBranch | StoreRef::Pin => descends,
        StoreRef::CorrTag => old == new || is_reapplication(repo, old, new)?,
        StoreRef::PromptTag => descends || commit_time(repo, new)? >= commit_time(repo, old)?,
    };
    Ok((!allowed).then(|| {
        "non-fast-forward update of a store ref; only the retention identity rewrites store refs"
            .to_string()
    }))
}

fn commit_time(repo: &Repo, oid: ObjectId) -> Result<i64> {
    Ok(repo
        .commit_view(oid)
        .map_err(Error::git(format!("failed to read commit {oid}")))?
        .time()
        .seconds())
}

/// The repository as the server's quarantine shows it, when the hook runs in one.
fn pushed_objects(store: &Store) -> Result<Option<Repo>> {
    let quarantined = ["GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if !quarantined {
        return Ok(None);
    }
    Repo::open_from_env().map(Some).map_err(Error::git(format!(
        "failed to open {} with the pushed objects",
        store.git_dir().display()
    )))
}
