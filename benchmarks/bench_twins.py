"""Are `kzvote calibrate`'s twins faithful? Checked on elections the project did not make.

For each of E clean elections from the second, independent generator
(``benchmarks/second_generator.py``: 8 parties, the smallest at 3.5%), the battery is
run once on the election itself, and ``calibrate`` runs it on S clean twins of it.
Across the E elections, each test's rejection rate at alpha is its false-positive rate
*on elections of that shape* (the truth the twins should reproduce); per election, the
twins' rate is what ``calibrate`` would tell the user. Printed per test (subjects
pooled: the leader, each party, pooled digits): the independent rate with its 95%
interval, the mean twin rate, and in how many elections the twins' rate fell inside
calibrate's acceptance band; plus the fidelity check's verdict per election.

    python benchmarks/bench_twins.py [--elections 20] [--sims 40] [--stations 6000] [--jobs 2]
        [--tests integer_percent,digits]

The fingerprint family is left out by default: its likelihood-ratio p rejects on every
clean election of any shape (issue 14), which says nothing about the twins.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

PARTIES = {
    "Amanat": 0.50,
    "Auyl": 0.11,
    "Respublica": 0.09,
    "Ak Zhol": 0.085,
    "People's": 0.07,
    "NSDP": 0.055,
    "Baytaq": 0.055,
    "Against all": 0.035,
}


def main() -> None:
    from scipy.stats import binomtest
    from second_generator import election

    from kzvote.calibrate import calibrate
    from kzvote.reading import table_from_frame
    from kzvote.render.jsonout import serialize
    from kzvote.suite import Params, run_battery

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elections", type=int, default=20)
    parser.add_argument("--sims", type=int, default=40)
    parser.add_argument("--stations", type=int, default=6000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--tests", default="integer_percent,digits")
    args = parser.parse_args()

    direct: dict[str, list[bool]] = {}
    twin_rate: dict[str, list[float]] = {}
    inside: dict[str, list[bool]] = {}
    fidelity = []
    start = time.perf_counter()
    for e in range(args.elections):
        frame, _ = election(args.stations, 20, seed=1000 + e, parties=PARTIES)
        table = table_from_frame(frame)
        params = Params(alpha=args.alpha, seed=e, tests=tuple(args.tests.split(",")))
        for r in run_battery(table, params):
            if r.scope != "national" or r.p_value is None or r.test == "arithmetic":
                continue
            direct.setdefault(r.test, []).append(r.p_value < args.alpha)
        report = serialize(calibrate(table, params, sims=args.sims, jobs=args.jobs))
        fidelity.append(report["fidelity"]["resembles"])
        for t in report["tests"]:
            if t["false_positive_rate"] is None or t["test"] == "arithmetic":
                continue
            twin_rate.setdefault(t["test"], []).append(t["false_positive_rate"])
            low, high = t["acceptance"]
            inside.setdefault(t["test"], []).append(low <= t["false_positive_rate"] <= high)
        print(f"election {e + 1}/{args.elections} done ({time.perf_counter() - start:.0f} s)")
    print(
        f"\n{args.elections} independent clean elections of {args.stations} stations, "
        f"{args.sims} twins each, alpha {args.alpha}; fidelity 'yes' on "
        f"{sum(fidelity)} of {len(fidelity)}"
    )
    print("test                      independent rate [95% CI]   mean twin rate  twins in band")
    for test in sorted(direct):
        hits = direct[test]
        k, n = int(sum(hits)), len(hits)
        ci = binomtest(k, n).proportion_ci(0.95)
        rate = np.mean(twin_rate.get(test, [np.nan]))
        band = inside.get(test, [])
        print(
            f"{test:<25} {k / n:6.1%} [{ci.low:.1%}, {ci.high:.1%}] (n={n:<4})  {rate:8.1%}"
            f"       {sum(band)}/{len(band)}"
        )


if __name__ == "__main__":
    main()
