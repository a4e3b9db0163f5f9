"""t-SNE maps at the seeds' scale (issue 11): openTSNE (FFT-accelerated
gradients), early exaggeration and perplexity settable, progress reports,
cached on disk by the content of the input.

The seed post ("the curse of high dimensionality – II") maps 20,000 points
with early exaggeration 16 and perplexity 10; ``MAX_TSNE_POINTS`` caps a map
at 50,000 points (memory and minutes on a laptop CPU).
"""

from __future__ import annotations

import os
import threading

import numpy as np
from openTSNE import TSNE

from core.cache import cached
from core.stats.pca import LatentPCA
from core.validation import check_float, check_int

#: Largest number of points of one t-SNE map.
MAX_TSNE_POINTS = 50_000
#: The seed's values.
SEED_PARAMS = {"n": 20_000, "early_exaggeration": 16.0, "perplexity": 10.0}
EARLY_ITER, MAIN_ITER, EVERY = 250, 500, 25

_local = threading.local()


def check_tsne_params(n, perplexity, early_exaggeration, n_available=None):
    """Validate a t-SNE request; ValueError naming the bad value.

    ``n`` in [10, ``MAX_TSNE_POINTS``] (and at most ``n_available``),
    perplexity >= 1 and below n / 3 (openTSNE needs 3 x perplexity
    neighbours), early exaggeration >= 1.
    """
    n = check_int(n, "n (points)", low=10)
    if n > MAX_TSNE_POINTS:
        raise ValueError(f"n (points) is capped at {MAX_TSNE_POINTS:,} for t-SNE, got {n:,}")
    if n_available is not None:
        n = min(n, int(n_available))
    perplexity = check_float(perplexity, "perplexity", low=1.0)
    if 3 * perplexity >= n:
        raise ValueError(f"perplexity must be below a third of the number of points ({n:,}), got {perplexity:g}")
    early_exaggeration = check_float(early_exaggeration, "early exaggeration", low=1.0)
    return n, perplexity, early_exaggeration


def _embed(X, perplexity, early_exaggeration, seed, n_jobs):
    progress = getattr(_local, "progress", None)
    done = [0]
    total = EARLY_ITER + MAIN_ITER

    def callback(iteration, error, embedding):
        done[0] += EVERY
        if progress is not None:
            progress(min(done[0] / total, 1.0), f"iteration {min(done[0], total)} of {total}, KL {error:.3f}")
        return False

    if progress is not None:
        progress(0.0, "finding neighbours and affinities")
    tsne = TSNE(n_components=2, perplexity=perplexity, early_exaggeration=early_exaggeration,
                early_exaggeration_iter=EARLY_ITER, n_iter=MAIN_ITER, initialization="pca",
                random_state=seed, n_jobs=n_jobs, callbacks=callback, callbacks_every_iters=EVERY,
                verbose=False)
    return np.asarray(tsne.fit(X), dtype=np.float64)


def tsne_map(X, perplexity=30.0, early_exaggeration=12.0, seed=0, n_jobs=None, progress=None, cache=True):
    """A 2-D t-SNE embedding of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        At most ``MAX_TSNE_POINTS`` rows.
    perplexity : float
        Below n / 3 (seed: 10).
    early_exaggeration : float >= 1
        Exaggeration of the first 250 iterations (seed: 16); 500 more follow.
    seed : int
    n_jobs : int or None
        Threads (default: all cores, at most 8).
    progress : callable or None
        ``progress(fraction, text)`` during the fit (not called on a cache hit).
    cache : bool
        Cache on disk by the content of X and the parameters (``core.cache``).

    Returns
    -------
    Y : ndarray of shape (n, 2)
    """
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    _, perplexity, early_exaggeration = check_tsne_params(X.shape[0], perplexity, early_exaggeration)
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")
    n_jobs = n_jobs or max(1, min(8, os.cpu_count() or 1))
    args = (float(perplexity), float(early_exaggeration), int(seed), int(n_jobs))
    # The progress callback is not part of the cache key: it travels beside the call.
    _local.progress = progress
    try:
        if cache:
            return cached(_embed, X, *args)
        return _embed(X, *args)
    finally:
        _local.progress = None


def tsne_of_latents(Z, n, space="latent", n_dims=None, pca=None, perplexity=30.0, early_exaggeration=12.0,
                    seed=0, progress=None, cache=True):
    """t-SNE of a fixed-seed subsample of ``Z``: ``(rows (m,), Y (m, 2))``.

    ``space="pca"`` maps the first ``n_dims`` PCA coordinates (``pca`` fitted
    on Z when None).  ValueError for n above ``MAX_TSNE_POINTS``, a bad
    perplexity, exaggeration or n_dims.
    """
    n, perplexity, early_exaggeration = check_tsne_params(n, perplexity, early_exaggeration, Z.shape[0])
    if space not in ("latent", "pca"):
        raise ValueError(f"space must be 'latent' or 'pca', got {space!r}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(Z.shape[0], n, replace=False)) if n < Z.shape[0] else np.arange(Z.shape[0])
    X = np.asarray(Z[rows], dtype=np.float64)
    if space == "pca":
        n_dims = check_int(n_dims if n_dims is not None else 10, "n_dims", 2, Z.shape[1])
        pca = pca if pca is not None else LatentPCA().fit(Z)
        X = pca.transform(X, n_dims)
    return rows, tsne_map(X, perplexity, early_exaggeration, seed, progress=progress, cache=cache)


__all__ = ["MAX_TSNE_POINTS", "SEED_PARAMS", "check_tsne_params", "tsne_map", "tsne_of_latents"]
