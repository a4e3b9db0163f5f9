"""Image grids and PNG encoding for decoded images."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from core.validation import check_int


def to_uint8(images):
    """Float images in [0, 1] of shape (..., h, w, c) to uint8, clipped."""
    return (np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def make_grid(images, n_cols=8, pad=2, pad_value=1.0):
    """Tile images into one picture.

    Parameters
    ----------
    images : array-like of shape (n, h, w, c), float in [0, 1]
    n_cols : int
    pad : int
        Pixels between tiles.
    pad_value : float
        Colour of the padding (1.0 = white).

    Returns
    -------
    grid : ndarray of shape (rows*(h+pad)+pad, cols*(w+pad)+pad, c), float32
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"images must have shape (n, h, w, c) with n >= 1, got {images.shape}")
    n, h, w, c = images.shape
    n_cols = max(1, min(int(n_cols), n))
    n_rows = -(-n // n_cols)
    grid = np.full((n_rows * (h + pad) + pad, n_cols * (w + pad) + pad, c), pad_value, np.float32)
    for k in range(n):
        r, q = divmod(k, n_cols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y:y + h, x:x + w] = images[k]
    return grid


def png_bytes(image):
    """Encode one float image (h, w, c) in [0, 1] or uint8 as PNG bytes."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = to_uint8(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def upscale(image, factor):
    """Enlarge an image by an integer factor, each pixel a ``factor x factor`` block.

    Nearest-neighbour on purpose: small decoded images stay sharp on screen.

    Parameters
    ----------
    image : ndarray of shape (h, w) or (h, w, c)
    factor : int >= 1

    Returns
    -------
    ndarray of shape (h * factor, w * factor[, c])
    """
    factor = check_int(factor, "factor", low=1)
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


def upscale_factor(size_px, target_px):
    """Smallest integer factor that makes ``size_px`` at least ``target_px`` (>= 1)."""
    return max(1, -(-int(target_px) // max(1, int(size_px))))
