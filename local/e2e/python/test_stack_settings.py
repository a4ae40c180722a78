"""The local stack's settings: a caller's environment changes what it may and is named for it,
and settings left in a shell for AWS never reach the local stack (`infra/local/stack.sh
settings`)."""
import json
import os
import subprocess
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def settings(**caller):
    """What `stack.sh settings` reports with `caller` in its environment (and nothing else of
    the local stack's variables)."""
    local = Path(ROOT, "infra/local/local.env").read_text(encoding="utf-8")
    ours = {line.split("=", 1)[0] for line in local.splitlines() if "=" in line and not line.startswith("#")}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update(caller)
    out = subprocess.run([str(ROOT / "infra/local/stack.sh"), "settings"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


class StackSettings(unittest.TestCase):
    def test_settings_for_aws_in_the_shell_never_reach_the_local_stack(self):
        found = settings(KAFKA_SECURITY="iam", AWS_REGION="eu-west-1",
                         AWS_ENDPOINT_URL_S3="https://s3.eu-west-1.amazonaws.com")
        self.assertEqual(found["settings"]["KAFKA_SECURITY"], "plaintext")
        self.assertEqual(found["settings"]["AWS_REGION"], "us-east-1")
        self.assertEqual(found["settings"]["AWS_ENDPOINT_URL_S3"], "http://127.0.0.1:4566")
        self.assertEqual(found["overridden"], [])

    def test_a_callers_setting_is_kept_and_named(self):
        found = settings(USERS_API_URL="https://randomuser.me/api/", LAKE_BUCKET="data-lake")
        self.assertEqual(found["settings"]["USERS_API_URL"], "https://randomuser.me/api/")
        # the same value as the file's is no override
        self.assertEqual(found["overridden"], ["USERS_API_URL"])

    def test_without_a_caller_every_setting_is_the_files(self):
        found = settings()
        self.assertEqual(found["overridden"], [])
        self.assertEqual(found["settings"]["KAFKA_BROKERS"], "127.0.0.1:9092")


if __name__ == "__main__":
    unittest.main()
