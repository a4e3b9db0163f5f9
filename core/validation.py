"""Input validation shared by every module.

All checks raise ``ValueError`` with a message that names the parameter and
the value received, so the command line can print it as one line and the
dashboard can show it without a traceback.
"""

from __future__ import annotations

import numbers

import numpy as np

from core.chunks import row_blocks

#: Largest number of vectors any sampler, path or decode call will produce
#: in one request.  Protects the dashboard and the CLI from absurd requests.
MAX_SAMPLES = 200_000


def check_latents(Z, name="Z", min_rows=1, z_dim=None, finite=True):
    """Validate a latent matrix without copying it.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
        Latent vectors.  A float32/float64 ``np.memmap`` is returned as is.
    name : str
        Name used in error messages.
    min_rows : int
        Smallest acceptable number of rows.
    z_dim : int or None
        Required number of columns, if known (e.g. the model's z_dim).
    finite : bool
        Refuse NaN and infinite values.

    Returns
    -------
    Z : ndarray of shape (n_samples, z_dim), floating dtype
    """
    if isinstance(Z, np.ndarray) and Z.dtype == object:
        raise ValueError(f"{name} has dtype object; a numeric latent matrix is required")
    try:
        arr = np.asarray(Z)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} cannot be converted to an array: {exc}") from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} has dtype {arr.dtype}; a numeric latent matrix is required")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} has complex dtype {arr.dtype}; real values are required")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, z_dim), got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows; at least {min_rows} are required")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} has no columns (shape {arr.shape})")
    if z_dim is not None and arr.shape[1] != z_dim:
        raise ValueError(
            f"{name} has {arr.shape[1]} components but the model's z_dim is {z_dim}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if finite:
        bad = _count_nonfinite(arr)
        if bad:
            raise ValueError(f"{name} contains {bad} NaN or infinite values")
    return arr


def _count_nonfinite(arr):
    # Chunked so a memory-mapped 200k x 256 matrix is never copied whole.
    bad = 0
    for _, block in row_blocks(arr):
        bad += int(block.size - np.count_nonzero(np.isfinite(block)))
    return bad


def check_int(value, name, low=None, high=None, strict=False):
    """Return ``value`` as an int, or raise naming ``name`` and the value.

    ``low`` and ``high`` are inclusive bounds.  ``bool`` is never an int;
    with ``strict`` a float is not either (``2.0`` is refused: config files),
    otherwise an integral float such as ``2.0`` is accepted.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if not strict and isinstance(value, numbers.Real) and np.isfinite(float(value)) \
                and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_float(value, name, low=None, high=None, low_inclusive=True, high_inclusive=True):
    """Return ``value`` as a finite float within bounds, or raise naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None:
        if value < low or (not low_inclusive and value == low):
            op = ">=" if low_inclusive else ">"
            raise ValueError(f"{name} must be {op} {low}, got {value}")
    if high is not None:
        if value > high or (not high_inclusive and value == high):
            op = "<=" if high_inclusive else "<"
            raise ValueError(f"{name} must be {op} {high}, got {value}")
    return value


def check_positive(value, name):
    """Return ``value`` as a float > 0, or raise naming it."""
    return check_float(value, name, low=0.0, low_inclusive=False)


#: Largest scale parameter of a sampler (uniform box ``b``, interval
#: factors ``f``, ellipse ``level``, ``reg_covar``): far beyond any latent
#: range, and small enough that sampled float32 values stay finite
#: (``b = 1e308`` overflowed NumPy, ``b = 1e200`` gave all-inf float32).
MAX_SCALE = 1e6
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_scale(value, name, high=MAX_SCALE):
    """Return ``value`` as a float in (0, high] (default ``MAX_SCALE``), or raise naming it."""
    return check_float(value, name, low=0.0, high=high, low_inclusive=False)


def check_float32_range(bound, name, value):
    """Raise naming parameter ``name`` = ``value`` if samples can reach ``|bound|`` beyond float32."""
    if not np.isfinite(bound) or bound > FLOAT32_MAX / 2:
        raise ValueError(f"{name}={value!r} makes sampled values exceed the float32 range "
                         f"(largest |value| {bound:.3g})")


def check_n_samples(n_samples, name="n_samples"):
    """Validate a requested number of vectors: 1 <= n <= MAX_SAMPLES."""
    return check_int(n_samples, name, low=1, high=MAX_SAMPLES)


def check_component(index, z_dim, name="component"):
    """Validate a component index in [0, z_dim)."""
    return check_int(index, name, low=0, high=z_dim - 1)


def check_pair(i, j, z_dim):
    """Validate a coordinate-plane pair: two different indices in [0, z_dim)."""
    i = check_component(i, z_dim, "i")
    j = check_component(j, z_dim, "j")
    if i == j:
        raise ValueError(f"pair indices must differ, got i = j = {i}")
    return i, j


def check_random_state(random_state):
    """Turn None, an int or a Generator into a ``np.random.Generator``."""
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    raise ValueError(f"random_state must be None, an int or a numpy Generator, got {random_state!r}")
