"""Scoreboard rows cached on disk (core/sampling/scorecache.py) and the Samplers page's use of them (views.score)."""

import shutil

import numpy as np
import pytest

from core.runs import runs
from core.sampling.scorecache import cached_row, run_content_key
from tests.dashboard_fixtures import TINY_RUN, app_env, tiny_run_root  # noqa: F401


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cached_row_hits_on_same_key_and_misses_on_a_changed_parameter(cache):
    calls = []

    def compute(v):
        calls.append(v)
        return {"a": v, "nan": float("nan")}

    first = cached_row("k" * 64, "sampler", ("mvn", (("truncate_k", None),), 2000, 0), lambda: compute(1.5))
    again = cached_row("k" * 64, "sampler", ("mvn", (("truncate_k", None),), 2000, 0), lambda: compute(9.0))
    assert first["a"] == again["a"] == 1.5 and np.isnan(again["nan"]) and calls == [1.5]
    # Another parameter, seed, kind or run: a miss.
    cached_row("k" * 64, "sampler", ("mvn", (("truncate_k", 2.0),), 2000, 0), lambda: compute(2.0))
    cached_row("k" * 64, "sampler", ("mvn", (("truncate_k", None),), 2000, 1), lambda: compute(3.0))
    cached_row("k" * 64, "holdout", ("mvn", (("truncate_k", None),), 2000, 0), lambda: compute(4.0))
    cached_row("j" * 64, "sampler", ("mvn", (("truncate_k", None),), 2000, 0), lambda: compute(5.0))
    assert calls == [1.5, 2.0, 3.0, 4.0, 5.0]
    # A damaged entry is recomputed, not fatal.
    for f in (cache / "scores").glob("*.json"):
        f.write_text("{not json")
    assert cached_row("k" * 64, "sampler", ("mvn", (("truncate_k", None),), 2000, 0),
                      lambda: compute(6.0))["a"] == 6.0


def test_run_content_key_follows_latents_and_model_files(app_env, tmp_path):
    src = app_env / TINY_RUN
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    k0 = run_content_key(runs.Run(src))
    assert run_content_key(runs.Run(dst)) == k0  # content, not the path
    with open(dst / "decoder.keras", "ab") as fh:
        fh.write(b"\0")
    assert run_content_key(runs.Run(dst)) != k0


def test_lab_score_reuses_rows_from_memory_and_disk_and_misses_on_a_changed_parameter(app_env, monkeypatch):
    import lab
    import views
    from core.sampling.scoreboard import ScoreReference

    run = lab.get_run(TINY_RUN)
    calls = []
    real_score = ScoreReference.score

    def counting(self, samples, **kw):
        calls.append(len(samples))
        return real_score(self, samples, **kw)

    monkeypatch.setattr(ScoreReference, "score", counting)
    a = views.score(run, "mvn", 300, seed=0, max_points=100, reencode=True)
    assert views.score(run, "mvn", 300, seed=0, max_points=100, reencode=True) == a
    assert len(calls) == 1
    lab.score_store().__init__(128)  # a new server process: memory empty, disk kept
    b = views.score(run, "mvn", 300, seed=0, max_points=100, reencode=True)
    assert len(calls) == 1 and b == a
    assert np.isfinite(a["reencode_rel_error"]) and a["n_samples"] == 300
    views.score(run, "mvn", 300, seed=1, max_points=100, reencode=True)
    views.score(run, "mvn", 300, seed=0, max_points=100, reencode=True, truncate_k=2.0)
    views.score(run, "mvn", 300, seed=0, max_points=100, reencode=False)
    assert len(calls) == 4
