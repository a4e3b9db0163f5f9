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

This module checks, plans and launches grids and reads their folders (the
Train page imports it: no SciPy, scikit-learn or matplotlib);
:mod:`core.experiment_runner` trains and scores them.
"""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from core.data.sources import open_config_source
from core.model.config import TrainConfig
from core.model.training import check_resources
from core.runs import runs
from core.sampling.registry import SAMPLER_NAMES
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
    if not isinstance(samplers, list) or not samplers or any(s not in SAMPLER_NAMES for s in samplers):
        raise ValueError(f"grid samplers must be a non-empty list of {', '.join(SAMPLER_NAMES)}; got {samplers!r:.80}")
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


def check_existing(p):
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
        p["start"] = check_existing(p)
    return planned


def launch(grid, root=None):
    """Start ``python -m core experiment`` (:func:`core.experiment_runner.run_experiment`) in the background.

    The process is detached: it survives the browser.

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


__all__ = ["check_existing", "experiment_dir", "launch", "list_experiments", "parse_grid", "plan", "prepare",
           "read_grid", "read_results", "request_cancel"]
