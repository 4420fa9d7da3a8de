//! The store's own git values: an object id, a commit time, a signature, an object kind.
//!
//! Everything above `src/git/` speaks in these; conversions to and from libgit2's types
//! live here, so the git layer can change library underneath without the callers knowing.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A git object id (SHA-1), shown and serialized as its 40 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(git2::Oid);

impl ObjectId {
    /// The all-zero id git uses for "no object" (a ref created or deleted).
    pub const ZERO: ObjectId = ObjectId(git2::Oid::ZERO_SHA1);

    /// Parses an id from hex; fewer than 40 digits are padded with zeros, as git does
    /// for an abbreviated id it was told to take whole.
    pub fn from_hex(text: &str) -> Result<ObjectId> {
        git2::Oid::from_str(text)
            .map(ObjectId)
            .map_err(|e| Error::git(format!("invalid object id {text:?}"))(e))
    }

    /// Parses an id from hex as [`ObjectId::from_hex`] does; a failure is a git error
    /// saying `context`.
    pub fn parse(text: &str, context: impl Into<String>) -> Result<ObjectId> {
        git2::Oid::from_str(text)
            .map(ObjectId)
            .map_err(Error::git(context))
    }

    /// Builds an id from its 20 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<ObjectId> {
        git2::Oid::from_bytes(bytes)
            .map(ObjectId)
            .map_err(Error::git("invalid object id bytes"))
    }

    /// Returns the 20 raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Whether this is [`ObjectId::ZERO`].
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// The first 12 hex digits, as the store shows ids in messages.
    pub fn short(&self) -> String {
        let mut text = self.0.to_string();
        text.truncate(12);
        text
    }

    /// The id a blob of `data` would have, without writing it.
    pub fn hash_blob(data: &[u8]) -> Result<ObjectId> {
        git2::Oid::hash_object(git2::ObjectType::Blob, data)
            .map(ObjectId)
            .map_err(Error::git("failed to hash a blob"))
    }

    /// The id the blob of the file at `path` would have, without writing it.
    pub fn hash_file(path: &std::path::Path) -> Result<ObjectId> {
        git2::Oid::hash_file(git2::ObjectType::Blob, path)
            .map(ObjectId)
            .map_err(Error::git(format!("failed to hash {}", path.display())))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for ObjectId {
    type Err = Error;
    fn from_str(text: &str) -> Result<ObjectId> {
        ObjectId::from_hex(text)
    }
}

impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<ObjectId, D::Error> {
        let text = String::deserialize(d)?;
        git2::Oid::from_str(&text)
            .map(ObjectId)
            .map_err(serde::de::Error::custom)
    }
}

impl From<git2::Oid> for ObjectId {
    fn from(oid: git2::Oid) -> ObjectId {
        ObjectId(oid)
    }
}

impl From<ObjectId> for git2::Oid {
    fn from(id: ObjectId) -> git2::Oid {
        id.0
    }
}

impl From<&ObjectId> for git2::Oid {
    fn from(id: &ObjectId) -> git2::Oid {
        id.0
    }
}

impl PartialEq<git2::Oid> for ObjectId {
    fn eq(&self, other: &git2::Oid) -> bool {
        self.0 == *other
    }
}

impl PartialEq<ObjectId> for git2::Oid {
    fn eq(&self, other: &ObjectId) -> bool {
        *self == other.0
    }
}

/// A commit or tag time: seconds since the epoch and the zone's offset in minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    seconds: i64,
    offset_minutes: i32,
}

impl Time {
    /// A time `seconds` after the epoch, in a zone `offset_minutes` east of UTC.
    pub fn new(seconds: i64, offset_minutes: i32) -> Time {
        Time {
            seconds,
            offset_minutes,
        }
    }

    /// Seconds since the epoch.
    pub fn seconds(&self) -> i64 {
        self.seconds
    }

    /// The zone's offset from UTC, in minutes.
    pub fn offset_minutes(&self) -> i32 {
        self.offset_minutes
    }
}

impl From<git2::Time> for Time {
    fn from(t: git2::Time) -> Time {
        Time::new(t.seconds(), t.offset_minutes())
    }
}

impl From<Time> for git2::Time {
    fn from(t: Time) -> git2::Time {
        git2::Time::new(t.seconds, t.offset_minutes)
    }
}

/// Who made a commit or tag, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The name.
    pub name: String,
    /// The e-mail address.
    pub email: String,
    /// The time.
    pub when: Time,
}

impl Signature {
    /// A signature of `name` and `email` at `when`; refused when git would refuse it (an
    /// empty name or e-mail, or one holding `<`, `>` or a newline).
    pub fn new(name: &str, email: &str, when: Time) -> Result<Signature> {
        git2::Signature::new(name, email, &when.into())
            .map_err(Error::git("invalid author name or email"))?;
        Ok(Signature {
            name: name.to_string(),
            email: email.to_string(),
            when,
        })
    }

    /// The libgit2 signature, for the writers of this layer.
    pub(crate) fn raw(&self) -> Result<git2::Signature<'static>> {
        git2::Signature::new(&self.name, &self.email, &self.when.into())
            .map_err(Error::git("invalid author name or email"))
    }
}

/// What the store reads of a commit.
#[derive(Clone, Debug)]
pub struct CommitView {
    /// The commit's id.
    pub id: ObjectId,
    /// Its root tree.
    pub tree: ObjectId,
    /// Its parents, first parent first.
    pub parents: Vec<ObjectId>,
    /// The committer, with the commit time.
    pub committer: Signature,
    /// The whole message; `None` when it is not UTF-8.
    pub message: Option<String>,
    /// The whole message, invalid UTF-8 replaced.
    pub message_lossy: String,
    /// The first paragraph of the message, on one line; `None` when not UTF-8.
    pub summary: Option<String>,
}

impl CommitView {
    pub(crate) fn of(commit: &git2::Commit<'_>) -> CommitView {
        let sig = |s: git2::Signature<'_>| Signature {
            name: String::from_utf8_lossy(s.name_bytes()).into_owned(),
            email: String::from_utf8_lossy(s.email_bytes()).into_owned(),
            when: s.when().into(),
        };
        CommitView {
            id: commit.id().into(),
            tree: commit.tree_id().into(),
            parents: commit.parent_ids().map(ObjectId).collect(),
            committer: sig(commit.committer()),
            message: commit.message().ok().map(str::to_string),
            message_lossy: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
            summary: commit.summary().ok().flatten().map(str::to_string),
        }
    }

    /// The commit time.
    pub fn time(&self) -> Time {
        self.committer.when
    }

    /// The message, or nothing when it is not UTF-8.
    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or("")
    }
}

/// The kind of a git object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A commit.
    Commit,
    /// A tree.
    Tree,
    /// A blob.
    Blob,
    /// An annotated tag.
    Tag,
}

impl ObjectKind {
    /// The name git gives the kind: `commit`, `tree`, `blob`, `tag`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Tree => "tree",
            ObjectKind::Blob => "blob",
            ObjectKind::Tag => "tag",
        }
    }

    pub(crate) fn from_raw(kind: Option<git2::ObjectType>) -> Option<ObjectKind> {
        match kind? {
            git2::ObjectType::Commit => Some(ObjectKind::Commit),
            git2::ObjectType::Tree => Some(ObjectKind::Tree),
            git2::ObjectType::Blob => Some(ObjectKind::Blob),
            git2::ObjectType::Tag => Some(ObjectKind::Tag),
            git2::ObjectType::Any => None,
        }
    }

    pub(crate) fn raw(self) -> git2::ObjectType {
        match self {
            ObjectKind::Commit => git2::ObjectType::Commit,
            ObjectKind::Tree => git2::ObjectType::Tree,
            ObjectKind::Blob => git2::ObjectType::Blob,
            ObjectKind::Tag => git2::ObjectType::Tag,
        }
    }
}

/// An open repository: the one handle every operation of the store goes through.
///
/// Reads and writes that the layer wraps are methods of this module; the remaining
/// libgit2 calls of the operations reach the handle through `Deref`, and each is a
/// candidate to move behind a method here.
pub struct Repo(git2::Repository);

impl Repo {
    /// Wraps an open libgit2 repository.
    pub(crate) fn from_raw(repo: git2::Repository) -> Repo {
        Repo(repo)
    }

    /// Opens the repository at `path`.
    pub fn open(path: &std::path::Path) -> Result<Repo> {
        git2::Repository::open(path)
            .map(Repo)
            .map_err(|e| Error::no_repository(path, &e))
    }

    /// Opens the repository at `path`, known to be there: a failure is a git error saying
    /// so, not "no repository".
    pub fn open_existing(path: &std::path::Path) -> Result<Repo> {
        git2::Repository::open(path)
            .map(Repo)
            .map_err(Error::git(format!("failed to open {}", path.display())))
    }

    /// Finds the repository around `path`.
    pub fn discover(path: &std::path::Path) -> Result<Repo> {
        git2::Repository::discover(path)
            .map(Repo)
            .map_err(|e| Error::no_repository(path, &e))
    }

    /// Opens the repository git's environment names (`GIT_DIR`, `GIT_OBJECT_DIRECTORY`,
    /// `GIT_ALTERNATE_OBJECT_DIRECTORIES`), as a hook sees it.
    pub fn open_from_env() -> std::result::Result<Repo, git2::Error> {
        git2::Repository::open_from_env().map(Repo)
    }

    /// Creates a repository at `path` whose `HEAD` names `initial_head`.
    pub fn init(path: &std::path::Path, bare: bool, initial_head: &str) -> Result<Repo> {
        let mut opts = git2::RepositoryInitOptions::new();
        opts.bare(bare).initial_head(initial_head).mkpath(true);
        git2::Repository::init_opts(path, &opts)
            .map(Repo)
            .map_err(Error::git(format!(
                "failed to create a repository at {}",
                path.display()
            )))
    }
}

impl Repo {
    /// Finds object `id`, of `kind` when given.
    pub fn find_object(
        &self,
        id: impl Into<git2::Oid>,
        kind: Option<ObjectKind>,
    ) -> std::result::Result<git2::Object<'_>, git2::Error> {
        self.0.find_object(id.into(), kind.map(ObjectKind::raw))
    }

    /// Whether `commit` has `ancestor` in its history (and is not it).
    pub fn graph_descendant_of(
        &self,
        commit: impl Into<git2::Oid>,
        ancestor: impl Into<git2::Oid>,
    ) -> std::result::Result<bool, git2::Error> {
        self.0.graph_descendant_of(commit.into(), ancestor.into())
    }

    /// Writes `data` as a blob.
    pub fn blob(&self, data: &[u8]) -> std::result::Result<ObjectId, git2::Error> {
        self.0.blob(data).map(ObjectId)
    }

    /// Writes an annotated tag object `name` on the commit `commit`, by `sig`.
    pub fn write_tag(
        &self,
        name: &str,
        commit: ObjectId,
        sig: &Signature,
        message: &str,
    ) -> Result<ObjectId> {
        let object = self
            .0
            .find_object(commit.0, Some(git2::ObjectType::Commit))
            .map_err(Error::git(format!("failed to read commit {commit}")))?;
        self.0
            .tag_annotation_create(name, &object, &sig.raw()?, message)
            .map(ObjectId)
            .map_err(Error::git(format!("failed to write tag {name}")))
    }

    /// The commit an id or unambiguous id prefix names (a tag object peeled), if any.
    pub fn commit_by_prefix(&self, hex: &str) -> Option<ObjectId> {
        let object = self.0.revparse_single(hex).ok()?;
        object.peel_to_commit().ok().map(|c| ObjectId(c.id()))
    }

    /// Makes this handle see packs written since it last looked.
    pub fn refresh_odb(&self) -> Result<()> {
        self.0
            .odb()
            .and_then(|odb| odb.refresh())
            .map_err(Error::git("failed to refresh the object database"))
    }

    /// The directory git runs this repository's hooks from: `core.hooksPath` (relative to
    /// the worktree, or to the git directory of a bare repository) when set, else
    /// `hooks/` in the common git directory.
    pub fn hooks_dir(&self) -> std::path::PathBuf {
        let repo = &self.0;
        let configured = repo
            .config()
            .and_then(|c| c.get_path("core.hooksPath"))
            .ok();
        match configured {
            Some(path) if path.is_absolute() => path,
            Some(path) => repo.workdir().unwrap_or(repo.path()).join(path),
            None => repo.commondir().join("hooks"),
        }
    }

    /// Whether the object database holds `id`.
    pub fn has_object(&self, id: ObjectId) -> bool {
        self.0.odb().is_ok_and(|odb| odb.exists(id.0))
    }

    /// The size of object `id`, from its header.
    pub fn object_size(&self, id: ObjectId) -> std::result::Result<u64, git2::Error> {
        let (size, _) = self.0.odb()?.read_header(id.0)?;
        Ok(size as u64)
    }

    /// Reads the whole content of blob `id`.
    pub fn read_blob(&self, id: ObjectId) -> std::result::Result<Vec<u8>, git2::Error> {
        self.0.find_blob(id.0).map(|b| b.content().to_vec())
    }

    /// Reads commit `id` and its root tree; returns the tree's id.
    pub fn read_commit_tree(&self, id: ObjectId) -> std::result::Result<ObjectId, git2::Error> {
        self.0
            .find_commit(id.0)
            .and_then(|c| c.tree())
            .map(|t| ObjectId(t.id()))
    }

    /// Reads commit `id`: its tree, parents, committer and message.
    pub fn commit_view(&self, id: ObjectId) -> std::result::Result<CommitView, git2::Error> {
        let commit = self.0.find_commit(id.0)?;
        Ok(CommitView::of(&commit))
    }
}

impl Deref for Repo {
    type Target = git2::Repository;
    fn deref(&self) -> &git2::Repository {
        &self.0
    }
}

/// Whether `name` is a well-formed full ref name (`refs/heads/x`), by git's rules.
pub fn is_valid_refname(name: &str) -> bool {
    git2::Reference::is_valid_name(name)
}

/// Returns the trailers (`Key: value` lines of the last paragraph) of a commit message;
/// none when the message has no trailer block.
pub fn message_trailers(message: &str) -> Vec<(String, String)> {
    match git2::message_trailers_strs(message) {
        Ok(found) => found
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        Err(_) => Vec::new(),
    }
}
