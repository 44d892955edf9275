"""Integer-percentage spikes (Kobak, Shpilkin & Pshenichnikov 2016).

When result protocols are written to order ("turnout 70%"), whole percentages of
turnout and of the leader's share turn up more often than counting noise allows.

Notes
-----
A station *hits* when ``100 * m / N`` lies within ``tolerance`` percentage points of a
whole percent (of a multiple of ``step`` percent). For integer counts this is decided
exactly in integers: with ``r = (2000 m) mod (20 step N)`` the station hits when
``r <= 20 tol N`` or ``r >= (20 step - 20 tol) N`` (for ``tol = 0.05``: ``r <= N``).

The paper's null draws, independently per station, ``m ~ Binomial(N, p_obs)`` for the
leader's votes (``N`` = ballots cast) and for ballots issued (``N`` = registered). The
hit indicator of station *i* is then Bernoulli with an exactly computable probability
``a_i`` (turnout) or ``b_i`` (share): the sum of binomial probabilities over the counts
that hit. For ``either``, ``q_i = 1 - (1 - a_i)(1 - b_i)``. The number of hitting
stations is Poisson-binomial with mean ``sum q_i`` and variance ``sum q_i (1 - q_i)``;
no Monte Carlo is needed and the p-value has no ``1/(R+1)`` floor.

The binomial probabilities come from :mod:`kzvote.methods.binomial` (a window of
+-6.5 standard deviations around the mean; the mass left out is below 1e-10).

References
----------
Kobak, D., Shpilkin, S., Pshenichnikov, M. S. (2016). Integer percentages as electoral
falsification fingerprints. Annals of Applied Statistics 10(1), 54-73.
doi:10.1214/16-AOAS904
"""

from __future__ import annotations

import numpy as np

from kzvote.methods.binomial import blocks, pmf_rows
from kzvote.methods.common import (
    Context,
    excluded_total,
    inconclusive,
    leader_share_parts,
    merge_exclusions,
    poisson_binomial_sf,
    turnout_parts,
)
from kzvote.model import StationTable, StatResult

TOLERANCE_PP = 0.05
SIZE_SWEEP = (100, 250, 500, 1000)
MIN_STATIONS = 100


def hits(counts: np.ndarray, totals: np.ndarray, *, step: int = 1, tol: float = TOLERANCE_PP):
    """Whether ``100 * counts / totals`` is within ``tol`` pp of a multiple of ``step``%.

    Exact for integer counts (no floating-point rounding of the percentage).
    """
    counts = np.asarray(counts, dtype=float)
    totals = np.asarray(totals, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        remainder = np.fmod(2000.0 * counts, 20.0 * step * totals)
    band = 20.0 * tol * totals
    return (totals > 0) & ((remainder <= band) | (remainder >= 20.0 * step * totals - band))


def hit_probability(
    totals: np.ndarray,
    probs: np.ndarray,
    *,
    steps: tuple[int, ...] = (1,),
    tol: float = TOLERANCE_PP,
    series_above_sd: float | None = None,
) -> np.ndarray:
    """P(hit) when ``m ~ Binomial(totals, probs)``, per station and step, exactly.

    Parameters
    ----------
    totals
        Binomial sizes (integers as floats).
    probs
        Success probabilities in [0, 1].
    steps
        Percent steps to test (1 = whole percents, 5 = multiples of 5%).
    series_above_sd
        When given, stations whose binomial sd is at least this use the Edgeworth
        series for the CDF (:func:`kzvote.methods.binomial.edgeworth_cdf`) instead of
        the pmf window: a few CDF values per station instead of ~13 sd pmf values. At
        sd >= 8 the CDF error is below 1e-5.

    Returns
    -------
    ndarray, shape (len(steps), len(totals))
        Sum over the counts ``m`` that hit of the binomial pmf.
    """
    totals = np.asarray(totals, dtype=float)
    probs = np.clip(np.asarray(probs, dtype=float), 0.0, 1.0)
    out = np.empty((len(steps), len(totals)))
    degenerate = (probs <= 0) | (probs >= 1) | (totals <= 0)
    # p = 0 or 1: the count is certain (0 or N), both whole percents.
    certain = np.where(probs[degenerate] >= 1, totals[degenerate], 0.0)
    for s, step in enumerate(steps):
        out[s, degenerate] = hits(certain, totals[degenerate], step=step, tol=tol)
    if series_above_sd is not None:
        sd = np.sqrt(totals * probs * (1 - probs))
        series = ~degenerate & (sd >= series_above_sd)
        for s, step in enumerate(steps):
            out[s, series] = _series_mass(totals[series], probs[series], step, tol)
        degenerate = degenerate | series
    idx = np.flatnonzero(~degenerate)
    if len(idx) == 0:
        return np.clip(out, 0.0, 1.0)
    n_all, p_all = totals[idx], probs[idx]
    for rows, w, first, last in blocks(n_all, p_all):
        n = n_all[rows][:, None]
        p = p_all[rows][:, None]
        # column 0 is P(M < first) := 0, so that CDF differences need no padding
        cdf = np.empty((len(rows), w + 1))
        cdf[:, 0] = 0.0
        pmf_rows(n, p, first, w, out=cdf[:, 1:])
        np.cumsum(cdf, axis=1, out=cdf)
        for s, step in enumerate(steps):
            out[s, idx[rows]] = _interval_mass(cdf, n, first, last, step, tol)
    return np.clip(out, 0.0, 1.0)


def _series_mass(n: np.ndarray, p: np.ndarray, step: int, tol: float) -> np.ndarray:
    """Hit probability from Edgeworth CDF values at the ends of the hit intervals.

    Only the multiples of ``step`` within 7 sd of the mean are visited (the mass beyond
    is below 1e-11); rows are sorted by how many that is, so blocks waste little.
    """
    from kzvote.methods.binomial import edgeworth_cdf

    sd = np.sqrt(n * p * (1 - p))
    k_lo = np.floor((n * p - 7 * sd) * 100 / n / step) * step
    k_hi = np.ceil((n * p + 7 * sd) * 100 / n / step) * step
    n_k = ((k_hi - k_lo) / step).astype(np.int64) + 1
    order = np.argsort(n_k, kind="stable")
    out = np.empty(len(n))
    for start in range(0, len(order), 4096):
        rows = order[start : start + 4096]
        nn, pp = n[rows][:, None], p[rows][:, None]
        k = k_lo[rows][:, None] + step * np.arange(int(n_k[rows].max()), dtype=float)[None, :]
        a, b = _hit_bounds(nn, k, tol)
        b = np.minimum(b, nn)
        mass = edgeworth_cdf(b, nn, pp) - edgeworth_cdf(a - 1, nn, pp)
        out[rows] = np.where((b >= a) & (k <= 100) & (k >= 0), mass, 0.0).sum(axis=1)
    return out


def _hit_bounds(n: np.ndarray, k: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """The counts that hit ``k`` percent: ceil(n (k - tol) / 100) .. floor(n (k + tol) /
    100); both bounds are exact in floating point because n (k +- tol) * 20 is an
    integer."""
    scale = int(round(20 * tol))  # tol = 0.05 pp -> 1
    a = np.maximum(np.ceil(n * (20 * k - scale) / 2000), 0)
    return a, np.floor(n * (20 * k + scale) / 2000)


def _interval_mass(cdf, n, first, last, step, tol) -> np.ndarray:
    """Sum over multiples k of ``step`` of P(100 m / n within tol of k), from the CDF.

    The counts that hit k come from :func:`_hit_bounds`.
    """
    k_lo = np.floor(first * 100 / n / step) * step
    k_hi = np.ceil(last * 100 / n / step) * step
    n_k = int(((k_hi - k_lo) / step).max()) + 1
    k = k_lo + step * np.arange(n_k, dtype=float)[None, :]
    a, b = _hit_bounds(n, k, tol)
    a = np.maximum(a, first)
    b = np.minimum(b, np.minimum(last, n))
    w = cdf.shape[1] - 1
    upper_idx = np.clip(b - first, -1, w - 1).astype(np.int64)
    lower_idx = np.clip(a - 1 - first, -1, w - 1).astype(np.int64)
    upper = np.take_along_axis(cdf, upper_idx + 1, axis=1)
    lower = np.take_along_axis(cdf, lower_idx + 1, axis=1)
    mass = np.where((b >= a) & (k <= 100), upper - lower, 0.0)
    return mass.sum(axis=1)


def _select(table: StationTable, ctx: Context, min_registered: float):
    turnout_num, turnout_den, ok_t, why_t = turnout_parts(table)
    share_num, share_den, ok_s, why_s = leader_share_parts(table, ctx.leader)
    ok = ok_t & ok_s
    with np.errstate(invalid="ignore", divide="ignore"):
        turnout = turnout_num / turnout_den
        share = share_num / share_den
    reasons = merge_exclusions(why_t, why_s)
    rules = {
        f"registered_below_{int(min_registered)}": ok & (turnout_den < min_registered),
        "turnout_above_99pct": ok & (turnout_den >= min_registered) & (turnout > 0.99),
        "share_above_99pct": ok
        & (turnout_den >= min_registered)
        & (turnout <= 0.99)
        & (share > 0.99),
    }
    for key, mask in rules.items():
        if mask.any():
            reasons[key] = int(mask.sum())
        ok &= ~mask
    return ok, reasons, turnout_num, turnout_den, share_num, share_den


def integer_percent(table: StationTable, ctx: Context) -> list[StatResult]:
    """Excess of stations at whole-percent turnout or leader share.

    Subjects ``turnout``, ``leader_share`` and ``either`` (the paper's headline),
    counting stations; ``details`` also carry the same numbers weighted by voters
    (ballots cast) and, for ``either``, a size sweep over registered >= 100, 250, 500,
    1000. A second test, ``multiple_of_5_percent``, does the same for multiples of 5%.
    """
    min_registered = float(ctx.options.get("min_registered", 100))
    ok, reasons, t_num, t_den, s_num, s_den = _select(table, ctx, min_registered)
    n = int(ok.sum())
    families = (
        ("integer_percent", 1, ("turnout", "leader_share", "either")),
        ("multiple_of_5_percent", 5, ("either",)),
    )
    if n < MIN_STATIONS:
        return [
            inconclusive(
                test,
                subject,
                ctx.scope,
                n,
                f"only {n} stations qualify (registered >= {int(min_registered)}, "
                f"turnout and share <= 99%); at least {MIN_STATIONS} are needed",
                excluded=reasons,
            )
            for test, _, subjects in families
            for subject in subjects
        ]
    steps = tuple(step for _, step, _ in families)
    t_num, t_den, s_num, s_den = t_num[ok], t_den[ok], s_num[ok], s_den[ok]
    a = hit_probability(t_den, t_num / t_den, steps=steps)
    b = hit_probability(s_den, s_num / s_den, steps=steps)
    out = []
    for s, (test, step, subjects) in enumerate(families):
        hit_t = hits(t_num, t_den, step=step)
        hit_s = hits(s_num, s_den, step=step)
        parts = {
            "turnout": (hit_t, a[s]),
            "leader_share": (hit_s, b[s]),
            "either": (hit_t | hit_s, 1 - (1 - a[s]) * (1 - b[s])),
        }
        for subject in subjects:
            observed_hits, probs = parts[subject]
            details = _excess_details(observed_hits, probs, s_den)
            details.update(
                step_percent=step,
                tolerance_pp=TOLERANCE_PP,
                min_registered=int(min_registered),
                chance_hit_rate=float(probs.mean()),
            )
            if subject == "either" and step == 1:
                details["size_sweep"] = _sweep(observed_hits, probs, s_den, t_den, min_registered)
            p_value = details.pop("p_value")
            out.append(
                StatResult(
                    test=test,
                    subject=subject,
                    scope=ctx.scope,
                    n=n,
                    statistic=details["z"],
                    p_value=p_value,
                    effect=details["excess"],
                    details=details,
                    n_excluded=excluded_total(reasons),
                    excluded=reasons,
                    method=(
                        f"stations within +-{TOLERANCE_PP} pp of a multiple of {step}%; exact "
                        "Poisson-binomial null from per-station binomial hit probabilities "
                        "(Kobak, Shpilkin & Pshenichnikov 2016); one-sided p for an excess"
                    ),
                    warnings=_warnings(details),
                )
            )
    return out


def _excess_details(observed_hits: np.ndarray, probs: np.ndarray, voters: np.ndarray) -> dict:
    from kzvote.methods.distributions import norm_sf

    observed = int(observed_hits.sum())
    expected = float(probs.sum())
    sd = float(np.sqrt((probs * (1 - probs)).sum()))
    z = (observed - expected) / sd if sd > 0 else 0.0
    p_value = poisson_binomial_sf(observed, probs)
    w_obs = float((voters * observed_hits).sum())
    w_exp = float((voters * probs).sum())
    w_sd = float(np.sqrt((voters**2 * probs * (1 - probs)).sum()))
    w_z = (w_obs - w_exp) / w_sd if w_sd > 0 else 0.0
    return {
        "observed": observed,
        "expected": expected,
        "excess": observed - expected,
        "sd": sd,
        "z": z,
        "p_value": p_value,
        "voters_observed": w_obs,
        "voters_expected": w_exp,
        "voters_excess": w_obs - w_exp,
        "voters_z": w_z,
        "voters_p_value": float(norm_sf(w_z)),
    }


def _sweep(observed_hits, probs, voters, registered, min_registered) -> list[dict]:
    rows = []
    for threshold in SIZE_SWEEP:
        if threshold < min_registered:
            continue
        keep = registered >= threshold
        if keep.sum() < MIN_STATIONS:
            rows.append({"min_registered": threshold, "n": int(keep.sum())})
            continue
        d = _excess_details(observed_hits[keep], probs[keep], voters[keep])
        rows.append(
            {
                "min_registered": threshold,
                "n": int(keep.sum()),
                "observed": d["observed"],
                "expected": d["expected"],
                "excess": d["excess"],
                "z": d["z"],
                "p_value": d["p_value"],
            }
        )
    return rows


def _warnings(details: dict) -> tuple[str, ...]:
    notes = []
    sweep = details.get("size_sweep") or []
    big = [row for row in sweep if row.get("min_registered", 0) >= 500 and "z" in row]
    if details["z"] > 3 and big and all(row["z"] < 2 for row in big):
        notes.append(
            "the excess lives only in small stations (registered < 500), where whole "
            "percentages also arise by arithmetic; see size_sweep"
        )
    return tuple(notes)
