#!/usr/bin/env bash
# Adaptive rounds inside an experiment, through the whole protocol: `scenarios/adaptive.toml`
# (three rounds, tasks asked again until 95% sure, up to 7 labels) against the same population
# with a fixed overlap of 3, 4 and 5 labels a task and no later rounds (everyone works in the
# first round). Writes bench/results/adaptive.{md,json}.
#
#   bash bench/adaptive.sh [PLUMBLINE_BINARY] [SEED] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/plumbline}
seed=${2:-1}
runs=${3:-20}
work=target/bench-adaptive
rm -rf "$work" && mkdir -p "$work"

"$bin" simulate --scenario scenarios/adaptive.toml --seed "$seed" --runs "$runs" --json \
  >"$work/adaptive.json"
for overlap in 3 4 5; do
  # The adaptive scenario without its [adaptive] table, at a fixed overlap.
  awk -v overlap="$overlap" '
    /^\[adaptive\]/ { skip = 1; next }
    /^\[/ { skip = 0 }
    skip { next }
    /^name = / { print "name = \"fixed-" overlap "\""; next }
    /^overlap = / { print "overlap = " overlap; next }
    { print }
  ' scenarios/adaptive.toml >"$work/fixed-$overlap.toml"
  "$bin" simulate --scenario "$work/fixed-$overlap.toml" --seed "$seed" --runs "$runs" --json \
    >"$work/fixed-$overlap.json"
done

python3 - "$work" "$bin" "$seed" "$runs" <<'PY'
import json, sys
work, binary, seed, runs = sys.argv[1:]
names = ["adaptive", "fixed-3", "fixed-4", "fixed-5"]
reports = {n: json.load(open(f"{work}/{n}.json")) for n in names}
rows = []
for n in names:
    d, s = reports[n]["dataset"], reports[n]["strategies"]
    rows.append({
        "run": n,
        "tasks": d["evaluated_tasks"],
        "labels_per_task": d["labels_per_task"],
        "export_accuracy": d["accuracy"],
        "dawid_skene_accuracy": d["ds_accuracy"],
        "majority_vote_accuracy": d["majority_vote_accuracy"],
        "honest_roi": s["honest"]["roi_mean"],
        "honest_rewarded": s["honest"]["tiers"]["rewarded"],
        "random_roi": s["random"]["roi_mean"],
        "lazy_roi": s["lazy"]["roi_mean"],
        "flipper_roi": s["flipper"]["roi_mean"],
        "targets_not_met": [t["name"] for t in reports[n]["targets"] if not t["met"]],
    })
json.dump({"seed": int(seed), "runs": int(runs), "rows": rows}, open("bench/results/adaptive.json", "w"), indent=1)
lines = [
    "# Adaptive rounds inside an experiment",
    "",
    f"Produced by `bash bench/adaptive.sh {binary} {seed} {runs}` ({runs} runs from seed {seed}): "
    "`scenarios/adaptive.toml` (three rounds; a task is asked again until its weighted vote is 95% sure, "
    "up to 7 labels; half the population is kept for the later rounds) against the same population "
    "with a fixed overlap and one round (everyone works in it).",
    "",
    "| run | regular tasks | labels a task | export accuracy | Dawid-Skene, all labels | majority vote | careful ROI | careful rewarded | random ROI | lazy ROI | flipper ROI | targets not met |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
]
for r in rows:
    lines.append(
        f"| {r['run']} | {r['tasks']} | {r['labels_per_task']:.2f} | {r['export_accuracy']:.4f} | "
        f"{r['dawid_skene_accuracy']:.4f} | {r['majority_vote_accuracy']:.4f} | {r['honest_roi']:+.3f} | "
        f"{r['honest_rewarded']:.2f} | {r['random_roi']:+.3f} | {r['lazy_roi']:+.3f} | {r['flipper_roi']:+.3f} | "
        f"{', '.join(r['targets_not_met']) or 'none'} |")
open("bench/results/adaptive.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
