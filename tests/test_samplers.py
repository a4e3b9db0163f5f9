"""Tests of core.sampling.samplers: counts, moments, bounds, and the PCA-ellipse
sampler against a plain per-vector implementation of the seed-X loop."""

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import special, stats

import core.sampling.samplers as samplers_mod
from core.sampling.registry import SAMPLER_NAMES
from core.sampling.samplers import (
    SAMPLERS,
    MultivariateNormalSampler,
    PCAEllipseSampler,
    _component_codes,
    _ellipse_constrain,
    _ellipse_stream,
    _pair_coin_and_redraw,
    _pair_keys,
    ellipse_backend,
    make_sampler,
)
from core.stats.components import component_table, peak_and_half_widths
from core.stats.mnd import k_sigma_threshold
from core.stats.pca import LatentPCA
from core.validation import MAX_SAMPLES


@pytest.fixture(scope="module")
def Z():
    # Correlated Gaussian data with a non-zero mean, 8 components.
    rng = np.random.default_rng(0)
    d = 8
    A = rng.normal(size=(d, d)) * 0.5 + np.diag(np.linspace(2.0, 0.5, d))
    mean = np.linspace(-1.0, 1.0, d)
    return (mean + rng.standard_normal((20000, d)) @ A.T).astype(np.float32)


FAST = {
    "uniform": {},
    "per-component": {},
    "gaussian-diag": {},
    "pca-ellipse": {"n_components": 6},
    "mvn": {"truncate_k": 2.0},
    "gmm": {"n_components": 2, "max_iter": 20, "max_fit_samples": 3000},
    "shell": {},
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("n", [1, 7, 1001])
def test_counts_dtype_shape(Z, name, n):
    s = make_sampler(name, **FAST[name]).fit(Z)
    V = s.sample(n, random_state=3)
    assert V.shape == (n, Z.shape[1]) and V.dtype == np.float32
    assert np.all(np.isfinite(V))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_reproducible_and_seed_dependent(Z, name):
    s = make_sampler(name, **FAST[name]).fit(Z)
    a, b, c = s.sample(50, random_state=11), s.sample(50, random_state=11), s.sample(50, random_state=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_get_params_roundtrip():
    s = make_sampler("pca-ellipse", n_components=5, f=0.6, fixed="random")
    p = s.get_params()
    assert p["n_components"] == 5 and p["f"] == 0.6 and p["fixed"] == "random" and p["level"] == 2.35
    assert type(s)(**p).get_params() == p


def test_unknown_sampler_and_param():
    with pytest.raises(ValueError, match="'nope'.*uniform.*gmm"):
        make_sampler("nope")
    with pytest.raises(ValueError, match="bogus"):
        make_sampler("uniform", bogus=1)


@pytest.mark.parametrize("name,params,match", [
    ("uniform", {"b": 0}, r"^b must be > 0\.0, got 0"),
    ("per-component", {"f": -0.5}, r"^f must be > 0\.0, got -0\.5"),
    ("pca-ellipse", {"n_components": 9}, "n_components must be <= 8, got 9"),
    ("pca-ellipse", {"n_components": 0}, "n_components must be >= 1, got 0"),
    ("pca-ellipse", {"n_components": 4, "level": 0.0}, r"level must be > 0\.0, got 0\.0"),
    ("pca-ellipse", {"n_components": 4, "f": 0}, r"^f must be > 0\.0, got 0"),
    ("pca-ellipse", {"n_components": 4, "fixed": "middle"}, "fixed.*'middle'"),
    ("pca-ellipse", {"n_components": 4, "half_width": "fwhm"}, "half_width.*'fwhm'"),
    ("pca-ellipse", {"n_components": 4, "fit_k_sigma": -1}, r"fit_k_sigma must be > 0\.0, got -1"),
    ("mvn", {"truncate_k": 0}, r"truncate_k must be > 0\.0, got 0"),
    ("gmm", {"covariance_type": "weird"}, "covariance_type.*'weird'"),
    ("gmm", {"n_components": 0}, "n_components must be >= 1, got 0"),
])
def test_bad_params_raise_in_fit(Z, name, params, match):
    s = make_sampler(name, **params)  # storing is fine (sklearn style)
    with pytest.raises(ValueError, match=match):
        s.fit(Z)


@pytest.mark.parametrize("n", [0, -3, MAX_SAMPLES + 1, 2.5])
def test_bad_n_samples(Z, n):
    s = make_sampler("uniform").fit(Z)
    with pytest.raises(ValueError, match=f"n_samples.*{n}"):
        s.sample(n)


def test_not_fitted():
    with pytest.raises(ValueError, match="not fitted"):
        make_sampler("mvn").sample(3)


def test_uniform_box(Z):
    V = make_sampler("uniform", b=1.5).fit(Z).sample(40000, random_state=0)
    assert V.min() >= -1.5 and V.max() <= 1.5
    np.testing.assert_allclose(V.mean(0), 0.0, atol=0.03)
    np.testing.assert_allclose(V.var(0), 1.5 ** 2 / 3, rtol=0.03)


def test_peak_and_half_widths_on_gaussian():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(0.3, 1.0, 200000), rng.normal(-2.0, 2.0, 200000)])
    mu, hw = peak_and_half_widths(X, 0.25)
    # mu is a bin centre: the multiple of 0.25 nearest the true peak, give or
    # take the histogram's noise at the top of a broad peak (one bin).
    np.testing.assert_allclose(mu / 0.25, np.round(mu / 0.25))
    np.testing.assert_allclose(mu, [0.25, -2.0], atol=0.25 + 1e-9)
    # HWHM of a Gaussian = sigma * sqrt(2 ln 2)
    np.testing.assert_allclose(hw, np.array([1.0, 2.0]) * math.sqrt(2 * math.log(2)), rtol=0.05)


def test_per_component_bounds(Z):
    s = make_sampler("per-component", f=0.7).fit(Z)
    V = s.sample(20000, random_state=0).astype(np.float64)
    lo, hi = s.mu_ - 0.7 * s.hw_, s.mu_ + 0.7 * s.hw_
    assert np.all(V >= lo - 1e-5) and np.all(V <= hi + 1e-5)
    # fills the interval: extremes close to the bounds, mean at the centre
    np.testing.assert_allclose(V.min(0), lo, atol=0.02 * (hi - lo).max())
    np.testing.assert_allclose(V.mean(0), s.mu_, atol=0.02 * (hi - lo).max())


@pytest.mark.parametrize("f", [0.3, 1.2])
def test_per_component_f_sets_the_interval(Z, f):
    # The draws fill [mu - f hw, mu + f hw] for the f asked for, not the default.
    s = make_sampler("per-component", f=f).fit(Z)
    V = s.sample(20000, random_state=1).astype(np.float64)
    np.testing.assert_allclose(V.max(0) - s.mu_, f * s.hw_, rtol=0.01)
    np.testing.assert_allclose(s.mu_ - V.min(0), f * s.hw_, rtol=0.01)


def test_per_component_mu_hw_match_the_component_table_and_numpy(Z):
    # One convention (bin centres on multiples of the bin width), one answer:
    # the sampler and the Components page table agree exactly, and mu is the
    # centre of np.histogram's highest bin on those edges (an independent count).
    w = 0.25
    s = make_sampler("per-component", bin_width=w).fit(Z)
    t = component_table(Z, bin_width=w)
    np.testing.assert_array_equal(s.mu_, t["mu"].to_numpy())
    ok = np.isfinite(t["hw"].to_numpy())
    assert ok.all()  # sigma >> bin width here: every hw is resolved
    np.testing.assert_array_equal(s.hw_[ok], t["hw"].to_numpy()[ok])
    for j in range(Z.shape[1]):
        x = Z[:, j].astype(np.float64)
        k = np.arange(np.floor(x.min() / w) - 1, np.ceil(x.max() / w) + 2)
        counts, edges = np.histogram(x, bins=(k - 0.5) * w)
        assert s.mu_[j] == pytest.approx(k[np.argmax(counts)] * w, abs=1e-12)


def _check_moments(V, Z, mean_tol, cov_tol):
    np.testing.assert_allclose(V.mean(0), Z.mean(0), atol=mean_tol)
    np.testing.assert_allclose(np.cov(V.T), np.cov(Z.T.astype(np.float64)), atol=cov_tol)


def test_gaussian_diag_moments(Z):
    s = make_sampler("gaussian-diag").fit(Z)
    V = s.sample(60000, random_state=0).astype(np.float64)
    np.testing.assert_allclose(V.mean(0), Z.mean(0), atol=0.05)
    np.testing.assert_allclose(V.std(0), Z.std(0), rtol=0.02)
    C = np.corrcoef(V.T)
    assert np.abs(C - np.eye(Z.shape[1])).max() < 0.03  # no correlations


def test_mvn_moments(Z):
    V = make_sampler("mvn").fit(Z).sample(60000, random_state=0).astype(np.float64)
    _check_moments(V, Z, 0.05, 0.12)


def test_gmm_moments(Z):
    # All 20,000 rows (the default fits a 10,000-row subsample, whose moments differ by noise).
    V = make_sampler("gmm", n_components=3, max_iter=50, max_fit_samples=20000).fit(Z).sample(
        60000, random_state=0).astype(np.float64)
    _check_moments(V, Z, 0.06, 0.15)


def test_gmm_subsample_size(Z):
    s = make_sampler("gmm", n_components=2, max_fit_samples=500).fit(Z)
    assert s.n_fit_points_ == 500


def test_truncated_mvn_inside_and_fraction(Z):
    s = MultivariateNormalSampler(truncate_k=1.0).fit(Z)
    V = s.sample(5000, random_state=0).astype(np.float64)
    d2 = np.einsum("ij,jk,ik->i", V - s.mean_, np.linalg.inv(s.cov_), V - s.mean_)
    thr = stats.chi2.ppf(special.erf(1 / np.sqrt(2)), Z.shape[1])
    assert np.isclose(k_sigma_threshold(1.0, Z.shape[1]), thr)
    assert np.all(d2 < thr * (1 + 1e-6))
    # the untruncated sampler puts erf(1/sqrt2) = 68 % inside
    W = s.mean_ + np.random.default_rng(0).standard_normal((20000, Z.shape[1])) @ s.factor_.T
    d2w = np.einsum("ij,jk,ik->i", W - s.mean_, np.linalg.inv(s.cov_), W - s.mean_)
    assert abs(np.mean(d2w < thr) - 0.6827) < 0.015


def test_truncated_mvn_max_iter_guard(Z):
    s = MultivariateNormalSampler(truncate_k=0.05, max_iter=1).fit(Z)
    with pytest.raises(ValueError, match="max_iter=1"):
        s.sample(5000, random_state=0)


# --------------------------------------------------------------------------
# PCA-ellipse: the seed's per-vector loop, written plainly
# --------------------------------------------------------------------------

def reference_ellipse(U, seeds, fa, fixed):
    """Seed X, one vector at a time, pair by pair, in plain Python floats.

    The random order of the pairs is the order of their keys (ties by pair
    code), the same stream the vectorised sampler uses.
    """
    n, K = U.shape
    out = np.empty((n, K))
    ii, jj = np.triu_indices(K, 1)
    pk = ii * K + jj
    G = _component_codes(seeds, K)
    for b in range(n):
        v = [float((2.0 * U[b, k] - 1.0) * fa[k]) for k in range(K)]
        keys = _pair_keys(G[b, ii], G[b, jj])
        coin, r = _pair_coin_and_redraw(keys)
        for s in np.lexsort((pk, keys)):
            i, j = int(ii[s]), int(jj[s])
            if fixed == "random" and coin[s]:
                i, j = j, i
            t = v[i] / fa[i]
            c = fa[j] * math.sqrt(max(0.0, 1.0 - t * t))
            if abs(v[j]) > c:  # redraw only on violation
                v[j] = (2.0 * float(r[s]) - 1.0) * c
        out[b] = v
    return out


HAVE_NUMBA = samplers_mod._constrain_rows is not None
# Both implementations of the pair loop are held to the same reference; the
# compiled one is skipped (not silently replaced) where numba is missing.
BACKENDS = [pytest.param("numba", marks=pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")), "numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """Run a test with the sampler on one backend ("numpy" = numba absent)."""
    if request.param == "numpy":
        monkeypatch.setattr(samplers_mod, "_constrain_rows", None)
    assert ellipse_backend() == request.param
    return request.param


@pytest.mark.parametrize("fixed", ["leading", "random"])
@pytest.mark.parametrize("n,K", [(5, 6), (12, 40), (2, 120)])
def test_ellipse_vectorised_equals_reference(fixed, n, K, backend):
    rng = np.random.default_rng(K)
    fa = np.sort(rng.uniform(0.05, 3.0, K))[::-1]
    seeds, U = _ellipse_stream(np.random.default_rng(7), n, K)
    V = (2.0 * U - 1.0) * fa
    _ellipse_constrain(V, fa, seeds, fixed, backend=backend)
    R = reference_ellipse(U, seeds, fa, fixed)
    np.testing.assert_array_equal(V, R)
    # and something happened: some values were redrawn
    assert not np.array_equal(V, (2.0 * U - 1.0) * fa)


@pytest.mark.parametrize("fixed", ["leading", "random"])
def test_ellipse_full_size_equals_reference(fixed, backend):
    # The §6 benchmark size, K = 256 (32,640 pairs): axes over 12 decades,
    # so the exact and the near-violation tests are exercised on tiny and
    # huge values; unsorted, so "leading" is not "largest".
    K = 256
    fa = 10.0 ** np.random.default_rng(5).uniform(-6, 6, K)
    seeds, U = _ellipse_stream(np.random.default_rng(8), 2, K)
    V = (2.0 * U - 1.0) * fa
    _ellipse_constrain(V, fa, seeds, fixed, backend=backend)
    np.testing.assert_array_equal(V, reference_ellipse(U, seeds, fa, fixed))


@pytest.mark.parametrize("fixed", ["leading", "random"])
def test_ellipse_bench_size_equals_reference(fixed, backend):
    # The benchmark's case: K = 256 with a trained-CAE-like fall-off of the
    # half axes, several vectors, so every key round of the compiled loop
    # (core.sampling._ellipse_kernel._ROUND_EDGES) applies redraws.
    K = 256
    fa = 2.0 * np.exp(-np.arange(K) / 60.0)
    seeds, U = _ellipse_stream(np.random.default_rng(21), 4, K)
    V = (2.0 * U - 1.0) * fa
    _ellipse_constrain(V, fa, seeds, fixed, backend=backend)
    R = reference_ellipse(U, seeds, fa, fixed)
    np.testing.assert_array_equal(V, R)
    assert ((V != (2.0 * U - 1.0) * fa).sum(axis=1) > 20).all()


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("fixed", ["leading", "random"])
@pytest.mark.parametrize("n,K", [(1300, 24), (150, 256)])
def test_ellipse_numba_equals_numpy(fixed, n, K):
    # Many vectors (several threads and row blocks for n = 1300) against the
    # NumPy loop, itself tested against the reference above.
    fa = np.random.default_rng(K).uniform(0.01, 3.0, K)
    seeds, U = _ellipse_stream(np.random.default_rng(9), n, K)
    V0 = (2.0 * U - 1.0) * fa
    A = _ellipse_constrain(V0.copy(), fa, seeds, fixed, backend="numba")
    B = _ellipse_constrain(V0.copy(), fa, seeds, fixed, backend="numpy")
    np.testing.assert_array_equal(A, B)
    assert (A != V0).sum() > n  # many redraws happened
    # a Fortran-ordered input (copied inside, written back) gives the same
    F = np.asfortranarray(V0)
    _ellipse_constrain(F, fa, seeds, fixed, backend="numba")
    np.testing.assert_array_equal(F, A)


def test_ellipse_bad_backend():
    V = np.zeros((2, 3))
    with pytest.raises(ValueError, match="backend.*'cuda'"):
        _ellipse_constrain(V, np.ones(3), np.zeros(2, np.uint32), "leading", backend="cuda")


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_numba_kernel_is_cached_on_disk():
    # After this process has compiled (or loaded) it, a new process loads the
    # kernel from the disk cache instead of compiling it again.
    V = np.zeros((1, 4))
    _ellipse_constrain(V, np.ones(4), np.zeros(1, np.uint32), "leading", backend="numba")
    code = ("import numpy as np; from core.sampling._ellipse_kernel import constrain_rows as k; "
            "k(np.zeros((1, 4)), np.ones(4), np.zeros(1, np.uint32), False, 0, 1); "
            "print(sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "0"]


@pytest.mark.parametrize("fixed", ["leading", "random"])
def test_sampler_equals_reference_end_to_end(Z, fixed, backend):
    s = PCAEllipseSampler(n_components=6, fixed=fixed).fit(Z)
    V = s.sample_pca(5, random_state=42)
    seeds, U = _ellipse_stream(np.random.default_rng(42), 5, 6)
    np.testing.assert_array_equal(V, reference_ellipse(U, seeds, s.f_ * s.half_axes_, fixed))
    Zs = s.sample(5, random_state=42)
    np.testing.assert_allclose(Zs, (V @ s.pca_.components_ + s.pca_.mean_).astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("fixed", ["leading", "random"])
def test_all_pairwise_ellipse_conditions(Z, fixed, backend):
    rng = np.random.default_rng(3)
    K = 30
    fa = np.sort(rng.uniform(0.01, 2.0, K))[::-1]
    seeds, U = _ellipse_stream(np.random.default_rng(1), 400, K)
    V = (2.0 * U - 1.0) * fa
    _ellipse_constrain(V, fa, seeds, fixed, backend=backend)
    W = (V / fa) ** 2
    S = W[:, :, None] + W[:, None, :]
    S[:, np.arange(K), np.arange(K)] = 0.0
    assert S.max() <= 1.0 + 1e-9
    # before the loop, many pairs violated
    W0 = ((2.0 * U - 1.0)) ** 2
    assert (W0[:, :, None] + W0[:, None, :] > 1).sum() > 1000


def test_sampler_pairwise_conditions_and_span(Z):
    s = PCAEllipseSampler(n_components=5, level=2.35, f=0.7).fit(Z)
    V = s.sample_pca(2000, random_state=0)
    fa = s.f_ * s.half_axes_
    W = (V / fa) ** 2
    S = W[:, :, None] + W[:, None, :]
    S[:, np.arange(5), np.arange(5)] = 0
    assert S.max() <= 1 + 1e-9
    X = s.sample(2000, random_state=0).astype(np.float64) - s.pca_.mean_
    # in the span of the K components: residual after projection is ~0
    C = s.pca_.components_
    resid = X - (X @ C.T) @ C
    assert np.abs(resid).max() < 1e-4 * max(1.0, np.abs(X).max())
    # and the PCA matches an independent PCA of the points inside 3 sigma
    inside = _inside(Z, 3.0)
    ref = np.linalg.eigh(np.cov(Z[inside].T.astype(np.float64)))
    np.testing.assert_allclose(np.sqrt(s.pca_.explained_variance_), np.sqrt(ref[0][::-1][:5]), rtol=1e-6)
    assert s.n_fit_points_ == inside.sum()


def _inside(Z, k):
    X = Z.astype(np.float64)
    m = X.mean(0)
    d2 = np.einsum("ij,jk,ik->i", X - m, np.linalg.inv(np.cov(X.T)), X - m)
    return d2 < stats.chi2.ppf(special.erf(k / np.sqrt(2)), Z.shape[1])


def test_fit_k_sigma_none_is_plain_pca(Z):
    s = PCAEllipseSampler(n_components=4, fit_k_sigma=None).fit(Z)
    ref = LatentPCA(n_components=4).fit(Z)
    # The sampler fits float64 moments; LatentPCA.fit on float32 data takes the
    # float32 Gram path (core.stats.gram), good to ~1e-7 of the largest eigenvalue:
    # unit axes agree to an absolute 1e-6, not to a relative 1e-7 per entry.
    np.testing.assert_allclose(s.pca_.components_, ref.components_, atol=1e-6)
    np.testing.assert_allclose(s.half_axes_, 2.35 * np.sqrt(ref.explained_variance_), rtol=1e-6)


def test_hist_half_width(Z):
    s = PCAEllipseSampler(n_components=3, half_width="hist", fit_k_sigma=None).fit(Z)
    # Gaussian data: histogram sigma ~ std sigma
    np.testing.assert_allclose(s.sigma_, np.sqrt(s.pca_.explained_variance_), rtol=0.1)


def test_leading_marginals_finding(Z):
    # With the leading member fixed, component 1 is never shrunk (stays uniform
    # on [-f a_1, f a_1], variance (f a_1)^2 / 3) and later components shrink.
    s = PCAEllipseSampler(n_components=6, fixed="leading").fit(Z)
    V = s.sample_pca(20000, random_state=0)
    u = V / (s.f_ * s.half_axes_)
    assert abs(np.var(u[:, 0]) - 1 / 3) < 0.01
    v = np.var(u, axis=0)
    assert v[-1] < v[0] * 0.6
    r = PCAEllipseSampler(n_components=6, fixed="random").fit(Z).sample_pca(20000, random_state=0)
    ur = r / (s.f_ * s.half_axes_)
    assert np.var(ur[:, 0]) < 0.3  # random fixing shrinks component 1 too


def test_gmm_pca_fit_with_all_axes_equals_full_space_fit(Z):
    # EM with full covariances (k-means init included) is rotation-equivariant,
    # so a mixture fitted in all d PCA coordinates, rotated back, is the
    # mixture scikit-learn fits in the original space with the same seed.
    from sklearn.mixture import GaussianMixture

    d = Z.shape[1]
    s = make_sampler("gmm", n_components=3, max_iter=200, pca_components=d, max_fit_samples=20000).fit(Z)
    seed = int(np.random.default_rng(0).integers(2**31 - 1))  # the fit's draw after no subsample
    ref = GaussianMixture(n_components=3, covariance_type="full", max_iter=200, reg_covar=1e-6,
                          random_state=seed).fit(np.asarray(Z, np.float64))
    means = s.gmm_.means_ @ s.pca_.components_ + s.pca_.mean_
    order = np.argsort(means[:, 0])
    ref_order = np.argsort(ref.means_[:, 0])
    np.testing.assert_allclose(means[order], ref.means_[ref_order], atol=2e-3)
    np.testing.assert_allclose(s.gmm_.weights_[order], ref.weights_[ref_order], atol=2e-3)
    assert s.residual_std_.shape == (0,)


def test_gmm_pca_reduced_keeps_the_data_covariance(Z):
    # The mixture models the first 3 PCA coordinates; the other 5 axes get
    # the data's variances, so the sample covariance is the data's up to
    # the (uncorrelated) cross terms of residual axes.
    s = make_sampler("gmm", n_components=2, pca_components=3, max_fit_samples=20000).fit(Z)
    assert s.n_pca_components_ == 3 and s.residual_std_.shape == (Z.shape[1] - 3,)
    V = s.sample(80000, random_state=1).astype(np.float64)
    Zc = np.asarray(Z, np.float64)
    np.testing.assert_allclose(V.mean(0), Zc.mean(0), atol=0.05)
    np.testing.assert_allclose(np.cov(V, rowvar=False), np.cov(Zc, rowvar=False), atol=0.12)
    # Residual axes: exactly the PCA variances of the data along them.
    ev = np.sort(np.linalg.eigvalsh(np.cov(Zc, rowvar=False)))[::-1]
    np.testing.assert_allclose(s.residual_std_ ** 2, ev[3:], rtol=1e-6)


def test_gmm_auto_pca_components_and_bad_values(Z):
    assert make_sampler("gmm", n_components=2, max_iter=5).fit(Z).n_pca_components_ == Z.shape[1]  # min(64, 8)
    assert make_sampler("gmm", n_components=2, max_iter=5, pca_components=None).fit(Z).pca_ is None
    for bad, text in [(0, "pca_components must be >= 1, got 0"), (9, "pca_components must be <= 8, got 9"),
                      ("many", "pca_components must be an integer, got 'many'")]:
        with pytest.raises(ValueError, match=text):
            make_sampler("gmm", n_components=2, pca_components=bad).fit(Z)


@pytest.fixture(scope="module")
def Z_mixture():
    # Three Gaussian clusters with different shapes in 12 dimensions: far from
    # one multivariate normal, like real latents (Mahalanobis tails).
    rng = np.random.default_rng(5)
    d, parts = 12, []
    for k, (n, scale) in enumerate([(4000, 0.4), (3000, 1.0), (3000, 2.0)]):
        A = rng.normal(size=(d, d)) * 0.3 * scale + np.eye(d) * scale
        parts.append(rng.normal(size=d) * 3 + rng.standard_normal((n, d)) @ A.T)
    return np.concatenate(parts)[rng.permutation(10000)].astype(np.float32)


def _gmm_scores(Z, **params):
    from core.sampling.scoreboard import score_samples

    V = make_sampler("gmm", n_components=3, **params).fit(Z).sample(3000, random_state=0)
    s = score_samples(V, Z, max_points=1500, random_state=0)
    return np.array([s["inside_2sigma"], s["mahalanobis_w1"], s["precision"], s["recall"]])


def test_gmm_default_is_a_full_space_fit_stopped_after_three_em_iterations(Z_mixture):
    s = make_sampler("gmm").fit(Z_mixture)
    assert s.pca_ is None and s.n_pca_components_ == Z_mixture.shape[1]
    assert s.n_iter_ <= 3 and s.max_iter == 3
    # The first iterations of scikit-learn's own fit with the same seed.
    from sklearn.mixture import GaussianMixture

    seed = int(np.random.default_rng(0).integers(2**31 - 1))  # 10,000 rows: no subsample drawn
    ref = GaussianMixture(n_components=10, max_iter=3, reg_covar=1e-6,
                          random_state=seed).fit(np.asarray(Z_mixture, np.float64))
    np.testing.assert_allclose(s.gmm_.means_, ref.means_, rtol=1e-10, atol=1e-10)


def test_gmm_three_iteration_fit_matches_the_converged_fit_within_seed_noise(Z_mixture):
    # The choice the Samplers page makes (docs/gmm_fit.md, on the real run):
    # its scoreboard figures equal the converged fit's within the spread of
    # the converged fit over fit seeds; the PCA-reduced fit does not.
    full = np.array([_gmm_scores(Z_mixture, max_iter=500, random_state=s) for s in range(3)])
    fast = np.array([_gmm_scores(Z_mixture, random_state=s) for s in range(3)])
    noise = np.maximum(full.std(axis=0, ddof=1), [0.01, 0.03, 0.01, 0.01])
    assert np.all(np.abs(fast.mean(axis=0) - full.mean(axis=0)) < 3 * noise), (fast, full)
    reduced = _gmm_scores(Z_mixture, pca_components=2, max_iter=500)
    assert np.any(np.abs(reduced - full.mean(axis=0)) > 3 * noise), (reduced, full)


def test_registry_names_are_the_samplers_keys():
    # core.sampling.registry lists the names for code that must not import SciPy/scikit-learn.
    assert tuple(samplers_mod.SAMPLERS) == SAMPLER_NAMES
