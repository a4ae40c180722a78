#!/usr/bin/env python3
"""Rules for what a person running `sam deploy` with any accepted parameter values gets, checked
on the CloudFormation that the SAM transform makes of template.yaml (infra/lint/sam_translate.py
writes it), beside infra/lint/template_rules.py:

- two-stacks: the template is resolved for two stacks of the same account and region (different
  AWS::StackName and AWS::StackId, the same parameter values: the defaults, as `sam deploy
  --guided` offers them), and no physical name that must be unique per account and region
  (Glue database, log group, dashboard, alarm, function, role, bucket, topic, schedule, the
  Kafka consumer group of an event source mapping) may come out equal in both. CreateDatabase,
  for one, fails with AlreadyExistsException on an existing name
  (https://docs.aws.amazon.com/glue/latest/webapi/API_CreateDatabase.html), and a Kafka mapping's
  consumer group "must be unique among all your Kafka event sources"
  (https://docs.aws.amazon.com/lambda/latest/dg/kafka-consumer-group-id.html);
- lower-case-names: resolved for a stack whose name has capital letters (User-Lake), every name
  a service takes in lower case only comes out in lower case: the Glue database and table
  (CloudFormation refuses a Glue database name with capitals, "must not contain uppercase
  characters", as reported in https://github.com/awsdocs/aws-cloudformation-user-guide/pull/979;
  the functions' ICEBERG_DATABASE takes lower case only), the S3 Tables namespace and table bucket
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-tables-buckets-naming.html). A stack
  name may hold capitals, and CloudFormation has no lower-case function, so a name derived from
  the stack's must lower-case it itself;
- kafka-mapping-after-grants: every policy resource attached to the role of a Kafka event source
  mapping's function is created before the mapping (a DependsOn, or a reference, of the mapping
  or of anything it depends on). Lambda checks the role's cluster and destination permissions
  when it creates the mapping, and an inline policy of the role is already ordered before it
  through the function. IAM itself is eventually consistent
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency),
  which no ordering can remove: docs/deploy.md says what to do then;
- iam-no-wildcard-parameters: no parameter whose AllowedPattern or AllowedValues admits `*` or
  `?` is substituted into an IAM statement's Resource, NotResource or Condition, where those
  characters are wildcards
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html#reference_policies_elements_resource_wildcards);
- no-managed-logs-star: no role attaches a managed policy that allows logs:* actions on "*"
  (the documents of the AWS managed policies are pinned below, from the AWS Managed Policy
  Reference; an unknown one fails until it is pinned);
- service-trust-source-account: every trust policy statement for an AWS service other than
  Lambda carries an aws:SourceAccount or aws:SourceArn condition
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html,
  https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html),
  and a trust of a whole account carries some condition;
- lifecycle-for-deleted-objects: a versioned bucket whose objects a role of the stack may
  s3:DeleteObject has a lifecycle rule removing expired object delete markers and one expiring
  noncurrent versions (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ManagingDelMarkers.html);
- alarm-threshold-above-burst: an alarm on OffsetLag whose threshold is a parameter has that
  parameter's MinValue above the MaxValue of UsersPerRun, the records one producer run writes at
  once, so that a burst the sink drains in seconds is not an alarm;
- alarm-on-skipped-work: every metric docs/metrics.md marks "work skipped" has an alarm;
- failed-batches-persist: the S3 on-failure destination of a Kafka mapping is watched by an
  alarm on its NumberOfObjects (it stays in ALARM while a batch waits), the alarm on the
  mapping's OnFailureDestinationDeliveredEventCount sends no OK message, and the bucket's records
  expire after a parameter whose MinValue is at least 14 days.

    stack_rules.py translated.json

Prints one JSON line ({"rules": N, "violations": [...]}) and exits 1 if any rule is broken. Only
the standard library.
"""
import fnmatch
import json
import re
import sys
from pathlib import Path

try:  # Python 3.11 and later
    import re._parser as sre_parse
    from re._constants import (ANY, ASSERT, ASSERT_NOT, BRANCH, CATEGORY, IN, LITERAL, MAX_REPEAT,
                               MIN_REPEAT, NEGATE, NOT_LITERAL, RANGE, SUBPATTERN)
except ImportError:  # Python 3.10
    import sre_parse
    from sre_constants import (ANY, ASSERT, ASSERT_NOT, BRANCH, CATEGORY, IN, LITERAL, MAX_REPEAT,
                               MIN_REPEAT, NEGATE, NOT_LITERAL, RANGE, SUBPATTERN)

RULES = ("two-stacks", "lower-case-names", "kafka-mapping-after-grants", "iam-no-wildcard-parameters",
         "no-managed-logs-star", "service-trust-source-account", "lifecycle-for-deleted-objects",
         "alarm-threshold-above-burst", "alarm-on-skipped-work", "failed-batches-persist")
METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

# The statements of the AWS managed policies a role of this project might attach, as published
# in the AWS Managed Policy Reference (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/).
MANAGED_POLICIES = {
    # AWSLambdaVPCAccessExecutionRole.html, v3, edited 2024-01-05
    "AWSLambdaVPCAccessExecutionRole": [{"Effect": "Allow", "Action": [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses"], "Resource": "*"}],
    "AWSLambdaBasicExecutionRole": [{"Effect": "Allow", "Action": [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}],
}
# Service principals that may assume a role of this stack without a source condition: Lambda
# assumes a function's execution role for the function this stack names it in.
TRUSTED_WITHOUT_SOURCE = {"lambda.amazonaws.com"}
# Metric -> the parameter whose largest value the metric reaches in normal work (one burst).
THRESHOLD_FLOORS = {"OffsetLag": "UsersPerRun"}
MIN_FAILED_BATCH_DAYS = 14

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACKS = (("user-lake", "0c6a1f30-d2b4-11ef-9a4e-0affd3b1c7e1"),
          ("user-lake-2", "5e2f8a70-d2b4-11ef-8c11-12a3b9d0e4f5"))

# Properties that name a resource physically, per type, and the scope the name is unique in.
# Glue folds database and table names to lower case when it stores them.
NAME_PATHS = {
    "AWS::Glue::Database": [("DatabaseInput", "Name")],
    "AWS::Glue::Table": [("TableInput", "Name")],
    "AWS::Logs::LogGroup": [("LogGroupName",)],
    "AWS::CloudWatch::Dashboard": [("DashboardName",)],
    "AWS::CloudWatch::Alarm": [("AlarmName",)],
    "AWS::Lambda::Function": [("FunctionName",)],
    "AWS::IAM::Role": [("RoleName",)],
    "AWS::IAM::ManagedPolicy": [("ManagedPolicyName",)],
    "AWS::S3::Bucket": [("BucketName",)],
    "AWS::SNS::Topic": [("TopicName",)],
    "AWS::Scheduler::Schedule": [("Name",)],
    "AWS::Lambda::EventSourceMapping": [("AmazonManagedKafkaEventSourceConfig", "ConsumerGroupId"),
                                        ("SelfManagedKafkaEventSourceConfig", "ConsumerGroupId")],
}
FOLDED = {"AWS::Glue::Database", "AWS::Glue::Table"}
# A stack name with capitals, for lower-case-names.
CAPITALISED_STACK = ("User-Lake", "7d3e9b20-d2b4-11ef-a1b2-0affd3b1c7e1")
# Names a service takes in lower case only, per type, and the characters it allows.
LOWER_CASE_NAMES = {
    "AWS::Glue::Database": [("DatabaseInput", "Name")],
    "AWS::Glue::Table": [("TableInput", "Name")],
    "AWS::S3Tables::Namespace": [("Namespace",)],
    "AWS::S3Tables::TableBucket": [("TableBucketName",)],
}
LOWER_CASE = re.compile(r"[a-z0-9_-]+")


class Unresolved(Exception):
    pass


class Stack:
    """The template's values as CloudFormation would resolve them in one stack."""

    def __init__(self, template, name, uuid, overrides=None):
        self.template = template
        self.name = name
        self.pseudo = {
            "AWS::StackName": name,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/{uuid}",
            "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.parameters = {}
        for pname, spec in template.get("Parameters", {}).items():
            if overrides and pname in overrides:
                value = overrides[pname]
            elif "Default" in spec:
                value = spec["Default"]
            else:  # a required value: the same in both stacks (one cluster, one VPC)
                value = f"given-{pname}"
            if str(spec.get("Type", "")).startswith("List<") or spec.get("Type") == "CommaDelimitedList":
                value = value if isinstance(value, list) else [v for v in str(value).split(",") if v]
            elif not isinstance(value, list):
                value = str(value)
            self.parameters[pname] = value
        self.resources = template.get("Resources", {})

    def condition(self, name):
        return self.truth(self.template.get("Conditions", {})[name])

    def truth(self, value):
        if isinstance(value, dict) and len(value) == 1:
            (fn, args), = value.items()
            if fn == "Fn::Equals":
                return self.eval(args[0]) == self.eval(args[1])
            if fn == "Fn::Not":
                return not self.truth(args[0])
            if fn == "Fn::And":
                return all(self.truth(a) for a in args)
            if fn == "Fn::Or":
                return any(self.truth(a) for a in args)
            if fn == "Condition":
                return self.condition(args)
        raise Unresolved(f"condition {value!r}")

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            resource = self.resources[name]
            # Ref of a Glue database is its name; any other generated name carries the stack's.
            if isinstance(resource, dict) and resource.get("Type") == "AWS::Glue::Database":
                return self.eval(resource.get("Properties", {}).get("DatabaseInput", {}).get("Name"))
            return f"{self.name}-{name}-generated"
        raise Unresolved(f"Ref {name}")

    def get_att(self, target):
        if isinstance(target, str):
            target = target.split(".", 1)
        logical, attribute = target[0], target[1]
        return f"arn:aws:generated:{REGION}:{ACCOUNT}:{self.name}-{logical}/{attribute}"

    def sub(self, text, variables):
        out, rest = [], text
        while "${" in rest:
            start = rest.index("${")
            end = rest.index("}", start)
            out.append(rest[:start])
            key = rest[start + 2:end]
            if key.startswith("!"):
                out.append("${" + key[1:] + "}")
            elif key in variables:
                out.append(str(self.eval(variables[key])))
            elif "." in key and key.split(".", 1)[0] in self.resources:
                out.append(self.get_att(key))
            else:
                value = self.ref(key)
                out.append(",".join(value) if isinstance(value, list) else str(value))
            rest = rest[end + 1:]
        out.append(rest)
        return "".join(out)

    def eval(self, value):
        if isinstance(value, list):
            return [self.eval(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, args), = value.items()
            if fn == "Ref":
                return self.ref(args)
            if fn == "Fn::GetAtt":
                return self.get_att(args)
            if fn == "Fn::Sub":
                if isinstance(args, list):
                    return self.sub(args[0], args[1] if len(args) > 1 else {})
                return self.sub(args, {})
            if fn == "Fn::Join":
                return str(args[0]).join(str(v) for v in self.eval(args[1]))
            if fn == "Fn::Split":
                return str(self.eval(args[1])).split(args[0])
            if fn == "Fn::Select":
                return self.eval(args[1])[int(self.eval(args[0]))]
            if fn == "Fn::If":
                return self.eval(args[1] if self.condition(args[0]) else args[2])
            if fn.startswith("Fn::"):
                raise Unresolved(fn)
        return {k: self.eval(v) for k, v in value.items()}


def name_properties(stack, paths_by_type):
    """(logical id, type, properties, value) of each property at one of `paths_by_type`'s paths
    of the resources of its types that the stack creates (their Condition holds)."""
    for logical, resource in stack.resources.items():
        if not isinstance(resource, dict) or resource.get("Type") not in paths_by_type:
            continue
        if "Condition" in resource and not stack.condition(resource["Condition"]):
            continue
        kind, props = resource["Type"], resource.get("Properties", {})
        for path in paths_by_type[kind]:
            value = props
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                yield logical, kind, props, value


def physical_names(stack):
    """{(type, scope, name): logical id} of every name-bearing property the stack resolves."""
    names = {}
    for logical, kind, props, value in name_properties(stack, NAME_PATHS):
        try:
            name = str(stack.eval(value))
            scope = str(stack.eval(props["DatabaseName"])) if kind == "AWS::Glue::Table" else ""
        except Unresolved as e:
            names[(kind, "", f"unresolved:{e}")] = logical
            continue
        if kind in FOLDED:
            name, scope = name.lower(), scope.lower()
        names[(kind, scope, name)] = logical
    return names


def two_stacks(template, overrides=None):
    first, second = (physical_names(Stack(template, n, u, overrides)) for n, u in STACKS)
    found = []
    for key, logical in sorted(first.items()):
        if key in second:
            kind, scope, name = key
            where = f" in {scope}" if scope else ""
            found.append({"rule": "two-stacks", "resource": logical,
                          "problem": f"{kind} name {name!r}{where} is the same in the stacks "
                                     f"{STACKS[0][0]} and {STACKS[1][0]}: the second stack's "
                                     "create fails; derive it from the stack"})
    return found


def lower_case_names(template, overrides=None):
    """Names that must be lower case, resolved for a stack name with capitals, with the
    defaults and with each catalog the template offers (TableCatalog)."""
    catalogs = template.get("Parameters", {}).get("TableCatalog", {}).get("AllowedValues", [None])
    found = []
    for catalog in catalogs:
        given = dict(overrides or {})
        if catalog is not None:
            given["TableCatalog"] = catalog
        stack = Stack(template, *CAPITALISED_STACK, given)
        for logical, kind, _, value in name_properties(stack, LOWER_CASE_NAMES):
            try:
                name = str(stack.eval(value))
            except Unresolved as e:
                name = f"unresolved:{e}"
            if not LOWER_CASE.fullmatch(name):
                found.append({"rule": "lower-case-names", "resource": logical,
                              "problem": f"{kind} name {name!r} in the stack "
                                         f"{CAPITALISED_STACK[0]}: the service takes lower-case "
                                         "letters, digits, _ and - only; lower-case what the "
                                         "stack's name gives"})
    return found


def references(value):
    """Logical ids (and parameter names) a value refers to."""
    found = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, v in value.items():
            if key == "Ref" and isinstance(v, str):
                found.add(v)
            elif key == "Fn::GetAtt":
                target = v.split(".", 1) if isinstance(v, str) else v
                if isinstance(target, list) and target:
                    found.add(target[0])
            elif key == "Fn::Sub":
                text = v[0] if isinstance(v, list) else v
                if isinstance(text, str):
                    for part in text.split("${")[1:]:
                        name = part.split("}", 1)[0]
                        if not name.startswith("!"):
                            found.add(name.split(".", 1)[0])
                found |= references(v[1:] if isinstance(v, list) else [])
            else:
                found |= references(v)
    return found


def dependencies(template, logical):
    """Every resource `logical` is created after (references and DependsOn, transitively)."""
    resources = template.get("Resources", {})
    seen, todo = set(), [logical]
    while todo:
        current = todo.pop()
        resource = resources.get(current, {})
        depends = resource.get("DependsOn", [])
        direct = (references(resource.get("Properties", {}))
                  | set(depends if isinstance(depends, list) else [depends]))
        for d in direct:
            if d in resources and d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def kafka_mapping_after_grants(template):
    resources = template.get("Resources", {})
    found = []
    for name, mapping in resources.items():
        if not isinstance(mapping, dict) or mapping.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        props = mapping.get("Properties", {})
        if not (props.get("Topics") or "AmazonManagedKafkaEventSourceConfig" in props
                or "SelfManagedEventSource" in props):
            continue
        function = next(iter(references(props.get("FunctionName"))), None)
        role = next(iter(references(resources.get(function, {}).get("Properties", {}).get("Role"))), None)
        if role not in resources:
            continue
        before = dependencies(template, name)
        for policy, resource in resources.items():
            if resource.get("Type") not in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy",
                                            "AWS::IAM::ManagedPolicy"):
                continue
            pprops = resource.get("Properties", {})
            attached = pprops.get("Roles", []) + ([pprops["RoleName"]] if "RoleName" in pprops else [])
            if role in references(attached) and policy not in before:
                found.append({"rule": "kafka-mapping-after-grants", "resource": name,
                              "problem": f"{policy} grants {role}, the role of {function}, but the "
                                         "mapping may be created before it: add DependsOn "
                                         f"{policy} to {function}, which the mapping refers to"})
    return found


def as_list(value):
    return value if isinstance(value, list) else [value]


def branches(value):
    """A value, or both branches of an Fn::If (recursively); AWS::NoValue is dropped."""
    if isinstance(value, dict) and len(value) == 1 and "Fn::If" in value:
        args = value["Fn::If"]
        return branches(args[1]) + branches(args[2])
    if value == {"Ref": "AWS::NoValue"}:
        return []
    return [value]


def iam_documents(template):
    """(resource, document) for every permissions policy of the template (trust policies apart)."""
    found = []
    for name, resource in template.get("Resources", {}).items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::IAM::Role":
            for policy in as_list(props.get("Policies", [])):
                for branch in branches(policy):
                    if isinstance(branch, dict) and "PolicyDocument" in branch:
                        found.append((name, branch["PolicyDocument"]))
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy",
                      "AWS::S3::BucketPolicy"):
            found.append((name, props.get("PolicyDocument", {})))
    return found


def statements(document):
    out = []
    for statement in as_list(document.get("Statement", [])):
        out.extend(s for s in branches(statement) if isinstance(s, dict))
    return out


def admits(parsed, chars):
    """Whether a parsed regular expression can match a string holding one of `chars`."""
    codes = {ord(c) for c in chars}
    for op, arg in parsed:
        if op == LITERAL and arg in codes:
            return True
        if op == ANY or (op == NOT_LITERAL and (arg not in codes or len(codes) > 1)):
            return True
        if op == IN:
            negated = any(o == NEGATE for o, _ in arg)
            hit = set()
            for o, a in arg:
                if o == LITERAL and a in codes:
                    hit.add(a)
                elif o == RANGE:
                    hit |= {c for c in codes if a[0] <= c <= a[1]}
                elif o == CATEGORY and str(a).endswith(("NOT_DIGIT", "NOT_SPACE", "NOT_WORD")):
                    hit |= codes
            if (hit != codes) if negated else hit:
                return True
        if op in (MAX_REPEAT, MIN_REPEAT) and arg[1] > 0 and admits(arg[2], chars):
            return True
        if op == SUBPATTERN and admits(arg[-1], chars):
            return True
        if op == BRANCH and any(admits(b, chars) for b in arg[1]):
            return True
        # ASSERT and ASSERT_NOT only restrict what follows; anchors match no character.
    return False


def parameter_admits_wildcard(spec):
    """Whether a parameter can hold `*` or `?`, given its AllowedValues or AllowedPattern."""
    if spec.get("Type") not in (None, "String", "CommaDelimitedList"):
        return False
    if "AllowedValues" in spec:
        return any(("*" in str(v) or "?" in str(v)) for v in spec["AllowedValues"])
    if "AllowedPattern" in spec:
        return admits(sre_parse.parse(spec["AllowedPattern"]), "*?")
    return True


def iam_no_wildcard_parameters(template):
    parameters = template.get("Parameters", {})
    found = []
    for name, document in iam_documents(template):
        for statement in statements(document):
            used = set()
            for key in ("Resource", "NotResource", "Condition"):
                used |= references(statement.get(key))
            for parameter in sorted(used & set(parameters)):
                if parameter_admits_wildcard(parameters[parameter]):
                    found.append({"rule": "iam-no-wildcard-parameters", "resource": name,
                                  "problem": f"parameter {parameter} can hold * or ? (its "
                                             "AllowedPattern/AllowedValues admit them) and is "
                                             "part of an IAM Resource or Condition, where they "
                                             "are wildcards"})
    return found


def allows_on_everything(statement, action_glob):
    if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource", [])):
        return False
    return any(isinstance(a, str) and (fnmatch.fnmatchcase(a.lower(), action_glob)
                                       or fnmatch.fnmatchcase(action_glob, a.lower()))
               for a in as_list(statement.get("Action", [])))


def no_managed_logs_star(template):
    stack = Stack(template, *STACKS[0])
    found = []
    for name, resource in template.get("Resources", {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::IAM::Role":
            continue
        for arn in as_list(resource.get("Properties", {}).get("ManagedPolicyArns", [])):
            for branch in branches(arn):
                try:
                    policy = str(stack.eval(branch)).rsplit("/", 1)[-1]
                except Unresolved:
                    policy = json.dumps(branch)
                document = MANAGED_POLICIES.get(policy)
                if document is None:
                    found.append({"rule": "no-managed-logs-star", "resource": name,
                                  "problem": f"managed policy {policy} is not pinned in "
                                             "stack_rules.py MANAGED_POLICIES: its grants cannot be checked"})
                elif any(allows_on_everything(s, "logs:*") for s in document):
                    found.append({"rule": "no-managed-logs-star", "resource": name,
                                  "problem": f"managed policy {policy} allows logs:* actions on "
                                             "*, every log group of the account: grant its other "
                                             "actions inline and logs on the function's log group"})
    return found


def condition_keys(condition):
    keys = set()
    if isinstance(condition, dict):
        for block in condition.values():
            if isinstance(block, dict):
                keys |= {k.lower() for k in block}
    return keys


def service_trust_source_account(template):
    found = []
    for name, resource in template.get("Resources", {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::IAM::Role":
            continue
        document = resource.get("Properties", {}).get("AssumeRolePolicyDocument", {})
        for statement in statements(document):
            if statement.get("Effect") != "Allow":
                continue
            principal = statement.get("Principal", {})
            keys = condition_keys(statement.get("Condition"))
            if principal == "*":
                found.append({"rule": "service-trust-source-account", "resource": name,
                              "problem": "trusts everyone"})
                continue
            if not isinstance(principal, dict):
                continue
            services = [s for s in as_list(principal.get("Service", []))
                        if s not in TRUSTED_WITHOUT_SOURCE]
            if services and not keys & {"aws:sourceaccount", "aws:sourcearn"}:
                found.append({"rule": "service-trust-source-account", "resource": name,
                              "problem": f"trusts {', '.join(map(str, services))} without an "
                                         "aws:SourceAccount or aws:SourceArn condition "
                                         "(confused deputy)"})
            if principal.get("AWS") and not keys:
                found.append({"rule": "service-trust-source-account", "resource": name,
                              "problem": "trusts an account with no condition: any of its "
                                         "principals allowed sts:AssumeRole may assume it"})
    return found


def role_statements(template, role):
    out = []
    for name, document in iam_documents(template):
        resource = template["Resources"][name]
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::S3::BucketPolicy":
            continue
        if name == role or role in references(props.get("Roles", [])) | references(props.get("RoleName")):
            out.extend(statements(document))
    return out


def lifecycle_for_deleted_objects(template):
    resources = template.get("Resources", {})
    deleted = set()
    for role, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::IAM::Role":
            continue
        for statement in role_statements(template, role):
            if statement.get("Effect") == "Allow" and any(
                    isinstance(a, str) and fnmatch.fnmatchcase("s3:deleteobject", a.lower())
                    for a in as_list(statement.get("Action", []))):
                deleted |= references(statement.get("Resource")) & set(resources)
    found = []
    for bucket in sorted(deleted):
        props = resources[bucket].get("Properties", {})
        if resources[bucket].get("Type") != "AWS::S3::Bucket":
            continue
        if props.get("VersioningConfiguration", {}).get("Status") != "Enabled":
            continue
        rules = [r for r in props.get("LifecycleConfiguration", {}).get("Rules", [])
                 if r.get("Status") == "Enabled"]
        if not any(r.get("ExpiredObjectDeleteMarker") is True for r in rules):
            found.append({"rule": "lifecycle-for-deleted-objects", "resource": bucket,
                          "problem": "versioned, and a role deletes its objects, but no lifecycle "
                                     "rule has ExpiredObjectDeleteMarker: every delete leaves a "
                                     "delete marker for ever"})
        if not any("NoncurrentVersionExpiration" in r for r in rules):
            found.append({"rule": "lifecycle-for-deleted-objects", "resource": bucket,
                          "problem": "versioned, and a role deletes its objects, but no lifecycle "
                                     "rule has NoncurrentVersionExpiration: deleted objects are "
                                     "billed for ever"})
    return found


def alarms(template):
    return [(n, r.get("Properties", {})) for n, r in template.get("Resources", {}).items()
            if isinstance(r, dict) and r.get("Type") == "AWS::CloudWatch::Alarm"]


def alarm_metrics(props):
    """(namespace, metric name, dimensions) of an alarm, the inputs of its metric math included."""
    out = []
    if "MetricName" in props:
        out.append((props.get("Namespace"), props["MetricName"], props.get("Dimensions", [])))
    for m in props.get("Metrics", []) or []:
        metric = m.get("MetricStat", {}).get("Metric", {})
        if "MetricName" in metric:
            out.append((metric.get("Namespace"), metric["MetricName"], metric.get("Dimensions", [])))
    return out


def lowest(value, parameters):
    """The lowest value a template value can take: a parameter's MinValue, or the literal."""
    refs = references(value) & set(parameters)
    if refs:
        minimum = parameters[next(iter(refs))].get("MinValue")
        return None if minimum is None else float(minimum)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def largest_accepted(parameter, ceiling=10**6):
    """A parameter's largest value: its MaxValue, else the largest whole number below `ceiling`
    its AllowedPattern matches (a count kept whole by a pattern), else None."""
    if parameter.get("MaxValue") is not None:
        return parameter["MaxValue"]
    pattern = parameter.get("AllowedPattern")
    if pattern is None:
        return None
    return next((n for n in range(ceiling, -1, -1) if re.fullmatch(pattern, str(n))), None)


def alarm_threshold_above_burst(template):
    parameters = template.get("Parameters", {})
    found = []
    for name, props in alarms(template):
        for _, metric, _ in alarm_metrics(props):
            floor_parameter = THRESHOLD_FLOORS.get(metric)
            if floor_parameter not in parameters:
                continue
            burst = largest_accepted(parameters[floor_parameter])
            least = lowest(props.get("Threshold"), parameters)
            if burst is None or least is None or least <= float(burst):
                found.append({"rule": "alarm-threshold-above-burst", "resource": name,
                              "problem": f"its {metric} threshold can be {least}, not above "
                                         f"{floor_parameter}'s largest value {burst}: one run's burst "
                                         "fires it"})
    return found


def skipped_work_metrics(path=METRICS_DOC):
    """The metrics docs/metrics.md marks as meaning that work was skipped."""
    return set(re.findall(r"^\| `([A-Za-z]+)` \|.*work skipped", path.read_text(encoding="utf-8"), re.M))


def alarm_on_skipped_work(template, skipped=None):
    skipped = skipped_work_metrics() if skipped is None else skipped
    watched = {metric for _, props in alarms(template)
               for namespace, metric, _ in alarm_metrics(props)
               if namespace == {"Ref": "MetricsNamespace"}}
    return [{"rule": "alarm-on-skipped-work", "resource": metric,
             "problem": f"{metric} means work was skipped (docs/metrics.md) but no alarm watches it"}
            for metric in sorted(skipped - watched)]


def failed_batches_persist(template):
    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})
    found = []
    for name, mapping in resources.items():
        if not isinstance(mapping, dict) or mapping.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        destination = (mapping.get("Properties", {}).get("DestinationConfig", {})
                       .get("OnFailure", {}).get("Destination"))
        bucket = next(iter(references(destination)), None)
        if resources.get(bucket, {}).get("Type") != "AWS::S3::Bucket":
            continue
        if not any(m == "NumberOfObjects" and bucket in references(d)
                   for _, p in alarms(template) for _, m, d in alarm_metrics(p)):
            found.append({"rule": "failed-batches-persist", "resource": bucket,
                          "problem": f"no alarm on the NumberOfObjects of {bucket}, the on-failure "
                                     f"destination of {name}: a failed batch can wait unnoticed "
                                     "until it expires"})
        for alarm, p in alarms(template):
            delivered = any(m == "OnFailureDestinationDeliveredEventCount" and name in references(d)
                            for _, m, d in alarm_metrics(p))
            if delivered and p.get("OKActions"):
                found.append({"rule": "failed-batches-persist", "resource": alarm,
                              "problem": "sends an OK message one period after a batch was given "
                                         "up on, while the batch still waits"})
        for rule in resources[bucket].get("Properties", {}).get("LifecycleConfiguration", {}).get("Rules", []):
            if "ExpirationInDays" not in rule:
                continue
            least = lowest(rule["ExpirationInDays"], parameters)
            if least is None or least < MIN_FAILED_BATCH_DAYS:
                found.append({"rule": "failed-batches-persist", "resource": bucket,
                              "problem": f"its records can expire after {least} days, fewer "
                                         f"than {MIN_FAILED_BATCH_DAYS}"})
    return found


def violations(template, overrides=None, skipped=None):
    return (two_stacks(template, overrides) + lower_case_names(template, overrides)
            + kafka_mapping_after_grants(template)
            + iam_no_wildcard_parameters(template) + no_managed_logs_star(template)
            + service_trust_source_account(template) + lifecycle_for_deleted_objects(template)
            + alarm_threshold_above_burst(template) + alarm_on_skipped_work(template, skipped)
            + failed_batches_persist(template))


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} TRANSLATED_TEMPLATE.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as text:
        found = violations(json.load(text))
    found = [dict(t) for t in dict.fromkeys(tuple(sorted(v.items())) for v in found)]
    print(json.dumps({"rules": len(RULES), "violations": found}))
    for v in found:
        print(f"stack rule broken ({v['rule']}): {v['resource']}: {v['problem']}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
