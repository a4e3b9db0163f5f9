"""Running an experiment grid (issue 10): train each run in turn, then score it into the results table.

The grid itself (parsing, checking, planning, folders, launching in the
background) is :mod:`core.experiment`, which the Train page imports without
SciPy, scikit-learn or matplotlib; scoring a finished run needs them.
``python -m core experiment GRID`` (what :func:`core.experiment.launch`
starts) runs :func:`run_experiment`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.compare_runs import run_summary
from core.experiment import CANCEL_FILE, DEFAULT_SAMPLERS, check_existing, experiment_dir, prepare, read_results
from core.model.training import request_cancel as cancel_run
from core.model.training import train_run
from core.reports import sampler_params
from core.runs import runs
from core.sampling.scoreboard import compare_samplers


def result_row(run, samplers=DEFAULT_SAMPLERS, score_n=2000, seed=0):
    """One results row: reconstruction loss, MND statistics, explained variance, best sampler scores.

    Every number comes from the single-run code: :func:`core.compare_runs.run_summary`
    and :func:`core.sampling.scoreboard.compare_samplers` (fitted on the first 90 % of
    the latents, scored against the last 10 %).
    """
    s = run_summary(run)
    free = s["dimension_free"]
    hist = run.history
    row = {"run": run.name, "dataset": run.config.get("dataset"), "z_dim": run.z_dim,
           "batch_norm": run.config["model"].get("batch_norm"), "activation": run.config["model"].get("activation"),
           "epochs": len(hist.get("loss", [])), "n": s["n"],
           "loss": (hist.get("loss") or [None])[-1], "val_loss": (hist.get("val_loss") or [None])[-1]}
    for k in ("ks_statistic", "d2_var_ratio", "inside_1sigma", "inside_2sigma", "theory_2sigma", "inside_3sigma",
              "components_90", "components_90_share", "radius_over_sqrt_d_mean"):
        row[k] = free.get(k)
    evr = s["evr"]
    row["explained_variance_top10"] = float(np.sum(evr[:10]))
    if run.latents.shape[0] >= 20:
        specs = {name: {"sampler": name, **sampler_params(name, {}, run.z_dim)} for name in samplers}
        table = compare_samplers(run.latents, specs, n_samples=score_n, random_state=seed).loc[list(samplers)]
        for metric, best in (("precision", "max"), ("recall", "max"), ("latent_frechet_sq", "min")):
            col = table[metric].astype(float)
            who = col.idxmax() if best == "max" else col.idxmin()
            row[f"best_{metric}"] = float(col[who])
            row[f"best_{metric}_sampler"] = who
    return row


class _State:
    def __init__(self, folder, planned):
        self.folder = folder
        self.data = {"state": "starting", "n_runs": len(planned), "current": None, "pid": os.getpid(),
                     "runs": [{"name": p["name"], "label": p["label"], "status": "pending", "epoch": 0,
                               "epochs": p["config"].epochs} for p in planned]}

    def save(self, **kw):
        self.data.update(kw, updated=time.time())
        runs.atomic_write_json(self.folder / "state.json", self.data)


def _write_results(folder, rows, name):
    df = pd.DataFrame(rows)
    runs.atomic_write_bytes(folder / "results.csv", df.to_csv(index=False).encode())
    runs.atomic_write_json(folder / "results.json", {"experiment": name, "rows": rows})


def run_experiment(grid, root=None, progress=None):
    """Train every run of a grid in turn and write the results table; resumable.

    Parameters
    ----------
    grid : dict
        See the module docstring; checked completely by :func:`plan` first.
    root : path or None
        Where the runs go (default: the artifacts root).
    progress : callable(str) or None
        One line per event.

    Returns
    -------
    (folder, rows) : Path of ``ROOT/.experiments/NAME`` and the results rows.
    """
    root = Path(root).resolve() if root is not None else runs.artifacts_root()
    planned = prepare(grid, root)
    folder = experiment_dir(grid["name"], root)
    folder.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: None)
    samplers = tuple(grid.get("samplers", DEFAULT_SAMPLERS))
    score_n = int(grid.get("score_n", 2000))
    with runs.RunLock(folder):
        runs.atomic_write_json(folder / "grid.json", grid)
        (folder / CANCEL_FILE).unlink(missing_ok=True)
        state = _State(folder, planned)
        old = {}
        try:
            old = {r["run"]: r for r in read_results(folder).to_dict(orient="records")}
        except ValueError:
            pass
        rows = []
        state.save(state="running")
        for k, p in enumerate(planned):
            entry = state.data["runs"][k]
            if (folder / CANCEL_FILE).exists():
                state.save(state="cancelled", current=k)
                say("cancelled")
                return folder, rows
            if check_existing(p) != "done":
                entry["status"] = "training"
                state.save(current=k)
                say(f"[{k + 1}/{len(planned)}] training {p['name']} ({p['label']})")
                last = {"epoch": -1}

                def on_progress(info, entry=entry, path=p["path"]):
                    if (folder / CANCEL_FILE).exists() and not (path / "cancel").exists():
                        cancel_run(path)
                    if info.get("epoch") != last["epoch"]:
                        last["epoch"] = info.get("epoch")
                        entry["epoch"] = info.get("epoch")
                        state.save()

                resume = (p["path"] / "config.json").exists() or (p["path"] / "requested_config.json").exists()
                try:
                    train_run(None if resume else p["config"], p["path"], resume=resume, on_progress=on_progress)
                except BaseException as exc:
                    entry["status"] = "failed"
                    state.save(state="failed", error=f"{p['name']}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
                    raise
                if runs.run_status(p["path"]).status != "complete":  # cancelled inside the run
                    entry["status"] = "cancelled"
                    state.save(state="cancelled", current=k)
                    say("cancelled")
                    return folder, rows
            entry["status"] = "scoring"
            state.save(current=k)
            run = runs.Run(p["path"])
            row = old.get(p["name"]) if p["start"] == "done" and p["name"] in old else None
            if row is None:
                row = result_row(run, samplers, score_n)
            row = dict({"run": p["name"], "label": p["label"]}, **{k2: v for k2, v in row.items() if k2 != "label"},
                       **{f"set.{f}": v for f, v in p["overrides"].items() if f"set.{f}" not in row})
            rows.append(row)
            _write_results(folder, rows, grid["name"])
            entry["status"] = "done"
            entry["epoch"] = entry["epochs"]
            state.save()
            say(f"[{k + 1}/{len(planned)}] {p['name']} done: val_loss {row.get('val_loss')}, "
                f"KS {row.get('ks_statistic')}")
        state.save(state="done", current=None)
    return folder, rows


__all__ = ["result_row", "run_experiment"]
