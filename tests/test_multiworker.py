"""Multi-worker training (issue 12) with two real worker processes.

Two ``python -m core train --strategy multiworker`` processes on loopback
ports, each with its own ``TF_CONFIG``, train one tiny CAE together
(MultiWorkerMirroredStrategy over gRPC).  Checked: the run is complete, the
chief's metadata records 2 workers and 2 replicas, the non-chief wrote
nothing (its ``--out`` does not exist and its temporary folder is gone), and
the weights equal those of a single-process run with the same global batch
and seed.  A second test kills a worker mid-run, sees the chief stop with
one error line, restarts both with ``--resume`` and gets the same weights.

Why the weights can be compared: every worker takes its half of each global
batch (the same shuffled order as one process, ``make_worker_dataset``), each
replica's loss is the mean over its 32 images scaled by 1/2 and the
gradients are summed across workers, so each step applies the mean gradient
over the same 64 images as the single process; the initial weights come
from the same seed.  What differs is only the order of float additions (two
half-batch sums plus an all-reduce instead of one sum), which Adam can
amplify for gradient components close to zero, so the weights agree to
about 1e-5, not bit for bit.  (Before the epoch fix, an extra iterator
opened by Keras shifted the shuffle order and the weights differed by 1e-3.)
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from core.runs import runs

OPTIONS = ["--dataset", "synthfaces", "--limit", "256", "--size", "16", "--z-dim", "4",
           "--encoder-filters", "4,4,8,8", "--decoder-filters", "8,8,4,4", "--epochs", "2",
           "--batch-size", "32", "--seed", "3", "--quiet"]
TIMEOUT = 240  # per phase; a healthy pair needs 30-60 s on two busy cores
# ``python -m core`` with TensorFlow's peer health check every second instead
# of every 30 s: that check is how a chief learns that a peer died, and the
# test need not wait half a minute for it.
QUICK_HEALTH_CHECK = """
import sys
from core import cli
from tensorflow.python.distribute import collective_all_reduce_strategy as c
c.CollectiveAllReduceExtended._check_health_interval = 1
sys.exit(cli.main(sys.argv[1:]))
"""


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start(index, ports, args, tmp, quick_health_check=False):
    cluster = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    (tmp / f"tmp{index}").mkdir(exist_ok=True)
    env = dict(os.environ, TF_CONFIG=json.dumps(cluster), TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=str(tmp / f"tmp{index}"),
               LATENT_LAB_ARTIFACTS=str(tmp / "artifacts"))
    cli = ["-c", QUICK_HEALTH_CHECK] if quick_health_check else ["-m", "core"]
    return subprocess.Popen([sys.executable, *cli, "train", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(procs, timeout=TIMEOUT):
    """(returncode, stdout, stderr) per process; all are killed after ``timeout`` s."""
    deadline, results = time.time() + timeout, []
    for p in procs:
        try:
            out, err = p.communicate(timeout=max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"workers did not finish within {timeout} s")
        results.append((p.returncode, out, err))
    return results


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same config trained by one process with the default strategy."""
    from core.model.config import ModelConfig, TrainConfig
    from core.model.training import train_run

    out = tmp_path_factory.mktemp("single") / "ref"
    cfg = TrainConfig(dataset="synthfaces", limit=256, epochs=2, batch_size=32, seed=3,
                      model=ModelConfig(image_size=16, channels=3, z_dim=4, encoder_filters=(4, 4, 8, 8),
                                        decoder_filters=(8, 8, 4, 4)))
    train_run(cfg, out)
    return runs.Run(out)


def _assert_same_weights(run, ref):
    for part in ("encoder", "decoder"):
        for a, b in zip(getattr(run, part).get_weights(), getattr(ref, part).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5, err_msg=part)
    np.testing.assert_allclose(run.history["loss"], ref.history["loss"], rtol=1e-4)


def test_two_workers_train_one_model_like_one_process(tmp_path, reference):
    ports = _free_ports(2)
    run_dir = tmp_path / "runs" / "mw"  # outside the artifacts folder: --out takes any path
    t0 = time.time()
    procs = [_start(1, ports, OPTIONS + ["--strategy", "multiworker", "--out", str(tmp_path / "w1")], tmp_path),
             _start(0, ports, OPTIONS + ["--strategy", "multiworker", "--out", str(run_dir)], tmp_path)]
    (rc1, out1, err1), (rc0, out0, err0) = _finish(procs)
    elapsed = time.time() - t0
    assert rc0 == 0 and rc1 == 0, (err0[-3000:], err1[-3000:])
    assert "worker done" in out1 and f"run {run_dir} done" in out0
    info = runs.run_status(run_dir)
    assert info.status == "complete", info.reason
    meta = info.metadata
    assert meta["strategy"] == "multiworker" and meta["workers"] == 2 and meta["replicas"] == 2
    assert meta["devices"]["workers"] == 2 and meta["devices"]["replica_devices"]
    assert meta["global_batch"] == 32
    # The non-chief wrote nothing: no run folder, an empty temporary folder.
    assert not (tmp_path / "w1").exists()
    assert list((tmp_path / "tmp1").iterdir()) == []
    run = runs.Run(run_dir)
    assert run.latents.shape == (256, 4)
    _assert_same_weights(run, reference)
    print(f"two workers: {elapsed:.0f} s wall")


def test_killed_worker_then_resume_gives_the_same_weights(tmp_path, reference):
    ports = _free_ports(2)
    run_dir = tmp_path / "runs" / "kw"
    args = OPTIONS + ["--strategy", "multiworker", "--out", str(run_dir)]
    chief, worker = _start(0, ports, args, tmp_path, True), _start(1, ports, args, tmp_path, True)
    state = run_dir / "checkpoints" / "state.json"
    deadline = time.time() + TIMEOUT
    while not state.exists():
        if time.time() > deadline or chief.poll() is not None:
            chief.kill(), worker.kill()
            pytest.fail(f"no first checkpoint (chief rc {chief.poll()}): {chief.communicate()[1][-3000:]}")
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    (rc0, _, err0), (rc1, _, _) = _finish([chief, worker])
    assert rc1 == -signal.SIGKILL
    # The chief notices the dead peer and stops with one error line.
    assert rc0 == 1, err0[-3000:]
    last = err0.strip().splitlines()[-1]
    assert last.startswith("error: training failed in epoch ") and "error.log" in last, err0[-3000:]
    assert runs.run_status(run_dir).status == "incomplete"
    assert runs.read_json(state)["epoch"] >= 1

    # Both workers again with --resume: the non-chief needs no other option.
    procs = [_start(0, ports, ["--resume", "--quiet", "--out", str(run_dir)], tmp_path),
             _start(1, ports, ["--resume", "--quiet", "--out", str(tmp_path / "w1")], tmp_path)]
    (rc0, _, err0), (rc1, _, err1) = _finish(procs)
    assert rc0 == 0 and rc1 == 0, (err0[-3000:], err1[-3000:])
    assert runs.run_status(run_dir).status == "complete"
    run = runs.Run(run_dir)
    assert len(run.history["loss"]) == 2
    _assert_same_weights(run, reference)
