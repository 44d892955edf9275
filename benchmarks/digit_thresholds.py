"""How many counts each digit test needs before its p-value can be trusted.

The chi-square approximations behind the digit tests hold for many counts; with few,
a test can reject a clean election far more (or less) often than alpha. This script
measures each test's false-positive rate as a function of the number of counts it
sees (counts >= the minimum count, 100), on clean elections from the independent
generator (``second_generator.py``: regional logit-normal turnout, Dirichlet shares,
log-normal station sizes), with every threshold lowered to 20 counts, and prints the smallest
size from which the rate is trusted in every larger bin
(a rate of at most 8% at alpha 0.05, the lower end of its binomial 95% interval
too; a conservative test is safe). ``MIN_COUNTS`` is that size, never below 50.
``kzvote/methods/digits.py`` (``MIN_COUNTS``) takes its thresholds from this table.

    python benchmarks/digit_thresholds.py [--elections 1600] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from second_generator import election  # noqa: E402

from kzvote.methods.common import Context  # noqa: E402
from kzvote.methods.digits import MIN_COUNTS, TESTS, digit_tests  # noqa: E402
from kzvote.reading import table_from_frame  # noqa: E402

ALPHA = 0.05
BAND = (0.02, 0.08)
#: bins of the number of counts (>= 100) a test sees
EDGES = (20, 50, 100, 150, 200, 300, 500, 1000, 100_000)
#: eight parties: the small ones give few counts >= 100 per election
PARTIES = {
    "Leader": 0.42,
    "Second": 0.2,
    "Third": 0.12,
    "Fourth": 0.09,
    "Fifth": 0.07,
    "Sixth": 0.05,
    "Seventh": 0.035,
    "Against all": 0.015,
}


def run(elections: int, seed: int) -> dict:
    """(test, bin) -> [rejections, tests]"""
    rng = np.random.default_rng(seed)
    tally: dict = defaultdict(lambda: [0, 0])
    for i in range(elections):
        stations = int(rng.choice([150, 300, 600, 1200, 2500]))
        frame, _ = election(stations, 8, seed=seed * 100_000 + i, parties=PARTIES)
        table = table_from_frame(frame)
        ctx = Context(
            table.leader(),
            "national",
            np.random.default_rng(i),
            options={"digit_min_counts": EDGES[0]},
        )
        for r in digit_tests(table, ctx):
            if r.test not in TESTS or r.subject == "pooled" or r.p_value is None or r.n < 20:
                continue
            b = int(np.searchsorted(EDGES, r.n, side="right")) - 1
            cell = tally[(r.test, b)]
            cell[0] += r.p_value < ALPHA
            cell[1] += 1
    return tally


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--elections", type=int, default=1600)
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args()
    start = time.perf_counter()
    tally = run(opts.elections, opts.seed)
    print(
        f"{opts.elections} clean elections (independent generator, 8 parties), "
        f"{time.perf_counter() - start:.0f} s; false-positive rate at alpha {ALPHA} "
        "by the number of counts >= 100 the test saw"
    )
    labels = [f"{EDGES[b]}-{EDGES[b + 1] - 1}" for b in range(len(EDGES) - 1)]
    labels[-1] = f"{EDGES[-2]}+"
    print("each cell: rate % [95% interval] tests; ! = above 8%")
    print(f"{'counts':>10} " + " ".join(f"{t:>26}" for t in TESTS))
    good = {t: [] for t in TESTS}
    for b, label in enumerate(labels):
        cells = []
        for test in TESTS:
            k, n = tally.get((test, b), (0, 0))
            if n == 0:
                cells.append(f"{'-':>26}")
                good[test].append(None)
                continue
            ci = binomtest(k, n).proportion_ci(0.95)
            # trusted: the rate is at most the band's top and not shown to exceed it (a
            # conservative test, rejecting less often than alpha, is safe, if weak)
            trusted = k / n <= BAND[1] and ci.low <= BAND[1]
            good[test].append(bool(trusted))
            mark = " " if trusted else "!"
            cells.append(
                f"{100 * k / n:5.1f} [{100 * ci.low:4.1f},{100 * ci.high:5.1f}] {n:>5}{mark}".rjust(
                    26
                )
            )
        print(f"{label:>10} " + " ".join(cells))
    print("\nsmallest size from which every bin is trusted, against digits.MIN_COUNTS:")
    for test in TESTS:
        flags = good[test]
        first = None
        for b in range(len(flags)):
            if all(f is not False for f in flags[b:]) and flags[b] is not None:
                first = EDGES[b]
                break
        rule = None if first is None else max(first, 50)
        print(
            f"  {test:16} measured {first} (rule: {rule}); digits.MIN_COUNTS {MIN_COUNTS[test]}"
            + ("" if rule == MIN_COUNTS[test] else "  <- differs")
        )


if __name__ == "__main__":
    main()
