"""Six samplers of latent vectors (docs/method.md, Samplers).

Every sampler follows the scikit-learn estimator conventions::

    s = make_sampler("pca-ellipse", n_components=100).fit(Z)
    V = s.sample(1000, random_state=0)     # (1000, z_dim) float32

``__init__`` only stores parameters, ``fit(Z)`` validates them and the data
and returns ``self``, learned state ends in ``_``, and all randomness of a
draw comes from the one ``random_state`` argument of ``sample``.  Sampling
and decoding are separate: samplers only produce latent vectors.

The "k-sigma region" is defined the same way everywhere in this package (see
also ``core.stats.mnd``): the points whose squared Mahalanobis distance to the
mean is below ``chi2.ppf(erf(k / sqrt 2), z_dim)``, i.e. the ellipsoid that a
multivariate normal fills with the same probability as +-k sigma in one
dimension (68.3 %, 95.4 %, 99.7 % for k = 1, 2, 3).
"""

from __future__ import annotations

import warnings
import os
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from core.chunks import row_blocks
from core.stats.components import peak_and_half_widths
from core.stats.mnd import k_sigma_threshold, whitened_sq_norms, whitening_matrix
from core.stats.moments import mean_and_cov, mean_and_std
from core.stats.pca import LatentPCA
from core.validation import (
    MAX_SAMPLES,
    check_float32_range,
    check_int,
    check_latents,
    check_n_samples,
    check_positive,
    check_random_state,
    check_scale,
)

try:  # numba is optional: without it the NumPy pair loop runs
    from core.sampling._ellipse_kernel import constrain_rows as _constrain_rows
except ImportError:  # numba missing or broken
    _constrain_rows = None


def _check_option(value, name, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


# ---------------------------------------------------------------------------
# base class
# ---------------------------------------------------------------------------

class BaseSampler(BaseEstimator):
    """Common plumbing of the samplers: a scikit-learn estimator (``get_params``,
    ``set_params``, ``clone``) whose ``fit`` learns from latent codes and whose
    ``sample`` draws new ones.

    Subclasses take keyword-only parameters, implement ``_fit(Z)`` -- which
    validates the parameters, computes, and returns the fitted attributes
    as a dict without touching ``self`` -- and ``_sample(n, rng)`` (float64
    or float32 array).  ``fit`` sets the attributes only after ``_fit``
    succeeded, so a refused fit leaves the sampler unfitted (``sample`` then
    raises ``NotFittedError``) or as it was.
    """

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def fit(self, Z, y=None):
        """Validate the parameters and learn from ``Z`` of shape (n_samples, z_dim).

        Returns
        -------
        self
        """
        Z = check_latents(Z, min_rows=2)
        fitted = self._fit(Z)
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)
        vars(self).update(fitted, z_dim_=Z.shape[1], n_samples_fit_=Z.shape[0])
        return self

    def _check_fitted(self):
        # NotFittedError is a ValueError (and an AttributeError).
        check_is_fitted(self, "z_dim_")

    def sample(self, n_samples, random_state=None):
        """Draw latent vectors.

        Parameters
        ----------
        n_samples : int, 1 <= n_samples <= MAX_SAMPLES
        random_state : None, int or numpy Generator

        Returns
        -------
        V : ndarray of shape (n_samples, z_dim), float32
        """
        self._check_fitted()
        n = check_n_samples(n_samples)
        rng = check_random_state(random_state)
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.asarray(self._sample(n, rng), dtype=np.float32)
        if out.shape != (n, self.z_dim_):
            raise RuntimeError(f"{self!r} drew shape {out.shape}, expected {(n, self.z_dim_)}")
        # Last guard: never hand out (or write to a file) non-finite vectors.
        bad = out.size - int(np.count_nonzero(np.isfinite(out)))
        if bad:
            raise ValueError(f"{self!r} produced {bad} non-finite values; use smaller parameters")
        return out


# ---------------------------------------------------------------------------
# 1-3: box, per-component box, diagonal Gaussian
# ---------------------------------------------------------------------------

class UniformBoxSampler(BaseSampler):
    """Uniform in the common box [-b, b] in every component ([F-IV], [F-V]).

    Ignores the data except for z_dim; its radii concentrate near
    ``b * sqrt(z_dim / 3)`` (a thin shell).

    Parameters
    ----------
    b : float > 0, default 1.5
    """


    def __init__(self, *, b=1.5):
        self.b = b

    def _fit(self, Z):
        st = SimpleNamespace()
        st.b_ = check_scale(self.b, "b")
        return vars(st)

    def _sample(self, n, rng):
        return rng.uniform(-self.b_, self.b_, size=(n, self.z_dim_))


class PerComponentUniformSampler(BaseSampler):
    """Per-component uniform in [mu_j - f*hw_j, mu_j + f*hw_j] ([F-VII]).

    ``mu_j`` and ``hw_j`` are the histogram peak and half width at half
    maximum of component j (bin width ``bin_width``, seed 0.25).

    Parameters
    ----------
    f : float > 0, default 0.7  (blog: 0.4-1.0)
    bin_width : float > 0, default 0.25

    Attributes
    ----------
    mu_, hw_ : ndarray of shape (z_dim,)
    """


    def __init__(self, *, f=0.7, bin_width=0.25):
        self.f = f
        self.bin_width = bin_width

    def _fit(self, Z):
        st = SimpleNamespace()
        st.f_ = check_scale(self.f, "f")
        st.mu_, st.hw_ = peak_and_half_widths(Z, check_scale(self.bin_width, "bin_width"))
        check_float32_range(float(np.max(np.abs(st.mu_) + st.f_ * st.hw_)), "f", self.f)
        return vars(st)

    def _sample(self, n, rng):
        half = self.f_ * self.hw_
        return rng.uniform(self.mu_ - half, self.mu_ + half, size=(n, self.z_dim_))


class DiagonalGaussianSampler(BaseSampler):
    """Independent Gaussians N(mean_j, std_j^2) per component (no correlations).

    Attributes
    ----------
    mean_, std_ : ndarray of shape (z_dim,)
    """


    def _fit(self, Z):
        st = SimpleNamespace()
        st.mean_, st.std_ = mean_and_std(Z)
        return vars(st)

    def _sample(self, n, rng):
        return self.mean_ + self.std_ * rng.standard_normal((n, self.z_dim_))


# ---------------------------------------------------------------------------
# 4: PCA-ellipse ([F-X])
# ---------------------------------------------------------------------------

_M32 = np.uint32


def _mix32(x):
    """Avalanche hash of uint32 values ("lowbias32"), vectorised, wraps mod 2^32."""
    x = x ^ (x >> _M32(16))
    x = x * _M32(0x7FEB352D)
    x = x ^ (x >> _M32(15))
    x = x * _M32(0x846CA68B)
    return x ^ (x >> _M32(16))


def _component_codes(seeds, K):
    """Per-vector, per-component uint32 codes g[b, k] from which pair keys are made."""
    comp = np.arange(K, dtype=np.uint32) * _M32(0x9E3779B1)
    return _mix32(seeds[:, None] + comp[None, :])


def _pair_keys(gi, gj):
    """Random order keys of pairs (uint32) from the members' codes.

    The pair order of a vector is its pairs sorted by (key, i*K + j).
    ``mix32(g_i + g_j)`` is symmetric in i and j and counter-based: the key
    of any single pair is available without generating the whole
    permutation, which is what lets the fast loop skip most pairs.
    """
    return _mix32(gi + gj)


def _pair_coin_and_redraw(keys):
    """Coin (which member is fixed in 'random' mode) and redraw uniform in (0, 1)."""
    h = _mix32(keys ^ _M32(0x5BD1E995))
    coin = (h >> _M32(31)).astype(bool)
    r = ((h & _M32(0x7FFFFFFF)).astype(np.float64) + 0.5) / 2147483648.0
    return coin, r


def _ellipse_stream(rng, n, K):
    """The random stream of the PCA-ellipse sampler for n vectors of K comps.

    Returns ``seeds`` (n,) uint32 (pair order, coins, redraws via the hash
    helpers above) and ``U`` (n, K) uniforms in [0, 1) for the initial
    values v = (2U - 1) * f * a.
    """
    seeds = rng.integers(0, 2**32, size=n, dtype=np.uint32)
    U = rng.random((n, K))
    return seeds, U


def _triangle_candidates(W2, G, eps, lo, hi):
    """Pairs (p, q), p < q, with W2[b,p] + W2[b,q] > 1 - eps and lo <= key < hi.

    W2 has shape (nb, K) with entries in [0, 1], G the component codes
    (nb, K).  Enumerated through a per-row sort so the cost is proportional
    to the number of near-violating pairs, not to K(K-1)/2; keys are
    computed for those only, and everything else only for the pairs whose
    key falls into [lo, hi).

    Returns
    -------
    b, p, q : int arrays of equal length;  keys : uint32 array
    """
    nb, K = W2.shape
    order = np.argsort(W2, axis=1, kind="stable")
    ws = np.take_along_axis(W2, order, axis=1)
    # Offsetting each row by 2*b makes the flattened array globally sorted.
    offs = 2.0 * np.arange(nb)[:, None]
    flat = (ws + offs).ravel()
    need = (1.0 - eps - ws) + offs
    base = np.arange(nb)[:, None] * K
    first = np.searchsorted(flat, need.ravel(), side="right").reshape(nb, K)
    pos = np.arange(K)[None, :]
    start = np.maximum(first, base + pos + 1)  # flat index of the first partner
    counts = np.clip(base + K - start, 0, None).ravel()
    total = int(counts.sum())
    e = np.empty(0, np.int64)
    if total == 0:
        return e, e, e, np.empty(0, np.uint32)
    itype = np.int32 if nb * K < 2**31 and total < 2**31 else np.int64
    counts = counts.astype(itype)
    owner = np.repeat(np.arange(nb * K, dtype=itype), counts)
    off = start.ravel().astype(itype) - (np.cumsum(counts, dtype=itype) - counts)
    partner = off[owner] + np.arange(total, dtype=itype)
    gs = np.take_along_axis(G, order, axis=1).ravel()
    keys = _pair_keys(gs[owner], gs[partner])
    sel = keys >= _M32(lo) if lo > 0 else np.ones(total, bool)
    if hi < 2**32:
        sel &= keys < _M32(hi)
    owner, partner, keys = owner[sel], partner[sel], keys[sel]
    of = order.ravel()
    ca, co = of[owner], of[partner]
    return owner // K, np.minimum(ca, co), np.maximum(ca, co), keys


#: Key-space boundaries (fractions of 2^32) of the rounds of the fast pair
#: loop.  Any increasing sequence from 0 to 1 gives the same output; this one
#: keeps both the candidate enumeration and the sequential steps small.
_ROUND_EDGES = (0.0, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)


def _ellipse_constrain_numpy(V, fa, seeds, fixed):
    """Apply the pair loop of [F-X] to initial values V in place (NumPy).

    Exactly equivalent to visiting, for each vector b, every pair (i < j) in
    the order of ``_pair_keys(g[i], g[j])`` (g = ``_component_codes``;
    ties by i*K + j) and applying the redraw
    rule of :class:`PCAEllipseSampler`.  Why it can skip most pairs: a
    redraw only ever shrinks |v_j| (it is drawn strictly inside a bound
    that |v_j| exceeded), so a pair that satisfies its ellipse condition at
    some time satisfies it for ever after.  Each round takes the pairs that
    violate (or nearly violate) the condition *now*, keeps those whose key
    falls into the round's key window, sorts them by key and applies them
    in that order, all vectors at once.  Pairs left out are no-ops in the
    reference loop too, so the result is identical, not just equal in
    distribution.

    Parameters
    ----------
    V : ndarray of shape (nb, K), float64, modified in place
    fa : ndarray of shape (K,)   f * a_k (all > 0)
    seeds : ndarray of shape (nb,), uint32
    fixed : "leading" or "random"
    """
    nb, K = V.shape
    if K < 2:
        return V
    edges = [int(round(e * 2**32)) for e in _ROUND_EDGES]
    rows_all = np.arange(nb)
    G = _component_codes(seeds, K)
    for lo, hi in zip(edges[:-1], edges[1:]):
        W2 = (V / fa) ** 2
        # Margin 1e-9 makes the candidate set a superset of the exact test.
        b, p, q, keys = _triangle_candidates(W2, G, 1e-9, lo, hi)
        if b.size == 0:
            continue
        order = np.lexsort((p * K + q, keys, b))
        b, p, q, keys = b[order], p[order], q[order], keys[order]
        coin, r = _pair_coin_and_redraw(keys)
        if fixed == "random":
            fi = np.where(coin, q, p)
            fj = np.where(coin, p, q)
        else:
            fi, fj = p, q
        counts = np.bincount(b, minlength=nb)
        rank = np.arange(b.size) - (np.cumsum(counts) - counts)[b]
        # Rows sorted by their number of steps (descending): at step s the
        # active rows are a prefix of this order.
        row_order = np.argsort(-counts, kind="stable")
        slot = np.empty(nb, np.int64)
        slot[row_order] = rows_all
        L = int(counts.max())
        I = np.zeros((nb, L), np.int64)
        J = np.zeros((nb, L), np.int64)
        R = np.zeros((nb, L))
        I[slot[b], rank] = fi
        J[slot[b], rank] = fj
        R[slot[b], rank] = r
        n_active = np.searchsorted(-counts[row_order], -np.arange(1, L + 1), side="right")
        for s in range(L):
            m = n_active[s]
            rows = row_order[:m]
            i = I[:m, s]
            j = J[:m, s]
            t = V[rows, i] / fa[i]
            c = fa[j] * np.sqrt(np.maximum(0.0, 1.0 - t * t))
            viol = np.abs(V[rows, j]) > c
            if viol.any():
                V[rows[viol], j[viol]] = (2.0 * R[:m, s][viol] - 1.0) * c[viol]
    return V


#: Rows per call of the NumPy pair loop: its step tables are (rows, steps).
_NUMPY_BLOCK = 1024
#: Rows per task of the compiled loop (several tasks per thread even out
#: the load of a shared machine).
_NUMBA_BLOCK = 512
ELLIPSE_BACKENDS = ("numba", "numpy")


def ellipse_backend():
    """Name of the pair loop the PCA-ellipse sampler uses: "numba" or "numpy"."""
    return "numba" if _constrain_rows is not None else "numpy"


def _n_threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _ellipse_constrain(V, fa, seeds, fixed, backend=None):
    """Apply the pair loop of [F-X] to the initial values V, in place.

    Both backends give output bit-identical to the plain per-vector loop
    (``tests/test_samplers.py::reference_ellipse``) for the same stream:
    ``"numba"`` (``core.sampling._ellipse_kernel``, compiled once and cached on
    disk, run on row blocks in threads since it releases the GIL) and
    ``"numpy"`` (:func:`_ellipse_constrain_numpy`, in row blocks).

    Parameters
    ----------
    V : ndarray of shape (nb, K), float64, modified in place
    fa : ndarray of shape (K,)   f * a_k (all > 0)
    seeds : ndarray of shape (nb,), uint32
    fixed : "leading" or "random"
    backend : "numba", "numpy" or None (numba when available)

    Returns
    -------
    V
    """
    if backend is None:
        backend = ellipse_backend()
    _check_option(backend, "backend", ELLIPSE_BACKENDS)
    nb, K = V.shape
    if K < 2 or nb == 0:
        return V
    fa = np.ascontiguousarray(fa, dtype=np.float64)
    seeds = np.ascontiguousarray(seeds, dtype=np.uint32)
    if backend == "numpy" or K >= 2**16:  # the kernel packs i, j in 16 bits each
        for start in range(0, nb, _NUMPY_BLOCK):
            _ellipse_constrain_numpy(V[start:start + _NUMPY_BLOCK], fa, seeds[start:start + _NUMPY_BLOCK], fixed)
        return V
    kernel = _constrain_rows
    if kernel is None:
        raise ValueError("backend='numba' needs numba, which is not installed")
    W = V if (V.dtype == np.float64 and V.flags.c_contiguous and V.flags.writeable) else np.ascontiguousarray(V, dtype=np.float64)
    random_fixed = fixed == "random"
    blocks = [(a, min(a + _NUMBA_BLOCK, nb)) for a in range(0, nb, _NUMBA_BLOCK)]
    workers = min(_n_threads(), len(blocks))
    if workers == 1:
        kernel(W, fa, seeds, random_fixed, 0, nb)
    else:
        # The kernel releases the GIL (nogil=True): plain threads run it in
        # parallel, safely even when several sessions sample at once.
        with ThreadPoolExecutor(max_workers=workers) as ex:
            list(ex.map(lambda ab: kernel(W, fa, seeds, random_fixed, ab[0], ab[1]), blocks))
    if W is not V:
        V[...] = W
    return V


class PCAEllipseSampler(BaseSampler):
    """The PCA-ellipse sampler of [F-X] (docs/method.md, Samplers).

    1. PCA of the z-points (optionally fitted only on the points inside the
       ``fit_k_sigma`` region, blog: 3), keeping the K = ``n_components``
       leading axes (blog: 50-120).
    2. Half-axes ``a_k = level * sigma_k`` (blog: level 2.35), with sigma_k
       the standard deviation of PCA coordinate k (``half_width="std"``) or
       derived from the histogram half width at half maximum,
       ``hw_k / sqrt(2 ln 2)`` (``half_width="hist"``, bin width
       ``bin_width``; coarse for narrow late components, as the blog notes).
    3. Draw v_k uniform in [-f a_k, f a_k] (blog: f 0.6-0.8).
    4. Visit every pair (i, j), i < j, in a random order (independent per
       vector).  With one member i held fixed, the ellipse condition bounds
       the other: |v_j| <= c = a_j f sqrt(1 - v_i^2 / (f a_i)^2).  **Only if
       v_j violates it** is it drawn again, uniformly in [-c, c].  This is
       the blog's wording ("32640 checks and possible value-adaptions"), and
       it is what makes every sample satisfy *all* pairwise conditions at
       the end: a redraw only ever shrinks |v_j|, so conditions already met
       stay met.  (Redrawing on every visit would break earlier conditions.)
       ``fixed="leading"`` holds the member with the lower PCA index fixed
       (so component 1 is never shrunk and late components shrink most);
       ``fixed="random"`` holds a random member of each pair fixed.
    5. Back-transform with the K components: ``z = mean + v @ components[:K]``.

    The random pair order is realised as per-pair keys from a counter-based
    hash of (vector seed, pair) (see ``_pair_keys``), which lets the fast
    implementations touch only pairs that can violate; they give the same
    output as the plain per-vector loop for the same stream.  The pair loop
    runs compiled (numba, ``core.sampling._ellipse_kernel``; about 25 us a vector
    at K = 256 on one core, compiled once and cached on disk) or, without
    numba, vectorised in NumPy (about 15 times slower); see
    :func:`ellipse_backend`.

    Parameters
    ----------
    n_components : int, 1 <= K <= z_dim, default 100
    level : float > 0, default 2.35
    f : float > 0, default 0.7
    fit_k_sigma : float > 0 or None, default 3.0
        Fit the PCA only on the points inside this k-sigma region of the
        data (Mahalanobis, see module docstring); None uses all points.
    half_width : "std" or "hist", default "std"
    fixed : "leading" or "random", default "leading"
    bin_width : float > 0, default 0.25 (only for ``half_width="hist"``)

    Attributes
    ----------
    pca_ : LatentPCA fitted with n_components axes
    sigma_ : ndarray of shape (K,)   per-axis sigma used
    half_axes_ : ndarray of shape (K,)   a_k = level * sigma_k
    n_fit_points_ : int   points used for the PCA
    """


    def __init__(self, *, n_components=100, level=2.35, f=0.7, fit_k_sigma=3.0,
                 half_width="std", fixed="leading", bin_width=0.25):
        self.n_components = n_components
        self.level = level
        self.f = f
        self.fit_k_sigma = fit_k_sigma
        self.half_width = half_width
        self.fixed = fixed
        self.bin_width = bin_width

    def _fit(self, Z):
        st = SimpleNamespace()
        d = Z.shape[1]
        K = check_int(self.n_components, "n_components", 1, d)
        st.level_ = check_scale(self.level, "level")
        st.f_ = check_scale(self.f, "f")
        _check_option(self.half_width, "half_width", ("std", "hist"))
        _check_option(self.fixed, "fixed", ("leading", "random"))
        if self.half_width == "hist":
            check_positive(self.bin_width, "bin_width")
        mean, cov = mean_and_cov(Z)
        if self.fit_k_sigma is None:
            pca = LatentPCA(n_components=K).fit_moments(mean, cov, Z.shape[0])
            st.n_fit_points_ = Z.shape[0]
            sub = Z
        else:
            k = check_positive(self.fit_k_sigma, "fit_k_sigma")
            Wm = whitening_matrix(cov)
            inside = whitened_sq_norms(Z, mean, Wm) < k_sigma_threshold(k, d)
            n_in = int(inside.sum())
            if n_in < 2:
                raise ValueError(f"fit_k_sigma={self.fit_k_sigma} leaves {n_in} points to fit the PCA")
            m_in, c_in = mean_and_cov(Z, mask=inside)
            pca = LatentPCA(n_components=K).fit_moments(m_in, c_in, n_in)
            st.n_fit_points_ = n_in
            sub = (Z, inside)
        st.pca_ = pca
        if self.half_width == "std":
            sigma = np.sqrt(pca.explained_variance_)
        else:
            Vfit = _transform_subset(pca, sub)
            _, hw = peak_and_half_widths(Vfit, self.bin_width)
            sigma = hw / np.sqrt(2.0 * np.log(2.0))
        # A zero-variance axis would make the ellipse degenerate; give it a
        # tiny positive extent instead of dividing by zero.
        tiny = 1e-12 * max(float(sigma.max()), 1.0)
        st.sigma_ = np.maximum(sigma, tiny)
        st.half_axes_ = st.level_ * st.sigma_
        # |x| <= |mean| + |v| with |v_k| <= f a_k: the output stays finite in float32.
        check_float32_range(float(np.max(np.abs(pca.mean_)) + np.sqrt(np.sum((st.f_ * st.half_axes_) ** 2))),
                            "f", self.f)
        return vars(st)

    def sample_pca(self, n_samples, random_state=None, chunk_vectors=1024):
        """PCA-space coordinates v of shape (n_samples, K), float64.

        These are the sampler's own marginals (before back-transformation);
        ``sample`` returns ``mean + v @ components[:K]`` for the same stream.
        """
        self._check_fitted()
        n = check_n_samples(n_samples)
        rng = check_random_state(random_state)
        K = self.half_axes_.size
        fa = self.f_ * self.half_axes_
        seeds = rng.integers(0, 2**32, size=n, dtype=np.uint32)
        out = np.empty((n, K))
        for start in range(0, n, chunk_vectors):
            stop = min(start + chunk_vectors, n)
            # Drawn chunk by chunk: the same stream as one (n, K) draw.
            U = rng.random((stop - start, K))
            out[start:stop] = (2.0 * U - 1.0) * fa
        return _ellipse_constrain(out, fa, seeds, self.fixed)

    def _sample(self, n, rng):
        V = self.sample_pca(n, rng)
        return self.pca_.inverse_transform(V)


def _transform_subset(pca, sub):
    # PCA coordinates of all rows (sub = Z) or of the masked rows (sub = (Z, mask)).
    if not isinstance(sub, tuple):
        return pca.transform(sub)
    Z, mask = sub
    parts = []
    for rows, block in row_blocks(Z, dtype=np.float64):
        m = mask[rows]
        if m.any():
            parts.append((block[m] - pca.mean_) @ pca.components_.T)
    return np.concatenate(parts)


# ---------------------------------------------------------------------------
# 5-6: full-covariance normal and Gaussian mixture (ex-post density estimators)
# ---------------------------------------------------------------------------

class MultivariateNormalSampler(BaseSampler):
    """Full-covariance multivariate normal N(mean, cov) fitted to the data.

    Optionally truncated to the data's ``truncate_k``-sigma region (see the
    module docstring) by rejection: batches are drawn until enough points
    fall inside; ``max_iter`` batches at most, then ``ValueError``.  This
    is the "ex-post density estimation" of Ghosh et al. (ICLR 2020).

    Parameters
    ----------
    truncate_k : float > 0 or None, default None
    max_iter : int >= 1, default 100

    Attributes
    ----------
    mean_ : ndarray of shape (z_dim,)
    cov_ : ndarray of shape (z_dim, z_dim)
    factor_ : ndarray of shape (z_dim, z_dim)   cov_ = factor_ @ factor_.T
    threshold_ : float or None   squared-Mahalanobis bound of truncation
    """


    def __init__(self, *, truncate_k=None, max_iter=100):
        self.truncate_k = truncate_k
        self.max_iter = max_iter

    def _fit(self, Z):
        st = SimpleNamespace()
        st.max_iter_ = check_int(self.max_iter, "max_iter", low=1)
        d = Z.shape[1]
        st.threshold_ = None if self.truncate_k is None else k_sigma_threshold(
            check_positive(self.truncate_k, "truncate_k"), d)
        st.mean_, st.cov_ = mean_and_cov(Z)
        evals, evecs = np.linalg.eigh(st.cov_)
        evals = np.clip(evals, 0.0, None)
        # Eigen factor: works for singular covariances, unlike Cholesky.
        st.factor_ = evecs * np.sqrt(evals)
        st.whiten_ = whitening_matrix(st.cov_)
        return vars(st)

    def _sample(self, n, rng):
        d = self.z_dim_
        if self.threshold_ is None:
            return self.mean_ + rng.standard_normal((n, d)) @ self.factor_.T
        out = np.empty((n, d))
        got = 0
        batch = max(256, int(n * 1.2))
        for _ in range(self.max_iter_):
            X = self.mean_ + rng.standard_normal((batch, d)) @ self.factor_.T
            keep = X[whitened_sq_norms(X, self.mean_, self.whiten_) < self.threshold_]
            take = min(n - got, keep.shape[0])
            out[got:got + take] = keep[:take]
            got += take
            if got == n:
                return out
        raise ValueError(
            f"truncate_k={self.truncate_k}: only {got} of {n} samples inside after max_iter={self.max_iter_} batches"
        )


class GaussianMixtureSampler(BaseSampler):
    """Gaussian mixture (scikit-learn ``GaussianMixture``) fitted to the data.

    Fitting 200,000 x 256 full covariances is slow, so the mixture is fitted
    on at most ``max_fit_samples`` rows chosen with a fixed-seed subsample
    (seeded by ``random_state``, default 0).  By default it is fitted in the
    full latent space with scikit-learn's own k-means initialisation and
    stopped after ``max_iter=3`` EM iterations: on the default run the
    converged fit takes 24-34 iterations (20-28 s of CPU against 3.7 s,
    minutes of wall time on a busy machine), and ``docs/gmm_fit.md`` shows
    that the scoreboard of the 3-iteration fit is the converged fit's within
    fit-seed noise (the latent Frechet distance excepted: 0.7 % higher).  EM runs on
    one BLAS thread (multi-threaded BLAS was measured several times slower
    on a busy 2-core machine).

    ``pca_components`` (an int) instead fits the mixture in the first
    ``pca_components`` principal coordinates of the subsample, the remaining
    directions being one independent Gaussian with the data's variances along
    those axes: cheaper, but it moves "inside 2σ-mass" and the Mahalanobis W1
    towards the multivariate normal's (``docs/gmm_fit.md``).  Sampling draws
    the component counts and the Gaussians from the ``sample`` call's own
    random_state.

    Parameters
    ----------
    n_components : int >= 1, default 10
    covariance_type : "full", "tied", "diag" or "spherical", default "full"
    max_iter : int >= 1, default 3
        EM iterations after the k-means initialisation (fewer if converged).
    random_state : int or None, default 0   (the fit's seed)
    max_fit_samples : int >= 2, default 10000
    reg_covar : float > 0, default 1e-6
    pca_components : None, "auto" or int in [1, z_dim], default None
        None fits the mixture in the full latent space; an int fits it in
        that many leading principal coordinates; "auto" is ``min(32, z_dim)``.

    Attributes
    ----------
    gmm_ : sklearn.mixture.GaussianMixture
        Fitted in PCA coordinates when ``pca_`` is not None.
    pca_ : core.stats.pca.LatentPCA or None
        All z_dim axes of the fit subsample (None: full-space fit).
    n_pca_components_ : int   mixture dimension (z_dim for a full-space fit)
    residual_std_ : ndarray of shape (z_dim - n_pca_components_,)
        Standard deviations along the axes the mixture does not model.
    n_fit_points_ : int
    n_iter_ : int   EM iterations run
    converged_ : bool   whether EM reached scikit-learn's tolerance
    """


    #: Mixture dimension of ``pca_components="auto"``.
    AUTO_PCA_COMPONENTS = 32

    def __init__(self, *, n_components=10, covariance_type="full", max_iter=3,
                 random_state=0, max_fit_samples=10000, reg_covar=1e-6, pca_components=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.random_state = random_state
        self.max_fit_samples = max_fit_samples
        self.reg_covar = reg_covar
        self.pca_components = pca_components

    def _fit(self, Z):
        st = SimpleNamespace()
        n, d = Z.shape
        k = check_int(self.n_components, "n_components", low=1)
        if k > n:
            raise ValueError(f"n_components={k} exceeds the {n} data points")
        _check_option(self.covariance_type, "covariance_type", ("full", "tied", "diag", "spherical"))
        max_iter = check_int(self.max_iter, "max_iter", low=1)
        m = check_int(self.max_fit_samples, "max_fit_samples", low=2)
        reg = check_scale(self.reg_covar, "reg_covar")
        if self.pca_components is None:
            p = None
        elif isinstance(self.pca_components, str) and self.pca_components == "auto":
            p = min(self.AUTO_PCA_COMPONENTS, d)
        else:
            p = check_int(self.pca_components, "pca_components", 1, d)
        # random_state means what it means in scikit-learn: None is fresh
        # entropy, an int a reproducible fit (the default 0).
        rng = check_random_state(self.random_state)
        if n > m:
            idx = np.sort(rng.choice(n, size=m, replace=False))
            X = np.asarray(Z[idx], np.float64)
        else:
            X = np.asarray(Z, np.float64)
        if p is None:
            st.pca_, st.n_pca_components_, st.residual_std_ = None, d, np.zeros(0)
            Y = X
        else:
            st.pca_ = LatentPCA().fit(X)
            st.n_pca_components_ = p
            st.residual_std_ = np.sqrt(st.pca_.explained_variance_[p:])
            Y = st.pca_.transform(X, p)

        # EM makes thousands of small BLAS calls; multi-threaded BLAS spins
        # on them and, on a busy machine, was measured 25 times slower.
        with threadpool_limits(1), warnings.catch_warnings():
            # A few EM iterations are the default (see the class docstring).
            warnings.simplefilter("ignore", ConvergenceWarning)
            st.gmm_ = GaussianMixture(n_components=k, covariance_type=self.covariance_type,
                                      max_iter=max_iter, reg_covar=reg,
                                      random_state=int(rng.integers(2**31 - 1))).fit(Y)
        st.n_fit_points_ = X.shape[0]
        st.n_iter_, st.converged_ = int(st.gmm_.n_iter_), bool(st.gmm_.converged_)
        return vars(st)

    def _sample(self, n, rng):
        g = self.gmm_
        p = g.means_.shape[1]
        counts = rng.multinomial(n, g.weights_ / g.weights_.sum())
        out = np.empty((n, p))
        pos = 0
        for c, m in enumerate(counts):
            if m == 0:
                continue
            eps = rng.standard_normal((m, p))
            if self.covariance_type == "full":
                x = eps @ np.linalg.cholesky(g.covariances_[c]).T
            elif self.covariance_type == "tied":
                x = eps @ np.linalg.cholesky(g.covariances_).T
            elif self.covariance_type == "diag":
                x = eps * np.sqrt(g.covariances_[c])
            else:
                x = eps * np.sqrt(g.covariances_[c])
            out[pos:pos + m] = g.means_[c] + x
            pos += m
        # Rows come grouped by component; shuffle so any prefix is a fair sample.
        out = out[rng.permutation(n)]
        if self.pca_ is None:
            return out
        # Back to latent space; the axes the mixture does not model get their
        # own independent Gaussian (the data's variance along each axis).
        r = rng.standard_normal((n, self.residual_std_.shape[0])) * self.residual_std_
        return self.pca_.mean_ + out @ self.pca_.components_[:p] + r @ self.pca_.components_[p:]


class ShellSampler(BaseSampler):
    """Vectors in a shell outside the data's k-sigma region ([MND]).

    A multivariate normal N(mean, cov) fitted to the data, conditioned on
    its squared Mahalanobis distance lying between the ``k_inner``- and
    ``k_outer``-sigma-mass bounds (``core.stats.mnd.k_sigma_threshold``): the
    direction is uniform in whitened coordinates, the squared radius is drawn
    from the chi-square law of the MND restricted to the shell (inverse
    survival function, exact in the far tail).  The post's finding: images
    decoded from there are dominated by the background.

    Parameters
    ----------
    k_inner : float > 0, default 3.0
    k_outer : float > k_inner, default 4.0

    Attributes
    ----------
    mean_ : ndarray of shape (z_dim,)
    factor_ : ndarray of shape (z_dim, rank)   the covariance's eigen factor
    bounds_ : (float, float)   squared-Mahalanobis bounds of the shell
    """

    def __init__(self, *, k_inner=3.0, k_outer=4.0):
        self.k_inner = k_inner
        self.k_outer = k_outer

    def _fit(self, Z):
        k_in = check_positive(self.k_inner, "k_inner")
        k_out = check_positive(self.k_outer, "k_outer")
        if not k_out > k_in:
            raise ValueError(f"k_outer must be larger than k_inner ({k_in:g}), got {self.k_outer!r}")
        st = SimpleNamespace()
        st.mean_, cov = mean_and_cov(Z)
        evals, evecs = np.linalg.eigh(cov)
        keep = evals > 1e-10 * max(float(evals.max()), 1e-300)
        st.factor_ = evecs[:, keep] * np.sqrt(evals[keep])
        st.rank_ = int(keep.sum())
        st.bounds_ = (k_sigma_threshold(k_in, st.rank_), k_sigma_threshold(k_out, st.rank_))
        return vars(st)

    def _sample(self, n, rng):
        r = self.rank_
        u = rng.standard_normal((n, r))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        lo, hi = stats.chi2.sf(self.bounds_[1], r), stats.chi2.sf(self.bounds_[0], r)
        r2 = stats.chi2.isf(rng.uniform(lo, hi, size=n), r)
        return self.mean_ + (u * np.sqrt(r2)[:, None]) @ self.factor_.T


SAMPLERS = {
    "uniform": UniformBoxSampler,
    "per-component": PerComponentUniformSampler,
    "gaussian-diag": DiagonalGaussianSampler,
    "pca-ellipse": PCAEllipseSampler,
    "mvn": MultivariateNormalSampler,
    "gmm": GaussianMixtureSampler,
    "shell": ShellSampler,
}


def make_sampler(name, **params):
    """Create a sampler by registry name with its parameters (not fitted).

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones) or an unknown parameter.
    """
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid names: {', '.join(SAMPLERS)}")
    cls = SAMPLERS[name]
    valid = cls._get_param_names()
    unknown = set(params) - set(valid)
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} for sampler {name!r}; valid: {valid}")
    return cls(**params)


__all__ = [
    "SAMPLERS", "make_sampler", "BaseSampler", "UniformBoxSampler", "PerComponentUniformSampler",
    "DiagonalGaussianSampler", "PCAEllipseSampler", "MultivariateNormalSampler",
    "GaussianMixtureSampler", "ShellSampler", "MAX_SAMPLES",
]
