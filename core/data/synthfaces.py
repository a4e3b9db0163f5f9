"""Procedural cartoon faces with known generative factors (the offline dataset).

Every image is drawn from a vector of *factors*: continuous ones drawn from
independent Gaussians and binary ones drawn from Bernoulli distributions, all
listed in :data:`FACTORS`.  The factor values are returned as the attribute
table, so a latent space learned on these images can be compared with the
true factors that made them.

Rendering is vectorised over a batch: every shape is a smooth coverage mask
computed from an (approximate) signed distance on the pixel grid, with a
linear ramp one pixel wide for anti-aliasing.  The masks are composited
painter-style by turning them into per-layer weights (top layer first,
``w_k = m_k * T``, ``T -= w_k``) and one small batched matrix product with the
layer colours, which is much cheaper than blending three channels per layer.

Determinism: factors for image ``i`` come from a generator keyed by
``(seed, i // BLOCK)``; rendering has no randomness.  Image ``i`` is therefore
the same whatever ``start``/``n`` split is used to reach it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from core.validation import check_int

#: Images per random block; factors of image i come from block i // BLOCK.
BLOCK = 256
#: Pixels rendered together.  Small on purpose: 64 kB scratch arrays stay in
#: cache and below glibc malloc's mmap threshold (128 kB), which makes
#: rendering about 2x faster than large batches.
_CHUNK_PIXELS = 4 * 64 * 64
MIN_SIZE, MAX_SIZE = 16, 128

# name, mean, std, description.  Face units: the image spans [-1, 1] and
# v points down; "face" lengths are before the face_scale factor.
_CONTINUOUS = [
    ("head_width", 0.56, 0.045, "head half-width (face units)"),
    ("head_height", 0.70, 0.045, "head half-height (face units)"),
    ("face_scale", 0.88, 0.05, "overall size of the figure"),
    ("skin_tone", 0.0, 1.0, "position on a light-to-dark skin palette"),
    ("hair_darkness", 0.0, 1.0, "position on a blond-to-black hair palette"),
    ("hair_warmth", 0.0, 1.0, "red tint of the hair (above 0.8 it shows)"),
    ("hair_length", 0.15, 0.35, "lowest point of the hair behind the head (face units; < 0.2 reads as short)"),
    ("hair_volume", 0.07, 0.03, "how far the hair stands off the head"),
    ("hairline", -0.36, 0.06, "height of the fringe at the centre"),
    ("hair_part", 0.0, 0.2, "slope of the fringe (side parting)"),
    ("eye_size", 0.085, 0.012, "eye half-height scale"),
    ("eye_spacing", 0.24, 0.022, "half the distance between the eyes"),
    ("eye_height", -0.06, 0.03, "vertical position of the eyes"),
    ("iris_colour", 0.0, 1.0, "position on a blue-green-brown iris palette"),
    ("gaze_x", 0.0, 0.25, "horizontal gaze (fraction of the free room in the eye)"),
    ("brow_height", 0.12, 0.02, "brow height above the eyes"),
    ("brow_tilt", 0.0, 0.25, "brow slope (positive: outer ends lower)"),
    ("nose_length", 0.2, 0.03, "eye line to nose tip"),
    ("mouth_width", 0.17, 0.03, "half-width of the mouth"),
    ("mouth_curve", 0.8, 1.2, "mouth curvature (positive: corners up)"),
    ("bg_hue", 0.55, 0.25, "background hue (wrapped into [0, 1))"),
    ("bg_brightness", 0.72, 0.1, "background brightness"),
    ("shirt_hue", 0.0, 0.3, "shirt hue (wrapped)"),
    ("shift_x", 0.0, 0.05, "horizontal position of the face (image units)"),
    ("shift_y", 0.0, 0.04, "vertical position of the face (image units)"),
    ("head_tilt", 0.0, 0.1, "head roll in radians"),
    ("light_x", 0.0, 0.35, "lighting gradient, left-right"),
    ("light_y", -0.25, 0.2, "lighting gradient, top-bottom"),
]
_BINARY = [
    ("glasses", 0.25, "round glasses"),
    ("beard", 0.2, "beard and moustache"),
    ("smiling", 0.5, "open smiling mouth with teeth (adds 1.5 to the rendered mouth curvature)"),
    ("hat", 0.15, "a cap with a brim"),
    ("earrings", 0.25, "gold earrings"),
]

#: The factor table: name, distribution, parameters, description.
FACTORS = pd.DataFrame(
    [(n, "normal", {"mean": m, "std": s}, d) for n, m, s, d in _CONTINUOUS]
    + [(n, "bernoulli", {"p": p}, d) for n, p, d in _BINARY],
    columns=["name", "distribution", "parameters", "description"],
)
CONTINUOUS_NAMES = [f[0] for f in _CONTINUOUS]
BINARY_NAMES = [f[0] for f in _BINARY]
ATTRIBUTE_NAMES = CONTINUOUS_NAMES + BINARY_NAMES

_MEANS = np.array([f[1] for f in _CONTINUOUS])
_STDS = np.array([f[2] for f in _CONTINUOUS])
_PROBS = np.array([f[1] for f in _BINARY])

_SKIN = np.array([
    [1.00, 0.88, 0.78], [0.97, 0.80, 0.68], [0.89, 0.68, 0.53],
    [0.76, 0.55, 0.40], [0.58, 0.40, 0.27], [0.38, 0.25, 0.17],
])
_HAIR = np.array([
    [0.95, 0.84, 0.56], [0.80, 0.62, 0.33], [0.50, 0.33, 0.19],
    [0.28, 0.18, 0.11], [0.09, 0.08, 0.08],
])
_AUBURN = np.array([0.72, 0.28, 0.12])
_IRIS = np.array([
    [0.22, 0.45, 0.78], [0.28, 0.55, 0.35], [0.52, 0.42, 0.20],
    [0.38, 0.22, 0.11], [0.16, 0.10, 0.07],
])


def factor_table():
    """The factor table as a flat DataFrame (name, distribution, mean, std, p, description)."""
    rows = [dict(name=n, distribution="normal", mean=m, std=s, p=np.nan, description=d)
            for n, m, s, d in _CONTINUOUS]
    rows += [dict(name=n, distribution="bernoulli", mean=p, std=np.sqrt(p * (1 - p)), p=p,
                  description=d) for n, p, d in _BINARY]
    return pd.DataFrame(rows)


def draw_factors(n, seed=0, start=0):
    """Draw the factor table for images ``start .. start + n - 1``.

    Returns
    -------
    attributes : DataFrame of shape (n, len(ATTRIBUTE_NAMES))
        Continuous factors as float64, binary ones as int64 0/1; the index is
        the image index.
    """
    n = check_int(n, "n", low=0)
    start = check_int(start, "start", low=0)
    seed = check_int(seed, "seed", low=0)
    cont = np.empty((n, len(_CONTINUOUS)))
    binary = np.empty((n, len(_BINARY)), dtype=np.int64)
    stop = start + n
    for block in range(start // BLOCK, -(-stop // BLOCK)):
        rng = np.random.default_rng([seed, block])
        c = _MEANS + _STDS * rng.standard_normal((BLOCK, len(_CONTINUOUS)))
        b = (rng.random((BLOCK, len(_BINARY))) < _PROBS).astype(np.int64)
        lo, hi = max(start, block * BLOCK), min(stop, (block + 1) * BLOCK)
        cont[lo - start:hi - start] = c[lo - block * BLOCK:hi - block * BLOCK]
        binary[lo - start:hi - start] = b[lo - block * BLOCK:hi - block * BLOCK]
    df = pd.DataFrame(cont, columns=CONTINUOUS_NAMES, index=np.arange(start, stop, dtype=np.int64))
    for k, name in enumerate(BINARY_NAMES):
        df[name] = binary[:, k]
    return df


def generate(n, size=64, seed=0, start=0, channels=3):
    """Render ``n`` synthetic faces and return them with their factors.

    Parameters
    ----------
    n : int
        Number of images (>= 1).
    size : int
        Image side in pixels, 16 to 128.
    seed : int
        Dataset seed (>= 0).
    start : int
        Index of the first image; image ``i`` is the same for every split.
    channels : {1, 3}
        1 = luminance, 3 = RGB.

    Returns
    -------
    images : ndarray of shape (n, size, size, channels), float32 in [0, 1]
    attributes : DataFrame of shape (n, n_factors), index = image indices
    """
    n = check_int(n, "n", low=1)
    size = check_int(size, "size", low=MIN_SIZE, high=MAX_SIZE)
    channels = check_int(channels, "channels")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    attrs = draw_factors(n, seed=seed, start=start)
    scene = _scene(attrs, channels)
    images = np.empty((n, size, size, channels), np.float32)
    chunk = max(1, _CHUNK_PIXELS // (size * size))
    grid = _grid(size)
    # The per-image colour products are tiny; OpenBLAS threads only add
    # synchronisation cost (10-50x slower on a busy machine), so use one.
    with _single_thread_blas():
        for lo in range(0, n, chunk):
            part = {k: x[lo:lo + chunk] for k, x in scene.items()}
            _render(part, grid, size, images[lo:lo + chunk])
    return images, attrs


def _single_thread_blas():
    return threadpool_limits(1, user_api="blas")


# ----------------------------------------------------------------------------
# rendering


def _palette(t, colours):
    """Piecewise-linear colour lookup; t in [0, 1] of shape (B,) -> (B, 3)."""
    pos = np.clip(t, 0.0, 1.0) * (len(colours) - 1)
    i = np.minimum(pos.astype(int), len(colours) - 2)
    frac = (pos - i)[:, None]
    return colours[i] * (1 - frac) + colours[i + 1] * frac


def _hsv(h, s, v):
    """Vectorised HSV -> RGB for arrays of shape (B,)."""
    h = np.mod(h, 1.0) * 6.0
    k = np.stack([np.mod(5 + h, 6), np.mod(3 + h, 6), np.mod(1 + h, 6)], axis=1)
    return v[:, None] - (v * s)[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def _scene(attrs, channels):
    """Per-image geometry (n, 1) and layer colours (n, C) from the factors."""
    f = {name: attrs[name].to_numpy(np.float64) for name in ATTRIBUTE_NAMES}
    n = len(attrs)
    g = {}
    g["scale"] = np.maximum(f["face_scale"], 0.3)
    g["cx"], g["cy"] = f["shift_x"], 0.02 + f["shift_y"]
    g["ct"], g["st"] = np.cos(f["head_tilt"]), np.sin(f["head_tilt"])
    g["hw"] = hw = np.maximum(f["head_width"], 0.3)
    g["hh"] = hh = np.maximum(f["head_height"], 0.4)
    g["hv"] = np.clip(f["hair_volume"], 0.0, 0.2)
    g["es"] = np.clip(f["eye_spacing"], 0.12, 0.35)
    g["ez"] = ez = np.clip(f["eye_size"], 0.035, 0.13)
    g["ey"] = ey = f["eye_height"]
    g["nl"] = nl = np.clip(f["nose_length"], 0.08, 0.32)
    g["mw"] = np.clip(f["mouth_width"], 0.07, 0.3)
    g["my"] = ey + nl + 0.15
    g["smiling"] = smiling = f["smiling"]
    g["curve"] = f["mouth_curve"] + 1.5 * smiling
    g["th"] = 0.028 + 0.05 * smiling
    g["gaze"] = np.clip(f["gaze_x"], -1, 1) * ez * 0.6
    g["hair_length"] = f["hair_length"]
    g["hairline"], g["hair_part"] = f["hairline"], f["hair_part"]
    g["brow_tilt"] = f["brow_tilt"]
    g["brow_y"] = ey - ez - f["brow_height"] * 0.8
    g["brow_th"] = 0.026 + 0.004 * np.maximum(f["hair_darkness"], 0)
    g["nose_x"] = -0.035 * np.sign(f["light_x"] + 1e-9)
    g["light_x"], g["light_y"] = f["light_x"], f["light_y"]
    for name in BINARY_NAMES:
        g[name] = f[name]
    geometry = {k: np.asarray(x, np.float32).reshape(n, 1) for k, x in g.items()}

    skin = _palette((f["skin_tone"] + 2.5) / 5.0, _SKIN)
    hair = _palette((f["hair_darkness"] + 2.2) / 4.4, _HAIR)
    red = np.clip(f["hair_warmth"] - 0.8, 0.0, 1.0)[:, None] * 0.8
    hair = hair * (1 - red) + _AUBURN * red
    bright = np.clip(f["bg_brightness"], 0.3, 1.0)
    ones = np.ones(n)
    hat = _hsv(f["bg_hue"] + 0.5, 0.7 * ones, 0.55 * ones)
    s = smiling[:, None]
    colours = {
        "bg_top": _hsv(f["bg_hue"], 0.35 * ones, bright),
        "bg_bottom": _hsv(f["bg_hue"] + 0.04, 0.45 * ones, bright * 0.7),
        "shirt": _hsv(f["shirt_hue"], 0.55 * ones, 0.6 * ones),
        "hair_back": hair * 0.85,
        "neck": skin * 0.74,
        "ears": skin * 0.9,
        "earrings": np.broadcast_to([0.95, 0.78, 0.25], (n, 3)),
        "head_shadow": skin * 0.84,
        "head_lit": np.minimum(skin * 1.06, 1.0),
        "beard": hair * 0.8,
        "nose_ridge": skin * 0.72,
        "nose_tip": skin * 0.66,
        "mouth": np.array([0.62, 0.2, 0.22]) * (1 - s) + np.array([0.3, 0.05, 0.07]) * s,
        "teeth": np.full((n, 3), 0.97),
        "eye_white": np.full((n, 3), 0.97),
        "iris": _palette((f["iris_colour"] + 2.0) / 4.0, _IRIS),
        "pupil": np.full((n, 3), 0.06),
        "highlight": np.full((n, 3), 0.97),
        "brows": hair * 0.8,
        "hair": hair,
        "glasses": np.broadcast_to([0.08, 0.08, 0.1], (n, 3)),
        "hat_crown": hat,
        "hat_brim": hat * 0.8,
    }
    cols = np.stack([colours[k] for k in _LAYERS], axis=1)            # (n, K, 3)
    if channels == 1:
        cols = cols @ np.array([[0.299], [0.587], [0.114]])
    geometry["colours"] = cols.astype(np.float32)                        # (n, K, C)
    return geometry


#: Layers from bottom to top.
_LAYERS = [
    "bg_top", "bg_bottom", "shirt", "hair_back", "neck", "ears", "earrings",
    "head_shadow", "head_lit", "beard", "nose_ridge", "nose_tip", "mouth", "teeth",
    "eye_white", "iris", "pupil", "highlight", "brows", "hair", "glasses",
    "hat_crown", "hat_brim",
]


def _grid(size):
    c = (np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0
    return np.tile(c, size)[None, :], np.repeat(c, size)[None, :]   # x, y: (1, P)


def _clip01(x):
    # Two ufunc calls are cheaper than np.clip's Python wrapper on small arrays.
    np.maximum(x, 0.0, out=x)
    np.minimum(x, 1.0, out=x)
    return x


def _ramp(d, inv_px):
    """Coverage of the region d < 0: linear ramp one pixel wide (in place)."""
    d *= -inv_px
    d += 0.5
    return _clip01(d)


def _ellipse(u, v, cx, cy, a, b, inv_px):
    """Anti-aliased coverage of the ellipse ((u-cx)/a)² + ((v-cy)/b)² < 1."""
    du = u * (1.0 / a) if _is_zero(cx) else (u - cx) * (1.0 / a)
    dv = v * (1.0 / b) if _is_zero(cy) else (v - cy) * (1.0 / b)
    np.square(du, out=du)
    np.square(dv, out=dv)
    du += dv
    np.sqrt(du, out=du)
    # Approximate signed distance (radial excess times the smaller half-axis),
    # turned into a coverage ramp one pixel wide: 0.5 - d / px.
    k = np.minimum(a, b) * inv_px
    du *= -k
    du += 0.5 + k
    return _clip01(du)


def _is_zero(x):
    return isinstance(x, float) and x == 0.0


def _below(v, level, inv_px):
    """Coverage of v > level."""
    return _ramp(level - v, inv_px)


def _above(v, level, inv_px):
    """Coverage of v < level."""
    return _ramp(v - level, inv_px)


class _Frame:
    """Face-frame pixel coordinates of a batch: u right, v down, (B, P) each."""

    def __init__(self, u, v, au, inv_px):
        self.u, self.v, self.au, self.inv_px = u, v, au, inv_px

    def take(self, rows):
        return _Frame(self.u[rows], self.v[rows], self.au[rows], self.inv_px[rows])


def _optional(flag, draw, fr, g, n_layers):
    """Draw an optional feature only for the images that have it.

    Returns ``n_layers`` masks of shape (B, P), zero where the flag is off.
    """
    rows = np.flatnonzero(flag[:, 0] > 0)
    B, P = fr.u.shape
    if rows.size == B:
        return draw(fr, g)
    out = [np.zeros((B, P), np.float32) for _ in range(n_layers)]
    if rows.size:
        sub = {k: x[rows] for k, x in g.items()}
        for o, m in zip(out, draw(fr.take(rows), sub)):
            o[rows] = m
    return out


def _earrings(fr, g):
    return [_ellipse(fr.au, fr.v, g["hw"] * 0.98, g["ey"] + 0.23, 0.035, 0.035, fr.inv_px)]


def _beard(fr, g):
    # Lower part of a slightly larger head, below the nose.
    u, v = fr.u, fr.v
    jaw = 1.0 - 0.13 / g["hh"] * v
    m = _ellipse(u / jaw, v, 0.0, 0.01, g["hw"] * 1.03, g["hh"] * 1.04, fr.inv_px)
    m *= _below(v, g["ey"] + g["nl"] + 0.04, fr.inv_px)
    m *= 0.95
    return [m]


def _teeth(fr, g):
    vb = fr.v + fr.u * fr.u * g["curve"]
    th, mw = g["th"], g["mw"]
    teeth = _ellipse(fr.u, vb, 0.0, g["my"] - th * 0.55, mw * 0.85, th * 0.45, fr.inv_px)
    teeth *= _ellipse(fr.u, vb, 0.0, g["my"], mw * 1.2, th, fr.inv_px)
    return [teeth]


def _glasses(fr, g):
    au, v, inv_px = fr.au, fr.v, fr.inv_px
    es, ey, hw = g["es"], g["ey"], g["hw"]
    R = g["ez"] * 1.45 + 0.05
    lw = 0.016
    ring = _ellipse(au, v, es, ey, R, R * 0.8, inv_px)
    ring -= _ellipse(au, v, es, ey, R - 2 * lw, R * 0.8 - 2 * lw, inv_px)
    # Bridge between the lenses and temples out to the ears.
    band = _above(np.abs(v - (ey - 0.02)), lw, inv_px)
    outside = _below(au, es + R - 0.01, inv_px)
    outside *= _above(au, hw, inv_px)
    outside += _above(au, es - R + 0.01, inv_px)
    band *= outside
    np.maximum(ring, band, out=ring)
    return [ring]


def _hat(fr, g):
    u, v, inv_px = fr.u, fr.v, fr.inv_px
    hw, hh, hv = g["hw"], g["hh"], g["hv"]
    crown = _ellipse(u, v, 0.0, -hh * 0.55, hw * 1.08 + hv, hh * 0.62, inv_px)
    crown *= _above(v, -hh * 0.42, inv_px)
    brim = _ellipse(u, v, 0.0, -hh * 0.45, hw * 1.35 + hv, 0.075, inv_px)
    return [crown, brim]


def _render(g, grid, size, out):
    """Draw the batch described by ``g`` into ``out`` of shape (B, size, size, C)."""
    gx, gy = grid
    B = g["hw"].shape[0]
    # Face frame: translate, rotate by the head tilt, divide by the scale.
    X = gx - g["cx"]
    Y = gy - g["cy"]
    cs, ss = g["ct"] / g["scale"], g["st"] / g["scale"]
    u = X * cs
    u += Y * ss
    v = Y * cs
    v -= X * ss
    au = np.abs(u)                              # mirrored features use |u|
    inv_px = g["scale"] * (size / 2.0)          # face units -> pixels
    fr = _Frame(u, v, au, inv_px)
    hw, hh, hv, ey, es, ez = g["hw"], g["hh"], g["hv"], g["ey"], g["es"], g["ez"]

    L = {}
    L["shirt"] = _ellipse(u, v, 0.0, hh + 0.72, hw * 1.9, 0.55, inv_px)
    # Hair behind the head; its bottom edge is hair_length.
    hb = g["hair_length"]
    top = -(hh + hv)
    bottom = np.maximum(hb + 0.1, 0.0)
    m = _ellipse(u, v, 0.0, (top + bottom) / 2, hw * 1.12 + hv,
                 np.maximum((bottom - top) / 2, 0.3), inv_px)
    m *= _above(v, hb, inv_px)
    L["hair_back"] = m
    L["neck"] = _ellipse(u, v, 0.0, hh * 0.85, hw * 0.4, 0.4, inv_px)
    L["ears"] = _ellipse(au, v, hw * 0.96, ey + 0.06, 0.085, 0.13, inv_px)
    L["earrings"], = _optional(g["earrings"], _earrings, fr, g, 1)
    # Head: egg-shaped (narrower jaw), split into a lit and a shadowed colour.
    jaw = 1.0 - 0.13 / hh * v
    head = _ellipse(u / jaw, v, 0.0, 0.0, hw, hh, inv_px)
    shade = u * g["light_x"]
    shade += v * g["light_y"]
    shade *= 0.7 / hw
    shade += 0.5
    head_lit = head * _clip01(shade)
    head -= head_lit
    L["head_shadow"], L["head_lit"] = head, head_lit
    L["beard"], = _optional(g["beard"], _beard, fr, g, 1)
    # Nose: soft shadow along the ridge plus a darker tip.
    nl = g["nl"]
    m = _ellipse(u, v, g["nose_x"], ey + nl * 0.55, 0.03, nl * 0.45, inv_px)
    m *= 0.45
    L["nose_ridge"] = m
    m = _ellipse(u, v, 0.0, ey + nl, 0.065, 0.04, inv_px)
    m *= 0.85
    L["nose_tip"] = m
    # Mouth: an ellipse bent along the parabola v = my - curve * u².
    vb = u * u
    vb *= g["curve"]
    vb += v
    L["mouth"] = _ellipse(u, vb, 0.0, g["my"], g["mw"] * (1 + 0.2 * g["smiling"]), g["th"], inv_px)
    L["teeth"], = _optional(g["smiling"], _teeth, fr, g, 1)
    # Eyes: white, iris (gazing), pupil and highlight, mirrored about u = 0.
    eye = _ellipse(au, v, es, ey, ez * 1.45, ez, inv_px)
    L["eye_white"] = eye
    side = np.sign(u)
    icx = g["gaze"] * side
    icx += es
    m = _ellipse(au, v, icx, ey, ez * 0.72, ez * 0.72, inv_px)
    m *= eye
    L["iris"] = m
    m = _ellipse(au, v, icx, ey, ez * 0.36, ez * 0.36, inv_px)
    m *= eye
    L["pupil"] = m
    icx -= ez * 0.22 * side
    L["highlight"] = _ellipse(au, v, icx, ey - ez * 0.22, ez * 0.16, ez * 0.16, inv_px)
    # Brows: sheared and arched thin ellipses.
    du = au - es
    vbrow = du * du
    vbrow *= 1.5
    vbrow += v
    vbrow -= du * g["brow_tilt"]
    L["brows"] = _ellipse(du, vbrow, 0.0, g["brow_y"], ez * 1.5 + 0.03, g["brow_th"], inv_px)
    # Hair on top of the head, down to an arched hairline with sideburns.
    cap = _ellipse(u, v, 0.0, -hh * 0.1, hw + hv + 0.03, hh * 0.9 + hv, inv_px)
    # Quartic arch: flat over the brows, dropping fast into sideburns.
    uq = u * (1.0 / hw)
    np.square(uq, out=uq)
    np.square(uq, out=uq)
    uq *= 0.45
    uq += g["hairline"]
    uq += u * g["hair_part"]
    cap *= _above(v, uq, inv_px)
    L["hair"] = cap
    L["glasses"], = _optional(g["glasses"], _glasses, fr, g, 1)
    L["hat_crown"], L["hat_brim"] = _optional(g["hat"], _hat, fr, g, 2)

    # Composite top-down: weight_k = mask_k * remaining transmittance.
    K = len(_LAYERS)
    P = gx.shape[1]
    W = np.empty((B, K, P), np.float32)
    T = np.ones((B, P), np.float32)
    for k in range(K - 1, 1, -1):
        np.multiply(L[_LAYERS[k]], T, out=W[:, k])
        T -= W[:, k]
    # Background: the rest, as a vertical gradient between two colours.
    np.multiply(T, (gy + 1.0) * 0.5, out=W[:, 1])
    np.subtract(T, W[:, 1], out=W[:, 0])
    # (B, P, K) @ (B, K, C), written straight into the output images.
    flat = out.reshape(B, P, out.shape[3])
    for i in range(B):      # 2-D products use BLAS' transpose flag; no copies
        np.matmul(W[i].T, g["colours"][i], out=flat[i])
    # Global lighting gradient over the whole picture.
    light = gx * g["light_x"]
    light += gy * g["light_y"]
    light *= 0.18
    light += 1.0
    flat *= light[:, :, None]
    _clip01(flat)
    return out
