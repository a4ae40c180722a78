#!/usr/bin/env python3
"""Rules the deployed stack must keep, checked on the CloudFormation that the SAM transform makes
of template.yaml (infra/lint/sam_translate.py writes it):

- every Kafka event source mapping (the sink's MSK trigger) retries a failed batch a bounded
  number of times (MaximumRetryAttempts set, not -1), in provisioned mode (Lambda's retry
  controls for Kafka need it), never skips records for their age (MaximumRecordAgeInSeconds
  absent or -1), and has an on-failure destination;
- every Lambda function a schedule invokes (EventBridge Scheduler or an EventBridge rule, both
  asynchronous) has an EventInvokeConfig with MaximumRetryAttempts 0 for the version the schedule
  invokes;
- the role of the function behind the Kafka mapping may s3:PutObject under each root the sink
  writes in its lake bucket: ${LakePrefix}_errors/* in every layout (each value of the
  LakeFormat parameter), and with LakeFormat files also users/*, users_jsonl/* and users_csv/*;
  and s3:PutObject and s3:ListBucket on the mapping's S3 on-failure destination, which Lambda
  writes with the function's role;
- the role of the compactor (the function with COMPACTION_TARGET_MIB) may get, put and delete
  objects under ${LakePrefix}_compactor/* (its lease) in every layout, and with LakeFormat files
  under ${LakePrefix}users/* (the merge);
- files-roots-only-with-files: in any other layout (the Iceberg table), no role of the template
  may get, put or delete objects under the files layout's roots ${LakePrefix}users/*,
  users_jsonl/* and users_csv/* of a function's LAKE_BUCKET, nor list them;
- every dashboard's body is JSON once its ${...} variables are filled, and every metric it shows
  from ${MetricsNamespace} is one the functions emit (a row of docs/metrics.md).

    template_rules.py translated.json

The layouts are resolved as CloudFormation resolves the template's conditions (stack_rules.py's
Stack, the other parameters at their defaults): an Fn::If takes the branch its condition chooses
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-conditions.html).

Prints one JSON line ({"rules": N, "violations": [...]}) and exits 1 if any rule is broken. Only
the standard library: it runs with any python3.
"""
import fnmatch
import json
import re
import sys
from pathlib import Path

from stack_rules import Stack, Unresolved

LAYOUT_PARAMETER = "LakeFormat"
FILES_LAYOUT = "files"
# The plain-files layout's roots: granted with LakeFormat files only.
FILES_ROOTS = ("users", "users_jsonl", "users_csv")
SINK_ROOTS = ("_errors",)  # in every layout
COMPACTOR_ROOTS = ("_compactor",)  # in every layout
COMPACTOR_FILES_ROOTS = ("users",)
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
COMPACTOR_ACTIONS = OBJECT_ACTIONS
RULES = ("kafka-retries", "scheduled-no-retry", "sink-writes-lake", "compactor-reaches-lake",
         "files-roots-only-with-files", "dashboard-metrics")
NO_VALUE = object()
METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def documented_metrics(path=METRICS_DOC):
    """The metric names of docs/metrics.md's tables (rows that start with a backquoted name)."""
    return set(re.findall(r"^\| `([A-Za-z]+)` \|", path.read_text(encoding="utf-8"), re.M))


def resources(template, kind):
    return [(name, r) for name, r in template.get("Resources", {}).items()
            if isinstance(r, dict) and r.get("Type") == kind]


def referenced(value):
    """The logical id a value points at: {"Ref": X}, {"Fn::GetAtt": [X, ...]} or "X.Arn" form."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            if isinstance(target, str):
                target = target.split(".", 1)
            if isinstance(target, list) and target and isinstance(target[0], str):
                return target[0]
    return None


def is_kafka(mapping):
    props = mapping.get("Properties", {})
    return bool(props.get("Topics")) or any(
        key in props for key in ("AmazonManagedKafkaEventSourceConfig",
                                 "SelfManagedKafkaEventSourceConfig", "SelfManagedEventSource"))


def kafka_mappings(template):
    return [(n, m) for n, m in resources(template, "AWS::Lambda::EventSourceMapping") if is_kafka(m)]


def kafka_retries(template):
    found = []
    mappings = kafka_mappings(template)
    if not mappings:
        found.append({"rule": "kafka-retries", "resource": None,
                      "problem": "no Kafka event source mapping: the sink has no trigger"})
    for name, mapping in mappings:
        props = mapping.get("Properties", {})

        def broken(problem, name=name):
            found.append({"rule": "kafka-retries", "resource": name, "problem": problem})

        retries = props.get("MaximumRetryAttempts")
        if retries is None:
            broken("MaximumRetryAttempts is not set: Lambda retries a failed batch for ever (-1)")
        elif retries == -1:
            broken("MaximumRetryAttempts is -1: a failed batch is retried for ever")
        age = props.get("MaximumRecordAgeInSeconds")
        if age is not None and age != -1:
            broken(f"MaximumRecordAgeInSeconds is {age}: older records would be skipped")
        if not props.get("ProvisionedPollerConfig"):
            broken("no ProvisionedPollerConfig: Kafka retry controls need provisioned mode")
        destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if not destination:
            broken("no DestinationConfig.OnFailure.Destination: a batch given up on is lost")
    return found


def schedule_targets(template):
    """(schedule, function logical id, qualifier) for every schedule that invokes a function."""
    functions = {name for name, _ in resources(template, "AWS::Lambda::Function")}
    aliases = {name: r.get("Properties", {}) for name, r in resources(template, "AWS::Lambda::Alias")}
    targets = []
    for name, schedule in resources(template, "AWS::Scheduler::Schedule"):
        target = schedule.get("Properties", {}).get("Target", {})
        targets.append((name, target.get("Arn")))
    for name, rule in resources(template, "AWS::Events::Rule"):
        props = rule.get("Properties", {})
        if "ScheduleExpression" in props:
            for target in props.get("Targets", []) or []:
                targets.append((name, target.get("Arn")))
    found = []
    for schedule, arn in targets:
        target = referenced(arn)
        if target in functions:
            found.append((schedule, target, "$LATEST"))
        elif target in aliases:
            function = referenced(aliases[target].get("FunctionName"))
            if function in functions:
                found.append((schedule, function, aliases[target].get("Name")))
    return found


def scheduled_no_retry(template):
    configs = [r.get("Properties", {}) for _, r in resources(template, "AWS::Lambda::EventInvokeConfig")]
    found = []
    for schedule, function, qualifier in schedule_targets(template):
        matching = [c for c in configs
                    if referenced(c.get("FunctionName")) == function
                    and c.get("Qualifier", "$LATEST") == qualifier]
        if not matching:
            found.append({"rule": "scheduled-no-retry", "resource": function,
                          "problem": f"invoked asynchronously by {schedule} but has no "
                                     f"EventInvokeConfig for {qualifier}: Lambda retries a failed run twice"})
        elif any(c.get("MaximumRetryAttempts") != 0 for c in matching):
            found.append({"rule": "scheduled-no-retry", "resource": function,
                          "problem": f"invoked asynchronously by {schedule}: its EventInvokeConfig "
                                     "must set MaximumRetryAttempts to 0"})
    return found


def sub_text(value):
    """The text of a plain string or of an Fn::Sub (both forms); None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1 and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        if isinstance(sub, list) and sub:
            sub = sub[0]
        return sub if isinstance(sub, str) else None
    return None


class Layout:
    """One value of the LakeFormat parameter (None: the template has no such parameter) and the
    template's conditions as a stack with it resolves them."""

    def __init__(self, template, value):
        self.value = value
        overrides = {LAYOUT_PARAMETER: value} if value is not None else None
        self.stack = Stack(template, "template-rules", "0", overrides)

    @property
    def files(self):
        return self.value in (None, FILES_LAYOUT)

    def label(self):
        return f"{LAYOUT_PARAMETER} {self.value}: " if self.value is not None else ""

    def pick(self, node):
        """node with each Fn::If replaced by the branch its condition chooses, AWS::NoValue
        dropped from lists and maps (NO_VALUE when node itself is AWS::NoValue)."""
        if isinstance(node, list):
            return [v for v in (self.pick(n) for n in node) if v is not NO_VALUE]
        if isinstance(node, dict):
            if node == {"Ref": "AWS::NoValue"}:
                return NO_VALUE
            if len(node) == 1 and "Fn::If" in node:
                args = node["Fn::If"]
                if not (isinstance(args, list) and len(args) == 3):
                    raise Unresolved(f"Fn::If {args!r}")
                return self.pick(args[1] if self.stack.condition(args[0]) else args[2])
            return {k: v for k, v in ((k, self.pick(n)) for k, n in node.items())
                    if v is not NO_VALUE}
        return node

    def exists(self, resource):
        return "Condition" not in resource or self.stack.condition(resource["Condition"])


def layouts(template):
    """A Layout for each value LakeFormat allows (one without it when it is not a parameter)."""
    spec = template.get("Parameters", {}).get(LAYOUT_PARAMETER)
    if not isinstance(spec, dict):
        return [Layout(template, None)]
    values = spec.get("AllowedValues") or [spec.get("Default")]
    return [Layout(template, str(v)) for v in values]


def as_list(value):
    return value if isinstance(value, list) else [value]


def role_statements(template, role, layout):
    """Every statement of the role's inline policies and of the policies attached to it, as
    they are in `layout`."""
    documents = []
    resource = template["Resources"][role]
    if not layout.exists(resource):
        return []
    for policy in as_list(layout.pick(resource.get("Properties", {}).get("Policies", []))):
        if isinstance(policy, dict):
            documents.append(policy.get("PolicyDocument", {}))
    for kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy"):
        for _, policy in resources(template, kind):
            if not layout.exists(policy):
                continue
            props = layout.pick(policy.get("Properties", {}))
            roles = as_list(props.get("Roles", [])) + as_list(props.get("RoleName", []))
            if any(referenced(r) == role or r == role for r in roles):
                documents.append(props.get("PolicyDocument", {}))
    statements = []
    for document in documents:
        for statement in as_list(document.get("Statement", [])):
            if isinstance(statement, dict):
                statements.append(statement)
    return statements


def allows(statement, action):
    if statement.get("Effect") != "Allow":
        return False
    return any(isinstance(a, str) and fnmatch.fnmatchcase(action.lower(), a.lower())
               for a in as_list(statement.get("Action", [])))


def bucket_object_keys(resource, bucket):
    """The key pattern a statement resource grants in `bucket` (by logical id), or None."""
    text = sub_text(resource)
    if text is None:
        return None
    for prefix in (f"${{{bucket}.Arn}}/", f"arn:${{AWS::Partition}}:s3:::${{{bucket}}}/",
                   f"arn:aws:s3:::${{{bucket}}}/"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return None


def granted_keys(template, role, bucket, action, layout):
    """The key patterns of `bucket` on which the role's statements allow `action` in `layout`."""
    granted = set()
    for statement in role_statements(template, role, layout):
        if allows(statement, action):
            for r in as_list(statement.get("Resource", [])):
                keys = bucket_object_keys(r, bucket)
                if keys is not None:
                    granted.add(keys)
    return granted


def grants_bucket(template, role, bucket, action, layout):
    """Whether the role's statements allow `action` on the bucket itself in `layout`."""
    for statement in role_statements(template, role, layout):
        if allows(statement, action):
            for r in as_list(statement.get("Resource", [])):
                if referenced(r) == bucket or r == {"Fn::GetAtt": [bucket, "Arn"]}:
                    return True
    return False


def destination_grants(template, name, mapping, role, layout):
    """What the role lacks, in `layout`, of the PutObject and ListBucket an S3 on-failure
    destination needs."""
    destination = (mapping.get("Properties", {}).get("DestinationConfig", {})
                   .get("OnFailure", {}).get("Destination"))
    bucket = referenced(destination)
    if template.get("Resources", {}).get(bucket or "", {}).get("Type") != "AWS::S3::Bucket":
        return []
    found = []
    granted = granted_keys(template, role, bucket, "s3:PutObject", layout)
    if not any(fnmatch.fnmatchcase("*", g) for g in granted):
        found.append({"rule": "sink-writes-lake", "resource": role,
                      "problem": f"{layout.label()}no s3:PutObject on ${{{bucket}.Arn}}/* "
                                 f"(the on-failure destination of {name})"})
    if not grants_bucket(template, role, bucket, "s3:ListBucket", layout):
        found.append({"rule": "sink-writes-lake", "resource": role,
                      "problem": f"{layout.label()}no s3:ListBucket on {bucket} "
                                 f"(the on-failure destination of {name})"})
    return found


def missing_roots(rule, role, bucket, action, granted, roots, layout, why=""):
    """A violation of `rule` for each root whose keys no granted key pattern covers; `why` is
    appended to the problem, with {root} filled."""
    found = []
    for root in roots:
        wanted = f"${{LakePrefix}}{root}/*"
        if not any(fnmatch.fnmatchcase(wanted, g) for g in granted):
            found.append({"rule": rule, "resource": role,
                          "problem": f"{layout.label()}no {action} on ${{{bucket}.Arn}}/{wanted}"
                                     + why.format(root=root)})
    return found


def compactor_reaches_lake(template):
    found = []
    for function, resource in resources(template, "AWS::Lambda::Function"):
        props = resource.get("Properties", {})
        variables = props.get("Environment", {}).get("Variables", {})
        if "COMPACTION_TARGET_MIB" not in variables:
            continue
        role = referenced(props.get("Role"))
        bucket = referenced(variables.get("LAKE_BUCKET"))
        if role not in template.get("Resources", {}) or bucket is None:
            found.append({"rule": "compactor-reaches-lake", "resource": function,
                          "problem": "needs a Role and a LAKE_BUCKET of this template to be checked"})
            continue
        for layout in layouts(template):
            roots = COMPACTOR_ROOTS + (COMPACTOR_FILES_ROOTS if layout.files else ())
            for action in COMPACTOR_ACTIONS:
                granted = granted_keys(template, role, bucket, action, layout)
                found.extend(missing_roots("compactor-reaches-lake", role, bucket, action,
                                           granted, roots, layout))
    return found


def lake_buckets(template):
    """The logical ids of the buckets the functions' LAKE_BUCKET names."""
    found = set()
    for _, resource in resources(template, "AWS::Lambda::Function"):
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        bucket = referenced(variables.get("LAKE_BUCKET"))
        if bucket is not None:
            found.add(bucket)
    return found


def listed_prefixes(statement):
    """The s3:prefix values a ListBucket statement is limited to (None: not limited)."""
    found = []
    for operator in (statement.get("Condition") or {}).values():
        if isinstance(operator, dict) and "s3:prefix" in operator:
            found.extend(sub_text(p) for p in as_list(operator["s3:prefix"]))
    return found or None


def lists_under(pattern, root):
    """Whether a listing allowed by the s3:prefix pattern can return keys under `root` (a key
    prefix): the pattern's literal start and the root, one the start of the other."""
    if pattern is None:
        return True
    literal = re.split(r"[*?]", pattern, maxsplit=1)[0]
    return literal.startswith(root) or root.startswith(literal)


def files_roots_only_with_files(template):
    found = []
    buckets = lake_buckets(template)
    roles = [name for name, _ in resources(template, "AWS::IAM::Role")]
    for layout in layouts(template):
        if layout.files:
            continue
        for role, bucket in ((r, b) for r in roles for b in sorted(buckets)):
            def broken(problem, role=role, layout=layout):
                found.append({"rule": "files-roots-only-with-files", "resource": role,
                              "problem": f"{layout.label()}{problem}: only the files layout "
                                         "uses that root"})
            for action in OBJECT_ACTIONS:
                granted = granted_keys(template, role, bucket, action, layout)
                for root in FILES_ROOTS:
                    key = f"${{LakePrefix}}{root}/dt=x/hour=y/z"
                    if any(fnmatch.fnmatchcase(key, g) for g in granted):
                        broken(f"{action} on ${{{bucket}.Arn}}/${{LakePrefix}}{root}/*")
            for statement in role_statements(template, role, layout):
                if not allows(statement, "s3:ListBucket") or not any(
                        referenced(r) == bucket for r in as_list(statement.get("Resource", []))):
                    continue
                prefixes = listed_prefixes(statement)
                for root in FILES_ROOTS:
                    wanted = f"${{LakePrefix}}{root}/"
                    if prefixes is None or any(lists_under(p, wanted) for p in prefixes):
                        broken(f"s3:ListBucket on {bucket} reaches {wanted}")
    return found


def dashboard_metrics(template, emitted=None):
    found = []
    for name, dashboard in resources(template, "AWS::CloudWatch::Dashboard"):
        body = dashboard.get("Properties", {}).get("DashboardBody")
        text = sub_text(body) if not isinstance(body, str) else body
        if text is None:
            found.append({"rule": "dashboard-metrics", "resource": name,
                          "problem": "DashboardBody is neither a string nor a !Sub of one"})
            continue
        filled = re.sub(r"\$\{[^}]+\}", "x", text)
        try:
            widgets = json.loads(filled).get("widgets", [])
        except (ValueError, AttributeError) as e:
            found.append({"rule": "dashboard-metrics", "resource": name,
                          "problem": f"DashboardBody is not JSON: {e}"})
            continue
        if emitted is None:
            emitted = documented_metrics()
        for widget in widgets:
            for metric in widget.get("properties", {}).get("metrics", []):
                if not metric or not isinstance(metric[0], str):
                    continue
                namespace, metric_name = metric[0], metric[1]
                if "${MetricsNamespace}" in text and namespace == "x" and metric_name not in emitted:
                    found.append({"rule": "dashboard-metrics", "resource": name,
                                  "problem": f"{metric_name} is not a metric the functions emit "
                                             "(docs/metrics.md)"})
    return found


def sink_writes_lake(template):
    found = []
    for name, mapping in kafka_mappings(template):
        function = referenced(mapping.get("Properties", {}).get("FunctionName"))
        resource = template.get("Resources", {}).get(function or "", {})
        if resource.get("Type") != "AWS::Lambda::Function":
            found.append({"rule": "sink-writes-lake", "resource": name,
                          "problem": "the mapping's FunctionName is not a function of this template"})
            continue
        props = resource.get("Properties", {})
        role = referenced(props.get("Role"))
        bucket = referenced(props.get("Environment", {}).get("Variables", {}).get("LAKE_BUCKET"))
        if role not in template.get("Resources", {}) or bucket is None:
            found.append({"rule": "sink-writes-lake", "resource": function,
                          "problem": "needs a Role and a LAKE_BUCKET of this template to be checked"})
            continue
        for layout in layouts(template):
            granted = granted_keys(template, role, bucket, "s3:PutObject", layout)
            found.extend(destination_grants(template, name, mapping, role, layout))
            roots = SINK_ROOTS + (FILES_ROOTS if layout.files else ())
            found.extend(missing_roots("sink-writes-lake", role, bucket, "s3:PutObject", granted,
                                       roots, layout, " (the sink writes {root}/)"))
    return found


def violations(template):
    try:
        layout_rules = (sink_writes_lake(template) + compactor_reaches_lake(template)
                        + files_roots_only_with_files(template))
    except (Unresolved, KeyError) as e:
        layout_rules = [{"rule": "sink-writes-lake", "resource": None,
                         "problem": f"the roles' grants cannot be resolved for each "
                                    f"{LAYOUT_PARAMETER}: {e}"}]
    return (kafka_retries(template) + scheduled_no_retry(template) + layout_rules
            + dashboard_metrics(template))


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} TRANSLATED_TEMPLATE.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as text:
        found = violations(json.load(text))
    print(json.dumps({"rules": len(RULES), "violations": found}))
    for v in found:
        print(f"template rule broken ({v['rule']}): {v['resource']}: {v['problem']}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
