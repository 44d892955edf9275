"""Descriptive totals of an election file: the report's summary section."""

from __future__ import annotations

import numpy as np

from kzvote.methods.common import leader_share_parts, turnout_parts
from kzvote.model import StationTable

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def summarise(table: StationTable, leader: str, *, by_region: bool = True) -> dict:
    """Totals, turnout, candidate shares and the turnout distribution.

    Turnout is ballots issued / registered (ballots cast when no issued count), summed
    over the stations where both are usable. Candidate shares are of valid votes.
    """
    out = _totals(table, leader)
    t_num, t_den, ok, _ = turnout_parts(table)
    turnout = t_num[ok] / t_den[ok]
    if len(turnout):
        out["turnout_distribution"] = {
            "stations": int(len(turnout)),
            "mean": float(turnout.mean()),
            "sd": float(turnout.std(ddof=1)) if len(turnout) > 1 else 0.0,
            "quantiles": {
                f"q{int(q * 100):02d}": float(np.quantile(turnout, q)) for q in QUANTILES
            },
            "share_at_least_90": float((turnout >= 0.90).mean()),
            "share_at_least_95": float((turnout >= 0.95).mean()),
            "share_at_least_99": float((turnout >= 0.99).mean()),
            "histogram_1pp": np.histogram(turnout, bins=100, range=(0, 1))[0].tolist(),
        }
    if by_region and table.ids["region"].ne("").any():
        regions = []
        for name, idx in table.ids.groupby("region", sort=True).indices.items():
            mask = np.zeros(table.n_stations, dtype=bool)
            mask[idx] = True
            sub = _totals(table.subset(mask), leader)
            regions.append(
                {
                    "region": str(name),
                    "stations": sub["stations"],
                    "registered": sub["registered"],
                    "turnout": sub["turnout"],
                    "leader_share": sub["shares"].get(leader),
                }
            )
        out["regions"] = regions
    return out


def _totals(table: StationTable, leader: str) -> dict:
    # totals count every row, aggregate rows (electronic voting) included
    t_num, t_den, ok_t, _ = turnout_parts(table, aggregates=True)
    s_num, s_den, ok_s, _ = leader_share_parts(table, leader, aggregates=True)
    votes_ok = np.isfinite(table.votes).all(axis=1)
    if table.bad is not None:
        votes_ok &= ~table.bad["votes"].to_numpy()
    totals = np.nansum(table.votes[votes_ok], axis=0)
    valid_total = float(totals.sum())
    counts = {}
    for name in ("registered", "ballots_issued", "ballots_cast", "valid", "invalid"):
        column = table.column(name)
        counts[name] = int(np.nansum(column)) if np.isfinite(column).any() else None
    turnout = (
        float(t_num[ok_t].sum() / t_den[ok_t].sum()) if ok_t.any() and t_den[ok_t].sum() else None
    )
    aggregate = 0 if table.aggregate is None else int(table.aggregate.sum())
    return {
        "stations": table.n_stations - aggregate,
        "aggregate_rows": aggregate,
        **counts,
        "turnout": turnout,
        "turnout_basis": "ballots_issued" if table.has("ballots_issued") else "ballots_cast",
        "leader": leader,
        "leader_share_of_cast": float(s_num[ok_s].sum() / s_den[ok_s].sum())
        if ok_s.any()
        else None,
        "votes": {c: int(v) for c, v in zip(table.candidates, totals, strict=True)},
        "shares": {
            c: (float(v / valid_total) if valid_total else None)
            for c, v in zip(table.candidates, totals, strict=True)
        },
    }
