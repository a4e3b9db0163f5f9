"""Procedural digits with known generative factors (the offline "other dataset").

The seeds ask whether a CAE's latent distribution depends on the data: faces
against other faces, faces against digits.  scikit-learn's digits hold only
1,797 images of 8x8 pixels, too few and too small for a 64x64 model, and
MNIST cannot be downloaded here.  This source renders the ten digits with
Pillow's bundled TrueType font (no system font needed) under random size,
rotation, stroke weight, position and colour, so any number of images can
be drawn and the factors that made each image are its attributes.

Determinism: factors for image ``i`` come from a generator keyed by
``(seed, i // BLOCK)``, as in :mod:`core.data.synthfaces`; image ``i`` is the same
whatever ``start``/``n`` split reaches it.  Glyph rasterisation is done by
FreeType, whose versions may differ by a grey level at glyph edges.
"""

from __future__ import annotations

import colorsys
import functools

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from core.validation import check_int

#: Images per random block; factors of image i come from block i // BLOCK.
BLOCK = 256
MIN_SIZE, MAX_SIZE = 16, 128
# Glyphs are drawn at this many times the output size and box-filtered down:
# anti-aliasing that does not depend on FreeType's hinting at tiny sizes.
_OVERSAMPLE = 2

# name, distribution, a, b, description.  normal: mean a, std b;
# uniform: [a, b); integer: a .. b-1.  Lengths are fractions of the image side.
_FACTORS = [
    ("digit", "integer", 0, 10, "the digit drawn"),
    ("glyph_size", "normal", 0.72, 0.07, "font size as a fraction of the image side"),
    ("rotation", "normal", 0.0, 12.0, "rotation in degrees (positive: counter-clockwise)"),
    ("stroke", "uniform", 0.0, 0.035, "extra stroke width as a fraction of the side"),
    ("shift_x", "normal", 0.0, 0.06, "horizontal offset of the glyph centre"),
    ("shift_y", "normal", 0.0, 0.06, "vertical offset of the glyph centre"),
    ("ink_hue", "uniform", 0.0, 1.0, "hue of the ink"),
    ("ink_saturation", "uniform", 0.0, 0.7, "saturation of the ink"),
    ("ink_value", "normal", 0.88, 0.06, "brightness of the ink"),
    ("bg_value", "normal", 0.10, 0.05, "brightness of the (grey) background"),
]
ATTRIBUTE_NAMES = [f[0] for f in _FACTORS]


def factor_table():
    """The generative factors as a table (name, distribution, a, b, description)."""
    return pd.DataFrame(_FACTORS, columns=["name", "distribution", "a", "b", "description"])


def draw_factors(n, seed=0, start=0):
    """Factors of images ``start .. start+n-1``.

    Returns
    -------
    pandas.DataFrame of shape (n, len(ATTRIBUTE_NAMES))
    """
    n = check_int(n, "n", low=0)
    start = check_int(start, "start", low=0)
    seed = check_int(seed, "seed", low=0)
    if n == 0:
        return pd.DataFrame({name: np.zeros(0) for name in ATTRIBUTE_NAMES})
    first, last = start // BLOCK, (start + n - 1) // BLOCK
    cols = {name: [] for name in ATTRIBUTE_NAMES}
    for block in range(first, last + 1):
        rng = np.random.default_rng([seed, block, 7])
        for name, kind, a, b, _ in _FACTORS:
            if kind == "integer":
                v = rng.integers(a, b, BLOCK).astype(np.float64)
            elif kind == "uniform":
                v = rng.uniform(a, b, BLOCK)
            else:
                v = rng.normal(a, b, BLOCK)
            cols[name].append(v)
    lo = start - first * BLOCK
    out = pd.DataFrame({k: np.concatenate(v)[lo:lo + n] for k, v in cols.items()})
    out["digit"] = out["digit"].astype(np.int64)
    out["glyph_size"] = out["glyph_size"].clip(0.35, 0.9)
    out["ink_value"] = out["ink_value"].clip(0.55, 1.0)
    out["bg_value"] = out["bg_value"].clip(0.0, 0.35)
    return out


@functools.lru_cache(maxsize=64)
def _font(px):
    return ImageFont.load_default(size=px)


def _render_one(f, size, channels):
    big = size * _OVERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    font = _font(max(4, int(round(f["glyph_size"] * big))))
    stroke = int(round(f["stroke"] * big))
    cx = big / 2 + f["shift_x"] * big
    cy = big / 2 + f["shift_y"] * big
    draw.text((cx, cy), str(int(f["digit"])), fill=255, font=font, anchor="mm",
              stroke_width=stroke, stroke_fill=255)
    canvas = canvas.rotate(float(f["rotation"]), resample=Image.BICUBIC, center=(cx, cy))
    mask = np.asarray(canvas.resize((size, size), Image.BOX), np.float32) / 255.0
    if channels == 1:
        ink = np.array([f["ink_value"]], np.float32)
    else:
        ink = np.array(colorsys.hsv_to_rgb(f["ink_hue"], f["ink_saturation"], f["ink_value"]), np.float32)
    bg = np.float32(f["bg_value"])
    return bg + mask[:, :, None] * (ink[None, None, :] - bg)


def generate(n, size=64, seed=0, start=0, channels=3):
    """Render digits ``start .. start+n-1``.

    Parameters
    ----------
    n : int
    size : int
        Image side, 16 to 128.
    seed : int
    start : int
        Index of the first image (images are addressable: image i never
        depends on the split used to reach it).
    channels : {1, 3}

    Returns
    -------
    images : ndarray of shape (n, size, size, channels), float32 in [0, 1]
    attributes : pandas.DataFrame of shape (n, len(ATTRIBUTE_NAMES))
    """
    size = check_int(size, "size", low=MIN_SIZE, high=MAX_SIZE)
    channels = check_int(channels, "channels")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    attrs = draw_factors(n, seed=seed, start=start)
    out = np.empty((len(attrs), size, size, channels), np.float32)
    for i, row in enumerate(attrs.to_dict("records")):
        out[i] = _render_one(row, size, channels)
    np.clip(out, 0.0, 1.0, out=out)
    attrs.index = pd.RangeIndex(start, start + len(attrs))
    return out, attrs
