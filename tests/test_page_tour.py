"""AppTest of the Tour page (dashboard/pages/0_Tour.py): walk every step."""

from core.tour import STEP_KEYS
from tests.dashboard_fixtures import app_env, app_test, tiny_run_root  # noqa: F401

PAGE = "pages/0_Tour.py"


def tour(step=None):
    # Entered through Home.py, as in the app, so the explore links resolve their pages.
    at = app_test("Home.py", timeout=300)
    if step is not None:
        at.query_params["step"] = step
    return at.switch_page(PAGE).run()


def test_tour_walks_every_step_with_figure_and_explore_link(app_env):
    at = tour()
    titles = []
    for k in range(1, len(STEP_KEYS) + 1):
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        assert at.query_params["step"] == [str(k)] or at.query_params["step"] == str(k)
        assert len(at.get("image")) == 1
        links = at.get("page_link")
        assert len(links) == 1 and "Explore this" in links[0].proto.label
        titles.append(at.title[0].value)
        assert at.button(key="tour_prev").disabled == (k == 1)
        if k < len(STEP_KEYS):
            at.button(key="tour_next").click().run()
    assert at.button(key="tour_next").disabled
    assert [t.split(" · ")[0] for t in titles] == [str(k) for k in range(1, len(STEP_KEYS) + 1)]
    at.button(key="tour_prev").click().run()
    assert at.title[0].value == titles[-2]


def test_tour_opens_at_the_step_in_the_url_and_clamps_bad_steps(app_env):
    at = tour("5")
    assert not at.exception and at.title[0].value.startswith("5 ·")
    at = tour("99")
    assert not at.exception and at.title[0].value.startswith(f"{len(STEP_KEYS)} ·")
    at = tour("x")
    assert not at.exception and at.title[0].value.startswith("1 ·")
