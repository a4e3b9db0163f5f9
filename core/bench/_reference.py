"""Slow, straightforward reference implementations the benchmark times the fast paths against.

Not library API: they exist so ``python -m core bench`` and the tests can
check that the fast paths give the same answers.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats
from sklearn.decomposition import PCA

from core.sampling.samplers import _component_codes, _pair_coin_and_redraw, _pair_keys


def reference_statistics(X, bin_width=0.25, normality_max_n=5000, random_state=0):
    """Per-column loops + scikit-learn PCA: the straightforward way (the reference).

    ``X`` is read into memory, PCA(svd_solver="full") gives the covariance
    (and from it the correlation), and every column gets its own
    ``np.histogram`` on multiples of ``bin_width``, a ``curve_fit`` of a
    Gaussian, skewness, kurtosis and a normality test.

    Returns
    -------
    rows : ndarray of shape (z_dim, 9)
        mean, std (ddof 1), histogram peak mu, fit amplitude, centre, sigma,
        skewness, excess kurtosis, normality p-value.
    R : ndarray of shape (z_dim, z_dim)   correlation matrix
    pca : sklearn.decomposition.PCA
    """
    X = np.array(X, dtype=np.float32)
    pca = PCA(svd_solver="full").fit(X)
    cov = pca.get_covariance()
    sd = np.sqrt(np.diag(cov))
    R = cov / np.outer(sd, sd)
    rng = np.random.default_rng(random_state)
    sub = rng.choice(X.shape[0], size=min(normality_max_n, X.shape[0]), replace=False)
    rows = []
    for j in range(X.shape[1]):
        col = X[:, j].astype(np.float64)
        lo = math.floor(col.min() / bin_width - 0.5)
        hi = math.ceil(col.max() / bin_width + 0.5)
        counts, edges = np.histogram(col, bins=np.arange(lo, hi + 1) * bin_width + bin_width / 2)
        centres = (edges[:-1] + edges[1:]) / 2
        k = int(np.argmax(counts))
        try:
            popt, _ = optimize.curve_fit(lambda x, a, c, s: a * np.exp(-0.5 * ((x - c) / s) ** 2),
                                         centres, counts, p0=(counts[k], col.mean(), col.std(ddof=1) + 1e-12),
                                         maxfev=2000)
        except RuntimeError:
            popt = (np.nan,) * 3
        rows.append((col.mean(), col.std(ddof=1), centres[k], *popt, stats.skew(col), stats.kurtosis(col),
                     stats.normaltest(col[sub]).pvalue))
    return np.array(rows), R, pca


def reference_ellipse_loop(U, seeds, fa, fixed="leading"):
    """The pair loop of [F-X] (docs/method.md, Samplers), one vector at a time, one pair at a time.

    Same random stream as :class:`core.sampling.samplers.PCAEllipseSampler`: the
    pair order of a vector is its pairs sorted by the counter-based keys,
    and the pair's coin and redraw come from the same hash, so the output
    must equal the vectorised sampler's bit for bit.

    Parameters
    ----------
    U : ndarray of shape (n, K)   uniforms in [0, 1): initial v = (2U - 1) fa
    seeds : ndarray of shape (n,), uint32
    fa : ndarray of shape (K,)    f * a_k
    fixed : "leading" or "random"

    Returns
    -------
    V : ndarray of shape (n, K)
    """
    n, K = U.shape
    ii, jj = np.triu_indices(K, 1)
    pk = ii * K + jj
    G = _component_codes(np.asarray(seeds, np.uint32), K)
    fa = [float(v) for v in fa]
    out = np.empty((n, K))
    for b in range(n):
        v = [(2.0 * float(U[b, k]) - 1.0) * fa[k] for k in range(K)]
        keys = _pair_keys(G[b, ii], G[b, jj])
        coin, r = _pair_coin_and_redraw(keys)
        order = np.lexsort((pk, keys))
        for s, i, j, c_, r_ in zip(order.tolist(), ii[order].tolist(), jj[order].tolist(),
                                   coin[order].tolist(), r[order].tolist()):
            if fixed == "random" and c_:
                i, j = j, i
            t = v[i] / fa[i]
            c = fa[j] * math.sqrt(max(0.0, 1.0 - t * t))
            if abs(v[j]) > c:  # redraw only on violation
                v[j] = (2.0 * r_ - 1.0) * c
        out[b] = v
    return out
