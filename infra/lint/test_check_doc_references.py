"""The docs-references check on a made-up repository: each check fails on a doc line naming
something that is not there and passes on one naming what is."""
import os
import tempfile
import unittest

from check_doc_references import clap_flags, flag_uses, github_slug, makefile_targets, scan

MAKEFILE = """SHELL := /bin/bash
.PHONY: demo
demo: ## The demo
\tinfra/local/demo.sh 3 200
lint: build
"""

REPLAY = """#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where to start.
    #[arg(long, default_value = "beginning")]
    from: Start,
    /// Only this partition (repeatable).
    #[arg(long = "partition")]
    partitions: Vec<i32>,
    /// A snapshot.
    #[arg(long, value_parser = humantime::parse_duration)]
    snapshot_id: Option<i64>,
    /// Not an option.
    #[arg(default_value = "x")]
    positional: String,
}
"""

TABLE_DOC = """# The table

## The commit

```
# not a heading
```
"""


class Repository:
    """A repository with a Makefile, a script, local.env, one tool and docs/table.md."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory()
        self.root = self.dir.name
        self.write("Makefile", MAKEFILE)
        self.write("infra/local/demo.sh", "#!/bin/sh\necho \"$LAKE_BUCKET\"\n# $LAKE_IN_A_COMMENT\n")
        self.write("infra/local/local.env", "LAKE_BUCKET=data-lake\n")
        self.write("tools/replay/src/main.rs", REPLAY)
        self.write("docs/table.md", TABLE_DOC)

    def write(self, path, text):
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)

    def stale(self, readme):
        self.write("README.md", readme)
        checked, stale = scan(self.root)
        self.assertion_checked = checked
        return [(s["kind"], s["mention"]) for s in stale]


class DocReferences(unittest.TestCase):
    def setUp(self):
        self.repo = Repository()
        self.addCleanup(self.repo.dir.cleanup)

    def test_a_make_target_missing_from_the_makefile_is_caught(self):
        self.assertEqual(self.repo.stale("Run `make demo` and `make lint`.\n"), [])
        self.assertEqual(self.repo.stale("Run `make demos` (or `make WATCH=5s statuses`).\n"),
                         [("make", "make demos"), ("make", "make statuses")])
        self.assertEqual(self.repo.stale("```bash\ncd x && make tset\n```\n"), [("make", "make tset")])
        # "make" as a word of prose is not a command.
        self.assertEqual(self.repo.stale("This will make sure that it works.\n"), [])

    def test_a_path_that_does_not_exist_is_caught(self):
        self.assertEqual(self.repo.stale(
            "See `infra/local/demo.sh`, [the table](docs/table.md#the-commit) and\n"
            "`docs/table.md#the-commit`; `tests/<crate>/main.rs` and `output/x` are not files.\n"), [])
        self.assertEqual(self.repo.stale("See `infra/local/demos.sh` and [x](docs/tables.md).\n"),
                         [("path", "infra/local/demos.sh"), ("path", "docs/tables.md")])
        self.assertEqual(self.repo.stale("```bash\neval \"$(infra/local/toolz.sh)\"\n```\n"),
                         [("path", "infra/local/toolz.sh")])

    def test_a_heading_that_does_not_exist_is_caught(self):
        self.assertEqual(self.repo.stale("[x](docs/table.md#the-commits), `docs/table.md#not-a-heading`\n"),
                         [("path", "docs/table.md#not-a-heading"), ("path", "docs/table.md#the-commits")])

    def test_a_link_is_resolved_from_the_doc_that_holds_it(self):
        self.repo.write("docs/other.md", "[table](table.md#the-commit), [no](docs/table.md)\n")
        self.assertEqual(self.repo.stale("nothing\n"), [("path", "docs/table.md")])

    def test_a_variable_read_or_set_nowhere_is_caught(self):
        self.assertEqual(self.repo.stale("Set `LAKE_BUCKET` (`RUST_LOG`, `AWS_REGION` are not ours).\n"), [])
        self.assertEqual(self.repo.stale("Set `LAKE_BUCKETS=x make demo`.\n"), [("variable", "LAKE_BUCKETS")])
        # A name left only in a comment is not read.
        self.assertEqual(self.repo.stale("Set `LAKE_IN_A_COMMENT`.\n"), [("variable", "LAKE_IN_A_COMMENT")])

    def test_a_flag_the_command_does_not_have_is_caught(self):
        self.assertEqual(self.repo.stale(
            "`replay --from beginning [--partition N]`, `target/debug/replay --snapshot-id 3`,\n"
            "`cargo run -p replay -- --help`\n"), [])
        self.assertEqual(self.repo.stale("`replay --form beginning --partitions 2`\n"),
                         [("flag", "replay --form"), ("flag", "replay --partitions")])
        self.assertEqual(self.repo.stale("```bash\ntarget/debug/replay --snapshot_id 3\n```\n"),
                         [("flag", "replay --snapshot_id")])
        # A flag not right after the command's name, or after another command, is not checked.
        self.assertEqual(self.repo.stale("`--whatever`; `cargo test -p e2e -- replay`; `stack.sh replay --x`\n"), [])


class Parts(unittest.TestCase):
    def test_clap_long_names(self):
        self.assertEqual(clap_flags(REPLAY),
                         {"--help", "--version", "--from", "--partition", "--snapshot-id"})

    def test_makefile_targets_are_not_assignments(self):
        self.assertEqual(makefile_targets(MAKEFILE), {".PHONY", "demo", "lint"})

    def test_flag_uses_follow_the_command(self):
        self.assertEqual(flag_uses("a | target/release/replay --from 1 && replay --idle 3s", {"replay"}),
                         [("replay", "--from"), ("replay", "--idle")])

    def test_github_slugs(self):
        self.assertEqual(github_slug("3. What it costs"), "3-what-it-costs")
        self.assertEqual(github_slug("Watching a deployed pipeline with `status`"),
                         "watching-a-deployed-pipeline-with-status")


if __name__ == "__main__":
    unittest.main()
