"""core.run_views: the run-first computations the dashboard caches, against independent numpy/scipy/sklearn."""

import types

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA

from core import run_views
from core.stats.kde import kde2d


@pytest.fixture(scope="module")
def run():
    rng = np.random.default_rng(3)
    Z = (rng.normal(size=(1500, 5)) @ rng.normal(size=(5, 5)) * 0.5).astype(np.float32)
    attrs = pd.DataFrame({"glasses": (Z[:, 0] + 0.3 * rng.normal(size=1500) > 0).astype(int),
                          "age": Z[:, 1] + rng.normal(size=1500)})
    return types.SimpleNamespace(name="fake", latents=Z, attributes=attrs)


@pytest.fixture(scope="module")
def stats(run):
    return run_views.statistics(run)


def test_plane_latent_and_pca(run, stats):
    Z = run.latents
    np.testing.assert_array_equal(run_views.plane(run, 3, 1), Z[:, [3, 1]])
    ref = PCA().fit(Z.astype(np.float64)).transform(Z.astype(np.float64))[:, [0, 2]]
    got = run_views.plane(run, 0, 2, "pca", statistics=stats)
    # Principal axes are defined up to sign.
    np.testing.assert_allclose(np.abs(got), np.abs(ref), rtol=1e-4, atol=1e-4)
    # Alone (no statistics given) it computes the same PCA.
    np.testing.assert_allclose(run_views.plane(run, 0, 2, "pca"), got, rtol=1e-6, atol=1e-6)


def test_slice_mask_and_kde_of_a_slice(run, stats):
    Z = run.latents
    t = 1.0
    ref = np.all(np.abs(Z[:, [1, 3, 4]]) <= t, axis=1)
    mask = run_views.slice_mask(run, 0, 2, t)
    np.testing.assert_array_equal(mask, ref)
    assert 10 < mask.sum() < len(Z)
    k = run_views.plane_kde(run, 0, 2, t=t, gridsize=32)
    direct = kde2d(Z[ref][:, [0, 2]], gridsize=32)
    np.testing.assert_allclose(k.density, direct.density)
    assert k.n_samples == ref.sum()
    with pytest.raises(ValueError, match="0.0001"):
        run_views.slice_mask(run, 0, 2, 1e-4)
    assert not run_views.slice_mask(run, 0, 2, 1e-4, allow_empty=True).any()


def test_radii_and_component_column(run):
    Z = run.latents
    np.testing.assert_allclose(run_views.radii(run), np.linalg.norm(Z.astype(np.float64), axis=1), rtol=1e-6)
    col = run_views.component_column(run, 4)
    assert col.dtype == np.float32
    np.testing.assert_array_equal(col, Z[:, 4])
    with pytest.raises(ValueError, match="component.*5"):
        run_views.component_column(run, 5)


def test_typical_nn_distance_against_a_kd_tree(run):
    Z = run.latents.astype(np.float64)
    # m >= n: every row is a query, so the result does not depend on the subsample.
    dist, _ = cKDTree(Z).query(Z, k=2)
    assert run_views.typical_nn_distance(run, m=len(Z)) == pytest.approx(np.median(dist[:, 1]), rel=1e-5)
    sub = run_views.typical_nn_distance(run, m=200)
    assert sub == pytest.approx(np.median(dist[:, 1]), rel=0.25)


def test_rows_by_distance_from_the_centre(run, stats):
    Z = run.latents.astype(np.float64)
    c = Z.mean(axis=0)
    VI = np.linalg.inv(np.cov(Z, rowvar=False))
    rows, d, all_d = run_views.rows_by_distance(run, "mean", "mahalanobis", 4, statistics=stats)
    ref = cdist(Z, c[None], "mahalanobis", VI=VI)[:, 0]
    np.testing.assert_allclose(all_d, ref, rtol=1e-4)
    assert rows[0] == ref.argmin() and rows[-1] == ref.argmax()
    _, _, eu = run_views.rows_by_distance(run, "mean", "euclidean", 4, statistics=stats)
    np.testing.assert_allclose(eu, np.linalg.norm(Z - c, axis=1), rtol=1e-4)


def test_attribute_fit_checks_the_table(run, stats):
    from core.stats.attributes import attribute_direction

    fit = run_views.attribute_fit(run, "glasses", statistics=stats)
    ref = attribute_direction(run.latents, run.attributes["glasses"].to_numpy(), name="glasses", pca=stats.pca)
    np.testing.assert_allclose(fit["direction"], ref["direction"])
    assert fit["auc"] > 0.9
    assert run_views.attribute_columns(run) == (["glasses"], ["age"])
    with pytest.raises(ValueError, match="'hat' is not in"):
        run_views.attribute_fit(run, "hat", statistics=stats)
    short = types.SimpleNamespace(name="short", latents=run.latents, attributes=run.attributes.iloc[:10])
    with pytest.raises(ValueError, match="10 rows but there are 1500"):
        run_views.attribute_table(short, statistics=stats)
    none = types.SimpleNamespace(name="bare", latents=run.latents, attributes=None)
    with pytest.raises(ValueError, match="run bare has no attribute table"):
        run_views.attribute_fit(none, "glasses")


def test_direction_points(run, stats):
    fit = run_views.attribute_fit(run, "glasses", statistics=stats)
    P = run_views.direction_points(run, tuple(fit["unit"]), 1, statistics=stats)
    Z = run.latents.astype(np.float64) - stats.pca.mean_
    np.testing.assert_allclose(P[:, 0], Z @ fit["unit"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.abs(P[:, 1]), np.abs(Z @ stats.pca.components_[1]), rtol=1e-4, atol=1e-5)
