"""The few distribution functions the battery needs, from ``scipy.special``.

``import scipy.stats`` costs 1.5-3 s on these machines, more than reading most files;
the tails below are the same special functions scipy.stats calls (checked against it
in ``tests/test_distributions.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import chdtrc, ndtr, pdtrc

SQRT_2PI = np.sqrt(2 * np.pi)


def norm_sf(x):
    """P(Z > x) for a standard normal Z."""
    return ndtr(-np.asarray(x, dtype=float))


def norm_pdf(x):
    x = np.asarray(x, dtype=float)
    return np.exp(-0.5 * x * x) / SQRT_2PI


def chi2_sf(x, df):
    """P(X > x) for a chi-square X with ``df`` degrees of freedom."""
    return chdtrc(df, np.asarray(x, dtype=float))


def poisson_sf(k, mu):
    """P(X > k) for a Poisson X with mean ``mu`` (scipy.stats.poisson.sf)."""
    k = np.floor(np.asarray(k, dtype=float))
    return np.where(k < 0, 1.0, pdtrc(np.maximum(k, 0), mu))


class Chisquare(NamedTuple):
    statistic: float
    pvalue: float


def chisquare(observed, expected=None) -> Chisquare:
    """Pearson's goodness-of-fit test (scipy.stats.chisquare without ddof)."""
    observed = np.asarray(observed, dtype=float)
    if expected is None:
        expected = np.full(observed.shape, observed.sum() / observed.size)
    expected = np.asarray(expected, dtype=float)
    statistic = float(((observed - expected) ** 2 / expected).sum())
    return Chisquare(statistic, float(chi2_sf(statistic, observed.size - 1)))
