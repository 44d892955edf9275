"""Prototype of a quadrature rule for the stuffed parts' density, against a
12,000-node reference: the study behind the next change to the kernel.

Diagnosis (``bench_quadrature.py``): where a station's fraud density matters, its
integrand in y = -log(1 - x) has one peak, about 1e-4 of the window wide, right at the
upper edge of its support (the y beyond which no clean point exists), so Gauss-Legendre
over the whole window misses or over-weights it. The rule studied here finds the
support's two edges (a scan for finite points, then bisection of each edge) and
integrates with Gauss-Legendre in s = log(distance to an edge) on each half of the
support, which packs nodes geometrically toward both edges.

    python benchmarks/study_quadrature_rule.py [--stations 3000] [--nodes 12 24 48]

Fits Russia 2011 (../shared/realdata; skipped when absent), then compares, on a sample
of stations (half of them with the leader above 99%) whose log-density is above -3,
the production rule and the graded rule with each number of nodes per half. Measured
2026-12-03: production summed |error| 9.9 (extreme part) and 4.7 (incremental), largest
0.68 / 0.12; graded 2 x 48 nodes 0.005 / 0.001, largest 0.0017 / 0.00005; 2 x 24:
10.9 / 12.9, largest 0.08. The numpy code here is the prototype; production now runs
the same idea in the compiled kernel (``klimek.RULE``: a 16-point scan, regula falsi
for the edges, 2 x 32 nodes to 1e-6 of the half-width), printed here beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from kzvote.methods import klimek as K
from kzvote.methods import klimek_fit as KF
from kzvote.methods.fingerprint import klimek_stations

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata"
RUSSIA = REAL / "ru-kobak-shpilkin" / "2011.csv.gz"


def window(t, blob, registered, ballots, theta):
    """The y window of :func:`kzvote.methods.klimek._fraud` (turnout within 6 spreads)."""
    t = np.clip(t, 1e-9, 1 - 1e-9)
    sd_t, _ = K.noise_sd(blob, registered, ballots)
    tau_hi = np.minimum(K.expit(blob.a + K.WINDOW_SD * sd_t), t)
    tau_lo = K.expit(blob.a - K.WINDOW_SD * sd_t)
    y_lo = np.log(np.maximum(1 - tau_hi, 1e-12) / (1 - t))
    y_hi = np.log(np.maximum(1 - tau_lo, 1e-12) / (1 - t))
    if theta is None:
        y_lo = np.maximum(y_lo, -np.log(min(1.0, 9 * K.EXTREME_SCALE)))
    else:
        y_hi = np.minimum(y_hi, -np.log(max(1 - min(9 * theta, 1.0), 1e-12)))
    return y_lo, np.maximum(y_hi, y_lo)


def log_integrand(s, theta, alpha, y):
    """log of the integrand at points y (stations x points); -inf outside the support.
    ``s``: (t, v, blob, registered, ballots, invalid)."""
    t, v, blob, registered, ballots, q = s
    t = np.clip(t, 1e-9, 1 - 1e-9)
    sd_t, sd_v = K.noise_sd(blob, registered, ballots)
    rho = blob.rho * blob.s * blob.r / (sd_t * sd_v)
    x = 1 - np.exp(-y)
    tau = 1 - (1 - t)[:, None] * np.exp(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xa = np.exp(alpha * np.log(x))
        slope = tau * (1 - xa) / t[:, None]
        offset = (x * (1 - tau) + xa * (tau - q[:, None])) / t[:, None]
        nu = (v[:, None] - offset) / slope
        inside = (nu > 0) & (nu < 1) & (tau > 0) & (slope > 0)
        nu = np.clip(nu, 1e-300, 1 - 1e-16)
        rr = rho[:, None]
        log_tau = np.log(np.maximum(tau, 1e-300))
        log_1tau = np.log(1 - t)[:, None] + y
        log_nu, log_1nu = np.log(nu), np.log1p(-nu)
        zt = (log_tau - log_1tau - blob.a[:, None]) / sd_t[:, None]
        zv = (log_nu - log_1nu - blob.b[:, None]) / sd_v[:, None]
        const = -np.log(sd_t * sd_v) - 0.5 * np.log(1 - rho**2) - 2 * K._LOG_SQRT_2PI
        value = (
            (-0.5 / (1 - rr**2)) * (zt * zt - 2 * rr * zt * zv + zv * zv)
            + const[:, None]
            - log_tau
            - log_1tau
            - log_nu
            - log_1nu
            + K._size_logpdf(x, theta)
            - np.log(slope)
        )
    return np.where(inside, value, -np.inf)


def _log_gl(s, theta, alpha, lo, hi, n, transform=None):
    """log of the Gauss-Legendre integral over [lo, hi] per station; ``transform``
    maps the variable to y and returns (y, log dy)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    nodes, weights = (nodes + 1) / 2, weights / 2
    u = lo[:, None] + (hi - lo)[:, None] * nodes[None, :]
    y, log_dy = (u, 0.0) if transform is None else transform(u)
    lf = log_integrand(s, theta, alpha, y) + log_dy
    peak = lf.max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = (np.exp(lf - peak[:, None]) * weights).sum(axis=1) * (hi - lo)
        out = np.log(total) + peak
    return np.where(np.isnan(out), -np.inf, out)


def support(s, theta, alpha, lo, hi, scan=64, steps=40):
    """The support's edges inside the window: the first and last finite points of a
    scan, each edge then bisected against its infinite neighbour."""
    u = (np.arange(scan) + 0.5) / scan
    y = lo[:, None] + (hi - lo)[:, None] * u[None, :]
    finite = np.isfinite(log_integrand(s, theta, alpha, y))
    rows = np.arange(len(lo))
    first = np.argmax(finite, axis=1)
    last = scan - 1 - np.argmax(finite[:, ::-1], axis=1)
    ends = []
    below = np.where(first > 0, y[rows, np.maximum(first - 1, 0)], lo)
    above = np.where(last < scan - 1, y[rows, np.minimum(last + 1, scan - 1)], hi)
    for idx, outside in ((first, below), (last, above)):
        inner = y[rows, idx]
        for _ in range(steps):
            mid = (inner + outside) / 2
            ok = np.isfinite(log_integrand(s, theta, alpha, mid[:, None]))[:, 0]
            inner, outside = np.where(ok, mid, inner), np.where(ok, outside, mid)
        ends.append(inner)
    return ends[0], ends[1]


def graded(s, theta, alpha, a, b, n, depth=1e-9):
    """Gauss-Legendre in log(distance to the edge) on each half of [a, b], down to
    ``depth`` times the half-width."""
    half = (b - a) / 2
    parts = []
    for edge, side in ((b, 1.0), (a, -1.0)):

        def to_y(u, edge=edge, side=side):
            return edge[:, None] - side * np.exp(u), u

        parts.append(_log_gl(s, theta, alpha, np.log(half * depth), np.log(half), n, to_y))
    return np.logaddexp(parts[0], parts[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=3000)
    parser.add_argument("--nodes", type=int, nargs="*", default=[12, 24, 48])
    args = parser.parse_args()
    np.seterr(invalid="ignore", divide="ignore")  # stations with an empty support
    if not RUSSIA.exists():
        print(f"skipped: {RUSSIA} is absent")
        return
    from kzvote.reading import load_stations

    table = load_stations(str(RUSSIA))
    st = klimek_stations(table, table.leader(None), {})[0]
    _, fraud = KF.fit_pair(st)
    p = fraud.params
    rng = np.random.default_rng(0)
    half = args.stations // 2
    idx = np.unique(
        np.concatenate(
            [rng.choice(st.n, half, replace=False), np.flatnonzero(st.share > 0.99)[:half]]
        )
    )
    blob = fraud.blobs.take(st.group[idx])
    q = st.invalid[idx] if st.invalid is not None else np.zeros(len(idx))
    s = (st.turnout[idx], st.share[idx], blob, st.registered[idx], st.ballots[idx], q)
    print(f"Russia 2011 fit: theta {p['theta']:.3f}, alpha {p['alpha']:.2f}; {len(idx)} stations")
    for theta, name in ((None, "extreme"), (p["theta"], "incremental")):
        lo, hi = window(s[0], blob, s[3], s[4], theta)
        ref = _log_gl(s, theta, p["alpha"], lo, hi, 12000)
        keep = np.isfinite(ref) & (ref > -3)
        print(f"{name}: {keep.sum()} stations with log-density > -3")
        for label, rule in (("window 24/96", K.Rule(24, False, 96)), ("production", K.RULE)):
            used = K.fraud_logpdf(*s[:5], theta, p["alpha"], q, nodes=rule)
            err = np.abs(used - ref)[keep]
            print(f"  {label:<17} summed |error| {err.sum():8.3f}, largest {err.max():.4f}")
        a, b = support(s, theta, p["alpha"], lo, hi)
        for n in args.nodes:
            err = np.abs(graded(s, theta, p["alpha"], a, b, n) - ref)[keep]
            print(
                f"  graded 2 x {n:<3}    summed |error| {err.sum():8.3f}, largest {err.max():.4f}"
            )


if __name__ == "__main__":
    sys.exit(main())
