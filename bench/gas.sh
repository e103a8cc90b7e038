#!/usr/bin/env bash
# The gas of one experiment (1000 tasks x overlap 5, 50 labelers with 2 batches of 50 tasks,
# seed 1) on a fresh anvil, two ways in one run: relayed from the core in process
# (`plumbline-bench relay-gas`) and through the server in chain mode (`plumbline-bench gas`).
# Writes bench/results/gas.{md,json}.
#
#   bash bench/gas.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/contracts/node_modules/.bin:$PATH
cargo build --release -p plumbline-harness
bin=target/release/plumbline-bench
work=target/bench-gas
rm -rf "$work" && mkdir -p "$work"
"$bin" relay-gas --json >"$work/relay.json"
"$bin" gas --json >"$work/server.json"

python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
GAS_PER_LABEL_MAX = 1000
runs = [
    ("relay", "plumbline-bench relay-gas --json", "Relayed from the core in process"),
    ("server", "plumbline-bench gas --json", "Through the server in chain mode"),
]
doc = {"benchmark": "gas", "runs": {}}
md = ["# Gas benchmark", "",
      "`bash bench/gas.sh`: one experiment on a fresh anvil (from `contracts/node_modules`), "
      "driven by the simulator's market loop, two ways in one run.", ""]
for name, command, title in runs:
    r = json.load(open(f"{work}/{name}.json"))
    checks = [
        {"check": f"at most {GAS_PER_LABEL_MAX} gas per label",
         "passed": r["gas_per_label"] <= GAS_PER_LABEL_MAX},
        {"check": "every market balance equals the settlement",
         "passed": r["balances_checked"] == r["labelers"] + 1},
    ]
    doc["runs"][name] = {"command": command, "result": r, "checks": checks}
    md += [f"## {title}: `{command}`", "",
           f"**{r['gas_per_label']} gas per label**, {r['gas_total']:,} gas in all, for "
           f"{r['labels']:,} labels: {r['tasks']} tasks × overlap {r['overlap']}, "
           f"{r['batches']} batches of {r['tasks_per_batch']} tasks, {r['labelers']} labelers.", "",
           "| transactions | count | gas | per label |", "|---|---|---|---|"]
    for call, g in sorted(r["gas"].items()):
        md.append(f"| {call} | {g['transactions']} | {g['gas']:,} | {g['gas'] // r['labels']} |")
    md += [f"| **all** | | **{r['gas_total']:,}** | **{r['gas_per_label']}** |", "",
           "Checks:", ""]
    md += [f"- [{'x' if c['passed'] else ' '}] {c['check']}" for c in checks]
    md.append("")
md += [
    "Both runs are the same market: careful labelers (right nine times in ten) on binary tasks, "
    "joins in a seeded order, every stake lock and commit relayed 50 entries to a transaction in "
    "arrival order, the settlement posted after the reveal deadline, every leaf paid in one "
    "`distribute` after the challenge window, the rest refunded. In process, the core runs the "
    "protocol in the contract's domain and the settled round is relayed as the operator's relayer "
    "would; through the server, `plumbline serve` runs in chain mode in process (test clock moved "
    "in step with anvil's time), the creator escrows the pool from its wallet, and the server's "
    "relayer does the rest. Gas is summed from the receipts of every market transaction after "
    "the labelers' deposits (one stake more than their joins lock, so balances stay non-zero as "
    "a returning labeler's do), which serve every later experiment and are left out, as in the "
    "contract's gas test (`contracts/README.md`). The server draws 12 bytes of each experiment id "
    "at random, so its calldata and total vary by a few dozen gas from run to run.",
    "",
    "Before reporting, each run checks the money exactly: every labeler's market balance is its "
    "deposit less its stakes plus its payout, the creator's grew by the refund, the burn address "
    "holds what was burned, and the market holds exactly the balances it owes.",
    "",
]
json.dump(doc, open("bench/results/gas.json", "w"), indent=2, sort_keys=True)
open("bench/results/gas.json", "a").write("\n")
open("bench/results/gas.md", "w").write("\n".join(md))
failed = [c["check"] for r in doc["runs"].values() for c in r["checks"] if not c["passed"]]
if failed:
    sys.exit("checks failed: " + "; ".join(failed))
EOF
echo "wrote bench/results/gas.md and gas.json"
