"""The package as installed: its public names, help() with an example for each, the
type information (py.typed, the native module's stubs), no CLI process anywhere."""

import inspect
import pydoc
from pathlib import Path

import artifact_store
from artifact_store import ArtifactStore, ArtifactStoreConfig

PUBLIC_METHODS = ["commit_artifacts", "revert_to_tag", "list_artifacts",
                  "get_artifact_by_correlation_id", "show", "log", "diff", "export", "verify",
                  "stats", "scan", "gc", "pin", "unpin", "push_pending", "init", "settings"]


def test_the_documented_names_import():
    from artifact_store import (  # noqa: F401
        ArtifactStore, ArtifactStoreConfig, ArtifactStoreError, ConflictError,
        CorruptStoreError, InvalidInputError, NotFoundError, PushError, SecretDetectedError)
    assert set(artifact_store.__all__) >= {"ArtifactStore", "ArtifactStoreConfig",
                                           "SecretDetectedError", "ArtifactStoreError"}


def test_help_shows_an_example_for_every_method_and_class():
    for name in PUBLIC_METHODS:
        doc = inspect.getdoc(getattr(ArtifactStore, name))
        assert doc and "Example" in doc, name
    for obj in [ArtifactStore, ArtifactStoreConfig, artifact_store.init] + [
            getattr(artifact_store, n) for n in artifact_store.__all__ if n.endswith("Error")]:
        assert "Example" in (inspect.getdoc(obj) or ""), obj
    text = pydoc.render_doc(ArtifactStore, renderer=pydoc.plaintext)
    assert "commit_artifacts(self, workflow_id" in text
    assert "asyncio.to_thread" in (inspect.getdoc(artifact_store) or "") + text


def test_config_takes_the_documented_fields_as_keywords():
    fields = ["repo_path", "remote_name", "branch_prefix", "commit_author_name",
              "commit_author_email", "scan_for_secrets", "secret_patterns", "include_metadata",
              "metadata_filename", "auto_push", "push_timeout", "max_rollback_depth",
              "require_test_passed", "require_correlation_id"]
    params = inspect.signature(ArtifactStoreConfig).parameters
    assert all(f in params for f in fields)


def test_types_ship_with_the_package():
    where = Path(artifact_store.__file__).parent
    assert (where / "py.typed").exists()
    assert (where / "_native.pyi").exists()
    native = artifact_store._native.__file__
    assert native.endswith((".so", ".pyd")) and "abi3" in Path(native).name


def test_no_subprocess_is_used(store, tmp_path, monkeypatch):
    import subprocess

    def refuse(*a, **k):
        raise AssertionError("the package started a process")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    f = tmp_path / "a.py"
    f.write_text("x = 1\n")
    store.commit_artifacts("wf", "t", [f], correlation_id="np1")
    assert store.list_artifacts()[0]["correlation_id"] == "corr_np1"
