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
    b = LatentPCA(n_components=3).fit(Z[mask])
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-9)
    np.testing.assert_allclose(a.explained_variance_, b.explained_variance_, rtol=1e-9)


@pytest.mark.parametrize("k", [0, 7, 2.5])
def test_bad_n_components_names_value(Z, k):
    with pytest.raises(ValueError, match=str(k)):
        LatentPCA(n_components=k).fit(Z)


def test_mask_that_selects_too_few_rows_is_refused(Z):
    mask = np.zeros(len(Z), bool)
    mask[3] = True
    with pytest.raises(ValueError, match="1 rows"):
        mean_and_cov(Z, mask=mask)
