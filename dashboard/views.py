"""The dashboard's analyses of a run: statistics, samplers and their scoreboard, plane overlays,
the Tour and the uploaded image.

Each function here is a thin, cached front of ``core`` (mostly
:mod:`core.run_views` and :mod:`core.sampling.sampler_views`): it computes
through :func:`lab.run_cached`, the dashboard's one caching helper, and
keys a sampler by its name and sorted parameter items.  This module loads
scipy, scikit-learn and matplotlib at import; ``lab`` does not, so that
Home's run summary paints before them (issue 14): every page but Home
imports this module at the top, Home after its summary.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import pandas as pd
import streamlit as st
import figures
import lab
from core import run_views, tour
from core.chunks import take_rows
from core.sampling import sampler_views, scoreboard
from core.sampling.samplers import make_sampler
from core.sampling.scorecache import cached_row, run_content_key
from core.user_image import encode_user_image, prepare_user_image
from core.validation import check_int

#: The bin width of the statistics shared by every page (``core.run_views``'s).
BIN_WIDTH = run_views.BIN_WIDTH


def statistics(run, bin_width=BIN_WIDTH):
    """:func:`core.run_views.statistics` of the run (read-only, shared by all sessions and pages)."""
    stats = lab.run_cached(run_views.statistics, run, float(bin_width), shared=True,
                           spinner="Computing statistics (components, correlation, PCA)…")
    lab.freeze_long_lived()
    return stats


lab.provide("statistics", statistics)  # what lab.run_cached passes a core function's statistics=


# ---------------------------------------------------------------- samplers
# The Samplers page's computations live in core.sampling.sampler_views; here
# they are only cached, each through lab.run_cached, a sampler keyed by its
# name and sorted parameter items.

def fitted_sampler(run, sampler, **params):
    """A sampler from ``core.sampling.samplers.SAMPLERS`` fitted on the run's fit rows (shared).

    The fit rows are ``core.sampling.scoreboard.holdout_split(run.latents)[0]``,
    as in ``python -m core compare``: the page's scoreboard is the CLI's.
    Cached on disk too (:func:`core.sampling.sampler_views.fitted_sampler`).
    """
    return lab.run_cached(sampler_views.fitted_sampler, run, str(sampler), _items(params), shared=True,
                          spinner="Fitting sampler…")


# ---------------------------------------------------------------- draws and the scoreboard

def _items(params):
    return tuple(sorted(params.items()))


def sample(run, sampler, n, seed=0, **params):
    """``n`` vectors (n, z_dim) float32 from a fitted sampler, cached by all arguments."""
    return _sample_items(run, str(sampler), _items(params), n, seed)


def _sample_items(run, sampler, items, n, seed):
    return lab.run_cached(sampler_views.sample, run, sampler, items, int(n), int(seed),
                          spinner=f"Drawing {int(n):,} vectors from {sampler}…",
                          unhashed={"fitted": lambda: fitted_sampler(run, sampler, **dict(items))})


def sample_pca(run, n, seed=0, **params):
    """The PCA-ellipse sampler's own PCA coordinates (n, K) for the same stream as ``sample``."""
    return lab.run_cached(sampler_views.sample_pca, run, _items(params), int(n), int(seed),
                          spinner="Drawing PCA coordinates…",
                          unhashed={"fitted": lambda: fitted_sampler(run, "pca-ellipse", **params)})


#: Part of the disk-cache key of scoreboard rows; change it when a metric changes.
SCORE_VERSION = "issue18-3"


def _score_reference(run, max_points, reencode, seed, decoder_points):
    # The data side of every row of a Draw, once per run, seed and metric
    # settings: core's, so the rows are those of `python -m core compare`.
    return scoreboard.score_reference(run.latents, max_points, seed, decoder_metrics=reencode,
                                      decoder_points=decoder_points)


def _reencoder(run, progress=None):
    # E(D(z)) with the large-batch compiled models; the two calls mark the
    # last two stages of a draw.
    batch = scoreboard.SCORE_BATCH  # the CLI's batch: the same floats
    dec, enc = lab.decoder_fn(run, batch), lab.encoder_fn(run, batch)

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
    def compute():
        if progress is not None:
            progress("score")
        ref = lab.run_cached(_score_reference, run, max_points, reencode, seed, decoder_points, shared=True)
        return ref.score(vectors(), reencoded=_reencoder(run, progress) if reencode else None)

    return cached_row(lab.run_cached(run_content_key, run, shared=True), kind,
                      (SCORE_VERSION,) + tuple(key_params) + (max_points, reencode, seed, decoder_points), compute)


def _score_settings(max_points, reencode, seed, decoder_points):
    max_points = check_int(max_points, "points used by the metrics", low=10)
    dp = max_points if decoder_points is None else check_int(decoder_points, "vectors decoded", low=2)
    return max_points, bool(reencode), int(seed), min(dp, max_points)


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
    settings = _score_settings(max_points, reencode, seed, decoder_points)
    items = _items(params)
    key = ("sampler", run.name, lab.run_token(run.name), sampler, items, int(n)) + settings
    hit = lab.score_store().get(key)
    if hit is None:
        full = tuple(sorted(make_sampler(sampler, **params).get_params().items()))
        hit = _score_row(run, "sampler", (sampler, full, int(n)),
                         lambda: _sample_items(run, sampler, items, n, seed), *settings, progress)
        lab.score_store().put(key, hit)
    return dict(hit)


def score_holdout(run, max_points=2000, reencode=True, progress=None, seed=0, decoder_points=None):
    """The scoreboard row of held-out real latents (the reference every sampler aims at), as in ``score``."""
    settings = _score_settings(max_points, reencode, seed, decoder_points)
    key = ("holdout", run.name, lab.run_token(run.name)) + settings
    hit = lab.score_store().get(key)
    if hit is None:
        hit = _score_row(run, "holdout", (), lambda: np.asarray(scoreboard.holdout_split(run.latents)[1]),
                         *settings, progress)
        lab.score_store().put(key, hit)
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


# ---------------------------------------------------------------- planes and decoded draws (pages 3-4)

def _space_kwargs(space):
    # Only PCA planes need the run's statistics; latent ones must not wait for them.
    return {} if space == "pca" else {"statistics": None}


def plane_layers(run, i, j, space, sigmas=(1.0, 2.0, 3.0)):
    """:func:`core.sampling.sampler_views.plane_layers` of a plane: points, KDE, ellipses, moments."""
    extra = {"leading": lab.run_cached(sampler_views.pca_leading, run, shared=True)} if space == "pca" else {}
    return lab.run_cached(sampler_views.plane_layers, run, int(i), int(j), space, tuple(map(float, sigmas)),
                          **_space_kwargs(space), unhashed=extra)


def warm_projections(run):
    """Compute what the first PCA projection needs (the run's statistics and leading PCA
    coordinates) and make the projection figures ahead, so that a change of plane only draws."""
    statistics(run)
    lab.run_cached(sampler_views.pca_leading, run, shared=True)
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
    n_over = check_int(n_over, "vectors drawn per plot", low=1)
    sigmas = sampler_views.sigma_levels(sigma)
    sigma = float(sigma)
    i, j = int(i), int(j)
    return lab.run_cached(sampler_views.plane_overlay_pngs, run, tuple((str(s), _items(p)) for s, p in drawn),
                          int(n), int(seed), space, i, j, n_over, tuple(str(x) for x in labels), sigma,
                          **_space_kwargs(space),
                          unhashed={"layers": lambda: plane_layers(run, i, j, space, sigmas),
                                "draw": functools.partial(_sample_items, run),
                                "leading": functools.partial(_sample_leading, run),
                                "background_key": (run.name, lab.run_token(run.name), space, i, j, sigmas)})


def _sample_leading(run, sampler, items, n, seed):
    return lab.run_cached(sampler_views.sample_leading, run, sampler, items, int(n), int(seed),
                          unhashed={"draw": functools.partial(_sample_items, run)})


def plane_overlay_png(run, sampler, n, seed, space, i, j, n_over, label, sigma=2.0, **params):
    """PNG bytes of one sampler's panel (:func:`plane_overlay_pngs` of that sampler alone)."""
    return plane_overlay_pngs(run, [(sampler, params)], n, seed, space, i, j, n_over, [label], sigma)[0]


def decoded_grid(run, sampler, n, seed, m=16, n_cols=4, **params):
    """The first ``m`` vectors of a cached draw, decoded, as one image grid (h, w, c) in [0, 1]."""
    return lab.run_cached(sampler_views.decoded_grid, run, str(sampler), _items(params), int(n), int(seed), int(m),
                          int(n_cols), unhashed={"draw": functools.partial(_sample_items, run)})


def holdout_expectation(run, k_sigma=(2, 3)):
    """``inside_{k}sigma`` an exact MND would give the held-out rows (Hotelling T²).

    Cheap closed form (no cache needed); {} when the fit part has <= z_dim rows.
    """
    try:
        return scoreboard.holdout_expectation(scoreboard.holdout_split(run.latents)[0].shape[0], run.z_dim, k_sigma)
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


# ---------------------------------------------------------------- the Tour and your own image (issue 11)

def _tour_scoreboard(run):
    return tour.scoreboard_table(run.latents)


def _tour_step(run, key, mark=None):
    table = lab.run_cached(_tour_scoreboard, run, shared=True) if key == "scoreboard" else None
    step = tour.make_step(key, run.latents, statistics(run), lab.decoder_fn(run), scoreboard=table,
                          mark=None if mark is None else np.asarray(mark, dtype=np.float32))
    return {"key": step.key, "title": step.title, "text": step.text, "page": step.page,
            "query": {k: str(v) for k, v in step.query.items()},
            "png": figures.figure_png(step.figure, dpi=100, tight=False)}


def tour_step(run, key, mark=None):
    """One step of ``core.tour`` as a dict (title, text, png, page, query), cached per run.

    ``mark``: a z-point (tuple of floats) to mark in the plane figures, or None.
    """
    return lab.run_cached(_tour_step, run, str(key), mark=None if mark is None else tuple(map(float, mark)))


def _user_image(run, data, name, k):
    image = prepare_user_image(data, run.image_size, run.channels, crop=run.config.get("crop"), name=name)
    res = encode_user_image(image, lab.encoder_fn(run), lab.decoder_fn(run), run.latents, k=k)
    return {"image": res.image, "z": res.z, "reconstruction": res.reconstruction,
            "neighbours": res.neighbours, "distances": res.distances,
            "neighbour_images": lab.decoder_fn(run)(take_rows(run.latents, res.neighbours))}


def user_image(run, data, name, k=8):
    """An uploaded image through the run (``core.user_image``), cached by its bytes.

    Returns a dict: ``image, z, reconstruction, neighbours, distances,
    neighbour_images`` (decoded z-points of the neighbours). ValueError for a
    bad upload (the message names the file and the reason).
    """
    return lab.run_cached(_user_image, run, bytes(data), str(name), int(k))
