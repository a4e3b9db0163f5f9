"""Chunked moments of a latent matrix: the one place the moments passes live.

Used by PCA, the statistics and the samplers so that a memory-mapped
200,000 x 256 matrix is read in blocks and never copied whole.  Every pass
sums powers of ``x - shift`` with ``shift`` one row of the data, so the
one-pass formulas keep their precision when the data sit far from 0.
"""

from __future__ import annotations

import numpy as np

from core.chunks import CHUNK_ROWS, row_blocks
from core.validation import check_latents


class PowerSums:
    """Per-column sums of ``(x - shift) ** p`` for ``p = 1 .. order``, block by block.

    Parameters
    ----------
    shift : ndarray of shape (d,)
        One row of the data (precision of the one-pass formulas).
    order : int, 2 or 4
    """

    def __init__(self, shift, order=2):
        self.shift = np.asarray(shift, dtype=np.float64)
        self.order = int(order)
        self.sums = np.zeros((self.order, self.shift.size))
        self.n = 0

    def add(self, block):
        """Add a block of shape (m, d) (any float dtype; summed in float64)."""
        x = np.asarray(block, dtype=np.float64) - self.shift
        self.n += x.shape[0]
        self.sums[0] += x.sum(axis=0)
        if self.order == 2:
            # einsum: no (m, d) temporary for the squares
            self.sums[1] += np.einsum("ij,ij->j", x, x)
            return
        sq = x * x
        self.sums[1] += sq.sum(axis=0)
        self.sums[2] += (sq * x).sum(axis=0)
        self.sums[3] += (sq * sq).sum(axis=0)

    def mean_and_std(self, ddof=1):
        """Mean and standard deviation (``ddof`` like ``np.std``), shapes (d,)."""
        n = self.n
        m = self.sums[0] / n
        var = (self.sums[1] - n * m * m) / max(n - ddof, 1)
        return m + self.shift, np.sqrt(np.clip(var, 0.0, None))

    def central(self):
        """Mean and the biased central moments m2, m3, m4 (``order=4``), each of shape (d,)."""
        n, s = self.n, self.sums
        m1 = s[0] / n
        m2 = np.clip(s[1] / n - m1 ** 2, 0.0, None)
        m3 = s[2] / n - 3 * m1 * s[1] / n + 2 * m1 ** 3
        m4 = s[3] / n - 4 * m1 * s[2] / n + 6 * m1 ** 2 * s[1] / n - 3 * m1 ** 4
        return m1 + self.shift, m2, m3, m4


def mean_and_std(Z, ddof=1, chunk_rows=CHUNK_ROWS):
    """Per-component mean and standard deviation in one chunked pass (no covariance).

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
    ddof : int
        Delta degrees of freedom (1 = unbiased variance, like ``np.std(ddof=1)``).

    Returns
    -------
    mean, std : ndarray of shape (z_dim,), float64
    """
    sums = PowerSums(np.asarray(Z[0], dtype=np.float64), order=2)
    for _, block in row_blocks(Z, chunk_rows):
        sums.add(block)
    return sums.mean_and_std(ddof)


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
    for rows, block in row_blocks(Z, chunk_rows, np.float64):
        if mask is not None:
            m = mask[rows]
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
