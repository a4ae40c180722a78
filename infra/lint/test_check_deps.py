"""The dependency check on made-up workspaces: each rule is caught, and what it allows passes."""
import unittest

from check_deps import violations


def workspace(*packages):
    """`cargo metadata` for packages given as (name, folder, [(dependency, kind), ...])."""
    root = "/w"
    listed = []
    for name, folder, deps in packages:
        listed.append({
            "id": f"{name} 0.1.0",
            "name": name,
            "manifest_path": f"{root}/{folder}/{name}/Cargo.toml",
            "dependencies": [
                {"name": d, "kind": None if k == "normal" else k, "path": f"{root}/x/{d}"}
                for d, k in deps
            ],
        })
    listed.append({"id": "serde 1", "name": "serde", "manifest_path": "/reg/serde/Cargo.toml",
                   "dependencies": []})
    return {"workspace_root": root, "workspace_members": [p["id"] for p in listed[:-1]],
            "packages": listed}


class DependencyRule(unittest.TestCase):
    def test_the_layout_as_it_is_meant_passes(self):
        meta = workspace(
            ("lake", "crates", [("user-record", "normal")]),
            ("user-record", "crates", []),
            ("sink", "functions", [("lake", "normal"), ("s3-store", "dev")]),
            ("replay", "tools", [("sink", "normal"), ("lake", "normal")]),
            ("s3-store", "local", []),
            ("e2e", "local", [("lake", "normal"), ("s3-store", "normal")]),
            ("bench", "benches", [("e2e", "normal"), ("sink", "normal")]),
        )
        self.assertEqual(violations(meta), (7, []))

    def test_a_function_depending_on_another_is_caught_even_for_tests(self):
        meta = workspace(("sink", "functions", []),
                         ("compactor", "functions", [("sink", "dev")]))
        _, found = violations(meta)
        self.assertEqual([(v["package"], v["depends_on"]) for v in found], [("compactor", "sink")])

    def test_a_tool_or_function_depending_on_local_is_caught(self):
        meta = workspace(("emulators", "local", []),
                         ("replay", "tools", [("emulators", "normal")]),
                         ("sink", "functions", [("emulators", "build")]))
        _, found = violations(meta)
        self.assertEqual(sorted(v["package"] for v in found), ["replay", "sink"])

    def test_a_library_depending_on_a_function_is_caught(self):
        meta = workspace(("sink", "functions", []), ("lake", "crates", [("sink", "normal")]))
        _, found = violations(meta)
        self.assertEqual(found[0]["rule"], "a library in crates/ may depend on crates/ only")


if __name__ == "__main__":
    unittest.main()
