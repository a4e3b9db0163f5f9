"""Training, checkpoints, resume, cancel, run folders and encoding on a tiny CAE."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from core.model.config import ModelConfig, TrainConfig
from core.model.training import read_progress, request_cancel, train_run
from core.runs import runs
from tests.dashboard_fixtures import tiny_config as session_tiny_config
from tests.dashboard_fixtures import trained_run

TINY = ModelConfig(image_size=16, channels=3, z_dim=8, encoder_filters=(4, 4, 8, 8), decoder_filters=(8, 8, 4, 4))


def tiny_config(**kw):
    base = dict(dataset="synthfaces", limit=200, epochs=1, batch_size=32, model=TINY)
    base.update(kw)
    return TrainConfig(**base)


def test_train_config_json_round_trip():
    cfg = tiny_config(strategy="mirrored", crop=140)
    again = TrainConfig.from_json(cfg.to_json())
    assert again == cfg


@pytest.mark.parametrize("kw,bad", [({"epochs": 0}, "0"), ({"batch_size": -3}, "-3"),
                                    ({"strategy": "tpu"}, "tpu"), ({"learning_rate": 0.0}, "0.0"),
                                    ({"val_fraction": 0.9}, "0.9")])
def test_bad_train_config_names_value(kw, bad):
    with pytest.raises(ValueError, match=bad):
        tiny_config(**kw).validate()


def test_one_epoch_writes_complete_run(artifacts):
    seen = []
    # Batch 4 and a larger step: 45 steps in the one epoch, enough to learn
    # more than a constant image (the check at the end).
    out = train_run(tiny_config(batch_size=4, learning_rate=0.01), artifacts / "tiny", on_progress=seen.append)
    info = runs.run_status(out)
    assert info.status == "complete", info.reason
    run = runs.load_run("tiny")
    assert run.latents.shape == (200, 8) and run.latents.dtype == np.float32
    assert isinstance(run.latents, np.memmap)
    assert np.all(np.isfinite(run.latents))
    assert list(run.index) == list(range(200))
    assert run.attributes is not None and len(run.attributes) == 200
    assert len(run.history["loss"]) == 1 and "val_loss" in run.history
    assert seen and seen[-1]["epoch"] == 1
    assert read_progress(out)["state"] == "done"
    # The saved encoder reproduces the stored latents.
    imgs = np.load(out / "checkpoints" / "images_u8.npy")[:10].astype(np.float32) / 255
    np.testing.assert_allclose(run.encoder.predict(imgs, verbose=0), run.latents[:10], atol=1e-4)
    # Training beat the trivial predictor, scored like val_loss (pixel MSE on
    # the held-out last 10 %): the constant image whose every pixel is the
    # training images' mean value.  (Measured: 0.023 against 0.028.)
    all_imgs = np.load(out / "checkpoints" / "images_u8.npy").astype(np.float32) / 255
    train, val = all_imgs[:180], all_imgs[180:]
    constant = float(np.mean((val - train.mean()) ** 2))
    assert run.history["val_loss"][-1] < 0.9 * constant
    assert run.metadata["z_dim"] == 8 and "versions" in run.metadata


def test_resume_continues_epochs_and_history(artifacts, tmp_path_factory):
    out = artifacts / "res"
    # A copy of the session's one-epoch tiny run (trained once for all tests).
    trained_run(tmp_path_factory, session_tiny_config(epochs=1), out)
    h1 = runs.read_json(out / "history.json")
    train_run(session_tiny_config(epochs=2), out, resume=True)
    h2 = runs.read_json(out / "history.json")
    assert len(h2["loss"]) == 2 and h2["loss"][0] == h1["loss"][0]
    assert runs.run_status(out).status == "complete"


def test_existing_folder_is_refused_without_resume(artifacts):
    (artifacts / "busy").mkdir()
    (artifacts / "busy" / "x.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        train_run(tiny_config(), artifacts / "busy")
    assert (artifacts / "busy" / "x.txt").read_text() == "keep me"


def test_cancel_stops_and_resume_finishes(artifacts):
    out = artifacts / "cancelled"
    out.mkdir()
    calls = []

    def cancel_soon(info):
        calls.append(info)
        if info.get("epoch", 0) >= 1 and info.get("state") == "running":
            request_cancel(out)

    train_run(tiny_config(epochs=3, limit=300), out, on_progress=cancel_soon)
    assert runs.run_status(out).status == "incomplete"
    state = runs.read_json(out / "checkpoints" / "state.json")
    assert 1 <= state["epoch"] < 3
    train_run(None, out, resume=True)
    assert len(runs.read_json(out / "history.json")["loss"]) == 3
    assert runs.run_status(out).status == "complete"


def test_list_runs_reports_incomplete_and_damaged(artifacts, tmp_path_factory):
    out = trained_run(tmp_path_factory, session_tiny_config(), artifacts / "good")
    (artifacts / "half").mkdir()
    (artifacts / "half" / "config.json").write_text("{}")
    bad = artifacts / "broken"
    bad.mkdir()
    for f in runs.REQUIRED_FILES:
        (bad / f).write_bytes((out / f).read_bytes())
    (bad / "latents.npy").write_bytes(b"not a numpy file")
    infos = {i.name: i for i in runs.list_runs()}
    assert infos["good"].status == "complete"
    assert infos["half"].status == "incomplete" and "encoder.keras" in infos["half"].reason
    assert infos["broken"].status == "damaged" and "latents.npy" in infos["broken"].reason
    with pytest.raises(ValueError, match="damaged"):
        runs.load_run("broken")


def test_mirrored_strategy_on_two_logical_cpus(artifacts):
    """MirroredStrategy over two logical CPU devices, in a fresh process."""
    env = dict(os.environ, LATENT_LAB_ARTIFACTS=str(artifacts))
    cmd = [sys.executable, "-m", "core", "train", "--dataset", "synthfaces", "--limit", "128", "--size", "16",
           "--z-dim", "8", "--encoder-filters", "4,4,8,8", "--decoder-filters", "8,8,4,4", "--epochs", "1",
           "--batch-size", "32", "--strategy", "mirrored", "--logical-cpus", "2", "--quiet", "--out", "mirror"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    assert runs.run_status(artifacts / "mirror").status == "complete"
    assert json.loads((artifacts / "mirror" / "config.json").read_text())["strategy"] == "mirrored"
    assert runs.read_json(artifacts / "mirror" / "metadata.json")["replicas"] == 2


def test_bad_data_source_is_refused_before_the_folder_exists(artifacts, tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(ValueError, match="no-such-folder"):
        train_run(tiny_config(dataset=str(missing)), artifacts / "never")
    assert not (artifacts / "never").exists()


def _load_checkpoint(out, model_config):
    """The autoencoder of a run's last checkpoint, rebuilt and compiled."""
    import keras

    from core.model import checkpoints
    from core.model.network import build_cae

    state = runs.read_json(out / "checkpoints" / "state.json")
    _, _, ae = build_cae(model_config)
    ae.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    ae.optimizer.build(ae.trainable_variables)
    checkpoints.assign_values(ae, checkpoints.checkpoint_values(out / "checkpoints" / state["model"]), state["model"])
    return ae


def test_background_checkpoint_holds_the_trained_state(artifacts):
    # Checkpoints are written from copies of the arrays on a writer thread
    # (issue 14): the last one must hold exactly the trained weights and the
    # optimizer state after every step, and resume must continue from it.
    out = artifacts / "ckpt"
    train_run(tiny_config(epochs=2), out)
    state = runs.read_json(out / "checkpoints" / "state.json")
    assert state["epoch"] == 2 and state["model"] == "epoch-0002.npz"
    assert len(state["history"]["loss"]) == 2
    assert sorted(p.name for p in (out / "checkpoints").glob("epoch-*")) == ["epoch-0002.npz"]
    with np.load(out / "checkpoints" / "epoch-0002.npz", allow_pickle=False) as archive:
        names = list(archive["names"])
    # Model variables first, then the optimizer's (its name may carry a suffix: adam_3/...).
    assert names[0] == "enc_conv0/kernel" and any(n.endswith("/iteration") for n in names)
    ae = _load_checkpoint(out, TINY)
    run = runs.load_run(str(out))
    for name, model in (("encoder", run.encoder), ("decoder", run.decoder)):
        for a, b in zip(ae.get_layer(name).get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    steps = 180 // 32  # 200 images, 10 % held out, batch 32, remainder dropped
    assert int(ae.optimizer.iterations.numpy()) == 2 * steps
    assert any(np.abs(v.numpy()).max() > 0 for v in ae.optimizer.variables[2:])  # Adam moments saved


def test_resume_from_an_older_keras_checkpoint(artifacts):
    # Run folders written before the .npz checkpoints hold epoch-NNNN.keras
    # (or last.keras, without a "model" entry): they resume just the same,
    # with the optimizer state, and the old file is dropped at the next one.
    out = artifacts / "old_ckpt"
    cfg = tiny_config(epochs=1)
    train_run(cfg, out, encode=False)
    ae = _load_checkpoint(out, TINY)
    ckpt = out / "checkpoints"
    runs.atomic_save_model(ckpt / "last.keras", ae)
    (ckpt / "epoch-0001.npz").unlink()
    state = runs.read_json(ckpt / "state.json")
    del state["model"]
    runs.atomic_write_json(ckpt / "state.json", state)
    runs.atomic_write_json(out / "config.json", json.loads(tiny_config(epochs=2).to_json()))
    (out / "history.json").unlink()
    train_run(None, out, resume=True)
    assert runs.run_status(out).status == "complete"
    hist = runs.read_json(out / "history.json")
    assert len(hist["loss"]) == 2 and hist["loss"][0] == state["history"]["loss"][0]
    assert sorted(p.name for p in ckpt.glob("*.keras")) == [] and runs.read_json(ckpt / "state.json")["epoch"] == 2
    assert int(_load_checkpoint(out, TINY).optimizer.iterations.numpy()) == 2 * (180 // 32)


@pytest.mark.parametrize("damage", ["garbage", "other_model"])
def test_resume_refuses_a_bad_checkpoint_by_name(artifacts, damage):
    out = artifacts / f"bad_ckpt_{damage}"
    train_run(tiny_config(epochs=1), out, encode=False)
    ckpt = out / "checkpoints" / "epoch-0001.npz"
    if damage == "garbage":
        ckpt.write_bytes(b"not an archive")
    else:
        with np.load(ckpt, allow_pickle=False) as archive:
            payload = dict(archive)
        payload["v00000"] = np.zeros((3, 3, 3, 99), np.float32)  # another model's first kernel
        np.savez(ckpt, **payload)
    before = ckpt.read_bytes()
    runs.atomic_write_json(out / "config.json", json.loads(tiny_config(epochs=2).to_json()))
    with pytest.raises(ValueError, match="epoch-0001.npz"):
        train_run(None, out, resume=True)
    assert ckpt.read_bytes() == before  # nothing lost
