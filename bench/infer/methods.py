"""Every categorical method of `plumbline aggregate` against crowd-kit's same method, on every
dataset in ../shared/datasets with a truth, in one run: accuracy in percent over the tasks
with a truth, both sides keeping the last of a worker's repeated labels on a task.

Writes bench/results/infer-methods.md and bench/results/infer-methods.json.

Usage (crowd-kit in bench/infer/.venv, see README.md):
    bench/infer/.venv/bin/python bench/infer/methods.py target/release/plumbline
"""

import json
import subprocess
import sys
import time
from pathlib import Path

from crowdkit_ds import METHODS, load, version

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DATASETS = REPO.parent / "shared" / "datasets"
RESULTS = REPO / "bench" / "results"
# Ours name: crowd-kit's name in crowdkit_ds.METHODS (the same names).
COMPARED = ["mv", "wawa", "ds", "onecoin", "glad", "mace", "mmsr", "zbs", "kos"]


def ours(binary: str, folder: Path, method: str) -> float | None:
    """Our accuracy in percent, or None when the method refuses the data (KOS on more than
    two classes)."""
    done = subprocess.run(
        [binary, "aggregate", "--input", str(folder / "labels.csv"), "--method", method,
         "--truth", str(folder / "truth.csv"), "--repeats", "last", "--json"],
        capture_output=True, text=True,
    )
    if done.returncode == 2 and "binary labels" in done.stderr:
        return None
    if done.returncode != 0:
        raise SystemExit(f"{method} on {folder.name}: {done.stderr.strip()}")
    return 100 * json.loads(done.stdout)["metrics"]["accuracy"]


def theirs(folder: Path, method: str) -> float | str:
    """crowd-kit's accuracy in percent, or why it could not run."""
    labels, truth = load(folder, "last")
    try:
        predicted = METHODS[method]().fit_predict(labels)
    except Exception as error:  # crowd-kit's own failures are reported, not hidden
        return f"{type(error).__name__}: {str(error).splitlines()[0][:60]}"
    common = truth.index.intersection(predicted.index)
    return 100 * float((predicted.loc[common] == truth.loc[common]).mean())


def cell(value: float | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return "fails"
    return f"{value:.2f}"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    folders = sorted(d for d in DATASETS.iterdir() if (d / "truth.csv").is_file())
    started = time.time()
    rows = []
    for folder in folders:
        for method in COMPARED:
            ours_acc = ours(binary, folder, method)
            theirs_acc = theirs(folder, method) if ours_acc is not None else None
            rows.append({"dataset": folder.name, "method": method, "ours": ours_acc, "crowdkit": theirs_acc})
            print(f"{folder.name:12} {method:8} ours {cell(ours_acc):>6}  crowd-kit {cell(theirs_acc):>6}", file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "bench/infer/.venv/bin/python bench/infer/methods.py target/release/plumbline"
    document = {"command": command, "crowdkit_version": version(), "seconds": round(time.time() - started, 1), "rows": rows}
    (RESULTS / "infer-methods.json").write_text(json.dumps(document, indent=2) + "\n")
    lines = [
        "# Every categorical method against crowd-kit's",
        "",
        f"`{command}` (crowd-kit {version()}; both keep the last of a worker's repeated labels on a task)",
        "",
        "Accuracy in percent over the tasks with a truth, ours / crowd-kit's; the difference beside it. "
        "— : the method does not take the data (KOS takes two classes); fails: crowd-kit raised an error "
        "(its message in the JSON).",
        "",
        "| dataset | " + " | ".join(COMPARED) + " |",
        "|---|" + "---:|" * len(COMPARED),
    ]
    for folder in folders:
        cells = []
        for method in COMPARED:
            row = next(r for r in rows if r["dataset"] == folder.name and r["method"] == method)
            ours_acc, theirs_acc = row["ours"], row["crowdkit"]
            if ours_acc is None:
                cells.append("—")
            elif isinstance(theirs_acc, float):
                cells.append(f"{ours_acc:.2f} / {theirs_acc:.2f} ({ours_acc - theirs_acc:+.2f})")
            else:
                cells.append(f"{ours_acc:.2f} / fails")
        lines.append(f"| {folder.name} | " + " | ".join(cells) + " |")
    (RESULTS / "infer-methods.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
