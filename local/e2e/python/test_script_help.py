"""The scripts of infra/ answer `--help` with their usage before they check, build or start
anything: with no cargo, rustc or python on the PATH and an empty tools cache, `--help` still
prints the script's opening comment and exits 0, and the cache stays empty."""
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = sorted(p.relative_to(ROOT) for p in [*ROOT.glob("infra/*.sh"), *ROOT.glob("infra/local/*.sh")]
                 if p.name not in {"help.sh", "settings.sh"})


def opening_line(script):
    """The first line of the script's opening comment, as --help prints it."""
    return script.read_text().splitlines()[1].removeprefix("#").strip()


class ScriptHelp(unittest.TestCase):
    def test_every_script_answers_help_before_doing_anything(self):
        self.assertGreaterEqual(len(SCRIPTS), 7, SCRIPTS)
        for script in SCRIPTS:
            with self.subTest(script=str(script)), tempfile.TemporaryDirectory() as cache:
                # given a PATH with the shell's basics only, and an empty tools cache
                env = {"PATH": "/usr/bin:/bin", "HOME": cache, "USER_LAKE_TOOLS": cache,
                       "CARGO": "/nonexistent/cargo"}
                # when
                done = subprocess.run(["bash", str(script), "--help"], cwd=ROOT, env=env,
                                      capture_output=True, text=True, timeout=30)
                # then
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual(done.stdout.splitlines()[0], opening_line(ROOT / script))
                self.assertEqual(list(Path(cache).iterdir()), [], "the cache was written to")


if __name__ == "__main__":
    unittest.main()
