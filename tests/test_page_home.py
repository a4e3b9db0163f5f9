"""AppTest of the Home page (dashboard/Home.py)."""

from tests.dashboard_fixtures import TINY_RUN, app_env, app_test, tiny_run_root  # noqa: F401


def test_home_renders_run_summary_and_reconstructions(app_env):
    at = app_test("Home.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "latent-lab"
    # The run picker offers the complete run only; the others are listed with reasons.
    picker = at.sidebar.selectbox(key="_run_picker")
    assert picker.options == [TINY_RUN]
    text = " ".join(m.value for m in at.markdown)
    assert "half" in text and "incomplete" in text
    assert "broken" in text and "damaged" in text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["z_dim"] == "8"
    assert metrics["Image size"] == "16×16×3"
    assert metrics["Images"] == "300"
    assert len(at.get("image")) == 2  # loss figure + reconstruction grid
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("Download PNG") == 2


def test_home_held_out_images_and_count(app_env):
    at = app_test("Home.py").run()
    at.radio[0].set_value("last images (held out for validation)").run()
    at.slider[0].set_value(4).run()
    assert not at.exception, at.exception
    assert not at.error
    # 300 images: the last 4 are 296..299 (held out by training's val split).
    assert "images 296–299" in at.caption[0].value


def test_home_without_complete_run_warns(tmp_path, monkeypatch, app_env):
    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(tmp_path))
    at = app_test("Home.py").run()
    assert not at.exception
    assert "No complete run" in at.warning[0].value
