"""Tests for core.stats.neighbours against scikit-learn's exact search."""

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from core.stats.neighbours import nearest_neighbours


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    Z = (rng.standard_normal((3000, 24)) * 2 + 5).astype(np.float32)
    Q = rng.standard_normal((50, 24)) * 2 + 5
    return Z, Q


@pytest.mark.parametrize("data_chunk, query_chunk", [(16384, 1024), (257, 7), (3, 50)])
def test_matches_sklearn(data, data_chunk, query_chunk):
    Z, Q = data
    idx, dist = nearest_neighbours(Z, Q, k=6, data_chunk=data_chunk, query_chunk=query_chunk)
    ref_d, ref_i = NearestNeighbors(n_neighbors=6).fit(Z.astype(np.float64)).kneighbors(Q)
    assert np.array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-10, atol=1e-10)


def test_memmap_single_query_and_self(tmp_path, data):
    Z, _ = data
    np.save(tmp_path / "z.npy", Z)
    mm = np.load(tmp_path / "z.npy", mmap_mode="r")
    idx, dist = nearest_neighbours(mm, Z[123], k=1)
    assert idx.shape == (1, 1) and idx[0, 0] == 123 and dist[0, 0] == 0.0


def test_k_equals_n():
    Z = np.array([[0.0], [3.0], [1.0]])
    idx, dist = nearest_neighbours(Z, [[0.9]], k=3, data_chunk=2)
    assert idx.tolist() == [[2, 0, 1]]
    np.testing.assert_allclose(dist, [[0.1, 0.9, 2.1]])


def test_bad_parameters(data):
    Z, Q = data
    with pytest.raises(ValueError, match="k must be <= 3000, got 3001"):
        nearest_neighbours(Z, Q, k=3001)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        nearest_neighbours(Z, Q, k=0)
    with pytest.raises(ValueError, match="queries has 5 components"):
        nearest_neighbours(Z, Q[:, :5])


def test_far_from_origin_no_cancellation():
    # Offset 1e7 x the spread: |q|^2 + |z|^2 - 2 q.z cancels all significant
    # digits (the old candidate selection got the 5-NN set wrong for ~55 % of
    # the queries).  Reference: a k-d tree on the same points, which works on
    # coordinate differences.
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    base = rng.standard_normal((2000, 16))
    Qb = rng.standard_normal((200, 16))
    idx, dist = nearest_neighbours(1e7 + base, 1e7 + Qb, k=5, data_chunk=500)
    ref_d, ref_i = cKDTree(base).query(Qb, k=5)
    assert np.array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-6)


@pytest.mark.parametrize("data_chunk", [16384, 13, 5])
def test_ties_are_broken_by_row_index(data_chunk):
    # 29 rows sit exactly on the query: the k nearest are the k lowest of them,
    # in row order, whatever the chunking (more ties than candidates per block).
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((200, 3))
    Z[::7] = 0.0
    idx, dist = nearest_neighbours(Z, np.zeros((2, 3)), k=5, data_chunk=data_chunk)
    assert idx.tolist() == [[0, 7, 14, 21, 28]] * 2
    assert (dist == 0.0).all()
    # Ties at a positive distance: two copies of each point, the lower copy first.
    W = np.repeat(rng.standard_normal((20, 4)), 2, axis=0)[rng.permutation(40)]
    idx, _ = nearest_neighbours(W, W[:3] + 1e-3, k=4, data_chunk=data_chunk)
    for row in idx:
        for a, b in zip(row[::2], row[1::2]):
            assert np.array_equal(W[a], W[b]) and a < b


def test_float64_data_is_not_modified():
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((500, 6))
    keep = Z.copy()
    nearest_neighbours(Z, Z[:40] + 0.1, k=3, query_chunk=8)
    assert np.array_equal(Z, keep)
