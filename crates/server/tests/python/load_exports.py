"""Loads every export file named in a manifest with Hugging Face `datasets`, as an ML engineer
would, and checks its rows and columns; the TRL file against the column names and types TRL
documents for a standard preference dataset (`prompt`, `chosen`, `rejected`, all strings).

Usage: python load_exports.py MANIFEST.json, the manifest a list of [path, expectation]: a
file with {"builder": "json" | "csv" | "parquet", "rows": n, "columns": [...], "trl": bool}, or
a folder holding the dataset card with {"builder": "folder", "config": name, "rows": n,
"columns": [...]}.
Exits non-zero, naming the file, on the first mismatch.
"""

import json
import sys

from datasets import load_dataset

TRL_PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")


def check(path, want):
    if want["builder"] == "folder":
        # A folder with the dataset card: its YAML names the configuration's files.
        data = load_dataset(path, name=want["config"], split="train")
    else:
        data = load_dataset(want["builder"], data_files=path, split="train")
    if data.num_rows != want["rows"]:
        raise SystemExit(f"{path}: {data.num_rows} rows, expected {want['rows']}")
    missing = [c for c in want["columns"] if c not in data.column_names]
    if missing:
        raise SystemExit(f"{path}: columns {missing} missing from {data.column_names}")
    if want.get("trl"):
        for column in TRL_PREFERENCE_COLUMNS:
            dtype = data.features[column].dtype
            if dtype != "string":
                raise SystemExit(f"{path}: TRL's {column} must be a string, not {dtype}")
        for row in data:
            if row["chosen"] == row["rejected"]:
                raise SystemExit(f"{path}: a pair chooses and rejects the same response")
    print(f"{path}: {data.num_rows} rows, columns {data.column_names}")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        manifest = json.load(f)
    for path, want in manifest:
        check(path, want)


if __name__ == "__main__":
    main()
