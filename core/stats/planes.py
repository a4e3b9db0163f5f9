"""Choosing what to look at in a coordinate plane: zoom windows and the pairs of a grid of planes.

The projections themselves (``plane_coordinates``, ``slice_mask``) and the
confidence ellipses are in :mod:`core.stats.ellipses`.
"""

from __future__ import annotations

import numpy as np

from core.stats.correlation import top_pairs
from core.validation import check_float, check_int, check_positive

#: Layouts of :func:`grid_pairs`.
GRID_LAYOUTS = ("consecutive", "against-next", "top-correlated")


#: Units of :func:`zoom_window`.
ZOOM_UNITS = ("std", "absolute")


def zoom_window(points, centre=(0.0, 0.0), half_width=1.0, units="std"):
    """A square window of the plane, in the points' standard deviations or in absolute coordinates.

    Parameters
    ----------
    points : ndarray of shape (n_samples, 2)
    centre : (float, float)
        Window centre: in standard deviations from the points' mean, per axis
        (``units="std"``), or the point itself (``units="absolute"``).
    half_width : float > 0
        Half the window's side: in standard deviations per axis, or in
        coordinate units (a fixed square such as +-0.25 around a point).
    units : {"std", "absolute"}

    Returns
    -------
    xlim, ylim : (float, float)
    inside : ndarray of shape (n_samples,), bool
        The points inside the window (edges included).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 1:
        raise ValueError(f"points must have shape (n, 2) with n >= 1, got {points.shape}")
    cx = check_float(centre[0], "window centre x")
    cy = check_float(centre[1], "window centre y")
    w = check_positive(half_width, "zoom half-width")
    if units == "absolute":
        mean, std = np.zeros(2), np.ones(2)
    elif units == "std":
        mean, std = points.mean(axis=0), points.std(axis=0)
    else:
        raise ValueError(f"zoom units must be one of {ZOOM_UNITS}, got {units!r}")
    xlim = (mean[0] + (cx - w) * std[0], mean[0] + (cx + w) * std[0])
    ylim = (mean[1] + (cy - w) * std[1], mean[1] + (cy + w) * std[1])
    inside = ((points[:, 0] >= xlim[0]) & (points[:, 0] <= xlim[1])
              & (points[:, 1] >= ylim[0]) & (points[:, 1] <= ylim[1]))
    return xlim, ylim, inside


def grid_pairs(layout, start, z_dim, correlation=None, n=6):
    """The axis pairs of a grid of ``n`` planes.

    Parameters
    ----------
    layout : {"consecutive", "against-next", "top-correlated"}
        ``(k, k+1), (k+2, k+3), ...``; ``(k, k+1), (k, k+2), ...``; or the
        ``n`` pairs with the largest ``|r|`` (needs ``correlation``).
    start : int
        The first component k (ignored by "top-correlated").
    z_dim : int
    correlation : ndarray of shape (z_dim, z_dim), optional
    n : int

    Returns
    -------
    pairs : list of (int, int)
        The pairs inside ``0 .. z_dim - 1``.
    out_of_range : list of (int, int)
        The pairs of the layout that are not.
    """
    n = check_int(n, "n", low=1)
    z_dim = check_int(z_dim, "z_dim", low=2)
    if layout == "consecutive":
        k = check_int(start, "start component k")
        pairs = [(k + 2 * m, k + 2 * m + 1) for m in range(n)]
    elif layout == "against-next":
        k = check_int(start, "start component k")
        pairs = [(k, k + m) for m in range(1, n + 1)]
    elif layout == "top-correlated":
        if correlation is None:
            raise ValueError("layout 'top-correlated' needs the correlation matrix")
        tp = top_pairs(correlation, threshold=0.0, n=n)
        pairs = [(int(r.i), int(r.j)) for r in tp.itertuples(index=False)]
    else:
        raise ValueError(f"layout must be one of {GRID_LAYOUTS}, got {layout!r}")
    bad = [p for p in pairs if not (0 <= p[0] < z_dim and 0 <= p[1] < z_dim)]
    return [p for p in pairs if p not in bad], bad


__all__ = ["GRID_LAYOUTS", "ZOOM_UNITS", "grid_pairs", "zoom_window"]
