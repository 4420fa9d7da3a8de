//! Batched ref edits in one gix-ref transaction: one `packed-refs` rewrite for the whole
//! batch, lock waits with backoff, every edit conditioned on the value its caller saw.
//!
//! docs/field-notes.md: libgit2 rewrites `packed-refs` once per deleted ref and concurrent
//! libgit2 deleters resurrect each other's deletions; gix-ref prepares every edit (locks
//! and checks) before it writes anything, and rewrites `packed-refs` once. Edits come in
//! groups that land or are skipped together (a restore from the trash is a create and
//! a delete). In [`Mode::SkipChanged`] a group whose ref no longer holds the expected value
//! is taken out and the rest retried; in [`Mode::Atomic`] the first such ref fails all.

use std::collections::HashMap;
use std::path::Path;

use git2::Repository;

use crate::git::ObjectId as Oid;
use gix_ref::transaction::{LogChange, PreviousValue, RefEdit, RefLog};
use gix_ref::Target;

use super::lock::LockPolicy;
use crate::error::{Error, Result};

/// One ref edit, with the value its caller expects to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefChange {
    /// Creates `name` at `value`; it must not exist (or already hold `value`).
    Create {
        /// Full ref name.
        name: String,
        /// Object the new ref names.
        value: Oid,
    },
    /// Deletes `name`, which must still hold `expected`.
    Delete {
        /// Full ref name.
        name: String,
        /// Value the ref must hold.
        expected: Oid,
    },
    /// Rewrites `name` to the value it holds, which moves a loose ref into `packed-refs`.
    #[allow(dead_code)]
    Pack {
        /// Full ref name.
        name: String,
        /// Value the ref must hold.
        value: Oid,
    },
}

impl RefChange {
    fn name(&self) -> &str {
        match self {
            RefChange::Create { name, .. }
            | RefChange::Delete { name, .. }
            | RefChange::Pack { name, .. } => name,
        }
    }
}

/// What to do when a ref does not hold the value its edit expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing is written; the transaction fails with [`Error::Conflict`].
    Atomic,
    /// That edit's group is skipped and reported; the others land.
    SkipChanged,
}

/// How a transaction runs.
#[derive(Debug, Clone, Copy)]
pub struct TxOptions {
    /// Atomic or skip-changed.
    pub mode: Mode,
    /// Write created refs straight into `packed-refs` (no loose file per ref).
    pub packed: bool,
    /// How held locks are treated: a `<ref>.lock` of an edited ref, or `packed-refs.lock`,
    /// that is dead by the rule of [`super::lock`] is removed before the transaction; a
    /// held one is waited for up to the policy's timeout.
    pub locks: LockPolicy,
}

/// A group taken out of the transaction because a ref in it was not as expected.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// Index of the group in the caller's list.
    pub group: usize,
    /// The ref that was not as expected.
    #[cfg_attr(not(test), allow(dead_code))]
    pub refname: String,
    /// What it held instead, as text (`None`: it did not exist).
    pub actual: Option<String>,
}

/// What a transaction did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Indices of the groups that landed, ascending.
    pub applied: Vec<usize>,
    /// Groups skipped, in the order they were found.
    pub skipped: Vec<Skipped>,
}

/// Applies `groups` in one transaction; returns which groups landed and which were skipped.
pub fn transact(repo: &Repository, groups: &[Vec<RefChange>], opts: TxOptions) -> Result<Outcome> {
    let store = open_store(repo.commondir());
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (index, group) in groups.iter().enumerate() {
        for change in group {
            owner.insert(change.name(), index);
        }
    }
    let names = groups.iter().flatten().map(RefChange::name);
    let names = names.chain(opts.packed.then_some("packed-refs"));
    super::lock::clear_dead(repo.commondir(), names, opts.locks)?;
    if let Some(outcome) = deletions_by_packed_path(repo, groups, opts)? {
        return Ok(outcome);
    }
    let mut live = vec![true; groups.len()];
    let mut skipped = Vec::new();
    loop {
        let edits: Vec<RefEdit> = groups
            .iter()
            .zip(&live)
            .filter(|(_, live)| **live)
            .flat_map(|(group, _)| group.iter().map(edit_of))
            .collect::<Result<_>>()?;
        if edits.is_empty() {
            break;
        }
        match prepare_and_commit(repo, &store, edits, opts) {
            Ok(()) => break,
            Err(failure) => {
                let group = failure
                    .refname
                    .as_deref()
                    .and_then(|n| owner.get(n).copied());
                match (opts.mode, group, failure.mismatch) {
                    (Mode::SkipChanged, Some(group), true) if live[group] => {
                        live[group] = false;
                        skipped.push(Skipped {
                            group,
                            refname: failure.refname.unwrap_or_default(),
                            actual: failure.actual,
                        });
                    }
                    _ => return Err(failure.into_error()),
                }
            }
        }
    }
    let applied = (0..groups.len()).filter(|i| live[*i]).collect();
    Ok(Outcome { applied, skipped })
}

/// Runs a batch of single deletions through the `packed-refs` fast path
/// ([`super::packed::delete`]: one rewrite, no lock file per ref) when its caller holds the
/// gc lock, whose file the per-ref locks link to; `None` for any other batch.
fn deletions_by_packed_path(
    repo: &Repository,
    groups: &[Vec<RefChange>],
    opts: TxOptions,
) -> Result<Option<Outcome>> {
    let source = repo.commondir().join(super::lock::GC_LOCK_FILE);
    if !opts.packed || !opts.locks.holds_gc_lock || !source.is_file() {
        return Ok(None);
    }
    let mut doomed = Vec::with_capacity(groups.len());
    for group in groups {
        match group.as_slice() {
            [RefChange::Delete { name, expected }] => doomed.push(super::packed::Doomed {
                name: name.clone(),
                expected: *expected,
            }),
            _ => return Ok(None),
        }
    }
    let all_or_nothing = opts.mode == Mode::Atomic;
    let kept = super::packed::delete(repo, &doomed, &source, all_or_nothing, opts.locks)?;
    let mut live = vec![true; groups.len()];
    let skipped = kept
        .into_iter()
        .map(|k| {
            live[k.index] = false;
            Skipped {
                group: k.index,
                refname: doomed[k.index].name.clone(),
                actual: k.actual,
            }
        })
        .collect();
    let applied = (0..groups.len()).filter(|i| live[*i]).collect();
    Ok(Some(Outcome { applied, skipped }))
}

fn open_store(gitdir: &Path) -> gix_ref::file::Store {
    let options = gix_ref::store::init::Options {
        write_reflog: gix_ref::store::WriteReflog::Disable,
        ..Default::default()
    };
    gix_ref::file::Store::at_opts(gitdir.to_path_buf(), gix_hash::Kind::Sha1, options)
}

fn edit_of(change: &RefChange) -> Result<RefEdit> {
    let full = |name: &str| {
        gix_ref::FullName::try_from(name)
            .map_err(|e| Error::InvalidInput(format!("{name:?} is not a valid ref name ({e})")))
    };
    let log = LogChange {
        mode: RefLog::AndReference,
        force_create_reflog: false,
        message: "artifact-store".into(),
    };
    Ok(match change {
        RefChange::Create { name, value } => RefEdit::update_with_log(
            full(name)?,
            target(*value),
            PreviousValue::MustNotExist,
            log,
        ),
        RefChange::Delete { name, expected } => RefEdit::delete(
            full(name)?,
            PreviousValue::MustExistAndMatch(target(*expected)),
        ),
        RefChange::Pack { name, value } => RefEdit::update_with_log(
            full(name)?,
            target(*value),
            PreviousValue::MustExistAndMatch(target(*value)),
            log,
        ),
    })
}

fn target(oid: Oid) -> Target {
    Target::Object(gix_hash::ObjectId::from_bytes_or_panic(oid.as_bytes()))
}

/// Why a prepared transaction did not land.
struct Failure {
    refname: Option<String>,
    actual: Option<String>,
    /// The ref was there with another value, or gone: the caller's expectation failed.
    mismatch: bool,
    source: gix_error::Error,
}

impl Failure {
    fn into_error(self) -> Error {
        let context = match (&self.refname, self.mismatch) {
            (Some(name), true) => {
                return Error::Conflict {
                    message: format!(
                        "{name} changed while the refs were being edited ({}); nothing was changed",
                        self.actual.as_deref().unwrap_or("it is gone")
                    ),
                    hint: Some("look at the ref, then run the command again".to_string()),
                }
            }
            (Some(name), false) => format!("failed to edit {name} in a ref transaction"),
            (None, _) => "failed to run a ref transaction".to_string(),
        };
        Error::RefTransaction {
            context,
            source: self.source,
        }
    }
}

fn prepare_and_commit(
    repo: &Repository,
    store: &gix_ref::file::Store,
    edits: Vec<RefEdit>,
    opts: TxOptions,
) -> std::result::Result<(), Failure> {
    let fail = gix_lock::acquire::Fail::AfterDurationWithBackoff(opts.locks.timeout);
    let odb = repo.odb().map_err(|e| Failure {
        refname: None,
        actual: None,
        mismatch: false,
        source: gix_error::Error::from_error(e),
    })?;
    let mut tx = store.transaction();
    if opts.packed {
        tx = tx.packed_refs(
            gix_ref::file::transaction::PackedRefs::DeletionsAndNonSymbolicUpdatesRemoveLooseSourceReference(
                Box::new(OdbFind(odb)),
            ),
        );
    }
    let prepared = tx.prepare(edits, fail, fail).map_err(failure_of)?;
    prepared.commit(None).map_err(failure_of)?;
    Ok(())
}

fn failure_of(source: gix_error::Error) -> Failure {
    let refname = source
        .metadata_merged()
        .get("reference")
        .and_then(metadata_text);
    let out_of_date =
        source.downcast_any_ref::<gix_ref::file::transaction::prepare::ReferenceOutOfDate>();
    let must_not_exist =
        source.downcast_any_ref::<gix_ref::file::transaction::prepare::MustNotExist>();
    let (mismatch, actual) = match (out_of_date, must_not_exist) {
        (Some(e), _) => (true, Some(e.actual.to_string())),
        (None, Some(e)) => (true, Some(e.actual.to_string())),
        (None, None) => (source.classify().is_not_found(), None),
    };
    Failure {
        refname,
        actual,
        mismatch,
        source,
    }
}

fn metadata_text(value: &gix_error::MetadataValue) -> Option<String> {
    match value {
        gix_error::MetadataValue::String(s) => Some(s.clone()),
        gix_error::MetadataValue::Bytes(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

/// Object lookups for gix-ref, which peels annotated tags it writes into `packed-refs`.
struct OdbFind<'r>(git2::Odb<'r>);

impl gix_object::Find for OdbFind<'_> {
    fn try_find<'a>(
        &self,
        id: &gix_hash::oid,
        buffer: &'a mut Vec<u8>,
    ) -> gix_error::Result<Option<gix_object::Data<'a>>> {
        let oid = git2::Oid::from_bytes(id.as_bytes()).map_err(gix_error::Error::from_error)?;
        let object = match self.0.read(oid) {
            Ok(object) => object,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(gix_error::Error::from_error(e)),
        };
        let kind = match object.kind() {
            git2::ObjectType::Commit => gix_object::Kind::Commit,
            git2::ObjectType::Tree => gix_object::Kind::Tree,
            git2::ObjectType::Blob => gix_object::Kind::Blob,
            git2::ObjectType::Tag => gix_object::Kind::Tag,
            _ => return Ok(None),
        };
        buffer.clear();
        buffer.extend_from_slice(object.data());
        Ok(Some(gix_object::Data {
            kind,
            object_hash: gix_hash::Kind::Sha1,
            data: buffer,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::repo_with_commit;

    fn opts(mode: Mode) -> TxOptions {
        TxOptions {
            mode,
            packed: true,
            locks: LockPolicy {
                stale_after: None,
                timeout: std::time::Duration::from_millis(100),
                holds_gc_lock: true,
            },
        }
    }

    #[test]
    fn a_changed_ref_skips_its_group_and_the_rest_lands() {
        let (_dir, repo, commit) = repo_with_commit();
        for name in ["refs/heads/a", "refs/heads/b"] {
            repo.reference(name, commit, true, "t").unwrap();
        }
        let commit = Oid::from(commit);
        let other = Oid::from_hex("1111111111111111111111111111111111111111").unwrap();
        let groups = vec![
            vec![
                RefChange::Create {
                    name: "refs/trash/a".into(),
                    value: commit,
                },
                RefChange::Delete {
                    name: "refs/heads/a".into(),
                    expected: commit,
                },
            ],
            vec![
                RefChange::Create {
                    name: "refs/trash/b".into(),
                    value: commit,
                },
                RefChange::Delete {
                    name: "refs/heads/b".into(),
                    expected: other,
                },
            ],
        ];
        let outcome = transact(&repo, &groups, opts(Mode::SkipChanged)).unwrap();
        assert_eq!(outcome.applied, [0]);
        assert_eq!(outcome.skipped.len(), 1);
        assert_eq!(outcome.skipped[0].refname, "refs/heads/b");
        assert!(repo.find_reference("refs/heads/a").is_err());
        assert_eq!(repo.refname_to_id("refs/trash/a").unwrap(), commit);
        assert_eq!(repo.refname_to_id("refs/heads/b").unwrap(), commit);
        assert!(repo.find_reference("refs/trash/b").is_err());
        let err = transact(&repo, &groups[1..], opts(Mode::Atomic)).unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
    }
}
