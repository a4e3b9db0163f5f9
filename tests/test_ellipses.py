"""Tests for core.stats.ellipses, including a comparison with matplotlib's
gallery ``confidence_ellipse`` construction."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.transforms as transforms  # noqa: E402
import re  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from core.stats.ellipses import (  # noqa: E402
    confidence_ellipse,
    ellipse_params,
    ellipse_points,
    measured_coverage,
    plane_coordinates,
    plane_ellipses,
    slice_mask,
    theoretical_coverage,
)
from core.stats.pca import LatentPCA  # noqa: E402


def gallery_path(x, y, n_std):
    """matplotlib gallery confidence_ellipse, returned as data-space vertices."""
    cov = np.cov(x, y)
    pearson = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    ell = Ellipse((0, 0), width=np.sqrt(1 + pearson) * 2, height=np.sqrt(1 - pearson) * 2)
    transf = (transforms.Affine2D().rotate_deg(45)
              .scale(np.sqrt(cov[0, 0]) * n_std, np.sqrt(cov[1, 1]) * n_std)
              .translate(np.mean(x), np.mean(y)))
    path = ell.get_patch_transform().transform_path(ell.get_path())
    return transf.transform_path(path)


def shoelace(p):
    return 0.5 * abs(np.dot(p[:-1, 0], p[1:, 1]) - np.dot(p[1:, 0], p[:-1, 1]))


@pytest.mark.parametrize("rho, sx, sy", [(0.8, 2.0, 0.5), (-0.6, 1.0, 3.0), (0.0, 1.5, 0.7)])
def test_same_curve_as_matplotlib_gallery(rho, sx, sy):
    rng = np.random.default_rng(0)
    cov = np.array([[sx * sx, rho * sx * sy], [rho * sx * sy, sy * sy]])
    P = rng.multivariate_normal([1.0, -2.0], cov, size=500)
    x, y = P[:, 0], P[:, 1]
    for n_std in (1.0, 2.5):
        p = confidence_ellipse(x, y, n_std)
        ref = gallery_path(x, y, n_std)
        Sinv = np.linalg.inv(np.cov(x, y))
        # Every vertex of matplotlib's curve lies on our ellipse (Bezier
        # control points are off the curve, so use the on-curve vertices).
        on_curve = ref.vertices[::3][:-1]
        mine = Ellipse(p.centre, p.width, p.height, angle=p.angle)
        diff = on_curve - np.array(p.centre)
        np.testing.assert_allclose(np.einsum("ij,jk,ik->i", diff, Sinv, diff), n_std ** 2,
                                   rtol=1e-9)
        # And ours traces the same curve: our points satisfy the same equation,
        # with the same extents and area as matplotlib's.
        pts = ellipse_points(p, 2001)
        diff = pts - np.array(p.centre)
        np.testing.assert_allclose(np.einsum("ij,jk,ik->i", diff, Sinv, diff), n_std ** 2,
                                   rtol=1e-9)
        ext_ref = ref.get_extents()
        ext_patch = mine.get_extents()  # in display = data coords (no axes)
        np.testing.assert_allclose([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(),
                                    pts[:, 1].max()],
                                   [ext_ref.x0, ext_ref.y0, ext_ref.x1, ext_ref.y1], rtol=1e-4,
                                   atol=1e-6)
        np.testing.assert_allclose([ext_patch.x0, ext_patch.y0, ext_patch.x1, ext_patch.y1],
                                   [ext_ref.x0, ext_ref.y0, ext_ref.x1, ext_ref.y1], rtol=1e-4,
                                   atol=1e-6)
        assert shoelace(pts) == pytest.approx(np.pi * p.width * p.height / 4, rel=1e-5)
        assert shoelace(pts) == pytest.approx(
            np.pi * n_std ** 2 * np.sqrt(np.linalg.det(np.cov(x, y))), rel=1e-5)


def test_axes_for_known_covariance():
    p = ellipse_params([0, 0], [[4.0, 0.0], [0.0, 1.0]], 2)
    assert (p.width, p.height, abs(p.angle)) == pytest.approx((8.0, 4.0, 0.0))
    p = ellipse_params([1, 1], [[2.0, 1.0], [1.0, 2.0]], 1)  # eigen 3 along 45 deg, 1
    assert (p.width, p.height, p.angle) == pytest.approx((2 * np.sqrt(3), 2.0, 45.0))
    p = ellipse_params([0, 0], [[1.0, 0.0], [0.0, 9.0]], 1)
    assert (p.width, p.height, abs(p.angle)) == pytest.approx((6.0, 2.0, 90.0))


@pytest.mark.parametrize("rho", [0.0, 0.9, -0.95])
def test_coverage_on_true_gaussian_any_eccentricity(rho):
    rng = np.random.default_rng(1)
    P = rng.multivariate_normal([0, 3], [[1, rho * 2], [rho * 2, 4]], size=40000)
    table = plane_ellipses(P, sigmas=(1, 2, 3))
    np.testing.assert_allclose(table["theory"], [0.3935, 0.8647, 0.9889], atol=1e-4)
    np.testing.assert_allclose(table["measured"], table["theory"], atol=0.006)
    assert measured_coverage(P, P.mean(0), np.cov(P, rowvar=False), 2) == table["measured"][1]
    assert theoretical_coverage(2) == pytest.approx(1 - np.exp(-2))


@pytest.fixture(scope="module")
def Z():
    rng = np.random.default_rng(2)
    return (rng.standard_normal((3000, 5)) @ (np.eye(5) + 0.3 * rng.standard_normal((5, 5)))
            ).astype(np.float32)


def test_plane_coordinates_latent_and_pca(tmp_path, Z):
    np.save(tmp_path / "z.npy", Z)
    mm = np.load(tmp_path / "z.npy", mmap_mode="r")
    assert np.array_equal(plane_coordinates(mm, 3, 1, chunk_rows=700), Z[:, [3, 1]])
    pca = LatentPCA().fit(Z)
    V = pca.transform(Z)
    np.testing.assert_allclose(plane_coordinates(mm, 0, 2, space="pca", pca=pca), V[:, [0, 2]],
                               atol=1e-10)
    np.testing.assert_allclose(plane_coordinates(Z, 0, 2, space="pca"), V[:, [0, 2]], atol=1e-10)


def test_slice_mask(Z):
    m = slice_mask(Z, 0, 1, 0.8, chunk_rows=500)
    ref = np.all(np.abs(Z[:, 2:]) <= 0.8, axis=1)
    assert np.array_equal(m, ref) and 0 < m.sum() < len(Z)
    pca = LatentPCA().fit(Z)
    V = pca.transform(Z)
    mp = slice_mask(Z, 1, 3, 1.0, space="pca", pca=pca)
    assert np.array_equal(mp, np.all(np.abs(V[:, [0, 2, 4]]) <= 1.0, axis=1))


def test_bad_parameters(Z):
    with pytest.raises(ValueError, match="t=0.001"):
        slice_mask(Z, 0, 1, 0.001)
    with pytest.raises(ValueError, match="t must be > 0.0, got -1"):
        slice_mask(Z, 0, 1, -1)
    with pytest.raises(ValueError, match="j must be <= 4, got 9"):
        plane_coordinates(Z, 0, 9)
    with pytest.raises(ValueError, match="i = j = 2"):
        plane_coordinates(Z, 2, 2)
    with pytest.raises(ValueError, match="j must be <= 1, got 3"):
        plane_coordinates(Z, 0, 3, space="pca", pca=LatentPCA(n_components=2).fit(Z))
    with pytest.raises(ValueError, match="'polar'"):
        plane_coordinates(Z, 0, 1, space="polar")
    with pytest.raises(ValueError, match="sigma must be > 0.0, got 0"):
        plane_ellipses(Z[:, :2], sigmas=(1, 0))
    with pytest.raises(ValueError, match="n_std must be > 0.0, got -2"):
        ellipse_params([0, 0], np.eye(2), -2)


def test_flat_pair_is_refused_not_given_a_1d_coverage():
    # Old code: a constant second column gave height 0 and "measured" 0.679 /
    # 0.958 / 0.996 (the 1-D fractions) next to the 2-D theory 0.393 / 0.865 / 0.989.
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000)
    with pytest.raises(ValueError, match="singular 2-D covariance.*second coordinate is constant"):
        plane_ellipses(np.column_stack([x, np.zeros(1000)]))
    with pytest.raises(ValueError, match="collinear"):
        plane_ellipses(np.column_stack([x, 2 * x + 1]))
    with pytest.raises(ValueError, match="first coordinate is constant"):
        measured_coverage(np.column_stack([np.ones(1000), x]), [1, 0], np.diag([0.0, 1.0]), 2)


# ---------------------------------------------------------------- issue 11: empty slices, typed sigma levels

def test_slice_mask_allow_empty_returns_all_false_instead_of_raising():
    from core.stats.ellipses import slice_mask

    Z = np.random.default_rng(0).normal(size=(200, 10)).astype(np.float32)
    with pytest.raises(ValueError, match="t=1e-06"):
        slice_mask(Z, 0, 1, 1e-6)
    mask = slice_mask(Z, 0, 1, 1e-6, allow_empty=True)
    assert mask.shape == (200,) and not mask.any()
    ref = np.all(np.abs(Z[:, 2:]) <= 1.5, axis=1)
    np.testing.assert_array_equal(slice_mask(Z, 0, 1, 1.5, allow_empty=True), ref)


def test_check_sigmas_parses_typed_levels_and_names_bad_ones():
    from core.stats.ellipses import check_sigmas

    assert check_sigmas([3, "2.2", 1.0, "2,2", "1 σ"]) == (1.0, 2.2, 3.0)
    for bad in ["0", -1, float("nan"), "inf", "abc", None]:
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            check_sigmas([1.0, bad])


def test_plot_empty_slice_draws_overlay_and_zero_count():
    from matplotlib.figure import Figure

    from core.plotting import plot_empty_slice

    rng = np.random.default_rng(1)
    ref = rng.normal(size=(500, 2))
    over = rng.uniform(-1.5, 1.5, size=(40, 2))
    ax = Figure().add_subplot()
    out = plot_empty_slice(ax, ref, 500, 1.5, overlay=over, overlay_label="uniform")
    assert out["text"].get_text().startswith("0 of 500 points")
    np.testing.assert_allclose(out["overlay"].get_offsets(), over)


@pytest.mark.parametrize("rho", [0.0, 0.8, -0.95])
def test_measured_coverage_counts_mahalanobis_radius_exactly(rho):
    # Points placed at Mahalanobis radius 0.995 n and 1.005 n of a known 2-D
    # normal (scipy's distance as the reference): a distance off by 1 % flips
    # every one of them.
    from scipy.spatial.distance import mahalanobis

    mean = np.array([1.5, -0.5])
    cov = np.array([[2.0, rho * np.sqrt(2.0) * 0.7], [rho * np.sqrt(2.0) * 0.7, 0.49]])
    L = np.linalg.cholesky(cov)
    angles = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    unit = np.column_stack([np.cos(angles), np.sin(angles)])
    inv = np.linalg.inv(cov)
    for n_std in (1.0, 2.0, 3.0):
        near_in = mean + 0.995 * n_std * unit @ L.T
        near_out = mean + 1.005 * n_std * unit @ L.T
        assert mahalanobis(near_in[0], mean, inv) == pytest.approx(0.995 * n_std, rel=1e-12)
        assert measured_coverage(near_in, mean, cov, n_std) == 1.0
        assert measured_coverage(near_out, mean, cov, n_std) == 0.0
        both = np.vstack([near_in, near_out])
        assert measured_coverage(both, mean, cov, n_std) == 0.5
