"""Tests of moto_server.py's resource mapping: the ARNs (and actions) each Glue and S3 Tables
call is authorised on, as the AWS pages its docstring cites give them. They need no moto; the
calls themselves are run against moto's server by test_moto_lake.py.

    $USER_LAKE_VENV/bin/python -m unittest discover -s local/iam -v
"""
import unittest

from moto_server import glue_resources, s3tables_resources, table_data_action

BUCKET = "arn:aws:s3tables:us-east-1:123456789012:bucket/lake-tables"
TABLE = f"{BUCKET}/table/users"


class GlueResourcesTest(unittest.TestCase):
    def test_a_table_call_is_authorised_on_the_catalog_the_database_and_the_table(self):
        base = "arn:aws:glue:us-east-1:123456789012"
        self.assertEqual(
            glue_resources("UpdateTable", {"DatabaseName": "db", "TableInput": {"Name": "t"}},
                           "aws", "us-east-1", "123456789012"),
            [f"{base}:catalog", f"{base}:database/db", f"{base}:table/db/t"])
        self.assertEqual(glue_resources("GetDatabase", {"Name": "db"}, "aws", "us-east-1",
                                        "123456789012"),
                         [f"{base}:catalog", f"{base}:database/db"])
        self.assertIsNone(glue_resources("GetDatabases", {}, "aws", "us-east-1", "123456789012"))


class S3TablesResourcesTest(unittest.TestCase):
    def test_the_calls_on_a_table_bucket_are_authorised_on_the_bucket(self):
        for action in ("CreateTable", "CreateNamespace", "GetNamespace", "ListTables",
                       "ListNamespaces", "GetTableBucket", "DeleteNamespace"):
            params = {"tableBucketARN": BUCKET, "namespace": "user_lake", "name": "users"}
            self.assertEqual(s3tables_resources(action, params),
                             [(f"s3tables:{action}", BUCKET)], action)

    def test_the_calls_on_a_table_are_authorised_on_the_table(self):
        for action in ("GetTableMetadataLocation", "UpdateTableMetadataLocation", "GetTable",
                       "DeleteTable", "RenameTable", "GetTablePolicy"):
            params = {"tableBucketARN": BUCKET, "namespace": "user_lake", "name": "users"}
            self.assertEqual(s3tables_resources(action, params),
                             [(f"s3tables:{action}", TABLE)], action)

    def test_create_table_with_metadata_encryption_or_tags_also_needs_their_actions_on_the_table(
            self):
        params = {"tableBucketARN": BUCKET, "namespace": "user_lake", "name": "users",
                  "format": "ICEBERG", "metadata": {"iceberg": {}},
                  "encryptionConfiguration": {"sseAlgorithm": "AES256"}, "tags": {"k": "v"}}
        self.assertEqual(s3tables_resources("CreateTable", params), [
            ("s3tables:CreateTable", BUCKET), ("s3tables:PutTableData", TABLE),
            ("s3tables:PutTableEncryption", TABLE), ("s3tables:TagResource", TABLE)])

    def test_a_call_without_a_table_bucket_or_of_no_resource_type_is_not_modelled(self):
        self.assertIsNone(s3tables_resources("ListTableBuckets", {}))
        self.assertIsNone(s3tables_resources("ListTableBuckets", {"tableBucketARN": BUCKET}))
        self.assertIsNone(s3tables_resources("GetTable", {"tableBucketARN": BUCKET}))


class TableDataActionTest(unittest.TestCase):
    def test_reads_are_get_table_data_and_writes_put_table_data(self):
        # moto names HeadObject GetObject, and UploadPart, CreateMultipartUpload and
        # CompleteMultipartUpload PutObject
        self.assertEqual(table_data_action("GetObject", False), "s3tables:GetTableData")
        self.assertEqual(table_data_action("PutObject", False), "s3tables:PutTableData")
        self.assertEqual(table_data_action("AbortMultipartUpload", False),
                         "s3tables:PutTableData")

    def test_copies_listings_deletes_and_list_parts_are_not_table_data(self):
        self.assertIsNone(table_data_action("PutObject", True))  # CopyObject, UploadPartCopy
        for action in ("ListBucket", "DeleteObject", "ListMultipartUploadParts",
                       "GetObjectAcl", "PutObjectTagging", "GetObjectVersion"):
            self.assertIsNone(table_data_action(action, False), action)


if __name__ == "__main__":
    unittest.main()
