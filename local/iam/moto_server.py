#!/usr/bin/env python3
"""moto's server (same arguments as `python -m moto.server`), with the Glue Data Catalog's and
Amazon S3 Tables' calls authorised on the resources AWS authorises them on.

Glue. moto authorises a Glue call by its action alone: it matches the caller's policies against
the resource "*", which no statement naming a catalog, database or table ARN matches, so a role
granted `glue:GetTable` on its own table is refused as if it had no grant. AWS authorises a call
on a Data Catalog object on that object and on each of its ancestors: a table call needs the
action allowed on `arn:aws:glue:REGION:ACCOUNT:catalog`, on `...:database/DB` and on
`...:table/DB/TABLE`, a database call on the catalog and the database
(https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html). Here each call
of TABLE_ACTIONS and DATABASE_ACTIONS is authorised on every one of those ARNs, and refused if
any one is not allowed; other Glue calls keep moto's check on "*".

S3 Tables, control plane. moto authorises these calls on "*" too. AWS authorises each action on
the one resource type the Service Authorization Reference gives it
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3tables.html):
the calls of TABLE_BUCKET_CALLS (CreateTable among them: a table is created in a bucket, the
namespace being only a condition key) on the table bucket,
`arn:aws:s3tables:REGION:ACCOUNT:bucket/NAME`, and those of TABLE_CALLS on the table,
`.../bucket/NAME/table/TABLE_ID`. CreateTable also needs, per the reference's list of API
operations, s3tables:PutTableData on the new table when it is given `metadata`,
s3tables:PutTableEncryption with `encryptionConfiguration`, s3tables:PutTableStorageClass with
`storageClassConfiguration` and s3tables:TagResource with `tags`; those are authorised on the
table too. moto identifies a table by its name where AWS gives it an id
(`.../table/<name>`, moto's own table ARN), so a grant on `.../table/*` matches both, and a grant
naming one table id cannot be modelled; a call on a table that does not exist yet is authorised
on the ARN its name gives, as moto would give it. Other S3 Tables calls (ListTableBuckets, which
has no resource) keep moto's check on "*".

S3 Tables, data plane. Every table has a warehouse bucket of its own (`<id>--table-s3`), read
and written with the S3 object API; moto keeps it as an S3 bucket and would authorise
`s3:GetObject` and `s3:PutObject` on `arn:aws:s3:::<bucket>/<key>`, which no role of a table
bucket is granted. AWS authorises these calls as s3tables:GetTableData (reading) and
s3tables:PutTableData (writing) on the table that owns the bucket: the reference's
descriptions of the two actions ("read metadata and data objects from a table storage endpoint
using S3 APIs", "write ... to a table storage endpoint"), the object calls a table bucket
accepts (https://docs.aws.amazon.com/AmazonS3/latest/API/developing-s3-tables-APIs.html:
GetObject, HeadObject, PutObject and the multipart calls) and example 2 of
https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-tables-identity-based-policies.html.
Here GetObject and HeadObject are authorised as GetTableData, PutObject, CreateMultipartUpload,
UploadPart, CompleteMultipartUpload and AbortMultipartUpload as PutTableData, each on the ARN of
the table moto's S3 Tables backend has given that bucket. Every other call on such a bucket
(ListParts, which the pages assign to neither action; the copies; listing and deleting, which a
table bucket does not accept) keeps moto's own check, which no grant of a table passes.

Two faults of moto 5.2.5 are mended for S3 Tables. It checks the signature of a call with no
body and no query (a GET, such as GetTableMetadataLocation) over the call's headers, which it
takes as its data, and so refuses every such call with SignatureDoesNotMatch; here the
signature of an S3 Tables call is checked over its body alone, as SigV4 signs it. And it
answers UpdateTableMetadataLocation with `namespace` as a string where the API model (and S3
Tables) has a list of strings, which the Rust SDK refuses to read; that answer is rewritten
here with the string in a list, nothing else changed.
"""
import json
import sys
from urllib.parse import unquote

# The name fields of each call, as the Glue API takes them.
TABLE_ACTIONS = {
    "GetTable": "Name",
    "DeleteTable": "Name",
    "CreateTable": "TableInput.Name",
    "UpdateTable": "TableInput.Name",
    "GetTableVersion": "TableName",
    "GetTableVersions": "TableName",
    "DeleteTableVersion": "TableName",
}
DATABASE_ACTIONS = {
    "GetDatabase": "Name",
    "UpdateDatabase": "Name",
    "DeleteDatabase": "Name",
    "CreateDatabase": "DatabaseInput.Name",
}

# S3 Tables calls by the resource type the Service Authorization Reference authorises them on.
TABLE_BUCKET_CALLS = {
    "CreateNamespace", "CreateTable", "DeleteNamespace", "DeleteTableBucket",
    "DeleteTableBucketEncryption", "DeleteTableBucketMetricsConfiguration",
    "DeleteTableBucketPolicy", "DeleteTableBucketReplication", "GetNamespace", "GetTableBucket",
    "GetTableBucketEncryption", "GetTableBucketMaintenanceConfiguration",
    "GetTableBucketMetricsConfiguration", "GetTableBucketPolicy", "GetTableBucketReplication",
    "GetTableBucketStorageClass", "ListNamespaces", "ListTables", "PutTableBucketEncryption",
    "PutTableBucketMaintenanceConfiguration", "PutTableBucketMetricsConfiguration",
    "PutTableBucketPolicy", "PutTableBucketReplication", "PutTableBucketStorageClass",
}
TABLE_CALLS = {
    "DeleteTable", "DeleteTablePolicy", "DeleteTableReplication", "GetTable",
    "GetTableEncryption", "GetTableMaintenanceConfiguration", "GetTableMaintenanceJobStatus",
    "GetTableMetadataLocation", "GetTablePolicy", "GetTableRecordExpirationConfiguration",
    "GetTableRecordExpirationJobStatus", "GetTableReplication", "GetTableReplicationStatus",
    "GetTableStorageClass", "PutTableMaintenanceConfiguration", "PutTablePolicy",
    "PutTableRecordExpirationConfiguration", "PutTableReplication", "PutTableStorageClass",
    "RenameTable", "UpdateTableMetadataLocation",
}
# CreateTable's optional request fields and the further action each needs on the table.
CREATE_TABLE_EXTRAS = {
    "metadata": "PutTableData",
    "encryptionConfiguration": "PutTableEncryption",
    "storageClassConfiguration": "PutTableStorageClass",
    "tags": "TagResource",
}
# The S3 object calls a table's warehouse bucket accepts, by the action moto names each with
# (HeadObject is moto's GetObject; UploadPart, CreateMultipartUpload and
# CompleteMultipartUpload its PutObject), and the S3 Tables action that authorises them.
TABLE_DATA_ACTIONS = {
    "GetObject": "GetTableData",
    "PutObject": "PutTableData",
    "AbortMultipartUpload": "PutTableData",
}


def field(body, path):
    value = body
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def glue_resources(action, body, partition, region, account):
    """The ARNs AWS authorises a Glue call on, or None for a call this does not model."""
    base = f"arn:{partition}:glue:{region}:{body.get('CatalogId') or account}"
    if action in TABLE_ACTIONS:
        database, table = body.get("DatabaseName"), field(body, TABLE_ACTIONS[action])
        if isinstance(database, str) and table:
            return [f"{base}:catalog", f"{base}:database/{database}",
                    f"{base}:table/{database}/{table}"]
    if action in DATABASE_ACTIONS:
        database = field(body, DATABASE_ACTIONS[action])
        if database:
            return [f"{base}:catalog", f"{base}:database/{database}"]
    return None


def s3tables_table_arn(table_bucket_arn, name):
    """A table's ARN as moto gives it (AWS ends it with the table's id instead of its name)."""
    return f"{table_bucket_arn}/table/{name}"


def s3tables_resources(action, params):
    """The (IAM action, ARN) pairs AWS authorises an S3 Tables call on, or None for a call this
    does not model. params: the call's fields, from its path, query and body (tableBucketARN,
    name, and for CreateTable its optional fields)."""
    bucket = params.get("tableBucketARN")
    if not isinstance(bucket, str) or not bucket:
        return None
    if action in TABLE_BUCKET_CALLS:
        pairs = [(f"s3tables:{action}", bucket)]
        if action == "CreateTable":
            name = params.get("name")
            extras = [a for f, a in CREATE_TABLE_EXTRAS.items() if params.get(f) is not None]
            if extras and not isinstance(name, str):
                return None
            pairs += [(f"s3tables:{a}", s3tables_table_arn(bucket, name)) for a in extras]
        return pairs
    if action in TABLE_CALLS:
        name = params.get("name")
        if isinstance(name, str) and name:
            return [(f"s3tables:{action}", s3tables_table_arn(bucket, name))]
    return None


def table_data_action(s3_action, copy_source):
    """The S3 Tables action that authorises an S3 object call on a table's warehouse bucket
    (s3_action as moto names it; copy_source: the call copies from another object), or None
    for a call a table bucket does not accept or the pages assign to no action."""
    if copy_source:
        return None
    action = TABLE_DATA_ACTIONS.get(s3_action)
    return f"s3tables:{action}" if action else None


def with_action(request_class, action=None, signed_body_only=False):
    """moto's IAM request class, checking `action` (when given) instead of the one the request
    names; with signed_body_only, the signature is checked over the request's body alone."""

    class Request(request_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if action:
                self._action = action
            if signed_body_only and not self._body:
                # moto takes the headers of a request with no body and no query as its data,
                # and would check the signature over them as if they were its body.
                self._data = {}

    return Request


def authorise_glue_on_its_resources():
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.glue.responses import GlueResponse

    moto_check = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action

    def check(self, resource="*"):
        try:
            body = json.loads(self.body or "{}")
        except ValueError:
            body = {}
        arns = glue_resources(self._get_action(), body if isinstance(body, dict) else {},
                              self.partition, self.region, self.current_account)
        for arn in arns or [resource]:
            moto_check(self, arn)

    GlueResponse._authenticate_and_authorize_normal_action = check


def s3tables_params(response):
    """The fields of an S3 Tables call: its path parameters, query and JSON body."""
    params = {}
    try:
        body = json.loads(response.body or "{}")
    except ValueError:
        body = {}
    if isinstance(body, dict):
        params.update(body)
    for key, values in response.querystring.items():
        params[key] = values[0] if isinstance(values, list) and values else values
    params.update(getattr(response, "uri_match", None) or {})
    if isinstance(params.get("tableBucketARN"), str):
        params["tableBucketARN"] = unquote(params["tableBucketARN"])
    return params


def authorise_s3tables_on_its_resources():
    from moto.iam.access_control import IAMRequest
    from moto.s3tables.responses import S3TablesResponse

    def check(self, resource="*"):
        pairs = s3tables_resources(self._get_action(), s3tables_params(self))
        for action, arn in pairs or [(None, resource)]:
            self._authenticate_and_authorize_action(
                with_action(IAMRequest, action, signed_body_only=True), arn)

    S3TablesResponse._authenticate_and_authorize_normal_action = check

    moto_update = S3TablesResponse.update_table_metadata_location

    def update_table_metadata_location(self):
        status, headers, body = moto_update(self)
        answer = json.loads(body)
        if isinstance(answer.get("namespace"), str):
            answer["namespace"] = [answer["namespace"]]
        return status, headers, json.dumps(answer)

    S3TablesResponse.update_table_metadata_location = update_table_metadata_location


def owning_table(account, bucket_name):
    """The S3 Tables table (moto's) whose warehouse bucket is bucket_name, or None."""
    from moto.s3tables.models import s3tables_backends

    for backend in s3tables_backends[account].values():
        for table_bucket in backend.table_buckets.values():
            for namespace in table_bucket.namespaces.values():
                for table in namespace.tables.values():
                    if table.warehouse_location == f"s3://{bucket_name}":
                        return table
    return None


def authorise_table_data_on_the_table():
    from moto.iam.access_control import S3IAMRequest
    from moto.s3.responses import S3Response

    moto_check = S3Response._authenticate_and_authorize_s3_action

    def check(self, bucket_name=None, key_name=None):
        table = owning_table(self.current_account, bucket_name) if bucket_name else None
        action = table and table_data_action(self.data.get("Action"),
                                             self.headers.get("x-amz-copy-source") is not None)
        if table is None or action is None:
            moto_check(self, bucket_name=bucket_name, key_name=key_name)
            return
        self._authenticate_and_authorize_action(with_action(S3IAMRequest, action), table.arn)

    S3Response._authenticate_and_authorize_s3_action = check


if __name__ == "__main__":
    authorise_glue_on_its_resources()
    authorise_s3tables_on_its_resources()
    authorise_table_data_on_the_table()
    from moto.server import main

    main(sys.argv[1:])
