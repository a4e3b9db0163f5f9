"""Scoreboard rows cached on disk by the content of the run they were computed on.

A cold Draw on the Samplers page decodes and re-encodes 2,000 vectors per
row, which costs seconds per row; the rows are small (a dozen floats), so
they are kept on disk (JSON, no pickles) under :func:`core.cache.cache_dir`
and a server restart or another session with the same choices gets them at
once.  The key is :func:`run_content_key` (the latent matrix's bytes and the
encoder and decoder files, so a retrained run never gets a stale row) plus
every parameter that the row depends on.
"""

from __future__ import annotations

import hashlib
import json

from core.cache import cache_dir, content_key
from core.runs.runs import atomic_write_bytes


def run_content_key(run):
    """SHA-256 of a run's latents (:func:`core.cache.content_key`) and model files.

    Parameters
    ----------
    run : core.runs.runs.Run

    Returns
    -------
    key : str, 64 hex digits
    """
    h = hashlib.sha256(content_key(run.latents).encode())
    for name in ("encoder.keras", "decoder.keras"):
        path = run.path / name
        h.update(name.encode())
        if path.exists():
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def _path(run_key, kind, params):
    digest = hashlib.sha256(f"{run_key}|{kind}|{params!r}".encode()).hexdigest()
    return cache_dir() / "scores" / f"{digest}.json"


def cached_row(run_key, kind, params, compute):
    """``compute()`` (a dict of str -> float), cached on disk by run content and parameters.

    Parameters
    ----------
    run_key : str
        :func:`run_content_key` of the run.
    kind : str
        What is scored ("sampler", "holdout", ...).
    params : tuple
        Everything else the row depends on, as plain values (their ``repr``
        is part of the key: sampler name, sorted parameter items, n, seed,
        metric settings).
    compute : callable () -> dict

    Returns
    -------
    row : dict of str -> float
    """
    path = _path(run_key, kind, params)
    if path.exists():
        try:
            return {k: float(v) for k, v in json.loads(path.read_text()).items()}
        except (OSError, ValueError, AttributeError):  # a damaged entry is recomputed
            path.unlink(missing_ok=True)
    row = {k: float(v) for k, v in compute().items()}
    # NaN is valid in Python's JSON (nn_ratio without a hold-out).
    atomic_write_bytes(path, json.dumps(row).encode())
    return row


__all__ = ["run_content_key", "cached_row"]
