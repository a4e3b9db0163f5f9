"""AppTest of the Samplers page (dashboard/pages/4_Samplers.py)."""

import numpy as np

from tests.dashboard_fixtures import TINY_RUN, TINY_Z_DIM, app_env, app_test, tiny_run_root  # noqa: F401

PAGE = "pages/4_Samplers.py"
DEFAULTS = ["uniform", "per-component", "pca-ellipse", "mvn"]
REF = "held-out data (reference)"
EXP = "MND held-out (expected)"


def start():
    at = app_test(PAGE, timeout=120).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def draw(at, n=200, max_points=100):
    at.number_input(key="smp_n").set_value(n)
    at.number_input(key="smp_mp").set_value(max_points)
    return at.button(key="smp_draw").click().run()


def test_samplers_bad_n_shows_error_and_no_scoreboard(app_env):
    at = start()
    assert at.multiselect(key="smp_chosen").value == DEFAULTS
    assert any("Draw" in i.value for i in at.info)
    for bad, text in [(0, "at least 1, got 0"), (-5, "got -5"), (20_001, "capped at 20,000")]:
        at.number_input(key="smp_n").set_value(bad)
        at.button(key="smp_draw").click().run()
        assert not at.exception
        assert any(text in e.value for e in at.error), [e.value for e in at.error]
        assert not at.dataframe


def test_samplers_draw_scoreboard_one_row_per_sampler(app_env):
    at = draw(start())
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert table.index.tolist() == DEFAULTS + [REF, EXP]
    Z = np.load(app_env / TINY_RUN / "latents.npy")
    # The tiny run's z-points lie within a few hundredths of the origin, so a
    # box of half-width 1.5 puts no vector inside the data's 2-sigma region,
    # while the MVN fitted to the data puts most there.
    assert np.abs(Z).max() < 1.0
    assert table.loc["uniform", "inside 2σ-mass"] == 0.0
    assert table.loc["mvn", "inside 2σ-mass"] > 0.8
    assert table.loc["uniform", "radius W1"] > 10 * table.loc["mvn", "radius W1"]
    assert np.isfinite(table.loc[REF, "re-encode error"])
    # Held-out points of an exact MND fall short of the chi2 95.4 % (Hotelling T²).
    assert 0.5 < table.loc[EXP, "inside 2σ-mass"] < 0.9545
    assert np.isnan(table.loc[EXP, "radius W1"])
    # 4 planes + 4 decoded grids + the PCA-ellipse marginals.
    assert len(at.get("image")) == 9
    labels = [b.label for b in at.get("download_button")]
    assert labels.count(".npy") == 4 and labels.count(".csv") == 4
    assert any("leading member held fixed" in m.value for m in at.markdown)

    # Results stay when other widgets change without a new draw.
    at.multiselect(key="smp_chosen").set_value(["mvn"]).run()
    at.number_input(key="smp_pj").set_value(3).run()
    assert not at.exception and not at.error
    assert at.dataframe[0].value.index.tolist() == DEFAULTS + [REF, EXP]


def test_samplers_k_above_z_dim_reports_error_and_keeps_others(app_env):
    at = start()
    at.number_input(key="smp_pca-ellipse_K").set_value(TINY_Z_DIM + 4)
    at = draw(at)
    assert not at.exception, at.exception
    msgs = [e.value for e in at.error]
    assert any("pca-ellipse" in m and f"got {TINY_Z_DIM + 4}" in m for m in msgs), msgs
    assert at.dataframe[0].value.index.tolist() == ["uniform", "per-component", "mvn", REF, EXP]

    # Only an invalid sampler drawn: its error, and no scoreboard from the previous draw.
    at.multiselect(key="smp_chosen").set_value(["pca-ellipse"]).run()
    at.number_input(key="smp_pca-ellipse_K").set_value(4)
    at.number_input(key="smp_pca-ellipse_f").set_value(-0.5)
    at = draw(at)
    assert not at.exception
    msgs = [e.value for e in at.error]
    assert any("pca-ellipse: f" in m and "-0.5" in m for m in msgs), msgs
    assert not at.dataframe and not at.get("image")


def test_samplers_gmm_states_its_fit_and_a_stopped_draw_keeps_finished_rows(app_env):
    at = start()
    at.multiselect(key="smp_chosen").set_value(["mvn", "gmm"]).run()
    at.number_input(key="smp_gmm_nc").set_value(2)
    at = draw(at)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.dataframe[0].value.index.tolist() == ["mvn", "gmm", REF, EXP]
    fit = [c.value for c in at.caption if c.value.startswith("gmm:")]
    assert fit and "in the full latent space" in fit[0] and "EM iterations" in fit[0], fit
    assert not at.warning

    # A draw stopped after its first sampler (the Stop button reruns the page
    # mid-draw): the finished sampler stays, the page says what is missing.
    res = at.session_state["samplers_result"]
    res["finished"] = False
    res["drawn"] = res["drawn"][:1]
    res["rows"] = {"mvn": res["rows"]["mvn"]}
    at.session_state["samplers_result"] = res
    at.run()
    assert not at.exception, at.exception
    msgs = [w.value for w in at.warning]
    assert any("stopped" in m and "1 of 2" in m and "gmm" in m for m in msgs), msgs
    assert at.dataframe[0].value.index.tolist() == ["mvn"]
    assert len(at.get("image")) == 2  # its plane and its decoded grid


# ---------------------------------------------------------------- issue 11

def test_samplers_projection_sigma_level_and_shell_sampler(app_env):
    at = start()
    at.multiselect(key="smp_chosen").set_value(["uniform", "shell"])
    at = draw(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "shell" in at.dataframe[0].value.index
    # The shell lies outside the 3-sigma region of the fit (the scoreboard's region is estimated
    # from the same 270 points, so a few vectors fall just inside its 3-sigma bound; none inside 2 sigma).
    assert at.dataframe[0].value.loc["shell", "inside 2σ-mass"] == 0.0
    assert at.dataframe[0].value.loc["shell", "inside 3σ-mass"] < 0.2
    at.number_input(key="smp_sigma").set_value(2.2).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # PCA coordinates: the leading-coordinate planes, then the same pair in latent space again
    images = len(at.get("image"))
    at.radio(key="smp_space").set_value("pca").run()
    at.number_input(key="smp_pj").set_value(3).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.get("image")) == images
    at.number_input(key="smp_pj").set_value(1).run()
    at.number_input(key="smp_pi").set_value(1).run()
    assert any("pair indices must differ" in e.value for e in at.error), [e.value for e in at.error]
    at.number_input(key="smp_pi").set_value(0).run()
    at.radio(key="smp_space").set_value("latent").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.number_input(key="smp_sigma").set_value(0.0).run()
    assert any("ellipse level σ" in e.value and "0" in e.value for e in at.error)


def test_samplers_open_with_query_parameter(app_env):
    from tests.dashboard_fixtures import app_test

    at = app_test(PAGE, timeout=120)
    at.query_params["samplers"] = "per-component,pca-ellipse"
    at.run()
    assert at.multiselect(key="smp_chosen").value == ["per-component", "pca-ellipse"]
    at = app_test(PAGE, timeout=120)
    at.query_params["samplers"] = "nonsense"
    at.run()
    assert at.multiselect(key="smp_chosen").value == DEFAULTS
