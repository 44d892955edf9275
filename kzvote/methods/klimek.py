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
size's support), by Gauss-Legendre quadrature. Checked against Monte Carlo draws of the
model in ``tests/test_klimek.py``.

Nothing here fits or prints; :mod:`kzvote.methods.klimek_fit` fits the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXTREME_SCALE = 0.075
#: Gauss-Legendre nodes of the fraud-size integral
NODES = 24
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


def _gauss_legendre(k: int):
    x, w = np.polynomial.legendre.leggauss(k)
    return (x + 1) / 2, w / 2


_GL = _gauss_legendre(NODES)
#: nodes for stations at >= HIGH_TURNOUT (the integrand is sharp as x -> 1)
NODES_FINE = 96
HIGH_TURNOUT = 0.95
_GL_FINE = _gauss_legendre(NODES_FINE)


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
    nodes: tuple | None = None,
):
    """Log density of stuffed stations at their observed points (see :func:`_fraud`);
    stations at >= 95% turnout, where the integrand is sharpest, get ``NODES_FINE``
    quadrature nodes (``nodes``: other rules, (ordinary, fine) from
    :func:`_gauss_legendre`, for the quadrature check). ``gradient``: also the
    derivatives in theta and alpha; ``moments``: also the posterior means of the clean
    point's logit coordinates, their squares and product (for the EM's blob step); both:
    the value, the two derivatives, then the five moments (one pass of the EM)."""
    if moments and gradient:
        mode = "all"
    else:
        mode = "moments" if moments else ("gradient" if gradient else "value")
    t = np.asarray(t, dtype=float)
    invalid = np.broadcast_to(np.asarray(invalid, dtype=float), t.shape)
    gl, gl_fine = nodes if nodes is not None else (_GL, _GL_FINE)
    if _USE_KERNEL:
        from kzvote.methods import klimek_kernel as K

        code = {"value": K.VALUE, "gradient": K.GRADIENT, "moments": K.MOMENTS, "all": K.ALL}
        out = K.fraud_density(
            t, v, blob, registered, ballots, theta, alpha, invalid, code[mode], gl, gl_fine,
            HIGH_TURNOUT,
        )  # fmt: skip
        if mode == "value":
            return out[:, 0]
        if mode == "gradient":
            return out[:, 0], out[:, 1], out[:, 2]
        if mode == "all":
            return tuple(out[:, c] for c in (0, 6, 7, 1, 2, 3, 4, 5))
        return tuple(out[:, c] for c in range(6))
    high = t >= HIGH_TURNOUT
    if not high.any():
        return _fraud(t, v, blob, registered, ballots, theta, alpha, invalid, mode, gl)
    parts = []
    for mask, rule in ((~high, gl), (high, gl_fine)):
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
                    rule,
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


def _fraud(t, v, blob: Blobs, registered, ballots, theta, alpha, invalid, mode, gl):
    """Log density of stuffed stations at their observed points.

    ``theta`` is the incremental component's scale, None for the extreme component;
    ``invalid``: each station's invalid ballots per registered voter (stuffing does not
        change it; switched votes come from the other candidates' valid votes). ``mode``
    "gradient": also the derivatives of the log density in ``theta`` (0 for the
    extreme component) and ``alpha``: the quadrature-weighted means of the integrand's
    own derivatives (the window moves with ``theta`` only where the integrand is nil).
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
    width = np.maximum(y_hi - y_lo, 0.0)
    nodes, weights = gl
    y = y_lo[:, None] + width[:, None] * nodes[None, :]
    keep = np.exp(-y)  # 1 - x
    x = 1 - keep
    tau = 1 - (1 - t)[:, None] / keep  # in (0, t] by the window
    with np.errstate(divide="ignore"):
        log_x = np.log(x)
    xa = np.exp(alpha * log_x)
    slope = tau * (1 - xa) / t[:, None]
    q = np.broadcast_to(np.asarray(invalid, dtype=float), t.shape)[:, None]
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
    ok = inside & (slope > 0)
    log_f = np.where(ok, log_f, -np.inf)
    peak = np.max(log_f, axis=1, keepdims=True)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    mass = np.exp(log_f - safe) * weights[None, :]
    total = mass.sum(axis=1)
    with np.errstate(divide="ignore"):
        out = np.log(total * width) + safe[:, 0]
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
