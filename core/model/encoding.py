"""Encoding datasets into latent matrices, streamed in batches."""

from __future__ import annotations

import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.sources import open_config_source, open_source
from core.model.config import TrainConfig
from core.model.network import CompiledModel
from core.runs import runs


def encode_array(encoder, images, batch_size=256, progress=None):
    """Encode an image array (float in [0,1] or uint8 memmap) batch by batch.

    Parameters
    ----------
    encoder : keras.Model
    images : array of shape (n, size, size, channels); uint8 is scaled by 1/255

    Returns
    -------
    latents : ndarray of shape (n, z_dim), float32
    """
    fn = CompiledModel(encoder, batch_size)
    n = images.shape[0]
    out = np.empty((n, int(encoder.output_shape[-1])), np.float32)
    for s in range(0, n, batch_size):
        x = np.asarray(images[s:s + batch_size])
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 255.0
        out[s:s + batch_size] = fn(x)
        if progress:
            progress(min(n, s + batch_size), n)
    return out


def encode_source(encoder, source, batch_size=256, progress=None):
    """Stream a data source through the encoder.

    Returns
    -------
    latents : ndarray of shape (n, z_dim), float32
    index : ndarray of shape (n,), int64
    attributes : pandas.DataFrame or None
    """
    fn = CompiledModel(encoder, batch_size)
    parts, idx, attrs, done = [], [], [], 0
    for images, a, index in source.iter_batches(batch_size):
        parts.append(fn(images))
        idx.append(np.asarray(index, np.int64))
        if a is not None:
            attrs.append(a)
        done += images.shape[0]
        if progress:
            progress(done, source.n_images)
    if not parts:
        raise ValueError(f"data source {source.name!r} yielded no readable images")
    attributes = pd.concat(attrs, ignore_index=True) if attrs else None
    return np.concatenate(parts), np.concatenate(idx), attributes


def write_latents(out, latents, index, attributes=None, metadata=None):
    """Write latents.npy, index.npy and attributes.csv atomically into a run folder.

    metadata.json (whose presence marks a complete run) is renamed to
    ``metadata.json.saved`` first and renamed back after the last write, so
    a process killed between these writes leaves a folder that lists as
    incomplete, never one that mixes old and new files and looks complete;
    the old metadata stays on disk.  ``python -m core encode`` repairs it.
    With ``metadata`` (a dict) that is written as metadata.json instead, as
    the last step: latents and metadata then change together.
    """
    out = Path(out)
    latents = np.asarray(latents, np.float32)
    if latents.ndim != 2 or not np.all(np.isfinite(latents)):
        raise ValueError("the encoder produced NaN or infinite latent values" if latents.ndim == 2
                         else f"latents must be 2-D, got shape {latents.shape}")
    index = np.asarray(index, np.int64)
    if index.shape != (latents.shape[0],):
        raise ValueError(f"index has shape {index.shape} but there are {latents.shape[0]} latent vectors")
    meta, saved = out / "metadata.json", out / "metadata.json.saved"
    if meta.exists():
        os.replace(meta, saved)
    runs.atomic_save_npy(out / "latents.npy", latents)
    runs.atomic_save_npy(out / "index.npy", index)
    if attributes is not None:
        runs.atomic_write_bytes(out / "attributes.csv", attributes.to_csv(index=False, float_format="%.6g").encode())
    elif (out / "attributes.csv").exists():
        (out / "attributes.csv").unlink()
    if metadata is not None:
        runs.atomic_write_json(meta, metadata)
        saved.unlink(missing_ok=True)
    elif saved.exists():
        os.replace(saved, meta)


def encode_run(run, dataset=None, limit=None, batch_size=256, progress=None):
    """Re-encode a run's data (or another dataset) with its encoder; rewrites latents."""
    path = runs.resolve_run(run) if not isinstance(run, Path) else run
    # Every writer of a run folder takes its lock: encoding while a trainer
    # resumes would leave latents of one model next to another's files.
    with runs.RunLock(path):
        config = TrainConfig.from_dict(runs.read_json(path / "config.json"))
        encoder = runs.load_model(path / "encoder.keras")
        source = open_config_source(config.to_dict(), dataset=dataset, limit=limit)
        latents, index, attributes = encode_source(encoder, source, batch_size, progress)
        old = next((p for p in (path / "metadata.json", path / "metadata.json.saved") if p.exists()), None)
        if old is None:
            write_latents(path, latents, index, attributes)
            write_metadata(path, config, n_images=latents.shape[0], source=source)
        else:
            meta = runs.read_json(old)
            meta.update({"n_images": int(latents.shape[0]), "encoded_dataset": dataset or config.dataset})
            # The new metadata is written by write_latents as its last step, so
            # a kill anywhere never leaves old n_images next to new latents.
            write_latents(path, latents, index, attributes, metadata=meta)
    return path


def encode_set(run, name, dataset=None, limit=None, batch_size=256, progress=None, crop=None, seed=None):
    """Encode a dataset with a run's encoder into the named latent set ``RUN/sets/NAME``.

    The run's own latents.npy, index.npy, attributes.csv and metadata.json
    are never written.  ``set.json`` (source, limit, crop, seed, n_images,
    z_dim, time) is removed first and written last, so a set whose writer was
    killed lists as incomplete, never as a mix of old and new files.

    Parameters
    ----------
    run : str or Path
        Run name (artifacts root) or run folder path.
    name : str
        Set name (letters, digits, ``_ . -``; it must stay inside the run folder).
    dataset : str or None
        Any :func:`core.data.sources.open_source` spec; None: the run's own dataset.

    Returns
    -------
    Path of the set folder.
    """
    path = runs.resolve_run(run) if not isinstance(run, Path) else run
    runs.check_set_name(name)
    info = runs.run_status(path)
    if info.status != "complete":
        raise ValueError(f"run {path.name} is {info.status}: {info.reason}")
    target = runs.set_dir(path, name)
    with runs.RunLock(path):
        config = TrainConfig.from_dict(runs.read_json(path / "config.json"))
        m = config.model
        spec = dataset or config.dataset
        seed = config.data_seed if seed is None else seed
        crop = config.crop if crop is None and dataset is None else crop
        lim = limit if limit is not None else (config.limit if dataset is None else None)
        # The source is opened (and checked) before anything is written.
        source = open_source(spec, size=m.image_size, channels=m.channels, limit=lim, seed=seed, crop=crop)
        encoder = runs.load_model(path / "encoder.keras")
        latents, index, attributes = encode_source(encoder, source, batch_size, progress)
        if not np.all(np.isfinite(latents)):
            raise ValueError("the encoder produced NaN or infinite latent values")
        target.mkdir(parents=True, exist_ok=True)
        (target / runs.SET_META).unlink(missing_ok=True)
        runs.atomic_save_npy(target / "latents.npy", latents.astype(np.float32))
        runs.atomic_save_npy(target / "index.npy", np.asarray(index, np.int64))
        if attributes is not None:
            runs.atomic_write_bytes(target / "attributes.csv",
                                    attributes.to_csv(index=False, float_format="%.6g").encode())
        else:
            (target / "attributes.csv").unlink(missing_ok=True)
        runs.atomic_write_json(target / runs.SET_META, {
            "set": name, "run": path.name, "dataset": str(spec), "source": getattr(source, "name", str(spec)),
            "limit": lim, "crop": crop, "data_seed": seed,
            "n_images": int(latents.shape[0]), "z_dim": int(latents.shape[1]),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        })
    return target


def write_metadata(out, config, n_images, source=None, **extra):
    """Write metadata.json last (marks the run complete)."""
    import keras
    import tensorflow as tf

    hist = runs.read_json(Path(out) / "history.json") if (Path(out) / "history.json").exists() else {}
    meta = {
        "dataset": config.dataset,
        "dataset_description": source.describe() if source is not None and hasattr(source, "describe") else None,
        "image_size": config.model.image_size, "channels": config.model.channels,
        "z_dim": config.model.z_dim, "n_images": int(n_images),
        "final_loss": (hist.get("loss") or [None])[-1],
        "final_val_loss": (hist.get("val_loss") or [None])[-1],
        "epochs_trained": len(hist.get("loss", [])),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__},
    }
    meta.update(extra)
    runs.atomic_write_json(Path(out) / "metadata.json", meta)
