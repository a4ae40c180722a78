#!/usr/bin/env python3
"""What README.md and docs/*.md name still exists:

- (make) every `make <target>` in inline code or a code block is a target of the Makefile;
- (path) every repository path in inline code, a code block or a link (`infra/local/demo.sh`,
  `crates/table/src/marks.rs`, `[...](docs/table.md#the-commit)`) exists, and a link's or an
  inline path's `#anchor` is a heading of the Markdown file it names;
- (variable) every environment variable in inline code or a code block that looks like one of
  ours (UPPER_SNAKE with one of PREFIXES) is read or set outside the docs: named in a
  non-comment line of the code, the scripts, the Makefile, infra/local/local.env or
  template.yaml;
- (flag) every `--flag` that follows a command's name (`replay --from`, `target/debug/export
  --out`, `cargo run -p status -- --table`) is a long option of that command's clap `Args`
  (tools/<name>/src/main.rs, local/emulators/src/bin/<name>.rs).

    python3 infra/lint/check_doc_references.py      # from the repository root

Prints one JSON line ({"checked": N, "stale": [...]}) and exits 1 if anything is stale.
"""
import json
import os
import re
import sys

DOCS = ["README.md"]
DOCS_DIR = "docs"

# Our variables: the prefixes of the rows of docs/configuration.md (and of the names
# infra/lint/check_config_docs.py collects from the code, template.yaml and local.env). AWS_*,
# RUST_LOG, CI and SAM_CLI_* are read by the AWS SDK, tracing, CI and the SAM CLI, not by us.
PREFIXES = ("LAKE_", "KAFKA_", "ICEBERG_", "USERS_", "USER_LAKE_", "COMPACTION_", "SNAPSHOT_",
            "ORPHAN_", "OUTPUT_", "SINK_", "PRODUCER_", "METRICS_", "PARQUET_", "GLUE_", "S3_",
            "FAILED_BATCH_", "LAMBDA_")

# Top-level entries that are not the repository's own files: where runs put their results
# (`output/`, `target/`), which the docs name on purpose, and git's directory.
NOT_REPOSITORY = {".git", "output", "target"}

# Markers of a placeholder in a path (`tests/<crate>/main.rs`, `users/dt=…/`, `*.parquet`,
# `${LAKE_PREFIX}`): such a path names a pattern, not a file.
PLACEHOLDER = re.compile(r"[<>…*{}$\[\]]|\.\.\.")

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE = re.compile(r"(?<!`)`([^`]+?)`(?!`)", re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
MAKE = re.compile(r"(?:^|[\s;&|(])make((?:\s+[A-Za-z_][A-Za-z0-9_]*=\S*)*)\s+([a-z][a-z0-9_-]*)")
VARIABLE = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?![A-Za-z0-9_])")
# Commands start a code span or a line, or follow ; && || | $( or a path ending in the name.
COMMAND_SEP = re.compile(r"\s*(?:;|&&|\|\||\||\$\(|\n)\s*")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def github_slug(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as '-'."""
    text = re.sub(r"`", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown):
    """Every heading's anchor, with GitHub's -1, -2 suffixes for repeated ones."""
    seen, found = {}, set()
    in_fence = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = github_slug(match.group(1))
            count = seen.get(slug, 0)
            found.add(slug if count == 0 else f"{slug}-{count}")
            seen[slug] = count + 1
    return found


def split_markdown(text):
    """(prose, code): the text with code blocks blanked, and the code blocks' lines with their
    line numbers. Blanking keeps every line where it was, so offsets give line numbers."""
    prose, code, in_fence = [], [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            prose.append("")
        elif in_fence:
            code.append((number, line))
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), code


def mentions(text):
    """(line, kind, text) for each inline code span, link target and code-block line."""
    prose, code = split_markdown(text)
    found = []
    for match in INLINE.finditer(prose):
        if "\n\n" in match.group(1):
            continue
        line = prose.count("\n", 0, match.start()) + 1
        found.append((line, "code", " ".join(match.group(1).split())))
    for match in LINK.finditer(prose):
        found.append((prose.count("\n", 0, match.start()) + 1, "link", match.group(1)))
    found.extend((number, "block", line) for number, line in code)
    return found


# ---- the repository's side ------------------------------------------------------------------

def makefile_targets(text):
    targets = set()
    for match in re.finditer(r"^([A-Za-z0-9_.%-]+(?:\s+[A-Za-z0-9_.%-]+)*)\s*:(?!=)", text, re.M):
        targets.update(match.group(1).split())
    return targets


def _attribute_body(text, start):
    """The text inside `#[arg(` ... `)]` from just after the opening parenthesis."""
    depth, i = 1, start
    while i < len(text) and depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    return text[start:i - 1], i


def clap_flags(source):
    """The long options of the clap arguments in a main.rs: `#[arg(long)] snapshot_id` is
    `--snapshot-id`, `#[arg(long = "partition")]` is `--partition`; aliases count, and every
    command has `--help` (and `--version` with `#[command(version)]`)."""
    flags = {"--help"}
    if re.search(r"#\[command\([^)]*\bversion\b", source):
        flags.add("--version")
    for match in re.finditer(r"#\[arg\(", source):
        body, end = _attribute_body(source, match.end())
        if not re.search(r"(?:^|,)\s*long\b", body):
            continue
        named = re.search(r"\blong\s*=\s*\"([^\"]+)\"", body)
        if named:
            flags.add("--" + named.group(1))
        else:
            rest = re.sub(r"^(?:\s*(?:///[^\n]*|#\[[^\n]*\])\s*)*", "", source[end:].lstrip("]"))
            field = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?([a-z_][a-z0-9_]*)\s*:", rest)
            if field:
                flags.add("--" + field.group(1).replace("_", "-"))
        for alias in re.findall(r"\b(?:visible_)?alias\s*=\s*\"([^\"]+)\"", body):
            flags.add("--" + alias)
    return flags


def commands(root):
    """{name: clap flags} of the operator tools and the emulators."""
    found = {}
    tools = os.path.join(root, "tools")
    for name in sorted(os.listdir(tools)) if os.path.isdir(tools) else []:
        main = os.path.join(tools, name, "src", "main.rs")
        if os.path.isfile(main):
            found[name] = clap_flags(read(main))
    bins = os.path.join(root, "local", "emulators", "src", "bin")
    for name in sorted(os.listdir(bins)) if os.path.isdir(bins) else []:
        if name.endswith(".rs"):
            found[name[:-3]] = clap_flags(read(os.path.join(bins, name)))
    return found


CODE_SUFFIXES = (".rs", ".py", ".sh", ".yaml", ".yml", ".toml", ".env", ".json")
CODE_NAMES = {"Makefile", "run", "Dockerfile"}


def used_variables(root):
    """Every UPPER_SNAKE name on a non-comment line of the code, scripts and configuration:
    what the code reads (Rust string literals, `$NAME` in scripts, `os.environ`), what
    local.env and template.yaml set. The docs and this check's own tests are not code."""
    names = set()
    here = os.path.dirname(os.path.abspath(__file__))
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in NOT_REPOSITORY and d != "docs"]
        for name in files:
            path = os.path.join(folder, name)
            if not (name.endswith(CODE_SUFFIXES) or name in CODE_NAMES):
                continue
            if os.path.dirname(os.path.abspath(path)) == here and name.startswith(
                    ("test_", "check_doc_references")):
                continue
            try:
                text = read(path)
            except (UnicodeDecodeError, OSError):
                continue
            comment = "//" if name.endswith(".rs") else "#"
            for line in text.splitlines():
                if not line.lstrip().startswith(comment):
                    names.update(VARIABLE.findall(line))
    return names


def top_level(root):
    return {name for name in os.listdir(root) if name not in NOT_REPOSITORY}


# ---- the checks ------------------------------------------------------------------------------

def path_candidates(text, tops):
    """Repository paths in a span or a code line: tokens whose first component is a top-level
    entry of the repository (`infra/local/tools.sh`, `template.yaml`), with an optional anchor."""
    found = []
    for match in re.finditer(r"(?<![\w./~-])(\.?[A-Za-z0-9_][\w.-]*)((?:/[\w.-]*)*)(#[\w-]+)?", text):
        first, rest, anchor = match.group(1), match.group(2), match.group(3)
        if first not in tops or (not rest and "." not in first and first not in ("Makefile",)):
            continue
        tail = text[match.end():match.end() + 1]
        if PLACEHOLDER.search(tail) or (tail and tail not in " \t\"'`),;:|"):
            continue  # the token goes on as a pattern (`users/dt=…`) or is not a plain path
        found.append((first + rest.rstrip("."), anchor[1:] if anchor else None))
    return found


def check_path(root, base, path, anchor, anchor_cache):
    """None when the path (relative to base) exists and the anchor is one of its headings."""
    full = os.path.normpath(os.path.join(base, path))
    if not os.path.exists(full):
        return "no such file or directory"
    if anchor and full.endswith(".md"):
        if full not in anchor_cache:
            anchor_cache[full] = anchors(read(full))
        if anchor not in anchor_cache[full]:
            return f"no heading #{anchor} in {os.path.relpath(full, root)}"
    return None


def flag_uses(text, names):
    """(command, flag) for each --flag following a known command's name in a span or line."""
    found = []
    for part in COMMAND_SEP.split(text):
        tokens = part.split()
        # `cargo run -p NAME -- --flag`: the command's flags follow the `--`.
        for i, token in enumerate(tokens):
            if token == "-p" and i + 2 < len(tokens) and tokens[i + 1] in names and tokens[i + 2] == "--":
                found += [(tokens[i + 1], t) for t in tokens[i + 3:] if t.startswith("--")]
        if not tokens:
            continue
        head = tokens[0].strip("\"'")
        start = 1
        if head in ("time", "env") and len(tokens) > 1:
            head, start = tokens[1].strip("\"'"), 2
        name = head.rsplit("/", 1)[-1]
        if name not in names or (head != name and not re.search(r"(^|/)(debug|release)/[^/]+$", head)):
            continue
        for token in tokens[start:]:
            flag = re.match(r"\[?(--[a-z][a-z0-9_-]*)", token)
            if flag:
                found.append((name, flag.group(1)))
    return found


def scan(root="."):
    """(checked, stale) over README.md and docs/*.md."""
    tops = top_level(root)
    targets = makefile_targets(read(os.path.join(root, "Makefile")))
    known_commands = commands(root)
    variables = used_variables(root)
    files = list(DOCS)
    docs = os.path.join(root, DOCS_DIR)
    if os.path.isdir(docs):
        files += sorted(os.path.join(DOCS_DIR, n) for n in os.listdir(docs) if n.endswith(".md"))
    checked, stale, anchor_cache = 0, [], {}

    def report(doc, line, kind, mention, reason):
        stale.append({"file": doc, "line": line, "kind": kind, "mention": mention, "reason": reason})

    for doc in files:
        path = os.path.join(root, doc)
        if not os.path.isfile(path):
            continue
        text = read(path)
        base = os.path.dirname(path)
        for line, where, span in mentions(text):
            if where == "link":
                target = span.split("#", 1)
                if re.match(r"^[a-z]+:", span):
                    continue  # a URL (https:, mailto:)
                checked += 1
                linked = os.path.join(base, target[0]) if target[0] else path
                reason = check_path(root, ".", linked, target[1] if len(target) > 1 else None,
                                    anchor_cache)
                if reason:
                    report(doc, line, "path", span, reason)
                continue
            for match in MAKE.finditer(span):
                checked += 1
                if match.group(2) not in targets:
                    report(doc, line, "make", f"make {match.group(2)}", "no such target in the Makefile")
            for found, anchor in path_candidates(span, tops):
                checked += 1
                reason = check_path(root, root, found, anchor, anchor_cache)
                if reason:
                    report(doc, line, "path", found + (f"#{anchor}" if anchor else ""), reason)
            for name in VARIABLE.findall(span):
                if not name.startswith(PREFIXES):
                    continue
                checked += 1
                if name not in variables:
                    report(doc, line, "variable", name,
                           "read or set nowhere (code, scripts, Makefile, local.env, template.yaml)")
            for command, flag in flag_uses(span, known_commands):
                checked += 1
                if flag not in known_commands[command]:
                    report(doc, line, "flag", f"{command} {flag}", f"{command} has no {flag}")
    return checked, stale


def main(root="."):
    checked, stale = scan(root)
    print(json.dumps({"checked": checked, "stale": stale}))
    for item in stale:
        print(f"{item['file']}:{item['line']}: {item['kind']}: {item['mention']}: {item['reason']}",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
