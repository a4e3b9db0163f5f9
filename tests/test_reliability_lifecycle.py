"""Issue 17 item 6: no dead ends in the training lifecycle.

One tiny run (16 px, z_dim 8, 300 images) goes through, with real processes:

1. a real SIGKILL in the first epoch, before any checkpoint;
2. ``train --resume`` restarts it from epoch 0 in place; while that trainer
   is in its first epoch, another ``train --resume`` is told "in use";
3. while a resumed trainer runs, a concurrent ``encode`` is refused (every
   writer takes the run lock) and the latents stay untouched;
4. a process killed between writing latents and metadata never leaves a
   run listed complete whose files disagree.

Every wait is bounded (``_wait_for`` fails after a timeout).  The trainers
are gated (``tests/gated.py``): each holds still at the start of its first
epoch, lock taken, until the test has checked what must hold while it runs,
so a trainer that finishes early on a fast or a busy machine cannot race the
checks, and the SIGKILL lands before any checkpoint without waiting for one.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from core.cli import main
from core.model.training import read_progress
from core.runs import runs
from tests.gated import gated_cli, open_gate
from tests.hostile import child_env

TINY = ["--dataset", "synthfaces", "--size", "16", "--z-dim", "8", "--encoder-filters", "4,4,8,8",
        "--decoder-filters", "8,8,4,4", "--batch-size", "8", "--limit", "300"]


def _start(args, artifacts, gate):
    """``python -m core train --quiet ARGS``, held at the start of training until ``gate`` exists."""
    return subprocess.Popen(gated_cli(["train", "--quiet", *args], gate), env=child_env(artifacts),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(cond, proc, timeout=240, what="condition"):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        if proc.poll() is not None:
            pytest.fail(f"process ended (rc {proc.returncode}) before {what}: {proc.stdout.read()[-2000:]}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def _finish(proc, timeout=300):
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("trainer did not finish in time")
    assert rc == 0, proc.stdout.read()[-2000:]


def _in_first_epoch(out):
    return read_progress(out).get("state") == "running" and runs.is_locked(out)


KILL_AT_METADATA = textwrap.dedent("""
    import os, signal, sys
    from core.model import encoding
    from core.runs import runs
    real = runs.atomic_write_json
    def dying(path, obj):
        if os.path.basename(str(path)) == "metadata.json":
            os.kill(os.getpid(), signal.SIGKILL)  # between the latents and metadata.json
        return real(path, obj)
    runs.atomic_write_json = dying
    encoding.encode_run(runs.run_dir(sys.argv[1]), limit=100)
""")


def test_first_epoch_kill_restart_in_place_and_every_writer_takes_the_lock(artifacts, capsys):
    out = artifacts / "first"
    # 1. SIGKILL in the first epoch, before any checkpoint.
    t1 = _start(TINY + ["--epochs", "1", "--out", "first"], artifacts, artifacts / "gate1")  # never opened
    _wait_for(lambda: _in_first_epoch(out), t1, what="the first epoch")
    os.kill(t1.pid, signal.SIGKILL)
    t1.wait(timeout=30)
    assert not (out / "checkpoints" / "state.json").exists(), "the kill landed after the first checkpoint"
    info = runs.run_status(out)
    assert info.status == "incomplete", info
    # A fresh start is still refused (it would overwrite a folder) ...
    assert main(["train", *TINY, "--epochs", "1", "--quiet", "--out", "first"]) == 2
    assert "already exists" in capsys.readouterr().err

    # 2. ... but --resume restarts it in place from epoch 0.
    t2 = _start(["--resume", "--out", "first"], artifacts, artifacts / "gate2")
    _wait_for(lambda: _in_first_epoch(out), t2, what="the restarted trainer's first epoch")
    assert main(["train", "--resume", "--quiet", "--out", "first"]) == 2  # while t2 is in its first epoch
    err = capsys.readouterr().err
    assert err == "error: run folder first is in use by another training process\n", err
    assert t2.poll() is None
    open_gate(artifacts / "gate2")
    _finish(t2)
    assert runs.run_status(out).status == "complete"
    meta = runs.read_json(out / "metadata.json")
    assert meta["epochs_trained"] == 1 and meta["n_images"] == 300
    before = np.load(out / "latents.npy").copy()

    # 3. A concurrent encode while a resumed trainer holds the folder is refused.
    t3 = _start(["--resume", "--epochs", "2", "--out", "first"], artifacts, artifacts / "gate3")
    _wait_for(lambda: _in_first_epoch(out), t3, what="the resumed trainer")
    assert main(["encode", "--run", "first"]) == 2
    err = capsys.readouterr().err
    assert err == "error: run folder first is in use by another training process\n", err
    assert t3.poll() is None, "the trainer must still be running during the encode attempt"
    assert runs.run_status(out).status != "complete"  # retraining: not listed complete meanwhile
    open_gate(artifacts / "gate3")
    _finish(t3)
    assert runs.run_status(out).status == "complete"
    meta = runs.read_json(out / "metadata.json")
    assert meta["epochs_trained"] == 2 and len(runs.read_json(out / "history.json")["loss"]) == 2
    after = np.load(out / "latents.npy")
    assert after.shape == before.shape and not np.array_equal(after, before)  # the trainer's own encoding

    # 4. Killed between writing latents (100 rows) and metadata (n_images): never "complete".
    child = subprocess.run([sys.executable, "-c", KILL_AT_METADATA, "first"], env=child_env(artifacts),
                           capture_output=True, text=True, timeout=240)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert np.load(out / "latents.npy").shape == (100, 8)  # the new latents were written
    info = runs.run_status(out)
    assert info.status != "complete", info
    # python -m core encode (its main, in this process) repairs it: files and metadata agree again.
    assert main(["encode", "--run", "first"]) == 0, capsys.readouterr().err
    assert runs.run_status(out).status == "complete"
    assert runs.read_json(out / "metadata.json")["n_images"] == 300 == np.load(out / "latents.npy").shape[0]


def test_train_page_offers_restart_for_a_run_without_checkpoint(tmp_path, monkeypatch):
    import streamlit as st

    from core.model import training
    from tests.dashboard_fixtures import DASHBOARD, app_test

    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(tmp_path))
    monkeypatch.syspath_prepend(str(DASHBOARD))
    st.cache_data.clear()
    calls = []
    monkeypatch.setattr(training, "launch", lambda config, out, resume=False: calls.append((config, out, resume)))
    path = tmp_path / "early"
    path.mkdir()
    runs.atomic_write_json(path / "config.json", {"dataset": "synthfaces", "epochs": 3})
    runs.atomic_write_json(path / "progress.json", {"state": "cancelled", "epoch": 0, "epochs": 3, "history": {}})
    at = app_test("pages/1_Train.py").run()
    at.toggle[0].set_value(False)
    at.run()
    assert not at.exception, at.exception
    button = next(b for b in at.button if b.key == "resume_early")
    assert button.label == "Restart from epoch 0"
    button.click()
    at.run()
    assert not at.exception and len(calls) == 1
    config, out, resume = calls[0]
    assert out == path and resume is True and config.epochs == 3
