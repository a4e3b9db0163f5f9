import numpy as np
import pytest

from core import cache

calls = []


def _mean_plus(Z, c, scale=1.0):
    calls.append(1)
    return (np.asarray(Z).mean(axis=0) + c) * scale


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_CACHE", str(tmp_path / "cache"))
    calls.clear()


def test_cache_hits_by_content_and_parameters(tmp_path):
    Z = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    a = cache.cached(_mean_plus, Z, 1.0)
    b = cache.cached(_mean_plus, Z.copy(), 1.0)  # same content, other object
    assert len(calls) == 1
    np.testing.assert_array_equal(a, b)
    cache.cached(_mean_plus, Z, 2.0)
    cache.cached(_mean_plus, Z, 1.0, scale=3.0)
    assert len(calls) == 3


def test_changed_content_is_never_stale(tmp_path):
    Z = np.zeros((10, 3), np.float32)
    first = cache.cached(_mean_plus, Z, 0.0)
    Z2 = Z.copy()
    Z2[5, 1] = 1.0
    second = cache.cached(_mean_plus, Z2, 0.0)
    assert len(calls) == 2
    assert second[1] == pytest.approx(0.1) and first[1] == 0.0


def test_memmap_key_equals_array_key(tmp_path):
    Z = np.random.default_rng(1).normal(size=(70000, 3)).astype(np.float32)
    np.save(tmp_path / "z.npy", Z)
    mm = np.load(tmp_path / "z.npy", mmap_mode="r")
    assert cache.content_key(mm) == cache.content_key(Z)
    assert cache.content_key(Z) != cache.content_key(Z.astype(np.float64))


def test_damaged_entry_is_recomputed(tmp_path):
    Z = np.ones((5, 2), np.float32)
    cache.cached(_mean_plus, Z, 0.0)
    for p in (tmp_path / "cache").rglob("*.joblib"):
        p.write_bytes(b"garbage")
    out = cache.cached(_mean_plus, Z, 0.0)
    assert len(calls) == 2
    np.testing.assert_array_equal(out, [1.0, 1.0])
