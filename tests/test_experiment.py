"""Experiment grids (issue 10): checked before anything trains; a real SIGKILL mid-way resumes to a complete table."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from core import cli, experiment, experiment_runner, reports
from core.runs import runs

TINY_BASE = {"dataset": "synthfaces", "limit": 200, "epochs": 2, "batch_size": 32,
             "model": {"image_size": 16, "channels": 3, "z_dim": 8, "encoder_filters": [4, 4, 8, 8],
                       "decoder_filters": [8, 8, 4, 4]}}


def _grid(tmp_path, **kw):
    grid = {"name": "g", "base": TINY_BASE, "grid": {"model.z_dim": [8, 4]}, "score_n": 200, **kw}
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(grid))
    return path


@pytest.mark.parametrize("change,message", [
    ({"grid": {"model.z_dim": [8, 0]}}, "config 1 (model.z_dim=0): z_dim must be >= 2, got 0"),
    ({"grid": {"model.z_dim": [8], "learning_rate": [0.001, -1]}}, "config 1 (model.z_dim=8, learning_rate=-1)"),
    ({"grid": {"model.bogus": [1]}}, "config 0 (model.bogus=1): unknown"),
    ({"configs": [{"dataset": "/no/such/folder"}]}, "g-02 (dataset=/no/such/folder): data source"),
    ({"name": "../up"}, "grid name '../up' is not allowed"),
    ({"samplers": ["mvn", "nope"]}, "grid samplers must be"),
    ({"grid": {"model.z_dim": [8, 8]}}, "config 1 (model.z_dim=8) is the same config as config 0"),
    ({"extra": 1}, "unknown grid fields ['extra']"),
])
def test_invalid_config_is_named_before_anything_trains(tmp_path, capsys, change, message):
    root = tmp_path / "root"
    root.mkdir()
    assert cli.main(["experiment", str(_grid(tmp_path, **change)), "--root", str(root)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert list(root.iterdir()) == []


def test_killed_grid_resumes_to_a_complete_table(tmp_path, monkeypatch):
    root = tmp_path / "root"
    grid = _grid(tmp_path)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, "-m", "core", "experiment", str(grid), "--root", str(root)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    second = root / "g-01" / "progress.json"
    deadline = time.time() + 400
    try:
        while not second.exists():  # the second run has started its first epoch
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "the second run never started"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    folder = root / ".experiments" / "g"
    assert len(experiment.read_results(folder)) == 1
    assert runs.run_status(root / "g-01").status != "complete"
    first_meta = (root / "g-00" / "metadata.json").stat().st_mtime_ns

    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(root))
    assert cli.main(["experiment", str(grid), "--root", str(root), "--quiet"]) == 0
    assert (root / "g-00" / "metadata.json").stat().st_mtime_ns == first_meta  # not retrained
    state = json.loads((folder / "state.json").read_text())
    assert state["state"] == "done" and [r["status"] for r in state["runs"]] == ["done", "done"]
    table = pd.read_csv(folder / "results.csv")
    assert table["run"].tolist() == ["g-00", "g-01"] and table["z_dim"].tolist() == [8, 4]
    assert pd.DataFrame(json.loads((folder / "results.json").read_text())["rows"])["run"].tolist() == ["g-00", "g-01"]
    for row in table.to_dict(orient="records"):
        run = runs.load_run(row["run"])
        assert row["epochs"] == 2 and row["val_loss"] == pytest.approx(run.history["val_loss"][-1])
        single = reports.compute_stats(run.latents)["mnd"]  # what `python -m core stats` prints
        assert row["ks_statistic"] == pytest.approx(single["ks_statistic"])
        assert row["inside_2sigma"] == pytest.approx(single["fractions"].set_index("k").loc[2.0, "measured"])
        for col in ("components_90", "best_precision", "best_recall_sampler", "best_latent_frechet_sq"):
            assert pd.notna(row[col]), col


def test_cancel_stops_after_the_current_epoch(tmp_path, monkeypatch):
    root = tmp_path / "root"
    grid = json.loads(_grid(tmp_path).read_text())
    calls = []

    def progress(msg):
        calls.append(msg)
        if msg.startswith("[1/2] training"):
            experiment.request_cancel(experiment.experiment_dir("g", root))

    folder, rows = experiment_runner.run_experiment(grid, root, progress=progress)
    assert rows == [] and json.loads((folder / "state.json").read_text())["state"] == "cancelled"
    progress_json = json.loads((root / "g-00" / "progress.json").read_text())
    assert progress_json["state"] == "cancelled" and progress_json["epoch"] == 1


def test_launch_checks_sources_before_starting_anything(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    grid = dict(json.loads(_grid(tmp_path).read_text()), configs=[{"dataset": "/no/such/folder"}])
    with pytest.raises(ValueError, match=r"g-02 \(dataset=/no/such/folder\): data source"):
        experiment.launch(grid, root)
    assert list(root.iterdir()) == []
