"""core.data.images.png_bytes, the one PNG encoder: Pillow decodes exactly the pixels given."""

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from core.data import images
from core.data.images import png_bytes, to_uint8


@pytest.mark.parametrize("shape, mode", [((1, 1), "L"), ((7, 13, 1), "L"), ((9, 5, 2), "LA"),
                                         ((64, 301, 3), "RGB"), ((33, 17, 4), "RGBA")])
def test_round_trips_through_pillow(shape, mode):
    arr = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    im = Image.open(io.BytesIO(png_bytes(arr)))
    assert im.format == "PNG" and im.mode == mode and im.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(im), arr.reshape(np.asarray(im).shape))


def test_float_images_are_rounded_and_clipped_like_to_uint8():
    img = np.random.default_rng(1).uniform(-0.2, 1.2, (10, 12, 3)).astype(np.float32)
    got = np.asarray(Image.open(io.BytesIO(png_bytes(img))))
    np.testing.assert_array_equal(got, to_uint8(img))
    assert got.min() == 0 and got.max() == 255


def test_stream_is_plain_zlib_with_filter_none(monkeypatch):
    # Whatever deflate implementation is installed, the IDAT is one zlib stream of
    # filter-0 rows, so zlib itself (the reference) inflates it to the raw rows.
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    png = png_bytes(arr)
    start = png.index(b"IDAT") + 4
    length = int.from_bytes(png[start - 8:start - 4], "big")
    rows = zlib.decompress(png[start:start + length])
    assert rows == b"".join(b"\x00" + arr[r].tobytes() for r in range(2))
    monkeypatch.setattr(images, "_deflate", zlib)  # the fallback writes the same pixels
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(arr)))), arr)


@pytest.mark.parametrize("bad", [np.zeros((0, 4, 3)), np.zeros((4, 4, 5)), np.zeros(4), np.zeros((2, 2, 2, 3))])
def test_bad_shapes_are_named(bad):
    with pytest.raises(ValueError, match=r"image must have shape .* got \(" ):
        png_bytes(bad.astype(np.uint8))
