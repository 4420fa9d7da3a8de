//! One ref's compare-and-swap, with a cost that does not grow with the number of refs.
//!
//! `Repository::reference_matching` asks libgit2's refdb to check that the new name collides
//! with no packed ref (`reference_path_available`): it parses the whole `packed-refs` file
//! into a sorted cache, then compares every entry with the new name. At 120,000 packed refs
//! that is about 80 million instructions per process and a linear scan per ref written,
//! three times the whole cost of a commit (`docs/scaling.md`). Here the ref is locked and
//! written through a libgit2 transaction (the same `<ref>.lock`, value check under the
//! lock, reflog rules and atomic rename as `reference_matching`, without that check), its
//! current value is read under the lock by the usual lookup (the loose file, or a binary
//! search of the sorted `packed-refs`), and the collision check looks only at the names
//! that can collide: each parent of the new name, and the names below it.

use git2::{ErrorClass, ErrorCode, Repository};

use crate::git::ObjectId as Oid;

use super::scan;

/// Moves `refname` to `new` if it holds `expected` (`None`: it must not exist), writing
/// a reflog entry where git would. Errors carry libgit2's codes for the same outcomes:
/// `Locked` when another writer holds the ref's lock, `Modified` when the ref does not
/// hold `expected`, so callers classify them as they would `reference_matching`'s.
pub fn swap(
    repo: &Repository,
    refname: &str,
    new: Oid,
    expected: Option<Oid>,
    log_message: &str,
) -> Result<(), git2::Error> {
    let mut tx = repo.transaction()?;
    tx.lock_ref(refname)?;
    let current = read(repo, refname)?;
    if current != expected {
        return Err(modified(refname));
    }
    if current.is_none() {
        check_no_collision(repo, refname)?;
    }
    tx.set_target(refname, new.into(), None, log_message)?;
    tx.commit()
}

/// Deletes `refname` if it holds `expected`, loose and packed, under its lock. Errors as
/// [`swap`]'s: `Locked`, and `Modified` when it is gone or holds something else.
pub fn delete(repo: &Repository, refname: &str, expected: Oid) -> Result<(), git2::Error> {
    let mut tx = repo.transaction()?;
    tx.lock_ref(refname)?;
    if read(repo, refname)? != Some(expected) {
        return Err(modified(refname));
    }
    tx.remove(refname)?;
    tx.commit()
}

/// The id `refname` holds, by the store's own reader ([`scan::read_one`]); libgit2 answers
/// only what that reader cannot tell (a symbolic or damaged loose file).
pub fn read(repo: &Repository, refname: &str) -> Result<Option<Oid>, git2::Error> {
    if let Some(value) = scan::read_one(repo.commondir(), refname) {
        return Ok(value);
    }
    match repo.refname_to_id(refname) {
        Ok(oid) => Ok(Some(oid.into())),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn modified(refname: &str) -> git2::Error {
    git2::Error::new(
        ErrorCode::Modified,
        ErrorClass::Reference,
        format!("{refname} does not hold the value it was expected to hold"),
    )
}

/// Refuses a new ref whose name is a parent directory of an existing ref, or has an
/// existing ref as a parent directory (`refs/heads/a` blocks `refs/heads/a/b` and the
/// reverse): git cannot hold both. Loose collisions also fail at the file system; packed
/// ones would not.
fn check_no_collision(repo: &Repository, refname: &str) -> Result<(), git2::Error> {
    match collision(repo, refname)? {
        Some(other) => Err(git2::Error::new(
            ErrorCode::GenericError,
            ErrorClass::Reference,
            format!("path to reference '{refname}' collides with existing one '{other}'"),
        )),
        None => Ok(()),
    }
}

/// Returns an existing ref that keeps `refname` from being created: one whose name is a
/// parent directory of `refname`, or one below `refname/`, loose or packed.
pub fn collision(repo: &Repository, refname: &str) -> Result<Option<String>, git2::Error> {
    let mut at = refname.find('/');
    while let Some(slash) = at {
        let parent = &refname[..slash];
        if parent != "refs" && read(repo, parent).ok().flatten().is_some() {
            return Ok(Some(parent.to_string()));
        }
        at = refname[slash + 1..].find('/').map(|i| slash + 1 + i);
    }
    let below = scan::refs_with_prefix(repo.commondir(), &format!("{refname}/"))
        .map_err(|e| git2::Error::new(ErrorCode::GenericError, ErrorClass::Os, e.to_string()))?;
    Ok(below.into_iter().next().map(|(other, _)| other))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::repo_with_commit;

    fn pack_refs(repo: &Repository) {
        let status = std::process::Command::new("git")
            .args(["pack-refs", "--all"])
            .env("GIT_DIR", repo.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn swaps_only_from_the_expected_value_and_leaves_no_lock() {
        let (_dir, repo, commit) = repo_with_commit();
        let name = "refs/heads/ai/generated/wf/t";
        swap(&repo, name, commit.into(), None, "create").unwrap();
        assert_eq!(repo.refname_to_id(name).unwrap(), commit);
        let err = swap(&repo, name, commit.into(), None, "again").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Modified);
        let other = Oid::from_hex("1111111111111111111111111111111111111111").unwrap();
        let err = swap(&repo, name, commit.into(), Some(other), "stale").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Modified);
        pack_refs(&repo);
        assert!(!repo.path().join(name).exists(), "the ref is packed now");
        let tree = repo.find_commit(commit).unwrap().tree().unwrap();
        let sig = git2::Signature::new("t", "t@example.invalid", &git2::Time::new(2, 0)).unwrap();
        let parent = repo.find_commit(commit).unwrap();
        let next = repo
            .commit(None, &sig, &sig, "d\n", &tree, &[&parent])
            .unwrap();
        swap(
            &repo,
            name,
            next.into(),
            Some(commit.into()),
            "move a packed ref",
        )
        .unwrap();
        assert_eq!(repo.refname_to_id(name).unwrap(), next);
        assert!(!repo.path().join(format!("{name}.lock")).exists());
    }

    #[test]
    fn deletes_only_at_the_expected_value_loose_or_packed() {
        let (_dir, repo, commit) = repo_with_commit();
        let other = Oid::from_hex("1111111111111111111111111111111111111111").unwrap();
        for name in ["refs/trash/1/a", "refs/trash/1/b"] {
            swap(&repo, name, commit.into(), None, "t").unwrap();
        }
        pack_refs(&repo);
        swap(&repo, "refs/trash/1/c", commit.into(), None, "t").unwrap();
        for name in ["refs/trash/1/a", "refs/trash/1/c"] {
            let err = delete(&repo, name, other).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Modified);
            delete(&repo, name, commit.into()).unwrap();
            assert!(repo.find_reference(name).is_err(), "{name}");
            let err = delete(&repo, name, commit.into()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Modified, "gone is not as expected");
        }
        assert_eq!(repo.refname_to_id("refs/trash/1/b").unwrap(), commit);
        assert!(!repo.path().join("refs/trash/1/a.lock").exists());
    }

    #[test]
    fn a_held_lock_is_reported_as_locked() {
        let (_dir, repo, commit) = repo_with_commit();
        let name = "refs/tags/corr_x";
        std::fs::create_dir_all(repo.path().join("refs/tags")).unwrap();
        std::fs::write(repo.path().join(format!("{name}.lock")), "").unwrap();
        let err = swap(&repo, name, commit.into(), None, "t").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Locked);
        assert!(repo.find_reference(name).is_err());
    }

    #[test]
    fn packed_names_that_collide_are_refused_as_libgit2_refuses_them() {
        let (_dir, repo, commit) = repo_with_commit();
        repo.reference("refs/heads/ai/generated/wf", commit, true, "t")
            .unwrap();
        repo.reference("refs/tags/corr_x/y", commit, true, "t")
            .unwrap();
        pack_refs(&repo);
        for name in ["refs/heads/ai/generated/wf/t", "refs/tags/corr_x"] {
            let ours = swap(&repo, name, commit.into(), None, "t").unwrap_err();
            let theirs = repo
                .reference_matching(name, commit, true, git2::Oid::ZERO_SHA1, "t")
                .err()
                .expect("libgit2 refuses it too");
            assert_eq!(ours.class(), theirs.class(), "{name}: {ours} / {theirs}");
            assert!(ours.message().contains("collides"), "{ours}");
            assert!(repo.find_reference(name).is_err());
        }
        swap(
            &repo,
            "refs/heads/ai/generated/wf2/t",
            commit.into(),
            None,
            "t",
        )
        .unwrap();
    }

    #[test]
    fn reflogs_are_written_where_libgit2_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::new("t", "t@example.invalid", &git2::Time::new(1, 0)).unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let commit = repo.commit(None, &sig, &sig, "c\n", &tree, &[]).unwrap();
        swap(
            &repo,
            "refs/heads/ai/generated/wf/a",
            commit.into(),
            None,
            "ours",
        )
        .unwrap();
        repo.reference_matching(
            "refs/heads/ai/generated/wf/b",
            commit,
            true,
            git2::Oid::ZERO_SHA1,
            "theirs",
        )
        .unwrap();
        swap(&repo, "refs/tags/corr_a", commit.into(), None, "ours").unwrap();
        let logs = repo.path().join("logs/refs");
        let ours = std::fs::read_to_string(logs.join("heads/ai/generated/wf/a")).unwrap();
        let theirs = std::fs::read_to_string(logs.join("heads/ai/generated/wf/b")).unwrap();
        assert!(ours.ends_with("\tours\n"), "{ours}");
        assert_eq!(ours.replace("\tours", ""), theirs.replace("\ttheirs", ""));
        assert!(
            !logs.join("tags/corr_a").exists(),
            "git logs no tags by default"
        );
    }

    #[test]
    fn a_write_reads_packed_refs_near_its_name_only() {
        let (_dir, repo, commit) = repo_with_commit();
        let mut text = String::from("# pack-refs with: peeled fully-peeled sorted \n");
        text.push_str("not a ref line: a full parse fails here\n");
        for i in 0..5000 {
            text.push_str(&format!("{commit} refs/tags/corr_{i:05}\n"));
        }
        std::fs::write(repo.path().join("packed-refs"), text).unwrap();
        swap(&repo, "refs/tags/corr_99999", commit.into(), None, "t").unwrap();
        assert_eq!(repo.refname_to_id("refs/tags/corr_99999").unwrap(), commit);
        let packed = Oid::from_hex(&commit.to_string()).unwrap();
        swap(
            &repo,
            "refs/tags/corr_04999",
            commit.into(),
            Some(packed),
            "t",
        )
        .unwrap();
    }
}
