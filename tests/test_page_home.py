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


def _open(at, text):
    at.sidebar.text_input(key="open_run_path").set_value(text)
    at.sidebar.button[0].click().run()   # the form's "Open" button
    return at


def test_home_opens_a_run_folder_by_path_outside_the_root(app_env, tmp_path, monkeypatch):
    # The run lives outside the artifacts root; the root is empty.
    import shutil

    elsewhere = tmp_path / "my runs" / "far_away"
    shutil.copytree(app_env / TINY_RUN, elsewhere, ignore=shutil.ignore_patterns("checkpoints", "run.lock"))
    empty = tmp_path / "empty_root"
    empty.mkdir()
    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(empty))
    at = app_test("Home.py").run()
    assert "No complete run" in at.warning[0].value
    _open(at, str(elsewhere))
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    picker = at.sidebar.selectbox(key="_run_picker")
    assert picker.options == [str(elsewhere.resolve())]
    assert picker.value == str(elsewhere.resolve())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "300"
    # Download names come from the key made safe: no path separators.
    import lab

    assert lab.file_stem(str(elsewhere) + "_loss.png") .endswith("far_away_loss.png")
    assert "/" not in lab.file_stem(str(elsewhere) + "_loss.png")


def test_home_open_by_path_refuses_bad_folders_and_keeps_the_run(app_env, tmp_path):
    at = app_test("Home.py").run()
    for text, words in [("relative/path", "not an absolute path"),
                        (str(tmp_path / "missing"), "is not a folder"),
                        (str(tmp_path), "is not a complete run folder"),
                        (str(app_env / "half"), "incomplete")]:
        _open(at, text)
        assert not at.exception, at.exception
        assert any(words in e.value for e in at.error), (text, [e.value for e in at.error])
        # The current run is kept: nothing is lost on a bad path.
        assert at.sidebar.selectbox(key="_run_picker").value == TINY_RUN


def test_run_keys_from_the_browser_stay_confined(app_env):
    import pytest

    import lab

    # An absolute path resolves only once opened by path; names stay inside the root.
    for key in ("/etc", "../etc", "default/../../etc"):
        with pytest.raises(ValueError):
            lab.run_path(key)
    assert lab.run_path(TINY_RUN) == app_env / TINY_RUN
