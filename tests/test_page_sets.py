"""Every single-run page takes a named latent set RUN/SET from the run picker (issue 10)."""

import pytest

from tests.compare_fixtures import compare_root, env  # noqa: F401
from tests.dashboard_fixtures import app_test

PAGES = ["Home.py", "pages/2_Components.py", "pages/3_Coordinate_planes.py", "pages/4_Samplers.py",
         "pages/5_Decode.py", "pages/6_Encoder_maps.py", "pages/8_Attributes.py"]


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_a_latent_set(env, page):
    at = app_test(page, timeout=180)
    at.session_state["run_name"] = "tiny/digits"
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    picker = at.selectbox(key="_run_picker")
    assert picker.value == "tiny/digits" and "tiny" in picker.options
