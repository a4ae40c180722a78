"""benches/python/cost.py: its tables follow the template's settings, and --check fails when a
doc's table differs from what it computes."""
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benches" / "python"))
import cost  # noqa: E402


class CostTables(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="cost-check-"))
        self.addCleanup(shutil.rmtree, self.dir)

    def template_with(self, old, new):
        text = cost.TEMPLATE.read_text(encoding="utf-8")
        self.assertIn(old, text)
        path = self.dir / "template.yaml"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return path

    def test_the_settings_are_the_templates(self):
        s = cost.settings()
        self.assertEqual((s["users_per_run"], s["users_per_run_max"], s["batch_size"], s["min_pollers"]),
                         (100, 20000, 10000, 1))
        self.assertEqual((s["brokers"], s["broker_type"], s["partitions"]), (2, "kafka.t3.small", 3))

    def test_the_defaults_make_one_batch_a_run_and_the_high_volume_two(self):
        s, m = cost.settings(), cost.MEASURED
        self.assertEqual(cost.per_million(s, m, 100)[4], 10_000)
        self.assertEqual(cost.per_million(s, m, 20_000)[4], 100)

    def test_a_smaller_batch_size_in_the_template_changes_the_table(self):
        path = self.template_with("BatchSize: 10000", "BatchSize: 500")
        small = cost.settings(template_path=path)
        self.assertEqual(small["batch_size"], 500)
        self.assertEqual(cost.per_million(small, cost.MEASURED, 20_000)[4], 2_000)
        self.assertNotEqual(cost.tables(small, cost.MEASURED), cost.tables(cost.settings(), cost.MEASURED))

    def test_every_fixed_charge_is_listed(self):
        app, sandbox = cost.fixed_monthly(cost.settings())
        names = " ".join(name for name, _, _ in app + sandbox)
        for charge in ("provisioned pollers", "MSK brokers", "broker storage", "NAT gateway"):
            self.assertIn(charge, names)

    def test_check_fails_when_a_doc_differs_and_passes_when_it_agrees(self):
        readme = self.dir / "README.md"
        original = cost.DOCS
        self.addCleanup(setattr, cost, "DOCS", original)
        cost.ROOT, root = self.dir, cost.ROOT
        self.addCleanup(setattr, cost, "ROOT", root)
        block = cost.tables(cost.settings(), cost.MEASURED)
        readme.write_text(f"x\n{cost.BEGIN}\n{block}\n{cost.END}\ny\n", encoding="utf-8")
        cost.DOCS = (readme,)
        self.assertEqual(cost.main(["--check"]), 0)
        readme.write_text(readme.read_text().replace("135.05", "133.20"), encoding="utf-8")
        self.assertEqual(cost.main(["--check"]), 1)
        readme.write_text("no table here\n", encoding="utf-8")
        self.assertEqual(cost.main(["--check"]), 1)

    def test_the_project_docs_agree(self):
        self.assertEqual(cost.main(["--check"]), 0)


if __name__ == "__main__":
    unittest.main()
