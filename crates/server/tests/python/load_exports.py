"""Loads every export file named in a manifest with Hugging Face `datasets`, as an ML engineer
would, and checks its rows and columns; a TRL file against the columns and types TRL documents
for a preference dataset: standard (`prompt`, `chosen`, `rejected`, all strings) or
conversational (each a list of {"role", "content"} messages, `chosen` and `rejected` ending
with the assistant's turn), with the prompt explicit or implicit (no `prompt` column).

Usage: python load_exports.py MANIFEST.json, the manifest a list of [path, expectation]: a
file with {"builder": "json" | "csv" | "parquet", "rows": n, "columns": [...], "trl": false |
true | "standard" | "standard_implicit" | "conversational" | "conversational_implicit"}, or
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
    form = want.get("trl")
    if form:
        check_trl(path, data, "standard" if form is True else form)
    print(f"{path}: {data.num_rows} rows, columns {data.column_names}")


def check_trl(path, data, form):
    implicit = form.endswith("_implicit")
    columns = TRL_PREFERENCE_COLUMNS[1:] if implicit else TRL_PREFERENCE_COLUMNS
    if implicit and "prompt" in data.column_names:
        raise SystemExit(f"{path}: an implicit prompt has no prompt column")
    for row in data:
        if row["chosen"] == row["rejected"]:
            raise SystemExit(f"{path}: a pair chooses and rejects the same response")
        for column in columns:
            value = row[column]
            if form.startswith("standard"):
                if not isinstance(value, str):
                    raise SystemExit(f"{path}: TRL's {column} must be a string, not {value!r}")
                continue
            if not value or any(set(m) != {"role", "content"} for m in value):
                raise SystemExit(f"{path}: TRL's {column} must be {{role, content}} messages")
            if column != "prompt" and value[-1]["role"] != "assistant":
                raise SystemExit(f"{path}: {column} must end with the assistant's turn")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        manifest = json.load(f)
    for path, want in manifest:
        check(path, want)


if __name__ == "__main__":
    main()
