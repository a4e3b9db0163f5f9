"""Tests for core.mnd: Mahalanobis distances and the chi-square comparison."""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist

from core.mnd import chi2_qq, ellipsoid_fraction, k_sigma_probability, mahalanobis_sq, mnd_summary


@pytest.fixture(scope="module")
def mnd():
    rng = np.random.default_rng(0)
    d = 8
    A = rng.standard_normal((d, d)) * 0.5 + np.eye(d)
    cov = A @ A.T
    mean = rng.standard_normal(d)
    return rng.multivariate_normal(mean, cov, size=40000), mean, cov


def test_mahalanobis_matches_scipy(mnd):
    Z, mean, cov = mnd
    d2 = mahalanobis_sq(Z[:500], mean, cov, chunk_rows=77)
    ref = cdist(Z[:500], mean[None], "mahalanobis", VI=np.linalg.inv(cov))[:, 0] ** 2
    np.testing.assert_allclose(d2, ref, rtol=1e-9)


def test_rank_deficient_uses_pseudo_inverse():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2000, 3))
    Z = np.column_stack([X, X[:, 0] + X[:, 1]])  # rank 3 in 4-D
    mean, cov = Z.mean(0), np.cov(Z, rowvar=False)
    d2, rank = mahalanobis_sq(Z, mean, cov, return_rank=True)
    assert rank == 3
    ref = cdist(X, X.mean(0)[None], "mahalanobis", VI=np.linalg.inv(np.cov(X, rowvar=False)))[:, 0]
    np.testing.assert_allclose(d2, ref ** 2, rtol=1e-7)


def test_true_mnd_passes_chi2_check(mnd):
    Z, mean, cov = mnd
    d2 = mahalanobis_sq(Z, mean, cov)
    qq = chi2_qq(d2, 8)
    assert qq["ks_pvalue"] > 0.01 and qq["ks_statistic"] < 0.01
    np.testing.assert_allclose(qq["empirical"][10:-10], qq["theoretical"][10:-10], rtol=0.05)
    for k in (1, 2, 3):
        f = ellipsoid_fraction(d2, 8, k)
        assert f["theory"] == pytest.approx(k_sigma_probability(k))
        assert f["measured"] == pytest.approx(f["theory"], abs=0.01)
        assert f["radius_theory"] == pytest.approx(stats.chi2.cdf(k * k, 8))
        assert f["radius_measured"] == pytest.approx(f["radius_theory"], abs=0.01)
    assert ellipsoid_fraction(d2, 8, 2)["threshold_sq"] == pytest.approx(
        stats.chi2.ppf(0.9544997, 8), rel=1e-5)


def test_non_mnd_fails_chi2_check():
    rng = np.random.default_rng(2)
    Z = rng.uniform(-1, 1, size=(20000, 8))
    s = mnd_summary(Z)
    assert s["ks_pvalue"] < 1e-6
    # Uniform cube: no far tail, so the 3-sigma ellipsoid holds everything.
    assert s["fractions"].loc[2, "measured"] == 1.0


def test_summary_fields(mnd):
    Z, _, _ = mnd
    s = mnd_summary(Z[:5000], ks=(2,))
    assert s["rank"] == 8 and s["d2"].shape == (5000,)
    # With the sample mean and cov, mean d2 is exactly (n - 1) / n * d.
    assert s["d2_mean"] == pytest.approx(8 * 4999 / 5000, rel=1e-9)
    assert list(s["fractions"]["k"]) == [2.0]


def test_bad_parameters(mnd):
    Z, mean, cov = mnd
    with pytest.raises(ValueError, match="k must be > 0.0, got 0"):
        ellipsoid_fraction(np.ones(3), 8, 0)
    with pytest.raises(ValueError, match="z_dim must be >= 1, got 0"):
        chi2_qq(np.ones(3), 0)
    with pytest.raises(ValueError, match="mean has 3 entries"):
        mahalanobis_sq(Z, mean[:3], cov)
    with pytest.raises(ValueError, match="no positive eigenvalue"):
        mahalanobis_sq(Z, mean, np.zeros((8, 8)))
