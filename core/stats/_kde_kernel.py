"""Compiled (numba) passes of the 2-D KDE: moments, tail order statistics, linear binning.

Imported at the top of :mod:`core.stats.kde` inside ``try/except ImportError``
(numba is optional: without it the NumPy code runs and gives the same numbers
up to summation order).  Each function
is one pass over the points in machine code, where the NumPy versions need
several temporaries of n elements (the binning alone was 30 ms of the 37 ms
that 200,000 points on 128 x 128 took).  ``cache=True`` keeps the machine
code in ``core/__pycache__`` between processes.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def moments2(x, y):
    """Means, covariance (ddof 1), minima and maxima of two coordinates in one pass.

    Sums are taken about the first point (shifted one-pass formula, precise
    for data far from the origin).

    Returns
    -------
    mean : ndarray of shape (2,)
    cov : ndarray of shape (2, 2)
    lo, hi : ndarray of shape (2,)
    """
    n = x.shape[0]
    ax, ay = x[0], y[0]
    sx = sy = sxx = sxy = syy = 0.0
    xmin = xmax = x[0]
    ymin = ymax = y[0]
    for i in range(n):
        u = x[i]
        v = y[i]
        if u < xmin:
            xmin = u
        elif u > xmax:
            xmax = u
        if v < ymin:
            ymin = v
        elif v > ymax:
            ymax = v
        u -= ax
        v -= ay
        sx += u
        sy += v
        sxx += u * u
        sxy += u * v
        syy += v * v
    mx, my = sx / n, sy / n
    cov = np.empty((2, 2))
    cov[0, 0] = (sxx - n * mx * mx) / (n - 1)
    cov[1, 1] = (syy - n * my * my) / (n - 1)
    cov[0, 1] = cov[1, 0] = (sxy - n * mx * my) / (n - 1)
    mean = np.array([mx + ax, my + ay])
    return mean, cov, np.array([xmin, ymin]), np.array([xmax, ymax])


@njit(cache=True, nogil=True)
def order_stats(v, k_lo, k_hi, vmin, vmax):
    """Exact k_lo-th and k_hi-th smallest values of ``v`` (0-based), in O(n).

    One counting pass on 4096 buckets over [vmin, vmax] finds the bucket of
    each order statistic; only the values in those two buckets are sorted.
    Equal to ``np.partition(v, [k_lo, k_hi])[[k_lo, k_hi]]``.
    """
    nb = 4096
    n = v.shape[0]
    span = vmax - vmin
    if not span > 0.0:
        return vmin, vmin
    scale = nb / span
    counts = np.zeros(nb + 1, np.int64)
    for i in range(n):
        counts[min(int((v[i] - vmin) * scale), nb - 1)] += 1
    # Bucket and rank of each order statistic, then one pass collects both buckets.
    bs = np.empty(2, np.int64)
    below = np.empty(2, np.int64)
    for t in range(2):
        k = k_lo if t == 0 else k_hi
        c = 0
        b = 0
        while c + counts[b] <= k:
            c += counts[b]
            b += 1
        bs[t] = b
        below[t] = c
    lo_vals = np.empty(counts[bs[0]])
    hi_vals = np.empty(counts[bs[1]])
    m0 = 0
    m1 = 0
    for i in range(n):
        b = min(int((v[i] - vmin) * scale), nb - 1)
        if b == bs[0]:
            lo_vals[m0] = v[i]
            m0 += 1
        if b == bs[1]:
            hi_vals[m1] = v[i]
            m1 += 1
    lo_vals.sort()
    hi_vals.sort()
    out = np.empty(2)
    out[0] = lo_vals[k_lo - below[0]]
    out[1] = hi_vals[k_hi - below[1]]
    return out[0], out[1]


@njit(cache=True, nogil=True)
def linear_binning(x, y, x0, dx, nx, y0, dy, ny):
    """Bilinear spreading of unit masses onto an (ny, nx) grid of nodes.

    Points outside the nodes' span are dropped (only when zoomed), as in
    ``core.stats.kde._linear_binning``.
    """
    grid = np.zeros((ny, nx))
    rx = 1.0 / dx
    ry = 1.0 / dy
    for i in range(x.shape[0]):
        fx = (x[i] - x0) * rx
        fy = (y[i] - y0) * ry
        if not (fx >= 0.0 and fx <= nx - 1 and fy >= 0.0 and fy <= ny - 1):
            continue
        ix = min(int(fx), nx - 2)
        iy = min(int(fy), ny - 2)
        wx = fx - ix
        wy = fy - iy
        w11 = wx * wy
        w01 = wy - w11
        w10 = wx - w11
        grid[iy, ix] += 1.0 - wx - w01
        grid[iy, ix + 1] += w10
        grid[iy + 1, ix] += w01
        grid[iy + 1, ix + 1] += w11
    return grid
