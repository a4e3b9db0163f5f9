"""core.sampling.decode_views: centre from histograms, rows by distance, K-component reconstructions, paths in planes."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from core.stats.components import full_statistics
from core.sampling.decode_views import centre_vector, path_in_plane, pca_reconstructions, rows_by_distance


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    Z = (rng.normal(size=(3000, 6)) @ rng.normal(size=(6, 6)) + np.arange(6)).astype(np.float32)
    return Z, full_statistics(Z)


def test_centre_vector_mean_and_histogram_peak(data):
    Z, st = data
    np.testing.assert_allclose(centre_vector(st, "mean"), Z.mean(axis=0), rtol=1e-5, atol=1e-6)
    # Independent: the centre of the fullest 0.25-wide bin (bins centred on multiples of 0.25).
    for k in range(Z.shape[1]):
        idx = np.floor(Z[:, k] / 0.25 + 0.5).astype(int)
        vals, counts = np.unique(idx, return_counts=True)
        assert centre_vector(st, "histogram")[k] == pytest.approx(0.25 * vals[counts.argmax()])
    with pytest.raises(ValueError, match="'median'"):
        centre_vector(st, "median")


def test_rows_by_distance_are_quantiles(data):
    Z, st = data
    c = Z.mean(axis=0)
    rows, d, all_d = rows_by_distance(Z, c, n=5)
    ref = np.linalg.norm(Z - c, axis=1)
    np.testing.assert_allclose(all_d, ref, rtol=1e-5)
    assert rows[0] == ref.argmin() and rows[-1] == ref.argmax()
    assert np.all(np.diff(d) >= 0)
    cov = np.cov(Z, rowvar=False, bias=True)
    rows_m, dm, _ = rows_by_distance(Z, c, n=3, metric="mahalanobis", cov=cov)
    diff = Z - c
    ref_m = np.sqrt(np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff))
    assert rows_m[-1] == ref_m.argmax()
    with pytest.raises(ValueError, match="cov"):
        rows_by_distance(Z, c, metric="mahalanobis")


def test_pca_reconstructions_match_sklearn_and_name_bad_k(data):
    Z, st = data
    z = Z[7]
    sk = PCA().fit(Z.astype(np.float64))
    V = pca_reconstructions(st.pca, z, [1, 3, 6])
    for row, k in zip(V, [1, 3, 6]):
        coords = (z - sk.mean_) @ sk.components_[:k].T
        np.testing.assert_allclose(row, sk.mean_ + coords @ sk.components_[:k], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(V[-1], z, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="K \\(PCA components kept\\).*7"):
        pca_reconstructions(st.pca, z, [2, 7])


def test_path_in_plane_is_the_projection(data):
    Z, st = data
    P = np.linspace(0, 1, 5)[:, None] * Z.mean(axis=0)
    np.testing.assert_allclose(path_in_plane(P, 1, 4), P[:, [1, 4]], rtol=1e-6)


def test_slider_axes_are_one_sigma_long(data):
    from core.sampling.decode_views import slider_axes

    Z, st = data
    C = np.cov(Z.astype(np.float64), rowvar=False)
    names, A = slider_axes(st, "pca", 1, 4)
    assert names == ["PCA 1", "PCA 2", "PCA 3", "PCA 4"]
    # Independent: each axis is one Mahalanobis unit long and they are C^-1-orthogonal,
    # and they span sklearn's principal axes 1..4 (up to sign).
    np.testing.assert_allclose(A @ np.linalg.solve(C, A.T), np.eye(4), atol=1e-3)
    ref = PCA().fit(Z.astype(np.float64))
    for a, u, v in zip(A, ref.components_[1:5], ref.explained_variance_[1:5]):
        np.testing.assert_allclose(np.abs(a), np.abs(u) * np.sqrt(v), rtol=1e-3, atol=1e-4)
    names, A = slider_axes(st, "dominant", 0, 3)
    std = Z.astype(np.float64).std(axis=0, ddof=1)
    top = np.argsort(-std)[:3]
    assert names == [f"z{c}" for c in top]
    np.testing.assert_allclose(A[np.arange(3), top], std[top], rtol=1e-5)
    assert np.count_nonzero(A) == 3
    with pytest.raises(ValueError, match="0 … 2 so that 4 sliders.*got 3"):
        slider_axes(st, "pca", 3, 4)
    with pytest.raises(ValueError, match="'ica'"):
        slider_axes(st, "ica", 0, 2)
