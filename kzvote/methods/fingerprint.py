"""Turnout-share fingerprint tests: the Klimek ballot-stuffing model over regional
honest blobs, and the stations in the 95/95 corner.

The model and its likelihood are in :mod:`kzvote.methods.klimek`, the fit and the
intervals in :mod:`kzvote.methods.klimek_fit`, the formulas in ``docs/fingerprint.md``.
This module turns a fit into results:

``fingerprint``
    The honest part has one logit-normal blob per region (per district, or one to three
    latent classes, when regions are few), each with its own turnout and share centre,
    spreads and correlation, widened by each station's counting noise; the fraud part
    is Klimek's (incremental stuffing of size ``|N(0, theta)|`` in a share ``f_i`` of
    stations, extreme in ``f_e``, vote switching with ``alpha``). The statistic is the
    likelihood ratio of the full model against the honest part alone,
    ``2 (l_fraud - l_fair)``. Its p-value is read against chi-square with 2 degrees
    of freedom (:func:`lr_sf`): under the null theta and alpha are not identified
    (Davies 1987), and the chi-bar-square of two weights on their boundary (Self &
    Liang 1987) is too liberal for a fit that reaches its maximum (measured with
    ``benchmarks/klimek_null.py``; the rates are in ``docs/fingerprint.md``).
    When the fraud part is not needed (p >= 0.05) the honest model is the one
    selected: f_i = f_e = 0, with the unrestricted fit in ``details``, and the
    weights' intervals reach 0. The verdict is
    ``anomaly`` only when the part is also material: f_i >= 0.05 or f_e >= 0.002.
    Real honest countries are not exactly logit-normal per region, so with tens of
    thousands of stations the ratio is "significant" on clean files too (Poland 2020:
    70-94, at f_i 0.007 and f_e 0.00003); the materiality rule is what keeps them
    ``consistent``, and it needs no regions in the file.
``high_turnout_cluster``
    Stations at >= 95% turnout and >= 95% leader share against the number the fitted
    honest part expects (each station's own blob and counting noise), with an allowance
    of 0.05% of stations for honest special stations (military units, hospitals). An
    honest blob never centres in the 90/90 corner (:func:`kzvote.methods.klimek_fit.
    _blobs_from`), so a region that reports 99% for the leader everywhere is counted,
    not absorbed.

References
----------
Davies, R. B. (1987). Hypothesis testing when a nuisance parameter is present only
under the alternative. Biometrika 74(1), 33-43.
Klimek, P., Yegorov, Y., Hanel, R., Thurner, S. (2012). Statistical detection of
systematic election irregularities. PNAS 109(41), 16469-16473.
doi:10.1073/pnas.1210722109
Self, S. G., Liang, K.-Y. (1987). Asymptotic properties of maximum likelihood
estimators and likelihood ratio tests under nonstandard conditions. JASA 82(398),
605-610.
"""

from __future__ import annotations

import numpy as np

from kzvote.methods.common import (
    Context,
    excluded_total,
    inconclusive,
    leader_share_parts,
    merge_exclusions,
    turnout_parts,
)
from kzvote.model import StationTable, StatResult

MIN_STATIONS = 300
MIN_REGISTERED = 100
MATERIAL_F_I = 0.05
MATERIAL_F_E = 0.002
#: below this f_i, theta (the incremental stuffing's size) is not identified
IDENTIFIED_F_I = 0.005
CORNER = 0.95
#: honest special stations that reach the corner, as a share of stations (Poland 2020)
SPECIAL_ALLOWANCE = 0.0005
PARAMS = ("f_incremental", "f_extreme", "theta", "alpha")
#: draws of every station for the fitted model's histograms (figures, misfit)
DRAWS = 10
#: cells of the figures' histograms
BINS = 30


def _fit_points(table: StationTable, options: dict):
    """The stations the fit uses: a mask over the table, the exclusion counts, and per
    fitted station turnout, leader share and their denominators."""
    t_num, t_den, ok_t, why_t = turnout_parts(table)
    s_num, s_den, ok_s, why_s = leader_share_parts(table, options["leader"])
    ok = ok_t & ok_s
    reasons = merge_exclusions(why_t, why_s)
    min_registered = int(options.get("fingerprint_min_registered", MIN_REGISTERED))
    small = ok & (t_den < min_registered)
    if small.any():
        reasons[f"registered_below_{min_registered}"] = int(small.sum())
    ok &= ~small
    with np.errstate(invalid="ignore", divide="ignore"):
        turnout = np.clip(t_num / t_den, 0, 1)
        share = np.clip(s_num / s_den, 0, 1)
    return ok, turnout[ok], share[ok], t_den[ok], s_den[ok], reasons


def _invalid_per_registered(table: StationTable, ok: np.ndarray, registered: np.ndarray):
    """Each fitted station's invalid ballots per registered voter, when the file says
    them: an invalid count, or reported valid votes beside ballots cast. Zero otherwise:
    a valid count derived as the sum of the candidates is not one when the file lists
    only some of them (Canada 2011 lists the winner only, which made 60% of ballots
    look spoiled)."""
    fields = table.mapping.fields
    if not (table.has("ballots_cast") and ("invalid" in fields or "valid" in fields)):
        return np.zeros(int(ok.sum()))
    if "invalid" in fields:
        invalid = table.column("invalid")[ok]
    else:
        invalid = table.column("ballots_cast")[ok] - table.column("valid")[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        q = invalid / registered
    return np.where(np.isfinite(q) & (q >= 0), np.clip(q, 0, 1), 0.0)


def klimek_stations(
    table: StationTable, leader: str, options: dict | None = None, kind: str | None = None
):
    """The stations the regional Klimek model fits (:class:`~kzvote.methods.klimek.
    Stations`), the mask over the table and the exclusion counts. The honest grouping
    is the one of lowest BIC (:func:`~kzvote.methods.klimek_fit.best_grouping`), or
    ``kind`` when given (a fit carried in a report names its grouping). Observed
    fractions are kept off 0 and 1 by half a vote (the model works on the logit
    scale)."""
    from kzvote.methods.klimek import Stations
    from kzvote.methods.klimek_fit import best_grouping, group_candidates

    opts = dict(options or {}, leader=leader)
    ok, turnout, share, n_reg, n_bal, reasons = _fit_points(table, opts)
    n_reg = n_reg.astype(float)
    n_bal = np.maximum(n_bal, 1).astype(float)
    region = table.ids["region"].to_numpy()[ok]
    district = table.ids["district"].to_numpy()[ok]
    q = _invalid_per_registered(table, ok, n_reg)
    candidates = [
        Stations(
            turnout=np.clip(turnout, 0.5 / n_reg, 1 - 0.5 / n_reg),
            share=np.clip(share, 0.5 / n_bal, 1 - 0.5 / n_bal),
            registered=n_reg,
            ballots=n_bal,
            group=groups,
            names=names,
            invalid=q,
            kind=group_kind,
        )
        for groups, names, group_kind in group_candidates(region, district)
    ]
    if kind is not None:
        chosen = [c for c in candidates if c.kind == kind]
        st = chosen[0] if chosen else candidates[0]
    elif candidates[0].n < MIN_STATIONS:  # too few to fit: the test says so
        st = candidates[0]
    else:
        st = best_grouping(candidates)
    return st, ok, reasons


def lr_sf(lr: float) -> float:
    """The fingerprint test's p-value: P(chi2_2 > lr). The chi-bar-square of the two
    weights (:func:`chibar_sf`) ignores that theta and alpha are free under the
    alternative and not identified under the null; the sup over them makes the ratio
    larger than that reference allows. Chosen by measurement on the independent
    generator (``benchmarks/klimek_null.py``), checked on held-out elections and on
    the twins of ``kzvote calibrate``."""
    from kzvote.methods.distributions import chi2_sf

    if lr <= 0:
        return 1.0
    return float(chi2_sf(lr, 2))


def chibar_sf(lr: float) -> float:
    """P(LR > lr) under the chi-bar-square of two parameters on their boundary:
    ``0.25 chi2_0 + 0.5 chi2_1 + 0.25 chi2_2`` (chi2_0 is the point mass at 0)."""
    from kzvote.methods.distributions import chi2_sf

    if lr <= 0:
        return 1.0
    return float(0.5 * chi2_sf(lr, 1) + 0.25 * chi2_sf(lr, 2))


def fingerprint_tests(table: StationTable, ctx: Context) -> list[StatResult]:
    """The fingerprint family: model fit, high-turnout cluster, dependence, excess votes."""
    from kzvote.methods import klimek_fit as KF

    st, _, reasons = klimek_stations(table, ctx.leader, ctx.options)
    out: list[StatResult] = []
    if st.n < MIN_STATIONS:
        reason = (
            f"only {st.n} stations with at least {MIN_REGISTERED} registered voters; "
            f"the model fit needs {MIN_STATIONS}"
        )
        for test in ("fingerprint", "high_turnout_cluster"):
            out.append(inconclusive(test, "leader", ctx.scope, st.n, reason, excluded=reasons))
    else:
        fair, fraud = KF.fit_pair(st)
        out.append(_fingerprint_result(st, fair, fraud, reasons, ctx))
        out.append(_cluster_result(st, fair, reasons, ctx))
    from kzvote.methods.dependence import dependence_tests

    out.extend(dependence_tests(table, ctx))
    return out


def _blob_table(st, fit_) -> list[dict]:
    """The fit's honest blobs as rows for the report (logit-scale parameters, and the
    centres as fractions)."""
    from kzvote.methods.klimek import expit

    if st.kind == "latent":
        names = [f"class {k + 1}" for k in range(fit_.k)]
        counts = list(np.round(np.asarray(fit_.class_weights) * st.n).astype(int))
    else:
        names = list(st.names)
        counts = list(np.bincount(st.group, minlength=len(names)))
    b = fit_.blobs
    return [
        {
            "group": names[k],
            "stations": int(counts[k]),
            "turnout_centre": float(expit(b.a[k])),
            "share_centre": float(expit(b.b[k])),
            "a": float(b.a[k]),
            "s": float(b.s[k]),
            "b": float(b.b[k]),
            "r": float(b.r[k]),
            "rho": float(b.rho[k]),
        }
        for k in range(fit_.k)
    ]


def fitted_model(details: dict):
    """The honest-only and full fits carried in a fingerprint result's ``details``
    (:class:`~kzvote.methods.klimek_fit.Fit`), for figures and the stations list: no
    refit."""
    from kzvote.methods.klimek import Blobs
    from kzvote.methods.klimek_fit import NO_FRAUD, Fit

    fits = []
    for key, fair in (("fair_model", True), ("fraud_model", False)):
        part = details[key]
        rows = part["blobs"]
        blobs = Blobs(
            *(np.array([r[c] for r in rows], dtype=float) for c in "asbr"),
            np.array([r["rho"] for r in rows], dtype=float),
        )
        weights = part.get("class_weights")
        params = dict(NO_FRAUD) if fair else {name: part[name] for name in PARAMS}
        fits.append(
            Fit(
                params,
                blobs,
                None if weights is None else np.asarray(weights),
                part["loglik"],
                fair,
            )
        )
    return fits[0], fits[1]


def _fit_summary(st, fit_) -> dict:
    out = {name: float(fit_.params[name]) for name in PARAMS} if not fit_.fair else {}
    out["loglik"] = float(fit_.loglik)
    out["iterations"] = int(fit_.iterations)
    out["converged"] = bool(fit_.converged)
    out["class_weights"] = (
        None if fit_.class_weights is None else list(map(float, fit_.class_weights))
    )
    out["blobs"] = _blob_table(st, fit_)
    return out


def _fingerprint_result(st, fair, fraud, reasons, ctx) -> StatResult:
    from kzvote.methods import klimek_fit as KF

    fraud, ci = KF.fit_with_intervals(st, fraud, fair)
    lr = max(0.0, 2 * (fraud.loglik - fair.loglik))
    p_value = lr_sf(lr)
    needed = p_value < 0.05
    estimate = {name: float(fraud.params[name]) for name in PARAMS}
    if not needed:
        # the honest model is the one selected: its f_i = f_e = 0 are the estimates
        estimate["f_incremental"] = estimate["f_extreme"] = 0.0
    material = estimate["f_incremental"] >= MATERIAL_F_I or estimate["f_extreme"] >= MATERIAL_F_E
    details = dict(estimate)
    for name in PARAMS:
        details[f"{name}_interval"] = [ci[name]["low"], ci[name]["high"]]
    details["at_bound"] = {
        name: [side for side in ("low", "high") if ci[name][f"at_bound_{side}"]] for name in PARAMS
    }
    details["interval_method"] = {name: ci[name]["method"] for name in PARAMS}
    details["interval_open"] = {
        name: [side for side in ("low", "high") if ci[name].get(f"open_{side}")] for name in PARAMS
    }
    if not needed:
        # the honest model (f_i = f_e = 0) is inside the test's acceptance region, so
        # the weights' intervals reach 0 whatever the one-parameter profile says (on a
        # clean file the profile can exclude 0 at a ratio the test does not reject)
        for name in ("f_incremental", "f_extreme"):
            details[f"{name}_interval"][0] = 0.0
            if "low" not in details["at_bound"][name]:
                details["at_bound"][name].insert(0, "low")
    details["unrestricted_fit"] = {name: float(fraud.params[name]) for name in PARAMS}
    details["fraud_part_needed"] = bool(needed)
    details["likelihood_ratio"] = lr
    details["loglik_fair"] = float(fair.loglik)
    details["loglik_fraud"] = float(fraud.loglik)
    details["grouping"] = {"kind": st.kind, "groups": int(fraud.k)}
    details["material_thresholds"] = {"f_incremental": MATERIAL_F_I, "f_extreme": MATERIAL_F_E}
    details["material"] = bool(material)
    corner = (st.turnout >= CORNER) & (st.share >= CORNER)
    details["corner_share"] = float(corner.mean())
    details["misfit"] = _misfit(st, fraud)
    details["quadrature"] = KF.quadrature_check(st, fraud)
    details["fair_model"] = _fit_summary(st, fair)
    details["fraud_model"] = _fit_summary(st, fraud)
    warnings = []
    if needed:
        for name, label in (("theta", "theta"), ("alpha", "alpha")):
            # theta describes incremental stuffing only: with next to none it is not
            # identified, and its bound says nothing
            if name == "theta" and estimate["f_incremental"] < IDENTIFIED_F_I:
                continue
            lo, hi = KF.BOUNDS[name]
            value = estimate[name]
            if value <= lo * 1.001 or value >= hi * 0.999:
                warnings.append(
                    f"{label} sits at its bound ({value:.3g}; allowed {lo:g}-{hi:g}): the "
                    "fit would go further, and its interval is open on that side"
                )
        if estimate["f_incremental"] >= 0.9 * KF.BOUNDS["f_incremental"][1]:
            warnings.append(
                "f_i sits at its bound: the model is bending to fit blobs it does not describe"
            )
    outside = [
        name
        for name in PARAMS
        if not (ci[name]["low"] - 1e-9 <= fraud.params[name] <= ci[name]["high"] + 1e-9)
    ]
    if outside:
        warnings.append(
            "the fit did not reach the maximum its profile found for "
            + ", ".join(outside)
            + ": the estimate lies outside its interval; read the interval, not the estimate"
        )
    quad = details["quadrature"]
    moved = max(abs(quad["loglik_difference"]), quad["spread"])
    if moved > KF.QUADRATURE_WARN:
        warnings.append(
            "the intervals are approximate: computed twice as finely, the numerical "
            f"integral behind the fit moves its log-likelihood by up to {moved:.1f} units "
            "(an interval's edge is 1.92 units from the top)"
        )
    if details["misfit"]["share_misplaced"] > 0.1:
        warnings.append(
            f"the fitted model misplaces {details['misfit']['share_misplaced']:.0%} of "
            "stations (10 pp cells): special stations or blocs the regional blobs do not "
            "describe may mimic or hide stuffing; compare with --by-region"
        )
    verdict = None if (needed and material) else "consistent"
    group_word = {"region": "regions", "district": "districts", "latent": "latent classes"}
    return StatResult(
        test="fingerprint",
        subject="leader",
        scope=ctx.scope,
        n=st.n,
        statistic=lr,
        p_value=p_value,
        effect=estimate["f_incremental"] + estimate["f_extreme"],
        verdict=verdict,
        details=details,
        warnings=tuple(warnings),
        n_excluded=excluded_total(reasons),
        excluded=reasons,
        method=(
            "Klimek et al. (2012) stuffing model over logit-normal honest blobs, one per "
            f"{group_word[st.kind].rstrip('es') if st.kind != 'latent' else 'latent class'} "
            f"({fraud.k} {group_word[st.kind]}), fitted by EM to every station; "
            "likelihood-ratio test of f_i = f_e = 0 against chi-square(2) (measured on "
            "clean elections; theta and alpha are not identified without stuffing); "
            "anomaly needs f_i >= 0.05 or f_e >= 0.002; intervals "
            "from the profile likelihood (f_i and f_e with the honest blobs re-fitted, "
            "theta and alpha with them held)"
        ),
    )


def _misfit(st, fit_) -> dict:
    """Share of stations the fitted model puts in the wrong 10 pp cell (observed
    histogram against ``DRAWS`` draws of every station from the model)."""
    rng = np.random.default_rng(20120101)
    from kzvote.methods.klimek_fit import expected_points

    t, v = expected_points(st, fit_, rng, DRAWS)
    edges = np.linspace(0, 1, 11)
    observed = np.histogram2d(st.turnout, st.share, bins=(edges, edges))[0]
    expected = np.histogram2d(t, v, bins=(edges, edges))[0] / DRAWS
    return {
        "share_misplaced": float(0.5 * np.abs(observed - expected).sum() / st.n),
        "cells": "10 pp",
    }


def _cluster_result(st, fair, reasons, ctx) -> StatResult:
    """Stations at >= 95% turnout and >= 95% share against the fitted honest part."""
    from kzvote.methods.distributions import poisson_sf
    from kzvote.methods.klimek import corner_probability

    n = st.n
    observed = int(((st.turnout >= CORNER) & (st.share >= CORNER)).sum())
    if st.kind == "latent":
        w = np.asarray(fair.class_weights, dtype=float)
        model_expected = float(
            sum(
                w[k]
                * corner_probability(
                    fair.blobs.take(np.full(n, k)), st.registered, st.ballots, CORNER
                ).sum()
                for k in range(fair.k)
            )
        )
    else:
        model_expected = float(
            corner_probability(fair.blobs.take(st.group), st.registered, st.ballots, CORNER).sum()
        )
    allowance = SPECIAL_ALLOWANCE * n
    expected = max(model_expected, allowance)
    p_value = float(poisson_sf(observed - 1, expected)) if observed else 1.0
    return StatResult(
        test="high_turnout_cluster",
        subject="leader",
        scope=ctx.scope,
        n=n,
        statistic=float(observed),
        p_value=p_value,
        effect=(observed - expected) / n,
        details={
            "observed": observed,
            "expected_fair_model": model_expected,
            "allowance_special_stations": allowance,
            "expected": expected,
        },
        n_excluded=excluded_total(reasons),
        excluded=reasons,
        method="stations with turnout >= 95% and leader share >= 95% against the fitted "
        "honest blobs (each station's own blob and counting noise; an allowance of 0.05% "
        "of stations for special stations); Poisson p",
    )


def station_posteriors(table: StationTable, leader: str, result: StatResult, options=None):
    """Per station of the table: the fitted model's posterior probability of the
    incremental and of the extreme class, NaN for stations the fit left out. A class
    counts only where the station's point is at least ``bayes_factor`` times likelier
    under it than under honest counting (returned as the third and fourth arrays: the
    log10 Bayes factors). None when the selected model has no stuffing."""
    from kzvote.methods.klimek_fit import OUTLIER, station_logs

    d = result.details
    if d["f_incremental"] <= 0 and d["f_extreme"] <= 0:
        return None
    st, ok, _ = klimek_stations(table, leader, options, kind=d["grouping"]["kind"])
    _, fraud = fitted_model(d)
    lh, li, le = station_logs(st, fraud)
    f_i, f_e = d["f_incremental"], d["f_extreme"]
    parts = np.stack(
        [
            lh + np.log(max(1 - f_i - f_e, 1e-300)),
            li + np.log(max(f_i, 1e-300)),
            le + np.log(max(f_e, 1e-300)),
        ]
    )
    parts = parts + np.log1p(-OUTLIER)
    peak = np.maximum(parts.max(axis=0), np.log(OUTLIER))
    total = np.exp(parts - peak).sum(axis=0) + np.exp(np.log(OUTLIER) - peak)
    post = np.exp(parts - peak) / total
    out = []
    for row in (post[1], post[2], (li - lh) / np.log(10), (le - lh) / np.log(10)):
        full = np.full(table.n_stations, np.nan)
        full[ok] = row
        out.append(full)
    return tuple(out)


def model_surfaces(table: StationTable, leader: str, result: StatResult, options=None) -> dict:
    """Observed, fitted-fair and fitted-fraud expected counts on a BINS x BINS grid
    (turnout along axis 0), the fitted ones from ``DRAWS`` seeded draws of every
    station from the fits carried in the result (no refit)."""
    from kzvote.methods.klimek_fit import expected_points

    d = result.details
    st, _, _ = klimek_stations(table, leader, options, kind=d["grouping"]["kind"])
    fair, fraud = fitted_model(d)
    edges = np.linspace(0, 1, BINS + 1)
    out = {"observed": np.histogram2d(st.turnout, st.share, bins=(edges, edges))[0]}
    for key, fit_ in (("fair", fair), ("fraud", fraud)):
        t, v = expected_points(st, fit_, np.random.default_rng(20120101), DRAWS)
        out[key] = np.histogram2d(t, v, bins=(edges, edges))[0] / DRAWS
    return out


def cumulative_curve(table: StationTable, leader: str) -> dict:
    """Cumulative leader and other votes against turnout, with Shpilkin's clean line."""
    from kzvote.methods.dependence import shpilkin_excess

    t_num, t_den, ok_t, _ = turnout_parts(table)
    s_num, s_den, ok_s, _ = leader_share_parts(table, leader)
    ok = ok_t & ok_s & (t_num <= t_den) & (s_num <= s_den)
    t_num, t_den, s_num, s_den = t_num[ok], t_den[ok], s_num[ok], s_den[ok]
    order = np.argsort(t_num / t_den, kind="stable")
    turnout = (t_num / t_den)[order]
    leader_votes = np.cumsum(s_num[order])
    other_votes = np.cumsum((s_den - s_num)[order])
    estimate = shpilkin_excess(t_num, t_den, s_num, s_den)
    clean = np.where(
        turnout <= estimate["clean_turnout_peak"] + 0.025,
        leader_votes,
        np.nan,
    )
    last = np.flatnonzero(np.isfinite(clean))
    if len(last):
        i = last[-1]
        clean[i:] = leader_votes[i] + estimate["clean_ratio_leader_to_others"] * (
            other_votes[i:] - other_votes[i]
        )
    return {
        "turnout": turnout,
        "leader": leader_votes,
        "others": other_votes,
        "clean": clean,
        "peak": estimate["clean_turnout_peak"],
    }
