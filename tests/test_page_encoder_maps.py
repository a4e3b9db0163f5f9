"""AppTest of the Encoder maps page (dashboard/pages/6_Encoder_maps.py)."""

import numpy as np

from tests.dashboard_fixtures import TINY_RUN, app_env, app_test, tiny_run_root  # noqa: F401

PAGE = "pages/6_Encoder_maps.py"


def start():
    at = app_test(PAGE, timeout=120).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def compute(at, **values):
    for key, value in values.items():
        at.number_input(key=key).set_value(value)
    at.button(key="FormSubmitter:maps_form-Compute patterns").click().run()
    return at


def test_maps_page_waits_for_compute_then_shows_grid_detail_and_feeders(app_env):
    at = start()
    assert any("Compute patterns" in i.value for i in at.info)
    assert at.selectbox(key="maps_layer").value == "enc_conv3"  # innermost by default
    assert at.selectbox(key="maps_layer").options == ["enc_conv0 — 8×8×4 maps", "enc_conv1 — 4×4×4 maps",
                                                      "enc_conv2 — 2×2×8 maps", "enc_conv3 — 1×1×8 maps"]
    compute(at, maps_steps=48)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # grid, one pattern, its top images, its correlation chart
    assert len(at.get("image")) >= 4
    assert [m.value for m in at.metric][:2] == ["enc_conv3", "8"]

    from core.model import featuremaps as fm
    from core.runs import runs

    run = runs.Run(app_env / TINY_RUN)
    rep = fm.run_map_report(run, layer="enc_conv3", limit=300, steps=48, step_size=fm.DEFAULTS["step_size"],
                            seed=0, k=9)
    # the map picker lists the maps in ranking order of an independent recomputation (same seed)
    ranked = at.selectbox(key="maps_pick").options
    assert ranked == [f"#{i + 1} · map {m}" for i, m in enumerate(rep.order)]
    # the top-correlation table of the selected (first-ranked) map
    top = at.dataframe[1].value
    m = int(rep.order[0])
    want = np.argsort(-np.abs(rep.scan.correlation[m]), kind="stable")[:len(top)]
    np.testing.assert_array_equal(top["component"].to_numpy(), want)

    # another map, another layer: still no exception
    at.selectbox(key="maps_pick").set_value(int(rep.order[-1])).run()
    assert not at.exception and not at.error
    at.selectbox(key="maps_layer").set_value("enc_conv0")
    compute(at, maps_steps=16)
    assert not at.exception and not at.error
    assert at.metric[0].value == "enc_conv0" and at.metric[1].value == "4"


def test_maps_page_bad_input_shows_one_line(app_env):
    at = start()
    compute(at, maps_steps=0)
    assert not at.exception
    assert [e.value for e in at.error] == ["steps must be >= 1, got 0"]
    compute(at, maps_steps=8, maps_limit=-3)
    assert not at.exception
    assert any("limit must be >= 1, got -3" in e.value for e in at.error)
