"""Experiment grids (issue 10): train a grid of configs one after another, then tabulate them.

A grid file (JSON)::

    {
      "name": "bn-zdim",                                  # runs are named bn-zdim-00, bn-zdim-01, ...
      "base": {"dataset": "synthfaces", "limit": 30000, "epochs": 30,
               "model": {"image_size": 64, "z_dim": 256}},  # any TrainConfig fields
      "grid": {"model.batch_norm": [false, true],           # cartesian product of these
               "model.z_dim": [64, 256, 512]},
      "configs": [{"dataset": "digits"}],                  # optional: extra single overrides
      "samplers": ["mvn", "pca-ellipse"],                  # scored for the "best sampler" columns
      "score_n": 2000
    }

The runs go into the artifacts root (or ``root``), so the run picker and the
Compare page see them; the experiment's own files go to
``ROOT/.experiments/NAME/``: ``grid.json``, ``state.json`` (progress),
``results.csv`` and ``results.json`` (one row per finished run, rewritten
after each), ``experiment.log`` (background runs), ``cancel``.  Every config
is checked before anything trains.  Running the same grid again resumes: finished
runs are kept, a run killed mid-way continues from its last checkpoint.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from core.compare_runs import run_summary
from core.data.sources import open_config_source
from core.model.config import TrainConfig
from core.model.training import check_resources, train_run
from core.model.training import request_cancel as cancel_run
from core.reports import sampler_params
from core.runs import runs
from core.sampling.samplers import SAMPLERS
from core.sampling.scoreboard import compare_samplers
from core.validation import check_int

EXPERIMENTS_DIR = ".experiments"
GRID_KEYS = ("name", "description", "base", "grid", "configs", "samplers", "score_n")
MAX_RUNS = 64
DEFAULT_SAMPLERS = ("mvn", "pca-ellipse")
CANCEL_FILE = "cancel"


def _set_path(d, dotted, value, where):
    keys = dotted.split(".")
    if any(not k for k in keys):
        raise ValueError(f"{where}: bad field name {dotted!r}")
    for k in keys[:-1]:
        sub = d.setdefault(k, {})
        if not isinstance(sub, dict):
            raise ValueError(f"{where}: {k} is not an object, cannot set {dotted!r}")
        d = sub
    d[keys[-1]] = value


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _label(overrides):
    return ", ".join(f"{k}={v}" for k, v in overrides.items()) or "base"


def plan(grid):
    """Check a grid and list its runs; nothing is written.

    Parameters
    ----------
    grid : dict
        The grid file's object (see the module docstring).

    Returns
    -------
    list of dict
        ``name`` (run name), ``label``, ``overrides`` (dotted field -> value),
        ``config`` (a validated :class:`core.model.config.TrainConfig`).

    Raises
    ------
    ValueError
        One line naming the bad config (its number and overrides) and the
        bad field or value, before anything trains.
    """
    if not isinstance(grid, dict):
        raise ValueError(f"a grid must be a JSON object, got {type(grid).__name__}")
    unknown = sorted(set(grid) - set(GRID_KEYS))
    if unknown:
        raise ValueError(f"unknown grid fields {unknown}; allowed: {', '.join(GRID_KEYS)}")
    name = grid.get("name")
    try:
        runs.check_run_name(name)
    except ValueError:
        raise ValueError(f"grid name {name!r} is not allowed: use 1-60 letters, digits, '_', '.', '-'") from None
    if len(name) > 60:
        raise ValueError(f"grid name {name!r} is longer than 60 characters")
    base = grid.get("base", {})
    if not isinstance(base, dict):
        raise ValueError(f"grid base must be an object of TrainConfig fields, got {base!r:.60}")
    axes = grid.get("grid", {})
    if not isinstance(axes, dict) or any(not isinstance(v, list) or not v for v in axes.values()):
        raise ValueError("grid 'grid' must map field names to non-empty lists of values")
    extra = grid.get("configs", [])
    if not isinstance(extra, list) or any(not isinstance(c, dict) for c in extra):
        raise ValueError("grid 'configs' must be a list of objects (field -> value)")
    overrides = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())] if axes else []
    overrides += [_flat(c) for c in extra]
    if not overrides:
        overrides = [{}]
    if len(overrides) > MAX_RUNS:
        raise ValueError(f"the grid has {len(overrides)} configs; at most {MAX_RUNS}")
    samplers = grid.get("samplers", list(DEFAULT_SAMPLERS))
    if not isinstance(samplers, list) or not samplers or any(s not in SAMPLERS for s in samplers):
        raise ValueError(f"grid samplers must be a non-empty list of {', '.join(SAMPLERS)}; got {samplers!r:.80}")
    check_int(grid.get("score_n", 2000), "grid score_n", low=10, high=100_000)
    out, seen = [], {}
    for k, ov in enumerate(overrides):
        where = f"config {k} ({_label(ov)})"
        d = copy.deepcopy(base)
        for field, value in ov.items():
            _set_path(d, field, value, where)
        try:
            config = TrainConfig.from_dict(d)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {str(exc).splitlines()[0]}") from None
        key = config.to_json()
        if key in seen:
            raise ValueError(f"{where} is the same config as config {seen[key]}")
        seen[key] = k
        out.append({"name": f"{name}-{k:02d}", "label": _label(ov), "overrides": ov, "config": config})
    return out


def parse_grid(text):
    """A grid from JSON text (the Train page's form); ValueError with the parser's message."""
    try:
        return json.loads(text, parse_float=runs._finite_float, parse_constant=runs._no_constant)
    except RecursionError:
        raise ValueError("the grid is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"the grid is not valid JSON: {str(exc).splitlines()[0]}") from None


def read_grid(path):
    """The grid file's object (bounded JSON read; ValueError naming the file)."""
    try:
        return runs.read_json(path)
    except FileNotFoundError:
        raise ValueError(f"grid file {path} does not exist") from None
    except OSError as exc:
        raise ValueError(f"cannot read grid file {path}: {exc.strerror or exc}") from None


def experiment_dir(name, root=None):
    """``ROOT/.experiments/NAME`` (hidden from the run list)."""
    root = Path(root).resolve() if root is not None else runs.artifacts_root()
    runs.check_run_name(name)
    return root / EXPERIMENTS_DIR / name


def list_experiments(root=None):
    """Experiments under the root: dicts with ``name``, ``path``, ``state`` (state.json) and ``n_rows``."""
    root = Path(root).resolve() if root is not None else runs.artifacts_root()
    folder = root / EXPERIMENTS_DIR
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        if not p.is_dir() or p.name.startswith("."):
            continue
        try:
            state = runs.read_json(p / "state.json")
        except FileNotFoundError:
            state = {"state": "starting"}  # launched; the process has not written its state yet
        except (ValueError, OSError):
            state = {"state": "unreadable"}
        out.append({"name": p.name, "path": p, "state": state if isinstance(state, dict) else {}})
    return out


def read_results(path):
    """The results table of an experiment folder (DataFrame; empty when none yet)."""
    f = Path(path) / "results.json"
    if not f.exists():
        return pd.DataFrame()
    data = runs.read_json(f)
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ValueError(f"{f} is not an experiment results file")
    return pd.DataFrame(data["rows"])


def request_cancel(path):
    """Ask a running experiment to stop after the current epoch of its current run."""
    runs.atomic_write_bytes(Path(path) / CANCEL_FILE, b"cancel")


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


def _check_existing(p):
    """Finished / resumable / fresh for a planned run; ValueError if its folder holds another config."""
    path = p["path"]
    if not path.exists():
        return "fresh"
    for f in ("config.json", "requested_config.json"):
        if (path / f).exists():
            stored = runs.read_json(path / f)
            if stored != json.loads(p["config"].to_json()):
                raise ValueError(f"run folder {path} exists with another config than {p['name']} "
                                 f"({p['label']}); remove it or rename the grid")
            break
    else:
        return "fresh"
    if runs.run_status(path).status == "complete":
        return "done"
    return "resume"


def prepare(grid, root):
    """:func:`plan` plus what needs the disk: run folders, data sources, disk and memory, existing folders.

    Each planned run gets ``path`` and ``start`` ("fresh", "resume" or "done").
    """
    planned = plan(grid)
    for p in planned:
        p["path"] = runs.run_dir(p["name"], root)
    sources = {}
    for p in planned:  # data sources and existing folders checked before anything trains
        c = p["config"]
        key = (c.dataset, c.limit, c.model.image_size, c.model.channels, c.crop, c.data_seed)
        try:
            if key not in sources:
                sources[key] = open_config_source(c)
            check_resources(sources[key], c, p["path"])
        except ValueError as exc:
            raise ValueError(f"{p['name']} ({p['label']}): {str(exc).splitlines()[0]}") from None
        p["start"] = _check_existing(p)
    return planned


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
            if _check_existing(p) != "done":
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


def launch(grid, root=None):
    """Start :func:`run_experiment` in a detached background process (survives the browser).

    The grid is checked here first (ValueError naming the bad config); its
    file goes to ``ROOT/.experiments/NAME/grid.json``, the log to
    ``experiment.log``.  Returns the ``subprocess.Popen``.
    """
    root = Path(root).resolve() if root is not None else runs.artifacts_root()
    prepare(grid, root)
    folder = experiment_dir(grid["name"], root)
    if runs.is_locked(folder):
        raise ValueError(f"experiment {grid['name']} is already running")
    folder.mkdir(parents=True, exist_ok=True)
    runs.atomic_write_json(folder / "grid.json", grid)
    (folder / CANCEL_FILE).unlink(missing_ok=True)
    log = open(folder / "experiment.log", "ab")
    cmd = [sys.executable, "-m", "core", "experiment", str(folder / "grid.json"), "--root", str(root)]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=str(runs.REPO_ROOT))


__all__ = ["launch", "list_experiments", "parse_grid", "plan", "prepare", "read_grid", "read_results", "request_cancel",
           "result_row", "run_experiment", "experiment_dir"]
