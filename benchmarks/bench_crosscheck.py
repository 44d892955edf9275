"""Recall, precision and false alarms of `kzvote crosscheck` on simulated concurrent pairs.

Two generators, so that the check is not tuned to one:

* ``kzvote.simulate.concurrent_pair`` (a party list and a single-mandate contest made
  from the project's national simulator);
* an independent one written here with numpy only: log-normal station sizes,
  regional beta turnout, honest differences of a few papers drawn as Poisson refusals
  in either contest plus occasional spoiled papers, and inflated stations with
  ``U(40, 250)`` extra ballots in one contest.

For each setting it prints, over the simulations: recall and precision of the flagged
stations against the inflated ones, the share of honest stations flagged, and how
often each verdict (``crosscheck_issued``, ``crosscheck_balance``) says anomaly.

Run: ``python benchmarks/bench_crosscheck.py [--sims 100]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from kzvote.crosscheck import crosscheck
from kzvote.reading import table_from_frame
from kzvote.render.jsonout import serialize
from kzvote.simulate import Scenario, concurrent_pair, simulate
from kzvote.suite import Params


def independent_pair(seed: int, stations: int, share: float, contest: str):
    """A concurrent pair from a generator that shares nothing with kzvote.simulate."""
    rng = np.random.default_rng([seed, 77])
    regions = 12
    region = rng.integers(0, regions, stations)
    registered = np.clip(rng.lognormal(np.log(1100), 0.6, stations).astype(int), 50, 5000)
    centre = rng.beta(6, 5, regions)
    turnout = rng.beta(40 * centre[region], 40 * (1 - centre[region]))
    issued_a = rng.binomial(registered, turnout)
    # honest differences: voters refusing one ballot, either way, and spoiled papers
    refuse_b = rng.poisson(0.002 * issued_a)
    refuse_a = rng.poisson(0.0007 * issued_a)
    spoiled = rng.binomial(1, 0.05, stations) * rng.integers(1, 3, stations)
    issued_b = np.clip(
        issued_a - refuse_b + refuse_a + spoiled * rng.choice([-1, 1], stations), 0, None
    )
    truth = np.zeros(stations, dtype=int)
    chosen = rng.random(stations) < share
    extra = rng.integers(40, 251, stations)
    if contest == "a":
        room = registered - issued_a
        truth = np.where(chosen, np.clip(np.minimum(extra, room), 0, None), 0)
        issued_a = issued_a + truth
    else:
        room = registered - issued_b
        truth = np.where(chosen, np.clip(np.minimum(extra, room), 0, None), 0)
        issued_b = issued_b + truth

    def frame(issued, parties):
        invalid = rng.binomial(issued, 0.015)
        valid = issued - invalid
        votes = rng.multinomial(valid, np.ones(parties) / parties)
        out = pd.DataFrame(
            {
                "station_id": [f"{k:05d}" for k in range(stations)],
                "region": [f"Oblast {r + 1}" for r in region],
                "registered": registered,
                "ballots_issued": issued,
                "ballots_cast": issued,
                "invalid": invalid,
            }
        )
        for j in range(parties):
            out[f"List {j + 1}"] = votes[:, j]
        return out

    return frame(issued_a, 6), frame(issued_b, 4), truth


def project_pair(seed: int, stations: int, share: float, contest: str):
    table, _ = simulate(Scenario(stations=stations, regions=10), seed)
    a, b, truth = concurrent_pair(table, seed, inflate_share=share, inflate=contest)
    return a, b, truth["inflated_ballots"].to_numpy()


def score(a, b, truth):
    data = serialize(
        crosscheck(
            [table_from_frame(a, name="a"), table_from_frame(b, name="b")], ["a", "b"], Params()
        )
    )
    by_id = {s["station_id"]: s["flagged"] for s in data["stations"]}
    flagged = np.array([by_id.get(str(i), False) for i in a["station_id"]])
    inflated = truth > 0
    verdicts = {r["test"]: r["verdict"] for r in data["results"] if r["scope"] == "national"}
    return flagged, inflated, verdicts


def run(generator, sims: int, stations: int, share: float, contest: str) -> dict:
    recall, precision, honest_flagged = [], [], []
    issued_anomaly = balance_anomaly = 0
    for seed in range(sims):
        a, b, truth = generator(seed, stations, share, contest)
        flagged, inflated, verdicts = score(a, b, truth)
        if inflated.any():
            recall.append((flagged & inflated).sum() / inflated.sum())
        if flagged.any():
            precision.append((flagged & inflated).sum() / flagged.sum())
        honest_flagged.append((flagged & ~inflated).sum() / max(1, (~inflated).sum()))
        issued_anomaly += verdicts["crosscheck_issued"] == "anomaly"
        balance_anomaly += verdicts["crosscheck_balance"] == "anomaly"
    return {
        "recall": float(np.mean(recall)) if recall else None,
        "precision": float(np.mean(precision)) if precision else None,
        "honest_flagged": float(np.mean(honest_flagged)),
        "issued_anomaly": issued_anomaly / sims,
        "balance_anomaly": balance_anomaly / sims,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=100)
    parser.add_argument("--stations", type=int, default=3000)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"{args.sims} simulations of {args.stations:,} stations per row")
    print(
        f"{'generator':<12} {'inflated':>8} {'contest':>7} {'recall':>7} {'precision':>9} "
        f"{'honest flagged':>14} {'issued anomaly':>14} {'balance anomaly':>15}"
    )
    for name, generator in (("kzvote", project_pair), ("independent", independent_pair)):
        for share, contest in ((0.0, "a"), (0.02, "a"), (0.05, "b")):
            row = run(generator, args.sims, args.stations, share, contest)

            def fmt(x):
                return "-" if x is None else f"{100 * x:.2f}%"

            print(
                f"{name:<12} {share:>8.0%} {contest:>7} {fmt(row['recall']):>7} "
                f"{fmt(row['precision']):>9} {fmt(row['honest_flagged']):>14} "
                f"{fmt(row['issued_anomaly']):>14} {fmt(row['balance_anomaly']):>15}"
            )
    print(f"elapsed {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
