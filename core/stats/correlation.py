"""Pearson correlation of latent components (docs/method.md, Correlation [F-III]).

The seeds count the component pairs whose |r| exceeds 0.1 ... 0.6 and list
the pairs above 0.5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.stats.moments import mean_and_cov
from core.validation import check_float, check_int

DEFAULT_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def correlation_from_cov(cov):
    """Pearson matrix from a covariance matrix.

    Parameters
    ----------
    cov : ndarray of shape (d, d)

    Returns
    -------
    R : ndarray of shape (d, d), float64
        Clipped to [-1, 1] with an exact unit diagonal.  A zero-variance
        component gets r = 0 with every other one (``np.corrcoef`` would give
        NaN), so it never counts as correlated.
    """
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"cov must be a square matrix, got shape {cov.shape}")
    var = np.diag(cov).copy()
    ok = var > 0
    inv = np.zeros_like(var)
    inv[ok] = 1.0 / np.sqrt(var[ok])
    R = cov * inv[:, None] * inv[None, :]
    np.clip(R, -1.0, 1.0, out=R)
    np.fill_diagonal(R, 1.0)
    return R


def correlation_matrix(Z):
    """Pearson correlation matrix of the components of ``Z``.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
        Read in chunks (memmap-safe) through :func:`core.stats.moments.mean_and_cov`.

    Returns
    -------
    R : ndarray of shape (z_dim, z_dim)
        See :func:`correlation_from_cov`.
    """
    _, cov = mean_and_cov(Z)
    return correlation_from_cov(cov)


def _check_R(R):
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise ValueError(f"R must be a square correlation matrix, got shape {R.shape}")
    return R


def _upper(R):
    iu, ju = np.triu_indices(R.shape[0], k=1)
    return iu, ju, R[iu, ju]


def threshold_counts(R, thresholds=DEFAULT_THRESHOLDS):
    """Number of component pairs i < j with |r_ij| above each threshold.

    Parameters
    ----------
    R : ndarray of shape (d, d)
    thresholds : sequence of float in [0, 1]

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold``, ``n_pairs`` (pairs with |r| > threshold,
        strictly) and ``fraction`` (of all d (d - 1) / 2 pairs).
    """
    R = _check_R(R)
    ths = [check_float(t, "thresholds", 0.0, 1.0) for t in np.atleast_1d(thresholds).tolist()]
    _, _, r = _upper(R)
    a = np.sort(np.abs(r))
    counts = [int(a.size - np.searchsorted(a, t, side="right")) for t in ths]
    total = max(a.size, 1)
    return pd.DataFrame({"threshold": ths, "n_pairs": counts,
                         "fraction": np.asarray(counts) / total})


def top_pairs(R, threshold=0.5, n=None):
    """Component pairs i < j with |r_ij| > threshold, strongest first.

    Parameters
    ----------
    R : ndarray of shape (d, d)
    threshold : float in [0, 1]
    n : int or None
        Keep at most n pairs.

    Returns
    -------
    pandas.DataFrame
        Columns ``i``, ``j``, ``r``, sorted by |r| descending (ties: by i,
        then j).
    """
    R = _check_R(R)
    threshold = check_float(threshold, "threshold", 0.0, 1.0)
    iu, ju, r = _upper(R)
    keep = np.abs(r) > threshold
    iu, ju, r = iu[keep], ju[keep], r[keep]
    # lexsort: last key is primary -> |r| descending, then i, then j.
    order = np.lexsort((ju, iu, -np.abs(r)))
    if n is not None:
        order = order[:check_int(n, "n", low=1)]
    return pd.DataFrame({"i": iu[order].astype(int), "j": ju[order].astype(int), "r": r[order]})


__all__ = ["correlation_from_cov", "correlation_matrix", "threshold_counts", "top_pairs",
           "DEFAULT_THRESHOLDS"]
