"""The design documents' own two unit tests, as written there, on a real repository.

Only the setup differs: the documents point `repo_path` at `/tmp/test_repo` and leave its
creation out; here each test gets a fresh store repository and working directory."""

import os
import tempfile
import unittest
from pathlib import Path

from artifact_store import ArtifactStore, ArtifactStoreConfig, SecretDetectedError, init

from conftest import git


class TestArtifactStore(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.cwd = os.getcwd()
        os.chdir(self.tmp.name)
        self.addCleanup(os.chdir, self.cwd)
        self.repo = Path(self.tmp.name) / "test_repo"
        init(self.repo)
        Path("test_strategy.py").write_text("def signal(prices):\n    return prices[-1] > prices[0]\n")
        self.config = ArtifactStoreConfig(
            repo_path=self.repo,
            auto_push=False
        )
        self.store = ArtifactStore(self.config)

    def test_commit_artifacts(self):
        result = self.store.commit_artifacts(
            workflow_id="wf_test",
            task_id="task_001",
            files=[Path("test_strategy.py")],
            metadata={"test": "data"},
            correlation_id="corr_test123"
        )

        self.assertTrue(result['success'])
        self.assertIn("ai/generated/wf_test/task_001", result['branch'])
        self.assertIn("corr_test123", result['tags'])
        # Beyond the documents' test: git sees what the result says.
        self.assertEqual(git(self.repo, "rev-parse", "refs/heads/ai/generated/wf_test/task_001"),
                         result['commit_sha'])
        self.assertEqual(git(self.repo, "rev-parse", "corr_test123^{commit}"), result['commit_sha'])

    def test_secret_detection(self):
        # Create file with secret
        test_file = Path(self.tmp.name) / "test_secret.py"
        test_file.write_text("API_KEY = 'sk_live_1234567890abcdef'")

        with self.assertRaises(SecretDetectedError):
            self.store.commit_artifacts(
                workflow_id="wf_test",
                task_id="task_002",
                files=[test_file],
                metadata={},
                correlation_id="corr_test456"
            )
        # Nothing was written: no branch, no tag.
        self.assertEqual(git(self.repo, "for-each-ref"), "")
