#!/usr/bin/env python3
"""An offline AWS stand-in that enforces IAM, holding each Lambda function of template.yaml to
the policies its role is given there.

The local stack's store (local/s3-store) accepts any request, so a role that lacks a grant
the code needs is found only after a deploy. This command closes that gap for tests: it starts
moto's server with authentication and authorisation switched on (through moto_server.py, which
authorises Glue's catalog calls on their catalog, database and table ARNs, and S3 Tables' calls,
the table's S3 object calls among them, on their table bucket and table ARNs), creates the
lake's buckets, the template's Glue databases and, with TableCatalog s3tables, its S3 Tables
table bucket and namespace, and for each function creates its execution role
with exactly the policies that the SAM translation of template.yaml gives it, resolved for the
parameter values and physical names of the run, then assumes that role and hands out its
temporary credentials. A function binary run
with those credentials against the printed endpoint is refused whatever its role is not
granted there.

    moto_lake.py [--port 4567] [--param Name=Value ...] [--lake-bucket data-lake]
                 [--failed-bucket failed-batches] [--narrow Function:Substring ...]
                 [--narrow-action Function:Action ...]
                 [--state DIR] [--once | --resolve-only]

When ready it prints one JSON line on stdout (endpoint, region, buckets, Glue databases, table
buckets and namespaces, and per function its role, credentials, resolved policies and the
table settings of its environment; README.md beside this file shows it), writes the same
to DIR/iam.json with --state, and serves until SIGTERM or SIGINT, which stop moto. --once
runs a self-check instead and exits; --resolve-only prints the resolved policies without
starting moto.

The template is translated by infra/lint/sam_translate.py (imported, so this needs a Python
with the SAM translator: the tools venv of infra/local/requirements.txt). Exit status: 0 on a
clean stop (SIGTERM or SIGINT to this command or to moto's process), 1 when moto or its set-up
fails (or the self-check does), 2 when the template, the parameters or the options cannot be
resolved; nothing is guessed.
"""
import argparse
import contextlib
import copy
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRANSLATOR = ROOT / "infra" / "lint" / "sam_translate.py"
# moto's server with the Glue Data Catalog's and S3 Tables' calls authorised on the ARNs AWS
# authorises them on (moto alone checks them on "*", which no scoped grant matches).
SERVER = Path(__file__).resolve().with_name("moto_server.py")

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
HOST = "127.0.0.1"
# AWS::StackId of the run: the stack's ARN, its id a fixed UUID (the template names the S3 Tables
# table bucket after it).
STACK_UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

# The physical names a run chooses: logical id of the bucket -> option that names it.
LAKE_BUCKET_ID = "LakeBucket"
FAILED_BUCKET_ID = "FailedBatchBucket"

# The principal that sets everything up. moto lets the first INITIAL_NO_AUTH_ACTION_COUNT
# requests through unauthenticated: exactly the calls that create it and its key.
ADMIN_USER = "moto-lake-admin"
BOOTSTRAP_CALLS = 3  # CreateUser, PutUserPolicy, CreateAccessKey

# Values for parameters the template declares without a Default, each matching the
# parameter's AllowedPattern in the account and region above. Anything else without a default
# must be given with --param.
FAKE_BY_NAME = {
    "MskClusterArn": (f"arn:{PARTITION}:kafka:{REGION}:{ACCOUNT_ID}:cluster/user-lake/"
                      "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d-1"),
    "KafkaBrokers": (f"b-1.userlake.a1b2c3.c2.kafka.{REGION}.{URL_SUFFIX}:9098,"
                     f"b-2.userlake.a1b2c3.c2.kafka.{REGION}.{URL_SUFFIX}:9098"),
}
# By AWS-specific parameter type (also the element type of List<...>).
FAKE_BY_TYPE = {
    "AWS::EC2::Subnet::Id": "subnet-0a1b2c3d4e5f60718",
    "AWS::EC2::SecurityGroup::Id": "sg-0a1b2c3d4e5f60718",
    "AWS::EC2::VPC::Id": "vpc-0a1b2c3d4e5f60718",
}
ID_FORM_BY_TYPE = {
    "AWS::EC2::Subnet::Id": r"subnet-[0-9a-f]{8,17}",
    "AWS::EC2::SecurityGroup::Id": r"sg-[0-9a-f]{8,17}",
    "AWS::EC2::VPC::Id": r"vpc-[0-9a-f]{8,17}",
}
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
TABLE_BUCKET_NAME = re.compile(r"[a-z0-9_-]{3,63}")  # the S3 Tables API's pattern

NO_VALUE = object()  # what AWS::NoValue resolves to; removed from the enclosing list or map


class Unresolvable(Exception):
    """The template, a parameter or an option cannot be turned into policies (exit 2)."""


class SetupFailed(Exception):
    """moto did not start, refused a set-up call or failed the self-check (exit 1)."""


class Stop(Exception):
    """SIGTERM or SIGINT arrived."""


def show(node):
    return json.dumps(node, sort_keys=True)


# --- translation -----------------------------------------------------------------------------

def translate(template_path):
    """The CloudFormation that the SAM transform makes of the template, by the project's
    translator (infra/lint/sam_translate.py, the one the deploy checks run)."""
    if not TRANSLATOR.is_file():
        raise Unresolvable(f"{TRANSLATOR} not found: it translates the template")
    if not Path(template_path).is_file():
        raise Unresolvable(f"template {template_path} not found")
    sys.path.insert(0, str(TRANSLATOR.parent))
    # The translator takes its region (and so the partition of the ARNs it writes) from here.
    os.environ["AWS_DEFAULT_REGION"] = REGION
    try:
        import sam_translate
    except ImportError as e:
        raise Unresolvable(f"cannot import {TRANSLATOR.name} ({e}): run this with the tools "
                           "venv's python (infra/local/requirements.txt)") from e
    try:
        return sam_translate.translate(sam_translate.load(template_path))
    except Exception as e:  # the translator's own errors name the resource
        raise Unresolvable(f"SAM translation of {template_path} failed: {e}") from e


# --- parameters ------------------------------------------------------------------------------

def element_type(kind):
    match = re.fullmatch(r"List<(.+)>", kind)
    return match.group(1) if match else None


def default_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(default_text(v) for v in value)
    return str(value)


def check_parameter(name, declared, text):
    """The value CloudFormation would take for a parameter, refused as CloudFormation would."""
    kind = declared.get("Type", "String")
    inner = element_type(kind)
    is_list = inner is not None or kind == "CommaDelimitedList"
    items = text.split(",") if is_list else [text]
    if is_list and inner in ID_FORM_BY_TYPE and not text:
        raise Unresolvable(f"parameter {name} ({kind}) needs at least one id")
    allowed = declared.get("AllowedValues")
    pattern = declared.get("AllowedPattern")
    number_type = kind == "Number" or inner == "Number"
    for item in items:
        if number_type:
            try:
                number = float(item)
            except ValueError:
                raise Unresolvable(f"parameter {name}={text!r}: {item!r} is not a number") from None
            for bound, ok in (("MinValue", lambda b: number >= float(b)),
                              ("MaxValue", lambda b: number <= float(b))):
                if bound in declared and not ok(declared[bound]):
                    raise Unresolvable(f"parameter {name}={text!r}: {bound} is {declared[bound]}")
        if inner in ID_FORM_BY_TYPE and not re.fullmatch(ID_FORM_BY_TYPE[inner], item):
            raise Unresolvable(f"parameter {name}={text!r}: {item!r} is not an {inner}")
        if kind in ID_FORM_BY_TYPE and not re.fullmatch(ID_FORM_BY_TYPE[kind], item):
            raise Unresolvable(f"parameter {name}={text!r}: not an {kind}")
        if allowed is not None:
            texts = [default_text(v) for v in allowed]
            if item not in texts:
                raise Unresolvable(f"parameter {name}={text!r}: AllowedValues are {texts}")
        if pattern is not None and not re.fullmatch(pattern, item):
            raise Unresolvable(f"parameter {name}={text!r} does not match its AllowedPattern "
                               f"{pattern}")
    if not is_list:
        for bound, ok in (("MinLength", lambda b: len(text) >= int(b)),
                          ("MaxLength", lambda b: len(text) <= int(b))):
            if bound in declared and not ok(declared[bound]):
                raise Unresolvable(f"parameter {name}={text!r}: {bound} is {declared[bound]}")
    return items if is_list else text


def parameter_values(declared, given):
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise Unresolvable(f"--param {unknown[0]}: the template declares no such parameter "
                           f"(it has {', '.join(sorted(declared))})")
    values, sources = {}, {}
    for name, decl in declared.items():
        if name in given:
            text, source = given[name], "param"
        elif "Default" in decl:
            text, source = default_text(decl["Default"]), "default"
        else:
            kind = decl.get("Type", "String")
            fake = FAKE_BY_NAME.get(name) or FAKE_BY_TYPE.get(element_type(kind) or kind)
            if fake is None:
                raise Unresolvable(f"parameter {name} has no Default and no stand-in value: "
                                   f"pass --param {name}=VALUE")
            text, source = fake, "stand-in"
        values[name] = check_parameter(name, decl, text)
        sources[name] = source
    return values, sources


# --- intrinsic functions ---------------------------------------------------------------------

class Resolver:
    """Evaluates CloudFormation intrinsics as the stack would be deployed with the run's
    parameter values and physical names, raising Unresolvable on anything else."""

    def __init__(self, template, params, names, stack_name):
        self.resources = template.get("Resources", {})
        self.declared_conditions = template.get("Conditions", {})
        self.mappings = template.get("Mappings", {})
        self.params = params
        self.names = names
        self.stack_name = stack_name
        self._conditions = {}

    # conditions

    def condition(self, name, where):
        if name in self._conditions:
            if self._conditions[name] is None:
                raise Unresolvable(f"{where}: condition {name} refers to itself")
            return self._conditions[name]
        if name not in self.declared_conditions:
            raise Unresolvable(f"{where}: condition {name} is not declared in Conditions")
        self._conditions[name] = None
        self._conditions[name] = self.truth(self.declared_conditions[name], f"Conditions.{name}")
        return self._conditions[name]

    def truth(self, node, where, rule=False):
        if isinstance(node, dict) and len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Condition" and isinstance(args, str):
                return self.condition(args, where)
            if fn == "Fn::Equals" and isinstance(args, list) and len(args) == 2:
                a, b = (self.comparable(self.resolve(x, f"{where}.Fn::Equals[{i}]"))
                        for i, x in enumerate(args))
                return a == b
            if fn == "Fn::Not" and isinstance(args, list) and len(args) == 1:
                return not self.truth(args[0], f"{where}.Fn::Not[0]", rule)
            if fn in ("Fn::And", "Fn::Or") and isinstance(args, list) and args:
                found = [self.truth(x, f"{where}.{fn}[{i}]", rule) for i, x in enumerate(args)]
                return all(found) if fn == "Fn::And" else any(found)
            if rule and fn == "Fn::Contains" and isinstance(args, list) and len(args) == 2:
                among = self.resolve(args[0], f"{where}.Fn::Contains[0]")
                value = self.resolve(args[1], f"{where}.Fn::Contains[1]")
                if not isinstance(among, list):
                    raise Unresolvable(f"{where}: Fn::Contains needs a list, got {show(among)}")
                return self.comparable(value) in [self.comparable(v) for v in among]
        raise Unresolvable(f"{where}: cannot evaluate condition {show(node)}")

    @staticmethod
    def comparable(value):
        if isinstance(value, list):
            return tuple(Resolver.comparable(v) for v in value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return default_text(value)
        return value

    def exists(self, logical_id):
        """Whether a resource is created: its Condition, if any, holds."""
        resource = self.resources[logical_id]
        name = resource.get("Condition")
        return name is None or self.condition(name, f"{logical_id}.Condition")

    # values

    def resolve(self, node, where):
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, args),) = node.items()
                if key == "Ref" or key.startswith("Fn::"):
                    return self.intrinsic(key, args, where)
            out = {}
            for key, value in node.items():
                value = self.resolve(value, f"{where}.{key}")
                if value is not NO_VALUE:
                    out[key] = value
            return out
        if isinstance(node, list):
            out = []
            for i, value in enumerate(node):
                value = self.resolve(value, f"{where}[{i}]")
                if value is not NO_VALUE:
                    out.append(value)
            return out
        return node

    def text(self, node, where, what):
        value = self.resolve(node, where)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise Unresolvable(f"{where}: {what} must be a string, got {show(value)}"
                               if value is not NO_VALUE else f"{where}: {what} is AWS::NoValue")
        return default_text(value)

    def intrinsic(self, fn, args, where):
        here = f"{where} ({fn} {show(args)})"
        if fn == "Ref":
            if not isinstance(args, str):
                raise Unresolvable(f"{here}: Ref takes a name")
            return self.ref(args, here)
        if fn == "Fn::GetAtt":
            if isinstance(args, str):
                args = args.split(".", 1)
            if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str)):
                raise Unresolvable(f"{here}: Fn::GetAtt takes [LogicalId, Attribute]")
            attribute = self.text(args[1], f"{where}.Fn::GetAtt[1]", "the attribute")
            return self.get_att(args[0], attribute, here)
        if fn == "Fn::Sub":
            return self.sub(args, where, here)
        if fn == "Fn::Join":
            if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str)):
                raise Unresolvable(f"{here}: Fn::Join takes [delimiter, list]")
            items = self.resolve(args[1], f"{where}.Fn::Join[1]")
            if not isinstance(items, list):
                raise Unresolvable(f"{here}: Fn::Join needs a list, got {show(items)}")
            for item in items:
                if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                    raise Unresolvable(f"{here}: Fn::Join of a non-string {show(item)}")
            return args[0].join(default_text(i) for i in items)
        if fn == "Fn::Select":
            if not (isinstance(args, list) and len(args) == 2):
                raise Unresolvable(f"{here}: Fn::Select takes [index, list]")
            index = self.text(args[0], f"{where}.Fn::Select[0]", "the index")
            items = self.resolve(args[1], f"{where}.Fn::Select[1]")
            if not isinstance(items, list):
                raise Unresolvable(f"{here}: Fn::Select needs a list, got {show(items)}")
            if not index.isdigit() or int(index) >= len(items):
                raise Unresolvable(f"{here}: index {index} is outside {show(items)}")
            return items[int(index)]
        if fn == "Fn::Split":
            if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str)
                    and args[0]):
                raise Unresolvable(f"{here}: Fn::Split takes [delimiter, string]")
            return self.text(args[1], f"{where}.Fn::Split[1]", "the split string").split(args[0])
        if fn == "Fn::If":
            if not (isinstance(args, list) and len(args) == 3 and isinstance(args[0], str)):
                raise Unresolvable(f"{here}: Fn::If takes [condition, then, else]")
            chosen = 1 if self.condition(args[0], here) else 2
            return self.resolve(args[chosen], f"{where}.Fn::If[{chosen}]")
        if fn == "Fn::FindInMap":
            if not (isinstance(args, list) and len(args) == 3):
                raise Unresolvable(f"{here}: Fn::FindInMap takes [map, key, key]")
            keys = [self.text(a, f"{where}.Fn::FindInMap[{i}]", "a key")
                    for i, a in enumerate(args)]
            try:
                return copy.deepcopy(self.mappings[keys[0]][keys[1]][keys[2]])
            except (KeyError, TypeError):
                raise Unresolvable(f"{here}: Mappings has no {'.'.join(keys)}") from None
        raise Unresolvable(f"{here}: {fn} is not supported here")

    def ref(self, name, here):
        pseudo = {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT_ID}:stack/"
                             f"{self.stack_name}/{STACK_UUID}"),
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name.startswith("AWS::"):
            raise Unresolvable(f"{here}: the pseudo parameter {name} is not supported")
        if name in self.params:
            return copy.deepcopy(self.params[name])
        resource = self.resource(name, here)
        kind = resource.get("Type")
        physical = self.physical_name(name, here)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.{URL_SUFFIX}/{ACCOUNT_ID}/{physical}"
        if kind in ("AWS::SNS::Topic", "AWS::IAM::ManagedPolicy", "AWS::S3Tables::TableBucket"):
            return self.arn(name, here)
        if kind in NAME_PROPERTY or kind == "AWS::Glue::Database":
            return physical
        raise Unresolvable(f"{here}: Ref to a {kind} is not supported")

    def resource(self, logical_id, here):
        if logical_id not in self.resources:
            raise Unresolvable(f"{here}: {logical_id} is neither a parameter nor a resource")
        if not self.exists(logical_id):
            raise Unresolvable(f"{here}: {logical_id} is left out by its condition "
                               f"{self.resources[logical_id]['Condition']}")
        return self.resources[logical_id]

    def physical_name(self, logical_id, here):
        if logical_id in self.names:
            return self.names[logical_id]
        resource = self.resource(logical_id, here)
        kind = resource.get("Type")
        prop = NAME_PROPERTY.get(kind)
        props = resource.get("Properties", {})
        if prop and prop in props:
            return self.text(props[prop], f"{logical_id}.Properties.{prop}", prop)
        # A Glue database's name is inside its DatabaseInput; a Ref to it is that name.
        if kind == "AWS::Glue::Database" and "Name" in props.get("DatabaseInput", {}):
            return self.text(props["DatabaseInput"]["Name"],
                             f"{logical_id}.Properties.DatabaseInput.Name", "Name")
        if kind in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy"):
            return f"{self.stack_name}-{logical_id}"[:64]  # created by this command
        raise Unresolvable(f"{here}: {logical_id} ({kind}) has no {prop or 'name property'}, so "
                           f"CloudFormation would make up its name; give one with "
                           f"--physical-name {logical_id}=NAME")

    def iam_path(self, logical_id):
        props = self.resources[logical_id].get("Properties", {})
        path = self.text(props.get("Path", "/"), f"{logical_id}.Properties.Path", "Path")
        if not (path.startswith("/") and path.endswith("/")):
            raise Unresolvable(f"{logical_id}.Properties.Path: {path!r} must start and end with /")
        return path

    def arn(self, logical_id, here):
        kind = self.resource(logical_id, here).get("Type")
        name = self.physical_name(logical_id, here)
        if kind == "AWS::S3::Bucket":
            return f"arn:{PARTITION}:s3:::{name}"
        if kind == "AWS::IAM::Role":
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role{self.iam_path(logical_id)}{name}"
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:policy{self.iam_path(logical_id)}{name}"
        if kind == "AWS::Logs::LogGroup":
            return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"
        if kind == "AWS::SQS::Queue":
            return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        if kind == "AWS::SNS::Topic":
            return f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT_ID}:{name}"
        if kind == "AWS::Lambda::Function":
            return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        if kind == "AWS::S3Tables::TableBucket":
            return f"arn:{PARTITION}:s3tables:{REGION}:{ACCOUNT_ID}:bucket/{name}"
        raise Unresolvable(f"{here}: the ARN of a {kind} is not supported")

    def get_att(self, logical_id, attribute, here):
        kind = self.resource(logical_id, here).get("Type")
        supported = {
            "AWS::S3::Bucket": {"Arn"},
            "AWS::IAM::Role": {"Arn"},
            "AWS::IAM::ManagedPolicy": {"PolicyArn"},
            "AWS::Logs::LogGroup": {"Arn"},
            "AWS::SQS::Queue": {"Arn", "QueueName", "QueueUrl"},
            "AWS::SNS::Topic": {"TopicArn", "TopicName"},
            "AWS::Lambda::Function": {"Arn"},
            "AWS::S3Tables::TableBucket": {"TableBucketARN"},
        }
        if attribute not in supported.get(kind, ()):
            raise Unresolvable(f"{here}: attribute {attribute} of a {kind} is not supported")
        if attribute in ("Arn", "PolicyArn", "TopicArn", "TableBucketARN"):
            return self.arn(logical_id, here)
        if attribute == "QueueUrl":
            return self.ref(logical_id, here)
        return self.physical_name(logical_id, here)

    def sub(self, args, where, here):
        if isinstance(args, str):
            text, variables = args, {}
        elif (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str)
              and isinstance(args[1], dict)):
            text = args[0]
            variables = {k: self.text(v, f"{where}.Fn::Sub[1].{k}", f"variable {k}")
                         for k, v in args[1].items()}
        else:
            raise Unresolvable(f"{here}: Fn::Sub takes a string or [string, variables]")

        def replace(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return variables[name]
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                value = self.get_att(logical_id, attribute, here)
            else:
                value = self.ref(name, here)
            if value is NO_VALUE or isinstance(value, (list, dict)):
                raise Unresolvable(f"{here}: ${{{name}}} is not a string")
            return default_text(value)

        return re.sub(r"\$\{([^}]*)\}", replace, text)


# Where CloudFormation takes the physical name of a resource from, when the template sets it.
NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::S3Tables::TableBucket": "TableBucketName",
}


def check_rules(template, resolver):
    """The template's Rules, which CloudFormation checks against the parameters before it
    deploys anything."""
    for name, rule in template.get("Rules", {}).items():
        where = f"Rules.{name}"
        if "RuleCondition" in rule and not resolver.truth(rule["RuleCondition"],
                                                          f"{where}.RuleCondition", rule=True):
            continue
        for i, assertion in enumerate(rule.get("Assertions", [])):
            if not resolver.truth(assertion["Assert"], f"{where}.Assertions[{i}]", rule=True):
                raise Unresolvable(f"rule {name} fails: "
                                   f"{assertion.get('AssertDescription', show(assertion))}")


# --- the functions' roles --------------------------------------------------------------------

def role_of(function_id, role):
    """The logical id of the template role a function's Role property points at."""
    if isinstance(role, dict) and len(role) == 1:
        ((fn, args),) = role.items()
        if fn == "Fn::GetAtt":
            parts = args.split(".", 1) if isinstance(args, str) else args
            if isinstance(parts, list) and len(parts) == 2 and parts[1] == "Arn":
                return parts[0]
        if fn == "Fn::Sub" and isinstance(args, str):
            match = re.fullmatch(r"\$\{([A-Za-z0-9]+)\.Arn\}", args)
            if match:
                return match.group(1)
    raise Unresolvable(f"{function_id}.Properties.Role: {show(role)} is not the Arn of a role "
                       "of the template")


def function_roles(template, resolver):
    resources = template.get("Resources", {})
    found = {}
    for logical_id in sorted(resources):
        resource = resources[logical_id]
        if resource.get("Type") != "AWS::Lambda::Function" or not resolver.exists(logical_id):
            continue
        role_id = role_of(logical_id, resource.get("Properties", {}).get("Role"))
        if resources.get(role_id, {}).get("Type") != "AWS::IAM::Role":
            raise Unresolvable(f"{logical_id}.Properties.Role: {role_id} is not an AWS::IAM::Role "
                               "of the template")
        found[logical_id] = role_id
    if not found:
        raise Unresolvable("the translated template has no AWS::Lambda::Function")
    return found


def role_spec(template, resolver, role_id):
    """Everything the template grants one role: its inline policies (Policies, and
    AWS::IAM::Policy and AWS::IAM::RolePolicy resources attached to it), its managed policy
    ARNs, and the documents of the managed policies the template itself defines."""
    resources = template["Resources"]
    props = resources[role_id].get("Properties", {})
    where = f"{role_id}.Properties"
    if "PermissionsBoundary" in props:
        raise Unresolvable(f"{where}.PermissionsBoundary: moto does not apply permission "
                           "boundaries, so it would grant this role more than AWS does")
    name = resolver.physical_name(role_id, where)
    spec = {
        "logical_id": role_id,
        "name": name,
        "path": resolver.iam_path(role_id),
        "arn": resolver.arn(role_id, where),
        "inline": {},
        "managed": [],
        "template_managed": {},
    }

    def add_inline(policy_name, document, at):
        if not isinstance(policy_name, str) or not isinstance(document, dict):
            raise Unresolvable(f"{at}: a policy needs a PolicyName and a PolicyDocument")
        if policy_name in spec["inline"]:
            raise Unresolvable(f"{at}: a second inline policy named {policy_name}")
        spec["inline"][policy_name] = document

    policies = resolver.resolve(props.get("Policies", []), f"{where}.Policies")
    if not isinstance(policies, list) or not all(isinstance(p, dict) for p in policies):
        raise Unresolvable(f"{where}.Policies: not a list of policies: {show(policies)}")
    for i, policy in enumerate(policies):
        add_inline(policy.get("PolicyName"), policy.get("PolicyDocument"),
                   f"{where}.Policies[{i}]")
    managed = resolver.resolve(props.get("ManagedPolicyArns", []), f"{where}.ManagedPolicyArns")
    if not isinstance(managed, list) or not all(isinstance(a, str) for a in managed):
        raise Unresolvable(f"{where}.ManagedPolicyArns: not a list of ARNs: {show(managed)}")

    for logical_id in sorted(resources):
        resource = resources[logical_id]
        kind = resource.get("Type")
        if kind not in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy"):
            continue
        if not resolver.exists(logical_id):
            continue
        rprops = resource.get("Properties", {})
        at = f"{logical_id}.Properties"
        if kind == "AWS::IAM::RolePolicy":
            attached = resolver.text(rprops.get("RoleName"), f"{at}.RoleName", "RoleName") == name
        else:
            attached = name in resolver.resolve(rprops.get("Roles", []), f"{at}.Roles")
        if kind == "AWS::IAM::ManagedPolicy":
            arn = resolver.arn(logical_id, at)
            if attached or arn in managed:
                spec["template_managed"][arn] = {
                    "name": resolver.physical_name(logical_id, at),
                    "path": resolver.iam_path(logical_id),
                    "document": resolver.resolve(rprops.get("PolicyDocument"),
                                                 f"{at}.PolicyDocument"),
                }
                if arn not in managed:
                    managed.append(arn)
        elif attached:
            add_inline(resolver.text(rprops.get("PolicyName"), f"{at}.PolicyName", "PolicyName"),
                       resolver.resolve(rprops.get("PolicyDocument"), f"{at}.PolicyDocument"), at)
    spec["managed"] = managed
    return spec


def statement_list(document):
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def strip_entries(spec, field, matches, option, item):
    """Removes every entry of field ("Resource" or "Action") that matches from the role's own
    policies (a statement left with none goes, and so does a policy left with no statement);
    refuses when a managed policy of the template has one too. Returns (policy, removed) pairs."""
    removed = []
    for policy_name in list(spec["inline"]):
        document = spec["inline"][policy_name]
        kept_statements = []
        for statement in statement_list(document):
            value = statement.get(field)
            entries = [] if value is None else value if isinstance(value, list) else [value]
            kept = [e for e in entries if not matches(e)]
            if len(kept) < len(entries):
                removed.append((policy_name, [e for e in entries if matches(e)]))
            if kept:
                statement[field] = kept if isinstance(value, list) else kept[0]
            if value is None or kept:
                kept_statements.append(statement)
        if kept_statements:
            document["Statement"] = kept_statements
        else:
            del spec["inline"][policy_name]
    for arn, policy in spec["template_managed"].items():
        for statement in statement_list(policy["document"]):
            value = statement.get(field, [])
            if any(matches(e) for e in (value if isinstance(value, list) else [value])):
                raise Unresolvable(f"{option} {item}: the managed policy {arn} grants it too, "
                                   "and narrowing a managed policy is not supported")
    return removed


def narrow(spec, function_id, substring):
    """Removes every Resource entry containing substring from the role's own policies; returns
    what it removed."""
    removed = strip_entries(spec, "Resource", lambda r: substring in r, "--narrow",
                            f"{function_id}:{substring}")
    if not removed:
        raise Unresolvable(f"--narrow {function_id}:{substring}: no Resource of the policies of "
                           f"{spec['logical_id']} contains {substring!r}")
    return [{"policy": policy, "removed": gone} for policy, gone in removed]


def narrow_action(spec, function_id, action):
    """Removes the action (exactly as the policies spell it) from every statement of the role's
    own policies; returns what it removed."""
    removed = strip_entries(spec, "Action", lambda a: a == action, "--narrow-action",
                            f"{function_id}:{action}")
    if not removed:
        raise Unresolvable(f"--narrow-action {function_id}:{action}: no statement of the "
                           f"policies of {spec['logical_id']} allows {action!r}")
    return [{"policy": policy, "removed_action": action} for policy, _ in removed]


# The settings of a function's Environment that choose its lake and table (README.md beside this
# file): resolved as the stack would set them, for the tests to run the binaries with.
TABLE_SETTINGS = ("LAKE_FORMAT", "ICEBERG_CATALOG", "ICEBERG_DATABASE", "ICEBERG_TABLE")


def function_environment(template, resolver, function_id):
    """The TABLE_SETTINGS of a Lambda function's Environment.Variables, resolved; empty for a
    role that no function has (--role)."""
    resource = template["Resources"][function_id]
    if resource.get("Type") != "AWS::Lambda::Function":
        return {}
    variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    at = f"{function_id}.Properties.Environment.Variables"
    return {name: resolver.text(variables[name], f"{at}.{name}", name)
            for name in TABLE_SETTINGS if name in variables}


def plan(args):
    """Everything decided before moto starts: parameters, names, and each function's role."""
    template = translate(args.template)
    given = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise Unresolvable(f"--param {item!r}: expected Name=Value")
        given[name] = value
    params, sources = parameter_values(template.get("Parameters", {}), given)

    names = {}
    for item in args.physical_name:
        logical_id, sep, value = item.partition("=")
        if not sep or not logical_id or not value:
            raise Unresolvable(f"--physical-name {item!r}: expected LogicalId=Name")
        names[logical_id] = value
    names[LAKE_BUCKET_ID] = args.lake_bucket
    names[FAILED_BUCKET_ID] = args.failed_bucket
    resources = template.get("Resources", {})
    for logical_id in names:
        if logical_id not in resources and logical_id not in (LAKE_BUCKET_ID, FAILED_BUCKET_ID):
            raise Unresolvable(f"--physical-name {logical_id}: no such resource in the template")

    resolver = Resolver(template, params, names, args.stack_name)
    check_rules(template, resolver)

    buckets = {"lake": args.lake_bucket, "failed": args.failed_bucket}
    for logical_id, resource in sorted(resources.items()):
        if resource.get("Type") == "AWS::S3::Bucket" and resolver.exists(logical_id) \
                and logical_id not in (LAKE_BUCKET_ID, FAILED_BUCKET_ID):
            with contextlib.suppress(Unresolvable):
                buckets[logical_id] = resolver.physical_name(logical_id, logical_id)
    for key, bucket in buckets.items():
        if not BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
            raise Unresolvable(f"bucket {bucket!r} ({key}) is not a valid S3 bucket name")
    if len(set(buckets.values())) != len(buckets):
        raise Unresolvable(f"two buckets would have one name: {show(buckets)}")

    functions = function_roles(template, resolver)
    for role_id in args.role:
        if resources.get(role_id, {}).get("Type") != "AWS::IAM::Role" or not resolver.exists(role_id):
            raise Unresolvable(f"--role {role_id}: no AWS::IAM::Role {role_id} in the template")
        functions[role_id] = role_id
    roles = {role_id: role_spec(template, resolver, role_id)
             for role_id in sorted(set(functions.values()))}

    narrowed = {f: [] for f in functions}
    narrowings = [("--narrow", "Function:Substring", item, narrow) for item in args.narrow]
    narrowings += [("--narrow-action", "Function:Action", item, narrow_action)
                   for item in args.narrow_action]
    for option, form, item, remove in narrowings:
        function_id, sep, what = item.partition(":")
        if not sep or not what:
            raise Unresolvable(f"{option} {item!r}: expected {form}")
        if function_id not in functions:
            raise Unresolvable(f"{option} {item}: no function {function_id} (the functions are "
                               f"{', '.join(functions)})")
        role_id = functions[function_id]
        sharing = [f for f, r in functions.items() if r == role_id and f != function_id]
        if sharing:
            raise Unresolvable(f"{option} {item}: {role_id} is also the role of "
                               f"{', '.join(sharing)}, which would be narrowed too")
        narrowed[function_id] += remove(roles[role_id], function_id, what)

    # The Glue databases the stack creates, by logical id: the table mode's catalog.
    glue_databases = {logical_id: resolver.physical_name(logical_id, logical_id)
                      for logical_id, resource in sorted(resources.items())
                      if resource.get("Type") == "AWS::Glue::Database"
                      and resolver.exists(logical_id)}

    # The S3 Tables table buckets and namespaces the stack creates (TableCatalog s3tables): the
    # catalog of the table, which the sink's first commit creates in the namespace.
    table_buckets, tables_namespaces = {}, {}
    for logical_id, resource in sorted(resources.items()):
        if not resolver.exists(logical_id):
            continue
        if resource.get("Type") == "AWS::S3Tables::TableBucket":
            name = resolver.physical_name(logical_id, logical_id)
            if not TABLE_BUCKET_NAME.fullmatch(name):
                raise Unresolvable(f"{logical_id}: {name!r} is not a valid table bucket name")
            table_buckets[logical_id] = {"name": name, "arn": resolver.arn(logical_id, logical_id)}
        elif resource.get("Type") == "AWS::S3Tables::Namespace":
            props = resource.get("Properties", {})
            at = f"{logical_id}.Properties"
            tables_namespaces[logical_id] = {
                "namespace": resolver.text(props.get("Namespace"), f"{at}.Namespace",
                                           "Namespace"),
                "table_bucket_arn": resolver.text(props.get("TableBucketARN"),
                                                  f"{at}.TableBucketARN", "TableBucketARN"),
            }

    return {
        "template": template,
        "parameters": params,
        "parameter_sources": sources,
        "buckets": buckets,
        "glue_databases": glue_databases,
        "table_buckets": table_buckets,
        "tables_namespaces": tables_namespaces,
        "environment": {f: function_environment(template, resolver, f) for f in functions},
        "functions": functions,
        "roles": roles,
        "narrowed": narrowed,
    }


# --- moto ------------------------------------------------------------------------------------

def _die_with_parent():
    """In the child: receive SIGTERM when this command dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Moto:
    def __init__(self, port, log_path):
        self.port = port
        self.endpoint = f"http://{HOST}:{port}"
        self.log_path = log_path
        self.process = None

    def start(self, timeout=60):
        # A port someone else listens on would answer the readiness probe in moto's place.
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as moto's server does
            try:
                probe.bind((HOST, self.port))
            except OSError as e:
                raise SetupFailed(f"{HOST}:{self.port} is not free ({e.strerror})") from e
        env = dict(os.environ)
        env.update({
            "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_CALLS),
            # AWS managed policies (e.g. AWSLambdaVPCAccessExecutionRole) exist only with this.
            "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
        })
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(SERVER), "-H", HOST, "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SetupFailed(f"moto_server exited with status {self.process.returncode} "
                                  f"before serving on {HOST}:{self.port}:\n{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.5):
                return
            time.sleep(0.1)
        raise SetupFailed(f"moto_server did not listen on {HOST}:{self.port} within {timeout} s")

    def log_tail(self, lines=30):
        with contextlib.suppress(OSError), open(self.log_path, encoding="utf-8",
                                                errors="replace") as log:
            return "".join(log.readlines()[-lines:])
        return ""

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(15)


def client(service, endpoint, key_id, secret, token=None, attempts=3):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key_id,
        aws_secret_access_key=secret, aws_session_token=token,
        config=Config(s3={"addressing_style": "path"},
                      retries={"total_max_attempts": attempts, "mode": "standard"}))


def error_code(e):
    from botocore.exceptions import ClientError

    return e.response.get("Error", {}).get("Code") if isinstance(e, ClientError) else None


def bootstrap_admin(endpoint):
    """The admin user and its key, made by moto's unauthenticated calls, then a check that
    authentication is on: the same key with a wrong secret is refused."""
    iam = client("iam", endpoint, "bootstrap", "bootstrap", attempts=1)
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(UserName=ADMIN_USER, PolicyName="admin", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    admin = {"user": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user/{ADMIN_USER}",
             "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    try:
        client("sts", endpoint, admin["access_key_id"], "not-the-secret",
               attempts=1).get_caller_identity()
    except Exception as e:  # noqa: BLE001 - any refusal is checked below
        if error_code(e) != "SignatureDoesNotMatch":
            raise SetupFailed(f"a wrong secret was refused with {e!r}, not "
                              "SignatureDoesNotMatch") from e
    else:
        raise SetupFailed("moto accepted a request signed with a wrong secret: authentication "
                          "is not enforced")
    caller = client("sts", endpoint, admin["access_key_id"],
                    admin["secret_access_key"]).get_caller_identity()
    if caller["Arn"] != admin["user"]:
        raise SetupFailed(f"the admin key identifies as {caller['Arn']}, not {admin['user']}")
    return admin


def set_up(moto, planned, admin):
    """Buckets, roles with their policies, and a session of each function's role."""
    creds = (admin["access_key_id"], admin["secret_access_key"])
    s3 = client("s3", moto.endpoint, *creds)
    iam = client("iam", moto.endpoint, *creds)
    sts = client("sts", moto.endpoint, *creds)
    for bucket in planned["buckets"].values():
        s3.create_bucket(Bucket=bucket)
    glue = client("glue", moto.endpoint, *creds)
    for database in planned["glue_databases"].values():
        glue.create_database(DatabaseInput={"Name": database})
    s3tables = client("s3tables", moto.endpoint, *creds)
    for logical_id, bucket in planned["table_buckets"].items():
        arn = s3tables.create_table_bucket(name=bucket["name"])["arn"]
        if arn != bucket["arn"]:
            raise SetupFailed(f"{logical_id}: moto made the table bucket {arn}, the template's "
                              f"ARN is {bucket['arn']}")
    for namespace in planned["tables_namespaces"].values():
        s3tables.create_namespace(tableBucketARN=namespace["table_bucket_arn"],
                                  namespace=[namespace["namespace"]])

    managed_documents = {}
    for spec in planned["roles"].values():
        # Only this command's admin assumes the role here (the Lambda service cannot): the
        # template's trust policy is replaced, its permissions are not.
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": admin["user"]}, "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName=spec["name"], Path=spec["path"],
                        AssumeRolePolicyDocument=json.dumps(trust))
        for name, document in spec["inline"].items():
            iam.put_role_policy(RoleName=spec["name"], PolicyName=name,
                                PolicyDocument=json.dumps(document))
        for arn in spec["managed"]:
            own = spec["template_managed"].get(arn)
            if own and arn not in managed_documents:
                iam.create_policy(PolicyName=own["name"], Path=own["path"],
                                  PolicyDocument=json.dumps(own["document"]))
            try:
                policy = iam.get_policy(PolicyArn=arn)["Policy"]
            except Exception as e:  # noqa: BLE001
                raise SetupFailed(f"{spec['logical_id']}: moto has no managed policy {arn} "
                                  f"({error_code(e) or e})") from e
            iam.attach_role_policy(RoleName=spec["name"], PolicyArn=arn)
            version = iam.get_policy_version(PolicyArn=arn,
                                             VersionId=policy["DefaultVersionId"])
            managed_documents[arn] = version["PolicyVersion"]["Document"]

    for option, item in planned.get("narrow_specs", []):
        function_id, _, what = item.partition(":")
        spec = planned["roles"][planned["functions"][function_id]]
        for arn in spec["managed"]:
            for statement in statement_list(managed_documents[arn]):
                field = "Action" if option == "--narrow-action" else "Resource"
                entries = statement.get(field, [])
                entries = entries if isinstance(entries, list) else [entries]
                if (what in entries if field == "Action" else any(what in r for r in entries)):
                    raise Unresolvable(f"{option} {item}: the managed policy {arn} grants it "
                                       "too, and narrowing a managed policy is not supported")

    functions = {}
    for function_id, role_id in planned["functions"].items():
        spec = planned["roles"][role_id]
        session = sts.assume_role(RoleArn=spec["arn"], RoleSessionName=function_id[:64])
        c = session["Credentials"]
        functions[function_id] = {
            "role": spec["arn"],
            "role_logical_id": role_id,
            "session": session["AssumedRoleUser"]["Arn"],
            "access_key_id": c["AccessKeyId"],
            "secret_access_key": c["SecretAccessKey"],
            "session_token": c["SessionToken"],
            "expiration": c["Expiration"].isoformat(),
            "policies": spec["inline"],
            "managed_policies": {arn: managed_documents[arn] for arn in spec["managed"]},
            "narrowed": planned["narrowed"][function_id],
            "environment": planned["environment"][function_id],
        }
    return functions


def self_check(endpoint, ready):
    """Proves enforcement with the issued credentials: each session is its role, and each
    function may PutObject at a key one of its grants names and is refused one outside them."""
    checks = []
    admin = ready["admin"]
    admin_s3 = client("s3", endpoint, admin["access_key_id"], admin["secret_access_key"])

    def record(name, ok, detail=""):
        checks.append({"check": name, "ok": ok, **({"detail": detail} if detail else {})})

    for function_id, f in ready["functions"].items():
        creds = (f["access_key_id"], f["secret_access_key"], f["session_token"])
        who = client("sts", endpoint, *creds).get_caller_identity()["Arn"]
        record(f"{function_id} identifies as its role", who == f["session"], who)

        wrong = client("sts", endpoint, f["access_key_id"], "not-the-secret",
                       f["session_token"], attempts=1)
        try:
            wrong.get_caller_identity()
            record(f"{function_id} with a wrong secret is refused", False, "accepted")
        except Exception as e:  # noqa: BLE001
            record(f"{function_id} with a wrong secret is refused",
                   error_code(e) == "SignatureDoesNotMatch", error_code(e) or repr(e))

        s3 = client("s3", endpoint, *creds, attempts=1)
        granted = object_grants(f["policies"], "s3:PutObject", ready["buckets"].values())
        if granted:
            bucket, pattern = granted[0]
            key = pattern.replace("*", "moto-lake-self-check")
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=b"self-check")
                record(f"{function_id} may put s3://{bucket}/{key}", True)
            except Exception as e:  # noqa: BLE001
                record(f"{function_id} may put s3://{bucket}/{key}", False,
                       error_code(e) or repr(e))
            admin_s3.delete_object(Bucket=bucket, Key=key)
        outside = "moto-lake-self-check/outside-every-grant"
        lake = ready["buckets"]["lake"]
        try:
            s3.put_object(Bucket=lake, Key=outside, Body=b"self-check")
            record(f"{function_id} is refused s3://{lake}/{outside}", False, "accepted")
            admin_s3.delete_object(Bucket=lake, Key=outside)
        except Exception as e:  # noqa: BLE001
            record(f"{function_id} is refused s3://{lake}/{outside}",
                   error_code(e) == "AccessDenied", error_code(e) or repr(e))
    return {"passed": all(c["ok"] for c in checks), "checks": checks}


def object_grants(policies, action, buckets):
    """(bucket, key pattern) of each Allow of action on objects of the given buckets."""
    found = []
    for document in policies.values():
        for statement in statement_list(document):
            actions = statement.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            if statement.get("Effect") != "Allow" or action not in actions:
                continue
            entries = statement.get("Resource", [])
            for entry in entries if isinstance(entries, list) else [entries]:
                for bucket in buckets:
                    prefix = f"arn:{PARTITION}:s3:::{bucket}/"
                    if entry.startswith(prefix):
                        found.append((bucket, entry[len(prefix):]))
    return found


# --- the command -----------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="moto's server with IAM enforced and the template's function roles.")
    parser.add_argument("--port", type=int, default=4567, help="port on 127.0.0.1 (4567)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a template parameter value (repeatable); defaults otherwise")
    parser.add_argument("--lake-bucket", default="data-lake", help="name of LakeBucket")
    parser.add_argument("--failed-bucket", default="failed-batches",
                        help="name of FailedBatchBucket, the sink's failure destination")
    parser.add_argument("--physical-name", action="append", default=[], metavar="ID=NAME",
                        help="physical name of another resource the policies refer to")
    parser.add_argument("--stack-name", default="user-lake",
                        help="AWS::StackName (user-lake, as samconfig.toml)")
    parser.add_argument("--role", action="append", default=[], metavar="LOGICAL_ID",
                        help="a role of the template that no function uses (ReplayRole, the "
                             "operator's role for replay): set up and issue a session of it too, "
                             "under functions.<LOGICAL_ID>")
    parser.add_argument("--narrow", action="append", default=[], metavar="FUNCTION:SUBSTRING",
                        help="remove every policy Resource entry containing SUBSTRING from "
                             "FUNCTION's role (repeatable)")
    parser.add_argument("--narrow-action", action="append", default=[],
                        metavar="FUNCTION:ACTION",
                        help="remove ACTION (e.g. glue:UpdateTable) from every statement of "
                             "FUNCTION's role that allows it (repeatable)")
    parser.add_argument("--template", default=str(ROOT / "template.yaml"),
                        help="the SAM template (the repository's template.yaml)")
    parser.add_argument("--state", metavar="DIR",
                        help="also write the JSON line to DIR/iam.json (and moto's log to "
                             "DIR/moto.log)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run a self-check, then stop")
    mode.add_argument("--resolve-only", action="store_true",
                      help="print the resolved policies without starting moto")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port")
    return args


def write_state(state_dir, line):
    path = Path(state_dir) / "iam.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(line + "\n", encoding="utf-8")
    partial.replace(path)  # a reader never sees half of it
    return path


def on_signal(signum, _frame):
    raise Stop(signum)


def serve(args, planned):
    if args.state:
        Path(args.state).mkdir(parents=True, exist_ok=True)
        log_path = Path(args.state) / "moto.log"
        temporary_log = False
    else:
        handle, name = tempfile.mkstemp(prefix="moto-lake-", suffix=".log")
        os.close(handle)
        log_path, temporary_log = Path(name), True
    moto = Moto(args.port, log_path)
    state_file = None
    status = 0
    try:
        moto.start()
        try:
            admin = bootstrap_admin(moto.endpoint)
            functions = set_up(moto, planned, admin)
        except (SetupFailed, Unresolvable):
            raise
        except Exception as e:  # noqa: BLE001 - a refused set-up call, named as moto named it
            raise SetupFailed(f"setting up moto failed: {e}\n{moto.log_tail()}") from e
        ready = {
            "endpoint": moto.endpoint,
            "region": REGION,
            "account_id": ACCOUNT_ID,
            "buckets": planned["buckets"],
            "glue_databases": planned["glue_databases"],
            "table_buckets": planned["table_buckets"],
            "tables_namespaces": planned["tables_namespaces"],
            "admin": admin,
            "functions": functions,
            "parameters": planned["parameters"],
            "pid": moto.process.pid,
        }
        if args.once:
            ready["self_check"] = self_check(moto.endpoint, ready)
            status = 0 if ready["self_check"]["passed"] else 1
        line = json.dumps(ready, sort_keys=True, separators=(",", ":"))
        if args.state:
            state_file = write_state(args.state, line)
        print(line, flush=True)
        if args.once:
            if status:
                failed = [c for c in ready["self_check"]["checks"] if not c["ok"]]
                print(f"moto_lake: self-check failed: {show(failed)}", file=sys.stderr)
            return status
        if moto.process.wait() == 0:  # moto itself was sent SIGTERM or SIGINT
            print("moto_lake: moto_server stopped", file=sys.stderr)
            return 0
        print(f"moto_lake: moto_server failed (status {moto.process.returncode}):\n"
              f"{moto.log_tail()}", file=sys.stderr)
        return 1
    except Stop:
        return 0
    finally:
        # Signals arriving now must not interrupt the clean-up.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        moto.stop()
        if state_file is not None:
            with contextlib.suppress(OSError):
                state_file.unlink()
        if temporary_log:
            with contextlib.suppress(OSError):
                log_path.unlink()


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        planned = plan(args)
        planned["narrow_specs"] = ([("--narrow", item) for item in args.narrow]
                                   + [("--narrow-action", item) for item in args.narrow_action])
        if args.resolve_only:
            print(json.dumps({
                "buckets": planned["buckets"],
                "glue_databases": planned["glue_databases"],
                "table_buckets": planned["table_buckets"],
                "tables_namespaces": planned["tables_namespaces"],
                "parameters": planned["parameters"],
                "parameter_sources": planned["parameter_sources"],
                "functions": {f: {"role": planned["roles"][r]["arn"], "role_logical_id": r,
                                  "policies": planned["roles"][r]["inline"],
                                  "managed_policy_arns": planned["roles"][r]["managed"],
                                  "environment": planned["environment"][f],
                                  "narrowed": planned["narrowed"][f]}
                              for f, r in planned["functions"].items()},
            }, sort_keys=True, separators=(",", ":")), flush=True)
            return 0
        return serve(args, planned)
    except Unresolvable as e:
        print(f"moto_lake: {e}", file=sys.stderr)
        return 2
    except SetupFailed as e:
        print(f"moto_lake: {e}", file=sys.stderr)
        return 1
    except Stop:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
