"""``make_dataset``: the same batches whether the image cache is held in memory or streamed."""

import numpy as np
import pytest

from core.model import training


@pytest.fixture()
def cache(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(53, 4, 5, 3), dtype=np.uint8)
    np.save(tmp_path / "images_u8.npy", images)
    return images, np.load(tmp_path / "images_u8.npy", mmap_mode="r")


def _batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def _expected(images, rows, batch, seed, epoch, shuffle, drop, replicas=(0, 1, 1)):
    # Written from the documented contract, not from the code: the epoch's
    # order from default_rng([seed, epoch]), cut into batches, each sorted.
    first, count, total = replicas
    order = np.random.default_rng([seed, epoch]).permutation(rows) if shuffle else np.asarray(rows)
    stop = len(order) - (len(order) % batch if drop else 0)
    out = []
    for s in range(0, stop, batch):
        per = batch // total
        parts = [order[s:s + batch]] if total == 1 else [order[s + r * per:s + (r + 1) * per]
                                                         for r in range(first, first + count)]
        out += [images[np.sort(p)].astype(np.float32) / 255.0 for p in parts]
    return out


@pytest.mark.parametrize("held", [True, False])
@pytest.mark.parametrize("rows,shuffle,drop", [(np.arange(40), True, True), (np.arange(40, 53), False, False),
                                               (np.array([50, 3, 7, 21, 22, 9, 1, 44]), True, False)])
def test_batches_follow_the_documented_order(cache, monkeypatch, held, rows, shuffle, drop):
    images, memmap = cache
    monkeypatch.setattr(training, "IN_MEMORY_MAX_BYTES", 1 << 30 if held else 0)
    assert training.holds_in_memory(memmap) is held
    ds = training.make_dataset(memmap, rows, 8, shuffle, seed=5, drop_remainder=drop)
    for epoch in range(2):  # passes are counted: each epoch its own order
        got = _batches(ds)
        want = _expected(images, rows, 8, 5, epoch, shuffle, drop)
        assert len(got) == len(want) == int(ds.cardinality())
        for (x, y), w in zip(got, want):
            np.testing.assert_array_equal(x, w)
            np.testing.assert_array_equal(y, w)
            assert x.dtype == np.float32


@pytest.mark.parametrize("held", [True, False])
def test_replica_shares_and_epoch_clock(cache, monkeypatch, held):
    images, memmap = cache
    monkeypatch.setattr(training, "IN_MEMORY_MAX_BYTES", 1 << 30 if held else 0)
    rows = np.arange(48)
    ds = training.make_dataset(memmap, rows, 12, True, seed=2, drop_remainder=True, epoch_of=lambda: 7,
                               replicas=(1, 2, 4))
    got = [x for x, _ in _batches(ds)]
    want = _expected(images, rows, 12, 2, 7, True, True, replicas=(1, 2, 4))
    assert len(got) == len(want) == 8
    for x, w in zip(got, want):
        np.testing.assert_array_equal(x, w)


def test_a_large_cache_streams(cache, monkeypatch):
    _, memmap = cache
    monkeypatch.setattr(training, "IN_MEMORY_MAX_BYTES", memmap.nbytes - 1)
    assert not training.holds_in_memory(memmap)
    monkeypatch.setattr(training, "IN_MEMORY_MAX_BYTES", memmap.nbytes)
    assert training.holds_in_memory(memmap)
    monkeypatch.setattr(training, "available_memory", lambda: 4 * memmap.nbytes - 4)
    assert not training.holds_in_memory(memmap)  # at most a quarter of the free memory


@pytest.mark.parametrize("held", [True, False])
def test_no_tf_data_autotuning(cache, monkeypatch, held):
    # With the autotuner, some epochs waited 2-5 s for their new iterator
    # with both cores idle (training.make_dataset); it must stay off.
    _, memmap = cache
    monkeypatch.setattr(training, "IN_MEMORY_MAX_BYTES", 1 << 30 if held else 0)
    ds = training.make_dataset(memmap, np.arange(40), 8, True, seed=0, drop_remainder=True)
    assert ds.options().autotune.enabled is False
    assert len(_batches(ds)) == 5
