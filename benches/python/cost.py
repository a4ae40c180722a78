"""What the deployed pipeline costs, computed from the templates' own settings: per million users
at the template's defaults and at one high-volume setting, the table's maintenance by the age of
the table, and every charge the templates create that is billed by the hour or the month.

    python3 benches/python/cost.py                       # the tables, from the pinned figures
    python3 benches/python/cost.py --results target/bench/results.json   # from a new bench run
    python3 benches/python/cost.py --check               # fails when README/docs differ
    python3 benches/python/cost.py --write               # rewrites the tables in README/docs

Read from template.yaml (as local/emulators reads it): LakeFormat and TableCatalog, the producer's
UsersPerRun and ScheduleExpression defaults, the sink's BatchSize and
MaximumBatchingWindowInSeconds (literal or a parameter's default), each function's MemorySize, the
compactor's schedule and its SNAPSHOT_RETENTION_HOURS and ORPHAN_MIN_AGE_HOURS, OutputFormats,
the alarms. Read from infra/aws/msk-sandbox.yaml: the brokers, their instance type and volume,
the topic's partitions, the NAT gateway and its address. Every resource of either template that
is billed by the hour (a trigger with ProvisionedPollerConfig, AWS::MSK::Cluster,
AWS::EC2::NatGateway, AWS::EC2::EIP, an Interface AWS::EC2::VPCEndpoint, ...) must have a price
here: `--check` fails on one that has none. Measured (one `make bench` run, pinned in MEASURED
below, or a results.json given with --results): CPU time per record of the sink and the
compactor, the producer's wall time per user, Parquet bytes per record, and the bytes a record
takes in the sink's event. Everything priced is computed; prices are the constants below, each
with its page (us-east-1 list prices as last known to the project, not re-read offline), and a
free tier (Glue's first million requests, Scheduler's 14 million invocations a month) is not
subtracted: it is shared by the whole account.

How the sink's batches are modelled: a run produces UsersPerRun records at once, spread over the
topic's partitions; the trigger cuts a batch at BatchSize records, at 6 MB of event, or when the
batching window ends, so a run of N records becomes ceil(N / min(BatchSize, 6 MB / event bytes
per record)) batches (a window shorter than the gap between runs never joins two runs). A batch
holds one slice per partition (and hour) it spans.

What each sink invocation asks of S3 and the catalog, by layout:

- LakeFormat iceberg, TableCatalog glue (crates/table/src/table.rs `append`, `try_commit`,
  `swap_in`; crates/table/src/catalog/glue.rs): GetTable and a GET of the metadata file (load),
  a PUT per slice (data files), a GET of the parent's manifest list, PUTs of one manifest, the
  manifest list and the metadata file, then GetTable + UpdateTable (the compare-and-swap) and
  GetTable (the state after it): 4 Glue requests, 2 GETs, slices + 3 PUTs. Uncontended, with no
  record at or below its partition's mark (a redelivery would read data files too).
- LakeFormat files: a PUT per slice and per output format.

The compactor, hourly (functions/compactor/src/iceberg.rs `maintain`, crates/table/src/
maintenance.rs): the lease (a PUT and a GET); GetTable and the metadata file; the current
snapshot's manifest list and every manifest in it; for the closed hour, a GET of each of its data
files, a PUT per merged file, and a replace commit that reads the manifest list and every
manifest again and writes two manifests (all of them merged into one, and the merged file's),
the list and the metadata file (GetTable, GetTable + UpdateTable, GetTable); snapshot expiry
(GetTable, the metadata file, a metadata PUT and the swap); the unreferenced-file removal (a LIST
page per 1,000 keys of metadata/ and data/, GetTable, the metadata file, every kept snapshot's
manifest list and every manifest they name; DELETEs are free). Each sink commit adds a manifest
and each rewrite merges them back into one, so a run reads about an hour's commits' manifests
whatever the table's age; what still grows is the listing of data/ (one merged file an hour
stays), which is why the maintenance is shown for the first and the twelfth month.

A function below 1,769 MB gets that share of one vCPU, so CPU-bound work costs cpu_time *
1769/1024 GB-s at any smaller memory. Time the functions wait on S3 and Glue is not measured and
not included.
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
# The sections of DOCS whose every cost figure must come from the generated block: from the
# heading (or bold lead) to the next heading. Outside the block, a dollar amount must be one of
# PRICES, and no count of invocations, PUTs, GETs or batches may appear.
COST_SECTIONS = {"README.md": r"\*\*What it costs\.\*\*", "deploy.md": r"^## 3\. What it costs"}

# (price, unit, source page)
PRICES = {
    "lambda_arm_gb_s": (0.0000133334, "USD per GB-second, arm64, first 7.5 billion GB-s",
                        "https://aws.amazon.com/lambda/pricing/"),
    "lambda_request": (0.20 / 1e6, "USD per request", "https://aws.amazon.com/lambda/pricing/"),
    "epu_hour": (0.185, "USD per Event Poller Unit-hour (the Lambda guide's us-east-1 example)",
                 "https://docs.aws.amazon.com/lambda/latest/dg/kafka-scaling-modes.html"),
    "s3_put": (0.005 / 1000, "USD per PUT, COPY, POST or LIST request, S3 Standard",
               "https://aws.amazon.com/s3/pricing/"),
    "s3_get": (0.0004 / 1000, "USD per GET, S3 Standard", "https://aws.amazon.com/s3/pricing/"),
    "s3_gb_month": (0.023, "USD per GB-month, S3 Standard, first 50 TB",
                    "https://aws.amazon.com/s3/pricing/"),
    "glue_request": (1.00 / 1e6, "USD per Data Catalog request beyond the first million a month",
                     "https://aws.amazon.com/glue/pricing/"),
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
    "public_ipv4_hour": (0.005, "USD per public IPv4 address-hour (an Elastic IP, in use or idle)",
                         "https://aws.amazon.com/vpc/pricing/"),
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
    # CPU of a 20,000-user run, start included (the median of 0.50, 0.41, 0.41 s; "Producer
    # memory" in docs/performance.md, 2026-12-07).
    "producer_cpu_ms_per_user": 0.0205,
    "compactor_cpu_us_per_record": 3.2,    # merge time per 1,000 rows
    "parquet_bytes_per_record": 90.0,      # zstd(1), the sink's objects
    "value_bytes_per_record": 420.0,       # the JSON value of a record on the topic
    "event_bytes_per_record": 6_291_316 / 8_372,  # the bench's event: 6,291,316 bytes, 8,372 records
}

ONE_VCPU_MB = 1769
# The users of the bench's producer CPU figure (the most a run may ask for).
PRODUCER_CPU_USERS = 20_000
HOURS_PER_MONTH = 730
MINUTES_PER_MONTH = HOURS_PER_MONTH * 60
USERS = 1_000_000
PAYLOAD_LIMIT = 6 * 1024 * 1024   # Lambda's synchronous invocation payload
LIST_PAGE = 1000                  # keys per ListObjectsV2 page
# An assumption, not a measurement: what one invocation writes to CloudWatch Logs at LogLevel
# INFO (the metrics line, about 1 KB with its keys, and Lambda's START and REPORT lines).
LOG_BYTES_PER_INVOCATION = 1500
# The high-volume setting: the largest run UsersPerRun allows, every minute.
HIGH_VOLUME = "MaxValue"
# The months of the table's life whose maintenance is shown.
MONTHS_SHOWN = (1, 12)

# What one sink commit asks of the catalog and S3 (module docstring): Glue GetTable x 3 and
# UpdateTable; GETs of the metadata file and the parent's manifest list; PUTs of the manifest,
# the manifest list and the metadata file, besides the data files.
COMMIT_GLUE, COMMIT_GETS, COMMIT_METADATA_PUTS = 4, 2, 3
# The compactor's hourly run on the table, besides what grows with it (module docstring).
# Glue: load 1, the replace commit 4, expiry 1 + 4, removal 1. GETs: the lease, the metadata file
# (load, expiry, removal), the manifest list (live files, the replace commit). PUTs: the lease,
# the replace commit's two manifests, list and metadata file, the expiry's metadata file.
RUN_GLUE, RUN_GETS, RUN_PUTS, RUN_LISTS = 11, 6, 6, 2


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


def metric_series(doc_text):
    """The custom metrics as CloudWatch bills them: one per name and dimension set. Each of
    docs/metrics.md's function sections (## Producer, ## Sink, ## Compactor) is one value of the
    FunctionName dimension, so a name in two sections (Errors, Duration) is two metrics."""
    series = set()
    for section in re.split(r"^## ", doc_text, flags=re.M)[1:]:
        function = section.split("\n", 1)[0].strip()
        for name in re.findall(r"^\| `([A-Za-z]+)` \|", section, re.M):
            series.add((function, name))
    return series


# Resource kinds billed by the hour whether used or not. A resource of either template matching
# one of these must have a price in HOURLY_PRICES, or `--check` fails.
def hourly_kind(block):
    kind = field(block, "Type", "")
    if re.search(r"^\s*ProvisionedPollerConfig:", block, re.M):
        return "provisioned pollers"
    if kind == "AWS::EC2::VPCEndpoint":
        return "interface endpoint" if field(block, "VpcEndpointType", "Gateway") != "Gateway" else None
    return {
        "AWS::MSK::Cluster": "MSK brokers",
        "AWS::EC2::NatGateway": "NAT gateway",
        "AWS::EC2::EIP": "public IPv4 address",
        "AWS::MSK::ServerlessCluster": "MSK Serverless cluster",
        "AWS::EC2::Instance": "EC2 instance",
        "AWS::RDS::DBInstance": "RDS instance",
        "AWS::ElasticLoadBalancingV2::LoadBalancer": "load balancer",
        "AWS::EC2::TransitGatewayAttachment": "transit gateway attachment",
        "AWS::EC2::ClientVpnTargetNetworkAssociation": "Client VPN association",
    }.get(kind)


def hourly_resources(resources, stack):
    """[(stack, logical id, kind, block)] of the resources billed by the hour."""
    return [(stack, name, kind, block) for name, block in resources.items()
            if (kind := hourly_kind(block)) is not None]


def settings(template_path=None, sandbox_path=None):
    text = Path(template_path or TEMPLATE).read_text(encoding="utf-8")
    sandbox_text = Path(sandbox_path or SANDBOX).read_text(encoding="utf-8")
    parameters, resources = entries(text, "Parameters"), entries(text, "Resources")
    sandbox_parameters = entries(sandbox_text, "Parameters")
    sandbox = entries(sandbox_text, "Resources")
    sink, compactor = resources["SinkFunction"], resources["CompactorFunction"]
    trigger = resources["SinkFunctionUsersTopic"]
    rate = re.fullmatch(r"rate\((\d+) minutes?\)", field(parameters["ScheduleExpression"], "Default"))
    if not rate:
        raise SystemExit("ScheduleExpression's default is not rate(N minute[s])")
    if field(compactor, "ScheduleExpression") != "rate(1 hour)":
        raise SystemExit("the compactor's schedule is not rate(1 hour), which the model assumes")
    alarms = [b for b in resources.values() if field(b, "Type") == "AWS::CloudWatch::Alarm"]
    cluster = next(b for b in sandbox.values() if field(b, "Type") == "AWS::MSK::Cluster")
    topic = next(b for b in sandbox.values() if field(b, "Type") == "AWS::MSK::Topic")
    return {
        "lake_format": field(parameters["LakeFormat"], "Default"),
        "table_catalog": field(parameters["TableCatalog"], "Default"),
        "users_per_run": int(field(parameters["UsersPerRun"], "Default")),
        "users_per_run_max": largest_whole(field(parameters["UsersPerRun"], "AllowedPattern")),
        "runs_per_minute": 1 / int(rate.group(1)),
        "batch_size": int(value(field(trigger, "BatchSize", "100"), parameters)),
        "window_s": float(value(field(trigger, "MaximumBatchingWindowInSeconds", "0.5"), parameters)),
        "min_pollers": int(field(trigger, "MinimumPollers")),
        "formats": len(field(parameters["OutputFormats"], "Default").split(",")),
        "producer_mb": int(field(resources["ProducerFunction"], "MemorySize")),
        "sink_mb": int(field(sink, "MemorySize")),
        "compactor_mb": int(field(compactor, "MemorySize")),
        "target_mib": int(field(parameters["CompactionTargetMib"], "Default")),
        "retention_h": int(field(compactor, "SNAPSHOT_RETENTION_HOURS")),
        "orphan_h": int(field(compactor, "ORPHAN_MIN_AGE_HOURS")),
        "alarm_metrics": sum(max(1, len(re.findall(r"^\s+MetricStat:", a, re.M))) for a in alarms),
        "dashboards": sum(1 for b in resources.values() if field(b, "Type") == "AWS::CloudWatch::Dashboard"),
        "partitions": int(value(field(topic, "PartitionCount"), sandbox_parameters)),
        "brokers": int(field(cluster, "NumberOfBrokerNodes")),
        "broker_type": field(cluster, "InstanceType"),
        "broker_gib": int(field(cluster, "VolumeSize")),
        "nat_default": field(sandbox_parameters["CreateNatGateway"], "Default") == "true",
        "custom_metrics": len(metric_series(METRICS_DOC.read_text(encoding="utf-8"))),
        "hourly": hourly_resources(resources, "application")
                  + hourly_resources(sandbox, "sandbox"),
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
        "producer_cpu_ms_per_user": median("producer CPU time: start and one run of")
        * 1e3 / PRODUCER_CPU_USERS,
        "compactor_cpu_us_per_record": median("compactor: merge time per 1,000 rows"),
        "parquet_bytes_per_record": median("Parquet size, zstd") * 1024 / 1000,
        "value_bytes_per_record": event["value_bytes"] / event["records"],
        "event_bytes_per_record": event["bytes"] / event["records"],
    }


def price(key):
    return PRICES[key][0]


def cpu_gb_s(cpu_seconds, memory_mb):
    return cpu_seconds * max(ONE_VCPU_MB, memory_mb) / 1024


def is_table(s):
    return s["lake_format"] == "iceberg"


def shape(s, m, users_per_run):
    """How a run reaches the sink: (records a batch holds at most, batches a run, slices a batch,
    sink commits an hour)."""
    record_cap = min(s["batch_size"], int(PAYLOAD_LIMIT // m["event_bytes_per_record"]))
    batches_per_run = math.ceil(users_per_run / record_cap)
    slices = min(s["partitions"], math.ceil(users_per_run / batches_per_run))
    commits_per_hour = batches_per_run * s["runs_per_minute"] * 60
    return record_cap, batches_per_run, slices, commits_per_hour


def per_million(s, m, users_per_run):
    """(rows, total, sink path, firehose, invocations, puts) per million users."""
    record_cap, batches_per_run, slices, commits_per_hour = shape(s, m, users_per_run)
    runs = USERS / users_per_run
    invocations = runs * batches_per_run
    sink_objects = invocations * slices
    hours = runs / s["runs_per_minute"] / 60
    parquet_gb = m["parquet_bytes_per_record"] * USERS / 1e9
    # Merged files: at least one per hour of data, more when an hour outgrows the target.
    merged = max(math.ceil(hours), math.ceil(parquet_gb * 1e9 / (s["target_mib"] * 2**20)))
    if is_table(s):
        sink_puts = invocations * (slices + COMMIT_METADATA_PUTS)
        sink_gets = invocations * COMMIT_GETS
        # The hourly rewrite: each data file read, the merged files written, and the run's own
        # calls (its two manifests among them).
        compactor_puts = merged + hours * RUN_PUTS
        compactor_gets = sink_objects + hours * RUN_GETS
        glue = invocations * COMMIT_GLUE + hours * RUN_GLUE
        lists = hours * RUN_LISTS
        puts_basis = (f"{slices} data file(s) + {COMMIT_METADATA_PUTS} metadata files a commit; "
                      f"compactor {merged:,} merged + {RUN_PUTS} a run")
        gets_basis = (f"{COMMIT_GETS} a commit; compactor {sink_objects:,.0f} data files "
                      f"+ {RUN_GETS} a run")
    else:
        sink_puts = sink_objects * s["formats"]
        sink_gets = 0
        compactor_puts = merged + hours        # the merged objects, the lease
        compactor_gets = sink_objects + hours  # each original read once, the lease
        glue = 0
        lists = hours                          # at least one page of users/ a run
        puts_basis = f"{slices} object(s) a batch x {s['formats']} format(s), {merged:,} merged"
        gets_basis = f"compactor: {sink_objects:,.0f} originals read once"
    puts = sink_puts + compactor_puts
    gets = sink_gets + compactor_gets
    sink_s = m["sink_cpu_us_per_record"] * USERS / 1e6
    # Below 1,769 MB the producer's CPU share, not the network, may bound its run: billed is the
    # longer of its wall time at a full vCPU and its CPU time at its share.
    producer_s = max(m["producer_wall_ms_per_user"],
                     m["producer_cpu_ms_per_user"] * ONE_VCPU_MB / s["producer_mb"]) * USERS / 1e3
    compactor_s = m["compactor_cpu_us_per_record"] * USERS / 1e6
    value_gb = m["value_bytes_per_record"] * USERS / 1e9
    logs_gb = (invocations + runs + hours) * LOG_BYTES_PER_INVOCATION / 1e9
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
        ("S3: PUTs and LISTs", (puts + lists) * price("s3_put"), f"{puts:,.0f} PUTs: {puts_basis}"),
        ("S3: GETs", gets * price("s3_get"), f"{gets:,.0f}: {gets_basis}"),
        ("Glue Data Catalog requests", glue * price("glue_request"),
         f"{glue:,.0f}: {COMMIT_GLUE} a commit, {RUN_GLUE} a compactor run" if glue else "none (LakeFormat files)"),
        ("S3: a month of storage", parquet_gb * price("s3_gb_month"), f"{parquet_gb * 1e3:.0f} MB of Parquet"),
        ("CloudWatch Logs ingestion", logs_gb * price("logs_gb"),
         f"{logs_gb * 1e3:.1f} MB at about {LOG_BYTES_PER_INVOCATION:,} B per invocation (INFO)"),
    ]
    total = sum(cost for _, cost, _ in rows)
    ours = sum(cost for name, cost, _ in rows
               if name.startswith(("sink", "compactor", "S3: PUTs", "S3: GETs", "Glue")))
    firehose = value_gb * (price("firehose_msk_gb") + price("firehose_conversion_gb"))
    return rows, total, ours, firehose, invocations, puts


def maintenance(s, m, users_per_run, month):
    """(USD, GETs, LISTs) of the compactor's reads of the table's manifests and listings in
    month `month` of its life (1 = the first 730 hours): the current snapshot's manifests, read
    twice (live files, the replace commit), which a rewrite merges back into one each hour; the
    kept snapshots' manifest lists and the manifests they name (the removal's references); and
    the LIST pages of metadata/ and data/. Zero for the plain-files layout's tables (see
    `files_listing`)."""
    _, _, slices, commits = shape(s, m, users_per_run)
    retention, orphan = s["retention_h"], s["orphan_h"]
    gets = lists = 0
    for h in range((month - 1) * HOURS_PER_MONTH + 1, month * HOURS_PER_MONTH + 1):
        current = commits + 2                   # an hour's appends beside the last rewrite's two
        kept = min(h, retention)
        lists_kept = (commits + 1) * kept       # manifest lists of the kept snapshots
        named = current * kept                  # the manifests they name
        gets += 2 * current + lists_kept + named
        waiting = min(h, retention + orphan)
        metadata_keys = (3 * commits + 4) * waiting  # manifests, lists, metadata files
        data_keys = h + commits * slices * (waiting + 2)
        lists += math.ceil(metadata_keys / LIST_PAGE) + math.ceil(data_keys / LIST_PAGE)
    return gets * price("s3_get") + lists * price("s3_put"), gets, lists


def files_listing(s, month):
    """(USD, LISTs) of the plain-files compactor's hourly LIST of all of users/ in month `month`
    (one merged object an hour stays)."""
    lists = sum(math.ceil(max(h, 1) / LIST_PAGE)
                for h in range((month - 1) * HOURS_PER_MONTH + 1, month * HOURS_PER_MONTH + 1))
    return lists * price("s3_put"), lists


def price_hourly(s, stack, name, kind, block):
    """(charge, USD a month, basis) of one hourly-billed resource, or None when it has no price."""
    hours = HOURS_PER_MONTH
    condition = field(block, "Condition", "")
    when = f" (condition {condition})" if condition else ""
    if kind == "provisioned pollers":
        return (f"{name}: provisioned pollers", s["min_pollers"] * hours * price("epu_hour"),
                f"MinimumPollers {s['min_pollers']} EPU x {hours} h, also with ScheduleEnabled=false")
    if kind == "MSK brokers":
        key = f"{s['broker_type']}_hour"
        if key not in PRICES:
            return None
        return (f"{name}: MSK brokers", s["brokers"] * hours * price(key),
                f"{s['brokers']} x {s['broker_type']} x {hours} h")
    if kind == "NAT gateway":
        return (f"{name}: NAT gateway", hours * price("nat_hour"),
                f"{hours} h{when}, data processing extra")
    if kind == "public IPv4 address":
        return (f"{name}: public IPv4 address", hours * price("public_ipv4_hour"),
                f"{hours} h{when}, the NAT gateway's Elastic IP")
    return None


def fixed_monthly(s):
    """(app rows, sandbox rows, unpriced) of everything billed by the hour or the month, used or
    not; `unpriced` names the hourly-billed resources this script has no price for."""
    app, sandbox, unpriced = [], [], []
    for stack, name, kind, block in s["hourly"]:
        row = price_hourly(s, stack, name, kind, block)
        if row is None:
            unpriced.append(f"{stack} stack: {name} ({kind})")
        else:
            (app if stack == "application" else sandbox).append(row)
    app += [
        ("CloudWatch: the functions' custom metrics", s["custom_metrics"] * price("custom_metric_month"),
         f"{s['custom_metrics']} metrics: each name per FunctionName (docs/metrics.md)"),
        ("CloudWatch: alarms", s["alarm_metrics"] * price("alarm_metric_month"),
         f"{s['alarm_metrics']} alarm metrics"),
        ("CloudWatch: dashboard", s["dashboards"] * price("dashboard_month"),
         f"{s['dashboards']}, if the account already has three"),
    ]
    if any(kind == "MSK brokers" for _, _, kind, _ in s["hourly"]):
        sandbox.append(("broker storage", s["brokers"] * s["broker_gib"] * 1.073741824
                        * price("msk_storage_gb_month"), f"{s['brokers']} x {s['broker_gib']} GiB"))
    return app, sandbox, unpriced


def usd(value):
    return f"{value:,.2f}" if value >= 1 else f"{value:.4f}"


def tables(s, m):
    scenarios = [("defaults", s["users_per_run"]), ("high volume", s["users_per_run_max"])]
    computed = [per_million(s, m, n) for _, n in scenarios]
    files = dict(s, lake_format="files")
    computed_files = [per_million(files, m, n) for _, n in scenarios]
    app, sandbox, _ = fixed_monthly(s)
    app_total = sum(c for _, c, _ in app)
    sandbox_total = sum(c for _, c, _ in sandbox)
    layout = (f"LakeFormat {s['lake_format']}, TableCatalog {s['table_catalog']}" if is_table(s)
              else f"LakeFormat {s['lake_format']}")
    out = [
        f"Computed by `python3 benches/python/cost.py` from `template.yaml` and "
        f"`infra/aws/msk-sandbox.yaml` ({m['source']}; us-east-1 list prices, pages in the script). "
        f"Defaults: {layout}, {s['users_per_run']:,} users a run, {s['runs_per_minute'] * 60:.0f} runs an hour, "
        f"BatchSize {s['batch_size']:,}, a {s['window_s']:g} s batching window, {s['partitions']} partitions; "
        f"high volume: {s['users_per_run_max']:,} users a run (UsersPerRun's maximum), the same schedule.",
        "",
        "| per million users, USD | defaults | high volume |",
        "| --- | ---: | ---: |",
    ]
    for i, (name, _, _) in enumerate(computed[0][0]):
        out.append(f"| {name} | {computed[0][0][i][1]:.4f} | {computed[1][0][i][1]:.4f} |")
    out.append(f"| **total** | **{computed[0][1]:.4f}** | **{computed[1][1]:.4f}** |")
    out.append(f"| Kafka to the lake: this sink, compactor, S3 and Glue requests | {computed[0][2]:.4f} | {computed[1][2]:.4f} |")
    out.append(f"| Kafka to Parquet: Amazon Data Firehose (ingestion + conversion) | {computed[0][3]:.4f} | {computed[1][3]:.4f} |")
    out.append(f"| sink invocations / S3 PUTs per million users | {computed[0][4]:,.0f} / {computed[0][5]:,.0f} | {computed[1][4]:,.0f} / {computed[1][5]:,.0f} |")
    if is_table(s):
        out.append(f"| total with LakeFormat files instead (the alternative layout) | {computed_files[0][1]:.4f} | {computed_files[1][1]:.4f} |")
    out += ["", "| fixed, a month | USD | basis |", "| --- | ---: | --- |"]
    for name, cost, basis in app:
        out.append(f"| {name} | {usd(cost)} | {basis} |")
    out.append(f"| **application stack** | **{usd(app_total)}** | |")
    for name, cost, basis in sandbox:
        out.append(f"| sandbox: {name} | {usd(cost)} | {basis} |")
    out.append(f"| **sandbox cluster stack** | **{usd(sandbox_total)}** | |")
    out += ["", "| a month, USD | " + " | ".join(f"{label}, month {k} of the table" for label, _ in scenarios
                                                 for k in MONTHS_SHOWN) + " |",
            "| --- |" + " ---: |" * (len(scenarios) * len(MONTHS_SHOWN))]
    month_rows = {"per-use (the table above)": [], "table maintenance: compactor GETs and LISTs": [],
                  "fixed, application stack": [], "**total, application stack**": []}
    for (label, n), c in zip(scenarios, computed):
        users_month = n * s["runs_per_minute"] * MINUTES_PER_MONTH
        for k in MONTHS_SHOWN:
            upkeep = maintenance(s, m, n, k)[0] if is_table(s) else files_listing(s, k)[0]
            use = c[1] * users_month / 1e6
            month_rows["per-use (the table above)"].append(use)
            month_rows["table maintenance: compactor GETs and LISTs"].append(upkeep)
            month_rows["fixed, application stack"].append(app_total)
            month_rows["**total, application stack**"].append(use + upkeep + app_total)
    for name, values in month_rows.items():
        bold = name.startswith("**")
        cells = " | ".join(f"**{usd(v)}**" if bold else usd(v) for v in values)
        out.append(f"| {name} | {cells} |")
    out.append("")
    out.append(summary(s, m, scenarios, computed, app, app_total, sandbox_total))
    return "\n".join(out)


def summary(s, m, scenarios, computed, app, app_total, sandbox_total):
    """The prose under the tables: every figure in it computed here."""
    pollers = next(c for name, c, _ in app if name.endswith("provisioned pollers"))
    users_month = s["users_per_run"] * s["runs_per_minute"] * MINUTES_PER_MONTH
    per_use = computed[0][1] * users_month / 1e6
    first, last = (maintenance(s, m, s["users_per_run"], k) for k in MONTHS_SHOWN)
    _, runs_high, _, _ = shape(s, m, s["users_per_run_max"])
    small = dict(s, batch_size=500)
    small_high = per_million(small, m, s["users_per_run_max"])
    cap = shape(s, m, s["users_per_run_max"])[0]
    text = [
        f"In the table's first month at the defaults the deployment costs what it holds more than "
        f"what it moves: the sink "
        f"trigger's provisioned poller, billed by the hour whether or not anything is produced, is "
        f"{usd(pollers)} of the application stack's {usd(app_total)} fixed a month "
        f"(+ {usd(sandbox_total)} with the sandbox cluster), and moving the "
        f"{users_month / 1e6:,.1f} million users of a month costs {usd(per_use)}.",
    ]
    if is_table(s):
        text.append(
            f"Each hourly rewrite merges the table's manifests back into one, so the compactor's "
            f"reads of them stay level: {first[1] / 1e6:,.1f} million GETs in the table's first "
            f"month ({usd(first[0])}), {last[1] / 1e6:,.1f} million in its twelfth "
            f"({usd(last[0])}).")
    text.append(
        f"Per million users, the path from Kafka to the lake (sink, compactor, S3 and Glue "
        f"requests) costs {usd(computed[0][2])} at the defaults and {usd(computed[1][2])} at the "
        f"high volume, against {usd(computed[0][3])} for Amazon Data Firehose's ingestion and "
        f"conversion, before the table's maintenance and the fixed charges.")
    text.append(
        f"At {s['users_per_run_max']:,} users a run, a batch holds at most {cap:,} records (the "
        f"6 MB event at {m['event_bytes_per_record']:,.0f} bytes a record), so a run is "
        f"{runs_high} batches; BatchSize 500 would make {small_high[4]:,.0f} invocations and "
        f"{small_high[5]:,.0f} PUTs per million users instead of {computed[1][4]:,.0f} and "
        f"{computed[1][5]:,.0f}.")
    return " ".join(text)


def replace_between(text, block):
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + block + "\n" + text[end:]


def stray_figures(doc_name, text):
    """Cost figures in a doc's cost section that the generated block does not hold: a dollar
    amount other than a list price of PRICES, or a count of invocations, PUTs, GETs or batches."""
    lead = COST_SECTIONS.get(doc_name)
    if lead is None:
        return []
    start = re.search(lead, text, re.M)
    if start is None:
        return [f"no cost section ({lead})"]
    rest = text[start.end():]
    stop = re.search(r"^#{1,3} ", rest, re.M)
    section = rest[:stop.start()] if stop else rest
    if BEGIN in section and END in section:
        section = section[:section.index(BEGIN)] + section[section.index(END) + len(END):]
    # A price as a page states it: per unit, per thousand or per million.
    prices = {form.format(p * scale) for p, _, _ in PRICES.values() for scale in (1, 1e3, 1e6)
              for form in ("{:g}", "{:.2f}", "{:.3f}")}
    found = []
    for amount in re.findall(r"\$([0-9][0-9,]*(?:\.[0-9]+)?)", section):
        if amount.replace(",", "") not in prices:
            found.append(f"${amount}")
    found += re.findall(r"\b[0-9][0-9,.]* (?:invocations|PUTs|GETs|LISTs|batches|requests)\b", section)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", help="a results.json of make bench instead of the pinned figures")
    parser.add_argument("--check", action="store_true", help="fail when a doc's table differs")
    parser.add_argument("--write", action="store_true", help="rewrite the docs' tables")
    args = parser.parse_args(argv)
    s = settings()
    block = tables(s, measured_from(args.results))
    problems = [f"{name}: billed by the hour and not priced by benches/python/cost.py"
                for name in fixed_monthly(s)[2]]
    if not (args.check or args.write):
        print(block)
        for key, (value, unit, page) in PRICES.items():
            print(f"- {key}: {value:g} {unit} ({page})")
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        name = doc.relative_to(ROOT)
        if BEGIN not in text or END not in text:
            problems.append(f"{name}: no {BEGIN} ... {END} block")
            continue
        updated = replace_between(text, block)
        if updated != text:
            if args.write:
                doc.write_text(updated, encoding="utf-8")
            else:
                problems.append(f"{name}: its cost table differs from what "
                                "benches/python/cost.py computes (run it with --write)")
        for figure in stray_figures(doc.name, updated):
            problems.append(f"{name}: cost figure {figure!r} outside the generated block of its "
                            "cost section (put it in cost.py's summary, or leave it out)")
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
