#!/usr/bin/env python3
"""Every environment variable the project reads or sets has a row in docs/configuration.md:

- the variables the code reads through its typed settings (`required`, `optional`,
  `or_default` in crates/, functions/ and tools/) and the `env = "..."` arguments of the
  commands and emulators;
- the variables template.yaml sets for the functions (`Environment: Variables:`);
- the variables of infra/local/local.env.

    python3 infra/lint/check_config_docs.py      # from the repository root

Prints one JSON line ({"variables": N, "undocumented": [...]}) and exits 1 if any is missing.
"""
import json
import os
import re
import sys

READ = re.compile(r'(?:or_default|required|optional)(?:::<[^>]+>)?\(\s*[&\w.]+,\s*"([A-Z][A-Z0-9_]+)"')
CLAP_ENV = re.compile(r'env = "([A-Z][A-Z0-9_]+)"')
TEMPLATE_VAR = re.compile(r"^\s{10,}([A-Z][A-Z0-9_]+):", re.M)
DOC_ROW = re.compile(r"^\|([^|]+)\|", re.M)


def code_variables(root):
    found = set()
    for top in ("crates", "functions", "tools", "local"):
        for folder, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if name.endswith(".rs") and "/tests" not in folder.replace(os.sep, "/"):
                    with open(os.path.join(folder, name), encoding="utf-8") as f:
                        text = f.read()
                    if top != "local":
                        found.update(READ.findall(text))
                    found.update(CLAP_ENV.findall(text))
    return found


def template_variables(text):
    """Names under each function's `Environment: Variables:` block."""
    found = set()
    for block in re.findall(r"Environment:\n\s+Variables:\n((?:\s{10,}[A-Z0-9_]+:.*\n)+)", text):
        found.update(TEMPLATE_VAR.findall(block))
    return found


def env_file_variables(text):
    return {line.split("=", 1)[0].strip() for line in text.splitlines()
            if "=" in line and not line.lstrip().startswith("#")}


def documented(text):
    """Variables named in the first column of the doc's tables (`A`, or `A` / `B`, `A`, `B`)."""
    names = set()
    for cell in DOC_ROW.findall(text):
        names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", cell))
    return names


def undocumented(wanted, doc_text):
    return sorted(wanted - documented(doc_text))


def main(root="."):
    read = lambda path: open(os.path.join(root, path), encoding="utf-8").read()
    wanted = (code_variables(root) | template_variables(read("template.yaml"))
              | env_file_variables(read("infra/local/local.env")))
    missing = undocumented(wanted, read("docs/configuration.md"))
    print(json.dumps({"variables": len(wanted), "undocumented": missing}))
    for name in missing:
        print(f"not in docs/configuration.md: {name}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
