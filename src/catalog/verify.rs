//! `verify`: recompute checksums against metadata.json; check that tags and trailers agree.

use crate::git::ObjectId;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ArtifactSet;
use crate::error::{Error, Result};
use crate::metadata::{Trailers, METADATA_FILE};
use crate::progress::{Progress, Silent, Unit};
use crate::refs::CorrelationId;
use crate::scan::LARGE_FILE_BYTES;
use crate::store::Store;

/// One integrity problem.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The ref or commit it concerns.
    pub subject: String,
    /// `checksum_mismatch`, `missing_file`, `unlisted_file`, `trailer_mismatch`,
    /// `not_on_branch`, `no_metadata`.
    pub kind: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

/// What `verify` checked and found; problems make it a failure (`docs/json.md`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// True when no problem was found (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// Artifact sets checked.
    pub sets: usize,
    /// Files whose checksum was recomputed.
    pub files: usize,
    /// `corr_` tags checked.
    pub tags: usize,
    /// Problems found.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// The error that stands for the problems found, if any: how many, and the first.
    pub fn problems_error(&self) -> Option<Error> {
        let first = self.problems.first()?;
        let n = self.problems.len();
        let first = format!("{}: {}: {}", first.subject, first.kind, first.message);
        Some(Error::Integrity {
            message: match n {
                1 => format!("1 problem found: {first}"),
                n => format!("{n} problems found, the first: {first}"),
            },
        })
    }
}

impl crate::report::Reportable for VerifyReport {
    fn failure(&self) -> Option<crate::report::Failure> {
        self.problems_error()
            .map(|e| crate::report::Failure::of(&e))
    }
}

impl Store {
    /// Verifies one artifact set: its checksums and, when tagged, its tag.
    pub fn verify(&self, spec: &str) -> Result<VerifyReport> {
        self.verify_with(spec, &Silent)
    }

    /// Verifies one artifact set as [`Store::verify`] does, reporting to `progress` the
    /// bytes hashed.
    pub fn verify_with(&self, spec: &str, progress: &dyn Progress) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let set = self.show(spec)?;
        progress.start(
            "verifying",
            set.files
                .iter()
                .filter(|f| f.path != METADATA_FILE)
                .map(|f| f.size)
                .sum(),
            Unit::Bytes,
        );
        let checked = self.verify_set(&set, spec, &mut report, progress);
        progress.finish();
        checked?;
        if let Some(corr) = set.metadata.get("correlation_id").and_then(|v| v.as_str()) {
            if let Ok(corr) = CorrelationId::new(corr) {
                if crate::git::ref_oid(self.repo(), &corr.tag_ref())?.is_some() {
                    self.verify_tag(&corr, &mut report)?;
                }
            }
        }
        report.success = report.problems.is_empty();
        Ok(report)
    }

    /// Verifies every `corr_` tag and every task branch tip.
    ///
    /// Every set is checked even when one cannot be read; if any object the store needs
    /// is missing or damaged, the result is [`Error::Corrupt`] naming each of them (by
    /// ref, path in the set and object id), never a report that says all is well.
    pub fn verify_all(&self) -> Result<VerifyReport> {
        self.verify_all_with(&Silent)
    }

    /// Verifies every set as [`Store::verify_all`] does, reporting to `progress` the tags
    /// and task branches checked.
    pub fn verify_all_with(&self, progress: &dyn Progress) -> Result<VerifyReport> {
        let result = self.verify_every_set(progress);
        progress.finish();
        result
    }

    fn verify_every_set(&self, progress: &dyn Progress) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let mut unreadable = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let names: Vec<String> = crate::git::refs::RefDb::new(self.repo())
            .with_prefix("refs/tags/corr_")?
            .into_iter()
            .map(|(name, _)| name["refs/tags/".len()..].to_string())
            .collect();
        let branches = self.task_branches(None, None)?;
        progress.start(
            "verifying artifact sets",
            (names.len() + branches.len()) as u64,
            Unit::Items,
        );
        for name in names {
            progress.inc(1);
            let Ok(corr) = CorrelationId::new(&name) else {
                continue;
            };
            let tagged = self.verify_tag(&corr, &mut report);
            let Some(Some(commit)) = unreadable_aside(tagged, &name, &mut unreadable)? else {
                continue;
            };
            if seen.insert(commit) {
                match self.load_set(commit, &name) {
                    Ok(set) => {
                        let checked = self.verify_set(&set, &name, &mut report, &Silent);
                        unreadable_aside(checked, &name, &mut unreadable)?;
                    }
                    Err(Error::Corrupt { message }) => {
                        unreadable.push(format!("{name}: {message}"))
                    }
                    Err(_) => {}
                }
            }
        }
        for (branch, tip) in branches {
            progress.inc(1);
            if seen.insert(tip) {
                match self.load_set(tip, &branch) {
                    Ok(set) => {
                        let checked = self.verify_set(&set, &branch, &mut report, &Silent);
                        unreadable_aside(checked, &branch, &mut unreadable)?;
                    }
                    Err(Error::Corrupt { message }) => {
                        unreadable.push(format!("{branch}: {message}"))
                    }
                    Err(_) => report.problems.push(Problem {
                        subject: branch,
                        kind: "no_metadata",
                        message:
                            "the branch tip is not an artifact set (no trailers or metadata.json)"
                                .into(),
                    }),
                }
            }
        }
        if !unreadable.is_empty() {
            return Err(Error::Corrupt {
                message: match unreadable.len() {
                    1 => unreadable.remove(0),
                    n => format!(
                        "{n} artifact sets cannot be read: {}",
                        unreadable.join("; ")
                    ),
                },
            });
        }
        report.success = report.problems.is_empty();
        Ok(report)
    }

    fn verify_set(
        &self,
        set: &ArtifactSet,
        subject: &str,
        report: &mut VerifyReport,
        progress: &dyn Progress,
    ) -> Result<()> {
        report.sets += 1;
        let listed = crate::metadata::checksums_of(&set.metadata);
        let mut problem = |kind, message: String| {
            report.problems.push(Problem {
                subject: subject.to_string(),
                kind,
                message,
            })
        };
        for file in set.files.iter().filter(|f| f.path != METADATA_FILE) {
            let full = format!("{}/{}", set.artifact_dir, file.path);
            let Some(expected) = listed.get(&full) else {
                problem(
                    "unlisted_file",
                    format!("{full} is not in metadata.json's checksums"),
                );
                continue;
            };
            let mut hasher = Sha256::new();
            crate::git::blobread::for_each_piece(
                self.repo(),
                file.oid,
                file.size,
                LARGE_FILE_BYTES,
                &full,
                |piece| {
                    hasher.update(piece);
                    progress.inc(piece.len() as u64);
                    Ok(())
                },
            )?;
            let actual = format!("sha256:{:x}", hasher.finalize());
            if &actual != expected {
                problem(
                    "checksum_mismatch",
                    format!(
                        "{full}: metadata says {}…, content is {}…",
                        &expected[..19],
                        &actual[..19]
                    ),
                );
            }
        }
        report.files += set.files.len().saturating_sub(1);
        for path in listed.keys() {
            let rel = path
                .strip_prefix(&format!("{}/", set.artifact_dir))
                .unwrap_or(path);
            if !set.files.iter().any(|f| f.path == rel) {
                problem(
                    "missing_file",
                    format!("{path} is in metadata.json but not in the tree"),
                );
            }
        }
        Ok(())
    }

    /// True when a hard `revert-to-tag` moved `branch` off `commit`: a trash ref of that
    /// branch holds it, so it is undone on purpose and restorable, not lost.
    fn reverted_away(&self, branch: &str, commit: ObjectId) -> Result<bool> {
        let repo = self.repo();
        let namespace = format!("{}/", crate::refs::TRASH_NAMESPACE);
        let trash = crate::git::refs::RefDb::new(self.repo()).with_prefix(&namespace)?;
        Ok(trash.into_iter().any(|(name, held)| {
            let original = name[namespace.len()..].split_once('/').map(|(_, r)| r);
            original == Some(branch)
                && (held == commit || repo.graph_descendant_of(held, commit).unwrap_or(false))
        }))
    }

    /// Checks one `corr_` tag: trailer matches, commit on its task branch. Returns its commit.
    fn verify_tag(
        &self,
        corr: &CorrelationId,
        report: &mut VerifyReport,
    ) -> Result<Option<ObjectId>> {
        report.tags += 1;
        let repo = self.repo();
        let Some(commit) = crate::git::ref_target(repo, &corr.tag_ref())? else {
            return Ok(None);
        };
        let c = super::find_commit(repo, commit)?;
        let trailers = Trailers::parse(c.message());
        let mut problem = |kind, message: String| {
            report.problems.push(Problem {
                subject: corr.to_string(),
                kind,
                message,
            })
        };
        if trailers.correlation_id.as_deref() != Some(corr.as_str()) {
            problem(
                "trailer_mismatch",
                format!(
                    "its commit's Correlation-Id trailer is {:?}",
                    trailers.correlation_id.as_deref().unwrap_or("missing")
                ),
            );
        }
        if let (Some(wf), Some(task)) = (&trailers.workflow_id, &trailers.task_id) {
            let branch = format!("refs/heads/{}/{wf}/{task}", self.config().prefix().as_str());
            let on_branch = match crate::git::ref_target(repo, &branch)? {
                Some(tip) => {
                    tip == commit || repo.graph_descendant_of(tip, commit).unwrap_or(false)
                }
                None => false,
            };
            if !on_branch && !self.reverted_away(&branch, commit)? {
                problem(
                    "not_on_branch",
                    format!("its commit is not on {}", &branch["refs/heads/".len()..]),
                );
            }
        }
        Ok(Some(commit))
    }
}

/// Sets a [`Error::Corrupt`] aside in `unreadable` (prefixed with `subject`) and returns
/// `None`, so that the other sets are still checked; any other error is returned.
fn unreadable_aside<T>(
    result: Result<T>,
    subject: &str,
    unreadable: &mut Vec<String>,
) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Error::Corrupt { message }) => {
            unreadable.push(format!("{subject}: {message}"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
