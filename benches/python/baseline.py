"""The consumer's work in Python, on the same MSK event bytes as the Rust sink: the figures
`make bench` prints the sink's next to.

Two ways a Python user would write it:
  pandas   the standard library's json and base64, a pandas DataFrame, DataFrame.to_parquet
           with the pyarrow engine (the original project's way);
  pyarrow  the fastest path we know: base64 values joined as JSON Lines, pyarrow's JSON reader
           with an explicit schema, pyarrow.parquet.write_table.
Both write the lake's columns (record fields plus Kafka coordinates) with zstd, and both run
on one thread, as the Rust figures do.

Usage: baseline.py EVENT_FILE WARMUP SAMPLES  ->  one JSON object on stdout:
  {"pandas": {"ms": [...], "rows": N, "bytes": B}, "pyarrow": {...}}
"""

import base64
import io
import json
import sys
import time

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

pa.set_cpu_count(1)
pa.set_io_thread_count(1)

TEXT = ["id", "first_name", "last_name", "gender", "address", "post_code", "email", "username"]
MILLIS_UTC = pa.timestamp("ms", tz="UTC")
RECORD_SCHEMA = pa.schema(
    [(name, pa.string()) for name in TEXT]
    + [("dob", MILLIS_UTC), ("registered_date", MILLIS_UTC), ("phone", pa.string()), ("picture", pa.string())]
)


def entries(event):
    for key in sorted(event["records"]):
        yield from event["records"][key]


def with_kafka_columns(table, entries_list):
    return (
        table.append_column("kafka_topic", pa.array([e["topic"] for e in entries_list], pa.string()))
        .append_column("kafka_partition", pa.array([e["partition"] for e in entries_list], pa.int32()))
        .append_column("kafka_offset", pa.array([e["offset"] for e in entries_list], pa.int64()))
        .append_column("kafka_timestamp", pa.array([e["timestamp"] for e in entries_list], MILLIS_UTC))
    )


def with_pandas(raw: bytes) -> bytes:
    event = json.loads(raw)
    rows = []
    for entry in entries(event):
        row = json.loads(base64.b64decode(entry["value"]))
        row["kafka_topic"] = entry["topic"]
        row["kafka_partition"] = entry["partition"]
        row["kafka_offset"] = entry["offset"]
        row["kafka_timestamp"] = entry["timestamp"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["dob"] = pd.to_datetime(frame["dob"], utc=True, format="ISO8601")
    frame["registered_date"] = pd.to_datetime(frame["registered_date"], utc=True, format="ISO8601")
    frame["kafka_timestamp"] = pd.to_datetime(frame["kafka_timestamp"], unit="ms", utc=True)
    out = io.BytesIO()
    frame.to_parquet(out, engine="pyarrow", compression="zstd", index=False)
    return out.getvalue()


def with_pyarrow(raw: bytes) -> bytes:
    event = json.loads(raw)
    listed = list(entries(event))
    lines = b"\n".join(base64.b64decode(e["value"]) for e in listed)
    table = pa_json.read_json(
        io.BytesIO(lines),
        read_options=pa_json.ReadOptions(use_threads=False, block_size=len(lines) + 1),
        parse_options=pa_json.ParseOptions(explicit_schema=RECORD_SCHEMA, unexpected_field_behavior="ignore"),
    )
    table = with_kafka_columns(table, listed)
    out = io.BytesIO()
    pq.write_table(
        table,
        out,
        compression="zstd",
        compression_level=1,
        use_dictionary=["gender", "kafka_topic", "kafka_partition"],
    )
    return out.getvalue()


def measure(step, raw: bytes, warmup: int, samples: int) -> dict:
    body = step(raw)
    rows = pq.read_metadata(io.BytesIO(body)).num_rows
    for _ in range(warmup):
        step(raw)
    millis = []
    for _ in range(samples):
        started = time.perf_counter()
        step(raw)
        millis.append((time.perf_counter() - started) * 1e3)
    return {"ms": millis, "rows": rows, "bytes": len(body)}


def main() -> None:
    path, warmup, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(path, "rb") as f:
        raw = f.read()
    result = {
        "pandas": measure(with_pandas, raw, warmup, samples),
        "pyarrow": measure(with_pyarrow, raw, warmup, samples),
        "versions": {"python": sys.version.split()[0], "pandas": pd.__version__, "pyarrow": pa.__version__},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
