//! The commit pipeline: validate, scan, build the tree in the ODB, compare-and-swap the
//! branch, tag. No worktree, no index, no checkout.
//!
//! Preparation ([`Prepared`]) reads and checks everything before a single object is
//! written; [`write`] then lands it. The correlation id is the idempotency key.

mod blobs;
mod group;
mod large;
mod load;
mod preflight;
pub mod refpack;
mod tags;
mod write;

use crate::git::ObjectId;
use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::input::{self, InputFile, InputSpec};
use crate::metadata::{self, TestStatus, Trailers, METADATA_FILE};
use crate::progress::{Progress, Silent};
use crate::refs::{CorrelationId, PromptHash, TaskId, WorkflowId};
use crate::scan::Finding;
use crate::store::Store;

/// How far back a task branch is searched for a commit whose tag went missing.
///
/// Every commit of a new correlation id searches this far (its tag is missing because it
/// was never made), reading one commit object per step: at 1,000 that walk cost more than
/// the rest of a commit on a long task branch (`docs/scaling.md`). A tag lost to a crash is
/// repaired when the commit is re-run before 100 more commits land on its task branch.
pub const RECOVERY_DEPTH: usize = 100;

/// One request to commit an artifact set.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// Workflow id.
    pub workflow: WorkflowId,
    /// Task id.
    pub task: TaskId,
    /// Correlation id; taken from `metadata.correlation_id` when absent.
    pub correlation_id: Option<CorrelationId>,
    /// Prompt hash; taken from `metadata.prompt_hash` when absent.
    pub prompt_hash: Option<PromptHash>,
    /// Test status; taken from `metadata.test_status` when absent, else passed.
    pub status: Option<TestStatus>,
    /// Caller metadata, already merged from `--metadata` and `--set`.
    pub metadata: Map<String, Value>,
    /// Files and directories to commit.
    pub inputs: Vec<InputSpec>,
    /// Commit even when the correlation id names other content, moving its tag.
    pub force: bool,
    /// Push after the commit: `Some(true)` always, `Some(false)` never, `None` as
    /// `auto_push` says.
    pub push: Option<bool>,
    /// Push, and fail with [`Error::Remote`] when the push fails (the commit stays landed).
    pub require_push: bool,
}

impl CommitRequest {
    /// Returns a request for `inputs` with every optional field empty.
    pub fn new(workflow: WorkflowId, task: TaskId, inputs: Vec<InputSpec>) -> CommitRequest {
        CommitRequest {
            workflow,
            task,
            correlation_id: None,
            prompt_hash: None,
            status: None,
            metadata: Map::new(),
            inputs,
            force: false,
            push: None,
            require_push: false,
        }
    }
}

/// What a commit did; serializes to `docs/schema/commit.json` (a set object of
/// `docs/json.md` with what the commit did).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitOutcome {
    /// Always true; failures are errors. The JSON envelope carries `success`.
    #[serde(skip)]
    pub success: bool,
    /// Workflow id.
    pub workflow_id: String,
    /// Task id.
    pub task_id: String,
    /// Correlation id (`corr_...`).
    pub correlation_id: String,
    /// Prompt hash the commit records, if any.
    pub prompt_hash: Option<String>,
    /// Commit holding the artifact set.
    pub commit_sha: String,
    /// Commit time, RFC 3339 UTC.
    pub commit_time: String,
    /// Commit time, unix seconds.
    pub commit_time_unix: i64,
    /// Task branch, short form.
    pub branch: String,
    /// Every store tag naming the commit (a duplicate's prompt tag too).
    pub tags: Vec<String>,
    /// Test status the commit records.
    pub test_status: Option<String>,
    /// Whether the commit reached the remote.
    pub pushed: bool,
    /// True when the correlation id was already committed with the same content.
    pub duplicate: bool,
    /// Store tags that should name the commit but could not be written (a ref in the way
    /// appeared after the checks, a lock held too long); the commit has landed, and
    /// running the same commit again writes them.
    pub tags_missing: Vec<String>,
    /// For a duplicate: the request's metadata differs from what the first commit
    /// recorded (which stays as it was).
    pub metadata_differs: bool,
    /// The metadata fields that differ, as dotted key paths (names only, never values).
    pub differing_fields: Vec<String>,
    /// The set's files, metadata.json excluded, sorted by path.
    pub files: Vec<crate::report::FileObject>,
    /// The correlation tag of the set, `corr_<id>`, whether written or missing.
    #[serde(skip)]
    pub correlation_tag: String,
    /// Files in the artifact set, metadata.json excluded.
    #[serde(skip)]
    pub file_count: usize,
    /// Bytes in those files.
    #[serde(skip)]
    pub bytes: u64,
    /// Lost compare-and-swap races that were rebuilt.
    #[serde(skip)]
    pub retries: u32,
    /// Things the user should know that did not stop the commit.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Prepared {
    /// The request's files as the outcome names them, sorted by path.
    pub(crate) fn file_objects(&self) -> Vec<crate::report::FileObject> {
        let mut files: Vec<crate::report::FileObject> = self
            .files
            .iter()
            .map(|f| crate::report::FileObject {
                path: f.file.target.clone(),
                size: f.len(),
                checksum: self
                    .checksums
                    .get(&format!("{}/{}", self.artifact_dir, f.file.target))
                    .cloned(),
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }
}

/// One file read, hashed and scanned.
pub(crate) struct Loaded {
    pub(crate) file: InputFile,
    /// The content; empty for a large file, which is streamed from its source instead.
    pub(crate) bytes: Vec<u8>,
    /// Set for a file above `scan::LARGE_FILE_BYTES`: it is never held whole in memory.
    pub(crate) large: Option<large::Large>,
}

impl Loaded {
    /// Size of the content in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.large
            .as_ref()
            .map_or(self.bytes.len() as u64, |large| large.size)
    }
}

/// A validated, scanned request; nothing has been written yet.
pub(crate) struct Prepared {
    pub(crate) workflow: WorkflowId,
    pub(crate) task: TaskId,
    pub(crate) corr: CorrelationId,
    pub(crate) prompt: Option<PromptHash>,
    pub(crate) status: TestStatus,
    pub(crate) caller: Map<String, Value>,
    pub(crate) artifact_dir: String,
    pub(crate) files: Vec<Loaded>,
    pub(crate) checksums: BTreeMap<String, String>,
    pub(crate) force: bool,
    pub(crate) warnings: Vec<String>,
}

impl Store {
    /// Commits an artifact set: the whole pipeline of docs/design.md, steps 1 to 7.
    pub fn commit(&self, request: CommitRequest) -> Result<CommitOutcome> {
        self.commit_with(request, &Silent)
    }

    /// Commits an artifact set as [`Store::commit`] does, reporting to `progress` the
    /// bytes read, hashed and scanned, then the bytes written as objects.
    pub fn commit_with(
        &self,
        request: CommitRequest,
        progress: &dyn Progress,
    ) -> Result<CommitOutcome> {
        let push = request.require_push || request.push.unwrap_or(self.config().auto_push);
        let require_push = request.require_push;
        let prepared = self.prepare_with(request, progress)?;
        progress.finish();
        let outcome = self.settle_with(prepared, progress);
        progress.finish();
        let outcome = outcome?;
        if push {
            return self.push_after_commit(outcome, require_push);
        }
        Ok(outcome)
    }

    /// Commits several artifact sets, in order, as [`Store::commit`] would one after the
    /// other; returns one result per request, in request order.
    ///
    /// Consecutive small sets (up to 2 MiB, new correlation ids, not forced) land as a
    /// group: their objects in one pack, flushed once, then one branch update each. A set
    /// that cannot join (large, forced, a correlation id already in the group) lands on its
    /// own after the group before it, so sets on one branch land in the order given. Every
    /// set is checked and scanned on its own, and fails on its own.
    pub fn commit_batch(&self, requests: Vec<CommitRequest>) -> Vec<Result<CommitOutcome>> {
        let mut results: Vec<Option<Result<CommitOutcome>>> = std::iter::repeat_with(|| None)
            .take(requests.len())
            .collect();
        let mut pushes = Vec::with_capacity(requests.len());
        let mut group: Vec<(usize, Prepared)> = Vec::new();
        let mut group_ids: HashSet<CorrelationId> = HashSet::new();
        let mut group_bytes = 0;
        for (i, request) in requests.into_iter().enumerate() {
            pushes.push((
                request.require_push || request.push.unwrap_or(self.config().auto_push),
                request.require_push,
            ));
            let prepared = match self.prepare(request) {
                Ok(prepared) => prepared,
                Err(e) => {
                    results[i] = Some(Err(e));
                    continue;
                }
            };
            let bytes = blobs::set_bytes(&prepared);
            let eligible = write::packable(&prepared) && !prepared.force;
            let fits = !group_ids.contains(&prepared.corr)
                && group_bytes + bytes <= group::GROUP_MAX_BYTES;
            if !eligible || !fits {
                self.land_members(std::mem::take(&mut group), &mut results);
                group_ids.clear();
                group_bytes = 0;
            }
            if eligible {
                group_ids.insert(prepared.corr.clone());
                group_bytes += bytes;
                group.push((i, prepared));
            } else {
                results[i] = Some(self.settle(prepared));
            }
        }
        self.land_members(group, &mut results);
        results
            .into_iter()
            .zip(pushes)
            .map(|(result, (push, require))| {
                let outcome = result.expect("every request has a result")?;
                if push {
                    return self.push_after_commit(outcome, require);
                }
                Ok(outcome)
            })
            .collect()
    }

    /// Settles a group's duplicates and conflicts, then lands the rest together.
    fn land_members(
        &self,
        members: Vec<(usize, Prepared)>,
        results: &mut [Option<Result<CommitOutcome>>],
    ) {
        let mut fresh = Vec::with_capacity(members.len());
        for (i, mut prepared) in members {
            match self.find_existing(&prepared) {
                // Refs in the way fail the set before its objects join the group's pack.
                Ok(None) => match preflight::check(self, &mut prepared) {
                    Ok(()) => fresh.push((i, prepared)),
                    Err(e) => results[i] = Some(Err(e)),
                },
                Ok(Some(existing)) => results[i] = Some(self.settle_existing(&prepared, &existing)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        for (i, result) in group::land_group(self, fresh) {
            results[i] = Some(result);
        }
    }

    /// Lands a prepared set, or finds it already committed.
    pub(crate) fn settle(&self, prepared: Prepared) -> Result<CommitOutcome> {
        self.settle_with(prepared, &Silent)
    }

    /// Lands a prepared set as [`Store::settle`] does, reporting the bytes written.
    fn settle_with(&self, prepared: Prepared, progress: &dyn Progress) -> Result<CommitOutcome> {
        match self.find_existing(&prepared)? {
            Some(existing) if existing.same_content || !prepared.force => {
                self.settle_existing(&prepared, &existing)
            }
            _ => write::land(self, prepared, progress),
        }
    }

    /// The outcome of an unforced set whose correlation id is already committed: a
    /// duplicate when the content is the same, else a conflict.
    fn settle_existing(&self, prepared: &Prepared, existing: &Existing) -> Result<CommitOutcome> {
        if existing.same_content {
            self.duplicate(prepared, existing)
        } else {
            Err(conflict(prepared, existing))
        }
    }

    /// Pushes a landed commit; a failed push is a warning unless `require_push`.
    fn push_after_commit(
        &self,
        mut outcome: CommitOutcome,
        require: bool,
    ) -> Result<CommitOutcome> {
        let pushed = self.push_landed(&outcome.branch, &outcome.tags);
        for moved in &pushed.reapplied {
            if moved.from == outcome.commit_sha {
                outcome.commit_sha = moved.to.clone();
                outcome.duplicate |= moved.duplicate;
                outcome.warnings.push(if moved.duplicate {
                    format!(
                        "the remote already held {} with the same files; using its commit",
                        outcome.correlation_tag
                    )
                } else {
                    "another writer pushed this branch first; re-applied onto its tip".to_string()
                });
            }
        }
        match pushed.result {
            Ok(()) => {
                outcome.pushed = true;
                Ok(outcome)
            }
            Err(e) if require => Err(Error::Remote {
                message: format!(
                    "{} landed locally at {} on {} but was not pushed: {e}",
                    outcome.correlation_tag,
                    &outcome.commit_sha[..12],
                    outcome.branch
                ),
                hint: Some(
                    "run `artifact-store push --pending` once the remote takes it".to_string(),
                ),
            }),
            Err(e) => {
                outcome.warnings.push(format!(
                    "not pushed: {e}; the commit is kept locally and `artifact-store push --pending` pushes it later"
                ));
                Ok(outcome)
            }
        }
    }

    fn prepare(&self, request: CommitRequest) -> Result<Prepared> {
        self.prepare_with(request, &Silent)
    }

    fn prepare_with(&self, request: CommitRequest, progress: &dyn Progress) -> Result<Prepared> {
        let config = self.config();
        let corr = self.correlation_id(&request)?;
        metadata::check_caller(&request.metadata)?;
        let prompt = match &request.prompt_hash {
            Some(p) => Some(p.clone()),
            None => text_key(&request.metadata, "prompt_hash")
                .map(PromptHash::new)
                .transpose()?,
        };
        let status = match request.status {
            Some(s) => s,
            None => text_key(&request.metadata, "test_status")
                .map(TestStatus::parse)
                .transpose()?
                .unwrap_or(TestStatus::Passed),
        };
        if config.require_test_passed && status != TestStatus::Passed {
            return Err(Error::InvalidInput(format!(
                "test status is {}, and require_test_passed is set",
                status.as_str()
            )));
        }
        let artifact_dir =
            config.artifact_dir_for(request.workflow.as_str(), request.task.as_str());
        let files = input::collect(&request.inputs, config.max_file_size)?;
        crate::git::pathcheck::check_path(&format!("{artifact_dir}/{METADATA_FILE}"))?;
        for file in &files {
            crate::git::pathcheck::check_path(&format!("{artifact_dir}/{}", file.target))?;
        }
        let scanner = if config.scan_for_secrets {
            Some(self.scanner()?)
        } else {
            None
        };
        let mut loaded = Vec::with_capacity(files.len());
        let mut checksums = BTreeMap::new();
        let mut findings = Vec::new();
        for file in load::load_all(files, scanner, &artifact_dir, progress)? {
            // What git parses (`.gitmodules`, `.gitattributes`) is checked on the bytes
            // read; a file that large is refused by `input::collect` already.
            if file.loaded.large.is_none() {
                crate::git::pathcheck::check_content(&file.loaded.file.target, &file.loaded.bytes)?;
            }
            checksums.insert(
                format!("{artifact_dir}/{}", file.loaded.file.target),
                file.checksum,
            );
            findings.extend(file.findings);
            loaded.push(file.loaded);
        }
        let mut prepared = Prepared {
            workflow: request.workflow,
            task: request.task,
            corr,
            prompt,
            status,
            caller: request.metadata,
            artifact_dir,
            files: loaded,
            checksums,
            force: request.force,
            warnings: Vec::new(),
        };
        self.scan_gate(&mut prepared, findings)?;
        Ok(prepared)
    }

    fn correlation_id(&self, request: &CommitRequest) -> Result<CorrelationId> {
        if let Some(c) = &request.correlation_id {
            return Ok(c.clone());
        }
        if let Some(text) = text_key(&request.metadata, "correlation_id") {
            return CorrelationId::new(text);
        }
        if self.config().require_correlation_id {
            return Err(Error::InvalidInput(
                "a correlation id is required: pass --correlation-id, or set require_correlation_id = false to let the store make one".to_string(),
            ));
        }
        let seed = format!(
            "{}/{}/{}/{}",
            request.workflow,
            request.task,
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let digest = Sha256::digest(seed.as_bytes());
        CorrelationId::new(&format!("auto-{}", &format!("{digest:x}")[..16]))
    }

    /// The scan gate: file findings (from loading) and the caller metadata, before any
    /// object is written.
    fn scan_gate(&self, prepared: &mut Prepared, mut findings: Vec<Finding>) -> Result<()> {
        if !self.config().scan_for_secrets {
            prepared
                .warnings
                .push("secret scanning is off (scan_for_secrets = false)".to_string());
            return Ok(());
        }
        let scanner = self.scanner()?;
        if !prepared.caller.is_empty() {
            let text = serde_json::to_string_pretty(&prepared.caller)
                .expect("a JSON map always serializes");
            findings.extend(scanner.scan_text("metadata (caller keys)", &text));
            // A value given as `ghp_\u0041...` is stored with its backslash escaped; scan
            // it as given too, so its `\uXXXX` escapes are read as the token they spell.
            if text.contains("\\\\") {
                let given = text.replace("\\\\", "\\");
                let extra = scanner.scan_text("metadata (caller keys)", &given);
                let extra: Vec<Finding> = extra
                    .into_iter()
                    .filter(|f| !findings.contains(f))
                    .collect();
                findings.extend(extra);
            }
            // `--set a.b=1` nests on dots, so a dotted token typed as a key (`SG.x.y`, a
            // JWT) lands split over nested keys: scan the key paths joined as typed.
            let mut paths = String::new();
            key_paths(&prepared.caller, "", &mut paths);
            if !paths.is_empty() {
                findings.extend(scanner.scan_text("metadata (caller key paths)", &paths));
            }
        }
        if findings.is_empty() {
            Ok(())
        } else {
            Err(Error::SecretsFound { findings })
        }
    }
}

/// Appends, one a line, the dotted path of every key nested under another (`a.b.c`).
fn key_paths(map: &Map<String, Value>, prefix: &str, out: &mut String) {
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if !prefix.is_empty() {
            out.push_str(&path);
            out.push('\n');
        }
        if let Value::Object(inner) = value {
            key_paths(inner, &path, out);
        }
    }
}

fn text_key<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// A commit already recorded under the request's correlation id.
pub(crate) struct Existing {
    pub(crate) commit: ObjectId,
    pub(crate) branch: String,
    pub(crate) tag_present: bool,
    pub(crate) same_content: bool,
    /// With the same content: the metadata fields the request would record otherwise.
    pub(crate) differing: Vec<String>,
    /// Commit time, unix seconds.
    pub(crate) time: i64,
    /// The commit's `Prompt-Hash` trailer.
    pub(crate) prompt_hash: Option<String>,
    /// The commit's `Test-Status` trailer.
    pub(crate) test_status: Option<String>,
}

impl Store {
    /// Finds the commit of this correlation id: by its tag, else by its trailer on the branch.
    pub(crate) fn find_existing(&self, p: &Prepared) -> Result<Option<Existing>> {
        let repo = self.repo();
        if let Some(commit) = preflight::tag_commit(repo, &p.corr.tag_ref())? {
            return Ok(Some(self.compare(p, commit, true)?));
        }
        let branch = self.config().prefix().task_ref(&p.workflow, &p.task);
        let Some(tip) = crate::git::ref_target(repo, &branch)? else {
            return Ok(None);
        };
        for oid in crate::git::first_parents(repo, tip, &branch)?.take(RECOVERY_DEPTH) {
            let oid = oid?;
            let commit = repo
                .commit_view(oid)
                .map_err(Error::git(format!("failed to read commit {oid}")))?;
            if !contains(commit.message().as_bytes(), p.corr.as_str().as_bytes()) {
                continue;
            }
            let trailers = Trailers::parse(commit.message());
            if trailers.correlation_id.as_deref() == Some(p.corr.as_str()) {
                return Ok(Some(self.compare(p, oid, false)?));
            }
        }
        Ok(None)
    }

    fn compare(&self, p: &Prepared, oid: ObjectId, tag_present: bool) -> Result<Existing> {
        let repo = self.repo();
        let commit = repo
            .commit_view(oid)
            .map_err(Error::git(format!("failed to read commit {oid}")))?;
        let trailers = Trailers::parse(commit.message());
        let same_task = trailers.workflow_id.as_deref() == Some(p.workflow.as_str())
            && trailers.task_id.as_deref() == Some(p.task.as_str());
        let doc = metadata::metadata_at(self.repo(), &commit, &p.artifact_dir);
        let stored = doc.as_ref().map(metadata::checksums_of);
        let branch = match (trailers.workflow_id.clone(), trailers.task_id.clone()) {
            (Some(w), Some(t)) => format!("{}/{w}/{t}", self.config().prefix().as_str()),
            _ => self.config().prefix().task_branch(&p.workflow, &p.task),
        };
        let same_content = same_task && stored.as_ref() == Some(&p.checksums);
        let differing = match &doc {
            Some(doc) if same_content => differing_metadata(p, doc),
            _ => Vec::new(),
        };
        Ok(Existing {
            commit: oid,
            branch,
            tag_present,
            same_content,
            differing,
            time: commit.time().seconds(),
            prompt_hash: trailers.prompt_hash,
            test_status: trailers.test_status,
        })
    }

    fn duplicate(&self, p: &Prepared, existing: &Existing) -> Result<CommitOutcome> {
        let mut warnings = p.warnings.clone();
        let (tags, tags_missing) = tags::repair_tags(self, p, existing, &mut warnings)?;
        if !existing.differing.is_empty() {
            warnings.push(format!(
                "{} is already committed with these files, but its metadata differs in: {}; the first commit's metadata stays as it was (use a new correlation id to record the new one)",
                p.corr,
                existing.differing.join(", ")
            ));
        }
        let mut tags = tags;
        if let Some(prompt) = existing
            .prompt_hash
            .as_deref()
            .and_then(|h| crate::refs::PromptHash::new(h).ok())
        {
            let name = prompt.tag_name();
            let on_it = crate::git::ref_target(self.repo(), &prompt.tag_ref())?;
            if on_it == Some(existing.commit) && !tags.contains(&name) {
                tags.push(name);
            }
        }
        Ok(CommitOutcome {
            success: true,
            workflow_id: p.workflow.to_string(),
            task_id: p.task.to_string(),
            correlation_id: p.corr.to_string(),
            prompt_hash: existing.prompt_hash.clone(),
            commit_sha: existing.commit.to_string(),
            commit_time: crate::report::rfc3339(existing.time),
            commit_time_unix: existing.time,
            branch: existing.branch.clone(),
            tags,
            test_status: existing.test_status.clone(),
            pushed: false,
            duplicate: true,
            tags_missing,
            metadata_differs: !existing.differing.is_empty(),
            differing_fields: existing.differing.clone(),
            files: p.file_objects(),
            correlation_tag: p.corr.to_string(),
            file_count: p.files.len(),
            bytes: p.files.iter().map(Loaded::len).sum(),
            retries: 0,
            warnings,
        })
    }
}

/// The metadata fields whose values in `stored` (a commit's metadata.json) differ from what
/// `p` would record: the document `p` builds with the stored commit time, compared key by key.
fn differing_metadata(p: &Prepared, stored: &Value) -> Vec<String> {
    let fields = metadata::StoreFields {
        workflow_id: p.workflow.as_str(),
        task_id: p.task.as_str(),
        correlation_id: p.corr.as_str(),
        prompt_hash: p.prompt.as_ref().map(|h| h.as_str()),
        commit_timestamp: text_key_of(stored, "commit_timestamp").to_string(),
        test_status: p.status,
        checksums: &p.checksums,
    };
    metadata::differing_fields(stored, &metadata::build(&fields, &p.caller))
}

fn text_key_of<'a>(doc: &'a Value, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Whether `needle` occurs in `hay`: a cheap test before parsing a message's trailers.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn conflict(p: &Prepared, existing: &Existing) -> Error {
    Error::Conflict {
        message: format!(
            "{} is already commit {} on {} with other content",
            p.corr,
            &existing.commit.to_string()[..12],
            existing.branch
        ),
        hint: Some(format!(
            "use a new correlation id, or pass --force to commit anyway and move {} to the new commit",
            p.corr
        )),
    }
}
