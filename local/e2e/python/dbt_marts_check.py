"""The dbt project's marts agree with the lake they are built from, read independently.

Runs `make dbt`'s build (infra/local/dbt.sh build) on a lake made by the real flow (a finished
`make demo`: USER_LAKE_OUTPUT names it) into a DuckDB file of its own, then reads the marts
users_by_country and users_by_gender back and compares them with the same counts made here from
the Iceberg table as pyiceberg reads it (through the SQL catalog and the local S3 store, which
the check starts on a free port over the lake and stops): one user per id, the copy with the
latest Kafka coordinates, the country the address's last comma-separated part. Nothing of the
dbt project's SQL or its DuckDB reader is shared with this reading.

    USER_LAKE_OUTPUT=/path/to/lake make dbt-check
"""
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

import duckdb

sys.path.insert(0, os.path.dirname(__file__))
from test_read_table import start_s3_store, stop_s3_store  # noqa: E402  (the store as its tests start it)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
KEY, SECRET = "user-lake-check", "user-lake-check-secret"


def lake_root():
    lake = os.environ.get("USER_LAKE_OUTPUT") or os.path.join(ROOT, "output")
    if not os.path.isfile(os.path.join(lake, "iceberg-catalog.db")):
        raise AssertionError(
            f"no lake at {lake} (no iceberg-catalog.db): run `make demo` first, "
            "or set USER_LAKE_OUTPUT to a finished flow's lake")
    return os.path.abspath(lake)


def lake_users(lake, endpoint, table="user_lake.users"):
    """The table's rows by pyiceberg, one per id: the copy with the latest Kafka coordinates."""
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("user_lake", uri=f"sqlite:///{lake}/iceberg-catalog.db", init_catalog_tables="false",
                         **{"s3.endpoint": endpoint, "s3.access-key-id": KEY, "s3.secret-access-key": SECRET,
                            "s3.region": "us-east-1", "s3.force-virtual-addressing": "false"})
    rows = catalog.load_table(table).scan(
        selected_fields=("id", "gender", "address", "kafka_timestamp", "kafka_partition", "kafka_offset"),
    ).to_arrow().to_pylist()
    newest = {}
    for row in rows:
        order = (row["kafka_timestamp"], row["kafka_partition"], row["kafka_offset"])
        if row["id"] not in newest or order > newest[row["id"]][0]:
            newest[row["id"]] = (order, row)
    return [row for _, row in newest.values()], len(rows)


def country(address):
    part = address.rsplit(",", 1)[-1].strip()
    return part or None


def run_dbt(lake, database, *command):
    env = dict(os.environ, USER_LAKE_OUTPUT=lake, USER_LAKE_DBT_DATABASE=database, USER_LAKE_DBT_READ="files")
    done = subprocess.run([os.path.join(ROOT, "infra", "local", "dbt.sh"), *command], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"dbt {' '.join(command)} failed ({done.returncode}):\n"
                             f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}")


def mart(database, name, key):
    with duckdb.connect(database, read_only=True) as con:
        return dict(con.execute(f"SELECT {key}, users FROM main.{name}").fetchall())


class DbtMartsMatchTheLake(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lake = lake_root()
        cls.workdir = tempfile.TemporaryDirectory(prefix="dbt-check-")
        cls.database = os.path.join(cls.workdir.name, "marts.duckdb")
        started = time.monotonic()
        run_dbt(cls.lake, cls.database, "build")
        cls.dbt_seconds = time.monotonic() - started
        store, endpoint = start_s3_store(cls.lake, KEY, SECRET)
        try:
            cls.users, cls.rows = lake_users(cls.lake, endpoint)
        finally:
            stop_s3_store(store)
        print(json.dumps({"lake": cls.lake, "rows": cls.rows, "users": len(cls.users),
                          "dbt_build_seconds": round(cls.dbt_seconds, 1)}), file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.workdir.cleanup()

    def test_the_lake_holds_users(self):
        # Given a lake made by the flow, the comparisons below compare something.
        self.assertGreater(len(self.users), 0, f"the lake at {self.lake} holds no user")

    def test_users_by_country_counts_each_user_once_under_the_last_part_of_the_address(self):
        # Given the lake read by pyiceberg, one row per id, the country computed here
        expected = collections.Counter(country(user["address"]) for user in self.users)
        # When dbt has built the mart on the same lake, then its counts are these.
        self.assertEqual(mart(self.database, "users_by_country", "country"), dict(expected))

    def test_users_by_gender_counts_each_user_once(self):
        expected = collections.Counter(user["gender"].lower() for user in self.users)
        self.assertEqual(mart(self.database, "users_by_gender", "gender"), dict(expected))

    def test_docs_generate_catalogs_every_model_and_the_lake_with_its_columns(self):
        # When dbt docs generate runs on the lake the marts were built from
        run_dbt(self.lake, self.database, "docs", "generate")
        with open(os.path.join(ROOT, "target", "dbt", "local", "catalog.json"), encoding="utf-8") as f:
            catalog = json.load(f)
        # then the catalog has each model, and the source with the lake's sixteen columns.
        models = {"stg_users", "signups_per_hour", "signups_per_day", "users_by_country",
                  "users_by_gender", "users_by_age_band"}
        self.assertEqual({key.rsplit(".", 1)[1] for key in catalog["nodes"]}, models)
        source = catalog["sources"]["source.user_lake.lake.users"]
        self.assertEqual(len(source["columns"]), 16, sorted(source["columns"]))


if __name__ == "__main__":
    unittest.main()
