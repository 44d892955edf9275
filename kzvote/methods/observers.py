"""Observers' tallies against the official count.

Two kinds of observer data:

``exact``
    the observers counted everything themselves (or copied the true protocol): any
    difference beyond a small tolerance is a discrepancy, and the aggregate official
    turnout can be compared with the observers' turnout at the same stations.
``lower-bound``
    the observers hold proven minimums (voters who showed their ballot, as in Belarus
    2020): an official count *below* the observed count is a discrepancy by
    arithmetic, whatever the statistics say.

Inside the official file, observed stations can also be compared with unobserved ones
(Enikolopov et al., PNAS 2013: United Russia got 36% where observers were randomly
sent in Moscow 2011 against 47% elsewhere). Where observers were not sent at random,
the comparison is made within regions or districts (a stratified permutation test), so
that where observers went does not pass for an effect of observing.

References
----------
Enikolopov, R., Korovkin, V., Petrova, M., Sonin, K., Zakharov, A. (2013). Field
experiment estimate of electoral fraud in Russian parliamentary elections. PNAS
110(2), 448-452. doi:10.1073/pnas.1206770110
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kzvote.methods.common import inconclusive
from kzvote.model import KzvoteError, StationTable, StatResult

BOOTSTRAP = 2000
PERMUTATIONS = 9999
COMPARED_COUNTS = ("registered", "ballots_issued", "ballots_cast", "valid")
_PREFIX = re.compile(r"^(no\.?|n°|№|#|uik|уик|участок|учаске|station|precinct)\s*", re.IGNORECASE)


def normalise_ids(values: pd.Series) -> pd.Series:
    """Station ids as people write them, made comparable.

    Case and surrounding space are ignored, "No.", "№", "#", "УИК" prefixes dropped,
    runs of white space folded, and leading zeros removed from every number
    ("УИК № 0012" == "12"; "01-010-0001" == "1-10-1").
    """
    text = values.astype(str).str.strip().str.casefold()
    text = text.str.replace(_PREFIX, "", regex=True).str.replace(_PREFIX, "", regex=True)
    text = text.str.replace(r"\s+", " ", regex=True).str.strip()
    return text.str.replace(r"(?<!\d)0+(?=\d)", "", regex=True)


@dataclass(frozen=True)
class Matched:
    """Stations present in both files, row indices into each, and what did not match."""

    official: StationTable
    observed: StationTable
    official_rows: np.ndarray
    observed_rows: np.ndarray
    official_only: list[str]
    observed_only: list[str]
    duplicates: dict[str, list[str]]
    key: str
    notes: list[str] = field(default_factory=list)


def match_stations(official: StationTable, observed: StationTable) -> Matched:
    """Join two tables on normalised station ids (with the region when both have one)."""
    notes = []
    if not official.mapping.fields.get("station_id") or not observed.mapping.fields.get(
        "station_id"
    ):
        side = "official" if not official.mapping.fields.get("station_id") else "observers'"
        raise KzvoteError(
            "missing_field",
            f"the {side} file has no station id column to join on",
            file=official.path if side == "official" else observed.path,
            hint="name it with --key COLUMN (both files) or --map / --observed-map station_id=…",
        )
    use_region = bool(official.ids["region"].ne("").any() and observed.ids["region"].ne("").any())
    keys = []
    for table in (official, observed):
        key = normalise_ids(table.ids["station_id"])
        if use_region:
            key = normalise_ids(table.ids["region"]) + " | " + key
        keys.append(key.reset_index(drop=True))
    key_kind = "region + station id" if use_region else "station id"
    notes.append(f"joined on {key_kind} (normalised: case, spaces, №/No. prefixes, leading zeros)")
    duplicates = {}
    firsts = []
    for side, key, table in (("official", keys[0], official), ("observed", keys[1], observed)):
        dup = key.duplicated(keep=False)
        if dup.any():
            duplicates[side] = sorted(set(table.ids["station_id"][dup.to_numpy()].astype(str)))
            notes.append(
                f"{int(dup.sum())} rows of the {side} file repeat a station id; "
                "those stations are left out of the comparison"
            )
        firsts.append(key[~dup])
    left = pd.Series(firsts[0].index, index=firsts[0].to_numpy())
    right = pd.Series(firsts[1].index, index=firsts[1].to_numpy())
    common = left.index.intersection(right.index, sort=False)
    official_rows = left.loc[common].to_numpy()
    observed_rows = right.loc[common].to_numpy()
    order = np.argsort(official_rows, kind="stable")
    official_only = left.index.difference(right.index, sort=False)
    observed_only = right.index.difference(left.index, sort=False)
    return Matched(
        official=official,
        observed=observed,
        official_rows=official_rows[order],
        observed_rows=observed_rows[order],
        official_only=[str(official.ids["station_id"].iat[left[k]]) for k in official_only],
        observed_only=[str(observed.ids["station_id"].iat[right[k]]) for k in observed_only],
        duplicates=duplicates,
        key=key_kind,
        notes=notes,
    )


@dataclass(frozen=True)
class Comparison:
    """Per-station official and observed values for the fields both files hold."""

    fields: list[str]  # canonical count fields and candidate names
    official: dict[str, np.ndarray]
    observed: dict[str, np.ndarray]
    registered: np.ndarray
    tolerance: np.ndarray
    flagged: np.ndarray
    flag_reasons: list[list[str]]
    clusters: np.ndarray
    cluster_kind: str
    candidates_official_only: list[str]
    candidates_observed_only: list[str]
    conflicts: dict[str, int]


def compare_values(
    matched: Matched,
    *,
    mode: str,
    tolerance_ballots: float,
    tolerance_share: float,
) -> Comparison:
    """Line up each compared field and flag the stations whose numbers disagree."""
    off, obs = matched.official, matched.observed
    i, j = matched.official_rows, matched.observed_rows
    fields: list[str] = []
    official: dict[str, np.ndarray] = {}
    observed: dict[str, np.ndarray] = {}
    for name in COMPARED_COUNTS:
        if off.has(name) and obs.mapping.fields.get(name):
            fields.append(name)
            official[name] = off.column(name)[i]
            observed[name] = obs.column(name)[j]
    off_names = {c.casefold(): c for c in off.candidates}
    obs_names = {c.casefold(): c for c in obs.candidates}
    for folded, name in off_names.items():
        if folded in obs_names:
            fields.append(name)
            official[name] = off.candidate_votes(name)[i]
            observed[name] = obs.candidate_votes(obs_names[folded])[j]
    registered = off.column("registered")[i]
    if "registered" in official:
        registered = np.where(np.isfinite(registered), registered, observed["registered"])
    slack = {}
    if "ballots_cast" not in fields and "turnout" in obs.extras and off.has("ballots_cast"):
        # observers wrote turnout as a percentage: their voters are turnout x registered,
        # uncertain by half the step the percentage was written in
        fields.insert(0, "ballots_cast")
        official["ballots_cast"] = off.column("ballots_cast")[i]
        observed["ballots_cast"] = obs.extras["turnout"][j] * registered
        slack["ballots_cast"] = obs.extras["turnout_resolution"][j] / 2 * registered
    conflicts = {}
    if "registered" in fields:
        gap = official["registered"] != observed["registered"]
        gap &= np.isfinite(official["registered"]) & np.isfinite(observed["registered"])
        conflicts["registered"] = int(gap.sum())
    with np.errstate(invalid="ignore"):
        share_part = np.where(np.isfinite(registered), tolerance_share * registered, 0.0)
    tolerance = np.maximum(tolerance_ballots, share_part)
    flagged = np.zeros(len(i), dtype=bool)
    reasons: list[list[str]] = [[] for _ in range(len(i))]
    for name in fields:
        diff = official[name] - observed[name]
        allowed = tolerance + np.nan_to_num(slack.get(name, 0.0))
        with np.errstate(invalid="ignore"):
            # lower bounds: only an official count below the proven minimum is a problem
            bad = -diff > tolerance_ballots if mode == "lower-bound" else np.abs(diff) > allowed
        bad &= np.isfinite(diff)
        flagged |= bad
        for row in np.flatnonzero(bad):
            reasons[row].append(name)
    district = off.ids["district"].to_numpy()[i]
    if np.any(district != ""):
        region = off.ids["region"].to_numpy()[i]
        clusters = pd.factorize(pd.Series(region).astype(str) + "\x1f" + district)[0]
        kind = "district"
    else:
        clusters = np.arange(len(i))
        kind = "station"
    return Comparison(
        fields=fields,
        official=official,
        observed=observed,
        registered=registered,
        tolerance=tolerance,
        flagged=flagged,
        flag_reasons=reasons,
        clusters=clusters,
        cluster_kind=kind,
        candidates_official_only=[c for f, c in off_names.items() if f not in obs_names],
        candidates_observed_only=[c for f, c in obs_names.items() if f not in off_names],
        conflicts=conflicts,
    )


def _cluster_sums(values: np.ndarray, clusters: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(clusters, weights=values, minlength=n)


def _bootstrap_weights(n_clusters: int, rng: np.random.Generator, b: int = BOOTSTRAP):
    """Cluster bootstrap as multinomial weights (b x clusters)."""
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=b).astype(float)


def _interval(samples: np.ndarray) -> list[float]:
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return [float("nan"), float("nan")]
    return [float(np.quantile(finite, 0.025)), float(np.quantile(finite, 0.975))]


def sign_flip_pvalue(differences: np.ndarray, rng: np.random.Generator) -> float:
    """Two-sided randomisation p for a zero sum of cluster differences.

    Under the null each cluster's difference is as likely positive as negative;
    ``p = (k + 1) / (R + 1)`` over ``R`` random sign flips.
    """
    d = differences[np.isfinite(differences)]
    if not len(d) or not np.any(d):
        return 1.0
    observed = abs(d.sum())
    flips = rng.choice(np.array([-1.0, 1.0]), size=(PERMUTATIONS, len(d)))
    exceed = int((np.abs(flips @ d) >= observed - 1e-9).sum())
    return (exceed + 1) / (PERMUTATIONS + 1)


def _lower_bound(test: str, subject: str, scope: str, off, obs, what: str) -> StatResult:
    """Official counts below proven minimums: a discrepancy by arithmetic, no p-value."""
    ok = np.isfinite(off) & np.isfinite(obs)
    n = int(ok.sum())
    short = ok & (obs > off)
    missing = float(np.clip(obs[ok] - off[ok], 0, None).sum())
    return StatResult(
        test=test,
        subject=subject,
        scope=scope,
        n=n,
        statistic=float(short.sum()),
        p_value=None,
        effect=missing,
        effect_unit=f"{what} the official count lacks below the observers' proven minimums",
        verdict=("anomaly" if short.any() else "consistent") if n else "inconclusive",
        details={
            "stations_below_lower_bound": int(short.sum()),
            f"{what}_missing_from_official": missing,
            f"official_{what}": float(off[ok].sum()),
            f"observed_{what}": float(obs[ok].sum()),
        },
        method=f"lower bounds: official {what} below the proven observed {what} are a "
        "discrepancy by arithmetic",
    )


def observer_turnout(
    matched: Matched,
    comp: Comparison,
    *,
    mode: str,
    scope: str,
    rng: np.random.Generator,
    unobserved: dict | None = None,
) -> StatResult:
    """Official turnout against the observers' turnout at the same stations."""
    if "ballots_cast" not in comp.fields:
        return inconclusive(
            "observer_turnout",
            "turnout",
            scope,
            0,
            "the observers' file has no ballots cast (turnout) column",
        )
    off = comp.official["ballots_cast"]
    obs = comp.observed["ballots_cast"]
    reg = comp.registered
    ok = np.isfinite(off) & np.isfinite(obs)
    n = int(ok.sum())
    if mode == "lower-bound":
        return _lower_bound("observer_turnout", "ballots_cast", scope, off, obs, "ballots")
    ok &= np.isfinite(reg) & (reg > 0)
    n = int(ok.sum())
    if n < 3:
        return inconclusive(
            "observer_turnout",
            "turnout",
            scope,
            n,
            f"only {n} matched stations with registered voters and ballots on both sides",
        )
    clusters = pd.factorize(comp.clusters[ok])[0]
    c = int(clusters.max()) + 1
    s_off = _cluster_sums(off[ok], clusters, c)
    s_obs = _cluster_sums(obs[ok], clusters, c)
    s_reg = _cluster_sums(reg[ok], clusters, c)
    weights = _bootstrap_weights(c, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot_off = weights @ s_off / (weights @ s_reg)
        boot_obs = weights @ s_obs / (weights @ s_reg)
        boot_extra = weights @ (s_off - s_obs)
    official_turnout = float(s_off.sum() / s_reg.sum())
    observed_turnout = float(s_obs.sum() / s_reg.sum())
    p_value = sign_flip_pvalue(s_off - s_obs, rng)
    details = {
        "official_turnout": official_turnout,
        "observed_turnout": observed_turnout,
        "official_interval": _interval(boot_off),
        "observed_interval": _interval(boot_obs),
        "difference_interval": _interval(boot_off - boot_obs),
        "extra_ballots": float((s_off - s_obs).sum()),
        "extra_ballots_interval": _interval(boot_extra),
        "stations_flagged": int(comp.flagged[ok].sum()),
        "clusters": c,
        "cluster_kind": comp.cluster_kind,
    }
    if unobserved is not None:
        details["extrapolation"] = _extrapolate(s_off, s_obs, unobserved, weights)
    return StatResult(
        test="observer_turnout",
        subject="turnout",
        scope=scope,
        n=n,
        statistic=official_turnout - observed_turnout,
        p_value=p_value,
        effect=official_turnout - observed_turnout,
        details=details,
        method=f"ratio of sums at matched stations; 95% intervals by bootstrap over "
        f"{comp.cluster_kind}s; two-sided sign-flip test of the {comp.cluster_kind} "
        "differences (official - observed ballots)",
    )


def _extrapolate(s_off, s_obs, unobserved: dict, weights) -> dict:
    """Turnout of the scope if unobserved stations were inflated like observed ones."""
    ratio = s_obs.sum() / s_off.sum() if s_off.sum() else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        boot_ratio = (weights @ s_obs) / (weights @ s_off)
    observed_part = s_obs.sum()
    total_registered = unobserved["registered"] + unobserved["observed_registered"]
    value = (observed_part + ratio * unobserved["official_ballots"]) / total_registered
    boot = (weights @ s_obs + boot_ratio * unobserved["official_ballots"]) / total_registered
    return {
        "turnout": float(value),
        "interval": _interval(boot),
        "official_turnout": float(
            (unobserved["official_ballots"] + s_off.sum()) / total_registered
        ),
        "ratio_observed_to_official": float(ratio),
        "assumption": "each unobserved station's true ballots are its official ballots times "
        "the observed/official ratio at the observed stations (observers' stations are "
        "representative; if observers deterred stuffing, the true figure is lower still)",
    }


def observer_votes(
    matched: Matched, comp: Comparison, *, mode: str, scope: str, rng: np.random.Generator
) -> list[StatResult]:
    """Each candidate's official votes against the observers' at the same stations."""
    candidates = [f for f in comp.fields if f not in COMPARED_COUNTS]
    if not candidates:
        return [
            inconclusive(
                "observer_votes",
                "candidates",
                scope,
                0,
                "no candidate appears in both files (names are matched ignoring case)",
            )
        ]
    totals_off = sum(np.nan_to_num(comp.official[c]) for c in candidates)
    totals_obs = sum(np.nan_to_num(comp.observed[c]) for c in candidates)
    out = []
    for name in candidates:
        off, obs = comp.official[name], comp.observed[name]
        ok = np.isfinite(off) & np.isfinite(obs)
        n = int(ok.sum())
        if mode == "lower-bound":
            out.append(_lower_bound("observer_votes", name, scope, off, obs, "votes"))
            continue
        if n < 3:
            out.append(inconclusive("observer_votes", name, scope, n, "fewer than 3 stations"))
            continue
        clusters = pd.factorize(comp.clusters[ok])[0]
        c = int(clusters.max()) + 1
        d = _cluster_sums(off[ok] - obs[ok], clusters, c)
        share_off = float(off[ok].sum() / totals_off[ok].sum()) if totals_off[ok].sum() else None
        share_obs = float(obs[ok].sum() / totals_obs[ok].sum()) if totals_obs[ok].sum() else None
        out.append(
            StatResult(
                test="observer_votes",
                subject=name,
                scope=scope,
                n=n,
                statistic=float(d.sum()),
                p_value=sign_flip_pvalue(d, rng),
                effect=(share_off - share_obs)
                if share_off is not None and share_obs is not None
                else None,
                details={
                    "official_votes": float(off[ok].sum()),
                    "observed_votes": float(obs[ok].sum()),
                    "official_share": share_off,
                    "observed_share": share_obs,
                    "stations_flagged": int((comp.flagged & ok).sum()),
                },
                method=f"official minus observed votes, summed; two-sided sign-flip test over "
                f"{comp.cluster_kind}s; shares are of the votes of the candidates both files hold",
            )
        )
    return out


def observed_vs_unobserved(
    official: StationTable,
    observed_mask: np.ndarray,
    leader: str,
    *,
    scope: str,
    rng: np.random.Generator,
) -> list[StatResult]:
    """Official turnout and leader share: observed vs unobserved stations, within strata.

    The statistic is the mean over strata of (mean observed - mean unobserved), each
    stratum weighted by its observed stations; the null distribution comes from
    permuting the observed label within strata (district, else region, else none).
    """
    from kzvote.methods.common import leader_share_parts, turnout_parts

    t_num, t_den, ok_t, _ = turnout_parts(official)
    s_num, s_den, ok_s, _ = leader_share_parts(official, leader)
    district = official.ids["district"].to_numpy()
    region = official.ids["region"].to_numpy()
    if np.any(district != ""):
        strata_raw, kind = pd.Series(region).astype(str) + "\x1f" + district, "district"
    elif np.any(region != ""):
        strata_raw, kind = pd.Series(region).astype(str), "region"
    else:
        strata_raw, kind = pd.Series(np.zeros(len(region), dtype=int)), "none"
    strata = pd.factorize(strata_raw)[0]
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        quantities = {
            "turnout": (t_num / t_den, ok_t),
            "leader_share": (s_num / s_den, ok_s),
        }
    for subject, (values, ok) in quantities.items():
        ok = ok & np.isfinite(values)
        x, lab, st = values[ok], observed_mask[ok], strata[ok]
        n_st = int(st.max()) + 1 if len(st) else 0
        obs_per = np.bincount(st, weights=lab, minlength=n_st)
        all_per = np.bincount(st, minlength=n_st)
        usable = (obs_per > 0) & (obs_per < all_per)
        keep = usable[st]
        if keep.sum() < 4 or lab[keep].sum() < 2:
            out.append(
                inconclusive(
                    "observed_vs_unobserved",
                    subject,
                    scope,
                    int(lab.sum()),
                    f"no {kind} holds both observed and unobserved stations",
                )
            )
            continue
        x, lab, st = x[keep], lab[keep].astype(bool), pd.factorize(st[keep])[0]
        statistic, weights_obs = _stratified_difference(x, lab, st)
        # permute labels within strata: sort by (stratum, random key) and reassign
        exceed = 0
        order_strata = np.argsort(st, kind="stable")
        x_sorted, lab_sorted, st_sorted = x[order_strata], lab[order_strata], st[order_strata]
        reps = 2000
        for _ in range(reps):
            key = st_sorted + rng.random(len(st_sorted))
            perm = np.argsort(key, kind="stable")
            permuted = np.empty_like(lab_sorted)
            permuted[perm] = lab_sorted
            stat_perm, _ = _stratified_difference(x_sorted, permuted, st_sorted)
            exceed += abs(stat_perm) >= abs(statistic) - 1e-12
        p_value = (exceed + 1) / (reps + 1)
        out.append(
            StatResult(
                test="observed_vs_unobserved",
                subject=subject,
                scope=scope,
                n=int(len(x)),
                statistic=float(statistic),
                p_value=float(p_value),
                effect=float(statistic),
                details={
                    "observed_mean": float(x[lab].mean()),
                    "unobserved_mean": float(x[~lab].mean()),
                    "within_strata_difference": float(statistic),
                    "observed_stations": int(lab.sum()),
                    "unobserved_stations": int((~lab).sum()),
                    "strata": kind,
                    "strata_used": int(weights_obs),
                },
                method=f"official {subject.replace('_', ' ')}, observed minus unobserved, "
                f"within {kind}s; permutation of the observed label within {kind}s "
                f"({reps} permutations)",
                warnings=(
                    "observers were probably not sent at random: a difference can mean "
                    "observers deter manipulation, or that they went where it was easy",
                ),
            )
        )
    return out


def _stratified_difference(x, lab, st):
    n_st = int(st.max()) + 1
    n_obs = np.bincount(st, weights=lab, minlength=n_st)
    n_all = np.bincount(st, minlength=n_st)
    sum_obs = np.bincount(st, weights=x * lab, minlength=n_st)
    sum_all = np.bincount(st, weights=x, minlength=n_st)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = sum_obs / n_obs - (sum_all - sum_obs) / (n_all - n_obs)
    good = (n_obs > 0) & (n_all > n_obs)
    weights = n_obs * good
    return float((diff[good] * weights[good]).sum() / weights.sum()), int(good.sum())
