"""The dashboard's one place for caching, run selection and shared widgets.

Pages import this module and call into ``core``; they hold no caches of
their own.  ``st.cache_resource`` holds models and other shared, read-only
objects (one copy for every browser session); ``st.cache_data`` holds arrays
and tables (copied per call, so keep them small).
"""

from __future__ import annotations

import os

import numpy as np
import streamlit as st

from core import runs

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
    """The loaded :class:`core.runs.Run` (shared by all sessions)."""
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


# ---------------------------------------------------------------- models

@st.cache_resource(show_spinner="Compiling decoder…", max_entries=8)
def _decoder_fn(name, token, batch_size):
    from core.model import CompiledModel

    return CompiledModel(_load_run(name, token).decoder, batch_size)


@st.cache_resource(show_spinner="Compiling encoder…", max_entries=8)
def _encoder_fn(name, token, batch_size):
    from core.model import CompiledModel

    return CompiledModel(_load_run(name, token).encoder, batch_size)


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
    from core.components import full_statistics

    return full_statistics(_load_run(name, token).latents, bin_width=bin_width)


def statistics(run, bin_width=0.25):
    """``core.components.full_statistics`` of the run's latents (read-only, shared)."""
    return _statistics(run.name, _run_token(run.name), float(bin_width))


@st.cache_data(show_spinner=False, max_entries=64)
def _plane(name, token, i, j, space):
    from core.ellipses import plane_coordinates

    pca = _statistics(name, token, 0.25).pca if space == "pca" else None
    return plane_coordinates(_load_run(name, token).latents, i, j, space=space, pca=pca)


def plane(run, i, j, space="latent"):
    """Projected points (n, 2) of the run's latents on plane (i, j)."""
    return _plane(run.name, _run_token(run.name), int(i), int(j), space)


@st.cache_resource(show_spinner="Computing Mahalanobis distances…", max_entries=8)
def _mnd(name, token):
    from core.mnd import mnd_summary

    return mnd_summary(_load_run(name, token).latents)


def mnd(run):
    """``core.mnd.mnd_summary`` of the run's latents."""
    return _mnd(run.name, _run_token(run.name))


# ---------------------------------------------------------------- samplers

@st.cache_resource(show_spinner="Fitting sampler…", max_entries=32)
def _fitted_sampler(name, token, sampler, params):
    from core.samplers import make_sampler

    return make_sampler(sampler, **dict(params)).fit(_load_run(name, token).latents)


def fitted_sampler(run, sampler, **params):
    """A sampler from ``core.samplers.SAMPLERS`` fitted on the run's latents (shared)."""
    return _fitted_sampler(run.name, _run_token(run.name), sampler, tuple(sorted(params.items())))


def show_error(exc):
    """Show a ValueError from core as a one-line message (no traceback)."""
    st.error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
