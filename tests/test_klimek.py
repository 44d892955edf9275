"""The regional Klimek model (kzvote.methods.klimek, klimek_fit): densities against the
model's own draws and scipy, derivatives against finite differences, the EM on
elections from the second, independent generator (benchmarks/second_generator.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from kzvote.methods import klimek as K
from kzvote.methods import klimek_fit as KF

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def _blob(m, a=0.2, s=0.3, b=0.0, r=0.35, rho=0.2):
    return K.Blobs(np.full(m, a), np.full(m, s), np.full(m, b), np.full(m, r), np.full(m, rho))


def _grid_integral(theta, alpha, q=0.01, g=200):
    """Integral of the fraud density over the unit square, on a grid even in
    -log(1 - T) and -log(1 - V) (where the extreme component is concentrated)."""
    u = np.linspace(0, 14, g + 1)
    uc = (u[:-1] + u[1:]) / 2
    du = u[1] - u[0]
    uu, ww = np.meshgrid(uc, uc, indexing="ij")
    t, v = 1 - np.exp(-uu.ravel()), 1 - np.exp(-ww.ravel())
    m = len(t)
    d = np.exp(
        K.fraud_logpdf(t, v, _blob(m), np.full(m, 800.0), np.full(m, 450.0), theta, alpha, q)
    )
    return float((d * (1 - t) * (1 - v)).sum() * du * du)


@pytest.mark.parametrize("theta, alpha", [(0.05, 2.0), (0.25, 2.0), (0.8, 3.0), (None, 2.0)])
def test_fraud_density_integrates_to_one(theta, alpha):
    assert _grid_integral(theta, alpha) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("theta", [0.1, 0.4, None])
def test_turnout_marginal_matches_draws_of_the_model(theta):
    """The density's turnout marginal (integrated over the share on a fine grid)
    against 60,000 draws of the generative definition (kzvote.methods.klimek.draw)."""
    rng = np.random.default_rng(5)
    n = 60_000
    q = 0.01
    blob = _blob(n)
    t_draw, _, _ = K.draw(
        rng,
        blob,
        np.full(n, 800.0),
        np.full(n, 450.0),
        0.0 if theta is None else 1.0,
        1.0 if theta is None else 0.0,
        theta or 0.1,
        2.0,
        np.full(n, q),
    )
    # cells even in -log(1 - T): fine where the extreme component piles up
    edges = 1 - np.exp(-np.linspace(0, 8, 41))
    edges[-1] = 1.0
    observed = np.histogram(t_draw, bins=edges)[0] / n
    sub_t = 8
    sub_v = 300
    expected = np.zeros(len(edges) - 1)
    vv = 1 - np.exp(-(np.arange(sub_v) + 0.5) * 12 / sub_v)
    dv = np.exp(-np.arange(sub_v) * 12 / sub_v) - np.exp(-(np.arange(sub_v) + 1) * 12 / sub_v)
    for i in range(len(edges) - 1):
        lo, hi = edges[i], min(edges[i + 1], 1 - 1e-9)
        tt = lo + (hi - lo) * (np.arange(sub_t) + 0.5) / sub_t
        t, v = np.repeat(tt, sub_v), np.tile(vv, sub_t)
        m = len(t)
        d = np.exp(
            K.fraud_logpdf(t, v, _blob(m), np.full(m, 800.0), np.full(m, 450.0), theta, 2.0, q)
        )
        expected[i] = (d * np.tile(dv, sub_t)).sum() * (hi - lo) / sub_t
    assert 0.5 * np.abs(observed - expected).sum() < 0.02


def test_honest_density_against_scipy():
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(2)
    m = 50
    t, v = rng.uniform(0.2, 0.9, m), rng.uniform(0.1, 0.8, m)
    n_reg, n_bal = np.full(m, 900.0), np.full(m, 500.0)
    blob = _blob(m)
    got = K.honest_logpdf(t, v, blob, n_reg, n_bal)
    sd_t, sd_v = K.noise_sd(blob, n_reg, n_bal)
    for i in range(m):
        cov_tv = 0.2 * 0.3 * 0.35
        cov = [[sd_t[i] ** 2, cov_tv], [cov_tv, sd_v[i] ** 2]]
        z = [np.log(t[i] / (1 - t[i])), np.log(v[i] / (1 - v[i]))]
        want = multivariate_normal([0.2, 0.0], cov).logpdf(z) - np.log(
            t[i] * (1 - t[i]) * v[i] * (1 - v[i])
        )
        assert got[i] == pytest.approx(want, abs=1e-9)


def test_derivatives_against_finite_differences():
    """Analytic theta and alpha derivatives against central differences of the value.
    The production rule's nodes follow the support's edges, which move with alpha, so
    the two agree up to the quadrature's own error (largest 3.8e-4 on a derivative of
    4.4 for the extreme part with 2 x 32 nodes, 2e-8 with 2 x 64): hence the relative
    tolerance."""
    rng = np.random.default_rng(1)
    m = 3000
    blob = _blob(m)
    t, v = rng.uniform(0.3, 0.999, m), rng.uniform(0.2, 0.999, m)
    args = (np.full(m, 800.0), np.full(m, 450.0))
    h = 1e-5
    for theta in (0.2, None):
        f, d_theta, d_alpha = K.fraud_logpdf(t, v, blob, *args, theta, 2.3, 0.01, gradient=True)
        keep = np.isfinite(f) & (f > -10)
        up = K.fraud_logpdf(t, v, blob, *args, theta, 2.3 + h, 0.01)
        down = K.fraud_logpdf(t, v, blob, *args, theta, 2.3 - h, 0.01)
        fd = (up[keep] - down[keep]) / (2 * h)
        assert np.allclose(fd, d_alpha[keep], rtol=2e-4, atol=1e-4)
        if theta is not None:
            up = K.fraud_logpdf(t, v, blob, *args, theta + h, 2.3, 0.01)
            down = K.fraud_logpdf(t, v, blob, *args, theta - h, 2.3, 0.01)
            assert np.allclose(((up[keep] - down[keep]) / (2 * h)), d_theta[keep], atol=1e-3)


def test_half_sample_mode_ignores_a_tail():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.4, 0.05, 3000), rng.uniform(0.5, 1.0, 3000)])
    assert KF.half_sample_mode(x) == pytest.approx(0.4, abs=0.025)
    assert np.median(x) > 0.48  # the median is dragged by the tail; the mode is not


def test_groups_by_region_then_district_then_latent():
    region = np.repeat(["A", "B", "C", "D", "E"], 40)
    codes, names, kind = KF.choose_groups(region, np.full(200, ""))
    assert kind == "region" and len(names) == 5 and (codes[:40] == codes[0]).all()
    few = np.repeat(["A", "B"], 100)
    district = np.repeat([f"d{i}" for i in range(5)], 40)
    assert KF.choose_groups(few, district)[2] == "district"
    assert KF.choose_groups(np.full(200, ""), np.full(200, ""))[2] == "latent"


def _stations(frame):
    from kzvote.methods.fingerprint import klimek_stations
    from kzvote.reading import table_from_frame

    table = table_from_frame(frame)
    return klimek_stations(table, table.leader())[0]


def test_clean_independent_election_needs_no_fraud_part():
    from second_generator import election

    frame, _ = election(2500, 8, seed=4)
    fair, fraud = KF.fit_pair(_stations(frame))
    assert fraud.params["f_incremental"] < 0.05
    assert fraud.params["f_extreme"] < 0.002
    assert 2 * (fraud.loglik - fair.loglik) < 10


def test_extreme_stuffing_recovered_on_the_independent_generator():
    from second_generator import election

    frame, _ = election(2500, 8, f_e=0.03, seed=6)
    _, fraud = KF.fit_pair(_stations(frame))
    assert fraud.params["f_extreme"] == pytest.approx(0.03, abs=0.008)
    assert fraud.params["f_incremental"] < 0.05


@pytest.mark.skipif(not K._kernel_available(), reason="numba is not installed")
@pytest.mark.parametrize("theta", [0.05, 0.3, None])
@pytest.mark.parametrize("rule", [K.RULE, K.Rule(24, False, 96)], ids=["graded", "window"])
def test_compiled_kernel_equals_the_numpy_version(theta, rule, monkeypatch):
    """The numba kernel (kzvote.methods.klimek_kernel) against the numpy reference, with
    the production (graded) rule and the window rule: the same log densities,
    derivatives and moments wherever the density is positive (where it is nil, the
    derivatives and moments are nil in the kernel, undefined in numpy)."""
    rng = np.random.default_rng(4)
    m = 4000
    t = np.concatenate([rng.uniform(0.2, 0.95, m - 400), rng.uniform(0.95, 0.9999, 400)])
    v = np.concatenate([rng.uniform(0.05, 0.9, m - 400), rng.uniform(0.9, 0.9999, 400)])
    blob = K.Blobs(
        rng.normal(0.2, 0.4, m), rng.uniform(0.05, 0.5, m), rng.normal(-0.2, 0.5, m),
        rng.uniform(0.05, 0.5, m), rng.uniform(-0.5, 0.5, m),
    )  # fmt: skip
    n_reg, n_bal = rng.uniform(150, 3000, m), rng.uniform(80, 1500, m)
    q = rng.uniform(0, 0.03, m)
    for kw in ({}, {"gradient": True}, {"moments": True}, {"gradient": True, "moments": True}):
        kw["nodes"] = rule
        monkeypatch.setattr(K, "_USE_KERNEL", True)
        fast = np.atleast_2d(
            np.array(K.fraud_logpdf(t, v, blob, n_reg, n_bal, theta, 2.4, q, **kw))
        )
        monkeypatch.setattr(K, "_USE_KERNEL", False)
        ref = np.atleast_2d(np.array(K.fraud_logpdf(t, v, blob, n_reg, n_bal, theta, 2.4, q, **kw)))
        positive = np.isfinite(ref[0])
        assert (np.isfinite(fast[0]) == positive).all()
        assert positive.mean() > 0.3
        assert np.allclose(fast[:, positive], ref[:, positive], rtol=1e-9, atol=1e-9)


@pytest.mark.skipif(not K._kernel_available(), reason="numba is not installed")
def test_kernel_with_more_ordinary_than_fine_nodes(monkeypatch):
    """The kernel's per-station buffers hold the larger of the two node sets (they were
    sized by the fine set alone, and more ordinary nodes than fine ones wrote past them:
    found when a quadrature study ran 4000 ordinary and 96 fine nodes)."""
    rng = np.random.default_rng(5)
    m = 300
    t, v = rng.uniform(0.3, 0.9, m), rng.uniform(0.2, 0.8, m)
    blob = K.Blobs(
        np.full(m, 0.3), np.full(m, 0.3), np.zeros(m), np.full(m, 0.3), np.zeros(m)
    )  # fmt: skip
    n_reg, n_bal = np.full(m, 1500.0), np.full(m, 900.0)
    rule = K.Rule(200, False, 16)
    values = {}
    for compiled in (True, False):
        monkeypatch.setattr(K, "_USE_KERNEL", compiled)
        values[compiled] = K.fraud_logpdf(t, v, blob, n_reg, n_bal, 0.2, 2.0, 0.01, nodes=rule)
    finite = np.isfinite(values[False])
    assert finite.mean() > 0.5
    assert np.allclose(values[True][finite], values[False][finite], rtol=1e-9, atol=1e-9)


def test_corner_probability_against_scipy():
    """The honest corner probability against scipy's bivariate normal CDF (upper
    quadrant by inclusion-exclusion)."""
    from scipy.stats import multivariate_normal, norm

    rng = np.random.default_rng(8)
    m = 12
    blob = K.Blobs(
        rng.normal(1.5, 1.0, m), rng.uniform(0.1, 0.6, m), rng.normal(1.5, 1.0, m),
        rng.uniform(0.1, 0.6, m), rng.uniform(-0.8, 0.8, m),
    )  # fmt: skip
    n_reg, n_bal = rng.uniform(100, 2000, m), rng.uniform(80, 1500, m)
    got = K.corner_probability(blob, n_reg, n_bal)
    sd_t, sd_v = K.noise_sd(blob, n_reg, n_bal)
    edge = np.log(0.95 / 0.05)
    for i in range(m):
        cov_tv = blob.rho[i] * blob.s[i] * blob.r[i]
        cov = [[sd_t[i] ** 2, cov_tv], [cov_tv, sd_v[i] ** 2]]
        mean = [blob.a[i], blob.b[i]]
        both_below = multivariate_normal(mean, cov).cdf([edge, edge])
        t_below = norm.cdf(edge, blob.a[i], sd_t[i])
        v_below = norm.cdf(edge, blob.b[i], sd_v[i])
        want = 1 - t_below - v_below + both_below
        assert got[i] == pytest.approx(want, rel=1e-4, abs=1e-9)


def test_honest_blobs_never_centre_in_the_corner():
    stats = np.array(
        [[4.0, 0.2, 3.0, 0.2, 0.1], [2.5, 0.2, 5.0, 0.2, 0.1], [4.0, 0.2, 1.0, 0.2, 0.0]]
    )
    blobs = KF._blobs_from(stats)
    edge = np.log(0.9 / 0.1)
    assert blobs.a[0] == pytest.approx(4.0) and blobs.b[0] == pytest.approx(edge)
    assert blobs.a[1] == pytest.approx(edge) and blobs.b[1] == pytest.approx(5.0)
    assert blobs.a[2] == 4.0 and blobs.b[2] == 1.0  # high turnout alone is not the corner


def test_blob_step_reaches_each_regions_likelihood_maximum():
    """The EM's blob step (moments, counting noise removed, centres shrunk toward the
    pool) must end where each region's own likelihood peaks. Regions whose centres lie
    far apart: a fixed pull of 20 stations toward the pool left the outer regions'
    centres about 0.05 short on the logit scale, several log-likelihood units below
    their maxima; the empirical-Bayes pull is near nothing here."""
    from dataclasses import replace

    from scipy.optimize import minimize

    rng = np.random.default_rng(11)
    k, per = 6, 400
    centres_t = np.linspace(-1.0, 1.6, k)
    centres_v = np.linspace(0.8, -0.8, k)
    blobs = K.Blobs(centres_t, np.full(k, 0.25), centres_v, np.full(k, 0.35), np.full(k, -0.2))
    group = np.repeat(np.arange(k), per)
    n_reg = rng.integers(300, 2500, k * per).astype(float)
    n_bal = np.round(n_reg * 0.5)
    t, v, _ = K.draw(rng, blobs.take(group), n_reg, n_bal, 0.0, 0.0, 0.1, 2.0, np.zeros(k * per))
    st = K.Stations(t, v, n_reg, n_bal, group, tuple(f"R{i}" for i in range(k)), None, "region")
    fair = KF.fit(st, fair=True, tol=1e-4, max_iter=200)
    for g in (0, k - 1):  # the outermost regions, where a pull toward the pool costs most
        m = group == g
        sub = replace(st, turnout=t[m], share=v[m], registered=n_reg[m], ballots=n_bal[m],
                      group=np.zeros(int(m.sum()), dtype=int), names=("R",))  # fmt: skip

        def nll(x, sub=sub):
            a, s, b, r, rho = x
            if s <= 0.01 or r <= 0.01 or abs(rho) >= 0.95:
                return 1e9
            one = K.Blobs(*(np.array([y]) for y in (a, s, b, r, rho)))
            return -KF.loglik(sub, KF.Fit(dict(KF.NO_FRAUD), one, None, 0.0, True))

        x0 = [float(y[g]) for y in (fair.blobs.a, fair.blobs.s, fair.blobs.b, fair.blobs.r,
                                    fair.blobs.rho)]  # fmt: skip
        best = minimize(nll, x0, method="Nelder-Mead", options={"xatol": 1e-5, "fatol": 1e-4})
        assert -nll(x0) > -best.fun - 0.5, (g, -nll(x0), -best.fun, best.x, x0)


def test_centre_pull_follows_how_far_groups_differ():
    """Empirical Bayes: groups whose centres differ no more than their sampling noise
    are pulled most of the way to the pool, groups far apart hardly at all."""
    weight = np.full(10, 25.0)
    var = np.full(10, 0.09)
    noise_only = np.random.default_rng(1).normal(0.0, np.sqrt(0.09 / 25), 10)
    apart = np.linspace(-1, 1, 10)
    near = KF._centre_pseudo_counts(noise_only, weight, var)
    far = KF._centre_pseudo_counts(apart, weight, var)
    assert np.all(near / (near + weight) > 0.5)
    assert np.all(far / (far + weight) < 0.01)


def test_quadrature_check_sees_a_coarse_rule(monkeypatch):
    """The check (fitted log-likelihood with the nodes doubled, at the estimate and its
    alpha neighbours) is small with the production rule on a stuffed independent
    election, and large with a rule too coarse for the integrand; the doubled rule moves
    toward a 1,000-node reference."""
    from second_generator import election

    frame, _ = election(2000, 8, f_i=0.25, f_e=0.03, theta=0.2, seed=2)
    st = _stations(frame)
    _, fraud = KF.fit_pair(st)
    check = KF.quadrature_check(st, fraud)
    fine = abs(check["loglik_difference"])
    assert max(fine, check["spread"]) < KF.QUADRATURE_WARN
    monkeypatch.setattr(K, "RULE", K.Rule(2))
    coarse = KF.Fit(fraud.params, fraud.blobs, fraud.class_weights, 0.0, False)
    coarse.loglik = KF.loglik(st, coarse)
    moved = KF.quadrature_check(st, coarse)["loglik_difference"]
    reference = K.Rule(1000, False, 1000)
    error = KF.loglik(st, coarse, nodes=reference) - coarse.loglik
    assert abs(moved) > 10 * max(fine, 0.05)
    assert abs(error - moved) < abs(error)


def test_graded_rule_follows_the_spike_at_the_support_edge():
    """Stations near 100% for the leader at high turnout, without invalid ballots, in
    a wide correlated blob (Russia 2011's corner stations and the fitted blob of their
    region): their integrand has one narrow peak at an edge of its support. Against a
    6,000-node reference the production (graded) rule is within 0.01 of every log
    density that matters, while 24/96 nodes spread over the window are not (up to
    0.68 off on the real stations)."""
    rng = np.random.default_rng(11)
    m = 400
    t, v = rng.uniform(0.95, 0.995, m), 1 - 10 ** rng.uniform(-3.2, -2.3, m)
    blob = _blob(m, a=0.3, s=1.2, b=-0.13, r=1.2, rho=0.5)
    n_reg = rng.uniform(200, 2000, m)
    n_bal = np.round(n_reg * t)
    for theta in (0.3, None):
        args = (t, v, blob, n_reg, n_bal, theta, 3.1, 0.0)
        ref = K.fraud_logpdf(*args, nodes=K.Rule(6000, False, 6000))
        keep = np.isfinite(ref) & (ref > -3)
        assert keep.sum() > 100
        graded = K.fraud_logpdf(*args)
        window = K.fraud_logpdf(*args, nodes=K.Rule(24, False, 96))
        assert np.abs(graded - ref)[keep].max() < 0.01
        assert np.abs(window - ref)[keep].max() > 0.05
