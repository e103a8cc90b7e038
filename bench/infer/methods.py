"""Every categorical method of `plumbline aggregate` against crowd-kit's same method, on every
dataset in ../shared/datasets with a truth, in one run: accuracy in percent over the tasks
with a truth, both sides keeping the last of a worker's repeated labels on a task and, on the
sets where workers repeat themselves, again keeping every label (crowd-kit's default). Then
M-MSR on seeded subsamples of each set's tasks. Then Bradley-Terry and noisy Bradley-Terry on the pairwise music set, with its ties and without,
against crowd-kit's (Spearman correlation of the scores).

Writes bench/results/infer-methods.md and bench/results/infer-methods.json.

Usage (crowd-kit in bench/infer/.venv, see README.md):
    bench/infer/.venv/bin/python bench/infer/methods.py target/release/plumbline
"""

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from crowdkit_ds import METHODS, load, version

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DATASETS = REPO.parent / "shared" / "datasets"
RESULTS = REPO / "bench" / "results"
# Ours name: crowd-kit's name in crowdkit_ds.METHODS (the same names).
COMPARED = ["mv", "wawa", "ds", "onecoin", "glad", "mace", "mmsr", "zbs", "kos"]


def has_repeats(folder: Path) -> bool:
    """Whether some worker labels some task more than once."""
    return len(load(folder, "all")[0]) != len(load(folder, "last")[0])


def ours(binary: str, folder: Path, method: str, repeats: str) -> float | None:
    """Our accuracy in percent, or None when the method refuses the data (KOS on more than
    two classes)."""
    done = subprocess.run(
        [binary, "aggregate", "--input", str(folder / "labels.csv"), "--method", method,
         "--truth", str(folder / "truth.csv"), "--repeats", repeats, "--json"],
        capture_output=True, text=True,
    )
    if done.returncode == 2 and "binary labels" in done.stderr:
        return None
    if done.returncode != 0:
        raise SystemExit(f"{method} on {folder.name}: {done.stderr.strip()}")
    return 100 * json.loads(done.stdout)["metrics"]["accuracy"]


def theirs(folder: Path, method: str, repeats: str, sort_labels: bool = False) -> float | str:
    """crowd-kit's accuracy in percent, or why it could not run; with `sort_labels`, on the
    same rows ordered so that label values first appear in sorted order."""
    labels, truth = load(folder, repeats)
    if sort_labels:
        labels = labels.sort_values("label", kind="stable")
    return crowdkit_accuracy(METHODS[method](), labels, truth)


def crowdkit_accuracy(model, labels: pd.DataFrame, truth: pd.Series) -> float | str:
    """A crowd-kit model's accuracy in percent on `labels`, or why it could not run."""
    try:
        predicted = model.fit_predict(labels)
    except Exception as error:  # crowd-kit's own failures are reported, not hidden
        return f"{type(error).__name__}: {str(error).splitlines()[0][:60]}"
    common = truth.index.intersection(predicted.index)
    return 100 * float((predicted.loc[common] == truth.loc[common]).mean())


PAIRWISE = DATASETS / "music_similarity_pairwise"


def ranks(values: list[float]) -> list[float]:
    """Average ranks, ties sharing the mean of their places."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb)


def our_scores(binary: str, csv_path: Path, method: str) -> tuple[dict[str, float], dict]:
    done = subprocess.run(
        [binary, "aggregate", "--input", str(csv_path), "--method", method, "--json"],
        capture_output=True, text=True, check=True,
    )
    document = json.loads(done.stdout)
    return {row["item"]: row["score"] for row in document["rows"]}, document


def pairwise(binary: str, folder: Path) -> list[dict]:
    """Bradley-Terry and noisy Bradley-Terry on the music set: ours on every row (`a`, `b` and
    the `s` ties), ours on the decided rows alone, and crowd-kit's on those (it takes no ties),
    as Spearman correlations of the item scores."""
    import pandas as pd
    from crowdkit import aggregation

    raw = pd.read_csv(PAIRWISE / "labels.csv", dtype=str).fillna("")
    decided = raw[raw.label.isin(["a", "b"])].copy()
    decided["label"] = decided.apply(lambda r: r.left if r.label == "a" else r.right, axis=1)
    decided = decided[["worker", "left", "right", "label"]]
    path = folder / "music-decided.csv"
    decided.to_csv(path, index=False)
    models = {"bt": lambda: aggregation.BradleyTerry(n_iter=100), "noisybt": aggregation.NoisyBradleyTerry}
    rows = []
    for method, model in models.items():
        with_ties, document = our_scores(binary, PAIRWISE / "labels.csv", method)
        ours_decided, decided_document = our_scores(binary, path, method)
        theirs = model().fit(decided).scores_
        items = sorted(set(ours_decided) & set(theirs.index) & set(with_ties))
        rows.append({
            "method": method,
            "items": len(items),
            "rows_with_ties": int(len(raw)),
            "rows_decided": int(len(decided)),
            "iterations_with_ties": document["iterations"],
            "iterations_decided": decided_document["iterations"],
            "notes": document["notes"],
            "spearman_decided_vs_crowdkit": spearman([ours_decided[i] for i in items], [float(theirs[i]) for i in items]),
            "spearman_with_ties_vs_decided": spearman([with_ties[i] for i in items], [ours_decided[i] for i in items]),
        })
        print(f"music {method}: {rows[-1]}", file=sys.stderr)
    return rows


def cell(value: float | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return "fails"
    return f"{value:.2f}"


def run_name(dataset: str, repeats: str) -> str:
    return dataset if repeats == "last" else f"{dataset}, *every label*"


def mmsr_signs(binary: str, folder: Path) -> dict:
    """Where ours and crowd-kit's M-MSR differ on `folder`: the workers crowd-kit's eigenvector
    gives a negative reliability (an adversary's sign), their true accuracy against chance, and
    the tasks the two answer differently."""
    import numpy as np
    from crowdkit.aggregation import MMSR

    labels, truth = load(folder, "last")
    model = MMSR()
    theirs_labels = model.fit_predict(labels).astype(str)
    # crowd-kit's own fit with every sign positive, as its workers' accuracies say they are.
    class PositiveMMSR(MMSR):
        @staticmethod
        def _sign_determination_valid(covariation, magnitudes):
            return np.abs(magnitudes)
    positive_model = PositiveMMSR()
    positive_accuracy = crowdkit_accuracy(positive_model, labels, truth)
    positive = positive_model.labels_.astype(str)
    negative = model.skills_[model.skills_ < 0].index
    known = labels[labels["task"].isin(truth.index)]
    right = known["label"].astype(str) == known["task"].map(truth).astype(str)
    accuracy = right.groupby(known["worker"]).mean()
    classes = labels["label"].nunique()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "mmsr.csv"
        subprocess.run(
            [binary, "aggregate", "--method", "mmsr", "--repeats", "last",
             "--input", str(folder / "labels.csv"), "--output", str(out)],
            check=True, capture_output=True,
        )
        ours_labels = pd.read_csv(out, dtype=str).set_index("task")["label"]
    common = theirs_labels.index.intersection(ours_labels.index).intersection(truth.index)
    differ = [t for t in common if theirs_labels[t] != ours_labels[t]]
    answer = truth.astype(str)
    crowdkit_right = sum(theirs_labels[t] == answer[t] for t in differ)
    ours_right = sum(ours_labels[t] == answer[t] for t in differ)
    # How often a fair coin deciding the differing tasks would favour one side at least as much.
    n, wins = ours_right + crowdkit_right, max(ours_right, crowdkit_right)
    coin_p = min(1.0, 2 * sum(math.comb(n, i) for i in range(wins, n + 1)) / 2**n) if n else 1.0
    return {
        "dataset": folder.name,
        "workers": int(model.skills_.size),
        "negative_workers": int(negative.size),
        "negative_labels": int(labels["worker"].isin(negative).sum()),
        "negative_accuracy": float(accuracy.reindex(negative).mean()),
        "others_accuracy": float(accuracy.drop(negative, errors="ignore").mean()),
        "chance": 1 / classes,
        "tasks_differ": len(differ),
        "crowdkit_right_there": crowdkit_right,
        "ours_right_there": ours_right,
        "coin_p": coin_p,
        "crowdkit_positive_signs_accuracy": positive_accuracy,
        "crowdkit_positive_signs_tasks_differ_from_ours": sum(
            positive[t] != ours_labels[t] for t in positive.index.intersection(ours_labels.index)
        ),
    }


SUBSAMPLES = 5
SUBSAMPLE_SHARE = 0.6


def mmsr_subsamples(binary: str, folders: list[Path]) -> list[dict]:
    """Ours and crowd-kit's M-MSR on sets neither was written against: for each dataset,
    `SUBSAMPLES` seeded draws of `SUBSAMPLE_SHARE` of its tasks with all their labels."""
    import numpy as np
    from crowdkit.aggregation import MMSR

    rows = []
    for folder in folders:
        labels, truth = load(folder, "last")
        tasks = labels["task"].unique()
        for seed in range(1, SUBSAMPLES + 1):
            rng = np.random.default_rng(seed)
            kept = set(rng.choice(tasks, int(len(tasks) * SUBSAMPLE_SHARE), replace=False))
            sample = labels[labels["task"].isin(kept)]
            with tempfile.TemporaryDirectory() as scratch:
                sample.to_csv(Path(scratch) / "labels.csv", index=False)
                (Path(scratch) / "truth.csv").write_text((folder / "truth.csv").read_text())
                ours_acc = ours(binary, Path(scratch), "mmsr", "last")
            theirs_acc = crowdkit_accuracy(MMSR(), sample, truth)
            rows.append({"dataset": folder.name, "seed": seed, "ours": ours_acc, "crowdkit": theirs_acc})
            print(f"{folder.name:12} subsample {seed} mmsr ours {cell(ours_acc):>6}  crowd-kit {cell(theirs_acc):>6}", file=sys.stderr)
    return rows


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    folders = sorted(d for d in DATASETS.iterdir() if (d / "truth.csv").is_file())
    started = time.time()
    # (dataset folder, repeats policy): every set keeping the last label, and the sets with
    # repeated labels again keeping every one.
    runs = [(folder, "last") for folder in folders]
    runs += [(folder, "all") for folder in folders if has_repeats(folder)]
    rows = []
    for folder, repeats in runs:
        for method in COMPARED:
            ours_acc = ours(binary, folder, method, repeats)
            theirs_acc = theirs(folder, method, repeats) if ours_acc is not None else None
            row = {"dataset": folder.name, "repeats": repeats, "method": method, "ours": ours_acc, "crowdkit": theirs_acc}
            if method == "mace":
                row["crowdkit_labels_sorted"] = theirs(folder, method, repeats, sort_labels=True)
            rows.append(row)
            print(f"{folder.name:12} {repeats:4} {method:8} ours {cell(ours_acc):>6}  crowd-kit {cell(theirs_acc):>6}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        pairwise_rows = pairwise(binary, Path(folder))
    signs = mmsr_signs(binary, DATASETS / "dog")
    subsamples = mmsr_subsamples(binary, folders)
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "bench/infer/.venv/bin/python bench/infer/methods.py target/release/plumbline"
    document = {
        "command": command, "crowdkit_version": version(), "seconds": round(time.time() - started, 1),
        "rows": rows, "pairwise": pairwise_rows, "mmsr_signs": signs, "mmsr_subsamples": subsamples,
    }
    (RESULTS / "infer-methods.json").write_text(json.dumps(document, indent=2) + "\n")
    lines = [
        "# Every categorical method against crowd-kit's",
        "",
        f"`{command}` (crowd-kit {version()}; both keep the last of a worker's repeated labels on a task "
        "(`--repeats last`); on the sets where workers repeat themselves, a second row keeps every label "
        "(`--repeats all`, crowd-kit's default), marked *every label*)",
        "",
        "Accuracy in percent over the tasks with a truth, ours / crowd-kit's; the difference beside it. "
        "— : the method does not take the data (KOS takes two classes); fails: crowd-kit raised an error "
        "(its message in the JSON).",
        "",
        "| dataset | " + " | ".join(COMPARED) + " |",
        "|---|" + "---:|" * len(COMPARED),
    ]
    for folder, repeats in runs:
        cells = []
        for method in COMPARED:
            row = next(
                r for r in rows
                if r["dataset"] == folder.name and r["repeats"] == repeats and r["method"] == method
            )
            ours_acc, theirs_acc = row["ours"], row["crowdkit"]
            if ours_acc is None:
                cells.append("—")
            elif isinstance(theirs_acc, float):
                cells.append(f"{ours_acc:.2f} / {theirs_acc:.2f} ({ours_acc - theirs_acc:+.2f})")
            else:
                cells.append(f"{ours_acc:.2f} / fails")
        lines.append(f"| {run_name(folder.name, repeats)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## MACE and the order of the rows",
        "",
        "crowd-kit's MACE counts each worker's spamming strategy by label value but looks it up by the "
        "order in which labels first appear in the file, so where the two orders differ its strategies "
        "are swapped between classes (its ten restarts also draw the same start: `random_state` is fixed "
        "per restart). The same rows ordered so that labels first appear in sorted order remove the "
        "mismatch; ours reads the classes sorted either way:",
        "",
        "| dataset | ours | crowd-kit, rows as given | crowd-kit, rows ordered by label |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        if row["method"] == "mace":
            lines.append(
                f"| {run_name(row['dataset'], row['repeats'])} | {cell(row['ours'])} | {cell(row['crowdkit'])} | {cell(row['crowdkit_labels_sorted'])} |"
            )
    ahead = ", ".join(
        f"`{r['dataset']}`" for r in rows
        if r["method"] == "mmsr" and r["repeats"] == "last" and isinstance(r["crowdkit"], float) and r["ours"] > r["crowdkit"]
    )
    lines += [
        "",
        "## M-MSR's signs on `dog`",
        "",
        f"crowd-kit recovers the signs of the reliabilities from an eigenvector, ours by a local-majority "
        f"sweep (`crates/infer/src/mmsr.rs`). On `dog` crowd-kit gives {signs['negative_workers']} of its "
        f"{signs['workers']} workers a negative reliability, as if they answered against the truth; they gave "
        f"{signs['negative_labels']} labels and are right on {100 * signs['negative_accuracy']:.1f}% of them "
        f"against {100 * signs['others_accuracy']:.1f}% for the rest and {100 * signs['chance']:.0f}% by chance: "
        f"careful workers with a few labels each, not adversaries. Ours keeps them positive. The two answer "
        f"{signs['tasks_differ']} tasks differently; crowd-kit is right on {signs['crowdkit_right_there']} of them "
        f"and ours on {signs['ours_right_there']}, a split a fair coin gives as unevenly or more with probability "
        f"{signs['coin_p']:.2f}: its lead there comes from outvoting careful workers, which no other set rewards "
        f"(ours is ahead on {ahead}). In the paper's model a reliability is negative only for a worker "
        f"below chance; crowd-kit's own fit with every sign positive, as these workers' accuracies say, "
        f"scores {signs['crowdkit_positive_signs_accuracy']:.2f}% on `dog` and "
        + (
            "answers every task as ours does"
            if signs["crowdkit_positive_signs_tasks_differ_from_ours"] == 0
            else f"answers {signs['crowdkit_positive_signs_tasks_differ_from_ours']} tasks otherwise than ours"
        )
        + ". To be within "
        f"0.3 points of crowd-kit there, ours would have to give careful workers an adversary's sign.",
        "",
        f"On sets neither implementation was written against, {SUBSAMPLES} seeded draws of "
        f"{SUBSAMPLE_SHARE:.0%} of each dataset's tasks with all their labels, ours minus crowd-kit's, in points:",
        "",
        "| dataset | draws | ours (mean) | crowd-kit (mean) | difference: mean (min to max) | draws more than 0.3 below |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for folder in folders:
        pairs = [
            (r["ours"], r["crowdkit"]) for r in subsamples
            if r["dataset"] == folder.name and isinstance(r["crowdkit"], float)
        ]
        failed = sum(1 for r in subsamples if r["dataset"] == folder.name and isinstance(r["crowdkit"], str))
        if not pairs:
            lines.append(f"| {folder.name} | {failed} | — | fails | — | — |")
            continue
        diffs = [a - b for a, b in pairs]
        lines.append(
            f"| {folder.name} | {len(pairs)}{f' ({failed} fail in crowd-kit)' if failed else ''} | "
            f"{sum(a for a, _ in pairs) / len(pairs):.2f} | {sum(b for _, b in pairs) / len(pairs):.2f} | "
            f"{sum(diffs) / len(diffs):+.2f} ({min(diffs):+.2f} to {max(diffs):+.2f}) | "
            f"{sum(1 for d in diffs if d < -0.3)} |"
        )
    lines += [
        "",
        "## Pairwise, with ties: `music_similarity_pairwise`",
        "",
        "Its `label` is `a` (left closer), `b` (right) or `s` (the same: a tie); five rows are blank and "
        "left out. Ours reads every row, ties by Davidson's model; crowd-kit's Bradley-Terry takes no "
        "ties, so it gets the decided rows alone, and so does ours for the comparison. Spearman "
        "correlation of the item scores:",
        "",
        "| method | items | ours (decided rows) vs crowd-kit | ours with ties vs ours without | rounds with ties | rounds without |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in pairwise_rows:
        lines.append(
            f"| {row['method']} | {row['items']} | {row['spearman_decided_vs_crowdkit']:.3f} | "
            f"{row['spearman_with_ties_vs_decided']:.3f} | {row['iterations_with_ties']} | {row['iterations_decided']} |"
        )
    lines += [
        "",
        "Ours with ties: " + "; ".join(pairwise_rows[0]["notes"]) + " (Bradley-Terry).",
        "",
        "crowd-kit's `BradleyTerry` stops after its second round whatever `n_iter` is: it keeps "
        "`p_old = p_new`, a reference to the array it then overwrites in place, so the change it "
        "checks is 0 (its scores with `n_iter=2` and `n_iter=100` are identical). Its scores are two "
        "update steps from uniform, hence the lower correlation with ours, which run to the tolerance.",
    ]
    (RESULTS / "infer-methods.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
