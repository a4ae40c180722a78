#!/usr/bin/env python3
"""The dependency rule of the workspace, checked from `cargo metadata`:

- a library in crates/ depends on other libraries in crates/ only;
- a function in functions/ never depends on another function, in any section (a function's
  tests build their input with the libraries, not with another function);
- nothing outside local/ depends on a crate in local/ (the local stand-ins), except as a
  dev-dependency (tests) or from benches/.

    python3 infra/lint/check_deps.py            # runs `cargo metadata` in the workspace
    python3 infra/lint/check_deps.py < meta.json

Prints one JSON line ({"packages": N, "violations": [...]}) and exits 1 if any rule is broken.
"""
import json
import os
import subprocess
import sys


def area(manifest_path, root):
    """The top-level folder a package lives in: crates, functions, tools, local or benches."""
    relative = os.path.relpath(os.path.dirname(manifest_path), root)
    return relative.split(os.sep)[0]


def violations(metadata):
    root = metadata["workspace_root"]
    members = set(metadata["workspace_members"])
    packages = [p for p in metadata["packages"] if p["id"] in members]
    where = {p["name"]: area(p["manifest_path"], root) for p in packages}
    found = []
    for package in packages:
        name, home = package["name"], where[package["name"]]
        for dependency in package["dependencies"]:
            target = dependency["name"]
            if dependency.get("path") is None or target not in where:
                continue
            kind = dependency.get("kind") or "normal"
            there = where[target]
            broken = None
            if home == "crates" and there != "crates" and kind != "dev":
                broken = "a library in crates/ may depend on crates/ only"
            elif home == "functions" and there == "functions" and target != name:
                broken = "a function never depends on another function"
            elif there == "local" and home not in ("local", "benches") and kind != "dev":
                broken = "only local/, benches/ and tests may depend on local/"
            if broken:
                found.append({"package": name, "depends_on": target, "kind": kind, "rule": broken})
    return len(packages), found


def main():
    if sys.stdin.isatty() or "--cargo" in sys.argv:
        text = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
            check=True, capture_output=True, text=True,
        ).stdout
    else:
        text = sys.stdin.read()
    count, found = violations(json.loads(text))
    print(json.dumps({"packages": count, "violations": found}))
    for v in found:
        print(f"dependency rule broken: {v['package']} -> {v['depends_on']} ({v['kind']}): {v['rule']}",
              file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
