"""Clean synthetic *twins* of an election file, for ``kzvote calibrate``.

A twin keeps the file's stations, registered counts and regions; its turnout and
candidate shares are drawn from a fair model fitted to the file, and its counts with
binomial/multinomial noise. It has no fraud features by construction: no 95/95 corner
beyond what the fitted spreads give, no whole-percent excess. Injections (ballot
stuffing, whole-percent turnout, invented counts) reuse the simulator's primitives.

The fair model, per region (regions with fewer than 30 usable stations share the
national fit):

* turnout: logit-normal, centre and spread from the median and MAD of the stations'
  logit turnout (robust to a minority of manipulated stations). A region near 100%
  turnout keeps its median, unless its median leader share is above 90% too: a whole
  region in the 90/90 corner is not something honest counting is taken to produce
  (the fingerprint test's honest blobs never centre there, and call what sits there
  extreme stuffing or special stations), so its twins' turnout centre is lowered to
  90%, with the region's own spread. Before this rule the twins of Russia 2011 kept
  regions at 99% for the leader, and the cluster test fired on every clean twin. Then,
  as for the fingerprint's honest blobs, a region's twins put at most 0.1% of its
  stations at >= 95% turnout and >= 95% leader share: its turnout centre is lowered
  until they do;
* candidate shares: per candidate its own logit-normal, centre the median of the
  region's station logit shares and spread their MAD net of binomial noise (on the
  logit scale ``1 / (valid p (1 - p))``), the draws normalised to sum to one. One
  Dirichlet concentration for every candidate (the leader's) gave small parties the
  wrong spread, and tests on their counts false alarms on twins that they did not give
  on independent elections of the same shape;
* ballots lost between issue and box, and invalid ballots: the region's median rates.

:func:`fidelity` checks that the twins look like the file, count by count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kzvote.methods.common import leader_share_parts, turnout_parts
from kzvote.model import KzvoteError, StationTable
from kzvote.simulate import Counts, _klimek_x, apply_rounding, apply_stuffing, apply_whole_percent

MIN_REGION = 30
#: a region whose median turnout and leader share both exceed this has its turnout
#: centre lowered to it (the rule of the fingerprint's honest blobs)
CORNER = 0.9


@dataclass(frozen=True)
class FairModel:
    registered: np.ndarray
    region_codes: np.ndarray
    region_names: list[str]
    station_ids: np.ndarray
    rows: np.ndarray  # the table rows the model was fitted on (the twins' stations)
    turnout_logit: np.ndarray  # (regions, 2): centre, spread
    shares: np.ndarray  # (regions, candidates): median shares
    share_logit: np.ndarray  # (regions, candidates, 2): centre and spread of logit shares
    lost_rate: np.ndarray  # (regions,)
    invalid_rate: np.ndarray  # (regions,)
    candidates: tuple[str, ...]
    leader: int


def _corner_capped_centre(centre: float, spread: float, leader_logit) -> float:
    """The region's turnout centre, lowered until its twins put at most
    ``CORNER_MASS_CAP`` of its stations at >= 95% turnout and >= 95% leader share (the
    cap on the fingerprint's honest blobs; turnout and the leader's logit share are
    drawn independently, the share before normalisation)."""
    from scipy.special import ndtr, ndtri

    from kzvote.methods.klimek_fit import CORNER_MASS_CAP

    edge = float(np.log(0.95 / 0.05))
    share_tail = float(ndtr((leader_logit[0] - edge) / max(leader_logit[1], 1e-9)))
    if share_tail <= CORNER_MASS_CAP:
        return centre
    turnout_tail = float(ndtr((centre - edge) / spread))
    if turnout_tail * share_tail <= CORNER_MASS_CAP:
        return centre
    return float(edge + spread * ndtri(CORNER_MASS_CAP / share_tail))


def _mad(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def fit_fair_model(table: StationTable, leader: str) -> FairModel:
    """The clean model the twins are drawn from (see the module docstring)."""
    t_num, t_den, ok_t, _ = turnout_parts(table)
    s_num, s_den, ok_s, _ = leader_share_parts(table, leader)
    ok = ok_t & ok_s & (t_num < t_den) & (t_num > 0) & np.isfinite(table.votes).all(axis=1)
    if ok.sum() < 50:
        raise KzvoteError(
            "too_small_to_calibrate",
            f"only {int(ok.sum())} usable stations; calibration needs at least 50",
            file=table.path,
        )
    registered = t_den[ok]
    region = table.ids["region"].to_numpy()[ok]
    codes, names = pd.factorize(pd.Series(region).astype(str))
    sizes = np.bincount(codes)
    logit = np.log(t_num[ok] / (t_den[ok] - t_num[ok]))
    votes = table.votes[ok]
    valid = votes.sum(axis=1)
    share = votes / np.maximum(valid, 1)[:, None]
    cast = table.column("ballots_cast")[ok]
    invalid = table.column("invalid")[ok]
    lost = np.clip(1 - np.where(np.isfinite(cast), cast, t_num[ok]) / t_num[ok], 0, 0.5)
    inv = np.clip(
        np.where(np.isfinite(invalid), invalid, 0) / np.maximum(valid + np.nan_to_num(invalid), 1),
        0,
        0.5,
    )
    lead = list(table.candidates).index(leader)

    def fit(mask):
        centre, spread = float(np.median(logit[mask])), max(_mad(logit[mask]), 0.02)
        m = np.median(share[mask], axis=0)
        m = np.maximum(m, 1e-4)
        m = m / m.sum()
        v = np.maximum(valid[mask], 1)[:, None]
        kept = np.clip(share[mask], 0.5 / v, 1 - 0.5 / v)  # half a vote off 0 and 1
        ls = np.log(kept) - np.log1p(-kept)
        c = np.median(ls, axis=0)
        mad = 1.4826 * np.median(np.abs(ls - c), axis=0)
        p = np.clip(1 / (1 + np.exp(-c)), 1e-4, 1 - 1e-4)
        noise = np.mean(1 / (v * p * (1 - p)), axis=0)
        sd = np.sqrt(np.maximum(mad**2 - noise, 0.02**2))
        logit_shares = np.stack([c, sd], axis=1)
        return (
            (centre, spread),
            m,
            logit_shares,
            float(np.median(lost[mask])),
            float(np.median(inv[mask])),
        )

    national = fit(np.ones(len(codes), dtype=bool))
    fits = [fit(codes == r) if sizes[r] >= MIN_REGION else national for r in range(len(names))]
    edge = float(np.log(CORNER / (1 - CORNER)))
    for k, f in enumerate(fits):
        (centre, spread), m = f[0], f[1]
        if centre > edge and m[lead] > CORNER:  # the corner rule of the module docstring
            centre = edge
        centre = _corner_capped_centre(centre, spread, f[2][lead])
        fits[k] = ((centre, spread),) + f[1:]
    return FairModel(
        registered=registered,
        region_codes=codes,
        region_names=[str(n) for n in names],
        station_ids=table.ids["station_id"].to_numpy()[ok],
        rows=np.flatnonzero(ok),
        turnout_logit=np.array([f[0] for f in fits]),
        shares=np.array([f[1] for f in fits]),
        share_logit=np.array([f[2] for f in fits]),
        lost_rate=np.array([f[3] for f in fits]),
        invalid_rate=np.array([f[4] for f in fits]),
        candidates=table.candidates,
        leader=lead,
    )


def draw_twin(model: FairModel, rng: np.random.Generator, inject: dict[str, float] | None = None):
    """One clean (or injected) twin as a canonical DataFrame."""
    n = len(model.registered)
    r = model.region_codes
    centre, spread = model.turnout_logit[r, 0], model.turnout_logit[r, 1]
    turnout = 1 / (1 + np.exp(-(centre + spread * rng.standard_normal(n))))
    registered = model.registered.astype(np.int64)
    issued = rng.binomial(registered, turnout).astype(float)
    cast = issued - rng.binomial(issued.astype(np.int64), model.lost_rate[r])
    invalid = rng.binomial(cast.astype(np.int64), model.invalid_rate[r]).astype(float)
    valid = cast - invalid
    centre, spread = model.share_logit[r, :, 0], model.share_logit[r, :, 1]
    raw = 1 / (1 + np.exp(-(centre + spread * rng.standard_normal(centre.shape))))
    shares = raw / raw.sum(axis=1, keepdims=True)
    votes = rng.multinomial(valid.astype(np.int64), shares).astype(float)
    counts = Counts(registered.astype(float), issued, cast, valid, invalid, votes, model.leader)
    for kind, size in (inject or {}).items():
        if kind == "stuffing_incremental":
            x = _klimek_x(rng, np.full(n, size), np.zeros(n), np.full(n, 0.1))
            apply_stuffing(rng, counts, x, 2.0)
        elif kind == "stuffing_extreme":
            x = _klimek_x(rng, np.zeros(n), np.full(n, size), np.full(n, 0.1))
            apply_stuffing(rng, counts, x, 2.0)
        elif kind == "whole_percent":
            apply_whole_percent(counts, rng.random(n) < size)
        elif kind == "invented":
            apply_rounding(rng, counts, rng.random(n) < size)
    frame = pd.DataFrame(
        {
            "station_id": model.station_ids,
            "region": np.array(model.region_names, dtype=object)[r],
            "registered": registered,
            "ballots_issued": counts.issued.astype(np.int64),
            "ballots_cast": counts.cast.astype(np.int64),
            "valid": counts.valid.astype(np.int64),
            "invalid": counts.invalid.astype(np.int64),
        }
    )
    for j in range(len(model.candidates)):
        frame[f"candidate {j}"] = counts.votes[:, j].astype(np.int64)
    return frame


#: a twin resembles the file when, per count, the two distributions differ by at most
#: this (Kolmogorov-Smirnov distance), or by no more than sampling noise allows
FIDELITY_D = 0.05
FIDELITY_TWINS = 3


def _ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
    if len(a) == 0 or len(b) == 0:
        return 0.0
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def fidelity(table: StationTable, model: FairModel, seed: int) -> dict[str, Any]:
    """Do the twins look like the file? Per candidate (and for turnout), the
    Kolmogorov-Smirnov distance between the file's station counts and those of
    ``FIDELITY_TWINS`` pooled twins; a distance above ``max(FIDELITY_D, 1.5 x the 5%
    critical value of the two-sample test)`` says no, naming the count."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7_771]))
    twins = [draw_twin(model, rng) for _ in range(FIDELITY_TWINS)]
    n = len(model.registered)
    # the fitted rows themselves: matching by station number was wrong where numbers
    # repeat across regions, and np.isin on text took 120 s on Russia 2011
    keep = model.rows
    critical = 1.358 * np.sqrt(1 / n + 1 / (n * FIDELITY_TWINS))
    limit = float(max(FIDELITY_D, 1.5 * critical))
    rows = []
    t_num, t_den, _, _ = turnout_parts(table)
    pairs = [
        ("turnout", (t_num / t_den)[keep], [t["ballots_issued"] / t["registered"] for t in twins])
    ]
    for j, name in enumerate(model.candidates):
        pairs.append((name, table.votes[keep, j], [t[f"candidate {j}"].to_numpy() for t in twins]))
    for name, observed, drawn in pairs:
        d = _ks_distance(np.asarray(observed, dtype=float), np.concatenate(drawn).astype(float))
        rows.append({"count": name, "ks_distance": d, "resembles": bool(d <= limit)})
    off = [r for r in rows if not r["resembles"]]
    return {
        "resembles": not off,
        "limit": limit,
        "twins": FIDELITY_TWINS,
        "counts": rows,
        "because": (
            "every count's distribution in the twins is within "
            f"{limit:.3f} (Kolmogorov-Smirnov distance) of the file's"
            if not off
            else "the twins do not reproduce "
            + ", ".join(f"{r['count']} (distance {r['ks_distance']:.3f})" for r in off)
            + ": rates measured on these twins may not hold for this file"
        ),
    }
