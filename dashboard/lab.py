"""The dashboard's one place for caching, run selection and shared widgets.

Pages lay out widgets and call ``core``; they hold no caches of their own.
A computation on a run is cached through ONE helper,
``run_cached(core_function, run, *args)``: keyed by the run's name and file
version, the function and the arguments (``shared=True``: one read-only
object for every session, e.g. statistics and compiled models; otherwise a
copy per call, e.g. arrays, tables and PNG bytes).  The functions themselves
live in ``core`` (``core.run_views`` for most).  Besides that: the run
picker, the compiled decoder/encoder, query parameters, error messages,
PNG and CSV downloads and uploads.

This module is light (no scipy, scikit-learn, matplotlib or TensorFlow at
import): Home imports it before its run summary paints (issue 14).  Figure
PNGs are in ``figures.py`` (matplotlib), the analyses (statistics,
samplers, the Tour) in ``views.py`` (scipy, scikit-learn); both cache
through :func:`run_cached`.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import inspect
import io
import os
import re
import sys
import threading
from pathlib import Path

import core  # noqa: F401  (first: sets the BLAS and TensorFlow environment before numpy loads)
import numpy as np
import pandas as pd
import streamlit as st

from core.model.network import CompiledModel  # TensorFlow itself loads on first use
from core.runs import runs
from core.validation import check_latents

try:
    from streamlit.runtime.caching.cache_utils import in_cached_function
except ImportError:  # a Streamlit without it: no nested spinners is only cosmetic
    in_cached_function = None

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RUN_KEY = "run_name"


OPENED_KEY = "opened_runs"
# Run folders opened by path from any session.  A run key is a name inside
# the artifacts root or one of these absolute paths; nothing else from a
# browser resolves outside the root.
_OPENED = set()
_OPENED_LOCK = threading.Lock()


def _is_opened(key):
    with _OPENED_LOCK:
        return key in _OPENED


def run_path(key):
    """The folder of a run key: a name in the artifacts root, or a folder opened by path."""
    return Path(key) if _is_opened(key) else runs.run_dir(key)


def open_run_path(text):
    """Open a run folder anywhere on the server's disk, by the path a user typed.

    Returns the run key (the resolved absolute path) and adds it to this
    session's run picker.  ``ValueError`` names the path and why it cannot
    be opened (not a folder, not a complete run).
    """
    text = str(text).strip()
    if not text:
        raise ValueError("type the path of a run folder")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{text!r} is not an absolute path (start with / or ~)")
    path = path.resolve()
    if not path.is_dir():
        raise ValueError(f"{str(path)!r} is not a folder")
    info = runs.run_status(path)
    if info.status != "complete":
        raise ValueError(f"{str(path)!r} is not a complete run folder ({info.status}: {info.reason})")
    if path.parent == runs.artifacts_root():
        key = runs.check_run_name(path.name)    # already listed: pick it by name
    else:
        key = str(path)
        with _OPENED_LOCK:
            _OPENED.add(key)
    opened = st.session_state.setdefault(OPENED_KEY, [])
    if key != path.name and key not in opened:
        opened.append(key)
    st.session_state[RUN_KEY] = key
    st.session_state.pop("_run_picker", None)
    return key


def file_stem(key):
    """A run key made safe for a download file name (opened runs are paths)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(key).strip("/")) or "run"


def run_token(name):
    """Changes whenever a run folder (or a latent set ``RUN/SET``) is rewritten, so caches never go stale."""
    if not _is_opened(name):
        return runs.data_version(name)
    path = Path(name)
    try:
        return (path / "metadata.json").stat().st_mtime_ns, (path / "latents.npy").stat().st_mtime_ns
    except FileNotFoundError:
        return (0, 0)


# ---------------------------------------------------------------- runs

@st.cache_data(ttl=5, show_spinner=False)
def list_runs():
    """Run infos as plain dicts (name, status, reason, metadata); latent sets follow their run as ``RUN/SET``."""
    return [dict(name=i.name, status=i.status, reason=i.reason, metadata=i.metadata)
            for i in runs.list_runs(sets=True)]


def _skip_keras_clear_session():
    # Streamlit calls keras.backend.clear_session() after every rerun
    # (script_runner._clean_problem_modules).  Keras then runs a full
    # gc.collect() (~0.25 s of CPU on this heap, holding the GIL) and clears
    # TensorFlow's kernel cache, so the next rerun's first model call builds
    # its kernels again: a one-vector decode took 50-250 ms instead of 4 ms
    # (issue 14, the Decode slider).  What it resets besides is Keras's
    # thread-local state, and every rerun runs in a new thread anyway; the
    # dashboard's models live in st.cache_resource.  So the call does nothing.
    keras = sys.modules.get("keras")
    backend = getattr(keras, "backend", None)
    if getattr(backend, "clear_session", None) is not None and not getattr(backend.clear_session, "_latent_lab", False):
        def skip(free_memory=True):
            return None

        skip._latent_lab = True
        backend.clear_session = skip


_FROZEN_AT = [0]  # len(sys.modules) at the last gc.freeze
_FREEZE_LOCK = threading.Lock()


def freeze_long_lived(min_new_modules=50):
    # Python's full (generation 2) collections walk every tracked object: with
    # TensorFlow, pandas and scipy loaded that is ~300,000 of them, and one
    # full collection every few reruns added 0.2-0.4 s to a plane-pair change
    # (issue 14).  The modules, models and statistics loaded so far live as
    # long as the server, so once a batch of libraries has come in, collect
    # once and move everything alive out of the collector's view (gc.freeze);
    # objects made later (each rerun's figures) are collected as before.
    if len(sys.modules) - _FROZEN_AT[0] < min_new_modules:
        return
    with _FREEZE_LOCK:
        if len(sys.modules) - _FROZEN_AT[0] >= min_new_modules:
            _FROZEN_AT[0] = len(sys.modules)
            gc.collect()
            gc.freeze()


@st.cache_resource(show_spinner="Loading run…", max_entries=8)
def _load_run(name, token):
    # A name in the root may be RUN/SET (a latent set); an opened folder is its path.
    run = runs.Run(Path(name)) if _is_opened(name) else runs.load_run(name)
    run.name = name     # the key: unique across the root and opened folders
    return run


def get_run(name):
    """The loaded :class:`core.runs.runs.Run` (shared by all sessions)."""
    return _load_run(name, run_token(name))


def select_run(sidebar=True):
    """Run picker; the choice persists across pages. Stops the page if no run is usable.

    Lists the complete runs of the artifacts root (``$LATENT_LAB_ARTIFACTS``
    or ``artifacts/``) and the folders this session opened by path.
    """
    where = st.sidebar if sidebar else st
    infos = list_runs()
    opened = [k for k in st.session_state.get(OPENED_KEY, []) if k in _OPENED]
    usable = [i["name"] for i in infos if i["status"] == "complete"] + opened
    others = [i for i in infos if i["status"] != "complete"]
    if not usable:
        st.warning(f"No complete run in {runs.artifacts_root()}. Train one on the Train page or with "
                   "`python -m core train --out artifacts/NAME`, or open a run folder by path below.")
        _show_unusable(others, where)
        _open_by_path(where)
        st.stop()
    current = st.session_state.get(RUN_KEY)
    if current not in usable:
        current = runs.DEFAULT_RUN if runs.DEFAULT_RUN in usable else usable[0]
    # A widget key of its own, mirrored into RUN_KEY, survives page switches.
    name = where.selectbox("Run", usable, index=usable.index(current), key="_run_picker",
                           help=f"Runs found in {runs.artifacts_root()} (the shipped default run first; "
                                "RUN/SET is a named latent set of a run: its latents, the run's models), "
                                "then folders opened by path.")
    st.session_state[RUN_KEY] = name
    _show_unusable(others, where)
    _open_by_path(where)
    try:
        return get_run(name)
    except ValueError as exc:
        st.error(f"Run {name!r} cannot be loaded: {exc}")
        st.stop()


def _open_by_path(where):
    with where.expander("Open a run folder by path"):
        with st.form("open_run_form", border=False):
            text = st.text_input("Run folder on the server", placeholder="/data/runs/celeba96",
                                 key="open_run_path")
            if st.form_submit_button("Open"):
                try:
                    open_run_path(text)
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    st.rerun()


def _show_unusable(others, where):
    if others:
        with where.expander(f"{len(others)} run(s) not usable"):
            for i in others:
                st.markdown(f"**{i['name']}** — {i['status']}: {i['reason']}")


# ---------------------------------------------------------------- the run-keyed cache

def _fn_key(fn):
    # The line number tells apart two lambdas (or closures) of one function.
    code = getattr(fn, "__code__", None)
    return f"{fn.__module__}.{fn.__qualname__}:{code.co_firstlineno if code else ''}"


#: Keyword parameters ``run_cached`` fills in when ``fn`` has them and the
#: caller did not: functions of the run's version, so not part of the key.
INJECTED = ("statistics", "decode_fn", "encode_fn")

# What fills in an INJECTED parameter other than the compiled models, name ->
# function(run): ``statistics`` comes from views.py (it needs scipy, which
# this module must not import), registered there with provide().  Every page
# that computes on statistics imports views; tests/test_lab_cache.py checks it.
_PROVIDERS = {}


def provide(name, fn):
    """Make ``fn(run)`` what :func:`run_cached` passes for the :data:`INJECTED` parameter ``name``."""
    if name not in INJECTED:
        raise ValueError(f"{name!r} is not one of the injected parameters {INJECTED}")
    _PROVIDERS[name] = fn


def _in_cached_function():
    # Called from inside another cached function (the scoring section's): that
    # one's spinner, if any, is already up; no element calls in there.
    return in_cached_function is not None and bool(in_cached_function.get())


@functools.lru_cache(maxsize=512)
def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature
        return None


def _is_default(value, default):
    if value is default:
        return True
    try:
        return type(value) is type(default) and bool(value == default)
    except (TypeError, ValueError):  # arrays and the like: not a default
        return False


def _key_args(fn, args, kwargs, left_out):
    # The arguments as fn binds them, those equal to their defaults left
    # out: f(run, 1), f(run, i=1) and f(run, 1, scale=1.0) share one entry.
    sig = _signature(fn)
    if sig is None:
        return tuple(args) + tuple(sorted(kwargs.items()))
    bound = sig.bind(None, *args, **kwargs, **{k: None for k in left_out if k in sig.parameters})
    key = []
    for name, value in list(bound.arguments.items())[1:]:
        if name in left_out or name in INJECTED or _is_default(value, sig.parameters[name].default):
            continue
        if sig.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            value = tuple(sorted(value.items()))
        key.append((name, value))
    return tuple(key)


def _injected(fn, run, kwargs):
    given = {}
    sig = _signature(fn)
    providers = {"decode_fn": decoder_fn, "encode_fn": encoder_fn, **_PROVIDERS}
    for name in INJECTED if sig is not None else ():
        if name not in sig.parameters or name in kwargs:
            continue
        if name in providers:  # else fn's default: it computes its own (a page that never imported views)
            given[name] = providers[name](run)
    return given


@st.cache_data(show_spinner=False, max_entries=512)
def _run_cached_data(name, token, fn_key, key_args, _call):
    return _call(_load_run(name, token))


@st.cache_resource(show_spinner=False, max_entries=64)
def _shared_slot(name, token, fn_key, key_args):
    # Only a holder: a shared result is computed OUTSIDE Streamlit's cache
    # functions, so that a progress callback may update an element the page
    # created (Streamlit refuses element calls on outside blocks inside a
    # cached function).  The lock makes a second session asking for the same
    # result wait for the first one's; an exception stores nothing.
    return {"lock": threading.Lock(), "done": False, "value": None}


def _shared(key, run, make, compute):
    slot = _shared_slot(*key)
    if slot["done"] or not compute:
        return slot["value"]
    with slot["lock"]:
        if not slot["done"]:
            slot["value"] = make(run)
            slot["done"] = True
    return slot["value"]


def run_cached(fn, run, *args, shared=False, spinner=None, unhashed=None, compute=True, **kwargs):
    """``fn(run, *args, **kwargs)``, computed once per run version and arguments.

    The dashboard's one caching pattern: ``fn`` is a plain function taking
    the loaded run first (best one from ``core``, e.g. ``core.run_views``);
    the key is the run's name and file version, ``fn``'s qualified name and
    the (hashable) arguments, so a retrained run never shows stale results.

    Parameters
    ----------
    shared : bool
        False: the result is copied per call (``st.cache_data``: arrays,
        tables, PNG bytes).  True: one read-only object for every session
        (fitted models, large statistics), computed outside Streamlit's cache
        functions, so ``unhashed`` callbacks may update page elements.
    spinner : str, optional
        Shown while a result is computed (Streamlit shows a spinner only
        after half a second, so a hit shows nothing).
    unhashed : dict, optional
        Keyword arguments passed to ``fn`` but left out of the key: callables
        whose result the other arguments already determine (a progress
        callback, a figure's draw function).
    compute : bool
        False: return None unless the result is already there (``shared`` only).

    Parameters of ``fn`` named in :data:`INJECTED` (``statistics``,
    ``decode_fn``, ``encode_fn``) receive the run's shared statistics and
    compiled models unless given.
    """
    extra = dict(unhashed or {})
    extra.update(_injected(fn, run, {**kwargs, **extra}))
    key = (run.name, run_token(run.name), _fn_key(fn), _key_args(fn, args, kwargs, set(extra)))

    def call(r):
        return fn(r, *args, **kwargs, **extra)

    # st.spinner starts a thread per call (~1-5 ms with the GIL busy): only where a result is computed.
    busy = spinner and not _in_cached_function() and not _known(key, shared)
    with st.spinner(spinner) if busy else contextlib.nullcontext():
        if shared:
            return _shared(key, run, call, compute)
        value = _run_cached_data(*key, call)
    _remember(key)
    return value


_SEEN = set()  # keys of st.cache_data results this process has computed or returned


def _known(key, shared):
    """Whether the result of ``key`` is (most likely) there already: then no spinner is shown."""
    if shared:
        return _shared_slot(*key)["done"]
    try:
        return key in _SEEN  # an entry Streamlit has evicted since merely computes without a spinner
    except TypeError:  # an unhashable argument (Streamlit hashes it its own way)
        return False


def _remember(key):
    try:
        if len(_SEEN) > 4096:
            _SEEN.clear()
        _SEEN.add(key)
    except TypeError:
        pass


class _Store:
    """A small thread-safe LRU dict (shared by all sessions through ``st.cache_resource``).

    Used instead of ``st.cache_data`` where a computation reports progress
    to the page while it runs: element calls inside ``st.cache_data`` would
    be recorded and replayed, and a stop request must be able to interrupt
    the computation (nothing half-done is stored).
    """

    def __init__(self, max_entries):
        self.max_entries = int(max_entries)
        self._d = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key, value):
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.max_entries:
                self._d.popitem(last=False)


@st.cache_resource(show_spinner=False)
def score_store():
    """The scoreboard rows of the Samplers page (``views.score``), for every session."""
    return _Store(128)


# ---------------------------------------------------------------- compiled models

def _compiled(run, part, batch_size):
    model = CompiledModel(getattr(run, part), batch_size)
    _skip_keras_clear_session()  # Keras is imported by now
    freeze_long_lived()
    return model


def decoder_fn(run, batch_size=16):
    """A traced, thread-safe decode function for the run: (n, z_dim) -> images (shared)."""
    return run_cached(_compiled, run, "decoder", int(batch_size), shared=True, spinner="Compiling decoder…")


def encoder_fn(run, batch_size=16):
    """A traced, thread-safe encode function for the run: images -> (n, z_dim) (shared)."""
    return run_cached(_compiled, run, "encoder", int(batch_size), shared=True, spinner="Compiling encoder…")


def decode(run, Z):
    """Decode latent vectors with the run's cached decoder; ValueError on bad input."""
    Z = check_latents(Z, z_dim=run.z_dim)
    return decoder_fn(run)(Z)


# ---------------------------------------------------------------- messages and downloads

def show_error(exc):
    """Show a ValueError from core as a one-line message (no traceback)."""
    st.error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def csv_download(df, file_name, key=None, label="Download CSV"):
    """A download button for a table as CSV (no rerun on click).

    The CSV is written when the button is clicked, not on every rerun (a
    plane-pair change redraws a page with such a table, issue 14).
    """
    st.download_button(label, functools.partial(_csv_bytes, df), file_name=file_stem(file_name),
                       mime="text/csv", key=key or f"dl_{file_name}", on_click="ignore")


def _csv_bytes(df):
    return df.to_csv(index=False).encode("utf-8")


# ---------------------------------------------------------------- uploads (Train helper)

#: Largest accepted upload (also ``server.maxUploadSize`` in .streamlit/config.toml).
UPLOAD_CAP_MB = 200


def save_upload(filename, data, cap_mb=UPLOAD_CAP_MB):
    """Save uploaded zip bytes under ``artifacts/.uploads/`` (atomically); return the path.

    The name is sanitised by :func:`core.runs.runs.safe_upload_path`; ``ValueError``
    when the upload is larger than ``cap_mb`` MB, not named ``.zip`` or not a
    zip archive.
    """
    path = runs.safe_upload_path(str(filename), size=len(data), max_bytes=cap_mb * 2**20,
                                 extensions=(".zip",))
    if bytes(data[:4]) != b"PK\x03\x04":
        raise ValueError(f"upload {filename!r} is not a zip archive")
    runs.atomic_write_bytes(path, bytes(data))
    return path


def show_png(png, file_name, key, caption=None, width="content", label="Download PNG"):
    """Show PNG bytes with a download button for the same bytes."""
    # PNG as given: with the default "auto", Streamlit re-encodes an RGB PNG to JPEG on every rerun.
    st.image(png, caption=caption, width=width, output_format="PNG")
    st.download_button(label, png, file_name=file_stem(file_name), mime="image/png", key=key, on_click="ignore")


def vector_downloads(V, stem, key):
    """Vector downloads: ``.npy`` and ``.csv`` buttons for vectors (n, z_dim); built only when clicked."""
    def npy():
        buf = io.BytesIO()
        np.save(buf, np.asarray(V, dtype=np.float32), allow_pickle=False)
        return buf.getvalue()

    def csv():
        cols = [f"z{k}" for k in range(np.shape(V)[1])]
        return pd.DataFrame(np.asarray(V), columns=cols).to_csv(index=False, float_format="%.6g").encode()

    c1, c2 = st.columns(2)
    what = f"the {np.shape(V)[0]:,} vectors"
    c1.download_button(".npy", npy, file_name=f"{file_stem(stem)}.npy", mime="application/octet-stream",
                       key=f"{key}_npy", on_click="ignore", icon=":material/download:",
                       help=f"{what} as a NumPy file (float32, np.load)")
    c2.download_button(".csv", csv, file_name=f"{file_stem(stem)}.csv", mime="text/csv",
                       key=f"{key}_csv", on_click="ignore", icon=":material/download:",
                       help=f"{what} as CSV, one row per vector")


# ---------------------------------------------------------------- query parameters (the Tour's links, issue 11)

def query_value(name, default, cast=str):
    """``cast(st.query_params[name])``, or ``default`` when absent or not castable.

    Pages use it for widget defaults, so a link (the Tour's "explore this")
    opens them with given settings; a widget the user already changed keeps
    its value.
    """
    raw = st.query_params.get(name)
    if raw is None:
        return default
    try:
        return cast(raw)
    except (TypeError, ValueError):
        return default


def query_list(name, default, cast=str, allowed=None):
    """A comma-separated query parameter as a list (``default`` when absent or
    when any item is not castable or not in ``allowed``)."""
    raw = st.query_params.get(name)
    if not raw:
        return list(default)
    try:
        items = [cast(x) for x in str(raw).split(",") if x.strip()]
    except (TypeError, ValueError):
        return list(default)
    if allowed is not None and any(x not in allowed for x in items):
        return list(default)
    return items


# ---------------------------------------------------------------- your own image (issue 11)

USER_Z_KEY = "user_z"


def user_mark(run):
    """The z-point of the image uploaded on the Your image page for this run, or None."""
    got = st.session_state.get(USER_Z_KEY)
    if got and got[0] == run.name and len(got[1]) == run.z_dim:
        return tuple(got[1])
    return None


_TF_WARMING = threading.Lock()
_TF_WARM_STARTED = False


def warm_tensorflow():
    """Import Keras/TensorFlow in a background thread once per server, after a page's first paint.

    The first decode (a Draw with decoder metrics, the Decode page) then does
    not pay the ~5 s import. Only in a real server: AppTest has no runtime,
    and tests that never decode should not pay it either. Importing is safe
    in a thread (the import lock makes a foreground import wait for it);
    loading models is not, so only the import is done here.
    """
    global _TF_WARM_STARTED
    if not st.runtime.exists():
        return
    with _TF_WARMING:
        if _TF_WARM_STARTED:
            return
        _TF_WARM_STARTED = True

    def _import():
        import keras  # noqa: F401  (imports TensorFlow)

    threading.Thread(target=_import, name="warm-tensorflow", daemon=True).start()
