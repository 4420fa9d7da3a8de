"""The design documents' orchestrator (python/examples/orchestrator.py) on a real
redis-server: TEST_PASSED in, a commit checked with git, ARTIFACT_COMMITTED out."""

import json
import threading
import time

import pytest

from conftest import git, write

redis = pytest.importorskip("redis")


def wait_for(pubsub, deadline_s=30):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        message = pubsub.get_message(timeout=0.5)
        if message and message["type"] == "message":
            return json.loads(message["data"])
    raise AssertionError("no event on the workflow-events channel")


def test_test_passed_is_committed_and_announced(examples_dir, redis_url, store, repo, tmp_path):
    import orchestrator as orch

    out = tmp_path / "artifacts"
    paths = {name: write(out / file, f"{name}\n") for name, file in [
        ("test_report", "test_report.json"), ("trades", "trades.csv"),
        ("equity_curve", "equity_curve.csv"), ("events_log", "events.log")]}
    write(tmp_path / "Backtest" / "codes" / "task_coder_001.py", "def signal(p):\n    return 1\n")

    bus = orch.RedisMessageBus(redis_url)
    orch.OrchestratorService(bus, store, codes_dir=tmp_path / "Backtest" / "codes")
    stop = threading.Event()
    runner = threading.Thread(target=bus.run, args=(stop,))
    runner.start()
    client = redis.Redis.from_url(redis_url)
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(orch.Channels.WORKFLOW_EVENTS)
    try:
        while client.pubsub_numsub(orch.Channels.TEST_RESULTS)[0][1] < 1:
            time.sleep(0.02)

        def publish(event_type, corr, artifacts):
            client.publish(orch.Channels.TEST_RESULTS, json.dumps({
                "event_id": "e-" + corr, "event_type": event_type, "correlation_id": corr,
                "workflow_id": "wf_rsi_strategy", "task_id": "task_coder_001",
                "source": "tester", "timestamp": "2025-11-07T14:30:00Z",
                "data": {"artifacts": {k: str(v) for k, v in artifacts.items()},
                         "metrics": {"total_trades": 12, "net_pnl": 120.5}}}))

        publish("TEST_FAILED", "corr_ignored", paths)
        publish("TEST_PASSED", "corr_abc123", paths)
        event = wait_for(listener)
        assert event["event_type"] == "ARTIFACT_COMMITTED"
        assert event["correlation_id"] == "corr_abc123" and event["source"] == "orchestrator"
        data = event["data"]
        assert data["branch"] == "ai/generated/wf_rsi_strategy/task_coder_001"
        assert git(repo, "rev-parse", "refs/heads/" + data["branch"]) == data["commit_sha"]
        assert data["tags"] == ["corr_abc123"] and data["pushed"] is False
        names = git(repo, "ls-tree", "-r", "--name-only", data["commit_sha"]).splitlines()
        assert "artifacts/wf_rsi_strategy/task_coder_001/task_coder_001.py" in names
        assert "artifacts/wf_rsi_strategy/task_coder_001/trades.csv" in names
        assert git(repo, "tag", "-l", "corr_ignored") == ""
        stored = store.get_artifact_by_correlation_id("abc123")["metadata"]
        assert stored["test_metrics"] == {"total_trades": 12, "net_pnl": 120.5}
        assert stored["agent_version"] == "tester-v1.0"

        leaky = dict(paths, trades=write(out / "leak.csv", "key,sk_live_1234567890abcdef\n"))
        publish("TEST_PASSED", "corr_leak", leaky)
        failed = wait_for(listener)
        assert failed["event_type"] == "ARTIFACT_COMMIT_FAILED"
        assert failed["data"]["error"]["kind"] == "secret_detected"
        assert "1234567890abcdef" not in json.dumps(failed)
        assert git(repo, "tag", "-l", "corr_leak") == ""
    finally:
        stop.set()
        runner.join()
        listener.close()
        client.close()
        bus.close()
