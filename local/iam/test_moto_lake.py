"""Tests of moto_lake.py: each starts the command for real on a free port of 127.0.0.1 and
uses the credentials it prints with boto3, so that what they prove is what a function binary
run with those credentials meets.

A denial is checked as S3 answers a refused request (403 AccessDenied), and then shown to be
IAM's doing: the admin credentials printed beside the functions' do the same call on the same
bucket and key, and succeed.

    $USER_LAKE_VENV/bin/python -m unittest discover -s local/iam -v
"""
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from pathlib import Path

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

COMMAND = Path(__file__).resolve().parent / "moto_lake.py"
STARTUP_SECONDS = 120
# The roots the sink writes with LakeFormat files; with the default (iceberg) only _errors/, the
# table's files going under iceberg/users/.
LAKE_ROOTS = ("users/", "users_jsonl/", "users_csv/", "_errors/")
FILES = ("--param", "LakeFormat=files")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_command(*options, timeout=120):
    """The command run to its end (for the options that stop before moto serves)."""
    return subprocess.run([sys.executable, str(COMMAND), *options], capture_output=True,
                          text=True, timeout=timeout, check=False)


def process_gone(pid):
    """True once pid is neither running nor waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def port_closed(port):
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return False
    except OSError:
        return True


def wait_until(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class Lake:
    """One run of the command: started, its JSON line read, stopped when the test ends (and
    checked to leave no moto process behind)."""

    def __init__(self, test, *options):
        self.test = test
        self.dir = Path(tempfile.mkdtemp(prefix="moto-lake-test-"))
        test.addCleanup(shutil.rmtree, self.dir, True)
        self.port = free_port()
        self.stderr = open(self.dir / "stderr.log", "w+", encoding="utf-8")  # noqa: SIM115
        test.addCleanup(self.stderr.close)
        self.process = subprocess.Popen(
            [sys.executable, str(COMMAND), "--port", str(self.port), "--state", str(self.dir),
             *options],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        test.addCleanup(self.stop)
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.process.stdout.readline()),
                         daemon=True).start()
        try:
            line = lines.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            line = ""
        if not line:
            raise AssertionError(f"moto_lake.py printed no line (status {self.process.poll()}):"
                                 f"\n{self.stderr_text()}")
        self.line = line
        self.info = json.loads(line)
        self.lake = self.info["buckets"]["lake"]
        self.failed = self.info["buckets"]["failed"]

    def stderr_text(self):
        self.stderr.flush()
        return (self.dir / "stderr.log").read_text(encoding="utf-8")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        self.process.stdout.close()
        pid = self.info["pid"] if hasattr(self, "info") else None
        if pid is not None and not wait_until(lambda: process_gone(pid)):
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"moto (pid {pid}) outlived moto_lake.py")

    def client(self, who, service="s3", secret=None, token=None, unsigned=False):
        """A client for a function ("SinkFunction", ...) or for "admin"."""
        if who == "admin":
            c = self.info["admin"]
            key_id, real_secret, real_token = c["access_key_id"], c["secret_access_key"], None
        else:
            c = self.info["functions"][who]
            key_id, real_secret, real_token = (c["access_key_id"], c["secret_access_key"],
                                               c["session_token"])
        config = Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
                        **({"signature_version": UNSIGNED} if unsigned else {}))
        return boto3.client(
            service, endpoint_url=self.info["endpoint"], region_name=self.info["region"],
            aws_access_key_id=key_id, aws_secret_access_key=secret or real_secret,
            aws_session_token=real_token if token is None else (token or None), config=config)

    # what the admin sees

    def seed(self, key, body=b"seeded", bucket=None):
        self.client("admin").put_object(Bucket=bucket or self.lake, Key=key, Body=body)

    def body(self, key, bucket=None):
        return self.client("admin").get_object(Bucket=bucket or self.lake, Key=key)["Body"].read()

    def exists(self, key, bucket=None):
        listed = self.client("admin").list_objects_v2(Bucket=bucket or self.lake, Prefix=key)
        return any(o["Key"] == key for o in listed.get("Contents", []))


def answer(call):
    """(HTTP status, error code or None) of an S3 call."""
    try:
        response = call()
        return response["ResponseMetadata"]["HTTPStatusCode"], None
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"].get("Code")


class LakeTest(unittest.TestCase):
    maxDiff = None

    def assertAllowed(self, call, what):
        status, code = answer(call)
        self.assertEqual((status // 100, code), (2, None), f"{what}: {status} {code}")

    def assertDenied(self, call, what):
        self.assertEqual(answer(call), (403, "AccessDenied"), what)

    def assertS3TablesDenied(self, call, action, what):
        """Refused by IAM: moto answers an S3 Tables denial as it answers Glue's (AWS answers
        AccessDeniedException in JSON)."""
        self.assertGlueDenied(call, action, what)

    def assertGlueDenied(self, call, action, what):
        """Refused by IAM: moto answers a Glue denial as a 403 with an XML AccessDenied body
        (AWS answers AccessDeniedException in JSON), which botocore reports as code 403."""
        try:
            call()
        except ClientError as e:
            self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 403, what)
            self.assertIn(f"not authorized to perform: {action}", e.response["Error"]["Message"],
                          what)
        else:
            self.fail(f"{what}: allowed")


def iceberg_table(name):
    """A TableInput as the sink's Glue catalog writes it."""
    return {"Name": name, "TableType": "EXTERNAL_TABLE",
            "Parameters": {"table_type": "ICEBERG",
                           "metadata_location": f"s3://data-lake/iceberg/{name}/metadata/0.json"}}


class SinkRoleTest(LakeTest):
    def test_sink_may_put_under_each_lake_root_and_the_objects_land(self):
        lake = Lake(self, *FILES)
        sink = lake.client("SinkFunction")
        for root in LAKE_ROOTS:
            key = f"{root}dt=2026-11-24/hour=09/users_created-0-0-9.part"
            self.assertAllowed(lambda k=key: sink.put_object(Bucket=lake.lake, Key=k, Body=b"rows"),
                               f"sink PutObject {key}")
            self.assertEqual(lake.body(key), b"rows")

    def test_sink_may_put_and_list_in_the_failed_batch_bucket(self):
        lake = Lake(self)
        sink = lake.client("SinkFunction")
        key = "aws/lambda/sink/2026/11/24/batch.json"
        self.assertAllowed(lambda: sink.put_object(Bucket=lake.failed, Key=key, Body=b"{}"),
                           "sink PutObject in the failed bucket")
        self.assertEqual(lake.body(key, bucket=lake.failed), b"{}")
        listed = sink.list_objects_v2(Bucket=lake.failed)
        self.assertEqual([o["Key"] for o in listed["Contents"]], [key])

    def test_sink_may_read_but_is_denied_deleting_lake_objects(self):
        # It reads an object its conditional write found at the key, to tell its own earlier
        # write (the same bytes) from other content, which it keeps.
        lake = Lake(self, *FILES)
        sink = lake.client("SinkFunction")
        key = "users/dt=2026-11-24/hour=09/users_created-0-0-9.parquet"
        lake.seed(key)
        self.assertAllowed(lambda: sink.get_object(Bucket=lake.lake, Key=key), "sink GetObject")
        self.assertDenied(lambda: sink.delete_object(Bucket=lake.lake, Key=key),
                          "sink DeleteObject")
        self.assertDenied(lambda: sink.list_objects_v2(Bucket=lake.lake, Prefix="users/"),
                          "sink ListBucket on the lake")
        self.assertEqual(lake.body(key), b"seeded")  # there, and readable by a granted principal

    def test_sink_is_denied_a_put_under_any_other_prefix(self):
        lake = Lake(self)
        sink = lake.client("SinkFunction")
        admin = lake.client("admin")
        for key in ("other/x.parquet", "users_parquet/x.parquet", "_compactor/lease.json",
                    "x.parquet", "lake/raw/users/x.parquet"):
            self.assertDenied(lambda k=key: sink.put_object(Bucket=lake.lake, Key=k, Body=b"x"),
                              f"sink PutObject {key}")
            self.assertFalse(lake.exists(key), f"{key} was written although denied")
            self.assertAllowed(lambda k=key: admin.put_object(Bucket=lake.lake, Key=k, Body=b"x"),
                               f"admin PutObject {key}")

    def test_sink_is_denied_buckets_its_role_does_not_name(self):
        lake = Lake(self)
        lake.client("admin").create_bucket(Bucket="another-bucket")
        sink = lake.client("SinkFunction")
        self.assertDenied(
            lambda: sink.put_object(Bucket="another-bucket", Key="users/x", Body=b"x"),
            "sink PutObject into a bucket of no grant")
        self.assertFalse(lake.exists("users/x", bucket="another-bucket"))


class TableLayoutTest(LakeTest):
    """The default layout (LakeFormat iceberg): the table's files go under iceberg/users/, so no
    role is granted the plain files' roots; rejected records still go to _errors/."""

    def test_sink_is_denied_users_and_users_csv_but_may_write_errors(self):
        lake = Lake(self, "--role", "ReplayRole")
        self.assertEqual(lake.info["parameters"]["LakeFormat"], "iceberg")
        admin = lake.client("admin")
        for who in ("SinkFunction", "ReplayRole"):
            s3 = lake.client(who)
            for key in (f"users/dt=2026-11-24/hour=09/{who}-0-0-9.parquet",
                        f"users_csv/dt=2026-11-24/hour=09/{who}-0-0-9.csv",
                        f"users_jsonl/dt=2026-11-24/hour=09/{who}-0-0-9.jsonl"):
                self.assertDenied(lambda k=key, s=s3: s.put_object(Bucket=lake.lake, Key=k,
                                                                    Body=b"x"),
                                  f"{who} PutObject {key}")
                self.assertFalse(lake.exists(key), f"{key} was written although denied")
                self.assertAllowed(lambda k=key: admin.put_object(Bucket=lake.lake, Key=k,
                                                                  Body=b"seeded"),
                                   f"admin PutObject {key}")
                self.assertDenied(lambda k=key, s=s3: s.get_object(Bucket=lake.lake, Key=k),
                                  f"{who} GetObject {key}")
            errors = f"_errors/dt=2026-11-24/{who}-0-0-9.jsonl"
            self.assertAllowed(lambda k=errors, s=s3: s.put_object(Bucket=lake.lake, Key=k,
                                                                   Body=b"rejected"),
                               f"{who} PutObject {errors}")
            self.assertEqual(lake.body(errors), b"rejected")
            table = f"iceberg/users/data/{who}.parquet"
            self.assertAllowed(lambda k=table, s=s3: s.put_object(Bucket=lake.lake, Key=k,
                                                                  Body=b"table"),
                               f"{who} PutObject {table}")

    def test_compactor_is_denied_users_and_keeps_its_lease_and_the_table(self):
        lake = Lake(self)
        compactor = lake.client("CompactorFunction")
        key = "users/dt=2026-11-24/hour=09/users_created-0-0-9.parquet"
        lake.seed(key)
        self.assertDenied(lambda: compactor.get_object(Bucket=lake.lake, Key=key),
                          "compactor GetObject users/")
        self.assertDenied(lambda: compactor.delete_object(Bucket=lake.lake, Key=key),
                          "compactor DeleteObject users/")
        self.assertEqual(lake.body(key), b"seeded")
        for allowed in ("_compactor/lease.json", "iceberg/users/data/merged.parquet"):
            self.assertAllowed(lambda k=allowed: compactor.put_object(Bucket=lake.lake, Key=k,
                                                                      Body=b"x"),
                               f"compactor PutObject {allowed}")

    def test_the_files_roots_are_granted_only_with_lake_format_files(self):
        table = Lake(self, "--role", "ReplayRole").info["functions"]
        files = Lake(self, *FILES, "--role", "ReplayRole").info["functions"]
        for who, policy, statement in (("SinkFunction", "lake-write", 0),
                                       ("ReplayRole", "lake-replay", -1)):
            self.assertEqual(table[who]["policies"][policy]["Statement"][statement]["Resource"],
                             ["arn:aws:s3:::data-lake/_errors/*"], who)
            self.assertEqual(files[who]["policies"][policy]["Statement"][statement]["Resource"],
                             [f"arn:aws:s3:::data-lake/{root}*" for root in LAKE_ROOTS], who)
        # replay lists users/ to align its batches with the plain files only
        self.assertEqual([s["Action"] for s in table["ReplayRole"]["policies"]["lake-replay"]
                          ["Statement"]], [["s3:PutObject", "s3:GetObject"]])
        self.assertEqual(files["ReplayRole"]["policies"]["lake-replay"]["Statement"][0]["Action"],
                         "s3:ListBucket")
        self.assertEqual(table["CompactorFunction"]["policies"]["lake-compact"]["Statement"], [{
            "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": "arn:aws:s3:::data-lake/_compactor/*"}])


class CompactorRoleTest(LakeTest):
    def test_compactor_may_get_put_and_delete_under_users(self):
        lake = Lake(self, *FILES)
        compactor = lake.client("CompactorFunction")
        original = "users/dt=2026-11-24/hour=09/users_created-0-0-9.parquet"
        merged = "users/dt=2026-11-24/hour=09/compacted-0123abcd.parquet"
        lake.seed(original, b"original")
        got = compactor.get_object(Bucket=lake.lake, Key=original)["Body"].read()
        self.assertEqual(got, b"original")
        self.assertAllowed(
            lambda: compactor.put_object(Bucket=lake.lake, Key=merged, Body=b"merged"),
            "compactor PutObject under users/")
        self.assertAllowed(lambda: compactor.delete_object(Bucket=lake.lake, Key=original),
                           "compactor DeleteObject under users/")
        self.assertFalse(lake.exists(original))
        self.assertEqual(lake.body(merged), b"merged")
        listed = compactor.list_objects_v2(Bucket=lake.lake, Prefix="users/")
        self.assertEqual([o["Key"] for o in listed["Contents"]], [merged])

    def test_compactor_is_denied_objects_outside_users(self):
        lake = Lake(self, *FILES)
        compactor = lake.client("CompactorFunction")
        for key in ("_errors/dt=2026-11-24/x.jsonl", "users_jsonl/dt=2026-11-24/hour=09/x.jsonl",
                    "users_csv/dt=2026-11-24/hour=09/x.csv", "other/x.parquet",
                    "usersX/x.parquet"):
            lake.seed(key)
            self.assertDenied(lambda k=key: compactor.get_object(Bucket=lake.lake, Key=k),
                              f"compactor GetObject {key}")
            self.assertDenied(
                lambda k=key: compactor.put_object(Bucket=lake.lake, Key=k, Body=b"new"),
                f"compactor PutObject {key}")
            self.assertDenied(lambda k=key: compactor.delete_object(Bucket=lake.lake, Key=k),
                              f"compactor DeleteObject {key}")
            self.assertEqual(lake.body(key), b"seeded", f"{key} changed although denied")

    def test_compactor_is_denied_the_failed_batch_bucket(self):
        lake = Lake(self)
        compactor = lake.client("CompactorFunction")
        lake.seed("batch.json", bucket=lake.failed)
        self.assertDenied(lambda: compactor.get_object(Bucket=lake.failed, Key="batch.json"),
                          "compactor GetObject in the failed bucket")
        self.assertDenied(lambda: compactor.list_objects_v2(Bucket=lake.failed),
                          "compactor ListBucket on the failed bucket")

    def test_moto_does_not_apply_the_s3_prefix_condition_of_the_compactors_list(self):
        # The role allows s3:ListBucket only with s3:prefix users/ or users/*; AWS refuses a
        # listing of _errors/ or of the whole bucket. moto ignores identity-policy conditions,
        # so both are allowed here: what this stand-in cannot show.
        lake = Lake(self, *FILES)
        statement = lake.info["functions"]["CompactorFunction"]["policies"]["lake-compact"][
            "Statement"][0]
        self.assertEqual(statement["Condition"],
                         {"StringLike": {"s3:prefix": ["users/", "users/*"]}})
        compactor = lake.client("CompactorFunction")
        self.assertAllowed(lambda: compactor.list_objects_v2(Bucket=lake.lake, Prefix="_errors/"),
                           "compactor ListBucket _errors/ (AWS: denied)")
        self.assertAllowed(lambda: compactor.list_objects_v2(Bucket=lake.lake),
                           "compactor ListBucket of everything (AWS: denied)")


class ProducerRoleTest(LakeTest):
    def test_producer_is_denied_the_lake(self):
        lake = Lake(self)
        producer = lake.client("ProducerFunction")
        lake.seed("users/x.parquet")
        self.assertDenied(lambda: producer.put_object(Bucket=lake.lake, Key="users/y", Body=b"y"),
                          "producer PutObject")
        self.assertDenied(lambda: producer.get_object(Bucket=lake.lake, Key="users/x.parquet"),
                          "producer GetObject")
        # No managed policy: AWSLambdaVPCAccessExecutionRole would allow logs:* actions on every
        # log group; the role's ec2 and logs grants are inline.
        self.assertEqual(set(lake.info["functions"]["ProducerFunction"]["managed_policies"]), set())
        self.assertIn("vpc-network-interfaces",
                      lake.info["functions"]["ProducerFunction"]["policies"])


class GlueCatalogTest(LakeTest):
    """The table mode's catalog: the Glue database the template creates, and each role's grants
    on it, authorised on the catalog, database and table ARNs as AWS does (moto_server.py)."""

    def test_the_stacks_glue_database_is_created_and_named_in_the_line(self):
        lake = Lake(self, "--param", "GlueDatabaseName=lake_db")
        self.assertEqual(lake.info["glue_databases"], {"GlueDatabase": "lake_db"})
        databases = lake.client("admin", "glue").get_databases()["DatabaseList"]
        self.assertEqual([d["Name"] for d in databases], ["lake_db"])
        sink = lake.client("SinkFunction", "glue")
        self.assertAllowed(lambda: sink.create_table(DatabaseName="lake_db",
                                                     TableInput=iceberg_table("users")),
                           "sink CreateTable lake_db.users")

    def test_sink_may_get_create_and_update_its_table_and_is_denied_any_other(self):
        lake = Lake(self)
        sink = lake.client("SinkFunction", "glue")
        self.assertEqual(answer(lambda: sink.get_table(DatabaseName="user_lake", Name="users")),
                         (400, "EntityNotFoundException"))
        for what, call in (
                ("CreateTable", lambda: sink.create_table(DatabaseName="user_lake",
                                                          TableInput=iceberg_table("users"))),
                ("GetTable", lambda: sink.get_table(DatabaseName="user_lake", Name="users")),
                ("UpdateTable", lambda: sink.update_table(DatabaseName="user_lake",
                                                          TableInput=iceberg_table("users")))):
            self.assertAllowed(call, f"sink {what} user_lake.users")
        self.assertGlueDenied(lambda: sink.create_table(DatabaseName="user_lake",
                                                        TableInput=iceberg_table("other")),
                              "glue:CreateTable", "sink CreateTable user_lake.other")
        self.assertGlueDenied(lambda: sink.get_database(Name="user_lake"),
                              "glue:GetDatabase", "sink GetDatabase")
        admin = lake.client("admin", "glue")
        self.assertAllowed(lambda: admin.create_table(DatabaseName="user_lake",
                                                      TableInput=iceberg_table("other")),
                           "admin CreateTable user_lake.other")
        self.assertGlueDenied(lambda: sink.get_table(DatabaseName="user_lake", Name="other"),
                              "glue:GetTable", "sink GetTable user_lake.other")

    def test_compactor_may_read_and_update_the_table_but_not_create_it(self):
        lake = Lake(self)
        compactor = lake.client("CompactorFunction", "glue")
        self.assertGlueDenied(lambda: compactor.create_table(DatabaseName="user_lake",
                                                             TableInput=iceberg_table("users")),
                              "glue:CreateTable", "compactor CreateTable")
        lake.client("admin", "glue").create_table(DatabaseName="user_lake",
                                                  TableInput=iceberg_table("users"))
        self.assertAllowed(lambda: compactor.get_table(DatabaseName="user_lake", Name="users"),
                           "compactor GetTable")
        self.assertAllowed(lambda: compactor.update_table(DatabaseName="user_lake",
                                                          TableInput=iceberg_table("users")),
                           "compactor UpdateTable")

    def test_producer_is_denied_the_catalog(self):
        lake = Lake(self)
        lake.client("admin", "glue").create_table(DatabaseName="user_lake",
                                                  TableInput=iceberg_table("users"))
        producer = lake.client("ProducerFunction", "glue")
        self.assertGlueDenied(lambda: producer.get_table(DatabaseName="user_lake", Name="users"),
                              "glue:GetTable", "producer GetTable")


S3TABLES = ("--param", "TableCatalog=s3tables")


class S3TablesCatalogTest(LakeTest):
    """TableCatalog s3tables: the table users in the stack's S3 Tables table bucket, its calls
    authorised on the table bucket and table ARNs and its files' S3 calls as
    s3tables:GetTableData and s3tables:PutTableData on the table, as AWS does (moto_server.py).
    """

    def s3tables_of(self, lake):
        bucket = lake.info["table_buckets"]["TableBucket"]["arn"]
        namespace = lake.info["tables_namespaces"]["TablesNamespace"]["namespace"]
        return bucket, namespace

    def create_the_table(self, lake, who="SinkFunction"):
        """The table created by who, as the sink's first commit creates it; its warehouse
        bucket and version token."""
        bucket, namespace = self.s3tables_of(lake)
        tables = lake.client(who, "s3tables")
        tables.create_table(tableBucketARN=bucket, namespace=namespace, name="users",
                            format="ICEBERG")
        found = tables.get_table_metadata_location(tableBucketARN=bucket, namespace=namespace,
                                                   name="users")
        return found["warehouseLocation"].removeprefix("s3://"), found["versionToken"]

    def test_the_table_bucket_and_namespace_are_created_and_set_in_the_functions_settings(self):
        lake = Lake(self, *S3TABLES)
        bucket, namespace = self.s3tables_of(lake)
        self.assertRegex(bucket,
                         r"^arn:aws:s3tables:us-east-1:123456789012:bucket/lake-[0-9a-f-]+$")
        self.assertEqual(namespace, "user_lake")
        admin = lake.client("admin", "s3tables")
        self.assertEqual(admin.get_namespace(tableBucketARN=bucket, namespace=namespace)
                         ["namespace"], [namespace])
        for function_id in ("SinkFunction", "CompactorFunction"):
            self.assertEqual(lake.info["functions"][function_id]["environment"], {
                "LAKE_FORMAT": "iceberg", "ICEBERG_CATALOG": f"s3tables:{bucket}",
                "ICEBERG_DATABASE": namespace, "ICEBERG_TABLE": "users"}, function_id)
        self.assertEqual(Lake(self).info["table_buckets"], {})

    def test_sink_and_replay_may_create_commit_read_and_write_the_table(self):
        lake = Lake(self, *S3TABLES, "--role", "ReplayRole")
        bucket, namespace = self.s3tables_of(lake)
        sink = lake.client("SinkFunction", "s3tables")
        self.assertEqual(answer(lambda: sink.get_table_metadata_location(
            tableBucketARN=bucket, namespace=namespace, name="users")), (404, "NotFoundException"))
        warehouse, token = self.create_the_table(lake)
        for who in ("SinkFunction", "ReplayRole"):
            s3 = lake.client(who)
            key = f"metadata/00000-{who}.metadata.json"
            self.assertAllowed(lambda k=key, c=s3: c.put_object(Bucket=warehouse, Key=k,
                                                                 Body=b"{}"), f"{who} PutObject")
            self.assertAllowed(lambda k=key, c=s3: c.get_object(Bucket=warehouse, Key=k),
                               f"{who} GetObject")
            self.assertAllowed(lambda k=key, c=s3: c.head_object(Bucket=warehouse, Key=k),
                               f"{who} HeadObject")
            upload = s3.create_multipart_upload(Bucket=warehouse, Key=f"data/{who}.parquet")
            self.assertAllowed(lambda u=upload, c=s3: c.abort_multipart_upload(
                Bucket=warehouse, Key=u["Key"], UploadId=u["UploadId"]), f"{who} multipart")
            tables = lake.client(who, "s3tables")
            moved = tables.update_table_metadata_location(
                tableBucketARN=bucket, namespace=namespace, name="users", versionToken=token,
                metadataLocation=f"s3://{warehouse}/{key}")
            self.assertEqual(moved["namespace"], [namespace])  # a list, as the API model has it
            token = moved["versionToken"]
        # a table bucket accepts no listing nor delete, and the roles are granted neither
        self.assertDenied(lambda: lake.client("SinkFunction").list_objects_v2(Bucket=warehouse),
                          "sink ListObjects on the warehouse")
        self.assertDenied(lambda: lake.client("SinkFunction").delete_object(
            Bucket=warehouse, Key="metadata/00000-SinkFunction.metadata.json"),
            "sink DeleteObject on the warehouse")

    def test_compactor_and_producer_are_refused_the_table_and_its_files(self):
        lake = Lake(self, *S3TABLES)
        bucket, namespace = self.s3tables_of(lake)
        warehouse, _ = self.create_the_table(lake)
        lake.client("admin").put_object(Bucket=warehouse, Key="metadata/0.json", Body=b"{}")
        for who in ("CompactorFunction", "ProducerFunction"):
            tables = lake.client(who, "s3tables")
            self.assertS3TablesDenied(lambda t=tables: t.get_table_metadata_location(
                tableBucketARN=bucket, namespace=namespace, name="users"),
                "s3tables:GetTableMetadataLocation", who)
            self.assertS3TablesDenied(lambda t=tables: t.create_table(
                tableBucketARN=bucket, namespace=namespace, name="other", format="ICEBERG"),
                "s3tables:CreateTable", who)
            s3 = lake.client(who)
            self.assertDenied(lambda c=s3: c.get_object(Bucket=warehouse, Key="metadata/0.json"),
                              f"{who} GetObject on the warehouse")
            self.assertDenied(lambda c=s3: c.put_object(Bucket=warehouse, Key="data/x",
                                                        Body=b"x"),
                              f"{who} PutObject on the warehouse")

    def test_the_sink_is_refused_a_table_call_its_grants_do_not_name(self):
        lake = Lake(self, *S3TABLES)
        bucket, namespace = self.s3tables_of(lake)
        self.create_the_table(lake)
        self.assertS3TablesDenied(lambda: lake.client("SinkFunction", "s3tables").get_table(
            tableBucketARN=bucket, namespace=namespace, name="users"), "s3tables:GetTable",
            "sink GetTable")

    def test_a_narrowed_table_data_grant_refuses_the_writes_and_keeps_the_reads(self):
        lake = Lake(self, *S3TABLES, "--narrow-action", "SinkFunction:s3tables:PutTableData")
        warehouse, _ = self.create_the_table(lake)
        sink = lake.client("SinkFunction")
        self.assertDenied(lambda: sink.put_object(Bucket=warehouse, Key="data/x", Body=b"x"),
                          "sink PutObject without PutTableData")
        self.assertDenied(lambda: sink.create_multipart_upload(Bucket=warehouse, Key="data/y"),
                          "sink CreateMultipartUpload without PutTableData")
        lake.client("admin").put_object(Bucket=warehouse, Key="metadata/0.json", Body=b"{}")
        self.assertAllowed(lambda: sink.get_object(Bucket=warehouse, Key="metadata/0.json"),
                           "sink GetObject with GetTableData")

    def test_a_grant_on_the_table_bucket_alone_refuses_the_table_calls(self):
        # without the .../table/* entry the bucket's calls stay and the table's go
        lake = Lake(self, *S3TABLES, "--narrow", "SinkFunction:/table/*")
        bucket, namespace = self.s3tables_of(lake)
        sink = lake.client("SinkFunction", "s3tables")
        self.assertAllowed(lambda: sink.create_table(tableBucketARN=bucket, namespace=namespace,
                                                     name="users", format="ICEBERG"),
                           "sink CreateTable on the bucket")
        self.assertS3TablesDenied(lambda: sink.get_table_metadata_location(
            tableBucketARN=bucket, namespace=namespace, name="users"),
            "s3tables:GetTableMetadataLocation", "sink GetTableMetadataLocation")
        found = lake.client("admin", "s3tables").get_table_metadata_location(
            tableBucketARN=bucket, namespace=namespace, name="users")
        self.assertDenied(lambda: lake.client("SinkFunction").put_object(
            Bucket=found["warehouseLocation"].removeprefix("s3://"), Key="data/x", Body=b"x"),
            "sink PutObject without the table's ARN")


class OptionsTest(LakeTest):
    def test_a_narrowed_action_is_denied_and_the_roles_other_actions_stay(self):
        lake = Lake(self, "--narrow-action", "SinkFunction:glue:UpdateTable")
        sink = lake.client("SinkFunction", "glue")
        self.assertAllowed(lambda: sink.create_table(DatabaseName="user_lake",
                                                     TableInput=iceberg_table("users")),
                           "narrowed sink CreateTable")
        self.assertAllowed(lambda: sink.get_table(DatabaseName="user_lake", Name="users"),
                           "narrowed sink GetTable")
        self.assertGlueDenied(lambda: sink.update_table(DatabaseName="user_lake",
                                                        TableInput=iceberg_table("users")),
                              "glue:UpdateTable", "narrowed sink UpdateTable")
        self.assertEqual(lake.info["functions"]["SinkFunction"]["narrowed"],
                         [{"policy": "lake-table", "removed_action": "glue:UpdateTable"}])
        compactor = lake.client("CompactorFunction", "glue")
        self.assertAllowed(lambda: compactor.update_table(DatabaseName="user_lake",
                                                          TableInput=iceberg_table("users")),
                           "compactor UpdateTable")

    def test_narrowed_sink_is_denied_users_csv_and_keeps_its_other_roots(self):
        lake = Lake(self, *FILES, "--narrow", "SinkFunction:users_csv")
        sink = lake.client("SinkFunction")
        self.assertDenied(lambda: sink.put_object(Bucket=lake.lake, Key="users_csv/x.csv",
                                                  Body=b"x"), "narrowed sink PutObject users_csv/")
        self.assertFalse(lake.exists("users_csv/x.csv"))
        for root in ("users/", "users_jsonl/", "_errors/"):
            self.assertAllowed(
                lambda k=f"{root}x": sink.put_object(Bucket=lake.lake, Key=k, Body=b"x"),
                f"narrowed sink PutObject {root}")
        self.assertEqual(lake.info["functions"]["SinkFunction"]["narrowed"],
                         [{"policy": "lake-write",
                           "removed": [f"arn:aws:s3:::{lake.lake}/users_csv/*"]}])
        self.assertEqual(lake.info["functions"]["CompactorFunction"]["narrowed"], [])

    def test_lake_prefix_moves_the_sink_and_compactor_grants(self):
        lake = Lake(self, *FILES, "--param", "LakePrefix=lake/raw/")
        sink = lake.client("SinkFunction")
        compactor = lake.client("CompactorFunction")
        for root in LAKE_ROOTS:
            self.assertAllowed(
                lambda k=f"lake/raw/{root}x": sink.put_object(Bucket=lake.lake, Key=k, Body=b"x"),
                f"sink PutObject lake/raw/{root}")
            self.assertDenied(
                lambda k=f"{root}x": sink.put_object(Bucket=lake.lake, Key=k, Body=b"x"),
                f"sink PutObject {root} without the prefix")
        got = compactor.get_object(Bucket=lake.lake, Key="lake/raw/users/x")["Body"].read()
        self.assertEqual(got, b"x")
        self.assertAllowed(
            lambda: compactor.delete_object(Bucket=lake.lake, Key="lake/raw/users/x"),
            "compactor DeleteObject lake/raw/users/")
        lake.seed("users/x")
        self.assertDenied(lambda: compactor.get_object(Bucket=lake.lake, Key="users/x"),
                          "compactor GetObject users/ without the prefix")
        self.assertEqual(lake.info["parameters"]["LakePrefix"], "lake/raw/")

    def test_bucket_options_name_the_buckets_and_the_grants(self):
        lake = Lake(self, "--lake-bucket", "lake-b", "--failed-bucket", "failed-b")
        self.assertEqual(lake.info["buckets"], {"lake": "lake-b", "failed": "failed-b"})
        sink = lake.client("SinkFunction")
        self.assertAllowed(lambda: sink.put_object(Bucket="lake-b", Key="_errors/x", Body=b"x"),
                           "sink PutObject lake-b/_errors/")
        self.assertAllowed(lambda: sink.put_object(Bucket="failed-b", Key="x", Body=b"x"),
                           "sink PutObject failed-b/")
        names = {b["Name"] for b in lake.client("admin").list_buckets()["Buckets"]}
        self.assertEqual(names, {"lake-b", "failed-b"})


class ResolvedPoliciesTest(LakeTest):
    def test_each_function_gets_the_policies_the_template_gives_its_role(self):
        lake = Lake(self)
        functions = lake.info["functions"]
        self.assertEqual({f: v["role_logical_id"] for f, v in functions.items()},
                         {"ProducerFunction": "ProducerRole", "SinkFunction": "SinkRole",
                          "CompactorFunction": "CompactorRole"})
        iam = lake.client("admin", "iam")
        for function_id, f in functions.items():
            role_name = f["role"].rsplit("/", 1)[1]
            in_moto = {name: iam.get_role_policy(RoleName=role_name, PolicyName=name)
                       ["PolicyDocument"]
                       for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]}
            self.assertEqual(in_moto, f["policies"], function_id)
            attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
            self.assertEqual({p["PolicyArn"] for p in attached}, set(f["managed_policies"]))

    def test_sink_and_compactor_s3_grants_resolve_to_the_lake_and_failed_buckets(self):
        lake = Lake(self)
        sink = lake.info["functions"]["SinkFunction"]["policies"]
        self.assertEqual(sink["lake-write"]["Statement"], [{
            "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": ["arn:aws:s3:::data-lake/_errors/*"]}])
        table = sink["lake-table"]["Statement"]
        self.assertEqual(table[0]["Resource"], "arn:aws:s3:::data-lake/iceberg/users/*")
        self.assertEqual(table[1]["Resource"][1:], [
            "arn:aws:glue:us-east-1:123456789012:database/user_lake",
            "arn:aws:glue:us-east-1:123456789012:table/user_lake/users"])
        failed = sink["failed-batch-destination"]["Statement"]
        self.assertEqual([(s["Action"], s["Resource"]) for s in failed],
                         [("s3:ListBucket", "arn:aws:s3:::failed-batches"),
                          ("s3:PutObject", "arn:aws:s3:::failed-batches/*")])
        self.assertIn("lake-table-maintenance",
                      lake.info["functions"]["CompactorFunction"]["policies"])

    def test_the_files_layout_grants_resolve_to_the_lake_roots(self):
        lake = Lake(self, *FILES)
        sink = lake.info["functions"]["SinkFunction"]["policies"]
        self.assertEqual(sink["lake-write"]["Statement"], [{
            "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": [f"arn:aws:s3:::data-lake/{root}*" for root in LAKE_ROOTS]}])
        self.assertNotIn("lake-table", sink)
        compactor = lake.info["functions"]["CompactorFunction"]["policies"]
        self.assertEqual(compactor["lake-compact"]["Statement"][1], {
            "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": "arn:aws:s3:::data-lake/users/*"})
        self.assertNotIn("lake-table-maintenance", compactor)

    def test_state_file_holds_the_printed_line(self):
        lake = Lake(self)
        self.assertEqual((lake.dir / "iam.json").read_text(encoding="utf-8"), lake.line)


class ConditionalWritesTest(LakeTest):
    def test_put_if_none_match_star_refuses_an_existing_key_with_412(self):
        lake = Lake(self, *FILES)
        compactor = lake.client("CompactorFunction")
        key = "users/dt=2026-11-24/hour=09/compacted-0123abcd.parquet"
        self.assertAllowed(lambda: compactor.put_object(Bucket=lake.lake, Key=key, Body=b"first",
                                                        IfNoneMatch="*"), "first put")
        self.assertEqual(answer(lambda: compactor.put_object(Bucket=lake.lake, Key=key,
                                                             Body=b"second", IfNoneMatch="*")),
                         (412, "PreconditionFailed"))
        self.assertEqual(lake.body(key), b"first")

    def test_put_if_match_needs_the_current_etag(self):
        lake = Lake(self, *FILES)
        compactor = lake.client("CompactorFunction")
        key = "users/lease-like.json"
        first = compactor.put_object(Bucket=lake.lake, Key=key, Body=b"one")["ETag"]
        second = compactor.put_object(Bucket=lake.lake, Key=key, Body=b"two", IfMatch=first)
        self.assertNotEqual(second["ETag"], first)
        self.assertEqual(answer(lambda: compactor.put_object(Bucket=lake.lake, Key=key,
                                                             Body=b"three", IfMatch=first)),
                         (412, "PreconditionFailed"))
        self.assertEqual(lake.body(key), b"two")
        self.assertEqual(answer(lambda: compactor.put_object(Bucket=lake.lake, Key="users/none",
                                                             Body=b"x", IfMatch=first)),
                         (404, "NoSuchKey"))

    def test_conditional_put_is_authorised_before_its_condition_is_checked(self):
        lake = Lake(self)
        key = "_errors/dt=2026-11-24/users_created-0-0-9.jsonl"
        lake.seed(key)  # the condition would fail (412) if it were checked first
        compactor = lake.client("CompactorFunction")
        self.assertDenied(lambda: compactor.put_object(Bucket=lake.lake, Key=key, Body=b"new",
                                                       IfNoneMatch="*"),
                          "compactor conditional PutObject outside its grant")
        self.assertEqual(lake.body(key), b"seeded")


class SignaturesTest(LakeTest):
    def test_a_wrong_secret_key_is_refused(self):
        lake = Lake(self)
        for who in ("SinkFunction", "admin"):
            s3 = lake.client(who, secret="wrong-secret-key")
            self.assertEqual(answer(lambda s=s3: s.put_object(Bucket=lake.lake, Key="users/x",
                                                              Body=b"x")),
                             (403, "SignatureDoesNotMatch"), who)
        self.assertFalse(lake.exists("users/x"))

    def test_a_wrong_session_token_is_refused(self):
        lake = Lake(self)
        s3 = lake.client("SinkFunction", token="not-the-session-token")
        self.assertEqual(answer(lambda: s3.put_object(Bucket=lake.lake, Key="users/x", Body=b"x")),
                         (400, "InvalidToken"))
        self.assertFalse(lake.exists("users/x"))

    def test_session_credentials_without_their_token_are_refused(self):
        lake = Lake(self)
        s3 = lake.client("SinkFunction", token="")
        self.assertEqual(answer(lambda: s3.put_object(Bucket=lake.lake, Key="users/x", Body=b"x")),
                         (403, "InvalidAccessKeyId"))

    def test_an_unsigned_put_is_refused_and_writes_nothing(self):
        lake = Lake(self)
        s3 = lake.client("SinkFunction", unsigned=True)
        status, _ = answer(lambda: s3.put_object(Bucket=lake.lake, Key="users/x", Body=b"x"))
        self.assertGreaterEqual(status, 400)  # moto answers 500: it expects an Authorization
        self.assertFalse(lake.exists("users/x"))


class LifecycleTest(LakeTest):
    def test_sigterm_stops_moto_and_removes_the_state_file(self):
        lake = Lake(self)
        pid = lake.info["pid"]
        self.assertFalse(process_gone(pid))
        lake.process.send_signal(signal.SIGTERM)
        self.assertEqual(lake.process.wait(30), 0)
        self.assertTrue(wait_until(lambda: process_gone(pid)), "moto still runs")
        self.assertTrue(port_closed(lake.port))
        self.assertFalse((lake.dir / "iam.json").exists())

    def test_sigterm_to_moto_itself_ends_the_command_cleanly(self):
        lake = Lake(self)
        os.kill(lake.info["pid"], signal.SIGTERM)
        self.assertEqual(lake.process.wait(30), 0)
        self.assertFalse((lake.dir / "iam.json").exists())

    def test_killing_the_command_also_stops_moto(self):
        lake = Lake(self)
        pid = lake.info["pid"]
        lake.process.kill()
        lake.process.wait(30)
        self.assertTrue(wait_until(lambda: process_gone(pid)), "moto outlived a SIGKILL")
        self.assertTrue(wait_until(lambda: port_closed(lake.port)))

    def test_once_runs_the_self_check_and_stops_moto(self):
        port = free_port()
        done = run_command("--once", "--port", str(port))
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = done.stdout.splitlines()
        self.assertEqual(len(lines), 1)
        info = json.loads(lines[0])
        self.assertTrue(info["self_check"]["passed"], info["self_check"])
        self.assertTrue(process_gone(info["pid"]))
        self.assertTrue(port_closed(port))

    def test_a_port_in_use_fails_with_status_1(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            done = run_command("--port", str(port))
        self.assertEqual(done.returncode, 1)
        self.assertIn(f"127.0.0.1:{port} is not free", done.stderr)


class RefusalsTest(unittest.TestCase):
    """What the command refuses before it starts moto: exit 2 and a message naming why."""

    def assertRefused(self, done, *fragments):
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(done.stdout, "")
        for fragment in fragments:
            self.assertIn(fragment, done.stderr)

    def test_a_parameter_outside_its_allowed_pattern_is_refused(self):
        self.assertRefused(run_command("--resolve-only", "--param", "LakePrefix=lake/raw"),
                           "LakePrefix='lake/raw'", "AllowedPattern")

    def test_an_unknown_parameter_is_refused(self):
        self.assertRefused(run_command("--resolve-only", "--param", "LakePrefx=a/"),
                           "--param LakePrefx")

    def test_a_narrowing_that_matches_nothing_is_refused(self):
        self.assertRefused(run_command("--resolve-only", "--narrow", "SinkFunction:no-such-root"),
                           "SinkRole", "no-such-root")

    def test_an_action_narrowing_that_matches_nothing_is_refused(self):
        self.assertRefused(run_command("--resolve-only", "--narrow-action",
                                       "CompactorFunction:glue:CreateTable"),
                           "CompactorRole", "glue:CreateTable")

    def test_a_narrowing_of_an_unknown_function_is_refused(self):
        self.assertRefused(run_command("--resolve-only", "--narrow", "Sink:users"),
                           "no function Sink")

    def test_scram_without_a_secret_fails_the_templates_rule(self):
        self.assertRefused(run_command("--resolve-only", "--param", "KafkaSecurity=scram"),
                           "ScramNeedsSecret")

    def test_scram_adds_the_secret_policy_resolved_from_the_secret_arn(self):
        secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_lake-AbCdEf"
        done = run_command("--resolve-only", "--param", "KafkaSecurity=scram",
                           "--param", f"KafkaSaslSecretArn={secret}")
        self.assertEqual(done.returncode, 0, done.stderr)
        policies = json.loads(done.stdout)["functions"]["ProducerFunction"]["policies"]
        statements = policies["kafka-scram-secret"]["Statement"]
        self.assertEqual(statements[0]["Resource"], secret)
        self.assertEqual(statements[1]["Condition"]["StringEquals"],
                         {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com",
                          "kms:EncryptionContext:SecretARN": secret})
        plain = json.loads(run_command("--resolve-only").stdout)
        self.assertNotIn("kafka-scram-secret", plain["functions"]["ProducerFunction"]["policies"])

    def test_a_reference_without_a_physical_name_names_the_resource_and_the_intrinsic(self):
        directory = Path(tempfile.mkdtemp(prefix="moto-lake-test-"))
        self.addCleanup(shutil.rmtree, directory, True)
        template = directory / "template.yaml"
        template.write_text(textwrap.dedent("""\
            AWSTemplateFormatVersion: "2010-09-09"
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Queue:
                Type: AWS::SQS::Queue
              Fn:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: .
                  Runtime: provided.al2023
                  Handler: bootstrap
                  Role: !GetAtt FnRole.Arn
              FnRole:
                Type: AWS::IAM::Role
                Properties:
                  AssumeRolePolicyDocument:
                    Version: "2012-10-17"
                    Statement:
                      - Effect: Allow
                        Principal: { Service: lambda.amazonaws.com }
                        Action: sts:AssumeRole
                  Policies:
                    - PolicyName: send
                      PolicyDocument:
                        Version: "2012-10-17"
                        Statement:
                          - Effect: Allow
                            Action: sqs:SendMessage
                            Resource: !GetAtt Queue.Arn
            """), encoding="utf-8")
        self.assertRefused(run_command("--resolve-only", "--template", str(template)),
                           "FnRole.Properties.Policies[0]", 'Fn::GetAtt ["Queue", "Arn"]',
                           "--physical-name Queue=NAME")
        done = run_command("--resolve-only", "--template", str(template),
                           "--physical-name", "Queue=failures")
        self.assertEqual(done.returncode, 0, done.stderr)
        policy = json.loads(done.stdout)["functions"]["Fn"]["policies"]["send"]
        self.assertEqual(policy["Statement"][0]["Resource"],
                         "arn:aws:sqs:us-east-1:123456789012:failures")


if __name__ == "__main__":
    unittest.main()
