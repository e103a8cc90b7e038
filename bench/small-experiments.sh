#!/usr/bin/env bash
# Every adversary at the size of a real experiment: each shipped scenario with one batch per
# identity (50 scored items; 38 in the HH scenario) and the pool cut in proportion, every
# target checked. Writes bench/results/small-experiments.{md,json}. The copies live two folders
# deep, one more than scenarios/, so a relative task source gains a `../`.
#
#   bash bench/small-experiments.sh [PLUMBLINE_BINARY] [FIRST_SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/plumbline}
seed=${2:-2001}
work=target/bench-small
rm -rf "$work" && mkdir -p "$work"

names=()
for scenario in scenarios/*.toml; do
  name=$(basename "$scenario" .toml)
  # The qualification scenario is one batch per identity already.
  [ "$name" = qualification ] && continue
  batches=$(sed -n 's/^batches_per_labeler = //p' "$scenario")
  pool=$(sed -n 's/^reward_pool = //p' "$scenario")
  sed -e "s/^batches_per_labeler = .*/batches_per_labeler = 1/" \
    -e "s/^reward_pool = .*/reward_pool = $((pool / batches))/" \
    -e "s/^seed = .*/seed = $seed/" \
    -e 's|^source = "\.\./|source = "../../|' \
    "$scenario" >"$work/$name.toml"
  echo "== $name (one batch per identity, seeds from $seed)" >&2
  # --check fails the run when a target is not met; the table reports it instead.
  "$bin" simulate --scenario "$work/$name.toml" --check --report "$work/$name" \
    >"$work/$name.out" 2>&1 || true
  names+=("$name")
done

python3 - "$work" "$seed" "${names[@]}" <<'EOF'
import json, sys
work, seed, names = sys.argv[1], sys.argv[2], sys.argv[3:]
rows, out = [], {}
for name in names:
    r = json.load(open(f"{work}/{name}/report.json"))
    s = r["strategies"]
    careful = s.get("honest", {})
    out[name] = {
        "scored_items_mean": r["market"]["scored_items_mean"],
        "runs": len(r["seeds"]),
        "careful_rewarded": careful.get("tiers", {}).get("rewarded"),
        "roi": {g: v["roi_mean"] for g, v in s.items()},
        "honest_false_slash_rate": r["honest_false_slash_rate"],
        "export": r["dataset"]["accuracy"],
        "dawid_skene": r["dataset"]["ds_accuracy"],
        "majority_vote": r["dataset"]["majority_vote_accuracy"],
        "targets_not_met": [t["name"] for t in r["targets"] if not t["met"]],
    }
json.dump({"command": f"bash bench/small-experiments.sh target/release/plumbline {seed}",
           "scenarios": out}, open("bench/results/small-experiments.json", "w"), indent=2)
lines = [
    "# Every adversary at the size of a real experiment",
    "",
    f"`bash bench/small-experiments.sh target/release/plumbline {seed}`: each shipped scenario",
    "(but `qualification`, one batch per identity already) with one batch per identity and the",
    f"pool cut in proportion, seeds from {seed}, every target of `plumbline simulate --check`.",
    "",
    "| scenario | items | runs | careful rewarded | ROI by strategy | honest false-slash | export / DS / MV | targets not met |",
    "|---|---:|---:|---:|---|---:|---|---|",
]
for name, x in out.items():
    roi = ", ".join(f"{g.replace('_', '-')} {v:+.3f}" for g, v in sorted(x["roi"].items()))
    rewarded = "–" if x["careful_rewarded"] is None else f"{100 * x['careful_rewarded']:.1f}%"
    lines.append(
        f"| `{name}` | {x['scored_items_mean']:.0f} | {x['runs']} | {rewarded} | {roi} | "
        f"{x['honest_false_slash_rate']:.4f} | {x['export']:.3f} / {x['dawid_skene']:.3f} / "
        f"{x['majority_vote']:.3f} | {', '.join(x['targets_not_met']) or 'none'} |"
    )
open("bench/results/small-experiments.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
