"""core.stats.tsne: seed-scale t-SNE parameters, the cap, progress and the content cache."""

import numpy as np
import pytest
from sklearn.manifold import trustworthiness

from core.stats.tsne import MAX_TSNE_POINTS, check_tsne_params, tsne_map, tsne_of_latents


def clusters(n=300, d=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=8.0, size=(4, d))
    labels = rng.integers(0, 4, n)
    return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


def test_bad_requests_name_the_value_and_the_cap():
    with pytest.raises(ValueError, match=f"capped at {MAX_TSNE_POINTS:,}.*got 60,000"):
        check_tsne_params(60_000, 10, 16)
    with pytest.raises(ValueError, match="perplexity.*got 50"):
        check_tsne_params(100, 50, 12)
    with pytest.raises(ValueError, match="early exaggeration.*0.5"):
        check_tsne_params(100, 10, 0.5)
    with pytest.raises(ValueError, match="n \\(points\\).*got 5"):
        check_tsne_params(5, 1, 12)
    assert check_tsne_params(30_000, 10, 16, n_available=20_000) == (20_000, 10.0, 16.0)


def test_tsne_keeps_neighbourhoods_reports_progress_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_CACHE", str(tmp_path))
    X, labels = clusters()
    seen = []
    Y = tsne_map(X, perplexity=10, early_exaggeration=16, seed=0, progress=lambda f, t: seen.append(f))
    assert Y.shape == (300, 2) and np.isfinite(Y).all()
    # Independent quality check (scikit-learn): local neighbourhoods survive the map.
    assert trustworthiness(X, Y, n_neighbors=10) > 0.9
    # Clusters stay apart: each point's nearest map neighbour has its label.
    d = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert np.mean(labels[d.argmin(1)] == labels) > 0.97
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    again = []
    np.testing.assert_array_equal(tsne_map(X, 10, 16, seed=0, progress=lambda f, t: again.append(f)), Y)
    assert again == []  # a cache hit: no fit, no progress
    assert list(tmp_path.rglob("*.joblib"))


def test_tsne_of_latents_subsamples_and_maps_pca_coordinates(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_CACHE", str(tmp_path))
    X, _ = clusters(240)
    rows, Y = tsne_of_latents(X, 120, space="pca", n_dims=3, perplexity=10, seed=1)
    assert rows.shape == (120,) and np.all(np.diff(rows) > 0) and Y.shape == (120, 2)
    with pytest.raises(ValueError, match="n_dims"):
        tsne_of_latents(X, 200, space="pca", n_dims=99)
