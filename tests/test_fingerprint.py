"""Fingerprint family: the regional Klimek test's p-value reference, intervals and
carried fit, its verdicts on elections of the second, independent generator
(benchmarks/second_generator.py), real data against published fits, and the
dependence tests against hand computations."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import realdata

from kzvote.methods import fingerprint as F
from kzvote.methods import klimek_fit as KF
from kzvote.methods.common import Context
from kzvote.methods.dependence import _wls_slope, shpilkin_excess
from kzvote.reading import load_stations, parse_map_options, table_from_frame
from kzvote.simulate import Scenario, simulate
from kzvote.suite import Params, analyze, finalise

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_chibar_reference_against_monte_carlo():
    """The chi-bar-square tail against 400,000 draws of the mixture it defines
    (0.25 zero, 0.5 chi2_1, 0.25 chi2_2), drawn with numpy."""
    rng = np.random.default_rng(0)
    n = 400_000
    kind = rng.choice(3, size=n, p=[0.25, 0.5, 0.25])
    z = rng.standard_normal((n, 2)) ** 2
    draws = np.where(kind == 0, 0.0, np.where(kind == 1, z[:, 0], z.sum(axis=1)))
    for lr in (0.5, 2.0, 4.23, 8.0):
        assert F.chibar_sf(lr) == pytest.approx((draws > lr).mean(), abs=0.003)
    assert F.chibar_sf(0.0) == 1.0


def test_lr_reference_is_chi_square_with_two_degrees():
    """The test's p (chosen by measurement, docs/fingerprint.md) against scipy."""
    from scipy.stats import chi2

    for lr in (0.3, 2.0, 5.99, 12.0):
        assert F.lr_sf(lr) == pytest.approx(chi2.sf(lr, 2), rel=1e-9)
    assert F.lr_sf(0.0) == 1.0


def test_grid_interval_interpolates_and_flags_bounds():
    grid = [0.0, 1.0, 2.0, 3.0, 4.0]
    prof = [-10.0, -1.0, 0.0, -1.0, -10.0]  # crossings at 1.92 below the top
    got = KF._grid_interval(grid, prof, 0.0)
    assert got["low"] == pytest.approx(1 - (1 - 1.920729 + 1) / 9 + (1 - 0.0) * 0, abs=0.2)
    assert 0.8 < got["low"] < 1.0 and 3.0 < got["high"] < 3.2
    assert not got["at_bound_low"] and not got["at_bound_high"]
    flat = KF._grid_interval(grid, [0.0, 0.0, 0.0, -0.5, -5.0], 0.0)
    assert flat["low"] == 0.0 and flat["at_bound_low"] and not flat["at_bound_high"]


@pytest.mark.parametrize("case", ["interior", "f_e_at_zero", "both_at_zero"])
@pytest.mark.parametrize("start", [(0.01, 0.001), (0.3, 0.05)])
def test_weight_profile_maximum_against_scipy(case, start):
    """_Weights.best (Newton on the weights its gradient does not hold at a bound)
    against scipy's bounded minimiser on the same mixture log-likelihood, with the
    maximum inside, on one bound and on both, from two starts, and with one weight
    fixed (the profile's case)."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(3)
    n = 2000
    log_h = rng.normal(0, 1, n)
    log_i = rng.normal(-0.5, 1.5, n)
    log_e = np.where(rng.random(n) < 0.05, 3.0, -8.0)
    if case != "interior":
        log_e = np.full(n, -8.0)
    if case == "both_at_zero":
        log_i = log_h - 1.0 - rng.random(n)
    w = KF._Weights(log_h, log_i, log_e)
    f_i, f_e, best = w.best(start=start)
    res = minimize(
        lambda x: -w.loglik(*x), [0.1, 0.01], method="L-BFGS-B", bounds=[(0, 0.98), (0, 0.5)]
    )
    assert best >= -res.fun - 1e-6
    assert (f_i, f_e) == pytest.approx(tuple(res.x), abs=2e-3)
    if case == "both_at_zero":
        assert f_i == 0.0 and f_e == 0.0
    fixed = w.best(f_i=0.2, start=start)
    res = minimize(lambda x: -w.loglik(0.2, x[0]), [0.01], method="L-BFGS-B", bounds=[(0, 0.5)])
    assert fixed[0] == 0.2 and fixed[2] >= -res.fun - 1e-6
    assert fixed[1] == pytest.approx(res.x[0], abs=2e-3)


def _second(f_i, f_e, theta, seed, stations=3000, regions=10):
    from second_generator import election

    frame, _ = election(stations, regions, f_i=f_i, f_e=f_e, theta=theta, seed=seed)
    return table_from_frame(frame)


def _family(table):
    return F.fingerprint_tests(table, Context(table.leader(), "national", np.random.default_rng(0)))


def test_clean_election_of_the_second_generator_is_consistent():
    results = _family(_second(0.0, 0.0, 0.1, seed=11))
    fp = results[0]
    assert fp.details["f_incremental"] == 0.0 or not fp.details["fraud_part_needed"]
    assert fp.details["f_extreme"] < 0.002
    assert fp.details["f_extreme_interval"][0] == 0.0
    if not fp.details["fraud_part_needed"]:  # the honest model is in the acceptance region
        assert fp.details["f_incremental_interval"][0] == 0.0
        assert "low" in fp.details["at_bound"]["f_incremental"]
    assert all(r.verdict != "anomaly" for r in finalise(results, 0.05, "holm"))


def test_stuffed_election_of_the_second_generator_is_found_and_measured():
    table = _second(0.2, 0.03, 0.2, seed=4)
    results = finalise(_family(table), 0.05, "holm")
    fp, cluster = results[0], results[1]
    assert fp.verdict == "anomaly" and cluster.verdict == "anomaly"
    assert fp.details["f_extreme"] == pytest.approx(0.03, abs=0.006)
    low, high = fp.details["f_extreme_interval"]
    assert low <= fp.details["f_extreme"] <= high
    # the fit carried in the report is the fit: its log-likelihood, recomputed from the
    # details alone, is the one the test reports
    st, _, _ = F.klimek_stations(table, table.leader(), kind=fp.details["grouping"]["kind"])
    fair, fraud = F.fitted_model(fp.details)
    assert KF.loglik(st, fraud) == pytest.approx(fp.details["loglik_fraud"], abs=1e-6)
    assert KF.loglik(st, fair) == pytest.approx(fp.details["loglik_fair"], abs=1e-6)


def test_profile_crossing_on_a_parabola():
    """_crossing on points of a known parabola finds its exact crossing of the cut;
    with two points only, the straight line between them."""
    prof = lambda v: -3.0 * (v - 0.2) ** 2  # noqa: E731
    cut = -KF.HALF_CHI2_95
    exact = 0.2 + np.sqrt(KF.HALF_CHI2_95 / 3.0)
    points = [(v, prof(v)) for v in (0.2, 0.6, 1.4)]
    assert KF._crossing(points, cut) == pytest.approx(exact, abs=1e-12)
    (v1, p1), (v2, p2) = points[1], points[2]
    line = v1 + (p1 - cut) / (p1 - p2) * (v2 - v1)
    assert KF._crossing(points[1:], cut) == pytest.approx(line, abs=1e-12)


def test_refitted_interval_holds_the_held_one_and_ends_on_the_cut():
    """The f_i interval with the blobs re-fitted contains the held-blob interval (a
    re-fit can only raise the profile), and a longer constrained fit at each end lands
    near the cut (the search's interpolation is a profile, not a guess)."""
    table = _second(0.25, 0.02, 0.25, seed=6, stations=3000, regions=8)
    st, _, _ = F.klimek_stations(table, table.leader())
    fair, fraud = KF.fit_pair(st)
    fraud, ci = KF.fit_with_intervals(st, fraud, fair)
    got = ci["f_incremental"]
    assert got["method"] == "profile, blobs re-fitted"
    held_low, held_high = got["held"]
    assert got["low"] <= held_low + 1e-9 and got["high"] >= held_high - 1e-9
    assert got["high"] - got["low"] > 1.5 * (held_high - held_low)
    cut = fraud.loglik - KF.HALF_CHI2_95
    for side in ("low", "high"):
        assert not got[f"open_{side}"] and not got[f"at_bound_{side}"]
        end = KF.fit(st, fair=False, start=fraud, hold={"f_incremental": got[side]}, max_iter=40)
        assert end.loglik == pytest.approx(cut, abs=0.6)


def test_a_poor_em_end_is_restarted_and_the_estimate_lies_inside_its_intervals():
    """An EM end far from the maximum (theta moved off it by hand, as the EM's creeping
    steps left Poland 2020 round 2's theta 0.139 outside its interval [0.152, 0.217]):
    the intervals' profiles find the better point, the fit restarts there, and the
    returned estimate lies inside each of its four intervals."""
    table = _second(0.25, 0.02, 0.25, seed=6, stations=3000, regions=8)
    st, _, _ = F.klimek_stations(table, table.leader())
    fair, fraud = KF.fit_pair(st)
    poor = KF.Fit(dict(fraud.params, theta=0.09), fraud.blobs, fraud.class_weights, 0.0, False)
    poor.loglik = KF.loglik(st, poor)
    assert poor.loglik < fraud.loglik - 10
    got, ci = KF.fit_with_intervals(st, poor, fair)
    assert got.loglik > fraud.loglik - KF.RESTART_GAIN
    for name in ("f_incremental", "f_extreme", "theta", "alpha"):
        assert ci[name]["low"] - 1e-9 <= got.params[name] <= ci[name]["high"] + 1e-9, name


def test_corner_expectation_against_draws_of_the_fitted_honest_model():
    """The cluster test's expected corner count (quadrature per station) against the
    corner count of 200 draws of every station from the same fitted blobs."""
    from kzvote.methods.klimek import corner_probability

    table = _second(0.0, 0.0, 0.1, seed=2, stations=2000, regions=6)
    st, _, _ = F.klimek_stations(table, table.leader())
    fair = KF.fit(st, fair=True)
    # move the blobs up so that the corner holds something to count
    fair.blobs.a = fair.blobs.a + 2.6
    fair.blobs.b = fair.blobs.b + 3.0
    exact = corner_probability(fair.blobs.take(st.group), st.registered, st.ballots).sum()
    t, v = KF.expected_points(st, fair, np.random.default_rng(1), 200)
    drawn = ((t >= 0.95) & (v >= 0.95)).sum() / 200
    assert exact > 5
    assert drawn == pytest.approx(exact, rel=0.05)


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


@pytest.mark.slow  # minutes: a real-data study (run with -m slow)
def test_russia_2011_corner_is_counted():
    table = load_stations(str(realdata("ru-kobak-shpilkin/2011.csv.gz")))
    report = analyze(table, Params(tests=("fingerprint",)))
    fp = next(r for r in report.results if r.test == "fingerprint")
    assert fp.verdict == "anomaly"
    # issue 14: f_e at least half the share of stations at >= 95% turnout and share
    assert fp.details["f_extreme"] >= 0.5 * fp.details["corner_share"]
    cluster = next(r for r in report.results if r.test == "high_turnout_cluster")
    assert cluster.verdict == "anomaly"


@pytest.mark.slow  # minutes per round: a real-data study (run with -m slow)
@pytest.mark.parametrize("round_", [1, 2])
def test_poland_has_no_fingerprint_anomaly(round_):
    path = realdata(f"poland-2020-pkw/round{round_}_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz")
    table = load_stations(str(path), overrides=parse_map_options([], "poland-pkw"))
    report = analyze(table, Params(tests=("fingerprint",)))
    fp = next(r for r in report.results if r.test == "fingerprint")
    assert fp.details["f_incremental"] < 0.05 and fp.details["f_extreme"] < 0.002
    assert [r.test for r in report.results if r.verdict == "anomaly"] == []
    # round 2's EM stopped at theta 0.139, outside its interval [0.152, 0.217], until
    # the restarts were allowed to settle (2026-12-03)
    for name in ("f_incremental", "f_extreme", "theta", "alpha"):
        low, high = fp.details[f"{name}_interval"]
        assert low - 1e-9 <= fp.details[name] <= high + 1e-9, name
    assert not [w for w in fp.warnings if "outside its interval" in w]


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


def test_honest_blobs_put_at_most_the_cap_in_the_corner():
    """A blob near the 95/95 corner moves down and left until its corner mass (checked
    with scipy's bivariate normal) is the cap; a blob far from it is left alone."""
    from scipy.stats import multivariate_normal

    stats = np.array([[2.0, 0.8, 2.5, 0.9, 0.3], [0.2, 0.4, -0.5, 0.5, -0.2]])
    blobs = KF._blobs_from(stats)
    assert blobs.a[1] == pytest.approx(0.2) and blobs.b[1] == pytest.approx(-0.5)
    assert blobs.a[0] < 2.0 and blobs.a[0] - 2.0 == pytest.approx(blobs.b[0] - 2.5)
    edge = np.log(0.95 / 0.05)
    s, r, rho = blobs.s[0], blobs.r[0], blobs.rho[0]
    cov = [[s * s, rho * s * r], [rho * s * r, r * r]]
    # upper quadrant of (X, Y) = lower quadrant of (-X, -Y)
    mass = multivariate_normal(mean=[-blobs.a[0], -blobs.b[0]], cov=cov).cdf([-edge, -edge])
    assert mass == pytest.approx(KF.CORNER_MASS_CAP, rel=1e-3)
