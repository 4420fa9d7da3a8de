"""The CLI's other operations as methods: each returns exactly what the CLI prints with
--json for the same store, and what it changed is read back with the git CLI."""

import subprocess

import pytest

from artifact_store import ArtifactStore, ArtifactStoreConfig

from conftest import GIT_ENV, fsck, git, write


def make(store, tmp_path, corr, task="t1", workflow="wf", pnl=1.0, extra=None):
    files = [write(tmp_path / corr / "strategy.py", f"# {corr}\n"),
             write(tmp_path / corr / "trades.csv", f"ts,pnl\n1,{pnl}\n")]
    if extra:
        files.append(write(tmp_path / corr / extra, "extra\n"))
    return store.commit_artifacts(workflow, task, files,
                                  metadata={"test_metrics": {"net_pnl": pnl}},
                                  correlation_id=corr)


@pytest.fixture
def two(store, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_COMMITTER_DATE", "@1700000000 +0000")
    a = make(store, tmp_path, "a1", pnl=1.0)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "@1700000060 +0000")
    b = make(store, tmp_path, "b1", pnl=3.5, extra="notes.txt")
    return a, b


def test_show_equals_the_cli(store, cli, two):
    shown = store.show("corr_b1")
    assert shown["commit_sha"] == two[1]["commit_sha"]
    assert {f["path"] for f in shown["files"]} >= {"strategy.py", "trades.csv", "notes.txt"}
    for ref in ("corr_b1", "b1", "wf/t1", two[0]["commit_sha"][:12]):
        code, body = cli("show", ref)
        assert code == 0 and store.show(ref) == body


def test_log_equals_the_cli(store, cli, two):
    log = store.log("wf", "t1")
    assert [e["commit_sha"] for e in log["entries"]] == [two[1]["commit_sha"], two[0]["commit_sha"]]
    assert store.log("wf/t1", limit=1) == cli("log", "wf/t1", "--limit", "1")[1]
    assert log == cli("log", "wf/t1")[1]


def test_diff_equals_the_cli(store, cli, two):
    d = store.diff("corr_a1", "corr_b1")
    assert d == cli("diff", "corr_a1", "corr_b1")[1]
    assert "notes.txt" in str(d)


def test_export_writes_the_files(store, cli, two, tmp_path):
    out = tmp_path / "exported"
    report = store.export("corr_b1", out)
    assert report["success"] is True
    assert (out / "strategy.py").read_text() == "# b1\n"
    assert (out / "notes.txt").read_text() == "extra\n"
    code, body = cli("export", "corr_b1", "--to", str(tmp_path / "by-cli"))
    assert code == 0 and set(body) == set(report)


def test_verify_equals_the_cli(store, cli, two):
    assert store.verify() == cli("verify", "--all")[1]
    one = store.verify("corr_a1")
    assert one["success"] is True and one == cli("verify", "corr_a1")[1]


def test_stats_equals_the_cli(store, cli, two):
    assert store.stats() == cli("stats")[1]
    assert store.stats(top=1) == cli("stats", "--top", "1")[1]


def test_scan_reports_redacted_findings_and_writes_nothing(store, repo, cli, tmp_path):
    leak = write(tmp_path / "leak" / "config.py", "STRIPE = 'sk_live_1234567890abcdef'\n")
    write(tmp_path / "leak" / "clean.py", "x = 1\n")
    report = store.scan([tmp_path / "leak"])
    assert report["files_scanned"] == 2
    [finding] = report["findings"]
    assert finding["rule_id"] == "stripe-secret-key" and finding["line"] == 1
    assert "1234567890abcdef" not in str(report)
    assert report == cli("scan", str(tmp_path / "leak"))[1]
    assert git(repo, "for-each-ref") == ""


def test_gc_plans_then_applies_and_git_sees_the_branch_go(repo, cli, tmp_path, monkeypatch):
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo,
                                              settings={"retention.keep_last": "1"}))
    for i, task in enumerate(["old", "new"]):
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"@{1_700_000_000 + i * 60} +0000")
        make(store, tmp_path, f"g{i}", task=task)
    plan = store.gc()
    assert plan["success"] is True
    assert plan == cli("-c", "retention.keep_last=1", "gc")[1]
    assert git(repo, "branch", "--list", "ai/generated/wf/old") != ""
    done = store.gc(apply=True)
    assert done["applied"]["moved"] >= 1
    assert git(repo, "branch", "--list", "ai/generated/wf/old") == ""
    assert git(repo, "branch", "--list", "ai/generated/wf/new") != ""
    assert "refs/artifact-store/trash/" in git(repo, "for-each-ref", "refs/artifact-store/trash")
    fsck(repo)


def test_pin_and_unpin(store, repo, cli, two):
    pinned = store.pin("corr_a1", name="keep-a1")
    assert pinned["success"] is True
    assert git(repo, "rev-parse", "refs/artifact-store/pins/keep-a1") == two[0]["commit_sha"]
    unpinned = store.unpin("keep-a1")
    assert unpinned["success"] is True
    assert git(repo, "for-each-ref", "refs/artifact-store/pins") == ""
    code, body = cli("pin", "corr_a1", "--name", "keep-a1")
    assert code == 0 and set(body) == set(pinned)


def test_push_pending_sends_branches_and_tags(tmp_path):
    from artifact_store import init

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True, env=GIT_ENV)
    init(tmp_path / "store.git", bare=True)
    store = ArtifactStore(ArtifactStoreConfig(repo_path=tmp_path / "store.git",
                                              remote_name=str(remote)))
    done = make(store, tmp_path, "p1")
    assert done["pushed"] is False
    report = store.push_pending()
    assert report["success"] is True
    assert git(remote, "rev-parse", "refs/heads/ai/generated/wf/t1") == done["commit_sha"]
    assert git(remote, "rev-parse", "corr_p1^{commit}") == done["commit_sha"]
    again = store.push_pending()
    assert again["pushed"] == []
    fsck(remote)


def test_auto_push_pushes_every_commit(tmp_path):
    from artifact_store import init

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True, env=GIT_ENV)
    init(tmp_path / "store.git", bare=True)
    store = ArtifactStore(ArtifactStoreConfig(repo_path=tmp_path / "store.git",
                                              remote_name=str(remote), auto_push=True))
    done = make(store, tmp_path, "ap1")
    assert done["pushed"] is True
    assert git(remote, "rev-parse", "corr_ap1^{commit}") == done["commit_sha"]


def test_init_adopts_an_existing_repository(tmp_path):
    from artifact_store import init

    first = init(tmp_path / "s.git", bare=True)
    assert first["created"] is True and first["bare"] is True
    again = init(tmp_path / "s.git")
    assert again["created"] is False
    store = ArtifactStore.init(tmp_path / "s.git")
    assert store.git_dir.rstrip("/").endswith("s.git")
