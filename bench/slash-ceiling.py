"""The most flippers any valid slashing test can catch, beside what the mechanism catches.

A flipper of skill s answers right with probability 1 − s. The simulator draws s from
Beta(8, 2), as `scenarios/baseline.toml` does, so a few flippers sit near chance (and 2% above
it: s < 0.5). Suppose a test knew the truth of every item a flipper labeled, gold or not. Its
right answers on n items are then Binomial(n, 1 − s), and a labeler at chance is Binomial(n,
1/2); by Neyman and Pearson, no test that slashes a labeler at chance with probability at most
α catches a flipper of skill s more often than the randomized binomial test "few right answers"
does, at every s at once. Averaged over Beta(8, 2) that is the ceiling below, at α = δ/2 = 0.005
(the share of δ = 0.01 the career's test gets; the strata get the other half). The mechanism
knows the truth of its gold items only (a fifth here) and reads the rest from its peers, who err
too, and it keeps its false slash rate over a whole career rather than one experiment: it sits
below the ceiling. The mechanism's share is read from `bench/results/sizes.json`
(`bash bench/sizes.sh`). Writes bench/results/slash-ceiling.{md,json}.

    python3 bench/slash-ceiling.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

ALPHA = 0.005
ITEMS = [20, 50, 100, 150, 200, 250, 500]
RESULTS = Path(__file__).resolve().parent / "results"


def log_binomial_pmf(n: int, k: int, p: float) -> float:
    if p in (0.0, 1.0):
        return 0.0 if (k == n if p == 1.0 else k == 0) else -math.inf
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def pmf(n: int, p: float) -> list[float]:
    return [math.exp(log_binomial_pmf(n, k, p)) for k in range(n + 1)]


def most_powerful_test(n: int) -> tuple[int, float]:
    """Slash with at most k right answers, and with probability γ at k + 1, at level ALPHA."""
    null = pmf(n, 0.5)
    below, k = 0.0, -1
    while below + null[k + 1] <= ALPHA:
        k += 1
        below += null[k]
    return k, (ALPHA - below) / null[k + 1]


def power(n: int, skill: float, test: tuple[int, float]) -> float:
    k, gamma = test
    right = pmf(n, 1.0 - skill)
    return sum(right[: k + 1]) + gamma * right[k + 1]


def beta_8_2(s: float) -> float:
    return 72.0 * s**7 * (1.0 - s)


def ceiling(n: int, steps: int = 2000) -> float:
    """Power averaged over Beta(8, 2) skill (Simpson's rule on [0, 1])."""
    test = most_powerful_test(n)
    h = 1.0 / steps
    total = 0.0
    for i in range(steps + 1):
        s = i * h
        weight = 1 if i in (0, steps) else (4 if i % 2 else 2)
        total += weight * beta_8_2(s) * power(n, s, test)
    return total * h / 3


def main() -> None:
    sizes = json.loads((RESULTS / "sizes.json").read_text())["variants"]
    measured = {round(v["scored_items_mean"]): v["flipper_slashed"]
                for name, v in sizes.items() if name.startswith("items-")}
    career = sizes.get("career-50x20", {}).get("flipper_slashed_by_round", [])
    rows = []
    for n in ITEMS:
        rows.append({"items": n, "ceiling": ceiling(n), "mechanism": measured.get(n),
                     "mechanism_career": career[n // 50 - 1] if n % 50 == 0 and n // 50 <= len(career) else None})
    above_chance = sum(beta_8_2(i / 2000) for i in range(1, 1000)) / 2000
    (RESULTS / "slash-ceiling.json").write_text(json.dumps(
        {"command": "python3 bench/slash-ceiling.py", "alpha": ALPHA, "rows": rows,
         "flippers_above_chance": above_chance}, indent=2) + "\n")
    pct = lambda x: "–" if x is None else f"{100 * x:.1f}%"
    lines = [
        "# The most flippers a slashing test can catch",
        "",
        "`python3 bench/slash-ceiling.py` (exact; the mechanism's columns from `bench/results/sizes.json`)",
        "",
        "Flippers of Beta(8, 2) skill, as in the `baseline` market. *Ceiling*: the share that the most",
        "powerful test at α = δ/2 = 0.005 slashes in one experiment of n items, even knowing the",
        "truth of every item (Neyman-Pearson: the randomized binomial test is most powerful at every",
        f"skill at once). {100 * above_chance:.1f}% of such flippers are above chance (skill below 0.5) and",
        "cannot be slashed by any valid test. *Mechanism, one experiment*: the `items-n` variants",
        "(gold a fifth of the items, the rest scored against peers); *career*: the k-th of 20",
        "experiments of 50 items, whose record then holds n = 50·k items.",
        "",
        "| items | ceiling | mechanism, one experiment | mechanism, career |",
        "|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['items']} | {pct(r['ceiling'])} | {pct(r['mechanism'])} | {pct(r['mechanism_career'])} |")
    (RESULTS / "slash-ceiling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
