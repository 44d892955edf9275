"""The null distribution of the regional Klimek model's likelihood ratio.

On clean elections from the independent generator (``second_generator.py``) of varied
size (1,000-10,000 stations) and number of regions (5-30), fits the honest-only and the
full model as ``analyze`` does (:func:`kzvote.methods.klimek_fit.fit_pair`, then
:func:`~kzvote.methods.klimek_fit.fit_with_intervals`, whose profile may restart the
fit at a higher likelihood) and prints the quantiles of the
likelihood ratio 2 (l_fraud - l_fair), and how often it exceeds the 95% points of the
references a test could use, with a 95% Clopper-Pearson interval.

    python benchmarks/klimek_null.py [--elections 80] [--jobs 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def one(seed: int):
    from second_generator import election

    from kzvote.methods import klimek_fit as KF
    from kzvote.methods.fingerprint import klimek_stations
    from kzvote.reading import table_from_frame

    rng = np.random.default_rng(10_000 + seed)
    stations = int(rng.integers(1_000, 10_001))
    regions = int(rng.integers(5, 31))
    frame, _ = election(stations, regions, seed=seed)
    table = table_from_frame(frame)
    st = klimek_stations(table, table.leader())[0]
    start = time.perf_counter()
    fair, fraud = KF.fit_pair(st)
    fraud, _ = KF.fit_with_intervals(st, fraud, fair)
    seconds = time.perf_counter() - start
    lr = max(2 * (fraud.loglik - fair.loglik), 0.0)
    return seed, stations, regions, lr, fraud.params, seconds


def main() -> None:
    from scipy.stats import chi2

    from kzvote.calibrate import _rate_interval
    from kzvote.methods.fingerprint import chibar_sf, lr_sf

    def share(k: int, n: int) -> str:
        lo, hi = _rate_interval(k, n)  # Clopper-Pearson, as calibrate reports rates
        return f"{k}/{n} = {k / n:.1%} [{lo:.1%}, {hi:.1%}]"

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elections", type=int, default=80)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(one, range(args.first_seed, args.first_seed + args.elections)))
    lr = np.array([r[3] for r in rows])
    n = len(lr)
    print(f"{n} clean elections (second generator), LR = 2 (l_fraud - l_fair)")
    for r in rows:
        fi, fe = r[4]["f_incremental"], r[4]["f_extreme"]
        print(
            f"  seed {r[0]:3d}: {r[1]:6d} stations, {r[2]:2d} regions, LR {r[3]:8.3f}, "
            f"f_i {fi:.4f}, f_e {fe:.5f}, theta {r[4]['theta']:.3f}, "
            f"alpha {r[4]['alpha']:.2f}, {r[5]:.1f} s"
        )
    qs = np.quantile(lr, [0.5, 0.9, 0.95, 0.99])
    print("quantiles 50/90/95/99%: " + ", ".join(f"{q:.2f}" for q in qs))
    for label, cut in (
        ("chi2(1)", chi2.ppf(0.95, 1)),
        ("chi2(2)", chi2.ppf(0.95, 2)),
        ("chi2(3)", chi2.ppf(0.95, 3)),
        ("chi2(4)", chi2.ppf(0.95, 4)),
    ):
        print(f"  above the 95% point of {label} ({cut:.2f}): {share(int((lr > cut).sum()), n)}")
    print(f"  LR = 0 (the full model is the honest one): {(lr <= 1e-9).mean():.1%}")
    for label, sf in (
        ("chi-square(2), the test analyze uses", lr_sf),
        ("chi-bar-square (0.25, 0.5, 0.25)", chibar_sf),
    ):
        p_values = np.array([sf(x) for x in lr])
        for level in (0.05, 0.10):
            print(f"  {label}: p < {level:.2f} {share(int((p_values < level).sum()), n)}")
    print(f"mean fit time {np.mean([r[5] for r in rows]):.1f} s")


if __name__ == "__main__":
    main()
