"""Exact nearest real neighbours of latent vectors (brute force, chunked).

Candidates are selected with ``|q|^2 + |z|^2 - 2 q.z`` in float64, one block
of queries against one block of data rows at a time, so a memory-mapped
200,000 x 256 matrix is streamed once per query block and never copied
whole.  That expansion cancels catastrophically when the vectors sit far
from the origin compared with their spread (an offset of 1e7 spreads picked
the wrong 5-NN set for most queries), so (1) every vector is first shifted
by the mean of the queries, and (2) each block yields ``2 k + 8``
candidates whose distances are recomputed directly from the differences;
the running k best are merged on those exact distances.
"""

from __future__ import annotations

import numpy as np

from core.chunks import row_blocks
from core.validation import check_int, check_latents

DATA_CHUNK = 16384
QUERY_CHUNK = 1024
#: Extra candidates per block, re-ranked on exact distances.
CANDIDATE_MARGIN = 8


def nearest_neighbours(Z, queries, k=5, data_chunk=DATA_CHUNK, query_chunk=QUERY_CHUNK):
    """The k nearest rows of ``Z`` (Euclidean) for every query vector.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
        Data (the encoded real images); memmap-safe.
    queries : array-like of shape (n_queries, z_dim) or (z_dim,)
    k : int
        Neighbours per query, 1 <= k <= n_samples.

    Returns
    -------
    indices : ndarray of shape (n_queries, k), int64
        Row indices into ``Z``, nearest first.
    distances : ndarray of shape (n_queries, k), float64
    """
    Z = check_latents(Z)
    q = np.asarray(queries)
    if q.ndim == 1:
        q = q[None, :]
    q = check_latents(q, name="queries", z_dim=Z.shape[1])
    q = np.asarray(q, dtype=np.float64)
    n = Z.shape[0]
    k = check_int(k, "k", low=1, high=n)
    data_chunk = check_int(data_chunk, "data_chunk", low=1)
    m = q.shape[0]
    # Shift everything by one common point near the queries: distances do not
    # change, and the expansion below no longer subtracts huge equal norms.
    centre = q.mean(axis=0)
    q = q - centre
    best_d = np.full((m, k), np.inf)
    best_i = np.zeros((m, k), dtype=np.int64)
    q_sq = np.einsum("ij,ij->i", q, q)
    n_cand = 2 * k + CANDIDATE_MARGIN
    for rows, block in row_blocks(Z, data_chunk, np.float64):
        block = block - centre  # a new array: the block may be a view of the caller's Z
        b_sq = np.einsum("ij,ij->i", block, block)
        kk = min(n_cand, block.shape[0])
        for qs in range(0, m, query_chunk):
            qb = q[qs:qs + query_chunk]
            d2 = q_sq[qs:qs + query_chunk, None] + b_sq[None, :] - 2.0 * (qb @ block.T)
            if kk < d2.shape[1]:
                part = np.argpartition(d2, kk - 1, axis=1)[:, :kk]
                # Rows where more points than kk tie (to rounding) with the last
                # candidate: argpartition kept an arbitrary few of them, so
                # those rows are redone below with every tied point.
                last = np.take_along_axis(d2, part, axis=1).max(axis=1)
                tol = 1e-12 * (q_sq[qs:qs + query_chunk] + b_sq.max()) + 1e-300
                tied = np.nonzero((d2 <= (last + tol)[:, None]).sum(axis=1) > kk)[0]
            else:
                part = np.broadcast_to(np.arange(d2.shape[1]), d2.shape)
                tied = ()
            best = (best_d[qs:qs + query_chunk], best_i[qs:qs + query_chunk])
            before = [(best[0][r].copy(), best[1][r].copy()) for r in tied]
            _merge(best, block, qb, part, rows.start, k)
            for r, (d_r, i_r) in zip(tied, before):
                cols = np.nonzero(d2[r] <= last[r] + tol[r])[0][None, :]
                best[0][r], best[1][r] = d_r, i_r
                _merge((best[0][r:r + 1], best[1][r:r + 1]), block, qb[r:r + 1], cols, rows.start, k)
    # _merge keeps the k best sorted: nearest first, ties by lower row index.
    return best_i, np.sqrt(best_d)


def _merge(best, block, qb, part, start, k):
    # Exact squared distances of the candidates (no cancellation), merged
    # into the running k best in place; equal distances keep the lower row.
    best_d, best_i = best
    diff = block[part] - qb[:, None, :]
    exact = np.einsum("mkd,mkd->mk", diff, diff)
    cand_d = np.concatenate([best_d, exact], axis=1)
    cand_i = np.concatenate([best_i, part + start], axis=1)
    sel = np.lexsort((cand_i, cand_d), axis=1)[:, :k]
    best_d[...] = np.take_along_axis(cand_d, sel, axis=1)
    best_i[...] = np.take_along_axis(cand_i, sel, axis=1)


__all__ = ["nearest_neighbours"]
