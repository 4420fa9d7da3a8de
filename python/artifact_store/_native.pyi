# Type stubs of the compiled half of the package. Use the package's ArtifactStore, not
# this module: it takes and returns the CLI's JSON as text.
import os
from typing import List, Optional, Sequence, Tuple, Union

__version__: str

_Path = Union[str, "os.PathLike[str]"]
_Output = Tuple[str, List[str]]

class Store:
    def __init__(
        self,
        repo: Optional[_Path] = None,
        config_file: Optional[_Path] = None,
        overrides: Sequence[Tuple[str, str]] = ...,
        secret_patterns: Sequence[str] = ...,
    ) -> None: ...
    @property
    def git_dir(self) -> str: ...
    def settings(self) -> str: ...
    def commit(
        self,
        workflow: str,
        task: str,
        files: Sequence[_Path],
        metadata: Optional[str] = None,
        correlation_id: Optional[str] = None,
        prompt_hash: Optional[str] = None,
        status: Optional[str] = None,
        force: bool = False,
        push: Optional[bool] = None,
        require_push: bool = False,
    ) -> _Output: ...
    def revert(
        self,
        tag: str,
        target: str = "main",
        path: Optional[str] = None,
        hard: bool = False,
        force: bool = False,
        dry_run: bool = False,
        create: bool = False,
    ) -> _Output: ...
    def list(
        self,
        workflow: Optional[str] = None,
        task: Optional[str] = None,
        status: Optional[str] = None,
        since: Optional[str] = None,
        wheres: Sequence[str] = ...,
        limit: int = 50,
        all_versions: bool = False,
    ) -> _Output: ...
    def find_correlation(self, correlation_id: str) -> Optional[str]: ...
    def show(self, reference: str) -> _Output: ...
    def log(self, workflow_task: str, limit: int = 50) -> _Output: ...
    def diff(self, a: str, b: str) -> _Output: ...
    def export(self, reference: str, to: _Path, force: bool = False) -> _Output: ...
    def verify(self, reference: Optional[str] = None) -> _Output: ...
    def stats(self, top: int = 10) -> _Output: ...
    def scan(self, paths: Sequence[_Path]) -> _Output: ...
    def gc(
        self, apply: bool = False, remote: Optional[str] = None, policy: Optional[_Path] = None
    ) -> _Output: ...
    def pin(self, reference: str, name: Optional[str] = None) -> _Output: ...
    def unpin(self, name: str) -> _Output: ...
    def push_pending(self) -> _Output: ...

def init(path: _Path, bare: bool = False) -> str: ...
