"""Integer-percentage test: exact null against brute force, hand cases, Monte Carlo,
the published Russian numbers and a clean control (Poland 2020)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import realdata
from scipy.stats import binom

from kzvote.methods.common import Context, poisson_binomial_sf
from kzvote.methods.integers import hit_probability, hits, integer_percent
from kzvote.reading import load_stations, parse_map_options
from kzvote.simulate import Scenario, simulate
from kzvote.suite import Params, analyze


def ctx(table, **options):
    return Context(table.leader(), "national", np.random.default_rng(0), options=options)


def test_hits_are_exact_in_integers():
    # 100 * 1 / 2000 = 0.05 pp: exactly on the tolerance edge counts as a hit
    assert hits(np.array([1, 2, 3, 7]), np.array([2000, 2000, 3, 3])).tolist() == [
        True,
        False,
        True,
        False,
    ]
    # 1/3 = 33.33% misses, 0 and 3 of 3 are whole percents
    assert hits(np.array([0, 1, 2, 3]), np.full(4, 3)).tolist() == [True, False, False, True]


def test_hit_probability_hand_cases():
    # N = 3: only m = 0 and m = 3 hit, so P = (1-p)^3 + p^3
    p = 0.5
    assert hit_probability(np.array([3.0]), np.array([p]))[0, 0] == pytest.approx(0.25, abs=1e-12)
    # N = 200: 100 m / 200 = m / 2 is whole iff m is even: P = (1 + (1 - 2p)^N) / 2
    for p in (0.3, 0.71):
        expected = (1 + (1 - 2 * p) ** 200) / 2
        got = hit_probability(np.array([200.0]), np.array([p]))[0, 0]
        assert got == pytest.approx(expected, abs=1e-12)


def test_hit_probability_against_scipy_brute_force():
    rng = np.random.default_rng(3)
    totals = np.r_[rng.integers(1, 4000, 150), [10, 100, 1000, 2000]].astype(float)
    probs = np.r_[rng.uniform(0.001, 0.999, 150), [0.5, 0.01, 0.99, 0.5]]
    got = hit_probability(totals, probs, steps=(1, 5))
    for s, step in enumerate((1, 5)):
        for n, p, value in zip(totals, probs, got[s], strict=True):
            m = np.arange(int(n) + 1)
            exact = (binom.pmf(m, n, p) * hits(m, np.full(m.shape, n), step=step)).sum()
            assert value == pytest.approx(exact, abs=1e-9)


def test_edgeworth_cdf_against_scipy():
    from kzvote.methods.binomial import edgeworth_cdf

    # scipy.stats.binom.cdf over every count, for sizes/probabilities with sd >= 5
    for n, p, tol in [(100, 0.4, 5e-5), (300, 0.9, 1e-4), (1000, 0.05, 5e-5), (1000, 0.5, 1e-7)]:
        k = np.arange(n + 1)
        err = np.abs(edgeworth_cdf(k, float(n), p) - binom.cdf(k, n, p)).max()
        assert err < tol, (n, p, err)


def test_series_hit_probability_matches_the_exact_windows():
    # the leader-percent digit test uses the Edgeworth series at sd >= 8
    rng = np.random.default_rng(4)
    totals = rng.integers(100, 3000, 4000).astype(float)
    probs = np.round(totals * rng.uniform(0.02, 0.99, 4000)) / totals
    exact = hit_probability(totals, probs, steps=(1, 5), tol=0.5)
    series = hit_probability(totals, probs, steps=(1, 5), tol=0.5, series_above_sd=8.0)
    assert np.abs(exact - series).max() < 1e-4
    # the totals differ by far less than one sd of the hit count
    sd = np.sqrt((exact * (1 - exact)).sum(axis=1))
    assert np.all(np.abs(exact.sum(axis=1) - series.sum(axis=1)) < 0.01 * sd)


def test_poisson_binomial_tail_exact_and_approximate():
    rng = np.random.default_rng(5)
    probs = rng.uniform(0.1, 0.3, 400)
    # Monte Carlo of the same sum of Bernoullis
    draws = (rng.random((40_000, 400)) < probs).sum(axis=1)
    for k in (70, 80, 90):
        assert poisson_binomial_sf(k, probs) == pytest.approx((draws >= k).mean(), abs=0.01)
    # the normal-with-skew branch (n > 5000) agrees with the exact one near the centre
    big = np.tile(probs, 15)
    k = int(big.sum() + 2 * np.sqrt((big * (1 - big)).sum()))
    draws = rng.binomial(1, big[None, :].repeat(2000, axis=0)).sum(axis=1)
    assert poisson_binomial_sf(k, big) == pytest.approx((draws >= k).mean(), abs=0.015)


def test_exact_null_matches_monte_carlo_of_the_papers_procedure():
    """The published notebooks draw issued ~ Bin(registered, turnout) and leader ~
    Bin(cast, share) 1,000 times; the exact mean and sd must agree."""
    table_df, _ = simulate(Scenario(stations=3000, regions=4), seed=11)
    reg = table_df["registered"].to_numpy(float)
    issued = table_df["ballots_issued"].to_numpy(float)
    cast = table_df["ballots_cast"].to_numpy(float)
    leader = table_df["Amanat"].to_numpy(float)
    rng = np.random.default_rng(12)
    replicates = 1000
    counts = np.empty(replicates)
    for r in range(replicates):
        fake_issued = rng.binomial(reg.astype(int), issued / reg)
        fake_leader = rng.binomial(cast.astype(int), leader / cast)
        counts[r] = (hits(fake_issued, reg) | hits(fake_leader, cast)).sum()
    a = hit_probability(reg, issued / reg)[0]
    b = hit_probability(cast, leader / cast)[0]
    q = 1 - (1 - a) * (1 - b)
    mean, sd = q.sum(), np.sqrt((q * (1 - q)).sum())
    assert counts.mean() == pytest.approx(mean, abs=4 * sd / np.sqrt(replicates))
    assert counts.std(ddof=1) == pytest.approx(sd, rel=0.1)


@pytest.mark.parametrize(
    ("year", "published"), [(2011, 1003), (2012, 1160), (2016, 1502), (2021, 1310)]
)
def test_russia_reproduces_the_published_excess(year, published):
    table = load_stations(str(realdata(f"ru-kobak-shpilkin/{year}.csv.gz")))
    report = analyze(table, Params(tests=("integer_percent",)))
    either = next(
        r for r in report.results if r.test == "integer_percent" and r.subject == "either"
    )
    # Kobak, Shpilkin & Pshenichnikov (2016), excess integer stations, as printed in
    # the notebooks of github.com/dkobak/elections (2021: analysis/duma2021). 2016 and
    # 2021 load with no options: their "содержащихся в ... ящиках" box lines are ballots
    # cast, and 2021's electronic-voting rows are aggregates kept out of the test.
    assert either.details["excess"] == pytest.approx(published, rel=0.02)
    assert either.statistic > 5
    assert either.verdict == "anomaly"


@pytest.mark.parametrize("round_", [1, 2])
def test_poland_is_consistent(round_):
    path = realdata(f"poland-2020-pkw/round{round_}_wyniki_gl_na_kand_po_obwodach_utf8.csv.gz")
    table = load_stations(str(path), overrides=parse_map_options([], "poland-pkw"))
    report = analyze(table, Params(tests=("integer_percent",)))
    for result in report.results:
        assert abs(result.statistic) < 3
        assert result.verdict != "anomaly"


def test_whole_percent_turnout_is_detected(write):
    frame, _ = simulate(Scenario(stations=10_000, whole_percent_share=0.05), seed=21)
    table = load_stations(write("whole.csv", frame.to_csv(index=False)))
    results = integer_percent(table, ctx(table))
    turnout = next(r for r in results if r.subject == "turnout")
    assert turnout.statistic > 5


def test_too_few_stations_is_inconclusive(write):
    rows = "".join(f"{i},N,500,300,300,295,5,200,95\n" for i in range(40))
    table = load_stations(
        write(
            "small.csv",
            "station_id,region,registered,ballots_issued,ballots_cast,valid,invalid,A,B\n" + rows,
        )
    )
    results = integer_percent(table, ctx(table))
    assert all(r.verdict == "inconclusive" for r in results)
    assert "only 40 stations" in results[0].warnings[0]
