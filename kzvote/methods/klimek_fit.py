"""Fitting the Klimek model over regional honest blobs (:mod:`kzvote.methods.klimek`).

Groups. The honest part has one blob per region when the file names at least
``MIN_GROUPS`` regions of ``GROUP_MIN`` fitted stations, else one per district (same
rule), else a mixture of one to three blobs whose number is chosen by BIC (files
without areas, e.g. Canada 2011).

Estimation. An expectation-maximisation scheme: given each station's posterior of
being honest, each group's blob is the posterior-weighted mean, spread (counting noise
removed) and correlation of its stations, shrunk toward the pooled values with the
weight of ``SHRINK`` stations (a district of ten stations cannot carry its own blob);
given the blobs, the weights f_i and f_e are maximised with the densities held and
theta and alpha take one damped Newton step (see :func:`fit`). Starting blobs are
robust (medians and MADs) and leave out the stations at >= 90% turnout and share, so
that a region stuffed to the corner starts from an honest blob near its neighbours'
and its corner is explained by stuffing, never by an honest blob sitting at 100%.

The honest-only ("fair") model is fitted the same way with ``f_i = f_e = 0``.
Nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kzvote.methods.klimek import Blobs, Stations, expit, fraud_logpdf, honest_logpdf, logit

GROUP_MIN = 30
MIN_GROUPS = 4
SHRINK = 20.0
CORNER = 0.9
MAX_LATENT = 3
#: spreads never fall below this (a blob of identical stations has no density)
MIN_SPREAD = 0.02  # on the logit scale
MAX_RHO = 0.9
#: what an honest blob may be (logit scale): spreads at most MAX_SPREAD, and turnout
#: and leader share correlated by at most MAX_RHO_POSITIVE. Honest files stay inside
#: (Poland 2020: spreads <= 0.93 over 16 regions and 382 districts, correlations -0.65
#: to +0.05; the second generator's link is -0.3..+0.3); the regions of Russia 2011
#: where stuffing was heaviest do not (Tatarstan: turnout spread 2.1 with correlation
#: 0.83, a blob that is the stuffing smear itself, which put 835 of its 1,099 corner
#: stations inside the "honest" part)
MAX_SPREAD = 1.2
MAX_RHO_POSITIVE = 0.5
BOUNDS = {
    "f_incremental": (0.0, 0.98),
    "f_extreme": (0.0, 0.5),
    # theta <= 0.3: beyond it incremental stuffing fills more than 0.3% of its stations
    # to x > 0.9 and becomes the extreme component under another name (Russia 2011 with
    # theta up to 1: theta 0.96, alpha 10, f_e 0.004 against 3.2% of stations in the
    # 95/95 corner; with theta <= 0.3: f_e 0.020)
    "theta": (0.05, 0.3),
    "alpha": (0.5, 10.0),
}
FRAUD = ("f_incremental", "f_extreme", "theta", "alpha")


def group_candidates(region: np.ndarray, district: np.ndarray) -> list[tuple]:
    """The groupings the honest part may use: regions, districts (within regions), each
    when at least ``MIN_GROUPS`` of its groups hold ``GROUP_MIN`` stations; the latent
    classes when neither does. Each as (codes per station, names, kind)."""
    out = []
    for values, kind in ((region, "region"), (district, "district")):
        if values is None:
            continue
        key = np.asarray(values).astype(str)
        if kind == "district" and region is not None:
            key = np.char.add(np.char.add(np.asarray(region).astype(str), "\x1f"), key)
        names, codes = np.unique(key, return_inverse=True)
        if kind == "district" and region is not None:
            names = np.array([n.replace("\x1f", " / ") for n in names])
        named = np.array([bool(n.strip(" /")) for n in names], dtype=bool)
        sizes = np.bincount(codes, minlength=len(names))
        if ((sizes >= GROUP_MIN) & named).sum() >= MIN_GROUPS:
            out.append((codes.astype(np.int64), tuple(str(n) for n in names), kind))
    if not out:
        out.append((np.full(len(region), -1, dtype=np.int64), (), "latent"))
    return out


def choose_groups(region: np.ndarray, district: np.ndarray) -> tuple[np.ndarray, tuple, str]:
    """The first grouping of :func:`group_candidates` (regions before districts)."""
    return group_candidates(region, district)[0]


def best_grouping(candidates: list[Stations]) -> Stations:
    """Of the same stations grouped in several ways, the one whose honest-only fit has
    the lowest BIC (5 parameters per group; the shrinkage makes that an upper bound
    for small groups). Poland 2020: districts (powiats), whose blobs see the
    town-country split that one blob per voivodeship cannot."""
    if len(candidates) == 1:
        return candidates[0]
    best, best_bic = None, np.inf
    for st in candidates:
        fair = fit(st, fair=True)
        bic = -2 * fair.loglik + 5 * len(st.names) * np.log(st.n)
        if bic < best_bic:
            best, best_bic = st, bic
    return best


@dataclass
class Fit:
    params: dict  # the four fraud parameters
    blobs: Blobs  # one row per group (or latent class)
    class_weights: np.ndarray | None  # latent classes' weights
    loglik: float
    fair: bool
    iterations: int = 0
    converged: bool = True

    @property
    def k(self) -> int:
        return len(self.blobs.a)


def half_sample_mode(x: np.ndarray) -> float:
    """Bickel & Fruehwirth's half-sample mode: the midpoint of the shortest half of the
    sorted values, recursively (robust to a tail on either side)."""
    y = np.sort(np.asarray(x, dtype=float))
    while len(y) > 3:
        h = (len(y) + 1) // 2
        widths = y[h - 1 :] - y[: len(y) - h + 1]
        i = int(np.argmin(widths))
        y = y[i : i + h]
    return float(np.mean(y))


def _robust_blob(t, v, registered, ballots) -> tuple[float, float, float, float, float]:
    """A starting honest blob (logit scale) that stuffing cannot drag: the mode of logit
    turnout and share (stuffing moves stations only toward higher turnout and share)
    and spreads from the stations below the mode (1.4826 x their median distance)."""
    core = ~((t >= CORNER) & (v >= CORNER))
    if core.sum() < 10:
        core = np.ones(len(t), dtype=bool)
    tc, vc = logit(t[core]), logit(v[core])
    a, b = half_sample_mode(tc), half_sample_mode(vc)

    def left_spread(values, centre):
        below = centre - values[values <= centre]
        if len(below) < 5:
            return 1.4826 * float(np.median(np.abs(values - centre)))
        return 1.4826 * float(np.median(below))

    s_obs, r_obs = left_spread(tc, a), left_spread(vc, b)
    pt, pv = np.clip(expit(a), 0.01, 0.99), np.clip(expit(b), 0.01, 0.99)
    s = np.sqrt(max(s_obs**2 - np.mean(1 / (registered[core] * pt * (1 - pt))), MIN_SPREAD**2))
    r = np.sqrt(max(r_obs**2 - np.mean(1 / (ballots[core] * pv * (1 - pv))), MIN_SPREAD**2))
    box = (np.abs(tc - a) <= 2 * max(s_obs, 1e-6)) & (np.abs(vc - b) <= 2 * max(r_obs, 1e-6))
    rho = 0.0
    if box.sum() > 10 and tc[box].std() > 0 and vc[box].std() > 0:
        rho = float(np.clip(np.corrcoef(tc[box], vc[box])[0, 1], -MAX_RHO, MAX_RHO))
    return a, float(s), b, float(r), rho


#: the least spread of the groups' true centres (logit scale) that the shrinkage of
#: the centres assumes: when the groups' centres differ by no more than their sampling
#: noise, each centre is pulled most of the way to the pool
MIN_BETWEEN = 0.02


def _centre_pseudo_counts(centre, weight, var) -> np.ndarray:
    """Per group, the weight (in stations) of the pool in its shrunk centre: the
    empirical-Bayes ratio of the group's variance ``var`` (of its stations' logit
    points, counting noise included) to the variance of the groups' true centres,
    estimated by moments (the centres' spread less their mean sampling variance).
    Regions whose centres differ much get almost none (Russia's, the second
    generator's); districts of a few stations that differ little get much. With fewer
    than three groups of two stations, ``SHRINK``."""
    ok = weight >= 2
    if ok.sum() < 3:
        return np.full(len(centre), SHRINK)
    between = np.var(centre[ok]) - np.mean(var[ok] / weight[ok])
    return var / max(between, MIN_BETWEEN**2)


def _shrink(stats: np.ndarray, weight: np.ndarray, k: float, var_t=None, var_v=None) -> np.ndarray:
    """Shrink per-group (a, s, b, r, rho) toward the weighted pool: the (co)variances
    are averaged with the pool's at the weight of ``k`` stations; the centres likewise,
    or, given the groups' variances ``var_t`` and ``var_v``, at the empirical-Bayes
    weight of :func:`_centre_pseudo_counts`. A fixed weight for the centres cost the
    likelihood its maximum: 20 stations moved a region's centre of the second
    generator by 0.05 on the logit scale, 11 log-likelihood units below the best blob,
    and the fit made up for it with less stuffing (f_i 0.45 for a true 0.5)."""
    w = weight[:, None]
    a, s, b, r, rho = stats.T
    cov = rho * s * r
    pool = np.array(
        [
            np.sum(weight * a),
            np.sum(weight * s**2),
            np.sum(weight * b),
            np.sum(weight * r**2),
            np.sum(weight * cov),
        ]
    ) / max(weight.sum(), 1e-12)
    mine = np.stack([a, s**2, b, r**2, cov], axis=1)
    mixed = (w * mine + k * pool[None, :]) / (w + k)
    if var_t is not None:
        for col, var in ((0, var_t), (2, var_v)):
            kc = _centre_pseudo_counts(mine[:, col], weight, np.asarray(var, dtype=float))
            mixed[:, col] = (weight * mine[:, col] + kc * pool[col]) / (weight + kc)
    s2 = np.sqrt(np.maximum(mixed[:, 1], MIN_SPREAD**2))
    r2 = np.sqrt(np.maximum(mixed[:, 3], MIN_SPREAD**2))
    rho2 = np.clip(mixed[:, 4] / (s2 * r2), -MAX_RHO, MAX_RHO)
    return np.stack([mixed[:, 0], s2, mixed[:, 2], r2, rho2], axis=1)


def _blobs_from(stats: np.ndarray) -> Blobs:
    """Blobs from rows of (a, s, b, r, rho), centres kept out of the corner: an honest
    blob never centres where turnout and leader share both exceed ``CORNER`` (90%);
    a centre that lands there moves to the nearer edge of the corner. Without this
    rule a region whose every station reports 99% turnout for the leader gets an
    honest blob of its own there, and the corner, which is extreme stuffing or special
    stations, would count as nothing (Russia 2011: f_e 0.003 against 3.2% of stations
    at >= 95% turnout and share)."""
    stats = np.asarray(stats, dtype=float)
    a = np.clip(stats[:, 0], -7.0, 7.0)
    b = np.clip(stats[:, 2], -7.0, 7.0)
    edge = float(logit(CORNER))
    inside = (a > edge) & (b > edge)
    turnout_nearer = inside & (a - edge <= b - edge)
    a = np.where(turnout_nearer, edge, a)
    b = np.where(inside & ~turnout_nearer, edge, b)
    spread_t = np.minimum(stats[:, 1], MAX_SPREAD)
    spread_v = np.minimum(stats[:, 3], MAX_SPREAD)
    rho = np.clip(stats[:, 4], -MAX_RHO, MAX_RHO_POSITIVE)
    return _corner_capped(Blobs(a, spread_t, b, spread_v, rho))


#: the most an honest blob may put at >= 95% turnout and >= 95% leader share (true
#: values, before counting noise). Honest files stay far below: Poland 2020's 382
#: district blobs at most 1e-9, Canada 2011's classes 1e-16. Without the cap, Russia
#: 2021's honest blobs of Tatarstan, Bashkortostan, Dagestan, Chechnya and Tuva put
#: 2-21% of their stations there and "explained" 285 of the 587 corner stations.
CORNER_MASS_CAP = 1e-3
_CORNER_95 = float(logit(0.95))


def _corner_mass(a, s, b, r, rho) -> np.ndarray:
    from kzvote.methods.klimek import corner_probability

    inf = np.full(len(a), np.inf)
    return corner_probability(Blobs(a, s, b, r, rho), inf, inf)


def _corner_capped(blobs: Blobs) -> Blobs:
    """Blobs whose corner mass exceeds ``CORNER_MASS_CAP`` move down and left (both
    centres by the same amount on the logit scale, found by bisection) until it is met."""
    mass = _corner_mass(blobs.a, blobs.s, blobs.b, blobs.r, blobs.rho)
    over = mass > CORNER_MASS_CAP
    if not over.any():
        return blobs
    idx = np.flatnonzero(over)
    a, s, b, r, rho = (x[idx] for x in (blobs.a, blobs.s, blobs.b, blobs.r, blobs.rho))
    lo = np.zeros(len(idx))
    hi = np.maximum(a, b) - _CORNER_95 + 4 * np.maximum(s, r) + 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        high = _corner_mass(a - mid, s, b - mid, r, rho) > CORNER_MASS_CAP
        lo = np.where(high, mid, lo)
        hi = np.where(high, hi, mid)
    new_a, new_b = blobs.a.copy(), blobs.b.copy()
    new_a[idx] -= hi
    new_b[idx] -= hi
    return Blobs(new_a, blobs.s, new_b, blobs.r, blobs.rho)


def _low_blob(t, v, registered, ballots):
    """A starting blob from the lower quantiles (10% and 25%) of logit turnout and
    share, read as those of a normal: the side that stuffing empties, not fills."""
    a0, s0, b0, r0, rho = _robust_blob(t, v, registered, ballots)
    out = []
    for x in (logit(t), logit(v)):
        q10, q25 = np.quantile(x, [0.10, 0.25])
        sd = max((q25 - q10) / (1.2816 - 0.6745), MIN_SPREAD)
        out += [q25 + 0.6745 * sd, sd]
    return out[0], min(out[1], s0 * 2), out[2], min(out[3], r0 * 2), rho


def _mean_noise(rows, weight, inv_count, k: int, centre) -> np.ndarray:
    """Per group, the weighted mean variance of the counting noise on the logit scale,
    ``1 / (N p (1 - p))`` with ``p`` the group's centre (kept within 1-99%)."""
    p = np.clip(expit(centre), 0.01, 0.99)
    total = np.maximum(np.bincount(rows, weights=weight, minlength=k), 1e-12)
    return np.bincount(rows, weights=weight * inv_count, minlength=k) / total / (p * (1 - p))


def initial_blobs(
    st: Stations, k_latent: int = 1, low: bool = False
) -> tuple[Blobs, np.ndarray | None]:
    """Robust starting blobs, per group (shrunk), or for ``k_latent`` latent classes
    (stations split by leader share into equal-count slices). ``low``: from the lower
    quantiles (:func:`_low_blob`)."""
    robust = _low_blob if low else _robust_blob
    t, v, n_reg, n_bal = st.turnout, st.share, st.registered, st.ballots
    if st.kind != "latent":
        g = st.group
        count = np.bincount(g, minlength=len(st.names)).astype(float)
        overall = robust(t, v, n_reg, n_bal)
        stats = np.tile(np.array(overall), (len(st.names), 1))
        for code in np.flatnonzero(count >= 10):
            m = g == code
            stats[code] = robust(t[m], v[m], n_reg[m], n_bal[m])
        # the groups' variances for the centres' shrinkage: spread plus mean noise
        ones = np.ones(st.n)
        var_t = stats[:, 1] ** 2 + _mean_noise(g, ones, 1 / n_reg, len(count), stats[:, 0])
        var_v = stats[:, 3] ** 2 + _mean_noise(g, ones, 1 / n_bal, len(count), stats[:, 2])
        return _blobs_from(_shrink(stats, count, SHRINK, var_t, var_v)), None
    order = np.argsort(v, kind="stable")
    parts = np.array_split(order, k_latent)
    stats = np.array([robust(t[p], v[p], n_reg[p], n_bal[p]) for p in parts])
    return _blobs_from(stats), np.full(k_latent, 1 / k_latent)


# --- the likelihood ----------------------------------------------------------------


class _Layout:
    """Per (block, station) the blob row: one block when groups are known, one block
    per latent class otherwise."""

    def __init__(self, st: Stations, k: int):
        self.k_blocks = 1 if st.kind != "latent" else k
        if st.kind != "latent":
            self.rows = st.group[None, :]
        else:
            self.rows = np.repeat(np.arange(k)[:, None], st.n, axis=1)


def _tiled(st: Stations, blobs: Blobs, layout: _Layout):
    """Each station's observed point and counts repeated once per block, with its blob
    row in that block: (turnout, share, registered, ballots, invalid, blob)."""
    reps = layout.rows.shape[0]
    q = st.invalid if st.invalid is not None else np.zeros(st.n)
    columns = (st.turnout, st.share, st.registered, st.ballots, q)
    if reps > 1:
        columns = tuple(np.tile(x, reps) for x in columns)
    return (*columns, blobs.take(layout.rows.ravel()))


def _fraud_part(st: Stations, blobs: Blobs, layout: _Layout, theta, alpha: float) -> np.ndarray:
    """log density (blocks, stations) of one fraud part: ``theta`` None is the extreme
    part (which does not depend on theta)."""
    t, v, n_reg, n_bal, q, blob = _tiled(st, blobs, layout)
    return fraud_logpdf(t, v, blob, n_reg, n_bal, theta, alpha, q).reshape(layout.rows.shape)


def _component_logs(
    st: Stations, blobs: Blobs, layout: _Layout, p: dict, fair: bool, extra, nodes=None
):
    """log densities (blocks, stations) of the honest, incremental and extreme parts;
    ``extra`` True: with the fraud parts' posterior moments of the clean logit point and
    their theta/alpha derivatives, as ((moments inc, moments ext), (d theta inc,
    d alpha inc, d alpha ext)) (one pass of the EM). ``nodes``: another quadrature rule
    for the fraud parts (:func:`quadrature_check`)."""
    shape = layout.rows.shape
    t, v, n_reg, n_bal, q, blob = _tiled(st, blobs, layout)
    lh = honest_logpdf(t, v, blob, n_reg, n_bal).reshape(shape)
    if fair:
        return lh, None, None, None
    kw = {"moments": True, "gradient": True} if extra else {}
    kw["nodes"] = nodes
    inc = fraud_logpdf(t, v, blob, n_reg, n_bal, p["theta"], p["alpha"], q, **kw)
    ext = fraud_logpdf(t, v, blob, n_reg, n_bal, None, p["alpha"], q, **kw)
    if not extra:
        return lh, inc.reshape(shape), ext.reshape(shape), None
    inc = [x.reshape(shape) for x in inc]
    ext = [x.reshape(shape) for x in ext]
    return lh, inc[0], ext[0], ((inc[3:], ext[3:]), (inc[1], inc[2], ext[2]))


#: weight of the "unexplained" part: a uniform density on the unit square. A station
#: neither part can produce (e.g. 99.9% turnout with 96% for the leader and few invalid
#: ballots) would otherwise have a log-likelihood that jumps by tens of units as a blob
#: moves by a hair, and the EM would oscillate; with it such a station costs at most
#: log(1/OUTLIER) and pulls on nothing.
OUTLIER = 1e-3


def _mixture(lh, li, le, p: dict, log_class: np.ndarray, fair: bool):
    """Per station log-likelihood and the responsibilities (blocks, stations, 3) of
    the honest, incremental and extreme parts (the unexplained part's is the rest)."""
    if fair:
        parts = lh[..., None]
        log_w = np.zeros(1)
    else:
        f_i, f_e = p["f_incremental"], p["f_extreme"]
        log_w = np.log(np.maximum([1 - f_i - f_e, f_i, f_e], 1e-300))
        parts = np.stack([lh, li, le], axis=-1)
    joint = parts + log_w[None, None, :] + log_class[:, None, None] + np.log1p(-OUTLIER)
    log_out = np.log(OUTLIER)
    peak = np.maximum(np.max(joint, axis=(0, 2)), log_out)
    total = np.exp(joint - peak[None, :, None]).sum(axis=(0, 2)) + np.exp(log_out - peak)
    station = np.log(total) + peak
    resp = np.nan_to_num(np.exp(joint - station[None, :, None]))
    if fair:
        resp = np.concatenate([resp, np.zeros(resp.shape[:2] + (2,))], axis=-1)
    return station, resp


def _update_blobs(st: Stations, layout: _Layout, resp: np.ndarray, extra, k: int) -> Blobs:
    """The EM's blob step: per group, the posterior-weighted moments of the clean logit
    points (observed for the honest part; the fraud parts' posterior moments from the
    quadrature, ``extra``), counting noise removed, shrunk toward the pool.
    ``resp``: (blocks, stations, components)."""
    rows = layout.rows.ravel()
    lt = np.tile(logit(st.turnout), layout.k_blocks)
    lv = np.tile(logit(st.share), layout.k_blocks)
    inv_n = np.tile(1 / st.registered, layout.k_blocks)
    inv_m = np.tile(1 / st.ballots, layout.k_blocks)
    wh = resp[..., 0].ravel()
    sums = [wh, wh * lt, wh * lv, wh * lt**2, wh * lv**2, wh * lt * lv]
    if extra is not None:
        for c, part in zip((1, 2), extra, strict=True):
            wc = resp[..., c].ravel()
            m = [x.ravel() for x in part]
            sums[0] = sums[0] + wc
            for j in range(5):
                sums[j + 1] = sums[j + 1] + wc * np.nan_to_num(m[j])
    w = sums[0]
    tot = [np.bincount(rows, weights=x, minlength=k) for x in sums]
    sw = tot[0]
    safe = np.maximum(sw, 1e-12)
    a, b = tot[1] / safe, tot[2] / safe
    var_t = tot[3] / safe - a**2
    var_v = tot[4] / safe - b**2
    cov = tot[5] / safe - a * b
    s = np.sqrt(np.maximum(var_t - _mean_noise(rows, w, inv_n, k, a), MIN_SPREAD**2))
    r = np.sqrt(np.maximum(var_v - _mean_noise(rows, w, inv_m, k, b), MIN_SPREAD**2))
    rho = np.clip(cov / (s * r), -MAX_RHO, MAX_RHO)
    stats = np.stack([a, s, b, r, rho], axis=1)
    shrink = SHRINK if st.kind != "latent" else 0.0
    empty = sw < 1e-9
    if empty.any() and (~empty).any():
        stats[empty] = np.average(stats[~empty], axis=0, weights=sw[~empty])
    if not shrink:
        return _blobs_from(stats)
    return _blobs_from(_shrink(stats, sw, shrink, np.maximum(var_t, 0), np.maximum(var_v, 0)))


def _marginal(x: np.ndarray, log_class: np.ndarray) -> np.ndarray:
    """Per station, a part's log density summed over the blocks (latent classes with
    their weights; one block when the groups are known)."""
    return _logsumexp(x + log_class[:, None])


def _weights_step(lh, li, le, log_class, p: dict, hold: dict) -> dict:
    """The mixture weights f_i, f_e that maximise the likelihood with every density held
    (:class:`_Weights`: concave, a few Newton steps, no density evaluated); a weight in
    ``hold`` keeps its value."""
    weights = _Weights(_marginal(lh, log_class), _marginal(li, log_class), _marginal(le, log_class))
    f_i, f_e, _ = weights.best(
        f_i=hold.get("f_incremental"),
        f_e=hold.get("f_extreme"),
        start=(max(p["f_incremental"], 1e-3), max(p["f_extreme"], 1e-4)),
    )
    return dict(p, f_incremental=f_i, f_extreme=f_e)


#: largest move of theta and alpha in one EM iteration (halved after a drop)
SHAPE_RADIUS = {"theta": 0.08, "alpha": 3.0}


def _shape_step(resp, grads, p: dict, radius: float, hold: dict, memory: dict) -> dict:
    """One damped Newton step in (theta, alpha) from the stations' scores: the
    likelihood's gradient is the responsibility-weighted derivative of each part's log
    density, and its curvature is estimated by the scores' outer product (Berndt, Hall,
    Hall & Hausman 1974). That estimate is the curvature only when the model is true;
    on real files it is many times larger, and the steps crept (Russia 2011: alpha
    2.36 after the EM, 2.75 at the maximum the profile then found, 87 units higher). So
    where the gradient kept its sign since the last step, a parameter's step is
    lengthened to the secant's Newton step (the change of its gradient over its last
    move, from ``memory``), or doubled where that shows no curvature. A parameter at
    its bound whose gradient points outward stays; each move is at most ``radius``
    times :data:`SHAPE_RADIUS`; a parameter in ``hold`` keeps its value."""
    dti, dai, dae = grads
    score_t = (resp[..., 1] * dti).sum(axis=0)
    score_a = (resp[..., 1] * dai).sum(axis=0) + (resp[..., 2] * dae).sum(axis=0)
    scores = np.stack([score_t, score_a], axis=1)
    g = scores.sum(axis=0)
    info = scores.T @ scores
    names = ("theta", "alpha")
    x = np.array([p["theta"], p["alpha"]])
    lo = np.array([BOUNDS[n][0] for n in names])
    hi = np.array([BOUNDS[n][1] for n in names])
    free = ~(((x <= lo + 1e-9) & (g < 0)) | ((x >= hi - 1e-9) & (g > 0)))
    free &= np.diag(info) > 0
    free &= np.array([n not in hold for n in names])
    step = np.zeros(2)
    if free.any():
        idx = np.flatnonzero(free)
        sub = info[np.ix_(idx, idx)]
        sub = sub + 1e-6 * np.diag(np.diag(sub)) + 1e-12 * np.eye(len(idx))
        step[idx] = np.linalg.solve(sub, g[idx])
    if "x" in memory:
        moved = x - memory["x"]
        for j in np.flatnonzero(free):
            # still climbing the same way: the gradient, the last move and the step agree
            same = {np.sign(g[j]), np.sign(memory["g"][j]), np.sign(moved[j]), np.sign(step[j])}
            if abs(moved[j]) < 1e-9 or len(same) != 1:
                continue
            curvature = (memory["g"][j] - g[j]) / moved[j]
            longer = g[j] / curvature if curvature > 0 else 2 * moved[j]
            if abs(longer) > abs(step[j]):
                step[j] = longer
    memory["x"], memory["g"] = x.copy(), g.copy()
    cap = radius * np.array([SHAPE_RADIUS[n] for n in names])
    scale = np.max(np.abs(step) / cap)
    if scale > 1:
        step = step / scale
    x = np.clip(x + step, lo, hi)
    return dict(p, theta=float(x[0]), alpha=float(x[1]))


def loglik(st: Stations, fit_: Fit, nodes=None) -> float:
    layout = _Layout(st, fit_.k)
    log_class = _log_class(fit_.class_weights, layout)
    p = fit_.params
    lh, li, le, _ = _component_logs(st, fit_.blobs, layout, p, fit_.fair, False, nodes)
    station, _ = _mixture(lh, li, le, p, log_class, fit_.fair)
    return float(station.sum())


#: a fit whose log-likelihood moves by more than this when the quadrature nodes are
#: doubled, at the estimate or between it and its alpha neighbours, carries the warning
#: that its intervals and ratio are uncertain by as much
QUADRATURE_WARN = 0.5
#: the alpha neighbours of the check: the profile's nearest multiples (``NEAR``)
QUADRATURE_ALPHA = (0.93, 1.07)


def quadrature_check(st: Stations, fit_: Fit) -> dict:
    """How much the fitted log-likelihood moves when the fraud parts' quadrature nodes
    are doubled (:data:`kzvote.methods.klimek.RULE`), at the estimate and at alpha times
    0.93 and 1.07 (the spread of the changes is what an interval's 1.92 cut feels).
    With nodes spread over the window this caught a real error: on Russia 2011 that
    rule was 0.8 units from a 1,500-node reference at one estimate and its error spread
    over 3.9 units along the alpha profile (``benchmarks/bench_quadrature.py``); the
    graded rule's nodes follow the integrand's peak at the support's edge. Costs ten
    evaluations of a fraud part's density (twice the nodes at three points, the
    production rule at the two neighbours)."""
    from kzvote.methods import klimek as K

    doubled = K.RULE.doubled()
    lo, hi = BOUNDS["alpha"]
    changes = []
    for m in (1.0, *QUADRATURE_ALPHA):
        alpha = float(np.clip(fit_.params["alpha"] * m, lo, hi))
        at = Fit(dict(fit_.params, alpha=alpha), fit_.blobs, fit_.class_weights, 0.0, False)
        # at the estimate the EM's value is the production rule's
        used = fit_.loglik if m == 1.0 else loglik(st, at)
        changes.append(loglik(st, at, nodes=doubled) - used)
    return {
        "rule": "graded" if K.RULE.graded else "window",
        "nodes": 2 * K.RULE.nodes if K.RULE.graded else K.RULE.nodes,
        "doubled": 2 * doubled.nodes if doubled.graded else doubled.nodes,
        "loglik_difference": float(changes[0]),
        "alpha_multiples": [1.0, *QUADRATURE_ALPHA],
        "differences": [float(c) for c in changes],
        "spread": float(max(changes) - min(changes)),
    }


def _log_class(weights, layout: _Layout) -> np.ndarray:
    if weights is None:
        return np.zeros(layout.k_blocks)
    return np.log(np.maximum(weights, 1e-300))


#: EM iterations of each start before the best is continued
SCREEN = 3
START = {"f_incremental": 0.05, "f_extreme": 0.005, "theta": 0.15, "alpha": 2.0}
NO_FRAUD = {"f_incremental": 0.0, "f_extreme": 0.0, "theta": START["theta"], "alpha": 2.0}
START_LOW = {"f_incremental": 0.3, "f_extreme": 0.01, "theta": 0.2, "alpha": 2.0}


def fit(
    st: Stations,
    *,
    fair: bool,
    start: Fit | None = None,
    k_latent: int = 1,
    low: bool = False,
    max_iter: int = 60,
    tol: float = 0.02,
    hold: dict | None = None,
) -> Fit:
    """Fit the model (``fair``: the honest part only) by the EM scheme of the module.

    Each iteration evaluates every density once at the current parameters (with the
    fraud parts' derivatives and posterior moments), then: the mixture weights are
    maximised with the densities held (:func:`_weights_step`), which gives the
    likelihood of this iteration; theta and alpha take one damped Newton step
    (:func:`_shape_step`); the blobs are re-estimated from the posterior moments. The
    honest blobs' limits (shrinkage, spreads, the corner rule) make the scheme not quite
    monotone, so the best state evaluated is returned; the iterations stop when the
    likelihood moves by less than ``tol``, or after its third drop. ``hold``: fraud
    parameters kept at the given values (the profile likelihood's constrained fits)."""
    if start is not None:
        blobs, weights = start.blobs, start.class_weights
        p = dict(start.params) if not start.fair else dict(START)
    else:
        blobs, weights = initial_blobs(st, k_latent, low)
        p = dict(START_LOW if low else START)
    if fair:
        p = dict(NO_FRAUD)
    hold = dict(hold or {})
    p.update(hold)
    k = len(blobs.a)
    layout = _Layout(st, k)
    previous = -np.inf
    best = None
    converged = False
    radius, drops = 1.0, 0
    memory: dict = {}
    it = 0
    for it in range(1, max_iter + 1):
        log_class = _log_class(weights, layout)
        lh, li, le, extra = _component_logs(st, blobs, layout, p, fair, True)
        if not fair:
            p = _weights_step(lh, li, le, log_class, p, hold)
        station, resp = _mixture(lh, li, le, p, log_class, fair)
        current = float(station.sum())
        if best is None or current > best.loglik:
            best = Fit(dict(p), blobs, weights, current, fair, iterations=it)
        gain = current - previous
        if it > 2 and abs(gain) < tol:
            converged = True
            break
        if gain < -tol:
            drops += 1
            radius *= 0.5
            if drops >= 3:
                converged = True
                break
        previous = current
        moments, grads = (None, None) if fair else extra
        if not fair:
            p = _shape_step(resp, grads, p, radius, hold, memory)
        blobs = _update_blobs(st, layout, resp, moments, k)
        if weights is not None:
            weights = resp.sum(axis=(1, 2)) / st.n
    best.iterations, best.converged = it, converged
    return best


def fit_pair(st: Stations) -> tuple[Fit, Fit]:
    """The honest-only fit and the fit with the fraud part (the latter never below the
    former: the fraud model nests the honest one). For latent groups the number of
    classes (1 to 3) is the one with the lowest BIC of the honest-only model."""
    if st.kind != "latent":
        fair = fit(st, fair=True)
        # three starts, each run for SCREEN iterations and the best continued: the
        # robust blobs (modes and lower spreads, which stuffing cannot drag), the lower
        # quantiles with much stuffing, and the fair fit's blobs (which have widened to
        # cover any stuffed stations). On the second generator and the sample file the
        # three ended within 1 log-likelihood unit of each other, and the best after
        # SCREEN iterations was within 1 unit of the best at convergence.
        starts = [
            fit(st, fair=False, max_iter=SCREEN),
            fit(st, fair=False, low=True, max_iter=SCREEN),
            fit(st, fair=False, start=fair, max_iter=SCREEN),
        ]
        best = max(starts, key=lambda f: f.loglik)
        fraud = best if best.converged else fit(st, fair=False, start=best)
        return fair, _at_least(fraud, fair)
    # latent classes: their number is the honest part's, chosen by the fair fits' BIC
    # (cheap: no fraud part); the full model is fitted once, with that many classes.
    # Fitting the full model for each number of classes took 350 s on Canada 2011.
    best = None
    for k in range(1, MAX_LATENT + 1):
        if st.n < 200 * k:
            break
        fair_k = fit(st, fair=True, k_latent=k)
        bic = -2 * fair_k.loglik + (6 * k - 1) * np.log(st.n)
        if best is None or bic < best[0]:
            best = (bic, fair_k, k)
    _, fair, k = best
    starts = [
        fit(st, fair=False, k_latent=k, max_iter=SCREEN),
        fit(st, fair=False, start=fair, max_iter=SCREEN),
    ]
    top = max(starts, key=lambda f: f.loglik)
    fraud = top if top.converged else fit(st, fair=False, start=top)
    return fair, _at_least(fraud, fair)


def _at_least(fraud: Fit, fair: Fit) -> Fit:
    if fraud.loglik >= fair.loglik:
        return fraud
    return Fit(
        dict(NO_FRAUD),
        fair.blobs,
        fair.class_weights,
        fair.loglik,
        False,
        fair.iterations,
        fair.converged,
    )


# --- intervals: the profile likelihood in the mixture weights -------------------------

#: grids over which the profile re-maximises theta and alpha (with the estimate added)
THETA_GRID = (0.05, 0.07, 0.1, 0.14, 0.2, 0.25, 0.3)
ALPHA_GRID = (0.5, 1.0, 1.5, 2.5, 4.0, 7.0, 10.0)
#: multiples of an estimate added to each grid (the profile is sharp near it)
NEAR = np.array([0.6, 0.8, 0.93, 1.0, 1.07, 1.25, 1.6])
#: half the 95% point of a chi-square with 1 df
HALF_CHI2_95 = 1.920729


class _Weights:
    """The log-likelihood as a function of (f_i, f_e) with every density fixed: the
    blobs of the fit and one (theta, alpha). Densities are scaled per station by the
    largest part, so the function and its derivatives are exact and cheap."""

    def __init__(self, log_h, log_i, log_e):
        log_o = np.log(OUTLIER)
        peak = np.maximum(np.maximum(log_h, log_i), np.maximum(log_e, log_o))
        keep = np.log1p(-OUTLIER)
        self.h = np.exp(log_h + keep - peak)
        self.di = np.exp(log_i + keep - peak) - self.h
        self.de = np.exp(log_e + keep - peak) - self.h
        self.o = np.exp(log_o - peak)
        self.offset = float(peak.sum())

    def loglik(self, f_i, f_e) -> float:
        mix = self.h + f_i * self.di + f_e * self.de + self.o
        return float(np.log(np.maximum(mix, 1e-300)).sum()) + self.offset

    def best(self, f_i=None, f_e=None, start=(0.01, 0.001)) -> tuple[float, float, float]:
        """Maximise over the free weights (a fixed one is given) inside their bounds and
        f_i + f_e <= 0.999: Newton steps on the weights not held at a bound by their
        gradient, each cut where it would leave the feasible set, with halving (the
        function is concave in the weights, so this reaches the constrained maximum)."""
        upper = np.array([BOUNDS["f_incremental"][1], BOUNDS["f_extreme"][1]])
        x = np.array([start[0] if f_i is None else f_i, start[1] if f_e is None else f_e])
        free = np.array([f_i is None, f_e is None])
        x[free] = np.clip(x[free], 0.0, upper[free])
        if x.sum() > SUM_MAX:
            x[free] = x[free] * max(SUM_MAX - x[~free].sum(), 0.0) / max(x[free].sum(), 1e-300)
        current = self.loglik(*x)
        for _ in range(100):
            mix = np.maximum(self.h + x[0] * self.di + x[1] * self.de + self.o, 1e-300)
            gi, ge = self.di / mix, self.de / mix
            g = np.array([gi.sum(), ge.sum()])
            hess = -np.array(
                [[(gi * gi).sum(), (gi * ge).sum()], [(gi * ge).sum(), (ge * ge).sum()]]
            )
            pushed_out = ((x <= 0) & (g <= 0)) | ((x >= upper) & (g >= 0))
            act = free & ~pushed_out
            if not act.any():
                break
            idx = np.flatnonzero(act)
            d = np.zeros(2)
            sub = hess[np.ix_(idx, idx)] - 1e-9 * np.eye(len(idx))
            d[idx] = -np.linalg.solve(sub, g[idx])
            if g @ d <= 0:  # not an ascent direction (numerically flat): follow the gradient
                d = np.where(act, g, 0.0) / max(np.abs(g[act]).max(), 1e-300) * 1e-3
            reach = 1.0
            for i in idx:
                if d[i] < 0:
                    reach = min(reach, -x[i] / d[i])
                elif d[i] > 0:
                    reach = min(reach, (upper[i] - x[i]) / d[i])
            if d.sum() > 0:
                reach = min(reach, max(SUM_MAX - x.sum(), 0.0) / d.sum())
            step, moved = reach, False
            for _ in range(40):
                cand = np.clip(x + step * d, 0.0, upper)
                value = self.loglik(*cand)
                if value >= current:
                    moved = np.abs(cand - x).max() > 1e-12 and value > current + 1e-10
                    x, current = cand, value
                    break
                step /= 2
            if not moved:
                break
        return float(x[0]), float(x[1]), current


#: the stuffed parts' weights together stay below this (an honest part must remain)
SUM_MAX = 0.999


def profile_intervals(st: Stations, fit_: Fit) -> dict:
    """95% intervals of f_i, f_e, theta and alpha from the profile likelihood with the
    honest blobs held at the fit's: for each (theta, alpha) on ``THETA_GRID`` at the
    fitted alpha and on ``ALPHA_GRID`` at the fitted theta, the weights are re-fitted;
    an interval holds the values whose profile log-likelihood lies within 1.92 of the
    maximum (interpolated between grid points). Holding the blobs fixed makes the
    intervals too narrow where blobs and stuffing trade off; ``benchmarks/bench_klimek.py``
    measures their coverage. Returns the intervals and which ends reach a bound."""
    p = fit_.params
    theta0, alpha0 = p["theta"], p["alpha"]
    lo_t, hi_t = BOUNDS["theta"]
    lo_a, hi_a = BOUNDS["alpha"]
    thetas = sorted(set(THETA_GRID) | {float(x) for x in np.clip(theta0 * NEAR, lo_t, hi_t)})
    alphas = sorted(set(ALPHA_GRID) | {float(x) for x in np.clip(alpha0 * NEAR, lo_a, hi_a)})
    layout = _Layout(st, fit_.k)
    log_class = _log_class(fit_.class_weights, layout)
    lh, _, _, _ = _component_logs(st, fit_.blobs, layout, p, True, False)
    honest = _marginal(lh, log_class)
    cache, extreme = {}, {}

    def weights(theta, alpha) -> _Weights:
        key = (theta, alpha)
        if key not in cache:
            if alpha not in extreme:  # the extreme part does not depend on theta
                le = _fraud_part(st, fit_.blobs, layout, None, alpha)
                extreme[alpha] = _marginal(le, log_class)
            li = _fraud_part(st, fit_.blobs, layout, theta, alpha)
            cache[key] = _Weights(honest, _marginal(li, log_class), extreme[alpha])
        return cache[key]

    sets = [(t, alpha0) for t in thetas] + [(theta0, a) for a in alphas if a != alpha0]
    start = (p["f_incremental"], p["f_extreme"])
    best_at = {key: weights(*key).best(start=start) for key in sets}
    top = max(v[2] for v in best_at.values())
    out: dict = {}
    out["theta"] = _grid_interval(thetas, [best_at[(t, alpha0)][2] for t in thetas], top)
    out["alpha"] = _grid_interval(alphas, [best_at[(theta0, a)][2] for a in alphas], top)
    for name, which in (("f_incremental", 0), ("f_extreme", 1)):
        hat = p[name]
        ladder = F_LADDER[name]
        grid = np.unique(np.concatenate([ladder, hat * NEAR]))
        grid = grid[grid <= BOUNDS[name][1]]
        # a (theta, alpha) whose best is below the cut cannot lift the profile above it
        useful = [key for key in sets if best_at[key][2] >= top - HALF_CHI2_95]
        prof = []
        for value in grid:
            fixed = {"f_i": value} if which == 0 else {"f_e": value}
            prof.append(max(weights(*key).best(**fixed)[2] for key in useful))
        out[name] = _grid_interval(grid, prof, top)
    for name in FRAUD:
        out[name]["method"] = "profile, blobs held"
    key = max(best_at, key=lambda k: best_at[k][2])
    f_i, f_e, value = best_at[key]
    out["best"] = {
        "params": {"f_incremental": f_i, "f_extreme": f_e, "theta": key[0], "alpha": key[1]},
        "loglik": value,
    }
    return out


#: how many times the EM may be restarted from a better point its intervals found, and
#: the gain that calls for a restart (a smaller one moves no interval end across the
#: 1.92 cut; at 0.1, Poland 2020 round 2 spent two 10 s restarts on +0.75 and +0.18)
RESTARTS = 6
RESTART_GAIN = 0.5


def fit_with_intervals(st: Stations, fraud: Fit, fair: Fit) -> tuple[Fit, dict]:
    """The full fit and its intervals: theta and alpha from the profile with the blobs
    held (:func:`profile_intervals`), f_i and f_e from the profile with the blobs
    re-fitted (:func:`refitted_interval`). Where either profile finds a higher
    likelihood than the EM's end point (Canada 2011's latent classes: alpha 1.1 against
    a profile maximum near 10; Poland 2020 round 2: a constrained fit 23 units above
    the EM's end), the EM is restarted there and the intervals recomputed. Each
    restart begins at the better point, so the likelihood rises by more than
    :data:`RESTART_GAIN` per restart. After :data:`RESTARTS` of them the profile's
    best point itself is taken as the estimate when it is higher, so the estimate is
    the maximum its held-blob intervals are drawn around (the result warns if a
    re-fitted interval still misses it)."""
    for _ in range(RESTARTS):
        ci = profile_intervals(st, fraud)
        if ci["best"]["loglik"] > fraud.loglik + RESTART_GAIN:
            restart = _profile_best(fraud, ci)
        else:
            restart = _refit_weight_intervals(st, fraud, ci, stop_above=fraud.loglik + RESTART_GAIN)
            if restart is None:
                return fraud, ci
        # the EM's first state is the restart point with its weights re-maximised, and
        # it returns the best state it saw: never below the restart
        fraud = _at_least(fit(st, fair=False, start=restart), fair)
    # the restarts did not settle (the EM creeps along a ridge): the profile's best
    # point, if it is higher, and the intervals around it
    ci = profile_intervals(st, fraud)
    if ci["best"]["loglik"] > fraud.loglik + RESTART_GAIN:
        fraud = _profile_best(fraud, ci)
        ci = profile_intervals(st, fraud)
    _refit_weight_intervals(st, fraud, ci)
    return fraud, ci


def _profile_best(fraud: Fit, ci: dict) -> Fit:
    """The held-blob profile's best point as a fit (its blobs are the fit's)."""
    best = ci["best"]
    return Fit(
        dict(best["params"]), fraud.blobs, fraud.class_weights, best["loglik"], False,
        fraud.iterations, False,
    )  # fmt: skip


def _refit_weight_intervals(st: Stations, fraud: Fit, ci: dict, stop_above=np.inf):
    """Replace the held-blob intervals of f_i and f_e in ``ci`` by the re-fitted ones
    (the held ends kept under "held"). A constrained fit whose likelihood exceeds
    ``stop_above`` ends the work and is returned (the EM restarts from it)."""
    for name in ("f_incremental", "f_extreme"):
        held = ci[name]
        ci[name] = refitted_interval(st, fraud, name, held)
        ci[name]["held"] = [held["low"], held["high"]]
        found = ci[name].pop("best_fit")
        if found is not None and found.loglik > stop_above:
            return found
    return None


#: EM iterations of each constrained fit of the re-fitted profile (warm started from the
#: previous one) and the gain at which it stops. Eight iterations (the old value) left
#: the profile of the second generator's 50% stuffing 11-15 units too low at f_i 0.4-0.5
#: (converged fits: within 1.3 units of the top), so its intervals missed the truth
PROFILE_ITER = 40
PROFILE_TOL = 0.01
#: constrained fits per end of an interval before the search gives up (open end)
PROFILE_EVALS = 6
#: smallest outward step of the profile search, per weight
PROFILE_STEP = {"f_incremental": 0.005, "f_extreme": 0.0005}


def _crossing(points: list[tuple[float, float]], cut: float) -> float:
    """Where the profile crosses ``cut`` between its last point inside and the first
    outside: the parabola through the last three points when it crosses once there,
    else the straight line between the two."""
    (v1, p1), (v2, p2) = points[-2], points[-1]
    linear = v1 + (p1 - cut) / (p1 - p2) * (v2 - v1) if p1 > p2 else v2
    if len(points) >= 3:
        xs = np.array([q[0] for q in points[-3:]])
        ys = np.array([q[1] for q in points[-3:]])
        if len(set(xs)) == 3:
            coef = np.polyfit(xs, ys - cut, 2)
            roots = np.roots(coef)
            lo, hi = min(v1, v2), max(v1, v2)
            real = [float(r.real) for r in roots if abs(r.imag) < 1e-12 and lo <= r.real <= hi]
            if len(real) == 1:
                return real[0]
    return float(linear)


def refitted_interval(st: Stations, fit_: Fit, name: str, held: dict) -> dict:
    """The 95% interval of a weight (f_i or f_e) from the profile likelihood with the
    honest blobs re-fitted: each end is searched outward from the held-blob interval's
    end (:func:`profile_intervals`, inside the true profile's interval since re-fitting
    can only raise the profile) by constrained fits (:func:`fit` with ``hold``), the
    distance from the estimate doubling until the profile falls below the cut; the
    crossing is interpolated. An end that reaches the parameter's bound, or that the
    search does not close in ``PROFILE_EVALS`` fits, is flagged at_bound / open."""
    hat = fit_.params[name]
    lo_b, hi_b = BOUNDS[name]
    top = fit_.loglik
    cut = top - HALF_CHI2_95
    out = {"method": "profile, blobs re-fitted"}
    best = None
    for side, sign in (("low", -1.0), ("high", 1.0)):
        bound = lo_b if sign < 0 else hi_b
        v = float(held[side])
        if abs(v - hat) < PROFILE_STEP[name]:
            v = hat + sign * PROFILE_STEP[name]
        v = float(np.clip(v, lo_b, hi_b))
        points = [(hat, top)]
        start, end, closed, at_bound = fit_, None, False, False
        for _ in range(PROFILE_EVALS):
            if (v - hat) * sign <= 0:  # the estimate sits on this bound
                end, closed, at_bound = bound, True, True
                break
            con = fit(
                st, fair=False, start=start, hold={name: v}, max_iter=PROFILE_ITER,
                tol=PROFILE_TOL,
            )  # fmt: skip
            points.append((v, con.loglik))
            if best is None or con.loglik > best.loglik:
                best = con
            if con.loglik < cut:
                end, closed = _crossing(points, cut), True
                break
            start = con
            if v == bound:
                end, closed, at_bound = bound, True, True
                break
            v = float(np.clip(hat + 2 * (v - hat), lo_b, hi_b))
        if not closed:
            end = points[-1][0]
        out[side] = float(end)
        out[f"at_bound_{side}"] = bool(at_bound)
        out[f"open_{side}"] = not closed
    out["best_fit"] = best
    return out


#: the values at which the profile of each weight is evaluated (with multiples of the
#: estimate added); the first and last are the bounds
F_LADDER = {
    "f_incremental": np.array(
        [0.0, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.98]
    ),
    "f_extreme": np.array(
        [0.0, 1e-5, 1e-4, 3e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5]
    ),
}


def _logsumexp(x: np.ndarray) -> np.ndarray:
    peak = np.max(x, axis=0)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(x - safe).sum(axis=0)) + safe


def _grid_interval(grid, prof, top: float) -> dict:
    """The interval of grid values whose profile is within HALF_CHI2_95 of ``top``,
    each end interpolated linearly to the crossing. The grid's ends are the parameter's
    bounds: an end that does not cross inside the grid is the bound, and is flagged
    (the data do not bound the parameter on that side)."""
    grid = np.asarray(grid, dtype=float)
    prof = np.asarray(prof, dtype=float)
    cut = top - HALF_CHI2_95
    inside = prof >= cut
    if not inside.any():  # the grid missed the optimum's neighbourhood
        i = int(np.argmax(prof))
        inside = np.zeros(len(grid), dtype=bool)
        inside[i] = True
    lo_i, hi_i = int(np.flatnonzero(inside)[0]), int(np.flatnonzero(inside)[-1])

    def cross(i_in, i_out):
        a, b = prof[i_in], prof[i_out]
        w = (a - cut) / (a - b) if a > b else 0.0
        return float(grid[i_in] + min(max(w, 0.0), 1.0) * (grid[i_out] - grid[i_in]))

    low = cross(lo_i, lo_i - 1) if lo_i > 0 else float(grid[0])
    high = cross(hi_i, hi_i + 1) if hi_i < len(grid) - 1 else float(grid[-1])
    return {
        "low": low,
        "high": high,
        "at_bound_low": lo_i == 0,
        "at_bound_high": hi_i == len(grid) - 1,
    }


# --- what the report and figures need from a fit --------------------------------------


def station_logs(st: Stations, fit_: Fit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per station, the log densities of the honest, incremental and extreme parts
    (latent classes summed with their weights)."""
    layout = _Layout(st, fit_.k)
    log_class = _log_class(fit_.class_weights, layout)
    params = fit_.params if not fit_.fair else NO_FRAUD
    lh, li, le, _ = _component_logs(st, fit_.blobs, layout, params, False, False)
    return tuple(_logsumexp(x + log_class[:, None]) for x in (lh, li, le))


def expected_points(st: Stations, fit_: Fit, rng, reps: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws of every station's (turnout, share) from the fitted model, ``reps`` times:
    the stations' own sizes and invalid ballots, their blobs (latent classes drawn by
    weight), stuffing by the fit's parameters (none for a fair fit)."""
    from kzvote.methods.klimek import draw

    p = fit_.params if not fit_.fair else NO_FRAUD
    out_t, out_v = [], []
    q = st.invalid if st.invalid is not None else np.zeros(st.n)
    for _ in range(reps):
        if st.kind == "latent":
            rows = rng.choice(fit_.k, size=st.n, p=fit_.class_weights / fit_.class_weights.sum())
        else:
            rows = st.group
        t, v, _ = draw(
            rng, fit_.blobs.take(rows), st.registered, st.ballots, p["f_incremental"],
            p["f_extreme"], p["theta"], p["alpha"], q,
        )  # fmt: skip
        out_t.append(t)
        out_v.append(v)
    return np.concatenate(out_t), np.concatenate(out_v)
