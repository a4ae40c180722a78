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
- kafka-mapping-after-grants: every policy resource attached to the role of a Kafka event source
  mapping's function is created before the mapping (a DependsOn, or a reference, of the mapping
  or of anything it depends on). Lambda checks the role's cluster and destination permissions
  when it creates the mapping, and an inline policy of the role is already ordered before it
  through the function. IAM itself is eventually consistent
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency),
  which no ordering can remove: docs/deploy.md says what to do then.

    stack_rules.py translated.json

Prints one JSON line ({"rules": N, "violations": [...]}) and exits 1 if any rule is broken. Only
the standard library.
"""
import json
import sys

RULES = ("two-stacks", "kafka-mapping-after-grants")

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
        if name in self.resources:  # a generated physical name carries the stack's name
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


def physical_names(stack):
    """{(type, scope, name): logical id} of every name-bearing property the stack resolves."""
    names = {}
    for logical, resource in stack.resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        if kind not in NAME_PATHS:
            continue
        if "Condition" in resource and not stack.condition(resource["Condition"]):
            continue
        props = resource.get("Properties", {})
        for path in NAME_PATHS[kind]:
            value = props
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is None:
                continue
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


def violations(template, overrides=None):
    return two_stacks(template, overrides) + kafka_mapping_after_grants(template)


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} TRANSLATED_TEMPLATE.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as text:
        found = violations(json.load(text))
    print(json.dumps({"rules": len(RULES), "violations": found}))
    for v in found:
        print(f"stack rule broken ({v['rule']}): {v['resource']}: {v['problem']}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
