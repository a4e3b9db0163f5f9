"""How close is the whole z-point distribution to a multivariate normal (MND)?

For an MND in d dimensions the squared Mahalanobis distance of the points to
the centre follows chi2(d).  This module computes the distances (chunked,
memmap-safe), a chi-square Q-Q comparison with the Kolmogorov-Smirnov
statistic, and the fraction of points inside "k-sigma" ellipsoids against
theory.

Definition used for the k-sigma ellipsoid
-----------------------------------------
In one dimension, +-k sigma holds the probability ``erf(k / sqrt 2)``
(68.3 %, 95.4 %, 99.7 % for k = 1, 2, 3).  The *k-sigma ellipsoid* in d
dimensions is the Mahalanobis ellipsoid that holds that same probability
under the MND: ``d2 <= chi2.ppf(erf(k / sqrt 2), d)``.  (The ellipsoid of
Mahalanobis *radius* k holds only ``chi2.cdf(k**2, d)``, which is ~0 for
d = 256 and k = 3, because almost all the mass of a high-dimensional
Gaussian lies in a thin shell near radius sqrt(d).)  Both are reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from core.moments import mean_and_cov
from core.validation import check_int, check_latents, check_positive

CHUNK_ROWS = 65536


def whitening_matrix(cov, rcond=1e-10):
    """Matrix W with ``|(z - mean) @ W|^2`` = squared Mahalanobis distance.

    Uses ``eigh``; eigenvalues below ``rcond * max eigenvalue`` are dropped
    (pseudo-inverse), so a rank-deficient covariance (a dead component, or
    fewer points than dimensions) does not blow up.

    Parameters
    ----------
    cov : ndarray of shape (d, d)
    rcond : float > 0

    Returns
    -------
    W : ndarray of shape (d, rank)
    """
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"cov must be a square matrix, got shape {cov.shape}")
    rcond = check_positive(rcond, "rcond")
    evals, evecs = np.linalg.eigh((cov + cov.T) / 2.0)
    top = evals.max() if evals.size else 0.0
    if not top > 0:
        raise ValueError("cov has no positive eigenvalue; the points do not spread at all")
    keep = evals > rcond * top
    return evecs[:, keep] / np.sqrt(evals[keep])


def mahalanobis_sq(Z, mean, cov, rcond=1e-10, chunk_rows=CHUNK_ROWS, return_rank=False):
    """Squared Mahalanobis distance of every point to ``mean`` under ``cov``.

    Parameters
    ----------
    Z : array-like of shape (n_samples, d)
        Read in chunks (memmap-safe).
    mean : ndarray of shape (d,)
    cov : ndarray of shape (d, d)
    rcond : float
        Relative eigenvalue cut-off of the pseudo-inverse.
    return_rank : bool
        Also return the rank kept (the chi2 degrees of freedom to compare with).

    Returns
    -------
    d2 : ndarray of shape (n_samples,), float64
    rank : int, only if ``return_rank``
    """
    Z = check_latents(Z)
    mean = np.asarray(mean, dtype=np.float64).ravel()
    if mean.shape[0] != Z.shape[1]:
        raise ValueError(f"mean has {mean.shape[0]} entries but Z has {Z.shape[1]} components")
    cov = np.asarray(cov, dtype=np.float64)
    if cov.shape != (Z.shape[1], Z.shape[1]):
        raise ValueError(f"cov must have shape {(Z.shape[1],) * 2}, got {cov.shape}")
    W = whitening_matrix(cov, rcond)
    out = whitened_sq_norms(Z, mean, W, chunk_rows)
    return (out, W.shape[1]) if return_rank else out


def whitened_sq_norms(Z, mean, W, chunk_rows=CHUNK_ROWS):
    """``|(z - mean) @ W|^2`` for every row, chunked (memmap-safe).

    With ``W = whitening_matrix(cov)`` these are the squared Mahalanobis
    distances; callers that test many sets against one covariance compute
    ``W`` once.

    Parameters
    ----------
    Z : array-like of shape (n_samples, d)
    mean : ndarray of shape (d,)
    W : ndarray of shape (d, rank)

    Returns
    -------
    d2 : ndarray of shape (n_samples,), float64
    """
    out = np.empty(Z.shape[0])
    for start in range(0, Z.shape[0], chunk_rows):
        y = (np.asarray(Z[start:start + chunk_rows], dtype=np.float64) - mean) @ W
        out[start:start + y.shape[0]] = np.einsum("ij,ij->i", y, y)
    return out


def chi2_qq(d2, z_dim, n_points=200):
    """Quantiles of the squared distances against chi2(z_dim).

    Parameters
    ----------
    d2 : ndarray of shape (n_samples,)
        Squared Mahalanobis distances.
    z_dim : int
        Degrees of freedom (the rank of the covariance).
    n_points : int
        Number of quantiles, at probabilities (i + 0.5) / n_points.

    Returns
    -------
    dict
        ``probabilities``, ``theoretical``, ``empirical`` (arrays of shape
        (n_points,)), ``ks_statistic`` and ``ks_pvalue`` (two-sided
        Kolmogorov-Smirnov test of d2 against chi2(z_dim)), ``dof``.
    """
    d2 = np.asarray(d2, dtype=np.float64).ravel()
    if d2.size < 1:
        raise ValueError("d2 is empty; at least one distance is required")
    dof = check_int(z_dim, "z_dim", low=1)
    n_points = check_int(n_points, "n_points", low=2)
    p = (np.arange(n_points) + 0.5) / n_points
    ks = stats.kstest(d2, stats.chi2(dof).cdf)
    return {
        "probabilities": p,
        "theoretical": stats.chi2.ppf(p, dof),
        "empirical": np.quantile(d2, p),
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "dof": dof,
    }


def k_sigma_probability(k):
    """1-D probability of +-k sigma: ``erf(k / sqrt 2)``."""
    k = check_positive(k, "k")
    return float(special.erf(k / np.sqrt(2.0)))


def k_sigma_threshold(k, z_dim):
    """Squared-Mahalanobis bound of the k-sigma ellipsoid in ``z_dim`` dimensions.

    ``chi2.ppf(erf(k / sqrt 2), z_dim)``: the one definition of the "k-sigma
    region" used by the MND check, the samplers and the scoreboard.
    """
    dof = check_int(z_dim, "z_dim", low=1)
    return float(stats.chi2.ppf(k_sigma_probability(k), dof))


def ellipsoid_fraction(d2, z_dim, k):
    """Measured and theoretical fraction of points inside the k-sigma ellipsoid.

    See the module docstring for the definition: the k-sigma ellipsoid holds
    the 1-D +-k sigma probability ``erf(k / sqrt 2)`` under chi2(z_dim),
    i.e. ``d2 <= chi2.ppf(erf(k / sqrt 2), z_dim)``.

    Parameters
    ----------
    d2 : ndarray of shape (n_samples,)
    z_dim : int
        Degrees of freedom.
    k : float > 0

    Returns
    -------
    dict
        ``k``; ``threshold_sq`` (the d2 cut-off), ``theory``
        (erf(k / sqrt 2)), ``measured``; and for the ellipsoid of Mahalanobis
        radius k itself: ``radius_theory`` (chi2.cdf(k^2, z_dim)) and
        ``radius_measured``.
    """
    d2 = np.asarray(d2, dtype=np.float64).ravel()
    if d2.size < 1:
        raise ValueError("d2 is empty; at least one distance is required")
    dof = check_int(z_dim, "z_dim", low=1)
    p = k_sigma_probability(k)
    k = float(k)
    thr = k_sigma_threshold(k, dof)
    return {
        "k": k, "threshold_sq": thr, "theory": p,
        "measured": float(np.mean(d2 <= thr)),
        "radius_theory": float(stats.chi2.cdf(k * k, dof)),
        "radius_measured": float(np.mean(d2 <= k * k)),
    }


def mnd_summary(Z, ks=(1.0, 2.0, 3.0), n_points=200, rcond=1e-10):
    """The whole MND check in one call.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
    ks : sequence of float > 0
        Sigma levels for :func:`ellipsoid_fraction`.
    n_points : int
        Quantiles for :func:`chi2_qq`.

    Returns
    -------
    dict
        ``n_samples``, ``z_dim``, ``rank`` (degrees of freedom used),
        ``mean``, ``cov``, ``d2`` (shape (n_samples,)), ``d2_mean`` (theory:
        rank) and ``d2_var`` (theory: 2 rank), ``qq`` (see :func:`chi2_qq`),
        ``ks_statistic``, ``ks_pvalue``, ``fractions`` (DataFrame, one row
        per k with the columns of :func:`ellipsoid_fraction`).
    """
    Z = check_latents(Z, min_rows=2)
    mean, cov = mean_and_cov(Z)
    d2, rank = mahalanobis_sq(Z, mean, cov, rcond=rcond, return_rank=True)
    qq = chi2_qq(d2, rank, n_points)
    rows = [ellipsoid_fraction(d2, rank, k) for k in np.atleast_1d(ks).tolist()]
    return {
        "n_samples": int(Z.shape[0]), "z_dim": int(Z.shape[1]), "rank": int(rank),
        "mean": mean, "cov": cov, "d2": d2,
        "d2_mean": float(d2.mean()), "d2_var": float(d2.var()),
        "qq": qq, "ks_statistic": qq["ks_statistic"], "ks_pvalue": qq["ks_pvalue"],
        "fractions": pd.DataFrame(rows),
    }


__all__ = ["chi2_qq", "ellipsoid_fraction", "k_sigma_probability", "k_sigma_threshold", "mahalanobis_sq",
           "mnd_summary", "whitened_sq_norms", "whitening_matrix"]
