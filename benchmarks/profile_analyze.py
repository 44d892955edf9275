"""Where `kzvote analyze` spends its time, stage by stage, against a bare read.

Prints, for one file (default: Russia 2011 from ../shared/realdata, else the national
sample): the load average, a bare ``pandas.read_csv`` of the same file, then each stage
(reading and checks, each test family nationally, the stations behind the findings,
the JSON, the figures) with its seconds, its share of the whole and the whole as a
ratio to the bare read; with ``--by-region``, the same per family over all regions.
Also ``kzvote --help`` (median of 5 processes). Every stage runs in this process, in
the order analyze runs them, so the next regression shows up as one line growing.

Run: ``python benchmarks/profile_analyze.py [FILE] [--by-region] [--plots]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "kz2023_majilis_national.csv"


def timed(label, rows, func, *args, **kwargs):
    start = time.perf_counter()
    out = func(*args, **kwargs)
    rows.append((label, time.perf_counter() - start))
    return out


def help_time() -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kzvote", "--help"], capture_output=True, check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?")
    parser.add_argument("--by-region", action="store_true")
    parser.add_argument("--plots", action="store_true")
    args = parser.parse_args()
    path = Path(args.file) if args.file else REAL / "ru-kobak-shpilkin" / "2011.csv.gz"
    if not path.exists():
        print(f"{path} not found (../shared/realdata absent): profiling the national sample")
        path = SAMPLE
    print(f"load average {os.getloadavg()[0]:.2f}; file {path}")
    print(f"kzvote --help: {help_time():.2f} s (median of 5 processes; goal < 0.3 s)")

    import numpy as np
    import pandas as pd

    start = time.perf_counter()
    pd.read_csv(path, low_memory=False)
    bare = time.perf_counter() - start
    print(f"bare pandas.read_csv: {bare:.2f} s")

    from kzvote.evidence import station_evidence
    from kzvote.methods.common import Context
    from kzvote.reading import load_stations
    from kzvote.render.jsonout import dumps
    from kzvote.suite import REGISTRY, Params, _load_registry, _rng, finalise, report_dict
    from kzvote.suite import analyze as full_analyze

    _load_registry()
    rows: list[tuple[str, float]] = []
    table = timed("read + integrity checks", rows, load_stations, str(path))
    leader = table.leader()
    params = Params(options={"min_registered": 100})
    results = []
    for name, spec in REGISTRY.items():
        ctx = Context(leader, "national", _rng(0, name, "national"), options=params.options)
        results += timed(f"test family {name}", rows, spec.func, table, ctx)
    results = finalise(results, params.alpha, params.adjust)
    timed("stations behind the findings", rows, station_evidence, table, leader, results, {})
    report = full_analyze(table, Params(tests=("arithmetic",)))
    timed("JSON", rows, lambda: dumps(report_dict(report)))
    if args.plots:
        from kzvote.plots import save_report_plots

        with tempfile.TemporaryDirectory() as folder:
            timed("figures", rows, save_report_plots, table, leader, folder, results)
    if args.by_region:
        groups = table.ids.groupby("region", sort=True).indices
        for name, spec in REGISTRY.items():
            start = time.perf_counter()
            for region, idx in groups.items():
                mask = np.zeros(table.n_stations, dtype=bool)
                mask[idx] = True
                sub = table.subset(mask)
                scope = f"region={region}"
                spec.func(sub, Context(leader, scope, _rng(0, name, scope), options={}))
            rows.append((f"by region ({len(groups)}): {name}", time.perf_counter() - start))
    total = sum(seconds for _, seconds in rows)
    print(f"\n{'stage':44s} {'seconds':>8s} {'share':>6s}")
    for label, seconds in rows:
        print(f"{label:44s} {seconds:8.2f} {seconds / total:6.1%}")
    print(f"{'total':44s} {total:8.2f}   = {total / bare:.1f}x the bare read")
    national = sum(s for label, s in rows if not label.startswith(("by region", "figures")))
    print(f"national battery without figures: {national:.2f} s = {national / bare:.1f}x")


if __name__ == "__main__":
    main()
