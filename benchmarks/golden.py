"""Golden results: a speed-up must not change what the battery says.

Writes (``--write``) or checks the results of ``analyze`` (test, subject, scope, n,
statistic, p-values, effect, verdict; and the number of stations listed) on the national
sample, nationally and by region, and on Russia 2011 (national; ``--russia-by-region``
adds its 83 regions, about 10 minutes). A check prints the largest relative difference
per case and fails (exit 1) beyond ``--rtol`` (default 1e-9: floating-point noise).

Run: ``python benchmarks/golden.py [--write] [--russia-by-region]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
REAL = ROOT / ".." / "shared" / "realdata"
KEYS = ("n", "statistic", "p_value", "p_adjusted", "effect")


def cases(russia_by_region: bool):
    sample = ROOT / "sample_data" / "kz2023_majilis_national.csv"
    yield "sample_national", sample, False
    yield "sample_by_region", sample, True
    russia = REAL / "ru-kobak-shpilkin" / "2011.csv.gz"
    if russia.exists():
        yield "russia2011_national", russia, False
        if russia_by_region:
            yield "russia2011_by_region", russia, True


def summarise(path: Path, by_region: bool) -> dict:
    from kzvote.reading import load_stations
    from kzvote.suite import Params, analyze

    report = analyze(load_stations(str(path)), Params(by_region=by_region))
    return {
        "libraries": libraries(),
        "stations_listed": len(report.stations),
        "results": [
            {"id": f"{r.test}|{r.subject}|{r.scope}", "verdict": r.verdict}
            | {key: getattr(r, key) for key in KEYS}
            for r in report.results
        ],
    }


def libraries() -> dict[str, str]:
    """The numeric libraries' versions: the fingerprint's multi-start fit follows
    floating-point noise, so another numpy/scipy build can move it (measured on
    2026-12-02: numpy 2.4.6 / scipy 1.17.1 against the golden files of the session
    before moved the sample's national LR by 5e-5 and one region's LR from 0.002 to
    4.2, no verdict changed)."""
    import numpy
    import pandas
    import scipy

    return {"numpy": numpy.__version__, "scipy": scipy.__version__, "pandas": pandas.__version__}


def difference(a, b) -> float:
    if a is None or b is None:
        return 0.0 if a is b else math.inf
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--russia-by-region", action="store_true")
    parser.add_argument("--rtol", type=float, default=1e-9)
    args = parser.parse_args()
    GOLDEN.mkdir(exist_ok=True)
    failed = False
    for name, path, by_region in cases(args.russia_by_region):
        now = summarise(path, by_region)
        target = GOLDEN / f"{name}.json"
        if args.write:
            target.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            print(f"{name}: written ({len(now['results'])} results)")
            continue
        if not target.exists():
            print(f"{name}: no golden file (run with --write)")
            continue
        old = json.loads(target.read_text(encoding="utf-8"))
        if old.get("libraries") != now["libraries"]:
            print(f"{name}: golden written with {old.get('libraries')}, now {now['libraries']}")
        before = {r["id"]: r for r in old["results"]}
        worst, where, verdicts = 0.0, "", []
        for r in now["results"]:
            g = before.pop(r["id"], None)
            if g is None:
                verdicts.append(f"new {r['id']}")
                continue
            if g["verdict"] != r["verdict"]:
                verdicts.append(f"{r['id']}: {g['verdict']} -> {r['verdict']}")
            for key in KEYS:
                d = difference(g[key], r[key])
                if d > worst:
                    worst, where = d, f"{r['id']} {key}"
        verdicts += [f"gone {key}" for key in before]
        if old["stations_listed"] != now["stations_listed"]:
            verdicts.append(f"stations listed {old['stations_listed']} -> {now['stations_listed']}")
        ok = worst <= args.rtol and not verdicts
        failed |= not ok
        print(
            f"{name}: {'same' if ok else 'CHANGED'}; largest relative difference {worst:.2e}"
            + (f" ({where})" if where else "")
            + ("".join(f"\n  {v}" for v in verdicts))
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
