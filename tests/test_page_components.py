"""AppTest of the Components page (dashboard/pages/2_Components.py)."""

import numpy as np
import pytest

from tests.dashboard_fixtures import TINY_Z_DIM, app_env, app_test, tiny_run_root  # noqa: F401

PAGE = "pages/2_Components.py"


@pytest.fixture
def page(app_env):
    at = app_test(PAGE).run()
    assert not at.exception, at.exception
    return at


def _tables(at):
    return [d.value for d in at.dataframe]


def test_components_renders_every_section(page, tiny_run_root):
    at = page
    assert not at.error, [e.value for e in at.error]
    assert [t.label for t in at.tabs] == ["All histograms", "Selected components", "Component table",
                                          "Radius", "Correlation", "Multivariate normal?"]
    # One figure per section: all histograms, fits, radius, correlation, Q-Q.
    assert len(at.get("image")) == 5
    tables = _tables(at)
    comp = next(t for t in tables if "normality_p" in t.columns)
    assert len(comp) == TINY_Z_DIM
    # The table's mean/std are those of the run's latents.
    Z = np.load(tiny_run_root / "default" / "latents.npy")
    np.testing.assert_allclose(comp["mean"], Z.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(comp["std"], Z.std(axis=0, ddof=1), rtol=1e-4)
    # Multiselect preselects the dominant components (largest |mu| first).
    chosen = at.multiselect[0].value
    assert 1 <= len(chosen) <= 6
    assert int(comp.loc[comp["mu"].abs().idxmax(), "component"]) == chosen[0]
    # Ellipsoid fractions: measured next to theory for k = 1, 2, 3.
    fractions = next(t for t in tables if "k-σ ellipsoid: theory" in t.columns)
    np.testing.assert_allclose(fractions["k-σ ellipsoid: theory"], [0.6827, 0.9545, 0.9973], atol=1e-4)
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("Download PNG") == 5
    assert labels.count("Download CSV") >= 5


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


def test_threshold_and_selection_change(page):
    at = page
    thr = next(s for s in at.slider if s.label.startswith("Threshold"))
    thr.set_value(0.05).run()
    assert not at.exception
    title = next(h.value for h in at.subheader if "pairs with |r| >" in h.value)
    assert "0.05" in title
    at.multiselect[0].set_value([]).run()
    assert "Select at least one component." in [w.value for w in at.warning]
    at.multiselect[0].set_value([0, 1]).run()
    assert not at.exception and len(at.get("image")) == 5
