"""Your own image (issue 11): an uploaded photo through a run's encoder.

The photo is checked (size cap, pixel cap against decompression bombs, a
real JPEG/PNG/BMP/WebP), centre-cropped to a square (or to the run's own
crop, e.g. CelebA's 140 px) and resized to the run's image size exactly as
the run's data were (``core.data.sources.decode_image``), then encoded; its
reconstruction and nearest real z-points follow.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.data.sources import PIL_FORMATS, decode_image
from core.stats.neighbours import nearest_neighbours
from core.validation import check_int

#: Largest accepted upload in bytes (10 MiB).
MAX_USER_IMAGE_BYTES = 10 * 2**20
#: Largest accepted image (width x height) before decoding: a small file that
#: claims more pixels is a decompression bomb.
MAX_USER_IMAGE_PIXELS = 40_000_000


def prepare_user_image(data, size, channels=3, crop=None, name="upload",
                       max_bytes=MAX_USER_IMAGE_BYTES, max_pixels=MAX_USER_IMAGE_PIXELS):
    """Decode an uploaded image like the run's data.

    Parameters
    ----------
    data : bytes
    size : int
        The run's image side.
    channels : {1, 3}
    crop : int or None
        The run's centre crop (config ``crop``); None crops the largest
        centred square, so a portrait photo is not stretched.
    name : str
        The file name, for messages.

    Returns
    -------
    image : ndarray of shape (size, size, channels), float32 in [0, 1]

    Raises
    ------
    ValueError
        Naming the file and the reason: empty, larger than ``max_bytes``,
        not an image, more than ``max_pixels`` pixels (decompression bomb).
    """
    data = bytes(data)
    if not data:
        raise ValueError(f"{name}: the file is empty")
    if len(data) > max_bytes:
        raise ValueError(f"{name}: {len(data) / 2**20:.1f} MB is larger than the cap of "
                         f"{max_bytes / 2**20:.0f} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as img:
                w, h = img.size  # header only: nothing decompressed yet
    except Exception as exc:  # PIL: UnidentifiedImageError, DecompressionBomb*, truncated headers
        if "decompression bomb" in str(exc).lower():
            raise ValueError(f"{name}: refused as a decompression bomb ({str(exc).splitlines()[0]})") from None
        raise ValueError(f"{name}: not a JPEG, PNG, BMP or WebP image") from None
    if w * h > max_pixels:
        raise ValueError(f"{name}: {w} x {h} = {w * h:,} pixels is more than the cap of {max_pixels:,} "
                         "(a decompression bomb or a huge photo); scale it down first")
    side = int(crop) if crop else min(w, h)
    return decode_image(data, size, channels=channels, crop=side, name=name)


@dataclass
class UserImageResult:
    """Attributes: ``image`` (s, s, c), ``z`` (z_dim,), ``reconstruction`` (s, s, c),
    ``neighbours`` (k,) row indices of the nearest z-points, ``distances`` (k,)."""

    image: np.ndarray
    z: np.ndarray
    reconstruction: np.ndarray
    neighbours: np.ndarray
    distances: np.ndarray


def encode_user_image(image, encode_fn, decode_fn, Z, k=8):
    """Encode one prepared image, decode it back, find its nearest real z-points.

    Parameters
    ----------
    image : ndarray of shape (s, s, c)
    encode_fn, decode_fn : callable
        Batch functions (n, s, s, c) -> (n, z_dim) and back
        (``core.model.network.CompiledModel`` or keras models via ``core.model.network``).
    Z : array-like of shape (n_samples, z_dim)
    k : int

    Returns
    -------
    UserImageResult
    """
    k = check_int(k, "k", low=1, high=max(1, Z.shape[0]))
    z = np.asarray(encode_fn(np.asarray(image, np.float32)[None]), dtype=np.float32)[0]
    rec = np.asarray(decode_fn(z[None]))[0]
    idx, dist = nearest_neighbours(Z, z[None], k=k)
    return UserImageResult(image=np.asarray(image, np.float32), z=z, reconstruction=rec,
                           neighbours=idx[0], distances=dist[0])


__all__ = ["MAX_USER_IMAGE_BYTES", "MAX_USER_IMAGE_PIXELS", "prepare_user_image", "encode_user_image",
           "UserImageResult"]
