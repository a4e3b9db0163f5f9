"""Tests of core.sampling.paths: end points, spacing, directions, extents, errors."""

import numpy as np
import pytest

from core.sampling.paths import attribute_direction, attribute_walk, interpolate, line_through_centre, origin_to_centre
from core.validation import MAX_SAMPLES


def test_interpolate_endpoints_and_spacing():
    a, b = np.array([1.0, -2.0, 0.5]), np.array([3.0, 2.0, -1.5])
    P = interpolate(a, b, 5)
    assert P.shape == (5, 3) and P.dtype == np.float32
    np.testing.assert_allclose(P[0], a)
    np.testing.assert_allclose(P[-1], b)
    steps = np.linalg.norm(np.diff(P.astype(np.float64), axis=0), axis=1)
    np.testing.assert_allclose(steps, np.linalg.norm(b - a) / 4, rtol=1e-6)


def test_origin_to_centre():
    c = np.array([0.5, -1.0, 2.0, 0.0])
    P = origin_to_centre(c, 11)
    np.testing.assert_allclose(P[0], 0.0)
    np.testing.assert_allclose(P[-1], c, rtol=1e-6)
    # all on the ray through c: P = t c
    t = P @ c / (c @ c)
    np.testing.assert_allclose(P, t[:, None] * c, atol=1e-6)
    np.testing.assert_allclose(t, np.linspace(0, 1, 11), atol=1e-6)


def test_line_through_centre_extent_in_sigma():
    d = 5
    mean = np.arange(d, dtype=float)
    cov = np.eye(d)
    cov[1, 1], cov[3, 3], cov[1, 3] = 4.0, 1.0, 1.5
    cov[3, 1] = 1.5
    P = line_through_centre(mean, cov, 1, 3, angle_deg=30.0, extent_sigma=2.0, n_points=9).astype(np.float64)
    # only components 1 and 3 move; the middle point is the centre
    others = [0, 2, 4]
    np.testing.assert_allclose(P[:, others], np.tile(mean[others], (9, 1)), atol=1e-6)
    np.testing.assert_allclose(P[4], mean, atol=1e-6)
    u = np.array([np.cos(np.pi / 6), np.sin(np.pi / 6)])
    d2 = P[:, [1, 3]] - mean[[1, 3]]
    # direction along u
    np.testing.assert_allclose(d2[-1] / np.linalg.norm(d2[-1]), u, atol=1e-6)
    # end point at 2 sigma along u: the 1-D std of the data projected on u
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal([0, 0], cov[np.ix_([1, 3], [1, 3])], 200000)
    sd_u = (X @ u).std()
    assert abs(np.linalg.norm(d2[-1]) - 2 * sd_u) < 0.02 * 2 * sd_u
    # equal spacing
    np.testing.assert_allclose(np.linalg.norm(np.diff(d2, axis=0), axis=1), np.linalg.norm(d2[-1]) / 4, rtol=1e-5)


def test_line_through_centre_with_std_vector():
    mean, std = np.zeros(3), np.array([1.0, 2.0, 3.0])
    P = line_through_centre(mean, std, 0, 2, angle_deg=90.0, extent_sigma=1.0, n_points=3)
    np.testing.assert_allclose(P[-1], [0.0, 0.0, 3.0], atol=1e-6)
    np.testing.assert_allclose(P[0], [0.0, 0.0, -3.0], atol=1e-6)


def test_attribute_direction_and_walk():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((1000, 4))
    attr = np.where(rng.random(1000) < 0.3, 1, -1)  # CelebA -1/1 convention
    Z[attr > 0] += np.array([2.0, 0.0, -1.0, 0.0])
    v = attribute_direction(Z, attr, name="Smiling")
    np.testing.assert_allclose(v, Z[attr > 0].mean(0) - Z[attr <= 0].mean(0), rtol=1e-12)
    W = attribute_walk(Z[0], v, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(W[0], Z[0], rtol=1e-6)
    np.testing.assert_allclose(W[2] - W[0], v, atol=1e-5)


@pytest.mark.parametrize("attr", [np.ones(10), -np.ones(10), np.zeros(10)])
def test_attribute_direction_empty_group(attr):
    with pytest.raises(ValueError, match="'Eyeglasses'"):
        attribute_direction(np.ones((10, 3)), attr, name="Eyeglasses")


@pytest.mark.parametrize("n", [1, 0, -4, MAX_SAMPLES + 1, 3.5])
def test_bad_n_points(n):
    with pytest.raises(ValueError, match=f"n_points.*{n}"):
        interpolate(np.zeros(3), np.ones(3), n)
    with pytest.raises(ValueError, match=f"n_points.*{n}"):
        line_through_centre(np.zeros(3), np.ones(3), 0, 1, 0.0, 2.0, n)


@pytest.mark.parametrize("i,j,match", [(0, 3, "j must be <= 2, got 3"), (1, 1, "got i = j = 1"),
                                       (-1, 2, "i must be >= 0, got -1")])
def test_bad_pair(i, j, match):
    with pytest.raises(ValueError, match=match):
        line_through_centre(np.zeros(3), np.eye(3), i, j, 0.0, 2.0, 5)


def test_bad_extent_and_shapes():
    with pytest.raises(ValueError, match="extent_sigma.*got 0"):
        line_through_centre(np.zeros(3), np.eye(3), 0, 1, 0.0, 0.0, 5)
    with pytest.raises(ValueError, match="same shape"):
        interpolate(np.zeros(3), np.zeros(4), 5)
    with pytest.raises(ValueError, match="cov_or_std"):
        line_through_centre(np.zeros(3), np.eye(4), 0, 1, 0.0, 1.0, 5)
