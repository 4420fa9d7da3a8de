"""Every error class: the kind and exit code the CLI gives for the same failure, and a
secret's text in no message, repr or traceback."""

import os
import traceback
from pathlib import Path

import pytest

from artifact_store import (
    ArtifactStore,
    ArtifactStoreConfig,
    ArtifactStoreError,
    ConflictError,
    CorruptStoreError,
    InvalidInputError,
    NotFoundError,
    PushError,
    SecretDetectedError,
)

from conftest import git, write

SECRET = "sk_live_1234567890abcdef"


def files(tmp_path, name="set", text="x = 1\n"):
    return [write(tmp_path / name / "strategy.py", text)]


def test_every_class_is_an_artifact_store_error():
    for cls in (InvalidInputError, SecretDetectedError, ConflictError, NotFoundError,
                PushError, CorruptStoreError):
        assert issubclass(cls, ArtifactStoreError)
        assert issubclass(cls, Exception)


def test_secret_detected_carries_redacted_findings_only(store, repo, cli, tmp_path):
    leak = files(tmp_path, "leak", f"API_KEY = '{SECRET}'\nok = 1\n")
    with pytest.raises(SecretDetectedError) as caught:
        store.commit_artifacts("wf", "t", leak, metadata={"note": "x"}, correlation_id="s1")
    e = caught.value
    assert (e.kind, e.exit_code) == ("secret_detected", 3)
    [finding] = e.findings
    assert finding["path"].endswith("strategy.py")
    assert finding["line"] == 1 and finding["rule_id"] == "stripe-secret-key"
    assert finding["redacted"].endswith("****")
    shown = [str(e), repr(e), "".join(traceback.format_exception(type(e), e, e.__traceback__)),
             str(e.report), str(e.findings), str(e.args)]
    for text in shown:
        assert SECRET not in text and "1234567890abcdef" not in text
    assert git(repo, "for-each-ref") == ""
    code, body = cli("commit", "-w", "wf", "-t", "t", "--correlation-id", "s1", str(leak[0]))
    assert code == e.exit_code and body["error"]["kind"] == e.kind
    assert body["error"]["findings"] == e.findings


def test_a_secret_in_the_metadata_is_found_too(store, tmp_path):
    with pytest.raises(SecretDetectedError) as caught:
        store.commit_artifacts("wf", "t", files(tmp_path), metadata={"stripe": SECRET},
                               correlation_id="s2")
    assert SECRET not in repr(caught.value.findings)


def test_invalid_id_matches_the_cli(store, cli, tmp_path):
    with pytest.raises(InvalidInputError) as caught:
        store.commit_artifacts("wf", "task 1", files(tmp_path), correlation_id="i1")
    e = caught.value
    code, body = cli("commit", "-w", "wf", "-t", "task 1", "--correlation-id", "i1",
                     str(files(tmp_path)[0]))
    assert (e.exit_code, e.kind) == (code, body["error"]["kind"]) == (2, "invalid_id")
    assert e.report == body


def test_missing_correlation_id_is_invalid_input_when_required(store, repo, tmp_path):
    with pytest.raises(InvalidInputError) as caught:
        store.commit_artifacts("wf_test", "task_001", files(tmp_path), metadata={},
                               correlation_id=None)
    assert caught.value.exit_code == 2
    assert git(repo, "for-each-ref") == ""


def test_missing_file_is_invalid_input(store, tmp_path):
    with pytest.raises(InvalidInputError) as caught:
        store.commit_artifacts("wf", "t", [tmp_path / "nope.py"], correlation_id="m1")
    assert caught.value.kind == "invalid_path"


def test_conflict(store, cli, tmp_path):
    store.commit_artifacts("wf", "t", files(tmp_path, "a"), correlation_id="c1")
    with pytest.raises(ConflictError) as caught:
        store.commit_artifacts("wf", "t", files(tmp_path, "b", "y = 2\n"), correlation_id="c1")
    e = caught.value
    code, body = cli("commit", "-w", "wf", "-t", "t", "--correlation-id", "c1",
                     str(files(tmp_path, "b", "y = 2\n")[0]))
    assert (e.exit_code, e.kind) == (code, body["error"]["kind"]) == (4, "conflict")
    assert e.hint


def test_hard_revert_without_force_is_refused_as_on_the_cli_in_its_own_words(store, repo,
                                                                           cli, tmp_path):
    store.commit_artifacts("wf", "t", files(tmp_path, "a"), correlation_id="h1")
    store.commit_artifacts("wf", "t", files(tmp_path, "b", "y = 2\n"), correlation_id="h2")
    branch = "ai/generated/wf/t"
    tip = git(repo, "rev-parse", branch)
    with pytest.raises(InvalidInputError) as caught:
        store.revert_to_tag("h1", target_branch=branch, hard=True, dry_run=True)
    e = caught.value
    code, body = cli("revert-to-tag", "h1", "--target", branch, "--hard", "--dry-run")
    assert (e.exit_code, e.kind, e.message) == (code, body["error"]["kind"],
                                                body["error"]["message"])
    assert (e.exit_code, e.kind) == (2, "invalid_input")
    assert "force=True" in e.hint and "--force" in body["error"]["hint"]
    assert git(repo, "rev-parse", branch) == tip


def test_not_found_matches_the_cli(store, cli):
    with pytest.raises(NotFoundError) as caught:
        store.show("corr_nope")
    e = caught.value
    code, body = cli("show", "corr_nope")
    assert (e.exit_code, e.kind, e.message) == (code, body["error"]["kind"],
                                                body["error"]["message"])
    assert e.report == body


def test_no_repository_is_not_found(tmp_path, cli):
    missing = tmp_path / "missing.git"
    with pytest.raises(NotFoundError) as caught:
        ArtifactStore(ArtifactStoreConfig(repo_path=missing))
    e = caught.value
    assert e.kind == "no_repository" and e.exit_code == 5
    assert "artifact-store init" in (e.hint or "")
    code, body = cli("list", repo_path=missing)
    assert (code, body["error"]["kind"]) == (e.exit_code, e.kind)


def test_required_push_failure_is_a_push_error_after_the_commit_landed(repo, tmp_path):
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, remote_name=str(tmp_path / "gone.git"),
                                              push_timeout=5))
    with pytest.raises(PushError) as caught:
        store.commit_artifacts("wf", "t", files(tmp_path), correlation_id="p1", require_push=True)
    e = caught.value
    assert (e.kind, e.exit_code) == ("remote", 6)
    assert git(repo, "rev-parse", "corr_p1^{commit}")


def test_a_failed_push_without_require_push_is_a_warning(repo, tmp_path):
    from artifact_store import ArtifactStoreWarning

    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, remote_name=str(tmp_path / "gone.git"),
                                              auto_push=True))
    with pytest.warns(ArtifactStoreWarning):
        result = store.commit_artifacts("wf", "t", files(tmp_path), correlation_id="p2")
    assert result["success"] is True and result["pushed"] is False


def test_an_unreadable_set_is_a_corrupt_store_error_with_the_readable_rows(store, repo, cli,
                                                                           tmp_path):
    store.commit_artifacts("wf", "good", files(tmp_path, "g"), correlation_id="ok1")
    packs = set((repo / "objects" / "pack").glob("*.pack"))
    bad = store.commit_artifacts("wf", "bad", files(tmp_path, "b", "y = 2\n"), correlation_id="bad1")
    new_packs = set((repo / "objects" / "pack").glob("*.pack")) - packs
    assert new_packs, "the commit wrote a pack"
    for pack in new_packs:
        for suffix in (".pack", ".idx", ".rev"):
            p = pack.with_suffix(suffix)
            if p.exists():
                os.remove(p)
    loose = repo / "objects" / bad["commit_sha"][:2] / bad["commit_sha"][2:]
    if loose.exists():
        os.remove(loose)
    fresh = ArtifactStore(ArtifactStoreConfig(repo_path=repo))
    with pytest.raises(CorruptStoreError) as caught:
        fresh.list_artifacts()
    e = caught.value
    assert (e.kind, e.exit_code) == ("corrupt", 1)
    assert [r["correlation_id"] for r in e.report["sets"]] == ["corr_ok1"]
    code, body = cli("list")
    assert code == e.exit_code and body == e.report


def test_config_fields_the_store_cannot_honour_raise():
    for kwargs in ({"include_metadata": False}, {"metadata_filename": "meta.json"},
                   {"max_rollback_depth": 3}):
        with pytest.raises(InvalidInputError) as caught:
            ArtifactStoreConfig(**kwargs)
        assert caught.value.kind == "config" and caught.value.exit_code == 2
    # The seed's defaults, given explicitly, are accepted.
    ArtifactStoreConfig(include_metadata=True, metadata_filename="metadata.json",
                        max_rollback_depth=10)


def test_a_bad_config_value_is_invalid_input(repo):
    with pytest.raises(InvalidInputError) as caught:
        ArtifactStore(ArtifactStoreConfig(repo_path=repo, branch_prefix="bad prefix"))
    assert caught.value.exit_code == 2
    with pytest.raises(InvalidInputError) as caught:
        ArtifactStore(ArtifactStoreConfig(repo_path=repo, secret_patterns=["(unclosed"]))
    assert caught.value.kind == "config"


def test_errors_made_by_hand_have_their_class_defaults():
    e = NotFoundError("gone")
    assert (e.kind, e.exit_code, str(e)) == ("not_found", 5, "gone")
    assert e.report["error"]["message"] == "gone"
