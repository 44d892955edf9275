"""Recovery and cost of the regional Klimek model (kzvote.methods.klimek_fit) on
elections from the second, independent generator (benchmarks/second_generator.py),
and its estimates on the real files of ../shared/realdata.

Settings (f_i, f_e, theta) of issue 14: (0, 0, -), (0.1, 0.01, 0.1), (0.25, 0.03, 0.25),
(0.5, 0.05, 0.15), alpha 2, 10,000 stations in 20 regions. Prints per setting the mean
estimates, their spread over seeds, the mean likelihood ratio of the fraud part and the
fit time (both fits, all starts).

    python benchmarks/bench_klimek.py [--seeds 20] [--stations 10000] [--jobs 2] [--real]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SETTINGS = ((0.0, 0.0, 0.1), (0.1, 0.01, 0.1), (0.25, 0.03, 0.25), (0.5, 0.05, 0.15))
REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"


def _fit(table, leader):
    from kzvote.methods import klimek_fit as KF
    from kzvote.methods.fingerprint import klimek_stations

    st = klimek_stations(table, leader)[0]
    start = time.perf_counter()
    fair, fraud = KF.fit_pair(st)
    seconds = time.perf_counter() - start
    corner = float(((st.turnout >= 0.95) & (st.share >= 0.95)).mean())
    return fraud.params, 2 * (fraud.loglik - fair.loglik), seconds, st, corner


def one(args):
    f_i, f_e, theta, seed, stations = args
    from second_generator import election

    from kzvote.reading import table_from_frame

    frame, _ = election(stations, 20, f_i=f_i, f_e=f_e, theta=theta, seed=seed)
    table = table_from_frame(frame)
    params, lr, seconds, _, _ = _fit(table, table.leader())
    return f_i, f_e, theta, params, lr, seconds


def recovery(seeds: int, stations: int, jobs: int) -> None:
    work = [(f_i, f_e, th, seed, stations) for f_i, f_e, th in SETTINGS for seed in range(seeds)]
    with ProcessPoolExecutor(jobs) as pool:
        rows = list(pool.map(one, work))
    print(f"second generator: {stations} stations, 20 regions, {seeds} seeds per setting")
    print("true f_i  f_e    theta | mean f_i (sd)     mean f_e (sd)       theta  LR      s/fit")
    for f_i, f_e, th in SETTINGS:
        mine = [r for r in rows if r[:3] == (f_i, f_e, th)]
        fi = np.array([r[3]["f_incremental"] for r in mine])
        fe = np.array([r[3]["f_extreme"] for r in mine])
        tt = np.array([r[3]["theta"] for r in mine])
        lr = np.array([r[4] for r in mine])
        sec = np.array([r[5] for r in mine])
        print(
            f"{f_i:<8} {f_e:<6} {th:<5} | {fi.mean():.3f} ({fi.std():.3f})     "
            f"{fe.mean():.4f} ({fe.std():.4f})     {np.median(tt):.2f}  "
            f"{np.median(lr):7.1f} {sec.mean():6.1f}"
        )


def real() -> None:
    from kzvote.reading import load_stations, parse_map_options

    files = [
        ("poland-2020-pkw/round1_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz", "poland-pkw", []),
        ("poland-2020-pkw/round2_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz", "poland-pkw", []),
        ("canada-2011-qss/canada2011.csv.gz", None, ["registered=N"]),
        ("ru-kobak-shpilkin/2011.csv.gz", None, []),
    ]
    for name, mapping, maps in files:
        path = REAL / name
        if not path.exists():
            print(f"{name}: skipped ({path} is absent)")
            continue
        table = load_stations(str(path), overrides=parse_map_options(maps, mapping))
        params, lr, seconds, st, corner = _fit(table, table.leader())
        shown = ", ".join(f"{k} {v:.4g}" for k, v in params.items())
        print(
            f"{name}: {st.n} stations, groups {st.kind} ({len(st.names)}); {shown}; "
            f"LR {lr:.1f}; corner share {corner:.4f}; {seconds:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--real", action="store_true", help="only the real files")
    args = parser.parse_args()
    if not args.real:
        recovery(args.seeds, args.stations, args.jobs)
    real()


if __name__ == "__main__":
    main()
