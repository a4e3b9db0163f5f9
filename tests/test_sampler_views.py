"""core.sampling.sampler_views: the Samplers page's computations, checked against independent ones."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis

from core import planefigs
from core.data.images import make_grid
from core.sampling import sampler_views as sv
from core.sampling.samplers import make_sampler
from core.stats.components import full_statistics
from core.stats.ellipses import plane_ellipses


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6)) * [1.0, 0.8, 0.6, 0.4, 0.3, 0.2]
    Z = (rng.standard_normal((1000, 6)) @ A + [0.5, -0.2, 0, 0, 0.1, 0]).astype(np.float32)
    return SimpleNamespace(latents=Z, z_dim=6, name="fake")


def test_fit_and_sample_are_the_samplers_own_on_the_first_90_percent(run):
    params = (("level", 2.0), ("n_components", 4))
    own = make_sampler("pca-ellipse", n_components=4, level=2.0).fit(run.latents[:900])
    V = sv.sample(run, "pca-ellipse", params, 300, 7)
    np.testing.assert_array_equal(V, own.sample(300, random_state=7))
    np.testing.assert_array_equal(sv.sample_pca(run, params, 300, 7), own.sample_pca(300, random_state=7))
    fitted = sv.fitted_sampler(run, "pca-ellipse", params)
    np.testing.assert_array_equal(sv.sample(run, "pca-ellipse", params, 300, 7, fitted=fitted), V)
    with pytest.raises(ValueError, match="-1"):
        sv.fitted_sampler(run, "uniform", (("b", -1.0),))


def test_plane_layers_latent_and_pca_against_numpy(run):
    Z = run.latents.astype(np.float64)
    lat = sv.plane_layers(run, 1, 4, "latent", (1.0, 2.0, 3.0))
    np.testing.assert_array_equal(lat.points, Z[:, [1, 4]])
    np.testing.assert_allclose(lat.mean, Z[:, [1, 4]].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(lat.cov, np.cov(Z[:, 1], Z[:, 4]), rtol=1e-12)
    assert lat.ellipses.equals(plane_ellipses(Z[:, [1, 4]], (1.0, 2.0, 3.0)))

    stats = full_statistics(run.latents, bin_width=0.25)
    C, mu = stats.pca.components_, stats.pca.mean_
    want = (Z - mu) @ C[[0, 2]].T
    for leading in (None, sv.pca_leading(run, statistics=stats, k=3)):
        got = sv.plane_layers(run, 0, 2, "pca", (2.5,), statistics=stats, leading=leading)
        np.testing.assert_allclose(got.points, want, rtol=1e-9, atol=1e-12)
        assert got.sigmas == (2.5,) and list(got.ellipses["sigma"]) == [2.5]
    # an axis beyond the leading ones: projected directly
    far = sv.plane_layers(run, 0, 5, "pca", statistics=stats, leading=sv.pca_leading(run, statistics=stats, k=3))
    np.testing.assert_allclose(far.points, (Z - mu) @ C[[0, 5]].T, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="differ"):
        sv.plane_layers(run, 2, 2, "pca", statistics=stats, leading=sv.pca_leading(run, statistics=stats))
    with pytest.raises(ValueError, match="7"):
        sv.plane_layers(run, 0, 7, "latent")


def test_sigma_levels():
    assert sv.sigma_levels(2.0) == (1.0, 2.0, 3.0)
    assert sv.sigma_levels("2.2") == (2.2,)
    with pytest.raises(ValueError, match="ellipse level"):
        sv.sigma_levels(0)


def test_overlay_titles_give_the_fraction_inside_the_mahalanobis_ellipse(run, monkeypatch):
    seen = {}
    real = planefigs.plane_overlay_pngs

    def spy(points, overlays, titles, **kw):
        seen.update(points=points, overlays=overlays, titles=titles, **kw)
        return real(points, overlays, titles, **kw)

    monkeypatch.setattr(planefigs, "plane_overlay_pngs", spy)
    drawn = [("mvn", ()), ("uniform", (("b", 1.0),))]
    pngs = sv.plane_overlay_pngs(run, drawn, 400, 3, "latent", 0, 1, 50, ["mvn", "box"], sigma=1.5)
    assert len(pngs) == 2 and all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    P = run.latents[:, [0, 1]].astype(np.float64)
    VI = np.linalg.inv(np.cov(P, rowvar=False))
    for (name, params), label, title, over in zip(drawn, ["mvn", "box"], seen["titles"], seen["overlays"]):
        V = sv.sample(run, name, params, 400, 3)[:, [0, 1]].astype(np.float64)
        inside = np.mean([mahalanobis(v, P.mean(axis=0), VI) <= 1.5 for v in V])  # all 400, not the 50 drawn
        assert title == f"{label}: {inside:.0%} of its vectors\ninside the data's 1.5σ ellipse"
        np.testing.assert_array_equal(over, V[:50])
    assert seen["sigmas"] == (1.5,) and seen["labels"] == ("z0", "z1")
    with pytest.raises(ValueError, match="vectors drawn per plot"):
        sv.plane_overlay_pngs(run, drawn, 400, 3, "latent", 0, 1, 0, ["mvn", "box"])


def test_decoded_grid_decodes_the_first_m_vectors(run):
    calls = []

    def decode(V):
        calls.append(V.copy())
        return np.repeat(np.clip(V[:, :4, None, None] * 0 + 0.5, 0, 1), 3, axis=-1).reshape(len(V), 2, 2, 3)

    grid = sv.decoded_grid(run, "mvn", (), 100, 1, m=6, n_cols=3, decode_fn=decode)
    V = sv.sample(run, "mvn", (), 100, 1)[:6]
    np.testing.assert_array_equal(calls[0], V.astype(np.float32))
    np.testing.assert_array_equal(grid, make_grid(decode(V.astype(np.float32)), n_cols=3))


def test_a_fitted_sampler_may_come_lazily(run):
    asked = []

    def fitted():
        asked.append(1)
        return sv.fitted_sampler(run, "mvn", ())

    np.testing.assert_array_equal(sv.sample(run, "mvn", (), 50, 2, fitted=fitted), sv.sample(run, "mvn", (), 50, 2))
    assert asked == [1]


def test_pca_overlays_from_the_leading_coordinates_equal_the_direct_projection(run, monkeypatch):
    stats = full_statistics(run.latents, bin_width=0.25)
    seen = []
    real = planefigs.plane_overlay_pngs
    monkeypatch.setattr(planefigs, "plane_overlay_pngs",
                        lambda points, overlays, titles, **kw: seen.append((overlays, titles)) or real(
                            points, overlays, titles, **kw))
    drawn = [("mvn", ()), ("per-component", ())]
    lead = sv.sample_leading(run, "mvn", (), 300, 0, statistics=stats, k=3)
    C, mu = stats.pca.components_, stats.pca.mean_
    V = sv.sample(run, "mvn", (), 300, 0).astype(np.float64)
    np.testing.assert_allclose(lead, (V - mu) @ C[:3].T, rtol=1e-9, atol=1e-12)
    for i, j in ((0, 2), (1, 4)):  # inside the 3 leading axes, and beyond them
        for leading in (None, lambda *a: sv.sample_leading(run, *a, statistics=stats, k=3)):
            sv.plane_overlay_pngs(run, drawn, 300, 0, "pca", i, j, 100, ["a", "b"], statistics=stats,
                                  leading=leading)
        (direct, t1), (picked, t2) = seen[-2:]
        assert t1 == t2
        for a, b in zip(direct, picked):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
