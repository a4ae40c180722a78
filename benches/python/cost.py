"""What the deployed pipeline costs, computed from the templates' own settings: per million users
at the template's defaults and at one high-volume setting, and every fixed monthly charge the
templates create.

    python3 benches/python/cost.py                       # the tables, from the pinned figures
    python3 benches/python/cost.py --results target/bench/results.json   # from a new bench run
    python3 benches/python/cost.py --check               # fails when README/docs differ
    python3 benches/python/cost.py --write               # rewrites the tables in README/docs

Read from template.yaml (as local/emulators reads it): the producer's UsersPerRun and
ScheduleExpression defaults, the sink's BatchSize and MaximumBatchingWindowInSeconds (literal or a
parameter's default), each function's MemorySize, the trigger's MinimumPollers, OutputFormats, the
alarms. Read from infra/aws/msk-sandbox.yaml: the brokers, their instance type and volume, the
topic's partitions, the NAT gateway. Measured (one `make bench` run, pinned in MEASURED below, or
a results.json given with --results): CPU time per record of the sink and the compactor, the
producer's wall time per user, Parquet and JSON bytes per record. Everything priced is computed;
prices are the constants below, each with its page (us-east-1 list prices as last known to the
project, not re-read offline).

How the sink's batches are modelled: a run produces UsersPerRun records at once, spread over the
topic's partitions; the trigger cuts a batch at BatchSize records, at 6 MB of payload, or when the
batching window ends, so a run of N records becomes ceil(N / min(BatchSize, 6 MB / record)) batches
(a window shorter than the gap between runs never joins two runs). Each batch writes one object
per partition it holds and per output format. A function below 1,769 MB gets that share of one
vCPU, so CPU-bound work costs cpu_time * 1769/1024 GB-s at any smaller memory. Time the sink waits
on S3 is not measured and not included.
"""

import argparse
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SANDBOX = ROOT / "infra" / "aws" / "msk-sandbox.yaml"
METRICS_DOC = ROOT / "docs" / "metrics.md"
DOCS = (ROOT / "README.md", ROOT / "docs" / "deploy.md")
BEGIN, END = "<!-- cost.py: begin -->", "<!-- cost.py: end -->"

# (price, unit, source page)
PRICES = {
    "lambda_arm_gb_s": (0.0000133334, "USD per GB-second, arm64, first 7.5 billion GB-s",
                        "https://aws.amazon.com/lambda/pricing/"),
    "lambda_request": (0.20 / 1e6, "USD per request", "https://aws.amazon.com/lambda/pricing/"),
    "epu_hour": (0.185, "USD per Event Poller Unit-hour (the Lambda guide's us-east-1 example)",
                 "https://docs.aws.amazon.com/lambda/latest/dg/kafka-scaling-modes.html"),
    "s3_put": (0.005 / 1000, "USD per PUT or LIST, S3 Standard", "https://aws.amazon.com/s3/pricing/"),
    "s3_get": (0.0004 / 1000, "USD per GET, S3 Standard", "https://aws.amazon.com/s3/pricing/"),
    "s3_gb_month": (0.023, "USD per GB-month, S3 Standard, first 50 TB",
                    "https://aws.amazon.com/s3/pricing/"),
    "scheduler_invocation": (1.00 / 1e6, "USD per invocation beyond the 14 million free a month",
                             "https://aws.amazon.com/eventbridge/pricing/"),
    "logs_gb": (0.50, "USD per GB ingested, CloudWatch Logs standard",
                "https://aws.amazon.com/cloudwatch/pricing/"),
    "custom_metric_month": (0.30, "USD per custom metric-month, first 10,000",
                            "https://aws.amazon.com/cloudwatch/pricing/"),
    "alarm_metric_month": (0.10, "USD per standard-resolution alarm metric-month",
                           "https://aws.amazon.com/cloudwatch/pricing/"),
    "dashboard_month": (3.00, "USD per dashboard-month beyond the account's first three",
                        "https://aws.amazon.com/cloudwatch/pricing/"),
    "kafka.t3.small_hour": (0.0456, "USD per kafka.t3.small broker-hour, MSK Provisioned",
                            "https://aws.amazon.com/msk/pricing/"),
    "msk_storage_gb_month": (0.10, "USD per GB-month of broker storage, MSK Provisioned",
                             "https://aws.amazon.com/msk/pricing/"),
    "nat_hour": (0.045, "USD per NAT gateway-hour", "https://aws.amazon.com/vpc/pricing/"),
    "firehose_msk_gb": (0.055, "USD per GB ingested, Firehose with MSK as source",
                        "https://aws.amazon.com/firehose/pricing/"),
    "firehose_conversion_gb": (0.018, "USD per GB, Firehose JSON to Parquet conversion",
                               "https://aws.amazon.com/firehose/pricing/"),
}

# One `make bench` run (2026-12-02, Intel Xeon, 2 cores; docs/performance.md), per record or user.
MEASURED = {
    "source": "make bench, 2026-12-02 (docs/performance.md)",
    "sink_cpu_us_per_record": 1.935,       # 16.2 ms for an event of 8,372 records
    "producer_wall_ms_per_user": 0.1049,   # fetch + produce 5,000 users against the local stack
    "compactor_cpu_us_per_record": 3.2,    # merge time per 1,000 rows
    "parquet_bytes_per_record": 90.0,      # zstd(1), the sink's objects
    "value_bytes_per_record": 420.0,       # the JSON value of a record on the topic
}

ONE_VCPU_MB = 1769
HOURS_PER_MONTH = 730
MINUTES_PER_MONTH = HOURS_PER_MONTH * 60
USERS = 1_000_000
PAYLOAD_LIMIT = 6 * 1024 * 1024   # Lambda's synchronous invocation payload
# An assumption, not a measurement: what one invocation writes to CloudWatch Logs at LogLevel
# INFO (the metrics line, about 1 KB with its keys, and Lambda's START and REPORT lines).
LOG_BYTES_PER_INVOCATION = 1500
# The high-volume setting: the largest run UsersPerRun allows, every minute.
HIGH_VOLUME = "MaxValue"


# --- the settings the tables come from --------------------------------------------------------
# The templates are read as text, section by section (only the standard library is at hand):
# each entry of Parameters and Resources is the block of lines indented under its name.

def entries(text, section):
    """{name: block of text} of the entries of a top-level section (Parameters, Resources)."""
    body = re.search(rf"^{section}:\n(.*?)(?=^\S|\Z)", text, re.M | re.S).group(1)
    parts = re.split(r"^  ([A-Za-z0-9]+):\n", body, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def field(block, key, default=None):
    """The first `key: value` of a block, comments dropped; `default` when it has none."""
    found = re.search(rf"^\s*{key}: *(.+?)\s*(?:#.*)?$", block, re.M)
    if found is None:
        if default is None:
            raise SystemExit(f"no {key} where cost.py expects one")
        return default
    return found.group(1).strip("\"'")


def largest_whole(pattern, ceiling=10**6):
    """The largest whole number below `ceiling` that `pattern` (an AllowedPattern) matches."""
    return next(n for n in range(ceiling, -1, -1) if re.fullmatch(pattern, str(n)))


def value(text, parameters):
    """A literal, or the Default of the parameter a `!Ref` names."""
    ref = re.fullmatch(r"!Ref (\w+)", text)
    return field(parameters[ref.group(1)], "Default") if ref else text


def settings(template_path=TEMPLATE, sandbox_path=SANDBOX):
    text = Path(template_path).read_text(encoding="utf-8")
    sandbox_text = Path(sandbox_path).read_text(encoding="utf-8")
    parameters, resources = entries(text, "Parameters"), entries(text, "Resources")
    sandbox_parameters = entries(sandbox_text, "Parameters")
    sandbox = entries(sandbox_text, "Resources")
    sink = resources["SinkFunction"]
    rate = re.fullmatch(r"rate\((\d+) minutes?\)", field(parameters["ScheduleExpression"], "Default"))
    if not rate:
        raise SystemExit("ScheduleExpression's default is not rate(N minute[s])")
    alarms = [b for b in resources.values() if field(b, "Type") == "AWS::CloudWatch::Alarm"]
    cluster = next(b for b in sandbox.values() if field(b, "Type") == "AWS::MSK::Cluster")
    topic = next(b for b in sandbox.values() if field(b, "Type") == "AWS::MSK::Topic")
    nat = any(field(b, "Type") == "AWS::EC2::NatGateway" for b in sandbox.values())
    metrics = set(re.findall(r"^\| `([A-Za-z]+)` \|", METRICS_DOC.read_text(encoding="utf-8"), re.M))
    return {
        "users_per_run": int(field(parameters["UsersPerRun"], "Default")),
        "users_per_run_max": largest_whole(field(parameters["UsersPerRun"], "AllowedPattern")),
        "runs_per_minute": 1 / int(rate.group(1)),
        "batch_size": int(value(field(sink, "BatchSize", "100"), parameters)),
        "window_s": float(value(field(sink, "MaximumBatchingWindowInSeconds", "0.5"), parameters)),
        "min_pollers": int(field(sink, "MinimumPollers")),
        "formats": len(field(parameters["OutputFormats"], "Default").split(",")),
        "producer_mb": int(field(resources["ProducerFunction"], "MemorySize")),
        "sink_mb": int(field(sink, "MemorySize")),
        "compactor_mb": int(field(resources["CompactorFunction"], "MemorySize")),
        "alarm_metrics": sum(max(1, len(re.findall(r"^\s+MetricStat:", a, re.M))) for a in alarms),
        "dashboards": sum(1 for b in resources.values() if field(b, "Type") == "AWS::CloudWatch::Dashboard"),
        "partitions": int(value(field(topic, "PartitionCount"), sandbox_parameters)),
        "brokers": int(field(cluster, "NumberOfBrokerNodes")),
        "broker_type": field(cluster, "InstanceType"),
        "broker_gib": int(field(cluster, "VolumeSize")),
        "nat": nat and field(sandbox_parameters["CreateNatGateway"], "Default") == "true",
        "custom_metrics": len(metrics),
    }


def measured_from(results_path):
    if results_path is None:
        return MEASURED
    results = json.loads(Path(results_path).read_text())

    def median(prefix):
        for figure in results["benchmarks"]:
            if figure["name"].startswith(prefix):
                return figure["median"]
        raise SystemExit(f"results.json has no figure {prefix!r}: run make bench")
    event = results["event"]
    return {
        "source": f"{results_path}",
        "sink_cpu_us_per_record": median("sink core: event -> Parquet") * 1e3 / event["records"],
        "producer_wall_ms_per_user": median("producer: fetch + produce 5,000 users") / 5000,
        "compactor_cpu_us_per_record": median("compactor: merge time per 1,000 rows"),
        "parquet_bytes_per_record": median("Parquet size, zstd") * 1024 / 1000,
        "value_bytes_per_record": event["value_bytes"] / event["records"],
    }


def price(key):
    return PRICES[key][0]


def cpu_gb_s(cpu_seconds, memory_mb):
    return cpu_seconds * max(ONE_VCPU_MB, memory_mb) / 1024


def per_million(s, m, users_per_run):
    """(rows, total, sink path, firehose, invocations, puts) per million users."""
    record_cap = min(s["batch_size"], int(PAYLOAD_LIMIT // (m["value_bytes_per_record"] * 4 / 3)))
    batches_per_run = math.ceil(users_per_run / record_cap)
    runs = USERS / users_per_run
    invocations = runs * batches_per_run
    partitions_per_batch = min(s["partitions"], math.ceil(users_per_run / batches_per_run))
    sink_objects = invocations * partitions_per_batch
    minutes = runs / s["runs_per_minute"]
    merged = max(1, math.ceil(minutes / 60))
    puts = sink_objects * s["formats"] + merged
    sink_s = m["sink_cpu_us_per_record"] * USERS / 1e6
    producer_s = m["producer_wall_ms_per_user"] * USERS / 1e3
    compactor_s = m["compactor_cpu_us_per_record"] * USERS / 1e6
    parquet_gb = m["parquet_bytes_per_record"] * USERS / 1e9
    value_gb = m["value_bytes_per_record"] * USERS / 1e9
    logs_gb = (invocations + runs + merged) * LOG_BYTES_PER_INVOCATION / 1e9
    rows = [
        ("sink: Lambda requests", invocations * price("lambda_request"),
         f"{invocations:,.0f} invocations: {batches_per_run} batch(es) of up to {record_cap:,} records per run"),
        ("sink: Lambda duration (arm64)", cpu_gb_s(sink_s, s["sink_mb"]) * price("lambda_arm_gb_s"),
         f"{sink_s:.1f} s CPU ({m['sink_cpu_us_per_record']:.2f} us/record), S3 waits not included"),
        ("producer: Lambda requests and schedule", runs * (price("lambda_request") + price("scheduler_invocation")),
         f"{runs:,.0f} runs of {users_per_run:,} users"),
        ("producer: Lambda duration (arm64)",
         producer_s * s["producer_mb"] / 1024 * price("lambda_arm_gb_s"),
         f"{producer_s:.1f} s wall at {s['producer_mb']} MB"),
        ("compactor: Lambda duration (arm64)", cpu_gb_s(compactor_s, s["compactor_mb"]) * price("lambda_arm_gb_s"),
         f"{compactor_s:.1f} s CPU merging"),
        ("S3: PUTs", puts * price("s3_put"),
         f"{puts:,.0f}: {partitions_per_batch} object(s) per batch x {s['formats']} format(s), {merged:,} merged"),
        ("S3: compactor GETs", sink_objects * price("s3_get"), f"{sink_objects:,.0f}: each original read once"),
        ("S3: a month of storage", parquet_gb * price("s3_gb_month"), f"{parquet_gb * 1e3:.0f} MB of Parquet"),
        ("CloudWatch Logs ingestion", logs_gb * price("logs_gb"),
         f"{logs_gb * 1e3:.1f} MB at about {LOG_BYTES_PER_INVOCATION:,} B per invocation (INFO)"),
    ]
    total = sum(cost for _, cost, _ in rows)
    ours = sum(cost for name, cost, _ in rows
               if name.startswith(("sink", "compactor", "S3: PUTs", "S3: compactor")))
    firehose = value_gb * (price("firehose_msk_gb") + price("firehose_conversion_gb"))
    return rows, total, ours, firehose, invocations, puts


def fixed_monthly(s):
    """(charge, USD a month, basis) of everything billed by the hour or month, used or not."""
    app = [
        ("sink trigger: provisioned pollers", s["min_pollers"] * HOURS_PER_MONTH * price("epu_hour"),
         f"MinimumPollers {s['min_pollers']} EPU x {HOURS_PER_MONTH} h, also with ScheduleEnabled=false"),
        ("CloudWatch: the functions' custom metrics", s["custom_metrics"] * price("custom_metric_month"),
         f"{s['custom_metrics']} metrics (docs/metrics.md), one FunctionName each"),
        ("CloudWatch: alarms", s["alarm_metrics"] * price("alarm_metric_month"),
         f"{s['alarm_metrics']} alarm metrics"),
        ("CloudWatch: dashboard", s["dashboards"] * price("dashboard_month"),
         f"{s['dashboards']}, if the account already has three"),
    ]
    broker_hour = price(f"{s['broker_type']}_hour")
    sandbox = [
        ("sandbox: MSK brokers", s["brokers"] * HOURS_PER_MONTH * broker_hour,
         f"{s['brokers']} x {s['broker_type']} x {HOURS_PER_MONTH} h"),
        ("sandbox: broker storage", s["brokers"] * s["broker_gib"] * 1.073741824 * price("msk_storage_gb_month"),
         f"{s['brokers']} x {s['broker_gib']} GiB"),
    ]
    if s["nat"]:
        sandbox.append(("sandbox: NAT gateway", HOURS_PER_MONTH * price("nat_hour"),
                        f"{HOURS_PER_MONTH} h (CreateNatGateway=true), data processing extra"))
    return app, sandbox


def usd(value):
    return f"{value:,.2f}" if value >= 1 else f"{value:.4f}"


def tables(s, m):
    scenarios = [("defaults", s["users_per_run"]), ("high volume", s["users_per_run_max"])]
    computed = [per_million(s, m, n) for _, n in scenarios]
    app, sandbox = fixed_monthly(s)
    app_total = sum(c for _, c, _ in app)
    sandbox_total = sum(c for _, c, _ in sandbox)
    out = [
        f"Computed by `python3 benches/python/cost.py` from `template.yaml` and "
        f"`infra/aws/msk-sandbox.yaml` ({m['source']}; us-east-1 list prices, pages in the script). "
        f"Defaults: {s['users_per_run']:,} users a run, {s['runs_per_minute'] * 60:.0f} runs an hour, "
        f"BatchSize {s['batch_size']:,}, a {s['window_s']:g} s batching window, {s['partitions']} partitions; "
        f"high volume: {s['users_per_run_max']:,} users a run (UsersPerRun's maximum), the same schedule.",
        "",
        "| per million users, USD | defaults | high volume |",
        "| --- | ---: | ---: |",
    ]
    for i, (name, _, _) in enumerate(computed[0][0]):
        out.append(f"| {name} | {computed[0][0][i][1]:.4f} | {computed[1][0][i][1]:.4f} |")
    out.append(f"| **total** | **{computed[0][1]:.4f}** | **{computed[1][1]:.4f}** |")
    out.append(f"| Kafka to Parquet: this sink, compactor and S3 requests | {computed[0][2]:.4f} | {computed[1][2]:.4f} |")
    out.append(f"| Kafka to Parquet: Amazon Data Firehose (ingestion + conversion) | {computed[0][3]:.4f} | {computed[1][3]:.4f} |")
    out.append(f"| sink invocations / S3 PUTs per million users | {computed[0][4]:,.0f} / {computed[0][5]:,.0f} | {computed[1][4]:,.0f} / {computed[1][5]:,.0f} |")
    out += ["", "| fixed, a month | USD | basis |", "| --- | ---: | --- |"]
    for name, cost, basis in app:
        out.append(f"| {name} | {usd(cost)} | {basis} |")
    out.append(f"| **application stack** | **{usd(app_total)}** | |")
    for name, cost, basis in sandbox:
        out.append(f"| {name} | {usd(cost)} | {basis} |")
    out.append(f"| **sandbox cluster stack** | **{usd(sandbox_total)}** | |")
    out.append("")
    for (label, n), c in zip(scenarios, computed):
        users_month = n * s["runs_per_minute"] * MINUTES_PER_MONTH
        out.append(f"A month at the {label} ({users_month / 1e6:,.1f} million users): "
                   f"{usd(c[1] * users_month / 1e6)} per-use + {usd(app_total)} fixed "
                   f"(+ {usd(sandbox_total)} with the sandbox cluster).")
    return "\n".join(out)


def replace_between(text, block):
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + block + "\n" + text[end:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", help="a results.json of make bench instead of the pinned figures")
    parser.add_argument("--check", action="store_true", help="fail when a doc's table differs")
    parser.add_argument("--write", action="store_true", help="rewrite the docs' tables")
    args = parser.parse_args(argv)
    block = tables(settings(), measured_from(args.results))
    if not (args.check or args.write):
        print(block)
        for key, (value, unit, page) in PRICES.items():
            print(f"- {key}: {value:g} {unit} ({page})")
        return 0
    stale = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        if BEGIN not in text or END not in text:
            stale.append(f"{doc.relative_to(ROOT)}: no {BEGIN} ... {END} block")
            continue
        updated = replace_between(text, block)
        if updated != text:
            if args.write:
                doc.write_text(updated, encoding="utf-8")
            else:
                stale.append(f"{doc.relative_to(ROOT)}: its cost table differs from what "
                             "benches/python/cost.py computes (run it with --write)")
    for line in stale:
        print(line, file=sys.stderr)
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
