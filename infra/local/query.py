"""Query the local lake with DuckDB: the files under output/<bucket>/users/ as one Hive-partitioned
table. Prints one JSON line: rows, distinct ids, and rows per hour partition for a topic.

    $USER_LAKE_VENV/bin/python infra/local/query.py output/data-lake/users [topic]
"""
import json
import sys

import duckdb

users = sys.argv[1].rstrip("/")
topic = sys.argv[2] if len(sys.argv) > 2 else "users_created"
lake = f"read_parquet('{users}/*/*/*.parquet', hive_partitioning = true)"
con = duckdb.connect()
rows, ids = con.execute(
    f"SELECT count(*), count(DISTINCT id) FROM {lake} WHERE kafka_topic = ?", [topic]
).fetchone()
by_hour = con.execute(
    f"""SELECT dt, hour, count(*) AS n, count(DISTINCT filename) AS files
        FROM read_parquet('{users}/*/*/*.parquet', hive_partitioning = true, filename = true)
        WHERE kafka_topic = ? GROUP BY dt, hour ORDER BY dt, hour""",
    [topic],
).fetchall()
print(json.dumps({
    "rows": rows,
    "distinct_ids": ids,
    "by_hour": [{"dt": str(d), "hour": int(h), "rows": n, "files": f} for d, h, n, f in by_hour],
}))
