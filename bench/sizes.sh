#!/usr/bin/env bash
# Quality pays at the size of a real experiment: the `baseline` market with each identity scored
# on 10 to 500 items in one experiment, and careers of 20 experiments of 50 items, on fresh seeds.
# Writes bench/results/sizes.{md,json}.
#
#   bash bench/sizes.sh [PLUMBLINE_BINARY] [FIRST_SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/plumbline}
seed=${2:-1001}
work=target/bench-sizes
rm -rf "$work" && mkdir -p "$work"

# name, block size, gold per batch, batches per identity, rounds, runs, qualification (30
# practice items at a score of 0.15 before joining, as in scenarios/qualification.toml)
variants=(
  "items-10 8 2 1 1 20 no"
  "items-20 16 4 1 1 20 no"
  "items-50 40 10 1 1 20 no"
  "items-100 40 10 2 1 20 no"
  "items-150 40 10 3 1 20 no"
  "items-250 40 10 5 1 20 no"
  "items-500 40 10 10 1 10 no"
  "career-50x20 40 10 1 20 20 no"
  "gated-20 16 4 1 1 20 yes"
  "gated-50 40 10 1 1 20 yes"
  "gated-100 40 10 2 1 20 yes"
)
for variant in "${variants[@]}"; do
  read -r name block gold batches rounds runs gated <<<"$variant"
  # The pool stays a fifth of all stakes: 100 identities at 1,000,000 per batch.
  pool=$((20000000 * batches))
  sed -e "s/^name = .*/name = \"$name\"/" \
    -e "s/^runs = .*/runs = $runs\nrounds = $rounds/" \
    -e "s/^seed = .*/seed = $seed/" \
    -e "s/^block_size = .*/block_size = $block/" \
    -e "s/^gold_per_batch = .*/gold_per_batch = $gold/" \
    -e "s/^batches_per_labeler = .*/batches_per_labeler = $batches/" \
    -e "s/^reward_pool = .*/reward_pool = $pool/" \
    scenarios/baseline.toml >"$work/$name.toml"
  if [ "$gated" = yes ]; then
    printf '\n[qualification]\nitems = 30\nscore_min = 0.15\n' >>"$work/$name.toml"
  fi
  echo "== $name ($runs runs from seed $seed)" >&2
  "$bin" simulate --scenario "$work/$name.toml" --report "$work/$name" >"$work/$name.out"
done

python3 - "$work" "$seed" "${variants[@]}" <<'EOF'
import json, sys
work, seed, variants = sys.argv[1], sys.argv[2], sys.argv[3:]
rows, out = [], {}
for v in variants:
    name = v.split()[0]
    r = json.load(open(f"{work}/{name}/report.json"))
    s = r["strategies"]
    tiers = lambda g, t: s[g]["tiers"][t] if g in s else float("nan")
    roi = lambda g: s[g]["roi_mean"] if g in s else float("nan")
    d = r["dataset"]
    flip_rounds = s.get("flipper", {}).get("slashed_by_round", [])
    out[name] = {
        "scored_items_mean": r["market"]["scored_items_mean"],
        "rounds": r["rounds"],
        "runs": len(r["seeds"]),
        "honest_rewarded": tiers("honest", "rewarded"),
        "flipper_slashed": tiers("flipper", "slashed"),
        "flipper_slashed_by_round": flip_rounds,
        "roi": {g: roi(g) for g in ["honest", "fatigue", "lazy", "random", "always_left", "flipper"]},
        "rewarded": {g: tiers(g, "rewarded") for g in ["lazy", "random", "always_left"]},
        "chance_level_rounds": {g: s[g]["identities"] * len(r["seeds"]) * r["rounds"]
                                for g in ["lazy", "random", "always_left"] if g in s},
        "honest_ever_slashed": r["honest_false_slash_rate"],
        "honest_chance_fee": s["honest"].get("chance_fee_share"),
        "export": d["accuracy"], "dawid_skene": d["ds_accuracy"],
        "majority_vote": d["majority_vote_accuracy"],
        "reward_threshold": r["market"]["reward_threshold"],
        "false_reward_rate": r["mechanism"]["false_reward_rate"],
        "honest_qualified": (r.get("qualification") or {}).get("qualified_share", {}).get("honest"),
        "export_without_gate": (r.get("qualification") or {}).get("export_accuracy_without_gate"),
    }
json.dump({"command": f"bash bench/sizes.sh target/release/plumbline {seed}", "variants": out},
          open("bench/results/sizes.json", "w"), indent=2)
f = lambda x: f"{x:.3f}"
p = lambda x: f"{100 * x:.1f}%"
lines = [
    "# Quality at the size of a real experiment",
    "",
    f"`bash bench/sizes.sh target/release/plumbline {seed}`: the `baseline` market (80% careful",
    "labelers of Beta(8, 2) skill, 8% tiring, 3% each lazy, random, always-left and flipping) with",
    "each identity scored on the given items in one experiment (pool a fifth of all stakes), and",
    "careers of 20 consecutive experiments of 50 items with the record carried; seeds from "
    f"{seed}. The `gated` variants require 30 practice tasks at a score of 0.15 before joining:",
    "there, *careful rewarded* counts the careful labelers who qualified and joined, *of all",
    "careful* counts every careful labeler (one who did not qualify is not rewarded), and the",
    "export is compared with the same experiment run with everyone admitted.",
    "",
    "| variant | items | runs | careful qualified | careful rewarded | of all careful | careful ROI | flippers slashed | flipper ROI | lazy / random / always-left ROI | their rewarded share | honest ever slashed | careful charged the chance fee | export / DS / MV |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---|",
]
for name, x in out.items():
    roi = x["roi"]
    rew = x["rewarded"]
    qualified = x["honest_qualified"]
    admitted = "–" if qualified is None else p(qualified)
    of_all = p(x["honest_rewarded"] * (1.0 if qualified is None else qualified))
    export = f(x["export"])
    if x["export_without_gate"] is not None:
        export += f" (without the gate {f(x['export_without_gate'])})"
    lines.append(
        f"| {name} | {x['scored_items_mean']:.0f} | {x['runs']} | {admitted} | "
        f"{p(x['honest_rewarded'])} | {of_all} | "
        f"{roi['honest']:+.3f} | {p(x['flipper_slashed'])} | {roi['flipper']:+.3f} | "
        f"{roi['lazy']:+.4f} / {roi['random']:+.4f} / {roi['always_left']:+.4f} | "
        f"{p(rew['lazy'])} / {p(rew['random'])} / {p(rew['always_left'])} | "
        f"{x['honest_ever_slashed']:.4f} | {p(x['honest_chance_fee'])} | {export} / {f(x['dawid_skene'])} / {f(x['majority_vote'])} |"
    )
# Labelers at chance pass the reward test at its false reward rate exactly, so each cell above
# is a small sample around it; pooled over every size with everyone admitted, the share is
# measured closely enough to compare with the rate.
won = total = 0
for name, x in out.items():
    if x["honest_qualified"] is not None:
        continue
    for g, n in x["chance_level_rounds"].items():
        won += round(x["rewarded"][g] * n)
        total += n
if total:
    share = won / total
    z = 1.96
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * (share * (1 - share) / total + z * z / (4 * total * total)) ** 0.5 / (1 + z * z / total)
    rate = out[next(iter(out))]["false_reward_rate"]
    lines += ["", f"Lazy, random and always-left labelers rewarded, pooled over the variants with "
              f"everyone admitted: {won} of {total} labeler-experiments, {p(share)} (95% interval "
              f"{p(centre - half)}–{p(centre + half)}), against the false reward rate {p(rate)}."]
career = out.get("career-50x20", {}).get("flipper_slashed_by_round", [])
if career:
    lines += ["", "Flippers slashed per experiment of their careers of 50-item experiments "
              "(their record holds 50·k items at the k-th):", "",
              "| experiment | " + " | ".join(str(i + 1) for i in range(len(career))) + " |",
              "|---|" + "---:|" * len(career),
              "| slashed | " + " | ".join(p(v) for v in career) + " |"]
open("bench/results/sizes.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
