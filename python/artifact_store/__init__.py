"""Versions AI-generated artifacts in git: the ``ArtifactStore`` API, in process, on the
Rust core of ``artifact-store``.

One branch per workflow and task (``ai/generated/<workflow_id>/<task_id>``), a
``corr_<id>`` tag per correlation id and a ``prompt_<hash>`` tag per prompt, a
``metadata.json`` with checksums beside the files, everything scanned for secrets before a
byte is written, and no worktree, index or checkout touched. The results are the CLI's
``--json`` output as dicts (``docs/json.md``); the failures are exceptions carrying that
output's error object.

Example::

    from pathlib import Path
    from artifact_store import ArtifactStore, ArtifactStoreConfig

    store = ArtifactStore(ArtifactStoreConfig(repo_path=Path("/srv/artifacts.git")))
    result = store.commit_artifacts(
        workflow_id="wf_rsi_strategy", task_id="task_coder_001",
        files=[Path("strategy.py"), Path("trades.csv")],
        metadata={"agent_version": "coder-v1.0", "test_metrics": {"net_pnl": 120.5}},
        correlation_id="corr_abc123", prompt_hash="7a8b9c0d1e2f3a4b")
    print(result["branch"], result["commit_sha"], result["tags"])

One ``ArtifactStore`` may be shared by every thread of a process: each call releases the
GIL while it works, and calls from several threads run at once (see ``docs/python.md``).
"""

import datetime as _dt
import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _native
from ._errors import (
    ArtifactStoreError,
    ArtifactStoreWarning,
    ConflictError,
    CorruptStoreError,
    InvalidInputError,
    NotFoundError,
    PushError,
    SecretDetectedError,
)

__all__ = [
    "ArtifactStore",
    "ArtifactStoreConfig",
    "ArtifactStoreError",
    "ArtifactStoreWarning",
    "ConflictError",
    "CorruptStoreError",
    "InvalidInputError",
    "NotFoundError",
    "PushError",
    "SecretDetectedError",
    "init",
]

__version__: str = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]

#: The seed's default of ``max_rollback_depth``; the store sets no such limit.
_SEED_ROLLBACK_DEPTH = 10


def _config_error(message: str, hint: Optional[str] = None) -> InvalidInputError:
    return InvalidInputError(message, kind="config", exit_code=2, hint=hint)


def _bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass
class ArtifactStoreConfig:
    """The store's settings, by the names of the original ``ArtifactStoreConfig``.

    A field left at ``None`` is decided by the store's own configuration: its
    ``artifact-store.toml`` (in the worktree or the git directory), then the environment
    (``GIT_AUTHOR_NAME``, ``GIT_REMOTE_NAME``, ``ARTIFACT_STORE_*``), then the store's
    default. A field that is set wins over all of them, as ``-c key=value`` does on the
    command line. ``docs/python.md`` maps every field to its key.

    Fields the store cannot honour raise :class:`InvalidInputError` when set to a value
    that would otherwise change behaviour silently: ``include_metadata=False`` (the store
    always writes ``metadata.json``: its checksums are what ``verify`` reads),
    ``metadata_filename`` other than ``"metadata.json"``, and ``max_rollback_depth`` other
    than the seed's ``10`` (the store reverts to any tag it holds, however far back).

    Example::

        config = ArtifactStoreConfig(repo_path=Path("/srv/artifacts.git"),
                                     auto_push=True, scan_for_secrets=True,
                                     settings={"durability": "fsync"})
        store = ArtifactStore(config)
    """

    #: The store repository. ``None``: ``$ARTIFACT_STORE_REPO``, else the git repository
    #: around the current directory.
    repo_path: Optional[PathLike] = None
    #: Remote pushed to (key ``remote_name``; store default ``origin``).
    remote_name: Optional[str] = None
    #: Branch namespace (key ``branch_prefix``; default ``ai/generated``).
    branch_prefix: Optional[str] = None
    #: Author, committer and tagger name (key ``author_name``).
    commit_author_name: Optional[str] = None
    #: Author, committer and tagger email (key ``author_email``).
    commit_author_email: Optional[str] = None
    #: Scan every file and the metadata before writing (key ``scan_for_secrets``;
    #: default ``True``).
    scan_for_secrets: Optional[bool] = None
    #: Extra regexes (Rust ``regex`` syntax) the scanner reports as secrets, on top of its
    #: built-in rules, as rules ``secret-pattern-1``, ``secret-pattern-2``, ...
    secret_patterns: Optional[List[str]] = None
    #: Must stay ``True``: every set has its ``metadata.json``.
    include_metadata: bool = True
    #: Must stay ``"metadata.json"``.
    metadata_filename: str = "metadata.json"
    #: Push the task branch and its tags after every commit (key ``auto_push``; store
    #: default ``False``).
    auto_push: Optional[bool] = None
    #: Seconds one remote operation may go without progress (key ``push_timeout``;
    #: default 30).
    push_timeout: Optional[int] = None
    #: Only ``None`` or ``10`` (the seed's default): the store sets no such limit.
    max_rollback_depth: Optional[int] = None
    #: Refuse a commit whose test status is not ``passed`` (key ``require_test_passed``;
    #: store default ``False``).
    require_test_passed: Optional[bool] = None
    #: Refuse a commit without a correlation id (key ``require_correlation_id``;
    #: default ``True``).
    require_correlation_id: Optional[bool] = None
    #: A config file to read instead of the store's ``artifact-store.toml``.
    config_file: Optional[PathLike] = None
    #: Any other key of ``docs/config.md``, as text: ``{"durability": "none",
    #: "artifact_dir": "Backtest/codes/{task_id}"}``. Applied before the fields above.
    settings: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.include_metadata:
            raise _config_error(
                "include_metadata=False: every artifact set has its metadata.json "
                "(its checksums are what verify reads), so it cannot be left out",
                "leave include_metadata at True",
            )
        if self.metadata_filename != "metadata.json":
            raise _config_error(
                f"metadata_filename={self.metadata_filename!r}: the store always names "
                "it metadata.json (list, show, verify and gc read it by that name)",
                'leave metadata_filename at "metadata.json"',
            )
        if self.max_rollback_depth not in (None, _SEED_ROLLBACK_DEPTH):
            raise _config_error(
                f"max_rollback_depth={self.max_rollback_depth!r}: the store does not "
                "limit how far back revert_to_tag goes; any tag it holds can be restored",
                "leave max_rollback_depth unset",
            )
        if isinstance(self.secret_patterns, str):
            raise _config_error("secret_patterns must be a list of regexes, not one string")

    def overrides(self) -> List[Tuple[str, str]]:
        """Returns the store keys this config sets, as ``(key, value)`` text pairs in the
        order they apply (``settings`` first, then the named fields)."""
        pairs: List[Tuple[str, str]] = [(str(k), str(v)) for k, v in self.settings.items()]
        named: List[Tuple[str, Any]] = [
            ("remote_name", self.remote_name),
            ("branch_prefix", self.branch_prefix),
            ("author_name", self.commit_author_name),
            ("author_email", self.commit_author_email),
            ("scan_for_secrets", self.scan_for_secrets),
            ("auto_push", self.auto_push),
            ("push_timeout", self.push_timeout),
            ("require_test_passed", self.require_test_passed),
            ("require_correlation_id", self.require_correlation_id),
        ]
        for key, value in named:
            if value is None:
                continue
            if isinstance(value, bool):
                pairs.append((key, _bool(value)))
            else:
                pairs.append((key, str(value)))
        return pairs


def _path(value: PathLike) -> str:
    return os.fspath(value)


def _paths(files: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    if isinstance(files, (str, bytes, os.PathLike)):
        files = [files]  # type: ignore[list-item]
    return [_path(f) for f in files]


def _since(value: Union[None, str, _dt.datetime, _dt.date]) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.isoformat()
    return value.isoformat()


def _warn(messages: List[str]) -> None:
    for message in messages:
        warnings.warn(message, ArtifactStoreWarning, stacklevel=3)


def _result(out: Tuple[str, List[str]]) -> Dict[str, Any]:
    text, messages = out
    _warn(messages)
    return json.loads(text)


class ArtifactStore:
    """An open artifact store: a git repository and its configuration.

    The repository is opened once and the scanner's rules are compiled once, when the
    store is made; every method releases the GIL while it works, and one store may be
    used from many threads at once (and from asyncio through ``asyncio.to_thread``).

    Example::

        store = ArtifactStore()        # the repository around the current directory
        store = ArtifactStore(ArtifactStoreConfig(repo_path="/srv/artifacts.git"))
        store.list_artifacts(workflow_id="wf_rsi_strategy", limit=10)
    """

    def __init__(self, config: Optional[ArtifactStoreConfig] = None) -> None:
        self.config = config if config is not None else ArtifactStoreConfig()
        repo = self.config.repo_path
        if repo is None:
            repo = os.environ.get("ARTIFACT_STORE_REPO") or None
        config_file = self.config.config_file
        self._store = _native.Store(
            _path(repo) if repo is not None else None,
            _path(config_file) if config_file is not None else None,
            self.config.overrides(),
            list(self.config.secret_patterns or []),
        )

    @classmethod
    def init(
        cls,
        path: PathLike,
        *,
        bare: bool = False,
        config: Optional[ArtifactStoreConfig] = None,
    ) -> "ArtifactStore":
        """Creates a store repository at ``path`` (or adopts the repository already
        there, unchanged) and opens it; ``config.repo_path`` is set to ``path``.

        Example::

            store = ArtifactStore.init("/srv/artifacts.git", bare=True)
        """
        init(path, bare=bare)
        config = config if config is not None else ArtifactStoreConfig()
        config.repo_path = path
        return cls(config)

    @property
    def git_dir(self) -> str:
        """The repository's git directory."""
        return os.fspath(self._store.git_dir)

    def settings(self) -> Dict[str, Any]:
        """Returns the effective values of the store's keys that the config maps to,
        after the config file, the environment and this config's fields.

        Example::

            store.settings()["branch_prefix"]    # 'ai/generated'
        """
        return json.loads(self._store.settings())

    def __repr__(self) -> str:
        return f"ArtifactStore(git_dir={self.git_dir!r})"

    # The documented API -------------------------------------------------------------

    def commit_artifacts(
        self,
        workflow_id: str,
        task_id: str,
        files: Union[PathLike, Sequence[PathLike]],
        metadata: Optional[Dict[str, Any]] = None,
        correlation_id: Optional[str] = None,
        prompt_hash: Optional[str] = None,
        *,
        test_status: Optional[str] = None,
        force: bool = False,
        push: Optional[bool] = None,
        require_push: bool = False,
    ) -> Dict[str, Any]:
        """Commits files and directories as one artifact set on the task branch
        ``<branch_prefix>/<workflow_id>/<task_id>``, tagged ``corr_<id>`` (and
        ``prompt_<hash>``), with ``metadata.json`` beside them. Everything is scanned for
        secrets before anything is written.

        The correlation id (``"abc123"`` or ``"corr_abc123"``) is the idempotency key:
        the same id with the same files returns the first commit with
        ``duplicate: True``; with other files it raises :class:`ConflictError` unless
        ``force=True``. ``test_status`` is ``"passed"`` or ``"failed"`` (default: the
        metadata's ``test_status``, else passed). ``push`` overrides ``auto_push``; a
        failed push leaves ``pushed: False`` and a warning, unless ``require_push=True``
        makes it a :class:`PushError`.

        Returns the JSON of ``artifact-store commit --json``: ``{'success': True,
        'schema_version': 1, 'branch', 'commit_sha', 'tags', 'pushed', 'duplicate',
        'tags_missing', 'metadata_differs', 'differing_fields'}``.

        Raises :class:`SecretDetectedError`, :class:`InvalidInputError` (a bad id or
        path; a missing correlation id while ``require_correlation_id`` is on),
        :class:`ConflictError`, :class:`PushError`, :class:`ArtifactStoreError`.

        Example::

            result = store.commit_artifacts(
                workflow_id="wf_rsi_strategy", task_id="task_coder_001",
                files=[Path("strategy.py"), Path("trades.csv")],
                metadata={"agent_version": "coder-v1.0", "llm_version": "gpt-4",
                          "test_metrics": {"total_trades": 12, "net_pnl": 120.5}},
                correlation_id="corr_abc123", prompt_hash="7a8b9c0d1e2f3a4b")
            result["tags"]    # ['corr_abc123', 'prompt_7a8b9c0d1e2f3a4b']
        """
        text = None
        if metadata is not None:
            if not isinstance(metadata, dict):
                raise InvalidInputError(
                    f"metadata must be a dict, not {type(metadata).__name__}")
            try:
                text = json.dumps(metadata, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise InvalidInputError(
                    f"metadata is not JSON: {e}",
                    hint="pass str, int, float, bool, None, lists and dicts only",
                ) from None
        return _result(self._store.commit(
            workflow_id, task_id, _paths(files), text, correlation_id, prompt_hash,
            test_status, force, push, require_push))

    def revert_to_tag(
        self,
        tag: str,
        target_branch: str = "main",
        *,
        path: Optional[str] = None,
        hard: bool = False,
        force: bool = False,
        dry_run: bool = False,
        create: bool = False,
    ) -> Dict[str, Any]:
        """Brings ``target_branch`` back to the state a store tag names (``corr_<id>``,
        the bare id, or ``prompt_<hash>``), by a new commit on top of it that keeps its
        history. ``path`` restores one directory only; ``hard=True, force=True`` moves the
        branch instead (the old tip kept in the trash); ``dry_run=True`` writes nothing;
        ``create=True`` creates a missing target at the tagged commit.

        Returns the JSON of ``artifact-store revert-to-tag --json``: ``{'success': True,
        'schema_version': 1, 'commit_sha', 'reverted_to', 'branch', ...}``.

        Raises :class:`NotFoundError` (no such tag or branch), :class:`ConflictError`
        (the target moved, or is checked out with changes), :class:`InvalidInputError`.

        Example::

            result = store.revert_to_tag(tag="corr_abc123", target_branch="main")
            print(f"Reverted to {result['reverted_to']}: {result['commit_sha']}")
        """
        return _result(self._store.revert(
            tag, target_branch, path, hard, force, dry_run, create))

    def list_artifacts(
        self,
        workflow_id: Optional[str] = None,
        limit: int = 50,
        *,
        task_id: Optional[str] = None,
        status: Optional[str] = None,
        since: Union[None, str, _dt.datetime, _dt.date] = None,
        where: Union[None, str, Sequence[str]] = None,
        all_versions: bool = False,
    ) -> List[Dict[str, Any]]:
        """Lists artifact sets newest first: the tip of each task branch, or every
        version with ``all_versions=True``. Each row is the set's ``metadata.json`` with
        ``branch`` and ``commit_sha`` added: the ``sets`` of ``artifact-store list
        --json``.

        Filters: ``workflow_id``, ``task_id``, ``status`` (``"passed"``/``"failed"``),
        ``since`` (a date, a datetime, ``"2025-11-07"``, or an age such as ``"7d"``), and
        ``where``: metadata conditions such as ``"test_metrics.net_pnl>100"`` (all must
        hold).

        Raises :class:`CorruptStoreError` when a selected set cannot be read; its
        ``report["sets"]`` holds the rows that could.

        Example::

            for artifact in store.list_artifacts(workflow_id="wf_rsi_strategy", limit=10):
                print(artifact["task_id"], artifact["correlation_id"],
                      artifact.get("test_metrics"))
        """
        if isinstance(where, str):
            where = [where]
        out = _result(self._store.list(
            workflow_id, task_id, status, _since(since), list(where or []), limit,
            all_versions))
        return out["sets"]

    def get_artifact_by_correlation_id(self, correlation_id: str) -> Optional[Dict[str, Any]]:
        """Returns the artifact set a correlation id (``"abc123"`` or ``"corr_abc123"``)
        names, as one row of :meth:`list_artifacts` (its metadata with ``branch`` and
        ``commit_sha``), or ``None`` when that id was never committed.

        Example::

            artifact = store.get_artifact_by_correlation_id("corr_abc123")
            if artifact:
                print(artifact["task_id"], artifact["files"], artifact.get("test_metrics"))
        """
        text = self._store.find_correlation(correlation_id)
        return None if text is None else json.loads(text)

    # The rest of the CLI's operations ------------------------------------------------

    def show(self, ref: str) -> Dict[str, Any]:
        """Returns one artifact set: metadata, files with sizes and checksums, tags. REF is
        ``corr_x``, ``x``, ``prompt_h``, a tag, a branch, ``workflow/task`` or a commit.
        The JSON of ``artifact-store show --json``.

        Example::

            s = store.show("corr_abc123")
            [f["path"] for f in s["files"]]
        """
        return _result(self._store.show(ref))

    def log(self, workflow_id: str, task_id: Optional[str] = None, limit: int = 50) -> Dict[str, Any]:
        """Returns the history of one task branch, newest first (``log("wf/task")`` or
        ``log("wf", "task")``). The JSON of ``artifact-store log --json``: ``branch`` and
        ``entries``.

        Example::

            for entry in store.log("wf_rsi_strategy", "task_coder_001")["entries"]:
                print(entry["commit_sha"][:12], entry.get("correlation_id"))
        """
        spec = workflow_id if task_id is None else f"{workflow_id}/{task_id}"
        return _result(self._store.log(spec, limit))

    def diff(self, a: str, b: str) -> Dict[str, Any]:
        """Returns the files changed and the metric deltas between two artifact sets. The
        JSON of ``artifact-store diff --json``.

        Example::

            d = store.diff("corr_abc123", "corr_def456")
        """
        return _result(self._store.diff(a, b))

    def export(self, ref: str, to: PathLike, *, force: bool = False) -> Dict[str, Any]:
        """Writes an artifact set's files into the directory ``to`` (which must be empty
        or missing unless ``force=True``). The JSON of ``artifact-store export --json``.

        Example::

            store.export("corr_abc123", "/tmp/restored")
        """
        return _result(self._store.export(ref, _path(to), force))

    def verify(self, ref: Optional[str] = None) -> Dict[str, Any]:
        """Recomputes the checksums of one artifact set (or of every set, without
        ``ref``) against its ``metadata.json`` and checks that tags and trailers agree.
        Problems are data, not exceptions: ``success`` is ``False``, ``problems`` lists
        them and ``error`` (kind ``integrity``) names how many. The JSON of
        ``artifact-store verify --json``.

        Example::

            report = store.verify()
            assert report["success"], report["problems"]
        """
        return _result(self._store.verify(ref))

    def stats(self, top: int = 10) -> Dict[str, Any]:
        """Returns counts and sizes of the store, with the ``top`` largest sets. The JSON
        of ``artifact-store stats --json``.

        Example::

            store.stats()["branches"]
        """
        return _result(self._store.stats(top))

    def scan(self, paths: Union[PathLike, Sequence[PathLike]]) -> Dict[str, Any]:
        """Scans files and directories with the store's scanner, writing nothing.
        Findings are data (redacted), not exceptions: ``findings``, ``files_scanned``,
        ``skipped``; with findings ``success`` is ``False`` and ``error`` says so
        (``secret_detected``). The JSON of ``artifact-store scan --json``.

        Example::

            report = store.scan(["out/"])
            for f in report["findings"]:
                print(f["path"], f["line"], f["rule_id"], f["redacted"])
        """
        return _result(self._store.scan(_paths(paths)))

    def gc(
        self,
        apply: bool = False,
        *,
        remote: Union[bool, str] = False,
        policy: Optional[PathLike] = None,
    ) -> Dict[str, Any]:
        """Plans retention from the ``[retention]`` rules (or the ``policy`` file); with
        ``apply=True`` moves the pruned refs to the trash, and with ``remote`` (``True``
        for ``remote_name``, or a name or URL) deletes them on the remote too. The JSON of
        ``artifact-store gc --json``.

        Raises :class:`PushError` when the remote step fails after the local apply; its
        ``report`` holds the plan and what was applied.

        Example::

            plan = store.gc()                 # dry run
            done = store.gc(apply=True)
            print(done["applied"]["undo"])
        """
        remote_arg: Optional[str]
        if remote is True:
            remote_arg = ""
        elif remote is False or remote is None:
            remote_arg = None
        else:
            remote_arg = str(remote)
        return _result(self._store.gc(
            apply, remote_arg, _path(policy) if policy is not None else None))

    def pin(self, ref: str, name: Optional[str] = None) -> Dict[str, Any]:
        """Pins the commit REF names so that gc never prunes it. The JSON of
        ``artifact-store pin --json``.

        Example::

            store.pin("corr_abc123")
        """
        return _result(self._store.pin(ref, name))

    def unpin(self, name: str) -> Dict[str, Any]:
        """Removes a pin. The JSON of ``artifact-store unpin --json``.

        Example::

            store.unpin("corr_abc123")
        """
        return _result(self._store.unpin(name))

    def push_pending(self) -> Dict[str, Any]:
        """Pushes every store branch and tag the remote does not have yet (commits made
        while it was unreachable). Refs the remote refused are data: ``refused``, with
        ``success`` ``False`` and an ``error`` naming the first. The JSON of
        ``artifact-store push --pending --json``.

        Example::

            report = store.push_pending()
            print(len(report["pushed"]), "refs pushed")
        """
        return _result(self._store.push_pending())


def init(path: PathLike, *, bare: bool = False) -> Dict[str, Any]:
    """Creates a store repository at ``path`` (with a ``main`` branch name), or adopts the
    repository already there unchanged. The JSON of ``artifact-store init --json``.

    Example::

        init("/srv/artifacts.git", bare=True)["created"]    # True
    """
    return json.loads(_native.init(_path(path), bare))
