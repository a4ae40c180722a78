"""Accounts for every message of a load run with DuckDB, from the lake alone.

Every row of the lake (the Iceberg table's current snapshot, read with pyiceberg through its
catalog and the S3 endpoint; or, in the plain-files layout, every object under users/) and every
line under _errors/ names its topic, partition and offset. On a
topic that the run created, each partition's offsets run from 0 without a hole, so the messages
are all accounted for exactly when, per partition, the offsets found are 0..n-1 with none twice,
and the n add up to what the producer reported as acknowledged. Ids must be unique too (each
user is a new UUID). Prints one JSON object of counts; exits 1 if any check fails.

    $USER_LAKE_VENV/bin/python infra/local/load_check.py <bucket dir> <topic> <reported produced> \
        [<sqlite catalog file> <namespace.table>]
"""
import glob
import json
import os
import sys

import duckdb

bucket, topic, reported = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3])
catalog, table = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
con = duckdb.connect()
parquet = glob.glob(f"{bucket}/users/*/*/*.parquet")
if catalog:
    from pyiceberg.catalog.sql import SqlCatalog

    props = {"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO", "s3.force-virtual-addressing": "false",
             "s3.endpoint": os.environ["AWS_ENDPOINT_URL_S3"], "s3.region": os.environ["AWS_REGION"],
             "s3.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
             "s3.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"]}
    rows = (SqlCatalog("load", uri=f"sqlite:///{catalog}", **props).load_table(table)
            .scan(selected_fields=("kafka_topic", "kafka_partition", "kafka_offset", "id")).to_arrow())
    con.register("table_rows", rows)
    con.execute(
        """CREATE TABLE lake AS SELECT kafka_partition AS p, kafka_offset AS o, id
           FROM table_rows WHERE kafka_topic = ?""",
        [topic],
    )
elif parquet:
    con.execute(
        """CREATE TABLE lake AS SELECT kafka_partition AS p, kafka_offset AS o, id
           FROM read_parquet(?) WHERE kafka_topic = ?""",
        [parquet, topic],
    )
else:
    con.execute("CREATE TABLE lake (p INTEGER, o BIGINT, id UUID)")
errors = glob.glob(f"{bucket}/_errors/*/*.jsonl")
if errors:
    con.execute(
        """CREATE TABLE errors AS SELECT "partition" AS p, "offset" AS o FROM read_json(?,
             columns = {'topic': 'VARCHAR', 'partition': 'INTEGER', 'offset': 'BIGINT'},
             format = 'newline_delimited') WHERE topic = ?""",
        [errors, topic],
    )
else:
    con.execute("CREATE TABLE errors (p INTEGER, o BIGINT)")


def one(sql):
    return con.execute(sql).fetchone()[0]


con.execute("CREATE VIEW found AS SELECT p, o FROM lake UNION ALL SELECT p, o FROM errors")
partitions = con.execute(
    """SELECT p, count(*), count(DISTINCT o), min(o), max(o) FROM found GROUP BY p ORDER BY p"""
).fetchall()
accounted = sum(distinct for _, _, distinct, _, _ in partitions)
counts = {
    "reported_produced": reported,
    "lake_rows": one("SELECT count(*) FROM lake"),
    "lake_distinct_ids": one("SELECT count(DISTINCT id) FROM lake"),
    "error_records": one("SELECT count(*) FROM errors"),
    "partitions": {str(p): {"messages": d, "first": lo, "last": hi} for p, _, d, lo, hi in partitions},
    # acknowledged by the broker but not found, or an offset missing below a partition's last
    "lost": max(reported - accounted, 0),
    "gaps": sum((hi + 1) - d for _, _, d, _, hi in partitions),
    # a message found more than once (in the lake, under _errors/, or both), or an id twice
    "duplicated": sum(n - d for _, n, d, _, _ in partitions),
    "ids_twice": one("SELECT count(*) - count(DISTINCT id) FROM lake"),
    # found but never reported as produced
    "unexpected": max(accounted - reported, 0),
}
files = [p for p in glob.glob(f"{bucket}/**/*", recursive=True) if os.path.isfile(p)]
counts["lake_objects"] = len(files)
counts["last_object_mtime"] = max((os.path.getmtime(p) for p in files), default=None)
print(json.dumps(counts))
failed = any(counts[k] for k in ("lost", "gaps", "duplicated", "ids_twice", "unexpected"))
sys.exit(1 if failed else 0)
