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
Maximum likelihood on the 2D histogram of (T, V): cells of 3 1/3 pp (30 x 30), or 5 pp
below 4,000 stations (a region of a few hundred stations cannot fill small cells).
Each component's probability of each *cell* is computed, not its density at the cell
centre (the midpoint rule biased alpha from 2.0 to 2.4 on simulations, because the
fraud components are sharp near the corner):

* clean: products of normal CDF differences (per counting-noise class, below);
* fraud: for a fraud size ``x``, ``T = 1 - (1 - x)(1 - tau)`` is increasing in the clean
  turnout, so the turnout cell ``[a, b]`` holds exactly the clean turnouts
  ``[1 - (1 - a)/(1 - x), 1 - (1 - b)/(1 - x)]`` (a CDF difference); given ``tau`` and
  ``x`` the share ``V = A + B nu`` is linear in the clean support, so its cells are CDF
  differences too (with ``A``, ``B`` from the model; switched votes come from the other
  candidates' *valid* votes, so the share of spoiled ballots enters ``A``). Only ``x``
  is left to quadrature: atoms at the conditional medians of intervals that are
  equal-mass quantiles of ``x`` refined where ``1 - x`` is small (where an atom's
  spread over turnout, ``(1 - x) s_tau``, is narrow), and two representative clean
  turnouts per (atom, cell).

Checked against 4 million draws from the model (theta 0.02-1, alpha 2-3, the extreme
component): Kullback-Leibler divergence of the cell masses <= 1.3e-3, at the level of
the draws' own noise (``tests/test_fingerprint.py``). The multinomial log-likelihood of
the cell counts is maximised over all eight parameters (L-BFGS-B on logit scales, two
starts); the fair model (``f_i = f_e = 0``) is fitted the same way. This uses the whole
2D picture, unlike the 1D grid searches of some tools, and recovers known parameters on
simulations (``benchmarks/bench_fingerprint.py``).

Counting noise: the clean blob is a mixture over four station-size classes, each
widened by its binomial noise (``s**2 + p (1 - p) mean(1/N)``), so ``s_tau`` and
``s_nu`` are the spreads of true turnout and support, and the heavier tails of small
stations are not mistaken for fraud (without it, clean simulations gave f_i = 0.13).

Uncertainty: 95% Wald intervals on the transformed scale from the sandwich covariance
(numerical Hessian and the stations' scores, see :func:`intervals`), back-transformed.
When the fraud part is not needed (its likelihood-ratio test has p >= 0.05) the fair
model is the one selected: f_i and f_e are reported as 0, their intervals start at 0,
and the unrestricted fit is in ``details.unrestricted_fit``.

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
BINS = 30  # cells of 3 1/3 pp
SMALL_BINS = 20  # 5 pp cells below SMALL_SAMPLE: a few hundred stations cannot fill small cells
SMALL_SAMPLE = 4000
MIN_STATIONS = 300
MIN_REGISTERED = 100
MATERIAL_F_I = 0.05
MATERIAL_F_E = 0.005
#: Klimek-style stuffing raises turnout and leader share together; below this
#: within-region correlation the fraud component is reshaping the blob, not fraud.
MIN_WITHIN_CORRELATION = 0.05
PARAMS = ("tau", "s_tau", "nu", "s_nu", "f_incremental", "f_extreme", "theta", "alpha")


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
    # component_masses' cache of the parts whose parameters did not change
    cache: dict = field(default_factory=dict, repr=False)
    # the coarse grid and its best fraud fit, for the profile interval (fit_both)
    coarse: tuple | None = field(default=None, repr=False)

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(0, 1, int(round(np.sqrt(len(self.counts)))) + 1)


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
    """Bin probabilities, each component integrated over the cells (not at their centres).

    The midpoint rule biased the fit: on simulated elections it moved alpha from 2.0 to
    2.4 and put the true parameters ~25 log-likelihood units below the optimum, because
    the fraud components are sharp near the corner. See :func:`component_masses`.
    """
    parts = component_masses(hist, p)
    shares = (max(0.0, 1 - p["f_incremental"] - p["f_extreme"]), p["f_incremental"], p["f_extreme"])
    prob = np.zeros(len(hist.counts))
    for mass, share in zip(parts, shares, strict=True):
        if share > 0:
            prob += share * mass
    return prob / max(prob.sum(), 1e-300)


#: latent-fraud quadrature: equal-mass intervals of x, refined where 1 - x is small
X_NODES_INCREMENTAL = 32
#: atoms stop at 1 - x = X_TAIL: beyond it every turnout lands in the last cell
X_TAIL = 2e-3
#: log-grid step of the atoms, in units of s_tau / (1 - tau)
X_STEP = 0.5
#: representative values per (latent node, turnout cell): conditional quantiles
TAU_NODES = 2
#: (x atom, turnout cell) pairs with less mass than this are left out
MASS_FLOOR = 1e-9


def component_masses(hist: Histogram, p: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability of each cell under the clean, incremental and extreme components.

    Clean: the product of the two truncated normals' cell masses (normal CDF
    differences), per counting-noise class. Fraud: for a fraud size ``x`` the turnout
    ``T = 1 - (1 - x)(1 - tau)`` is increasing in the clean turnout, so the turnout cell
    ``[a, b]`` holds exactly the clean turnouts ``[1 - (1 - a)/(1 - x), 1 - (1 - b)/(1 -
    x)]``, whose mass is a CDF difference. Given ``tau`` and ``x``, the share is linear
    in the clean support ``nu`` (``V = A + B nu``), so its cell masses are CDF differences
    too. What is left to quadrature: ``x`` (equal-mass nodes of its distribution) and
    ``tau`` within each turnout cell (a few conditional quantiles). Parts whose
    parameters did not change come from ``hist.cache``.
    """
    tau, s_tau, nu, s_nu = p["tau"], p["s_tau"], p["nu"], p["s_nu"]
    noise = p.get("_noise", hist.noise)
    spoiled = p.get("_spoiled", hist.spoiled)
    cache = hist.cache
    edges = hist.edges
    key = ("masses", tau, s_tau, nu, s_nu, noise, spoiled, len(edges))
    if cache.get("clean_mass_key") != key:
        from scipy.special import ndtr

        clean = np.zeros((len(edges) - 1, len(edges) - 1))
        for weight, inv_registered, inv_ballots in noise:
            # binomial counting noise widens the clean blob more at small stations
            sd_t = np.sqrt(s_tau**2 + tau * (1 - tau) * inv_registered)
            sd_v = np.sqrt(s_nu**2 + nu * (1 - nu) * inv_ballots)
            m_t = np.diff(ndtr((edges - tau) / sd_t))
            m_v = np.diff(ndtr((edges - nu) / sd_v))
            clean += weight * np.outer(m_t / max(m_t.sum(), 1e-300), m_v / max(m_v.sum(), 1e-300))
        cache.update(clean_mass_key=key, clean_mass=clean.ravel())
    clean = cache["clean_mass"]
    zero = np.zeros_like(clean)
    if p["f_incremental"] <= 0 and p["f_extreme"] <= 0:
        return clean, zero, zero
    fraud_key = key + (p["alpha"],)
    if cache.get("extreme_mass_key") != fraud_key:
        parts = _turnout_parts_cached(cache, "extreme", None, edges, tau, s_tau)
        extreme = _masses_from_parts(edges, parts, nu, s_nu, p["alpha"], spoiled)
        cache.update(extreme_mass_key=fraud_key, extreme_mass=extreme)
    incremental_key = fraud_key + (p["theta"],)
    if cache.get("incremental_mass_key") != incremental_key:
        parts = _turnout_parts_cached(cache, "incremental", p["theta"], edges, tau, s_tau)
        incremental = _masses_from_parts(edges, parts, nu, s_nu, p["alpha"], spoiled)
        cache.update(incremental_mass_key=incremental_key, incremental_mass=incremental)
    return clean, cache["incremental_mass"], cache["extreme_mass"]


def _turnout_parts_cached(cache: dict, name: str, theta, edges, tau: float, s_tau: float):
    """The turnout half of a fraud component (its x atoms and the clean turnouts in each
    turnout cell): it depends on tau, s_tau and theta only, so the share parameters'
    steps (nu, s_nu, alpha; a third of each numerical gradient) reuse it."""
    key = (name, theta, tau, s_tau, len(edges))
    entry = cache.get(f"{name}_turnout")
    if entry is None or entry[0] != key:
        xs, ws = _x_atoms(theta, tau, s_tau)
        entry = (key, _turnout_parts(edges, xs, ws, tau, s_tau))
        cache[f"{name}_turnout"] = entry
    return entry[1]


def _x_atoms(theta: float | None, tau: float, s_tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Atoms (values, masses) of the fraud size x for the turnout quadrature.

    An atom at x spreads over turnout as the clean turnout does, scaled by ``1 - x``;
    neighbouring atoms must be closer than that spread or the cell masses come out
    lumpy. The interval edges are the union of equal-mass quantiles of x (where its
    density is) and a grid even in ``-log(1 - x)`` with steps ``s_tau / (2 (1 - tau))``
    (where ``1 - x`` is small); each atom sits at its interval's conditional median and
    carries the interval's exact mass. ``theta`` None is the extreme component
    (``1 - x ~ |N(0, 0.075)|``).
    """
    from scipy.special import ndtr, ndtri

    scale = EXTREME_SCALE if theta is None else theta
    kept = 2 * ndtr(1 / scale) - 1

    def cdf(x):
        if theta is None:
            return 1 - (2 * ndtr((1 - x) / scale) - 1) / kept
        return (2 * ndtr(x / scale) - 1) / kept

    def quantile(level):
        if theta is None:
            return 1 - scale * ndtri(0.5 + 0.5 * (1 - level) * kept)
        return scale * ndtri(0.5 + 0.5 * level * kept)

    levels = np.arange(1, X_NODES_INCREMENTAL) / X_NODES_INCREMENTAL
    step = X_STEP * s_tau / max(1 - tau, 0.05)
    if not np.isfinite(step) or step <= 0:
        raise ValueError(f"fraud-size atoms need finite parameters (tau {tau}, s_tau {s_tau})")
    y_max = np.log(1 / X_TAIL)
    log_grid = 1 - np.exp(-np.arange(step, y_max, step))
    edges = np.unique(np.clip(np.concatenate([[0.0, 1.0], quantile(levels), log_grid]), 0, 1))
    edges = edges[edges <= 1 - X_TAIL]
    edges = np.append(edges, 1.0)
    c = cdf(edges)
    masses = np.diff(c)
    keep = masses > 1e-12
    mid = quantile(np.clip((c[:-1] + c[1:]) / 2, 0, 1))
    return np.clip(mid[keep], 0, 1 - 1e-9), masses[keep]


def _turnout_parts(edges, xs, ws, tau, s_tau):
    """Per (x atom, turnout cell) with mass: the mass, the cell and representative clean
    turnouts (conditional quantiles); None when no pair has mass."""
    from scipy.special import ndtr, ndtri

    xs = np.clip(xs, 0.0, 1 - 1e-9)
    keep_x = 1 - xs
    # clean turnouts that land in each turnout cell, per x node: (K, cells)
    lo = np.clip(1 - (1 - edges[None, :-1]) / keep_x[:, None], 0, 1)
    hi = np.clip(1 - (1 - edges[None, 1:]) / keep_x[:, None], 0, 1)
    t_total = ndtr((1 - tau) / s_tau) - ndtr(-tau / s_tau)
    c_lo = ndtr((lo - tau) / s_tau)
    c_hi = ndtr((hi - tau) / s_tau)
    mass = (c_hi - c_lo) / max(t_total, 1e-300) * ws[:, None]
    k_idx, i_idx = np.nonzero(mass > MASS_FLOOR)
    if len(k_idx) == 0:
        return None
    q = (np.arange(TAU_NODES) + 0.5) / TAU_NODES
    cl, ch = c_lo[k_idx, i_idx][:, None], c_hi[k_idx, i_idx][:, None]
    t = np.clip(tau + s_tau * ndtri(np.clip(cl + (ch - cl) * q[None, :], 1e-300, 1)), 1e-9, 1)
    x = np.broadcast_to(xs[k_idx][:, None], t.shape)
    return x, t, mass[k_idx, i_idx], i_idx


def _masses_from_parts(edges, parts, nu, s_nu, alpha, spoiled) -> np.ndarray:
    nb = len(edges) - 1
    if parts is None:
        return np.zeros(nb * nb)
    x, t, mass, i_idx = parts
    return _share_masses(edges, x, t, mass, i_idx, nu, s_nu, alpha, spoiled)


def _share_masses(edges, x, t, mass, i_idx, nu, s_nu, alpha, spoiled) -> np.ndarray:
    """Spread each (turnout cell, mass) over the share cells, given node values of x and
    the clean turnout (rows x nodes, averaged over the nodes)."""
    from scipy.special import ndtr

    nb = len(edges) - 1
    xa = x**alpha
    turnout = 1 - (1 - x) * (1 - t)
    slope = t * (1 - xa) / turnout
    # switched votes come from the other candidates' valid votes: a share
    # (1 - spoiled - nu) of the ballots, when the share is of ballots cast
    offset = (x * (1 - t) + xa * (1 - spoiled) * t) / turnout
    with np.errstate(divide="ignore", invalid="ignore"):
        nu_edges = (edges[None, None, :] - offset[..., None]) / slope[..., None]
    nu_edges = np.clip(np.nan_to_num(nu_edges, nan=0.0), 0.0, 1.0)
    v_total = ndtr((1 - nu) / s_nu) - ndtr(-nu / s_nu)
    v_mass = np.diff(ndtr((nu_edges - nu) / s_nu), axis=2).mean(axis=1) / max(v_total, 1e-300)
    weights = np.zeros((nb, len(i_idx)))
    weights[i_idx, np.arange(len(i_idx))] = mass
    return (weights @ v_mass).ravel()


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


def fit(
    hist: Histogram, start: dict, *, fair: bool, fixed: int | None = None, rough: bool = False
) -> Fit:
    """Maximum-likelihood fit from one start (L-BFGS-B on the transformed scale).

    ``fixed``: index (in ``PARAMS``) of a parameter held at its start value (profiles).
    ``rough``: looser tolerances, for starting points and profile points (the
    log-likelihood to ~0.01, far below the 1.92 a 95% profile interval needs).
    """
    from scipy.optimize import minimize

    z0 = _pack(start, fair)
    free = np.array([i for i in range(len(z0)) if i != fixed])

    def full(zf):
        z = z0.copy()
        z[free] = zf
        return z

    def objective(zf):
        return -log_likelihood(hist, _unpack(full(zf), fair)) / hist.n

    result = minimize(
        objective,
        z0[free],
        method="L-BFGS-B",
        bounds=[(-12, 12)] * len(free),
        options={"maxiter": 400, "ftol": 1e-9 if rough else 1e-11, "gtol": 1e-5 if rough else 1e-7},
    )
    z = full(result.x)
    params = _unpack(z, fair)
    return Fit(params, log_likelihood(hist, params), z, fair)


def profile_interval(hist: Histogram, best: Fit, name: str = "f_incremental") -> list[float]:
    """95% profile-likelihood interval of a mixture share: the values whose profile
    log-likelihood (the other seven parameters refitted) is within 3.84 / 2 of the
    maximum, found by stepping out from the estimate on the logit scale (0.5 per step)
    and interpolating. The share of incremental fraud trades off against theta and the
    blob's shape, so its log-likelihood is far from quadratic; Wald intervals covered
    the true f_i in 55-70% of simulated elections at f_i = 0.6, this one in 85% (see
    ``benchmarks/bench_fingerprint.py``)."""
    index = PARAMS.index(name)
    scale = 0.3 if name == "f_extreme" else 1.0
    drop = 3.84 / 2
    value = best.params[name] / scale
    centre = float(_logit(np.clip(value, 1e-6, 1 - 1e-6)))
    bounds = []
    for direction in (-1, 1):
        previous_z, previous_gap = centre, 0.0
        current = best
        found = 0.0 if direction < 0 else scale
        for step in range(1, 9):
            z = centre + direction * 0.5 * step
            share = float(_expit(z))
            if share < 1e-4 or share > 1 - 1e-4:
                break
            start = dict(current.params, **{name: share * scale})
            current = fit(hist, start, fair=False, fixed=index, rough=True)
            gap = best.loglik - current.loglik
            if gap >= drop:
                # linear interpolation of the gap on the logit scale
                frac = (drop - previous_gap) / max(gap - previous_gap, 1e-12)
                found = float(_expit(previous_z + frac * (z - previous_z))) * scale
                break
            previous_z, previous_gap = z, max(gap, 0.0)
        bounds.append(found)
    low, high = bounds
    return [min(low, best.params[name]), max(high, best.params[name])]


def start_values(turnout: np.ndarray, share: np.ndarray) -> dict:
    """Clean-blob start: medians and robust spreads of the lower-turnout stations (all
    stations when they share one turnout)."""
    core = turnout < np.quantile(turnout, 0.75)
    if not core.any():
        core = np.ones(len(turnout), dtype=bool)
    v = share[core]

    def spread(a):
        return float(max(1.4826 * np.median(np.abs(a - np.median(a))), 0.01))

    return {
        "tau": float(np.clip(np.median(turnout), 0.01, 0.99)),
        "s_tau": spread(turnout),
        "nu": float(np.clip(np.median(v), 0.01, 0.99)),
        "s_nu": spread(v),
        "f_incremental": 0.05,
        "f_extreme": 0.005,
        "theta": 0.1,
        "alpha": 2.0,
    }


def fit_both(
    turnout: np.ndarray, share: np.ndarray, noise=((1.0, 0.0, 0.0),), spoiled: float = 0.0
) -> tuple[Fit, Fit, Histogram]:
    """Fair fit, then the fraud fit from two starts (best kept).

    Coarse to fine: the starts are explored on cells twice as wide (a quarter of the
    work per evaluation), and the fair and the best fraud fit are then refined on the
    full grid from there.
    """
    hist = histogram(turnout, share)
    hist.noise = noise
    hist.spoiled = spoiled
    side = int(round(np.sqrt(len(hist.counts))))
    coarse = hist
    if side % 2 == 0 and side >= 30:
        coarse = histogram(turnout, share, bins=side // 2)
        coarse.noise = noise
        coarse.spoiled = spoiled
    start = start_values(turnout, share)
    rough = coarse is not hist  # the coarse fits are starting points only
    fair = fit(coarse, start, fair=True, rough=rough)
    fits = []
    for f_i, f_e, theta in ((0.05, 0.005, 0.1), (0.3, 0.03, 0.2)):
        if fits and 2 * (fits[0].loglik - fair.loglik) < 10:
            break  # no fraud worth a second look: the second start would find none
        s = dict(fair.params, f_incremental=f_i, f_extreme=f_e, theta=theta, alpha=2.0)
        fits.append(fit(coarse, s, fair=False, rough=rough))
    best = max(fits, key=lambda f: f.loglik)
    hist.coarse = (coarse, best)
    if coarse is not hist:
        fair = fit(hist, fair.params, fair=True)
        best = fit(hist, best.params, fair=False)
    if best.loglik < fair.loglik:  # the fraud model nests the fair one
        best = Fit(dict(fair.params), fair.loglik, _pack(fair.params, False), False)
    return fair, best, hist


def intervals(hist: Histogram, best: Fit, step: float = 1e-3) -> dict[str, list[float]]:
    """95% Wald intervals on the transformed scale, from the sandwich covariance.

    ``H^-1 J H^-1`` with ``H`` the observed information (numerical Hessian of the
    log-likelihood) and ``J`` the spread of the stations' own scores (``sum over cells
    of count x score score^T``): it holds when the model is only approximately right
    (the counting-noise classes, the rounding of counts), where ``H^-1`` alone gave
    intervals that covered the true f_i in 70% of simulated elections at f_i = 0.6.
    """
    z = best.z.copy()
    k = len(z)
    counts = hist.counts
    seen = counts > 0

    def logp(v):
        return np.log(np.maximum(bin_probabilities(hist, _unpack(v, False))[seen], 1e-300))

    def ll(v):
        return float((counts[seen] * logp(v)).sum())

    h = np.zeros((k, k))
    l0 = logp(z)
    f0 = float((counts[seen] * l0).sum())
    e = np.eye(k) * step
    lp = [logp(z + e[i]) for i in range(k)]
    lm = [logp(z - e[i]) for i in range(k)]
    fp = np.array([float((counts[seen] * x).sum()) for x in lp])
    fm = np.array([float((counts[seen] * x).sum()) for x in lm])
    for i in range(k):
        h[i, i] = (fp[i] - 2 * f0 + fm[i]) / step**2
        for j in range(i + 1, k):
            fpp = ll(z + e[i] + e[j])
            h[i, j] = h[j, i] = (fpp - fp[i] - fp[j] + f0) / step**2
    scores = np.stack([(lp[i] - lm[i]) / (2 * step) for i in range(k)])  # (k, cells)
    w = counts[seen]
    mean = scores @ w / max(w.sum(), 1.0)
    spread = (scores * w) @ scores.T - w.sum() * np.outer(mean, mean)
    # Observed information; a direction the data do not determine (a flat or slightly
    # convex log-likelihood) gets a small floor eigenvalue, i.e. a very wide interval,
    # rather than no interval.
    info = -(h + h.T) / 2
    if np.all(np.isfinite(info)) and np.all(np.isfinite(spread)):
        values, vectors = np.linalg.eigh(info)
        floor = max(values.max(), 1.0) * 1e-8
        values = np.maximum(values, floor)
        inverse = (vectors / values) @ vectors.T
        cov = inverse @ spread @ inverse
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
    ok, turnout, share, region, reasons, noise, spoiled = _fit_points(table, ctx)
    return turnout, share, region, reasons, noise, spoiled


def _point_mask(table: StationTable, ctx: Context):
    """The stations the fit uses (a mask over the table), their points and noise."""
    ok, turnout, share, _, _, noise, spoiled = _fit_points(table, ctx)
    return ok, turnout, share, noise, spoiled


def _fit_points(table: StationTable, ctx: Context):
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
    q = _invalid_per_registered(table, ok, t_den)
    if q is not None:  # the share is of ballots cast, and the file counts invalid ballots
        cast = s_den[ok]
        spoiled = float(max(0.0, (q * t_den[ok]).sum() / max(cast.sum(), 1.0)))
    return ok, turnout[ok], share[ok], region, reasons, noise, spoiled


def _invalid_per_registered(table: StationTable, ok: np.ndarray, registered: np.ndarray):
    """Each fitted station's invalid ballots per registered voter, when the file says
    them: an invalid count, or reported valid votes beside ballots cast. None otherwise:
    a valid count derived as the sum of the candidates is not one when the file lists
    only some of them (Canada 2011 lists the winner only, which made 60% of ballots
    look spoiled)."""
    fields = table.mapping.fields
    if not (table.has("ballots_cast") and ("invalid" in fields or "valid" in fields)):
        return None
    if "invalid" in fields:
        invalid = table.column("invalid")[ok]
    else:
        invalid = table.column("ballots_cast")[ok] - table.column("valid")[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        q = invalid / registered[ok]
    return np.where(np.isfinite(q) & (q >= 0), np.clip(q, 0, 1), 0.0)


def klimek_stations(table: StationTable, leader: str, options: dict | None = None):
    """The stations the regional Klimek model (:mod:`kzvote.methods.klimek_fit`) fits:
    its :class:`~kzvote.methods.klimek.Stations`, the mask over the table and the
    exclusion counts. Observed fractions are kept off 0 and 1 by half a vote (the
    model works on the logit scale)."""
    from kzvote.methods.klimek import Stations
    from kzvote.methods.klimek_fit import best_grouping, group_candidates

    ctx = Context(leader, "national", np.random.default_rng(0), options=options or {})
    ok, turnout, share, region, reasons, _, _ = _fit_points(table, ctx)
    _, t_den, _, _ = turnout_parts(table)
    _, s_den, _, _ = leader_share_parts(table, leader)
    n_reg, n_bal = t_den[ok].astype(float), np.maximum(s_den[ok], 1).astype(float)
    district = table.ids["district"].to_numpy()[ok]
    q = _invalid_per_registered(table, ok, t_den)
    candidates = [
        Stations(
            turnout=np.clip(turnout, 0.5 / n_reg, 1 - 0.5 / n_reg),
            share=np.clip(share, 0.5 / n_bal, 1 - 0.5 / n_bal),
            registered=n_reg,
            ballots=n_bal,
            group=groups,
            names=names,
            invalid=np.zeros(len(n_reg)) if q is None else q,
            kind=kind,
        )
        for groups, names, kind in group_candidates(region, district)
    ]
    st = best_grouping(candidates)
    return st, ok, reasons


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
    from kzvote.methods.distributions import chi2_sf

    lr = max(0.0, 2 * (best.loglik - fair.loglik))
    p_value = float(chi2_sf(lr, 4))
    ci = intervals(hist, best)
    needed = p_value < 0.05
    estimate = dict(best.params)
    if needed and hist.coarse is not None:
        # the profile (on the coarse grid, where refits are cheap) replaces the Wald
        # interval of f_i, whose log-likelihood is far from quadratic
        low, high = profile_interval(*hist.coarse)
        ci["f_incremental"] = [
            min(low, estimate["f_incremental"]),
            max(high, estimate["f_incremental"]),
        ]
    if not needed:
        # the fair model is the one selected: its f_i = f_e = 0 are the estimates (the
        # unrestricted fit's are in details; with a small theta they are not identified,
        # and on clean simulations they averaged f_i = 0.1)
        for name in ("f_incremental", "f_extreme"):
            ci[name] = [0.0, max(ci[name][1], best.params[name])]
            estimate[name] = 0.0
    material = estimate["f_incremental"] >= MATERIAL_F_I or estimate["f_extreme"] >= MATERIAL_F_E
    signature = within_r >= MIN_WITHIN_CORRELATION
    details = {name: estimate[name] for name in PARAMS}
    details["unrestricted_fit"] = {name: best.params[name] for name in PARAMS}
    details["fraud_part_needed"] = bool(needed)
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
        effect=estimate["f_incremental"] + estimate["f_extreme"],
        verdict=verdict,
        details=details,
        warnings=tuple(warnings),
        n_excluded=excluded_total(reasons),
        excluded=reasons,
        method="Klimek et al. (2012) model fitted by maximum likelihood on the "
        "turnout x share histogram (exact cell probabilities); likelihood-ratio test of "
        "f_i = f_e = 0 (chi-square, "
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


def fair_corner_probability(p: dict, noise, corner: float = 0.95) -> float:
    """P(turnout >= corner and share >= corner) under the fair model, exactly (normal
    CDFs of each counting-noise class, truncated to [0, 1])."""
    from scipy.special import ndtr

    total = 0.0
    for weight, inv_registered, inv_ballots in noise:
        sd_t = np.sqrt(p["s_tau"] ** 2 + p["tau"] * (1 - p["tau"]) * inv_registered)
        sd_v = np.sqrt(p["s_nu"] ** 2 + p["nu"] * (1 - p["nu"]) * inv_ballots)
        tails = []
        for mean, sd in ((p["tau"], sd_t), (p["nu"], sd_v)):
            inside = ndtr((1 - mean) / sd) - ndtr(-mean / sd)
            tails.append((ndtr((1 - mean) / sd) - ndtr((corner - mean) / sd)) / inside)
        total += weight * tails[0] * tails[1]
    return float(total)


def _cluster_result(hist, fair, turnout, share, reasons, ctx) -> StatResult:
    """Stations at >= 95% turnout and >= 95% share against the fitted fair model."""
    from kzvote.methods.distributions import poisson_sf

    n = len(turnout)
    observed = int(((turnout >= 0.95) & (share >= 0.95)).sum())
    model_expected = float(n * fair_corner_probability(fair.params, hist.noise))
    # honest special stations (military units, hospitals, ships) reach the corner too:
    # allow 0.05% of stations before calling a cluster (Poland 2020: see docs)
    allowance = 0.0005 * n
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
