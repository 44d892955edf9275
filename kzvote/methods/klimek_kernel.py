"""Compiled kernel of the stuffed stations' density (:func:`kzvote.methods.klimek._fraud`).

The same quadrature as the numpy version, one station at a time in one loop: no
(stations x nodes) temporaries, and the turnout part of each node computed once. The
numpy version stays the reference; ``tests/test_klimek.py`` checks that both give the
same values, derivatives and moments. Compiled by numba on first use and cached on
disk; when numba cannot be imported, :mod:`kzvote.methods.klimek` uses the numpy
version (same numbers, several times slower).
"""

from __future__ import annotations

import math

import numpy as np

try:  # pragma: no cover - exercised by whichever path the machine has
    from numba import njit, prange
except ImportError:  # pragma: no cover
    njit = None
    prange = range

WINDOW_SD = 6.0
EXTREME_SCALE = 0.075
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
#: most steps of the search for a support edge (usually fewer than 15)
MAX_STEPS = 80
#: precision of a support edge, as a fraction of the support's half-width (edges found
#: this finely move smoothly with alpha, so that the quadrature's value and its
#: analytic derivatives agree)
EDGE_TOL = 1e-12

#: modes: 0 value, 1 value and derivatives in theta and alpha, 2 value and moments,
#: 3 all of them (one pass of the EM: moments in columns 1-5, derivatives in 6-7)
VALUE, GRADIENT, MOMENTS, ALL = 0, 1, 2, 3
#: columns of the output array
COLUMNS = 8


def _margin(y, ti, vi, qi, alpha):
    """How far inside the unit square the clean point lies that fraud of size x(y)
    maps onto the station: min(nu, 1 - nu), or -1 where tau or the slope is not
    positive; the integrand is positive exactly where this is (no logs of the density;
    the support search calls it a few dozen times per station)."""
    keep = math.exp(-y)
    x = 1.0 - keep
    tau = 1.0 - (1.0 - ti) / keep
    xa = math.exp(alpha * math.log(x)) if x > 0.0 else 0.0
    slope = tau * (1.0 - xa) / ti
    if not (slope > 0.0 and tau > 0.0):
        return -1.0
    nu = (vi - (x * (1.0 - tau) + xa * (tau - qi)) / ti) / slope
    m = nu if nu < 1.0 - nu else 1.0 - nu
    if not m > -1.0:  # nan or far outside
        return -1.0
    return m


def _edge(inner, outside, tol, ti, vi, qi, alpha):
    """The support's edge between a point inside it and one outside it, to ``tol``:
    regula falsi on the margin with the Illinois halving, and a bisection step after
    any step that did not halve the bracket. Returns the inside end."""
    f_in = _margin(inner, ti, vi, qi, alpha)
    f_out = _margin(outside, ti, vi, qi, alpha)
    side = 0
    bisect = False
    for _ in range(MAX_STEPS):
        gap = abs(outside - inner)
        if gap <= tol:
            break
        if bisect or not f_in - f_out > 0.0:
            mid = 0.5 * (inner + outside)
        else:
            mid = inner + (outside - inner) * (f_in / (f_in - f_out))
        f_mid = _margin(mid, ti, vi, qi, alpha)
        if f_mid > 0.0:
            inner, f_in = mid, f_mid
            if side == 1:
                f_out *= 0.5
            side = 1
        else:
            outside, f_out = mid, f_mid
            if side == -1:
                f_in *= 0.5
            side = -1
        bisect = abs(outside - inner) > 0.5 * gap
    return inner


def _support(y_lo, y_hi, scan, depth, ti, vi, qi, alpha):
    """The station's support inside the window [y_lo, y_hi]: the first and last
    positive points of a ``scan``-point grid (both ends included), each edge then
    found between it and its outside neighbour to ``depth / 10`` of the support's
    half-width (:func:`_edge`).
    Returns (found, lower, upper)."""
    step = (y_hi - y_lo) / (scan - 1)
    first = -1
    last = -1
    for m in range(scan):
        if _margin(y_lo + step * m, ti, vi, qi, alpha) > 0.0:
            if first < 0:
                first = m
            last = m
    if first < 0:
        return False, 0.0, 0.0
    tol = EDGE_TOL * max(0.5 * step * (last - first), 0.5 * step)
    lower = y_lo + step * first
    upper = y_lo + step * last
    if first > 0:
        lower = _edge(lower, lower - step, tol, ti, vi, qi, alpha)
    if last < scan - 1:
        upper = _edge(upper, upper + step, tol, ti, vi, qi, alpha)
    return True, lower, upper


def _kernel(
    t, v, a, s, b, r, rho, registered, ballots, q, theta, alpha, mode, graded, nodes,
    weights, nodes_fine, weights_fine, high_turnout, scan, depth, out, first, last,
):  # fmt: skip
    """Fill rows ``first`` to ``last`` of ``out`` (stations x 8): log density, then
    (d theta, d alpha) or the five posterior moments of the clean logit point, or
    (mode ``ALL``) the moments in columns 1-5 and the derivatives in 6-7.
    ``theta`` <= 0: the extreme part. ``graded``: Gauss-Legendre ``nodes`` in
    log(distance to the edge) on each half of the station's support, down to ``depth``
    times the half-width (see :mod:`kzvote.methods.klimek`); otherwise Gauss-Legendre
    over the window (``nodes_fine`` at turnout >= ``high_turnout``)."""
    want_moments = (mode == MOMENTS) | (mode == ALL)
    want_gradient = (mode == GRADIENT) | (mode == ALL)
    g0 = 1 if mode == GRADIENT else 6
    extreme = theta <= 0.0
    scale = EXTREME_SCALE if extreme else theta
    kept = math.erf(1.0 / (scale * math.sqrt(2.0)))  # 2 ndtr(1/scale) - 1
    size_const = math.log(2.0) - _LOG_SQRT_2PI - math.log(scale) - math.log(kept)
    d_kept = -2.0 * math.exp(-0.5 / scale**2 - _LOG_SQRT_2PI) / scale**2
    k_half = nodes.shape[0]
    k_max = max(nodes_fine.shape[0], 2 * k_half)
    # graded rule: node j sits half * depth**(1 - nodes[j]) from the edge, with weight
    # half * (weights[j] log(1/depth) depth**(1 - nodes[j])) (Gauss-Legendre in the
    # log distance, whose range log(1/depth) is the same for every station)
    reach = np.empty(k_half)
    mass = np.empty(k_half)
    for j in range(k_half):
        reach[j] = math.exp(math.log(depth) * (1.0 - nodes[j]))
        mass[j] = weights[j] * (-math.log(depth)) * reach[j]
    log_f = np.empty(k_max)
    w_buf = np.empty(k_max)
    lt_buf = np.empty(k_max)
    lv_buf = np.empty(k_max)
    da_buf = np.empty(k_max)
    dt_buf = np.empty(k_max)
    for i in range(first, last):
        for c in range(COLUMNS):
            out[i, c] = 0.0
        out[i, 0] = -math.inf
        ti = min(max(t[i], 1e-9), 1.0 - 1e-9)
        vi = v[i]
        qi = q[i]
        ai, bi = a[i], b[i]
        pt = min(max(1.0 / (1.0 + math.exp(-ai)), 0.01), 0.99)
        pv = min(max(1.0 / (1.0 + math.exp(-bi)), 0.01), 0.99)
        sd_t = math.sqrt(s[i] ** 2 + 1.0 / (registered[i] * pt * (1.0 - pt)))
        sd_v = math.sqrt(r[i] ** 2 + 1.0 / (ballots[i] * pv * (1.0 - pv)))
        rr = rho[i] * s[i] * r[i] / (sd_t * sd_v)
        one = 1.0 - rr * rr
        const = -math.log(sd_t * sd_v) - 0.5 * math.log(one) - 2.0 * _LOG_SQRT_2PI
        tau_hi = min(1.0 / (1.0 + math.exp(-(ai + WINDOW_SD * sd_t))), ti)
        tau_lo = 1.0 / (1.0 + math.exp(-(ai - WINDOW_SD * sd_t)))
        log_1t = math.log(1.0 - ti)
        y_lo = math.log(max(1.0 - tau_hi, 1e-12)) - log_1t
        y_hi = math.log(max(1.0 - tau_lo, 1e-12)) - log_1t
        if extreme:
            y_lo = max(y_lo, -math.log(min(1.0, 9.0 * EXTREME_SCALE)))
        else:
            x_max = min(9.0 * theta, 1.0)
            y_hi = min(y_hi, -math.log(max(1.0 - x_max, 1e-12)))
        width = y_hi - y_lo
        if not width > 0.0:  # no fraud size reaches this station: density nil
            continue
        if graded:
            found, lower, upper = _support(y_lo, y_hi, scan, depth, ti, vi, qi, alpha)
            half = 0.5 * (upper - lower)
            if not (found and half > 0.0):
                continue
            k = 2 * k_half
        else:
            if t[i] >= high_turnout:
                nd, wt = nodes_fine, weights_fine
            else:
                nd, wt = nodes, weights
            k = nd.shape[0]
        peak = -math.inf
        for j in range(k):
            if graded:
                jj = j % k_half
                d = half * reach[jj]
                y = upper - d if j < k_half else lower + d
                w_buf[j] = half * mass[jj]
            else:
                y = y_lo + width * nd[j]
                w_buf[j] = wt[j] * width
            log_f[j] = -math.inf
            keep = math.exp(-y)
            x = 1.0 - keep
            tau = 1.0 - (1.0 - ti) / keep
            if x > 0.0:
                log_x = math.log(x)
                xa = math.exp(alpha * log_x)
            else:
                log_x = -math.inf
                xa = 0.0
            slope = tau * (1.0 - xa) / ti
            offset = (x * (1.0 - tau) + xa * (tau - qi)) / ti
            if not (slope > 0.0 and tau > 0.0):
                continue
            nu = (vi - offset) / slope
            if not (nu > 0.0 and nu < 1.0):
                continue
            nu_in = min(max(nu, 1e-300), 1.0 - 1e-16)
            log_tau = math.log(max(tau, 1e-300))
            log_1tau = log_1t + y
            log_nu = math.log(nu_in)
            log_1nu = math.log1p(-nu_in)
            zt = (log_tau - log_1tau - ai) / sd_t
            zv = (log_nu - log_1nu - bi) / sd_v
            dist = (1.0 - x) if extreme else x
            value = (
                (-0.5 / one) * (zt * zt - 2.0 * rr * zt * zv + zv * zv)
                + const
                - log_tau
                - log_1tau
                - log_nu
                - log_1nu
                + size_const
                - 0.5 * (dist / scale) ** 2
                - math.log(slope)
            )
            log_f[j] = value
            if value > peak:
                peak = value
            if want_moments:
                lt_buf[j] = log_tau - log_1tau
                lv_buf[j] = log_nu - log_1nu
            if want_gradient:
                if extreme:
                    dt_buf[j] = 0.0
                else:
                    dt_buf[j] = -1.0 / theta + x * x / theta**3 - d_kept / kept
                d_xa = xa * log_x if x > 0.0 else 0.0
                d_slope = -tau * d_xa / ti
                d_offset = (tau - qi) * d_xa / ti
                d_nu = (-d_offset - nu * d_slope) / slope
                nn = nu_in * (1.0 - nu_in)
                d_logphi = -(zv - rr * zt) / (one * sd_v * nn) - (1.0 - 2.0 * nu_in) / nn
                da_buf[j] = d_logphi * d_nu - d_slope / slope
        if peak == -math.inf:
            continue
        total = 0.0
        for j in range(k):
            if log_f[j] > -math.inf:
                m = math.exp(log_f[j] - peak) * w_buf[j]
                log_f[j] = m
                total += m
            else:
                log_f[j] = 0.0
        if not total > 0.0:
            continue
        out[i, 0] = math.log(total) + peak
        if mode == VALUE:
            continue
        for j in range(k):
            w = log_f[j] / total
            if w == 0.0:
                continue
            if want_moments:
                lt, lv = lt_buf[j], lv_buf[j]
                out[i, 1] += w * lt
                out[i, 2] += w * lv
                out[i, 3] += w * lt * lt
                out[i, 4] += w * lv * lv
                out[i, 5] += w * lt * lv
            if want_gradient:
                out[i, g0] += w * dt_buf[j]
                out[i, g0 + 1] += w * da_buf[j]


#: stations per task of the parallel loop (each task allocates its buffers once)
CHUNK = 1024


def _parallel(
    t, v, a, s, b, r, rho, registered, ballots, q, theta, alpha, mode, graded, nodes,
    weights, nodes_fine, weights_fine, high_turnout, scan, depth, out,
):  # fmt: skip
    n = t.shape[0]
    tasks = (n + CHUNK - 1) // CHUNK
    for c in prange(tasks):
        _serial(
            t, v, a, s, b, r, rho, registered, ballots, q, theta, alpha, mode, graded,
            nodes, weights, nodes_fine, weights_fine, high_turnout, scan, depth, out,
            c * CHUNK, min((c + 1) * CHUNK, n),
        )  # fmt: skip


if njit is not None:
    _margin = njit(cache=True, nogil=True)(_margin)
    _edge = njit(cache=True, nogil=True)(_edge)
    _support = njit(cache=True, nogil=True)(_support)
    _serial = njit(cache=True, nogil=True)(_kernel)
    _compiled = njit(cache=True, nogil=True, parallel=True)(_parallel)
else:  # pragma: no cover
    _serial = _compiled = None


def available() -> bool:
    return _compiled is not None


def fraud_density(t, v, blob, registered, ballots, theta, alpha, invalid, mode, rule):
    """Run the compiled kernel with the quadrature ``rule`` (:class:`kzvote.methods.
    klimek.Rule`); returns the (stations x 8) array of :func:`_kernel`. The stations are
    shared between numba's threads (``NUMBA_NUM_THREADS``; one per core by default, one
    in ``kzvote calibrate``'s workers and the test suite); each station's numbers do not
    depend on how many threads there are."""
    n = len(t)
    out = np.empty((n, COLUMNS))
    f = lambda x: np.ascontiguousarray(x, dtype=np.float64)  # noqa: E731
    gl, gl_fine = rule.arrays()
    _compiled(
        f(t), f(v), f(blob.a), f(blob.s), f(blob.b), f(blob.r), f(blob.rho),
        f(registered), f(ballots), f(np.broadcast_to(invalid, (n,))),
        -1.0 if theta is None else float(theta), float(alpha), int(mode),
        bool(rule.graded), gl[0], gl[1], gl_fine[0], gl_fine[1], float(rule.high),
        int(rule.scan), float(rule.depth), out,
    )  # fmt: skip
    return out
