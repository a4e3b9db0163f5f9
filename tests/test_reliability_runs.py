"""Issue 7: interruptions (item 3) and concurrency (item 5) with real processes.

* SIGKILL of ``python -m core train`` mid-training: the last checkpoint is
  usable and ``--resume`` finishes the run with a continuous history.
* SIGKILL at random moments while a run folder's latents are rewritten:
  the folder never lists as complete with files from different writes.
* Two trainers on one run folder: while the resuming trainer runs, a fresh
  trainer gets the lock error (exit 2, one line); the first finishes complete.
* Threads sharing one CompiledModel and fitted samplers give exactly the
  single-threaded results.
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from core.cli import main
from core.model.training import read_progress
from core.runs import runs
from tests.gated import gated_cli, open_gate

TRAIN = [sys.executable, "-m", "core", "train", "--dataset", "synthfaces", "--size", "16", "--z-dim", "8",
         "--encoder-filters", "4,4,8,8", "--decoder-filters", "8,8,4,4", "--batch-size", "16", "--quiet"]


def _env(artifacts):
    return dict(os.environ, LATENT_LAB_ARTIFACTS=str(artifacts), TF_CPP_MIN_LOG_LEVEL="2")


def _wait_for(cond, proc, timeout=180, what="condition"):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"process ended (rc {proc.returncode}) before {what}: {out[-2000:]}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def _epochs_done(out):
    try:
        return runs.read_json(out / "checkpoints" / "state.json")["epoch"]
    except (ValueError, FileNotFoundError, KeyError):
        return 0


def _temp_files(out):
    return [p.name for d in (out, out / "checkpoints") if d.is_dir() for p in d.iterdir()
            if p.name.startswith(".") and p.suffix in (".tmp", ".keras")]


def test_sigkill_mid_training_then_resume_while_a_second_trainer_is_refused(artifacts, capsys):
    """Item 3 (kill + resume) and item 5 (two trainers, one folder) in one
    pair of TensorFlow processes, to keep the file fast."""
    out = artifacts / "killed"
    proc = subprocess.Popen(TRAIN + ["--limit", "300", "--epochs", "4", "--out", "killed"], env=_env(artifacts),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for(lambda: _epochs_done(out) >= 1, proc, what="the first checkpoint")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    state = runs.read_json(out / "checkpoints" / "state.json")
    k = state["epoch"]
    assert 1 <= k < 4 and len(state["history"]["loss"]) == k
    # The checkpoint named by state.json exists and is a whole archive.
    from core.model import checkpoints
    assert len(checkpoints.checkpoint_values(out / "checkpoints" / state["model"])) > 0
    info = runs.run_status(out)
    assert info.status == "incomplete", info  # not "training": the dead process holds no lock
    assert not runs.is_locked(out)
    assert read_progress(out)["state"] in ("running", "starting")

    # The resuming trainer holds still at the start of its first epoch, lock
    # taken, until the second trainer has been refused (tests/gated.py): on a
    # busy machine it could otherwise finish first.
    gate = artifacts / "gate"
    first = subprocess.Popen(gated_cli(["train", "--resume", "--quiet", "--out", "killed"], gate),
                             env=_env(artifacts), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for(lambda: runs.is_locked(out) and read_progress(out).get("pid") == first.pid, first,
              what="the resuming trainer's first epoch")
    # A second, fresh trainer on the same folder while the first runs: exit 2
    # with one line, and it touches nothing (the lock is taken before the
    # folder is even looked at).
    # (``python -m core``'s main in this process: a second TensorFlow start
    # would only make the test slower; the lock is the other process's.)
    assert main(TRAIN[3:] + ["--limit", "100", "--epochs", "1", "--out", "killed"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: run folder killed is in use by another training process"], err
    assert first.poll() is None, "the first trainer must still be running"
    open_gate(gate)
    assert first.wait(timeout=240) == 0, first.stdout.read()[-2000:]

    assert runs.run_status(out).status == "complete"
    cfg = runs.read_json(out / "config.json")
    assert cfg["limit"] == 300 and cfg["epochs"] == 4  # the refused trainers left no trace
    hist = runs.read_json(out / "history.json")
    assert len(hist["loss"]) == 4
    assert hist["loss"][:k] == state["history"]["loss"][:k]  # continued, not restarted
    assert runs.read_json(out / "metadata.json")["epochs_trained"] == 4
    assert _temp_files(out) == []
    assert sorted(p.name for p in (out / "checkpoints").glob("epoch-*")) == ["epoch-0004.npz"]
    run = runs.load_run("killed")
    assert run.latents.shape == (300, 8) and np.all(np.isfinite(run.latents))


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from pathlib import Path
    from core.model.encoding import write_latents
    path, g = Path(sys.argv[1]), 0
    print("ready", flush=True)
    while True:  # rewrite the run's latents forever, one generation after another
        g = g % 5 + 1
        write_latents(path, np.full((20000, 8), g, np.float32), np.arange(20000) + 100000 * g)
""")


def test_sigkill_while_writing_run_files_never_leaves_a_complete_mix(artifacts, tiny_models):
    from core.model.encoding import write_latents

    path = _fake_run(artifacts, "r", tiny_models)
    rng = random.Random(0)
    outcomes = []
    for attempt in range(6):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], env=_env(artifacts),
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        info = runs.run_status(path)
        outcomes.append(info.status)
        if info.status == "complete":
            run = runs.load_run("r")
            g = float(run.latents[0, 0])
            assert np.all(np.asarray(run.latents) == g), "latents from two generations"
            assert np.array_equal(run.index, np.arange(20000) + 100000 * int(g)), \
                f"complete run mixes latents of generation {g} with another index.npy"
        else:
            assert info.status == "incomplete" and "metadata.json" in info.reason, info
            assert (path / "metadata.json.saved").exists()
            write_latents(path, np.full((20000, 8), 1, np.float32), np.arange(20000) + 100000)
            assert runs.run_status(path).status == "complete"
    # The kills really landed inside writes (otherwise the test proves nothing).
    assert "incomplete" in outcomes, outcomes


# ---------------------------------------------------------------- concurrency

@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from core.model.config import ModelConfig
    from core.model.network import build_cae

    folder = tmp_path_factory.mktemp("models")
    enc, dec, _ = build_cae(ModelConfig(image_size=16, channels=3, z_dim=8, encoder_filters=(4, 4, 8, 8),
                                        decoder_filters=(8, 8, 4, 4)))
    runs.atomic_save_model(folder / "encoder.keras", enc)
    runs.atomic_save_model(folder / "decoder.keras", dec)
    return folder


def _fake_run(root, name, models):
    import shutil

    path = root / name
    path.mkdir()
    runs.atomic_write_json(path / "config.json", {"dataset": "synthfaces",
                                                  "model": {"image_size": 16, "channels": 3, "z_dim": 8}})
    runs.atomic_write_json(path / "history.json", {"loss": [0.1]})
    for f in ("encoder.keras", "decoder.keras"):
        shutil.copy(models / f, path / f)
    runs.atomic_save_npy(path / "latents.npy", np.full((20000, 8), 1, np.float32))
    runs.atomic_save_npy(path / "index.npy", np.arange(20000) + 100000)
    runs.atomic_write_json(path / "metadata.json", {"z_dim": 8})
    assert runs.run_status(path).status == "complete"
    return path


def test_threads_share_one_model_and_sampler_with_identical_results(tiny_models):
    from core.model.network import CompiledModel, decode
    from core.sampling.samplers import make_sampler

    dec = runs.load_model(tiny_models / "decoder.keras")
    compiled = CompiledModel(dec, batch_size=16)
    rng = np.random.default_rng(0)
    Z = (rng.normal(size=(2000, 8)) @ rng.normal(size=(8, 8))).astype(np.float32)
    fitted = {name: make_sampler(name, **kw).fit(Z) for name, kw in
              [("pca-ellipse", {"n_components": 6}), ("gmm", {"n_components": 3}), ("mvn", {"truncate_k": 3})]}
    tasks = [(name, seed) for name in fitted for seed in range(6)]

    def work(task):
        name, seed = task
        V = fitted[name].sample(37, random_state=seed)
        return V, decode(compiled, V)

    reference = {t: work(t) for t in tasks}
    barrier = threading.Barrier(6)

    def threaded(task):
        barrier.wait(timeout=30)  # the first six start together
        return task, work(task)

    order = tasks * 2
    random.Random(1).shuffle(order)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(threaded, order[:6])) + list(pool.map(lambda t: (t, work(t)), order[6:]))
    assert len(results) == len(order)
    for task, (V, imgs) in results:
        assert np.array_equal(V, reference[task][0]), task
        assert np.array_equal(imgs, reference[task][1]), task

    # Several sessions building their own compiled call on the same Keras
    # model at once (tracing is serialised by a module-wide lock).
    Vs = [reference[t][0] for t in tasks[:8]]
    with ThreadPoolExecutor(max_workers=8) as pool:
        imgs = list(pool.map(lambda V: decode(dec, V), Vs))
    for t, im in zip(tasks[:8], imgs):
        np.testing.assert_array_equal(im, reference[t][1])
