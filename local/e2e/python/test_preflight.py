"""`infra/local/preflight.sh`: what the local stack needs, checked before anything is built."""
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PREFLIGHT = ROOT / "infra/local/preflight.sh"


def path_without(test, *names, extra=None):
    """A PATH directory holding every command of this PATH but `names`, plus `extra` scripts,
    removed when `test` ends."""
    folder = Path(tempfile.mkdtemp(prefix="preflight-"))
    test.addCleanup(shutil.rmtree, folder)
    for directory in os.environ["PATH"].split(os.pathsep):
        for entry in Path(directory).glob("*") if Path(directory).is_dir() else []:
            target = folder / entry.name
            if entry.name in names or target.exists() or not os.access(entry, os.X_OK):
                continue
            target.symlink_to(entry)
    for name, body in (extra or {}).items():
        script = folder / name
        script.unlink(missing_ok=True)
        script.write_text(body)
        script.chmod(0o755)
    return str(folder)


def preflight(path=None):
    env = dict(os.environ, PATH=path or os.environ["PATH"])
    return subprocess.run(["bash", str(PREFLIGHT)], env=env, capture_output=True, text=True)


class Preflight(unittest.TestCase):
    def test_this_machine_has_what_the_stack_needs(self):
        done = preflight()
        self.assertEqual((done.returncode, done.stderr), (0, ""))

    def test_a_missing_compiler_is_named_with_how_to_install_it(self):
        done = preflight(path_without(self, "gcc"))
        self.assertEqual(done.returncode, 2)
        self.assertIn("gcc: a C compiler", done.stderr)
        self.assertNotIn("perl", done.stderr)

    def test_a_missing_flock_is_named_as_the_stacks_lock(self):
        done = preflight(path_without(self, "flock"))
        self.assertEqual(done.returncode, 2)
        self.assertIn("flock, which keeps two stacks off the same ports", done.stderr)

    def test_an_older_rustc_than_the_workspace_needs_is_named(self):
        fake = {"rustc": "#!/bin/sh\necho 'rustc 1.80.0 (051478957 2024-07-21)'\n"}
        done = preflight(path_without(self, extra=fake))
        self.assertEqual(done.returncode, 2)
        self.assertIn("rustc 1.95 or newer (this is 1.80.0)", done.stderr)


if __name__ == "__main__":
    unittest.main()
