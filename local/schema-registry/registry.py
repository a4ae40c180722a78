#!/usr/bin/env python3
"""A schema registry for the local stack, speaking the subset of the Confluent Schema Registry
REST API that serializers (confluent-kafka's AvroSerializer and AvroDeserializer among them) and
the sink use:

    POST /subjects/{subject}/versions                  register a schema (or find it):
                                                       {"subject", "version", "id", "schema"}
    GET  /schemas/ids/{id}                             {"schema": "..."}; 404 error_code 40403
    GET  /subjects/{subject}/versions/latest           {"subject", "version", "id", "schema"}
    GET  /subjects/{subject}/versions/{version}        the same for one version
    GET  /subjects                                     the subjects
    POST /compatibility/subjects/{subject}/versions/{version|latest}   {"is_compatible": bool}
    GET  /associations/resources/{namespace}/{name}    [] (no subject is associated with a topic
                                                       here, so a client's default subject name
                                                       strategy falls back to TopicNameStrategy)

Query parameters (`normalize`, `verbose`, `subject`, `format`, ...) are accepted and ignored: two
texts of one schema share an id whether or not the client asks to normalize. Avro schemas only (a
`schemaType` other than AVRO is refused with 422), standing alone: a schema with `references`,
`metadata` or a `ruleSet` is refused with 422 rather than registered without them. A new version
of a subject must be BACKWARD compatible with the latest one, Confluent's default: a reader of
the new schema can read what the old one wrote (every field of the new schema is in the old one
with a type it can read, or has a default); an incompatible schema is refused with 409, as
Confluent does. Ids are global and start at 1; the same schema registered again, under any
subject, keeps its id (and, under the same subject, its version). Schema GUIDs are not given.
Everything is held in memory: a restart forgets the schemas (producers register them again on
their next run).

    python3 local/schema-registry/registry.py --listen 127.0.0.1:8081

Only the standard library, so the local stack builds nothing for it. It logs one JSON line per
request on stderr.
"""
import argparse
import base64
import json
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# Avro's numeric promotions: what a reader of the key can read (Avro specification, "Schema
# Resolution").
PROMOTIONS = {
    "long": {"int"}, "float": {"int", "long"}, "double": {"int", "long", "float"},
    "string": {"bytes"}, "bytes": {"string"},
}


class RegistryError(Exception):
    """An answer other than 200, with Confluent's error code."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def canonical(schema):
    """The schema's JSON with keys sorted and no spaces: two texts of one schema compare equal."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


def type_name(schema):
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    return schema.get("type")


def can_read(reader, writer):
    """Whether data written with `writer` can be read with `reader` (Avro schema resolution,
    for the types a record of this project uses: primitives with their logical types, unions
    and records; any other pair must be equal)."""
    if isinstance(reader, list):
        writers = writer if isinstance(writer, list) else [writer]
        return all(any(can_read(r, w) for r in reader) for w in writers)
    if isinstance(writer, list):
        return all(can_read(reader, w) for w in writer)
    r_type, w_type = type_name(reader), type_name(writer)
    if r_type == "record" and w_type == "record":
        written = {f["name"]: f["type"] for f in writer.get("fields", [])}
        for field in reader.get("fields", []):
            if field["name"] in written:
                if not can_read(field["type"], written[field["name"]]):
                    return False
            elif "default" not in field:
                return False
        return True
    if isinstance(reader, dict) and isinstance(writer, dict) and r_type not in ("record", None):
        # A primitive with a logical type: the logical types must agree too.
        if reader.get("logicalType") != writer.get("logicalType"):
            return False
    if r_type == w_type:
        return isinstance(reader, str) or isinstance(writer, str) or r_type not in (
            "enum", "fixed", "array", "map") or canonical(reader) == canonical(writer)
    return w_type in PROMOTIONS.get(r_type, set())


class Registry:
    """The registry's state, safe to use from several request threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.schemas = []          # id - 1 -> schema text as registered
        self.ids = {}              # canonical text -> id
        self.subjects = {}         # subject -> [id of version 1, version 2, ...]

    def parse(self, body):
        try:
            request = json.loads(body or b"{}")
            text = request["schema"]
            schema_type = request.get("schemaType", "AVRO")
        except (ValueError, KeyError, TypeError) as error:
            raise RegistryError(422, 42201, f"not a schema request: {error}") from error
        if schema_type != "AVRO":
            raise RegistryError(422, 42201, f"schemaType {schema_type} is not supported here")
        # Clients send `"references": []` with every schema; anything in these fields would be
        # lost, since this registry neither resolves references nor keeps metadata or rules.
        for unsupported in ("references", "metadata", "ruleSet"):
            if request.get(unsupported):
                raise RegistryError(422, 42201, f"a schema with {unsupported} is not supported "
                                    "here: register one that stands alone")
        try:
            schema = json.loads(text)
        except ValueError as error:
            raise RegistryError(422, 42201, f"invalid Avro schema: {error}") from error
        if type_name(schema) is None:
            raise RegistryError(422, 42201, "invalid Avro schema: no type")
        return text, schema

    def register(self, subject, body):
        text, schema = self.parse(body)
        key = canonical(schema)
        with self.lock:
            versions = self.subjects.setdefault(subject, [])
            known = self.ids.get(key)
            if known is not None and known in versions:
                return self.entry(subject, versions.index(known) + 1)
            if versions:
                latest = json.loads(self.schemas[versions[-1] - 1])
                if not can_read(schema, latest):
                    raise RegistryError(409, 409, "Schema being registered is incompatible with an earlier schema for subject "
                                        f"\"{subject}\" (BACKWARD)")
            if known is None:
                self.schemas.append(text)
                known = len(self.schemas)
                self.ids[key] = known
            versions.append(known)
            return self.entry(subject, len(versions))

    def entry(self, subject, number):
        """Version `number` of `subject` as Confluent answers it (the caller holds the lock)."""
        schema_id = self.subjects[subject][number - 1]
        return {"subject": subject, "version": number, "id": schema_id,
                "schema": self.schemas[schema_id - 1]}

    def schema(self, schema_id):
        with self.lock:
            if not schema_id.isdigit() or not 1 <= int(schema_id) <= len(self.schemas):
                raise RegistryError(404, 40403, "Schema not found")
            return {"schema": self.schemas[int(schema_id) - 1]}

    def version(self, subject, version):
        with self.lock:
            versions = self.subjects.get(subject)
            if not versions:
                raise RegistryError(404, 40401, f"Subject '{subject}' not found.")
            if version == "latest":
                number = len(versions)
            elif version.isdigit() and 1 <= int(version) <= len(versions):
                number = int(version)
            else:
                raise RegistryError(404, 40402, f"Version {version} not found.")
            return self.entry(subject, number)

    def compatible(self, subject, version, body):
        _, schema = self.parse(body)
        existing = json.loads(self.version(subject, version)["schema"])
        return {"is_compatible": can_read(schema, existing)}

    def subject_names(self):
        with self.lock:
            return sorted(self.subjects)


ROUTES = [
    ("POST", re.compile(r"^/subjects/([^/]+)/versions$"), lambda r, m, b: r.register(m[0], b)),
    ("GET", re.compile(r"^/schemas/ids/([^/]+)$"), lambda r, m, b: r.schema(m[0])),
    ("GET", re.compile(r"^/subjects/([^/]+)/versions/([^/]+)$"), lambda r, m, b: r.version(m[0], m[1])),
    ("GET", re.compile(r"^/subjects$"), lambda r, m, b: r.subject_names()),
    ("POST", re.compile(r"^/compatibility/subjects/([^/]+)/versions/([^/]+)$"),
     lambda r, m, b: r.compatible(m[0], m[1], b)),
    ("GET", re.compile(r"^/associations/resources/([^/]+)/([^/]+)$"), lambda r, m, b: []),
]


def handler_for(registry, credentials=None):
    """Request handler of `registry`; with `credentials` ("user:password") every request must
    carry them as HTTP basic authentication, as a registry with BASIC_AUTH asks."""
    expected = None
    if credentials is not None:
        expected = "Basic " + base64.b64encode(credentials.encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def answer(self, method):
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = 404, {"error_code": 404, "message": f"no route {method} {path}"}
            routes = ROUTES
            if expected is not None and self.headers.get("Authorization") != expected:
                status, payload = 401, {"error_code": 401, "message": "Unauthorized"}
                routes = []
            for route_method, pattern, action in routes:
                found = pattern.match(path)
                if found and route_method == method:
                    try:
                        status, payload = 200, action(registry, [unquote(g) for g in found.groups()], body)
                    except RegistryError as error:
                        status, payload = error.status, {"error_code": error.code, "message": error.message}
                    break
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            print(json.dumps({"method": method, "path": path, "status": status}), file=sys.stderr, flush=True)

        def do_GET(self):
            self.answer("GET")

        def do_POST(self):
            self.answer("POST")

        def log_message(self, *args):
            pass

    return Handler


def server(host, port, credentials=None):
    """A registry server on host:port (port 0: any free port), not yet serving; with
    `credentials` ("user:password") it answers only requests that carry them."""
    return ThreadingHTTPServer((host, port), handler_for(Registry(), credentials))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8081", help="host:port to listen on")
    parser.add_argument("--basic-auth", metavar="USER:PASSWORD",
                        help="answer only requests with these credentials (HTTP basic authentication)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    httpd = server(host, int(port), args.basic_auth)
    bound_host, bound_port = httpd.server_address[:2]
    # The first line says where it listens (with --listen HOST:0, the port it was given).
    print(json.dumps({"listening": f"http://{bound_host}:{bound_port}"}), file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
