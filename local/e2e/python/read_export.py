"""Reads an export's files as the original pipeline's users read its `output/` and prints what
each reader saw as one JSON object: the ids in file order, the column names and the row count.

    read_export.py DIR

`json.load` and `pd.read_json` take `users_data.json` without `lines=True` (a JSON array),
`pd.read_csv` takes `users_data.csv` with its defaults, `pd.read_parquet` takes both Parquet
names. A reader that fails raises, and the script exits non-zero with Python's traceback.
"""

import json
import sys
from pathlib import Path

import pandas as pd


def frame_view(frame: pd.DataFrame) -> dict:
    return {"ids": [str(i) for i in frame["id"]], "columns": list(frame.columns)}


def main() -> None:
    out = Path(sys.argv[1])
    with open(out / "users_data.json", encoding="utf-8") as f:
        loaded = json.load(f)
    seen = {
        "json.load": {"ids": [u["id"] for u in loaded], "columns": list(loaded[0].keys())},
        "pd.read_json": frame_view(pd.read_json(out / "users_data.json")),
        "pd.read_csv": frame_view(pd.read_csv(out / "users_data.csv")),
        "pd.read_parquet users_spark_data": frame_view(
            pd.read_parquet(out / "users_spark_data.parquet")
        ),
        "pd.read_parquet users_data": frame_view(pd.read_parquet(out / "users_data.parquet")),
    }
    csv = pd.read_csv(out / "users_data.csv", dtype=str, keep_default_na=False)
    seen["csv_records"] = csv.to_dict(orient="records")
    seen["json_records"] = loaded
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
