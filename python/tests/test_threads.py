"""One ArtifactStore shared by threads and by asyncio: every commit lands, and a call
releases the GIL while it works."""

import asyncio
import threading
import time

from artifact_store import ArtifactStore, ArtifactStoreConfig

from conftest import fsck, git, write

BRANCH = "refs/heads/ai/generated/wf_threads/task_shared"


def test_four_threads_committing_to_one_branch_all_land(store, repo, tmp_path):
    per_thread, threads = 5, 4
    errors, results = [], []
    start = threading.Barrier(threads)

    def worker(n):
        try:
            start.wait()
            for i in range(per_thread):
                f = write(tmp_path / f"w{n}-{i}" / "strategy.py", f"# thread {n} commit {i}\n")
                results.append(store.commit_artifacts(
                    "wf_threads", "task_shared", [f], metadata={"thread": n, "i": i},
                    correlation_id=f"thr{n}x{i}"))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    assert len(results) == per_thread * threads
    assert int(git(repo, "rev-list", "--count", BRANCH)) == per_thread * threads
    history = set(git(repo, "rev-list", BRANCH).splitlines())
    assert {r["commit_sha"] for r in results} == history
    tags = git(repo, "tag", "-l", "corr_thr*").splitlines()
    assert len(tags) == per_thread * threads
    fsck(repo)


def test_a_call_releases_the_gil_while_it_works(repo, tmp_path):
    """A commit waits on a ref lock that only the main thread can remove. Were the GIL
    held during the call, the main thread could not run to remove it, and the commit
    would fail once the lock timeout ran out."""
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, settings={"lock_timeout": "5"}))
    f = write(tmp_path / "a" / "strategy.py", "x = 1\n")
    lock = repo / "refs" / "heads" / "ai" / "generated" / "wf" / "t.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    outcome = {}

    def commit():
        try:
            outcome["result"] = store.commit_artifacts("wf", "t", [f], correlation_id="gil1")
        except Exception as e:  # noqa: BLE001 - asserted below
            outcome["error"] = e

    t = threading.Thread(target=commit)
    began = time.monotonic()
    t.start()
    time.sleep(0.5)
    resumed = time.monotonic() - began
    lock.unlink()
    t.join()
    assert "error" not in outcome, (
        f"{outcome.get('error')!r}; the main thread ran again after {resumed:.1f} s")
    assert git(repo, "rev-parse", "corr_gil1^{commit}") == outcome["result"]["commit_sha"]


def test_asyncio_to_thread(store, repo, tmp_path):
    async def main():
        jobs = []
        for i in range(4):
            f = write(tmp_path / f"a{i}" / "strategy.py", f"# async {i}\n")
            jobs.append(asyncio.to_thread(store.commit_artifacts, "wf_async", f"task_{i}", [f],
                                          correlation_id=f"async{i}"))
        return await asyncio.gather(*jobs)

    results = asyncio.run(main())
    for i, r in enumerate(results):
        assert git(repo, "rev-parse", f"corr_async{i}^{{commit}}") == r["commit_sha"]
    assert len(git(repo, "branch", "--list", "ai/generated/wf_async/*").splitlines()) == 4


def test_reads_from_many_threads_while_committing(store, repo, tmp_path):
    f = write(tmp_path / "r0" / "strategy.py", "x = 0\n")
    store.commit_artifacts("wf", "t", [f], correlation_id="r0")
    errors = []

    def reader():
        try:
            for _ in range(20):
                assert store.get_artifact_by_correlation_id("r0")["correlation_id"] == "corr_r0"
                assert store.list_artifacts(workflow_id="wf")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    def writer():
        try:
            for i in range(1, 8):
                g = write(tmp_path / f"r{i}" / "strategy.py", f"x = {i}\n")
                store.commit_artifacts("wf", "t", [g], correlation_id=f"r{i}")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    pool = [threading.Thread(target=reader) for _ in range(3)] + [threading.Thread(target=writer)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    assert int(git(repo, "rev-list", "--count", "refs/heads/ai/generated/wf/t")) == 8
