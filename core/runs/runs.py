"""Run folders: atomic writes, metadata, listing with status, safe loading.

A run folder under ``artifacts/`` holds::

    config.json      TrainConfig (includes the ModelConfig)
    encoder.keras    decoder.keras
    history.json     per-epoch losses
    latents.npy      float32 (n_images, z_dim), loaded with mmap_mode="r"
    index.npy        int64 (n_images,) image index in the data source
    attributes.csv   optional, one row per latent vector
    metadata.json    written LAST: its presence marks a complete run
    progress.json    live training progress (optional)
    sets/NAME/       named latent sets (``python -m core encode --as NAME``):
                     latents.npy, index.npy, attributes.csv (optional) and
                     set.json (written LAST; names the source that made it)

A set is addressed as ``RUN/SET`` (``default/digits``) wherever a run is
taken; its latents replace the run's own, the models stay the run's.

Nothing is loaded with pickle (``allow_pickle=False``) and Keras models are
loaded with ``safe_mode=True``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import io
import json
import os
import re
import stat
import tempfile
import threading
import time
import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.sources import open_config_source, procedural_attributes
from core.validation import check_int

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUN = "default"
REQUIRED_FILES = ("config.json", "encoder.keras", "decoder.keras", "history.json",
                  "latents.npy", "index.npy", "metadata.json")
# fullmatch, not match with "$": "$" would accept a trailing newline.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Optional files that must not be symlinks leading out of the run folder.
OPTIONAL_FILES = ("attributes.csv", "progress.json")
#: Largest config.json inside a .keras archive that is parsed (zip bombs).
MAX_KERAS_CONFIG_BYTES = 16 * 2**20
#: Largest JSON file of a run folder that is parsed (config, history, metadata, progress).
MAX_JSON_BYTES = 16 * 2**20
#: Largest attributes.csv that :class:`Run` reads into memory.
MAX_ATTRIBUTES_BYTES = 512 * 2**20
#: Default size cap of an uploaded file (see :func:`safe_upload_path`).
MAX_UPLOAD_BYTES = 2 * 2**30
UPLOADS_DIR = ".uploads"
#: Folder of a run that holds its named latent sets.
SETS_DIR = "sets"
SET_META = "set.json"
SET_REQUIRED = ("latents.npy", "index.npy", SET_META)


def artifacts_root():
    """The folder that holds run folders (``$LATENT_LAB_ARTIFACTS`` or ``artifacts/``).

    An empty (or blank) ``$LATENT_LAB_ARTIFACTS`` counts as unset: ``Path("")``
    would be the working directory.
    """
    env = os.environ.get("LATENT_LAB_ARTIFACTS", "").strip()
    return Path(env or REPO_ROOT / "artifacts").resolve()


def _check_folder_name(name, what, why=""):
    # Run and set names are one folder each: no separators, no "..".
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or ".." in name:
        raise ValueError(f"{what} name {name!r} is not allowed: use 1-64 letters, digits, '_', '.', '-' "
                         f"(no path separators, no '..'{why})")
    return name


def check_run_name(name):
    """Validate a run name: letters, digits, ``_ . -``; no path separators, no ``..``."""
    return _check_folder_name(name, "run")


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


def check_set_name(name):
    """Validate a latent-set name like a run name (it is one folder inside ``RUN/sets/``)."""
    return _check_folder_name(name, "set", ": a set stays inside its run folder")


def set_dir(run_path, name):
    """The folder of latent set ``name`` of the run at ``run_path``; never outside ``run_path/sets``."""
    check_set_name(name)
    sets = (Path(run_path) / SETS_DIR).resolve()
    if sets.parent != Path(run_path).resolve():
        raise ValueError(f"{Path(run_path).name}/{SETS_DIR} is a symlink leading out of the run folder")
    path = (sets / name).resolve()
    if path.parent != sets:
        raise ValueError(f"set name {name!r} resolves outside {sets} (symlink?)")
    return path


def split_spec(spec, root=None):
    """``"RUN/SET"`` -> (run folder, set name); ``"RUN"`` or ``"artifacts/RUN"`` -> (run folder, None).

    A two-part relative spec whose first part is a run folder of the
    artifacts root names a set of that run; anything else goes through
    :func:`resolve_run`.
    """
    root = Path(root).resolve() if root is not None else artifacts_root()
    text = str(spec)
    parts = Path(text).parts
    if len(parts) == 2 and not Path(text).is_absolute() and "/" in text and _NAME_RE.fullmatch(parts[0]) \
            and ".." not in parts[0] and (root / parts[0]).is_dir():
        run = run_dir(parts[0], root)
        set_dir(run, parts[1])
        return run, parts[1]
    return resolve_run(text, root), None


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


def resolve_path(spec, root=None):
    """A run folder named on the command line.

    A bare name (``default``, ``celeba96``) is a folder of the artifacts
    root, checked like a name from the browser (:func:`run_dir`).  Anything
    with a path separator, or starting with ``~`` or ``.``, is that folder
    wherever it is (``/data/runs/celeba96``, ``./runs/x``): the command line
    works on the user's own disk.  Names that come from a browser must go
    through :func:`run_dir` / :func:`resolve_run` instead.
    """
    text = str(spec)
    if not text.strip():
        raise ValueError("run folder must be a name or a path, got an empty string")
    if "/" in text or os.sep in text or text.startswith(("~", ".")):
        return Path(text).expanduser().resolve()
    return run_dir(text, root)


def resolve_cli_spec(spec, root=None):
    """A run or a latent set named on the command line -> (run folder, set name or None).

    ``RUN`` and any run folder path as in :func:`resolve_path`; ``RUN/SET``
    (RUN a folder of the artifacts root) or ``PATH/SET`` (PATH a run
    folder, i.e. holding config.json, and PATH/SET not itself a run) name a
    set.
    """
    root = Path(root).resolve() if root is not None else artifacts_root()
    text = str(spec)
    path = resolve_path(text, root)
    if (path / "config.json").exists():
        return path, None
    if "/" in text.rstrip("/"):
        parent = path.parent
        if (parent / "config.json").exists():
            set_dir(parent, path.name)
            return parent, path.name
        head, _, tail = text.rstrip("/").partition("/")
        if "/" not in tail and not text.startswith(("~", ".", "/")) and _NAME_RE.fullmatch(head) \
                and ".." not in head and (root / head).is_dir():
            run = run_dir(head, root)
            set_dir(run, tail)
            return run, tail
    return path, None


def load_cli_run(spec, root=None):
    """:class:`Run` for a run or ``RUN/SET`` named on the command line."""
    path, set_name = resolve_cli_spec(spec, root)
    return Run(path, set_name=set_name)


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
        # mkstemp makes 0600 files; run folders are meant to be shared.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
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
    text = json.dumps(json_clean(obj), indent=2, allow_nan=False)
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_clean(o):
    """Plain JSON types for NumPy/pandas values; NaN and infinities become None.

    The one JSON cleaner: run files (:func:`atomic_write_json`) and the
    CLI's ``--json`` output.  Dict keys become strings, tuples lists, a
    DataFrame a list of row dicts, a Path its string; ``TypeError`` for
    anything else that JSON cannot hold.
    """
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (float, np.floating)):
        v = float(o)
        return v if np.isfinite(v) else None
    if isinstance(o, (int, np.integer)):
        return int(o)
    if o is None or isinstance(o, str):
        return o
    if isinstance(o, dict):
        return {str(k): json_clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return json_clean(o.tolist())
    if isinstance(o, pd.DataFrame):
        return json_clean(o.to_dict(orient="records"))
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, np.generic):
        return json_clean(o.item())
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def atomic_save_npy(path, array):
    """Save an array as ``.npy`` atomically (no pickle)."""
    arr = np.asarray(array)
    if arr.dtype == object:
        raise ValueError(f"refusing to save an object array to {path}")
    return _atomic(path, lambda fh: np.save(fh, arr, allow_pickle=False))


def atomic_save_npz(path, arrays):
    """Save a dict of arrays as an uncompressed ``.npz`` atomically (no pickle)."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    bad = [k for k, v in arrays.items() if v.dtype == object]
    if bad:
        raise ValueError(f"refusing to save object arrays {bad} to {path}")
    return _atomic(path, lambda fh: np.savez(fh, **arrays))


def atomic_save_model(path, model):
    """Save a Keras model to ``.keras`` atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def check_regular_file(path):
    """``ValueError`` unless ``path`` (symlinks followed) is a regular file.

    ``stat`` never blocks, whereas opening a FIFO waits for a writer forever
    and reading ``/dev/zero`` never ends.  A missing file raises ``OSError``.
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{Path(path).name} is not a regular file")
    return st


def open_regular(path):
    """Open a regular file for binary reading without ever blocking.

    ``O_NONBLOCK`` makes opening a FIFO return at once; the file type is then
    checked on the open descriptor (no race with a swapped file).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{Path(path).name} is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_tail(path, max_bytes=64 * 2**10):
    """The last ``max_bytes`` of a text file (a log), never blocking on a FIFO.

    Returns "" for anything that is not a readable regular file.
    """
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - max_bytes))
            return fh.read(max_bytes).decode("utf-8", errors="replace")
    except (ValueError, OSError):
        return ""


def _finite_float(text):
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_constant(text):
    raise ValueError(f"{text} is not a number")


def read_json(path, max_bytes=MAX_JSON_BYTES):
    """Read a JSON file; ``ValueError`` naming the file when it is not valid JSON.

    Bounded: only a regular file of at most ``max_bytes`` is read; NaN,
    infinities and numbers beyond float range (``1e999``) are refused, and
    so is nesting too deep to parse (``RecursionError``).  A missing file
    raises ``FileNotFoundError``.
    """
    name = Path(path).name
    with open_regular(path) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{name} is larger than {max_bytes:,} bytes")
    try:
        return json.loads(data.decode("utf-8"), parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply to be read") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ValueError(f"{name} is not valid JSON: {str(exc)[:200]}") from None


def load_npy(path, mmap=True, z_dim=None, finite=None):
    """Load an ``.npy`` safely: no pickle, memory-mapped, numeric.

    Parameters
    ----------
    path : str or Path
    mmap : bool
        Memory-map (``mmap_mode="r"``): nothing is read until used.
    z_dim : int or None
        When given the file is a latent matrix: it must be 2-D (n, z_dim)
        with a real floating dtype.
    finite : bool or None
        Refuse NaN and infinite values.  None: check when ``z_dim`` is given.
        The check streams the file through a small buffer (the memory map is
        not touched, so the process's resident memory does not grow) and is
        remembered per file identity (inode, size, mtime), so a run listed
        again costs nothing.

    Raises
    ------
    ValueError
        Naming the file: a pickled/object array, a non-numeric dtype, a
        wrong dimensionality, a width that does not match ``z_dim``, NaN or
        infinite values (count and the first position and value).
    """
    path = Path(path)
    try:
        check_regular_file(path)  # np.load would block on a FIFO
    except OSError as exc:
        raise ValueError(f"{path.name} is not a readable .npy file: {exc.strerror or exc}") from None
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path.name} cannot be loaded without pickle: {exc}") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path.name} is not a readable .npy file: {exc}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{path.name} has dtype {getattr(arr, 'dtype', '?')}; a numeric array is required")
    if z_dim is not None:
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"{path.name} has dtype {arr.dtype}; latents must be floating point (float32)")
        if arr.ndim != 2:
            raise ValueError(f"{path.name} must be 2-D (n, z_dim), got shape {arr.shape}")
        if arr.shape[1] != z_dim:
            raise ValueError(f"{path.name} has {arr.shape[1]} components but the model's z_dim is {z_dim}")
    if finite is None:
        finite = z_dim is not None
    if finite and np.issubdtype(arr.dtype, np.inexact) and arr.size:
        bad, first = _nonfinite(path, arr)
        if bad:
            pos = ", ".join(str(int(i)) for i in first[0])
            raise ValueError(f"{path.name} contains {bad} NaN or infinite values "
                             f"(first at [{pos}]: {first[1]})")
    return arr


_FINITE_CACHE = {}
_FINITE_LOCK = threading.Lock()


def _nonfinite(path, arr, chunk_bytes=8 * 2**20):
    """(count, (position, value)) of non-finite entries, memoised per file identity."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _FINITE_LOCK:
        if key in _FINITE_CACHE:
            return _FINITE_CACHE[key]
    result = _scan_nonfinite(path, arr, chunk_bytes)
    with _FINITE_LOCK:
        _FINITE_CACHE[key] = result
    return result


def _scan_nonfinite(path, arr, chunk_bytes):
    order = "F" if arr.flags.f_contiguous and not arr.flags.c_contiguous else "C"
    bad, first = 0, None
    if isinstance(arr, np.memmap):
        # Read through a reusable buffer instead of the map: touching the map
        # would make all 200 MB resident in this process.
        per = max(1, chunk_bytes // arr.dtype.itemsize)
        buf = np.empty(per, dtype=arr.dtype)
        done = 0
        with open(path, "rb", buffering=0) as fh:
            fh.seek(arr.offset)
            while done < arr.size:
                view = buf[:min(per, arr.size - done)]
                got = fh.readinto(memoryview(view).cast("B"))
                if got != view.nbytes:
                    raise ValueError(f"{Path(path).name} is truncated")
                ok = np.isfinite(view)
                nbad = view.size - int(np.count_nonzero(ok))
                if nbad and first is None:
                    k = int(np.argmin(ok))
                    first = (np.unravel_index(done + k, arr.shape, order=order), view[k].item())
                bad += nbad
                done += view.size
    else:
        flat = arr.reshape(-1, order=order)
        ok = np.isfinite(flat)
        bad = flat.size - int(np.count_nonzero(ok))
        if bad:
            k = int(np.argmin(ok))
            first = (np.unravel_index(k, arr.shape, order=order), flat[k].item())
    return bad, first


def check_keras_archive(path):
    """Cheap structural check of a ``.keras`` file without loading it.

    A zip archive whose ``config.json`` (at most ``MAX_KERAS_CONFIG_BYTES``)
    is a JSON object and which holds a weights file; ``ValueError`` naming
    the file otherwise.  Code inside the config is refused later, by
    :func:`load_model` (``safe_mode``).
    """
    path = Path(path)
    try:
        check_regular_file(path)  # ZipFile would block on a FIFO
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "config.json" not in names:
                raise ValueError(f"{path.name} has no config.json (not a Keras 3 model archive)")
            if not any(n.endswith(".weights.h5") or n.endswith(".weights.npz") for n in names):
                raise ValueError(f"{path.name} has no weights file")
            info = zf.getinfo("config.json")
            if info.file_size > MAX_KERAS_CONFIG_BYTES:
                raise ValueError(f"{path.name}: config.json is {info.file_size} bytes, too large")
            try:
                config = json.loads(zf.read("config.json").decode("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(f"{path.name}: config.json is not valid JSON: {exc}") from None
            if not isinstance(config, dict) or "class_name" not in config:
                raise ValueError(f"{path.name}: config.json does not describe a Keras model")
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path.name} is not a .keras archive (not a zip file: {exc})") from None
    except OSError as exc:
        raise ValueError(f"{path.name} cannot be read: {exc.strerror or exc}") from None
    return path


def load_model(path):
    """Load a ``.keras`` model with ``safe_mode=True`` (no Lambda/arbitrary code)."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file {path} does not exist")
    check_keras_archive(path)
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
    #: The run's named latent sets (:func:`set_status` entries), for runs.
    sets: list = dataclasses.field(default_factory=list)

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
        except (ValueError, OSError):
            progress = None
        if not isinstance(progress, dict):
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
        _check_no_escaping_links(path)
        for f in OPTIONAL_FILES:
            if (path / f).exists():
                check_regular_file(path / f)
        meta = read_json(path / "metadata.json")
        config = read_json(path / "config.json")
        history = read_json(path / "history.json")
        for f, obj in (("metadata.json", meta), ("config.json", config), ("history.json", history)):
            if not isinstance(obj, dict):
                raise ValueError(f"{f} must hold a JSON object, got {type(obj).__name__}")
        model = config.get("model")
        if not isinstance(model, dict):
            raise ValueError(f"config.json: model must be a JSON object, got {model!r:.60}")

        z_dim = check_int(model.get("z_dim"), "config.json: z_dim", 1, 1_000_000, strict=True)
        for key in ("image_size", "channels"):
            if key in model:
                check_int(model[key], f"config.json: {key}", 1, 1_000_000, strict=True)
        # Finite check included (memoised): NaN latents are "damaged", not a
        # crash later in a plot.
        lat = load_npy(path / "latents.npy", z_dim=z_dim)
        idx = load_npy(path / "index.npy")
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"index.npy has dtype {idx.dtype}; integers are required")
        if idx.shape != (lat.shape[0],):
            raise ValueError(f"index.npy has shape {idx.shape} but latents.npy has {lat.shape[0]} rows")
        # "complete" only when the files agree with metadata.json (a writer
        # killed between latents and metadata leaves them disagreeing).
        n_meta = meta.get("n_images")
        if n_meta is not None and n_meta != lat.shape[0]:
            raise ValueError(f"metadata.json says n_images {n_meta!r:.40} but latents.npy has {lat.shape[0]} rows "
                             "(interrupted write? run python -m core encode)")
        if meta.get("z_dim") is not None and meta["z_dim"] != z_dim:
            raise ValueError(f"metadata.json says z_dim {meta['z_dim']!r:.40} but config.json says {z_dim}")
        for f in ("encoder.keras", "decoder.keras"):
            check_keras_archive(path / f)
    except (ValueError, KeyError, TypeError, OSError, RecursionError, OverflowError, MemoryError) as exc:
        return RunInfo(name, path, "damaged", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return RunInfo(name, path, "complete", "", meta)


def set_status(run_path, name, run_info=None):
    """Status of latent set ``name`` of a run; a :class:`RunInfo` named ``RUN/SET``.

    "complete" needs a complete run and the set's latents (z_dim of the
    run), index and ``set.json`` agreeing with each other.
    """
    run_path = Path(run_path)
    label = f"{run_path.name}/{name}"
    try:
        path = set_dir(run_path, name)
    except ValueError as exc:
        return RunInfo(label, run_path / SETS_DIR / str(name), "damaged", str(exc))
    info = run_info or run_status(run_path)
    if info.status != "complete":
        return RunInfo(label, path, info.status, f"its run is {info.status}: {info.reason}")
    missing = [f for f in SET_REQUIRED if not (path / f).exists()]
    if missing:
        return RunInfo(label, path, "incomplete", f"missing {', '.join(missing)}")
    try:
        for f in SET_REQUIRED + ("attributes.csv",):
            p = path / f
            if p.is_symlink() and p.resolve().parent != path:
                raise ValueError(f"{f} is a symlink pointing outside the set folder")
            if p.exists():
                check_regular_file(p)
        meta = read_json(path / SET_META)
        if not isinstance(meta, dict):
            raise ValueError(f"{SET_META} must hold a JSON object, got {type(meta).__name__}")
        config = read_json(run_path / "config.json")
        z_dim = int(config["model"]["z_dim"])
        lat = load_npy(path / "latents.npy", z_dim=z_dim)
        idx = load_npy(path / "index.npy")
        if not np.issubdtype(idx.dtype, np.integer) or idx.shape != (lat.shape[0],):
            raise ValueError(f"index.npy has shape {idx.shape} and dtype {idx.dtype}; "
                             f"({lat.shape[0]},) integers are required")
        if meta.get("n_images") != lat.shape[0]:
            raise ValueError(f"{SET_META} says n_images {meta.get('n_images')!r:.40} but latents.npy has "
                             f"{lat.shape[0]} rows (interrupted write? encode the set again)")
    except (ValueError, KeyError, TypeError, OSError, RecursionError, OverflowError, MemoryError) as exc:
        return RunInfo(label, path, "damaged", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return RunInfo(label, path, "complete", "", meta)


def list_sets(run_path, run_info=None):
    """The latent sets of a run folder (names from ``RUN/sets/``), each with its status."""
    sets = Path(run_path) / SETS_DIR
    if not sets.is_dir():
        return []
    if sets.is_symlink() and sets.resolve().parent != Path(run_path).resolve():
        return [RunInfo(f"{Path(run_path).name}/{SETS_DIR}", sets, "damaged",
                        "sets is a symlink pointing outside the run folder")]
    out = []
    for p in sorted(sets.iterdir()):
        if p.name.startswith(".") or not p.is_dir() or not _NAME_RE.fullmatch(p.name) or ".." in p.name:
            continue
        out.append(set_status(run_path, p.name, run_info))
    return out


def _check_no_escaping_links(path):
    # A shared run folder may carry symlinks (e.g. attributes.csv -> /etc/passwd);
    # never follow one that leads out of the run folder.
    real = Path(path).resolve()
    for f in REQUIRED_FILES + OPTIONAL_FILES:
        p = Path(path) / f
        if p.is_symlink() and p.resolve().parent != real:
            raise ValueError(f"{f} is a symlink pointing outside the run folder")


def list_runs(root=None, sets=False):
    """All run folders under the root with their status; the default run first.

    Each entry's ``sets`` lists the run's named latent sets; ``sets=True``
    also puts them in the list itself, each right after its run (named
    ``RUN/SET``: what a run picker shows).
    """
    root = Path(root).resolve() if root is not None else artifacts_root()
    if not root.is_dir():
        return []
    infos = []
    for p in sorted(root.iterdir()):
        if not p.is_dir() or p.name.startswith(".") or not _NAME_RE.fullmatch(p.name) or ".." in p.name:
            continue
        try:
            if p.is_symlink() and p.resolve().parent != root:
                infos.append(RunInfo(p.name, p, "damaged", "symlink pointing outside the artifacts folder"))
                continue
            infos.append(run_status(p))
        except Exception as exc:  # one hostile folder must not hide the others
            infos.append(RunInfo(p.name, p, "damaged",
                                 f"cannot be inspected ({type(exc).__name__}: {str(exc)[:200]})"))
    infos.sort(key=lambda r: (r.name != DEFAULT_RUN, r.name))
    for info in infos:
        try:
            info.sets = list_sets(info.path, info) if info.status != "damaged" else []
        except Exception as exc:  # a hostile sets folder must not hide the run
            info.sets = [RunInfo(f"{info.name}/{SETS_DIR}", info.path / SETS_DIR, "damaged",
                                 f"cannot be inspected ({type(exc).__name__}: {str(exc)[:200]})")]
    if sets:
        return [e for info in infos for e in [info] + info.sets]
    return infos


def is_locked(path):
    """True when a training process holds the run folder's lock."""
    lock = Path(path) / "run.lock"
    if not lock.exists():
        return False
    try:
        fh = open_regular(lock)  # never blocks: a FIFO named run.lock is no lock
    except (ValueError, OSError):
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


#: How long RunLock waits for a lock held for an instant (an is_locked probe).
LOCK_RETRY_S = 0.1


class RunLock:
    """Exclusive lock on a run folder so two trainers cannot write it at once."""

    def __init__(self, path):
        self.path = Path(path)
        self._fh = None

    def __enter__(self):
        self.path.mkdir(parents=True, exist_ok=True)
        # O_NONBLOCK: opening a FIFO planted as run.lock must not hang.
        fd = os.open(self.path / "run.lock", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ValueError(f"run folder {self.path.name}: run.lock is not a regular file")
        self._fh = os.fdopen(fd, "a")
        # is_locked() probes by taking the lock for an instant: retry for a
        # moment so a probe (a page, a test) never turns away a real trainer.
        deadline = time.monotonic() + LOCK_RETRY_S
        while True:
            try:
                fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._fh.close()
                    raise ValueError(f"run folder {self.path.name} is in use by another training process") from None
                time.sleep(0.005)

    def __exit__(self, *exc):
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


# ---------------------------------------------------------------- loading

class Run:
    """A complete run (or one of its latent sets), loaded lazily and safely.

    ``Run(path, set_name="digits")`` takes the latents, index and
    attributes from ``path/sets/digits`` and everything else (models,
    config, history) from the run; ``name`` is then ``RUN/SET`` and
    ``metadata`` the run's updated with the set's ``set.json``.

    Attributes
    ----------
    path : Path     (the run folder, also for a set)
    data_path : Path   (where latents.npy lives: the run folder or the set folder)
    set_name : str or None
    config : dict   (TrainConfig as JSON)
    metadata : dict
    history : dict  (lists per metric)
    latents : ndarray of shape (n_images, z_dim), float32, memory-mapped
    index : ndarray of shape (n_images,), int64
    attributes : pandas.DataFrame or None
    """

    def __init__(self, path, set_name=None):
        info = run_status(path)
        if info.status != "complete":
            raise ValueError(f"run {Path(path).name} is {info.status}: {info.reason}")
        self.path = Path(path)
        self.name = self.path.name
        self.set_name = None
        self.data_path = self.path
        self.config = read_json(self.path / "config.json")
        self.metadata = read_json(self.path / "metadata.json")
        self.history = read_json(self.path / "history.json")
        self.set_metadata = None
        if set_name is not None:
            sinfo = set_status(self.path, set_name, info)
            if sinfo.status != "complete":
                raise ValueError(f"set {sinfo.name} is {sinfo.status}: {sinfo.reason}")
            self.set_name, self.data_path = set_name, sinfo.path
            self.name = f"{self.path.name}/{set_name}"
            self.set_metadata = sinfo.metadata
            self.metadata = dict(self.metadata, **sinfo.metadata)
        self.z_dim = int(self.config["model"]["z_dim"])
        self.image_size = int(self.config["model"]["image_size"])
        self.channels = int(self.config["model"]["channels"])
        self.latents = load_npy(self.data_path / "latents.npy", z_dim=self.z_dim)
        self.index = np.asarray(load_npy(self.data_path / "index.npy"))
        self._attributes, self._attributes_pending = None, False
        if (self.data_path / "attributes.csv").exists():
            with open_regular(self.data_path / "attributes.csv") as fh:
                raw = fh.read(MAX_ATTRIBUTES_BYTES + 1)
            if len(raw) > MAX_ATTRIBUTES_BYTES:
                raise ValueError(f"attributes.csv is larger than {MAX_ATTRIBUTES_BYTES:,} bytes")

            try:
                self._attributes = pd.read_csv(io.BytesIO(raw))
            except Exception as exc:  # pandas parser errors
                raise ValueError(f"attributes.csv cannot be read: {str(exc)[:200]}") from None
        else:
            # Procedural data: the factors are recomputed from the seed when
            # first asked for (not at load: 200k rows would cost ~50 MB), so a
            # shipped run need not store the same table twice.
            self._attributes_pending = True
        self._encoder = self._decoder = None

    @property
    def attributes(self):
        """The attribute table (n_images rows) or None: attributes.csv, or recomputed for procedural data."""
        if self._attributes_pending:
            self._attributes = procedural_attributes(self._data_config(), self.index)
            self._attributes_pending = False
        return self._attributes

    @property
    def encoder(self):
        if self._encoder is None:
            enc = load_model(self.path / "encoder.keras")
            image = (self.image_size, self.image_size, self.channels)
            if tuple(enc.input_shape[1:]) != image or int(enc.output_shape[-1]) != self.z_dim:
                raise ValueError(
                    f"encoder.keras maps {tuple(enc.input_shape[1:])} to {enc.output_shape[-1]} components "
                    f"but the run's config says {image} to z_dim {self.z_dim}"
                )
            self._encoder = enc
        return self._encoder

    @property
    def decoder(self):
        if self._decoder is None:
            dec = load_model(self.path / "decoder.keras")
            if int(dec.input_shape[-1]) != self.z_dim:
                raise ValueError(
                    f"decoder expects {dec.input_shape[-1]} components but the run's z_dim is {self.z_dim}"
                )
            image = (self.image_size, self.image_size, self.channels)
            if tuple(dec.output_shape[1:]) != image:
                raise ValueError(f"decoder produces images of shape {tuple(dec.output_shape[1:])} "
                                 f"but the run's config says {image}")
            self._decoder = dec
        return self._decoder

    def _data_config(self):
        # A latent set's own source (dataset, limit, crop, seed) over the run's config.
        return self.config if self.set_metadata is None else dict(self.config, **self.set_metadata)

    def source(self, limit=None):
        """Re-open the run's data source (for originals and reconstructions)."""
        return open_config_source(self._data_config(), limit=limit or None)
def load_run(spec, root=None):
    """Load a complete run (``NAME``) or latent set (``NAME/SET``); ``ValueError`` with the reason otherwise."""
    path, set_name = split_spec(spec, root)
    return Run(path, set_name=set_name)


def run_images(run, n=8, held_out=False):
    """The first ``n`` images of a :class:`Run`'s data source, or the last ``n`` (held out in training).

    Returns ``(images (n, s, s, c), index (n,))``; ``ValueError`` when the
    source cannot be opened (moved folder, ...).
    """
    source = run.source()
    if held_out:
        start = max(0, source.n_images - n)
        images, _, index = next(iter(source.iter_batches(batch_size=n, start=start)))
        return images, index
    images, _, index = source.load(n=min(n, source.n_images))
    return images, index


def data_version(spec, root=None):
    """(mtime of metadata.json, of latents.npy, of set.json) of a run or set: changes when it is rewritten."""
    path, set_name = split_spec(spec, root)
    files = [path / "metadata.json"]
    if set_name is not None:
        sp = set_dir(path, set_name)
        files += [sp / "latents.npy", sp / SET_META]
    else:
        files.append(path / "latents.npy")
    out = []
    for f in files:
        try:
            out.append(f.stat().st_mtime_ns)
        except FileNotFoundError:
            out.append(0)
    return tuple(out)


# ---------------------------------------------------------------- uploads

_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_upload_path(name, root=None, max_bytes=MAX_UPLOAD_BYTES, size=None, extensions=None):
    """Where to store an uploaded file: a sanitised name inside ``root/.uploads/``.

    Parameters
    ----------
    name : str
        The file name the browser sent (untrusted): only its last path
        component is kept (``/`` and ``\\`` both separate), accents are
        folded to ASCII, other characters become ``_``, leading dots are
        dropped, the stem is cut to 100 characters.
    root : str or Path or None
        Artifacts root (default :func:`artifacts_root`).
    max_bytes : int
        Size cap (default ``MAX_UPLOAD_BYTES``, 2 GiB).
    size : int or None
        The upload's size in bytes; None skips the check (then the caller
        must stop writing at ``max_bytes``).
    extensions : sequence of str or None
        Allowed extensions (e.g. ``(".zip", ".npy", ".npz")``), case-insensitive.

    Returns
    -------
    Path inside ``root/.uploads`` (the folder is created; an existing file of
    the same name will be replaced by the caller's write — use
    :func:`atomic_write_bytes`).

    Raises
    ------
    ValueError
        For a name with no usable characters, a refused extension, a size
        over the cap (both numbers in the message) or an uploads folder that
        is a symlink.
    """
    if not isinstance(name, str):
        raise ValueError(f"upload file name must be a string, got {name!r}")
    max_bytes = int(max_bytes)
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = _UNSAFE_CHARS.sub("_", base).lstrip(".")
    stem, ext = os.path.splitext(base)
    ext = ext.lower() if 1 < len(ext) <= 10 else ""
    stem = stem.strip("._")[:100]
    if not stem:
        raise ValueError(f"upload file name {name!r} has no usable characters")
    if extensions is not None:
        allowed = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
        if ext not in allowed:
            raise ValueError(f"upload {name!r} has extension {ext or '(none)'!r}; allowed: {', '.join(allowed)}")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ValueError(f"upload size must be a non-negative integer, got {size!r}")
        if size > max_bytes:
            raise ValueError(f"upload {stem + ext!r} is {int(size):,} bytes; the limit is {max_bytes:,} bytes "
                             f"({max_bytes / 2**20:,.0f} MiB)")
    root = Path(root).resolve() if root is not None else artifacts_root()
    folder = root / UPLOADS_DIR
    if folder.is_symlink():
        raise ValueError(f"{folder} is a symlink; refusing to write uploads through it")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (stem + ext)
    if path.is_symlink() or path.resolve().parent != folder.resolve():
        raise ValueError(f"upload path {path} leads outside {folder}")
    return path
