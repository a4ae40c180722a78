"""Reads the lake through the S3 endpoint as a user's notebook would, with two independent
readers, and prints what each saw as one JSON line:

    python read_through_s3.py ENDPOINT_HOST:PORT BUCKET ACCESS_KEY SECRET_KEY REGION

- pyarrow's dataset API over `pyarrow.fs.S3FileSystem` on `<bucket>/users` (Hive partitioning);
- polars' `scan_parquet` on `s3://<bucket>/users/**/*.parquet`.

For each: the row count and the sorted (kafka_partition, kafka_offset, id) of the rows of
topic users_created, so that the caller can compare them with the lake's own rows.
"""
import json
import sys

import polars as pl
import pyarrow.dataset as ds
import pyarrow.fs as pafs

endpoint, bucket, key, secret, region = sys.argv[1:6]

s3 = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key=key,
                       secret_key=secret, region=region)
table = ds.dataset(f"{bucket}/users", filesystem=s3, format="parquet",
                   partitioning="hive").to_table()
arrow_rows = sorted(
    (p, o, i) for p, o, i, t in zip(table["kafka_partition"].to_pylist(),
                                    table["kafka_offset"].to_pylist(),
                                    table["id"].to_pylist(),
                                    table["kafka_topic"].to_pylist())
    if t == "users_created")

frame = pl.scan_parquet(
    f"s3://{bucket}/users/**/*.parquet",
    storage_options={"aws_endpoint_url": f"http://{endpoint}", "aws_access_key_id": key,
                     "aws_secret_access_key": secret, "aws_region": region,
                     "aws_allow_http": "true"},
    hive_partitioning=True,
).filter(pl.col("kafka_topic") == "users_created").select(
    "kafka_partition", "kafka_offset", "id").collect()
polars_rows = sorted(frame.iter_rows())

print(json.dumps({
    "pyarrow": {"rows": len(arrow_rows), "coordinates": arrow_rows,
                "hour_type": str(table.schema.field("hour").type)},
    "polars": {"rows": len(polars_rows), "coordinates": polars_rows},
}))
