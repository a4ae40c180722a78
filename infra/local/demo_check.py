"""The demo's own checks, and its figures as JSON for scripts (CI reads the file).

    demo_check.py OUT PRODUCED DELIVERED WRITTEN REJECTED LAKE_ROWS EXPORT_SUMMARY NEW_OBJECTS
                  OBJECTS_AFTER_COMPACTION SECONDS

Every record the trigger delivered is written or rejected, no fewer are delivered than the
demo's runs produced, and the export holds every row of the lake once (a row that the lake holds
twice, beside its merged copy, is exported once). Exits 1 naming each check that fails.
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
summary["failed"] = failed
json.dump(summary, open(out, "w"))
print(f"  as JSON             {out}")
for reason in failed:
    print(f"demo: check failed: {reason}", file=sys.stderr)
sys.exit(1 if failed else 0)
