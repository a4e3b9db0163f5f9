"""AppTest of the Train page (dashboard/pages/1_Train.py).

``core.model.training.launch`` is replaced by a recorder: no real process starts.
"""

from types import SimpleNamespace

import pytest

from core.model import training
from core.model.config import ModelConfig, TrainConfig
from core.runs import runs
from tests.dashboard_fixtures import DASHBOARD, app_test

PAGE = "pages/1_Train.py"


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty artifacts root (``.path``) and the calls of a recording ``launch`` (``.calls``)."""
    import streamlit as st

    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(tmp_path))
    monkeypatch.syspath_prepend(str(DASHBOARD))
    st.cache_data.clear()
    calls = []
    monkeypatch.setattr(training, "launch", lambda config, out, resume=False: calls.append((config, out, resume)))
    return SimpleNamespace(path=tmp_path, calls=calls)


def _run(at):
    at.run()
    assert not at.exception, at.exception
    return at


def _form(at, **values):
    for label, value in values.items():
        widget = next(w for w in [*at.text_input, *at.number_input, *at.selectbox] if w.label == label)
        widget.set_value(value)
    at.button(key="FormSubmitter:config-Start training").click()
    return _run(at)


def _page(root):
    at = _run(app_test(PAGE))
    at.toggle[0].set_value(False)  # no 2 s auto-refresh in tests
    return _run(at)


def test_renders_with_no_runs(root):
    at = _page(root)
    assert at.title[0].value == "Train"
    assert "No run is training" in at.info[0].value
    assert not at.error


def test_invalid_run_name_is_refused(root):
    at = _form(_page(root), **{"Run name": "../evil"})
    assert "'../evil'" in at.error[0].value
    assert root.calls == []


def test_bad_filters_and_bad_learning_rate(root):
    at = _form(_page(root), **{"Run name": "ok", "Encoder filters": "8, 8, x"})
    assert "encoder filters" in at.error[0].value and "8, 8, x" in at.error[0].value
    at = _form(_page(root), **{"Run name": "ok", "Learning rate": 0.0})
    assert "learning_rate" in at.error[0].value
    assert root.calls == []


def test_existing_run_name_is_refused(root):
    (root.path / "taken").mkdir()
    (root.path / "taken" / "config.json").write_text("{}")
    at = _form(_page(root), **{"Run name": "taken"})
    assert "'taken' already exists" in at.error[0].value
    assert root.calls == []


def test_valid_start_launches_with_the_config(root):
    at = _page(root)
    at = _form(at, **{"Run name": "quick", "Image size": 16, "z_dim": 8, "Encoder filters": "4,4,8,8",
                      "Decoder filters": "8,8,4,4", "Epochs": 2, "Batch size": 32,
                      "Use at most N images (0 = all)": 200})
    assert not at.error, [e.value for e in at.error]
    assert len(root.calls) == 1
    config, out, resume = root.calls[0]
    assert out == root.path / "quick" and resume is False
    assert config == TrainConfig(
        dataset="synthfaces", limit=200, epochs=2, batch_size=32,
        model=ModelConfig(image_size=16, channels=3, z_dim=8, encoder_filters=(4, 4, 8, 8),
                                   decoder_filters=(8, 8, 4, 4)))
    assert "started in the background on 200 images" in at.success[0].value


def test_missing_server_path_is_reported(root):
    at = _page(root)
    at.radio[0].set_value("folder, zip or .npy/.npz on the server")
    at = _run(at)
    path_box = next(w for w in at.text_input if w.label == "Path on the server")
    path_box.set_value(str(root.path / "nowhere"))
    at = _form(at, **{"Run name": "celeba"})
    assert at.error and "nowhere" in at.error[0].value
    assert root.calls == []


def _fake_progress(path, state, epoch=2):
    runs.atomic_write_json(path / "progress.json", {
        "state": state, "epoch": epoch, "epochs": 5, "batch": 3, "steps": 10, "fraction": 0.46,
        "loss": 0.0123, "images_per_s": 812.0, "eta_s": 95.0,
        "history": {"loss": [0.03, 0.02], "val_loss": [0.031, 0.021]}})


def test_running_run_shows_progress_and_cancel(root):
    path = root.path / "busy"
    path.mkdir()
    _fake_progress(path, "running")
    with runs.RunLock(path):  # held like a live trainer holds it
        at = _page(root)
        assert at.subheader[0].value == "busy — training"
        bar = at.get("progress")[0]
        assert bar.value == 46  # percent
        assert "epoch 2 of 5, batch 3 of 10" in bar.proto.text
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Loss (current batch)"] == "0.01230"
        assert metrics["Validation loss (last epoch)"] == "0.02100"
        assert metrics["Images/s"] == "812"
        assert metrics["Time left"] == "1.6 min"
        assert len(at.get("vega_lite_chart")) == 1  # live loss chart
        at.button(key="cancel_busy").click()
        at = _run(at)
        assert (path / training.CANCEL_FILE).exists()
        # A second trainer on the same folder gets the lock message.
        at = _form(at, **{"Run name": "busy"})
        assert "being trained by another process" in at.error[0].value
    assert root.calls == []


def test_cancelled_run_resumes(root):
    path = root.path / "halted"
    (path / "checkpoints").mkdir(parents=True)
    runs.atomic_write_json(path / "checkpoints" / "state.json", {"epoch": 2, "history": {}})
    (path / "train.log").write_text("epoch 2/5 loss 0.02\n")
    _fake_progress(path, "cancelled")
    at = _page(root)
    assert at.subheader[0].value == "halted — cancelled"
    assert not [b for b in at.button if b.key == "cancel_halted"]
    at.number_input(key="epochs_halted").set_value(8)
    at.button(key="resume_halted").click()
    at = _run(at)
    assert len(root.calls) == 1
    config, out, resume = root.calls[0]
    assert out == path and resume is True and config.epochs == 8
    assert "epoch 2/5 loss 0.02" in at.code[0].value


@pytest.mark.parametrize("filename, expected", [
    ("faces.zip", "faces.zip"),
    ("../../etc/faces.zip", "faces.zip"),
    ("C:\\Users\\me\\my data (1).ZIP", "my_data_1.zip"),
    (".hidden.zip", "hidden.zip"),
])
def test_upload_names_are_sanitised_into_uploads(root, filename, expected):
    import lab

    path = lab.save_upload(filename, b"PK\x03\x04rest")
    assert path == root.path / ".uploads" / expected


def test_upload_saved_under_uploads_and_capped(root):
    import io
    import zipfile

    import lab

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("img/a.png", b"not really a png")
    path = lab.save_upload("../My Faces.zip", buf.getvalue())
    assert path == root.path / ".uploads" / "My_Faces.zip"
    assert path.read_bytes() == buf.getvalue()
    with pytest.raises(ValueError, match="2,097,156 bytes; the limit is 1,048,576"):
        lab.save_upload("big.zip", b"PK\x03\x04" + bytes(2 * 2**20), cap_mb=1)
    with pytest.raises(ValueError, match="not a zip"):
        lab.save_upload("fake.zip", b"hello")
    with pytest.raises(ValueError, match="passwd"):
        lab.save_upload("../../etc/passwd", b"PK\x03\x04rest")
