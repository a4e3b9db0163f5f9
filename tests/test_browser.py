"""Real browser: headless Chromium opens every page of ``streamlit run
dashboard/Home.py`` and finds no exception on it."""

import os
import sys
from pathlib import Path

import pytest

from tests.cdp import Browser, StreamlitServer, chromium_path
from tests.dashboard_fixtures import tiny_run_root  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
PAGES = ["", "Tour", "Train", "Components", "Coordinate_planes", "Samplers", "Decode", "Encoder_maps",
         "Your_image", "Compare", "Attributes"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tiny_run_root):
    env = dict(os.environ, LATENT_LAB_ARTIFACTS=str(tiny_run_root), PATH=os.path.dirname(sys.executable)
               + os.pathsep + os.environ.get("PATH", ""))
    srv = StreamlitServer(REPO, env=env)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    if not chromium_path():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed")
    b = Browser()
    yield b
    b.close()


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_without_exception(server, browser, page):
    took = browser.open(f"{server.url}/{page}")
    assert took is not None, f"page {page or 'Home'} did not finish rendering"
    exceptions = browser.texts('[data-testid="stException"]')
    assert exceptions == [], f"exception on page {page or 'Home'}: {exceptions}"
    titles = browser.texts('[data-testid="stMain"] h1')
    assert titles, f"page {page or 'Home'} shows no title"
    errors = browser.texts('[data-testid="stAlertContentError"]')
    assert errors == [], f"error message on page {page or 'Home'} with default choices: {errors}"
    if page in ("Train", "Compare"):  # no single-run picker there (Compare picks 2-4 runs)
        return
    # The run picker found the tiny run and kept it.
    picker = browser.js("(() => { const i = document.querySelector('[data-testid=\"stSidebar\"] input[aria-label=\"Run\"]');"
                        " return i ? i.value : ''; })()")
    assert "default" in picker, f"run picker shows {picker!r}"
