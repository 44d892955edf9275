"""The stations behind the findings: which polling stations each check points at.

Computation only (no printing). Every station that a rule below points at is listed
once, with its reasons as stable codes and a *score*: the sum over its reasons of
``-log10`` of the chance that honest counting produces that reason at that station
(integrity errors, which are arithmetic facts and not chance events, count 10;
integrity warnings 2). Stations are sorted by score, strongest first.

Rules (the README's "Stations behind the findings" repeats them):

``<integrity code>``
    Every station with an integrity finding (``turnout_over_100``,
    ``candidate_sum_mismatch``, ...). Aggregate rows are not stations and are left out.
``corner_95_95``
    Turnout >= 95% and leader share >= 95%. Score: ``-log10`` of the fitted honest
    model's probability of that corner (3 when the model could not be fitted).
``stuffing_class``
    Only when the national fingerprint verdict is ``anomaly``: the fitted Klimek
    model's posterior probability that the station's turnout and share came from the
    incremental or the extreme stuffing component, when it is at least
    ``POSTERIOR_MIN`` and the point is at least ``BAYES_FACTOR_MIN`` times likelier under
    that component than under the honest one (so a component that has become a second
    honest blob classes nobody). Score: ``log10`` of the posterior odds (at most 5). The
    incremental class only when the fit misplaces at most 10% of stations
    (``details.misfit``); a worse fit bends its incremental part around the honest blob.
``whole_percent_turnout`` / ``whole_percent_share``
    Only when the national integer-percentage test of that quantity (or of
    ``either``) is an ``anomaly``: turnout (leader share) within 0.05 pp of a whole
    percent. Score: ``-log10`` of the binomial chance of that hit (about 1: one honest
    station in ten hits by chance, which is why the rule waits for the test).
``outlier_in_area``
    Turnout and leader share far from the station's area (its district when the
    district has at least ``AREA_MIN`` stations, else its region, else the country):
    robust z-scores ``(x - median) / (1.4826 MAD)`` with the station's own binomial
    noise added to the scale; listed when ``z_t**2 + z_s**2 >= OUTLIER_D2``.
    Score: ``-log10`` of the chi-square (2 df) tail of that distance, at most 8.
``round_counts``
    At least ``ROUND_MIN`` candidates with 10 votes or more at the station and every
    one of those counts a multiple of 10. Score: the number of such counts (the chance
    is ``0.1`` per count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kzvote.methods.common import leader_share_parts, turnout_parts
from kzvote.model import StationTable, StatResult

POSTERIOR_MIN = 0.9
BAYES_FACTOR_MIN = 10.0
#: the incremental class is assigned only when the fitted model places the histogram
#: well: otherwise its incremental component is absorbing the misfit of the honest blob
#: (the national sample: f_i 0.82 with 21% of stations misplaced would class half the
#: stations as stuffed)
MAX_MISFIT_FOR_INCREMENTAL = 0.10
AREA_MIN = 20
OUTLIER_D2 = 49.0  # 7 robust standard deviations on one axis, or their equivalent on two
ROUND_MIN = 4
INTEGRITY_ERROR_SCORE = 10.0
INTEGRITY_WARNING_SCORE = 2.0
#: the rule of each reason code, written into the JSON and the CSV's documentation
RULES = {
    "corner_95_95": "turnout >= 95% and leader share >= 95%",
    "stuffing_class": f"the fitted Klimek model puts the station in a stuffing component "
    f"with posterior probability >= {POSTERIOR_MIN}, its point >= {BAYES_FACTOR_MIN:g} times "
    "likelier under stuffing than honest counting (only when the fingerprint verdict is "
    "anomaly)",
    "whole_percent_turnout": "turnout within 0.05 pp of a whole percent (only when the "
    "integer-percentage test of turnout is an anomaly)",
    "whole_percent_share": "leader share within 0.05 pp of a whole percent (only when the "
    "integer-percentage test of the leader's share is an anomaly)",
    "outlier_in_area": f"turnout and leader share at a robust distance >= "
    f"{np.sqrt(OUTLIER_D2):.0f} from the station's district (>= {AREA_MIN} stations), "
    "else region, else country",
    "round_counts": f"at least {ROUND_MIN} candidates with 10 votes or more, every count a "
    "multiple of 10",
    "integrity": "an integrity finding at this station (its code names the check)",
}


@dataclass(frozen=True)
class StationEvidence:
    """One station that a check or test points at."""

    line: int | None
    region: str
    district: str
    station_id: str
    registered: float | None
    turnout: float | None
    leader_share: float | None
    score: float
    reasons: tuple[str, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "region": self.region,
            "district": self.district,
            "station_id": self.station_id,
            "registered": self.registered,
            "turnout": self.turnout,
            "leader_share": self.leader_share,
            "score": self.score,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
        }


class _Collector:
    """Reasons, scores and notes per station index."""

    def __init__(self) -> None:
        self.reasons: dict[int, list[str]] = {}
        self.scores: dict[int, float] = {}
        self.notes: dict[int, list[str]] = {}

    def add(self, index: int, code: str, score: float, note: str | None = None) -> None:
        reasons = self.reasons.setdefault(index, [])
        if code in reasons:
            return
        reasons.append(code)
        self.scores[index] = self.scores.get(index, 0.0) + float(score)
        if note:
            self.notes.setdefault(index, []).append(note)


def _national(results: tuple[StatResult, ...] | list[StatResult], test: str, subject: str):
    for r in results:
        if r.test == test and r.subject == subject and r.scope == "national":
            return r
    return None


def _safe_log10(p: np.ndarray | float, cap: float) -> np.ndarray:
    return np.minimum(-np.log10(np.clip(p, 1e-300, 1.0)), cap)


def station_evidence(
    table: StationTable,
    leader: str,
    results: tuple[StatResult, ...] | list[StatResult],
    options: dict[str, Any] | None = None,
) -> list[StationEvidence]:
    """Every station a check or test points at, strongest evidence first."""
    options = options or {}
    n = table.n_stations
    if n == 0:
        return []
    found = _Collector()
    t_num, t_den, ok_t, _ = turnout_parts(table)
    s_num, s_den, ok_s, _ = leader_share_parts(table, leader)
    with np.errstate(invalid="ignore", divide="ignore"):
        turnout = np.where(ok_t, t_num / t_den, np.nan)
        share = np.where(ok_s, s_num / s_den, np.nan)
    station = np.ones(n, dtype=bool)
    if table.aggregate is not None:
        station &= ~table.aggregate
    _integrity(table, station, found)
    _corner(turnout, share, station, results, found)
    _stuffing(table, leader, results, options, station, found)
    _whole_percent(t_num, t_den, s_num, s_den, ok_t, ok_s, station, results, options, found)
    _outliers(table, turnout, share, t_den, s_den, station, found)
    _round_counts(table, station, found)
    return _assemble(table, turnout, share, found)


def _integrity(table: StationTable, station: np.ndarray, found: _Collector) -> None:
    if not table.findings:
        return
    lines = table.ids["line"].to_numpy()
    index_of = {int(line): i for i, line in enumerate(lines)}
    for finding in table.findings:
        if finding.line is None or finding.code == "aggregate_row":
            continue
        i = index_of.get(int(finding.line))
        if i is None or not station[i]:
            continue
        score = INTEGRITY_ERROR_SCORE if finding.severity == "error" else INTEGRITY_WARNING_SCORE
        found.add(i, finding.code, score)


def _corner(turnout, share, station, results, found: _Collector) -> None:
    corner = station & (turnout >= 0.95) & (share >= 0.95)
    if not corner.any():
        return
    score = 3.0
    cluster = _national(results, "high_turnout_cluster", "leader")
    if cluster is not None and cluster.n:
        fitted = cluster.details.get("expected_fair_model")
        if fitted is not None:
            score = float(_safe_log10(max(fitted, 1e-12) / cluster.n, 12.0))
    for i in np.flatnonzero(corner):
        found.add(int(i), "corner_95_95", score)


def _stuffing(table, leader, results, options, station, found: _Collector) -> None:
    result = _national(results, "fingerprint", "leader")
    if result is None or result.verdict != "anomaly":
        return
    from kzvote.methods.fingerprint import station_posteriors

    posterior = station_posteriors(table, leader, result, options)
    if posterior is None:
        return
    p_inc, p_ext, bf_inc, bf_ext = posterior
    classes = [("extreme", p_ext, bf_ext)]
    misplaced = result.details.get("misfit", {}).get("share_misplaced", 1.0)
    if misplaced <= MAX_MISFIT_FOR_INCREMENTAL:
        classes.insert(0, ("incremental", p_inc, bf_inc))
    for kind, post, log10_bf in classes:
        hit = (
            station
            & np.isfinite(post)
            & (post >= POSTERIOR_MIN)
            & (log10_bf >= np.log10(BAYES_FACTOR_MIN))
        )
        for i in np.flatnonzero(hit):
            odds = post[i] / max(1 - post[i], 1e-12)
            found.add(
                int(i),
                "stuffing_class",
                float(min(np.log10(odds), 5.0)),
                f"{kind} stuffing class, posterior {post[i]:.2f}",
            )


def _whole_percent(t_num, t_den, s_num, s_den, ok_t, ok_s, station, results, options, found):
    from kzvote.methods.integers import hit_probability, hits

    either = _national(results, "integer_percent", "either")
    either_anomaly = either is not None and either.verdict == "anomaly"
    min_registered = float(options.get("min_registered", 100))
    big = station & (t_den >= min_registered)
    for subject, code, num, den, ok in (
        ("turnout", "whole_percent_turnout", t_num, t_den, ok_t),
        ("leader_share", "whole_percent_share", s_num, s_den, ok_s),
    ):
        result = _national(results, "integer_percent", subject)
        if not (either_anomaly or (result is not None and result.verdict == "anomaly")):
            continue
        use = big & ok & (num < den)
        hit = np.zeros(len(num), dtype=bool)
        hit[use] = hits(num[use], den[use])
        idx = np.flatnonzero(hit)
        if len(idx) == 0:
            continue
        chance = hit_probability(den[idx], num[idx] / den[idx])[0]
        for i, p in zip(idx, chance, strict=True):
            found.add(
                int(i),
                code,
                float(_safe_log10(p, 6.0)),
                f"{subject.replace('_', ' ')} {100 * num[i] / den[i]:.2f}% "
                f"(an honest count lands this close to a whole percent with chance {p:.0%})",
            )


def _robust_z(values: np.ndarray, groups: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
    """(x - group median) / sqrt((1.4826 MAD)**2 + own binomial variance)."""
    frame = pd.DataFrame({"x": values, "g": groups})
    median = frame.groupby("g")["x"].transform("median").to_numpy()
    deviation = np.abs(values - median)
    mad = pd.Series(deviation).groupby(groups).transform("median").to_numpy() * 1.4826
    scale = np.sqrt(mad**2 + np.clip(noise_var, 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (values - median) / scale, 0.0)


def _area(table: StationTable, usable: np.ndarray) -> np.ndarray:
    """Each station's comparison area as an integer code: its district (>= AREA_MIN
    usable stations), else its region (>= AREA_MIN), else the country (-1)."""
    ids = table.ids
    region = ids["region"].astype(str)
    district = ids["district"].astype(str)
    area = np.full(len(ids), -1, dtype=np.int64)

    def big(key: pd.Series, named: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes, _ = pd.factorize(key)
        sizes = np.bincount(codes[usable], minlength=codes.max() + 1)
        return (sizes[codes] >= AREA_MIN) & named, codes

    big_r, codes_r = big(region, (region != "").to_numpy())
    area[big_r] = codes_r[big_r]
    big_d, codes_d = big(region + "\x1f" + district, (district != "").to_numpy())
    area[big_d] = codes_r.max() + 1 + codes_d[big_d]
    return area


def _outliers(table, turnout, share, t_den, s_den, station, found: _Collector) -> None:

    usable = station & np.isfinite(turnout) & np.isfinite(share)
    if usable.sum() < AREA_MIN:
        return
    idx = np.flatnonzero(usable)
    area = _area(table, usable)[idx]
    t, v = turnout[idx], share[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        var_t = t * (1 - t) / t_den[idx]
        var_v = v * (1 - v) / s_den[idx]
    z_t = _robust_z(t, area, var_t)
    z_v = _robust_z(v, area, var_v)
    d2 = z_t**2 + z_v**2
    far = d2 >= OUTLIER_D2
    scores = np.minimum(d2[far] / (2 * np.log(10)), 8.0)  # -log10 exp(-d2 / 2)
    for j, score in zip(np.flatnonzero(far), scores, strict=True):
        direction_t = "higher" if z_t[j] > 0 else "lower"
        direction_v = "higher" if z_v[j] > 0 else "lower"
        found.add(
            int(idx[j]),
            "outlier_in_area",
            float(score),
            f"turnout {direction_t} (z {z_t[j]:+.1f}), leader share {direction_v} "
            f"(z {z_v[j]:+.1f}) than its area",
        )


def _round_counts(table: StationTable, station: np.ndarray, found: _Collector) -> None:
    votes = table.votes
    if votes.size == 0:
        return
    with np.errstate(invalid="ignore"):
        big = np.isfinite(votes) & (votes >= 10)
        round_ = big & (np.fmod(votes, 10) == 0)
    k = big.sum(axis=1)
    hit = station & (k >= ROUND_MIN) & (round_.sum(axis=1) == k)
    for i in np.flatnonzero(hit):
        found.add(int(i), "round_counts", float(k[i]), f"{int(k[i])} counts ending in 0")


def _assemble(table, turnout, share, found: _Collector) -> list[StationEvidence]:
    ids = table.ids
    registered = table.column("registered")
    lines = ids["line"].to_numpy() if "line" in ids else None
    region = ids["region"].to_numpy()
    district = ids["district"].to_numpy()
    station = ids["station_id"].to_numpy()
    out = []
    for i, reasons in found.reasons.items():
        out.append(
            StationEvidence(
                line=int(lines[i]) if lines is not None else None,
                region=str(region[i]),
                district=str(district[i]),
                station_id=str(station[i]),
                registered=_finite(registered[i]),
                turnout=_finite(turnout[i]),
                leader_share=_finite(share[i]),
                score=round(found.scores[i], 3),
                reasons=tuple(reasons),
                notes=tuple(found.notes.get(i, ())),
            )
        )
    out.sort(key=lambda s: (-s.score, s.line if s.line is not None else 0))
    return out


def _finite(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def reason_counts(stations: list[StationEvidence]) -> dict[str, int]:
    """How many listed stations carry each reason code."""
    counts: dict[str, int] = {}
    for s in stations:
        for code in s.reasons:
            counts[code] = counts.get(code, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
