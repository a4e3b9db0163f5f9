"""The dashboard's one place for caching, run selection and shared widgets.

Pages import this module and call into ``core``; they hold no caches of
their own.  ``st.cache_resource`` holds models and other shared, read-only
objects (one copy for every browser session); ``st.cache_data`` holds arrays
and tables (copied per call, so keep them small).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import numpy as np
import streamlit as st

from core.runs import runs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RUN_KEY = "run_name"


OPENED_KEY = "opened_runs"
# Run folders opened by path from any session.  A run key is a name inside
# the artifacts root or one of these absolute paths; nothing else from a
# browser resolves outside the root.
_OPENED = set()
_OPENED_LOCK = threading.Lock()


def run_path(key):
    """The folder of a run key: a name in the artifacts root, or a folder opened by path."""
    with _OPENED_LOCK:
        opened = key in _OPENED
    return Path(key) if opened else runs.run_dir(key)


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
    with _OPENED_LOCK:
        opened = name in _OPENED
    if not opened:
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


def _keras_clear_session_without_gc():
    # Streamlit calls keras.backend.clear_session() after every rerun
    # (script_runner._clean_problem_modules); Keras then runs a full
    # gc.collect(), ~0.25 s of CPU on this heap, holding the GIL.  The
    # dashboard's models live in st.cache_resource, so the collection frees
    # nothing; keep the reset, skip the collection.
    import functools
    import sys

    keras = sys.modules.get("keras")
    clear = getattr(getattr(keras, "backend", None), "clear_session", None)
    if clear is not None and not getattr(clear, "_latent_lab", False):
        quick = functools.partial(clear, free_memory=False)
        quick._latent_lab = True
        keras.backend.clear_session = quick


@st.cache_resource(show_spinner="Loading run…", max_entries=8)
def _load_run(name, token):
    with _OPENED_LOCK:
        opened = name in _OPENED
    # A name in the root may be RUN/SET (a latent set); an opened folder is its path.
    run = runs.Run(Path(name)) if opened else runs.load_run(name)
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


# ---------------------------------------------------------------- the generic run-keyed cache

def _fn_key(fn):
    # The line number tells apart two lambdas (or closures) of one function.
    code = getattr(fn, "__code__", None)
    return f"{fn.__module__}.{fn.__qualname__}:{code.co_firstlineno if code else ''}"


@st.cache_data(show_spinner=False, max_entries=512)
def _run_cached_data(name, token, fn_key, args, kwargs, _fn):
    return _fn(_load_run(name, token), *args, **dict(kwargs))


@st.cache_resource(show_spinner=False, max_entries=64)
def _run_cached_resource(name, token, fn_key, args, kwargs, _fn):
    return _fn(_load_run(name, token), *args, **dict(kwargs))


def run_cached(fn, run, *args, shared=False, **kwargs):
    """``fn(run, *args, **kwargs)``, computed once per run version and arguments.

    The one caching pattern for new dashboard computations: ``fn`` is a
    plain function taking the loaded run first (best one from ``core``);
    the cache key is the run's name and file version, ``fn``'s qualified
    name and the (hashable) arguments, so a retrained run never shows stale
    results.  ``shared=False`` copies the result per call
    (``st.cache_data``: arrays, tables, PNG bytes); ``shared=True`` returns
    one read-only object for every session (``st.cache_resource``: fitted
    models, large statistics).
    """
    store = _run_cached_resource if shared else _run_cached_data
    return store(run.name, _run_token(run.name), _fn_key(fn), tuple(args),
                 tuple(sorted(kwargs.items())), fn)


# ---------------------------------------------------------------- models

@st.cache_resource(show_spinner="Compiling decoder…", max_entries=8)
def _decoder_fn(name, token, batch_size):
    from core.model.network import CompiledModel

    model = CompiledModel(_load_run(name, token).decoder, batch_size)
    _keras_clear_session_without_gc()  # Keras is imported by now
    return model


@st.cache_resource(show_spinner="Compiling encoder…", max_entries=8)
def _encoder_fn(name, token, batch_size):
    from core.model.network import CompiledModel

    model = CompiledModel(_load_run(name, token).encoder, batch_size)
    _keras_clear_session_without_gc()  # Keras is imported by now
    return model


def decoder_fn(run, batch_size=16):
    """A traced, thread-safe decode function for the run: (n, z_dim) -> images."""
    return _decoder_fn(run.name, _run_token(run.name), batch_size)


def encoder_fn(run, batch_size=16):
    """A traced, thread-safe encode function for the run: images -> (n, z_dim)."""
    return _encoder_fn(run.name, _run_token(run.name), batch_size)


def decode(run, Z):
    """Decode latent vectors with the run's cached decoder; ValueError on bad input."""
    from core.validation import check_latents

    Z = check_latents(Z, z_dim=run.z_dim)
    return decoder_fn(run)(Z)


# ---------------------------------------------------------------- statistics

@st.cache_resource(show_spinner="Computing statistics (components, correlation, PCA)…", max_entries=8)
def _statistics(name, token, bin_width):
    from core.stats.components import full_statistics

    return full_statistics(_load_run(name, token).latents, bin_width=bin_width)


def statistics(run, bin_width=0.25):
    """``core.stats.components.full_statistics`` of the run's latents (read-only, shared)."""
    return _statistics(run.name, _run_token(run.name), float(bin_width))


@st.cache_data(show_spinner=False, max_entries=64)
def _plane(name, token, i, j, space):
    from core.stats.ellipses import plane_coordinates

    pca = _statistics(name, token, 0.25).pca if space == "pca" else None
    return plane_coordinates(_load_run(name, token).latents, i, j, space=space, pca=pca)


def plane(run, i, j, space="latent"):
    """Projected points (n, 2) of the run's latents on plane (i, j)."""
    return _plane(run.name, _run_token(run.name), int(i), int(j), space)


@st.cache_resource(show_spinner="Computing Mahalanobis distances…", max_entries=8)
def _mnd(name, token):
    from core.stats.mnd import mnd_summary

    return mnd_summary(_load_run(name, token).latents)


def mnd(run):
    """``core.stats.mnd.mnd_summary`` of the run's latents."""
    return _mnd(run.name, _run_token(run.name))


# ---------------------------------------------------------------- samplers

@st.cache_resource(show_spinner="Fitting sampler…", max_entries=32)
def _fitted_sampler(name, token, sampler, params):
    from core.cache import cached
    from core.sampling.scoreboard import holdout_split

    # On disk too: a 10-component mixture takes seconds to minutes to fit.
    return cached(_fit_sampler, holdout_split(_load_run(name, token).latents)[0], sampler, params)


def _fit_sampler(Z_fit, sampler, params):
    from core.sampling.scoreboard import fit_sampler

    return fit_sampler(sampler, Z_fit, **dict(params))


def fitted_sampler(run, sampler, **params):
    """A sampler from ``core.sampling.samplers.SAMPLERS`` fitted on the run's fit rows (shared).

    The fit rows are ``core.sampling.scoreboard.holdout_split(run.latents)[0]``,
    as in ``python -m core compare``: the page's scoreboard is the CLI's.
    """
    return _fitted_sampler(run.name, _run_token(run.name), sampler, tuple(sorted(params.items())))


def show_error(exc):
    """Show a ValueError from core as a one-line message (no traceback)."""
    st.error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


# ---------------------------------------------------------------- downloads (Home/Train/Components helper)

@st.cache_data(show_spinner="Drawing the figure…", max_entries=256)
def _cached_figure(name, token, kind, params, dpi, _draw):
    return figure_png(_draw(), dpi=dpi)


def cached_figure(run, kind, params, draw, dpi=110):
    """PNG bytes of a figure, drawn once per (run, ``kind``, ``params``) and cached.

    ``draw()`` builds and returns a matplotlib Figure (best a
    ``matplotlib.figure.Figure``, which needs no pyplot state and so is safe
    with several sessions); ``params`` (hashable) must hold everything the
    drawing depends on besides the run.  Warm page renders then only send
    cached bytes.
    """
    return _cached_figure(run.name, _run_token(run.name), kind, params, dpi, draw)


def csv_download(df, file_name, key=None, label="Download CSV"):
    """A download button for a table as CSV (no rerun on click)."""
    st.download_button(label, df.to_csv(index=False).encode("utf-8"), file_name=file_stem(file_name),
                       mime="text/csv", key=key or f"dl_{file_name}", on_click="ignore")


# ---------------------------------------------------------------- dataset images (Home helper)

@st.cache_data(show_spinner="Reading images from the run's data source…", max_entries=16)
def _run_images(name, token, n, held_out):
    run = _load_run(name, token)
    source = run.source()
    if held_out:
        start = max(0, source.n_images - n)
        images, _, index = next(iter(source.iter_batches(batch_size=n, start=start)))
        return images, index
    images, _, index = source.load(n=min(n, source.n_images))
    return images, index


def run_images(run, n=8, held_out=False):
    """The first ``n`` images of the run's data source (or the last ``n``, which the
    training held out for validation): ``(images (n, s, s, c), index (n,))``.
    ``ValueError`` when the source cannot be opened (moved folder, …)."""
    return _run_images(run.name, _run_token(run.name), int(n), bool(held_out))


@st.cache_data(show_spinner="Computing radii…", max_entries=8)
def _radii(name, token):
    from core.stats.components import radius_distribution

    return radius_distribution(_load_run(name, token).latents)


def radii(run):
    """``core.stats.components.radius_distribution`` of the run's latents, shape (n,)."""
    return _radii(run.name, _run_token(run.name))


@st.cache_data(show_spinner=False, max_entries=256)
def _component_column(name, token, component):
    return np.asarray(_load_run(name, token).latents[:, component], dtype=np.float32)


def component_column(run, component):
    """One latent component over all z-points, shape (n,) (cached: a strided memmap read)."""
    from core.validation import check_component

    return _component_column(run.name, _run_token(run.name), check_component(component, run.z_dim))


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

def figure_png(fig, dpi=110, tight=True):
    """Render a matplotlib figure ONCE to PNG bytes and close it.

    Pages show the bytes with ``st.image`` and offer the same bytes for
    download, so a figure is never rasterised twice (``st.pyplot`` + savefig).
    ``tight=False`` skips ``bbox_inches="tight"`` (which draws the figure an
    extra time) for figures whose margins are set by hand; fast zlib level.
    """
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None,
                pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return buf.getvalue()


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


@st.cache_data(show_spinner=False, max_entries=64)
def _slice_mask(name, token, i, j, space, t, allow_empty=False):
    from core.stats.ellipses import slice_mask as _mask

    pca = _statistics(name, token, 0.25).pca if space == "pca" else None
    return _mask(_load_run(name, token).latents, i, j, t, space=space, pca=pca, allow_empty=allow_empty)


def slice_mask(run, i, j, t, space="latent", allow_empty=False):
    """Bool mask (n,) of the slice |z_k| <= t for all k other than i, j
    (ValueError when empty unless ``allow_empty``)."""
    return _slice_mask(run.name, _run_token(run.name), int(i), int(j), space, float(t), bool(allow_empty))


@st.cache_data(show_spinner=False, max_entries=128)
def _plane_kde(name, token, i, j, space, t, gridsize):
    from core.stats.kde import kde2d

    pts = _plane(name, token, i, j, space)
    if t is not None:
        pts = pts[_slice_mask(name, token, i, j, space, t)]
    return kde2d(pts, gridsize=gridsize)


def plane_kde(run, i, j, space="latent", t=None, gridsize=128):
    """``core.stats.kde.kde2d`` of plane (i, j), optionally of the slice with threshold t."""
    return _plane_kde(run.name, _run_token(run.name), int(i), int(j), space,
                      None if t is None else float(t), int(gridsize))


def _items(params):
    return tuple(sorted(params.items()))


@st.cache_data(show_spinner=False, max_entries=64)
def _sample(name, token, sampler, params, n, seed):
    from core.sampling.scoreboard import draw_samples

    return draw_samples(_fitted_sampler(name, token, sampler, params), n, seed)


def sample(run, sampler, n, seed=0, **params):
    """``n`` vectors (n, z_dim) float32 from a fitted sampler, cached by all arguments."""
    return _sample(run.name, _run_token(run.name), sampler, _items(params), int(n), int(seed))


@st.cache_data(show_spinner=False, max_entries=16)
def _sample_pca(name, token, params, n, seed):
    return _fitted_sampler(name, token, "pca-ellipse", params).sample_pca(n, random_state=seed)


def sample_pca(run, n, seed=0, **params):
    """The PCA-ellipse sampler's own PCA coordinates (n, K) for the same stream as ``sample``."""
    return _sample_pca(run.name, _run_token(run.name), _items(params), int(n), int(seed))


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

    token = _run_token(run.name)
    dec, enc = _decoder_fn(run.name, token, SCORE_BATCH), _encoder_fn(run.name, token, SCORE_BATCH)

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
    name, token, items = run.name, _run_token(run.name), _items(params)
    key = ("sampler", name, token, sampler, items, int(n)) + settings
    hit = _score_store().get(key)
    if hit is None:
        full = tuple(sorted(make_sampler(sampler, **params).get_params().items()))
        hit = _score_row(run, "sampler", (sampler, full, int(n)),
                         lambda: _sample(name, token, sampler, items, int(n), int(seed)), *settings, progress)
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


@st.cache_data(show_spinner=False, max_entries=256)
def _plane_overlay(name, token, sampler, params, n, seed, space, i, j, n_over, label, sigma=2.0):
    from matplotlib.figure import Figure

    from core.stats.ellipses import measured_coverage, plane_coordinates
    from core.plotting import plot_plane

    data_pts = _plane(name, token, i, j, space)
    pca = _statistics(name, token, 0.25).pca if space == "pca" else None
    sigmas = (1.0, 2.0, 3.0) if sigma == 2.0 else (sigma,)
    ell = _plane_ellipse_table(name, token, i, j, space, sigmas)
    kde = _plane_kde(name, token, i, j, space, None, 128)
    over = plane_coordinates(_sample(name, token, sampler, params, n, seed), i, j, space=space, pca=pca)
    fig = Figure(figsize=(5.6, 5.0))
    ax = fig.add_subplot()
    axis = "z" if space == "latent" else "PCA "
    plot_plane(ax, data_pts, kde=kde, ellipses=ell, sigmas=sigmas, overlay=over[:n_over], overlay_label=label,
               max_points=5000, labels=(f"{axis}{i}", f"{axis}{j}"))
    ax.get_legend().remove()
    mean2, cov2 = _plane_moments(name, token, i, j, space)
    inside = measured_coverage(over, mean2, cov2, sigma)
    ax.set_title(f"{label}: {inside:.0%} of its vectors\ninside the data's {sigma:g}σ ellipse", fontsize=12)
    ax.tick_params(labelsize=10)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.11, top=0.88)
    return figure_png(fig, dpi=95, tight=False)


@st.cache_data(show_spinner=False, max_entries=128)
def _plane_overlays(name, token, drawn, n, seed, space, i, j, n_over, labels, sigma=2.0):
    from core.stats.ellipses import measured_coverage, plane_coordinates
    from core.planefigs import plane_overlay_pngs

    pca = _statistics(name, token, 0.25).pca if space == "pca" else None
    mean2, cov2 = _plane_moments(name, token, i, j, space)
    sigmas = (1.0, 2.0, 3.0) if sigma == 2.0 else (sigma,)
    overs, titles = [], []
    for (sampler, params), label in zip(drawn, labels):
        over = plane_coordinates(_sample(name, token, sampler, params, n, seed), i, j, space=space, pca=pca)
        overs.append(over[:n_over])
        titles.append(f"{label}: {measured_coverage(over, mean2, cov2, sigma):.0%} of its vectors\n"
                      f"inside the data's {sigma:g}σ ellipse")
    axis = "z" if space == "latent" else "PCA "
    return plane_overlay_pngs(_plane(name, token, i, j, space), overs, titles,
                              kde=_plane_kde(name, token, i, j, space, None, 128),
                              ellipses=_plane_ellipse_table(name, token, i, j, space, sigmas), sigmas=sigmas,
                              labels=(f"{axis}{i}", f"{axis}{j}"), max_points=5000, dpi=95)


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
    from core.stats.ellipses import check_sigmas
    from core.validation import check_int

    n_over = check_int(n_over, "vectors drawn per plot", low=1)
    (sigma,) = check_sigmas([sigma], "ellipse level σ")
    return _plane_overlays(run.name, _run_token(run.name), tuple((s, _items(p)) for s, p in drawn), int(n),
                           int(seed), space, int(i), int(j), n_over, tuple(str(x) for x in labels),
                           float(sigma))


@st.cache_data(show_spinner=False, max_entries=64)
def _plane_ellipse_table(name, token, i, j, space, sigmas=(1.0, 2.0, 3.0)):
    from core.stats.ellipses import plane_ellipses

    return plane_ellipses(_plane(name, token, i, j, space), sigmas)


@st.cache_data(show_spinner=False, max_entries=64)
def _plane_moments(name, token, i, j, space):
    pts = _plane(name, token, i, j, space)
    return pts.mean(axis=0), np.cov(pts, rowvar=False)


def plane_overlay_png(run, sampler, n, seed, space, i, j, n_over, label, sigma=2.0, **params):
    """PNG bytes: a sampler's vectors (the first ``n_over`` of the cached draw) over
    the data's plane (i, j) with its KDE contours and 1-3 sigma ellipses.

    Reuses the drawn vectors, the fitted PCA and the plane's points, KDE and
    ellipses; cached per (sampler, draw, plane, ``n_over``), so a plane seen
    before costs only the transfer.  ValueError for a bad pair or space.
    """
    from core.validation import check_int

    from core.stats.ellipses import check_sigmas

    n_over = check_int(n_over, "vectors drawn per plot", low=1)
    (sigma,) = check_sigmas([sigma], "ellipse level σ")
    return _plane_overlay(run.name, _run_token(run.name), sampler, _items(params), int(n), int(seed),
                          space, int(i), int(j), n_over, str(label), float(sigma))


@st.cache_data(show_spinner=False, max_entries=64)
def _decoded_grid(name, token, sampler, params, n, seed, m, n_cols):
    from core.data.images import make_grid

    V = _sample(name, token, sampler, params, n, seed)[:m]
    return make_grid(_decoder_fn(name, token, 16)(np.asarray(V, np.float32)), n_cols=n_cols)


def decoded_grid(run, sampler, n, seed, m=16, n_cols=4, **params):
    """The first ``m`` vectors of a cached draw, decoded, as one image grid (h, w, c) in [0, 1]."""
    return _decoded_grid(run.name, _run_token(run.name), sampler, _items(params), int(n), int(seed),
                         int(m), int(n_cols))


def holdout_expectation(run, k_sigma=(2, 3)):
    """``inside_{k}sigma`` an exact MND would give the held-out rows (Hotelling T²).

    Cheap closed form (no cache needed); {} when the fit part has <= z_dim rows.
    """
    from core.sampling.scoreboard import holdout_expectation as expectation, holdout_split

    try:
        return expectation(holdout_split(run.latents)[0].shape[0], run.z_dim, k_sigma)
    except ValueError:
        return {}


def tsne(run, n=2000, space="latent", n_dims=None, perplexity=30.0, seed=0, early_exaggeration=12.0,
         progress=None):
    """t-SNE map of a fixed-seed subsample: ``(rows (m,), embedding (m, 2))``.

    ``core.stats.tsne.tsne_of_latents`` (openTSNE), cached on disk by the content
    of the input and the parameters (not in ``st.cache_data``, so that
    ``progress(fraction, text)`` can drive a bar during a fit).
    ``space="pca"`` maps the first ``n_dims`` PCA coordinates (seed post:
    2, 4 or 10 leading components).  ValueError for n outside
    [10, ``core.stats.tsne.MAX_TSNE_POINTS``], n_dims outside [2, z_dim], a
    perplexity not below a third of the sample size, an exaggeration below 1.
    """
    from core.stats.tsne import tsne_of_latents

    pca = statistics(run).pca if space == "pca" else None
    n_dims = run.z_dim if (n_dims is None and space == "latent") else n_dims
    return tsne_of_latents(run.latents, n, space=space, n_dims=n_dims, pca=pca, perplexity=perplexity,
                           early_exaggeration=early_exaggeration, seed=seed, progress=progress)


@st.cache_data(show_spinner="Fitting the attribute's direction (logistic regression)…", max_entries=64)
def _attribute_fit(name, token, column):
    from core.stats.attributes import attribute_direction as fit

    run = _load_run(name, token)
    return fit(run.latents, run.attributes[column].to_numpy(), name=column,
               pca=_statistics(name, token, 0.25).pca)


def attribute_fit(run, column):
    """:func:`core.stats.attributes.attribute_direction` of one attribute column (AUC, direction, angles)."""
    if run.attributes is None or column not in run.attributes.columns:
        raise ValueError(f"attribute {column!r} is not in the run's attribute table")
    if len(run.attributes) != run.latents.shape[0]:
        raise ValueError(f"the attribute table has {len(run.attributes)} rows but there are "
                         f"{run.latents.shape[0]} latents")
    return _attribute_fit(run.name, _run_token(run.name), column)


def _attribute_direction(name, token, column, split):
    # The Decode page's walks and the Attributes page share one computation:
    # the logistic-regression direction, scaled by the class means' separation.
    return _attribute_fit(name, token, column)["direction"]


def attribute_direction(run, column, split="positive"):
    """The attribute's direction in z (:func:`core.stats.attributes.attribute_direction`): unit logistic-regression
    direction times the separation of the two classes' means along it; ``split`` is kept for callers
    (two-valued columns split on their values, others at the median)."""
    if run.attributes is None or column not in run.attributes.columns:
        raise ValueError(f"attribute {column!r} is not in the run's attribute table")
    if len(run.attributes) != run.latents.shape[0]:
        raise ValueError(f"the attribute table has {len(run.attributes)} rows but there are "
                         f"{run.latents.shape[0]} latents")
    return _attribute_direction(run.name, _run_token(run.name), column, split)


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


@st.cache_data(show_spinner=False, max_entries=8)
def _typical_nn_distance(name, token, m):
    from core.stats.neighbours import nearest_neighbours

    Z = _load_run(name, token).latents
    rows = np.sort(np.random.default_rng(0).choice(Z.shape[0], min(m, Z.shape[0]), replace=False))
    # k=2: the first neighbour of a real z-point is itself (distance 0).
    _, dist = nearest_neighbours(Z, np.asarray(Z[rows]), k=2)
    return float(np.median(dist[:, 1]))


def typical_nn_distance(run, m=1000):
    """Median distance of a real z-point to its nearest other one (fixed-seed subsample of m)."""
    return _typical_nn_distance(run.name, _run_token(run.name), int(m))


@st.cache_data(show_spinner=False, max_entries=16)
def _attribute_columns(name, token):
    from core.data.sources import attribute_kinds

    return attribute_kinds(_load_run(name, token).attributes)


def attribute_columns(run):
    """(binary, continuous) attribute column names of the run, binary ones being 0/1 or -1/1."""
    return _attribute_columns(run.name, _run_token(run.name))



# ---------------------------------------------------------------- encoder maps (page 6)

@st.cache_resource(show_spinner=False, max_entries=8)
def _encoder_layers(name, token):
    from core.model.featuremaps import conv_layer_names, feature_model

    enc = _load_run(name, token).encoder
    return [(n, tuple(int(d) for d in feature_model(enc, n).output_shape[1:])) for n in conv_layer_names(enc)]


def encoder_layers(run):
    """The encoder's convolutional layers as ``[(name, (h, w, n_maps)), ...]``, input side first."""
    return _encoder_layers(run.name, _run_token(run.name))


class _Slot:
    """One cached value computed outside the cache decorator (see :func:`map_report`)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.value = None


# The report is computed OUTSIDE the cached function so that its progress bar
# (an element created by the page) can be updated: Streamlit refuses element
# calls on outside blocks inside a cached function.  The cache holds one slot
# per (run, layer, limit, parameters); its lock makes a second session with
# the same request wait for the first one's result instead of recomputing.
@st.cache_resource(show_spinner=False, max_entries=16)
def _map_slot(name, token, layer, limit, params):
    return _Slot()


def _map_value(name, token, layer, limit, params, progress=None):
    from core.model.featuremaps import run_map_report

    slot = _map_slot(name, token, layer, limit, params)
    with slot.lock:
        if slot.value is None:
            slot.value = run_map_report(_load_run(name, token), layer=layer, limit=limit, progress=progress,
                                        **dict(params))
        return slot.value


def map_report(run, layer=None, limit=None, progress=None, **params):
    """``core.model.featuremaps.run_map_report`` cached by run, layer, limit and parameters (shared, not copied).

    ``progress(stage, done, total)`` is called while a new report is computed
    (not on a cache hit).  ValueError for a bad layer or parameter (nothing cached).
    """
    return _map_value(run.name, _run_token(run.name), layer, None if limit is None else int(limit),
                      _items(params), progress)


@st.cache_data(show_spinner="Drawing the pattern grid…", max_entries=32)
def _map_grid_png(name, token, layer, limit, params, n_cols):
    from core.model.featuremaps import pattern_grid_figure

    return figure_png(pattern_grid_figure(_map_value(name, token, layer, limit, params), n_cols=n_cols))


def map_grid_png(run, layer=None, limit=None, n_cols=8, **params):
    """PNG bytes of the ranked pattern grid of a cached :func:`map_report`."""
    return _map_grid_png(run.name, _run_token(run.name), layer, None if limit is None else int(limit),
                         _items(params), int(n_cols))


# ---------------------------------------------------------------- compare runs (page 7, issue 10)

def _compare_summary(run):
    from core.compare_runs import run_summary

    try:
        m = mnd(run)
    except ValueError:
        m = None  # run_summary records why the check is not possible
    return run_summary(run, statistics=statistics(run), mnd=m)


def compare_summary(run):
    """:func:`core.compare_runs.run_summary` of a run or set, shared and computed once per version."""
    return run_cached(_compare_summary, run, shared=True)


@st.cache_data(show_spinner=False, max_entries=128)
def _compare_png(names, tokens, kind, params, dpi, _draw):
    return figure_png(_draw(), dpi=dpi)


def compare_figure(runs_, kind, params, draw, dpi=100):
    """PNG bytes of a figure over several runs, cached per (runs and their versions, kind, params)."""
    names = tuple(r.name for r in runs_)
    return _compare_png(names, tuple(_run_token(n) for n in names), kind, tuple(params), dpi, draw)


@st.cache_resource(show_spinner=False)
def _attribute_tables():
    return {}, threading.Lock()


def attribute_table(run, progress=None, compute=True):
    """:func:`core.stats.attributes.attribute_table` of every attribute column of the run, kept per run version.

    Computed outside any Streamlit cache so ``progress(k, n, column)`` may
    update a progress bar; ``compute=False`` returns None unless it is ready.
    """
    if run.attributes is None:
        raise ValueError(f"run {run.name} has no attribute table")
    if len(run.attributes) != run.latents.shape[0]:
        raise ValueError(f"the attribute table has {len(run.attributes)} rows but there are "
                         f"{run.latents.shape[0]} latents")
    store, lock = _attribute_tables()
    key = (run.name, _run_token(run.name))
    if key in store or not compute:
        return store.get(key)
    from core.stats.attributes import attribute_table as table

    with lock:  # a second session waits for the first instead of computing again
        if key not in store:
            store[key] = table(run.latents, run.attributes, pca=statistics(run).pca, progress=progress)
    return store[key]

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
    neighbours = decoder_fn(run)(np.asarray(run.latents[np.sort(res.neighbours)], np.float32))
    order = np.argsort(np.argsort(res.neighbours))  # back to distance order after the sorted read
    return {"image": res.image, "z": res.z, "reconstruction": res.reconstruction,
            "neighbours": res.neighbours, "distances": res.distances, "neighbour_images": neighbours[order]}


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
