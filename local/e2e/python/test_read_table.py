"""Tests read_table.py, the independent readers that prove the lake's Iceberg table holds every
user exactly once, on a table that pyiceberg itself writes into our local S3-protocol store.

A table written by the reference implementation shows that all four readers (pyiceberg through
the SQL catalog, StaticTable, DuckDB, polars) read it alike and to the digest computed here from
the rows put in; that time travel reads an older snapshot; and that the check can fail: a
duplicated row changes the count of rows against the count of distinct ids, and the digest.

    $USER_LAKE_VENV/bin/python -m unittest local/e2e/python/test_read_table.py -v

The store is the workspace's `s3-store` binary ($USER_LAKE_S3_STORE, else
$CARGO_TARGET_DIR or ~/.cache/user-lake/target, debug/s3-store), built with cargo when missing.
"""
import contextlib
import datetime
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import HourTransform
from pyiceberg.types import IntegerType, LongType, NestedField, StringType, TimestamptzType

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
READER = os.path.join(HERE, "read_table.py")
BUCKET = "data-lake"
ACCESS_KEY, SECRET_KEY, REGION = "read-table-test", "read-table-test-secret", "us-east-1"
CATALOG = "user_lake"
UTC = datetime.timezone.utc

COLUMNS = ["id", "first_name", "last_name", "gender", "address", "post_code", "email", "username",
           "dob", "registered_date", "phone", "picture", "kafka_topic", "kafka_partition",
           "kafka_offset", "kafka_timestamp"]
TIMESTAMPS = {"dob", "registered_date", "kafka_timestamp"}
REQUIRED = {"id", "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp"}


def field_type(name):
    if name in TIMESTAMPS:
        return TimestamptzType()
    return {"kafka_partition": IntegerType(), "kafka_offset": LongType()}.get(name, StringType())


SCHEMA = Schema(*[NestedField(i + 1, name, field_type(name), required=name in REQUIRED)
                  for i, name in enumerate(COLUMNS)])
SPEC = PartitionSpec(PartitionField(source_id=16, field_id=1000, transform=HourTransform(),
                                    name="kafka_timestamp_hour"))


def user(n, partition, offset, hour):
    """A user row as the pipeline writes one; n varies every field."""
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "first_name": ["Zoë", "Ola", "Jean-Luc", "Ana", "Émile"][n % 5],
        "last_name": f"Nørby-{n}",
        "gender": "female" if n % 2 else "male",
        "address": f"{n} Rue de l'Église, Saint-Étienne, France",
        "post_code": f"{42000 + n}",
        "email": f"user{n}@example.com",
        "username": f"user_{n}",
        # before the epoch for some: negative instants must read alike everywhere
        "dob": datetime.datetime(1948 + 11 * n, 2, 3, 4, 5, 6, 789000, tzinfo=UTC),
        "registered_date": datetime.datetime(2015, 6, 7, 8, 9, 10, (n * 111 % 1000) * 1000, tzinfo=UTC),
        "phone": f"0{n}-12-34-56-78",
        # an optional field left empty
        "picture": None if n == 2 else f"https://randomuser.me/api/portraits/women/{n}.jpg",
        "kafka_topic": "users_created",
        "kafka_partition": partition,
        "kafka_offset": offset,
        "kafka_timestamp": datetime.datetime(2024, 3, 4, hour, 59, 59, 999000, tzinfo=UTC),
    }


FIRST = [user(1, 0, 0, 10), user(2, 1, 0, 10), user(3, 0, 1, 11)]
SECOND = [user(4, 2, 0, 11), user(5, 1, 1, 12)]


def expected_line(row):
    """The canonical form read_table.py documents, computed here without its code."""
    out = {}
    for key, value in row.items():
        if isinstance(value, datetime.datetime):
            value = value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out[key] = value
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def expected(rows):
    lines = sorted(expected_line(r) for r in rows)
    return {"rows": len(rows), "distinct_ids": len({r["id"] for r in rows}),
            "digest": hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()}


def s3_store_binary():
    explicit = os.environ.get("USER_LAKE_S3_STORE")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/user-lake/target")
    binary = os.path.join(target, "debug", "s3-store")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--quiet", "-p", "s3-store"], cwd=ROOT, check=True,
                       env={**os.environ, "CARGO_TARGET_DIR": target})
    return binary


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_s3_store(root, access_key, secret_key):
    """The local S3 store serving the folder `root` on a free port: (process, endpoint URL)."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = subprocess.Popen(
        [s3_store_binary(), "--host", "127.0.0.1", "--port", endpoint.rsplit(":", 1)[1],
         "--access-key", access_key, "--secret-key", secret_key, root],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = store.stdout.readline()
    if '"listening"' not in line:
        stop_s3_store(store)
        raise RuntimeError(f"s3-store did not start: {line!r}")
    return store, endpoint


def stop_s3_store(store):
    store.terminate()
    try:
        store.wait(timeout=10)
    except subprocess.TimeoutExpired:
        store.kill()
        store.wait()
    store.stdout.close()


class ReadTableTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="read-table-")
        store_root = os.path.join(cls.dir, "s3")
        os.makedirs(os.path.join(store_root, BUCKET))
        cls.store, cls.endpoint = start_s3_store(store_root, ACCESS_KEY, SECRET_KEY)
        try:
            cls.catalog_uri = f"sqlite:///{os.path.join(cls.dir, 'catalog.db')}"
            cls.catalog = SqlCatalog(
                CATALOG, uri=cls.catalog_uri, warehouse=f"s3://{BUCKET}/iceberg",
                **{"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO", "s3.endpoint": cls.endpoint,
                   "s3.access-key-id": ACCESS_KEY, "s3.secret-access-key": SECRET_KEY,
                   "s3.region": REGION},
            )
            cls.catalog.create_namespace(CATALOG)
            cls.table = cls.new_table("users")
            cls.table.append(cls.arrow(FIRST))
            cls.first_snapshot = cls.table.current_snapshot().snapshot_id
            cls.table.append(cls.arrow(SECOND))
            cls.second_snapshot = cls.table.current_snapshot().snapshot_id
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        stop_s3_store(cls.store)
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def new_table(cls, name):
        return cls.catalog.create_table(f"{CATALOG}.{name}", SCHEMA, partition_spec=SPEC,
                                        location=f"s3://{BUCKET}/iceberg/{name}")

    @staticmethod
    def arrow(rows):
        return pa.Table.from_pylist(rows, schema=SCHEMA.as_arrow())

    def read(self, table, *extra, check=True):
        done = subprocess.run(
            [sys.executable, READER, "--catalog-uri", self.catalog_uri, "--catalog-name", CATALOG,
             "--table", f"{CATALOG}.{table}", "--s3-endpoint", self.endpoint,
             "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, "--region", REGION, *extra],
            capture_output=True, text=True, timeout=300,
        )
        if not check:
            return done
        self.assertEqual(done.returncode, 0, done.stderr)
        return json.loads(done.stdout)

    def assert_all_read(self, result, want, snapshot):
        self.assertEqual(sorted(result["readers"]), ["duckdb", "polars", "pyiceberg", "static"])
        for name, got in result["readers"].items():
            with self.subTest(reader=name):
                self.assertEqual({k: got[k] for k in want}, want)
                self.assertEqual(got["snapshot_id"], snapshot)
        self.assertTrue(result["agree"])
        self.assertEqual(result["snapshot_id"], snapshot)

    def test_every_reader_reads_the_current_snapshot_alike(self):
        result = self.read("users")
        self.assert_all_read(result, expected(FIRST + SECOND), self.second_snapshot)
        self.assertEqual(result["metadata_location"], self.catalog.load_table(f"{CATALOG}.users").metadata_location)
        self.assertTrue(result["metadata_location"].startswith(f"s3://{BUCKET}/iceberg/users/metadata/"))

    def test_time_travel_reads_the_first_snapshot(self):
        result = self.read("users", "--snapshot-id", str(self.first_snapshot))
        self.assert_all_read(result, expected(FIRST), self.first_snapshot)

    def test_rows_file_holds_the_rows_in_kafka_order(self):
        path = os.path.join(self.dir, "rows.jsonl")
        self.read("users", "--readers", "pyiceberg", "--rows", path)
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        order = sorted(FIRST + SECOND, key=lambda r: (r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]))
        self.assertEqual(lines, [expected_line(r) for r in order])

    def test_a_duplicated_row_is_seen_by_every_reader(self):
        table = self.new_table("users_duplicated")
        table.append(self.arrow(FIRST + SECOND))
        clean = self.read("users_duplicated")
        self.assert_all_read(clean, expected(FIRST + SECOND), table.current_snapshot().snapshot_id)
        # the same message delivered twice (a retried batch committed again)
        table.append(self.arrow([SECOND[0]]))
        twice = self.read("users_duplicated")
        want = expected(FIRST + SECOND + [SECOND[0]])
        self.assertEqual((want["rows"], want["distinct_ids"]), (6, 5))
        self.assert_all_read(twice, want, table.current_snapshot().snapshot_id)
        for name in twice["readers"]:
            self.assertNotEqual(twice["readers"][name]["digest"], clean["readers"][name]["digest"])

    def test_a_reader_that_loses_a_row_disagrees(self):
        sys.path.insert(0, HERE)
        import read_table  # noqa: PLC0415 - the module under test, beside this file

        honest = read_table.READ["static"]

        def lossy(args, ctx):
            arrow, snapshot = honest(args, ctx)
            return arrow.slice(0, arrow.num_rows - 1), snapshot

        out = io.StringIO()
        with mock.patch.dict(read_table.READ, {"static": lossy}), contextlib.redirect_stdout(out):
            code = read_table.main(
                ["--catalog-uri", self.catalog_uri, "--catalog-name", CATALOG,
                 "--table", f"{CATALOG}.users", "--s3-endpoint", self.endpoint,
                 "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, "--readers", "pyiceberg,static"])
        self.assertEqual(code, 0)
        result = json.loads(out.getvalue())
        self.assertFalse(result["agree"])
        self.assertEqual(result["readers"]["pyiceberg"]["rows"], 5)
        self.assertEqual(result["readers"]["static"]["rows"], 4)

    def test_a_failing_reader_exits_2_naming_it(self):
        done = self.read("users", "--readers", "duckdb,static", "--snapshot-id", "1", check=False)
        self.assertEqual(done.returncode, 2, done.stdout)
        self.assertEqual(done.stdout, "")
        error = json.loads(done.stderr)
        self.assertEqual(sorted(error["failed"]), ["duckdb", "static"])
        self.assertIn("duckdb", error["error"])

    def test_a_wrong_secret_fails_before_any_reader(self):
        # loading the table from the catalog reads its metadata file from the store already
        done = subprocess.run(
            [sys.executable, READER, "--catalog-uri", self.catalog_uri, "--catalog-name", CATALOG,
             "--table", f"{CATALOG}.users", "--s3-endpoint", self.endpoint,
             "--access-key", ACCESS_KEY, "--secret-key", "not-the-secret", "--region", REGION],
            capture_output=True, text=True, timeout=300,
        )
        self.assertEqual(done.returncode, 2, done.stdout)
        self.assertEqual(done.stdout, "")
        self.assertEqual(list(json.loads(done.stderr)["failed"]), ["catalog"])

    def test_a_missing_table_fails_in_the_catalog(self):
        done = self.read("no_such_table", check=False)
        self.assertEqual(done.returncode, 2)
        self.assertEqual(list(json.loads(done.stderr)["failed"]), ["catalog"])


class CanonicalFormTest(unittest.TestCase):
    """The digest must not depend on the Arrow types a reader happens to return."""

    def setUp(self):
        sys.path.insert(0, HERE)
        import read_table  # noqa: PLC0415 - the module under test, beside this file

        self.read_table = read_table

    def test_arrow_types_that_readers_differ_in_give_one_form(self):
        epoch = datetime.datetime(1970, 1, 1, tzinfo=UTC)
        us = datetime.timedelta(microseconds=1)
        instant_us = (datetime.datetime(2024, 3, 4, 11, 59, 59, 999000, tzinfo=UTC) - epoch) // us
        before_epoch_us = (datetime.datetime(1948, 2, 27, 4, 5, 6, 789000, tzinfo=UTC) - epoch) // us
        forms = [
            pa.array([instant_us, before_epoch_us, None], pa.timestamp("us", tz="UTC")),
            pa.array([instant_us, before_epoch_us, None], pa.timestamp("us", tz="+00:00")),
            pa.array([instant_us, before_epoch_us, None], pa.timestamp("us", tz="Europe/Paris")),
            pa.array([instant_us * 1000, before_epoch_us * 1000, None], pa.timestamp("ns", tz="UTC")),
            pa.array([instant_us // 1000, before_epoch_us // 1000, None], pa.timestamp("ms", tz="UTC")),
            pa.array([instant_us, before_epoch_us, None], pa.timestamp("us")),
        ]
        want = ["2024-03-04T11:59:59.999Z", "1948-02-27T04:05:06.789Z", None]
        for form in forms:
            with self.subTest(type=str(form.type)):
                self.assertEqual(self.read_table.canonical_column(form), want)
        for form in (pa.array([1, None], pa.int32()), pa.array([1, None], pa.int64())):
            self.assertEqual(self.read_table.canonical_column(form), [1, None])
        for kind in (pa.string(), pa.large_string(), pa.string_view()):
            self.assertEqual(self.read_table.canonical_column(pa.array(["Zoë", None], kind)), ["Zoë", None])

    def test_summary_changes_with_any_field(self):
        rows = [{"id": "a", "n": 1}, {"id": "b", "n": 2}]
        base = self.read_table.summarise(rows, 7)
        self.assertEqual(base, self.read_table.summarise(list(reversed(rows)), 7))
        changed = self.read_table.summarise([{"id": "a", "n": 1}, {"id": "b", "n": 3}], 7)
        self.assertNotEqual(changed["digest"], base["digest"])
        duplicated = self.read_table.summarise(rows + rows[:1], 7)
        self.assertEqual((duplicated["rows"], duplicated["distinct_ids"]), (3, 2))


if __name__ == "__main__":
    unittest.main()
