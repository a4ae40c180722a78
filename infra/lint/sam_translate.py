#!/usr/bin/env python3
"""Translates a SAM template to the CloudFormation that the AWS::Serverless transform deploys,
offline: no AWS credentials and no network.

    sam_translate.py template.yaml > translated.json

It runs the SAM translator (`samtranslator`, the package CloudFormation's transform is built
from) with the version pinned by aws-sam-cli, so it needs the interpreter of deploy-check's
`sam` virtualenv (which also provides PyYAML). Two things the translator would otherwise fetch or
refuse are stubbed, as `sam validate` stubs them:

- a local `CodeUri` (`sam build` uploads it later) becomes a placeholder S3 location;
- the managed-policy map (policy names in a function's `Policies`, normally read from IAM) is
  empty: a template that names a managed policy by name instead of by ARN fails here, loudly.

The region comes from AWS_DEFAULT_REGION (deploy-check sets us-east-1).
"""
import json
import sys

import yaml
from samtranslator.translator.transform import transform

PLACEHOLDER_BUCKET = "deploy-check-placeholder"


class CloudFormationLoader(yaml.SafeLoader):
    """YAML loader that reads the CloudFormation short forms (`!Ref`, `!Sub`, `!GetAtt`, ...) as
    their long forms (`{"Ref": ...}`, `{"Fn::Sub": ...}`), which is what the translator expects."""


def _intrinsic(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


class EmptyPolicyLoader:
    """Stands in for the IAM-backed managed-policy loader."""

    def load(self):
        return {}


def load(path):
    with open(path, encoding="utf-8") as text:
        return yaml.load(text, Loader=CloudFormationLoader)


def with_placeholder_code(template):
    """Replaces local CodeUri values (and a Globals one) with a placeholder S3 location."""
    def fix(properties):
        uri = properties.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            properties["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/{uri.strip('./') or 'root'}"

    fix(template.get("Globals", {}).get("Function", {}))
    for resource in template.get("Resources", {}).values():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function":
            fix(resource.setdefault("Properties", {}))
    return template


def translate(template):
    return transform(with_placeholder_code(template), {}, EmptyPolicyLoader())


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} TEMPLATE", file=sys.stderr)
        return 2
    json.dump(translate(load(argv[1])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
