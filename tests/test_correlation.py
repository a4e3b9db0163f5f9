"""Tests for core.stats.correlation against numpy."""

import numpy as np
import pytest

from core.stats.correlation import correlation_from_cov, correlation_matrix, threshold_counts, top_pairs


@pytest.fixture(scope="module")
def Z():
    rng = np.random.default_rng(0)
    A = np.eye(6) + 0.6 * rng.standard_normal((6, 6))
    return (rng.standard_normal((5000, 6)) @ A + 3.0).astype(np.float32)


def test_matches_corrcoef(Z):
    R = correlation_matrix(Z)
    np.testing.assert_allclose(R, np.corrcoef(Z.astype(np.float64), rowvar=False), atol=1e-10)
    assert np.array_equal(np.diag(R), np.ones(6))


def test_memmap(tmp_path, Z):
    np.save(tmp_path / "z.npy", Z)
    mm = np.load(tmp_path / "z.npy", mmap_mode="r")
    np.testing.assert_allclose(correlation_matrix(mm), correlation_matrix(Z), atol=1e-12)


def test_zero_variance_component_is_uncorrelated():
    rng = np.random.default_rng(1)
    Z = np.column_stack([rng.standard_normal(100), np.full(100, 2.0), rng.standard_normal(100)])
    R = correlation_matrix(Z)
    assert np.all(np.isfinite(R)) and R[1, 0] == 0 and R[1, 1] == 1


def test_threshold_counts_brute_force(Z):
    R = correlation_matrix(Z)
    ths = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    tc = threshold_counts(R, ths)
    for t, c in zip(ths, tc["n_pairs"]):
        brute = sum(abs(R[i, j]) > t for i in range(6) for j in range(i + 1, 6))
        assert c == brute
    assert list(tc["threshold"]) == list(ths)
    assert tc["n_pairs"].is_monotonic_decreasing


def test_threshold_is_strict():
    R = np.array([[1.0, 0.5, -0.2], [0.5, 1.0, 0.7], [-0.2, 0.7, 1.0]])
    assert list(threshold_counts(R, (0.2, 0.5))["n_pairs"]) == [2, 1]


def test_top_pairs_order():
    R = np.eye(4)
    for (i, j), r in {(0, 1): 0.55, (0, 3): -0.9, (2, 3): 0.7, (1, 2): 0.3}.items():
        R[i, j] = R[j, i] = r
    tp = top_pairs(R, threshold=0.5)
    assert list(zip(tp["i"], tp["j"])) == [(0, 3), (2, 3), (0, 1)]
    assert tp["r"].iloc[0] == -0.9
    assert len(top_pairs(R, 0.5, n=1)) == 1
    assert len(top_pairs(R, 0.95)) == 0


def test_bad_parameters():
    with pytest.raises(ValueError, match="threshold must be <= 1.0, got 1.5"):
        top_pairs(np.eye(3), threshold=1.5)
    with pytest.raises(ValueError, match="square"):
        threshold_counts(np.ones((2, 3)))
    with pytest.raises(ValueError, match="square"):
        correlation_from_cov(np.ones(3))
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        top_pairs(np.eye(3), n=0)
