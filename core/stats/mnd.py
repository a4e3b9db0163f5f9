"""How close is the whole z-point distribution to a multivariate normal (MND)?

For an MND in d dimensions with a KNOWN mean and covariance the squared
Mahalanobis distance of the points to the centre follows chi2(d).  The lab
never knows them: it estimates both from the same n points, and then the
exact law is a scaled Beta (Gnanadesikan & Kettenring 1972):

    n d2 / (n - 1)^2 ~ Beta(d / 2, (n - d - 1) / 2)        (in-sample)

and, for a point independent of the n used for the estimates, Hotelling's
T^2 (a scaled F):

    n d2 / (n + 1) ~ T^2(d, n - 1) = d (n - 1) / (n - d) F(d, n - d)   (held out)

Both converge to chi2(d) as n -> infinity, but at n = 300, d = 256 a true
MND puts 91 % of its points inside the "1-sigma" ellipsoid against 68 % for
chi2, and a KS test against chi2 rejects it (p ~ 1e-14).  :func:`mnd_summary`
therefore always compares with the exact in-sample law
(:func:`reference_law`); it equals chi2 to the eye once n >> d.

This module computes the distances (chunked, memmap-safe), a Q-Q comparison
with the Kolmogorov-Smirnov statistic, and the fraction of points inside
"k-sigma" ellipsoids against the reference law.

Definition used for the k-sigma ellipsoid
-----------------------------------------
In one dimension, +-k sigma holds the probability ``erf(k / sqrt 2)``
(68.3 %, 95.4 %, 99.7 % for k = 1, 2, 3).  The *k-sigma ellipsoid* in d
dimensions is the Mahalanobis ellipsoid that holds that same probability
under the MND: ``d2 <= chi2.ppf(erf(k / sqrt 2), d)``.  (The ellipsoid of
Mahalanobis *radius* k holds only ``chi2.cdf(k**2, d)``, which is ~0 for
d = 256 and k = 3, because almost all the mass of a high-dimensional
Gaussian lies in a thin shell near radius sqrt(d).)  Both are reported,
each with the fraction the reference law expects inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from core.chunks import CHUNK_ROWS, row_blocks
from core.stats.gram import symmetric_eigh
from core.stats.moments import mean_and_cov
from core.validation import check_int, check_latents, check_positive


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
    evals, evecs = symmetric_eigh((cov + cov.T) / 2.0)
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
    for rows, block in row_blocks(Z, chunk_rows, np.float64):
        y = (block - mean) @ W
        out[rows] = np.einsum("ij,ij->i", y, y)
    return out


REFERENCE_KINDS = ("in-sample", "held-out", "known")


@dataclass(frozen=True)
class ReferenceLaw:
    """Law of the squared Mahalanobis distances of an exact MND.

    Attributes
    ----------
    kind : {"in-sample", "held-out", "known"}
        How the mean and covariance were obtained: estimated from the same
        points, estimated from ``n_samples`` other points, or known.
    dof : int
        Dimension d (the rank of the covariance).
    n_samples : int or None
        Points the mean and covariance were estimated from (None: known).
    dist : scipy.stats frozen distribution
        ``cdf``, ``ppf``, ``mean()``, ``var()`` of d2.
    label : str
        Human-readable name, e.g. ``"scaled Beta(128, 21.5) (in-sample, n = 300)"``.
    """

    kind: str
    dof: int
    n_samples: object
    dist: object
    label: str

    def cdf(self, x):
        return self.dist.cdf(x)

    def ppf(self, p):
        return self.dist.ppf(p)


def reference_law(n_samples, dof, kind="in-sample"):
    """Exact law of squared Mahalanobis distances of an MND (see module docstring).

    Parameters
    ----------
    n_samples : int or None
        Points the mean and covariance (ddof = 1) were estimated from; None
        with ``kind="known"``.
    dof : int >= 1
        Dimension (rank of the covariance).
    kind : {"in-sample", "held-out", "known"}
        ``"in-sample"``: the distances of the same points (scaled Beta, needs
        n > dof + 1); ``"held-out"``: of independent points (Hotelling T^2,
        scaled F, needs n > dof); ``"known"``: chi2(dof).

    Returns
    -------
    ReferenceLaw
    """
    dof = check_int(dof, "dof", low=1)
    if kind not in REFERENCE_KINDS:
        raise ValueError(f"kind must be one of {REFERENCE_KINDS}, got {kind!r}")
    if kind == "known":
        return ReferenceLaw(kind, dof, None, stats.chi2(dof), f"chi2({dof}) (known mean and covariance)")
    n = check_int(n_samples, "n_samples", low=2)
    if kind == "in-sample":
        if n <= dof + 1:
            raise ValueError(
                f"n_samples={n} is too small for an MND check in {dof} dimensions: with the mean and "
                f"covariance estimated from the same points, every squared Mahalanobis distance equals "
                f"(n-1)^2/n when n <= d + 1 (here d = {dof}); at least {dof + 2} points are needed, and "
                f"many more for a useful test")
        a, b = dof / 2.0, (n - dof - 1) / 2.0
        return ReferenceLaw(kind, dof, n, stats.beta(a, b, scale=(n - 1) ** 2 / n),
                            f"(n-1)²/n · Beta({a:g}, {b:g}) (in-sample, n = {n:,})")
    if n <= dof:
        raise ValueError(f"n_samples={n} is too small for the held-out reference in {dof} dimensions: "
                         f"Hotelling's T² needs n > d = {dof}")
    scale = (n + 1) * (n - 1) * dof / (n * (n - dof))
    return ReferenceLaw(kind, dof, n, stats.f(dof, n - dof, scale=scale),
                        f"scaled F({dof}, {n - dof:,}) (Hotelling T², held out, n = {n:,})")


def reference_qq(d2, reference, n_points=200):
    """Quantiles of the squared distances against a :class:`ReferenceLaw`.

    Parameters
    ----------
    d2 : ndarray of shape (n_samples,)
    reference : ReferenceLaw
    n_points : int
        Number of quantiles, at probabilities (i + 0.5) / n_points.

    Returns
    -------
    dict
        ``probabilities``, ``theoretical``, ``empirical`` (arrays of shape
        (n_points,)), ``ks_statistic`` and ``ks_pvalue`` (two-sided
        Kolmogorov-Smirnov test of d2 against the reference), ``dof``,
        ``reference`` (its label).
    """
    d2 = np.asarray(d2, dtype=np.float64).ravel()
    if d2.size < 1:
        raise ValueError("d2 is empty; at least one distance is required")
    n_points = check_int(n_points, "n_points", low=2)
    p = (np.arange(n_points) + 0.5) / n_points
    ks = stats.kstest(d2, reference.cdf)
    return {
        "probabilities": p,
        "theoretical": reference.ppf(p),
        "empirical": np.quantile(d2, p),
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "dof": reference.dof,
        "reference": reference.label,
    }


def chi2_qq(d2, z_dim, n_points=200):
    """Quantiles of the squared distances against chi2(z_dim).

    The right reference only for a known mean and covariance (or n >> d);
    see :func:`reference_qq` with :func:`reference_law` otherwise.

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
        As :func:`reference_qq`.
    """
    d2 = np.asarray(d2, dtype=np.float64).ravel()
    if d2.size < 1:
        raise ValueError("d2 is empty; at least one distance is required")
    dof = check_int(z_dim, "z_dim", low=1)
    return reference_qq(d2, reference_law(None, dof, "known"), n_points)


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


def ellipsoid_fraction(d2, z_dim, k, reference=None):
    """Measured and expected fraction of points inside the k-sigma ellipsoid.

    See the module docstring for the definition: the k-sigma ellipsoid is
    ``d2 <= chi2.ppf(erf(k / sqrt 2), z_dim)``, the region holding the 1-D
    +-k sigma mass under chi2(z_dim).  It is NOT the ellipsoid of
    Mahalanobis radius k (reported separately).

    Parameters
    ----------
    d2 : ndarray of shape (n_samples,)
    z_dim : int
        Degrees of freedom.
    k : float > 0
    reference : ReferenceLaw or None
        Law giving the expected fractions; None: chi2(z_dim) (known mean
        and covariance).

    Returns
    -------
    dict
        ``k``; ``threshold_sq`` (the d2 cut-off), ``theory`` (fraction the
        reference expects inside; erf(k / sqrt 2) for chi2), ``theory_chi2``
        (erf(k / sqrt 2), the n -> infinity value), ``measured``; and for the
        ellipsoid of Mahalanobis radius k itself: ``radius_theory`` (reference
        cdf at k^2) and ``radius_measured``.
    """
    d2 = np.asarray(d2, dtype=np.float64).ravel()
    if d2.size < 1:
        raise ValueError("d2 is empty; at least one distance is required")
    dof = check_int(z_dim, "z_dim", low=1)
    ref = reference_law(None, dof, "known") if reference is None else reference
    p = k_sigma_probability(k)
    k = float(k)
    thr = k_sigma_threshold(k, dof)
    return {
        "k": k, "threshold_sq": thr, "theory": float(ref.cdf(thr)), "theory_chi2": p,
        "measured": float(np.mean(d2 <= thr)),
        "radius_theory": float(ref.cdf(k * k)),
        "radius_measured": float(np.mean(d2 <= k * k)),
    }


def mnd_summary(Z, ks=(1.0, 2.0, 3.0), n_points=200, rcond=1e-10):
    """The whole MND check in one call, against the exact in-sample law.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
        ``n_samples`` must exceed the covariance rank + 1 (ValueError
        otherwise: the check is undefined).
    ks : sequence of float > 0
        Sigma levels for :func:`ellipsoid_fraction`.
    n_points : int
        Quantiles for :func:`reference_qq`.

    Returns
    -------
    dict
        ``n_samples``, ``z_dim``, ``rank`` (degrees of freedom used),
        ``mean``, ``cov``, ``d2`` (shape (n_samples,)), ``d2_mean`` and
        ``d2_var`` with the reference's ``d2_mean_theory`` ((n-1) rank / n)
        and ``d2_var_theory``, ``reference`` (label of the law: scaled Beta,
        see the module docstring), ``reference_law`` (:class:`ReferenceLaw`),
        ``qq`` (see :func:`reference_qq`), ``ks_statistic``, ``ks_pvalue``,
        ``fractions`` (DataFrame, one row per k with the columns of
        :func:`ellipsoid_fraction`).
    """
    Z = check_latents(Z, min_rows=2)
    mean, cov = mean_and_cov(Z)
    d2, rank = mahalanobis_sq(Z, mean, cov, rcond=rcond, return_rank=True)
    ref = reference_law(Z.shape[0], rank, "in-sample")
    qq = reference_qq(d2, ref, n_points)
    rows = [ellipsoid_fraction(d2, rank, k, ref) for k in np.atleast_1d(ks).tolist()]
    return {
        "n_samples": int(Z.shape[0]), "z_dim": int(Z.shape[1]), "rank": int(rank),
        "mean": mean, "cov": cov, "d2": d2,
        "d2_mean": float(d2.mean()), "d2_var": float(d2.var()),
        "d2_mean_theory": float(ref.dist.mean()), "d2_var_theory": float(ref.dist.var()),
        "reference": ref.label, "reference_law": ref,
        "qq": qq, "ks_statistic": qq["ks_statistic"], "ks_pvalue": qq["ks_pvalue"],
        "fractions": pd.DataFrame(rows),
    }


__all__ = ["ReferenceLaw", "chi2_qq", "ellipsoid_fraction", "reference_law", "reference_qq", "k_sigma_probability", "k_sigma_threshold", "mahalanobis_sq",
           "mnd_summary", "whitened_sq_norms", "whitening_matrix"]
