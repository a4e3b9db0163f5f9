"""AppTest of the Coordinate planes page (dashboard/pages/3_Coordinate_planes.py)."""

import numpy as np
import pytest

from tests.dashboard_fixtures import TINY_RUN, app_env, app_test, tiny_run_root  # noqa: F401

PAGE = "pages/3_Coordinate_planes.py"


def latents(root):
    return np.load(root / TINY_RUN / "latents.npy")


def coverage_independent(P, sigmas):
    # Mahalanobis radius in the plane with numpy's own covariance (ddof=1).
    d = P - P.mean(axis=0)
    d2 = np.einsum("ni,ij,nj->n", d, np.linalg.inv(np.cov(P, rowvar=False)), d)
    return np.array([np.mean(d2 <= s * s) for s in sigmas])


def coverage_table(at):
    return at.dataframe[0].value


def start(app_env):
    at = app_test(PAGE, timeout=90).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_planes_coverage_matches_independent_computation_and_pair_change(app_env):
    at = start(app_env)
    Z = latents(app_env)
    assert len(at.get("image")) == 1
    tab = coverage_table(at)
    assert tab["sigma"].tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(tab["theory %"], 100 * (1 - np.exp(-np.array([1, 2, 3]) ** 2 / 2)))
    np.testing.assert_allclose(tab["measured %"], 100 * coverage_independent(Z[:, [0, 1]], [1, 2, 3]))

    at.number_input(key="planes_j").set_value(5).run()
    assert not at.exception and not at.error
    tab = coverage_table(at)
    np.testing.assert_allclose(tab["measured %"], 100 * coverage_independent(Z[:, [0, 5]], [1, 2, 3]))
    r = np.corrcoef(Z[:, 0], Z[:, 5])[0, 1]
    assert [m.value for m in at.metric][1] == f"{r:+.3f}"


def test_planes_bad_choices_show_messages(app_env):
    at = start(app_env)
    at.number_input(key="planes_j").set_value(0).run()
    assert not at.exception
    assert any("differ" in e.value and "0" in e.value for e in at.error)
    at.number_input(key="planes_j").set_value(99).run()
    assert not at.exception
    assert any("99" in e.value for e in at.error)

    at.number_input(key="planes_j").set_value(1).run()
    at.checkbox(key="planes_slice").check().run()
    at.number_input(key="planes_t").set_value(1e-9).run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    # An empty slice is a result (issue 11): the plane is drawn with "0 of 300".
    assert any("0 of 300 z-points" in i.value for i in at.info)
    assert len(at.get("image")) == 1
    at.number_input(key="planes_t").set_value(-1.0).run()
    assert any("t" in e.value and "-1" in e.value for e in at.error)

    Z = latents(app_env)
    t = float(np.quantile(np.abs(Z[:, 2:]), 0.9))
    at.number_input(key="planes_t").set_value(t).run()
    assert not at.exception and not at.error
    kept = int(np.all(np.abs(Z[:, 2:]) <= t, axis=1).sum())
    assert 0 < kept < Z.shape[0]
    assert at.metric[0].value == f"{kept:,}"
    sl = Z[np.all(np.abs(Z[:, 2:]) <= t, axis=1)][:, [0, 1]]
    np.testing.assert_allclose(coverage_table(at)["measured %"], 100 * coverage_independent(sl, [1, 2, 3]))

    at.multiselect(key="planes_sigmas").set_value([]).run()
    assert not at.exception
    assert any("at least one sigma" in w.value for w in at.warning)


def test_planes_top_pairs_pca_overlay_grid_and_tsne(app_env):
    at = start(app_env)
    Z = latents(app_env)
    R = np.corrcoef(Z, rowvar=False)
    iu = np.triu_indices_from(R, 1)
    best = np.argmax(np.abs(R[iu]))
    at.radio(key="planes_source").set_value("top-correlated pair").run()
    assert not at.exception and not at.error
    first = at.selectbox(key="planes_top").value
    assert first == 0
    # The first (default) choice is the pair with the largest |r|: its r is shown.
    assert at.metric[1].value == f"{R[iu][best]:+.3f}"

    at.radio(key="planes_space").set_value("pca").run()
    at.selectbox(key="planes_ov").set_value("pca-ellipse").run()
    at.checkbox(key="planes_zoom").check().run()
    at.checkbox(key="planes_grid").check().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("image")) == 2  # plane + grid
    # z_dim 8: the consecutive layout from k=0 has only 4 valid pairs of the 6.
    assert any("4 planes shown" in i.value for i in at.info)

    at.number_input(key="tsne_n").set_value(120).run()
    at.button(key="tsne_go").click().run()
    assert not at.exception and not at.error
    assert len(at.get("image")) == 3
    at.number_input(key="tsne_perp").set_value(500.0).run()
    at.button(key="tsne_go").click().run()
    assert not at.exception
    assert any("perplexity" in e.value for e in at.error)


def test_flat_pair_gives_a_message_not_a_coverage(tiny_run_root, tmp_path, monkeypatch):
    # A constant component makes a flat ellipse whose "measured coverage" was a
    # 1-D fraction printed next to the 2-D theory; now the page says why not.
    import shutil

    import streamlit as st

    from tests.dashboard_fixtures import DASHBOARD

    root = tmp_path / "artifacts"
    shutil.copytree(tiny_run_root / TINY_RUN, root / TINY_RUN,
                    ignore=shutil.ignore_patterns("checkpoints", "run.lock"))
    Z = np.load(root / TINY_RUN / "latents.npy")
    Z[:, 1] = 0.25
    np.save(root / TINY_RUN / "latents.npy", Z)
    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(root))
    monkeypatch.syspath_prepend(str(DASHBOARD))
    st.cache_data.clear()
    try:
        at = app_test(PAGE, timeout=90).run()
        assert not at.exception, at.exception
        msgs = [e.value for e in at.error]
        assert any("singular 2-D covariance" in m and "second coordinate is constant" in m
                   for m in msgs), msgs
        assert not any("measured %" in d.value.columns for d in at.dataframe)
    finally:
        st.cache_data.clear()


# ---------------------------------------------------------------- issue 11

def test_planes_empty_slice_is_a_result_with_its_overlay(app_env):
    at = start(app_env)
    at.checkbox(key="planes_slice").check().run()
    at.number_input(key="planes_t").set_value(1e-9)
    at.selectbox(key="planes_ov").set_value("uniform").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("0 of 300 z-points" in i.value for i in at.info)
    assert len(at.get("image")) == 1
    assert at.metric[0].value == "0"
    # Box vectors (|z| <= 1.5) never all lie within 1e-9 of 0: the overlay is empty, said so.
    assert any("None of the 200 uniform vectors" in w.value for w in at.warning)
    at.number_input(key="planes_t").set_value(1.5).run()
    assert not at.exception and not at.error


def test_planes_typed_sigma_level_and_bad_levels(app_env):
    at = start(app_env)
    at.multiselect(key="planes_sigmas").set_value([1.0, "2.2"]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    tab = coverage_table(at)
    assert tab["sigma"].tolist() == [1.0, 2.2]
    assert tab["theory %"].iloc[1] == pytest.approx(100 * (1 - np.exp(-2.2 ** 2 / 2)))
    Z = latents(app_env)
    np.testing.assert_allclose(tab["measured %"], 100 * coverage_independent(Z[:, [0, 1]], [1, 2.2]))
    for bad in ["-1", "nan", "abc", "0"]:
        at.multiselect(key="planes_sigmas").set_value([1.0, bad]).run()
        assert not at.exception
        assert any(f"got '{bad}" in e.value for e in at.error), [e.value for e in at.error]


def test_planes_open_with_query_parameters(app_env):
    from tests.dashboard_fixtures import app_test

    at = app_test(PAGE, timeout=90)
    at.query_params["i"] = "2"
    at.query_params["j"] = "5"
    at.query_params["sigmas"] = "1,2"
    at.run()
    assert not at.exception and not at.error
    Z = latents(app_env)
    tab = coverage_table(at)
    assert tab["sigma"].tolist() == [1.0, 2.0]
    np.testing.assert_allclose(tab["measured %"], 100 * coverage_independent(Z[:, [2, 5]], [1, 2]))


def test_planes_absolute_zoom_window(app_env):
    at = start(app_env)
    at.checkbox(key="planes_zoom").check().run()
    at.radio(key="planes_zabs").set_value("absolute coordinates").run()
    assert not at.exception and not at.error
    Z = latents(app_env)
    c = Z[:, [0, 1]].mean(axis=0)
    at.number_input(key="planes_zax").set_value(float(c[0]))
    at.number_input(key="planes_zay").set_value(float(c[1]))
    at.number_input(key="planes_zaw").set_value(0.01).run()
    inside = np.all(np.abs(Z[:, [0, 1]] - c) <= 0.01, axis=1).sum()
    assert any(f"{inside:,} points drawn" in c.value for c in at.caption)
    at.number_input(key="planes_zaw").set_value(0.0).run()
    assert any("zoom half-width must be > 0" in e.value and "got 0.0" in e.value for e in at.error)


def test_planes_4x4_grid_of_top_pairs_with_overlay_and_marked_image(app_env):
    at = start(app_env)
    at.selectbox(key="planes_ov").set_value("mvn").run()
    at.checkbox(key="planes_grid").check().run()
    at.radio(key="planes_grid_layout").set_value("16 top-correlated pairs (4 × 4, seed III)")
    at.number_input(key="planes_grid_mark").set_value(3).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("image")) == 2
    at.number_input(key="planes_grid_mark").set_value(300).run()
    assert any("got 300" in e.value for e in at.error)


def test_planes_tsne_cap_and_exaggeration(app_env):
    at = start(app_env)
    at.number_input(key="tsne_n").set_value(60_000).run()
    at.button(key="tsne_go").click().run()
    assert not at.exception
    assert any("capped at 50,000" in e.value and "60,000" in e.value for e in at.error)
    at.number_input(key="tsne_n").set_value(100).run()
    at.number_input(key="tsne_ex").set_value(0.5).run()
    at.button(key="tsne_go").click().run()
    assert any("early exaggeration" in e.value and "0.5" in e.value for e in at.error)


# ---------------------------------------------------------------- issue 14

def image_urls(at):
    # Media URLs name the bytes: a new figure gets a new URL, the same bytes the same one.
    return [img.proto.imgs[0].url for img in at.get("image")]


def test_plane_fragment_pair_change_redraws_and_a_revisit_sends_the_cached_figure(app_env):
    # The choices and the plane are one st.fragment (a pair change reruns only that part):
    # its widgets must still redraw the figure, and a revisited choice gets the same bytes.
    at = start(app_env)
    first = image_urls(at)
    assert len(first) == 1
    at.number_input(key="planes_j").set_value(3).run()
    assert not at.exception and not at.error
    third = image_urls(at)
    assert third != first
    Z = latents(app_env)
    np.testing.assert_allclose(coverage_table(at)["measured %"], 100 * coverage_independent(Z[:, [0, 3]], [1, 2, 3]))
    at.multiselect(key="planes_sigmas").set_value([1.0, 2.0]).run()
    assert not at.exception and not at.error
    assert image_urls(at) not in (first, third)
    at.multiselect(key="planes_sigmas").set_value([1.0, 2.0, 3.0]).run()
    assert image_urls(at) == third
    at.number_input(key="planes_j").set_value(1).run()
    assert not at.exception and not at.error
    assert image_urls(at) == first
    # The t-SNE section outside the fragment is still there.
    assert at.button(key="tsne_go") is not None


def test_plane_download_is_drawn_on_click_with_its_legend(app_env, monkeypatch):
    # Issue 14: the screen figure has its legend as HTML beside it; the download button holds a
    # callable that draws the full figure, legend included, only when clicked.
    import io

    import streamlit as st
    from PIL import Image

    deferred = {}
    original = st.download_button

    def recording(label, data, *args, **kwargs):
        if kwargs.get("key") == "planes_dl_main":
            deferred["data"] = data
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    at = start(app_env)
    assert callable(deferred["data"])
    legend = [m.value for m in at.markdown if "<table" in m.value]
    assert len(legend) == 1 and "1 σ: theory 39.3 %" in legend[0] and "KDE contours" in legend[0]
    png = deferred["data"]()
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (int(6.6 * 115), int(7.0 * 115))
