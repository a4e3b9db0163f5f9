"""Chunked first and second moments of a latent matrix.

Used by PCA, the statistics and the samplers so that a memory-mapped
200,000 x 256 matrix is read in blocks and never copied whole.
"""

from __future__ import annotations

import numpy as np

from core.validation import check_latents

CHUNK_ROWS = 32768


def mean_and_cov(Z, chunk_rows=CHUNK_ROWS, ddof=1, mask=None):
    """Mean vector and covariance matrix, accumulated in float64 by blocks.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
    chunk_rows : int
        Rows read per block.
    ddof : int
        Delta degrees of freedom for the covariance (1 = unbiased, like
        ``np.cov``).
    mask : ndarray of shape (n_samples,), bool, or None
        Use only the rows where ``mask`` is True (the subset of a
        memory-mapped matrix is never copied whole).

    Returns
    -------
    mean : ndarray of shape (z_dim,), float64
    cov : ndarray of shape (z_dim, z_dim), float64
    """
    Z = check_latents(Z, min_rows=ddof + 1)
    d = Z.shape[1]
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (Z.shape[0],):
            raise ValueError(f"mask has shape {mask.shape}, expected ({Z.shape[0]},)")
        n = int(mask.sum())
        if n < ddof + 1:
            raise ValueError(f"mask selects {n} rows; at least {ddof + 1} are required")
        first = int(np.argmax(mask))
    else:
        n, first = Z.shape[0], 0
    # Shift by one selected row so the one-pass formula keeps its precision.
    shift = np.asarray(Z[first], dtype=np.float64)
    s1 = np.zeros(d)
    s2 = np.zeros((d, d))
    for start in range(0, Z.shape[0], chunk_rows):
        block = np.asarray(Z[start:start + chunk_rows], dtype=np.float64)
        if mask is not None:
            m = mask[start:start + chunk_rows]
            if not m.any():
                continue
            block = block[m]
        block = block - shift
        s1 += block.sum(axis=0)
        s2 += block.T @ block
    mean_c = s1 / n
    cov = (s2 - n * np.outer(mean_c, mean_c)) / (n - ddof)
    cov = (cov + cov.T) / 2.0
    return mean_c + shift, cov
