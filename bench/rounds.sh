#!/usr/bin/env bash
# Adaptive rounds: dynamic overlap replayed on every shared dataset with truth, and the crowd's
# best of 64 against a replicated knockout at several spreads of response quality, on a seed
# of your choice. Writes bench/results/rounds.{md,json}.
#
#   bash bench/rounds.sh [PLUMBLINE_BINARY] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/plumbline}
seed=${2:-1}
data=../shared/datasets
work=target/bench-rounds
rm -rf "$work" && mkdir -p "$work"

for dir in "$data"/*/; do
  name=$(basename "$dir")
  [ -f "$dir/truth.csv" ] || continue
  echo "== overlap: $name" >&2
  "$bin" rounds overlap --input "$dir/labels.csv" --truth "$dir/truth.csv" --seed "$seed" --json \
    >"$work/overlap-$name.json"
done
# No spread: only the labelers' skill is noise. Then Bradley-Terry spreads from wide to narrow.
for spread in none 4 2 1; do
  echo "== best of 64: spread $spread" >&2
  # Without a spread the tournament is also played as rounds of real experiments.
  args=(--experiment-runs 500)
  [ "$spread" = none ] || args=(--spread "$spread")
  "$bin" rounds best-of --runs 1000 --seed "$seed" "${args[@]}" --json >"$work/best-of-$spread.json"
done

python3 - "$work" "$seed" "$bin" <<'PY'
import glob, json, os, sys
work, seed, binary = sys.argv[1], sys.argv[2], sys.argv[3]
overlap = {os.path.basename(p)[8:-5]: json.load(open(p)) for p in sorted(glob.glob(f"{work}/overlap-*.json"))}
best_of = {os.path.basename(p)[8:-5]: json.load(open(p)) for p in sorted(glob.glob(f"{work}/best-of-*.json"))}
json.dump({"seed": int(seed), "overlap": overlap, "best_of": best_of}, open("bench/results/rounds.json", "w"), indent=1)

lines = [
    "# Adaptive rounds",
    "",
    f"Produced by `bash bench/rounds.sh {binary} {seed}` (seed {seed}).",
    "",
    "## Dynamic overlap on real crowd data",
    "",
    "Each task starts with 3 of its real labels, drawn in a seeded order; after each round, a task",
    "whose peer-weighted vote is less than 0.99 sure of its leader gets one more, until its labels",
    "run out. Accuracy is Dawid-Skene over the labels collected, against Dawid-Skene over every",
    "label (the full overlap) and over a fixed overlap spending the same number of labels (each",
    "task the same share of its labels).",
    "",
    "| dataset | labels, full | accuracy, full | labels, dynamic | share | rounds | accuracy, dynamic | accuracy, fixed at the same budget | same accuracy with ≤ 60% | higher than fixed at the same budget |",
    "|---|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|",
]
for name, r in overlap.items():
    same = r["accuracy_dynamic"] >= r["accuracy_full"] and r["share"] <= 0.6
    higher = r["accuracy_dynamic"] > r["accuracy_fixed"]
    lines.append(
        f"| {name} | {r['labels_full']:,} | {100*r['accuracy_full']:.2f}% | {r['labels_dynamic']:,} | {r['share']:.3f} | {r['rounds']} "
        f"| {100*r['accuracy_dynamic']:.2f}% | {100*r['accuracy_fixed']:.2f}% | {'yes' if same else 'no'} | {'yes' if higher else 'no'} |"
    )
lines += [
    "",
    "## The crowd's best of 64",
    "",
    "1,000 runs each: 64 responses with Bradley-Terry qualities, 20 labelers of skill Beta(8, 2),",
    "each with 10 practice comparisons of known answer behind its weight and at most 40",
    "comparisons; the tournament at confidence 0.95 with a budget of 400 comparisons. The peer, on",
    "the same responses and labelers in the same run: a knockout with 9 equal votes per match.",
    "",
    "\"As rounds of an experiment\" plays the same tournament through the protocol, 500 times, on",
    "the same labelers' skills: one best-of task of 64 responses imported as its 2,016 pairs, the",
    "comparisons of each round dealt in blocks of 4 with one gold comparison each to whoever",
    "joins and is admitted (a later round admits the heaviest labelers who may answer each",
    "match), at most 10 batches a labeler (40 comparisons of matches, gold on top), votes weighed",
    "by the experiment's own gold instead of practice, every label committed and revealed, and",
    "the experiment settled, replayed from its record, and its knockout read back.",
    "",
    "| spread of quality | method | best chosen | one of the best 3 | comparisons (mean) | comparisons (most) | per labeler (most) | rounds (mean) | stated confidence |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
]
order = ["none", "4", "2", "1"]
for spread in order:
    r = best_of[spread]
    label = "none (skill only)" if spread == "none" else spread
    methods = [("adaptive tournament", r["tournament"]), ("knockout, 9 votes", r["replicated_knockout"])]
    if r.get("in_experiment"):
        methods.append(("as rounds of an experiment", r["in_experiment"]))
    for method, m in methods:
        stated = "" if m["stated_confidence"] is None else f"{m['stated_confidence']:.3f}"
        lines.append(
            f"| {label} | {method} | {100*m['best_chosen']:.1f}% | {100*m['top3_chosen']:.1f}% | {m['comparisons_mean']:.0f} | {m['comparisons_max']} "
            f"| {m['per_labeler_max']} | {m['rounds_mean']:.1f} | {stated} |"
        )
open("bench/results/rounds.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
