"""AppTest of the experiment-grid form (Train page) and the results table on the Compare page (issue 10).

``core.experiment.launch`` is replaced by a recorder: no process starts here
(tests/test_experiment.py trains a real grid).
"""

import json

import pytest

from core import experiment
from core.runs import runs
from tests.compare_fixtures import compare_root  # noqa: F401
from tests.dashboard_fixtures import DASHBOARD, app_test

GRID = {"name": "pg", "base": {"dataset": "synthfaces", "limit": 100, "epochs": 1,
                               "model": {"image_size": 16, "z_dim": 8}},
        "grid": {"model.batch_norm": [False, True]}}


@pytest.fixture
def env(compare_root, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(compare_root))
    monkeypatch.syspath_prepend(str(DASHBOARD))
    st.cache_data.clear()
    calls = []
    monkeypatch.setattr(experiment, "launch", lambda grid, root=None: calls.append(grid))
    return calls


def _submit(text):
    at = app_test("pages/1_Train.py").run()
    at.text_area(key="grid_text").set_value(text)
    at.button(key="FormSubmitter:grid_form-Check and start the grid").click()
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("text,message", [
    ("{not json", "the grid is not valid JSON"),
    (json.dumps(dict(GRID, grid={"model.z_dim": [8, 0]})), "config 1 (model.z_dim=0): z_dim must be >= 2, got 0"),
    (json.dumps(dict(GRID, name="a/b")), "grid name 'a/b' is not allowed"),
])
def test_bad_grid_is_one_message_and_nothing_starts(env, text, message):
    at = _submit(text)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert env == []


def test_good_grid_starts_in_the_background_and_lists_its_runs(env):
    at = _submit(json.dumps(GRID))
    assert not at.error and env == [GRID]
    assert any("pg-00 (model.batch_norm=False); pg-01 (model.batch_norm=True)" in s.value for s in at.success)


def test_experiment_progress_resume_and_results_on_compare(env, compare_root):
    folder = experiment.experiment_dir("seen", compare_root)
    folder.mkdir(parents=True)
    runs.atomic_write_json(folder / "grid.json", dict(GRID, name="seen"))
    runs.atomic_write_json(folder / "state.json", {"state": "cancelled", "n_runs": 2, "runs": [
        {"name": "tiny", "label": "a", "status": "done", "epoch": 1, "epochs": 1},
        {"name": "small4", "label": "b", "status": "cancelled", "epoch": 0, "epochs": 1}]})
    runs.atomic_write_json(folder / "results.json", {"experiment": "seen", "rows": [
        {"run": "tiny", "label": "a", "ks_statistic": 0.1}, {"run": "small4", "label": "b", "ks_statistic": 0.2}]})
    try:
        at = app_test("pages/1_Train.py").run()
        assert not at.exception, at.exception
        assert any("seen" in m.value and "1 of 2 runs done" in m.value for m in at.markdown)
        at.button(key="xresume_seen").click().run()
        assert env == [dict(GRID, name="seen")] and any("Resumed" in s.value for s in at.success)

        at = app_test("pages/7_Compare.py", timeout=120).run()
        assert not at.exception, at.exception
        table = at.dataframe[0].value
        assert table["run"].tolist() == ["tiny", "small4"]
        at.button(key="compare_open_exp").click().run()
        assert not at.exception and at.multiselect(key="compare_runs").value == ["tiny", "small4"]
        assert any("only the dimension-free figures" in w.value for w in at.warning)
    finally:
        import shutil

        shutil.rmtree(folder.parent)
