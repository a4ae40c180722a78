"""What one million users cost to move into the lake and keep for a month, from one
`make bench` run's figures (target/bench/results.json) and published us-east-1 prices.

    python3 benches/python/cost.py target/bench/results.json

Prints a Markdown table and, on the last line, the same as JSON. Measured: CPU or wall time per
record of the sink, the producer and the compactor, Parquet bytes per record, value bytes per
record, records per 6 MB event (all from results.json). Computed: everything priced. Prices are
the constants below, each with the page it comes from; edit them for another region.

How Lambda time is billed here: a function below 1,769 MB gets that share of one vCPU (Lambda
developer guide, "Configure Lambda function memory"), so CPU-bound work billed at memory M lasts
cpu_time * 1769 / M and costs cpu_time * 1769/1024 GB-s whatever M is below one vCPU. The sink
and the compactor are CPU-bound in the bench; the producer waits on the users API and the broker,
so its wall time at its memory size is billed. Time spent waiting on S3 is not measured and not
included; the bench's CPU figures are from an x86-64 machine, taken as Graviton's (see
docs/performance.md, aarch64).
"""

import json
import sys

# (price, unit, source page). Read 2026-12-02 where noted "read"; the others are the published
# us-east-1 list prices as last known to the project and could not be re-read offline.
PRICES = {
    "lambda_arm_gb_s": (0.0000133334, "USD per GB-second, arm64, first 7.5 billion GB-s",
                        "https://aws.amazon.com/lambda/pricing/"),
    "lambda_request": (0.20 / 1e6, "USD per request",
                       "https://aws.amazon.com/lambda/pricing/"),
    "s3_put": (0.005 / 1000, "USD per PUT, S3 Standard",
               "https://aws.amazon.com/s3/pricing/"),
    "s3_gb_month": (0.023, "USD per GB-month, S3 Standard, first 50 TB",
                    "https://aws.amazon.com/s3/pricing/"),
    "msk_cluster_hour": (0.75, "USD per cluster-hour, MSK Serverless",
                         "https://aws.amazon.com/msk/pricing/"),
    "msk_partition_hour": (0.0015, "USD per partition-hour, MSK Serverless",
                           "https://aws.amazon.com/msk/pricing/"),
    "msk_gb_in": (0.10, "USD per GB written, MSK Serverless",
                  "https://aws.amazon.com/msk/pricing/"),
    "msk_gb_out": (0.05, "USD per GB read, MSK Serverless",
                   "https://aws.amazon.com/msk/pricing/"),
    "msk_gb_month": (0.10, "USD per GB-month stored, MSK Serverless",
                     "https://aws.amazon.com/msk/pricing/"),
    "firehose_msk_gb": (0.055, "USD per GB ingested, Firehose with MSK as source",
                        "https://aws.amazon.com/firehose/pricing/"),
    "firehose_conversion_gb": (0.018, "USD per GB, Firehose JSON to Parquet conversion",
                               "https://aws.amazon.com/firehose/pricing/"),
}

ONE_VCPU_MB = 1769
HOURS_PER_MONTH = 730
USERS = 1_000_000
# The template's settings (template.yaml): memory of each function, partitions of the topic,
# users per scheduled run; the topic's retention is Kafka's default of 7 days.
PRODUCER_MB = 512
PARTITIONS = 3
USERS_PER_RUN = 100  # UsersPerRun default
RETENTION_DAYS = 7


def median(results, name):
    for figure in results["benchmarks"]:
        if figure["name"] == name:
            return figure["median"]
    raise SystemExit(f"results.json has no figure {name!r}: run make bench")


def median_starting(results, prefix):
    for figure in results["benchmarks"]:
        if figure["name"].startswith(prefix):
            return figure["median"]
    raise SystemExit(f"results.json has no figure starting {prefix!r}: run make bench")


def price(key):
    return PRICES[key][0]


def cpu_gb_s(cpu_seconds, memory_mb):
    """GB-seconds billed for CPU-bound work at `memory_mb`."""
    return cpu_seconds * max(ONE_VCPU_MB, memory_mb) / 1024


def rows(results):
    event = results["event"]
    per_event = event["records"]
    value_gb = event["value_bytes"] / per_event * USERS / 1e9
    sink_s = median(results, "sink core: event -> Parquet") / 1e3 / per_event * USERS
    producer_s = median(results, "producer: fetch + produce 5,000 users") / 1e3 / 5000 * USERS
    compactor_s = median_starting(results, "compactor: merge time per 1,000 rows") / 1e3 / 1000 * USERS
    parquet_gb = median(results, "Parquet size, zstd") * 1024 / 1000 * USERS / 1e9
    invocations = USERS / per_event
    runs = USERS / USERS_PER_RUN
    lines = [
        ("sink: Lambda duration (arm64)", cpu_gb_s(sink_s, 512) * price("lambda_arm_gb_s"),
         f"{sink_s:.1f} s CPU measured ({sink_s / USERS * 1e6:.1f} us/record)"),
        ("sink: Lambda requests", invocations * price("lambda_request"),
         f"{invocations:.0f} invocations of {per_event} records (6 MB events)"),
        ("producer: Lambda duration (arm64)",
         producer_s * PRODUCER_MB / 1024 * price("lambda_arm_gb_s"),
         f"{producer_s:.1f} s wall measured against the local users API and broker"),
        ("producer: Lambda requests", runs * price("lambda_request"),
         f"{runs:.0f} runs of {USERS_PER_RUN} users"),
        ("compactor: Lambda duration (arm64)", cpu_gb_s(compactor_s, 2048) * price("lambda_arm_gb_s"),
         f"{compactor_s:.1f} s measured merging"),
        ("S3: PUTs (sink objects, merged objects)",
         (invocations * PARTITIONS + HOURS_PER_MONTH) * price("s3_put"),
         "one object per partition per event, one merged object per hour"),
        ("S3: a month of storage", parquet_gb * price("s3_gb_month"),
         f"{parquet_gb * 1e3:.0f} MB of Parquet (zstd), measured size"),
        ("MSK Serverless: data in and out", value_gb * (price("msk_gb_in") + price("msk_gb_out")),
         f"{value_gb * 1e3:.0f} MB of JSON values written once, read once"),
        ("MSK Serverless: retention", value_gb * price("msk_gb_month") * RETENTION_DAYS / 30,
         f"{RETENTION_DAYS} days of the values"),
    ]
    fixed = [
        ("MSK Serverless: cluster, a month", HOURS_PER_MONTH * price("msk_cluster_hour")),
        ("MSK Serverless: partitions, a month", HOURS_PER_MONTH * PARTITIONS * price("msk_partition_hour")),
    ]
    firehose = value_gb * (price("firehose_msk_gb") + price("firehose_conversion_gb"))
    ours = sum(cost for name, cost, _ in lines if name.startswith(("sink", "compactor", "S3: PUTs")))
    return lines, fixed, firehose, ours, value_gb


def main():
    with open(sys.argv[1]) as f:
        results = json.load(f)
    lines, fixed, firehose, ours, value_gb = rows(results)
    print("| per million users | USD | from |\n| --- | ---: | --- |")
    for name, cost, basis in lines:
        print(f"| {name} | {cost:.6f} | {basis} |")
    total = sum(cost for _, cost, _ in lines)
    print(f"| **total, per million users** | **{total:.6f}** | computed |")
    for name, cost in fixed:
        print(f"| {name} (fixed, not per user) | {cost:.2f} | {HOURS_PER_MONTH} h |")
    print(f"| MSK to S3 as Parquet: this sink, compactor and PUTs | {ours:.6f} | computed |")
    print(f"| MSK to S3 as Parquet: Amazon Data Firehose | {firehose:.6f} | "
          f"{value_gb * 1e3:.0f} MB at ingestion + format conversion prices |")
    print()
    for key, (value, unit, page) in PRICES.items():
        print(f"- {key}: {value:g} {unit} ({page})")
    print(json.dumps({"per_million_usd": round(total, 6), "sink_path_usd": round(ours, 6),
                      "firehose_usd": round(firehose, 6)}))


if __name__ == "__main__":
    main()
