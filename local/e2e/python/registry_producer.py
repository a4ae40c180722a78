"""Produces users to the topic as a producer on Confluent's client and schema registry does: each
value is the user in Avro (crates/record/schemas/users.avsc) framed with its registry id (magic
byte 0, the id in 4 bytes big-endian, the datum), written by confluent-kafka's AvroSerializer,
which registers the schema under the topic's subject `<TOPIC>-value` (TopicNameStrategy); the key
is the user's id as UTF-8 text; acks=all. Confluent's own client, not the project's Rust code,
writes these records, so what lands from them shows the lake takes what such producers send.

    python registry_producer.py BROKERS TOPIC REGISTRY_URL USERS_API_URL COUNT OUT.jsonl \\
        [--unknown-schema-id N] [--v2]

The users are the API's answer for a fixed seed, flattened by the original pipeline's
`format_data` (a random id each), with the post code as text (`str(n)` when the API gives a
number) and `dob`/`registered_date` as instants for `timestamp-millis`. Each user delivered is
appended to OUT.jsonl as the topic's JSON contract has it (ISO-8601 UTC timestamps with
milliseconds), in the order produced.

--unknown-schema-id N also sends one more user (the API's COUNT+1-th, keyed by its id) framed
with schema id N, which the registry must not have (checked after registering, before anything
is produced): a record no registry-aware reader can decode. It is not written to OUT.jsonl; the
summary gives where it landed.

--v2 writes with a second version of the schema that adds the optional field
`nationality` (["null", "string"], default null) at the end, filled with the API's `nat`; the
registry registers it only if it is BACKWARD compatible with the subject's latest version.

One JSON summary line on stdout:
    {"sent": N, "schema_id": ID, "unknown": {"partition": P, "offset": O} or null}
where ID is the id the serializer framed the values with. Errors go to stderr with exit code 1.
"""
import argparse
import io
import json
import struct
import sys
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext, StringSerializer
from fastavro import parse_schema, schemaless_writer

from original_producer import format_data

SCHEMA = Path(__file__).resolve().parents[3] / "crates/record/schemas/users.avsc"
NATIONALITY = {"name": "nationality", "type": ["null", "string"], "default": None}
SEED = "registry-producer"
# The Confluent wire format's header: magic byte 0, then the schema id as a big-endian int32.
FRAME = struct.Struct(">bI")


class ProduceError(Exception):
    """The run cannot go on, or did not deliver everything."""


def schema_text(v2):
    """The users' schema, or its second version with `nationality` appended."""
    text = SCHEMA.read_text()
    if not v2:
        return text
    schema = json.loads(text)
    schema["fields"].append(NATIONALITY)
    return json.dumps(schema)


def fetch_users(api, count):
    query = urlencode({"results": count, "nat": "us,fr,de,gb,nl,ca,au,tr", "seed": SEED})
    with urlopen(f"{api}?{query}", timeout=30) as response:
        results = json.load(response)["results"]
    if len(results) != count:
        raise ProduceError(f"the users API gave {len(results)} users, not the {count} asked for")
    return results


def instant(text):
    """An API date ("1993-07-20T09:44:18.674Z") as an aware UTC datetime."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ProduceError(f"the users API gave a date without a time zone: {text}")
    return parsed.astimezone(timezone.utc)


def user_record(res, v2):
    """A user in the topic's contract, its timestamps as datetimes for `timestamp-millis`."""
    record = format_data(res)
    record["post_code"] = str(record["post_code"])
    record["dob"] = instant(record["dob"])
    record["registered_date"] = instant(record["registered_date"])
    if v2:
        record["nationality"] = res["nat"]
    return record


def as_json(record):
    """The record as the topic's JSON contract has it: timestamps as "...T...:..:...mmmZ"."""
    return json.dumps({k: v.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                       if isinstance(v, datetime) else v for k, v in record.items()})


def framed_id(value):
    magic, schema_id = FRAME.unpack_from(value)
    if magic != 0:
        raise ProduceError(f"the serializer wrote magic byte {magic}, not 0")
    return schema_id


def check_unknown(client, schema_id):
    """Fails unless the registry answers 404 for `schema_id`."""
    try:
        client.get_schema(schema_id)
    except SchemaRegistryError as error:
        if error.http_status_code == 404:
            return
        raise
    raise ProduceError(f"schema id {schema_id} is in the registry; --unknown-schema-id needs one it lacks")


def unknown_value(text, record, schema_id):
    """`record` as Avro framed with `schema_id`, written without the registry."""
    datum = io.BytesIO()
    schemaless_writer(datum, parse_schema(json.loads(text)), record)
    return FRAME.pack(0, schema_id) + datum.getvalue()


def run(args):
    text = schema_text(args.v2)
    client = SchemaRegistryClient({"url": args.registry_url})
    serializer = AvroSerializer(client, text, conf={"auto.register.schemas": True,
                                                    "subject.name.strategy.type": "TOPIC"})
    keys = StringSerializer("utf_8")
    value_context = SerializationContext(args.topic, MessageField.VALUE)
    key_context = SerializationContext(args.topic, MessageField.KEY)

    extra = 1 if args.unknown_schema_id is not None else 0
    results = fetch_users(args.users_api_url, args.count + extra)
    records = [user_record(res, args.v2) for res in results]
    users, unknown_user = records[:args.count], (records[args.count] if extra else None)

    # Serialize everything first: the first value registers the schema, so an id given with
    # --unknown-schema-id is checked against the registry as it will be, and a refusal (an
    # incompatible --v2, a registry down) produces nothing.
    values = [serializer(record, value_context) for record in users]
    ids = {framed_id(value) for value in values}
    if len(ids) != 1:
        raise ProduceError(f"the serializer framed the values with several schema ids: {sorted(ids)}")
    (schema_id,) = ids
    if unknown_user is not None:
        check_unknown(client, args.unknown_schema_id)

    producer = Producer({"bootstrap.servers": args.brokers, "acks": "all"})
    reports = {}

    def report(index):
        def on_delivery(error, message):
            reports[index] = (error, message.partition(), message.offset())
        return on_delivery

    for index, (record, value) in enumerate(zip(users, values)):
        producer.produce(args.topic, key=keys(record["id"], key_context), value=value,
                         on_delivery=report(index))
        producer.poll(0)
    if unknown_user is not None:
        producer.produce(args.topic, key=keys(unknown_user["id"], key_context),
                         value=unknown_value(text, unknown_user, args.unknown_schema_id),
                         on_delivery=report("unknown"))
    left = producer.flush(30)

    delivered = [record for index, record in enumerate(users)
                 if index in reports and reports[index][0] is None]
    with open(args.out, "a", encoding="utf-8") as sent:
        for record in delivered:
            sent.write(as_json(record) + "\n")
    failed = {index: str(error) for index, (error, _, _) in reports.items() if error is not None}
    if left or failed:
        raise ProduceError(f"{left} messages undelivered after 30 s, delivery errors: {failed}")

    unknown = None
    if unknown_user is not None:
        _, partition, offset = reports["unknown"]
        unknown = {"partition": partition, "offset": offset}
    return {"sent": len(delivered), "schema_id": schema_id, "unknown": unknown}


def schema_id_arg(text):
    value = int(text)
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"a schema id is an int32 of 0 or more, not {text}")
    return value


def count_arg(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"COUNT must be 1 or more, not {text}")
    return value


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("brokers")
    parser.add_argument("topic")
    parser.add_argument("registry_url")
    parser.add_argument("users_api_url")
    parser.add_argument("count", type=count_arg)
    parser.add_argument("out")
    parser.add_argument("--unknown-schema-id", type=schema_id_arg, metavar="N",
                        help="also send one user framed with schema id N, which the registry lacks")
    parser.add_argument("--v2", action="store_true",
                        help="write with the schema's second version (optional nationality appended)")
    args = parser.parse_args(argv)
    try:
        summary = run(args)
    except Exception as error:  # the command's boundary: any failure is reported, not a traceback
        print(f"registry_producer: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
