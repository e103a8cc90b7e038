"""Runs crowd-kit's aggregators on crowd datasets and prints accuracy and fit time as JSON.

Called by `cargo bench -p plumbline-infer --bench infer`, which runs Plumbline's own methods
on the same files and compares. Each run is timed end to end, reading `labels.csv` with pandas
and then `fit_predict`, and the report gives the median of the fit alone (`seconds`), of the
reading (`read_seconds`) and of the two together (`end_to_end_seconds`). Each dataset folder holds `labels.csv` (task,worker,label) and
`truth.csv` (task,truth). Repeated (worker, task) pairs keep the last label (`--repeats last`,
the default, what plumbline-infer's `Dataset::from_rows` keeps) or every label (`--repeats all`,
crowd-kit's own default), so that both sides see the same data.

Usage: crowdkit_ds.py [--method ds] [--repeat 3] [--repeats last|all] DATASET_DIR...
"""

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
from crowdkit import aggregation

METHODS = {
    "ds": lambda: aggregation.DawidSkene(n_iter=100, tol=1e-5),
    "onecoin": lambda: aggregation.OneCoinDawidSkene(n_iter=100, tol=1e-5),
    "mv": aggregation.MajorityVote,
    "wawa": aggregation.Wawa,
    "glad": aggregation.GLAD,
    "mace": aggregation.MACE,
    "mmsr": aggregation.MMSR,
    "zbs": aggregation.ZeroBasedSkill,
    "kos": aggregation.KOS,
}


def load(folder: Path, repeats: str) -> tuple[pd.DataFrame, pd.Series]:
    return load_labels(folder, repeats), load_truth(folder)


def load_labels(folder: Path, repeats: str) -> pd.DataFrame:
    # Task and worker ids stay strings; labels get pandas' default parsing, which makes
    # numeric classes integers and so sorts them numerically, as plumbline-infer does.
    labels = pd.read_csv(folder / "labels.csv", dtype={"task": str, "worker": str})
    labels = labels[["task", "worker", "label"]]
    if repeats == "last":
        labels = labels.drop_duplicates(subset=["task", "worker"], keep="last")
    return labels


def load_truth(folder: Path) -> pd.Series:
    truth = pd.read_csv(folder / "truth.csv", dtype={"task": str})
    return truth.drop_duplicates(subset=["task"], keep="last").set_index("task")["truth"]


def run(folder: Path, method: str, repeat: int, repeats: str) -> dict:
    """Times each run end to end, reading labels.csv and then fitting, and reports the median
    of each part and of the whole."""
    truth = load_truth(folder)
    reads, fits, totals = [], [], []
    labels = predicted = None
    for _ in range(repeat):
        model = METHODS[method]()
        start = time.perf_counter()
        labels = load_labels(folder, repeats)
        read = time.perf_counter()
        predicted = model.fit_predict(labels)
        done = time.perf_counter()
        reads.append(read - start)
        fits.append(done - read)
        totals.append(done - start)
    common = truth.index.intersection(predicted.index)
    correct = int((predicted.loc[common] == truth.loc[common]).sum())
    return {
        "dataset": folder.name,
        "method": method,
        "labels": int(len(labels)),
        "tasks_scored": int(len(common)),
        "accuracy": correct / len(common) if len(common) else None,
        "seconds": median(fits),
        "read_seconds": median(reads),
        "end_to_end_seconds": median(totals),
        "runs": repeat,
    }


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="ds", choices=sorted(METHODS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--repeats", default="last", choices=["last", "all"])
    parser.add_argument("datasets", nargs="+", type=Path)
    args = parser.parse_args()
    results = [run(folder, args.method, args.repeat, args.repeats) for folder in args.datasets]
    json.dump(
        {
            "crowdkit_version": version(),
            "pandas_version": pd.__version__,
            "python_version": sys.version.split()[0],
            "results": results,
        },
        sys.stdout,
    )
    print()
    return 0


def version() -> str:
    from importlib.metadata import version as dist_version

    return dist_version("crowd-kit")


if __name__ == "__main__":
    sys.exit(main())
