"""The local lake's Iceberg table as DuckDB reads it offline: the iceberg, httpfs and avro
extensions LOADed from their PyPI wheels (DuckDB's INSTALL would download them), and the table's
current metadata file looked up in the SQLite catalog. One home for the demo's query
(infra/local/query.py), the dbt project's local target (dbt_project/plugins/local_lake.py) and
the tests' reader (local/e2e/python/read_table.py).
"""
import glob
import importlib.util
import os


def duckdb_extension(name):
    """The path of DuckDB extension `name` inside its PyPI wheel (duckdb-extension-<name>)."""
    import duckdb

    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.origin:
        raise RuntimeError(f"package duckdb-extension-{name} is not installed")
    root = os.path.dirname(spec.origin)
    exact = os.path.join(root, "extensions", f"v{duckdb.__version__}", f"{name}.duckdb_extension")
    if os.path.isfile(exact):
        return exact
    found = sorted(glob.glob(os.path.join(root, "extensions", "*", f"{name}.duckdb_extension")))
    raise RuntimeError(f"no {name} extension for DuckDB {duckdb.__version__} under {root}: {found}")


def current_metadata_location(catalog_file, namespace, table):
    """The table's current metadata file as a SQLite catalog in pyiceberg's SqlCatalog tables
    names it, read with sqlite3 alone (read-only); LookupError when the table is not there."""
    import sqlite3

    with sqlite3.connect(f"file:{catalog_file}?mode=ro", uri=True) as con:
        row = con.execute(
            "SELECT metadata_location FROM iceberg_tables WHERE table_namespace = ? AND table_name = ?",
            (namespace, table),
        ).fetchone()
    if row is None:
        raise LookupError(f"no table {namespace}.{table} in {catalog_file} (has the sink committed yet?)")
    return row[0]


def sql_string(value):
    return "'" + str(value).replace("'", "''") + "'"
