"""Covariance and eigendecomposition of float32 latents at single-precision GEMM speed.

Why: ``X.T @ X`` in float32 is one SYRK at twice the speed of float64 (what
scikit-learn's ``PCA(svd_solver="covariance_eigh")`` does), but on
uncentred data it loses the small eigenvalues entirely (scikit-learn's are
off by ~1 % on the §6 matrix) and even on centred data the float32
accumulation leaves ~1e-6 relative error on eigenvalues 1e4 times below
the largest.  The §6 target is 1e-6 relative to a float64 ``eigh`` of the
float64 covariance, for every eigenvalue.

Method:

1. A pilot: the smallest-variance directions of the covariance of the
   first ``PILOT_ROWS`` rows (those below ``REFINE_BELOW`` x the mean
   eigenvalue, at least ``REFINE_MIN``, plus ``PILOT_MARGIN``), found by a
   partial ``eigh``.
2. One pass in blocks of ``GRAM_ROWS`` rows: subtract a float32 shift (the
   mean of the first rows, so the products are of centred size), SYRK in
   float32, accumulate the block Gram matrices in float64; while the block
   is in cache, also project it on the pilot directions (a thin float32
   GEMM) and accumulate those projections' sums and Gram matrix in float64.
3. Inside the pilot's span the float32 covariance is replaced by the
   float64 one of the projections, then ``eigh``.  The small eigenvalues
   are then exact up to the part of their eigenvectors outside that span
   times the float32 error measured inside it; when that estimate exceeds
   ``PILOT_TOL`` (first rows unlike the rest, e.g. sorted by class), a
   second pass accumulates the Gram matrix of float64 blocks (DSYRK, ~2.5x
   the float32 pass; exact for every eigenvalue).
4. A pilot wider than ``PILOT_MAX`` (real latents: dozens of nearly dead
   components) skips the float32 pass and takes that float64 pass as its
   only one.  On such a spectrum the float32 error reaches eigenvalues far
   above the pilot's span, and more so the fewer the rows (the error of
   the covariance falls like 1/sqrt(n)): the Rayleigh-Ritz refinement of
   the smallest eigenpairs used before left up to 4.4e-6 on 2,000 rows
   resampled from the default run's latents, 1.3e-6 on 20,000, in about
   the time the float64 pass takes (190 against 180-200 ms on 200,000 rows,
   53 against 32 ms on 30,000).

float64 input takes the float64 path (:func:`core.stats.moments.mean_and_cov`).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import linalg
from threadpoolctl import ThreadpoolController

#: Rows per block (2 MB of float32 at z_dim 256: still in cache when the pilot projection
#: reads it after the SYRK; at 4096 rows that projection cost twice as much CPU).
GRAM_ROWS = 2048
#: Rows whose mean becomes the float32 shift.
SHIFT_ROWS = 4096
#: Rows whose covariance gives the pilot directions (on the benchmark matrix 2,048 rows
#: give the same error estimate as 4,096, 2.3e-7, in 4.7 ms instead of 8.4).
PILOT_ROWS = 2048
#: The pilot covers the eigenvalues below this fraction of the mean eigenvalue ...
REFINE_BELOW = 0.01
#: ... and at least this many of the smallest.
REFINE_MIN = 10
#: Directions the pilot adds beyond the small ones it finds in the first rows.
PILOT_MARGIN = 4
#: Largest estimated relative error of the small eigenvalues after the pilot
#: correction (the part of each eigenvector outside the pilot's span times
#: the float32 error measured inside it, over its eigenvalue) and of the
#: first eigenvalue above the span (that error over it).  Beyond it (first
#: rows unlike the rest, e.g. sorted by class; or a spectrum so wide that
#: the float32 error reaches above the pilot) a float64 pass follows.  On the
#: benchmark matrix (16 pilot directions): estimate 2.3e-7, actual error 1e-7.
PILOT_TOL = 1e-6
#: Widest pilot worth a float32 pass.  Its projections cost ~m/128 of the SYRK, and
#: a spectrum with this many small eigenvalues (the shipped runs' latents: 39-108,
#: a few nearly dead components) is also one whose estimate misses PILOT_TOL
#: (1.8e-5-3.1e-5 there): a wider pilot goes straight to the float64 pass.
PILOT_MAX = 24


def float32_shift(Z, rows=SHIFT_ROWS):
    """Mean of the first ``rows`` rows (float64 sum), rounded to float32: the block shift."""
    return np.asarray(Z[:rows], dtype=np.float64).mean(axis=0).astype(np.float32)


def shifted_gram(Z, rows=GRAM_ROWS, on_block=None, shift=None, pilot=None, dtype=np.float32):
    """SYRK pass: shift, sums and Gram matrix of ``Z - shift``, accumulated in float64.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
        float32 (a memmap is read block by block).
    rows : int
        Rows per block.
    on_block : accumulator or None
        Also handed every raw block while it is in cache (the statistics
        pass histograms it): an object with ``fork()`` (a fresh, empty one
        of its kind, called with a raw block for each block of one row
        range, in the pass's threads) and ``join(forks)`` (add theirs to its
        own, in the order given).  The forks are joined in range order, so
        the result does not depend on the core count.
    shift : ndarray of shape (z_dim,), float32, or None
        Default: :func:`float32_shift`.
    pilot : ndarray of shape (z_dim, m), float32, or None
        Also accumulate, in float64, the sums and Gram matrix of the
        projections ``(Z - shift) @ pilot`` (:func:`pilot_basis`).
    dtype : numpy float type
        Of the shifted blocks and so of their SYRK: float32 (fast; ~1e-7 of
        the largest entries' scale) or float64 (exact; ~2.5x the time).

    Returns
    -------
    shift : ndarray of shape (z_dim,), float32
    s1 : ndarray of shape (z_dim,), float64
        Column sums of ``Z - shift``.
    s2 : ndarray of shape (z_dim, z_dim), float64
        ``(Z - shift).T @ (Z - shift)``.
    q1, q2 : ndarrays of shape (m,) and (m, m), float64
        Only with ``pilot``: the same for the projections.
    """
    n, d = Z.shape
    shift = float32_shift(Z) if shift is None else np.asarray(shift, dtype=np.float32)

    def rows_of(a, b):
        acc = None if on_block is None else on_block.fork()
        return acc, _gram_rows(Z, shift, rows, a, b, on_block=acc, pilot=pilot, dtype=dtype)

    parts = _in_threads(rows_of, n, rows)
    if on_block is not None:
        on_block.join([acc for acc, _ in parts])
    sums = [p for _, p in parts]
    return (shift,) + tuple(sum(p[k] for p in sums) for k in range(len(sums[0])))


def _shifted_blocks(Z, shift, rows, start, stop, dtype=np.float32):
    """``(raw, raw - shift)`` for each block of rows ``[start, stop)``; the second in one reused ``dtype`` buffer.

    The SYRK and the pilot's projections multiply shifted rows: a float32
    product of raw rows rounds at ~1e-7 of the mean's projection, which for a
    nearly dead component far from the origin is ~1e-3 of its spread.
    """
    buf = np.empty((max(1, min(rows, stop - start)), Z.shape[1]), dtype=dtype)
    for a in range(start, stop, rows):
        blk = np.asarray(Z[a:min(a + rows, stop)])
        b = buf[:blk.shape[0]]
        np.subtract(blk, shift, out=b, casting="unsafe")
        yield blk, b


def _gram_rows(Z, shift, rows, start, stop, on_block=None, pilot=None, dtype=np.float32):
    d = Z.shape[1]
    s1 = np.zeros(d)
    s2 = np.zeros((d, d))
    ones = np.ones(max(1, min(rows, stop - start)), dtype=dtype)
    if pilot is not None:
        q1 = np.zeros(pilot.shape[1])
        q2 = np.zeros((pilot.shape[1], pilot.shape[1]))
    for blk, b in _shifted_blocks(Z, shift, rows, start, stop, dtype):
        if on_block is not None:
            on_block(blk)
        s1 += ones[:b.shape[0]] @ b
        s2 += b.T @ b  # numpy calls SYRK for a matrix times its own transpose
        if pilot is not None:
            # The projections on the pilot's few small-variance directions,
            # summed in float64: there the float32 SYRK's rounding would be
            # ~1e-6 of the eigenvalues.
            p = (b @ pilot).astype(np.float64)
            q1 += p.sum(axis=0)
            q2 += p.T @ p
    return (s1, s2) if pilot is None else (s1, s2, q1, q2)


def n_small(evals, mean_ev, below=REFINE_BELOW, at_least=REFINE_MIN):
    """How many eigenvalues count as small: those below ``below`` x ``mean_ev``, at least ``at_least``."""
    d = len(evals)
    m = int(np.sum(np.asarray(evals) < below * mean_ev)) if mean_ev > 0 else d
    return min(d, max(m, at_least))


def pilot_basis(Z, shift, rows=PILOT_ROWS, below=REFINE_BELOW, at_least=REFINE_MIN, margin=PILOT_MARGIN):
    """The smallest-variance directions of the first ``rows`` rows: where the Gram pass must be exact.

    Returns
    -------
    basis : ndarray of shape (z_dim, m), float32
        Eigenvectors of the first rows' covariance with eigenvalues below
        ``below`` x their mean (at least ``at_least``), plus ``margin`` more.
    """
    d = Z.shape[1]
    b = np.asarray(Z[:rows], dtype=np.float32) - shift
    b = b - b.mean(axis=0, dtype=np.float64).astype(np.float32)
    with _blas_controller().limit(limits=1, user_api="blas"):
        # One thread: OpenBLAS's threads spin on after a threaded call and
        # would take a core from the Gram pass's threads that follow.
        C = (b.T @ b) / max(1, b.shape[0] - 1)
    mean_ev = max(float(np.trace(C)) / d, 0.0)
    first = min(d, 2 * (at_least + margin))
    for subset in ([0, first - 1], None):
        # The smallest eigenpairs first (LAPACK's syevr with a range: 2 ms, not 7, at d = 256);
        # all of them only when more than those are small.
        with _blas_controller().limit(limits=1, user_api="blas"):
            evals, evecs = linalg.eigh(C, subset_by_index=subset, driver="evr")
        m = min(d, n_small(evals, mean_ev, below, at_least) + margin)
        if m <= evals.shape[0]:
            return np.ascontiguousarray(evecs[:, :m], dtype=np.float32)


def pilot_corrected_eigh(shift, s1, s2, q1, q2, n, pilot, below=REFINE_BELOW, at_least=REFINE_MIN):
    """Covariance and eigendecomposition from a float32 Gram pass with a pilot (no second pass).

    The float32 covariance is replaced, inside the span of the pilot basis,
    by the float64-accumulated covariance of the projections; the small
    eigenvalues it gives are then exact up to the part of their
    eigenvectors outside that span (``leak``) times the float32 rounding.

    Returns
    -------
    mean : ndarray of shape (z_dim,)
    cov : ndarray of shape (z_dim, z_dim)
    evals : ndarray of shape (z_dim,), ascending
    evecs : ndarray of shape (z_dim, z_dim), columns
    m : int
        Number of small eigenvalues (as :func:`n_small` counts them).
    error : float
        Estimated largest relative error of the m small eigenvalues and of
        the first one above the pilot's span (see :data:`PILOT_TOL`).
    """
    # Only small matrices here: OpenBLAS's threads cost more than they save
    # (see symmetric_eigh; 25 ms against 10 quiet, 60-75 against 10-12 at load 2).
    with _blas_controller().limit(limits=1, user_api="blas"):
        return _pilot_corrected_eigh(shift, s1, s2, q1, q2, n, pilot, below, at_least)


def _pilot_corrected_eigh(shift, s1, s2, q1, q2, n, pilot, below, at_least):
    mean, cov = covariance_from_gram(shift, s1, s2, n)
    q = q1 / n
    Cp = (q2 - n * np.outer(q, q)) / (n - 1)
    # The float32 basis is orthonormal only to ~1e-7: work in its QR basis.
    B, R = np.linalg.qr(pilot.astype(np.float64))
    Ri = linalg.solve_triangular(R, np.eye(R.shape[0]))
    exact = Ri.T @ Cp @ Ri
    D = exact - B.T @ cov @ B  # the float32 rounding, seen inside the pilot's span
    cov = cov + B @ D @ B.T
    cov = (cov + cov.T) / 2.0
    evals, evecs = np.linalg.eigh(cov)  # one BLAS thread already (the caller's limit)
    d = evals.shape[0]
    m = n_small(evals, float(np.mean(np.clip(evals, 0.0, None))), below, at_least)
    W = evecs[:, :m]
    # Per eigenvector: its part outside the span times the float32 error seen inside, over its eigenvalue.
    leak = np.linalg.norm(W - B @ (B.T @ W), axis=0)
    k = pilot.shape[1]
    with np.errstate(divide="ignore"):
        inside = float(np.max(leak * np.linalg.norm(D, 2) / np.abs(evals[:m]))) if m else 0.0
        # The first eigenvalue left uncorrected keeps the float32 error, seen at the same scale.
        outside = float(np.linalg.norm(D, 2) / abs(evals[k])) if k < d else 0.0
    error = max(inside, outside)
    return mean, cov, evals, evecs, m, error


_CONTROLLER = None


def _blas_controller():
    """One ``ThreadpoolController`` per process: finding the BLAS libraries
    reads /proc/self/maps (~3 ms a time, twice per fit otherwise)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def _cores():
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _n_threads():
    """Cores available, but no more than the BLAS thread limit in force (e.g. OPENBLAS_NUM_THREADS=1)."""
    blas = [lib.num_threads for lib in _blas_controller().select(user_api="blas").lib_controllers]
    return max(1, min([_cores()] + blas))


def symmetric_eigh(A):
    """``numpy.linalg.eigh`` of a small symmetric matrix (d <= a few hundred) on one BLAS thread.

    Why: LAPACK's tridiagonal reduction of a 256 x 256 matrix is a chain of
    small BLAS-2 calls; OpenBLAS's threads synchronise inside each, so two
    threads are slower than one even on a quiet machine and up to 20x slower
    on a loaded one (measured 24-117 ms against 15-25 ms at load 6).

    Returns
    -------
    evals : ndarray of shape (d,), ascending
    evecs : ndarray of shape (d, d), columns
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        return np.linalg.eigh(A)


#: Blocks per task of :func:`_in_threads` (16,384 rows at GRAM_ROWS: 13 tasks for 200,000 rows).
TASK_BLOCKS = 8


def _in_threads(fn, n, rows, task_blocks=TASK_BLOCKS):
    """``fn(start, stop)`` on consecutive row ranges of ``task_blocks`` blocks, pulled by one thread per core,
    each with single-threaded BLAS; returns the results in range order.

    Why: OpenBLAS's own threads synchronise inside every call, and on a
    shared, loaded machine a block-sized call then waits for a descheduled
    sibling thread (measured 10x slower at load 8 on 2 cores); plain threads
    over independent row ranges (numpy releases the GIL in BLAS) need no
    synchronisation until the end.  Threads pull the next range when done
    (not one fixed half each): on a virtual machine one core is often slower
    for a while, and a fixed split waits for it.  The ranges do not depend on
    the core count, so neither do the sums over them.
    """
    step = rows * max(1, int(task_blocks))
    bounds = [(a, min(a + step, n)) for a in range(0, max(n, 1), step)]
    workers = min(_n_threads(), len(bounds))
    if workers == 1:
        return [fn(a, b) for a, b in bounds]
    out = [None] * len(bounds)
    tasks = iter(range(len(bounds)))
    lock = threading.Lock()

    def drain():
        while True:
            with lock:
                k = next(tasks, None)
            if k is None:
                return
            out[k] = fn(*bounds[k])

    with _blas_controller().limit(limits=1, user_api="blas"):
        # This thread pulls ranges too; the others are threads kept for the
        # process (a new pool per call cost ~1/4 of the pass's median time in
        # thread start-up and hand-offs on 2 cores).
        futures = [_pool().submit(drain) for _ in range(workers - 1)]
        try:
            drain()
        finally:
            for f in futures:
                f.result()
    return out


_POOL = None
_POOL_LOCK = threading.Lock()


def _pool():
    """The process's worker threads for :func:`_in_threads` (one fewer than the cores).

    Sized by the cores, not by :func:`_n_threads`: it is first called inside the
    single-thread BLAS limit, where that would always say 1.
    """
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(1, _cores() - 1), thread_name_prefix="gram")
        return _POOL


def covariance_from_gram(shift, s1, s2, n, ddof=1):
    """Mean (z_dim,) and covariance (z_dim, z_dim) in float64 from :func:`shifted_gram`."""
    m = s1 / n
    cov = (s2 - n * np.outer(m, m)) / (n - ddof)
    cov = (cov + cov.T) / 2.0
    return m + shift.astype(np.float64), cov


def float32_eigh(Z, rows=GRAM_ROWS, on_block=None, shift=None):
    """Mean, covariance and eigendecomposition of float32 ``Z`` (see module docstring).

    ``shift`` (z_dim,), float32: the block shift when the caller already has
    it (default :func:`float32_shift`).  ``on_block``: an accumulator that
    sees every block once, in the first pass (see :func:`shifted_gram`).

    Returns
    -------
    mean : ndarray of shape (z_dim,)
    cov : ndarray of shape (z_dim, z_dim)
    evals : ndarray of shape (z_dim,), ascending
    evecs : ndarray of shape (z_dim, z_dim), columns
    passes : int
        1, or 2 when the pilot missed and a float64 pass followed the float32 one.
    """
    n = Z.shape[0]
    shift = float32_shift(Z) if shift is None else shift
    pilot = pilot_basis(Z, shift) if np.isfinite(shift).all() else None
    if pilot is not None and not np.isfinite(pilot).all():
        pilot = None
    wide = pilot is not None and pilot.shape[1] > PILOT_MAX
    sums = shifted_gram(Z, rows, on_block=on_block, shift=shift, pilot=None if wide else pilot,
                        dtype=np.float64 if wide else np.float32)
    if pilot is None or not all(np.isfinite(x).all() for x in sums[1:]):
        # NaN/inf in Z (or float32 overflow): the caller decides
        mean, cov = covariance_from_gram(*sums[:3], n)
        d = cov.shape[0]
        return mean, cov, np.full(d, np.nan), np.full((d, d), np.nan), 1
    passes = 1
    if not wide:
        mean, cov, evals, evecs, _, error = pilot_corrected_eigh(*sums, n, pilot)
        if error <= PILOT_TOL:
            return mean, cov, evals, evecs, 1
        sums, passes = shifted_gram(Z, rows, shift=shift, dtype=np.float64), 2
    mean, cov = covariance_from_gram(*sums[:3], n)
    return (mean, cov, *symmetric_eigh(cov), passes)


__all__ = ["covariance_from_gram", "float32_eigh", "float32_shift", "n_small", "pilot_basis", "pilot_corrected_eigh",
           "shifted_gram", "symmetric_eigh", "GRAM_ROWS", "PILOT_ROWS", "PILOT_TOL", "PILOT_MAX", "PILOT_MARGIN", "REFINE_BELOW", "REFINE_MIN"]
