"""Concurrent contests at the same stations must agree: arithmetic, then a sign test.

On an election day with several ballots (Kazakhstan 2023: the Majilis party list, the
single-mandate district, the maslikhat), each contest has its own protocol but the
voters are the same people. The number of voters who received ballots may differ
between two contests only by a few papers (a voter refusing one ballot, a spoiled
paper replaced). A protocol inflated in one contest and not in the other shows up
without any statistics.

Tests (one result per pair of contests and scope):

``crosscheck_issued``
    stations where ballots issued (ballots cast when a file has no issued line)
    differ by more than the tolerance, ``max(tolerance, tolerance_share x
    registered)``. Each such station is a disagreement by arithmetic and is listed;
    the verdict asks whether there are more of them than honest slips explain: the
    p-value is ``P(Binomial(n, HONEST_RATE) >= flagged)``, an allowance of one honest
    disagreement per 1,000 stations (a typing error, a voter leaving with one ballot
    unused). Measured honest rates on two generators: 0.00% and 0.02%
    (``benchmarks/bench_crosscheck.py``).
``crosscheck_registered``
    stations where the registered voters differ by more than the same tolerance (the
    voter lists should be the same); the same allowance and test.
``crosscheck_balance``
    are the differences centred on zero? Exact two-sided sign test on the stations
    whose ballots differ at all, with a Clopper-Pearson interval for the share where
    contest A is higher and an order-statistic interval for the median difference.
    ``anomaly`` needs the adjusted p below alpha and a material net excess: at least
    ``BALANCE_MATERIAL`` of the ballots (honest refusals of one ballot tilt the sign
    test without moving the totals).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from kzvote.methods.common import inconclusive
from kzvote.methods.observers import normalise_ids
from kzvote.model import KzvoteError, StationTable, StatResult

#: Net excess of one contest over the other, as a share of its ballots, that matters.
BALANCE_MATERIAL = 0.005
#: Honest disagreements beyond the tolerance allowed per station (1 in 1,000).
HONEST_RATE = 0.001
#: Innocent explanations shown beside each arithmetic result.
OTHER_CAUSES = {
    "crosscheck_issued": "a typing error in one protocol; voters who refused one of the "
    "ballots (a few papers at most); a station whose contests were counted from different "
    "voter lists (e.g. voters registered on the day for one contest only)",
    "crosscheck_registered": "voter lists that really differ between the contests (e.g. "
    "voters eligible for the national vote but not the local one), or a typing error",
}


@dataclass(frozen=True)
class Contest:
    """One contest's table and the name it goes by in the report."""

    label: str
    table: StationTable


@dataclass
class Joined:
    """The stations of every contest lined up by normalised (region +) station id."""

    contests: list[Contest]
    keys: list[str]  # one per joined station, in the first contest's order
    rows: np.ndarray  # stations x contests: row in that contest's table, -1 when absent
    key_kind: str
    unmatched: dict[str, list[str]]  # label -> ids found in that contest only
    duplicates: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)


def join_contests(contests: list[Contest]) -> Joined:
    """Line up the contests' stations (as ``compare`` does: normalised ids, region too).

    A station id repeated inside one contest is left out of that contest (listed in
    ``duplicates``); aggregate rows (electronic voting, totals) are left out too.
    """
    for contest in contests:
        if not contest.table.mapping.fields.get("station_id"):
            raise KzvoteError(
                "missing_field",
                f"contest {contest.label!r} has no station id column to join on",
                file=contest.table.path,
                hint="name it with --key COLUMN (every file) or --map-X station_id=COLUMN",
            )
    use_region = all(c.table.ids["region"].ne("").any() for c in contests)
    kind = "region + station id" if use_region else "station id"
    notes = [f"joined on {kind} (normalised: case, spaces, №/No. prefixes, leading zeros)"]
    per_contest: list[pd.Series] = []
    duplicates: dict[str, list[str]] = {}
    for contest in contests:
        table = contest.table
        key = normalise_ids(table.ids["station_id"]).reset_index(drop=True)
        if use_region:
            key = normalise_ids(table.ids["region"]).reset_index(drop=True) + " | " + key
        keep = np.ones(len(key), dtype=bool)
        if table.aggregate is not None:
            keep &= ~table.aggregate
        keep &= key.str.strip().ne("").to_numpy()
        dup = key.duplicated(keep=False).to_numpy() & keep
        if dup.any():
            duplicates[contest.label] = sorted(set(table.ids["station_id"][dup].astype(str)))
            notes.append(
                f"{int(dup.sum())} rows of {contest.label!r} repeat a station id; those "
                "stations are left out of its comparisons"
            )
        keep &= ~dup
        per_contest.append(pd.Series(np.flatnonzero(keep), index=key[keep].to_numpy()))
    order: list[str] = []
    seen: set[str] = set()
    for series in per_contest:
        for k in series.index:
            if k not in seen:
                seen.add(k)
                order.append(k)
    rows = np.full((len(order), len(contests)), -1, dtype=np.int64)
    position = {k: i for i, k in enumerate(order)}
    for j, series in enumerate(per_contest):
        rows[[position[k] for k in series.index], j] = series.to_numpy()
    present = rows >= 0
    in_two = present.sum(axis=1) >= 2
    unmatched = {}
    for j, contest in enumerate(contests):
        alone = present[:, j] & ~in_two
        ids = contest.table.ids["station_id"].to_numpy()
        unmatched[contest.label] = [str(ids[r]) for r in rows[alone, j]]
    rows = rows[in_two]
    keys = [k for k, two in zip(order, in_two, strict=True) if two]
    return Joined(contests, keys, rows, kind, unmatched, duplicates, notes)


@dataclass
class PairValues:
    """Two contests at the stations both hold: the numbers and the flags."""

    a: str
    b: str
    index: np.ndarray  # rows of Joined.keys that both contests hold
    basis: str  # ballots_issued, or ballots_cast when a file has no issued line
    values: dict[str, tuple[np.ndarray, np.ndarray]]  # field -> (contest a, contest b)
    tolerance: np.ndarray
    flagged: np.ndarray  # ballots differ beyond the tolerance
    registered_flagged: np.ndarray
    difference: np.ndarray  # basis a - basis b


def pair_values(
    joined: Joined, i: int, j: int, *, tolerance: float, tolerance_share: float
) -> PairValues:
    """The per-station numbers of contests ``i`` and ``j`` and which stations disagree."""
    a, b = joined.contests[i], joined.contests[j]
    both = (joined.rows[:, i] >= 0) & (joined.rows[:, j] >= 0)
    index = np.flatnonzero(both)
    ra, rb = joined.rows[index, i], joined.rows[index, j]
    basis = (
        "ballots_issued"
        if a.table.has("ballots_issued") and b.table.has("ballots_issued")
        else "ballots_cast"
    )
    values = {}
    for name in ("registered", "ballots_issued", "ballots_cast"):
        values[name] = (a.table.column(name)[ra], b.table.column(name)[rb])
    reg_a, reg_b = values["registered"]
    registered = np.where(np.isfinite(reg_a), reg_a, reg_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        values["turnout"] = (values[basis][0] / reg_a, values[basis][1] / reg_b)
    share_part = np.where(np.isfinite(registered), tolerance_share * registered, 0.0)
    allowed = np.maximum(tolerance, share_part)
    difference = values[basis][0] - values[basis][1]
    with np.errstate(invalid="ignore"):
        flagged = np.abs(difference) > allowed
        registered_flagged = np.abs(reg_a - reg_b) > allowed
    flagged &= np.isfinite(difference)
    registered_flagged &= np.isfinite(reg_a - reg_b)
    return PairValues(
        a.label,
        b.label,
        index,
        basis,
        values,
        allowed,
        flagged,
        registered_flagged,
        difference,
    )


def leader_shares(table: StationTable) -> tuple[np.ndarray, np.ndarray]:
    """Each station's leader share and which candidate leads there.

    The leader is the candidate with most votes in the station's district (single-
    mandate files hold other candidates in every district; a blank is a candidate not
    on that ballot) or, without districts, in the whole file. The share is of the
    candidates' votes at the station.
    """
    votes = np.nan_to_num(table.votes, nan=0.0)
    total = votes.sum(axis=1)
    groups = table.ids["district"].to_numpy()
    if not np.any(groups != ""):
        groups = np.zeros(table.n_stations, dtype=int)
    codes, _ = pd.factorize(pd.Series(groups))
    sums = np.zeros((codes.max() + 1, votes.shape[1]))
    np.add.at(sums, codes, votes)
    leader = sums.argmax(axis=1)[codes]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = votes[np.arange(len(votes)), leader] / total
    return share, leader


def sign_test(differences: np.ndarray, confidence: float = 0.95) -> dict[str, Any]:
    """Exact two-sided sign test of the nonzero differences, with intervals.

    Returns the counts, the p-value (``scipy.stats.binomtest``), a Clopper-Pearson
    interval for the share of positive differences, and the distribution-free interval
    for the median difference from order statistics (the ``k``-th smallest and
    largest of the differences, ``k`` from the binomial quantile).
    """
    from scipy import stats

    d = differences[np.isfinite(differences)]
    nonzero = d[d != 0]
    positive, negative = int((nonzero > 0).sum()), int((nonzero < 0).sum())
    n = positive + negative
    out: dict[str, Any] = {"positive": positive, "negative": negative, "zero": int(len(d) - n)}
    if n == 0:
        out.update(p_value=1.0, share_positive=None, share_interval=None, median_interval=None)
        return out
    test = stats.binomtest(positive, n, 0.5)
    ci = test.proportion_ci(confidence_level=confidence, method="exact")
    ordered = np.sort(d)
    m = len(ordered)
    # largest k with P(Binomial(m, 1/2) < k) <= (1 - confidence) / 2
    k = int(stats.binom.ppf((1 - confidence) / 2, m, 0.5))
    if k >= 1 and stats.binom.cdf(k - 1, m, 0.5) > (1 - confidence) / 2:
        k -= 1
    median_interval = (
        [float(ordered[k - 1]), float(ordered[m - k])] if k >= 1 and m - k >= k - 1 else None
    )
    out.update(
        p_value=float(test.pvalue),
        share_positive=positive / n,
        share_interval=[float(ci.low), float(ci.high)],
        median=float(np.median(d)),
        median_interval=median_interval,
    )
    return out


def crosscheck_results(
    joined: Joined, pair: PairValues, scope: str, mask: np.ndarray | None = None
) -> list[StatResult]:
    """The three results of one pair in one scope (``mask`` over ``pair.index``)."""
    keep = np.ones(len(pair.index), dtype=bool) if mask is None else mask
    subject = f"{pair.a} vs {pair.b}"
    n = int(keep.sum())
    if n == 0:
        return [
            inconclusive(t, subject, scope, 0, "no station is in both contests")
            for t in ("crosscheck_issued", "crosscheck_registered", "crosscheck_balance")
        ]
    a_basis, b_basis = pair.values[pair.basis]
    diff = pair.difference[keep]
    checked = np.isfinite(diff)
    flagged = pair.flagged[keep]
    count = int(flagged.sum())
    extra_a = float(np.nansum(np.clip(diff, 0, None)[flagged]))
    extra_b = float(np.nansum(np.clip(-diff, 0, None)[flagged]))
    higher_a = int((diff[flagged] > 0).sum())
    details: dict[str, Any] = {
        "basis": pair.basis,
        "stations_compared": int(checked.sum()),
        "stations_flagged": count,
        "share_flagged": count / int(checked.sum()) if checked.any() else None,
        "extra_ballots": {pair.a: extra_a, pair.b: extra_b},
        "higher_where_flagged": {pair.a: higher_a, pair.b: count - higher_a},
        "other_causes": OTHER_CAUSES["crosscheck_issued"],
        "by_region": _by_group(joined, pair, keep, "region"),
        "by_district": _by_group(joined, pair, keep, "district", limit=30),
    }
    gain = _leader_gain(joined, pair, keep)
    if gain:
        details["leader_gain"] = gain
    details["honest_rate_allowed"] = HONEST_RATE
    issued = StatResult(
        test="crosscheck_issued",
        subject=subject,
        scope=scope,
        n=int(checked.sum()),
        statistic=float(count),
        p_value=_excess_p(count, int(checked.sum())) if checked.any() else None,
        effect=details["share_flagged"],
        verdict=None if checked.any() else "inconclusive",
        details=details,
        warnings=() if checked.any() else (f"no station has {pair.basis} in both contests",),
        method=f"|{pair.basis} A - {pair.basis} B| > max(tolerance, share x registered), "
        f"exact per station; p = P(Binomial(n, {HONEST_RATE}) >= stations flagged)",
    )
    reg_a, reg_b = pair.values["registered"]
    reg_diff = (reg_a - reg_b)[keep]
    reg_checked = np.isfinite(reg_diff)
    reg_flagged = pair.registered_flagged[keep]
    registered = StatResult(
        test="crosscheck_registered",
        subject=subject,
        scope=scope,
        n=int(reg_checked.sum()),
        statistic=float(reg_flagged.sum()),
        p_value=_excess_p(int(reg_flagged.sum()), int(reg_checked.sum()))
        if reg_checked.any()
        else None,
        effect=float(reg_flagged.sum() / reg_checked.sum()) if reg_checked.any() else None,
        verdict=None if reg_checked.any() else "inconclusive",
        details={
            "stations_compared": int(reg_checked.sum()),
            "stations_beyond_tolerance": int(reg_flagged.sum()),
            "stations_differing_at_all": int((reg_diff[reg_checked] != 0).sum()),
            "net_difference": float(np.nansum(reg_diff)),
            "other_causes": OTHER_CAUSES["crosscheck_registered"],
            "honest_rate_allowed": HONEST_RATE,
        },
        warnings=() if reg_checked.any() else ("no station has registered in both contests",),
        method="|registered A - registered B| > max(tolerance, share x registered), exact "
        f"per station; p = P(Binomial(n, {HONEST_RATE}) >= stations flagged)",
    )
    test = sign_test(diff)
    net = float(np.nansum(diff))
    ballots = float(np.nansum(np.fmax(a_basis[keep], b_basis[keep])))
    net_share = net / ballots if ballots else 0.0
    material = abs(net_share) >= BALANCE_MATERIAL
    balance = StatResult(
        test="crosscheck_balance",
        subject=subject,
        scope=scope,
        n=test["positive"] + test["negative"],
        statistic=float(test["positive"] - test["negative"]),
        p_value=test["p_value"] if test["positive"] + test["negative"] else None,
        effect=net,
        verdict=None if material else "consistent",
        details={
            **test,
            "net_extra_ballots": net,
            "net_share_of_ballots": net_share,
            "material_share": BALANCE_MATERIAL,
            "higher": pair.a if net > 0 else pair.b if net < 0 else None,
        },
        warnings=()
        if material
        else (
            f"net difference {net:+,.0f} ballots ({net_share:+.2%} of the ballots) is below "
            f"the {BALANCE_MATERIAL:.1%} that would matter; not called an anomaly",
        ),
        method="exact two-sided sign test of the nonzero differences (A - B); Clopper-"
        "Pearson interval for the share A > B; order-statistic interval for the median",
    )
    if test["positive"] + test["negative"] == 0:
        balance = replace(
            balance,
            verdict="consistent" if checked.any() else "inconclusive",
            warnings=("the two contests agree exactly at every station",)
            if checked.any()
            else (f"no station has {pair.basis} in both contests",),
        )
    return [issued, registered, balance]


def _excess_p(flagged: int, n: int) -> float:
    """P(Binomial(n, HONEST_RATE) >= flagged): more disagreements than honest slips?"""
    from scipy import stats

    if flagged <= 0:
        return 1.0
    return float(stats.binom.sf(flagged - 1, n, HONEST_RATE))


def _by_group(
    joined: Joined, pair: PairValues, keep: np.ndarray, column: str, limit: int | None = None
) -> list[dict[str, Any]]:
    """Flagged stations per region (or district), most flagged first.

    The names come from the first contest of the pair that has the column (a party
    list file may have no districts where the single-mandate file has them)."""
    labels = [c.label for c in joined.contests]
    names = None
    for label in (pair.a, pair.b):
        col = labels.index(label)
        rows = joined.rows[pair.index, col][keep]
        candidate = joined.contests[col].table.ids[column].to_numpy()[rows]
        if np.any(candidate != ""):
            names = candidate
            break
    if names is None:
        return []
    frame = pd.DataFrame(
        {"name": names, "flagged": pair.flagged[keep], "diff": pair.difference[keep]}
    )
    grouped = frame.groupby("name", sort=True).agg(
        stations=("flagged", "size"), flagged=("flagged", "sum"), net=("diff", "sum")
    )
    grouped = grouped.sort_values(["flagged", "stations"], ascending=[False, False])
    if limit:
        grouped = grouped.head(limit)
    return [
        {
            column: str(name),
            "stations": int(row.stations),
            "flagged": int(row.flagged),
            "share_flagged": float(row.flagged / row.stations),
            "net_difference": float(row.net),
        }
        for name, row in grouped.iterrows()
    ]


def _leader_gain(joined: Joined, pair: PairValues, keep: np.ndarray) -> dict[str, Any] | None:
    """Where the contests disagree, does the leader of the higher contest gain there?"""
    flagged = pair.flagged[keep]
    if not flagged.any() or flagged.all():
        return None
    diff = pair.difference[keep]
    higher = pair.a if np.nansum(diff[flagged]) > 0 else pair.b
    labels = [c.label for c in joined.contests]
    col = labels.index(higher)
    contest = joined.contests[col]
    if not len(contest.table.candidates):
        return None
    share, _ = leader_shares(contest.table)
    rows = joined.rows[pair.index, col][keep]
    values = share[rows]
    inside, outside = values[flagged], values[~flagged]
    inside, outside = inside[np.isfinite(inside)], outside[np.isfinite(outside)]
    if not len(inside) or not len(outside):
        return None
    return {
        "contest": higher,
        "leader": "the leading candidate of each district"
        if np.any(contest.table.ids["district"].to_numpy() != "")
        else contest.table.leader(),
        "leader_share_flagged": float(inside.mean()),
        "leader_share_elsewhere": float(outside.mean()),
        "difference": float(inside.mean() - outside.mean()),
    }
