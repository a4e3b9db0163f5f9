"""Tests for core.stats.components: moments, histograms, mu/hw, fits, shells."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import core.stats.components as components_mod
from core.stats.components import (
    HWHM_PER_SIGMA,
    component_histograms,
    component_table,
    dominant_components,
    full_statistics,
    gaussian_shell,
    peak_and_half_width,
    radius_distribution,
    uniform_box_shell,
)


@pytest.fixture(scope="module")
def gauss():
    rng = np.random.default_rng(0)
    means = np.array([0.0, 2.0, -1.0, 0.5, 0.0])
    stds = np.array([1.0, 0.5, 2.0, 1.5, 3.0])
    return (rng.standard_normal((40000, 5)) * stds + means).astype(np.float32), means, stds


def test_table_moments_match_scipy(gauss):
    Z, _, _ = gauss
    t = component_table(Z, chunk_rows=7000)  # several chunks, uneven last one
    Z64 = Z.astype(np.float64)
    np.testing.assert_allclose(t["mean"], Z64.mean(0), atol=1e-9)
    np.testing.assert_allclose(t["std"], Z64.std(0, ddof=1), rtol=1e-9)
    np.testing.assert_allclose(t["skewness"], stats.skew(Z64, axis=0), atol=1e-8)
    np.testing.assert_allclose(t["kurtosis"], stats.kurtosis(Z64, axis=0), atol=1e-8)
    assert list(t["component"]) == list(range(5))


def test_table_mu_hw_and_fit_recover_gaussians(gauss):
    Z, means, stds = gauss
    t = component_table(Z)
    # mu is a bin centre (multiple of 0.25) near the true peak.
    assert np.allclose(t["mu"] / 0.25, np.round(t["mu"] / 0.25))
    assert np.all(np.abs(t["mu"] - means) <= 0.25 + 0.1 * stds)
    np.testing.assert_allclose(t["hw"], HWHM_PER_SIGMA * stds, rtol=0.08)
    np.testing.assert_allclose(t["fit_centre"], means, atol=0.05)
    np.testing.assert_allclose(t["fit_sigma"], stds, rtol=0.03)
    # Amplitude in counts per bin: n * w / (sqrt(2 pi) sigma).
    np.testing.assert_allclose(t["fit_amplitude"], 40000 * 0.25 / (np.sqrt(2 * np.pi) * stds),
                               rtol=0.05)
    assert (t["fit_r2"] > 0.99).all()
    assert (t["normality_p"] > 1e-3).all()


def test_non_gaussian_component_detected():
    rng = np.random.default_rng(1)
    Z = np.column_stack([rng.standard_normal(20000), rng.exponential(size=20000)])
    t = component_table(Z, normality_max_n=2000)
    assert t.loc[1, "normality_p"] < 1e-6 and t.loc[1, "skewness"] > 1.5
    assert t.loc[1, "fit_r2"] < t.loc[0, "fit_r2"]
    # Same seed -> same subsample -> same p-values.
    t2 = component_table(Z, normality_max_n=2000)
    assert np.array_equal(t["normality_p"].to_numpy(), t2["normality_p"].to_numpy())


def test_peak_and_half_width_interpolates():
    centres = np.arange(7, dtype=float)
    counts = np.array([0, 2, 6, 10, 6, 2, 0], float)
    mu, hw = peak_and_half_width(centres, counts)
    # Half max 5 crossed at 1 + 3/4 and 5 - 3/4 (linear interpolation).
    assert mu == 3.0 and hw == pytest.approx(1.25)
    # Peak at the edge: the histogram's outer edge bounds the width.
    mu, hw = peak_and_half_width(centres, np.array([10, 4, 1, 0, 0, 0, 0], float))
    assert mu == 0.0 and hw == pytest.approx(((1 - 1 / 6) - (-0.5)) / 2)


def test_histograms_shared_edges_match_numpy(gauss):
    Z, _, _ = gauss
    h = component_histograms(Z, bin_width=0.5, components=[2, 0])
    assert h.counts.shape == (2, len(h.edges) - 1)
    assert list(h.components) == [2, 0]
    assert np.allclose(h.centres / 0.5, np.round(h.centres / 0.5))
    for row, c in enumerate(h.components):
        ref, _ = np.histogram(Z[:, c], h.edges)
        assert np.array_equal(h.counts[row], ref)
    assert h.counts.sum() == 2 * Z.shape[0]
    np.testing.assert_allclose((h.density() * 0.5).sum(axis=1), 1.0)


def test_histograms_memmap(tmp_path, gauss):
    Z, _, _ = gauss
    path = tmp_path / "z.npy"
    np.save(path, Z)
    mm = np.load(path, mmap_mode="r")
    a = component_histograms(mm)
    b = component_histograms(Z)
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.edges, b.edges)


def test_dominant_components():
    t = pd.DataFrame({"component": range(5), "mu": [0.0, -3.0, 1.0, 2.0, 0.25],
                      "mean": [0.0] * 5, "hw": [1.0, 0.5, 4.0, 1.0, 2.0], "std": [1.0] * 5})
    assert list(dominant_components(t, 2, by="mu")["component"]) == [1, 3]
    top = dominant_components(t, 3, by="width")
    assert list(top["component"]) == [2, 4, 0] and list(top["rank"]) == [1, 2, 3]
    with pytest.raises(ValueError, match="'size'"):
        dominant_components(t, by="size")
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        dominant_components(t, n=0)


def test_radius_distribution(gauss):
    Z, _, _ = gauss
    np.testing.assert_allclose(radius_distribution(Z, chunk_rows=999),
                               np.linalg.norm(Z.astype(np.float64), axis=1), rtol=1e-12)


def test_uniform_box_shell_matches_simulation():
    rng = np.random.default_rng(2)
    b, d = 1.5, 256
    r = np.linalg.norm(rng.uniform(-b, b, size=(20000, d)), axis=1)
    shell = uniform_box_shell(b, d)
    assert shell["mean"] == pytest.approx(b * np.sqrt(d / 3))
    assert r.mean() == pytest.approx(shell["mean_corrected"], rel=2e-3)
    assert r.mean() == pytest.approx(shell["mean"], rel=5e-3)
    assert r.std() == pytest.approx(shell["std"], rel=0.05)
    assert (r ** 2).var() == pytest.approx(shell["var_sq"], rel=0.05)


def test_gaussian_shell_matches_simulation():
    rng = np.random.default_rng(3)
    r = np.linalg.norm(rng.standard_normal((20000, 64)) * 2.0, axis=1)
    g = gaussian_shell(64, sigma=2.0)
    assert r.mean() == pytest.approx(g["mean"], rel=2e-3)
    assert r.std() == pytest.approx(g["std"], rel=0.05)


def test_full_statistics_consistent(gauss):
    Z, _, _ = gauss
    rng = np.random.default_rng(4)
    Zc = Z.astype(np.float64) @ (np.eye(5) + 0.4 * rng.standard_normal((5, 5)))
    s = full_statistics(Zc)
    np.testing.assert_allclose(s.correlation, np.corrcoef(Zc, rowvar=False), atol=1e-10)
    np.testing.assert_allclose(s.pca.explained_variance_.sum(), np.var(Zc, 0, ddof=1).sum())
    assert s.threshold_counts["n_pairs"].iloc[0] <= 10
    assert len(s.table) == 5 and s.histograms.counts.shape[0] == 5


@pytest.mark.parametrize("kwargs, match", [
    ({"bin_width": 0}, "bin_width must be > 0.0, got 0"),
    ({"bin_width": -0.25}, "bin_width"),
    ({"normality_max_n": 3}, "normality_max_n must be >= 8, got 3"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        component_table(np.ones((10, 2)), **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="NaN"):
        component_table(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="components must be <= 1, got 5"):
        component_histograms(np.ones((4, 2)), components=[5])
    with pytest.raises(ValueError, match="b must be > 0.0, got -1"):
        uniform_box_shell(-1, 10)


def test_constant_column_gives_nan_fit_not_crash():
    Z = np.column_stack([np.zeros(100), np.random.default_rng(0).standard_normal(100)])
    t = component_table(Z)
    assert t.loc[0, "std"] == 0 and np.isnan(t.loc[0, "fit_sigma"])
    assert np.isnan(t.loc[0, "hw"])  # a spike: no half-width to read off the histogram


def test_outlier_range_too_wide_for_bin_width():
    Z = np.zeros((10, 3))
    Z[3, 1] = 1e5
    with pytest.raises(ValueError, match="bin_width=0.25 gives 400001 bins"):
        component_table(Z)
    assert component_table(Z, bin_width=10.0).loc[1, "mu"] == 0.0


def test_hw_below_bin_resolution_is_a_message_not_a_number():
    # sigma = 0.1 with bin width 0.25: the old hw was 1.2-2.1 x the true HWHM
    # (depending on where the peak falls in its bin).  Now NaN plus a message.
    from core.stats.components import HW_MIN_BINS, unresolved_hw_message

    rng = np.random.default_rng(0)
    Z = rng.standard_normal((20000, 3)) * np.array([0.1, 0.25, 1.0]) + np.array([0.125, 0.0, 0.0])
    t = component_table(Z)
    assert np.isnan(t.loc[0, "hw"])
    true = HWHM_PER_SIGMA * np.array([0.25, 1.0])
    assert np.all(t["hw"].to_numpy()[1:] <= 1.15 * true) and np.all(t["hw"].to_numpy()[1:] >= 0.95 * true)
    msg = unresolved_hw_message(t, 0.25)
    assert "1 component(s) (0)" in msg and "bin_width=0.25" in msg and f"{HW_MIN_BINS:g} bins" in msg
    # A fine enough bin width resolves it, and the message goes away.
    t2 = component_table(Z, bin_width=0.02)
    assert t2.loc[0, "hw"] == pytest.approx(HWHM_PER_SIGMA * 0.1, rel=0.08)
    assert unresolved_hw_message(t2, 0.02) is None


# ---- issue 14: the one-pass float32 path (compiled histograms + float32 GEMM)


def _correlated32(n=30_000, d=12, seed=7):
    rng = np.random.default_rng(seed)
    A = np.eye(d) + 0.5 * rng.standard_normal((d, d))
    return (2.0 + rng.standard_t(6, size=(n, d)) @ A).astype(np.float32)


def test_one_pass_float32_statistics_equal_the_numpy_passes():
    # float32 input takes the compiled one-pass route; the float64 copy the
    # NumPy passes.  Same bins (identical counts), same table, same PCA.
    Z = _correlated32()
    fast = full_statistics(Z)
    ref = full_statistics(Z.astype(np.float64))
    np.testing.assert_array_equal(fast.histograms.edges, ref.histograms.edges)
    np.testing.assert_array_equal(fast.histograms.counts, ref.histograms.counts)
    for col in ("mean", "std", "mu", "skewness", "kurtosis", "normality_p"):
        np.testing.assert_allclose(fast.table[col], ref.table[col], rtol=1e-7, atol=1e-9, err_msg=col)
    for col in ("fit_amplitude", "fit_centre", "fit_sigma", "fit_r2"):
        np.testing.assert_allclose(fast.table[col], ref.table[col], rtol=1e-5, err_msg=col)
    Z64 = Z.astype(np.float64)
    np.testing.assert_allclose(fast.correlation, np.corrcoef(Z64, rowvar=False), atol=1e-7)
    ev = np.linalg.eigvalsh(np.cov(Z64, rowvar=False))[::-1]
    np.testing.assert_allclose(fast.pca.explained_variance_, ev, rtol=1e-6)
    # Moments against scipy directly.
    np.testing.assert_allclose(fast.table["skewness"], stats.skew(Z64), rtol=1e-6)
    np.testing.assert_allclose(fast.table["kurtosis"], stats.kurtosis(Z64), rtol=1e-6)


@pytest.mark.skipif(components_mod._stats_kernel is None, reason="numba not installed")
def test_without_numba_the_numpy_passes_give_the_same_statistics(monkeypatch):
    # numba is optional: with the kernel module missing (None) the float32
    # input takes the NumPy passes and scipy's curve_fit, with the same result.
    Z = _correlated32(8000, 6)
    fast = full_statistics(Z)
    monkeypatch.setattr(components_mod, "_stats_kernel", None)
    ref = full_statistics(Z)
    np.testing.assert_array_equal(fast.histograms.counts, ref.histograms.counts)
    for col in ("mean", "std", "mu", "hw", "skewness", "kurtosis", "normality_p"):
        np.testing.assert_allclose(fast.table[col], ref.table[col], rtol=1e-6, atol=1e-9, err_msg=col)
    for col in ("fit_amplitude", "fit_centre", "fit_sigma", "fit_r2"):
        np.testing.assert_allclose(fast.table[col], ref.table[col], rtol=1e-5, err_msg=col)
    np.testing.assert_allclose(fast.pca.explained_variance_, ref.pca.explained_variance_, rtol=1e-6)


def test_compiled_gaussian_fit_equals_curve_fit():
    from scipy import optimize

    from core.stats import _stats_kernel as kk
    from core.stats.components import _gauss, _gauss_jac

    rng = np.random.default_rng(1)
    for trial in range(20):
        mu, sd = rng.uniform(-2, 2), rng.uniform(0.2, 3)
        data = rng.normal(mu, sd, 5000) if trial % 2 else rng.standard_t(4, 5000) * sd + mu
        counts, edges = np.histogram(data, bins=np.arange(-30, 31) * 0.25 + 0.125)
        x = (edges[:-1] + edges[1:]) / 2
        y = counts.astype(float)
        p0 = (y.max(), data.mean(), data.std())
        ref, _ = optimize.curve_fit(_gauss, x, y, p0=p0, jac=_gauss_jac, maxfev=2000)
        a, c, s, ok = kk.fit_gaussian(x, y, *p0, 2000)
        assert ok == 1
        # The same minimum (curve_fit stops at a relative step of 1.5e-8,
        # ours later), and never a worse one.
        np.testing.assert_allclose([a, c, abs(s)], [ref[0], ref[1], abs(ref[2])], rtol=1e-5, atol=1e-8)
        cost = np.sum((y - _gauss(x, a, c, s)) ** 2)
        assert cost <= np.sum((y - _gauss(x, *ref)) ** 2) * (1 + 1e-9)


def test_one_pass_refuses_nan_with_count():
    Z = _correlated32(2000, 4)
    Z[5, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        full_statistics(Z)


def test_one_pass_threads_give_the_same_statistics_on_any_core_count(monkeypatch):
    # Issue 14: the one pass runs in the Gram pass's threads, one histogram/moment
    # accumulator per fixed row range, joined in range order.  The ranges here see
    # different data ranges (the join must widen the bins), and the result must not
    # depend on how many threads ran them.
    from core.stats import gram

    Z = _correlated32(40_000, 6)
    Z[3] = -9.0        # the first range reaches lowest
    Z[39_000] = 11.0   # the last range highest
    got = {}
    for workers in (1, 2, 3):
        monkeypatch.setattr(gram, "_n_threads", lambda w=workers: w)
        got[workers] = full_statistics(Z)
    for workers in (2, 3):
        np.testing.assert_array_equal(got[1].histograms.counts, got[workers].histograms.counts)
        np.testing.assert_array_equal(got[1].histograms.edges, got[workers].histograms.edges)
        pd.testing.assert_frame_equal(got[1].table, got[workers].table)
        np.testing.assert_array_equal(got[1].correlation, got[workers].correlation)
    counts = got[1].histograms.counts
    edges = got[1].histograms.edges
    for j in range(Z.shape[1]):
        np.testing.assert_array_equal(counts[j], np.histogram(Z[:, j].astype(np.float64), bins=edges)[0])
