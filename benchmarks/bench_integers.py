"""Time the integer-percentage test alone (exact null) on 100k and 1M stations.

Target (issue 4): under 1 s at 100,000 stations and under 10 s at 1,000,000. The
published Monte Carlo procedure (1,000 replicates) takes about 1.5 minutes per election.

    python benchmarks/bench_integers.py
"""

from __future__ import annotations

import time

import numpy as np

from kzvote.io import load_stations
from kzvote.methods.common import Context
from kzvote.methods.integers import integer_percent
from kzvote.simulate import Scenario, simulate


def table_of(size: int, path: str):
    frame, _ = simulate(Scenario(stations=size, regions=20), seed=1)
    frame.to_csv(path, index=False)
    return load_stations(path)


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for size in (100_000, 1_000_000):
            table = table_of(size, f"{tmp}/s.csv")
            ctx = Context(table.leader(), "national", np.random.default_rng(0))
            start = time.perf_counter()
            results = integer_percent(table, ctx)
            wall = time.perf_counter() - start
            either = next(r for r in results if r.subject == "either")
            print(
                f"integer_percent on {size:>9,} stations: {wall:6.2f} s "
                f"(either z = {either.statistic:+.2f})"
            )


if __name__ == "__main__":
    main()
