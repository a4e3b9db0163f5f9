"""AppTest of the Your image page (dashboard/pages/9_Your_image.py) and the ★ mark it leaves."""

import numpy as np

from tests.dashboard_fixtures import TINY_RUN, TINY_Z_DIM, app_env, app_test, tiny_run_root  # noqa: F401

PAGE = "pages/9_Your_image.py"


def test_your_image_page_without_upload_says_what_to_do(app_env):
    at = app_test(PAGE, timeout=120).run()
    assert not at.exception and not at.error
    assert any("Choose a photo" in i.value for i in at.info)
    assert at.get("file_uploader")


def test_a_remembered_z_point_is_marked_on_planes_and_tour(app_env):
    z = tuple(float(v) for v in np.load(app_env / TINY_RUN / "latents.npy")[3])
    assert len(z) == TINY_Z_DIM
    at = app_test(PAGE, timeout=120)
    at.session_state["user_z"] = (TINY_RUN, z)
    at.run()
    assert not at.exception and any("still marked" in i.value for i in at.info)
    at.button(key="user_forget").click().run()
    assert "user_z" not in at.session_state

    planes = app_test("pages/3_Coordinate_planes.py", timeout=120)
    planes.session_state["user_z"] = (TINY_RUN, z)
    planes.run()
    assert not planes.exception and not planes.error
    tour = app_test("Home.py", timeout=300)
    tour.session_state["user_z"] = (TINY_RUN, z)
    tour.query_params["step"] = "5"
    tour.switch_page("pages/0_Tour.py").run()
    assert not tour.exception and not tour.error and tour.title[0].value.startswith("5 ·")
