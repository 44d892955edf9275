"""The light distribution functions of the battery against scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kzvote.methods.distributions import chi2_sf, chisquare, norm_pdf, norm_sf, poisson_sf


def test_normal_tails_and_density_match_scipy():
    x = np.linspace(-9, 9, 721)
    assert np.allclose(norm_sf(x), stats.norm.sf(x), rtol=1e-12, atol=0)
    assert np.allclose(norm_pdf(x), stats.norm.pdf(x), rtol=1e-12, atol=0)


@pytest.mark.parametrize("df", [1, 2, 4, 9])
def test_chi_square_tail_matches_scipy(df):
    x = np.linspace(0, 80, 401)
    assert np.allclose(chi2_sf(x, df), stats.chi2.sf(x, df), rtol=1e-10, atol=1e-300)
    # the 2-df tail is exp(-x / 2), which the stations' outlier score uses
    if df == 2:
        assert np.allclose(chi2_sf(x, 2), np.exp(-x / 2), rtol=1e-12)


def test_poisson_tail_matches_scipy():
    for mu in (0.3, 5.0, 46.0, 1e4):
        k = np.arange(-2, int(mu * 3) + 5)
        assert np.allclose(poisson_sf(k, mu), stats.poisson.sf(k, mu), rtol=1e-10, atol=1e-300)


def test_chisquare_matches_scipy():
    rng = np.random.default_rng(1)
    observed = rng.integers(80, 120, 10).astype(float)
    expected = observed.sum() * rng.dirichlet(np.full(10, 50.0))
    for exp in (None, expected):
        ours = chisquare(observed, exp)
        ref = stats.chisquare(observed, exp)
        assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
        assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
