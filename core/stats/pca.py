"""PCA of a latent matrix by eigendecomposition of its covariance.

For 200,000 x 256 this is a (256 x 256) ``eigh`` after one chunked pass over
the data, far quicker than a full SVD of the data matrix, and it works on a
memory-mapped matrix without copying it.  float32 data takes the float32
GEMM path of :mod:`core.stats.gram` (single-precision speed, eigenvalues within
1e-6 of a float64 ``eigh``); float64 data the float64 moments.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from core.chunks import CHUNK_ROWS, row_blocks
from core.stats.gram import float32_eigh, symmetric_eigh
from core.stats.moments import mean_and_cov
from core.validation import check_int, check_latents


class LatentPCA(BaseEstimator):
    """Principal component analysis, a scikit-learn estimator like ``PCA``.

    Parameters
    ----------
    n_components : int or None
        Number of leading components kept by ``fit``; None keeps all z_dim.

    Attributes
    ----------
    mean_ : ndarray of shape (z_dim,)
    components_ : ndarray of shape (n_components_, z_dim)
        Unit principal axes, leading first (rows).  The sign is fixed so
        that the largest-magnitude entry of each axis is positive, as in
        scikit-learn's ``svd_flip``-like convention (deterministic output).
    explained_variance_ : ndarray of shape (n_components_,)
        Variance along each axis (ddof = 1), i.e. sigma_k squared.
    explained_variance_ratio_ : ndarray of shape (n_components_,)
    singular_values_ : ndarray of shape (n_components_,)
    n_components_ : int
    n_samples_, n_features_in_ : int
    """

    def __init__(self, *, n_components=None):
        self.n_components = n_components

    def fit(self, Z, y=None):
        """Fit on latent vectors ``Z`` of shape (n_samples, z_dim); returns self."""
        # float32: the finiteness check rides on the Gram pass (a NaN or inf
        # anywhere makes the covariance non-finite), saving a pass.
        Z = check_latents(Z, min_rows=2, finite=False)
        if Z.dtype == np.float32 and Z.shape[0] > Z.shape[1]:
            mean, cov, evals, evecs, _ = float32_eigh(Z)
            if np.isfinite(cov).all() and np.isfinite(evals).all():
                return self._fit_eigh(mean, evals, evecs, Z.shape[0])
        Z = check_latents(Z, min_rows=2)  # names the non-finite values
        mean, cov = mean_and_cov(Z)
        return self.fit_moments(mean, cov, Z.shape[0])

    def fit_moments(self, mean, cov, n_samples):
        """Fit from a mean (z_dim,) and covariance (z_dim, z_dim) of ``n_samples`` points.

        Lets a caller that already has the moments (or those of a subset of
        the rows) skip a second pass over the data; returns self.
        """
        mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(cov, dtype=np.float64)
        d = mean.shape[0]
        if cov.shape != (d, d):
            raise ValueError(f"cov has shape {cov.shape}, expected ({d}, {d})")
        if not np.all(np.isfinite(cov)) or not np.all(np.isfinite(mean)):
            raise ValueError("mean and cov must be finite")
        evals, evecs = symmetric_eigh(cov)
        return self._fit_eigh(mean, evals, evecs, n_samples)

    def _fit_eigh(self, mean, evals, evecs, n_samples):
        """Set the attributes from an ascending eigendecomposition (columns) of the covariance."""
        d = mean.shape[0]
        n = check_int(n_samples, "n_samples", 2)
        k = d if self.n_components is None else check_int(self.n_components, "n_components", 1, d)
        order = np.argsort(evals)[::-1]
        evals = np.clip(evals[order], 0.0, None)
        evecs = evecs[:, order].T
        # Deterministic sign: largest |entry| of each axis positive.
        signs = np.sign(evecs[np.arange(d), np.argmax(np.abs(evecs), axis=1)])
        signs[signs == 0] = 1.0
        evecs *= signs[:, None]
        total = evals.sum()
        self.mean_ = mean
        self.components_ = evecs[:k]
        self.explained_variance_ = evals[:k]
        self.explained_variance_ratio_ = evals[:k] / total if total > 0 else np.zeros(k)
        self.singular_values_ = np.sqrt(evals[:k] * (n - 1))
        self.n_components_ = k
        self.n_samples_ = n
        self.n_features_in_ = d
        return self

    def _check_fitted(self):
        # NotFittedError is a ValueError (and an AttributeError).
        check_is_fitted(self, "components_")

    def _k(self, n_components):
        if n_components is None:
            return self.n_components_
        return check_int(n_components, "n_components", 1, self.n_components_)

    def transform(self, Z, n_components=None, chunk_rows=CHUNK_ROWS):
        """Project latent vectors onto the leading axes.

        Parameters
        ----------
        Z : array-like of shape (n_samples, z_dim)
        n_components : int or None
            Number of leading coordinates returned (default: all fitted).

        Returns
        -------
        V : ndarray of shape (n_samples, n_components), float64
        """
        self._check_fitted()
        Z = check_latents(Z, z_dim=self.n_features_in_)
        k = self._k(n_components)
        W = self.components_[:k].T
        out = np.empty((Z.shape[0], k))
        for rows, block in row_blocks(Z, chunk_rows, np.float64):
            out[rows] = (block - self.mean_) @ W
        return out

    def get_covariance(self):
        """The covariance rebuilt from the fitted axes: ``components_.T @ diag(var) @ components_``.

        The data's covariance when all z_dim axes were kept (``n_components=None``).

        Returns
        -------
        cov : ndarray of shape (z_dim, z_dim)
        """
        self._check_fitted()
        return (self.components_.T * self.explained_variance_) @ self.components_

    def inverse_transform(self, V, n_components=None):
        """Map PCA coordinates back to latent space with the first K axes.

        Parameters
        ----------
        V : array-like of shape (n_samples, k) with k >= K
            PCA coordinates; only the first K columns are used.
        n_components : int or None
            K; default ``V.shape[1]``.

        Returns
        -------
        Z : ndarray of shape (n_samples, z_dim), float64
        """
        self._check_fitted()
        V = check_latents(V, name="V")
        k = V.shape[1] if n_components is None else self._k(n_components)
        if k > V.shape[1] or k > self.n_components_:
            raise ValueError(
                f"n_components={k} exceeds the {V.shape[1]} given coordinates "
                f"or the {self.n_components_} fitted components"
            )
        return V[:, :k] @ self.components_[:k] + self.mean_

    def reconstruct(self, Z, n_components):
        """Keep only K components: inverse_transform(transform(Z, K), K)."""
        return self.inverse_transform(self.transform(Z, n_components), n_components)

    def reconstruction_shift(self, Z, n_components):
        """How far each z-point moves when only K components are kept.

        Returns
        -------
        shift : ndarray of shape (n_samples,)
            Euclidean distance ``|z - reconstruct(z, K)|``.
        """
        Z = check_latents(Z, z_dim=getattr(self, "n_features_in_", None))
        R = self.reconstruct(Z, n_components)
        return np.linalg.norm(np.asarray(Z, np.float64) - R, axis=1)
