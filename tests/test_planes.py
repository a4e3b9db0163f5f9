"""core.stats.planes: zoom windows (sigma units and absolute) and the pairs of a grid of planes."""

import numpy as np
import pytest

from core.stats.planes import grid_pairs, zoom_window


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(1)
    return rng.multivariate_normal([0.5, -1.0], [[4.0, 1.2], [1.2, 0.5]], 5000)


def _inside(P, xlim, ylim):
    return np.array([xlim[0] <= x <= xlim[1] and ylim[0] <= y <= ylim[1] for x, y in P])


def test_zoom_window_in_standard_deviations(points):
    xlim, ylim, inside = zoom_window(points, (1.0, -0.5), 0.75)
    mx, my = np.mean(points[:, 0]), np.mean(points[:, 1])
    sx, sy = np.std(points[:, 0]), np.std(points[:, 1])
    np.testing.assert_allclose(xlim, (mx + 0.25 * sx, mx + 1.75 * sx))
    np.testing.assert_allclose(ylim, (my - 1.25 * sy, my + 0.25 * sy))
    np.testing.assert_array_equal(inside, _inside(points, xlim, ylim))
    assert 0 < inside.sum() < len(points)


def test_zoom_window_in_absolute_coordinates(points):
    # The 'curse' post's zooms: a fixed square such as +-0.25 around a point.
    xlim, ylim, inside = zoom_window(points, (0.4, -0.9), 0.25, units="absolute")
    assert xlim == pytest.approx((0.15, 0.65)) and ylim == pytest.approx((-1.15, -0.65))
    ref = (np.abs(points[:, 0] - 0.4) <= 0.25) & (np.abs(points[:, 1] + 0.9) <= 0.25)
    np.testing.assert_array_equal(inside, ref)


@pytest.mark.parametrize("kw, match", [
    ({"half_width": 0.0}, "zoom half-width must be > 0.*got 0.0"),
    ({"half_width": -1}, "zoom half-width.*got -1"),
    ({"units": "pixels"}, "zoom units.*'pixels'"),
    ({"centre": (float("nan"), 0.0)}, "window centre x.*nan"),
])
def test_zoom_window_bad_input_names_the_value(points, kw, match):
    with pytest.raises(ValueError, match=match):
        zoom_window(points, **kw)
    with pytest.raises(ValueError, match=r"shape \(n, 2\).*\(5, 3\)"):
        zoom_window(np.zeros((5, 3)))


def test_grid_pairs_consecutive_and_against_next():
    assert grid_pairs("consecutive", 3, 20, n=6) == ([(3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14)], [])
    assert grid_pairs("against-next", 2, 20, n=6) == ([(2, 3), (2, 4), (2, 5), (2, 6), (2, 7), (2, 8)], [])
    # Near the end of z: the pairs beyond it are reported, not silently dropped.
    pairs, bad = grid_pairs("consecutive", 6, 10, n=3)
    assert pairs == [(6, 7), (8, 9)] and bad == [(10, 11)]
    pairs, bad = grid_pairs("against-next", 8, 10, n=3)
    assert pairs == [(8, 9)] and bad == [(8, 10), (8, 11)]


def test_grid_pairs_top_correlated_against_numpy():
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(4000, 7)) @ rng.normal(size=(7, 7))
    R = np.corrcoef(Z, rowvar=False)
    iu = np.triu_indices(7, k=1)
    order = np.argsort(-np.abs(R[iu]), kind="stable")
    ref = [(int(iu[0][k]), int(iu[1][k])) for k in order]
    pairs, bad = grid_pairs("top-correlated", 0, 7, correlation=R, n=16)
    assert pairs == ref[:16] and bad == []
    # More pairs asked for than there are: all of them.
    assert grid_pairs("top-correlated", 0, 7, correlation=R, n=30)[0] == ref


def test_grid_pairs_bad_input():
    with pytest.raises(ValueError, match="'diagonal'"):
        grid_pairs("diagonal", 0, 10)
    with pytest.raises(ValueError, match="needs the correlation"):
        grid_pairs("top-correlated", 0, 10)
    with pytest.raises(ValueError, match="n.*got 0"):
        grid_pairs("consecutive", 0, 10, n=0)
