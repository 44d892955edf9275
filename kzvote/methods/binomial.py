"""Binomial pmf windows, vectorised over many (n, p) pairs at once.

Both the integer-percentage and the digit tests need, for every station, the
probabilities of the counts a binomial draw can take near its mean. This module
computes them block by block: one log-gamma evaluation per row for the first count of
the window, then the ratio recurrence ``pmf(m+1)/pmf(m) = (n - m)/(m + 1) * p/(1 - p)``.
The window spans ``WINDOW_SD`` standard deviations plus ``CUSHION`` counts on each side
(the cushion covers the skewed tails of near-Poisson cases); the mass left out is
below 1e-10 (checked against scipy.stats.binom in the tests).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

WINDOW_SD = 6.5
CUSHION = 12
BLOCK = 2048  # rows per block: keeps the work arrays in cache


def window_bounds(n: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last count of each row's window (floats holding integers)."""
    sd = np.sqrt(n * p * (1 - p))
    lo = np.maximum(0.0, np.floor(n * p - WINDOW_SD * sd - CUSHION))
    hi = np.minimum(n, np.ceil(n * p + WINDOW_SD * sd + CUSHION))
    return lo, hi


def pmf_rows(
    n: np.ndarray, p: np.ndarray, first: np.ndarray, w: int, out: np.ndarray | None = None
) -> np.ndarray:
    """pmf at m = first .. first + w - 1 for each row (columns past n are 0).

    ``n``, ``p`` and ``first`` are column vectors (rows x 1); 0 < p < 1. ``out`` (rows
    x w) receives the result when given.
    """
    from scipy.special import gammaln

    pmf0 = np.exp(
        gammaln(n + 1)
        - gammaln(first + 1)
        - gammaln(n - first + 1)
        + first * np.log(p)
        + (n - first) * np.log1p(-p)
    )
    m = first + np.arange(w - 1, dtype=float)[None, :]
    ratio = n - m
    np.maximum(ratio, 0.0, out=ratio)
    m += 1.0
    ratio /= m
    ratio *= p / (1 - p)
    pmf = np.empty((len(n), w)) if out is None else out
    pmf[:, :1] = pmf0
    np.cumprod(ratio, axis=1, out=pmf[:, 1:])
    pmf[:, 1:] *= pmf0
    return pmf


def blocks(
    n: np.ndarray, p: np.ndarray
) -> Iterator[tuple[np.ndarray, int, np.ndarray, np.ndarray]]:
    """Yield (row indices, width, first, last) for blocks of similar window width.

    Rows are sorted by window width so that each block's rectangle wastes little.
    Only rows with 0 < p < 1 and n > 0 should be passed.
    """
    lo, hi = window_bounds(n, p)
    width = (hi - lo + 1).astype(np.int64)
    order = np.argsort(width, kind="stable")
    for start in range(0, len(order), BLOCK):
        rows = order[start : start + BLOCK]
        yield rows, int(width[rows].max()), lo[rows][:, None], hi[rows][:, None]
