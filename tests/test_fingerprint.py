"""Fingerprint family: the model density against Monte Carlo draws of the model, the
fit on known parameters, real data against published fits, and the dependence tests
against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import realdata

from kzvote.methods import fingerprint as F
from kzvote.methods.common import Context
from kzvote.methods.dependence import _wls_slope, shpilkin_excess
from kzvote.reading import load_stations, parse_map_options, table_from_frame
from kzvote.simulate import Scenario, _klimek_x, _truncnorm, simulate
from kzvote.suite import Params, analyze

TRUE = {
    "tau": 0.55,
    "s_tau": 0.07,
    "nu": 0.54,
    "s_nu": 0.07,
    "f_incremental": 0.3,
    "f_extreme": 0.03,
    "theta": 0.1,
    "alpha": 2.0,
}


def draw(rng, p, n):
    """Noise-free draws from the Klimek model (the generative definition)."""
    tau = _truncnorm(rng, p["tau"], p["s_tau"], n)
    nu = _truncnorm(rng, p["nu"], p["s_nu"], n)
    x = _klimek_x(
        rng, np.full(n, p["f_incremental"]), np.full(n, p["f_extreme"]), np.full(n, p["theta"])
    )
    turnout = 1 - (1 - x) * (1 - tau)
    share = (tau * nu + x * (1 - tau) + x ** p["alpha"] * (1 - nu) * tau) / turnout
    return turnout, share


def test_model_density_matches_monte_carlo_of_the_model():
    rng = np.random.default_rng(1)
    turnout, share = draw(rng, TRUE, 400_000)
    hist = F.histogram(turnout, share)
    empirical = hist.counts / hist.n
    model = F.bin_probabilities(hist, TRUE)
    # total variation distance between the binned model and 400k model draws
    assert 0.5 * np.abs(empirical - model).sum() < 0.02


@pytest.mark.parametrize(
    "theta, alpha, component",
    [(0.02, 2.0, 1), (0.1, 2.0, 1), (0.6, 3.0, 1), (1.0, 2.3, 1), (None, 2.0, 2)],
)
def test_fraud_cell_masses_match_monte_carlo(theta, alpha, component):
    """Each fraud component's cell masses against 1M draws of the generative model
    (x from |N(0, theta)| truncated to [0, 1] by inverse CDF, or 1 - |N(0, 0.075)|)."""
    from scipy.special import ndtr, ndtri

    rng = np.random.default_rng(3)
    n = 1_000_000
    tau = _truncnorm(rng, 0.55, 0.08, n)
    nu = _truncnorm(rng, 0.5, 0.08, n)
    if theta is None:
        x = np.clip(1 - np.abs(rng.normal(0, F.EXTREME_SCALE, n)), 0, 1)
    else:
        x = theta * ndtri(0.5 + 0.5 * rng.random(n) * (2 * ndtr(1 / theta) - 1))
    spoiled = 0.02
    turnout = 1 - (1 - x) * (1 - tau)
    share = (tau * nu + x * (1 - tau) + x**alpha * (1 - spoiled - nu) * tau) / turnout
    hist = F.histogram(turnout, share)
    hist.spoiled = spoiled
    p = {"tau": 0.55, "s_tau": 0.08, "nu": 0.5, "s_nu": 0.08, "f_incremental": 0.5}
    p |= {"f_extreme": 0.5, "theta": theta or 0.1, "alpha": alpha}
    mass = F.component_masses(hist, p)[component]
    empirical = hist.counts / hist.n
    seen = empirical > 0
    kl = float((empirical[seen] * np.log(empirical[seen] / mass[seen])).sum())
    # the draws' own noise gives KL ~ (cells - 1) / (2 n) = 4.5e-4
    assert kl < 2e-3, kl


def test_clean_component_is_a_product_of_truncated_normals():
    from scipy.stats import truncnorm

    hist = F.histogram(np.array([0.5, 0.6]), np.array([0.5, 0.4]), bins=20)
    clean, _, _ = F.component_masses(hist, dict(TRUE, f_incremental=0.0, f_extreme=0.0))
    edges = np.linspace(0, 1, 21)
    a, b = (0 - 0.55) / 0.07, (1 - 0.55) / 0.07
    c, d = (0 - 0.54) / 0.07, (1 - 0.54) / 0.07
    m_t = np.diff(truncnorm.cdf(edges, a, b, 0.55, 0.07))
    m_v = np.diff(truncnorm.cdf(edges, c, d, 0.54, 0.07))
    np.testing.assert_allclose(clean, np.outer(m_t, m_v).ravel(), atol=1e-12)


def test_fair_corner_probability_against_scipy():
    from scipy.stats import truncnorm

    p = dict(TRUE, tau=0.8, nu=0.85)
    expected = truncnorm.sf(0.95, -0.8 / 0.07, 0.2 / 0.07, 0.8, 0.07) * truncnorm.sf(
        0.95, -0.85 / 0.07, 0.15 / 0.07, 0.85, 0.07
    )
    assert F.fair_corner_probability(p, ((1.0, 0.0, 0.0),)) == pytest.approx(expected)


def test_fit_recovers_extreme_fraud_and_the_clean_blob():
    rng = np.random.default_rng(2)
    turnout, share = draw(rng, TRUE, 20_000)
    _, best, _ = F.fit_both(turnout, share)
    assert best.params["f_extreme"] == pytest.approx(0.03, abs=0.005)
    assert best.params["tau"] == pytest.approx(0.55, abs=0.01)
    assert best.params["nu"] == pytest.approx(0.54, abs=0.01)
    assert best.params["f_incremental"] > 0.1


def test_clean_simulation_is_consistent():
    frame, _ = simulate(Scenario(stations=5000, regions=1, clean_model="klimek"), seed=5)
    table = table_from_frame(frame)
    results = F.fingerprint_tests(
        table, Context(table.leader(), "national", np.random.default_rng(0))
    )
    fp = results[0]
    assert fp.details["f_extreme"] < 0.005
    from kzvote.suite import finalise

    assert all(r.verdict != "anomaly" for r in finalise(results, 0.05, "holm"))


def test_sobyanin_slope_against_numpy_polyfit():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.3, 0.9, 300)
    y = 0.2 + 0.7 * x + rng.normal(0, 0.02, 300)
    w = np.ones(300)
    slope, se = _wls_slope(x, y, w, np.arange(300))
    assert slope == pytest.approx(np.polyfit(x, y, 1)[0], rel=1e-10)
    assert 0 < se < 0.05


def test_shpilkin_hand_example():
    # turnout 50% at the peak with leader:others = 1:1; one station at 90% where the
    # leader has 700 of 900 ballots: excess = 700 - 1 * 200 = 500
    registered = np.array([1000.0] * 5 + [1000.0])
    issued = np.array([500.0] * 5 + [900.0])
    cast = issued.copy()
    leader = np.array([250.0] * 5 + [700.0])
    estimate = shpilkin_excess(issued, registered, leader, cast)
    assert estimate["clean_turnout_peak"] == pytest.approx(0.505, abs=0.011)
    assert estimate["excess_votes"] == pytest.approx(500.0)
    assert estimate["implied_turnout"] == pytest.approx((3400 - 500) / 6000)


@pytest.mark.slow  # 30 s: a real-data study (run with -m slow)
def test_russia_2011_against_published_fits():
    table = load_stations(str(realdata("ru-kobak-shpilkin/2011.csv.gz")))
    report = analyze(table, Params(tests=("fingerprint",)))
    fp = next(r for r in report.results if r.test == "fingerprint")
    # Klimek et al. (PNAS 2012): f_i 0.64, f_e 0.033 for Russia 2011
    assert fp.details["f_extreme"] == pytest.approx(0.033, abs=0.01)
    assert 0.3 < fp.details["f_incremental"] < 0.8
    assert fp.verdict == "anomaly"
    cluster = next(r for r in report.results if r.test == "high_turnout_cluster")
    assert cluster.verdict == "anomaly"


@pytest.mark.slow  # 30 s per round: a real-data study (run with -m slow)
@pytest.mark.parametrize("round_", [1, 2])
def test_poland_has_no_fingerprint_anomaly(round_):
    path = realdata(f"poland-2020-pkw/round{round_}_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz")
    table = load_stations(str(path), overrides=parse_map_options([], "poland-pkw"))
    report = analyze(table, Params(tests=("fingerprint",)))
    fp = next(r for r in report.results if r.test == "fingerprint")
    assert fp.details["f_extreme"] < 0.005
    assert [r.test for r in report.results if r.verdict == "anomaly"] == []


def _stuffed_regions():
    """Turnout and leader-share parts of a 4-region election with incremental stuffing."""
    frame, _ = simulate(Scenario(stations=3000, regions=4, f_incremental=0.2), seed=9)
    return (
        frame["ballots_issued"].to_numpy(float),
        frame["registered"].to_numpy(float),
        frame["Amanat"].to_numpy(float),
        frame["ballots_cast"].to_numpy(float),
        frame["region"].to_numpy(),
    )


def test_regional_excess_equals_region_by_region_estimates():
    from kzvote.methods.dependence import regional_excess

    t_num, t_den, s_num, s_den, region = _stuffed_regions()
    by_hand = sum(
        shpilkin_excess(
            t_num[region == r], t_den[region == r], s_num[region == r], s_den[region == r]
        )["excess_votes"]
        for r in np.unique(region)
    )
    assert regional_excess(t_num, t_den, s_num, s_den, region)["excess_votes"] == pytest.approx(
        by_hand, rel=1e-9
    )


def test_bootstrap_weights_equal_an_explicit_resample():
    # the excess bootstrap counts how often each station is drawn instead of copying the
    # drawn rows: the same replicate as regional_excess on the repeated rows
    from kzvote.methods.dependence import _region_codes, _regional_excess, regional_excess

    t_num, t_den, s_num, s_den, region = _stuffed_regions()
    idx = np.random.default_rng(3).integers(0, len(t_num), len(t_num))
    drawn = np.bincount(idx, minlength=len(t_num)).astype(float)
    codes, g = _region_codes(region)
    weighted = _regional_excess(t_num / t_den, t_den, s_num, s_den - s_num, codes, g, drawn)
    copied = regional_excess(t_num[idx], t_den[idx], s_num[idx], s_den[idx], region[idx])
    assert weighted["excess_votes"] == pytest.approx(copied["excess_votes"], rel=1e-9)
