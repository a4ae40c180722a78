"""The local lake's Iceberg table as a dbt source, for the `local` target (dbt-duckdb).

The local lake is an Iceberg table in a SQLite catalog (pyiceberg's SqlCatalog tables) whose
files are served by the local S3 store, or lie on disk under the lake's folder when the store is
stopped (the store keeps bucket B's key K at <lake>/B/K). dbt-duckdb's own iceberg plugin reads
through pyiceberg and S3 only, so it cannot read a finished demo's lake; this plugin reads the
table with DuckDB's iceberg extension, loaded from its PyPI wheel (nothing is downloaded), either
way:

- `s3`: iceberg_scan of the current metadata file through the store's endpoint, as on AWS;
- `files`: iceberg_scan of the table's folder on disk at the current metadata version, with
  `allow_moved_paths` so that the s3:// paths in the manifests resolve under that folder;
- `auto` (the default): `s3` when something answers at the endpoint, `files` otherwise.

On each connection the plugin makes the view <namespace>.<table> (user_lake.users) over the
table's current snapshot, which is what the `lake` source names: every model and test reads the
lake as it is now, and no copy of it is kept.
"""
import os
import socket
import sys
from urllib.parse import urlparse

from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.events.logging import AdapterLogger

# The one loader of DuckDB's extensions from their wheels (infra/local/duckdb_lake.py).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "infra", "local"))
from duckdb_lake import current_metadata_location, duckdb_extension, sql_string  # noqa: E402

logger = AdapterLogger("local_lake")
READS = ("auto", "s3", "files")


class LakeError(Exception):
    """The lake cannot be read as configured (no catalog, no table, an unknown read mode)."""


def current_metadata(catalog_file, namespace, table):
    """The table's current metadata file, as the SQL catalog names it."""
    if not os.path.isfile(catalog_file):
        raise LakeError(f"no Iceberg catalog at {catalog_file}: run the flow first (make demo), "
                        "or point USER_LAKE_OUTPUT at a lake")
    try:
        return current_metadata_location(catalog_file, namespace, table)
    except LookupError as missing:
        raise LakeError(str(missing)) from None


def answers(endpoint, timeout=0.5):
    """Whether something accepts a TCP connection at the endpoint's host and port."""
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


class Plugin(BasePlugin):
    def initialize(self, config):
        self.lake = os.path.abspath(config["lake"])
        self.table = config.get("table") or "user_lake.users"
        if "." not in self.table:
            raise LakeError(f"table must be <namespace>.<table>, not {self.table!r}")
        self.read = config.get("read") or "auto"
        if self.read not in READS:
            raise LakeError(f"read must be one of {', '.join(READS)}, not {self.read!r} (USER_LAKE_DBT_READ)")
        self.endpoint = config.get("s3_endpoint") or "http://127.0.0.1:4566"
        self.access_key = config.get("access_key")
        self.secret_key = config.get("secret_key")
        self.region = config.get("region") or "us-east-1"

    def configure_connection(self, conn):
        """Loads the extensions and (re)creates the view <namespace>.<table> over the table's
        current snapshot, which the `lake` source names."""
        namespace, table = self.table.split(".", 1)
        metadata = current_metadata(os.path.join(self.lake, "iceberg-catalog.db"), namespace, table)
        read = self.read
        if read == "auto":
            read = "s3" if answers(self.endpoint) else "files"
        for extension in ("avro", "httpfs", "iceberg"):
            conn.execute(f"LOAD {sql_string(duckdb_extension(extension))}")
        scan = self.s3_scan(conn, metadata) if read == "s3" else self.files_scan(metadata)
        logger.info(f"local_lake: {self.table} read from {read}: {scan}")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(namespace)}")
        conn.execute(f"CREATE OR REPLACE VIEW {quoted(namespace)}.{quoted(table)} AS SELECT * FROM {scan}")

    def s3_scan(self, conn, metadata):
        endpoint = urlparse(self.endpoint)
        secret = ["TYPE s3", "PROVIDER config", f"REGION {sql_string(self.region)}",
                  f"ENDPOINT {sql_string(endpoint.netloc)}", "URL_STYLE 'path'",
                  f"USE_SSL {'true' if endpoint.scheme == 'https' else 'false'}"]
        if self.access_key:
            secret += [f"KEY_ID {sql_string(self.access_key)}", f"SECRET {sql_string(self.secret_key or '')}"]
        conn.execute(f"CREATE OR REPLACE SECRET local_lake ({', '.join(secret)})")
        return f"iceberg_scan({sql_string(metadata)})"

    def files_scan(self, metadata):
        url = urlparse(metadata)
        if url.scheme != "s3":
            raise LakeError(f"metadata location {metadata} is not in an S3 bucket")
        path = os.path.join(self.lake, url.netloc, url.path.lstrip("/"))
        if not os.path.isfile(path):
            raise LakeError(f"the table's metadata file {metadata} is not on disk at {path}")
        metadata_folder, file = os.path.split(path)
        version = file.removesuffix(".metadata.json")
        return (f"iceberg_scan({sql_string(os.path.dirname(metadata_folder))}, "
                f"allow_moved_paths = true, version = {sql_string(version)})")


def quoted(identifier):
    return '"' + identifier.replace('"', '""') + '"'
