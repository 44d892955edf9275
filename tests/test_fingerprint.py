"""Fingerprint family: the model density against Monte Carlo draws of the model, the
fit on known parameters, real data against published fits, and the dependence tests
against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import realdata

from kzvote.io import load_stations, table_from_frame
from kzvote.methods import fingerprint as F
from kzvote.methods.common import Context
from kzvote.methods.dependence import _wls_slope, shpilkin_excess
from kzvote.schema import parse_map_options
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
    # total variation distance between the binned density and 400k model draws
    assert 0.5 * np.abs(empirical - model).sum() < 0.03


def test_clean_component_is_a_product_of_truncated_normals():
    from scipy.stats import truncnorm

    t, v = np.array([0.3, 0.6]), np.array([0.5, 0.2])
    clean, _, _ = F.model_density(t, v, dict(TRUE, f_incremental=0.0, f_extreme=0.0))
    a, b = (0 - 0.55) / 0.07, (1 - 0.55) / 0.07
    c, d = (0 - 0.54) / 0.07, (1 - 0.54) / 0.07
    expected = truncnorm.pdf(t, a, b, 0.55, 0.07) * truncnorm.pdf(v, c, d, 0.54, 0.07)
    np.testing.assert_allclose(clean, expected, rtol=1e-10)


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


@pytest.mark.parametrize("round_", [1, 2])
def test_poland_has_no_fingerprint_anomaly(round_):
    path = realdata(f"poland-2020-pkw/round{round_}_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz")
    table = load_stations(str(path), overrides=parse_map_options([], "poland-pkw"))
    report = analyze(table, Params(tests=("fingerprint",)))
    fp = next(r for r in report.results if r.test == "fingerprint")
    assert fp.details["f_extreme"] < 0.005
    assert [r.test for r in report.results if r.verdict == "anomaly"] == []


def test_regional_excess_equals_region_by_region_estimates():
    from kzvote.methods.dependence import regional_excess

    frame, _ = simulate(Scenario(stations=3000, regions=4, f_incremental=0.2), seed=9)
    t_num = frame["ballots_issued"].to_numpy(float)
    t_den = frame["registered"].to_numpy(float)
    s_num = frame["Amanat"].to_numpy(float)
    s_den = frame["ballots_cast"].to_numpy(float)
    region = frame["region"].to_numpy()
    by_hand = sum(
        shpilkin_excess(
            t_num[region == r], t_den[region == r], s_num[region == r], s_den[region == r]
        )["excess_votes"]
        for r in np.unique(region)
    )
    assert regional_excess(t_num, t_den, s_num, s_den, region)["excess_votes"] == pytest.approx(
        by_hand, rel=1e-9
    )
