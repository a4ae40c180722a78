"""benches/python/cost.py: its tables follow the templates' settings (the Iceberg table on Glue by
default), and --check fails when a doc's block differs from what it computes, when a cost
section holds a figure outside its block, or when a template has an hourly-billed resource that
the script has no price for."""
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

    def copy_with(self, source, old, new):
        text = source.read_text(encoding="utf-8")
        self.assertIn(old, text)
        path = self.dir / source.name
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return path

    def template_with(self, old, new):
        return self.copy_with(cost.TEMPLATE, old, new)

    def sandbox_with(self, old, new):
        return self.copy_with(cost.SANDBOX, old, new)

    def docs_in_scratch(self, readme_text):
        readme = self.dir / "README.md"
        readme.write_text(readme_text, encoding="utf-8")
        for name, value in (("DOCS", (readme,)), ("ROOT", self.dir)):
            self.addCleanup(setattr, cost, name, getattr(cost, name))
            setattr(cost, name, value)
        return readme

    def test_the_settings_are_the_templates(self):
        s = cost.settings()
        self.assertEqual((s["lake_format"], s["table_catalog"]), ("iceberg", "glue"))
        self.assertEqual((s["users_per_run"], s["users_per_run_max"], s["batch_size"], s["min_pollers"]),
                         (100, 20000, 10000, 1))
        self.assertEqual((s["brokers"], s["broker_type"], s["partitions"]), (2, "kafka.t3.small", 3))
        self.assertEqual((s["retention_h"], s["orphan_h"]), (24, 24))

    def test_a_batch_is_capped_by_the_measured_event_bytes(self):
        # docs/performance.md: the bench's event held 8,372 records in 6,291,316 bytes, so a
        # 6 MB event holds 8,372 and a run of 20,000 users is 3 batches.
        s, m = cost.settings(), cost.MEASURED
        self.assertEqual(cost.shape(s, m, 20_000)[:2], (8_372, 3))
        self.assertEqual(cost.per_million(s, m, 100)[4], 10_000)
        self.assertEqual(cost.per_million(s, m, 20_000)[4], 150)

    def test_an_iceberg_commit_is_priced_as_the_commit_path_makes_it(self):
        s, m = cost.settings(), cost.MEASURED
        rows = {name: basis for name, _, basis in cost.per_million(s, m, 100)[0]}
        # 10,000 commits of 3 slices: 3 data files + manifest, list, metadata file each.
        self.assertIn("3 data file(s) + 3 metadata files a commit", rows["S3: PUTs and LISTs"])
        # GetTable (load), GetTable + UpdateTable (swap), GetTable (after it): 4 a commit.
        glue = cost.per_million(s, m, 100)[0][7]
        self.assertEqual(glue[0], "Glue Data Catalog requests")
        hours = 10_000 / 60
        self.assertAlmostEqual(glue[1], (10_000 * 4 + hours * cost.RUN_GLUE) * 1e-6)

    def test_the_files_layout_in_the_template_changes_the_table(self):
        path = self.template_with("Default: iceberg", "Default: files")
        files = cost.settings(template_path=path)
        self.assertEqual(files["lake_format"], "files")
        rows = {name: c for name, c, _ in cost.per_million(files, cost.MEASURED, 100)[0]}
        self.assertEqual(rows["Glue Data Catalog requests"], 0)
        self.assertNotEqual(cost.tables(files, cost.MEASURED), cost.tables(cost.settings(), cost.MEASURED))

    def test_a_smaller_batch_size_in_the_template_changes_the_table(self):
        path = self.template_with("BatchSize: 10000", "BatchSize: 500")
        small = cost.settings(template_path=path)
        self.assertEqual(small["batch_size"], 500)
        self.assertEqual(cost.per_million(small, cost.MEASURED, 20_000)[4], 2_000)
        self.assertNotEqual(cost.tables(small, cost.MEASURED), cost.tables(cost.settings(), cost.MEASURED))

    def test_maintenance_reads_stay_level_as_the_table_ages(self):
        # Rewrites merge the manifests, so the twelfth month reads what the first does (the
        # first month's first day keeps fewer snapshots); only data/'s listing grows.
        s, m = cost.settings(), cost.MEASURED
        first, twelfth = (cost.maintenance(s, m, 100, k) for k in (1, 12))
        self.assertLess(twelfth[1], 1.05 * first[1])
        self.assertGreaterEqual(twelfth[2], first[2])

    def test_custom_metrics_are_counted_per_name_and_function(self):
        doc = "## Producer\n\n| `Errors` | Count | x |\n| `Duration` | ms | x |\n\n" \
              "## Sink\n\n| `Errors` | Count | x |\n| `Duration` | ms | x |\n| `Lag` | ms | x |\n"
        self.assertEqual(len(cost.metric_series(doc)), 5)
        # docs/metrics.md: 7 producer, 12 sink and 18 compactor metrics.
        self.assertEqual(cost.settings()["custom_metrics"], 37)

    def test_every_fixed_charge_is_listed(self):
        s = cost.settings()
        app, sandbox, unpriced = cost.fixed_monthly(s)
        self.assertEqual(unpriced, [])
        names = " ".join(name for name, _, _ in app + sandbox)
        for _, logical_id, _, _ in s["hourly"]:
            self.assertIn(logical_id, names)
        self.assertEqual({kind for _, _, kind, _ in s["hourly"]},
                         {"provisioned pollers", "MSK brokers", "NAT gateway", "public IPv4 address"})

    def test_a_new_hourly_resource_fails_until_priced(self):
        # An Interface endpoint is billed by the hour; the script has no price for one.
        endpoint = ("  SecretsEndpoint:\n    Type: AWS::EC2::VPCEndpoint\n    Properties:\n"
                    "      VpcEndpointType: Interface\n      ServiceName: x\n      VpcId: x\n\n")
        path = self.sandbox_with("  NatGateway:\n", endpoint + "  NatGateway:\n")
        s = cost.settings(sandbox_path=path)
        self.assertEqual(cost.fixed_monthly(s)[2], ["sandbox stack: SecretsEndpoint (interface endpoint)"])
        # A second Elastic IP is a kind the script prices: it is listed without a change here.
        address = "  OtherAddress:\n    Type: AWS::EC2::EIP\n    Properties:\n      Domain: vpc\n\n"
        path = self.sandbox_with("  NatGateway:\n", address + "  NatGateway:\n")
        _, sandbox, unpriced = cost.fixed_monthly(cost.settings(sandbox_path=path))
        self.assertEqual(unpriced, [])
        self.assertIn("OtherAddress: public IPv4 address", [name for name, _, _ in sandbox])
        # The check itself fails on the unpriced endpoint.
        path = self.sandbox_with("  NatGateway:\n", endpoint + "  NatGateway:\n")
        self.addCleanup(setattr, cost, "SANDBOX", cost.SANDBOX)
        cost.SANDBOX = path
        self.assertEqual(cost.main(["--check"]), 1)

    def test_check_fails_when_a_doc_differs_and_passes_when_it_agrees(self):
        block = cost.tables(cost.settings(), cost.MEASURED)
        lead = "**What it costs.** The EPU is $0.185 an hour.\n"
        readme = self.docs_in_scratch(f"x\n{lead}{cost.BEGIN}\n{block}\n{cost.END}\ny\n")
        self.assertEqual(cost.main(["--check"]), 0)
        readme.write_text(readme.read_text().replace("135.05", "133.20"), encoding="utf-8")
        self.assertEqual(cost.main(["--check"]), 1)
        readme.write_text("no table here\n", encoding="utf-8")
        self.assertEqual(cost.main(["--check"]), 1)

    def test_a_cost_figure_outside_the_block_fails(self):
        block = cost.tables(cost.settings(), cost.MEASURED)
        for stray in ("The poller is about $135 of about $147 a month.",
                      "A run of 20,000 users makes 2 batches.",
                      "That is 30,000 PUTs per million users."):
            self.docs_in_scratch(f"**What it costs.**\n{cost.BEGIN}\n{block}\n{cost.END}\n{stray}\n")
            self.assertEqual(cost.main(["--check"]), 1, stray)
        # A list price and a figure in the next section are not the cost section's.
        self.docs_in_scratch(f"**What it costs.** $0.005 an hour.\n{cost.BEGIN}\n{block}\n{cost.END}\n"
                             "## Next\n$147\n")
        self.assertEqual(cost.main(["--check"]), 0)

    def test_the_project_docs_agree(self):
        self.assertEqual(cost.main(["--check"]), 0)


if __name__ == "__main__":
    unittest.main()
