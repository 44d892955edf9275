"""Turnout-share dependence and Shpilkin's excess-vote estimate.

``turnout_share_dependence``
    Correlation of turnout and leader share, and the Sobyanin-Sukhovolsky slope of
    leader votes / registered on turnout. A slope above 1 means the leader gained more
    than all the added voters, which honest mobilisation cannot do. Computed pooled and
    within regions (region means removed: fixed effects). **The verdict uses the
    within-region slope**, because pooling regions with different politics creates a
    slope by itself (a region that votes more and likes the leader more). One-sided
    test of slope <= 1 with standard errors clustered by district (else by station).

``excess_votes`` (Shpilkin)
    Within each region, take the turnout at which most voters vote (the peak of the
    voter-weighted turnout histogram) as clean, and the leader's votes per other vote
    there as the clean ratio. At higher turnouts, leader votes above that ratio times
    the other votes are called excess. The assumption is strong (it is printed with the
    result): a real rise of the leader's support with turnout also counts as excess.
    Working within regions keeps regional politics from counting as excess. Interval:
    bootstrap over stations. ``anomaly`` needs the excess to be above zero in the
    bootstrap (one-sided p from the bootstrap standard error, below alpha after
    adjustment) and to exceed 1% of the leader's votes.

References
----------
Sobyanin, A., Sukhovolsky, V. (1995). Democracy restricted by falsifications.
Shpilkin, S. (2011-2016), analyses of Russian elections; Kobak et al. (2016).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kzvote.methods.common import (
    Context,
    excluded_total,
    inconclusive,
    leader_share_parts,
    merge_exclusions,
    turnout_parts,
)
from kzvote.model import StationTable, StatResult

MIN_STATIONS = 100
BOOTSTRAP = 100
MATERIAL_EXCESS = 0.01


def _select(table: StationTable, ctx: Context):
    t_num, t_den, ok_t, why_t = turnout_parts(table)
    s_num, s_den, ok_s, why_s = leader_share_parts(table, ctx.leader)
    ok = ok_t & ok_s & (t_den >= 100)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok &= (t_num <= t_den) & (s_num <= s_den)
    reasons = merge_exclusions(why_t, why_s)
    return ok, reasons, t_num, t_den, s_num, s_den


def dependence_tests(table: StationTable, ctx: Context) -> list[StatResult]:
    ok, reasons, t_num, t_den, s_num, s_den = _select(table, ctx)
    # a canonical station order, so that resampling does not depend on the file's order
    key = (
        table.ids["region"] + "\x1f" + table.ids["district"] + "\x1f" + table.ids["station_id"]
    ).to_numpy()
    order = np.argsort(key, kind="stable")
    ok, t_num, t_den, s_num, s_den = (
        ok[order],
        t_num[order],
        t_den[order],
        s_num[order],
        s_den[order],
    )
    n = int(ok.sum())
    if n < MIN_STATIONS:
        reason = f"only {n} usable stations with at least 100 registered voters"
        return [
            inconclusive(
                "turnout_share_dependence", "leader", ctx.scope, n, reason, excluded=reasons
            ),
            inconclusive("excess_votes", "leader", ctx.scope, n, reason, excluded=reasons),
        ]
    turnout = t_num[ok] / t_den[ok]
    if np.ptp(turnout) == 0 or np.ptp(s_num[ok] / s_den[ok]) == 0:
        reason = "turnout or leader share is the same at every station: nothing to relate"
        return [
            inconclusive(
                "turnout_share_dependence", "leader", ctx.scope, n, reason, excluded=reasons
            ),
            inconclusive("excess_votes", "leader", ctx.scope, n, reason, excluded=reasons),
        ]
    leader_per_registered = s_num[ok] / t_den[ok]
    share = s_num[ok] / s_den[ok]
    weights = t_den[ok]
    region = table.ids["region"].to_numpy()[order][ok]
    district = table.ids["district"].to_numpy()[order][ok]
    clusters = (
        pd.factorize(pd.Series(region).astype(str) + "\x1f" + district)[0]
        if np.any(district != "")
        else np.arange(n)
    )
    return [
        _dependence(turnout, share, leader_per_registered, weights, region, clusters, reasons, ctx),
        _excess(t_num[ok], t_den[ok], s_num[ok], s_den[ok], region, reasons, ctx),
    ]


def _wls_slope(x, y, w, clusters):
    """Weighted least-squares slope and its cluster-robust standard error."""
    xm = np.average(x, weights=w)
    ym = np.average(y, weights=w)
    dx, dy = x - xm, y - ym
    sxx = (w * dx * dx).sum()
    slope = (w * dx * dy).sum() / sxx
    resid = dy - slope * dx
    scores = np.bincount(clusters, weights=w * dx * resid)
    g = len(np.unique(clusters))
    correction = g / (g - 1) if g > 1 else 1.0
    se = np.sqrt(correction * (scores**2).sum()) / sxx
    return float(slope), float(se)


def _demean(values, groups, w):
    codes = pd.factorize(groups)[0]
    sums = np.bincount(codes, weights=w * values)
    totals = np.bincount(codes, weights=w)
    return values - (sums / totals)[codes]


def _dependence(turnout, share, y, w, region, clusters, reasons, ctx) -> StatResult:
    from kzvote.methods.distributions import norm_sf

    pooled_r = float(np.corrcoef(turnout, share)[0, 1]) if turnout.std() > 0 else 0.0
    pooled_slope, pooled_se = _wls_slope(turnout, y, w, clusters)
    has_regions = len(np.unique(region)) > 1
    if has_regions:
        t_within = _demean(turnout, region, w)
        y_within = _demean(y, region, w)
        s_within = _demean(share, region, w)
        within_slope, within_se = _wls_slope(t_within, y_within, w, clusters)
        within_r = float(np.corrcoef(t_within, s_within)[0, 1]) if t_within.std() > 0 else 0.0
    else:
        within_slope, within_se, within_r = pooled_slope, pooled_se, pooled_r
    z = (within_slope - 1) / within_se if within_se > 0 else 0.0
    return StatResult(
        test="turnout_share_dependence",
        subject="leader",
        scope=ctx.scope,
        n=len(turnout),
        statistic=float(within_slope),
        p_value=float(norm_sf(z)),
        effect=float(within_slope - 1),
        details={
            "pooled_correlation": pooled_r,
            "pooled_slope": pooled_slope,
            "pooled_slope_se": pooled_se,
            "within_region_correlation": within_r,
            "within_region_slope": within_slope,
            "within_region_slope_se": within_se,
            "verdict_uses": "within_region_slope" if has_regions else "pooled_slope",
            "regions": int(len(np.unique(region))),
        },
        n_excluded=excluded_total(reasons),
        excluded=reasons,
        method="slope of leader votes / registered on turnout (Sobyanin-Sukhovolsky), weighted "
        "by registered, within regions; one-sided test of slope <= 1 with cluster-robust errors",
    )


def shpilkin_excess(t_num, t_den, s_num, s_den) -> dict:
    """Shpilkin's estimate on arrays of issued, registered, leader, cast."""
    turnout = t_num / t_den
    bins = np.linspace(0, 1, 101)
    hist, _ = np.histogram(turnout, bins=bins, weights=t_den)
    smooth = np.convolve(hist, np.ones(5) / 5, mode="same")
    centre = int(np.argmax(smooth))
    # the smoothed peak locates the mode; the raw histogram pins it within +-2 bins
    lo = max(centre - 2, 0)
    peak_bin = lo + int(np.argmax(hist[lo : centre + 3]))
    peak = float(bins[peak_bin] + 0.005)
    others = s_den - s_num
    near = np.abs(turnout - peak) <= 0.025
    ratio = s_num[near].sum() / max(others[near].sum(), 1.0)
    high = turnout > peak + 0.025
    # the aggregate difference: clipping each station at zero would add up counting noise
    excess = float((s_num[high] - ratio * others[high]).sum())
    leader = float(s_num.sum())
    cast = float(s_den.sum())
    return {
        "excess_votes": excess,
        "excess_share_of_leader": excess / leader if leader else 0.0,
        "clean_turnout_peak": peak,
        "clean_ratio_leader_to_others": float(ratio),
        "clean_leader_share": float(ratio / (1 + ratio)),
        "implied_turnout": float((t_num.sum() - excess) / t_den.sum()),
        "implied_leader_share": float((leader - excess) / (cast - excess))
        if cast > excess
        else 0.0,
    }


def regional_excess(t_num, t_den, s_num, s_den, region) -> dict:
    """Shpilkin's estimate within each region (its own peak and ratio), summed.

    Vectorised over regions; regions with fewer than ``MIN_STATIONS`` stations are
    pooled together. Equal to calling :func:`shpilkin_excess` region by region
    (checked in the tests).
    """
    codes, g = _region_codes(region)
    return _regional_excess(t_num / t_den, t_den, s_num, s_den - s_num, codes, g, None)


def _region_codes(region) -> tuple[np.ndarray, int]:
    """Region codes with the regions below ``MIN_STATIONS`` stations pooled together."""
    codes = pd.factorize(region)[0]
    sizes = np.bincount(codes)
    codes = np.where(sizes[codes] < MIN_STATIONS, len(sizes), codes)
    codes = pd.factorize(codes)[0]
    return codes, int(codes.max()) + 1


def _regional_excess(turnout, t_den, s_num, others, codes, g, weights) -> dict:
    """:func:`regional_excess` on prepared arrays; ``weights`` (how many times each
    station is drawn) gives a bootstrap replicate without copying the arrays."""
    w = np.ones(len(turnout)) if weights is None else weights
    cell = np.minimum((turnout * 100).astype(np.int64), 99)
    hist = np.bincount(codes * 100 + cell, weights=t_den * w, minlength=g * 100).reshape(g, 100)
    kernel = np.ones(5) / 5
    smooth = np.apply_along_axis(lambda h: np.convolve(h, kernel, mode="same"), 1, hist)
    centre = np.argmax(smooth, axis=1)
    window = np.clip(centre[:, None] + np.arange(-2, 3)[None, :], 0, 99)
    peak_bin = window[np.arange(g), np.argmax(np.take_along_axis(hist, window, axis=1), axis=1)]
    peak = peak_bin / 100 + 0.005
    near = np.abs(turnout - peak[codes]) <= 0.025
    leader_near = np.bincount(codes, weights=s_num * near * w, minlength=g)
    others_near = np.bincount(codes, weights=others * near * w, minlength=g)
    ratio = leader_near / np.maximum(others_near, 1.0)
    high = turnout > peak[codes] + 0.025
    excess = np.bincount(codes, weights=(s_num - ratio[codes] * others) * high * w, minlength=g)
    counts = np.bincount(codes, weights=w, minlength=g)
    return {"excess_votes": float(excess[counts >= 20].sum()), "regions": g}


def _excess(t_num, t_den, s_num, s_den, region, reasons, ctx) -> StatResult:
    estimate = shpilkin_excess(t_num, t_den, s_num, s_den)
    within = regional_excess(t_num, t_den, s_num, s_den, region)
    rng = ctx.rng
    n = len(t_num)
    boot = np.empty(BOOTSTRAP)
    codes, g = _region_codes(region)
    turnout, others = t_num / t_den, s_den - s_num
    for b in range(BOOTSTRAP):
        # a resample of the stations, as the number of times each is drawn
        drawn = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        boot[b] = _regional_excess(turnout, t_den, s_num, others, codes, g, drawn)["excess_votes"]
    from kzvote.methods.distributions import norm_sf

    lo, hi = np.quantile(boot, [0.025, 0.975])
    # normal tail from the bootstrap standard error: a (k+1)/(B+1) p would floor at
    # 1/101 and could never survive the adjustment over a whole battery
    sd = float(boot.std(ddof=1))
    p_value = float(norm_sf(within["excess_votes"] / sd)) if sd > 0 else 1.0
    leader = float(s_num.sum())
    share_within = within["excess_votes"] / leader if leader else 0.0
    material = share_within >= MATERIAL_EXCESS
    details = dict(estimate)
    details["pooled_excess_votes"] = details.pop("excess_votes")
    details["pooled_excess_share_of_leader"] = details.pop("excess_share_of_leader")
    details["excess_votes"] = within["excess_votes"]
    details["excess_share_of_leader"] = share_within
    details["regions"] = within["regions"]
    details["verdict_uses"] = "within-region estimate (each region's own peak and ratio)"
    details["excess_votes_interval"] = [float(lo), float(hi)]
    details["bootstrap_sd"] = sd
    details["material_threshold_share_of_leader"] = MATERIAL_EXCESS
    details["assumption"] = (
        "the leader's votes per other vote at the peak turnout are the honest ratio at every "
        "turnout; a genuine rise of support with turnout is counted as excess too"
    )
    return StatResult(
        test="excess_votes",
        subject="leader",
        scope=ctx.scope,
        n=n,
        statistic=within["excess_votes"],
        p_value=p_value,
        effect=share_within,
        verdict=None if material else "consistent",
        details=details,
        n_excluded=excluded_total(reasons),
        excluded=reasons,
        method=f"Shpilkin: leader votes above the peak-turnout ratio; bootstrap over stations "
        f"({BOOTSTRAP}), each region with its own peak; anomaly needs p < alpha and excess "
        ">= 1% of the leader's votes",
    )
