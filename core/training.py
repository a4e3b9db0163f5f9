"""Training a CAE into a run folder (§3 F3): config, pipeline, progress,
checkpoints every epoch, resume, cancel, and distribution strategies.

Layout written under the run folder (see :mod:`core.runs`)::

    config.json, progress.json, history.json
    checkpoints/epoch-NNNN.keras  autoencoder + optimizer state after epoch NNNN
    checkpoints/state.json   epochs done, history so far and the name of the
                             model file that goes with them (written after the
                             model, so a kill in between resumes consistently)
    checkpoints/images_u8.npy, checkpoints/index.npy, checkpoints/attributes.csv
                             the dataset materialised once as uint8 (streamed)
    encoder.keras, decoder.keras, latents.npy, index.npy, attributes.csv
    metadata.json            last, marks the run complete
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from core import runs
from core.model import ModelConfig
from core.validation import check_float, check_int

STRATEGIES = ("default", "mirrored", "multiworker")
CANCEL_FILE = "cancel"
#: Files that may already be in a new run folder (written by :func:`launch`).
LAUNCH_FILES = ("run.lock", "requested_config.json", "train.log")


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run; round-trips through JSON.

    Attributes
    ----------
    dataset : str
        "synthfaces", "digits", or a path to a folder, zip or array file.
    limit : int or None
        Use only the first ``limit`` images (synthfaces: how many to draw).
    data_seed : int
        Seed of procedural data sources.
    crop : int or None
        Centre crop before resizing (CelebA convention 140).
    val_fraction : float
        Fraction of images held out for validation (the last ones).
    epochs, batch_size : int
    learning_rate : float
        Adam step size.
    seed : int
        Seed for weights and shuffling.
    strategy : str
        "default", "mirrored" (all local devices) or "multiworker"
        (``TF_CONFIG`` describes the cluster).
    model : ModelConfig
    """

    dataset: str = "synthfaces"
    limit: int | None = None
    data_seed: int = 0
    crop: int | None = None
    val_fraction: float = 0.1
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    strategy: str = "default"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)

    def validate(self):
        """Raise ``ValueError`` naming the first bad field."""
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a name or a path, got {self.dataset!r}")
        # Strict types: bool is not int, 2.0 is not int (config files are untrusted).
        if self.limit is not None:
            check_int(self.limit, "limit", 2, strict=True)
        if self.crop is not None:
            check_int(self.crop, "crop", 8, 4096, strict=True)
        check_int(self.data_seed, "data_seed", 0, 2**32 - 1, strict=True)
        check_float(self.val_fraction, "val_fraction", 0.0, 0.5, low_inclusive=False)
        check_int(self.epochs, "epochs", 1, 10_000, strict=True)
        check_int(self.batch_size, "batch_size", 1, 4096, strict=True)
        check_float(self.learning_rate, "learning_rate", 0.0, 1.0, low_inclusive=False)
        check_int(self.seed, "seed", 0, 2**32 - 1, strict=True)
        if not isinstance(self.strategy, str) or self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if not isinstance(self.model, ModelConfig):
            raise ValueError("model must be a ModelConfig")
        self.model.validate()
        return self

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise ValueError(f"train config must be a JSON object, got {d!r:.80}")
        d = dict(d)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown train config fields: {sorted(unknown)}")
        model = d.pop("model", {})
        model = model if isinstance(model, ModelConfig) else ModelConfig.from_dict(model)
        return cls(model=model, **d).validate()

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text):
        try:
            data = json.loads(text, parse_float=runs._finite_float, parse_constant=runs._no_constant)
        except RecursionError:
            raise ValueError("train config is nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError, NaN/Infinity
            raise ValueError(f"train config is not valid JSON: {exc}") from None
        return cls.from_dict(data)


# ---------------------------------------------------------------- data

def available_memory():
    """Bytes of memory available to new allocations (``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_resources(source, config, out):
    """Refuse up front a run the disk or the memory cannot hold (one-line ``ValueError``).

    Training writes the images once as uint8 (``checkpoints/images_u8.npy``,
    n x size x size x channels bytes) plus latents and index on disk, and
    holds the (n, z_dim) float32 latents in memory while encoding.  Checked
    before the run folder is created, so ``--limit 1000000000`` does not
    start a terabyte cache file.
    """
    n, s, c = int(source.n_images), int(source.size), int(source.channels)
    z = int(config.model.z_dim)
    cache_bytes = 0 if (Path(out) / "checkpoints" / "data_done").exists() else n * s * s * c
    disk_bytes = cache_bytes + n * (z * 4 + 8)
    folder = Path(out).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if disk_bytes > free:
        raise ValueError(f"{n:,} images of {s}x{s}x{c} need {disk_bytes / 2**30:,.1f} GiB on disk "
                         f"(image cache and latents) but {folder} has {free / 2**30:,.1f} GiB free; "
                         "use a smaller limit")
    mem = available_memory()
    need = n * z * 4
    if mem is not None and need > mem:
        raise ValueError(f"{n:,} latent vectors of z_dim {z} need {need / 2**30:,.1f} GiB of memory but "
                         f"{mem / 2**30:,.1f} GiB are available; use a smaller limit")
    return disk_bytes


def materialise(source, folder, batch_size=512, progress=None):
    """Stream a data source once into ``folder/images_u8.npy`` (uint8 memmap).

    Returns (images_u8 memmap (n, s, s, c), index (n,), attributes DataFrame or None).
    Skipped (unreadable) images are left out, so n may be smaller than the
    source's nominal count.
    """
    import pandas as pd

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / "images_u8.npy"
    if final.exists() and (folder / "index.npy").exists() and (folder / "data_done").exists():
        imgs = np.load(final, mmap_mode="r", allow_pickle=False)
        idx = np.load(folder / "index.npy", allow_pickle=False)
        attrs = pd.read_csv(folder / "attributes.csv") if (folder / "attributes.csv").exists() else None
        return imgs, idx, attrs
    n_max, s, c = source.n_images, source.size, source.channels
    tmp = folder / "images_u8.npy.tmp"
    mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n_max, s, s, c))
    idx_parts, attr_parts, pos = [], [], 0
    for images, attrs, index in source.iter_batches(batch_size):
        b = images.shape[0]
        mm[pos:pos + b] = np.clip(images * 255.0 + 0.5, 0, 255).astype(np.uint8)
        idx_parts.append(np.asarray(index, np.int64))
        if attrs is not None:
            attr_parts.append(attrs)
        pos += b
        if progress:
            progress(pos, n_max)
    mm.flush()
    del mm
    if pos == 0:
        tmp.unlink()
        raise ValueError(f"data source {source.name!r} yielded no readable images")
    if pos < n_max:  # skipped files: shrink to what was read
        full = np.load(tmp, mmap_mode="r")
        runs.atomic_save_npy(final, np.asarray(full[:pos]))
        del full
        tmp.unlink()
    else:
        os.replace(tmp, final)
    index = np.concatenate(idx_parts)
    runs.atomic_save_npy(folder / "index.npy", index)
    attributes = pd.concat(attr_parts, ignore_index=True) if attr_parts else None
    if attributes is not None:
        runs.atomic_write_bytes(folder / "attributes.csv", attributes.to_csv(index=False, float_format="%.6g").encode())
    runs.atomic_write_bytes(folder / "data_done", b"ok")
    return np.load(final, mmap_mode="r", allow_pickle=False), index, attributes


def make_dataset(images_u8, rows, batch_size, shuffle, seed, drop_remainder=False):
    """A ``tf.data`` pipeline of (x, x) float32 batches over rows of a uint8 memmap.

    Batches are gathered from the memmap with sorted row indices (cheap page
    reads) and converted to float in the graph.  ``drop_remainder`` keeps
    every batch full (replicas of a distribution strategy need equal shares).
    """
    import tensorflow as tf

    rows = np.asarray(rows)
    shape = images_u8.shape[1:]
    epoch = [0]

    def gen():
        order = rows
        if shuffle:
            order = np.random.default_rng([seed, epoch[0]]).permutation(rows)
            epoch[0] += 1
        stop = len(order) - (len(order) % batch_size if drop_remainder else 0)
        for s in range(0, stop, batch_size):
            yield images_u8[np.sort(order[s:s + batch_size])]

    ds = tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec((None,) + shape, tf.uint8))
    # A known length lets Keras size the epoch without running dry.
    n_batches = len(rows) // batch_size if drop_remainder else -(-len(rows) // batch_size)
    ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))
    ds = ds.map(lambda x: (tf.cast(x, tf.float32) / 255.0,) * 2, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- strategy

def configure_logical_cpus(n):
    """Split the CPU into ``n`` logical devices (MirroredStrategy tests on a CPU).

    Must run before TensorFlow initialises its devices.
    """
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * int(n))


def make_strategy(name):
    """The ``tf.distribute`` strategy for a config's ``strategy`` field."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


# ---------------------------------------------------------------- progress

def read_progress(path):
    """The run's ``progress.json`` as a dict (empty when absent or unreadable)."""
    try:
        progress = runs.read_json(Path(path) / "progress.json")
    except (ValueError, OSError):  # absent, unreadable, a FIFO, garbage
        return {}
    return progress if isinstance(progress, dict) else {}


def request_cancel(path):
    """Ask a training process to stop at its next batch (checkpoint kept)."""
    runs.atomic_write_bytes(Path(path) / CANCEL_FILE, b"cancel")


def _make_callback(run_path, epochs, steps, batch_size, start_epoch, history, on_progress, checkpoint):
    import keras

    class Progress(keras.callbacks.Callback):
        """Writes progress.json, checkpoints each epoch, honours cancel."""

        def __init__(self):
            super().__init__()
            self.cancelled = False
            self._last_write = 0.0
            self._t_epoch = time.time()
            self._rates = []

        def _emit(self, state, epoch, batch, logs, force=False):
            now = time.time()
            if not force and now - self._last_write < 1.0:
                return
            self._last_write = now
            done_steps = (epoch - start_epoch) * steps + batch
            elapsed = now - self._t0
            rate = done_steps / elapsed if elapsed > 0 and done_steps else 0.0
            left = (epochs - start_epoch) * steps - done_steps
            info = {
                "state": state, "epoch": epoch, "epochs": epochs, "batch": batch, "steps": steps,
                "fraction": min(1.0, (epoch * steps + batch) / max(1, epochs * steps)),
                "loss": float(logs.get("loss", float("nan"))) if logs else None,
                "images_per_s": rate * batch_size,
                "eta_s": left / rate if rate else None,
                "history": history, "updated": now, "pid": os.getpid(),
            }
            info = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in info.items()}
            runs.atomic_write_json(run_path / "progress.json", info)
            if on_progress:
                on_progress(info)

        def on_train_begin(self, logs=None):
            self._t0 = time.time()
            self._emit("running", start_epoch, 0, {}, force=True)

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (run_path / CANCEL_FILE).exists():
                self.cancelled = True
                self.model.stop_training = True
            self._emit("running", self._epoch, batch + 1, logs)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            for k, v in logs.items():
                history.setdefault(k, []).append(float(v))
            history.setdefault("epoch_time_s", []).append(time.time() - self._t_epoch)
            self._t_epoch = time.time()
            if not self.cancelled:
                checkpoint(epoch + 1)
            self._emit("cancelled" if self.cancelled else "running", epoch + 1, 0, logs, force=True)

    return Progress()


# ---------------------------------------------------------------- training

def train_run(config, out, resume=False, on_progress=None, encode=True):
    """Train a CAE and write a complete run folder.

    Parameters
    ----------
    config : TrainConfig or None
        None with ``resume=True`` reads the folder's config.json.
    out : str or Path
        Run folder (created).
    resume : bool
        Continue from the last checkpoint: epoch count and history go on.
        ``config.epochs`` may be raised to train longer.  A run killed or
        cancelled before its first checkpoint restarts from epoch 0 with its
        stored config (no dead end between "nothing to resume" and
        "already exists").
    on_progress : callable(dict) or None
        Called with the progress dict (also written to progress.json).
    encode : bool
        Encode the whole dataset at the end (latents.npy).

    Returns
    -------
    path : Path of the run folder; the run is complete unless cancelled
    (then ``progress.json`` says "cancelled" and resume continues).
    """
    out = Path(out)
    ckpt_dir = out / "checkpoints"
    if resume:
        if not out.is_dir():
            raise ValueError(f"nothing to resume in {out}: no such run folder")
    else:
        if config is None:
            raise ValueError("config is required unless resume=True")
        config.validate()
        # A bad data source, or one too large for the disk or the memory, is
        # refused before the run folder is created.
        source = open_config_source(config)
        check_resources(source, config, out)
    # Lock first, then look: two processes started together must not both
    # find the folder empty (the second gets the lock error).
    with runs.RunLock(out):
        if resume:
            # Looked at only under the lock: a trainer in its first epoch has
            # no checkpoint yet, and the answer must be "in use", not
            # "nothing to resume".
            stored_path = out / "config.json"
            if not stored_path.exists() and (out / "requested_config.json").exists():
                stored_path = out / "requested_config.json"  # killed before config.json was written
            if not stored_path.exists():
                raise ValueError(f"nothing to resume in {out}: no config.json")
            stored = TrainConfig.from_dict(runs.read_json(stored_path))
            if config is not None:
                stored.epochs = max(stored.epochs, int(config.epochs))
            config = stored
            # No checkpoint yet (killed or cancelled in the first epoch):
            # train again from epoch 0 in place -- but never a finished run
            # whose checkpoints were removed (that would retrain it).
            from_checkpoint = (ckpt_dir / "state.json").exists()
            if not from_checkpoint and any((out / f).exists() for f in ("metadata.json", "metadata.json.saved")):
                raise ValueError(f"nothing to resume in {out}: a finished run without a checkpoint "
                                 "(checkpoints/state.json)")
        elif any(p for p in out.iterdir() if p.name not in LAUNCH_FILES):
            raise ValueError(f"run folder {out} already exists and is not empty; use resume or another name")
        remove_stale_temps(out)
        if (out / CANCEL_FILE).exists():
            (out / CANCEL_FILE).unlink()
        # A retrained folder must not keep listing as complete (nor get old
        # metadata back from an interrupted write_latents).
        for f in ("metadata.json", "metadata.json.saved"):
            (out / f).unlink(missing_ok=True)
        runs.atomic_write_json(out / "config.json", config.to_dict())
        if resume:
            source = open_config_source(config)
            check_resources(source, config, out)
            resume = from_checkpoint
        return _train_locked(config, out, ckpt_dir, resume, on_progress, encode, source)


def open_config_source(config):
    """Open the data source a TrainConfig names (``ValueError`` for a bad one)."""
    from core.data import open_source

    m = config.model
    return open_source(config.dataset, size=m.image_size, channels=m.channels,
                       limit=config.limit, seed=config.data_seed, crop=config.crop)


def remove_stale_temps(out):
    """Delete temporary files a killed writer left behind (``.NAME.*.tmp``/``.keras``).

    Call only while holding the run's lock.  Returns the removed names.
    """
    removed = []
    for folder in (Path(out), Path(out) / "checkpoints"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.is_file() and p.name.startswith(".") and p.suffix in (".tmp", ".keras"):
                p.unlink()
                removed.append(p.name)
    return removed


def _train_locked(config, out, ckpt_dir, resume, on_progress, encode, source):
    import keras
    import tensorflow as tf

    t_start = time.time()
    m = config.model
    runs.atomic_write_json(out / "progress.json", {"state": "starting", "epoch": 0, "epochs": config.epochs,
                                                    "fraction": 0.0, "history": {}})

    def data_progress(done, total):
        runs.atomic_write_json(out / "progress.json", {"state": "starting", "epoch": 0, "epochs": config.epochs,
                                                        "fraction": 0.0, "message": f"reading images {done}/{total}",
                                                        "history": {}})
    images, index, attributes = materialise(source, ckpt_dir, progress=data_progress)
    n = images.shape[0]
    n_val = max(1, int(round(n * config.val_fraction)))
    if n - n_val < 1:
        raise ValueError(f"dataset has {n} images: too few to hold out {config.val_fraction:.0%} for validation")
    rows = np.arange(n)
    train_rows, val_rows = rows[:n - n_val], rows[n - n_val:]

    keras.utils.set_random_seed(config.seed)
    strategy = make_strategy(config.strategy)
    state = {"epoch": 0, "history": {}}
    with strategy.scope():
        if resume:
            state = runs.read_json(ckpt_dir / "state.json")
            # Older folders have no "model" entry: their file is last.keras.
            model_file = ckpt_dir / Path(state.get("model", "last.keras")).name
            if not model_file.is_file():
                raise ValueError(f"checkpoint {model_file.name} named by state.json is missing; cannot resume")
            # compile=True (default) restores the optimizer state; safe_mode refuses code.
            ae = keras.models.load_model(model_file, safe_mode=True)
        else:
            from core.model import build_cae

            _, _, ae = build_cae(m)
            ae.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")
    history = state["history"]
    start_epoch = int(state["epoch"])
    replicas = int(strategy.num_replicas_in_sync)
    global_batch = max(replicas, config.batch_size - config.batch_size % replicas)
    if len(train_rows) < global_batch:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {len(train_rows)} training images")
    train_ds = make_dataset(images, train_rows, global_batch, True, config.seed, drop_remainder=True)
    # Validation sees every image with one replica; with several, equal shares only.
    val_batch = global_batch if replicas == 1 else max(replicas, min(global_batch, len(val_rows)) // replicas * replicas)
    val_ds = make_dataset(images, val_rows, val_batch, False, config.seed, drop_remainder=replicas > 1)
    steps = len(train_rows) // global_batch

    def checkpoint(epochs_done):
        # Model first under a new name, then state.json naming it, then drop
        # older files: a kill at any point leaves a matching pair.
        name = f"epoch-{epochs_done:04d}.keras"
        runs.atomic_save_model(ckpt_dir / name, ae)
        runs.atomic_write_json(ckpt_dir / "state.json", {"epoch": epochs_done, "history": history, "model": name})
        for old in ckpt_dir.glob("*.keras"):
            if old.name != name and not old.name.startswith("."):
                old.unlink(missing_ok=True)

    cb = _make_callback(out, config.epochs, steps, global_batch, start_epoch, history, on_progress, checkpoint)
    if start_epoch < config.epochs:
        ae.fit(train_ds, validation_data=val_ds, epochs=config.epochs, initial_epoch=start_epoch,
               callbacks=[cb], verbose=0, shuffle=False)
    if cb.cancelled:
        (out / CANCEL_FILE).unlink(missing_ok=True)
        return out
    encoder, decoder = ae.get_layer("encoder"), ae.get_layer("decoder")
    runs.atomic_save_model(out / "encoder.keras", encoder)
    runs.atomic_save_model(out / "decoder.keras", decoder)
    runs.atomic_write_json(out / "history.json", history)
    if encode:
        runs.atomic_write_json(out / "progress.json", {"state": "encoding", "epoch": config.epochs,
                                                        "epochs": config.epochs, "fraction": 1.0,
                                                        "history": history})
        from core.encoding import encode_array, write_latents

        latents = encode_array(encoder, images)
        write_latents(out, latents, index, attributes)
        write_metadata(out, config, n_images=n, n_train=len(train_rows), n_val=len(val_rows),
                       train_seconds=float(sum(history.get("epoch_time_s", []))), source=source,
                       replicas=int(strategy.num_replicas_in_sync), strategy=config.strategy)
    runs.atomic_write_json(out / "progress.json", {"state": "done", "epoch": config.epochs, "epochs": config.epochs,
                                                    "fraction": 1.0, "history": history, "updated": time.time()})
    return out


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


def launch(config, out, resume=False, log_name="train.log"):
    """Start training in a detached background process (survives the browser).

    Returns the ``subprocess.Popen``; progress is read from progress.json.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "core", "train", "--out", str(out)]
    if resume:
        cmd.append("--resume")
        if config is not None:
            cmd += ["--epochs", str(config.epochs)]
    else:
        cfg_path = out / "requested_config.json"
        runs.atomic_write_json(cfg_path, config.to_dict())
        cmd += ["--config", str(cfg_path)]
    log = open(out / log_name, "ab")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=str(runs.REPO_ROOT))
