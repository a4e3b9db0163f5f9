"""The performance benchmark: ``python -m core bench``.

Every row times a fast path of ``core`` against a reference implementation
in the same run and reports ``ratio = reference_time / time`` (> 1: the fast
path is faster) next to the absolute time and the target.  References
that would take minutes are timed on a part of the work and extrapolated
linearly; the row's ``notes`` say how.

Rows
----
kde          ``core.stats.kde.kde2d`` vs ``scipy.stats.gaussian_kde`` (200,000 points, 128 x 128)
statistics   ``core.stats.components.full_statistics`` on a 200,000 x 256 float32 memmap vs
             scikit-learn ``PCA(svd_solver="full")`` + per-column loops
pca_ellipse  ``PCAEllipseSampler(n_components=256)``, 10,000 vectors vs the plain
             per-vector pair loop of [F-X] (:func:`reference_ellipse_loop`)
decode       16 vectors to 64 x 64 images: ``core.model.network.CompiledModel`` vs ``model.predict``
pca_latents  the same fit on 200,000 rows resampled from the default run's latents (a real CAE
             spectrum: dozens of nearly dead components), reported, no target
training     images/s of ``core.model.training.train_run`` (tf.data pipeline, progress,
             checkpoints) vs plain ``model.fit`` on NumPy arrays of the same model (the
             default run's filters, 32-32-64-64)
training_seed  the same with the seed's filters (64-64-128-128), 1,000 images
maps         the Encoder maps view of the default run's innermost layer, cold: load the encoder,
             scan 5,000 images, activation maximisation of every map, grid PNG (budget 60 s)
memory       peak RSS growth of statistics, one KDE plane, and 10,000 mvn /
             pca-ellipse samples on the memmap, each in a fresh process

TensorFlow is imported only by the ``decode``, ``training``, ``training_seed`` and ``maps`` rows.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import statistics as _stats
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from KDEpy import FFTKDE
from openTSNE import TSNE as OpenTSNE
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.manifold import TSNE as SkTSNE
from threadpoolctl import threadpool_limits

from core.bench._reference import reference_ellipse_loop, reference_statistics
from core.data.images import to_uint8
from core.data.sources import open_source
from core.model import featuremaps
from core.model.config import ModelConfig, TrainConfig
from core.model.network import CompiledModel, build_cae, decode
from core.model.training import train_run
from core.runs import runs
from core.sampling.samplers import (
    PCAEllipseSampler,
    _ellipse_stream,
    ellipse_backend,
    make_sampler,
)
from core.stats import gram
from core.stats.components import full_statistics
from core.stats.kde import kde2d
from core.stats.moments import mean_and_cov
from core.stats.pca import LatentPCA

ROWS = ("kde", "kde_30k", "pca", "pca_latents", "statistics", "pca_ellipse", "tsne", "decode", "training", "training_seed", "maps",
        "memory")
#: Rows run when none are named; the others are opt-in (``--rows``): tsne
#: runs scikit-learn's TSNE on 30,000 points, many minutes on two cores.
DEFAULT_ROWS = tuple(r for r in ROWS if r != "tsne")

#: Sizes of the full benchmark and of ``quick`` (a smoke test, not a measurement).
SIZES = {
    False: dict(kde_n=200_000, kde_grid=128, kde_ref_points=1024, n=200_000, d=256, stat_repeats=3,
                ell_k=256, ell_n=10_000, ell_ref=20, dec_size=64, dec_z=256, dec_calls=30,
                train_size=64, train_n=2000, train_batch=64,
                train_enc=(32, 32, 64, 64), train_dec=(64, 64, 32, 32), train_z=256, mem_sample=10_000,
                seed_n=1000, seed_enc=(64, 64, 128, 128), seed_dec=(128, 128, 64, 64)),
    True: dict(kde_n=5000, kde_grid=64, kde_ref_points=64, n=2000, d=16, stat_repeats=1,
               ell_k=16, ell_n=200, ell_ref=3, dec_size=16, dec_z=8, dec_calls=3,
               train_size=16, train_n=96, train_batch=32,
               train_enc=(4, 4, 8, 8), train_dec=(8, 8, 4, 4), train_z=8, mem_sample=200,
               seed_n=96, seed_enc=(8, 8, 16, 16), seed_dec=(16, 16, 8, 8),
               maps_n=64, maps_steps=4),
}

MB = 1024.0 * 1024.0
MEMORY_BUDGET_MB = 1024.0
STATS_MEMORY_BUDGET_MB = 512.0


def check_rows(rows):
    """Validate row names; ``ValueError`` naming the first unknown one."""
    rows = list(rows)
    if not rows:
        raise ValueError(f"rows must name at least one of {', '.join(ROWS)}")
    for r in rows:
        if r not in ROWS:
            raise ValueError(f"unknown benchmark row {r!r}; valid rows: {', '.join(ROWS)}")
    return rows


def _row(name, time_s, reference, reference_time_s, target, met, notes, **extra):
    ratio = (reference_time_s / time_s) if time_s and reference_time_s else float("nan")
    out = {"name": name, "time_s": float(time_s), "reference": reference,
           "reference_time_s": None if reference_time_s is None else float(reference_time_s),
           "ratio": float(ratio), "target": target, "met": bool(met), "notes": notes}
    out.update(extra)
    return out


def _median_time(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return _stats.median(times)


def make_latent_memmap(path, n, d, seed=0, chunk_rows=16384):
    """Write a correlated Gaussian float32 (n, d) matrix to ``path`` (.npy), chunk by chunk.

    Component scales fall off like a trained CAE's (a few wide, many narrow),
    the means are off the origin and a random mixing matrix correlates the
    components (many pairs with |r| > 0.3).

    Returns
    -------
    Z : numpy.memmap of shape (n, d), float32, opened read-only
    """
    rng = np.random.default_rng(seed)
    scales = 0.3 + 1.5 * np.exp(-np.arange(d) / max(d / 6.0, 1.0))
    mix = np.eye(d) + rng.normal(0.0, 0.9 / math.sqrt(d), (d, d))
    A = mix * scales[None, :]
    mean = rng.normal(0.0, 0.5, d)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, chunk_rows):
        m = min(chunk_rows, n - s)
        out[s:s + m] = (mean + rng.standard_normal((m, d)) @ A).astype(np.float32)
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


# ---------------------------------------------------------------------- kde

def _paired_medians(fn, ref, repeats, warmup=1):
    """Median times of ``fn`` and ``ref``, called alternately (load bursts hit both)."""
    for _ in range(warmup):
        fn()
        ref()
    t, t_ref = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        ref()
        t_ref.append(time.perf_counter() - t1)
        t.append(t1 - t0)
    return _stats.median(t), _stats.median(t_ref)


def whiten(P):
    """Points mapped by the inverse Cholesky factor of their covariance (ddof 1).

    An isotropic kernel of bandwidth ``factor`` on whitened points is the
    full-covariance kernel ``factor**2 * cov`` on the original points: how
    KDEpy's ``FFTKDE`` (isotropic norms only) computes the same estimate.
    """
    L = np.linalg.cholesky(np.cov(P, rowvar=False))
    return np.linalg.solve(L, (P - P.mean(axis=0)).T).T


def _kde_row(name, n, g, repeats, ref_points, seed):
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.85 * 0.6], [0.85 * 0.6, 0.36]])
    P = rng.multivariate_normal([0.3, -0.2], cov, size=n)
    W = whiten(P)
    factor = n ** (-1.0 / 6.0)
    t, t_peer = _paired_medians(lambda: kde2d(P, gridsize=g),
                                lambda: FFTKDE(bw=factor).fit(W).evaluate((g, g)), repeats)
    res = kde2d(P, gridsize=g)
    # Accuracy: exact gaussian_kde (same Scott factor) on all points at a
    # subset of the grid nodes: random nodes + the 3 x 3 around the peak.
    iy, ix = np.unravel_index(np.argmax(res.density), res.density.shape)
    flat = rng.choice(g * g, size=ref_points, replace=False)
    ys, xs = np.unravel_index(flat, (g, g))
    near = [(min(max(iy + a, 0), g - 1), min(max(ix + b, 0), g - 1)) for a in (-1, 0, 1) for b in (-1, 0, 1)]
    ys = np.concatenate([ys, [p[0] for p in near]])
    xs = np.concatenate([xs, [p[1] for p in near]])
    t0 = time.perf_counter()
    ref = stats.gaussian_kde(P.T)(np.vstack([res.xgrid[xs], res.ygrid[ys]]))
    t_exact = (time.perf_counter() - t0) * (g * g) / len(xs)
    err = float(np.max(np.abs(res.density[ys, xs] - ref)) / np.max(ref) * 100.0)
    ratio = t_peer / t
    return _row(name, t, "KDEpy FFTKDE on the whitened points (same kernel)", t_peer,
                "ratio >= 1.0, max error <= 0.3 % of peak vs gaussian_kde", ratio >= 1.0 and err <= 0.3,
                f"{n:,} correlated points (r = 0.85), {g}x{g} grid; median of {repeats} calls of each, "
                f"alternating; peer: FFTKDE(bw={factor:.4f}).fit(whitened).evaluate(({g}, {g})), whitening "
                f"not timed; max |error| {err:.3f} % of the peak against scipy gaussian_kde at "
                f"{len(xs)} grid nodes (random + 3x3 around the peak); gaussian_kde on the whole grid "
                f"would take ~{t_exact:.0f} s",
                error_pct_of_peak=err, exact_time_s=t_exact)


def bench_kde(quick=False, **_):
    """kde2d vs KDEpy FFTKDE (whitened) on 200,000 points; error vs gaussian_kde."""
    S = SIZES[quick]
    return _kde_row("kde", S["kde_n"], S["kde_grid"], 5 if quick else 21, S["kde_ref_points"], 1)


def bench_kde_30k(quick=False, **_):
    """The same on 30,000 points (the default run's size: what a plane change pays)."""
    S = SIZES[quick]
    return _kde_row("kde_30k", S["kde_n"] // 10 if quick else 30_000, S["kde_grid"], 5 if quick else 31,
                    S["kde_ref_points"], 2)


# ---------------------------------------------------------------------- pca

def reference_eigenvalues(Z, chunk_rows=32768):
    """Descending eigenvalues of the float64 covariance (ddof 1) of ``Z`` read as float64."""
    return np.linalg.eigvalsh(mean_and_cov(np.asarray(Z, dtype=np.float64), chunk_rows)[1])[::-1]


def _pca_against_sklearn(X, repeats):
    """Paired median times of ``LatentPCA().fit`` and sklearn's on ``X``, then the
    descending eigenvalues of the float64 reference, of ours and of sklearn's."""
    t, t_peer = _paired_medians(lambda: LatentPCA().fit(X), lambda: PCA(svd_solver="covariance_eigh").fit(X),
                                repeats)
    ref = reference_eigenvalues(X)
    ours = LatentPCA().fit(X).explained_variance_
    peer = np.sort(PCA(svd_solver="covariance_eigh").fit(X).explained_variance_)[::-1]
    return t, t_peer, ref, ours, peer


def bench_pca(quick=False, Z=None, **_):
    """LatentPCA().fit vs sklearn PCA(svd_solver="covariance_eigh"), both on float32."""
    X = np.asarray(Z)  # a plain ndarray over the same mapped pages: both read the same memory
    repeats = 3 if quick else 11
    t, t_peer, ref, ours, peer = _pca_against_sklearn(X, repeats)
    err = float(np.max(np.abs(ours / ref - 1.0)))
    err10 = float(np.max(np.abs(ours[-10:] / ref[-10:] - 1.0)))
    perr = float(np.max(np.abs(peer / ref - 1.0)))
    perr10 = float(np.max(np.abs(peer[-10:] / ref[-10:] - 1.0)))
    ratio = t_peer / t
    return _row("pca", t, "sklearn PCA(svd_solver='covariance_eigh') on float32", t_peer,
                "ratio >= 1.0, eigenvalues within 1e-6 of float64 eigh", ratio >= 1.0 and err <= 1e-6,
                f"{Z.shape[0]:,} x {Z.shape[1]} float32 (uncentred, eigenvalues {ref[0]:.3g} .. {ref[-1]:.3g}); "
                f"median of {repeats} fits of each, alternating, on the same array (the memmap's pages); max relative eigenvalue error vs float64 eigh of the float64 covariance: "
                f"ours {err:.1e} (smallest ten {err10:.1e}), sklearn's float32 path {perr:.1e} (smallest "
                f"ten {perr10:.1e}: its X.T @ X of uncentred float32 data cancels catastrophically)",
                max_rel_eig_error=err, max_rel_eig_error_smallest10=err10, peer_max_rel_eig_error=perr,
                peer_max_rel_eig_error_smallest10=perr10)


def latent_spectrum_matrix(n, seed=0, noise=1e-3):
    """``n`` rows resampled from the default run's latents, each plus Gaussian
    noise of ``noise`` x its component's spread (no two rows equal).

    Returns
    -------
    X : ndarray of shape (n, z_dim), float32
    """
    L = runs.load_npy(runs.run_dir(runs.DEFAULT_RUN) / "latents.npy", mmap=False)
    rng = np.random.default_rng(seed)
    X = np.asarray(L)[rng.integers(0, L.shape[0], n)]
    X += (rng.standard_normal(X.shape) * (noise * L.std(axis=0))).astype(np.float32)
    return X.astype(np.float32, copy=False)


def bench_pca_latents(quick=False, **_):
    """LatentPCA().fit vs sklearn on a real CAE spectrum (reported: the §6 row is ``pca``)."""
    S = SIZES[quick]
    X = latent_spectrum_matrix(S["n"])
    repeats = 3 if quick else 11
    t, t_peer, ref, ours, peer = _pca_against_sklearn(X, repeats)
    err = float(np.max(np.abs(ours / ref - 1.0)))
    perr = float(np.max(np.abs(peer / ref - 1.0)))
    passes = gram.float32_eigh(X)[4]
    return _row("pca_latents", t, "sklearn PCA(svd_solver='covariance_eigh') on float32", t_peer,
                "reported (eigenvalues within 1e-6)", err <= 1e-6,
                f"{X.shape[0]:,} x {X.shape[1]} float32 resampled from the default run's latents, 0.1 % noise "
                f"(eigenvalues {ref[0]:.3g} .. {ref[-1]:.3g}, a span of {ref[0] / ref[-1]:,.0f}); "
                f"median of {repeats} fits of each, alternating; max relative eigenvalue error vs float64 eigh: "
                f"ours {err:.1e}, sklearn's {perr:.1e}; our fit took {passes} pass(es) over the rows, in float64 "
                f"(dozens of nearly dead components: a float32 Gram misses 1e-6 on them, and on eigenvalues far "
                f"above them when the rows are few)", max_rel_eig_error=err, peer_max_rel_eig_error=perr, passes=int(passes))


# --------------------------------------------------------------- statistics

def bench_statistics(quick=False, Z=None, **_):
    """full_statistics on the memmap vs the PCA peer's time (target <= 2.5 x); tracemalloc peak."""
    S = SIZES[quick]
    X = np.asarray(Z)
    full_statistics(Z)  # warm the page cache and the code paths (numba compiled or cached)
    repeats = max(S["stat_repeats"], 5 if not quick else 1)
    t, t_peer = _paired_medians(lambda: full_statistics(Z), lambda: PCA(svd_solver="covariance_eigh").fit(X),
                                repeats, warmup=0)
    gc.collect()
    tracemalloc.start()
    full_statistics(Z)
    peak = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    ratio = t_peer / t
    return _row("statistics", t, "sklearn PCA(svd_solver='covariance_eigh') alone (the PCA peer)", t_peer,
                "<= 2.5 x the PCA peer (ratio >= 0.4), <= 0.5 GB extra memory",
                ratio >= 0.4 and peak <= STATS_MEMORY_BUDGET_MB,
                f"{Z.shape[0]:,} x {Z.shape[1]} float32 memmap (correlated Gaussian): {Z.shape[1]} histograms "
                f"and Gaussian fits, moments, normality tests, correlation, threshold counts and PCA; median "
                f"of {repeats} warm calls of each, alternating; {t / t_peer:.2f} x the peer's time; "
                f"tracemalloc peak of one call {peak:.0f} MiB (RSS in the memory rows)",
                peak_mb=peak, times_peer=t / t_peer)


# -------------------------------------------------------------- pca_ellipse

def bench_pca_ellipse(quick=False, Z=None, **_):
    """PCAEllipseSampler(K).sample(n) vs the plain per-vector loop (extrapolated).

    Each vector's loop visits all K(K-1)/2 pairs whatever the others do, so
    the reference's time per vector does not depend on n: it is timed on
    ``ell_ref`` vectors and scaled to n.  The two are timed alternately
    (three times each, medians) so a burst of load hits both; ours includes
    the random draws and the back-transform, the reference neither.
    """
    S = SIZES[quick]
    K, n, m = min(S["ell_k"], Z.shape[1]), S["ell_n"], S["ell_ref"]
    t0 = time.perf_counter()
    s = PCAEllipseSampler(n_components=K).fit(Z)
    t_fit = time.perf_counter() - t0
    s.sample(min(n, 200), random_state=1)  # warm-up
    fa = s.f_ * s.half_axes_
    seeds, U = _ellipse_stream(np.random.default_rng(0), m, K)
    box = {}
    t, t_ref = _paired_medians(lambda: s.sample(n, random_state=0),
                               lambda: box.__setitem__("R", reference_ellipse_loop(U, seeds, fa, s.fixed)),
                               repeats=1 if quick else 3, warmup=0)
    c0 = time.process_time()
    s.sample(n, random_state=0)
    cpu = time.process_time() - c0
    c0 = time.process_time()
    reference_ellipse_loop(U, seeds, fa, s.fixed)
    cpu_ref = (time.process_time() - c0) / m * n
    t_ref = t_ref / m * n
    same = bool(np.array_equal(s.sample_pca(m, random_state=0), box["R"]))
    return _row("pca_ellipse", t, "plain per-vector pair loop ([F-X])", t_ref,
                "ratio >= 500, same output as the loop", t_ref / t >= 500 and same,
                f"K = {K} ({K * (K - 1) // 2:,} pairs a vector), {n:,} vectors, fixed='leading', "
                f"{ellipse_backend()} pair loop; fit {t_fit:.2f} s not counted; reference timed on {m} vectors "
                f"({t_ref / n * 1000:.1f} ms a vector) and extrapolated to {n:,}; medians of "
                f"{1 if quick else 3} alternating calls each; CPU {cpu:.2f} s vs {cpu_ref:.1f} s (extrapolated); "
                f"output on those {m} {'identical' if same else 'DIFFERENT'} bit for bit",
                identical=same, fit_s=t_fit, cpu_s=cpu, reference_cpu_s=cpu_ref)


# --------------------------------------------------------------------- tsne

def tsne_pair(X, perplexity=30.0, seed=0, n_jobs=1):
    """openTSNE and scikit-learn's Barnes-Hut TSNE on the same points, same settings.

    Both: 2-D, PCA initialisation, perplexity ``perplexity``, 250 early
    exaggeration iterations (factor 12) and 750 more (sklearn's
    ``max_iter=1000``; openTSNE's ``n_iter`` counts only the latter), learning
    rate "auto", ``n_jobs`` threads.  openTSNE picks its FFT-interpolated
    gradient for large n (its default ``negative_gradient_method="auto"``).

    Returns
    -------
    Y_open, Y_sk : ndarray of shape (n, 2)
    t_open, t_sk : float   seconds
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    t0 = time.perf_counter()
    Y_open = np.asarray(OpenTSNE(n_components=2, perplexity=perplexity, initialization="pca",
                                 early_exaggeration_iter=250, early_exaggeration=12, n_iter=750,
                                 learning_rate="auto", random_state=seed, n_jobs=n_jobs).fit(X))
    t_open = time.perf_counter() - t0

    t0 = time.perf_counter()
    with threadpool_limits(limits=n_jobs):  # its gradient is OpenMP-parallel whatever n_jobs says
        Y_sk = SkTSNE(n_components=2, perplexity=perplexity, init="pca", early_exaggeration=12.0,
                      max_iter=1000, learning_rate="auto", method="barnes_hut", random_state=seed,
                      n_jobs=n_jobs).fit_transform(X)
    t_sk = time.perf_counter() - t0
    return Y_open, Y_sk, t_open, t_sk


def bench_tsne(quick=False, Z=None, **_):
    """openTSNE vs scikit-learn TSNE (Barnes-Hut) on 30,000 x 256 latents (opt-in: minutes)."""
    n = 1000 if quick else 30_000
    X = np.asarray(Z[:n], dtype=np.float64)
    Y_open, Y_sk, t_open, t_sk = tsne_pair(X)
    sub = np.random.default_rng(0).choice(n, size=min(n, 3000), replace=False)
    tw_open = float(trustworthiness(X[sub], Y_open[sub], n_neighbors=10))
    tw_sk = float(trustworthiness(X[sub], Y_sk[sub], n_neighbors=10))
    return _row("tsne", t_open, "scikit-learn TSNE(method='barnes_hut')", t_sk,
                "report the ratio (openTSNE); trustworthiness no worse than sklearn's by > 0.01",
                tw_open >= tw_sk - 0.01,
                f"{n:,} x {X.shape[1]} latents (rows of the benchmark matrix), perplexity 30, PCA init, "
                f"250 + 750 iterations, 1 thread each; openTSNE {t_open:.1f} s, sklearn {t_sk:.1f} s; "
                f"trustworthiness (10 neighbours, {len(sub):,} random points) openTSNE {tw_open:.4f}, "
                f"sklearn {tw_sk:.4f}",
                trustworthiness=tw_open, reference_trustworthiness=tw_sk)


# ------------------------------------------------------------------- decode

def _bench_decoder(quick):
    """The default run's decoder if complete and 64 px, else a fresh seed decoder."""
    S = SIZES[quick]
    if not quick:
        try:
            run = runs.load_run(runs.DEFAULT_RUN)
            if run.image_size == S["dec_size"]:
                m = run.config["model"]
                return run.decoder, (f"decoder of the default run ({run.image_size} px, z_dim {run.z_dim}, "
                                     f"filters {m['decoder_filters']})")
        except ValueError:
            pass
    cfg = ModelConfig(image_size=S["dec_size"], channels=3, z_dim=S["dec_z"])
    if quick:
        cfg.encoder_filters, cfg.decoder_filters = S["train_enc"], S["train_dec"]
    _, dec, _ = build_cae(cfg)
    return dec, (f"freshly built decoder ({cfg.image_size} px, z_dim {cfg.z_dim}, "
                 f"filters {list(cfg.decoder_filters)})")


def bench_decode(quick=False, **_):
    """16 vectors: CompiledModel (core.model.network.decode) vs keras model.predict.

    Target: <= 20 ms and ratio >= 5 (PRODUCT.md §6).  The notes add one
    vector, what the Decode page's slider decodes.
    """
    import tensorflow as tf

    S = SIZES[quick]
    decoder, what = _bench_decoder(quick)
    z = np.random.default_rng(0).standard_normal((16, int(decoder.input_shape[-1]))).astype(np.float32)
    fast = CompiledModel(decoder, batch_size=16)
    calls = S["dec_calls"]
    t, t_ref = _paired_medians(lambda: decode(fast, z), lambda: decoder.predict(z, verbose=0), repeats=calls,
                               warmup=3)
    c0 = time.process_time()
    for _ in range(calls):
        decode(fast, z)
    cpu = (time.process_time() - c0) / calls
    t1 = _median_time(lambda: decode(fast, z[:1]), repeats=calls, warmup=3)
    diff = float(np.max(np.abs(decode(fast, z) - decoder.predict(z, verbose=0))))
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
    return _row("decode", t, "keras model.predict", t_ref, "<= 20 ms and ratio >= 5",
                t <= 0.020 and t_ref / t >= 5,
                f"{what}; 16 vectors, median of {calls} calls alternating with predict after 3 warm-up calls; "
                f"CPU {cpu * 1000:.1f} ms a call; one vector (the Decode slider) {t1 * 1000:.1f} ms; "
                f"TF {tf.__version__}, TF_ENABLE_ONEDNN_OPTS={onednn}; max |difference| {diff:.2g}",
                max_abs_diff=diff, cpu_s=cpu, one_vector_s=t1)


# ----------------------------------------------------------------- training

#: Timed epochs on each side of the training row (after one warm-up epoch each).
TRAIN_PAIRS = 12


def bench_training(quick=False, seed_filters=False, **_):
    """Images/s of core.model.training.train_run vs plain model.fit on NumPy arrays.

    The default run's filters, or with ``seed_filters`` the seed's (four
    times the convolution work: half the images, to keep the row short).

    The two sides alternate epoch by epoch: at each of train_run's epoch
    ends (after its checkpoint and progress file) its progress hook runs one
    epoch of the plain fit, so every train_run epoch has a plain epoch next
    to it in time and a drift of the machine's speed favours neither side.
    The row reports the median of the pairs' ratios (an epoch one side lost
    to a stall moves it by one rank, not by its length) and both sides'
    CPU time per image.
    """
    import keras

    S = SIZES[quick]
    name, n_images, enc, dec = (("training_seed", S["seed_n"], S["seed_enc"], S["seed_dec"]) if seed_filters
                                else ("training", S["train_n"], S["train_enc"], S["train_dec"]))
    pairs = 1 if quick else TRAIN_PAIRS
    epochs = pairs + 1  # the first epoch (tracing) is a warm-up on both sides
    model = ModelConfig(image_size=S["train_size"], channels=3, z_dim=S["train_z"],
                        encoder_filters=enc, decoder_filters=dec)
    cfg = TrainConfig(dataset="synthfaces", limit=n_images, epochs=epochs, batch_size=S["train_batch"],
                      val_fraction=0.1, seed=0, model=model)
    with tempfile.TemporaryDirectory(prefix="latent_lab_bench_") as tmp:
        # The same images as train_run will materialise (synthfaces is deterministic).
        images = open_source("synthfaces", size=model.image_size, channels=3, limit=cfg.limit,
                             seed=cfg.data_seed).load()[0]
        x = to_uint8(images).astype(np.float32) / 255.0  # quantised like train_run's uint8 copy
        n = x.shape[0]
        n_val = max(1, int(round(n * cfg.val_fraction)))
        n_train = n - n_val
        x_train, x_val = x[:n_train], x[n_train:]
        keras.utils.set_random_seed(cfg.seed)
        _, _, ae = build_cae(model)
        ae.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse")
        durations, cpu_ref = [], []

        class Stamp(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self._t, self._c = time.perf_counter(), time.process_time()

            def on_epoch_end(self, epoch, logs=None):
                durations.append(time.perf_counter() - self._t)
                cpu_ref.append(time.process_time() - self._c)

        def plain_fit(n_epochs):
            ae.fit(x_train, x_train, batch_size=cfg.batch_size, epochs=n_epochs, validation_data=(x_val, x_val),
                   shuffle=True, verbose=0, callbacks=[Stamp()])

        plain_fit(1)  # warm-up: traces the step
        del durations[:], cpu_ref[:]
        pipe_times, cpu_pipe, resumed = [], [], {}

        def on_progress(info):
            # Epoch ends are reported with batch 0 after checkpoint + progress file.
            if info.get("batch") != 0 or info.get("state") != "running" or int(info["epoch"]) < 1:
                return
            e = int(info["epoch"])
            if e >= 2:  # epoch 1 traced the step
                pipe_times.append(time.perf_counter() - resumed[e - 1][0])
                cpu_pipe.append(time.process_time() - resumed[e - 1][1])
            if e < epochs:
                plain_fit(1)
            resumed[e] = (time.perf_counter(), time.process_time())

        train_run(cfg, Path(tmp) / "bench_train", on_progress=on_progress, encode=False)
        ref_times = list(durations)
    steps = n_train // cfg.batch_size
    pipe_times, ref_times = np.array(pipe_times), np.array(ref_times)
    # Images per epoch: train_run drops the last partial batch, model.fit does not.
    per_pair = (ref_times / n_train) / (pipe_times / (steps * cfg.batch_size))
    ratio = float(np.median(per_pair))
    # CPU seconds (all threads, the checkpoint writer's included) per image: the
    # same work on both sides whatever share of the cores the machine gave.
    cpu_img = float(np.median(cpu_pipe)) / (steps * cfg.batch_size)
    cpu_img_ref = float(np.median(cpu_ref)) / n_train
    pipe_ips = steps * cfg.batch_size / float(np.median(pipe_times))
    ref_ips = n_train / float(np.median(ref_times))
    # Time per image on each side; time_s / reference_time_s is the median pair's ratio.
    t = 1.0 / pipe_ips
    t_ref = t * ratio
    return _row(name, t, "plain model.fit on NumPy arrays (same model, same images)", t_ref,
                "ratio >= 1.0 (pipeline, progress, checkpoints cost nothing)", ratio >= 1.0,
                f"{S['train_size']}x{S['train_size']} synthfaces, {n_train} training + {n_val} validation "
                f"images, filters {list(enc)} / {list(dec)}, z_dim {S['train_z']}, "
                f"batch {cfg.batch_size}; {pairs} train_run epochs, each followed by one model.fit epoch "
                f"(run from train_run's epoch-end hook), after one warm-up epoch each; ratio = median over "
                f"the {pairs} pairs of (model.fit epoch time per image / train_run epoch time per image), "
                f"pairs {np.round(np.sort(per_pair), 3).tolist()}; train_run epochs from the end of one "
                f"to the end of the next (validation, checkpoint and progress file included), model.fit "
                f"epochs with validation; median epochs: train_run {pipe_ips:.0f} img/s, "
                f"model.fit {ref_ips:.0f} img/s; median CPU time a image (all threads): train_run "
                f"{cpu_img * 1000:.2f} ms, model.fit {cpu_img_ref * 1000:.2f} ms (ratio {cpu_img_ref / cpu_img:.3f})",
                cpu_s_per_image=cpu_img, reference_cpu_s_per_image=cpu_img_ref, images_per_s=pipe_ips,
                reference_images_per_s=ref_ips, pair_ratios=per_pair.tolist(), median_ratio=float(pipe_ips / ref_ips))


# ------------------------------------------------------------------- memory

def _status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise ValueError(f"{field} not in /proc/self/status")


def memory_probe(kinds, path, n_sample=10_000):
    """Run measurements in *this* process and print one JSON line each.

    Called in a fresh interpreter by :func:`bench_memory`.  Imports and the
    memmap are set up first; then, before each measurement, the peak RSS
    (VmHWM) is reset through ``/proc/self/clear_refs`` where the kernel
    allows it, and the growth of the peak over the starting RSS is
    reported, with the file-backed part (pages of the memory-mapped matrix)
    separately.

    Parameters
    ----------
    kinds : str   comma-separated: statistics, kde, mvn, pca-ellipse
    path : str    a .npy latent matrix (opened with mmap_mode="r")
    n_sample : int   vectors drawn by the sampler probes
    """
    Z = np.load(path, mmap_mode="r")
    for kind in kinds.split(","):
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            reset = True
        except OSError:
            reset = False
        base = _status_kb("VmRSS")
        base_file = _status_kb("RssFile")
        t0 = time.perf_counter()
        if kind == "statistics":
            full_statistics(Z)
        elif kind == "kde":
            kde2d(np.asarray(Z[:, :2]), gridsize=128)
        elif kind in ("mvn", "pca-ellipse"):
            params = {"n_components": Z.shape[1]} if kind == "pca-ellipse" else {}
            make_sampler(kind, **params).fit(Z).sample(n_sample, random_state=0)
        else:
            raise ValueError(f"unknown memory probe {kind!r}")
        t = time.perf_counter() - t0
        peak = _status_kb("VmHWM")
        print(json.dumps({"kind": kind, "time_s": t, "peak_growth_kb": peak - base,
                          "file_kb": _status_kb("RssFile") - base_file, "hwm_reset": reset}), flush=True)


def bench_memory(quick=False, Z=None, path=None, **_):
    """Peak RSS growth of four operations on the memmap, each in a fresh process.

    ``quick`` runs the four in one fresh process (peak reset in between).
    """
    S = SIZES[quick]
    what = {"statistics": "full_statistics", "kde": "kde2d of one plane (columns 0, 1), 128x128",
            "mvn": f"mvn fit + {S['mem_sample']:,} samples",
            "pca-ellipse": f"pca-ellipse (K = z_dim) fit + {S['mem_sample']:,} samples"}
    kinds = ("statistics", "kde", "mvn", "pca-ellipse")
    groups = [",".join(kinds)] if quick else list(kinds)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    results = []
    for group in groups:
        code = f"from core.bench.suite import memory_probe; memory_probe({group!r}, {str(path)!r}, {S['mem_sample']})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"memory probe {group} failed: {proc.stderr.strip().splitlines()[-1:]}")
        results += [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    rows = []
    for res in results:
        kind = res["kind"]
        peak = max(res["peak_growth_kb"], 1) / 1024.0
        file_mb = max(res["file_kb"], 0) / 1024.0
        rows.append(_row(f"memory/{kind}", res["time_s"], "budget 1 GB (ratio = budget / peak)",
                         None, "<= 1 GB peak RSS growth", peak <= MEMORY_BUDGET_MB,
                         f"{what[kind]} on the {Z.shape[0]:,} x {Z.shape[1]} float32 memmap, "
                         f"{'shared' if quick else 'fresh'} process; "
                         f"peak RSS growth {peak:.0f} MiB, of which {file_mb:.0f} MiB are pages of the "
                         f"memory-mapped file (page cache, not copies)"
                         + ("" if res["hwm_reset"] else "; peak not resettable, measured from start"),
                         peak_mb=peak, file_mb=file_mb))
        rows[-1]["ratio"] = MEMORY_BUDGET_MB / peak
    return rows


# --------------------------------------------------------------------- maps

#: The Encoder maps view must compute within this on 2 cores (issue 15).
MAPS_BUDGET_S = 60.0


def bench_maps(quick=False, **_):
    """Cold compute of the Encoder maps view (innermost layer) against a 60 s budget."""
    t0 = time.perf_counter()
    if quick:
        S = SIZES[True]
        enc, _, _ = build_cae(ModelConfig(image_size=S["train_size"], channels=3, z_dim=S["train_z"],
                                          encoder_filters=S["train_enc"], decoder_filters=S["train_dec"]))
        limit, steps = S["maps_n"], S["maps_steps"]
        source = open_source("synthfaces", size=S["train_size"], limit=limit)
        what = f"fresh {S['train_size']} px encoder, {limit} synthfaces"
    else:
        run = runs.load_run(runs.DEFAULT_RUN)
        enc, source = run.encoder, run.source()
        what = f"the default run's encoder ({run.image_size} px, filters {run.config['model']['encoder_filters']})"
        limit, steps = featuremaps.DEFAULT_LIMIT, featuremaps.DEFAULTS["steps"]
    t_load = time.perf_counter() - t0
    rep = featuremaps.map_report(enc, source, steps=steps, limit=limit)
    t1 = time.perf_counter()
    png = featuremaps.figure_png(featuremaps.pattern_grid_figure(rep))
    t_grid = time.perf_counter() - t1
    total = time.perf_counter() - t0
    above = int((rep.activation > rep.scan.max_activation).sum())
    return _row("maps", total, "budget 60 s", MAPS_BUDGET_S, "<= 60 s on 2 cores", total <= MAPS_BUDGET_S,
                f"{what}, layer {rep.layer} ({rep.n_maps} maps), {rep.scan.n_images} images scanned, "
                f"{steps} ascent steps: load {t_load:.1f} s, scan {rep.seconds['scan']:.1f} s, "
                f"maximise {rep.seconds['maximise']:.1f} s, grid PNG {t_grid:.1f} s; {above}/{rep.n_maps} "
                "patterns above every scanned image",
                load_s=t_load, scan_s=rep.seconds["scan"], maximise_s=rep.seconds["maximise"], grid_s=t_grid,
                n_images=rep.scan.n_images, n_maps=rep.n_maps, patterns_above_max=above, png_bytes=len(png))


# ------------------------------------------------------------------- runner

_BENCHES = {"kde": bench_kde, "kde_30k": bench_kde_30k, "pca": bench_pca, "statistics": bench_statistics,
            "pca_ellipse": bench_pca_ellipse, "tsne": bench_tsne, "decode": bench_decode,
            "pca_latents": bench_pca_latents, "training": bench_training,
            "training_seed": functools.partial(bench_training, seed_filters=True), "maps": bench_maps, "memory": bench_memory}


def run_benchmarks(rows=None, quick=False, progress=None):
    """Run the benchmark rows.

    Parameters
    ----------
    rows : sequence of str or None
        Subset of :data:`ROWS` (None: all, in that order).
    quick : bool
        Small sizes (a smoke test of the machinery; the numbers mean little).
    progress : callable(str) or None
        Told which row starts.

    Returns
    -------
    list of dict
        One dict per row (``memory`` gives one per operation) with
        ``name, time_s, reference, reference_time_s, ratio, target, met,
        notes`` (``ratio = reference_time_s / time_s``; for memory rows
        budget / peak), ``load_avg`` (1-minute load average before and
        after the row) and row-specific extras.
    """
    rows = list(DEFAULT_ROWS) if rows is None else check_rows(rows)
    S = SIZES[bool(quick)]
    out = []
    with tempfile.TemporaryDirectory(prefix="latent_lab_bench_") as tmp:
        path = Path(tmp) / "latents.npy"
        Z = None
        if any(r in ("pca", "statistics", "pca_ellipse", "tsne", "memory") for r in rows):
            Z = make_latent_memmap(path, S["n"], S["d"])
        for r in rows:
            if progress:
                progress(f"bench: {r} ...")
            load0 = os.getloadavg()[0]
            res = _BENCHES[r](quick=bool(quick), Z=Z, path=path)
            # Timings on a shared machine mean little without the load.
            load = [round(load0, 2), round(os.getloadavg()[0], 2)]
            for row in res if isinstance(res, list) else [res]:
                row["load_avg"] = load
                row["notes"] += f"; 1-min load average {load[0]:.1f} -> {load[1]:.1f} on {os.cpu_count()} CPUs"
                out.append(row)
        del Z
    return out


def _fmt_time(t):
    if t is None or not np.isfinite(t):
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    if t < 1.0:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def format_table(results):
    """A plain-text table of :func:`run_benchmarks` rows, notes below."""
    head = ("row", "time", "reference", "ratio", "target", "met")
    lines = []
    for r in results:
        if r["name"].startswith("training"):
            tm = f"{r['images_per_s']:.0f} img/s"
            rf = f"{r['reference_images_per_s']:.0f} img/s"
        elif r["name"].startswith("memory/"):
            tm, rf = f"{r['peak_mb']:.0f} MiB", "1024 MiB"
        else:
            tm, rf = _fmt_time(r["time_s"]), _fmt_time(r["reference_time_s"])
        lines.append((r["name"], tm, rf, f"{r['ratio']:.3g}", r["target"], "yes" if r["met"] else "NO"))
    widths = [max(len(str(x[i])) for x in [head] + lines) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    text = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    text += [fmt.format(*x) for x in lines]
    text.append("")
    text += [f"{r['name']}: {r['notes']}" for r in results]
    return "\n".join(text)


def markdown_table(results):
    """The README's performance table (GitHub markdown) from :func:`run_benchmarks` rows."""
    lines = ["| row | ours | peer / reference | ratio | target | met | load |", "|---|---|---|---|---|---|---|"]
    for r in results:
        name = r["name"]
        if name.startswith("training"):
            tm, rf = f"{r['images_per_s']:.0f} img/s", f"{r['reference_images_per_s']:.0f} img/s"
        elif name.startswith("memory/"):
            tm, rf = f"{r['peak_mb']:.0f} MiB", "budget 1024 MiB"
        else:
            tm, rf = _fmt_time(r["time_s"]), _fmt_time(r["reference_time_s"])
        if "error_pct_of_peak" in r:
            tm += f", error {r['error_pct_of_peak']:.3f} % of peak"
        if "max_rel_eig_error" in r:
            tm += f", eigenvalue error {r['max_rel_eig_error']:.1e}"
            rf += f", error {r['peer_max_rel_eig_error']:.1e}"
        if "peak_mb" in r and not name.startswith("memory/"):
            tm += f", peak {r['peak_mb']:.0f} MiB"
        if "trustworthiness" in r:
            tm += f", trustworthiness {r['trustworthiness']:.3f}"
            rf += f", {r['reference_trustworthiness']:.3f}"
        ref = r["reference"].split(" (")[0]
        load = r.get("load_avg") or ["?", "?"]
        lines.append(f"| {name} | {tm} | {rf} ({ref}) | {r['ratio']:.3g} | {r['target']} | "
                     f"{'yes' if r['met'] else '**no**'} | {load[0]}–{load[1]} |")
    return "\n".join(lines)


__all__ = ["ROWS", "DEFAULT_ROWS", "run_benchmarks", "format_table", "markdown_table", "check_rows",
           "make_latent_memmap", "memory_probe"]
