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
    for start in range(0, n, data_chunk):
        block = np.asarray(Z[start:start + data_chunk], dtype=np.float64) - centre
        b_sq = np.einsum("ij,ij->i", block, block)
        kk = min(n_cand, block.shape[0])
        for qs in range(0, m, query_chunk):
            qb = q[qs:qs + query_chunk]
            d2 = q_sq[qs:qs + query_chunk, None] + b_sq[None, :] - 2.0 * (qb @ block.T)
            part = np.argpartition(d2, kk - 1, axis=1)[:, :kk] if kk < d2.shape[1] \
                else np.broadcast_to(np.arange(d2.shape[1]), d2.shape)
            # Exact squared distances of the candidates (no cancellation).
            diff = block[part] - qb[:, None, :]
            exact = np.einsum("mkd,mkd->mk", diff, diff)
            cand_d = np.concatenate([best_d[qs:qs + query_chunk], exact], axis=1)
            cand_i = np.concatenate([best_i[qs:qs + query_chunk], part + start], axis=1)
            sel = np.argpartition(cand_d, k - 1, axis=1)[:, :k]
            best_d[qs:qs + query_chunk] = np.take_along_axis(cand_d, sel, axis=1)
            best_i[qs:qs + query_chunk] = np.take_along_axis(cand_i, sel, axis=1)
    dist = np.sqrt(best_d)
    order = np.lexsort((best_i, dist), axis=-1)  # nearest first, ties: lower index first
    return np.take_along_axis(best_i, order, axis=1), np.take_along_axis(dist, order, axis=1)


__all__ = ["nearest_neighbours"]
