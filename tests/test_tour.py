"""core.tour: every step on a synthetic correlated, off-centre cloud (no TensorFlow)."""

import numpy as np
import pytest
from scipy import stats as sstats

from core import tour
from core.stats.components import full_statistics


@pytest.fixture(scope="module")
def cloud():
    rng = np.random.default_rng(3)
    d, n = 12, 3000
    A = rng.normal(size=(d, d)) / np.sqrt(d)
    Z = (rng.normal(size=(n, d)) @ A + np.linspace(-2, 2, d)).astype(np.float32)
    return Z, full_statistics(Z)


def fake_decoder(V):
    V = np.asarray(V)
    return np.full((V.shape[0], 8, 8, 3), 0.5, dtype=np.float32)


def test_inside_fraction_matches_independent_mahalanobis(cloud):
    Z, st = cloud
    rng = np.random.default_rng(0)
    V = (Z.mean(axis=0) + rng.normal(scale=1.3, size=(500, Z.shape[1])) @ np.linalg.cholesky(
        np.cov(Z, rowvar=False)).T).astype(np.float32)
    diff = V - Z.mean(axis=0)
    d2 = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(np.cov(Z, rowvar=False)), diff)
    bound = sstats.chi2.ppf(sstats.norm.cdf(2) - sstats.norm.cdf(-2), Z.shape[1])
    assert tour.inside_fraction(V, st) == pytest.approx(np.mean(d2 <= bound), abs=1e-9)
    assert tour.inside_fraction(Z, st) > 0.9


@pytest.mark.parametrize("key", tour.STEP_KEYS)
def test_every_step_has_text_figure_and_link(cloud, key):
    Z, st = cloud
    step = tour.make_step(key, Z, st, fake_decoder, params={"n_draw": 300, "n_images": 4})
    assert step.key == key and step.title and len(step.text) > 80
    assert step.page.startswith("pages/") and step.figure.axes
    if key == "shell":
        assert step.facts["box_shell"] == pytest.approx(1.5 * np.sqrt(Z.shape[1] / 3))
    if key == "noise":
        assert "[−1.5, 1.5]" in step.text


def test_correlation_and_ellipsoid_steps_quote_the_top_pair_and_coverage(cloud):
    Z, st = cloud
    R = np.corrcoef(Z, rowvar=False)
    np.fill_diagonal(R, 0)
    i, j = np.unravel_index(np.argmax(np.abs(R)), R.shape)
    step = tour.make_step("correlation", Z, st, fake_decoder)
    assert set(step.facts["pair"]) == {i, j}
    assert step.facts["r"] == pytest.approx(R[i, j], abs=1e-6)
    ell = tour.make_step("ellipsoid", Z, st, fake_decoder, mark=Z[0])
    assert ell.query == {"space": "latent", "i": step.facts["pair"][0], "j": step.facts["pair"][1],
                         "sigmas": "1,2,3"}
    # A Gaussian cloud: the measured 2-sigma coverage is near 86.5 %.
    assert ell.facts["pca"][2.0] == pytest.approx(1 - np.exp(-2), abs=0.03)


def test_unknown_step_is_a_value_error(cloud):
    Z, st = cloud
    with pytest.raises(ValueError, match="'nine'"):
        tour.make_step("nine", Z, st, fake_decoder)
