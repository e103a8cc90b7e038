#!/usr/bin/env bash
# A server load benchmark of two revisions in one run: the working tree against REV, alternated
# ROUNDS times so that a drift of the machine weighs on both alike. BENCH is `load` (one SQLite
# server; the default) or `scale` (SQLite, PostgreSQL with one replica and with three; about 15
# minutes a run; only the configurations both revisions' benchmarks run are compared). REV is built in a temporary worktree into a target directory of its own
# (target/bench-load-ab-base, kept for the next run): cargo names a workspace crate's artifacts
# by its path inside the workspace, so two checkouts sharing one target directory would take
# each other's crates for their own. Writes bench/results/BENCH-ab.{md,json}.
#
#   bash bench/load-ab.sh REV [ROUNDS] [BENCH]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bash bench/load-ab.sh REV [ROUNDS] [load|scale]}
rounds=${2:-3}
bench=${3:-load}
case "$bench" in
  load) results=load ;;
  scale) results=load-scale ;;
  *) echo "BENCH is load or scale, not $bench" >&2; exit 2 ;;
esac
root=$PWD
target=$root/target
work=$target/bench-$bench-ab
rm -rf "$work" && mkdir -p "$work"
worktree=$work/base
git worktree add --detach -f "$worktree" "$rev" >/dev/null
trap 'git worktree remove --force "$worktree"' EXIT

# Builds one side's benchmark; each benchmark starts the server binary of its own target
# directory.
build() {
  local side=$1 dir=$2 side_target=$3
  local exe
  exe=$(cd "$dir" && CARGO_TARGET_DIR=$side_target cargo bench -p plumbline --bench "$bench" --no-run \
    --message-format=json 2>>"$work/build.log" | BENCH=$bench python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-message":
        print(m["message"]["rendered"], file=sys.stderr)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == os.environ["BENCH"] and m.get("executable"):
        print(m["executable"])' 2>>"$work/build.log")
  cp "$exe" "$work/$bench-$side"
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
    (cd "$(cat "$work/dir-$side")/crates/cli" && "$work/$bench-$side" --bench >"$work/$side-$round.log" 2>&1)
    cp "$(cat "$work/dir-$side")/bench/results/$results.json" "$work/$side-$round.json"
  done
done
git checkout -- "bench/results/$results.json" "bench/results/$results.md" 2>/dev/null || true

python3 - "$work" "$rev" "$rounds" "$bench" <<'EOF'
import json, statistics, sys
work, rev, rounds, bench = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
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
def configurations(run):
    # `load` is one configuration; `scale` lists several.
    if "configurations" not in run:
        return {"sqlite, 1 replica": figures(run)}
    def name(c):
        routing = f", {c['routing']}" if c["replicas"] > 1 and "routing" in c else ""
        return f"{c['db']}, {c['replicas']} replica{'s' if c['replicas'] > 1 else ''}{routing}"
    return {name(c): figures(c) for c in run["configurations"]}
table = {side: [configurations(r) for r in rs] for side, rs in runs.items()}
# Configurations both revisions' benchmarks ran (a revision may have added some).
names = [n for n in table["head"][0] if n in table["base"][0]]
keys = [k for k in table["base"][0][names[0]] if k != "passed"]
medians = {side: {n: {k: statistics.median(run[n][k] for run in table[side]) for k in keys}
                  for n in names} for side in table}
ratios = {n: {k: medians["head"][n][k] / medians["base"][n][k] for k in keys} for n in names}
command = f"bash bench/load-ab.sh {rev} {rounds} {bench}"
out = {"benchmark": f"{bench}-ab", "command": command, "base": rev, "rounds": rounds,
       "runs": table, "medians": medians, "head_over_base": ratios}
json.dump(out, open(f"bench/results/{bench}-ab.json", "w"), indent=1)
labels = [("committed_labels_per_sec", "committed labels/s", "{:.0f}"),
          ("commit_p99_ms", "commit p99 ms", "{:.2f}"),
          ("join_per_sec", "joins/s", "{:.0f}"),
          ("reveal_per_sec", "reveals/s", "{:.0f}"),
          ("commit_server_cpu_ms", "server CPU ms per commit", "{:.3f}")]
lines = [f"# {bench.capitalize()} benchmark, two revisions in one run", "",
         f"`{command}`: `cargo bench -p plumbline --bench {bench}` of `{rev}` (base) and of the "
         f"working tree (head), alternated {rounds} time{'s' if rounds > 1 else ''} on this "
         "machine (2 cores); medians of the runs, and head over base.", "",
         "| configuration | figure | base | head | head / base |", "|---|---|---|---|---|"]
for n in names:
    for key, name, fmt in labels:
        lines.append(f"| {n} | {name} | {fmt.format(medians['base'][n][key])} | "
                     f"{fmt.format(medians['head'][n][key])} | {ratios[n][key]:.3f} |")
lines += ["", "Every run:", "",
          "| configuration | side | round | " + " | ".join(l for _, l, _ in labels) + " | checks |",
          "|---|---|---|" + "---|" * len(labels) + "---|"]
for n in names:
    for side in ("base", "head"):
        for r, run in enumerate(table[side], 1):
            f = run[n]
            cells = " | ".join(fmt.format(f[k]) for k, _, fmt in labels)
            lines.append(f"| {n} | {side} | {r} | {cells} | {'passed' if f['passed'] else 'FAILED'} |")
open(f"bench/results/{bench}-ab.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
