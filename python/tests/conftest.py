"""Fixtures: real store repositories checked with the `git` CLI, the `artifact-store`
binary to compare the package's dicts with the CLI's `--json` output, and a real
`redis-server` for the orchestrator example."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import artifact_store
from artifact_store import ArtifactStore, ArtifactStoreConfig

ROOT = Path(__file__).resolve().parents[2]

# git and the store read no user or system config, and sign as a fixed identity.
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Every test runs in its own directory with git's identity fixed and no store
    settings inherited from the environment."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith("ARTIFACT_STORE_") or key in ("GIT_REMOTE_NAME", "GIT_PUSH_TIMEOUT",
                                                         "GIT_COMMITTER_DATE", "GIT_AUTHOR_DATE"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def git(repo, *args, check=True):
    """Runs git on `repo` and returns its stdout, stripped."""
    run = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                         env={**os.environ, **GIT_ENV})
    if check and run.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {run.stderr}")
    return run.stdout.strip()


def fsck(repo):
    """Asserts `git fsck --strict` is clean (dangling objects are allowed)."""
    run = subprocess.run(["git", "-C", str(repo), "fsck", "--strict", "--no-progress"],
                         capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    assert run.returncode == 0, run.stdout + run.stderr
    for line in (run.stdout + run.stderr).splitlines():
        assert line.startswith("dangling") or "unborn" in line, line


@pytest.fixture
def repo(tmp_path):
    """A fresh bare store repository."""
    path = tmp_path / "store.git"
    assert artifact_store.init(path, bare=True)["created"] is True
    return path


@pytest.fixture
def store(repo):
    return ArtifactStore(ArtifactStoreConfig(repo_path=repo))


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _cli_binary():
    named = os.environ.get("ARTIFACT_STORE_BIN")
    if named:
        return named
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    for profile in ("debug", "release"):
        candidate = target / profile / "artifact-store"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("artifact-store")
    if found:
        return found
    raise AssertionError(
        "no artifact-store binary to compare with: run `cargo build` first "
        "(python/run-tests.sh does) or set ARTIFACT_STORE_BIN")


@pytest.fixture(scope="session")
def cli_bin():
    return _cli_binary()


@pytest.fixture
def cli(cli_bin, repo):
    """Runs `artifact-store --repo <repo> --json ARGS` and returns (exit code, JSON)."""

    def run(*args, repo_path=repo):
        done = subprocess.run([cli_bin, "--repo", str(repo_path), "--json", *args],
                              capture_output=True, text=True, env=os.environ.copy())
        body = json.loads(done.stdout) if done.stdout.strip() else None
        return done.returncode, body

    return run


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A fresh `redis-server` on a loopback port, stopped after the test."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no redis-server on PATH, and CI=true requires the Redis tests")
        pytest.skip("no redis-server on PATH")
    port = _free_port()
    data = tmp_path / "redis"
    data.mkdir()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def examples_dir():
    path = ROOT / "python" / "examples"
    sys.path.insert(0, str(path))
    return path
