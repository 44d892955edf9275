"""The Klimek ballot-stuffing model over regional honest blobs: station densities.

The model, for a station of group ``g`` (a region, a district, or a latent class when
the file names no areas) with ``N`` registered voters and ``M`` ballots in the share's
denominator (``docs/fingerprint.md`` has the likelihood in full):

* honest turnout and leader share ``(tau, nu)`` are logit-normal: ``(logit tau, logit
  nu)`` is bivariate normal around the group's centre ``(a_g, b_g)`` with spreads
  ``(s_g, r_g)`` and correlation ``rho_g``, widened by the station's own binomial counting
  noise (on the logit scale ``1 / (N p (1 - p))`` and ``1 / (M p (1 - p))``). A normal on
  the raw scale made skewed honest blobs look like stuffing: on an independent
  simulator at f_i = 0.5 the likelihood preferred a wide correlated blob to the truth;
* with probability ``f_i`` the station gets incremental stuffing ``x ~ |N(0, theta)|``,
  with ``f_e`` extreme stuffing ``1 - x ~ |N(0, 0.075)|`` (both truncated to [0, 1]),
  otherwise ``x = 0`` (Klimek, Yegorov, Hanel & Thurner, PNAS 2012);
* a fraction ``x`` of the non-voters is added to the leader and a fraction ``x**alpha``
  of the other candidates' valid votes is switched to the leader:

      T = 1 - (1 - x)(1 - tau)
      V = (tau nu + x (1 - tau) + x**alpha (tau - q - nu tau)) / T

  with ``q`` the station's invalid ballots per registered voter (observed; stuffing
  does not change it), so that switched votes come from other candidates' valid votes

Density of a stuffed station. For a fraud size ``x`` the map ``(tau, nu) -> (T, V)`` is
one to one: ``tau = 1 - (1 - T)/(1 - x)`` and ``nu = (V - A)/B`` with
``B = tau (1 - x**alpha) / T`` and ``A = (x (1 - tau) + x**alpha (tau - q)) / T``,
with Jacobian ``1 / ((1 - x) B)``. With ``y = -log(1 - x)`` (so ``dx = (1 - x) dy``):

    f(T, V) = integral over y of  p(x(y)) phi_g(tau(y), nu(y)) / B(y)  dy

``tau`` moves with ``y`` at the rate ``1 - tau``, so on the ``y`` scale the honest blob is
never much narrower than its own spread whatever ``T``; the integral runs over the ``y`` for
which ``tau`` lies within 6 spreads of the group's centre (and ``x`` within the fraud
size's support). Inside that window the integrand is positive only where the clean point
lies in the unit square, and near 100% for the leader it peaks sharply at an edge of
that support; the quadrature (:class:`Rule`) finds each station's support and packs its
nodes geometrically toward both edges. Checked against Monte Carlo draws of the model
and a 6,000-node reference in ``tests/test_klimek.py``.

Nothing here fits or prints; :mod:`kzvote.methods.klimek_fit` fits the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

EXTREME_SCALE = 0.075
#: Gauss-Legendre nodes of the fraud-size integral on each half of a station's
#: support (:class:`Rule`)
NODES = 32
#: the integral's window: the honest blob within this many spreads of its centre
WINDOW_SD = 6.0
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


@dataclass
class Stations:
    """What the model sees of each station: the observed point, its counts, its group."""

    turnout: np.ndarray
    share: np.ndarray
    registered: np.ndarray  # N: the turnout's denominator
    ballots: np.ndarray  # M: the share's denominator
    group: np.ndarray  # integer group per station, -1 when the groups are latent
    names: tuple[str, ...] = ()  # group names (codes index them)
    invalid: np.ndarray | None = None  # invalid ballots per registered voter (q)
    kind: str = "region"  # what the groups are: region, district, latent

    @property
    def n(self) -> int:
        return len(self.turnout)


@dataclass
class Blobs:
    """Honest blobs, one row per group: centre, spread (of true values, counting noise
    excluded) and correlation of turnout and leader share."""

    a: np.ndarray  # turnout centre
    s: np.ndarray  # turnout spread
    b: np.ndarray  # share centre
    r: np.ndarray  # share spread
    rho: np.ndarray  # correlation

    def take(self, idx: np.ndarray) -> Blobs:
        return Blobs(self.a[idx], self.s[idx], self.b[idx], self.r[idx], self.rho[idx])


def _ndtr(x):
    from scipy.special import ndtr

    return ndtr(x)


def logit(p):
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def expit(z):
    return 1 / (1 + np.exp(-z))


def noise_sd(blob: Blobs, registered, ballots):
    """Spreads of the observed logit turnout and share: true spread plus counting noise
    (the binomial's variance on the logit scale, ``1 / (N p (1 - p))``)."""
    pt = np.clip(expit(blob.a), 0.01, 0.99)
    pv = np.clip(expit(blob.b), 0.01, 0.99)
    sd_t = np.sqrt(blob.s**2 + 1 / (registered * pt * (1 - pt)))
    sd_v = np.sqrt(blob.r**2 + 1 / (ballots * pv * (1 - pv)))
    return sd_t, sd_v


def corner_probability(blob: Blobs, registered, ballots, corner: float = 0.95) -> np.ndarray:
    """P(turnout >= corner and share >= corner) for honest stations (``blob`` row per
    station): the bivariate normal's upper quadrant in (logit turnout, logit share), by
    32-node Gauss-Legendre over the turnout's upper tail (Z = -ndtri(P w), w uniform)
    of the share's conditional tail."""
    from scipy.special import ndtr, ndtri

    sd_t, sd_v = noise_sd(blob, registered, ballots)
    rho = blob.rho * blob.s * blob.r / (sd_t * sd_v)
    edge = float(logit(corner))
    z0 = (edge - blob.a) / sd_t
    tail = ndtr(-z0)
    nodes, weights = _gauss_legendre(32)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = -ndtri(tail[:, None] * nodes[None, :])
        cond_sd = sd_v * np.sqrt(1 - rho**2)
        h = (edge - blob.b[:, None] - (sd_v * rho)[:, None] * z) / cond_sd[:, None]
        inner = (ndtr(-h) * weights[None, :]).sum(axis=1)
    return np.where(tail > 0, tail * np.nan_to_num(inner), 0.0)


def _log_jacobian(p):
    """log of d logit(p) / dp."""
    return -np.log(p) - np.log1p(-p)


def honest_logpdf(t, v, blob: Blobs, registered, ballots) -> np.ndarray:
    """Log density of honest stations at their observed points (``blob`` row per station):
    bivariate normal in (logit turnout, logit share) with the station's counting noise."""
    sd_t, sd_v = noise_sd(blob, registered, ballots)
    # the correlation is of true values; counting noise is independent of it
    rho = blob.rho * blob.s * blob.r / (sd_t * sd_v)
    zt = (logit(t) - blob.a) / sd_t
    zv = (logit(v) - blob.b) / sd_v
    one = 1 - rho**2
    quad = (zt**2 - 2 * rho * zt * zv + zv**2) / one
    return (
        -0.5 * quad
        - np.log(sd_t * sd_v)
        - 0.5 * np.log(one)
        - 2 * _LOG_SQRT_2PI
        + _log_jacobian(t)
        + _log_jacobian(v)
    )


@lru_cache(maxsize=16)
def _gauss_legendre(k: int):
    """Nodes and weights on [0, 1], cached (numpy's rule costs O(k^3), 40 s at 6,000
    nodes; above 150 nodes scipy's asymptotic one, 1.5 s at 6,000)."""
    if k > 150:
        from scipy.special import roots_legendre

        x, w = roots_legendre(k)
    else:
        x, w = np.polynomial.legendre.leggauss(k)
    x, w = (x + 1) / 2, w / 2
    x.flags.writeable = False
    w.flags.writeable = False
    return x, w


#: scan points of the support search (both ends of the window included)
SCAN = 16
#: the graded rule's deepest node: this fraction of the support's half-width from its
#: edge (the spike at the edge is about 1e-4 of the window wide on Russia 2011)
DEPTH = 1e-6
#: the window rule's finer nodes, for stations at or above this turnout
HIGH_TURNOUT = 0.95


@dataclass(frozen=True)
class Rule:
    """Quadrature of the fraud-size integral.

    ``graded`` (production): each station's support inside the window, the y where the
    clean point it maps to lies inside the unit square, found by a ``scan``-point grid
    and bisection of both edges; then ``nodes`` Gauss-Legendre nodes in log(distance to
    the edge) on each half of it, from ``depth`` times the half-width to the middle.
    Where a stuffed station's density matters its integrand has one narrow peak right
    at an edge of the support (near 100% for the leader the clean share nu(y) reaches
    1 there); nodes spread over the window miss or over-weight it
    (``benchmarks/study_quadrature_rule.py``, ``bench_quadrature.py``).
    Otherwise (the reference of the benchmarks and tests): ``nodes`` over the whole
    window, ``fine`` of them at turnout >= ``high``."""

    nodes: int
    graded: bool = True
    fine: int = 0
    scan: int = SCAN
    depth: float = DEPTH
    high: float = HIGH_TURNOUT

    def arrays(self):
        """(nodes, weights) of the main and the fine rule on [0, 1] (the fine one is a
        placeholder in the graded rule)."""
        return _gauss_legendre(self.nodes), _gauss_legendre(max(self.fine, 1))

    def doubled(self) -> Rule:
        return Rule(2 * self.nodes, self.graded, 2 * self.fine, self.scan, self.depth, self.high)


#: the production rule: 2 x NODES nodes per station
RULE = Rule(NODES)


def _kernel_available() -> bool:
    from kzvote.methods import klimek_kernel

    return klimek_kernel.available()


#: the compiled kernel (:mod:`kzvote.methods.klimek_kernel`) when numba is installed;
#: tests switch it off to compare with the numpy version
_USE_KERNEL = _kernel_available()


def _size_logpdf(x, theta):
    """log density of the fraud size: ``theta`` None is the extreme component."""
    if theta is None:
        scale, dist = EXTREME_SCALE, 1 - x
    else:
        scale, dist = theta, x
    kept = 2 * _ndtr(1 / scale) - 1
    return np.log(2.0) - 0.5 * (dist / scale) ** 2 - _LOG_SQRT_2PI - np.log(scale) - np.log(kept)


def fraud_logpdf(
    t,
    v,
    blob: Blobs,
    registered,
    ballots,
    theta,
    alpha: float,
    invalid,
    *,
    gradient: bool = False,
    moments: bool = False,
    nodes: Rule | None = None,
):
    """Log density of stuffed stations at their observed points (see :func:`_fraud`),
    by the quadrature rule ``nodes`` (:data:`RULE` unless given; the quadrature check
    and the benchmarks pass others). ``gradient``: also the derivatives in theta and
    alpha; ``moments``: also the posterior means of the clean point's logit
    coordinates, their squares and product (for the EM's blob step); both: the value,
    the two derivatives, then the five moments (one pass of the EM)."""
    if moments and gradient:
        mode = "all"
    else:
        mode = "moments" if moments else ("gradient" if gradient else "value")
    rule = RULE if nodes is None else nodes
    t = np.asarray(t, dtype=float)
    invalid = np.broadcast_to(np.asarray(invalid, dtype=float), t.shape)
    if _USE_KERNEL:
        from kzvote.methods import klimek_kernel as K

        code = {"value": K.VALUE, "gradient": K.GRADIENT, "moments": K.MOMENTS, "all": K.ALL}
        out = K.fraud_density(
            t, v, blob, registered, ballots, theta, alpha, invalid, code[mode], rule
        )  # fmt: skip
        if mode == "value":
            return out[:, 0]
        if mode == "gradient":
            return out[:, 0], out[:, 1], out[:, 2]
        if mode == "all":
            return tuple(out[:, c] for c in (0, 6, 7, 1, 2, 3, 4, 5))
        return tuple(out[:, c] for c in range(6))
    high = t >= rule.high
    if rule.graded or not high.any():
        return _fraud(t, v, blob, registered, ballots, theta, alpha, invalid, mode, rule)
    fine = Rule(rule.fine, False, rule.fine, high=rule.high)
    parts = []
    for mask, part_rule in ((~high, rule), (high, fine)):
        idx = np.flatnonzero(mask)
        parts.append(
            (
                idx,
                _fraud(
                    t[idx],
                    v[idx],
                    blob.take(idx),
                    registered[idx],
                    ballots[idx],
                    theta,
                    alpha,
                    invalid[idx],
                    mode,
                    part_rule,
                ),
            )
        )
    size = {"value": 1, "gradient": 3, "moments": 6, "all": 8}[mode]
    outs = [np.empty(len(t)) for _ in range(size)]
    for idx, res in parts:
        res = res if size > 1 else (res,)
        for o, r in zip(outs, res, strict=True):
            o[idx] = r
    return tuple(outs) if size > 1 else outs[0]


#: most steps of the search for a support edge (as the kernel's)
MAX_STEPS = 80
#: precision of a support edge, as a fraction of the support's half-width (edges found
#: this finely move smoothly with alpha, so that the quadrature's value and its
#: analytic derivatives agree)
EDGE_TOL = 1e-12


def _margin(y, t, v, q, alpha):
    """min(nu, 1 - nu) of the clean point that fraud of size x(y) maps onto the
    station, -1 where tau or the slope is not positive (numpy twin of the kernel's
    ``_margin``; arrays that broadcast): the integrand is positive where this is."""
    keep = np.exp(-y)
    x = 1 - keep
    tau = 1 - (1 - t) / keep
    with np.errstate(divide="ignore", invalid="ignore"):
        xa = np.where(x > 0, np.exp(alpha * np.log(np.where(x > 0, x, 1.0))), 0.0)
        slope = tau * (1 - xa) / t
        nu = (v - (x * (1 - tau) + xa * (tau - q)) / t) / slope
        m = np.where(nu < 1 - nu, nu, 1 - nu)
    ok = (slope > 0) & (tau > 0) & (m > -1)
    return np.where(ok, m, -1.0)


def _edge(inner, outside, tol, active, t, v, q, alpha):
    """Numpy twin of the kernel's ``_edge`` for the stations in ``active``."""
    f_in = _margin(inner, t, v, q, alpha)
    f_out = _margin(outside, t, v, q, alpha)
    side = np.zeros(len(inner))
    bisect = np.zeros(len(inner), dtype=bool)
    for _ in range(MAX_STEPS):
        gap = np.abs(outside - inner)
        go = active & (gap > tol)
        if not go.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            falsi = inner + (outside - inner) * (f_in / (f_in - f_out))
        mid = np.where(bisect | ~(f_in - f_out > 0), 0.5 * (inner + outside), falsi)
        f_mid = _margin(mid, t, v, q, alpha)
        up = go & (f_mid > 0)
        down = go & ~(f_mid > 0)
        f_out = np.where(up & (side == 1), f_out * 0.5, f_out)
        f_in = np.where(down & (side == -1), f_in * 0.5, f_in)
        inner, f_in = np.where(up, mid, inner), np.where(up, f_mid, f_in)
        outside, f_out = np.where(down, mid, outside), np.where(down, f_mid, f_out)
        side = np.where(up, 1, np.where(down, -1, side))
        bisect = np.where(go, np.abs(outside - inner) > 0.5 * gap, bisect)
    return inner


def _support(y_lo, y_hi, t, v, q, alpha, rule: Rule):
    """Each station's support inside its window (numpy twin of the kernel's
    ``_support``): (found, lower, upper)."""
    scan = rule.scan
    step = (y_hi - y_lo) / (scan - 1)
    grid = y_lo[:, None] + step[:, None] * np.arange(scan)[None, :]
    ok = _margin(grid, t[:, None], v[:, None], q[:, None], alpha) > 0
    found = ok.any(axis=1)
    first = np.argmax(ok, axis=1)
    last = scan - 1 - np.argmax(ok[:, ::-1], axis=1)
    tol = EDGE_TOL * np.maximum(0.5 * step * (last - first), 0.5 * step)
    ends = []
    for index, sign, active in ((first, -1.0, first > 0), (last, 1.0, last < scan - 1)):
        inner = y_lo + step * index
        ends.append(_edge(inner, inner + sign * step, tol, found & active, t, v, q, alpha))
    return found, ends[0], ends[1]


def _nodes(t, v, q, alpha, y_lo, y_hi, rule: Rule):
    """Quadrature points y and weights (stations x nodes) of ``rule``; the weights of
    a station whose window or support is empty are 0."""
    width = np.maximum(y_hi - y_lo, 0.0)
    (nd, wt), _ = rule.arrays()
    if not rule.graded:
        return y_lo[:, None] + width[:, None] * nd[None, :], wt[None, :] * width[:, None]
    has = width > 0
    found, lower, upper = _support(y_lo, np.where(has, y_hi, y_lo + 1), t, v, q, alpha, rule)
    half = 0.5 * (upper - lower)
    found &= has & (half > 0)
    half = np.where(found, half, 1.0)
    # node j at half * depth**(1 - nd[j]) from the edge: Gauss-Legendre in the log
    # distance, over a range log(1/depth) that is the same for every station
    reach = np.exp(np.log(rule.depth) * (1 - nd))
    mass = wt * (-np.log(rule.depth)) * reach
    d = half[:, None] * reach[None, :]
    y = np.concatenate([upper[:, None] - d, lower[:, None] + d], axis=1)
    w = np.tile(half[:, None] * mass[None, :], 2)
    w[~found] = 0.0
    y[~found] = y_lo[~found, None]  # any finite point: its weight is 0
    return y, w


def _fraud(t, v, blob: Blobs, registered, ballots, theta, alpha, invalid, mode, rule: Rule):
    """Log density of stuffed stations at their observed points.

    ``theta`` is the incremental component's scale, None for the extreme component;
    ``invalid``: each station's invalid ballots per registered voter (stuffing does not
        change it; switched votes come from the other candidates' valid votes). ``mode``
    "gradient": also the derivatives of the log density in ``theta`` (0 for the
    extreme component) and ``alpha``: the quadrature-weighted means of the integrand's
    own derivatives (the integrand is nil at the support's edges, and the window moves
    with ``theta`` only where it is negligible).
    """
    t = np.clip(t, 1e-9, 1 - 1e-9)
    sd_t, sd_v = noise_sd(blob, registered, ballots)
    rho = blob.rho * blob.s * blob.r / (sd_t * sd_v)
    # window of clean turnouts: within WINDOW_SD spreads of the centre, and below T
    tau_hi = np.minimum(expit(blob.a + WINDOW_SD * sd_t), t)
    tau_lo = expit(blob.a - WINDOW_SD * sd_t)
    y_lo = np.log(np.maximum(1 - tau_hi, 1e-12) / (1 - t))
    y_hi = np.log(np.maximum(1 - tau_lo, 1e-12) / (1 - t))
    # and fraud sizes where their density is not negligible
    if theta is None:
        y_lo = np.maximum(y_lo, -np.log(min(1.0, 9 * EXTREME_SCALE)))
    else:
        x_max = min(9 * theta, 1.0)
        y_hi = np.minimum(y_hi, -np.log(max(1 - x_max, 1e-12)))
    q = np.broadcast_to(np.asarray(invalid, dtype=float), t.shape)
    y, weights = _nodes(t, v, q, alpha, y_lo, y_hi, rule)
    q = q[:, None]
    keep = np.exp(-y)  # 1 - x
    x = 1 - keep
    tau = 1 - (1 - t)[:, None] / keep  # in (0, t] by the window
    with np.errstate(divide="ignore"):
        log_x = np.log(x)
    xa = np.exp(alpha * log_x)
    slope = tau * (1 - xa) / t[:, None]
    offset = (x * (1 - tau) + xa * (tau - q)) / t[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        nu = (v[:, None] - offset) / slope
    a, b = blob.a[:, None], blob.b[:, None]
    st, sv, rr = sd_t[:, None], sd_v[:, None], rho[:, None]
    one = 1 - rr**2
    # per-station constants of the bivariate normal
    const = (-np.log(sd_t * sd_v) - 0.5 * np.log(1 - rho**2) - 2 * _LOG_SQRT_2PI)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (nu > 0) & (nu < 1) & (tau > 0)
        nu_in = np.clip(nu, 1e-300, 1 - 1e-16)
        # log(1 - tau) = log(1 - T) + y exactly; logs are the costly part here
        log_tau = np.log(np.maximum(tau, 1e-300))
        log_1tau = np.log(1 - t)[:, None] + y
        log_nu, log_1nu = np.log(nu_in), np.log1p(-nu_in)
        zt = (log_tau - log_1tau - a) / st
        zv = (log_nu - log_1nu - b) / sv
        log_f = (
            (-0.5 / one) * (zt * zt - 2 * rr * zt * zv + zv * zv)
            + const
            - log_tau
            - log_1tau
            - log_nu
            - log_1nu
            + _size_logpdf(x, theta)
            - np.log(slope)
        )
    ok = inside & (slope > 0) & (weights > 0)
    log_f = np.where(ok, log_f, -np.inf)
    peak = np.max(log_f, axis=1, keepdims=True)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    mass = np.exp(log_f - safe) * weights
    total = mass.sum(axis=1)
    with np.errstate(divide="ignore"):
        out = np.log(total) + safe[:, 0]
    out = np.where(np.isfinite(out), out, -np.inf)
    if mode == "value":
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        share_of = np.where(total[:, None] > 0, mass / total[:, None], 0.0)
    moments = ()
    if mode in ("moments", "all"):
        lt, lv = zt * st + a, zv * sv + b
        lt, lv = np.where(ok, lt, 0.0), np.where(ok, lv, 0.0)
        moments = (
            (share_of * lt).sum(axis=1),
            (share_of * lv).sum(axis=1),
            (share_of * lt**2).sum(axis=1),
            (share_of * lv**2).sum(axis=1),
            (share_of * lt * lv).sum(axis=1),
        )
    if mode == "moments":
        return (out, *moments)
    with np.errstate(invalid="ignore", divide="ignore"):
        if theta is None:
            d_theta = np.zeros(len(t))
        else:
            kept = 2 * _ndtr(1 / theta) - 1
            d_kept = -2 * np.exp(-0.5 / theta**2 - _LOG_SQRT_2PI) / theta**2
            d_node = -1 / theta + x**2 / theta**3 - d_kept / kept
            d_theta = (share_of * np.where(ok, d_node, 0.0)).sum(axis=1)
        d_xa = np.where(x > 0, xa * log_x, 0.0)
        d_slope = -tau * d_xa / t[:, None]
        d_offset = (tau - q) * d_xa / t[:, None]
        d_nu = (-d_offset - nu * d_slope) / slope
        d_logphi_nu = -(zv - rr * zt) / (one * sv * nu_in * (1 - nu_in)) - (1 - 2 * nu_in) / (
            nu_in * (1 - nu_in)
        )
        d_node_a = d_logphi_nu * d_nu - d_slope / slope
        d_alpha = (share_of * np.where(ok, d_node_a, 0.0)).sum(axis=1)
    return (out, np.nan_to_num(d_theta), np.nan_to_num(d_alpha), *moments)


def draw(rng, blob: Blobs, registered, ballots, f_i, f_e, theta, alpha, invalid):
    """Draw (turnout, share, x) for stations with the given blob rows: the generative
    definition above, with counting noise added to the clean values (as the densities
    assume). For figures' expected histograms and for tests."""
    n = len(registered)
    sd_t, sd_v = noise_sd(blob, registered, ballots)
    rho = blob.rho * blob.s * blob.r / (sd_t * sd_v)
    z1 = rng.standard_normal(n)
    z2 = rng.standard_normal(n)
    tau = expit(blob.a + sd_t * z1)
    nu = expit(blob.b + sd_v * (rho * z1 + np.sqrt(1 - rho**2) * z2))
    u = rng.random(n)
    x = np.zeros(n)
    inc = (u >= f_e) & (u < f_e + f_i)
    ext = u < f_e
    from scipy.special import ndtri

    for mask, scale, extreme in ((inc, theta, False), (ext, EXTREME_SCALE, True)):
        k = int(mask.sum())
        if k == 0:
            continue
        kept = 2 * _ndtr(1 / scale) - 1
        size = scale * ndtri(0.5 + 0.5 * rng.random(k) * kept)
        x[mask] = 1 - size if extreme else size
    x = np.clip(x, 0, 1)
    turnout = 1 - (1 - x) * (1 - tau)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.minimum(invalid, tau * (1 - nu))
        share = (tau * nu + x * (1 - tau) + x**alpha * (tau - q - nu * tau)) / turnout
    return turnout, np.clip(np.nan_to_num(share), 0, 1), x
