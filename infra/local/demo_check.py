"""The demo's own checks, and its figures as JSON for scripts (CI reads the file).

    demo_check.py OUT PRODUCED DELIVERED WRITTEN REJECTED LAKE_ROWS EXPORT_SUMMARY NEW_OBJECTS
                  OBJECTS_AFTER_COMPACTION SECONDS [READERS_JSON:TOPIC_CHECK_JSON | -]

Every record the trigger delivered is written or rejected, no fewer are delivered than the
demo's runs produced, and the export holds every row of the lake once (a row that the lake holds
twice, beside its merged copy, is exported once). With the table, also: the independent readers
(local/e2e/python/read_table.py) agree and each finds the lake's rows, every id once, and every
row equals its message on the topic (table_matches_topic.py). Exits 1 naming each check that
fails.
"""
import json, sys
out, produced, records, written, rejected, rows = sys.argv[1], *map(int, sys.argv[2:7])
exported = json.loads(sys.argv[7])
new_objects, compacted, seconds = map(int, sys.argv[8:11])
summary = {
    "produced": produced, "delivered": records, "written": written, "rejected": rejected,
    "lake_rows": rows, "exported_rows": exported.get("rows", 0),
    "exported_duplicates": exported.get("duplicates", 0), "new_objects": new_objects,
    "objects_after_compaction": compacted, "seconds": seconds,
}
failed = []
if records < produced:
    failed.append(f"the trigger delivered {records} records, fewer than the {produced} produced")
if written + rejected != records:
    failed.append(f"{written} written + {rejected} rejected != {records} delivered")
if summary["exported_rows"] + summary["exported_duplicates"] != rows:
    failed.append(
        f"the export holds {summary['exported_rows']} rows (+ {summary['exported_duplicates']} "
        f"seen twice), the lake {rows}"
    )
if len(sys.argv) > 11 and sys.argv[11] != "-":
    readers_path, topic_path = sys.argv[11].split(":")
    read, topic = json.load(open(readers_path)), json.load(open(topic_path))
    summary["readers"] = {name: r["rows"] for name, r in read["readers"].items()}
    summary["rows_equal_to_their_message"] = topic["matched"]
    if not read["agree"]:
        failed.append(f"the readers disagree: {read['readers']}")
    for name, r in read["readers"].items():
        if r["rows"] != rows or r["distinct_ids"] != rows:
            failed.append(f"{name} read {r['rows']} rows, {r['distinct_ids']} distinct ids; DuckDB counted {rows}")
    if topic["mismatch_count"] or topic["matched"] != rows:
        failed.append(f"{topic['matched']} of {rows} rows equal their message: {topic['mismatches']}")
summary["failed"] = failed
json.dump(summary, open(out, "w"))
print(f"  as JSON             {out}")
for reason in failed:
    print(f"demo: check failed: {reason}", file=sys.stderr)
sys.exit(1 if failed else 0)
