"""core.user_image: an uploaded photo is prepared like the run's data and encoded like it."""

import io

import numpy as np
import pytest
from PIL import Image

from core.data.sources import decode_image
from core.user_image import encode_user_image, prepare_user_image


def png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_prepare_crops_the_centre_square_and_resizes_like_the_data():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(60, 40, 3), dtype=np.uint8)  # portrait, h 60, w 40
    img = prepare_user_image(png(photo), 16, 3)
    # Independent: crop rows 10..50 with PIL, resize bilinear (antialiased) to 16.
    ref = np.asarray(Image.fromarray(photo[10:50]).resize((16, 16), Image.Resampling.BILINEAR),
                     dtype=np.float32) / 255
    np.testing.assert_allclose(img, ref, atol=1e-6)
    assert img.shape == (16, 16, 3) and img.dtype == np.float32
    grey = prepare_user_image(png(photo), 16, 1)
    assert grey.shape == (16, 16, 1)
    # With the run's crop (CelebA convention) the same crop as the data pipeline.
    np.testing.assert_array_equal(prepare_user_image(png(photo), 16, 3, crop=30),
                                  decode_image(png(photo), 16, 3, crop=30))


def test_bad_uploads_get_a_message_naming_the_file():
    with pytest.raises(ValueError, match="me.png: not a JPEG"):
        prepare_user_image(b"this is not an image at all", 16, name="me.png")
    with pytest.raises(ValueError, match="empty"):
        prepare_user_image(b"", 16, name="e.png")
    with pytest.raises(ValueError, match="big.png: 2.0 MB is larger than the cap of 1 MB"):
        prepare_user_image(b"\0" * (2 * 2**20), 16, name="big.png", max_bytes=2**20)
    # A decompression bomb: a tiny file that claims 100 million pixels.
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, format="PNG")
    assert len(buf.getvalue()) < 100_000
    with pytest.raises(ValueError, match="bomb.png: .*(decompression bomb|pixels)"):
        prepare_user_image(buf.getvalue(), 16, name="bomb.png")


def test_encode_user_image_with_a_linear_model_and_exact_neighbours():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(16 * 16 * 3, 6)).astype(np.float32)

    def enc(x):
        return np.asarray(x, np.float32).reshape(len(x), -1) @ W

    def dec(z):
        return np.zeros((len(z), 16, 16, 3), np.float32)

    Z = rng.normal(size=(500, 6)).astype(np.float32)
    img = prepare_user_image(png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)), 16)
    res = encode_user_image(img, enc, dec, Z, k=5)
    np.testing.assert_allclose(res.z, enc(img[None])[0], rtol=1e-6)
    d = np.linalg.norm(Z - res.z, axis=1)
    np.testing.assert_array_equal(res.neighbours, np.argsort(d)[:5])
    np.testing.assert_allclose(res.distances, np.sort(d)[:5], rtol=1e-5)


def test_uploaded_image_z_point_equals_encode_of_the_same_image(tiny_run_root):
    """The page's path (``lab.user_image``'s core calls) against ``core.model.network.encode``."""
    from core.runs import runs
    from core.model.network import CompiledModel, encode

    run = runs.Run(tiny_run_root / "default")
    photo = np.random.default_rng(2).integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    img = prepare_user_image(png(photo), run.image_size, run.channels)
    res = encode_user_image(img, CompiledModel(run.encoder, 16), CompiledModel(run.decoder, 16), run.latents)
    np.testing.assert_allclose(res.z, encode(run.encoder, img[None])[0], rtol=1e-5, atol=1e-6)
    assert res.reconstruction.shape == img.shape


from tests.dashboard_fixtures import tiny_run_root  # noqa: E402,F401
