"""Coordinate planes, slices and confidence ellipses (docs/method.md, Coordinate planes).

A *confidence ellipse at n sigma* of a 2-D point cloud is the Mahalanobis
ellipse of radius n around the pair's mean under the pair's covariance.  It
is the curve drawn by matplotlib's gallery example ``confidence_ellipse``
(a unit circle-based ellipse with radii sqrt(1 +- pearson), rotated by 45
degrees and scaled by n sigma_x, n sigma_y); here the same curve is given
by its principal axes (eigen-decomposition of the 2x2 covariance), which is
what a ``matplotlib.patches.Ellipse`` takes directly.  For a true bivariate
normal it holds the probability ``1 - exp(-n^2 / 2)`` whatever the
eccentricity (39.3 %, 86.5 %, 98.9 % at 1, 2, 3 sigma).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.chunks import CHUNK_ROWS, row_blocks
from core.stats.pca import LatentPCA
from core.validation import check_latents, check_pair, check_positive


@dataclass(frozen=True)
class EllipseParams:
    """A confidence ellipse.

    Attributes
    ----------
    centre : tuple of float
        (x, y) of the centre.
    width, height : float
        Full lengths of the axes (``matplotlib.patches.Ellipse`` convention);
        ``width`` is the major axis.
    angle : float
        Anticlockwise rotation of the width axis from the x axis, degrees,
        in (-90, 90].
    n_std : float
        Mahalanobis radius (sigma level).
    """

    centre: tuple
    width: float
    height: float
    angle: float
    n_std: float

    def as_dict(self):
        return {"centre_x": self.centre[0], "centre_y": self.centre[1], "width": self.width,
                "height": self.height, "angle": self.angle, "n_std": self.n_std}


def _check_cov2(cov2):
    cov2 = np.asarray(cov2, dtype=np.float64)
    if cov2.shape != (2, 2):
        raise ValueError(f"cov2 must have shape (2, 2), got {cov2.shape}")
    if not np.all(np.isfinite(cov2)):
        raise ValueError("cov2 contains NaN or infinite values")
    return (cov2 + cov2.T) / 2.0


def ellipse_params(mean2, cov2, n_std):
    """Axes and angle of the n-sigma confidence ellipse.

    Parameters
    ----------
    mean2 : array-like of shape (2,)
    cov2 : array-like of shape (2, 2)
    n_std : float > 0
        Sigma level (Mahalanobis radius).

    Returns
    -------
    EllipseParams
        width = 2 n sqrt(lambda_max), height = 2 n sqrt(lambda_min), angle of
        the eigenvector of lambda_max.
    """
    n_std = check_positive(n_std, "n_std")
    mean2 = np.asarray(mean2, dtype=np.float64).ravel()
    if mean2.shape != (2,):
        raise ValueError(f"mean2 must have 2 entries, got shape {mean2.shape}")
    evals, evecs = np.linalg.eigh(_check_cov2(cov2))
    evals = np.clip(evals, 0.0, None)
    major = evecs[:, 1]
    angle = float(np.degrees(np.arctan2(major[1], major[0])))
    # Fold into (-90, 90]: an axis has no direction.
    if angle <= -90.0:
        angle += 180.0
    elif angle > 90.0:
        angle -= 180.0
    return EllipseParams(centre=(float(mean2[0]), float(mean2[1])),
                         width=float(2.0 * n_std * np.sqrt(evals[1])),
                         height=float(2.0 * n_std * np.sqrt(evals[0])),
                         angle=angle, n_std=n_std)


def confidence_ellipse(x, y, n_std=3.0):
    """Ellipse parameters of the n-sigma confidence ellipse of points (x, y).

    Same inputs as matplotlib's gallery ``confidence_ellipse`` (mean and
    ``np.cov`` with ddof = 1), but returns :class:`EllipseParams` instead of
    drawing.

    Parameters
    ----------
    x, y : array-like of shape (n_samples,)
    n_std : float > 0
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size != y.size:
        raise ValueError(f"x and y must be the same size, got {x.size} and {y.size}")
    if x.size < 2:
        raise ValueError(f"at least 2 points are required, got {x.size}")
    return ellipse_params((x.mean(), y.mean()), np.cov(x, y), n_std)


def ellipse_points(params, n=200):
    """Closed polyline tracing the ellipse.

    Parameters
    ----------
    params : EllipseParams
    n : int >= 3
        Number of points; the last equals the first.

    Returns
    -------
    ndarray of shape (n, 2)
    """
    if n < 3:
        raise ValueError(f"n must be >= 3, got {n}")
    t = np.linspace(0.0, 2.0 * np.pi, n)
    a, b = params.width / 2.0, params.height / 2.0
    th = np.radians(params.angle)
    c, s = np.cos(th), np.sin(th)
    u, v = a * np.cos(t), b * np.sin(t)
    pts = np.column_stack([params.centre[0] + c * u - s * v, params.centre[1] + s * u + c * v])
    pts[-1] = pts[0]
    return pts


def theoretical_coverage(n_std):
    """Probability inside the n-sigma ellipse of a bivariate normal: 1 - exp(-n^2/2)."""
    n_std = check_positive(n_std, "n_std")
    return float(-np.expm1(-0.5 * n_std * n_std))


def _check_not_flat(cov2):
    # A constant coordinate (or two exactly collinear ones) gives a flat
    # ellipse: its "coverage" would be a 1-D fraction printed next to the
    # 2-D theory 1 - exp(-n^2/2).  Refuse with a message instead.
    var = np.diag(cov2)
    det = float(np.linalg.det(cov2))
    if not (var.min() > 0 and det > 1e-10 * var[0] * var[1]):
        which = ("the first coordinate is constant" if not var[0] > 0 else
                 "the second coordinate is constant" if not var[1] > 0 else
                 "the two coordinates are (almost) exactly collinear")
        raise ValueError(
            f"the points have a singular 2-D covariance ({which}; variances {var[0]:.3g}, "
            f"{var[1]:.3g}, correlation {cov2[0, 1] / np.sqrt(var[0] * var[1]) if var.min() > 0 else float('nan'):.6f}): "
            "the confidence ellipse is flat and its coverage is not comparable with the "
            "bivariate theory 1 - exp(-n^2/2); choose another pair")
    return cov2


def _mahalanobis2_2d(points, mean2, cov2):
    # The 2 x 2 inverse in closed form (callers have refused a flat covariance):
    # a fifth of the time of pinv + einsum, paid on every plane change.
    (a, b), (_, c) = np.asarray(cov2, dtype=np.float64)
    dx = points[:, 0] - mean2[0]
    dy = points[:, 1] - mean2[1]
    return (c * dx * dx - 2.0 * b * dx * dy + a * dy * dy) / (a * c - b * b)


def measured_coverage(points, mean2, cov2, n_std):
    """Fraction of 2-D points with Mahalanobis distance <= n_std.

    Parameters
    ----------
    points : ndarray of shape (n_samples, 2)
    mean2 : ndarray of shape (2,)
    cov2 : ndarray of shape (2, 2)
    n_std : float > 0
    """
    n_std = check_positive(n_std, "n_std")
    points = _check_points(points)
    d2 = _mahalanobis2_2d(points, np.asarray(mean2, np.float64), _check_not_flat(_check_cov2(cov2)))
    return float(np.mean(d2 <= n_std * n_std))


def _check_points(points):
    points = check_latents(points, name="points", min_rows=1)
    if points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {points.shape}")
    return np.asarray(points, dtype=np.float64)


def plane_ellipses(points, sigmas=(1.0, 2.0, 3.0)):
    """Confidence ellipses of a projected point cloud, with their coverage.

    Parameters
    ----------
    points : ndarray of shape (n_samples, 2)
        At least 2 points.
    sigmas : sequence of float > 0

    Returns
    -------
    pandas.DataFrame
        One row per sigma: ``sigma``, ``theory`` (1 - exp(-sigma^2/2)),
        ``measured`` (fraction of points inside), ``centre_x``,
        ``centre_y``, ``width``, ``height``, ``angle`` (degrees).  Rebuild the
        ellipse with :func:`params_from_row`.

    Raises
    ------
    ValueError
        If the pair's covariance is singular (a constant coordinate or two
        exactly collinear ones): a flat ellipse has no 2-D coverage.
    """
    points = _check_points(points)
    if points.shape[0] < 2:
        raise ValueError(f"points has {points.shape[0]} rows; at least 2 are required")
    sig = [check_positive(s, "sigma") for s in np.atleast_1d(sigmas).tolist()]
    if not sig:
        raise ValueError("sigmas must not be empty, got []")
    mean2 = points.mean(axis=0)
    cov2 = _check_not_flat(np.cov(points, rowvar=False))
    d2 = _mahalanobis2_2d(points, mean2, cov2)
    rows = []
    for s in sig:
        p = ellipse_params(mean2, cov2, s)
        rows.append({"sigma": s, "theory": theoretical_coverage(s),
                     "measured": float(np.mean(d2 <= s * s)),
                     "centre_x": p.centre[0], "centre_y": p.centre[1],
                     "width": p.width, "height": p.height, "angle": p.angle})
    return pd.DataFrame(rows)


def params_from_row(row):
    """EllipseParams from a row of :func:`plane_ellipses`."""
    return EllipseParams(centre=(float(row["centre_x"]), float(row["centre_y"])),
                         width=float(row["width"]), height=float(row["height"]),
                         angle=float(row["angle"]), n_std=float(row["sigma"]))


def _check_space(space):
    if space not in ("latent", "pca"):
        raise ValueError(f"space must be 'latent' or 'pca', got {space!r}")


def _pca_for(Z, pca):
    if pca is None:
        pca = LatentPCA().fit(Z)
    if not hasattr(pca, "components_"):
        raise ValueError("pca is not fitted; call fit(Z) first")
    if pca.components_.shape[1] != Z.shape[1]:
        raise ValueError(f"pca was fitted on {pca.components_.shape[1]} components, "
                         f"Z has {Z.shape[1]}")
    return pca


def plane_coordinates(Z, i, j, space="latent", pca=None, chunk_rows=CHUNK_ROWS):
    """Orthogonal projection of all z-points onto the plane of axes (i, j).

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
        Memmap-safe: only two columns (latent) or two projections (pca) are
        materialised.
    i, j : int
        Different axis indices: latent components, or PCA components
        (0 = leading) when ``space="pca"``.
    space : {"latent", "pca"}
    pca : core.stats.pca.LatentPCA or None
        Fitted PCA for ``space="pca"``; fitted on Z when None.

    Returns
    -------
    points : ndarray of shape (n_samples, 2), float64
    """
    Z = check_latents(Z, finite=False)
    _check_space(space)
    if space == "latent":
        i, j = check_pair(i, j, Z.shape[1])
        out = np.empty((Z.shape[0], 2))
        for rows, block in row_blocks(Z, chunk_rows):
            out[rows] = block[:, [i, j]]
        return _check_finite_plane(out)
    pca = _pca_for(Z, pca)
    i, j = check_pair(i, j, pca.components_.shape[0])
    W = pca.components_[[i, j]].T
    out = np.empty((Z.shape[0], 2))
    for rows, block in row_blocks(Z, chunk_rows, np.float64):
        out[rows] = (block - pca.mean_) @ W
    return _check_finite_plane(out)


def _check_finite_plane(out):
    # Only the two projected columns are checked: a full finiteness pass over
    # a 200k x 256 matrix would cost more than the projection itself.
    bad = out.size - np.count_nonzero(np.isfinite(out))
    if bad:
        raise ValueError(f"Z contains NaN or infinite values ({bad} in the projected plane)")
    return out


def slice_mask(Z, i, j, t, space="latent", pca=None, chunk_rows=CHUNK_ROWS, allow_empty=False):
    """Points whose coordinates other than i and j all lie in [-t, t] ([F-IV]).

    Removes projection effects: what is left lies close to the (i, j) plane.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
    i, j : int
        The plane's axes (latent or PCA indices).
    t : float > 0
        Half-width of the slab for all other coordinates.
    space : {"latent", "pca"}
        In "pca", the other coordinates are all the fitted PCA coordinates
        other than i and j.
    pca : core.stats.pca.LatentPCA or None
    allow_empty : bool
        Return an all-False mask instead of raising when no point is left
        (an empty slice is a finding: [F-IV], t = 1.5).

    Returns
    -------
    mask : ndarray of shape (n_samples,), bool

    Raises
    ------
    ValueError
        If no point is left and not ``allow_empty`` (the message names t).
    """
    Z = check_latents(Z)
    _check_space(space)
    t = check_positive(t, "t")
    if space == "pca":
        pca = _pca_for(Z, pca)
        dim = pca.components_.shape[0]
    else:
        dim = Z.shape[1]
    i, j = check_pair(i, j, dim)
    others = np.ones(dim, dtype=bool)
    others[[i, j]] = False
    mask = np.empty(Z.shape[0], dtype=bool)
    for rows, block in row_blocks(Z, chunk_rows):
        if space == "pca":
            block = (block.astype(np.float64) - pca.mean_) @ pca.components_.T
        mask[rows] = np.all(np.abs(block[:, others]) <= t, axis=1)
    if not mask.any() and not allow_empty:
        raise ValueError(f"the slice with t={t} leaves no point (all other coordinates must lie "
                         f"in [-{t}, {t}]); choose a larger t")
    return mask



def check_sigmas(values, name="sigma level"):
    """Parse sigma levels typed by a person: numbers or strings such as ``"2.2"``.

    Parameters
    ----------
    values : iterable of float or str

    Returns
    -------
    sigmas : tuple of float, sorted, without duplicates

    Raises
    ------
    ValueError
        Naming the first value that is not a number, not finite or not > 0.
    """
    out = []
    for v in values:
        try:
            x = float(str(v).strip().replace("σ", "").replace(",", ".")) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number greater than 0, got {v!r}") from None
        if not np.isfinite(x) or x <= 0:
            raise ValueError(f"{name} must be a finite number greater than 0, got {v!r}")
        out.append(x)
    return tuple(sorted(set(out)))

__all__ = ["EllipseParams", "check_sigmas", "confidence_ellipse", "ellipse_params", "ellipse_points",
           "measured_coverage", "params_from_row", "plane_coordinates", "plane_ellipses",
           "slice_mask", "theoretical_coverage"]
