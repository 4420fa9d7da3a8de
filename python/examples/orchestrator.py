"""The orchestrator of the design documents, on the Python package and a real Redis.

When the Tester Agent publishes ``TEST_PASSED`` on the test-results channel, the tested
artifacts are committed to the artifact store and ``ARTIFACT_COMMITTED`` is published on the
workflow-events channel with the branch, commit and tags; a commit that fails publishes
``ARTIFACT_COMMIT_FAILED`` with the error's kind and message (as ``artifact-store
subscribe`` does). The events are the JSON envelopes of ``docs/design.md``.

The documents' ``contracts`` package (``RedisMessageBus``, ``Event``, ``EventType``,
``Channels``) is not part of this project; a small stand-in over redis-py pub/sub is
defined here with the same calls.

Run it::

    python python/examples/orchestrator.py --redis redis://127.0.0.1:6379/0 \\
        --repo /srv/artifacts.git
"""

import argparse
import json
import logging
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import redis

from artifact_store import ArtifactStore, ArtifactStoreConfig, ArtifactStoreError

logger = logging.getLogger("orchestrator")


class EventType:
    TEST_PASSED = "TEST_PASSED"
    TEST_FAILED = "TEST_FAILED"
    ARTIFACT_COMMITTED = "ARTIFACT_COMMITTED"
    ARTIFACT_COMMIT_FAILED = "ARTIFACT_COMMIT_FAILED"


class Channels:
    TEST_RESULTS = "test_results"
    WORKFLOW_EVENTS = "workflow_events"


@dataclass
class Event:
    event_type: str
    correlation_id: str
    workflow_id: str
    task_id: str = ""
    source: str = ""
    data: Dict[str, Any] = field(default_factory=dict)
    event_id: str = ""
    timestamp: str = ""

    @classmethod
    def create(cls, **kwargs: Any) -> "Event":
        event = cls(**kwargs)
        event.event_id = event.event_id or uuid.uuid4().hex
        event.timestamp = event.timestamp or datetime.now(timezone.utc).isoformat()
        return event

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Event":
        raw = json.loads(text)
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        known["event_type"] = str(known.get("event_type", "")).upper()
        return cls(**known)


class RedisMessageBus:
    """Pub/sub on one Redis: ``subscribe(channel, handler)``, ``publish(channel,
    event)``, and ``run(stop)`` delivering messages to the handlers until ``stop`` is set."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0") -> None:
        self.redis = redis.Redis.from_url(url)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.handlers: Dict[str, Callable[[Event], None]] = {}

    def subscribe(self, channel: str, handler: Callable[[Event], None]) -> None:
        self.handlers[channel] = handler
        self.pubsub.subscribe(channel)

    def publish(self, channel: str, event: Event) -> None:
        self.redis.publish(channel, event.to_json())

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()
            try:
                event = Event.from_json(message["data"])
            except (ValueError, TypeError) as e:
                logger.warning("dropped a message that is not an event: %s", e)
                continue
            self.handlers[channel](event)

    def close(self) -> None:
        self.pubsub.close()
        self.redis.close()


class OrchestratorService:
    def __init__(self, bus: RedisMessageBus, artifact_store: Optional[ArtifactStore] = None,
                 codes_dir: Path = Path("Backtest/codes")) -> None:
        self.bus = bus
        self.artifact_store = artifact_store or ArtifactStore()
        self.codes_dir = codes_dir
        self.bus.subscribe(Channels.TEST_RESULTS, self.handle_test_result)

    def handle_test_result(self, event: Event) -> None:
        """Handle TEST_PASSED event from Tester Agent."""
        if event.event_type != EventType.TEST_PASSED:
            return

        # Extract event data
        correlation_id = event.correlation_id
        workflow_id = event.workflow_id
        task_id = event.task_id
        artifacts = event.data['artifacts']
        metrics = event.data['metrics']

        # Collect files to commit
        files = [
            Path(artifacts['test_report']),
            Path(artifacts['trades']),
            Path(artifacts['equity_curve']),
            Path(artifacts['events_log'])
        ]

        # Add strategy file
        strategy_file = self.codes_dir / f"{task_id}.py"
        if strategy_file.exists():
            files.append(strategy_file)

        # Commit to artifact store
        try:
            result = self.artifact_store.commit_artifacts(
                workflow_id=workflow_id,
                task_id=task_id,
                files=files,
                metadata={
                    "agent_version": "tester-v1.0",
                    "llm_version": "gpt-4",
                    "test_metrics": metrics
                },
                correlation_id=correlation_id
            )
        except ArtifactStoreError as e:
            # SecretDetectedError included: its message and findings are redacted.
            logger.error("Failed to commit artifacts: %s", e)
            self.bus.publish(
                Channels.WORKFLOW_EVENTS,
                Event.create(
                    event_type=EventType.ARTIFACT_COMMIT_FAILED,
                    correlation_id=correlation_id,
                    workflow_id=workflow_id,
                    task_id=task_id,
                    data={"error": {"kind": e.kind, "message": e.message}},
                    source="orchestrator",
                ),
            )
            return

        # Publish ARTIFACT_COMMITTED event
        self.bus.publish(
            Channels.WORKFLOW_EVENTS,
            Event.create(
                event_type=EventType.ARTIFACT_COMMITTED,
                correlation_id=correlation_id,
                workflow_id=workflow_id,
                task_id=task_id,
                data={
                    "branch": result['branch'],
                    "commit_sha": result['commit_sha'],
                    "tags": result['tags'],
                    "pushed": result['pushed'],
                    "duplicate": result['duplicate'],
                },
                source="orchestrator"
            )
        )
        logger.info("Artifacts committed: %s", result['branch'])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--repo", default=None, help="store repository (default: around cwd)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    store = ArtifactStore(ArtifactStoreConfig(repo_path=args.repo))
    bus = RedisMessageBus(args.redis)
    OrchestratorService(bus, store)
    stop = threading.Event()
    try:
        bus.run(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        bus.close()


if __name__ == "__main__":
    main()
