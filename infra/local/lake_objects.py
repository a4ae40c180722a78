"""The demo's look at the lake's objects, through the S3 endpoint (AWS_ENDPOINT_URL_S3 and the
credentials in the environment) rather than the files on disk, so that it reads any
S3-protocol store: the native stack's files or SeaweedFS under docker compose.

    lake_objects.py count BUCKET PREFIX SUFFIX      the number of keys under PREFIX ending in SUFFIX
    lake_objects.py per-dir BUCKET PREFIX SUFFIX    "<count> <folder>" for each folder holding such keys
"""
import collections
import sys

import boto3
from botocore.config import Config


def keys(bucket, prefix, suffix):
    s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(suffix):
                yield item["Key"]


def main():
    what, bucket, prefix, suffix = sys.argv[1:5]
    found = list(keys(bucket, prefix, suffix))
    if what == "count":
        print(len(found))
    elif what == "per-dir":
        for folder, n in sorted(collections.Counter(k.rsplit("/", 1)[0] for k in found).items()):
            print(f"    {n} {folder}")
    else:
        sys.exit(f"lake_objects.py: unknown command {what!r} (count, per-dir)")


if __name__ == "__main__":
    main()
