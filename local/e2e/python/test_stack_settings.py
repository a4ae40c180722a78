"""The local stack's settings: a caller's environment changes what it may and is named for it,
and settings left in a shell for AWS never reach the local stack (`infra/local/stack.sh
settings`)."""
import json
import os
import subprocess
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(command, caller, check=True):
    """`command` with `caller` in its environment (and none of the local stack's variables)."""
    local = Path(ROOT, "infra/local/local.env").read_text(encoding="utf-8")
    ours = {line.split("=", 1)[0] for line in local.splitlines() if "=" in line and not line.startswith("#")}
    env = {k: v for k, v in os.environ.items() if k not in ours | {"RUNS", "USERS", "EVERY"}}
    env.update(caller)
    return subprocess.run(command, env=env, check=check, capture_output=True, text=True)


def settings(**caller):
    """What `stack.sh settings` reports with `caller` in its environment (and nothing else of
    the local stack's variables)."""
    return json.loads(run([str(ROOT / "infra/local/stack.sh"), "settings"], caller).stdout)


def plan(*args, **caller):
    """What `demo.sh --plan` says a demo would do."""
    return json.loads(run([str(ROOT / "infra/local/demo.sh"), "--plan", *args], caller).stdout)


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


class DemoKnobs(unittest.TestCase):
    def test_the_default_demo_is_three_runs_of_200_users_two_seconds_apart(self):
        found = plan()
        self.assertEqual((found["runs"], found["users_per_run"], found["every"]), (3, 200, "2s"))
        self.assertEqual(found["users_api_url"], "http://127.0.0.1:8088/api/")

    def test_the_originals_one_user_a_second_for_a_minute(self):
        found = plan(RUNS="60", USERS="1", EVERY="1s")
        self.assertEqual((found["runs"], found["users_per_run"], found["every"]), (60, 1, "1s"))

    def test_the_demo_keeps_the_callers_users_api_and_names_it(self):
        found = plan(USERS_API_URL="https://randomuser.me/api/", KAFKA_SECURITY="scram")
        self.assertEqual(found["users_api_url"], "https://randomuser.me/api/")
        self.assertEqual(found["overridden"], ["USERS_API_URL"])

    def test_a_knob_out_of_range_stops_the_demo_at_once_naming_it(self):
        for caller, name in [({"USERS": "20001"}, "USERS"), ({"RUNS": "0"}, "RUNS"),
                             ({"EVERY": "soon"}, "EVERY")]:
            with self.subTest(caller=caller):
                done = run([str(ROOT / "infra/local/demo.sh"), "--plan"], caller, check=False)
                self.assertEqual(done.returncode, 2)
                self.assertIn(name, done.stderr)


if __name__ == "__main__":
    unittest.main()


class ExternalServices(unittest.TestCase):
    def port_open(self, port):
        import socket
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    def test_external_services_that_do_not_answer_are_named_before_anything_starts(self):
        # given nothing on the store's port, and a stack directory of the test's own
        if self.port_open(4566):
            self.skipTest("something listens on 127.0.0.1:4566")
        import tempfile
        state = tempfile.mkdtemp(prefix="stack-external-")
        # when the stack is asked to use running services
        done = run([str(ROOT / "infra/local/stack.sh"), "up"],
                   {"USER_LAKE_SERVICES": "external", "USER_LAKE_NO_BUILD": "1",
                    "USER_LAKE_STACK_DIR": state}, check=False)
        # then it stops, naming the port and what to do, and started nothing
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("nothing answers on 127.0.0.1:4566 for s3: start the services first "
                      "(docker compose up -d)", done.stderr)
        self.assertEqual([p for p in Path(state).glob("*.pid")], [])

    def test_up_stops_at_once_when_another_stack_holds_the_lock(self):
        # given a stack lock of the test's own, held as a running stack's services hold it
        import fcntl
        import tempfile
        state = tempfile.mkdtemp(prefix="stack-locked-")
        lock = Path(state) / "stack.lock"
        with open(lock, "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # when another stack is asked to start
            done = run([str(ROOT / "infra/local/stack.sh"), "up"],
                       {"USER_LAKE_STACK_LOCK": str(lock), "USER_LAKE_NO_BUILD": "1",
                        "USER_LAKE_STACK_DIR": str(Path(state) / "stack")}, check=False)
        # then it stops, naming the lock, and started nothing
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn(f"another local stack holds the stack lock {lock}", done.stderr)
        self.assertEqual(list((Path(state) / "stack").glob("*.pid")), [])

    def test_an_unknown_services_mode_is_refused(self):
        done = run([str(ROOT / "infra/local/stack.sh"), "status"],
                   {"USER_LAKE_SERVICES": "docker"}, check=False)
        self.assertEqual(done.returncode, 1)
        self.assertIn("USER_LAKE_SERVICES must be native", done.stderr)
