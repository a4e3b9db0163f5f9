import numpy as np
import pytest
from sklearn.decomposition import PCA

from core.stats.moments import mean_and_cov
from core.stats.pca import LatentPCA


@pytest.fixture
def Z():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    return (rng.normal(size=(3000, 6)) @ A + rng.normal(size=6)).astype(np.float32)


def test_matches_sklearn_pca(Z):
    ours = LatentPCA(n_components=4).fit(Z)
    ref = PCA(4, svd_solver="full").fit(Z.astype(np.float64))
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-6)
    # Same axes up to sign; our sign convention: largest |entry| positive.
    dots = np.abs(np.sum(ours.components_ * ref.components_, axis=1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-6)
    assert np.all(ours.components_[np.arange(4), np.argmax(np.abs(ours.components_), axis=1)] > 0)
    V = ours.transform(Z)
    np.testing.assert_allclose(np.abs(V), np.abs(ref.transform(Z.astype(np.float64))), atol=1e-6)


def test_inverse_with_all_components_is_identity_and_shift_shrinks_with_k(Z):
    pca = LatentPCA().fit(Z)
    np.testing.assert_allclose(pca.reconstruct(Z, 6), Z, atol=1e-4)
    shifts = [pca.reconstruction_shift(Z, k).mean() for k in (1, 3, 5, 6)]
    assert shifts == sorted(shifts, reverse=True) and shifts[-1] < 1e-4


def test_fit_moments_of_a_masked_subset_equals_fit_on_the_subset(Z):
    mask = Z[:, 0] > np.median(Z[:, 0])
    m, c = mean_and_cov(Z, mask=mask)
    np.testing.assert_allclose(m, Z[mask].astype(np.float64).mean(axis=0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(c, np.cov(Z[mask].astype(np.float64), rowvar=False), rtol=1e-8, atol=1e-9)
    a = LatentPCA(n_components=3).fit_moments(m, c, int(mask.sum()))
    b = LatentPCA(n_components=3).fit(Z[mask])  # float32: the core.stats.gram path, good to ~1e-7
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-6)
    np.testing.assert_allclose(a.explained_variance_, b.explained_variance_, rtol=1e-6)
    c64 = LatentPCA(n_components=3).fit(Z[mask].astype(np.float64))  # float64: the float64 moments
    np.testing.assert_allclose(a.components_, c64.components_, atol=1e-9)
    np.testing.assert_allclose(a.explained_variance_, c64.explained_variance_, rtol=1e-9)


@pytest.mark.parametrize("k", [0, 7, 2.5])
def test_bad_n_components_names_value(Z, k):
    with pytest.raises(ValueError, match=str(k)):
        LatentPCA(n_components=k).fit(Z)


def test_mask_that_selects_too_few_rows_is_refused(Z):
    mask = np.zeros(len(Z), bool)
    mask[3] = True
    with pytest.raises(ValueError, match="1 rows"):
        mean_and_cov(Z, mask=mask)


# ---- issue 14: the float32 GEMM path (core.stats.gram)


def _wide_spectrum(n, d, seed, low=-1.8):
    # Like a trained CAE's latents: off-origin means, a few wide and many
    # narrow directions, eigenvalues spread over four decades.
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.logspace(0.5, low, d)
    return (3.0 + rng.normal(size=d) + (rng.standard_normal((n, d)) * scales) @ Q.T).astype(np.float32)


@pytest.fixture(scope="module")
def wide():
    X = _wide_spectrum(60_000, 64, 4)
    ref = np.linalg.eigvalsh(np.cov(X.astype(np.float64), rowvar=False))[::-1]
    return X, ref


def test_float32_path_eigenvalues_within_1e_6_of_float64_eigh(wide):
    X, ref = wide
    ours = LatentPCA().fit(X)
    assert ref[0] / ref[-1] > 1e4
    rel = np.abs(ours.explained_variance_ / ref - 1.0)
    assert rel.max() <= 1e-6, rel.max()
    assert rel[-10:].max() <= 1e-6  # the smallest ten
    ref_vecs = np.linalg.eigh(np.cov(X.astype(np.float64), rowvar=False))[1][:, ::-1].T
    dots = np.abs(np.sum(ours.components_[:8] * ref_vecs[:8], axis=1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-6)


def test_pilot_correction_is_what_buys_the_small_eigenvalues(wide):
    # Sanity checks that the comparison can fail: scikit-learn's float32
    # covariance of uncentred data, and our float32 Gram pass alone (shifted,
    # float64 accumulation, but neither the pilot's correction nor the
    # float64 pass), both miss the smallest eigenvalues.
    import core.stats.gram as gram

    X, ref = wide
    sk = np.sort(PCA(svd_solver="covariance_eigh").fit(X).explained_variance_)[::-1]
    assert np.abs(sk / ref - 1.0)[-10:].max() > 1e-4
    mean, cov = gram.covariance_from_gram(*gram.shifted_gram(X), X.shape[0])
    raw = np.linalg.eigvalsh(cov)[::-1]
    assert np.abs(raw / ref - 1.0)[-10:].max() > 1e-6


@pytest.mark.parametrize("low,want", [(-0.8, 1), (-1.4, 2), (-1.8, 1)])
def test_one_pass_when_the_pilot_suffices_two_when_the_first_rows_mislead(low, want):
    import core.stats.gram as gram

    X = _wide_spectrum(60_000, 64, 4, low=low)
    ref = np.linalg.eigvalsh(np.cov(X.astype(np.float64), rowvar=False))[::-1]
    mean, cov, evals, evecs, passes = gram.float32_eigh(X)
    # 3.3 decades of eigenvalues: the pilot's correction is enough; 4.0 (the float32
    # error reaches above the pilot's span): a float64 pass follows; 4.6 (a pilot
    # wider than PILOT_MAX): the float64 pass alone.
    assert (gram.pilot_basis(X, gram.float32_shift(X)).shape[1] > gram.PILOT_MAX) == (low == -1.8)
    assert passes == want
    assert np.abs(evals[::-1] / ref - 1.0).max() <= 1e-6
    # The first rows (those the pilot is taken from) turned by a random rotation: their
    # small-variance directions are not the data's; still within 1e-6.
    Y = X.copy()
    m = gram.SHIFT_ROWS
    Q, _ = np.linalg.qr(np.random.default_rng(9).normal(size=(X.shape[1], X.shape[1])))
    Y[:m] = ((X[:m] - X[:m].mean(0)) @ Q + X[:m].mean(0)).astype(np.float32)
    ref_y = np.linalg.eigvalsh(np.cov(Y.astype(np.float64), rowvar=False))[::-1]
    mean, cov, evals, evecs, passes = gram.float32_eigh(Y)
    assert passes == want
    rel = np.abs(evals[::-1] / ref_y - 1.0)
    assert rel.max() <= 1e-6, rel.max()
    np.testing.assert_allclose(mean, Y.astype(np.float64).mean(0), rtol=1e-7)


def test_float32_path_refuses_nan_with_count():
    X = _wide_spectrum(500, 8, 1)
    X[[3, 7], 2] = np.nan
    X[9, 0] = np.inf
    with pytest.raises(ValueError, match="3 NaN or infinite"):
        LatentPCA().fit(X)


def test_symmetric_eigh_matches_numpy_and_restores_blas_threads():
    from threadpoolctl import threadpool_info

    from core.stats.gram import symmetric_eigh

    A = np.random.default_rng(4).standard_normal((300, 40))
    C = A.T @ A / 300
    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    w, V = symmetric_eigh(C)
    w_ref = np.linalg.eigvalsh(C)
    np.testing.assert_allclose(w, w_ref, rtol=1e-12)
    np.testing.assert_allclose(C @ V, V * w, atol=1e-12)
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == before


def test_gram_pass_is_the_same_on_any_core_count_and_matches_float64(monkeypatch):
    # Issue 14: threads pull fixed row ranges as they finish; the sums over the ranges must
    # not depend on how many threads ran them (bit-identical), and must be the float64 Gram.
    from core.stats import gram

    rng = np.random.default_rng(7)
    Z = (rng.normal(size=(9000, 12)) @ rng.normal(size=(12, 12)) + 3.0).astype(np.float32)
    got = {}
    for workers in (1, 2, 3):
        monkeypatch.setattr(gram, "_n_threads", lambda w=workers: w)
        got[workers] = gram.shifted_gram(Z, rows=256, shift=gram.float32_shift(Z))
    for workers in (2, 3):
        for a, b in zip(got[1], got[workers]):
            np.testing.assert_array_equal(a, b)
    shift, s1, s2 = got[1]
    B = Z.astype(np.float64) - shift.astype(np.float64)
    # float32 block sums: their error is relative to the sums of |values|, not to the (centred) sums.
    assert np.all(np.abs(s1 - B.sum(axis=0)) <= 1e-6 * np.abs(B).sum(axis=0))
    assert np.all(np.abs(s2 - B.T @ B) <= 1e-6 * (np.abs(B).T @ np.abs(B)))
    # 9000 rows in ranges of 8 x 256 = 2048: five ranges, the last one short.
    calls = []
    monkeypatch.setattr(gram, "_n_threads", lambda: 2)
    out = gram._in_threads(lambda a, b: calls.append((a, b)) or (a, b), 9000, 256)
    assert out == [(0, 2048), (2048, 4096), (4096, 6144), (6144, 8192), (8192, 9000)]
    assert sorted(calls) == out


def test_gram_threads_pass_an_error_on():
    from core.stats import gram

    def boom(a, b):
        if a > 0:
            raise ValueError(f"block at {a}")
        return a

    with pytest.raises(ValueError, match="block at"):
        gram._in_threads(boom, 50_000, 1024)


def test_a_wide_pilot_takes_one_float64_pass(monkeypatch):
    # Issue 14: a spectrum with many tiny eigenvalues (the shipped runs' latents: pilots of
    # 39-108 directions) misses the pilot's tolerance anyway: one float64 pass, no pilot
    # projection, exact.
    from core.stats import gram

    rng = np.random.default_rng(11)
    d = 48
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.concatenate([np.logspace(0.5, -1.0, 16), np.full(d - 16, 3e-3)])  # 32 nearly dead
    X = (2.0 + (rng.standard_normal((40_000, d)) * scales) @ Q.T).astype(np.float32)
    ref = np.linalg.eigvalsh(np.cov(X.astype(np.float64), rowvar=False))
    assert gram.pilot_basis(X, gram.float32_shift(X)).shape[1] > gram.PILOT_MAX
    seen = []
    original = gram.shifted_gram
    monkeypatch.setattr(gram, "shifted_gram",
                        lambda *a, **k: seen.append((k.get("pilot"), k.get("dtype"))) or original(*a, **k))
    mean, cov, evals, evecs, passes = gram.float32_eigh(X)
    assert seen == [(None, np.float64)] and passes == 1
    np.testing.assert_allclose(evals, ref, rtol=1e-6)
    np.testing.assert_allclose(mean, X.astype(np.float64).mean(axis=0), rtol=1e-6, atol=1e-7)
    # A narrow pilot is still projected in the one pass.
    seen.clear()
    gram.float32_eigh(_wide_spectrum(20_000, 16, 2))
    assert seen and seen[0][0] is not None and seen[0][0].shape[1] <= gram.PILOT_MAX
    assert seen[0][1] == np.float32


def test_real_latents_on_few_rows_within_1e_6():
    # Issue 14 regression: 2,000 rows resampled from the default run's latents (a real
    # CAE spectrum, eigenvalues over four decades).  The float32 Gram's error falls only
    # like 1/sqrt(n), so on few rows it reaches eigenvalues far above the nearly dead
    # ones: the earlier Rayleigh-Ritz refinement of the 69 smallest left 4.4e-6 here.
    from pathlib import Path

    L = np.load(Path(__file__).resolve().parents[1] / "artifacts" / "default" / "latents.npy")
    rng = np.random.default_rng(0)
    X = L[rng.integers(0, L.shape[0], 2000)]
    X = (X + rng.standard_normal(X.shape) * (1e-3 * L.std(axis=0))).astype(np.float32)
    ref = np.linalg.eigvalsh(np.cov(X.astype(np.float64), rowvar=False))[::-1]
    assert ref[0] / ref[-1] > 1e4
    ours = LatentPCA().fit(X).explained_variance_
    assert np.abs(ours / ref - 1.0).max() <= 1e-6
    # and the float32 Gram alone misses there, far above the smallest ten
    from core.stats import gram

    raw = np.linalg.eigvalsh(gram.covariance_from_gram(*gram.shifted_gram(X), X.shape[0])[1])[::-1]
    assert np.abs(raw / ref - 1.0)[:-80].max() > 1e-6
