"""The local schema registry, over HTTP: what a Confluent serializer and the sink ask of it.
Only the standard library, but for the tests that drive it with confluent-kafka's own registry
client and Avro serializer, which run where that package is installed (the tools venv of
infra/local/tools.sh); each test starts the server on a free port and stops it."""
import datetime
import json
import threading
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import registry

try:
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.serialization import MessageField, SerializationContext
except ImportError:
    SchemaRegistryClient = None

USERS = (Path(__file__).resolve().parents[2] / "crates/record/schemas/users.avsc").read_text()


def with_field(schema_text, field):
    schema = json.loads(schema_text)
    schema["fields"].append(field)
    return json.dumps(schema)


class Served(unittest.TestCase):
    """A registry on a free port for each test, stopped after it."""

    def setUp(self):
        self.httpd = registry.server("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def tearDown(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class WithBasicAuth(unittest.TestCase):
    """A registry started with --basic-auth answers only requests with those credentials."""

    def setUp(self):
        self.httpd = registry.server("127.0.0.1", 0, "sink:s3cret")
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def tearDown(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def get(self, path, credentials=None):
        headers = {}
        if credentials is not None:
            import base64
            headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        request = urllib.request.Request(self.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def test_a_request_without_the_credentials_is_refused_with_401_and_with_them_answered(self):
        self.assertEqual(self.get("/subjects"), 401)
        self.assertEqual(self.get("/subjects", "sink:wrong"), 401)
        self.assertEqual(self.get("/subjects", "sink:s3cret"), 200)


class Registry(Served):
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
        self.assertEqual((status, body), (200, {"subject": "users_created-value", "version": 1, "id": 1,
                                                "schema": USERS}))
        self.assertEqual(self.call("GET", "/schemas/ids/1"), (200, {"schema": USERS}))
        status, latest = self.call("GET", "/subjects/users_created-value/versions/latest")
        self.assertEqual((status, latest["id"], latest["version"]), (200, 1, 1))
        self.assertEqual(self.call("GET", "/subjects"), (200, ["users_created-value"]))

    def test_the_same_schema_again_keeps_its_id_under_any_subject(self):
        self.call("POST", "/subjects/a-value/versions", {"schema": USERS})
        spaced = json.dumps(json.loads(USERS), indent=4)
        again = self.call("POST", "/subjects/a-value/versions", {"schema": spaced})
        other = self.call("POST", "/subjects/b-value/versions", {"schema": USERS})
        self.assertEqual((again[0], again[1]["id"], again[1]["version"]), (200, 1, 1))
        self.assertEqual((other[0], other[1]["id"], other[1]["subject"]), (200, 1, "b-value"))
        self.assertEqual(self.call("GET", "/subjects/a-value/versions/latest")[1]["version"], 1)

    def test_an_optional_field_is_a_compatible_new_version_and_a_required_one_is_refused(self):
        self.call("POST", "/subjects/u-value/versions", {"schema": USERS})
        optional = with_field(USERS, {"name": "nationality", "type": ["null", "string"], "default": None})
        required = with_field(USERS, {"name": "nationality", "type": "string"})
        path = "/compatibility/subjects/u-value/versions/latest"
        self.assertEqual(self.call("POST", path, {"schema": optional}), (200, {"is_compatible": True}))
        self.assertEqual(self.call("POST", path, {"schema": required}), (200, {"is_compatible": False}))
        status, body = self.call("POST", "/subjects/u-value/versions", {"schema": optional})
        self.assertEqual((status, body["id"], body["version"]), (200, 2, 2))
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

    def test_a_schema_as_confluent_kafka_posts_it_registers_with_its_query_parameters(self):
        # given the body and query confluent-kafka 2.16 sends: schemaType, an empty references
        # list, and normalize/verbose flags in the query
        body = {"schema": USERS, "schemaType": "AVRO", "references": []}
        # when it registers the schema and checks it against the latest version
        registered = self.call("POST", "/subjects/users_created-value/versions?normalize=False", body)
        checked = self.call("POST", "/compatibility/subjects/users_created-value/versions/latest"
                            "?normalize=False&verbose=False", body)
        # then the registry answers both as without the parameters
        self.assertEqual(registered, (200, {"subject": "users_created-value", "version": 1, "id": 1,
                                            "schema": USERS}))
        self.assertEqual(checked, (200, {"is_compatible": True}))

    def test_a_schema_with_references_metadata_or_rules_is_refused_and_not_registered(self):
        for field, value in [("references", [{"name": "user_lake.Address", "subject": "address", "version": 1}]),
                             ("metadata", {"properties": {"owner": "lake"}}),
                             ("ruleSet", {"domainRules": [{"name": "r", "kind": "CONDITION", "mode": "WRITE"}]})]:
            with self.subTest(field=field):
                # given the users' schema with something this registry would not keep
                body = {"schema": USERS, "schemaType": "AVRO", field: value}
                # when it is registered
                status, answer = self.call("POST", "/subjects/u-value/versions", body)
                # then it is refused, naming the field, and the subject has no version
                self.assertEqual((status, answer["error_code"]), (422, 42201))
                self.assertIn(field, answer["message"])
                self.assertEqual(self.call("GET", "/subjects/u-value/versions/latest")[1]["error_code"], 40401)

    def test_a_topic_has_no_associated_subject(self):
        # given a registry with the topic's value schema registered
        self.call("POST", "/subjects/users_created-value/versions", {"schema": USERS})
        # when a client asks which subjects the topic is associated with, as confluent-kafka's
        # default subject name strategy does
        answer = self.call("GET", "/associations/resources/-/users_created?resourceType=topic"
                           "&associationType=value")
        # then there are none (so the client names the subject after the topic)
        self.assertEqual(answer, (200, []))


@unittest.skipIf(SchemaRegistryClient is None, "confluent-kafka is not installed (it is in the tools venv)")
class ConfluentClient(Served):
    """confluent-kafka's registry client and Avro serde, as a producer and a consumer use them."""

    def test_the_avro_serializer_registers_the_schema_and_a_deserializer_reads_the_user_back(self):
        # given a serializer with its defaults (auto-registering, the default subject strategy)
        serializer = AvroSerializer(SchemaRegistryClient({"url": self.url}), USERS)
        user = {"id": "6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f", "first_name": "Zo\u00eb", "last_name": "Lee",
                "gender": "female", "address": "4821 Kirkeveien, Oslo, Oslo, Norway", "post_code": "0567",
                "email": "zoe@example.com", "username": "bluefish392",
                "dob": datetime.datetime(1987, 5, 4, 10, 11, 12, 345000, tzinfo=datetime.timezone.utc),
                "registered_date": datetime.datetime(2015, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc),
                "phone": "22 33 44 55", "picture": "https://example.com/12.jpg"}
        context = SerializationContext("users_created", MessageField.VALUE)
        # when it serializes a user, and a deserializer with its own client reads the bytes
        value = serializer(user, context)
        read = AvroDeserializer(SchemaRegistryClient({"url": self.url}))(value, context)
        # then the value is framed with the id registered under the topic's subject, and reads
        # back as the user (the uuid as a UUID)
        latest = SchemaRegistryClient({"url": self.url}).get_latest_version("users_created-value")
        self.assertEqual((latest.schema_id, latest.version), (1, 1))
        self.assertEqual(value[:5], b"\x00\x00\x00\x00\x01")
        self.assertEqual(dict(read, id=str(read["id"])), user)

    def test_the_client_registers_an_optional_field_as_version_two_and_is_refused_a_required_one(self):
        # given the users' schema registered through the client
        client = SchemaRegistryClient({"url": self.url})
        client.register_schema("u-value", Schema(USERS, "AVRO"))
        optional = with_field(USERS, {"name": "nationality", "type": ["null", "string"], "default": None})
        required = with_field(USERS, {"name": "nationality", "type": "string"})
        # when it registers a version with an optional field, then one with a required field
        second = client.register_schema_full_response("u-value", Schema(optional, "AVRO"))
        with self.assertRaises(SchemaRegistryError) as refused:
            client.register_schema("u-value", Schema(required, "AVRO"))
        # then the first is version 2 with a new id, and the second is refused with 409
        self.assertEqual((second.schema_id, second.version, second.subject), (2, 2, "u-value"))
        self.assertEqual((refused.exception.http_status_code, refused.exception.error_code), (409, 409))


if __name__ == "__main__":
    unittest.main()
