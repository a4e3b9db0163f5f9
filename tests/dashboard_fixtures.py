"""Shared fixtures for the dashboard page tests (``tests/test_page_*.py``).

Import them explicitly in each page test module::

    from tests.dashboard_fixtures import tiny_run_root, app_env  # noqa: F401

``tiny_run_root`` copies one tiny run, trained ONCE per test session (``trained_run``), into a temporary
artifacts root, next to an incomplete and a damaged run folder; ``app_env``
points ``LATENT_LAB_ARTIFACTS`` at that root for one test and clears the
dashboard's data caches and puts ``dashboard/`` on ``sys.path`` (``lab.list_runs`` takes no arguments, so a listing
cached for another root would otherwise be reused).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"
TINY_RUN = "default"
HALF_RUN = "half"
BROKEN_RUN = "broken"
TINY_Z_DIM = 8
TINY_N = 300


def tiny_config(epochs=1):
    """The TrainConfig of the tiny test run (16x16 RGB synthfaces, z_dim 8)."""
    from core.model.config import ModelConfig, TrainConfig

    return TrainConfig(dataset="synthfaces", limit=TINY_N, epochs=epochs, batch_size=32,
                       model=ModelConfig(image_size=16, channels=3, z_dim=TINY_Z_DIM,
                                         encoder_filters=(4, 4, 8, 8), decoder_filters=(8, 8, 4, 4)))


def trained_run(tmp_path_factory, config, dest):
    """A copy at ``dest`` of a run trained with ``config``; returns ``dest``.

    Each config is trained once per test session, shared by the fixtures that
    need the same tiny run and by the pytest-xdist workers (a file lock in the
    session's base folder: the first worker trains, the others wait and copy).
    """
    import fcntl
    import hashlib

    from core.model.training import train_run

    store = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        store = store.parent  # the session's folder, above the workers' own
    store = store / "trained-runs"
    store.mkdir(exist_ok=True)
    key = hashlib.sha256(config.to_json().encode()).hexdigest()[:16]
    with open(store / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        src = store / key
        if not (src / "metadata.json").exists():  # metadata.json is written last
            shutil.rmtree(src, ignore_errors=True)
            train_run(config, src)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("run.lock"))
    return dest


@pytest.fixture(scope="session")
def tiny_run_root(tmp_path_factory):
    """An artifacts root with a complete run ``default``, an incomplete ``half``
    (only config.json) and a damaged ``broken`` (latents.npy is garbage).

    Returns the root as a ``pathlib.Path``.
    """
    from core.runs import runs

    root = tmp_path_factory.mktemp("artifacts")
    config = tiny_config()
    trained_run(tmp_path_factory, config, root / TINY_RUN)

    half = root / HALF_RUN
    half.mkdir()
    runs.atomic_write_json(half / "config.json", config.to_dict())

    broken = root / BROKEN_RUN
    shutil.copytree(root / TINY_RUN, broken, ignore=shutil.ignore_patterns("checkpoints", "run.lock"))
    (broken / "latents.npy").write_bytes(b"this is not an npy file")
    return root


@pytest.fixture
def app_env(tiny_run_root, monkeypatch):
    """Point the dashboard at ``tiny_run_root`` for one test; returns the root."""
    yield from dashboard_on(tiny_run_root, monkeypatch)


def dashboard_on(root, monkeypatch):
    """Generator body of a fixture that points the dashboard at the artifacts ``root``."""
    import streamlit as st

    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(root))
    # Streamlit puts the main script's folder on sys.path; a page run alone by
    # AppTest gets dashboard/pages/, so ``import lab`` needs dashboard/ here.
    monkeypatch.syspath_prepend(str(DASHBOARD))
    st.cache_data.clear()
    yield root
    st.cache_data.clear()


def app_test(page, timeout=60):
    """``AppTest`` for a dashboard script, e.g. ``app_test("pages/2_Components.py")``.

    ``AppTest.from_file`` resolves relative paths against the calling file,
    so the path is made absolute here (relative to ``dashboard/``).
    """
    from streamlit.testing.v1 import AppTest

    _scan_components_once()
    return AppTest.from_file(str(DASHBOARD / page), default_timeout=timeout)


def _scan_components_once():
    """Scan the installed packages for Streamlit components once per process.

    Every AppTest does it on its first run (the metadata of every installed
    distribution, ~0.2 s of CPU; the suite makes ~100 AppTests); the installed
    packages do not change during a test session.
    """
    from streamlit.components.v2 import manifest_scanner

    if getattr(manifest_scanner.scan_component_manifests, "once", False):
        return
    found = manifest_scanner.scan_component_manifests()

    def scan_once(max_workers=None):
        return list(found)

    scan_once.once = True
    manifest_scanner.scan_component_manifests = scan_once
