"""The dashboard's one place for caching, run selection and shared widgets.

Pages lay out widgets and call ``core``; they hold no caches of their own.
A computation on a run is cached through ONE helper,
``run_cached(core_function, run, *args)``: keyed by the run's name and file
version, the function and the arguments (``shared=True``: one read-only
object for every session, e.g. statistics and compiled models; otherwise a
copy per call, e.g. arrays, tables and PNG bytes).  The functions themselves
live in ``core`` (``core.run_views`` for most).  Besides that: the run
picker, the compiled decoder/encoder, figure PNGs and downloads, sampler
widgets, and the sampler-scoring section (fits, draws, scoreboard rows).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
import threading
from pathlib import Path

import numpy as np
import streamlit as st

from core import run_views
from core.chunks import take_rows
from core.runs import runs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _SamplerViews:
    """``core.sampling.sampler_views``, imported on first use: it loads scipy, scikit-learn and
    matplotlib, which Home's run summary must not wait for (issue 14, tests/test_home_first_paint.py)."""

    def __getattr__(self, name):
        from core.sampling import sampler_views as module

        return getattr(module, name)


sampler_views = _SamplerViews()

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


def _run_token(name):
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
    import sys

    keras = sys.modules.get("keras")
    backend = getattr(keras, "backend", None)
    if getattr(backend, "clear_session", None) is not None and not getattr(backend.clear_session, "_latent_lab", False):
        def skip(free_memory=True):
            return None

        skip._latent_lab = True
        backend.clear_session = skip


_FROZEN_AT = [0]  # len(sys.modules) at the last gc.freeze
_FREEZE_LOCK = threading.Lock()


def _freeze_long_lived(min_new_modules=50):
    # Python's full (generation 2) collections walk every tracked object: with
    # TensorFlow, pandas and scipy loaded that is ~300,000 of them, and one
    # full collection every few reruns added 0.2-0.4 s to a plane-pair change
    # (issue 14).  The modules, models and statistics loaded so far live as
    # long as the server, so once a batch of libraries has come in, collect
    # once and move everything alive out of the collector's view (gc.freeze);
    # objects made later (each rerun's figures) are collected as before.
    import gc
    import sys

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
    return _load_run(name, _run_token(name))


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


def _in_cached_function():
    # Called from inside another cached function (the scoring section's): that
    # one's spinner, if any, is already up; no element calls in there.
    try:
        from streamlit.runtime.caching.cache_utils import in_cached_function
    except ImportError:  # a Streamlit without it: no nested spinners is only cosmetic
        return False
    return bool(in_cached_function.get())


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
    for name in INJECTED if sig is not None else ():
        if name not in sig.parameters or name in kwargs:
            continue
        if name == "statistics":
            given[name] = statistics(run)
        else:
            given[name] = (decoder_fn if name == "decode_fn" else encoder_fn)(run)
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
    key = (run.name, _run_token(run.name), _fn_key(fn), _key_args(fn, args, kwargs, set(extra)))

    def call(r):
        return fn(r, *args, **kwargs, **extra)

    with st.spinner(spinner) if spinner and not _in_cached_function() else contextlib.nullcontext():
        if shared:
            return _shared(key, run, call, compute)
        return _run_cached_data(*key, call)


# ---------------------------------------------------------------- models and statistics

def _compiled(run, part, batch_size):
    from core.model.network import CompiledModel

    model = CompiledModel(getattr(run, part), batch_size)
    _skip_keras_clear_session()  # Keras is imported by now
    _freeze_long_lived()
    return model


def decoder_fn(run, batch_size=16):
    """A traced, thread-safe decode function for the run: (n, z_dim) -> images (shared)."""
    return run_cached(_compiled, run, "decoder", int(batch_size), shared=True, spinner="Compiling decoder…")


def encoder_fn(run, batch_size=16):
    """A traced, thread-safe encode function for the run: images -> (n, z_dim) (shared)."""
    return run_cached(_compiled, run, "encoder", int(batch_size), shared=True, spinner="Compiling encoder…")


def decode(run, Z):
    """Decode latent vectors with the run's cached decoder; ValueError on bad input."""
    from core.validation import check_latents

    Z = check_latents(Z, z_dim=run.z_dim)
    return decoder_fn(run)(Z)


def statistics(run, bin_width=run_views.BIN_WIDTH):
    """:func:`core.run_views.statistics` of the run (read-only, shared by all sessions and pages)."""
    stats = run_cached(run_views.statistics, run, float(bin_width), shared=True,
                       spinner="Computing statistics (components, correlation, PCA)…")
    _freeze_long_lived()
    return stats


# ---------------------------------------------------------------- samplers
# The Samplers page's computations live in core.sampling.sampler_views; here
# they are only cached, each through run_cached, a sampler keyed by its name
# and sorted parameter items.

def fitted_sampler(run, sampler, **params):
    """A sampler from ``core.sampling.samplers.SAMPLERS`` fitted on the run's fit rows (shared).

    The fit rows are ``core.sampling.scoreboard.holdout_split(run.latents)[0]``,
    as in ``python -m core compare``: the page's scoreboard is the CLI's.
    Cached on disk too (:func:`core.sampling.sampler_views.fitted_sampler`).
    """
    return run_cached(sampler_views.fitted_sampler, run, str(sampler), _items(params), shared=True,
                      spinner="Fitting sampler…")


def show_error(exc):
    """Show a ValueError from core as a one-line message (no traceback)."""
    st.error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


# ---------------------------------------------------------------- figures and downloads

def _drawn_png(run, kind, params, dpi, others, draw=None):
    return figure_png(draw(), dpi=dpi)


def cached_figure(run, kind, params, draw, dpi=110, others=()):
    """PNG bytes of a figure, drawn once per (run version, ``kind``, ``params``) and cached.

    ``draw()`` builds and returns a matplotlib Figure (best a
    ``matplotlib.figure.Figure``, which needs no pyplot state and so is safe
    with several sessions); ``params`` (hashable) must hold everything the
    drawing depends on besides the run; ``others``: further runs the figure
    shows (the Compare page), whose versions join the key.  Warm page
    renders then only send cached bytes.
    """
    return run_cached(_drawn_png, run, str(kind), params, int(dpi),
                      tuple((r.name, _run_token(r.name)) for r in others),
                      unhashed={"draw": draw}, spinner="Drawing the figure…")


def csv_download(df, file_name, key=None, label="Download CSV"):
    """A download button for a table as CSV (no rerun on click)."""
    st.download_button(label, df.to_csv(index=False).encode("utf-8"), file_name=file_stem(file_name),
                       mime="text/csv", key=key or f"dl_{file_name}", on_click="ignore")


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


# ---------------------------------------------------------------- planes, samplers, decode (pages 3-5)

def _png_rgba(rgba):
    """PNG bytes of an (h, w, 4) uint8 RGBA array: no row filter, zlib level 1.

    About half the CPU of Pillow's fast level (whose adaptive row filters cost
    more than they save on a plot's flat colours) and smaller files (issue 14).
    """
    import struct
    import zlib

    h, w, _ = rgba.shape
    rows = np.empty((h, 4 * w + 1), np.uint8)
    rows[:, 0] = 0  # filter type None on every row
    rows[:, 1:] = rgba.reshape(h, 4 * w)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))


def figure_png(fig, dpi=110, tight=True):
    """Render a matplotlib figure ONCE to PNG bytes and close it.

    Pages show the bytes with ``st.image`` and offer the same bytes for
    download, so a figure is never rasterised twice (``st.pyplot`` + savefig).
    ``tight=False`` skips ``bbox_inches="tight"`` (which draws the figure an
    extra time) for figures whose margins are set by hand, and encodes the
    Agg buffer with :func:`_png_rgba`; fast zlib level either way.
    """
    import io
    import sys

    if tight:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pil_kwargs={"compress_level": 1})
        png = buf.getvalue()
    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        # A figure drawn before (core.plotting.reused_axes) keeps its canvas and renderer.
        canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
        fig.set_dpi(dpi)
        canvas.draw()
        png = _png_rgba(np.asarray(canvas.buffer_rgba()))
    if "matplotlib.pyplot" in sys.modules:  # a pyplot figure leaves pyplot's registry
        sys.modules["matplotlib.pyplot"].close(fig)
    return png


def show_png(png, file_name, key, caption=None, width="content", label="Download PNG"):
    """Show PNG bytes with a download button for the same bytes."""
    # PNG as given: with the default "auto", Streamlit re-encodes an RGB PNG to JPEG on every rerun.
    st.image(png, caption=caption, width=width, output_format="PNG")
    st.download_button(label, png, file_name=file_stem(file_name), mime="image/png", key=key, on_click="ignore")


def vector_downloads(V, stem, key):
    """Vector downloads: ``.npy`` and ``.csv`` buttons for vectors (n, z_dim); built only when clicked."""
    import io

    import pandas as pd

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


def _items(params):
    return tuple(sorted(params.items()))


def sample(run, sampler, n, seed=0, **params):
    """``n`` vectors (n, z_dim) float32 from a fitted sampler, cached by all arguments."""
    return _sample_items(run, str(sampler), _items(params), n, seed)


def _sample_items(run, sampler, items, n, seed):
    return run_cached(sampler_views.sample, run, sampler, items, int(n), int(seed),
                      unhashed={"fitted": lambda: fitted_sampler(run, sampler, **dict(items))})


def sample_pca(run, n, seed=0, **params):
    """The PCA-ellipse sampler's own PCA coordinates (n, K) for the same stream as ``sample``."""
    return run_cached(sampler_views.sample_pca, run, _items(params), int(n), int(seed),
                      unhashed={"fitted": lambda: fitted_sampler(run, "pca-ellipse", **params)})


#: Part of the disk-cache key of scoreboard rows; change it when a metric changes.
SCORE_VERSION = "issue18-3"


def _score_reference(run, max_points, reencode, seed, decoder_points):
    # The data side of every row of a Draw, once per run, seed and metric
    # settings: core's, so the rows are those of `python -m core compare`.
    from core.sampling.scoreboard import score_reference

    return score_reference(run.latents, max_points, seed, decoder_metrics=reencode, decoder_points=decoder_points)


def _run_content_key(run):
    from core.sampling.scorecache import run_content_key

    return run_content_key(run)


def _reencoder(run, progress=None):
    # E(D(z)) with the large-batch compiled models; the two calls mark the
    # last two stages of a draw.
    from core.sampling.scoreboard import SCORE_BATCH  # the CLI's batch: the same floats

    dec, enc = decoder_fn(run, SCORE_BATCH), encoder_fn(run, SCORE_BATCH)

    def reencoded(x):
        if progress is not None:
            progress("decode")
        images = dec(x)
        if progress is not None:
            progress("re-encode")
        return enc(images)

    return reencoded


def _score_row(run, kind, key_params, vectors, max_points, reencode, seed, decoder_points, progress=None):
    """A scoreboard row from the shared reference, cached on disk by run content and parameters."""
    from core.sampling.scorecache import cached_row

    def compute():
        if progress is not None:
            progress("score")
        ref = run_cached(_score_reference, run, max_points, reencode, seed, decoder_points, shared=True)
        return ref.score(vectors(), reencoded=_reencoder(run, progress) if reencode else None)

    return cached_row(run_cached(_run_content_key, run, shared=True), kind,
                      (SCORE_VERSION,) + tuple(key_params) + (max_points, reencode, seed, decoder_points), compute)


def _score_settings(max_points, reencode, seed, decoder_points):
    from core.validation import check_int

    max_points = check_int(max_points, "points used by the metrics", low=10)
    dp = max_points if decoder_points is None else check_int(decoder_points, "vectors decoded", low=2)
    return max_points, bool(reencode), int(seed), min(dp, max_points)


class _Store:
    """A small thread-safe LRU dict (shared by all sessions through ``st.cache_resource``).

    Used instead of ``st.cache_data`` where a computation reports progress
    to the page while it runs: element calls inside ``st.cache_data`` would
    be recorded and replayed, and a stop request must be able to interrupt
    the computation (nothing half-done is stored).
    """

    def __init__(self, max_entries):
        import collections
        import threading

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
def _score_store():
    return _Store(128)


def score(run, sampler, n, seed=0, max_points=2000, reencode=True, progress=None, decoder_points=None, **params):
    """A sampler's scoreboard row, the one ``python -m core compare`` prints for the same settings.

    The sampler is fitted on ``holdout_split``'s fit rows, draws ``n``
    vectors with ``seed``, and is scored against
    ``core.sampling.scoreboard.score_reference(run.latents, max_points, seed,
    decoder_metrics=reencode, decoder_points=decoder_points)`` (decoder
    metrics on the first ``decoder_points`` of the metrics' subsample; None:
    all ``max_points``).  Cached for all sessions (in memory, and on disk by
    the run's content, the sampler's full parameters and every other
    argument) by every argument but ``progress``, a callable
    ``progress(stage)`` told "score", then (with ``reencode``) "decode" and
    "re-encode" as the work reaches those stages; it is not called on a hit.
    """
    from core.sampling.samplers import make_sampler

    settings = _score_settings(max_points, reencode, seed, decoder_points)
    items = _items(params)
    key = ("sampler", run.name, _run_token(run.name), sampler, items, int(n)) + settings
    hit = _score_store().get(key)
    if hit is None:
        full = tuple(sorted(make_sampler(sampler, **params).get_params().items()))
        hit = _score_row(run, "sampler", (sampler, full, int(n)),
                         lambda: _sample_items(run, sampler, items, n, seed), *settings, progress)
        _score_store().put(key, hit)
    return dict(hit)


def score_holdout(run, max_points=2000, reencode=True, progress=None, seed=0, decoder_points=None):
    """The scoreboard row of held-out real latents (the reference every sampler aims at), as in ``score``."""
    from core.sampling.scoreboard import holdout_split

    settings = _score_settings(max_points, reencode, seed, decoder_points)
    key = ("holdout", run.name, _run_token(run.name)) + settings
    hit = _score_store().get(key)
    if hit is None:
        hit = _score_row(run, "holdout", (), lambda: np.asarray(holdout_split(run.latents)[1]), *settings, progress)
        _score_store().put(key, hit)
    return dict(hit)


#: Stages of one sampler in a Draw, in order (the last two only with decoder metrics).
DRAW_STAGES = ("fit", "sample", "score", "decode", "re-encode")


class DrawProgress:
    """Progress of a Draw on the Samplers page: one bar over samplers and stages,
    and a table with the seconds each stage of each sampler took so far.

    Call :meth:`stage` when a stage starts (it may skip stages: a cached
    result goes straight to the next sampler) and :meth:`done` when a sampler
    has finished.
    """

    def __init__(self, names, reencode):
        import time

        self._clock = time.perf_counter
        self.names = list(names)
        self.stages = DRAW_STAGES if reencode else DRAW_STAGES[:3]
        self.bar = st.progress(0.0, text=f"Drawing {len(self.names)} rows…")
        self.table = st.empty()
        self.times = {nm: {} for nm in self.names}
        self.current = None
        self.t_start = self._clock()

    def _close(self):
        if self.current is not None:
            nm, stage, t0 = self.current
            self.times[nm][stage] = self._clock() - t0
            self.current = None

    def stage(self, name, stage):
        self._close()
        self.current = (name, stage, self._clock())
        k, s = self.names.index(name), self.stages.index(stage)
        frac = (k + s / len(self.stages)) / len(self.names)
        self.bar.progress(min(frac, 1.0), text=f"{name} ({k + 1} of {len(self.names)}): {stage}…  "
                                               f"{self._clock() - self.t_start:.0f} s so far")
        self._show()

    def done(self, name, note="done"):
        self._close()
        self.times[name]["_note"] = note
        self._show()

    def _show(self):
        import pandas as pd

        rows = {}
        for nm in self.names:
            t = self.times[nm]
            cur = self.current is not None and self.current[0] == nm
            row = {s: (f"{t[s]:.1f} s" if s in t else ("running…" if cur and self.current[1] == s else ""))
                   for s in self.stages}
            row["status"] = t.get("_note", "running" if cur else "waiting")
            rows[nm] = row
        self.table.dataframe(pd.DataFrame.from_dict(rows, orient="index"), width="stretch")

    def clear(self):
        self.bar.empty()
        self.table.empty()


def _space_kwargs(space):
    # Only PCA planes need the run's statistics; latent ones must not wait for them.
    return {} if space == "pca" else {"statistics": None}


def plane_layers(run, i, j, space, sigmas=(1.0, 2.0, 3.0)):
    """:func:`core.sampling.sampler_views.plane_layers` of a plane: points, KDE, ellipses, moments."""
    extra = {"leading": run_cached(sampler_views.pca_leading, run, shared=True)} if space == "pca" else {}
    return run_cached(sampler_views.plane_layers, run, int(i), int(j), space, tuple(map(float, sigmas)),
                      **_space_kwargs(space), unhashed=extra)


def warm_projections(run):
    """Compute what the first PCA projection needs (the run's statistics and leading PCA
    coordinates) and make the projection figures ahead, so that a change of plane only draws."""
    statistics(run)
    run_cached(sampler_views.pca_leading, run, shared=True)
    sampler_views.prepare_figures()


def plane_overlay_pngs(run, drawn, n, seed, space, i, j, n_over, labels, sigma=2.0):
    """PNG bytes, one per drawn sampler: its vectors (the first ``n_over`` of the
    cached draw) over the data's plane (i, j) with its KDE contours and
    sigma ellipses (1, 2, 3 for ``sigma`` 2, else that level alone).

    ``drawn`` is a list of ``(sampler, params dict)``, ``labels`` one title
    label each.  The data's plane is drawn once for all samplers
    (:mod:`core.planefigs`) and the PNGs are cached per (draw, plane,
    ``n_over``, sigma), so a plane seen before costs only the transfer.
    ValueError for a bad pair, space, ``n_over`` or sigma.
    """
    from core.validation import check_int

    n_over = check_int(n_over, "vectors drawn per plot", low=1)
    sigmas = sampler_views.sigma_levels(sigma)
    sigma = float(sigma)
    i, j = int(i), int(j)
    return run_cached(sampler_views.plane_overlay_pngs, run, tuple((str(s), _items(p)) for s, p in drawn),
                      int(n), int(seed), space, i, j, n_over, tuple(str(x) for x in labels), sigma,
                      **_space_kwargs(space),
                      unhashed={"layers": lambda: plane_layers(run, i, j, space, sigmas),
                                "draw": functools.partial(_sample_items, run),
                                "leading": functools.partial(_sample_leading, run),
                                "background_key": (run.name, _run_token(run.name), space, i, j, sigmas)})


def _sample_leading(run, sampler, items, n, seed):
    return run_cached(sampler_views.sample_leading, run, sampler, items, int(n), int(seed),
                      unhashed={"draw": functools.partial(_sample_items, run)})


def plane_overlay_png(run, sampler, n, seed, space, i, j, n_over, label, sigma=2.0, **params):
    """PNG bytes of one sampler's panel (:func:`plane_overlay_pngs` of that sampler alone)."""
    return plane_overlay_pngs(run, [(sampler, params)], n, seed, space, i, j, n_over, [label], sigma)[0]


def decoded_grid(run, sampler, n, seed, m=16, n_cols=4, **params):
    """The first ``m`` vectors of a cached draw, decoded, as one image grid (h, w, c) in [0, 1]."""
    return run_cached(sampler_views.decoded_grid, run, str(sampler), _items(params), int(n), int(seed), int(m),
                      int(n_cols), unhashed={"draw": functools.partial(_sample_items, run)})


def holdout_expectation(run, k_sigma=(2, 3)):
    """``inside_{k}sigma`` an exact MND would give the held-out rows (Hotelling T²).

    Cheap closed form (no cache needed); {} when the fit part has <= z_dim rows.
    """
    from core.sampling.scoreboard import holdout_expectation as expectation, holdout_split

    try:
        return expectation(holdout_split(run.latents)[0].shape[0], run.z_dim, k_sigma)
    except ValueError:
        return {}


def sampler_param_widgets(name, z_dim, key, where=None):
    """Widgets for one sampler's parameters; returns the params dict for ``make_sampler``.

    No widget clamps its value: an impossible choice (K > z_dim, f <= 0) reaches
    ``core`` and comes back as a ValueError naming the value.
    """
    w = where or st
    if name == "uniform":
        return {"b": w.number_input("b: box half-width [-b, b]", value=1.5, step=0.1, key=f"{key}_b")}
    if name == "per-component":
        return {"f": w.number_input("f: interval mu ± f·hw", value=0.7, step=0.05, key=f"{key}_f",
                                    help="Seed VII: f between 0.4 and 1.0")}
    if name == "gaussian-diag":
        w.caption("Independent N(mean_j, std_j²) per component; no parameters.")
        return {}
    if name == "pca-ellipse":
        c1, c2, c3 = w.columns(3)
        p = {"n_components": int(c1.number_input("K: leading PCA components", value=min(100, z_dim),
                                                 step=1, key=f"{key}_K",
                                                 help=f"1 … z_dim = {z_dim} (seed: 50–120)")),
             "level": c2.number_input("level: a_k = level·σ_k", value=2.35, step=0.05, key=f"{key}_level"),
             "f": c3.number_input("f: draw in [-f·a_k, f·a_k]", value=0.7, step=0.05, key=f"{key}_f",
                                  help="Seed: 0.6–0.8")}
        c1, c2, c3 = w.columns(3)
        use_k = c1.checkbox("fit PCA inside k σ only", value=True, key=f"{key}_usek")
        k = c1.number_input("fit_k_sigma", value=3.0, step=0.5, key=f"{key}_k", disabled=not use_k)
        p["fit_k_sigma"] = float(k) if use_k else None
        p["half_width"] = c2.radio("half widths from", ["std", "hist"], key=f"{key}_hw",
                                   help="std: σ_k of the PCA coordinate; hist: histogram HWHM / 1.1774")
        p["fixed"] = c3.radio("member held fixed", ["leading", "random"], key=f"{key}_fixed",
                              help="Which member of each pair keeps its value when the other is redrawn")
        return p
    if name == "mvn":
        trunc = w.checkbox("truncate to the k-σ ellipsoid", value=False, key=f"{key}_trunc")
        k = w.number_input("truncate_k", value=3.0, step=0.5, key=f"{key}_tk", disabled=not trunc)
        return {"truncate_k": float(k) if trunc else None}
    if name == "gmm":
        c1, c2, c3 = w.columns(3)
        p = {"n_components": int(c1.number_input("mixture components", value=10, step=1, key=f"{key}_nc")),
             "covariance_type": c2.selectbox("covariance", ["full", "diag", "tied", "spherical"],
                                             key=f"{key}_cov"),
             "max_iter": int(c3.number_input("EM iterations", value=3, step=1, key=f"{key}_it",
                                             help="After the k-means initialisation; the converged fit "
                                                  "takes 24-34 on the default run (docs/gmm_fit.md)"))}
        c1, c2 = w.columns(2)
        reduced = c2.checkbox("fit in PCA coordinates instead (changes inside 2σ-mass)", value=False,
                              key=f"{key}_reduced")
        k = int(c1.number_input("PCA coordinates the mixture is fitted on", value=min(32, z_dim), step=8,
                                key=f"{key}_pca", disabled=not reduced,
                                help=f"1 … z_dim = {z_dim}; the other directions are one independent Gaussian"))
        p["pca_components"] = k if reduced else None
        return p
    if name == "shell":
        c1, c2 = w.columns(2)
        return {"k_inner": c1.number_input("inner k σ", value=3.0, step=0.5, key=f"{key}_kin",
                                           help="The shell starts outside the data's k-σ-mass ellipsoid (MND post: 3)"),
                "k_outer": c2.number_input("outer k σ", value=4.0, step=0.5, key=f"{key}_kout")}
    raise ValueError(f"unknown sampler {name!r}")


# ---------------------------------------------------------------- query parameters and the Tour (issue 11)

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


def _tour_scoreboard(run):
    from core import tour

    return tour.scoreboard_table(run.latents)


def _tour_step(run, key, mark=None):
    from core import tour

    table = run_cached(_tour_scoreboard, run, shared=True) if key == "scoreboard" else None
    step = tour.make_step(key, run.latents, statistics(run), decoder_fn(run), scoreboard=table,
                          mark=None if mark is None else np.asarray(mark, dtype=np.float32))
    return {"key": step.key, "title": step.title, "text": step.text, "page": step.page,
            "query": {k: str(v) for k, v in step.query.items()},
            "png": figure_png(step.figure, dpi=100, tight=False)}


def tour_step(run, key, mark=None):
    """One step of ``core.tour`` as a dict (title, text, png, page, query), cached per run.

    ``mark``: a z-point (tuple of floats) to mark in the plane figures, or None.
    """
    return run_cached(_tour_step, run, str(key), mark=None if mark is None else tuple(map(float, mark)))


# ---------------------------------------------------------------- your own image (issue 11)

USER_Z_KEY = "user_z"


def _user_image(run, data, name, k):
    from core.user_image import encode_user_image, prepare_user_image

    image = prepare_user_image(data, run.image_size, run.channels, crop=run.config.get("crop"), name=name)
    res = encode_user_image(image, encoder_fn(run), decoder_fn(run), run.latents, k=k)
    return {"image": res.image, "z": res.z, "reconstruction": res.reconstruction,
            "neighbours": res.neighbours, "distances": res.distances,
            "neighbour_images": decoder_fn(run)(take_rows(run.latents, res.neighbours))}


def user_image(run, data, name, k=8):
    """An uploaded image through the run (``core.user_image``), cached by its bytes.

    Returns a dict: ``image, z, reconstruction, neighbours, distances,
    neighbour_images`` (decoded z-points of the neighbours). ValueError for a
    bad upload (the message names the file and the reason).
    """
    return run_cached(_user_image, run, bytes(data), str(name), int(k))


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
