"""Calibration, power and speed of the integer-percentage test (exact null).

* False-positive rate: 200 simulated clean elections of 10,000 stations (fixed seeds);
  pass: 2-8% at alpha = 0.05 for each subject.
* Power: 5% of stations with turnout pushed to a whole percent; pass: >= 90%.
* Speed (issue 4): under 1 s at 100,000 stations and under 10 s at 1,000,000 (best of
  3 runs; the published Monte Carlo procedure with 1,000 replicates takes ~1.5 minutes).

    python benchmarks/bench_integers.py [--sims 200] [--power-sims 50] [--no-speed]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
from scipy.stats import binomtest

from kzvote.methods.common import Context
from kzvote.methods.integers import integer_percent
from kzvote.reading import table_from_frame
from kzvote.simulate import Scenario, simulate


def rates(sims: int, whole: float, seed0: int) -> dict:
    hits, runs = defaultdict(int), defaultdict(int)
    for i in range(sims):
        frame, _ = simulate(Scenario(stations=10_000, whole_percent_share=whole), seed=seed0 + i)
        table = table_from_frame(frame)
        for r in integer_percent(
            table, Context(table.leader(), "national", np.random.default_rng(i))
        ):
            key = (r.test, r.subject)
            runs[key] += 1
            hits[key] += r.p_value < 0.05
    return {k: (hits[k], runs[k]) for k in runs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--power-sims", type=int, default=50)
    parser.add_argument("--no-speed", action="store_true")
    opts = parser.parse_args()
    print(f"False-positive rate, {opts.sims} clean elections x 10,000 stations, alpha 0.05:")
    for (test, subject), (k, n) in rates(opts.sims, 0.0, 30_000).items():
        ci = binomtest(k, n).proportion_ci(0.95)
        ok = "ok" if 0.02 <= k / n <= 0.08 else "OUT OF 2-8%"
        print(
            f"  {test:<22}{subject:<14}{k:>4}/{n:<4} {k / n:.3f} [{ci.low:.3f}, {ci.high:.3f}] {ok}"
        )
    print(f"Power, 5% of stations with whole-percent turnout, {opts.power_sims} elections:")
    for (test, subject), (k, n) in rates(opts.power_sims, 0.05, 40_000).items():
        print(f"  {test:<22}{subject:<14}{k:>4}/{n:<4} {k / n:.3f}")
    if opts.no_speed:
        return
    for size in (100_000, 1_000_000):
        frame, _ = simulate(Scenario(stations=size, regions=20), seed=1)
        table = table_from_frame(frame)
        ctx = Context(table.leader(), "national", np.random.default_rng(0))
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            integer_percent(table, ctx)
            best = min(best, time.perf_counter() - start)
        print(f"Speed: integer_percent on {size:>9,} stations: {best:6.2f} s (best of 3)")


if __name__ == "__main__":
    main()
