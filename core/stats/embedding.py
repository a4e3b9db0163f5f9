"""t-SNE maps of a subsample of latent codes (openTSNE).

A non-linear map: distances in it are not latent distances; clusters,
filaments and voids that persist over subsamples and perplexities are the
signal (docs/method.md, "Looking at the latent space").
"""

from __future__ import annotations

import os

import numpy as np
from openTSNE import TSNE

from core.validation import check_float, check_int, check_latents

#: Largest subsample a map is computed for (a few seconds with openTSNE).
MAX_POINTS = 3000


def tsne_input(Z, n=2000, space="latent", pca=None, n_dims=None, perplexity=30.0, seed=0):
    """Validate a t-SNE request and build its input: a fixed-seed subsample of the rows.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)   may be memory-mapped
    n : int in [10, MAX_POINTS]   (capped at n_samples)
    space : {"latent", "pca"}
        Map the latent codes, or their first ``n_dims`` PCA coordinates.
    pca : core.stats.pca.LatentPCA   fitted; needed for ``space="pca"``
    n_dims : int in [2, z_dim] or None (all)
    perplexity : float >= 1, below the number of points
    seed : int   seeds the subsample (and the map, :func:`tsne_embedding`)

    Returns
    -------
    rows : ndarray of shape (m,), int64   sorted row indices into Z
    X : ndarray of shape (m, z_dim or n_dims), float64, C-contiguous
    """
    Z = check_latents(Z, min_rows=10)
    d = Z.shape[1]
    n = min(check_int(n, "n", 10, MAX_POINTS), Z.shape[0])
    if space not in ("latent", "pca"):
        raise ValueError(f"space must be 'latent' or 'pca', got {space!r}")
    n_dims = d if n_dims is None else check_int(n_dims, "n_dims", 2, d)
    perplexity = check_float(perplexity, "perplexity", low=1.0)
    if perplexity >= n:
        raise ValueError(f"perplexity must be below the number of points ({n}), got {perplexity:g}")
    seed = check_int(seed, "seed", 0, 2**32 - 1)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(Z.shape[0], n, replace=False))
    X = np.asarray(Z[rows], dtype=np.float64)
    if space == "pca":
        if pca is None:
            raise ValueError("space='pca' needs a fitted LatentPCA")
        X = pca.transform(X, n_dims)
    return rows, np.ascontiguousarray(X)


def tsne_embedding(X, perplexity=30.0, seed=0, n_jobs=None):
    """2-D t-SNE embedding of the rows of ``X`` (openTSNE, PCA initialisation).

    openTSNE (FFT/Barnes-Hut gradients on all cores) is several times
    faster than scikit-learn's ``TSNE`` on 3,000 points.

    Returns
    -------
    Y : ndarray of shape (len(X), 2), float64
    """
    n_jobs = max(1, min(4, os.cpu_count() or 1)) if n_jobs is None else int(n_jobs)
    return np.asarray(TSNE(n_components=2, perplexity=float(perplexity), initialization="pca",
                           random_state=int(seed), n_jobs=n_jobs, verbose=False).fit(X), dtype=np.float64)


__all__ = ["MAX_POINTS", "tsne_embedding", "tsne_input"]
