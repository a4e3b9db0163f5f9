"""Issue 12, single process: TensorFlow errors on the command line (one line
plus error.log), run folders anywhere on the command line, mixed precision,
and the devices/strategy record in metadata.json.  Multi-worker runs:
tests/test_multiworker.py."""

import re

import numpy as np
import pytest

from core import cli
from core.model import training
from core.runs import runs

TINY = ["--dataset", "synthfaces", "--limit", "160", "--size", "16", "--z-dim", "4", "--encoder-filters", "4,4,8,8",
        "--decoder-filters", "8,8,4,4", "--batch-size", "32", "--quiet"]


def _one_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_tensorflow_failure_is_one_line_with_the_traceback_in_error_log(tmp_path, monkeypatch, capsys):
    import tensorflow as tf

    real = training._make_callback

    def failing(*args, **kwargs):
        cb = real(*args, **kwargs)

        def allocate_activations(batch, logs=None):  # a GPU running out of memory in epoch 2
            if cb._epoch == 1 and batch == 2:
                raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[64,48,48,128]\n"
                                                                   "second line of the TensorFlow message")

        cb.on_train_batch_begin = allocate_activations
        return cb

    monkeypatch.setattr(training, "_make_callback", failing)
    out = tmp_path / "anywhere" / "oom"
    rc = cli.main(["train", *TINY, "--epochs", "2", "--out", str(out)])
    line = _one_line(capsys.readouterr().err)
    assert rc == 1
    log = out / "error.log"
    assert line == (f"error: training failed in epoch 2: ResourceExhaustedError: OOM when allocating tensor "
                    f"with shape[64,48,48,128] (full traceback: {log})")
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "allocate_activations" in text
    assert "second line of the TensorFlow message" in text
    # Epoch 1 was checkpointed; nothing is lost and --resume finishes the run.
    assert runs.read_json(out / "checkpoints" / "state.json")["epoch"] == 1
    monkeypatch.setattr(training, "_make_callback", real)
    assert cli.main(["train", "--resume", "--quiet", "--out", str(out)]) == 0
    assert runs.run_status(out).status == "complete"
    assert len(runs.read_json(out / "history.json")["loss"]) == 2


def test_run_folders_anywhere_mixed_precision_and_device_metadata(tmp_path, artifacts, capsys):
    out = tmp_path / "elsewhere" / "mp"  # not under the artifacts root
    assert cli.main(["train", *TINY, "--epochs", "1", "--mixed-precision", "--out", str(out)]) == 0
    info = runs.run_status(out)
    assert info.status == "complete", info.reason
    meta = info.metadata
    assert meta["strategy"] == "default" and meta["workers"] == 1 and meta["replicas"] == 1
    assert meta["mixed_precision"] == "mixed_bfloat16"  # no GPU here; mixed_float16 on a GPU
    devices = meta["devices"]
    assert devices["replica_devices"] and any("CPU" in d for d in devices["logical_devices"])
    assert devices["gpus"] == []
    assert runs.read_json(out / "config.json")["mixed_precision"] is True
    # The saved models are plain float32 and reproduce the stored latents.
    run = runs.Run(out)
    assert run.encoder.dtype_policy.name == "float32" and run.decoder.dtype_policy.name == "float32"
    images = np.load(out / "checkpoints" / "images_u8.npy")[:8].astype(np.float32) / 255
    np.testing.assert_allclose(run.encoder.predict(images, verbose=0), run.latents[:8], atol=1e-4)
    capsys.readouterr()

    # Every command takes the folder by path.
    assert cli.main(["stats", "--run", str(out), "--json", "--pca-k", "2"]) == 0
    assert '"n": 160' in capsys.readouterr().out
    assert cli.main(["sample", "--run", str(out), "--sampler", "mvn", "--n", "5", "--no-images",
                     "--out", str(tmp_path / "v")]) == 0
    assert np.load(tmp_path / "v.npy").shape == (5, 4)
    assert cli.main(["compare", "--run", str(out), "--samplers", "mvn", "--n", "50", "--json"]) == 0
    assert cli.main(["encode", "--run", str(out), "--limit", "40"]) == 0
    assert runs.Run(out).latents.shape == (40, 4)
    capsys.readouterr()
    # A bare name still means a folder of the artifacts root, checked as before.
    assert cli.main(["stats", "--run", "mp"]) == 2
    assert "mp" in _one_line(capsys.readouterr().err)
    # Names from the browser stay confined to the artifacts root.
    with pytest.raises(ValueError, match="not a folder directly inside"):
        runs.resolve_run(str(out))
    with pytest.raises(ValueError, match="not allowed"):
        runs.run_dir("../elsewhere")


def test_worker_role_from_tf_config():
    cluster = '{"cluster": {"worker": ["a:1", "b:2", "c:3"]}, "task": {"type": "worker", "index": %d}}'
    assert training.worker_role({}) is None
    assert training.worker_role({"TF_CONFIG": cluster % 0}) == {"chief": True, "task_type": "worker", "index": 0,
                                                              "n_workers": 3}
    assert training.worker_role({"TF_CONFIG": cluster % 2})["chief"] is False
    with_chief = '{"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}'
    assert training.worker_role({"TF_CONFIG": with_chief})["chief"] is False
    with pytest.raises(ValueError, match="TF_CONFIG"):
        training.worker_role({"TF_CONFIG": "{not json"})
