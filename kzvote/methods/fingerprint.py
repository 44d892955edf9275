"""Turnout-share fingerprints and the Klimek ballot-stuffing model.

Model (Klimek, Yegorov, Hanel & Thurner, PNAS 2012; ``../shared/METHODS.md``)
--------------------------------------------------------------------------
Clean turnout ``tau_i ~ N(tau, s_tau)`` and leader share ``nu_i ~ N(nu, s_nu)``, both
truncated to [0, 1]. With probability ``f_i`` a station gets incremental fraud
``x ~ |N(0, theta)|`` (truncated to [0, 1]); with probability ``f_e`` extreme fraud
``x = 1 - |N(0, 0.075)|``; otherwise ``x = 0``. Then

    T = 1 - (1 - x)(1 - tau)                                  (turnout)
    V = (tau nu + x (1 - tau) + x**alpha (1 - nu) tau) / T      (leader share)

Fitting method
--------------
Maximum likelihood on the 2D histogram of (T, V): 2 pp cells, or 5 pp cells below 4,000
stations (a region of a few hundred stations cannot fill 2 pp cells). For ``x = 0`` the
density is ``phi_tau(T) phi_nu(V)``. For the fraud components the density is an
integral over ``x``; substituting the clean turnout ``tau`` for ``x``
(``x = 1 - (1 - T)/(1 - tau)``, ``0 <= tau <= T``) turns it into

    f(T, V) = integral h(x(tau)) phi_tau(tau) phi_nu(nu(tau)) J(tau) dtau,
    J = T / (tau (1 - tau) (1 - x**alpha))

with ``nu(tau) = (V T - x (1 - tau) - x**alpha tau) / (tau (1 - x**alpha))``, whose
integrand is smooth on the scale of ``s_tau``, so a 24-point Gauss-Legendre rule over
``tau`` is accurate. The multinomial log-likelihood of the bin counts is maximised over
all eight parameters (L-BFGS-B on logit/log scales, two starts); the fair model
(``f_i = f_e = 0``) is fitted the same way. This uses the whole 2D picture, unlike the
1D grid searches of some tools, and recovers known parameters on simulations
(``benchmarks/bench_fingerprint.py``).

Counting noise: the clean blob is a mixture over four station-size classes, each
widened by its binomial noise (``s**2 + p (1 - p) mean(1/N)``), so ``s_tau`` and
``s_nu`` are the spreads of true turnout and support, and the heavier tails of small
stations are not mistaken for fraud (without it, clean simulations gave f_i = 0.13).

Uncertainty: 95% intervals from the observed information (numerical Hessian of the
log-likelihood on the transformed scale, back-transformed). When a fraud component is
not needed (its likelihood-ratio test has p > 0.05) its interval starts at 0.

Verdict: ``anomaly`` when the fraud part is needed statistically (likelihood-ratio
test of ``f_i = f_e = 0``; 4 degrees of freedom, conservative for this non-regular
test), materially (``f_i >= 0.05`` or ``f_e >= 0.005``), and the data show the
signature stuffing leaves: turnout and leader share rising together within regions
(correlation >= 0.05). Without that signature the fraud component is only bending the
blob (Poland 2020: the fit puts f_i near 1 with alpha at its bound, while within regions
the correlation is negative). A single Gaussian blob
never fits a real country exactly: with tens of thousands of stations any misfit is
"significant", so the materiality rule keeps regional blocs and skewed blobs (Poland
2020) from being called ballot stuffing; ``details.misfit`` reports how well the
fitted model reproduces the histogram.

References
----------
Klimek, P., Yegorov, Y., Hanel, R., Thurner, S. (2012). Statistical detection of
systematic election irregularities. PNAS 109(41), 16469-16473.
doi:10.1073/pnas.1210722109
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

EXTREME_SCALE = 0.075
BINS = 50  # 2 pp cells from SMALL_SAMPLE stations up
SMALL_BINS = 20  # 5 pp cells below it: a few hundred stations cannot fill 2 pp cells
SMALL_SAMPLE = 4000
NODES = 24
MIN_STATIONS = 300
MIN_REGISTERED = 100
MATERIAL_F_I = 0.05
MATERIAL_F_E = 0.005
#: Klimek-style stuffing raises turnout and leader share together; below this
#: within-region correlation the fraud component is reshaping the blob, not fraud.
MIN_WITHIN_CORRELATION = 0.05
PARAMS = ("tau", "s_tau", "nu", "s_nu", "f_incremental", "f_extreme", "theta", "alpha")
_GL_X, _GL_W = np.polynomial.legendre.leggauss(NODES)


def _truncnorm_pdf(x: np.ndarray, mu: float, s: float) -> np.ndarray:
    from scipy.special import ndtr

    mass = ndtr((1 - mu) / s) - ndtr(-mu / s)
    z = (x - mu) / s
    pdf = np.exp(-0.5 * z * z) / (s * np.sqrt(2 * np.pi) * max(mass, 1e-300))
    return np.where((x >= 0) & (x <= 1), pdf, 0.0)


def _halfnormal_pdf(x: np.ndarray, scale: float) -> np.ndarray:
    """|N(0, scale)| truncated to [0, 1]."""
    from scipy.special import ndtr

    mass = 2 * ndtr(1 / scale) - 1
    pdf = 2 * np.exp(-0.5 * (x / scale) ** 2) / (scale * np.sqrt(2 * np.pi) * mass)
    return np.where((x >= 0) & (x <= 1), pdf, 0.0)


def model_density(
    T: np.ndarray, V: np.ndarray, p: dict, cache: dict | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Densities of (T, V) under each component: clean, incremental, extreme.

    Each is a probability density (not yet weighted by its mixture share). ``cache``
    (a dict kept with fixed ``T`` and ``V``) reuses the parts whose parameters did not
    change: the mixture shares change no density and ``theta`` only the incremental
    one, which is most of a numerical gradient's evaluations. Returned arrays are
    shared with the cache: do not modify them.
    """
    tau, s_tau, nu, s_nu = p["tau"], p["s_tau"], p["nu"], p["s_nu"]
    noise = p.get("_noise", ((1.0, 0.0, 0.0),))
    spoiled = p.get("_spoiled", 0.0)
    cache = {} if cache is None else cache
    key = (tau, s_tau, nu, s_nu, noise, spoiled)
    if cache.get("clean_key") != key:
        clean = np.zeros_like(T)
        for weight, inv_registered, inv_ballots in noise:
            # binomial counting noise widens the clean blob more at small stations
            sd_t = np.sqrt(s_tau**2 + tau * (1 - tau) * inv_registered)
            sd_v = np.sqrt(s_nu**2 + nu * (1 - nu) * inv_ballots)
            clean += weight * _truncnorm_pdf(T, tau, sd_t) * _truncnorm_pdf(V, nu, sd_v)
        cache.update(clean_key=key, clean=clean)
    clean = cache["clean"]
    if p["f_incremental"] <= 0 and p["f_extreme"] <= 0:
        return clean, np.zeros_like(clean), np.zeros_like(clean)
    fraud_key = key + (p["alpha"],)
    if cache.get("fraud_key") != fraud_key:
        cache.update(fraud_key=fraud_key, incremental_key=None)
        cache.update(_fraud_parts(T, V, tau, s_tau, nu, s_nu, p["alpha"], spoiled))
    if cache.get("incremental_key") != p["theta"]:
        incremental = np.zeros_like(clean)
        density = _halfnormal_pdf(cache["x"], p["theta"]) * cache["common"]
        incremental[cache["live"]] = density.sum(axis=1)
        cache.update(incremental_key=p["theta"], incremental=incremental)
    return clean, cache["incremental"], cache["extreme"]


def _fraud_parts(T, V, tau, s_tau, nu, s_nu, alpha, spoiled) -> dict:
    """The fraud integrand over clean turnout, without the incremental fraud density."""
    lo = max(0.0, tau - 6.5 * s_tau)
    live = lo < T  # below the lowest clean turnout no fraud can land
    T, V = T[live], V[live]
    hi = np.minimum(T, tau + 6.5 * s_tau)
    span = np.maximum(hi - lo, 0.0)
    # nodes in [lo, hi] per point: (points x nodes)
    t = lo + (span[:, None] * (_GL_X[None, :] + 1) / 2)
    w = span[:, None] * _GL_W[None, :] / 2
    Tc, Vc = T[:, None], V[:, None]
    extreme = np.zeros(len(live))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        one_minus_x = (1 - Tc) / (1 - t)
        x = np.clip(1 - one_minus_x, 0.0, 1.0)
        xa = x**alpha
        # switched votes come from the other candidates' valid votes: a share
        # (1 - spoiled - nu) of the ballots, when the share is of ballots cast
        nu_t = (Vc * Tc - x * (1 - t) - xa * (1 - spoiled) * t) / (t * (1 - xa))
        jac = Tc / (t * (1 - t) * (1 - xa))
        common = _truncnorm_pdf(t, tau, s_tau) * _truncnorm_pdf(nu_t, nu, s_nu) * jac * w
        common = np.where(np.isfinite(common) & (t > 0) & (t < 1), common, 0.0)
        extreme[live] = (_halfnormal_pdf(one_minus_x, EXTREME_SCALE) * common).sum(axis=1)
    return {"live": live, "x": x, "common": common, "extreme": extreme}


@dataclass
class Histogram:
    counts: np.ndarray  # flattened BINS*BINS
    centres_t: np.ndarray
    centres_v: np.ndarray
    n: int
    # counting noise: (weight, mean 1/registered, mean 1/ballots) per station-size class
    noise: tuple[tuple[float, float, float], ...] = ((1.0, 0.0, 0.0),)
    # spoiled ballots: their share of ballots cast, when the share is of ballots cast
    spoiled: float = 0.0
    # model_density's cache of the parts whose parameters did not change
    cache: dict = field(default_factory=dict, repr=False)


def noise_classes(registered: np.ndarray, ballots: np.ndarray, k: int = 4):
    """Station-size classes (quartiles of registered) for the counting-noise mixture."""
    if len(registered) < 4 * k:
        return ((1.0, 0.0, 0.0),)
    # sort by values only (ties by ballots), so that the file's row order cannot matter
    order = np.lexsort((ballots, registered))
    parts = np.array_split(order, k)
    return tuple(
        (len(p) / len(order), float(np.mean(1 / registered[p])), float(np.mean(1 / ballots[p])))
        for p in parts
    )


def histogram(turnout: np.ndarray, share: np.ndarray, bins: int | None = None) -> Histogram:
    if bins is None:
        bins = BINS if len(turnout) >= SMALL_SAMPLE else SMALL_BINS
    edges = np.linspace(0, 1, bins + 1)
    counts, _, _ = np.histogram2d(
        np.clip(turnout, 0, 1 - 1e-12), np.clip(share, 0, 1 - 1e-12), bins=[edges, edges]
    )
    centres = (edges[:-1] + edges[1:]) / 2
    ct, cv = np.meshgrid(centres, centres, indexing="ij")
    return Histogram(counts.ravel(), ct.ravel(), cv.ravel(), int(counts.sum()))


def bin_probabilities(hist: Histogram, p: dict) -> np.ndarray:
    p = dict(p, _noise=hist.noise, _spoiled=hist.spoiled)
    return _bin_probabilities(hist, p)


def _bin_probabilities(hist: Histogram, p: dict) -> np.ndarray:
    """Bin probabilities: each component's density at the bin centres, scaled down where
    the midpoint rule over-counts its mass (the extreme component peaks in the corner,
    where it over-counts by up to 60% on 2 pp bins), so that each carries its share."""
    parts = model_density(hist.centres_t, hist.centres_v, p, hist.cache)
    shares = (max(0.0, 1 - p["f_incremental"] - p["f_extreme"]), p["f_incremental"], p["f_extreme"])
    cell = 1.0 / len(hist.counts)
    prob = np.zeros_like(parts[0])
    for density, share in zip(parts, shares, strict=True):
        # the grid integral of a density is ~1; where the midpoint rule over-counts a
        # sharp peak (> 1) scale it down, but never blow up a component that has
        # (numerically) no mass on the grid
        integral = max(density.sum() * cell, 1.0)
        if share > 0:
            prob += share * density * cell / integral
    return prob / max(prob.sum(), 1e-300)


def log_likelihood(hist: Histogram, p: dict) -> float:
    prob = bin_probabilities(hist, p)
    occupied = hist.counts > 0
    return float((hist.counts[occupied] * np.log(np.maximum(prob[occupied], 1e-300))).sum())


# --- parameter transforms: unconstrained vector <-> dict ---------------------------------


def _expit(z):
    from scipy.special import expit

    return expit(z)


def _logit(p):
    return np.log(p / (1 - p))


def _unpack(z: np.ndarray, fair: bool) -> dict:
    p = {
        "tau": float(_expit(z[0])),
        "s_tau": float(0.005 + 0.5 * _expit(z[1])),
        "nu": float(_expit(z[2])),
        "s_nu": float(0.005 + 0.5 * _expit(z[3])),
        "f_incremental": 0.0,
        "f_extreme": 0.0,
        "theta": 0.1,
        "alpha": 2.0,
    }
    if not fair:
        p["f_incremental"] = float(_expit(z[4]))
        p["f_extreme"] = float(0.3 * _expit(z[5]))
        p["theta"] = float(0.01 + 0.99 * _expit(z[6]))
        p["alpha"] = float(0.5 + 9.5 * _expit(z[7]))
    return p


def _pack(p: dict, fair: bool) -> np.ndarray:
    z = [
        _logit(np.clip(p["tau"], 1e-4, 1 - 1e-4)),
        _logit(np.clip((p["s_tau"] - 0.005) / 0.5, 1e-4, 1 - 1e-4)),
        _logit(np.clip(p["nu"], 1e-4, 1 - 1e-4)),
        _logit(np.clip((p["s_nu"] - 0.005) / 0.5, 1e-4, 1 - 1e-4)),
    ]
    if not fair:
        z += [
            _logit(np.clip(p["f_incremental"], 1e-5, 1 - 1e-5)),
            _logit(np.clip(p["f_extreme"] / 0.3, 1e-5, 1 - 1e-5)),
            _logit(np.clip((p["theta"] - 0.01) / 0.99, 1e-4, 1 - 1e-4)),
            _logit(np.clip((p["alpha"] - 0.5) / 9.5, 1e-4, 1 - 1e-4)),
        ]
    return np.array(z, dtype=float)


@dataclass
class Fit:
    params: dict
    loglik: float
    z: np.ndarray
    fair: bool


def fit(hist: Histogram, start: dict, *, fair: bool) -> Fit:
    """Maximum-likelihood fit from one start (L-BFGS-B on the transformed scale)."""
    from scipy.optimize import minimize

    def objective(z):
        return -log_likelihood(hist, _unpack(z, fair)) / hist.n

    z0 = _pack(start, fair)
    result = minimize(
        objective,
        z0,
        method="L-BFGS-B",
        bounds=[(-12, 12)] * len(z0),
        options={"maxiter": 400, "ftol": 1e-11, "gtol": 1e-7},
    )
    params = _unpack(result.x, fair)
    return Fit(params, log_likelihood(hist, params), result.x, fair)


def start_values(turnout: np.ndarray, share: np.ndarray) -> dict:
    """Clean-blob start: medians and robust spreads of the lower-turnout stations."""
    core = turnout < np.quantile(turnout, 0.75)
    t, v = turnout[core], share[core]

    def spread(a):
        return float(max(1.4826 * np.median(np.abs(a - np.median(a))), 0.01))

    return {
        "tau": float(np.median(turnout)),
        "s_tau": spread(turnout),
        "nu": float(np.median(v)),
        "s_nu": spread(v),
        "f_incremental": 0.05,
        "f_extreme": 0.005,
        "theta": 0.1,
        "alpha": 2.0,
    } | ({} if len(t) else {})


def fit_both(
    turnout: np.ndarray, share: np.ndarray, noise=((1.0, 0.0, 0.0),), spoiled: float = 0.0
) -> tuple[Fit, Fit, Histogram]:
    """Fair fit, then the fraud fit from two starts (best kept)."""
    hist = histogram(turnout, share)
    hist.noise = noise
    hist.spoiled = spoiled
    start = start_values(turnout, share)
    fair = fit(hist, start, fair=True)
    fits = []
    for f_i, f_e, theta in ((0.05, 0.005, 0.1), (0.3, 0.03, 0.2)):
        if fits and 2 * (fits[0].loglik - fair.loglik) < 10:
            break  # no fraud worth a second look: the second start would find none
        s = dict(fair.params, f_incremental=f_i, f_extreme=f_e, theta=theta, alpha=2.0)
        fits.append(fit(hist, s, fair=False))
    best = max(fits, key=lambda f: f.loglik)
    if best.loglik < fair.loglik:  # the fraud model nests the fair one
        best = Fit(dict(fair.params), fair.loglik, _pack(fair.params, False), False)
    return fair, best, hist


def intervals(hist: Histogram, best: Fit, step: float = 1e-3) -> dict[str, list[float]]:
    """95% Wald intervals on the transformed scale from a numerical Hessian."""
    z = best.z.copy()
    k = len(z)

    def ll(v):
        return log_likelihood(hist, _unpack(v, False))

    h = np.zeros((k, k))
    f0 = ll(z)
    e = np.eye(k) * step
    fp = np.array([ll(z + e[i]) for i in range(k)])
    fm = np.array([ll(z - e[i]) for i in range(k)])
    for i in range(k):
        h[i, i] = (fp[i] - 2 * f0 + fm[i]) / step**2
        for j in range(i + 1, k):
            fpp = ll(z + e[i] + e[j])
            h[i, j] = h[j, i] = (fpp - fp[i] - fp[j] + f0) / step**2
    # Observed information; a direction the data do not determine (a flat or slightly
    # convex log-likelihood) gets a small floor eigenvalue, i.e. a very wide interval,
    # rather than no interval.
    info = -(h + h.T) / 2
    if np.all(np.isfinite(info)):
        values, vectors = np.linalg.eigh(info)
        floor = max(values.max(), 1.0) * 1e-8
        values = np.maximum(values, floor)
        cov = (vectors / values) @ vectors.T
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    else:
        sd = np.full(k, np.nan)
    out = {}
    for i, name in enumerate(PARAMS):
        if not np.isfinite(sd[i]):
            out[name] = [float("nan"), float("nan")]
            continue
        lo, hi = z.copy(), z.copy()
        lo[i] -= 1.96 * sd[i]
        hi[i] += 1.96 * sd[i]
        a, b = _unpack(lo, False)[name], _unpack(hi, False)[name]
        out[name] = [float(min(a, b)), float(max(a, b))]
    return out


def _points(table: StationTable, ctx: Context):
    t_num, t_den, ok_t, why_t = turnout_parts(table)
    s_num, s_den, ok_s, why_s = leader_share_parts(table, ctx.leader)
    ok = ok_t & ok_s
    reasons = merge_exclusions(why_t, why_s)
    min_registered = int(ctx.options.get("fingerprint_min_registered", MIN_REGISTERED))
    small = ok & (t_den < min_registered)
    if small.any():
        reasons[f"registered_below_{min_registered}"] = int(small.sum())
    ok &= ~small
    with np.errstate(invalid="ignore", divide="ignore"):
        turnout = np.clip(t_num / t_den, 0, 1)
        share = np.clip(s_num / s_den, 0, 1)
    region = table.ids["region"].to_numpy()[ok]
    noise = noise_classes(t_den[ok], s_den[ok])
    spoiled = 0.0
    if table.has("ballots_cast") and table.has("valid"):  # the share is of ballots cast
        valid = table.column("valid")[ok]
        cast = s_den[ok]
        both = np.isfinite(valid) & (valid <= cast)
        if both.any():
            spoiled = float(max(0.0, 1 - valid[both].sum() / cast[both].sum()))
    return turnout[ok], share[ok], region, reasons, noise, spoiled


def fingerprint_tests(table: StationTable, ctx: Context) -> list[StatResult]:
    """The fingerprint family: model fit, high-turnout cluster, dependence, excess votes."""
    turnout, share, region, reasons, noise, spoiled = _points(table, ctx)
    n = len(turnout)
    out: list[StatResult] = []
    if n < MIN_STATIONS:
        reason = (
            f"only {n} stations with at least {MIN_REGISTERED} registered voters; "
            f"the model fit needs {MIN_STATIONS}"
        )
        for test in ("fingerprint", "high_turnout_cluster"):
            out.append(inconclusive(test, "leader", ctx.scope, n, reason, excluded=reasons))
    else:
        fair, best, hist = fit_both(turnout, share, noise, spoiled)
        within_r = _within_correlation(turnout, share, region)
        out.append(_fingerprint_result(hist, fair, best, n, reasons, ctx, within_r))
        out.append(_cluster_result(hist, fair, turnout, share, reasons, ctx))
    from kzvote.methods.dependence import dependence_tests

    out.extend(dependence_tests(table, ctx))
    return out


def _within_correlation(turnout, share, region) -> float:
    """Correlation of turnout and leader share after removing region means."""
    from kzvote.methods.dependence import _demean

    weights = np.ones(len(turnout))
    t, v = _demean(turnout, region, weights), _demean(share, region, weights)
    if t.std() == 0 or v.std() == 0:
        return 0.0
    return float(np.corrcoef(t, v)[0, 1])


def _fingerprint_result(hist, fair, best, n, reasons, ctx, within_r) -> StatResult:
    from scipy.stats import chi2

    lr = max(0.0, 2 * (best.loglik - fair.loglik))
    p_value = float(chi2.sf(lr, 4))
    ci = intervals(hist, best)
    needed = p_value < 0.05
    for name in ("f_incremental", "f_extreme"):
        if not needed and ci[name]:
            ci[name] = [0.0, max(ci[name][1], best.params[name])]
    material = (
        best.params["f_incremental"] >= MATERIAL_F_I or best.params["f_extreme"] >= MATERIAL_F_E
    )
    signature = within_r >= MIN_WITHIN_CORRELATION
    details = {name: best.params[name] for name in PARAMS}
    details.update({f"{name}_interval": ci[name] for name in PARAMS})
    details["fair"] = {name: fair.params[name] for name in ("tau", "s_tau", "nu", "s_nu")}
    details["loglik_fair"] = fair.loglik
    details["loglik_fraud"] = best.loglik
    details["likelihood_ratio"] = lr
    details["misfit"] = _misfit(hist, best.params)
    details["material_thresholds"] = {"f_incremental": MATERIAL_F_I, "f_extreme": MATERIAL_F_E}
    details["material"] = bool(material)
    details["within_region_correlation"] = within_r
    details["stuffing_signature"] = bool(signature)
    warnings = []
    at_bound = [
        name
        for name, value, edge in (
            ("f_incremental", best.params["f_incremental"], 0.95),
            ("alpha", best.params["alpha"], 9.5),
            ("theta", best.params["theta"], 0.95),
            ("f_extreme", best.params["f_extreme"], 0.29),
        )
        if value >= edge
    ]
    if at_bound and material:
        warnings.append(
            "the fit sits at the edge of the parameter space (" + ", ".join(at_bound) + "): "
            "the model is bending to fit a blob it does not describe; read f_i with care"
        )
    if material and not signature:
        warnings.append(
            f"the fraud component is not called an anomaly: within regions, turnout and "
            f"leader share do not rise together (r = {within_r:.2f}), which stuffing for the "
            "leader would make them do"
        )
    if details["misfit"]["share_misplaced"] > 0.1:
        warnings.append(
            f"the single-blob model misplaces {details['misfit']['share_misplaced']:.0%} of "
            "stations: regional blocs or special stations may mimic or hide fraud; compare "
            "with --by-region"
        )
    verdict = None
    if not (material and signature):
        # not material: report the test's p but do not call it an anomaly
        verdict = "consistent"
    return StatResult(
        test="fingerprint",
        subject="leader",
        scope=ctx.scope,
        n=n,
        statistic=lr,
        p_value=p_value,
        effect=best.params["f_incremental"] + best.params["f_extreme"],
        verdict=verdict,
        details=details,
        warnings=tuple(warnings),
        n_excluded=excluded_total(reasons),
        excluded=reasons,
        method="Klimek et al. (2012) model fitted by maximum likelihood on the 1 pp "
        "turnout x share histogram; likelihood-ratio test of f_i = f_e = 0 (chi-square, "
        "4 df); anomaly needs f_i >= 0.05 or f_e >= 0.005, and turnout and leader share "
        "rising together within regions (r >= 0.05)",
    )


def _misfit(hist: Histogram, params: dict) -> dict:
    """Share of stations the fitted model puts in the wrong 10 pp cell.

    Measured on 10 x 10 cells so that counting noise does not dominate; on samples drawn
    from the model itself it is about 0.02 at 10,000 stations.
    """
    prob = bin_probabilities(hist, params)
    side = int(np.sqrt(len(prob)))
    factor = side // 10
    observed = hist.counts.reshape(10, factor, 10, factor).sum(axis=(1, 3))
    expected = hist.n * prob.reshape(10, factor, 10, factor).sum(axis=(1, 3))
    misplaced = 0.5 * np.abs(observed - expected).sum() / hist.n
    return {"share_misplaced": float(misplaced), "cells": "10 pp"}


def _cluster_result(hist, fair, turnout, share, reasons, ctx) -> StatResult:
    """Stations at >= 95% turnout and >= 95% share against the fitted fair model."""
    from scipy.stats import poisson

    corner = (hist.centres_t >= 0.95) & (hist.centres_v >= 0.95)
    prob = bin_probabilities(hist, fair.params)
    n = len(turnout)
    observed = int(((turnout >= 0.95) & (share >= 0.95)).sum())
    model_expected = float(n * prob[corner].sum())
    # honest special stations (military units, hospitals, ships) reach the corner too:
    # allow 0.05% of stations before calling a cluster (Poland 2020: see docs)
    allowance = 0.0005 * n
    expected = max(model_expected, allowance)
    p_value = float(poisson.sf(observed - 1, expected)) if observed else 1.0
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
        method="stations with turnout >= 95% and leader share >= 95% against the fitted fair "
        "model (with an allowance of 0.05% of stations for special stations); Poisson p",
    )


def model_surfaces(table: StationTable, leader: str, result: StatResult, options=None) -> dict:
    """Observed, fitted-fair and fitted-fraud expected counts on the fitting grid.

    For figures: the three arrays are (BINS x BINS), turnout along axis 0.
    """
    ctx = Context(leader, result.scope, np.random.default_rng(0), options=options or {})
    turnout, share, _, _, noise, spoiled = _points(table, ctx)
    hist = histogram(turnout, share)
    hist.noise = noise
    hist.spoiled = spoiled
    d = result.details
    fair = dict(d["fair"], f_incremental=0.0, f_extreme=0.0, theta=0.1, alpha=2.0)
    fraud = {name: d[name] for name in PARAMS}
    side = int(np.sqrt(len(hist.counts)))
    return {
        "observed": hist.counts.reshape(side, side),
        "fair": (hist.n * bin_probabilities(hist, fair)).reshape(side, side),
        "fraud": (hist.n * bin_probabilities(hist, fraud)).reshape(side, side),
    }


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
