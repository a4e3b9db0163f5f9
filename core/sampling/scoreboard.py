"""Scoreboard: compare a set of latent vectors with the data (docs/method.md, Scoreboard).

Every metric is computed in latent space unless its name says otherwise, and
is named for what it is (nothing here is an "FID": no Inception features).

==============================  ===========================================
column                          meaning
==============================  ===========================================
``inside_{k}sigma``             fraction of samples inside the data's
                                "k-sigma-mass ellipsoid": squared Mahalanobis
                                distance below ``chi2.ppf(erf(k/sqrt 2), d)``,
                                the ellipsoid an MND with known moments
                                fills to the 1-D +-k sigma mass (95.4 %,
                                99.7 %); NOT Mahalanobis radius <= k.
                                Held-out points of an exact MND land there
                                less often (moments estimated from n points:
                                Hotelling T^2, :func:`holdout_expectation`)
``radius_w1``                   1-D Wasserstein distance between the sample
                                and data radius (L2 norm) distributions
``mahalanobis_w1``              the same for Mahalanobis distances
``nn_ratio``                    mean nearest-neighbour distance sample ->
                                data divided by held-out -> data (about 1:
                                samples sit where data sits; > 1: in voids)
``precision``, ``recall``       k-NN precision / recall (Kynkaenniemi et al.
                                2019) in latent space
``latent_frechet_sq``           SQUARED Frechet (2-Wasserstein) distance of
                                Gaussians fitted to the samples and to the
                                data, |mu1-mu2|^2 + Tr(...), units of z^2
``mmd2_rbf``                    unbiased MMD^2, RBF kernel, median-heuristic
                                bandwidth
``reencode_rel_error``          mean |E(D(z)) - z| / |z| (decoder/encoder)
``reencoded_frechet_sq``        squared Frechet distance between E(D(z)) of
                                the samples and the codes of real images
==============================  ===========================================

Every subsample is a uniform random sample of all rows, in random order
(any prefix of it is again uniform), so row order in the data (sorted by an
attribute, say) cannot bias a metric.  The distance-based metrics work on
vectors centred on the data mean (distances unchanged, no cancellation in
the |a|^2 + |b|^2 - 2 a.b expansion far from the origin).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg, stats
from threadpoolctl import threadpool_limits

from core.sampling.samplers import make_sampler
from core.stats.mnd import k_sigma_threshold, reference_law, whitened_sq_norms, whitening_matrix
from core.stats.moments import mean_and_cov
from core.stats.neighbours import nearest_neighbours
from core.validation import (
    check_float,
    check_int,
    check_latents,
    check_n_samples,
    check_positive,
    check_random_state,
)

#: Fraction of a run's latents held out as the reference of the scoreboard.
HOLDOUT_FRACTION = 0.1


#: Rows per call of the compiled decoder and encoder for the decoder metrics
#: (``python -m core compare`` and the Samplers page): 2,000 vectors in 8
#: calls; the same batch in both, so both compute the same floats.
SCORE_BATCH = 250

#: Vectors decoded per row for the decoder metrics by default on the Samplers
#: page and in ``python -m core compare`` (docs/scoreboard.md: their noise at
#: 1,000 and 2,000).
DECODER_POINTS = 1000


def _one_blas_thread():
    # The scoreboard's linear algebra is small (256 x 256 eigh, 2,000-row
    # Gram blocks): multi-threaded OpenBLAS made a 256 x 256 eigh 20 times
    # dearer in CPU on the busy 2-core machine and the whole scoring 3 times.
    return threadpool_limits(limits=1, user_api="blas")


def holdout_split(Z, fraction=HOLDOUT_FRACTION):
    """Split off the *last* ``fraction`` of the rows as held-out data.

    The one split of the scoreboard: ``python -m core compare`` and the
    Samplers page both fit the samplers on ``Z_fit`` and score against
    ``Z_hold``, so they print the same scoreboard for the same run, seed and
    ``max_points``.  The rows are assumed to be in no particular order.

    Parameters
    ----------
    Z : array-like of shape (n, z_dim)   may be memory-mapped (views, no copy)
    fraction : float in (0, 1)

    Returns
    -------
    Z_fit : array of shape (n - n_hold, z_dim)
    Z_hold : array of shape (n_hold, z_dim), n_hold = max(2, round(n * fraction))
    """
    frac = check_float(fraction, "holdout_fraction", 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    n_hold = max(2, int(round(Z.shape[0] * frac)))
    if n_hold >= Z.shape[0] - 1:
        raise ValueError(f"holdout_fraction={fraction} leaves {Z.shape[0] - n_hold} of {Z.shape[0]} rows to fit on")
    return Z[:-n_hold], Z[-n_hold:]


def real_code_sample(Z_fit, max_points=5000, random_state=0):
    """Codes of real images for ``reencoded_frechet_sq``: a sorted fixed-seed subsample.

    Returns
    -------
    codes : ndarray of shape (min(n_fit, max_points), z_dim)
    """
    rng = check_random_state(random_state)
    n = Z_fit.shape[0]
    rows = np.sort(rng.choice(n, min(n, int(max_points)), replace=False))
    return np.asarray(Z_fit[rows])


def fit_sampler(name, Z_fit, **params):
    """A sampler from the registry fitted on ``Z_fit`` (one BLAS thread).

    The one fit of the scoreboard: :func:`compare_samplers` and the
    Samplers page both call it on ``holdout_split(Z)[0]``.

    Parameters
    ----------
    name : str   registry name (:data:`core.sampling.samplers.SAMPLERS`)
    Z_fit : array-like of shape (n_fit, z_dim)
    **params : the sampler's parameters

    Returns
    -------
    sampler : fitted BaseSampler
    """
    sampler = make_sampler(name, **params)
    with _one_blas_thread():
        return sampler.fit(Z_fit)


def draw_samples(sampler, n, random_state):
    """``sampler.sample(n, random_state=random_state)`` on one BLAS thread: (n, z_dim)."""
    with _one_blas_thread():
        return sampler.sample(n, random_state=random_state)


def score_reference(Z, max_points=5000, random_state=0, decoder_metrics=False,
                    holdout_fraction=HOLDOUT_FRACTION, **kw):
    """The data side of a run's scoreboard: :class:`ScoreReference` of :func:`holdout_split`.

    The one reference of :func:`compare_samplers` and the Samplers page:
    fit rows ``Z_fit``, held-out rows ``Z_hold`` and, with
    ``decoder_metrics``, :func:`real_code_sample` of the fit rows as the
    real codes, all seeded by ``random_state``.

    Parameters
    ----------
    Z : array-like of shape (n, z_dim)
    max_points : int >= 10
    random_state : int
    decoder_metrics : bool
    holdout_fraction : float in (0, 1)
    **kw : further :class:`ScoreReference` parameters (``k_sigma``, ``k``,
        ``mmd_points``, ``decoder_points``, ``real_codes``, ``z_dim``)

    Returns
    -------
    ref : ScoreReference
    """
    Z_fit, Z_hold = holdout_split(Z, holdout_fraction)
    if decoder_metrics and kw.get("real_codes") is None:
        kw["real_codes"] = real_code_sample(Z_fit, max_points, random_state)
    return ScoreReference(Z_fit, Z_hold, max_points=max_points, random_state=random_state, **kw)


def _subsample(Z, m, rng):
    # At most m rows drawn uniformly without replacement, returned in random
    # order, so that any prefix is again a uniform sample of ALL rows (a
    # sorted draw made Zs[:k] come from the first rows only).  Rows are read
    # in index order (memmap-friendly), then put back in the drawn order.
    n = Z.shape[0]
    idx = rng.permutation(n) if n <= m else rng.choice(n, size=m, replace=False)
    order = np.argsort(idx)
    out = np.empty((idx.size, Z.shape[1]))
    out[order] = np.asarray(Z[idx[order]], np.float64)
    return out


def _sq_dists(A, B):
    # Squared Euclidean distances (len(A), len(B)), clipped at 0.
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(d, 0.0)


def nearest_distances(A, B, k=1, exclude_self=False, chunk=1024):
    """Distance from each row of A to its k-th nearest row of B (exact).

    Parameters
    ----------
    A : ndarray of shape (n_a, d)
    B : ndarray of shape (n_b, d)
    k : int >= 1
    exclude_self : bool
        A is B: skip the zero distance of each point to itself.

    Returns
    -------
    dist : ndarray of shape (n_a,)
    """
    k = check_int(k, "k", low=1)
    kk = k + 1 if exclude_self else k
    if kk > B.shape[0]:
        raise ValueError(f"k={k} needs more than {B.shape[0]} reference points")
    # The point itself (distance 0) is among its kk nearest, so the k-th
    # other point is the kk-th in the list (or another point at distance 0).
    _, dist = nearest_neighbours(B, A, k=kk, query_chunk=chunk)
    return dist[:, kk - 1]


def precision_recall(real, fake, k=3, chunk=1024):
    """k-NN precision and recall (Kynkaanniemi et al., NeurIPS 2019).

    Each point's neighbourhood is a ball reaching its k-th nearest neighbour
    in its own set.  Precision: fraction of fake points inside at least one
    real ball; recall: fraction of real points inside at least one fake ball.

    Parameters
    ----------
    real : ndarray of shape (n_real, d)
    fake : ndarray of shape (n_fake, d)
    k : int >= 1

    Returns
    -------
    precision, recall : float
    """
    r_real = nearest_distances(real, real, k, exclude_self=True, chunk=chunk)
    r_fake = nearest_distances(fake, fake, k, exclude_self=True, chunk=chunk)
    return _covered(fake, real, r_real, chunk), _covered(real, fake, r_fake, chunk)


def _covered(X, Y, rY, chunk=1024):
    # Fraction of rows of X inside at least one ball (centre Y[i], radius rY[i]).
    hit = np.zeros(X.shape[0], bool)
    for s in range(0, X.shape[0], chunk):
        D = _sq_dists(X[s:s + chunk], Y)
        hit[s:s + chunk] = (D <= rY[None, :] ** 2).any(axis=1)
    return float(hit.mean())


def frechet_distance(mu1, cov1, mu2, cov2):
    """SQUARED Frechet distance of two Gaussians: |mu1-mu2|^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)).

    (The quantity FID reports; its square root is the 2-Wasserstein distance.)

    ``scipy.linalg.sqrtm``, real part (tiny imaginary parts are numerical).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    S1, S2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    covmean = linalg.sqrtm(S1 @ S2)
    if not np.all(np.isfinite(covmean)):
        # Singular product: regularise slightly, as is customary.
        eps = 1e-8 * np.eye(S1.shape[0])
        covmean = linalg.sqrtm((S1 + eps) @ (S2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(S1) + np.trace(S2) - 2.0 * np.trace(covmean))


def frechet_between(A, B):
    """SQUARED Frechet distance between Gaussians fitted to the rows of A and of B."""
    m1, c1 = mean_and_cov(A)
    m2, c2 = mean_and_cov(B)
    return frechet_distance(m1, c1, m2, c2)


def mmd2_rbf(X, Y, bandwidth=None):
    """Unbiased MMD^2 with the RBF kernel exp(-|x-y|^2 / (2 h^2)).

    Parameters
    ----------
    X : ndarray of shape (m, d)
    Y : ndarray of shape (n, d), m, n >= 2
    bandwidth : float or None
        h; None = median heuristic: the median pairwise distance of the
        pooled points.

    Returns
    -------
    mmd2 : float  (can be slightly negative for equal distributions)
    """
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    m, n = X.shape[0], Y.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"MMD needs at least 2 points per set, got {m} and {n}")
    Dxx, Dyy, Dxy = _sq_dists(X, X), _sq_dists(Y, Y), _sq_dists(X, Y)
    if bandwidth is None:
        pooled = np.concatenate([Dxx[np.triu_indices(m, 1)], Dyy[np.triu_indices(n, 1)], Dxy.ravel()])
        h2 = float(np.median(pooled))
        h2 = h2 if h2 > 0 else 1.0
    else:
        h2 = check_positive(bandwidth, "bandwidth") ** 2
    g = -1.0 / (2.0 * h2)
    Kxx, Kyy, Kxy = np.exp(g * Dxx), np.exp(g * Dyy), np.exp(g * Dxy)
    sxx = (Kxx.sum() - np.trace(Kxx)) / (m * (m - 1))
    syy = (Kyy.sum() - np.trace(Kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * Kxy.mean())


def score_samples(samples, Z_data, Z_holdout=None, k_sigma=(2, 3), k=3, max_points=5000,
                  random_state=0, decoder_fn=None, encoder_fn=None, real_codes=None,
                  mmd_points=1000, decoder_points=None):
    """Compare latent vectors with the data; see the module table for columns.

    One-off form of ``ScoreReference(Z_data, ...).score(samples, ...)``;
    to score several sets against the same data, build the
    :class:`ScoreReference` once (the data side is then computed once).

    Parameters
    ----------
    samples : array-like of shape (n_samples, z_dim)
    Z_data : array-like of shape (n_data, z_dim)
        The reference z-points (may be memory-mapped; read in chunks and
        subsampled).
    Z_holdout : array-like of shape (n_holdout, z_dim) or None
        Held-out z-points for ``nn_ratio``; None: ``nn_ratio`` is NaN.
    k_sigma : sequence of float > 0
    k : int >= 1   neighbour rank of precision/recall
    max_points : int >= 10   subsample size for the nearest-neighbour metrics
    random_state : int, None or Generator   for the subsamples
    decoder_fn, encoder_fn : callables array -> array, optional
        Both given: re-encoding metrics on at most ``max_points`` samples.
    real_codes : array-like of shape (n_real, z_dim), optional
        Codes of real images for ``reencoded_frechet_sq``.
    mmd_points : int >= 2   subsample size of the O(m^2) MMD
    decoder_points : int >= 2 or None
        Vectors decoded and re-encoded for the decoder metrics: the first
        ``decoder_points`` of the random-order subsample (itself a uniform
        sample); None: the whole subsample (``max_points``).

    Returns
    -------
    scores : dict of str -> float
    """
    S = check_latents(samples, name="samples", min_rows=2)
    ref = ScoreReference(Z_data, Z_holdout, k_sigma=k_sigma, k=k, max_points=max_points,
                         random_state=random_state, real_codes=real_codes, mmd_points=mmd_points, z_dim=S.shape[1],
                         decoder_points=decoder_points)
    return ref.score(S, decoder_fn=decoder_fn, encoder_fn=encoder_fn)


def _sqrt_psd(C):
    # Symmetric square root of a covariance matrix (eigenvalues clipped at 0).
    w, U = np.linalg.eigh(np.asarray(C, np.float64))
    return (U * np.sqrt(np.clip(w, 0.0, None))) @ U.T


def _frechet_to(mu1, cov1, mu2, cov2, sqrt2):
    # frechet_distance with sqrt(cov2) known: Tr sqrt(S1 S2) = sum sqrt(eig(A S1 A)),
    # A = sqrt(S2) (S1 S2 is similar to the symmetric PSD A S1 A); one eigh
    # instead of a Schur square root.
    M = sqrt2 @ np.asarray(cov1, np.float64) @ sqrt2
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((M + M.T) / 2), 0.0, None)).sum()
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr)


class ScoreReference:
    """The data side of :func:`score_samples`, computed once for many scored sets.

    The data's mean, covariance and whitening matrix, its random-order
    subsample with each point's k-th neighbour radius (precision), the
    held-out points' nearest-neighbour distance (``nn_ratio``), and the
    moments of the real codes (``reencoded_frechet_sq``) do not depend on
    the samples; the Samplers page scores six samplers and the held-out row
    against one reference.  The subsample of each scored set is drawn from a
    stream fixed at construction, so a set's scores do not depend on what
    was scored before it.

    All linear algebra runs on one BLAS thread (see ``_one_blas_thread``).

    Parameters
    ----------
    Z_data, Z_holdout, k_sigma, k, max_points, random_state, real_codes, mmd_points, decoder_points
        As in :func:`score_samples`.
    z_dim : int or None
        Expected number of columns (None: any).
    """

    def __init__(self, Z_data, Z_holdout=None, k_sigma=(2, 3), k=3, max_points=5000, random_state=0,
                 real_codes=None, mmd_points=1000, z_dim=None, decoder_points=None):
        with _one_blas_thread():
            self._init(Z_data, Z_holdout, k_sigma, k, max_points, random_state, real_codes, mmd_points, z_dim,
                       decoder_points)

    def _init(self, Z_data, Z_holdout, k_sigma, k, max_points, random_state, real_codes, mmd_points, z_dim,
              decoder_points):
        Z = check_latents(Z_data, name="Z_data", min_rows=2, z_dim=z_dim)
        self.z_dim = d = Z.shape[1]
        self.k = check_int(k, "k", low=1)
        self.max_points = check_int(max_points, "max_points", low=10)
        self.mmd_points = check_int(mmd_points, "mmd_points", low=2)
        self.decoder_points = (self.max_points if decoder_points is None
                               else check_int(decoder_points, "decoder_points", low=2))
        self.k_sigma = [check_positive(v, "k_sigma") for v in np.atleast_1d(k_sigma)]
        self.thresholds = [k_sigma_threshold(kv, d) for kv in self.k_sigma]
        rng = check_random_state(random_state)
        self.mean, self.cov = mean_and_cov(Z)
        self.cov_sqrt = _sqrt_psd(self.cov)
        self.W = whitening_matrix(self.cov)
        Zs = _subsample(Z, self.max_points, rng)
        self.Zc = Zs - self.mean  # centred (distances unchanged, no cancellation)
        self.radius = np.linalg.norm(Zs, axis=1)
        self.mahalanobis = np.sqrt(whitened_sq_norms(Zs, self.mean, self.W))
        self.r_real = (nearest_distances(self.Zc, self.Zc, self.k, exclude_self=True)
                       if Zs.shape[0] > self.k else None)
        self.nn_ref = None
        if Z_holdout is not None:
            H = check_latents(Z_holdout, name="Z_holdout", z_dim=d)
            self.nn_ref = float(nearest_distances(_subsample(H, self.max_points, rng) - self.mean, self.Zc).mean())
        self.real = None
        if real_codes is not None:
            R = check_latents(real_codes, name="real_codes", min_rows=2, z_dim=d)
            mr, cr = mean_and_cov(R)
            self.real = (mr, cr, _sqrt_psd(cr))
        self._sample_seed = int(rng.integers(2**63 - 1))

    def score(self, samples, decoder_fn=None, encoder_fn=None, reencoded=None):
        """Scores of one set of latent vectors; see the module table for columns.

        Parameters
        ----------
        samples : array-like of shape (n_samples, z_dim)
        decoder_fn, encoder_fn : callables array -> array, optional
            Both given: the re-encoding metrics on the set's subsample.
        reencoded : callable or None
            Instead of the two: ``reencoded(Zsub)`` returns E(D(Zsub))
            (a page that batches decoding passes it).

        Returns
        -------
        scores : dict of str -> float
        """
        with _one_blas_thread():
            return self._score(samples, decoder_fn, encoder_fn, reencoded)

    def _score(self, samples, decoder_fn, encoder_fn, reencoded):
        S = check_latents(samples, name="samples", min_rows=2, z_dim=self.z_dim)
        rng = np.random.default_rng(self._sample_seed)
        out = {"n_samples": float(S.shape[0])}
        d2_s = whitened_sq_norms(S, self.mean, self.W)
        for kv, thr in zip(self.k_sigma, self.thresholds):
            out[f"inside_{kv:g}sigma"] = float(np.mean(d2_s < thr))
        Ss = _subsample(S, self.max_points, rng)
        Sc = Ss - self.mean
        out["radius_w1"] = float(stats.wasserstein_distance(np.linalg.norm(Ss, axis=1), self.radius))
        out["mahalanobis_w1"] = float(stats.wasserstein_distance(
            np.sqrt(whitened_sq_norms(Ss, self.mean, self.W)), self.mahalanobis))
        if self.nn_ref is None:
            out["nn_ratio"] = float("nan")
        else:
            out["nn_ratio"] = (float(nearest_distances(Sc, self.Zc).mean() / self.nn_ref)
                               if self.nn_ref > 0 else float("nan"))
        if Ss.shape[0] > self.k and self.r_real is not None:
            r_fake = nearest_distances(Sc, Sc, self.k, exclude_self=True)
            out["precision"] = _covered(Sc, self.Zc, self.r_real)
            out["recall"] = _covered(self.Zc, Sc, r_fake)
        else:
            out["precision"] = out["recall"] = float("nan")
        ms, cs = mean_and_cov(S)
        out["latent_frechet_sq"] = _frechet_to(ms, cs, self.mean, self.cov, self.cov_sqrt)
        # Prefixes of random-order subsamples: uniform samples of all rows.
        out["mmd2_rbf"] = mmd2_rbf(Sc[:self.mmd_points], self.Zc[:self.mmd_points])
        if reencoded is None and decoder_fn is not None and encoder_fn is not None:
            def reencoded(x):
                return encoder_fn(np.asarray(decoder_fn(x)))
        if reencoded is not None:
            # A prefix of the random-order subsample: again a uniform sample.
            Sr = Ss[:self.decoder_points]
            Sd = Sr.astype(np.float32)
            E = np.asarray(reencoded(Sd), np.float64).reshape(Sd.shape[0], -1)
            if E.shape != Sd.shape:
                raise ValueError(f"encoder_fn(decoder_fn(z)) has shape {E.shape}, expected {Sd.shape}")
            norm = np.linalg.norm(Sr, axis=1)
            rel = np.linalg.norm(E - Sr, axis=1) / np.where(norm > 0, norm, np.nan)
            out["reencode_rel_error"] = float(np.nanmean(rel))
            if self.real is not None:
                me, ce = mean_and_cov(E)
                out["reencoded_frechet_sq"] = _frechet_to(me, ce, *self.real)
        return out


def holdout_expectation(n_fit, z_dim, k_sigma=(2, 3)):
    """Expected ``inside_{k}sigma`` of held-out points of an exact MND.

    The data's mean and covariance are estimated from ``n_fit`` points, so a
    fresh point of the same MND has d2 ~ scaled F (Hotelling T^2), and lands
    in the k-sigma-mass ellipsoid less often than the chi2 value erf(k/sqrt 2)
    (94.2 % instead of 95.4 % at k = 2 for n_fit = 27,000, d = 256).  This is
    the value the "held-out data" reference row should show.

    Parameters
    ----------
    n_fit : int > z_dim
    z_dim : int
    k_sigma : sequence of float > 0

    Returns
    -------
    dict ``inside_{k}sigma`` -> float
    """
    law = reference_law(n_fit, z_dim, "held-out")
    return {f"inside_{float(kv):g}sigma": float(law.cdf(k_sigma_threshold(kv, z_dim)))
            for kv in (check_positive(v, "k_sigma") for v in np.atleast_1d(k_sigma))}


def compare_samplers(Z, specs, n_samples=5000, random_state=0, Z_holdout=None,
                     holdout_fraction=HOLDOUT_FRACTION, max_points=5000, **score_kw):
    """Fit and draw each sampler, score all against the data, one row each.

    Parameters
    ----------
    Z : array-like of shape (n, z_dim)
    specs : dict name -> dict
        Row label -> sampler spec ``{"sampler": registry name, **params}``;
        if "sampler" is missing the row label itself is the registry name.
    n_samples : int
    random_state : int
        Seeds every sampler's draw and the subsamples (the same seed for
        each row, so a row does not depend on its place in ``specs``).
    Z_holdout : array-like or None
        Held-out z-points; None uses :func:`holdout_split` with
        ``holdout_fraction`` and fits the samplers on the rest.
    max_points : int
        Subsample size of the metrics (:func:`score_samples`).
    **score_kw
        Passed on to :func:`score_samples`; with ``decoder_fn`` and
        ``encoder_fn`` but no ``real_codes``, :func:`real_code_sample` of the
        fit rows.

    Returns
    -------
    table : DataFrame, one row per sampler, a "held-out data" reference row
        and a "MND held-out (expected)" row: the ``inside_{k}sigma`` values
        an exact MND would give its held-out points (other columns NaN).
    """
    Z = check_latents(Z, min_rows=4)
    n = check_n_samples(n_samples)
    models = {key: score_kw.pop(key) for key in ("decoder_fn", "encoder_fn") if key in score_kw}
    # The data side once for every row.
    if Z_holdout is None:
        Z_fit, Z_hold = holdout_split(Z, holdout_fraction)
        ref = score_reference(Z, max_points, random_state, decoder_metrics=models.get("decoder_fn") is not None,
                              holdout_fraction=holdout_fraction, **score_kw)
    else:
        Z_fit, Z_hold = Z, check_latents(Z_holdout, name="Z_holdout", z_dim=Z.shape[1])
        if models.get("decoder_fn") is not None and score_kw.get("real_codes") is None:
            score_kw["real_codes"] = real_code_sample(Z_fit, max_points, random_state)
        ref = ScoreReference(Z_fit, Z_hold, max_points=max_points, random_state=random_state, **score_kw)
    rows = {}
    for label, spec in specs.items():
        params = dict(spec or {})
        name = params.pop("sampler", label)
        V = draw_samples(fit_sampler(name, Z_fit, **params), n, random_state)
        rows[label] = ref.score(V, **models)
    # Reference row: held-out data scored like a sampler (its nn_ratio is ~1 by construction).
    rows["held-out data"] = ref.score(Z_hold, **models)
    if Z_fit.shape[0] > Z.shape[1]:
        rows["MND held-out (expected)"] = holdout_expectation(
            Z_fit.shape[0], Z.shape[1], score_kw.get("k_sigma", (2, 3)))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "sampler"
    return table


__all__ = ["HOLDOUT_FRACTION", "SCORE_BATCH", "DECODER_POINTS", "holdout_split", "real_code_sample", "fit_sampler", "draw_samples", "score_reference", "score_samples", "ScoreReference", "compare_samplers", "holdout_expectation", "frechet_distance", "frechet_between", "mmd2_rbf",
           "precision_recall", "nearest_distances"]
