"""Digit tests: arithmetic digits, 2BL, the kernel null against Monte Carlo and scipy,
calibration on simulated clean elections, power, and real data."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from conftest import realdata
from scipy.stats import binom, chisquare

from kzvote.methods.common import Context
from kzvote.methods.digits import (
    _labels,
    benford_second_digit,
    digit_tests,
    generalized_chisquare,
    kernel_moments,
    second_digit,
)
from kzvote.reading import load_stations, parse_map_options, table_from_frame
from kzvote.simulate import Scenario, simulate


def run(table):
    return digit_tests(table, Context(table.leader(), "national", np.random.default_rng(0)))


def test_digits_are_arithmetic():
    # a count of 120 ends in 0 (a string-reversing extractor would say 2)
    assert _labels(np.array([120, 7, 1005]))["last"].tolist() == [0, 7, 5]
    assert second_digit(np.array([120, 1005, 99, 10, 1000, 999, 1_000_000])).tolist() == [
        2,
        0,
        9,
        0,
        0,
        9,
        0,
    ]


def test_benford_second_digit_matches_the_formula_and_published_table():
    probs = benford_second_digit()
    # Mebane (2006), Table 1: 2BL expected frequencies
    published = [
        0.11968,
        0.11389,
        0.10882,
        0.10433,
        0.10031,
        0.09668,
        0.09337,
        0.09035,
        0.08757,
        0.08500,
    ]
    np.testing.assert_allclose(probs, published, atol=5e-6)
    assert probs.sum() == pytest.approx(1.0)
    assert probs @ np.arange(10) == pytest.approx(4.187, abs=5e-4)


def test_generalized_chisquare_is_pearson_when_digits_are_uniform():
    observed = np.array([110, 95, 102, 99, 87, 104, 100, 98, 101, 104], dtype=float)
    n = observed.sum()
    expected = np.full(10, n / 10)
    # every count's digit spread evenly: sum P P^T = n/100, sum o P^T = O 1^T / 10
    square = np.full((10, 10), n / 100)
    cross = np.outer(observed, np.full(10, 0.1))
    stat, p, _, _ = generalized_chisquare(observed, expected, np.diag(observed), cross, square)
    reference = chisquare(observed)
    # sandwich covariance uses observed rather than expected counts: equal to first order
    assert stat == pytest.approx(reference.statistic, rel=0.05)
    assert p == pytest.approx(reference.pvalue, rel=0.1)


def test_kernel_expectation_matches_monte_carlo_of_the_same_null():
    rng = np.random.default_rng(8)
    totals = rng.integers(150, 1500, 400).astype(float)
    counts = np.floor(totals * rng.uniform(0.05, 0.9, 400))
    groups = np.zeros(400, dtype=np.int64)
    moments = kernel_moments(counts, totals, groups, 1, 100, twicing=False)
    draws = 1500
    fake = rng.binomial(totals.astype(int), counts / totals, size=(draws, 400))
    for name, mom in moments.items():
        k = len(mom.expected[0])
        labels = _labels(fake)[name]
        frequencies = np.stack(
            [((labels == c) & (fake >= 100)).sum(axis=1) for c in range(k)], axis=1
        )
        mean, sd = frequencies.mean(axis=0), frequencies.std(axis=0)
        assert np.all(np.abs(mean - mom.expected[0]) < 5 * sd / np.sqrt(draws) + 1e-9), name
        # the kernel variance of each category count: sum P(1 - P)
        kernel_var = mom.expected[0] - np.diag(mom.square[0])
        np.testing.assert_allclose(sd**2, kernel_var, rtol=0.15, atol=0.5)


def test_kernel_probability_of_one_count_against_scipy():
    # count 103 of 400: P(M >= 100, M % 10 = d) by brute force with scipy
    one = (np.array([103.0]), np.array([400.0]), np.array([0]), 1, 100)
    m = np.arange(100, 401)
    plain = np.bincount(m % 10, weights=binom.pmf(m, 400, 103 / 400), minlength=10)
    moments = kernel_moments(*one, twicing=False)
    np.testing.assert_allclose(moments["last"].expected[0], plain, atol=1e-10)
    # twicing: 2 P - P', P' from Binomial(800, p) - 103 (two kernels, recentred)
    m2 = np.arange(0, 801)
    shifted = m2 - 103
    keep = shifted >= 100
    twice = np.bincount(
        shifted[keep] % 10, weights=binom.pmf(m2, 800, 103 / 400)[keep], minlength=10
    )
    np.testing.assert_allclose(
        kernel_moments(*one)["last"].expected[0], 2 * plain - twice, atol=1e-10
    )


def test_shared_kernels_match_one_kernel_per_count():
    # counts with the same value share one kernel with their mean binomial variance;
    # giving each count its own group keeps each count's exact Binomial(N, c / N)
    rng = np.random.default_rng(11)
    totals = rng.integers(300, 2500, 3000).astype(float)
    counts = np.floor(totals * rng.uniform(0.04, 0.5, 3000))
    shared = kernel_moments(counts, totals, np.zeros(3000, dtype=np.int64), 1, 100)
    alone = kernel_moments(counts, totals, np.arange(3000), 3000, 100)
    for name, mom in shared.items():
        exact = alone[name].expected.sum(axis=0)
        sd = np.sqrt(exact * (1 - exact / exact.sum()))
        # far below the counting noise of the category counts
        assert np.all(np.abs(mom.expected[0] - exact) < 0.05 * sd), name
        np.testing.assert_array_equal(mom.observed[0], alone[name].observed.sum(axis=0))


def _rates(sims: int, stations: int, rounded: float, seed0: int):
    hits, runs = defaultdict(int), defaultdict(int)
    for i in range(sims):
        frame, _ = simulate(Scenario(stations=stations, rounded_share=rounded), seed=seed0 + i)
        for r in run(table_from_frame(frame)):
            if r.p_value is not None:
                key = (r.test, r.subject == "pooled")
                runs[key] += 1
                hits[key] += r.p_value < 0.05
    return {k: hits[k] / runs[k] for k in runs}, runs


def test_quick_calibration_on_clean_elections():
    """Normal-suite version of the slow calibration: 12 clean 3,000-station elections."""
    rates, runs = _rates(12, 3000, 0.0, seed0=500)
    total = sum(runs.values())
    overall = sum(rates[k] * runs[k] for k in runs) / total
    # ~190 p-values: the rejection rate must be near 0.05 (binomial sd ~ 0.016)
    assert 0.005 <= overall <= 0.11, rates


@pytest.mark.slow
def test_calibration_200_clean_elections():
    rates, runs = _rates(200, 10_000, 0.0, seed0=10_000)
    for key, rate in rates.items():
        assert 0.02 <= rate <= 0.08, (key, rate, runs[key])


def test_power_against_rounded_counts():
    rates, _ = _rates(6, 10_000, 0.05, seed0=900)
    assert rates[("last_digit", True)] == 1.0
    assert rates[("zero_five", True)] == 1.0


def test_russia_2011_naive_vs_calibrated():
    table = load_stations(str(realdata("ru-kobak-shpilkin/2011.csv.gz")))
    pooled = next(r for r in run(table) if r.test == "last_digit" and r.subject == "pooled")
    # ../shared/METHODS.md: all party counts >= 100 (197,965 counts), uniform p = 4.5e-28
    assert pooled.n == 197_965
    assert pooled.details["naive_uniform_p"] == pytest.approx(4.5e-28, rel=0.05)
    observed = pooled.details["observed"]
    assert observed[0] == 20_799 and observed[9] == 19_040
    # the calibrated null explains the falling trend: no anomaly after Holm over the family
    assert pooled.p_value > 1e-4


@pytest.mark.parametrize("round_", [1, 2])
def test_poland_has_no_digit_anomaly(round_):
    from kzvote.suite import Params, analyze

    path = realdata(f"poland-2020-pkw/round{round_}_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz")
    table = load_stations(str(path), overrides=parse_map_options([], "poland-pkw"))
    report = analyze(table, Params(tests=("digits",)))
    assert not [(r.test, r.subject) for r in report.results if r.verdict == "anomaly"]


def test_each_digit_test_has_its_own_minimum_of_counts():
    """A candidate with 120 counts >= 100: the last-two and 0/5 tests run (their
    thresholds are 50); the last-digit and second-digit tests, which rejected clean
    elections in 7-40% below 200 counts, are inconclusive and say why."""
    from kzvote.methods.digits import MIN_COUNTS

    rng = np.random.default_rng(4)
    n = 400
    valid = rng.integers(600, 1200, n)
    small = np.where(np.arange(n) < 120, rng.integers(100, 400, n), rng.integers(0, 60, n))
    big = valid - small
    frame = pd.DataFrame(
        {
            "station_id": [f"S{i}" for i in range(n)],
            "registered": valid + 500,
            "ballots_cast": valid,
            "valid": valid,
            "Big": big,
            "Small": small,
        }
    )
    results = {r.test: r for r in run(table_from_frame(frame)) if r.subject == "Small"}
    assert MIN_COUNTS["zero_five"] <= 120 < MIN_COUNTS["second_digit"]
    for test in ("last_digit", "second_digit"):
        assert results[test].verdict == "inconclusive"
        assert "needs at least 200" in " ".join(results[test].warnings)
    for test in ("last_two_digits", "zero_five"):
        assert results[test].p_value is not None, test
        assert results[test].n == 120
