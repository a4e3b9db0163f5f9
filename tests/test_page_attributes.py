"""AppTest of the Attributes page (dashboard/pages/8_Attributes.py) and the Decode page's shared directions."""

import shutil

import numpy as np
import pandas as pd
import pytest

from core.runs import runs
from core.stats.attributes import attribute_direction
from tests.compare_fixtures import compare_root, env  # noqa: F401
from tests.dashboard_fixtures import app_test

PAGE = "pages/8_Attributes.py"


def _page(run):
    at = app_test(PAGE, timeout=120)
    at.session_state["run_name"] = run
    at.run()
    assert not at.exception, at.exception
    return at


def test_table_plane_and_ellipses_of_a_set(env):
    at = _page("tiny/digits")
    assert not at.error, [e.value for e in at.error]
    run = runs.load_run("tiny/digits")
    expected = attribute_direction(run.latents, run.attributes["digit"].to_numpy(), name="digit")
    assert any(f"{expected['auc']:.3f} ± {expected['auc_std']:.3f}" == m.value for m in at.metric)
    assert len(at.get("image")) == 1
    centres = [m.value for m in at.markdown if "centre (" in m.value]
    assert len(centres) == 2
    at = at.button(key="attr_all").click().run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "auc" in d.value.columns)
    assert table["attribute"].tolist() == ["digit"]
    assert table.loc[0, "auc"] == pytest.approx(expected["auc"])


def test_decode_walk_uses_the_same_direction(env):
    import lab
    import views

    from core import run_views

    run = lab.get_run("tiny")
    fit = attribute_direction(run.latents, run.attributes["glasses"].to_numpy(), name="glasses",
                              pca=views.statistics(run).pca)
    # The Decode page's walk vector: the Attributes page's cached fit.
    np.testing.assert_allclose(lab.run_cached(run_views.attribute_fit, run, "glasses")["direction"], fit["direction"])


def test_constant_attribute_is_a_message(env, compare_root):
    dst = compare_root / "tiny" / "sets" / "const"
    shutil.copytree(compare_root / "tiny" / "sets" / "digits", dst)
    try:
        a = pd.read_csv(dst / "attributes.csv")
        a["hat"] = 1
        runs.atomic_write_bytes(dst / "attributes.csv", a.to_csv(index=False).encode())
        at = _page("tiny/const")
        at.selectbox(key="attr_col").set_value("hat").run()
        assert not at.exception
        assert any("attribute 'hat' is constant (1 for all 200 images)" in e.value for e in at.error)
        at = at.button(key="attr_all").click().run()
        table = next(d.value for d in at.dataframe if "note" in d.value.columns)
        assert "is constant" in table.set_index("attribute").loc["hat", "note"]
    finally:
        shutil.rmtree(dst)


def test_run_without_attributes_says_so(env, compare_root):
    dst = compare_root / "tiny" / "sets" / "noattr"
    shutil.copytree(compare_root / "tiny" / "sets" / "digits", dst)
    (dst / "attributes.csv").unlink()
    try:
        at = _page("tiny/noattr")
        assert any("has no attribute table" in i.value for i in at.info)
    finally:
        shutil.rmtree(dst)
