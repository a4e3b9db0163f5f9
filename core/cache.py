"""Disk cache for expensive results (statistics, fitted samplers).

Results are stored with joblib in a local folder outside the run folders
(``$LATENT_LAB_CACHE`` or ``.cache/latent-lab`` in the repository), keyed by
the *content* of the latent matrix they were computed from plus the
parameters, so a rewritten run never gets a stale result and run folders stay
free of pickles.  The cache holds only what this machine computed itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import joblib
import numpy as np

from core.chunks import CHUNK_ROWS, row_blocks
from core.runs.runs import REPO_ROOT, atomic_write_bytes


def cache_dir():
    """The cache folder (created on first use)."""
    # Set but empty counts as unset (Path("") would be the working directory).
    env = os.environ.get("LATENT_LAB_CACHE", "").strip()
    return Path(env or REPO_ROOT / ".cache" / "latent-lab")


def content_key(Z, chunk_rows=CHUNK_ROWS):
    """SHA-256 of an array's shape, dtype and bytes, read in chunks (memmap-safe).

    Parameters
    ----------
    Z : ndarray of shape (n_samples, z_dim)

    Returns
    -------
    key : str, 64 hex digits
    """
    Z = np.asarray(Z)
    h = hashlib.sha256(f"{Z.shape}|{Z.dtype.str}".encode())
    flat = Z.reshape(Z.shape[0], -1) if Z.ndim > 1 else Z.reshape(-1, 1)
    for _, block in row_blocks(flat, chunk_rows):
        h.update(np.ascontiguousarray(block).tobytes())
    return h.hexdigest()


def cached(func, Z, *args, key=None, **kwargs):
    """``func(Z, *args, **kwargs)``, cached on disk by the content of ``Z``.

    Parameters
    ----------
    func : callable
        A module-level function; its qualified name is part of the key.
    Z : ndarray of shape (n_samples, z_dim)
        Latent matrix, keyed by :func:`content_key`.
    key : str or None
        Precomputed content key of ``Z`` (saves re-hashing).
    *args, **kwargs
        Further arguments; their ``repr`` is part of the key, so pass plain
        values (numbers, strings, tuples).
    """
    key = key or content_key(Z)
    name = f"{func.__module__}.{func.__qualname__}"
    digest = hashlib.sha256(f"{name}|{key}|{args!r}|{sorted(kwargs.items())!r}".encode()).hexdigest()
    path = cache_dir() / name / f"{digest}.joblib"
    if path.exists():
        try:
            return joblib.load(path)
        except Exception:  # a damaged cache entry is recomputed, never fatal
            path.unlink(missing_ok=True)
    result = func(Z, *args, **kwargs)

    buf = io.BytesIO()
    joblib.dump(result, buf)
    atomic_write_bytes(path, buf.getvalue())
    return result


def clear():
    """Remove every cached result."""
    shutil.rmtree(cache_dir(), ignore_errors=True)
