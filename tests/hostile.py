"""Helpers of the hostile-file tests (issue 17): bounded child processes,
hand-made run folders (no TensorFlow), FIFOs.

Everything that could hang or eat memory runs in a child process with a
wall-clock timeout and an address-space limit, so a regression fails the
test instead of freezing or swapping the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
Z_DIM = 8


def child_env(artifacts=None, **extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO))
    if artifacts is not None:
        env["LATENT_LAB_ARTIFACTS"] = str(artifacts)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _limit_memory(mem_mb):
    def apply():
        import resource

        limit = mem_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def run_bounded(args, timeout=60, mem_mb=None, env=None, cwd=REPO, what="child"):
    """Run ``args`` (a list, or Python source for ``python -c``) with a timeout.

    Returns the CompletedProcess; a child still running after ``timeout``
    seconds is killed and the test fails (it would have hung).
    """
    if isinstance(args, str):
        args = [sys.executable, "-c", textwrap.dedent(args)]
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env or child_env(),
                              cwd=str(cwd), preexec_fn=_limit_memory(mem_mb) if mem_mb else None)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish within {timeout} s (it hangs)")


def fake_keras(path):
    """A structurally valid .keras archive (zip, config.json, weights) without TensorFlow."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Functional", "config": {}}))
        zf.writestr("model.weights.h5", b"\0" * 16)
        zf.writestr("metadata.json", "{}")


def fake_run(root, name, n=20):
    """A run folder that lists as complete (models are hand-made archives)."""
    from core.runs import runs

    path = Path(root) / name
    path.mkdir(parents=True)
    runs.atomic_write_json(path / "config.json", {"dataset": "synthfaces",
                                                  "model": {"image_size": 16, "channels": 3, "z_dim": Z_DIM}})
    runs.atomic_write_json(path / "history.json", {"loss": [0.1]})
    for f in ("encoder.keras", "decoder.keras"):
        fake_keras(path / f)
    runs.atomic_save_npy(path / "latents.npy", np.random.default_rng(0).normal(size=(n, Z_DIM)).astype(np.float32))
    runs.atomic_save_npy(path / "index.npy", np.arange(n, dtype=np.int64))
    runs.atomic_write_json(path / "metadata.json", {"z_dim": Z_DIM, "n_images": n})
    assert runs.run_status(path).status == "complete"
    return path


def make_fifo(path):
    path = Path(path)
    if path.exists() or path.is_symlink():
        path.unlink()
    os.mkfifo(path)
    return path


def deep_json(depth=100_000):
    return "[" * depth + "]" * depth


LIST_RUNS = """
    import json
    from core.runs import runs
    print(json.dumps([[i.name, i.status, i.reason] for i in runs.list_runs()]))
"""


def list_runs_bounded(artifacts, timeout=30):
    """``runs.list_runs()`` in a child: {name: (status, reason)}."""
    res = run_bounded(LIST_RUNS, timeout=timeout, mem_mb=2048, env=child_env(artifacts), what="list_runs")
    assert res.returncode == 0, res.stderr[-3000:]
    return {name: (status, reason) for name, status, reason in json.loads(res.stdout.strip().splitlines()[-1])}
