"""The "shell" sampler (MND post): vectors between the data's k_inner- and k_outer-sigma ellipsoids."""

import numpy as np
import pytest
from scipy import stats

from core.sampling.samplers import SAMPLERS, ShellSampler, make_sampler


@pytest.fixture(scope="module")
def Z():
    rng = np.random.default_rng(0)
    d = 10
    A = rng.normal(size=(d, d))
    return (rng.normal(size=(4000, d)) @ A + 2.0).astype(np.float32)


def test_shell_vectors_lie_between_the_two_ellipsoids(Z):
    assert SAMPLERS["shell"] is ShellSampler
    V = make_sampler("shell", k_inner=3.0, k_outer=4.0).fit(Z).sample(3000, random_state=1)
    # Independent: Mahalanobis with numpy's inverse of the data covariance (ddof 0, as mean_and_cov).
    mean = Z.astype(np.float64).mean(axis=0)
    cov = np.cov(Z.astype(np.float64), rowvar=False, bias=True)
    diff = V - mean
    d2 = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
    lo = stats.chi2.ppf(stats.norm.cdf(3) - stats.norm.cdf(-3), Z.shape[1])
    hi = stats.chi2.ppf(stats.norm.cdf(4) - stats.norm.cdf(-4), Z.shape[1])
    assert d2.min() >= lo * (1 - 1e-3) and d2.max() <= hi * (1 + 1e-3)
    # Squared radii follow chi2 restricted to the shell: compare with its CDF (KS).
    F = lambda x: (stats.chi2.cdf(x, 10) - stats.chi2.cdf(lo, 10)) / (stats.chi2.cdf(hi, 10) - stats.chi2.cdf(lo, 10))
    assert stats.kstest(d2, F).pvalue > 0.001
    # Directions are isotropic in whitened coordinates: the whitened mean is ~0.
    W = np.linalg.cholesky(np.linalg.inv(cov))
    u = diff @ W
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    assert np.abs(u.mean(axis=0)).max() < 0.1


@pytest.mark.parametrize("params, text", [({"k_inner": 0}, "k_inner"), ({"k_inner": 3, "k_outer": 2}, "k_outer"),
                                          ({"k_inner": float("nan")}, "k_inner")])
def test_shell_bad_parameters_name_the_value(Z, params, text):
    with pytest.raises(ValueError, match=text):
        make_sampler("shell", **params).fit(Z)
