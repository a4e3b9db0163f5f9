"""Run folders (§5): atomic writes, metadata, listing with status, safe loading.

A run folder under ``artifacts/`` holds::

    config.json      TrainConfig (includes the ModelConfig)
    encoder.keras    decoder.keras
    history.json     per-epoch losses
    latents.npy      float32 (n_images, z_dim), loaded with mmap_mode="r"
    index.npy        int64 (n_images,) image index in the data source
    attributes.csv   optional, one row per latent vector
    metadata.json    written LAST: its presence marks a complete run
    progress.json    live training progress (optional)

Nothing is loaded with pickle (``allow_pickle=False``) and Keras models are
loaded with ``safe_mode=True``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUN = "default"
REQUIRED_FILES = ("config.json", "encoder.keras", "decoder.keras", "history.json",
                  "latents.npy", "index.npy", "metadata.json")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def artifacts_root():
    """The folder that holds run folders (``$LATENT_LAB_ARTIFACTS`` or ``artifacts/``)."""
    return Path(os.environ.get("LATENT_LAB_ARTIFACTS", REPO_ROOT / "artifacts")).resolve()


def check_run_name(name):
    """Validate a run name: letters, digits, ``_ . -``; no path separators, no ``..``."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise ValueError(
            f"run name {name!r} is not allowed: use 1-64 letters, digits, '_', '.', '-' "
            "(no path separators, no '..')"
        )
    return name


def run_dir(name, root=None):
    """Resolve a run name to its folder inside the artifacts root.

    The resolved path (symlinks followed) must stay inside the root.
    """
    root = Path(root).resolve() if root is not None else artifacts_root()
    check_run_name(name)
    path = (root / name).resolve()
    if path.parent != root:
        raise ValueError(f"run name {name!r} resolves outside {root} (symlink?)")
    return path


def resolve_run(spec, root=None):
    """Accept a run name or a path ``artifacts/NAME``; return the folder path."""
    root = Path(root).resolve() if root is not None else artifacts_root()
    p = Path(spec)
    if len(p.parts) > 1 or p.is_absolute():
        resolved = p.resolve()
        if resolved.parent != root:
            raise ValueError(f"run path {spec!r} is not a folder directly inside {root}")
        return run_dir(resolved.name, root)
    return run_dir(str(spec), root)


# ---------------------------------------------------------------- atomic I/O

def _atomic(path, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_bytes(path, data):
    """Write bytes to ``path`` via a temporary file and ``os.replace``."""
    return _atomic(path, lambda fh: fh.write(data))


def atomic_write_json(path, obj):
    """Write JSON atomically (indent 2); NaN and infinities become null."""
    text = json.dumps(_finite(obj), indent=2, allow_nan=False, default=_json_default)
    return atomic_write_bytes(path, text.encode("utf-8"))


def _finite(o):
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, np.floating):
        return _finite(float(o))
    return o


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def atomic_save_npy(path, array):
    """Save an array as ``.npy`` atomically (no pickle)."""
    arr = np.asarray(array)
    if arr.dtype == object:
        raise ValueError(f"refusing to save an object array to {path}")
    return _atomic(path, lambda fh: np.save(fh, arr, allow_pickle=False))


def atomic_save_model(path, model):
    """Save a Keras model to ``.keras`` atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_json(path):
    """Read a JSON file; ``ValueError`` naming the file when it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{Path(path).name} is not valid JSON: {exc}") from None


def load_npy(path, mmap=True, z_dim=None):
    """Load an ``.npy`` safely: no pickle, memory-mapped, numeric, finite check by caller.

    Raises ``ValueError`` naming the file for a pickled/object array, a
    wrong dimensionality or a width that does not match ``z_dim``.
    """
    path = Path(path)
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path.name} cannot be loaded without pickle: {exc}") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path.name} is not a readable .npy file: {exc}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{path.name} has dtype {getattr(arr, 'dtype', '?')}; a numeric array is required")
    if z_dim is not None:
        if arr.ndim != 2:
            raise ValueError(f"{path.name} must be 2-D (n, z_dim), got shape {arr.shape}")
        if arr.shape[1] != z_dim:
            raise ValueError(f"{path.name} has {arr.shape[1]} components but the model's z_dim is {z_dim}")
    return arr


def load_model(path):
    """Load a ``.keras`` model with ``safe_mode=True`` (no Lambda/arbitrary code)."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file {path} does not exist")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # keras raises many types; report one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"model {path.name} refused or unreadable: {msg[:300]}") from None


# ---------------------------------------------------------------- status

@dataclasses.dataclass
class RunInfo:
    """One entry of :func:`list_runs`."""

    name: str
    path: Path
    status: str  # "complete", "training", "incomplete" or "damaged"
    reason: str = ""
    metadata: dict = dataclasses.field(default_factory=dict)

    @property
    def usable(self):
        return self.status == "complete"


def run_status(path):
    """Inspect a run folder without loading models; returns a :class:`RunInfo`."""
    path = Path(path)
    name = path.name
    progress = None
    if (path / "progress.json").exists():
        try:
            progress = read_json(path / "progress.json")
        except ValueError:
            progress = None
    missing = [f for f in REQUIRED_FILES if not (path / f).exists()]
    if missing:
        if progress and progress.get("state") in ("running", "encoding", "starting") and is_locked(path):
            ep = progress.get("epoch", 0)
            return RunInfo(name, path, "training", f"training: epoch {ep} of {progress.get('epochs', '?')}")
        state = (progress or {}).get("state")
        why = f"missing {', '.join(missing)}"
        if state:
            why += f" (training state: {state})"
        return RunInfo(name, path, "incomplete", why)
    try:
        meta = read_json(path / "metadata.json")
        config = read_json(path / "config.json")
        read_json(path / "history.json")
        z_dim = int(config["model"]["z_dim"])
        lat = load_npy(path / "latents.npy", z_dim=z_dim)
        idx = load_npy(path / "index.npy")
        if idx.shape != (lat.shape[0],):
            raise ValueError(f"index.npy has shape {idx.shape} but latents.npy has {lat.shape[0]} rows")
        for f in ("encoder.keras", "decoder.keras"):
            with open(path / f, "rb") as fh:
                if fh.read(2) != b"PK":
                    raise ValueError(f"{f} is not a .keras archive")
    except (ValueError, KeyError, TypeError) as exc:
        return RunInfo(name, path, "damaged", str(exc))
    return RunInfo(name, path, "complete", "", meta)


def list_runs(root=None):
    """All run folders under the root with their status; the default run first."""
    root = Path(root).resolve() if root is not None else artifacts_root()
    if not root.is_dir():
        return []
    infos = []
    for p in sorted(root.iterdir()):
        if not p.is_dir() or p.name.startswith(".") or not _NAME_RE.match(p.name):
            continue
        if p.is_symlink() and p.resolve().parent != root:
            infos.append(RunInfo(p.name, p, "damaged", "symlink pointing outside the artifacts folder"))
            continue
        infos.append(run_status(p))
    infos.sort(key=lambda r: (r.name != DEFAULT_RUN, r.name))
    return infos


def is_locked(path):
    """True when a training process holds the run folder's lock."""
    import fcntl

    lock = Path(path) / "run.lock"
    if not lock.exists():
        return False
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


class RunLock:
    """Exclusive lock on a run folder so two trainers cannot write it at once."""

    def __init__(self, path):
        self.path = Path(path)
        self._fh = None

    def __enter__(self):
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path / "run.lock", "a")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise ValueError(f"run folder {self.path.name} is in use by another training process") from None
        return self

    def __exit__(self, *exc):
        import fcntl

        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


# ---------------------------------------------------------------- loading

class Run:
    """A complete run, loaded lazily and safely.

    Attributes
    ----------
    path : Path
    config : dict   (TrainConfig as JSON)
    metadata : dict
    history : dict  (lists per metric)
    latents : ndarray of shape (n_images, z_dim), float32, memory-mapped
    index : ndarray of shape (n_images,), int64
    attributes : pandas.DataFrame or None
    """

    def __init__(self, path):
        info = run_status(path)
        if info.status != "complete":
            raise ValueError(f"run {Path(path).name} is {info.status}: {info.reason}")
        self.path = Path(path)
        self.name = self.path.name
        self.config = read_json(self.path / "config.json")
        self.metadata = read_json(self.path / "metadata.json")
        self.history = read_json(self.path / "history.json")
        self.z_dim = int(self.config["model"]["z_dim"])
        self.image_size = int(self.config["model"]["image_size"])
        self.channels = int(self.config["model"]["channels"])
        self.latents = load_npy(self.path / "latents.npy", z_dim=self.z_dim)
        self.index = np.asarray(load_npy(self.path / "index.npy"))
        self.attributes = None
        if (self.path / "attributes.csv").exists():
            import pandas as pd

            self.attributes = pd.read_csv(self.path / "attributes.csv")
        self._encoder = self._decoder = None

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = load_model(self.path / "encoder.keras")
        return self._encoder

    @property
    def decoder(self):
        if self._decoder is None:
            self._decoder = load_model(self.path / "decoder.keras")
            if int(self._decoder.input_shape[-1]) != self.z_dim:
                raise ValueError(
                    f"decoder expects {self._decoder.input_shape[-1]} components but the run's z_dim is {self.z_dim}"
                )
        return self._decoder

    def source(self, limit=None):
        """Re-open the run's data source (for originals and reconstructions)."""
        from core.data import open_source

        d = self.config
        return open_source(d["dataset"], size=self.image_size, channels=self.channels,
                           limit=limit or d.get("limit"), seed=d.get("data_seed", 0), crop=d.get("crop"))


def load_run(spec, root=None):
    """Load a complete run by name or path; ``ValueError`` with the reason otherwise."""
    return Run(resolve_run(spec, root))
