"""The exceptions of the package, one class per kind of failure, each with the CLI's
``kind`` and exit code.

The native half raises them through :func:`from_report`, from the same error object the
CLI prints with ``--json``: ``{"kind", "message", "hint", "causes", ...}``. A secret's text
is never in it: findings carry the rule, the path, the line and column, and at most the
first four characters of the match followed by ``****``.
"""

import json
from typing import Any, Dict, List, Optional, Sequence

__all__ = [
    "ArtifactStoreError",
    "InvalidInputError",
    "SecretDetectedError",
    "ConflictError",
    "NotFoundError",
    "PushError",
    "CorruptStoreError",
    "ArtifactStoreWarning",
    "from_report",
]


class ArtifactStoreError(Exception):
    """A store operation failed.

    Attributes:
        kind: the CLI's error kind (``"git"``, ``"io"``, ``"not_found"``, ...).
        exit_code: the exit code the CLI ends with for this error (docs/design.md).
        message: what failed, as the CLI prints it.
        hint: the next step, when the store can name one, else ``None``.
        causes: the underlying reasons, outermost first.
        report: the whole JSON output of the CLI for this failure, as a dict
            (``{"success": False, "schema_version", "error": {...}}`` plus what the
            operation had already found, e.g. the rows a ``list`` could read).

    Example::

        try:
            store.show("corr_nope")
        except ArtifactStoreError as e:
            print(e.kind, e.exit_code, e)   # not_found 5 nothing named "corr_nope": ...
    """

    #: The kind used when an instance is made by hand.
    default_kind = "internal"
    #: The exit code used when an instance is made by hand.
    default_exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        kind: Optional[str] = None,
        exit_code: Optional[int] = None,
        hint: Optional[str] = None,
        causes: Sequence[str] = (),
        report: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind or self.default_kind
        self.exit_code = self.default_exit_code if exit_code is None else exit_code
        self.hint = hint
        self.causes: List[str] = list(causes)
        if report is None:
            report = {
                "success": False,
                "schema_version": 1,
                "error": {"kind": self.kind, "message": message, "hint": hint,
                          "causes": self.causes},
            }
        self.report: Dict[str, Any] = report
        # Shown under the message in tracebacks (Python 3.11+), as the CLI prints them.
        notes = [f"caused by: {c}" for c in self.causes]
        if hint:
            notes.append(f"hint: {hint}")
        if notes:
            self.__notes__ = notes

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, kind={self.kind!r})"


class InvalidInputError(ArtifactStoreError):
    """What the caller gave was refused before anything was written: an id, a path, a
    value, the configuration (kinds ``invalid_id``, ``invalid_path``, ``invalid_input``,
    ``config``, ``permission``; exit code 2).

    Example::

        try:
            store.commit_artifacts("wf", "task 1", files=["a.py"], correlation_id="c1")
        except InvalidInputError as e:
            print(e.kind)   # invalid_id
    """

    default_kind = "invalid_input"
    default_exit_code = 2


class SecretDetectedError(ArtifactStoreError):
    """The scanner found credentials; nothing was written (kind ``secret_detected``,
    exit code 3).

    ``findings`` lists each one as a dict with ``rule_id``, ``path``, ``line``,
    ``column`` and ``redacted`` (at most four characters and ``****``); the secret's text
    is in none of them, nor in ``str()``, ``repr()`` or a traceback.

    Example::

        try:
            store.commit_artifacts("wf", "t1", files=["leaky.py"], correlation_id="c2")
        except SecretDetectedError as e:
            for f in e.findings:
                print(f["path"], f["line"], f["rule_id"], f["redacted"])
    """

    default_kind = "secret_detected"
    default_exit_code = 3

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        error = self.report.get("error") or {}
        self.findings: List[Dict[str, Any]] = list(error.get("findings") or [])


class ConflictError(ArtifactStoreError):
    """The store holds other content, a ref moved, or a lock is held (kinds
    ``conflict``, ``locked``; exit code 4). A correlation id committed before with other
    files is one: pass ``force=True`` to move its tag.

    Example::

        try:
            store.commit_artifacts("wf", "t1", files=["other.py"], correlation_id="c1")
        except ConflictError as e:
            print(e.hint)
    """

    default_kind = "conflict"
    default_exit_code = 4


class NotFoundError(ArtifactStoreError):
    """A ref, tag, commit or path named does not exist, or there is no repository at the
    path given (kinds ``not_found``, ``no_repository``; exit code 5).

    Example::

        try:
            store.show("corr_unknown")
        except NotFoundError:
            pass
    """

    default_kind = "not_found"
    default_exit_code = 5


class PushError(ArtifactStoreError):
    """A push that was required failed (kind ``remote``, exit code 6). The commit itself
    has landed locally; ``push_pending()`` sends it later.

    Example::

        try:
            store.commit_artifacts("wf", "t1", files=["a.py"], correlation_id="c3",
                                   require_push=True)
        except PushError as e:
            print(e.message)
    """

    default_kind = "remote"
    default_exit_code = 6


class CorruptStoreError(ArtifactStoreError):
    """The store is damaged: an object missing or unreadable, a damaged ``packed-refs``
    (kind ``corrupt``, exit code 1). The message names the object or the file.

    Example::

        try:
            rows = store.list_artifacts()
        except CorruptStoreError as e:
            rows = e.report["sets"]   # the sets that could be read
    """

    default_kind = "corrupt"
    default_exit_code = 1


class ArtifactStoreWarning(UserWarning):
    """Something the caller should know that did not stop the operation (a push that
    failed after a commit landed, a scan that was turned off), as the CLI's
    ``warning:`` lines."""


_BY_EXIT_CODE = {
    2: InvalidInputError,
    3: SecretDetectedError,
    4: ConflictError,
    5: NotFoundError,
    6: PushError,
}


def from_report(body: str, exit_code: int) -> ArtifactStoreError:
    """Returns the exception for a failed operation's JSON output (the text the CLI prints
    with ``--json``) and its exit code."""
    report = json.loads(body)
    error = report.get("error") or {}
    kind = error.get("kind") or "internal"
    cls = _BY_EXIT_CODE.get(exit_code)
    if cls is None:
        cls = CorruptStoreError if kind == "corrupt" else ArtifactStoreError
    return cls(
        error.get("message") or kind,
        kind=kind,
        exit_code=exit_code,
        hint=error.get("hint"),
        causes=error.get("causes") or (),
        report=report,
    )
