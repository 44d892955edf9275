"""Calibration, power and speed of the digit family.

* False-positive rate: simulated clean elections (``kzvote simulate`` model, fixed
  seeds); each test's raw p-value is compared with alpha = 0.05. Pass: 2-8%.
* Power: 5% of stations have every count rounded to a multiple of 5 or 10.
* Speed: the family on a large simulated election.

    python benchmarks/bench_digits.py [--sims 200] [--stations 10000] [--speed 1000000]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
from scipy.stats import binomtest

from kzvote.methods.common import Context
from kzvote.methods.digits import digit_tests
from kzvote.reading import table_from_frame
from kzvote.simulate import Scenario, simulate

ALPHA = 0.05


def rejections(sims: int, stations: int, rounded_share: float, seed0: int) -> dict:
    rejected: dict[tuple[str, str], int] = defaultdict(int)
    ran: dict[tuple[str, str], int] = defaultdict(int)
    for i in range(sims):
        frame, _ = simulate(
            Scenario(stations=stations, rounded_share=rounded_share), seed=seed0 + i
        )
        table = table_from_frame(frame)
        ctx = Context(table.leader(), "national", np.random.default_rng(i))
        for r in digit_tests(table, ctx):
            if r.p_value is None:
                continue
            key = (
                r.test,
                "pooled"
                if r.subject == "pooled"
                else (
                    "leader_share_percent"
                    if r.subject == "leader_share_percent"
                    else "per candidate"
                ),
            )
            ran[key] += 1
            rejected[key] += r.p_value < ALPHA
    return {k: (rejected[k], ran[k]) for k in sorted(ran)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--power-sims", type=int, default=50)
    parser.add_argument("--speed", type=int, default=1_000_000)
    opts = parser.parse_args()

    start = time.perf_counter()
    clean = rejections(opts.sims, opts.stations, 0.0, seed0=10_000)
    print(
        f"False-positive rate at alpha={ALPHA}: {opts.sims} clean elections x "
        f"{opts.stations:,} stations ({time.perf_counter() - start:.0f} s)"
    )
    for (test, subject), (k, n) in clean.items():
        ci = binomtest(k, n).proportion_ci(0.95)
        ok = "ok" if 0.02 <= k / n <= 0.08 else "OUT OF 2-8%"
        interval = f"[{ci.low:.3f}, {ci.high:.3f}]"
        print(f"  {test:<16}{subject:<22}{k:>5}/{n:<6}{k / n:7.3f}  {interval}  {ok}")

    start = time.perf_counter()
    power = rejections(opts.power_sims, opts.stations, 0.05, seed0=20_000)
    print(
        f"Power, 5% of stations with counts rounded to 5 or 10: {opts.power_sims} elections "
        f"({time.perf_counter() - start:.0f} s)"
    )
    for (test, subject), (k, n) in power.items():
        if subject == "pooled":
            print(f"  {test:<16}{subject:<22}{k:>5}/{n:<6}{k / n:7.3f}")

    if opts.speed:
        frame, _ = simulate(Scenario(stations=opts.speed, regions=20), seed=1)
        table = table_from_frame(frame)
        ctx = Context(table.leader(), "national", np.random.default_rng(0))
        walls = []
        for _ in range(3):
            start = time.perf_counter()
            digit_tests(table, ctx)
            walls.append(time.perf_counter() - start)
        print(
            f"Speed: digit family on {opts.speed:,} stations x {len(table.candidates)} "
            f"candidates: first call {walls[0]:.2f} s (includes importing scipy), "
            f"then {min(walls[1:]):.2f} s (target < 2 s)"
        )


if __name__ == "__main__":
    main()
