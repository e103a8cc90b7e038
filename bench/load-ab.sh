#!/usr/bin/env bash
# The load benchmark (`cargo bench -p plumbline --bench load`) of two revisions in one run: the
# working tree against REV, alternated ROUNDS times so that a drift of the machine weighs on both
# alike. REV is built in a temporary worktree into a target directory of its own
# (target/bench-load-ab-base, kept for the next run): cargo names a workspace crate's artifacts
# by its path inside the workspace, so two checkouts sharing one target directory would take
# each other's crates for their own. Writes bench/results/load-ab.{md,json}.
#
#   bash bench/load-ab.sh REV [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bash bench/load-ab.sh REV [ROUNDS]}
rounds=${2:-3}
root=$PWD
target=$root/target
work=$target/bench-load-ab
rm -rf "$work" && mkdir -p "$work"
worktree=$work/base
git worktree add --detach -f "$worktree" "$rev" >/dev/null
trap 'git worktree remove --force "$worktree"' EXIT

# Builds one side's benchmark; each benchmark starts the server binary of its own target
# directory.
build() {
  local side=$1 dir=$2 side_target=$3
  local exe
  exe=$(cd "$dir" && CARGO_TARGET_DIR=$side_target cargo bench -p plumbline --bench load --no-run \
    --message-format=json 2>>"$work/build.log" | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-message":
        print(m["message"]["rendered"], file=sys.stderr)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "load" and m.get("executable"):
        print(m["executable"])' 2>>"$work/build.log")
  cp "$exe" "$work/load-$side"
  echo "$dir" >"$work/dir-$side"
}
echo "building $rev"
build base "$worktree" "$target/bench-load-ab-base"
echo "building the working tree"
build head "$root" "$target"

for round in $(seq 1 "$rounds"); do
  for side in base head; do
    echo "round $round: $side"
    # A benchmark writes its results beside its own sources: read them back from there.
    (cd "$(cat "$work/dir-$side")/crates/cli" && "$work/load-$side" --bench >"$work/$side-$round.log" 2>&1)
    cp "$(cat "$work/dir-$side")/bench/results/load.json" "$work/$side-$round.json"
  done
done
git checkout -- bench/results/load.json bench/results/load.md 2>/dev/null || true

python3 - "$work" "$rev" "$rounds" <<'EOF'
import json, statistics, sys
work, rev, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = {side: [json.load(open(f"{work}/{side}-{r}.json")) for r in range(1, rounds + 1)]
        for side in ("base", "head")}
def figures(run):
    return {
        "committed_labels_per_sec": run["committed_labels_per_sec"],
        "commit_p99_ms": run["commit"]["latency_ms"]["p99"],
        "join_per_sec": run["join"]["requests_per_sec"],
        "reveal_per_sec": run["reveal"]["requests_per_sec"],
        "commit_server_cpu_ms": run["commit"]["server_cpu_ms_per_request"],
        "passed": run["passed"],
    }
table = {side: [figures(r) for r in rs] for side, rs in runs.items()}
medians = {side: {k: statistics.median(f[k] for f in fs) for k in fs[0] if k != "passed"}
           for side, fs in table.items()}
ratios = {k: medians["head"][k] / medians["base"][k] for k in medians["head"]}
out = {"benchmark": "load-ab", "command": f"bash bench/load-ab.sh {rev} {rounds}", "base": rev,
       "rounds": rounds, "runs": table, "medians": medians, "head_over_base": ratios}
json.dump(out, open("bench/results/load-ab.json", "w"), indent=1)
names = [("committed_labels_per_sec", "committed labels/s", "{:.0f}"),
         ("commit_p99_ms", "commit p99 ms", "{:.2f}"),
         ("join_per_sec", "joins/s", "{:.0f}"),
         ("reveal_per_sec", "reveals/s", "{:.0f}"),
         ("commit_server_cpu_ms", "server CPU ms per commit", "{:.3f}")]
lines = ["# Load benchmark, two revisions in one run", "",
         f"`bash bench/load-ab.sh {rev} {rounds}`: `cargo bench -p plumbline --bench load` of "
         f"`{rev}` (base) and of the working tree (head), alternated {rounds} times on this machine "
         "(2 cores); medians of the runs, and head over base.", "",
         "| figure | base | head | head / base |", "|---|---|---|---|"]
for key, name, fmt in names:
    lines.append(f"| {name} | {fmt.format(medians['base'][key])} | {fmt.format(medians['head'][key])} "
                 f"| {ratios[key]:.3f} |")
lines += ["", "Every run:", "", "| side | round | " + " | ".join(n for _, n, _ in names) + " | checks |",
          "|---|---|" + "---|" * len(names) + "---|"]
for side in ("base", "head"):
    for r, f in enumerate(table[side], 1):
        cells = " | ".join(fmt.format(f[k]) for k, _, fmt in names)
        lines.append(f"| {side} | {r} | {cells} | {'passed' if f['passed'] else 'FAILED'} |")
open("bench/results/load-ab.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
