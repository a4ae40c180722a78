"""Reads the lake's Iceberg table with independent readers and says whether they agree.

The table is committed by our own Rust code, so proving that every user is in it exactly once
needs readers that share none of that code: pyiceberg through the SQL catalog, pyiceberg's
StaticTable on the metadata file alone, DuckDB's iceberg extension and polars' scan_iceberg. Each
reader's rows are canonicalised the same way (every row as JSON with sorted keys, timestamps as
RFC 3339 UTC with milliseconds, integers as integers) and summed up as a row count, a count of
distinct ids and a SHA-256 digest of the sorted rows, so that "the readers agree" is a plain
equality. Prints one JSON object on stdout:

    {"readers": {"<name>": {"rows": N, "distinct_ids": N, "digest": "...", "snapshot_id": N}},
     "metadata_location": "s3://...", "snapshot_id": N, "agree": true}

and exits 0 when every reader ran, whether or not they agree (the caller asserts); exits 2 with a
JSON error on stderr naming the readers that failed.

    $USER_LAKE_VENV/bin/python local/e2e/python/read_table.py \
        --catalog-uri sqlite:////abs/path/catalog.db --catalog-name user_lake \
        --table user_lake.users --s3-endpoint http://127.0.0.1:4566 \
        [--access-key K --secret-key S --region us-east-1] [--readers pyiceberg,static,duckdb,polars] \
        [--snapshot-id N] [--rows rows.jsonl]

Credentials, region and endpoint default to AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION (or AWS_DEFAULT_REGION) and AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL).
"""
import argparse
import datetime
import hashlib
import json
import os
import sys
import traceback
from urllib.parse import urlparse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "infra", "local"))
from duckdb_lake import current_metadata_location, duckdb_extension, sql_string  # noqa: E402,F401

READERS = ("pyiceberg", "static", "duckdb", "polars")
EPOCH = datetime.datetime(1970, 1, 1)


def parse_args(argv):
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--catalog-uri", required=True, help="SQLAlchemy URI of the SQL catalog")
    p.add_argument("--catalog-name", default="user_lake", help="catalog_name in its tables")
    p.add_argument("--table", required=True, help="namespace.table, e.g. user_lake.users")
    p.add_argument("--s3-endpoint", default=env("AWS_ENDPOINT_URL_S3") or env("AWS_ENDPOINT_URL"))
    p.add_argument("--access-key", default=env("AWS_ACCESS_KEY_ID"))
    p.add_argument("--secret-key", default=env("AWS_SECRET_ACCESS_KEY"))
    p.add_argument("--region", default=env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1")
    p.add_argument("--readers", default=",".join(READERS), help="comma-separated subset of " + ",".join(READERS))
    p.add_argument("--snapshot-id", type=int, help="read this snapshot instead of the current one")
    p.add_argument("--rows", help="write the rows pyiceberg read here as JSON Lines, "
                   "sorted by (kafka_topic, kafka_partition, kafka_offset)")
    args = p.parse_args(argv)
    args.readers = [r.strip() for r in args.readers.split(",") if r.strip()]
    unknown = [r for r in args.readers if r not in READERS]
    if unknown or not args.readers:
        p.error(f"unknown readers {unknown}; choose from {','.join(READERS)}")
    if args.rows and "pyiceberg" not in args.readers:
        p.error("--rows writes the rows the pyiceberg reader read: include it in --readers")
    if "." not in args.table:
        p.error("--table must be namespace.table")
    return args


def s3_properties(args):
    """pyiceberg FileIO properties for the S3 store (path-style, as S3_FORCE_PATH_STYLE)."""
    props = {"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO", "s3.region": args.region,
             "s3.force-virtual-addressing": "false"}
    if args.s3_endpoint:
        props["s3.endpoint"] = args.s3_endpoint
    if args.access_key:
        props["s3.access-key-id"] = args.access_key
    if args.secret_key:
        props["s3.secret-access-key"] = args.secret_key
    return props


# --- canonical rows -------------------------------------------------------------------------


def format_ms(ms):
    """Milliseconds since the epoch as RFC 3339 UTC with milliseconds: 2024-01-02T03:04:05.678Z."""
    instant = EPOCH + datetime.timedelta(milliseconds=ms)
    return instant.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def canonical_column(column):
    """An Arrow column as Python values every reader gives alike."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_timestamp(kind):
        # Arrow keeps a zoned timestamp as its UTC instant, so dropping the zone leaves UTC (a
        # naive timestamp is read as UTC too); strftime's %S then carries the fraction, floored.
        if kind.unit == "ns":
            raw = column.cast(pa.timestamp("ns")).cast(pa.int64()).to_pylist()
            return [None if v is None else format_ms(v // 1_000_000) for v in raw]
        text = pc.strftime(column.cast(pa.timestamp(kind.unit)).cast(pa.timestamp("us")),
                           format="%Y-%m-%dT%H:%M:%S").to_pylist()
        return [None if v is None else v[:23] + "Z" for v in text]
    if pa.types.is_date(kind):
        return [None if v is None else v.isoformat() for v in column.to_pylist()]
    if pa.types.is_integer(kind):
        return [None if v is None else int(v) for v in column.to_pylist()]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or str(kind) == "string_view":
        return column.to_pylist()
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return [None if v is None else v.hex() for v in column.to_pylist()]
    if isinstance(kind, pa.ExtensionType):
        return canonical_column(column.storage)
    return [None if v is None else (v if isinstance(v, (bool, int, float, str)) else str(v))
            for v in column.to_pylist()]


def canonical_rows(table, columns):
    """The table's rows as dicts over `columns`, values canonicalised."""
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"columns missing from the result: {missing} (got {table.column_names})")
    values = [canonical_column(table.column(c).combine_chunks()) for c in columns]
    return [dict(zip(columns, row)) for row in zip(*values)]


ROW_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_json(row):
    return ROW_JSON.encode(row)


def summarise(rows, snapshot_id):
    lines = sorted(row_json(r) for r in rows)
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
        digest.update(b"\n")
    ids = {r.get("id") for r in rows if r.get("id") is not None}
    return {"rows": len(rows), "distinct_ids": len(ids), "digest": digest.hexdigest(),
            "snapshot_id": snapshot_id}


# --- readers --------------------------------------------------------------------------------


def load_catalog_table(args):
    from pyiceberg.catalog.sql import SqlCatalog

    # A reader never creates the catalog's tables: a missing catalog must fail, not look empty.
    catalog = SqlCatalog(args.catalog_name, uri=args.catalog_uri, init_catalog_tables="false",
                         **s3_properties(args))
    return catalog.load_table(args.table)


def scan_snapshot_id(table, requested):
    if requested is not None:
        if table.metadata.snapshot_by_id(requested) is None:
            raise ValueError(f"snapshot {requested} not in {table.metadata_location}")
        return requested
    current = table.current_snapshot()
    return None if current is None else current.snapshot_id


def read_pyiceberg(args, ctx):
    table = ctx["table"]
    snapshot = scan_snapshot_id(table, args.snapshot_id)
    return table.scan(snapshot_id=snapshot).to_arrow(), snapshot


def read_static(args, ctx):
    from pyiceberg.table import StaticTable

    table = StaticTable.from_metadata(ctx["metadata_location"], properties=s3_properties(args))
    snapshot = scan_snapshot_id(table, args.snapshot_id)
    return table.scan(snapshot_id=snapshot).to_arrow(), snapshot


def read_duckdb(args, ctx):
    import duckdb

    # Nothing is downloaded: the extensions are LOADed from their wheels, avro first (the
    # iceberg extension reads manifests with it), and autoloading is off so a missing one fails.
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        for name in ("avro", "httpfs", "iceberg"):
            con.execute(f"LOAD {sql_string(duckdb_extension(name))}")
        con.execute("SET TimeZone = 'UTC'")
        secret = ["TYPE s3", "PROVIDER config", f"REGION {sql_string(args.region)}"]
        if args.access_key:
            secret.append(f"KEY_ID {sql_string(args.access_key)}")
        if args.secret_key:
            secret.append(f"SECRET {sql_string(args.secret_key)}")
        if args.s3_endpoint:
            endpoint = urlparse(args.s3_endpoint)
            secret += [f"ENDPOINT {sql_string(endpoint.netloc)}", "URL_STYLE 'path'",
                       f"USE_SSL {'true' if endpoint.scheme == 'https' else 'false'}"]
        con.execute(f"CREATE SECRET lake ({', '.join(secret)})")
        location = sql_string(ctx["metadata_location"])
        if args.snapshot_id is not None:
            snapshot = args.snapshot_id
            scan = f"iceberg_scan({location}, snapshot_from_id = {int(snapshot)})"
        else:
            # The snapshot DuckDB reads when given none: the metadata file's current one, as
            # DuckDB itself reads that file.
            snapshot = con.execute(
                f"""SELECT json_extract(content, '$."current-snapshot-id"')::BIGINT
                    FROM read_text({location})"""
            ).fetchone()[0]
            if snapshot == -1:
                snapshot = None
            scan = f"iceberg_scan({location})"
        return con.execute(f"SELECT * FROM {scan}").to_arrow_table(), snapshot
    finally:
        con.close()


def read_polars(args, ctx):
    import polars as pl
    from pyiceberg.table import StaticTable

    options = s3_properties(args)
    # polars' native Parquet reader (object_store) refuses plain http unless told it may.
    if (args.s3_endpoint or "").startswith("http://"):
        options["aws_allow_http"] = "true"
    snapshot = args.snapshot_id
    if snapshot is None:
        current = StaticTable.from_metadata(ctx["metadata_location"],
                                            properties=s3_properties(args)).current_snapshot()
        snapshot = None if current is None else current.snapshot_id
    frame = pl.scan_iceberg(ctx["metadata_location"], snapshot_id=args.snapshot_id,
                            storage_options=options, reader_override="native").collect()
    return frame.to_arrow(), snapshot


READ = {"pyiceberg": read_pyiceberg, "static": read_static, "duckdb": read_duckdb,
        "polars": read_polars}


def error_exit(failed, **extra):
    names = sorted(failed)
    print(json.dumps({"error": f"reader{'s' if len(names) > 1 else ''} failed: {', '.join(names)}",
                      "failed": failed, **extra}), file=sys.stderr)
    return 2


def describe(exc):
    return {"type": type(exc).__name__, "message": str(exc)[:2000],
            "trace": traceback.format_exc(limit=8)[-4000:]}


def main(argv=None):
    args = parse_args(argv)
    try:
        table = load_catalog_table(args)
    except Exception as exc:  # noqa: BLE001 - reported as JSON, whatever it is
        return error_exit({"catalog": describe(exc)}, catalog_uri=args.catalog_uri, table=args.table)
    ctx = {"table": table, "metadata_location": table.metadata_location}
    columns = [field.name for field in table.schema().fields]
    current = table.current_snapshot()
    results, failed, pyiceberg_rows = {}, {}, None
    for name in args.readers:
        try:
            arrow, snapshot = READ[name](args, ctx)
            rows = canonical_rows(arrow, columns)
        except Exception as exc:  # noqa: BLE001
            failed[name] = describe(exc)
            continue
        results[name] = summarise(rows, snapshot)
        if name == "pyiceberg":
            pyiceberg_rows = rows
    if failed:
        return error_exit(failed, metadata_location=ctx["metadata_location"], readers=results)
    if args.rows:
        def order(r):
            return (r["kafka_topic"] or "", r["kafka_partition"] if r["kafka_partition"] is not None else -1,
                    r["kafka_offset"] if r["kafka_offset"] is not None else -1, row_json(r))
        with open(args.rows, "w", encoding="utf-8") as out:
            for row in sorted(pyiceberg_rows, key=order):
                out.write(row_json(row) + "\n")
    keys = ("rows", "distinct_ids", "digest")
    summaries = {tuple(r[k] for k in keys) for r in results.values()}
    print(json.dumps({
        "readers": results,
        "metadata_location": ctx["metadata_location"],
        "snapshot_id": args.snapshot_id if args.snapshot_id is not None
        else (None if current is None else current.snapshot_id),
        "agree": len(summaries) == 1,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
