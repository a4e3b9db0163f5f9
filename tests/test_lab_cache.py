"""``lab.run_cached``: one cache entry per run version, function and arguments."""

import io
import time

import numpy as np

from core.runs import runs
from tests.dashboard_fixtures import TINY_RUN, app_env, tiny_run_root  # noqa: F401

CALLS = []


def _column_mean(run, k, scale=1.0):
    CALLS.append((run.name, k, scale))
    return float(np.asarray(run.latents[:, k]).mean() * scale)


def _other(run, k, scale=1.0):
    CALLS.append(("other", k, scale))
    return -1.0


def test_run_cached_hits_by_run_function_and_arguments(app_env):
    import lab

    CALLS.clear()
    run = lab.get_run(TINY_RUN)
    expected = float(np.asarray(run.latents[:, 1]).mean())
    assert lab.run_cached(_column_mean, run, 1) == expected
    assert lab.run_cached(_column_mean, run, 1) == expected
    assert len(CALLS) == 1
    assert lab.run_cached(_column_mean, run, 1, scale=2.0) == 2 * expected
    lab.run_cached(_column_mean, run, 2)
    assert len(CALLS) == 3
    # Same arguments, another function: never served from the first one's entry.
    assert lab.run_cached(_other, run, 1) == -1.0
    assert len(CALLS) == 4


def test_run_cached_shared_returns_one_object(app_env):
    import lab

    run = lab.get_run(TINY_RUN)
    def count(r):
        return {"n": len(r.latents)}

    a = lab.run_cached(count, run, shared=True)
    b = lab.run_cached(count, run, shared=True)
    assert a is b and a["n"] == len(run.latents)
    # Another lambda of this same function is another entry, not a hit.
    c = lab.run_cached(lambda r: {"n": -1}, run, shared=True)
    d = lab.run_cached(lambda r: {"n": -2}, run, shared=True)
    assert (c["n"], d["n"]) == (-1, -2)


def test_run_cached_is_never_stale_after_the_run_changes(app_env, tiny_run_root):
    import lab

    CALLS.clear()
    run = lab.get_run(TINY_RUN)
    lab.run_cached(_column_mean, run, 0)
    meta = tiny_run_root / TINY_RUN / "metadata.json"
    time.sleep(0.01)
    runs.atomic_write_json(meta, runs.read_json(meta))
    lab.run_cached(_column_mean, lab.get_run(TINY_RUN), 0)
    assert len(CALLS) == 2


def test_run_cached_keys_by_bound_arguments(app_env):
    import lab

    CALLS.clear()
    run = lab.get_run(TINY_RUN)
    # Positional, keyword and an explicit default are one computation.
    a = lab.run_cached(_column_mean, run, 3)
    assert lab.run_cached(_column_mean, run, k=3) == a
    assert lab.run_cached(_column_mean, run, 3, scale=1.0) == a
    assert len(CALLS) == 1


def _with_progress(run, k, progress=None):
    CALLS.append(("progress", k))
    if progress is not None:
        progress(k)
    return k * 10


def _uses_statistics(run, statistics=None):
    return statistics


def test_run_cached_unhashed_compute_false_and_injected_statistics(app_env):
    import lab
    import views

    CALLS.clear()
    run = lab.get_run(TINY_RUN)
    seen = []
    assert lab.run_cached(_with_progress, run, 4, shared=True, compute=False) is None
    assert lab.run_cached(_with_progress, run, 4, shared=True, unhashed={"progress": seen.append}) == 40
    # The callback is not part of the key: a hit, whatever callback comes with it.
    assert lab.run_cached(_with_progress, run, 4, shared=True, unhashed={"progress": print}) == 40
    assert lab.run_cached(_with_progress, run, 4, shared=True, compute=False) == 40
    assert seen == [4] and CALLS == [("progress", 4)]
    # A parameter named statistics receives the run's one shared statistics object.
    assert lab.run_cached(_uses_statistics, run, shared=True) is views.statistics(run)


def test_run_cached_exception_stores_nothing(app_env):
    import lab

    run = lab.get_run(TINY_RUN)
    calls = []

    def flaky(r):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first call fails")
        return "ok"

    try:
        lab.run_cached(flaky, run, shared=True)
    except ValueError:
        pass
    assert lab.run_cached(flaky, run, shared=True) == "ok" and len(calls) == 2


def test_warm_tensorflow_imports_keras_once_in_a_server_and_never_under_apptest(app_env, monkeypatch):
    import sys
    import threading

    import streamlit as st

    import lab

    monkeypatch.setattr(lab, "_TF_WARM_STARTED", False)
    started = []
    real_thread = threading.Thread

    def spy(*a, **k):
        t = real_thread(*a, **k)
        started.append(t)
        return t

    monkeypatch.setattr(lab.threading, "Thread", spy)
    lab.warm_tensorflow()                       # no Streamlit runtime here (like AppTest): nothing
    assert started == []
    with monkeypatch.context() as m:            # undone before the fixture's teardown needs the real one
        m.setattr(st.runtime, "exists", lambda: True)
        lab.warm_tensorflow()
        lab.warm_tensorflow()                   # once per server process
    assert [t.name for t in started] == ["warm-tensorflow"]
    started[0].join(120)
    assert "keras" in sys.modules and "tensorflow" in sys.modules


def test_csv_download_writes_the_csv_only_when_clicked(app_env, monkeypatch):
    import pandas as pd
    import streamlit as st

    import lab

    seen = {}
    monkeypatch.setattr(st, "download_button", lambda label, data, **kw: seen.update(data=data, **kw))
    df = pd.DataFrame({"sigma": [1.0, 2.0], "measured %": [39.1, 86.7]})
    lab.csv_download(df, "run/a b.csv", key="k")
    assert callable(seen["data"]) and seen["file_name"] == "run_a_b.csv" and seen["mime"] == "text/csv"
    assert seen["data"]() == df.to_csv(index=False).encode("utf-8")
    assert pd.read_csv(io.BytesIO(seen["data"]())).equals(df)


def _scaled_sum(run, k, scale=1.0):
    return float(np.asarray(run.latents[:, k]).sum() * scale)


def test_run_cached_shows_a_spinner_only_when_it_computes(app_env, monkeypatch):
    # Issue 14: st.spinner starts a thread per call; a cached lookup must not open one.
    import contextlib

    import lab
    import streamlit as st

    opened = []

    def spinner(text, *a, **kw):
        opened.append(text)
        return contextlib.nullcontext()

    monkeypatch.setattr(st, "spinner", spinner)
    run = lab.get_run(TINY_RUN)
    first = lab.run_cached(_scaled_sum, run, 0, scale=3.0, spinner="computing")
    assert lab.run_cached(_scaled_sum, run, 0, scale=3.0, spinner="computing") == first
    assert opened == ["computing"]
    lab.run_cached(_scaled_sum, run, 1, scale=3.0, spinner="computing")  # a new key computes: spinner
    assert opened == ["computing", "computing"]
    shared = lab.run_cached(_scaled_sum, run, 2, shared=True, spinner="shared")
    assert lab.run_cached(_scaled_sum, run, 2, shared=True, spinner="shared") == shared
    assert opened.count("shared") == 1
