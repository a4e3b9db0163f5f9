"""Reading a (memory-mapped) latent matrix in row blocks: the one loop and the one block size.

Every pass over the rows of ``Z`` in ``core`` goes through :func:`row_blocks`,
so a 200,000 x 256 float32 memmap is never copied whole and every pass holds
at most ``CHUNK_ROWS`` rows (32,768 x 256 float64 = 64 MiB) at a time.
"""

from __future__ import annotations

import numpy as np

#: Rows read per block by every chunked pass.
CHUNK_ROWS = 32768


def row_blocks(Z, chunk_rows=CHUNK_ROWS, dtype=None):
    """Yield ``(rows, block)``: a slice of row indices and ``Z[rows]`` as an array.

    Parameters
    ----------
    Z : array-like of shape (n_samples, ...)
        May be a memory-mapped array; only one block is read at a time.
    chunk_rows : int
        Rows per block (the last block may be shorter).
    dtype : numpy dtype, optional
        Convert each block (e.g. ``np.float64`` for precise sums).

    Yields
    ------
    rows : slice
    block : ndarray of shape (rows.stop - rows.start, ...)
    """
    # sklearn.utils.gen_batches' slices, without importing scikit-learn (about 1 s): the
    # dashboard's Home page imports this module before its first paint (issue 14).
    step = int(chunk_rows)
    if step < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows!r}")
    n = Z.shape[0]
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        yield rows, np.asarray(Z[rows], dtype=dtype)


def take_rows(Z, rows, dtype=np.float32):
    """``Z[rows]`` in the order of ``rows``, read in ascending row order.

    One forward pass over a memory-mapped file instead of a seek per row;
    repeated rows are allowed.

    Parameters
    ----------
    Z : array-like of shape (n_samples, ...)
    rows : array-like of int, shape (m,)
    dtype : numpy dtype

    Returns
    -------
    ndarray of shape (m, ...)
    """
    rows = np.asarray(rows, dtype=np.int64).ravel()
    if rows.size and (rows.min() < 0 or rows.max() >= Z.shape[0]):
        bad = rows[(rows < 0) | (rows >= Z.shape[0])][0]
        raise ValueError(f"row {bad} is outside 0 … {Z.shape[0] - 1}")
    order = np.argsort(rows, kind="stable")
    out = np.empty((rows.size,) + tuple(Z.shape[1:]), dtype=dtype)
    out[order] = np.asarray(Z[rows[order]], dtype=dtype)
    return out
