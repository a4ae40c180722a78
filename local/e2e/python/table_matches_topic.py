"""Compares the table's rows, as an independent reader read them, with the topic they came from.

read_table.py --rows writes the rows pyiceberg read (after checking that every reader agrees);
this reads every message of the topic with kafka-python, a client that shares nothing with the
project's Rust code, and checks each row against the message at its partition and offset, field
for field: the record's twelve fields and the message's timestamp. Prints one JSON object:

    {"rows": N, "messages": N, "matched": N, "unmatched_messages": N, "mismatches": [...]}

and exits 1 when a row has no message, a field differs, or an id is in the table twice; messages
without a row (poison records, which go to _errors/) are only counted.

    $USER_LAKE_VENV/bin/python local/e2e/python/table_matches_topic.py \
        --brokers 127.0.0.1:9092 --topic users_created --rows rows.jsonl
"""
import argparse
import datetime
import json
import sys
import time

RECORD_FIELDS = ("id", "first_name", "last_name", "gender", "address", "post_code", "email",
                 "username", "dob", "registered_date", "phone", "picture")
TIMESTAMPS = ("dob", "registered_date")
UNIX_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--rows", required=True, help="read_table.py's --rows file (JSON Lines)")
    return p.parse_args(argv)


def instant_ms(text):
    """An ISO-8601 time with a zone as milliseconds since the epoch (None if it is not one)."""
    try:
        parsed = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    # Exact integer arithmetic: a float of seconds can land a millisecond short (.313999...).
    return (parsed - UNIX_EPOCH) // datetime.timedelta(milliseconds=1)


def expected_row(value, timestamp_ms):
    """What the table should hold for one message, in read_table.py's canonical form; None for
    a message that is not a JSON object (a poison record)."""
    try:
        record = json.loads(value)
    except (ValueError, TypeError):
        return None
    if not isinstance(record, dict):
        return None
    row = {}
    for field in RECORD_FIELDS:
        raw = record.get(field)
        if field in TIMESTAMPS:
            ms = instant_ms(raw)
            row[field] = None if ms is None else format_ms(ms)
        elif isinstance(raw, bool):
            row[field] = None
        elif isinstance(raw, int):
            row[field] = str(raw)  # a whole-number post_code is kept as its text
        else:
            row[field] = raw
    row["kafka_timestamp"] = format_ms(timestamp_ms)
    return row


def format_ms(ms):
    instant = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return instant.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def topic_messages(brokers, topic, wait_s=60):
    """Every message of the topic: {(partition, offset): (value bytes, timestamp ms)}. Reads each
    partition from its first offset to the end it had when asked, by explicit seeks (the
    consumer's own reset of positions is not needed), for at most `wait_s` seconds."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=brokers.split(","), enable_auto_commit=False,
                             group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            raise RuntimeError(f"topic {topic} has no partitions at {brokers}")
        firsts, ends = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, firsts[tp])
        next_offset = dict(firsts)
        messages = {}
        deadline = time.monotonic() + wait_s
        while any(next_offset[tp] < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                short = {tp.partition: (next_offset[tp], ends[tp]) for tp in partitions}
                raise RuntimeError(f"the topic was not read to its end in {wait_s} s: {short}")
            for tp, records in consumer.poll(timeout_ms=1000).items():
                for m in records:
                    messages[(m.partition, m.offset)] = (m.value, m.timestamp)
                    next_offset[tp] = max(next_offset[tp], m.offset + 1)
        return messages
    finally:
        consumer.close()


def compare(rows, messages, topic):
    mismatches, seen_ids, matched = [], set(), 0
    for row in rows:
        key = (row.get("kafka_partition"), row.get("kafka_offset"))
        if row.get("id") in seen_ids:
            mismatches.append({"key": key, "problem": "id twice", "id": row.get("id")})
        seen_ids.add(row.get("id"))
        if row.get("kafka_topic") != topic:
            mismatches.append({"key": key, "problem": "other topic", "topic": row.get("kafka_topic")})
            continue
        if key not in messages:
            mismatches.append({"key": key, "problem": "no such message"})
            continue
        want = expected_row(*messages[key])
        got = {f: row.get(f) for f in (*RECORD_FIELDS, "kafka_timestamp")}
        if want != got:
            differs = {f: {"table": got.get(f), "topic": (want or {}).get(f)}
                       for f in got if want is None or got.get(f) != want.get(f)}
            mismatches.append({"key": key, "problem": "fields differ", "fields": differs})
            continue
        matched += 1
    return matched, mismatches


def main(argv=None):
    args = parse_args(argv)
    with open(args.rows, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    messages = topic_messages(args.brokers, args.topic)
    matched, mismatches = compare(rows, messages, args.topic)
    print(json.dumps({"rows": len(rows), "messages": len(messages), "matched": matched,
                      "unmatched_messages": len(messages) - matched,
                      "mismatches": mismatches[:5], "mismatch_count": len(mismatches)}))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
