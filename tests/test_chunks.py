"""core.chunks.take_rows: rows of a memory-mapped matrix in a given order."""

import numpy as np
import pytest

from core.chunks import take_rows


def test_take_rows_matches_fancy_indexing_on_a_memmap(tmp_path):
    Z = np.random.default_rng(0).normal(size=(500, 7)).astype(np.float32)
    np.save(tmp_path / "z.npy", Z)
    M = np.load(tmp_path / "z.npy", mmap_mode="r")
    rows = np.array([499, 3, 250, 3, 0, 17])  # unsorted, with a repeat
    got = take_rows(M, rows)
    assert got.dtype == np.float32 and got.shape == (6, 7)
    np.testing.assert_array_equal(got, Z[rows])
    np.testing.assert_array_equal(take_rows(M, [], dtype=np.float64), np.empty((0, 7)))
    assert take_rows(M, [2], dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("bad", [500, -1])
def test_take_rows_names_a_bad_row(bad):
    with pytest.raises(ValueError, match=f"row {bad} is outside 0 … 499"):
        take_rows(np.zeros((500, 2)), [1, bad])
