"""Recovery, calibration and speed of the fingerprint family.

Recovery (issue 5): elections of 10,000 stations generated with the Klimek model
(``kzvote simulate --clean-model klimek``, binomial counting noise included) at
(f_i, f_e) in {(0, 0), (0.1, 0.01), (0.3, 0.03), (0.6, 0.05)}, 20 seeds each; prints the
mean estimates, the coverage of the 95% intervals and how often the verdict is anomaly.
Speed: the whole family (no plots) on 100,000 and 1,000,000 stations (targets 5 s and
60 s), timed without the simulation.

    python benchmarks/bench_fingerprint.py [--seeds 20] [--speed 100000] [--speed-large 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kzvote.methods.common import Context
from kzvote.methods.fingerprint import fingerprint_tests
from kzvote.reading import table_from_frame
from kzvote.simulate import Scenario, simulate
from kzvote.suite import finalise

SETTINGS = ((0.0, 0.0), (0.1, 0.01), (0.3, 0.03), (0.6, 0.05))


def one(f_i: float, f_e: float, seed: int, stations: int = 10_000):
    frame, _ = simulate(
        Scenario(
            stations=stations,
            regions=1,
            clean_model="klimek",
            f_incremental=f_i,
            f_extreme=f_e,
            theta=0.1,
            alpha=2.0,
        ),
        seed=seed,
    )
    table = table_from_frame(frame)
    results = finalise(
        fingerprint_tests(table, Context(table.leader(), "national", np.random.default_rng(seed))),
        0.05,
        "holm",
    )
    return {r.test: r for r in results}


def _summary(args):
    """Worker: one recovery run, reduced to what the table needs."""
    f_i, f_e, seed = args
    start = time.perf_counter()
    fp = one(f_i, f_e, seed)["fingerprint"]
    d = fp.details
    return (
        d["f_incremental"],
        d["f_extreme"],
        d["f_incremental_interval"],
        d["f_extreme_interval"],
        fp.verdict,
        time.perf_counter() - start,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--speed", type=int, default=100_000)
    parser.add_argument("--speed-large", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=2)
    opts = parser.parse_args()
    print(f"Recovery: Klimek-model elections of 10,000 stations, {opts.seeds} seeds each")
    print(
        f"{'true f_i':>8} {'f_e':>6} | {'mean f_i':>8} {'mean f_e':>8} | {'cover f_i':>9} "
        f"{'cover f_e':>9} | {'anomaly':>7} | {'s/run':>5}"
    )
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(opts.jobs) as pool:
        settings = SETTINGS if opts.seeds else ()
        for f_i, f_e in settings:
            runs = pool.map(_summary, [(f_i, f_e, 1000 + s) for s in range(opts.seeds)])
            est_i = [r[0] for r in runs]
            est_e = [r[1] for r in runs]
            cov_i = sum(r[2][0] <= f_i <= r[2][1] for r in runs)
            cov_e = sum(r[3][0] <= f_e <= r[3][1] for r in runs)
            anomalies = sum(r[4] == "anomaly" for r in runs)
            n = opts.seeds
            print(
                f"{f_i:>8.2f} {f_e:>6.3f} | {np.mean(est_i):>8.3f} {np.mean(est_e):>8.4f} | "
                f"{cov_i / n:>9.2f} {cov_e / n:>9.2f} | {anomalies / n:>7.2f} | "
                f"{np.mean([r[5] for r in runs]):>5.1f}",
                flush=True,
            )
    for size in (opts.speed, opts.speed_large):
        if not size:
            continue
        frame, _ = simulate(
            Scenario(
                stations=size,
                regions=20,
                clean_model="klimek",
                f_incremental=0.1,
                f_extreme=0.01,
                theta=0.1,
                alpha=2.0,
            ),
            seed=7,
        )
        table = table_from_frame(frame)
        ctx = Context(table.leader(), "national", np.random.default_rng(7))
        start = time.perf_counter()
        fingerprint_tests(table, ctx)
        wall = time.perf_counter() - start
        target = 5 if size <= 100_000 else 60
        print(
            f"Speed: fingerprint family (fit, intervals, cluster, dependence, excess with "
            f"bootstrap; no plots) on {size:,} stations: {wall:.1f} s (target < {target} s)"
        )


if __name__ == "__main__":
    main()
