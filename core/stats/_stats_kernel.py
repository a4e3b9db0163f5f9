"""Compiled (numba) block pass of the component statistics: power sums and histograms.

Imported at the top of :mod:`core.stats.components` inside ``try/except
ImportError`` (numba is optional: the NumPy pass runs without it).  Each block of rows is read once, while it is in
cache for the covariance GEMM of :func:`core.stats.gram.shifted_gram`: the four
power sums about the shift go to float64 accumulators and every value's
integer bin ``floor(x / w + 1/2)`` (computed in the data's precision, as
the NumPy pass does, so the counts are identical) is counted.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def bin_range(block, inv_w, half):
    """Smallest and largest integer bin of a block (bins are monotone in the value)."""
    lo = block[0, 0]
    hi = block[0, 0]
    for i in range(block.shape[0]):
        for j in range(block.shape[1]):
            v = block[i, j]
            if v < lo:
                lo = v
            if v > hi:
                hi = v
    return int(np.floor(lo * inv_w + half)), int(np.floor(hi * inv_w + half))


@njit(cache=True, nogil=True)
def accumulate(block, shift, inv_w, half, k_lo, counts, sums):
    """Add a block's power sums of (x - shift) to ``sums`` (4, d) and its bins to ``counts`` (d, nb)."""
    d = block.shape[1]
    for i in range(block.shape[0]):
        for j in range(d):
            x = block[i, j]
            v = np.float64(x) - shift[j]
            v2 = v * v
            sums[0, j] += v
            sums[1, j] += v2
            sums[2, j] += v2 * v
            sums[3, j] += v2 * v2
        for j in range(d):
            counts[j, int(np.floor(block[i, j] * inv_w + half)) - k_lo] += 1


@njit(cache=True, nogil=True)
def _gauss_cost(x, y, a, c, s):
    r2 = 0.0
    for i in range(x.shape[0]):
        u = (x[i] - c) / s
        r = y[i] - a * np.exp(-0.5 * u * u)
        r2 += r * r
    return r2


@njit(cache=True, nogil=True)
def fit_gaussian(x, y, a, c, s, max_iter):
    """Levenberg-Marquardt least squares of ``y ~ a exp(-(x - c)^2 / (2 s^2))``.

    The problem ``scipy.optimize.curve_fit`` solves (MINPACK ``lmder``,
    Marquardt's diagonal scaling), without its per-call Python overhead.
    Returns a, c, s and a flag: 1 converged, 0 not.
    """
    lam = 1e-3
    cost = _gauss_cost(x, y, a, c, s)
    A = np.empty((3, 3))
    g = np.empty(3)
    for _ in range(max_iter):
        A[:, :] = 0.0
        g[:] = 0.0
        for i in range(x.shape[0]):
            u = (x[i] - c) / s
            e = np.exp(-0.5 * u * u)
            r = y[i] - a * e
            j0 = e
            j1 = a * e * u / s
            j2 = j1 * u
            A[0, 0] += j0 * j0
            A[0, 1] += j0 * j1
            A[0, 2] += j0 * j2
            A[1, 1] += j1 * j1
            A[1, 2] += j1 * j2
            A[2, 2] += j2 * j2
            g[0] += j0 * r
            g[1] += j1 * r
            g[2] += j2 * r
        A[1, 0] = A[0, 1]
        A[2, 0] = A[0, 2]
        A[2, 1] = A[1, 2]
        while True:
            M = A.copy()
            for k in range(3):
                M[k, k] += lam * A[k, k]
            # 3 x 3 solve by Cramer's rule.
            det = (M[0, 0] * (M[1, 1] * M[2, 2] - M[1, 2] * M[2, 1])
                   - M[0, 1] * (M[1, 0] * M[2, 2] - M[1, 2] * M[2, 0])
                   + M[0, 2] * (M[1, 0] * M[2, 1] - M[1, 1] * M[2, 0]))
            if not (det != 0.0 and np.isfinite(det)):
                return a, c, s, 0
            d0 = (g[0] * (M[1, 1] * M[2, 2] - M[1, 2] * M[2, 1])
                  - M[0, 1] * (g[1] * M[2, 2] - M[1, 2] * g[2])
                  + M[0, 2] * (g[1] * M[2, 1] - M[1, 1] * g[2])) / det
            d1 = (M[0, 0] * (g[1] * M[2, 2] - M[1, 2] * g[2])
                  - g[0] * (M[1, 0] * M[2, 2] - M[1, 2] * M[2, 0])
                  + M[0, 2] * (M[1, 0] * g[2] - g[1] * M[2, 0])) / det
            d2 = (M[0, 0] * (M[1, 1] * g[2] - g[1] * M[2, 1])
                  - M[0, 1] * (M[1, 0] * g[2] - g[1] * M[2, 0])
                  + g[0] * (M[1, 0] * M[2, 1] - M[1, 1] * M[2, 0])) / det
            na, nc, ns = a + d0, c + d1, s + d2
            new = _gauss_cost(x, y, na, nc, ns) if ns != 0.0 else np.inf
            if new <= cost:
                small = (abs(d0) <= 1e-12 * (abs(a) + 1e-300) and abs(d1) <= 1e-12 * (abs(s) + abs(c))
                         and abs(d2) <= 1e-12 * abs(s))
                flat = cost - new <= 1e-15 * cost
                a, c, s = na, nc, ns
                cost = new
                lam = max(lam * 0.1, 1e-12)
                if small or flat:
                    return a, c, s, 1
                break
            lam *= 10.0
            if lam > 1e16:
                return a, c, s, 1  # no step lowers the cost: a minimum to rounding
    return a, c, s, 0
