"""How many stations `analyze --stations` lists, and whether it finds the stuffed ones.

* Clean elections: the share of stations listed (goal: at most 1%), by reason, on
  simulations from ``kzvote.simulate`` and from an independent generator written here
  (numpy only: log-normal sizes, regional logit-normal turnout, Dirichlet shares with
  regional centres, a turnout-share correlation inside regions), and on the real clean
  files of ``../shared/realdata`` (Poland 2020 both rounds, Canada 2011).
* Stuffed elections: recall of the extreme-stuffed stations (goal: at least 70%) and of
  the stations with a whole-percent protocol, and the share of honest stations listed.
* Real files with known anomalies (Russia 2011): how many stations and which reasons.

Run: ``python benchmarks/bench_stations.py [--sims 5] [--no-real]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kzvote.evidence import reason_counts, station_evidence
from kzvote.reading import load_stations, table_from_frame
from kzvote.reading.mapping import parse_map_options
from kzvote.simulate import Scenario, simulate
from kzvote.suite import Params, analyze

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"


def independent_election(seed: int, stations: int = 10_000, regions: int = 20, stuff=None):
    """Polling stations from a generator that shares nothing with kzvote.simulate."""
    rng = np.random.default_rng([seed, 991])
    region = rng.integers(0, regions, stations)
    registered = np.clip(rng.lognormal(np.log(1000), 0.7, stations), 60, 6000).astype(int)
    centre_t = rng.normal(0.1, 0.5, regions)
    logit_t = centre_t[region] + rng.normal(0, 0.35, stations)
    parties = 5
    centres = rng.dirichlet(np.full(parties, 2.0) + np.arange(parties)[::-1], regions)
    rho = rng.uniform(-0.3, 0.3, regions)
    z = (logit_t - centre_t[region]) / 0.35
    shares = np.empty((stations, parties))
    for r in range(regions):
        rows = region == r
        base = rng.dirichlet(300 * centres[r], int(rows.sum()))
        tilt = np.exp(0.15 * rho[r] * z[rows])  # leader share moves with turnout
        base[:, 0] *= tilt
        shares[rows] = base / base.sum(axis=1, keepdims=True)
    turnout = 1 / (1 + np.exp(-logit_t))
    issued = rng.binomial(registered, turnout)
    cast = issued - rng.binomial(issued, 0.002)
    invalid = rng.binomial(cast, 0.015)
    valid = cast - invalid
    votes = np.vstack([rng.multinomial(v, s) for v, s in zip(valid, shares, strict=True)])
    truth = np.zeros(stations, dtype=int)  # 0 clean, 1 extreme stuffed, 2 whole percent
    if stuff:
        f_e, f_whole = stuff
        extreme = rng.random(stations) < f_e
        x = 1 - np.abs(rng.normal(0, 0.075, stations))
        added = np.where(extreme, rng.binomial(registered - issued, x), 0)
        switched = np.where(extreme[:, None], rng.binomial(votes[:, 1:], x[:, None] ** 2), 0)
        votes[:, 1:] -= switched
        votes[:, 0] += added + switched.sum(axis=1)
        issued, cast, valid = issued + added, cast + added, valid + added
        truth[extreme] = 1
        whole = ~extreme & (rng.random(stations) < f_whole)
        target = np.round(100 * issued / registered) / 100
        new_issued = np.round(target * registered).astype(int)
        delta = new_issued - issued
        votes[whole, 0] += delta[whole]
        issued[whole] += delta[whole]
        cast[whole] += delta[whole]
        valid[whole] += delta[whole]
        truth[whole] = 2
    frame = pd.DataFrame(
        {
            "region": [f"R{r:02d}" for r in region],
            "station": np.arange(1, stations + 1),
            "registered": registered,
            "ballots_issued": issued,
            "ballots_cast": cast,
            "valid": valid,
            "invalid": invalid,
        }
    )
    for p in range(parties):
        frame[f"Party {chr(65 + p)}"] = votes[:, p]
    return frame, truth


def listed(table, report):
    evidence = station_evidence(
        table, report.input["leader"], report.results, report.parameters["options"]
    )
    return evidence


def run_frame(frame, label):
    table = table_from_frame(frame, name=label)
    report = analyze(table, Params())
    return table, report, listed(table, report)


def line_index(table, evidence):
    lines = table.ids["line"].to_numpy()
    where = {int(v): i for i, v in enumerate(lines)}
    return np.array([where[e.line] for e in evidence], dtype=int)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=5)
    parser.add_argument("--no-real", action="store_true")
    parser.add_argument("--only-real", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.only_real:
        args.sims = 0
    print("\nClean simulations: share of stations listed (goal <= 1%)")
    for name in ("kzvote.simulate", "independent") if args.sims else ():
        shares, reasons = [], {}
        for seed in range(args.sims):
            if name == "kzvote.simulate":
                frame, _ = simulate(Scenario(stations=10_000, regions=20), seed)
            else:
                frame, _ = independent_election(seed)
            table, _, ev = run_frame(frame, f"{name}-{seed}.csv")
            shares.append(len(ev) / table.n_stations)
            for code, count in reason_counts(ev).items():
                reasons[code] = reasons.get(code, 0) + count
        print(
            f"  {name:16s} mean {np.mean(shares):.2%}, max {np.max(shares):.2%} "
            f"over {args.sims} elections; reasons {reasons}"
        )
    print("\nStuffed simulations: recall of extreme-stuffed stations (goal >= 70%)")
    for name in ("kzvote.simulate", "independent") if args.sims else ():
        recalls, whole_recall, honest_listed = [], [], []
        for seed in range(args.sims):
            if name == "kzvote.simulate":
                frame, truth = simulate(
                    Scenario(
                        stations=10_000,
                        regions=20,
                        f_incremental=0.1,
                        f_extreme=0.02,
                        theta=0.15,
                        whole_percent_share=0.05,
                    ),
                    seed,
                )
                x = truth["stuffing_x"].to_numpy()
                labels = np.where(x >= 0.7, 1, 0)
                labels[truth["whole_percent"].to_numpy().astype(bool) & (labels == 0)] = 2
                labels[(x > 0) & (x < 0.7)] = 3  # incremental
            else:
                frame, labels = independent_election(seed, stuff=(0.02, 0.05))
            table, report, ev = run_frame(frame, f"{name}-stuffed-{seed}.csv")
            idx = line_index(table, ev)
            flagged = np.zeros(table.n_stations, dtype=bool)
            flagged[idx] = True
            recalls.append(flagged[labels == 1].mean())
            whole_recall.append(flagged[labels == 2].mean() if (labels == 2).any() else np.nan)
            honest_listed.append(flagged[labels == 0].mean())
            print(
                f"    seed {seed}: listed {flagged.mean():.1%}, {reason_counts(ev)}",
                flush=True,
            )
        print(
            f"  {name:16s} extreme recall mean {np.mean(recalls):.1%} (min {np.min(recalls):.1%})"
            f", whole-percent recall {np.nanmean(whole_recall):.1%}, honest stations listed "
            f"{np.mean(honest_listed):.2%}"
        )
    if args.no_real:
        return
    print("\nReal files")
    files = [
        ("poland-2020-pkw/round1_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz", "poland-pkw", None),
        ("poland-2020-pkw/round2_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz", "poland-pkw", None),
        ("canada-2011-qss/canada2011.csv.gz", None, ["registered=N"]),
        ("ru-kobak-shpilkin/2011.csv.gz", None, None),
    ]
    for rel, mapping, maps in files:
        path = REAL / rel
        if not path.exists():
            print(f"  {rel}: skipped (../shared/realdata absent)")
            continue
        start = time.perf_counter()
        overrides = parse_map_options(maps, mapping) if (mapping or maps) else None
        table = load_stations(str(path), overrides=overrides)
        report = analyze(table, Params())
        ev = listed(table, report)
        print(
            f"  {rel}: {len(ev):,} of {table.n_stations:,} stations listed "
            f"({len(ev) / table.n_stations:.2%}) in {time.perf_counter() - start:.0f} s; "
            f"{reason_counts(ev)}"
        )


if __name__ == "__main__":
    main()
