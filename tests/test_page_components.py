"""AppTest of the Components page (dashboard/pages/2_Components.py).

Only the open tab runs (``st.tabs(key="view")``); tests switch tabs through
``at.session_state["view"]``.
"""

import numpy as np
import pytest
from scipy import stats

from tests.dashboard_fixtures import TINY_Z_DIM, app_env, app_test, tiny_run_root  # noqa: F401

PAGE = "pages/2_Components.py"
TABS = ["All histograms", "Selected components", "Component table", "Radius", "Correlation", "MND check", "PCA"]


@pytest.fixture
def page(app_env):
    at = app_test(PAGE).run()
    assert not at.exception, at.exception
    return at


def _open(at, tab):
    at.session_state["view"] = tab
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _table_with(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _downloads(at):
    return [b.label for b in at.get("download_button")]


@pytest.fixture(scope="module")
def Z(tiny_run_root):
    return np.load(tiny_run_root / "default" / "latents.npy")


def test_every_tab_renders_a_figure_or_table(page):
    at = page
    assert [t.label for t in at.tabs] == TABS
    for tab in TABS:
        at = _open(at, tab)
        assert at.get("image") or at.dataframe, tab
    # Each figure comes with a PNG download.
    at = _open(at, "All histograms")
    assert len(at.get("image")) == 1 and _downloads(at) == ["Download PNG"]


def test_component_table_matches_latents(page, Z):
    at = _open(page, "Component table")
    comp = _table_with(at, "normality_p")
    assert len(comp) == TINY_Z_DIM
    np.testing.assert_allclose(comp["mean"], Z.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(comp["std"], Z.std(axis=0, ddof=1), rtol=1e-4)
    np.testing.assert_allclose(comp["skewness"], stats.skew(Z, axis=0), rtol=1e-3, atol=1e-4)
    # Dominant components by |mu|: the first row has the largest |mu|.
    dom = next(d.value for d in at.dataframe if "rank" in d.value.columns)
    assert dom["mu"].abs().iloc[0] == pytest.approx(comp["mu"].abs().max())
    assert _downloads(at).count("Download CSV") == 3


def test_selected_components_preselect_dominant(page):
    at = _open(page, "Selected components")
    chosen = at.multiselect[0].value
    assert 1 <= len(chosen) <= 6 and len(at.get("image")) == 1
    at.multiselect[0].set_value([]).run()
    assert "Select at least one component." in [w.value for w in at.warning]
    at.multiselect[0].set_value([0, TINY_Z_DIM - 1]).run()
    assert not at.exception and len(at.get("image")) == 1


def test_radius_tab_uses_box_shell(page, Z):
    at = _open(page, "Radius")
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Data radius (median)"]) == pytest.approx(np.median(np.linalg.norm(Z, axis=1)), abs=0.01)
    # b sqrt(d/3) +- b/sqrt(15) for b = 1.5, d = 8
    assert metrics["Uniform box b = 1.5"] == f"{1.5 * np.sqrt(8 / 3):.2f} ± {1.5 / np.sqrt(15):.2f}"
    at.slider[0].set_value(3.0).run()
    assert f"{3.0 * np.sqrt(8 / 3):.2f}" in {m.label: m.value for m in at.metric}["Uniform box b = 3"]


def test_correlation_threshold(page, Z):
    at = _open(page, "Correlation")
    at.slider[0].set_value(0.05).run()
    assert not at.exception
    R = np.corrcoef(Z, rowvar=False)
    expected = int((np.abs(R[np.triu_indices(TINY_Z_DIM, 1)]) > 0.05).sum())
    assert any(f"{expected} pairs with |r| > 0.05" == h.value for h in at.subheader)
    counts = _table_with(at, "n_pairs")
    for t, n in zip(counts["threshold"], counts["n_pairs"]):
        assert n == int((np.abs(R[np.triu_indices(TINY_Z_DIM, 1)]) > t).sum())


def test_mnd_fractions_table(page):
    at = _open(page, "MND check")
    fractions = _table_with(at, "k-σ-mass theory")
    np.testing.assert_allclose(fractions["k-σ-mass, n → ∞"], [0.6827, 0.9545, 0.9973], atol=1e-4)
    # The exact in-sample law (scaled Beta) expects at least the chi2 mass.
    assert (fractions["k-σ-mass theory"] >= fractions["k-σ-mass, n → ∞"] - 1e-9).all()
    text = " ".join(m.value for m in at.markdown)
    assert "How to read it" in text and "Beta(" in text


def test_nonpositive_bin_width_shows_error(page):
    at = page
    at.sidebar.number_input[0].set_value(0.0).run()
    assert not at.exception
    assert "bin width must be greater than 0" in at.error[0].value
    at.sidebar.number_input[0].set_value(-0.5).run()
    assert "-0.5" in at.error[0].value


def test_tiny_bin_width_is_refused_with_core_message(page):
    at = page
    at.sidebar.number_input[0].set_value(1e-7).run()
    assert not at.exception
    assert at.error and "bin_width" in at.error[0].value


# ---------------------------------------------------------------- issue 11

def test_pca_tab_counts_components_like_sklearn(page, Z):
    from sklearn.decomposition import PCA

    at = _open(page, "PCA")
    assert len(at.get("image")) == 1
    cum = np.cumsum(PCA().fit(Z).explained_variance_ratio_)
    need90 = int(np.searchsorted(cum, 0.9) + 1)
    assert any(f"**90 %**: {need90}" in m.value for m in at.markdown)
    at.number_input(key="pca_kmax").set_value(TINY_Z_DIM + 1).run()
    assert any(f"got {TINY_Z_DIM + 1}" in e.value for e in at.error)


def test_radius_bin_width_and_gaussian_shell(page):
    at = _open(page, "Radius")
    at.number_input(key="radius_bw").set_value(0.02).run()
    assert not at.exception and not at.error and len(at.get("image")) == 1
    at.number_input(key="radius_bw").set_value(0.0).run()
    assert any("bin width must be greater than 0, got 0" in e.value for e in at.error)
    at.number_input(key="radius_bw").set_value(1e-9).run()
    assert not at.exception
    assert any("choose a wider bin" in e.value for e in at.error)
