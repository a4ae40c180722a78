"""Query the local lake with DuckDB. Prints one JSON line: rows, distinct ids, and rows per hour
for a topic, with the SQL that counted them.

The Iceberg table (LAKE_FORMAT=iceberg, the default): the table's current metadata file is
found in the local SQL catalog, and DuckDB's iceberg extension (loaded from its PyPI wheel,
nothing downloaded) scans it through the local S3 endpoint:

    $USER_LAKE_VENV/bin/python infra/local/query.py --table output/iceberg-catalog.db [topic]

The plain-files layout (LAKE_FORMAT=files): the files under output/<bucket>/users/ as one
Hive-partitioned table:

    $USER_LAKE_VENV/bin/python infra/local/query.py output/data-lake/users [topic]

The S3 endpoint and credentials of --table come from AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_REGION (infra/local/local.env sets them), the table's name from
ICEBERG_DATABASE and ICEBERG_TABLE.
"""
import json
import os
import sys
from urllib.parse import urlparse

import duckdb

sys.path.insert(0, os.path.dirname(__file__))
from duckdb_lake import current_metadata_location, duckdb_extension, sql_string  # noqa: E402


def current_metadata(catalog_file, namespace, table):
    """The table's metadata file as the SQL catalog names it (pyiceberg's SqlCatalog tables)."""
    try:
        return current_metadata_location(catalog_file, namespace, table)
    except LookupError as missing:
        sys.exit(f"query.py: {missing}")


def table_scan(con, catalog_file):
    """Loads the extensions, makes the S3 secret and returns the iceberg_scan(...) expression."""
    for name in ("avro", "httpfs", "iceberg"):
        con.execute(f"LOAD {sql_string(duckdb_extension(name))}")
    con.execute("SET TimeZone = 'UTC'")
    endpoint = urlparse(os.environ["AWS_ENDPOINT_URL_S3"])
    con.execute(
        f"""CREATE SECRET lake (TYPE s3, PROVIDER config,
            KEY_ID {sql_string(os.environ['AWS_ACCESS_KEY_ID'])},
            SECRET {sql_string(os.environ['AWS_SECRET_ACCESS_KEY'])},
            REGION {sql_string(os.environ.get('AWS_REGION', 'us-east-1'))},
            ENDPOINT {sql_string(endpoint.netloc)}, URL_STYLE 'path',
            USE_SSL {'true' if endpoint.scheme == 'https' else 'false'})"""
    )
    metadata = current_metadata(
        catalog_file,
        os.environ.get("ICEBERG_DATABASE", "user_lake"),
        os.environ.get("ICEBERG_TABLE", "users"),
    )
    return f"iceberg_scan({sql_string(metadata)})", metadata


def main(argv):
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    if argv[0] == "--table":
        lake, metadata = table_scan(con, argv[1])
        topic = argv[2] if len(argv) > 2 else "users_created"
        hour = "date_trunc('hour', kafka_timestamp)"
        by_hour_sql = f"""SELECT strftime({hour}, '%Y-%m-%d') AS dt, hour({hour}) AS hour,
                count(*) AS n, NULL AS files FROM {lake} WHERE kafka_topic = ? GROUP BY ALL ORDER BY ALL"""
    else:
        users = argv[0].rstrip("/")
        topic = argv[1] if len(argv) > 1 else "users_created"
        lake, metadata = f"read_parquet('{users}/*/*/*.parquet', hive_partitioning = true)", None
        by_hour_sql = f"""SELECT dt, hour, count(*) AS n, count(DISTINCT filename) AS files
            FROM read_parquet('{users}/*/*/*.parquet', hive_partitioning = true, filename = true)
            WHERE kafka_topic = ? GROUP BY dt, hour ORDER BY dt, hour"""
    count_sql = f"SELECT count(*), count(DISTINCT id) FROM {lake} WHERE kafka_topic = ?"
    rows, ids = con.execute(count_sql, [topic]).fetchone()
    by_hour = con.execute(by_hour_sql, [topic]).fetchall()
    answer = {
        "rows": rows,
        "distinct_ids": ids,
        "by_hour": [
            {"dt": str(d), "hour": int(h), "rows": n, **({"files": f} if f is not None else {})}
            for d, h, n, f in by_hour
        ],
        "sql": count_sql.replace("?", f"'{topic}'"),
    }
    if metadata:
        answer["metadata_location"] = metadata
        # the data files of the current snapshot: its manifests' entries that are not deletions
        answer["files"] = con.execute(
            f"""SELECT count(*) FROM iceberg_metadata({sql_string(metadata)})
                WHERE manifest_content = 'DATA' AND status <> 'DELETED'"""
        ).fetchone()[0]
    print(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv[1:])
