#!/usr/bin/env python3
"""moto's server (same arguments as `python -m moto.server`), with the Glue Data Catalog's calls
authorised on the resources AWS authorises them on.

moto authorises a Glue call by its action alone: it matches the caller's policies against the
resource "*", which no statement naming a catalog, database or table ARN matches, so a role
granted `glue:GetTable` on its own table is refused as if it had no grant. AWS authorises a call
on a Data Catalog object on that object and on each of its ancestors: a table call needs the
action allowed on `arn:aws:glue:REGION:ACCOUNT:catalog`, on `...:database/DB` and on
`...:table/DB/TABLE`, a database call on the catalog and the database
(https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html). Here each call
of TABLE_ACTIONS and DATABASE_ACTIONS is authorised on every one of those ARNs, and refused if
any one is not allowed; other Glue calls keep moto's check on "*".
"""
import json
import sys

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


if __name__ == "__main__":
    authorise_glue_on_its_resources()
    from moto.server import main

    main(sys.argv[1:])
