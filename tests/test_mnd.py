"""Tests for core.stats.mnd: Mahalanobis distances and the chi-square comparison."""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist

from core.stats.mnd import chi2_qq, ellipsoid_fraction, k_sigma_probability, mahalanobis_sq, mnd_summary, reference_law


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


def test_small_n_true_mnd_passes_exact_reference():
    # n = 300 points in d = 256 with the mean and covariance estimated from
    # them: chi2(256) is the wrong reference (old check: KS p = 6e-15, 91 %
    # inside the "1 sigma" ellipsoid against a printed 68 %).  The exact law
    # n d2 / (n-1)^2 ~ Beta(d/2, (n-d-1)/2) must pass at the 5 % level.
    Z = np.random.default_rng(0).standard_normal((300, 256))
    s = mnd_summary(Z)
    assert s["ks_pvalue"] > 0.05
    assert "Beta(128, 21.5)" in s["reference"] and "n = 300" in s["reference"]
    # Independent check of the law: scipy's beta on the rescaled distances.
    ks = stats.kstest(300 * s["d2"] / 299 ** 2, stats.beta(128, 21.5).cdf)
    assert s["ks_statistic"] == pytest.approx(ks.statistic, rel=1e-9)
    fr = s["fractions"].set_index("k")
    assert fr.loc[1.0, "theory"] == pytest.approx(
        stats.beta(128, 21.5).cdf(300 * stats.chi2.ppf(k_sigma_probability(1), 256) / 299 ** 2))
    assert fr.loc[1.0, "measured"] == pytest.approx(fr.loc[1.0, "theory"], abs=0.05)
    assert fr.loc[1.0, "theory_chi2"] == pytest.approx(0.6827, abs=1e-4)
    assert s["d2_mean"] == pytest.approx(s["d2_mean_theory"], rel=1e-9)


def test_held_out_reference_is_hotelling():
    # Independent points vs moments from n others: n d2 / (n + 1) ~ T^2(d, n-1).
    rng = np.random.default_rng(4)
    n, d = 120, 20
    d2 = []
    for _ in range(100):
        X = rng.standard_normal((n, d))
        y = rng.standard_normal((10, d)) - X.mean(0)
        d2.append(np.einsum("ij,jk,ik->i", y, np.linalg.inv(np.cov(X.T)), y))
    d2 = np.concatenate(d2)
    law = reference_law(n, d, "held-out")
    assert stats.kstest(d2, law.cdf).pvalue > 0.01
    assert stats.kstest(d2, stats.chi2(d).cdf).pvalue < 1e-6
    assert "Hotelling" in law.label


def test_too_few_points_give_a_message():
    with pytest.raises(ValueError, match="n_samples=200 is too small for an MND check in 199"):
        mnd_summary(np.random.default_rng(0).standard_normal((200, 256)))
    with pytest.raises(ValueError, match="kind must be one of"):
        reference_law(10, 2, "other")
