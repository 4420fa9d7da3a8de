"""ArtifactStoreConfig's documented fields, each mapped onto the store's configuration and
seen in what the store writes."""

import pytest

from artifact_store import (
    ArtifactStore,
    ArtifactStoreConfig,
    ArtifactStoreWarning,
    InvalidInputError,
    SecretDetectedError,
)

from conftest import git, write


def files(tmp_path, text="x = 1\n"):
    return [write(tmp_path / "set" / "strategy.py", text)]


def test_branch_prefix_and_author(repo, tmp_path):
    store = ArtifactStore(ArtifactStoreConfig(
        repo_path=repo, branch_prefix="bots/gen", commit_author_name="algo-agent-bot",
        commit_author_email="algo-agent@example.com"))
    result = store.commit_artifacts("wf", "t", files(tmp_path), correlation_id="b1")
    assert result["branch"] == "bots/gen/wf/t"
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn", "refs/heads/bots/gen/wf/t") \
        == "algo-agent-bot <algo-agent@example.com>|algo-agent-bot"
    assert store.settings()["branch_prefix"] == "bots/gen"


def test_fields_left_unset_come_from_the_store_config_file(repo, tmp_path):
    (repo / "artifact-store.toml").write_text(
        'branch_prefix = "from/file"\nartifact_dir = "Backtest/codes/{task_id}"\n')
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo))
    result = store.commit_artifacts("wf", "task_001", files(tmp_path), correlation_id="f1")
    assert result["branch"] == "from/file/wf/task_001"
    names = git(repo, "ls-tree", "-r", "--name-only", result["commit_sha"]).splitlines()
    assert "Backtest/codes/task_001/strategy.py" in names
    over = ArtifactStore(ArtifactStoreConfig(repo_path=repo, branch_prefix="over"))
    assert over.settings()["branch_prefix"] == "over"


def test_scan_for_secrets_off_commits_with_a_warning(repo, tmp_path):
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, scan_for_secrets=False))
    with pytest.warns(ArtifactStoreWarning):
        result = store.commit_artifacts("wf", "t", files(tmp_path, "k = 'sk_live_1234567890abcdef'\n"),
                                        correlation_id="n1")
    assert result["success"] is True


def test_secret_patterns_are_added_to_the_built_in_rules(repo, tmp_path):
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo,
                                              secret_patterns=[r"ACME-[0-9]{8}"]))
    with pytest.raises(SecretDetectedError) as caught:
        store.commit_artifacts("wf", "t", files(tmp_path, "token = ACME-12345678\n"),
                               correlation_id="sp1")
    assert [f["rule_id"] for f in caught.value.findings] == ["secret-pattern-1"]
    with pytest.raises(SecretDetectedError):
        store.commit_artifacts("wf", "t", files(tmp_path, "k = 'sk_live_1234567890abcdef'\n"),
                               correlation_id="sp2")
    assert git(repo, "for-each-ref") == ""


def test_require_test_passed(repo, tmp_path):
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, require_test_passed=True))
    with pytest.raises(InvalidInputError):
        store.commit_artifacts("wf", "t", files(tmp_path), correlation_id="r1",
                               test_status="failed")
    ok = store.commit_artifacts("wf", "t", files(tmp_path), correlation_id="r2")
    assert ok["success"] is True
    relaxed = ArtifactStore(ArtifactStoreConfig(repo_path=repo, require_test_passed=False))
    failed = relaxed.commit_artifacts("wf", "t2", files(tmp_path), correlation_id="r3",
                                      test_status="failed")
    assert relaxed.show(failed["commit_sha"])["metadata"]["test_status"] == "failed"


def test_require_correlation_id_off_makes_one(repo, tmp_path):
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, require_correlation_id=False))
    result = store.commit_artifacts("wf", "t", files(tmp_path))
    [tag] = result["tags"]
    assert tag.startswith("corr_auto-")
    assert git(repo, "rev-parse", tag + "^{commit}") == result["commit_sha"]


def test_settings_reach_any_store_key(repo, tmp_path):
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, settings={"durability": "none"},
                                              push_timeout=7, remote_name="elsewhere",
                                              auto_push=False))
    s = store.settings()
    assert (s["durability"], s["push_timeout"], s["remote_name"], s["auto_push"]) == \
        ("none", 7, "elsewhere", False)
    with pytest.raises(InvalidInputError):
        ArtifactStore(ArtifactStoreConfig(repo_path=repo, settings={"no_such_key": "1"}))


def test_environment_is_read_and_fields_win_over_it(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_REMOTE_NAME", "from-env")
    assert ArtifactStore(ArtifactStoreConfig(repo_path=repo)).settings()["remote_name"] == "from-env"
    assert ArtifactStore(ArtifactStoreConfig(repo_path=repo, remote_name="field")) \
        .settings()["remote_name"] == "field"
