"""Helpers shared by the test families: context, station selection, null tails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kzvote.model import StationTable, StatResult


@dataclass(frozen=True)
class Context:
    """What every test needs besides the table: the leader, the scope, the rng."""

    leader: str
    scope: str
    rng: np.random.Generator
    alpha: float = 0.05
    options: dict[str, Any] = field(default_factory=dict)


def excluded_total(reasons: dict[str, int]) -> int:
    return int(sum(reasons.values()))


def merge_exclusions(*parts: dict[str, int]) -> dict[str, int]:
    """Exclusion counts of several field selections: the largest count per reason
    (the same station excluded for the same reason by two selections counts once)."""
    out: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = max(out.get(key, 0), value)
    return out


def inconclusive(
    test: str,
    subject: str,
    scope: str,
    n: int,
    reason: str,
    *,
    excluded: dict[str, int] | None = None,
    details: dict | None = None,
) -> StatResult:
    """A result that could not be tested, with the reason in ``warnings``."""
    excluded = excluded or {}
    return StatResult(
        test=test,
        subject=subject,
        scope=scope,
        n=n,
        statistic=None,
        p_value=None,
        verdict="inconclusive",
        details=details or {},
        warnings=(reason,),
        n_excluded=excluded_total(excluded),
        excluded=excluded,
    )


def turnout_parts(table: StationTable, *, aggregates: bool = False):
    """Numerator (ballots issued, else cast), registered, usable mask, exclusions.

    Turnout follows Kobak et al.: ballots issued / registered, falling back to
    ballots cast / registered when the file has no issued count. Aggregate rows
    (electronic voting, totals) count only with ``aggregates`` (totals, not tests).
    """
    numerator_field = "ballots_issued" if table.has("ballots_issued") else "ballots_cast"
    ok, reasons = table.usable(("registered", numerator_field), aggregates=aggregates)
    registered = table.column("registered")
    numerator = table.column(numerator_field)
    with np.errstate(invalid="ignore"):
        zero = ok & ~(registered > 0)
    if zero.any():
        reasons["zero_registered"] = reasons.get("zero_registered", 0) + int(zero.sum())
    ok &= ~zero
    return numerator, registered, ok, reasons


def leader_share_parts(table: StationTable, leader: str, *, aggregates: bool = False):
    """Leader votes, ballots cast (else valid), usable mask, exclusions."""
    denominator_field = "ballots_cast" if table.has("ballots_cast") else "valid"
    ok, reasons = table.usable((denominator_field, "votes"), aggregates=aggregates)
    denominator = table.column(denominator_field)
    numerator = table.candidate_votes(leader)
    with np.errstate(invalid="ignore"):
        empty = ok & ~(denominator > 0)
    if empty.any():
        reasons["no_ballots_cast"] = reasons.get("no_ballots_cast", 0) + int(empty.sum())
    ok &= ~empty
    return numerator, denominator, ok, reasons


EXACT_POISSON_BINOMIAL_MAX = 5000


def poisson_binomial_sf(k: int, probs: np.ndarray) -> float:
    """P(X >= k) for X a sum of independent Bernoulli(probs).

    Exact (dynamic programming over the distribution) for up to 5,000 trials; above
    that the refined normal approximation of Volkova (1996), which corrects the normal
    tail for skewness and is accurate to ~1e-4 absolute for n in the thousands.

    References
    ----------
    Hong, Y. (2013). On computing the distribution function for the Poisson binomial
    distribution. Computational Statistics & Data Analysis 59, 41-51.
    """
    from kzvote.methods.distributions import norm_pdf, norm_sf

    probs = np.asarray(probs, dtype=float)
    n = len(probs)
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if n <= EXACT_POISSON_BINOMIAL_MAX:
        dist = np.zeros(n + 1)
        dist[0] = 1.0
        for i, q in enumerate(probs, start=1):
            dist[1 : i + 1] = dist[1 : i + 1] * (1 - q) + dist[:i] * q
            dist[0] *= 1 - q
        return float(min(1.0, max(0.0, dist[k:].sum())))
    mean = probs.sum()
    var = (probs * (1 - probs)).sum()
    sd = np.sqrt(var)
    if sd == 0:
        return 1.0 if k <= mean else 0.0
    skew = (probs * (1 - probs) * (1 - 2 * probs)).sum() / sd**3
    x = (k - 0.5 - mean) / sd
    tail = norm_sf(x) - skew * (1 - x * x) * norm_pdf(x) / 6
    if not 0 < tail < 1:
        tail = norm_sf(x)
    return float(tail)
