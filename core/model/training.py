"""Training a CAE into a run folder (docs/method.md, The autoencoder): pipeline, progress,
checkpoints every epoch, resume, cancel, and distribution strategies.

Layout written under the run folder (see :mod:`core.runs.runs`)::

    config.json, progress.json, history.json
    checkpoints/epoch-NNNN.npz  autoencoder + optimizer variables after epoch NNNN
                             (:mod:`core.model.checkpoints`; older runs: .keras)
    checkpoints/state.json   epochs done, history so far and the name of the
                             model file that goes with them (written after the
                             model, so a kill in between resumes consistently)
    checkpoints/images_u8.npy, checkpoints/index.npy, checkpoints/attributes.csv
                             the dataset materialised once as uint8 (streamed)
    encoder.keras, decoder.keras, latents.npy, index.npy, attributes.csv
    metadata.json            last, marks the run complete
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import weakref
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.sources import open_config_source
from core.model import checkpoints
from core.model.config import STRATEGIES, TrainConfig
from core.model.encoding import encode_array, write_latents, write_metadata
from core.model.network import build_cae
from core.model.tfenv import import_tensorflow_quietly
from core.runs import runs

CANCEL_FILE = "cancel"
#: Files that may already be in a new run folder (written by :func:`launch`).
LAUNCH_FILES = ("run.lock", "requested_config.json", "train.log")


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
    # Plain sequential writes, not a memory map: written pages of a map stay
    # in the process's resident set (GBs for CelebA); these do not.
    idx_parts, attr_parts, pos = [], [], 0
    with open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (n_max, s, s, c)})
        offset = fh.tell()
        for images, attrs, index in source.iter_batches(batch_size):
            b = images.shape[0]
            fh.write(np.clip(images * 255.0 + 0.5, 0, 255).astype(np.uint8).tobytes())
            idx_parts.append(np.asarray(index, np.int64))
            if attrs is not None:
                attr_parts.append(attrs)
            pos += b
            if progress:
                progress(pos, n_max)
    if pos == 0:
        tmp.unlink()
        raise ValueError(f"data source {source.name!r} yielded no readable images")
    if pos < n_max:  # skipped files: the header says pos rows, the file ends after them
        _shrink_npy(tmp, offset, (pos, s, s, c))
    os.replace(tmp, final)
    index = np.concatenate(idx_parts)
    runs.atomic_save_npy(folder / "index.npy", index)
    attributes = pd.concat(attr_parts, ignore_index=True) if attr_parts else None
    if attributes is not None:
        runs.atomic_write_bytes(folder / "attributes.csv", attributes.to_csv(index=False, float_format="%.6g").encode())
    runs.atomic_write_bytes(folder / "data_done", b"ok")
    return np.load(final, mmap_mode="r", allow_pickle=False), index, attributes


def _shrink_npy(path, offset, shape):
    """Rewrite a uint8 ``.npy`` header for fewer rows and cut the file after them."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "|u1", "fortran_order": False, "shape": shape})
    head = head.getvalue()
    size = int(np.prod(shape))
    if len(head) == offset:
        with open(path, "r+b") as fh:
            fh.write(head)
            fh.truncate(offset + size)
        return
    new = Path(str(path) + ".shrink")  # header length changed: copy in chunks
    with open(path, "rb") as src, open(new, "wb") as dst:
        dst.write(head)
        src.seek(offset)
        left = size
        while left:
            chunk = src.read(min(left, 64 * 2**20))
            dst.write(chunk)
            left -= len(chunk)
    os.replace(new, path)


def _row_reader(images):
    """``read(sorted_rows) -> array``: ``os.pread`` for a file-backed memmap
    (the page cache then is not mapped into this process, so its resident
    memory stays at a few batches over a 200,000-image epoch), fancy
    indexing otherwise."""
    filename = getattr(images, "filename", None)
    if not isinstance(images, np.memmap) or not filename:
        return lambda idx: images[idx]
    fd = os.open(filename, os.O_RDONLY)
    row = int(np.prod(images.shape[1:])) * images.itemsize
    base = int(images.offset)

    def read(idx):
        out = np.empty((len(idx),) + images.shape[1:], images.dtype)
        flat = out.reshape(len(idx), -1).view(np.uint8)
        for k, i in enumerate(idx):
            if os.preadv(fd, [flat[k]], base + int(i) * row) != row:
                raise ValueError(f"{filename} is truncated")
        return out

    weakref.finalize(read, os.close, fd)
    return read


#: Image caches up to this size (and a quarter of the free memory) are read
#: into one tensor and batches gathered in the graph; larger ones stream.
IN_MEMORY_MAX_BYTES = 1 << 30


def holds_in_memory(images_u8):
    """Whether :func:`make_dataset` reads ``images_u8`` into memory (else it streams rows)."""
    nbytes = int(images_u8.nbytes)
    if not isinstance(images_u8, np.memmap):
        return True  # already in memory
    mem = available_memory()
    return nbytes <= IN_MEMORY_MAX_BYTES and (mem is None or nbytes <= mem // 4)


def make_dataset(images_u8, rows, batch_size, shuffle, seed, drop_remainder=False, epoch_of=None,
                 replicas=(0, 1, 1)):
    """A ``tf.data`` pipeline of (x, x) float32 batches over rows of a uint8 memmap.

    A Python generator yields each batch's sorted row indices; the rows are
    gathered and converted to float in the graph.  An image cache that fits
    (:func:`holds_in_memory`) is one tensor, gathered with ``tf.gather``
    (no per-batch copy through Python: a few % faster than ``model.fit`` on
    float arrays, issue 14); a larger one is read row by row from the file
    (cheap page reads, resident memory of a few batches).  Both give the same
    batches.  ``drop_remainder`` keeps every batch full (replicas of a
    distribution strategy need equal shares).
    The shuffle order of epoch ``e`` comes from ``default_rng([seed, e])``;
    ``epoch_of()`` says which epoch a new pass is (training sets it from
    ``on_epoch_begin``: Keras may open extra iterators, e.g. to build a
    distributed model, so counting passes would drift).  Without it passes
    are counted from 0.  So a resumed or distributed run sees the same
    batches as an uninterrupted single-process one.

    ``replicas = (first, count, total)``: this input pipeline feeds replicas
    ``first .. first + count - 1`` of ``total``; replica ``r`` gets rows
    ``[r * b, (r + 1) * b)`` of each global batch, ``b = batch_size // total``,
    so the union over all workers is exactly the single-process batch
    (:func:`make_worker_dataset`).
    """
    import tensorflow as tf

    rows = np.asarray(rows, dtype=np.int64)
    shape = images_u8.shape[1:]
    passes = [0]
    first, count, total = (int(v) for v in replicas)
    per = batch_size // total

    def gen():
        order = rows
        if shuffle:
            e = passes[0] if epoch_of is None else int(epoch_of())
            order = np.random.default_rng([seed, e]).permutation(rows)
        passes[0] += 1
        stop = len(order) - (len(order) % batch_size if drop_remainder else 0)
        for s in range(0, stop, batch_size):
            if total == 1:
                yield np.sort(order[s:s + batch_size])
                continue
            for r in range(first, first + count):
                yield np.sort(order[s + r * per:s + (r + 1) * per])

    if holds_in_memory(images_u8):
        # Only this dataset's rows (training and validation together hold
        # the cache once); batches of row numbers become positions in them.
        held_rows = np.unique(rows)
        contiguous = len(held_rows) and held_rows[-1] - held_rows[0] + 1 == len(held_rows)
        part = images_u8[held_rows[0]:held_rows[-1] + 1] if contiguous else images_u8[held_rows]
        held = tf.constant(np.asarray(part))
        positions = tf.constant(held_rows)

        def fetch(idx):
            return tf.gather(held, tf.searchsorted(positions, idx))
    else:
        read = _row_reader(images_u8)

        def fetch(idx):
            x = tf.numpy_function(read, [idx], tf.uint8, stateful=False)
            return tf.ensure_shape(x, (None,) + shape)

    ds = tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec((None,), tf.int64))
    # A known length lets Keras size the epoch without running dry.  With
    # several replicas per pipeline Keras would count elements as steps:
    # there the length stays unknown and the epoch ends with the data.
    n_batches = len(rows) // batch_size if drop_remainder else -(-len(rows) // batch_size)
    if count == 1:
        ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))
    ds = ds.map(lambda idx: (tf.cast(fetch(idx), tf.float32) / 255.0,) * 2, num_parallel_calls=2)
    # No tf.data autotuning: with it, some epochs began only after 2 or 5 s
    # with both cores idle, Keras waiting for the epoch's new iterator (16 of
    # 96 seed-model epochs over 12 runs, up to 5 of 8 in one; none of 32
    # without it).  The gather is cheap; two batches in flight keep the
    # step fed.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


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
        return _multiworker_class()()
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


_MULTIWORKER_CLASS = []


def _multiworker_class():
    import tensorflow as tf

    if _MULTIWORKER_CLASS:
        return _MULTIWORKER_CLASS[0]

    class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """``MultiWorkerMirroredStrategy`` whose ``reduce`` accepts a nest.

        Keras 3's ``fit`` reduces the first ``(x, y)`` batch with
        ``strategy.reduce`` to build the model symbolically.  With more than
        one worker, MultiWorkerMirroredStrategy hands the whole tuple to its
        collective all-reduce, which tries to make one tensor of it and fails
        with "Attempt to convert a value (PerReplica:{...}) with an
        unsupported type" (TensorFlow's ``reduce`` has a TODO "support value
        being a nest").  Reducing leaf by leaf is what Keras means.  Keras
        then averages each step's scalar losses with ``axis=0`` ("Invalid
        reduction dimension 0 for input with 0 dimensions"): a scalar has
        no batch axis, so it is averaged over the replicas alone (every
        replica's loss is the mean over an equal share of the batch).
        """

        def reduce(self, reduce_op, value, axis=None):
            parent = super()

            def leaf(v):
                local = self.experimental_local_results(v)[0]
                scalar = getattr(getattr(local, "shape", None), "rank", None) == 0
                return parent.reduce(reduce_op, v, None if scalar else axis)

            return tf.nest.map_structure(leaf, value)

    _MULTIWORKER_CLASS.append(MultiWorkerStrategy)
    return MultiWorkerStrategy


def worker_role(environ=None):
    """This process's place in a multi-worker cluster, read from ``TF_CONFIG``.

    Returns
    -------
    None without ``TF_CONFIG``; otherwise a dict ``chief`` (bool: task
    "chief", or "worker" 0 when the cluster has no chief, as TensorFlow
    decides), ``task_type``, ``index`` and ``n_workers`` (chief + workers).
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG")
    if not text:
        return None
    try:
        tf_config = json.loads(text)
        cluster, task = tf_config["cluster"], tf_config["task"]
        task_type, index = str(task["type"]), int(task["index"])
        n_workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"TF_CONFIG is not a valid cluster description: {exc!r}") from None
    chief = task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in cluster)
    return {"chief": chief, "task_type": task_type, "index": index, "n_workers": n_workers}


def broadcast_from_chief(strategy, chief, values):
    """Every worker gets the chief's copy of ``values`` (list of NumPy arrays).

    All workers must call this together with arrays of the same shapes and
    dtypes (their own values are ignored): a SUM all-reduce to which only
    the chief's first replica contributes, so the result is exact.
    """
    import tensorflow as tf

    calls = [0]

    def value_fn(ctx):
        mine = chief and calls[0] == 0
        calls[0] += 1
        return [tf.constant(v) if mine else tf.zeros(v.shape, v.dtype) for v in values]

    per_replica = strategy.experimental_distribute_values_from_function(value_fn)
    return [np.asarray(v) for v in strategy.reduce("SUM", per_replica, axis=None)]


def _sync_config(strategy, chief, config, start_epoch):
    """The chief's config and first epoch, on every worker (JSON bytes as float32)."""
    payload = json.dumps({"config": config.to_dict(), "epoch": int(start_epoch)}).encode() if chief else b""
    (length,) = broadcast_from_chief(strategy, chief, [np.array([len(payload)], np.float64)])
    n = int(length[0])
    data = np.frombuffer(payload, np.uint8).astype(np.float32) if chief else np.zeros(n, np.float32)
    (got,) = broadcast_from_chief(strategy, chief, [data])
    d = json.loads(got.astype(np.uint8).tobytes().decode())
    return TrainConfig.from_dict(d["config"]), int(d["epoch"])


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


def _make_callback(run_path, epochs, steps, batch_size, start_epoch, history, on_progress, checkpoint,
                   sync_cancel=None):
    """``sync_cancel``: None, or a callable every worker calls at each epoch
    end that says (the same on all workers) whether to stop; multi-worker runs
    cannot stop one worker mid-epoch without leaving the others waiting."""
    import keras

    class Progress(keras.callbacks.Callback):
        """Writes progress.json, checkpoints each epoch, honours cancel."""

        # Keras runs batch-end hooks of async-safe callbacks on a worker
        # thread with the logs still tensors; any other callback with a
        # batch hook makes every step wait for its loss to reach Python
        # (pythonify_logs), which cost ~10 % of the images/s of a plain fit
        # (issue 14).  This one only reads a file's existence, sets
        # stop_training and writes progress at most once a second, and Keras
        # flushes the pending hooks before on_epoch_end.
        async_safe = True

        def __init__(self):
            super().__init__()
            self.cancelled = False
            self._last_write = 0.0
            self._t_epoch = time.time()
            self._rates = []
            self._epoch = start_epoch

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
            if sync_cancel is None and (run_path / CANCEL_FILE).exists():
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
            if sync_cancel is not None and sync_cancel():
                self.cancelled = True  # after a complete, checkpointed epoch
                self.model.stop_training = True
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
    (then ``progress.json`` says "cancelled" and resume continues).  None
    on a non-chief worker of a multi-worker run (see below).

    Raises
    ------
    ValueError
        Bad config, data source or folder (before anything is written).
    TrainingError
        TensorFlow failed while training; the traceback is in ``error.log``.

    Notes
    -----
    With ``strategy="multiworker"`` every worker calls this with its own
    ``TF_CONFIG``.  The chief (task "chief", or worker 0) takes the config
    (or the checkpoint to resume) and sends it to the others, so they need
    no options of their own; only the chief writes ``out``.  The other
    workers keep their data cache in a temporary folder, deleted at the
    end, and never touch ``out``.  After a worker is killed, start all
    workers again with ``resume=True``: the chief's checkpoint (weights and
    optimizer state) is broadcast to them.
    """
    out = Path(out)
    role = worker_role() if config is None or config.strategy == "multiworker" else None
    if role is not None and not role["chief"]:
        if config is not None:
            config.validate()
        return _train_worker(config, resume, role)
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


def remove_stale_temps(out):
    """Delete temporary files a killed writer left behind (``.NAME.*.tmp``, ``.NAME.*.keras``).

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


class TrainingError(RuntimeError):
    """TensorFlow failed during training; ``log_path`` holds the traceback."""

    def __init__(self, message, log_path=None, epoch=None):
        super().__init__(message)
        self.log_path = log_path
        self.epoch = epoch


def write_error_log(out, exc):
    """Write the full traceback of ``exc`` to ``out/error.log``; returns the path."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return runs.atomic_write_bytes(Path(out) / "error.log", f"{stamp}\n{text}".encode("utf-8", "replace"))


def _failure(out, exc, epoch):
    """A one-line TrainingError for ``exc`` raised in (1-based) ``epoch``."""
    log = write_error_log(out, exc)
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    msg = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if len(msg) > 300:
        msg = msg[:297] + "..."
    return TrainingError(f"training failed in epoch {epoch}: {msg}", log, epoch)


def _train_worker(config, resume, role):
    """A non-chief worker: trains in step with the chief, writes nothing to the run folder.

    Its data cache lives in a temporary folder that is deleted at the end
    (on failure only ``error.log`` is kept there).
    """
    tmp = Path(tempfile.mkdtemp(prefix=f"latent-lab-{role['task_type']}{role['index']}-"))
    ok = False
    try:
        _train_locked(config, tmp, tmp / "checkpoints", resume, None, False, None, chief=False)
        ok = True
    finally:
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            for p in tmp.iterdir():
                if p.name != "error.log":
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return None


def device_info(strategy):
    """Devices a run trained on (JSON-friendly): replica devices, local logical devices, GPUs, workers."""
    import tensorflow as tf

    try:
        replica_devices = list(strategy.extended.worker_devices)
    except (AttributeError, NotImplementedError, RuntimeError):
        replica_devices = [d.name for d in tf.config.list_logical_devices()][:1]
    gpus = []
    for g in tf.config.list_physical_devices("GPU"):
        try:
            details = {k: str(v) for k, v in tf.config.experimental.get_device_details(g).items()}
        except (ValueError, RuntimeError):
            details = {}
        gpus.append({"name": g.name, **details})
    resolver = getattr(strategy, "cluster_resolver", None)
    workers = 1
    if resolver is not None:
        spec = resolver.cluster_spec().as_dict()
        workers = max(1, len(spec.get("chief", [])) + len(spec.get("worker", [])))
    return {"replica_devices": replica_devices, "logical_devices": [d.name for d in tf.config.list_logical_devices()],
            "gpus": gpus, "workers": workers, "replicas": int(strategy.num_replicas_in_sync)}


def _train_locked(config, out, ckpt_dir, resume, on_progress, encode, source, chief=True):
    import_tensorflow_quietly()  # after the lock and the checks: a refused trainer stays fast
    import keras

    t_start = time.time()
    multiworker = config is None or config.strategy == "multiworker"
    # The strategy comes first: MultiWorkerMirroredStrategy must exist before
    # TensorFlow runs anything else.
    strategy = make_strategy(config.strategy if config is not None else "multiworker")
    state = {"epoch": 0, "history": {}}
    if chief and resume:
        state = runs.read_json(ckpt_dir / "state.json")
    if multiworker:
        config, state["epoch"] = _sync_config(strategy, chief, config, state["epoch"])
        if not chief:
            source = open_config_source(config)
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
    policy = precision_policy(config)
    saved = None
    if resume and chief:
        ckpt_file = checkpoints.checkpoint_file(ckpt_dir, state)
        saved = checkpoints.checkpoint_values(ckpt_file)  # outside the scope: a .keras load is no collective
    try:
        with strategy.scope():
            previous = keras.mixed_precision.global_policy()
            # The policy matters only while layers are made.
            keras.mixed_precision.set_global_policy(policy)
            try:
                _, _, ae = build_cae(m)
                ae.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")
                # Built here, not inside the first traced train step: a
                # step that creates variables is traced twice (~1 s each).
                ae.optimizer.build(ae.trainable_variables)
            finally:
                keras.mixed_precision.set_global_policy(previous)
            if multiworker and resume:
                # Every worker made the same fresh variables (creating them is
                # itself collective); the others have no checkpoint, so all
                # get the chief's saved weights and optimizer state.
                values = [np.asarray(v.numpy()) for v in checkpoints.all_variables(ae)]
                if chief:
                    checkpoints.check_match(saved, values, ckpt_file.name)  # before any collective
                    values = [v.astype(w.dtype) for v, w in zip(saved, values)]
                checkpoints.assign_values(ae, broadcast_from_chief(strategy, chief, values), state.get("model"))
            elif saved is not None:
                checkpoints.assign_values(ae, saved, ckpt_file.name)
    except ValueError:
        raise
    except Exception as exc:
        raise _failure(out, exc, int(state["epoch"]) + 1) from exc
    history = state["history"]
    start_epoch = int(state["epoch"])
    replicas = int(strategy.num_replicas_in_sync)
    global_batch = max(replicas, config.batch_size - config.batch_size % replicas)
    if len(train_rows) < global_batch:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {len(train_rows)} training images")
    # Validation sees every image with one replica; with several, equal shares only.
    val_batch = global_batch if replicas == 1 else max(replicas, min(global_batch, len(val_rows)) // replicas * replicas)
    clock = [start_epoch]  # the epoch Keras is in, for the shuffle order
    if multiworker:
        train_ds = make_worker_dataset(strategy, images, train_rows, global_batch, True, config.seed,
                                       lambda: clock[0])
        val_ds = make_worker_dataset(strategy, images, val_rows, val_batch, False, config.seed)
    else:
        train_ds = make_dataset(images, train_rows, global_batch, True, config.seed, drop_remainder=True,
                                epoch_of=lambda: clock[0])
        val_ds = make_dataset(images, val_rows, val_batch, False, config.seed, drop_remainder=replicas > 1)
    steps = len(train_rows) // global_batch

    def write_checkpoint(names, arrays, epochs_done, hist):
        # Arrays first under a new name, then state.json naming them, then
        # drop older files: a kill at any point leaves a matching pair.
        name = checkpoints.checkpoint_name(epochs_done)
        checkpoints.save_arrays(ckpt_dir / name, names, arrays)
        runs.atomic_write_json(ckpt_dir / "state.json", {"epoch": epochs_done, "history": hist, "model": name})
        for old in [*ckpt_dir.glob("*.keras"), *ckpt_dir.glob("epoch-*" + checkpoints.SUFFIX)]:
            if old.name != name and not old.name.startswith("."):
                old.unlink(missing_ok=True)

    # Arrays copied at the epoch end, written while the next epoch trains.
    writer = checkpoints.CheckpointWriter(ae, write_checkpoint) if chief else None

    def checkpoint(epochs_done):
        if writer is not None:
            writer.submit(epochs_done, history)

    def barrier():
        # Workers leave together: one that exits while the chief still
        # writes would look crashed to the chief's health checks.
        if multiworker:
            broadcast_from_chief(strategy, chief, [np.zeros(1)])

    sync_cancel = None
    if multiworker:
        def sync_cancel():
            (flag,) = broadcast_from_chief(strategy, chief, [np.array([float((out / CANCEL_FILE).exists())])])
            return bool(flag[0] > 0)

    cb = _make_callback(out, config.epochs, steps, global_batch, start_epoch, history, on_progress, checkpoint,
                        sync_cancel)
    if start_epoch < config.epochs:
        try:
            tick = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs=None: clock.__setitem__(0, epoch))
            try:
                ae.fit(train_ds, validation_data=val_ds, epochs=config.epochs, initial_epoch=start_epoch,
                       callbacks=[tick, cb], verbose=0, shuffle=False)
            finally:
                if writer is not None:
                    writer.wait()  # the last epoch's checkpoint is on disk before anything else
        except Exception as exc:
            raise _failure(out, exc, cb._epoch + 1) from exc
    if not chief:
        barrier()  # wait until the chief has written the run folder
        return None
    if cb.cancelled:
        (out / CANCEL_FILE).unlink(missing_ok=True)
        barrier()
        return out
    encoder, decoder = ae.get_layer("encoder"), ae.get_layer("decoder")
    if multiworker or policy != "float32":
        # Plain float32 copies outside the strategy: the saved models and the
        # encoding below must not need the cluster or the mixed policy.
        encoder, decoder = _float32_copies(m, encoder, decoder)
    runs.atomic_save_model(out / "encoder.keras", encoder)
    runs.atomic_save_model(out / "decoder.keras", decoder)
    runs.atomic_write_json(out / "history.json", history)
    if encode:
        runs.atomic_write_json(out / "progress.json", {"state": "encoding", "epoch": config.epochs,
                                                        "epochs": config.epochs, "fraction": 1.0,
                                                        "history": history})

        devices = device_info(strategy)
        latents = encode_array(encoder, images)
        write_latents(out, latents, index, attributes)
        write_metadata(out, config, n_images=n, n_train=len(train_rows), n_val=len(val_rows),
                       train_seconds=float(sum(history.get("epoch_time_s", []))), source=source,
                       replicas=int(strategy.num_replicas_in_sync), strategy=config.strategy,
                       mixed_precision=policy if policy != "float32" else None,
                       workers=devices["workers"], devices=devices, global_batch=global_batch)
    runs.atomic_write_json(out / "progress.json", {"state": "done", "epoch": config.epochs, "epochs": config.epochs,
                                                    "fraction": 1.0, "history": history, "updated": time.time()})
    barrier()
    return out


def precision_policy(config):
    """Keras dtype policy of a run: "float32", or with ``mixed_precision``
    "mixed_float16" on a GPU and "mixed_bfloat16" on a CPU (where float16
    kernels are slow or missing)."""
    if not getattr(config, "mixed_precision", False):
        return "float32"
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"


def _float32_copies(model_config, encoder, decoder):
    enc, dec, _ = build_cae(model_config)
    enc.set_weights([np.asarray(w) for w in encoder.get_weights()])
    dec.set_weights([np.asarray(w) for w in decoder.get_weights()])
    return enc, dec


def make_worker_dataset(strategy, images_u8, rows, global_batch, shuffle, seed, epoch_of=None):
    """This worker's share of the (x, x) batches of a multi-worker run.

    ``strategy.distribute_datasets_from_function``: input pipeline ``i``
    gathers, from each global batch (the same shuffled order as
    :func:`make_dataset` on one process), only the rows of its own replicas,
    so each worker reads 1/n of the images and the union of one step's
    shards is the single-process batch.
    """
    import tensorflow as tf

    def dataset_fn(ctx):
        local = ctx.num_replicas_in_sync // ctx.num_input_pipelines
        ds = make_dataset(images_u8, rows, global_batch, shuffle, seed, drop_remainder=True, epoch_of=epoch_of,
                          replicas=(ctx.input_pipeline_id * local, local, ctx.num_replicas_in_sync))
        options = tf.data.Options()
        # Sharded here already: TensorFlow must not shard it again.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options)

    return strategy.distribute_datasets_from_function(dataset_fn)


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
