"""What keeps a Samplers-page rerun cheap: no full garbage collection after each rerun."""

import tomllib
from pathlib import Path

import numpy as np

from tests.dashboard_fixtures import TINY_RUN, app_env, tiny_run_root  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


def test_streamlit_skips_the_post_script_gc():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


def test_keras_clear_session_after_a_rerun_keeps_models_and_skips_gc(app_env, monkeypatch):
    import gc
    import sys

    import lab

    run = lab.get_run(TINY_RUN)
    lab.decoder_fn(run)
    keras = sys.modules["keras"]
    collected = []
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(a) or 0)
    keras.backend.clear_session()  # what Streamlit does after every rerun
    assert collected == []
    images = lab.decode(run, np.zeros((3, run.z_dim), np.float32))
    assert images.shape[0] == 3 and np.all(np.isfinite(images))


def test_keras_clear_session_after_a_rerun_keeps_tensorflows_kernel_cache(app_env, monkeypatch):
    # Issue 14: with the kernel cache cleared after every rerun, a Decode slider step's one-vector
    # decode rebuilt its kernels (50-250 ms instead of ~4 ms).
    import sys

    from tensorflow.python.eager import context

    import lab

    run = lab.get_run(TINY_RUN)
    lab.decoder_fn(run, batch_size=1)
    cleared = []
    monkeypatch.setattr(type(context.context()), "clear_kernel_cache", lambda self: cleared.append(self))
    sys.modules["keras"].backend.clear_session()  # what Streamlit does after every rerun
    assert cleared == []
    images = lab.decoder_fn(run, batch_size=1)(np.zeros((1, run.z_dim), np.float32))
    assert images.shape[0] == 1 and np.all(np.isfinite(images))


def test_long_lived_objects_leave_the_collectors_view_and_later_garbage_is_still_collected(app_env, monkeypatch):
    # Issue 14: a full collection over the server's ~300,000 long-lived objects added 0.2-0.4 s to
    # some plane-pair changes; lab freezes them (gc.freeze) once a batch of libraries has loaded.
    import gc
    import weakref

    from matplotlib.figure import Figure

    import lab
    import views

    monkeypatch.setattr(lab, "_FROZEN_AT", [0])  # as in a fresh server: everything imported is new
    try:
        views.statistics(lab.get_run(TINY_RUN))
        assert gc.get_freeze_count() > 10_000
        tracked = len(gc.get_objects())
        assert tracked < gc.get_freeze_count()
        # A figure drawn afterwards (matplotlib figures are reference cycles) is still collected.
        fig = Figure()
        fig.add_subplot().plot([0, 1])
        ref = weakref.ref(fig)
        del fig
        gc.collect()
        assert ref() is None
        # No second collection and freeze without new libraries.
        frozen = gc.get_freeze_count()
        views.statistics(lab.get_run(TINY_RUN))
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
