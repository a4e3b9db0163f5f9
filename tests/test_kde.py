"""Tests for core.stats.kde against scipy.stats.gaussian_kde."""

import numpy as np
import pytest
from scipy import stats

import core.stats.kde as kde_mod
from core.stats.kde import hdr_levels, kde2d


def reference(kde, points, bw=None):
    X, Y = np.meshgrid(kde.xgrid, kde.ygrid)
    g = stats.gaussian_kde(points.T, bw_method=bw)
    return g(np.vstack([X.ravel(), Y.ravel()])).reshape(X.shape)


@pytest.fixture(scope="module")
def corr_points():
    rng = np.random.default_rng(0)
    return rng.multivariate_normal([1.0, -0.5], [[2.0, 1.7], [1.7, 1.6]], size=2000)


def test_matches_gaussian_kde_on_correlated_pair(corr_points):
    k = kde2d(corr_points, 128)
    ref = reference(k, corr_points)
    assert np.abs(k.density - ref).max() <= 0.005 * ref.max()
    assert k.density.shape == (128, 128)
    np.testing.assert_allclose(k.bandwidth, np.cov(corr_points.T) * 2000 ** (-1 / 3))


def test_matches_with_bw_override_rectangular_grid_and_zoom(corr_points):
    k = kde2d(corr_points, (96, 64), bw_factor=0.4, xlim=(0.0, 2.5), ylim=(-1.5, 0.5))
    assert k.density.shape == (64, 96)
    ref = reference(k, corr_points, bw=0.4)
    # Zoomed window: points outside it still contribute their tails.
    assert np.abs(k.density - ref).max() <= 0.005 * ref.max()


def test_axis_aligned_bandwidth_would_fail(corr_points):
    # Sanity check that the comparison can fail: a KDE with the diagonal of
    # the kernel covariance only is far off on this correlated pair.
    k = kde2d(corr_points, 128)
    X, Y = np.meshgrid(k.xgrid, k.ygrid)
    H = np.diag(np.diag(k.bandwidth))
    g = stats.multivariate_normal(cov=H)
    ref = np.mean([g.pdf(np.dstack([X - x, Y - y])) for x, y in corr_points[:400]], axis=0)
    own = kde2d(corr_points[:400], 128, xlim=(k.xgrid[0], k.xgrid[-1]),
                ylim=(k.ygrid[0], k.ygrid[-1]), bw_factor=k.factor)
    assert np.abs(own.density - ref).max() > 0.05 * ref.max()


def test_integrates_to_one(corr_points):
    k = kde2d(corr_points)
    assert k.mass_on_grid == pytest.approx(1.0, abs=1e-3)
    z = kde2d(corr_points, xlim=(1.0, 10.0), ylim=(-10.0, 10.0))  # half the plane
    assert 0.2 < z.mass_on_grid < 0.8


def test_hdr_level_matches_ellipse_density():
    rng = np.random.default_rng(1)
    cov = np.array([[1.0, 0.6], [0.6, 0.8]])
    P = rng.multivariate_normal([0, 0], cov, size=50000)
    k = kde2d(P, 128)
    sig = np.array([1.0, 2.0])
    masses = 1 - np.exp(-sig ** 2 / 2)
    levels = hdr_levels(k.density, masses, k.cell_area)
    assert levels[0] > levels[1]
    # True density on the Mahalanobis circle of radius n (smoothed by H).
    S = cov + k.bandwidth
    expected = np.exp(-sig ** 2 / 2) / (2 * np.pi * np.sqrt(np.linalg.det(S)))
    np.testing.assert_allclose(levels, expected, rtol=0.05)
    # Superlevel set holds the requested mass.
    for lv, m in zip(levels, masses):
        assert k.density[k.density >= lv].sum() * k.cell_area == pytest.approx(m, abs=0.01)


def test_hdr_levels_exact_on_toy_grid():
    d = np.array([[4.0, 3.0], [2.0, 1.0]])  # cell_area 0.1 -> masses 0.4 0.7 0.9 1.0
    lv = hdr_levels(d, [0.4, 0.7, 0.8], 0.1)
    np.testing.assert_allclose(lv, [4.0, 3.0, 2.5])
    assert np.isnan(hdr_levels(d * 0.5, [0.9], 0.1)[0])  # grid holds only 0.5


def test_bad_parameters(corr_points):
    with pytest.raises(ValueError, match="masses must be < 1.0, got 1.0"):
        hdr_levels(np.ones((2, 2)), [1.0], 1.0)
    with pytest.raises(ValueError, match="bw_factor must be > 0.0, got 0"):
        kde2d(corr_points, bw_factor=0)
    with pytest.raises(ValueError, match="gridsize must be >= 8, got 2"):
        kde2d(corr_points, gridsize=2)
    with pytest.raises(ValueError, match="xlim must have low < high"):
        kde2d(corr_points, xlim=(1, 0))
    with pytest.raises(ValueError, match="singular"):
        kde2d(np.column_stack([np.arange(10.0), 2 * np.arange(10.0)]))


def student_t(n, df, seed):
    shape = [[1.0, 0.5], [0.5, 1.0]]
    return stats.multivariate_t(loc=[0, 0], shape=shape, df=df).rvs(n, random_state=np.random.default_rng(seed))


@pytest.mark.parametrize("df, seed", [(3, 1), (1.5, 0), (1.5, 2)])
def test_heavy_tails_match_gaussian_kde(df, seed):
    # Outliers used to set the window (the range) and so the cell size: the
    # kernel fell between the nodes (old code on these clouds, 64 x 64:
    # 1.9 %, 3.9 %, 74 % of the peak).  Same bandwidth as gaussian_kde.
    P = student_t(3000, df, seed)
    k = kde2d(P, 64)
    ref = reference(k, P, bw=k.factor)
    assert np.abs(k.density - ref).max() <= 0.005 * ref.max()
    # The window comes from tail quantiles, not the range ...
    assert k.xgrid[-1] - k.xgrid[0] < 0.5 * np.ptp(P[:, 0]) or df == 3
    # ... yet holds nearly all the mass, and the HDR levels match the exact KDE's.
    assert k.mass_on_grid > 0.99
    masses = [0.3935, 0.8647, 0.9889]
    np.testing.assert_allclose(k.levels_for_masses(masses), hdr_levels(ref, masses, k.cell_area),
                               rtol=0.01)


@pytest.mark.parametrize("half", [1.0, 0.3, 0.1, 0.03])
def test_zoom_window_smaller_than_kernel(half):
    # Points far outside a small window still reach it with their kernels
    # (old code: 0.86 x the exact centre density at +-0.1, 0.26 x at +-0.03).
    rng = np.random.default_rng(0)
    P = rng.multivariate_normal([0, 0], [[1.0, 0.9], [0.9, 1.0]], 4000)
    k = kde2d(P, 64, xlim=(-half, half), ylim=(-half, half))
    ref = reference(k, P, bw=k.factor)
    assert np.abs(k.density - ref).max() <= 0.005 * ref.max()


def test_binning_correction_is_what_buys_the_accuracy(monkeypatch):
    # Sanity check that the comparison can fail: without the kernel narrowed
    # by the binning spread (cell^2 / 6), the coarse binning grid chosen by
    # default misses 0.5 % of the peak on this heavy-tailed cloud.
    import core.stats.kde as kde_module

    P = student_t(3000, 1.5, 2)
    monkeypatch.setattr(kde_module, "BINNING_CORRECTION", False)
    k = kde2d(P, 64)
    ref = reference(k, P, bw=k.factor)
    assert np.abs(k.density - ref).max() > 0.005 * ref.max()


def test_kde_contour_is_wider_than_the_ellipse():
    # A KDE of normal points estimates N(mu, (1 + h^2) Sigma): its HDR contour
    # of mass m is sqrt(1 + h^2) times the n-sigma ellipse, not the same curve.
    from core.stats.kde import kde_inflation

    rng = np.random.default_rng(2)
    P = rng.standard_normal((3000, 2))
    k = kde2d(P, 128, bw_factor=0.5)
    lv = k.levels_for_masses([1 - np.exp(-0.5)])[0]  # 1 sigma
    X, Y = np.meshgrid(k.xgrid, k.ygrid)
    inside = k.density >= lv
    radius = np.sqrt(inside.sum() * k.cell_area / np.pi)  # area of the 1-sigma contour
    assert kde_inflation(0.5) == pytest.approx(np.sqrt(1.25))
    assert radius == pytest.approx(kde_inflation(0.5), rel=0.03)


def test_needle_thin_kernel_stays_bounded():
    # |r| -> 1: the binning grid is capped (cells grow) instead of asking
    # for gigabytes; the result is finite and non-negative.
    rng = np.random.default_rng(0)
    x = rng.standard_normal(2000)
    P = np.column_stack([x, x + 1e-4 * rng.standard_normal(2000)])
    for lim in (None, (-0.01, 0.01)):
        k = kde2d(P, 32, xlim=lim, ylim=lim)
        assert np.all(np.isfinite(k.density)) and k.density.min() >= 0


# ---- issue 14: the compiled fast path and the peer of the benchmark


@pytest.mark.skipif(kde_mod._kde_kernel is None, reason="numba not installed")
def test_without_numba_the_numpy_passes_give_the_same_density(monkeypatch):
    # numba is optional: with the kernel module missing (None) kde2d bins and
    # picks its window with NumPy, and gives the same grid and density.
    rng = np.random.default_rng(3)
    P = rng.standard_t(4, size=(40_000, 2)) @ [[1.0, 0.6], [0.0, 0.8]] + [2.0, -1.0]
    fast = kde2d(P, 96)
    monkeypatch.setattr(kde_mod, "_kde_kernel", None)
    ref = kde2d(P, 96)
    np.testing.assert_allclose(fast.xgrid, ref.xgrid, rtol=1e-12)
    np.testing.assert_allclose(fast.ygrid, ref.ygrid, rtol=1e-12)
    np.testing.assert_allclose(fast.density, ref.density, rtol=1e-9, atol=1e-12 * ref.density.max())


def test_compiled_passes_equal_numpy_passes():
    # The numba passes (core.stats._kde_kernel) against the NumPy ones they replace.
    from core.stats import _kde_kernel as kk
    from core.stats.kde import _linear_binning

    rng = np.random.default_rng(5)
    P = rng.standard_t(3, size=(50_000, 2)) + [10.0, -3.0]
    x, y = P[:, 0], P[:, 1]
    mean, cov, lo, hi = kk.moments2(x, y)
    np.testing.assert_allclose(mean, P.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(P, rowvar=False), rtol=1e-10)
    np.testing.assert_array_equal(lo, P.min(axis=0))
    np.testing.assert_array_equal(hi, P.max(axis=0))
    for k in (0, 1, 49, 50_000 // 2):
        assert kk.order_stats(x, k, 50_000 - 1 - k, lo[0], hi[0]) == tuple(
            np.partition(x, [k, 50_000 - 1 - k])[[k, 50_000 - 1 - k]])
    args = (x, y, 8.0, 0.05, 90, -4.0, 0.04, 70)  # a zoom: many points fall outside
    np.testing.assert_allclose(kk.linear_binning(*args), _linear_binning(*args), atol=1e-9)


@pytest.mark.parametrize("n", [30_000, 200_000])
def test_benchmark_cloud_within_0_3_percent(n):
    # The benchmark's cloud (r = 0.85) at its sizes: error <= 0.3 % of the
    # peak at 600 random nodes + the peak's neighbourhood.
    rng = np.random.default_rng(n)
    P = rng.multivariate_normal([0.3, -0.2], [[1.0, 0.51], [0.51, 0.36]], size=n)
    k = kde2d(P, 128)
    iy, ix = np.unravel_index(np.argmax(k.density), k.density.shape)
    ys, xs = np.unravel_index(rng.choice(128 * 128, 600, replace=False), (128, 128))
    ys, xs = np.r_[ys, iy - 1, iy, iy + 1, iy, iy], np.r_[xs, ix, ix, ix, ix - 1, ix + 1]
    ref = stats.gaussian_kde(P.T)(np.vstack([k.xgrid[xs], k.ygrid[ys]]))
    assert np.abs(k.density[ys, xs] - ref).max() <= 0.003 * ref.max()


def test_kdepy_on_whitened_points_is_the_same_estimate():
    # Why the benchmark may compare against KDEpy's isotropic FFTKDE: on
    # whitened points it is the full-covariance Gaussian KDE (up to det L).
    KDEpy = pytest.importorskip("KDEpy")
    from core.bench.suite import whiten

    rng = np.random.default_rng(3)
    P = rng.multivariate_normal([1.0, -0.5], [[2.0, 1.7], [1.7, 1.6]], size=3000)
    W = whiten(P)
    factor = 3000 ** (-1 / 6)
    grid, dens = KDEpy.FFTKDE(bw=factor).fit(W).evaluate((128, 128))
    L = np.linalg.cholesky(np.cov(P, rowvar=False))
    back = grid @ L.T + P.mean(axis=0)
    ref = stats.gaussian_kde(P.T)(back.T)
    # (KDEpy bins without correction: ~0.5 % of the peak at 128 x 128.)
    np.testing.assert_allclose(dens / np.prod(np.diag(L)), ref, atol=0.01 * ref.max())
