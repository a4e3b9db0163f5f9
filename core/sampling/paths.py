"""Paths through latent space (docs/method.md, Paths [F-VI]).

All functions return float32 arrays of shape (n_points, z_dim) ready for
decoding: the line from the origin to the centre of the distribution, lines
through the centre inside a coordinate plane, straight interpolation between
two z-points, and walks along an attribute direction.
"""

from __future__ import annotations

import numpy as np

from core.chunks import row_blocks
from core.validation import MAX_SAMPLES, check_float, check_int, check_latents, check_pair


def _check_n_points(n_points):
    return check_int(n_points, "n_points", low=2, high=MAX_SAMPLES)


def _vector(z, name):
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1 or z.size < 1:
        raise ValueError(f"{name} must be a 1-D vector, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return z


def _vector_pair(a, b, name_a, name_b):
    a, b = _vector(a, name_a), _vector(b, name_b)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def interpolate(z_a, z_b, n_points):
    """Equally spaced points on the straight segment from z_a to z_b.

    Parameters
    ----------
    z_a, z_b : array-like of shape (z_dim,)
    n_points : int, 2 <= n_points <= MAX_SAMPLES
        Includes both end points.

    Returns
    -------
    path : ndarray of shape (n_points, z_dim), float32
    """
    a, b = _vector_pair(z_a, z_b, "z_a", "z_b")
    n = _check_n_points(n_points)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return ((1.0 - t) * a + t * b).astype(np.float32)


def origin_to_centre(centre, n_points):
    """Points on the line from the origin to ``centre`` ([F-VI]).

    Parameters
    ----------
    centre : array-like of shape (z_dim,)
        Usually the mean of the z-points.
    n_points : int >= 2

    Returns
    -------
    path : ndarray of shape (n_points, z_dim), float32
        Row 0 is the origin, the last row the centre.
    """
    c = _vector(centre, "centre")
    return interpolate(np.zeros_like(c), c, n_points)


def line_through_centre(mean, cov_or_std, i, j, angle_deg, extent_sigma, n_points):
    """Line through the centre inside the coordinate plane (i, j).

    The direction makes the angle ``angle_deg`` with axis i, measured towards
    axis j; only components i and j vary.  Its extent is given in sigma
    *along that direction*: with the pair's 2-D covariance S and unit
    direction u, one sigma along u is ``sqrt(u^T S u)``, so the line runs
    from ``mean - extent_sigma * s * u`` to ``mean + extent_sigma * s * u``.

    Parameters
    ----------
    mean : array-like of shape (z_dim,)
    cov_or_std : array-like of shape (z_dim, z_dim) or (z_dim,)
        Full covariance, or per-component standard deviations (no
        correlation assumed).
    i, j : int
        The pair's component indices (different, in [0, z_dim)).
    angle_deg : float
    extent_sigma : float > 0
    n_points : int >= 2

    Returns
    -------
    path : ndarray of shape (n_points, z_dim), float32
    """
    m = _vector(mean, "mean")
    d = m.size
    i, j = check_pair(i, j, d)
    angle = check_float(angle_deg, "angle_deg")
    ext = check_float(extent_sigma, "extent_sigma", low=0.0, low_inclusive=False)
    n = _check_n_points(n_points)
    S = np.asarray(cov_or_std, dtype=np.float64)
    if S.shape == (d, d):
        S2 = S[np.ix_([i, j], [i, j])]
    elif S.shape == (d,):
        S2 = np.diag(S[[i, j]] ** 2)
    else:
        raise ValueError(f"cov_or_std must have shape ({d}, {d}) or ({d},), got {S.shape}")
    if not np.all(np.isfinite(S2)):
        raise ValueError("cov_or_std contains NaN or infinite values")
    th = np.deg2rad(angle)
    u = np.array([np.cos(th), np.sin(th)])
    var = float(u @ S2 @ u)
    if var <= 0:
        raise ValueError(f"the data has no spread along angle_deg={angle_deg} in plane ({i}, {j})")
    half = ext * np.sqrt(var)
    t = np.linspace(-half, half, n)
    path = np.repeat(m[None, :], n, axis=0)
    path[:, i] += t * u[0]
    path[:, j] += t * u[1]
    return path.astype(np.float32)


def attribute_direction(Z, attr_values, name="attribute"):
    """Mean z of the images with an attribute minus the mean z of those without.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
    attr_values : array-like of shape (n_samples,)
        Truthy values mark images with the attribute (CelebA's -1/1, 0/1 or
        booleans; values > 0 count as "with").
    name : str
        The attribute's name, used in error messages.

    Returns
    -------
    direction : ndarray of shape (z_dim,), float64
    """
    Z = check_latents(Z)
    a = np.asarray(attr_values)
    if a.shape != (Z.shape[0],):
        raise ValueError(f"{name}: attr_values must have shape ({Z.shape[0]},), got {a.shape}")
    with_attr = a.astype(np.float64) > 0
    n_with = int(with_attr.sum())
    n_without = with_attr.size - n_with
    if n_with == 0 or n_without == 0:
        raise ValueError(
            f"attribute {name!r} needs images with and without it; got {n_with} with and {n_without} without"
        )
    s_with = np.zeros(Z.shape[1])
    s_all = np.zeros(Z.shape[1])
    for rows, block in row_blocks(Z, dtype=np.float64):
        s_all += block.sum(axis=0)
        s_with += block[with_attr[rows]].sum(axis=0)
    return s_with / n_with - (s_all - s_with) / n_without


def attribute_walk(z_start, direction, alphas):
    """Points ``z_start + alpha * direction`` for each alpha.

    Parameters
    ----------
    z_start, direction : array-like of shape (z_dim,)
    alphas : array-like of shape (n_points,), 1 <= n_points <= MAX_SAMPLES

    Returns
    -------
    path : ndarray of shape (n_points, z_dim), float32
    """
    z, v = _vector_pair(z_start, direction, "z_start", "direction")
    al = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if al.ndim != 1 or not 1 <= al.size <= MAX_SAMPLES:
        raise ValueError(f"alphas must be a 1-D list of 1..{MAX_SAMPLES} values, got shape {al.shape}")
    if not np.all(np.isfinite(al)):
        raise ValueError("alphas contains NaN or infinite values")
    return (z[None, :] + al[:, None] * v[None, :]).astype(np.float32)


__all__ = ["interpolate", "origin_to_centre", "line_through_centre", "attribute_direction", "attribute_walk"]
