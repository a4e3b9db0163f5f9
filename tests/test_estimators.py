"""The samplers and LatentPCA are scikit-learn estimators: params, clone, validation before state."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from core.sampling.samplers import SAMPLERS, GaussianMixtureSampler, UniformBoxSampler, make_sampler
from core.stats.pca import LatentPCA

FAST = {
    "uniform": {"b": 2.0},
    "per-component": {"f": 0.5},
    "gaussian-diag": {},
    "pca-ellipse": {"n_components": 3},
    "mvn": {"truncate_k": 2.0},
    "gmm": {"n_components": 2, "max_iter": 5, "max_fit_samples": 500},
    "shell": {"k_inner": 2.5},
}


@pytest.fixture(scope="module")
def Z():
    return np.random.default_rng(0).standard_normal((2000, 5)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_get_set_params_and_clone(Z, name):
    s = make_sampler(name, **FAST[name])
    params = s.get_params()
    assert set(params) == set(type(s)._get_param_names())
    assert all(params[k] == v for k, v in FAST[name].items())
    c = clone(s)
    assert c is not s and c.get_params() == params
    s.fit(Z)
    # A clone of a fitted sampler is unfitted, with the same parameters.
    c = clone(s)
    with pytest.raises(NotFittedError):
        c.sample(2)
    for k, v in params.items():
        assert c.set_params(**{k: v}) is c


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_parameters_are_keyword_only(name):
    cls = SAMPLERS[name]
    if not cls._get_param_names():
        pytest.skip("no parameters")
    with pytest.raises(TypeError):
        cls(1)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_unfitted_sample_raises_not_fitted(name):
    with pytest.raises(NotFittedError, match="not fitted"):
        make_sampler(name, **FAST[name]).sample(3)


def test_refused_fit_sets_no_state(Z):
    s = UniformBoxSampler(b=-1)
    with pytest.raises(ValueError, match=r"b must be > 0\.0, got -1"):
        s.fit(Z)
    assert not [k for k in vars(s) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        s.sample(2)
    # A refused refit keeps nothing half-set either: the old fit stays whole.
    s = UniformBoxSampler(b=1.0).fit(Z)
    s.set_params(b=-2.0)
    with pytest.raises(ValueError):
        s.fit(Z)
    assert s.b_ == 1.0 and s.sample(3).shape == (3, 5)


def test_latent_pca_is_an_estimator(Z):
    p = LatentPCA(n_components=2)
    assert p.get_params() == {"n_components": 2}
    with pytest.raises(TypeError):
        LatentPCA(2)
    with pytest.raises(NotFittedError):
        p.transform(Z)
    p.fit(Z)
    assert clone(p).get_params() == {"n_components": 2}
    # float32 data take the float32 Gram path (core.stats.gram): ~1e-7 of the largest variance
    np.testing.assert_allclose(LatentPCA().fit(Z).get_covariance(), np.cov(Z.T.astype(np.float64)), atol=1e-6)
    Z64 = Z.astype(np.float64)
    np.testing.assert_allclose(LatentPCA().fit(Z64).get_covariance(), np.cov(Z64.T), atol=1e-12)


def test_gmm_random_state_has_one_meaning(Z):
    def means(rs):
        return GaussianMixtureSampler(random_state=rs, **FAST["gmm"]).fit(Z).gmm_.means_

    np.testing.assert_array_equal(means(3), means(3))
    # None is fresh entropy, as everywhere in scikit-learn (it used to mean 0).
    # Two fits then use two different 500-row subsamples of the 2000.
    assert not np.array_equal(means(None), means(None))
