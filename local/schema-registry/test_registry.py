"""The local schema registry, over HTTP: what a Confluent serializer and the sink ask of it.
Only the standard library; each test starts the server on a free port and stops it."""
import json
import threading
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import registry

USERS = (Path(__file__).resolve().parents[2] / "crates/record/schemas/users.avsc").read_text()


def with_field(schema_text, field):
    schema = json.loads(schema_text)
    schema["fields"].append(field)
    return json.dumps(schema)


class Registry(unittest.TestCase):
    def setUp(self):
        self.httpd = registry.server("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def tearDown(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": registry.CONTENT_TYPE})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def test_a_registered_schema_is_found_by_id_and_as_the_subjects_latest(self):
        status, body = self.call("POST", "/subjects/users_created-value/versions", {"schema": USERS})
        self.assertEqual((status, body), (200, {"id": 1}))
        self.assertEqual(self.call("GET", "/schemas/ids/1"), (200, {"schema": USERS}))
        status, latest = self.call("GET", "/subjects/users_created-value/versions/latest")
        self.assertEqual((status, latest["id"], latest["version"]), (200, 1, 1))
        self.assertEqual(self.call("GET", "/subjects"), (200, ["users_created-value"]))

    def test_the_same_schema_again_keeps_its_id_under_any_subject(self):
        self.call("POST", "/subjects/a-value/versions", {"schema": USERS})
        spaced = json.dumps(json.loads(USERS), indent=4)
        self.assertEqual(self.call("POST", "/subjects/a-value/versions", {"schema": spaced}), (200, {"id": 1}))
        self.assertEqual(self.call("POST", "/subjects/b-value/versions", {"schema": USERS}), (200, {"id": 1}))
        self.assertEqual(self.call("GET", "/subjects/a-value/versions/latest")[1]["version"], 1)

    def test_an_optional_field_is_a_compatible_new_version_and_a_required_one_is_refused(self):
        self.call("POST", "/subjects/u-value/versions", {"schema": USERS})
        optional = with_field(USERS, {"name": "nationality", "type": ["null", "string"], "default": None})
        required = with_field(USERS, {"name": "nationality", "type": "string"})
        path = "/compatibility/subjects/u-value/versions/latest"
        self.assertEqual(self.call("POST", path, {"schema": optional}), (200, {"is_compatible": True}))
        self.assertEqual(self.call("POST", path, {"schema": required}), (200, {"is_compatible": False}))
        self.assertEqual(self.call("POST", "/subjects/u-value/versions", {"schema": optional}), (200, {"id": 2}))
        status, body = self.call("POST", "/subjects/u-value/versions",
                                 {"schema": with_field(optional, {"name": "x", "type": "int"})})
        self.assertEqual((status, body["error_code"]), (409, 409))
        self.assertEqual(self.call("GET", "/subjects/u-value/versions/latest")[1]["id"], 2)

    def test_a_changed_field_type_or_logical_type_is_not_compatible(self):
        schema = json.loads(USERS)
        self.call("POST", "/subjects/u-value/versions", {"schema": USERS})
        for field, new_type in [("phone", "int"), ("dob", {"type": "long", "logicalType": "timestamp-micros"})]:
            changed = dict(schema, fields=[dict(f, type=new_type) if f["name"] == field else f
                                           for f in schema["fields"]])
            status, body = self.call("POST", "/compatibility/subjects/u-value/versions/1",
                                     {"schema": json.dumps(changed)})
            self.assertEqual((status, body), (200, {"is_compatible": False}), field)

    def test_unknown_ids_subjects_and_non_avro_schemas_get_confluents_errors(self):
        self.assertEqual(self.call("GET", "/schemas/ids/7")[1]["error_code"], 40403)
        self.assertEqual(self.call("GET", "/schemas/ids/x")[0], 404)
        self.assertEqual(self.call("GET", "/subjects/none/versions/latest")[1]["error_code"], 40401)
        status, body = self.call("POST", "/subjects/p/versions", {"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"})
        self.assertEqual((status, body["error_code"]), (422, 42201))
        status, _ = self.call("POST", "/subjects/p/versions", {"schema": "{not json"})
        self.assertEqual(status, 422)


if __name__ == "__main__":
    unittest.main()
