"""The documented API: commit_artifacts, revert_to_tag, list_artifacts,
get_artifact_by_correlation_id, on real repositories read back with the git CLI and
compared with the CLI's --json output."""

import json
from pathlib import Path

import pytest

from artifact_store import (
    ArtifactStore,
    ArtifactStoreConfig,
    ArtifactStoreWarning,
    ConflictError,
    InvalidInputError,
)

from conftest import fsck, git, write

SEED_KEYS = {"success", "branch", "commit_sha", "tags", "pushed", "duplicate"}
REVERT_KEYS = {"success", "commit_sha", "reverted_to", "branch"}


def seed_files(tmp_path, tag="v1"):
    return [
        write(tmp_path / tag / "strategy.py", f"# {tag}\ndef signal(p):\n    return p[-1] > p[0]\n"),
        write(tmp_path / tag / "trades.csv", f"ts,side,qty\n1,buy,{len(tag)}\n"),
    ]


def commit(store, tmp_path, corr, task="task_coder_001", workflow="wf_rsi_strategy", tag=None,
           **kw):
    return store.commit_artifacts(
        workflow_id=workflow, task_id=task, files=seed_files(tmp_path, tag or corr),
        metadata={"agent_version": "coder-v1.0", "llm_version": "gpt-4",
                  "test_metrics": {"total_trades": 12, "net_pnl": 120.5}},
        correlation_id=corr, **kw)


def test_commit_returns_the_documented_shape_and_git_agrees(store, repo, tmp_path):
    result = store.commit_artifacts(
        workflow_id="wf_rsi_strategy", task_id="task_coder_001",
        files=seed_files(tmp_path),
        metadata={"agent_version": "coder-v1.0", "llm_version": "gpt-4",
                  "test_metrics": {"total_trades": 12, "net_pnl": 120.5}},
        correlation_id="corr_abc123", prompt_hash="7a8b9c0d1e2f3a4b")
    assert SEED_KEYS <= set(result)
    assert result["success"] is True and result["schema_version"] == 1
    assert result["branch"] == "ai/generated/wf_rsi_strategy/task_coder_001"
    assert result["tags"] == ["corr_abc123", "prompt_7a8b9c0d1e2f3a4b"]
    assert result["pushed"] is False and result["duplicate"] is False
    sha = result["commit_sha"]
    assert git(repo, "rev-parse", "refs/heads/" + result["branch"]) == sha
    assert git(repo, "rev-parse", "corr_abc123^{commit}") == sha
    assert git(repo, "rev-parse", "prompt_7a8b9c0d1e2f3a4b^{commit}") == sha
    stored = json.loads(git(repo, "show",
                            f"{sha}:artifacts/wf_rsi_strategy/task_coder_001/metadata.json"))
    assert stored["test_metrics"] == {"total_trades": 12, "net_pnl": 120.5}
    assert stored["agent_version"] == "coder-v1.0"
    assert git(repo, "show", f"{sha}:artifacts/wf_rsi_strategy/task_coder_001/strategy.py") \
        == (tmp_path / "v1" / "strategy.py").read_text().strip()
    fsck(repo)


def test_commit_dict_has_the_keys_of_the_cli_json(store, cli, tmp_path):
    ours = commit(store, tmp_path, "k1")
    files = [str(p) for p in seed_files(tmp_path, "k2")]
    code, theirs = cli("commit", "-w", "wf_rsi_strategy", "-t", "task_coder_001",
                       "--correlation-id", "k2", *files)
    assert code == 0
    assert list(ours) == list(theirs)


def test_correlation_id_with_or_without_prefix_names_one_tag(store, repo, tmp_path):
    first = commit(store, tmp_path, "abc123")
    assert first["tags"] == ["corr_abc123"]
    again = store.commit_artifacts(
        workflow_id="wf_rsi_strategy", task_id="task_coder_001",
        files=seed_files(tmp_path, "abc123"),
        metadata={"agent_version": "coder-v1.0", "llm_version": "gpt-4",
                  "test_metrics": {"total_trades": 12, "net_pnl": 120.5}},
        correlation_id="corr_abc123")
    assert again["duplicate"] is True and again["commit_sha"] == first["commit_sha"]
    assert git(repo, "tag", "-l") == "corr_abc123"
    for name in ("abc123", "corr_abc123"):
        assert store.get_artifact_by_correlation_id(name)["commit_sha"] == first["commit_sha"]


def test_the_same_id_with_other_files_is_a_conflict_unless_forced(store, repo, tmp_path):
    first = commit(store, tmp_path, "c1")
    with pytest.raises(ConflictError) as e:
        commit(store, tmp_path, "c1", tag="other")
    assert e.value.kind == "conflict" and e.value.exit_code == 4
    assert git(repo, "rev-parse", "corr_c1^{commit}") == first["commit_sha"]
    forced = commit(store, tmp_path, "c1", tag="other", force=True)
    assert forced["commit_sha"] != first["commit_sha"]
    assert git(repo, "rev-parse", "corr_c1^{commit}") == forced["commit_sha"]


def test_revert_to_tag_restores_the_tagged_files_with_a_new_commit(store, repo, tmp_path):
    v1 = commit(store, tmp_path, "v1")
    v2 = commit(store, tmp_path, "v2")
    branch = v1["branch"]
    result = store.revert_to_tag(tag="corr_v1", target_branch=branch)
    assert REVERT_KEYS <= set(result)
    assert result["success"] is True and result["reverted_to"] == "corr_v1"
    assert result["branch"] == branch
    tip = git(repo, "rev-parse", "refs/heads/" + branch)
    assert result["commit_sha"] == tip
    assert git(repo, "rev-parse", tip + "^") == v2["commit_sha"]
    # The files are the tagged ones again; metadata.json also records the revert.
    assert git(repo, "diff", "--name-only", "corr_v1", tip) == \
        "artifacts/wf_rsi_strategy/task_coder_001/metadata.json"
    d = "artifacts/wf_rsi_strategy/task_coder_001"
    assert git(repo, "show", f"{tip}:{d}/strategy.py") == git(repo, "show", f"corr_v1:{d}/strategy.py")
    assert json.loads(git(repo, "show", f"{tip}:{d}/metadata.json"))["reverted_to"] == "corr_v1"
    fsck(repo)


def test_revert_to_tag_onto_main_and_by_bare_id(store, repo, tmp_path):
    v1 = commit(store, tmp_path, "m1")
    created = store.revert_to_tag(tag="m1", target_branch="main", create=True)
    assert created["branch"] == "main" and created["reverted_to"] == "corr_m1"
    assert git(repo, "rev-parse", "refs/heads/main") == v1["commit_sha"]
    commit(store, tmp_path, "m2")
    dry = store.revert_to_tag(tag="corr_m1", target_branch="main", dry_run=True)
    assert dry["success"] is True
    assert git(repo, "rev-parse", "refs/heads/main") == v1["commit_sha"]


def test_list_artifacts_is_newest_first_filtered_and_equals_the_cli_sets(store, cli, tmp_path,
                                                                         monkeypatch):
    for i, (wf, task) in enumerate([("wf_a", "t1"), ("wf_b", "t1"), ("wf_a", "t2")]):
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"@{1_700_000_000 + i * 60} +0000")
        commit(store, tmp_path, f"l{i}", workflow=wf, task=task)
    rows = store.list_artifacts()
    assert [r["correlation_id"] for r in rows] == ["corr_l2", "corr_l1", "corr_l0"]
    for row in rows:
        assert {"workflow_id", "task_id", "correlation_id", "commit_time", "tags", "files",
                "metadata", "branch", "commit_sha"} <= set(row)
        assert "test_metrics" in row["metadata"]
    assert [r["task_id"] for r in store.list_artifacts(workflow_id="wf_a")] == ["t2", "t1"]
    assert len(store.list_artifacts(limit=1)) == 1
    assert store.list_artifacts(where="test_metrics.net_pnl>100")[0]["correlation_id"] == "corr_l2"
    assert store.list_artifacts(where="test_metrics.net_pnl>1000") == []
    with pytest.warns(ArtifactStoreWarning, match="test_metric"):
        assert store.list_artifacts(where="test_metric.net_pnl>100") == []
    code, body = cli("list")
    assert code == 0 and body["sets"] == rows
    code, body = cli("list", "--workflow", "wf_a", "--limit", "1")
    assert body["sets"] == store.list_artifacts(workflow_id="wf_a", limit=1)


def test_get_artifact_by_correlation_id_is_a_list_row_or_none(store, tmp_path):
    done = commit(store, tmp_path, "g1", prompt_hash="feedbeef")
    artifact = store.get_artifact_by_correlation_id("corr_g1")
    assert artifact == store.list_artifacts()[0]
    assert artifact["task_id"] == "task_coder_001"
    assert artifact["commit_sha"] == done["commit_sha"]
    assert artifact["metadata"]["test_metrics"]["net_pnl"] == 120.5
    assert any(f["path"] == "strategy.py" for f in artifact["files"])
    assert artifact["tags"] == ["corr_g1", "prompt_feedbeef"]
    assert store.get_artifact_by_correlation_id("corr_unknown") is None
    with pytest.raises(InvalidInputError):
        store.get_artifact_by_correlation_id("no spaces allowed")


def test_metadata_that_is_not_json_is_refused_before_anything_is_written(store, repo, tmp_path):
    with pytest.raises(InvalidInputError) as e:
        store.commit_artifacts("wf", "t", seed_files(tmp_path), metadata={"when": object()},
                               correlation_id="x1")
    assert e.value.exit_code == 2
    with pytest.raises(InvalidInputError):
        store.commit_artifacts("wf", "t", seed_files(tmp_path), metadata={"pnl": float("nan")},
                               correlation_id="x1")
    assert git(repo, "for-each-ref") == ""


def test_default_store_is_the_repository_around_the_current_directory(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    monkeypatch.chdir(work)
    write(work / "out" / "a.txt", "a\n")
    result = ArtifactStore().commit_artifacts("wf", "t", [Path("out")], correlation_id="d1")
    assert git(work, "rev-parse", "corr_d1^{commit}") == result["commit_sha"]
    # The worktree and index are untouched.
    assert git(work, "status", "--porcelain") == "?? out/"


def test_repo_from_the_environment(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTIFACT_STORE_REPO", str(repo))
    result = ArtifactStore().commit_artifacts("wf", "t", seed_files(tmp_path), correlation_id="e1")
    assert git(repo, "rev-parse", "corr_e1^{commit}") == result["commit_sha"]


def test_directories_keep_their_name(store, repo, tmp_path):
    write(tmp_path / "reports" / "summary.json", "{}\n")
    result = store.commit_artifacts("wf", "t", [tmp_path / "reports", str(seed_files(tmp_path)[0])],
                                    correlation_id="dir1")
    listing = git(repo, "ls-tree", "-r", "--name-only", result["commit_sha"]).splitlines()
    assert "artifacts/wf/t/reports/summary.json" in listing
    assert "artifacts/wf/t/strategy.py" in listing
