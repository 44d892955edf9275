"""Recovery, interval coverage, verdicts and cost of the fingerprint test (the regional
Klimek model of kzvote.methods.klimek_fit, as ``analyze`` runs it) on elections from
the second, independent generator (benchmarks/second_generator.py), and its results on
the real files of ../shared/realdata.

Settings (f_i, f_e, theta) of issue 14: (0, 0, -), (0.1, 0.01, 0.1), (0.25, 0.03, 0.25),
(0.5, 0.05, 0.15), alpha 2, 10,000 stations in 20 regions. Prints per setting the mean
estimates and their spread over seeds, how often each 95% interval covers the truth,
how often the verdict is anomaly, and the time per run (the whole family: fits,
intervals, cluster, dependence, excess).

    python benchmarks/bench_klimek.py [--seeds 20] [--stations 10000] [--jobs 2]
        [--real | --no-real]
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


def one(args):
    """One election of the second generator through the fingerprint family."""
    f_i, f_e, theta, seed, stations = args
    from second_generator import election

    from kzvote.methods.common import Context
    from kzvote.methods.fingerprint import fingerprint_tests
    from kzvote.reading import table_from_frame
    from kzvote.suite import finalise

    frame, _ = election(stations, 20, f_i=f_i, f_e=f_e, theta=theta, seed=seed)
    table = table_from_frame(frame)
    start = time.perf_counter()
    ctx = Context(table.leader(), "national", np.random.default_rng(seed))
    results = finalise(fingerprint_tests(table, ctx), 0.05, "holm")
    seconds = time.perf_counter() - start
    fp = results[0]
    return f_i, f_e, theta, fp.details, fp.verdict, seconds


def _covers(d, name, truth) -> bool:
    lo, hi = d[f"{name}_interval"]
    return lo - 1e-12 <= truth <= hi + 1e-12


def recovery(seeds: int, stations: int, jobs: int) -> None:
    work = [(f_i, f_e, th, seed, stations) for f_i, f_e, th in SETTINGS for seed in range(seeds)]
    with ProcessPoolExecutor(jobs) as pool:
        rows = list(pool.map(one, work))
    print(f"second generator: {stations} stations, 20 regions, {seeds} seeds per setting")
    print(
        "true f_i  f_e    theta | mean f_i (sd)   mean f_e (sd)     | cover f_i  f_e  "
        "theta | anomaly | s/run"
    )
    for f_i, f_e, th in SETTINGS:
        mine = [r for r in rows if r[:3] == (f_i, f_e, th)]
        fi = np.array([r[3]["f_incremental"] for r in mine])
        fe = np.array([r[3]["f_extreme"] for r in mine])
        cov_i = np.mean([_covers(r[3], "f_incremental", f_i) for r in mine])
        cov_e = np.mean([_covers(r[3], "f_extreme", f_e) for r in mine])
        cov_t = np.mean([_covers(r[3], "theta", th) for r in mine]) if f_i > 0 else float("nan")
        anomaly = np.mean([r[4] == "anomaly" for r in mine])
        sec = np.mean([r[5] for r in mine])
        print(
            f"{f_i:<8} {f_e:<6} {th:<5} | {fi.mean():.3f} ({fi.std():.3f})   "
            f"{fe.mean():.4f} ({fe.std():.4f})   | {cov_i:8.0%} {cov_e:4.0%} {cov_t:5.0%} | "
            f"{anomaly:7.0%} | {sec:5.1f}",
            flush=True,
        )


REAL_FILES = (
    ("poland-2020-pkw/round1_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz", "poland-pkw", []),
    ("poland-2020-pkw/round2_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz", "poland-pkw", []),
    ("canada-2011-qss/canada2011.csv.gz", None, ["registered=N", "ballots_cast=turnout"]),
    ("ru-kobak-shpilkin/2011.csv.gz", None, []),
    ("ru-kobak-shpilkin/2012.csv.gz", None, []),
    ("ru-kobak-shpilkin/2016.csv.gz", None, []),
    ("ru-kobak-shpilkin/2021.csv.gz", None, []),
)


def real_one(spec) -> str:
    """The fingerprint family as ``analyze`` runs it on one real file."""
    from kzvote.reading import load_stations, parse_map_options
    from kzvote.suite import Params, analyze

    name, mapping, maps = spec
    path = REAL / name
    if not path.exists():
        return f"{name}: skipped ({path} is absent)"
    table = load_stations(str(path), overrides=parse_map_options(maps, mapping))
    start = time.perf_counter()
    report = analyze(table, Params(tests=("fingerprint",)))
    seconds = time.perf_counter() - start
    fp = next(r for r in report.results if r.test == "fingerprint")
    cl = next(r for r in report.results if r.test == "high_turnout_cluster")
    d = fp.details
    if fp.verdict == "inconclusive":
        return f"{name}: inconclusive ({'; '.join(fp.warnings)})"

    def ci(key):
        lo, hi = d[f"{key}_interval"]
        return f"[{lo:.4g}, {hi:.4g}]"

    return (
        f"{name}: {fp.n} stations, {d['grouping']['groups']} {d['grouping']['kind']} groups; "
        f"f_i {d['f_incremental']:.4f} {ci('f_incremental')}, "
        f"f_e {d['f_extreme']:.5f} {ci('f_extreme')}, theta {d['theta']:.3f} {ci('theta')}, "
        f"alpha {d['alpha']:.2f} {ci('alpha')}; LR {d['likelihood_ratio']:.1f}, "
        f"p {fp.p_value:.3g}, "
        f"verdict {fp.verdict}; corner share {d['corner_share']:.4f}; "
        f"cluster {cl.details['observed']} vs {cl.details['expected']:.1f} ({cl.verdict}); "
        f"misfit {d['misfit']['share_misplaced']:.3f}; {seconds:.1f} s"
    )


def real(jobs: int) -> None:
    with ProcessPoolExecutor(jobs) as pool:
        for line in pool.map(real_one, REAL_FILES):
            print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--real", action="store_true", help="only the real files")
    parser.add_argument("--no-real", action="store_true", help="only the recovery table")
    args = parser.parse_args()
    if not args.real:
        recovery(args.seeds, args.stations, args.jobs)
    if not args.no_real:
        real(args.jobs)


if __name__ == "__main__":
    main()
