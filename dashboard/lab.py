"""The dashboard's one place for caching, run selection and shared widgets.

Pages import this module and call into ``core``; they hold no caches of
their own.  ``st.cache_resource`` holds models and other shared, read-only
objects (one copy for every browser session); ``st.cache_data`` holds arrays
and tables (copied per call, so keep them small).
"""

from __future__ import annotations

import collections
import io
import os
import threading
import time

import numpy as np
import pandas as pd
import streamlit as st

from core.cache import cached
from core.data.images import make_grid
from core.data.sources import attribute_kinds
from core.model.featuremaps import conv_layer_names, feature_model, pattern_grid_figure, run_map_report
from core.model.network import CompiledModel
from core.plotting import sampler_overlay_figure
from core.runs import runs
from core.sampling.paths import attribute_direction as core_attribute_direction
from core.sampling.samplers import make_sampler
from core.sampling.scoreboard import holdout_expectation as core_holdout_expectation
from core.sampling.scoreboard import holdout_split, real_code_sample, score_samples
from core.stats.components import full_statistics, radius_distribution
from core.stats.ellipses import plane_coordinates, plane_ellipses
from core.stats.ellipses import slice_mask as core_slice_mask
from core.stats.embedding import tsne_embedding, tsne_input
from core.stats.kde import kde2d
from core.stats.mnd import mnd_summary
from core.stats.neighbours import nearest_neighbours
from core.validation import check_component, check_int, check_latents

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RUN_KEY = "run_name"


def _run_token(name):
    """Changes whenever a run folder is rewritten, so caches never go stale."""
    path = runs.run_dir(name)
    try:
        return (path / "metadata.json").stat().st_mtime_ns, (path / "latents.npy").stat().st_mtime_ns
    except FileNotFoundError:
        return (0, 0)


# ---------------------------------------------------------------- runs

@st.cache_data(ttl=5, show_spinner=False)
def list_runs():
    """Run infos as plain dicts (name, status, reason, metadata)."""
    return [dict(name=i.name, status=i.status, reason=i.reason, metadata=i.metadata) for i in runs.list_runs()]


@st.cache_resource(show_spinner="Loading run…", max_entries=8)
def _load_run(name, token):
    return runs.load_run(name)


def get_run(name):
    """The loaded :class:`core.runs.runs.Run` (shared by all sessions)."""
    return _load_run(name, _run_token(name))


def select_run(sidebar=True):
    """Run picker; the choice persists across pages. Stops the page if no run is usable."""
    where = st.sidebar if sidebar else st
    infos = list_runs()
    usable = [i["name"] for i in infos if i["status"] == "complete"]
    others = [i for i in infos if i["status"] != "complete"]
    if not usable:
        st.warning("No complete run in artifacts/. Train one on the Train page or with "
                   "`python -m core train --out artifacts/NAME`.")
        _show_unusable(others, where)
        st.stop()
    current = st.session_state.get(RUN_KEY)
    if current not in usable:
        current = runs.DEFAULT_RUN if runs.DEFAULT_RUN in usable else usable[0]
    # A widget key of its own, mirrored into RUN_KEY, survives page switches.
    name = where.selectbox("Run", usable, index=usable.index(current), key="_run_picker",
                           help="Runs found in artifacts/. The shipped default run comes first.")
    st.session_state[RUN_KEY] = name
    _show_unusable(others, where)
    try:
        return get_run(name)
    except ValueError as exc:
        st.error(f"Run {name!r} cannot be loaded: {exc}")
        st.stop()


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


@st.cache_data(show_spinner=False, max_entries=512)
def _run_cached_data(name, token, fn_key, args, kwargs, _fn):
    return _fn(_load_run(name, token), *args, **dict(kwargs))


@st.cache_resource(show_spinner=False, max_entries=64)
def _run_cached_resource(name, token, fn_key, args, kwargs, _fn):
    return _fn(_load_run(name, token), *args, **dict(kwargs))


def run_cached(fn, run, *args, shared=False, spinner=None, **kwargs):
    """``fn(run, *args, **kwargs)``, computed once per run version and arguments.

    The one caching pattern of the dashboard: ``fn`` is a plain function
    taking the loaded run first (best one from ``core``); the cache key is
    the run's name and file version, ``fn``'s qualified name (and line, so
    two lambdas differ) and the (hashable) arguments, so a retrained run
    never shows stale results.  ``shared=False`` copies the result per call
    (``st.cache_data``: arrays, tables, PNG bytes); ``shared=True`` returns
    one read-only object for every session (``st.cache_resource``: fitted
    models, large statistics).  ``spinner``: a message shown while a miss
    takes longer than half a second (never inside another cached call).
    """
    store = _run_cached_resource if shared else _run_cached_data
    call = (run.name, _run_token(run.name), _fn_key(fn), tuple(args), tuple(sorted(kwargs.items())), fn)
    if spinner is None:
        return store(*call)
    with st.spinner(spinner):
        return store(*call)


def _items(params):
    return tuple(sorted(params.items()))


def show_error(exc):
    """Show a ValueError from core as a one-line message (no traceback)."""
    st.error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


# ---------------------------------------------------------------- models

def decoder_fn(run, batch_size=16):
    """A traced, thread-safe decode function for the run: (n, z_dim) -> images."""
    return run_cached(lambda r, b: CompiledModel(r.decoder, b), run, int(batch_size), shared=True,
                      spinner="Compiling decoder…")


def encoder_fn(run, batch_size=16):
    """A traced, thread-safe encode function for the run: images -> (n, z_dim)."""
    return run_cached(lambda r, b: CompiledModel(r.encoder, b), run, int(batch_size), shared=True,
                      spinner="Compiling encoder…")


def decode(run, Z):
    """Decode latent vectors with the run's cached decoder; ValueError on bad input."""
    return decoder_fn(run)(check_latents(Z, z_dim=run.z_dim))


# ---------------------------------------------------------------- statistics and planes

def statistics(run, bin_width=0.25, spinner="Computing statistics (components, correlation, PCA)…"):
    """``core.stats.components.full_statistics`` of the run's latents (read-only, shared)."""
    return run_cached(lambda r, w: full_statistics(r.latents, bin_width=w), run, float(bin_width),
                      shared=True, spinner=spinner)


def _pca(run, space):
    return statistics(run, spinner=None).pca if space == "pca" else None


def plane(run, i, j, space="latent"):
    """Projected points (n, 2) of the run's latents on plane (i, j)."""
    return run_cached(lambda r, i, j, space: plane_coordinates(r.latents, i, j, space=space, pca=_pca(r, space)),
                      run, int(i), int(j), space)


def slice_mask(run, i, j, t, space="latent"):
    """Bool mask (n,) of the slice |z_k| <= t for all k other than i, j (ValueError when empty)."""
    return run_cached(lambda r, i, j, space, t: core_slice_mask(r.latents, i, j, t, space=space, pca=_pca(r, space)),
                      run, int(i), int(j), space, float(t))


def plane_kde(run, i, j, space="latent", t=None, gridsize=128):
    """``core.stats.kde.kde2d`` of plane (i, j), optionally of the slice with threshold t."""
    def compute(r, i, j, space, t, gridsize):
        pts = plane(r, i, j, space)
        return kde2d(pts if t is None else pts[slice_mask(r, i, j, t, space)], gridsize=gridsize)

    return run_cached(compute, run, int(i), int(j), space, None if t is None else float(t), int(gridsize))


def plane_ellipse_table(run, i, j, space="latent"):
    """``core.stats.ellipses.plane_ellipses`` (1, 2, 3 sigma) of plane (i, j)."""
    return run_cached(lambda r, i, j, space: plane_ellipses(plane(r, i, j, space), (1.0, 2.0, 3.0)),
                      run, int(i), int(j), space)


def mnd(run):
    """``core.stats.mnd.mnd_summary`` of the run's latents."""
    return run_cached(lambda r: mnd_summary(r.latents), run, shared=True, spinner="Computing Mahalanobis distances…")


def radii(run):
    """``core.stats.components.radius_distribution`` of the run's latents, shape (n,)."""
    return run_cached(lambda r: radius_distribution(r.latents), run, spinner="Computing radii…")


def component_column(run, component):
    """One latent component over all z-points, shape (n,) (cached: a strided memmap read)."""
    return run_cached(lambda r, c: np.asarray(r.latents[:, c], dtype=np.float32), run,
                      check_component(component, run.z_dim))


def typical_nn_distance(run, m=1000):
    """Median distance of a real z-point to its nearest other one (fixed-seed subsample of m)."""
    def compute(r, m):
        Z = r.latents
        rows = np.sort(np.random.default_rng(0).choice(Z.shape[0], min(m, Z.shape[0]), replace=False))
        # k=2: the first neighbour of a real z-point is itself (distance 0).
        _, dist = nearest_neighbours(Z, np.asarray(Z[rows]), k=2)
        return float(np.median(dist[:, 1]))

    return run_cached(compute, run, int(m))


def tsne(run, n=2000, space="latent", n_dims=None, perplexity=30.0, seed=0):
    """t-SNE map of a fixed-seed subsample: ``(rows (m,), embedding (m, 2))``.

    See :func:`core.stats.embedding.tsne_input` for the parameters and their
    checks (ValueError); the embedding is also cached on disk.
    """
    def compute(r, n, space, n_dims, perplexity, seed):
        rows, X = tsne_input(r.latents, n, space, _pca(r, space), n_dims, perplexity, seed)
        return rows, cached(tsne_embedding, X, float(perplexity), int(seed))

    return run_cached(compute, run, n, space, n_dims, perplexity, seed)


def attribute_columns(run):
    """(binary, continuous) attribute column names of the run, binary ones being 0/1 or -1/1."""
    return run_cached(lambda r: attribute_kinds(r.attributes), run)


def attribute_direction(run, column, split="positive"):
    """Mean z with the attribute minus mean z without (``split="median"``: above vs below median)."""
    if run.attributes is None or column not in run.attributes.columns:
        raise ValueError(f"attribute {column!r} is not in the run's attribute table")
    if len(run.attributes) != run.latents.shape[0]:
        raise ValueError(f"the attribute table has {len(run.attributes)} rows but there are "
                         f"{run.latents.shape[0]} latents")

    def compute(r, column, split):
        values = r.attributes[column].to_numpy(dtype=np.float64)
        if split == "median":
            values = values > np.nanmedian(values)
        return core_attribute_direction(r.latents, values, name=column)

    return run_cached(compute, run, column, split)


# ---------------------------------------------------------------- downloads and figures

def cached_figure(run, kind, params, draw, dpi=110):
    """PNG bytes of a figure, drawn once per (run, ``kind``, ``params``) and cached.

    ``draw()`` builds and returns a ``matplotlib.figure.Figure`` (no pyplot
    state, so safe with several sessions); ``params`` (hashable) must hold
    everything the drawing depends on besides the run.  Warm page renders
    then only send cached bytes.
    """
    return run_cached(lambda r, kind, params, dpi: figure_png(draw(), dpi=dpi), run, kind, params, dpi,
                      spinner="Drawing the figure…")


def csv_download(df, file_name, key=None, label="Download CSV"):
    """A download button for a table as CSV (no rerun on click)."""
    st.download_button(label, df.to_csv(index=False).encode("utf-8"), file_name=file_name,
                       mime="text/csv", key=key or f"dl_{file_name}", on_click="ignore")


def figure_png(fig, dpi=110, tight=True):
    """Render a ``matplotlib.figure.Figure`` ONCE to PNG bytes.

    Pages show the bytes with ``st.image`` and offer the same bytes for
    download, so a figure is never rasterised twice.  ``tight=False`` skips
    ``bbox_inches="tight"`` (which draws the figure an extra time) for
    figures whose margins are set by hand; fast zlib level.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None,
                pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def show_png(png, file_name, key, caption=None, width="content", label="Download PNG"):
    """Show PNG bytes with a download button for the same bytes."""
    st.image(png, caption=caption, width=width)
    st.download_button(label, png, file_name=file_name, mime="image/png", key=key, on_click="ignore")


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
    c1.download_button(".npy", npy, file_name=f"{stem}.npy", mime="application/octet-stream",
                       key=f"{key}_npy", on_click="ignore", icon=":material/download:",
                       help=f"{what} as a NumPy file (float32, np.load)")
    c2.download_button(".csv", csv, file_name=f"{stem}.csv", mime="text/csv",
                       key=f"{key}_csv", on_click="ignore", icon=":material/download:",
                       help=f"{what} as CSV, one row per vector")


# ---------------------------------------------------------------- dataset images (Home helper)

def run_images(run, n=8, held_out=False):
    """The first ``n`` images of the run's data source (or the last ``n``, which the
    training held out for validation): ``(images (n, s, s, c), index (n,))``.
    ``ValueError`` when the source cannot be opened (moved folder, …)."""
    def compute(r, n, held_out):
        source = r.source()
        if held_out:
            start = max(0, source.n_images - n)
            images, _, index = next(iter(source.iter_batches(batch_size=n, start=start)))
            return images, index
        images, _, index = source.load(n=min(n, source.n_images))
        return images, index

    return run_cached(compute, run, int(n), bool(held_out), spinner="Reading images from the run's data source…")


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


# ---------------------------------------------------------------- samplers (pages 3-5)

def _fit_on_run(run, sampler, params):
    # Fitted on the scoreboard's fit rows, like `python -m core compare`; on
    # disk too: a 10-component mixture takes minutes to fit on a CPU.
    return cached(_fit_sampler, holdout_split(run.latents)[0], sampler, params)


def _fit_sampler(Z, sampler, params):
    return make_sampler(sampler, **dict(params)).fit(Z)


def fitted_sampler(run, sampler, **params):
    """A sampler from ``SAMPLERS`` fitted on the run's scoreboard fit rows (shared).

    The fit rows are those of :func:`core.sampling.scoreboard.holdout_split`
    (the last 10 % are held out), as in ``python -m core compare``.
    """
    return run_cached(_fit_on_run, run, sampler, _items(params), shared=True, spinner="Fitting sampler…")


def sample(run, sampler, n, seed=0, **params):
    """``n`` vectors (n, z_dim) float32 from a fitted sampler, cached by all arguments."""
    return run_cached(lambda r, s, p, n, seed: fitted_sampler(r, s, **dict(p)).sample(n, random_state=seed),
                      run, sampler, _items(params), int(n), int(seed))


def sample_pca(run, n, seed=0, **params):
    """The PCA-ellipse sampler's own PCA coordinates (n, K) for the same stream as ``sample``."""
    return run_cached(lambda r, p, n, seed: fitted_sampler(r, "pca-ellipse", **dict(p)).sample_pca(n, random_state=seed),
                      run, _items(params), int(n), int(seed))


def decoded_grid(run, sampler, n, seed, m=16, n_cols=4, **params):
    """The first ``m`` vectors of a cached draw, decoded, as one image grid (h, w, c) in [0, 1]."""
    def compute(r, s, p, n, seed, m, n_cols):
        V = sample(r, s, n, seed, **dict(p))[:m]
        return make_grid(decoder_fn(r)(np.asarray(V, np.float32)), n_cols=n_cols)

    return run_cached(compute, run, sampler, _items(params), int(n), int(seed), int(m), int(n_cols))


def plane_overlay_png(run, sampler, n, seed, space, i, j, n_over, label, **params):
    """PNG bytes: a sampler's vectors (the first ``n_over`` of the cached draw) over
    the data's plane (i, j) with its KDE contours and 1-3 sigma ellipses
    (:func:`core.plotting.sampler_overlay_figure`).  ValueError for a bad pair or space.
    """
    n_over = check_int(n_over, "vectors drawn per plot", low=1)

    def compute(r, s, p, n, seed, space, i, j, n_over, label):
        V = sample(r, s, n, seed, **dict(p))
        over = plane_coordinates(V, i, j, space=space, pca=_pca(r, space))[:n_over]
        axis = "z" if space == "latent" else "PCA "
        fig = sampler_overlay_figure(plane(r, i, j, space), over, label, kde=plane_kde(r, i, j, space),
                                     ellipses=plane_ellipse_table(r, i, j, space),
                                     labels=(f"{axis}{i}", f"{axis}{j}"))
        return figure_png(fig, dpi=95, tight=False)

    return run_cached(compute, run, sampler, _items(params), int(n), int(seed), space, int(i), int(j),
                      n_over, str(label))


def _score_kw(run, Z_fit, reencode, max_points, seed, progress=None):
    if not reencode:
        return {}
    dec, enc = decoder_fn(run), encoder_fn(run)
    if progress is not None:
        # score_samples decodes its subsample once, then re-encodes the images:
        # the two calls mark the last two stages of a draw.
        def dec_p(x, _f=dec):
            progress("decode")
            return _f(x)

        def enc_p(x, _f=enc):
            progress("re-encode")
            return _f(x)

        dec, enc = dec_p, enc_p
    return dict(decoder_fn=dec, encoder_fn=enc, real_codes=real_code_sample(Z_fit, max_points, seed))


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
def _score_store():
    return _Store(128)


def _stored_score(key, run, samples, max_points, reencode, seed, progress):
    hit = _score_store().get(key)
    if hit is None:
        if progress is not None:
            progress("score")
        # The scoreboard's split, as in `python -m core compare`: same seed,
        # same subsamples, so the same numbers.
        Z_fit, Z_hold = holdout_split(run.latents)
        V = samples() if callable(samples) else np.asarray(Z_hold)
        hit = score_samples(V, Z_fit, Z_hold, max_points=max_points, random_state=seed,
                            **_score_kw(run, Z_fit, reencode, max_points, seed, progress))
        _score_store().put(key, hit)
    return dict(hit)


def score(run, sampler, n, seed=0, max_points=2000, reencode=True, progress=None, **params):
    """``core.sampling.scoreboard.score_samples`` of a sampler's vectors against the run's latents.

    The same row as ``python -m core compare --seed SEED --max-points
    MAX_POINTS`` prints for this sampler.  Cached for all sessions by every
    argument but ``progress``, a callable ``progress(stage)`` told "score",
    then (with ``reencode``) "decode" and "re-encode" as the work reaches
    those stages; it is not called on a hit.
    """
    key = ("sampler", run.name, _run_token(run.name), sampler, _items(params), int(n), int(seed),
           int(max_points), bool(reencode))
    return _stored_score(key, run, lambda: sample(run, sampler, n, seed, **params), int(max_points),
                         bool(reencode), int(seed), progress)


def score_holdout(run, max_points=2000, reencode=True, progress=None, seed=0):
    """The scoreboard row of held-out real latents (the reference every sampler aims at)."""
    key = ("holdout", run.name, _run_token(run.name), int(max_points), bool(reencode), int(seed))
    return _stored_score(key, run, None, int(max_points), bool(reencode), int(seed), progress)


def holdout_expectation(run, k_sigma=(2, 3)):
    """``inside_{k}sigma`` an exact MND would give the held-out rows (Hotelling T²).

    Cheap closed form (no cache needed); {} when the fit part has <= z_dim rows.
    """
    n_fit, d = holdout_split(run.latents)[0].shape
    try:
        return core_holdout_expectation(n_fit, d, k_sigma)
    except ValueError:
        return {}


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
                                    help="Blog part VII: f between 0.4 and 1.0")}
    if name == "gaussian-diag":
        w.caption("Independent N(mean_j, std_j²) per component; no parameters.")
        return {}
    if name == "pca-ellipse":
        c1, c2, c3 = w.columns(3)
        p = {"n_components": int(c1.number_input("K: leading PCA components", value=min(100, z_dim),
                                                 step=1, key=f"{key}_K",
                                                 help=f"1 … z_dim = {z_dim} (blog: 50–120)")),
             "level": c2.number_input("level: a_k = level·σ_k", value=2.35, step=0.05, key=f"{key}_level"),
             "f": c3.number_input("f: draw in [-f·a_k, f·a_k]", value=0.7, step=0.05, key=f"{key}_f",
                                  help="Blog: 0.6–0.8")}
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
        c1, c2 = w.columns(2)
        p = {"n_components": int(c1.number_input("mixture components", value=10, step=1, key=f"{key}_nc")),
             "covariance_type": c2.selectbox("covariance", ["full", "diag", "tied", "spherical"],
                                             key=f"{key}_cov")}
        c1, c2 = w.columns(2)
        full = c2.checkbox("fit in the full latent space (slow: minutes)", value=False, key=f"{key}_full")
        k = int(c1.number_input("PCA coordinates the mixture is fitted on", value=min(32, z_dim), step=8,
                                key=f"{key}_pca", disabled=full,
                                help=f"1 … z_dim = {z_dim}; the other directions are one independent Gaussian"))
        p["pca_components"] = None if full else k
        return p
    raise ValueError(f"unknown sampler {name!r}")


# ---------------------------------------------------------------- encoder maps (page 6)

def encoder_layers(run):
    """The encoder's convolutional layers as ``[(name, (h, w, n_maps)), ...]``, input side first."""
    return run_cached(lambda r: [(n, tuple(int(d) for d in feature_model(r.encoder, n).output_shape[1:]))
                                 for n in conv_layer_names(r.encoder)], run, shared=True)


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
def _map_value(run, layer, limit, params, progress=None):
    slot = run_cached(lambda r, layer, limit, params: _Slot(), run, layer, limit, params, shared=True)
    with slot.lock:
        if slot.value is None:
            slot.value = run_map_report(run, layer=layer, limit=limit, progress=progress, **dict(params))
        return slot.value


def map_report(run, layer=None, limit=None, progress=None, **params):
    """``core.model.featuremaps.run_map_report`` cached by run, layer, limit and parameters (shared, not copied).

    ``progress(stage, done, total)`` is called while a new report is computed
    (not on a cache hit).  ValueError for a bad layer or parameter (nothing cached).
    """
    return _map_value(run, layer, None if limit is None else int(limit), _items(params), progress)


def map_grid_png(run, layer=None, limit=None, n_cols=8, **params):
    """PNG bytes of the ranked pattern grid of a cached :func:`map_report`."""
    return run_cached(lambda r, layer, limit, params, n_cols: figure_png(
        pattern_grid_figure(_map_value(r, layer, limit, params), n_cols=n_cols)),
        run, layer, None if limit is None else int(limit), _items(params), int(n_cols),
        spinner="Drawing the pattern grid…")
