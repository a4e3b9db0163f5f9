"""AppTest of the Compare page (dashboard/pages/7_Compare.py)."""

from tests.compare_fixtures import compare_root, env  # noqa: F401
from tests.dashboard_fixtures import app_test

PAGE = "pages/7_Compare.py"
VIEWS = ["Histograms", "Dominant components", "Radius", "Correlation", "PCA", "MND check", "Planes", "Sampler"]


def _ok(at):
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_every_view_of_a_run_and_its_set(env):
    at = app_test(PAGE, timeout=120).run()
    _ok(at)
    ms = at.multiselect(key="compare_runs")
    assert "tiny/digits" in ms.options and "broken" not in ms.options and "half" not in ms.options
    at = ms.set_value(["tiny", "tiny/digits"]).run()
    _ok(at)
    assert not at.warning
    summary = at.dataframe[0].value
    assert list(summary.columns) == ["tiny", "tiny/digits"] and "components_90" in summary.index
    for view in VIEWS:
        at.session_state["compare_view"] = view
        at = _ok(at.run())
        assert at.get("image") or at.dataframe, view
    at = _ok(at.button(key="compare_go").click().run())
    assert len(at.get("image")) == 2
    tables = [d.value for d in at.dataframe]
    assert any(list(t.columns) == ["tiny", "tiny/digits"] and "inside_2sigma" in t.index for t in tables)


def test_different_z_dim_says_so_and_one_run_is_not_enough(env):
    at = app_test(PAGE, timeout=120).run()
    at = _ok(at.multiselect(key="compare_runs").set_value(["tiny", "small4"]).run())
    assert any("only the dimension-free figures" in w.value for w in at.warning)
    at = _ok(at.multiselect(key="compare_runs").set_value(["tiny"]).run())
    assert any("Choose 2 to 4 runs" in i.value for i in at.info)


def test_bad_box_width_is_a_message(env):
    at = app_test(PAGE, timeout=120).run()
    at = at.multiselect(key="compare_runs").set_value(["tiny", "small4"]).run()
    at.session_state["compare_view"] = "Radius"
    at = at.run()
    at = at.number_input(key="compare_b").set_value(0.0).run()
    assert not at.exception and any("b must be greater than 0, got 0" in e.value for e in at.error)


def test_a_link_names_the_runs_and_an_unknown_one_falls_back(env):
    at = app_test(PAGE, timeout=120)
    at.query_params["runs"] = "small4,tiny"
    at = _ok(at.run())
    assert at.multiselect(key="compare_runs").value == ["small4", "tiny"]
    assert list(at.dataframe[0].value.columns) == ["small4", "tiny"]
    at = app_test(PAGE, timeout=120)
    at.query_params["runs"] = "tiny,nope"
    at = _ok(at.run())
    assert "nope" not in at.multiselect(key="compare_runs").value
