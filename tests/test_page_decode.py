"""AppTest of the Decode page (dashboard/pages/5_Decode.py)."""

import numpy as np

from tests.dashboard_fixtures import TINY_RUN, app_env, app_test, tiny_run_root  # noqa: F401

PAGE = "pages/5_Decode.py"


def start():
    at = app_test(PAGE, timeout=90).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def brute_force_neighbours(Z, q, k):
    dist = np.linalg.norm(Z.astype(np.float64) - q, axis=1)
    order = np.argsort(dist, kind="stable")[:k]
    return order, dist[order]


def test_decode_renders_strips_and_neighbours_of_the_centre(app_env):
    at = start()
    # path strip, the path over the cloud, slider image, neighbours strip, images by distance from the
    # centre, reconstruction from K components (issue 11)
    assert len(at.get("image")) == 6
    Z = np.load(app_env / TINY_RUN / "latents.npy")
    # Sliders at 0: the generated vector is the data mean; its neighbours by brute force.
    idx, dist = brute_force_neighbours(Z, Z.astype(np.float64).mean(axis=0), 6)
    table = at.dataframe[0].value
    np.testing.assert_array_equal(table["row"], idx)
    np.testing.assert_allclose(table["distance"], dist, rtol=1e-4)

    for kind in ["line through the centre", "interpolation between two images", "attribute walk"]:
        at.radio(key="dec_kind").set_value(kind).run()
        assert not at.exception, (kind, at.exception)
        assert not at.error, (kind, [e.value for e in at.error])
        assert len(at.get("image")) == 6
    at.selectbox(key="dec_attr").set_value("glasses").run()
    assert not at.exception and not at.error


def test_decode_slider_moves_along_the_leading_pca_axis(app_env):
    at = start()
    at.slider(key="dec_s0").set_value(1.5).run()
    assert not at.exception and not at.error
    Z = np.load(app_env / TINY_RUN / "latents.npy").astype(np.float64)
    mean = Z.mean(axis=0)
    evals, evecs = np.linalg.eigh(np.cov(Z, rowvar=False))
    lead = evecs[:, -1] * np.sqrt(evals[-1])
    # Either sign of the eigenvector: the page's neighbours must match one of them.
    tables = [brute_force_neighbours(Z, mean + s * 1.5 * lead, 6)[0] for s in (1, -1)]
    rows = at.dataframe[0].value["row"].to_numpy()
    assert any(np.array_equal(rows, t) for t in tables)
    assert not np.array_equal(rows, brute_force_neighbours(Z, mean, 6)[0])


def test_decode_bad_choices_show_messages(app_env):
    at = start()
    at.radio(key="dec_kind").set_value("interpolation between two images").run()
    at.number_input(key="dec_ib").set_value(300).run()
    assert not at.exception
    assert any("second image" in e.value and "300" in e.value for e in at.error)
    at.radio(key="dec_kind").set_value("line through the centre").run()
    at.number_input(key="dec_lj").set_value(0).run()
    assert not at.exception
    assert any("differ" in e.value for e in at.error)
    at.number_input(key="dec_k0").set_value(5).run()
    assert not at.exception
    assert any("first component" in e.value and "got 5" in e.value for e in at.error)
    at.radio(key="dec_q").set_value("a sampler's vector").run()
    assert not at.exception
    assert at.dataframe  # a sampler's vector still has neighbours


# ---------------------------------------------------------------- issue 11

def test_decode_path_plane_distance_order_and_k_components(app_env):
    from tests.dashboard_fixtures import app_test

    at = app_test("pages/5_Decode.py", timeout=180).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    n_images = len(at.get("image"))
    at.radio(key="dec_centre").set_value("histogram").run()
    assert not at.exception and not at.error
    at.radio(key="dec_kind").set_value("line through the centre").run()
    assert not at.exception and not at.error
    assert any("own plane (z0, z1)" in c.value for c in at.caption)
    at.radio(key="dec_ord_metric").set_value("mahalanobis").run()
    assert not at.exception and not at.error
    assert len(at.get("image")) == n_images
    at.text_input(key="dec_k_list").set_value("1, 99").run()
    assert any("K (PCA components kept)" in e.value and "99" in e.value for e in at.error)
    at.text_input(key="dec_k_list").set_value("1, x").run()
    assert any("'1, x'" in e.value for e in at.error)


# ---------------------------------------------------------------- issue 14

def image_urls(at):
    # Media URLs name the bytes: a new image gets a new URL, the same bytes the same one.
    return [img.proto.imgs[0].url for img in at.get("image")]


def test_decode_slider_fragment_updates_its_vector_and_the_neighbours_update_button(app_env):
    # Sliders + decoded image are one st.fragment; the neighbour search is another, rerun by its
    # "Update the neighbours" button (a slider step alone does not search).  The tiny test model
    # decodes nearly every vector to the same image, so the slider vector itself is checked.
    at = start()
    assert len(at.get("image")) == 6
    Z = np.load(app_env / TINY_RUN / "latents.npy").astype(np.float64)
    mean = Z.mean(axis=0)
    np.testing.assert_allclose(at.session_state["_dec_slider_z"], mean, rtol=1e-5, atol=1e-5)
    at.slider(key="dec_s1").set_value(-1.0).run()
    assert not at.exception and not at.error
    assert len(at.get("image")) == 6
    evals, evecs = np.linalg.eigh(np.cov(Z, rowvar=False))
    second = evecs[:, -2] * np.sqrt(evals[-2])
    z = np.asarray(at.session_state["_dec_slider_z"], np.float64)
    assert any(np.allclose(z, mean - s * second, rtol=1e-4, atol=1e-4) for s in (1, -1))
    at.button(key="dec_nn_update").click().run()
    assert not at.exception and not at.error
    tables = [brute_force_neighbours(Z, mean - s * second, 6)[0] for s in (1, -1)]
    rows = at.dataframe[0].value["row"].to_numpy()
    assert any(np.array_equal(rows, t) for t in tables)
    # A full run searches for the current slider vector: no "earlier slider position" note.
    assert not any("earlier slider position" in c.value for c in at.caption)
    at.button(key="dec_reset").click().run()
    np.testing.assert_allclose(at.session_state["_dec_slider_z"], mean, rtol=1e-5, atol=1e-5)


def test_decode_slider_image_comes_from_a_one_row_decoder_equal_to_keras(app_env):
    # Issue 14: the slider step decodes its one vector with a decoder traced for one row (the
    # shared 16-row one pads it to 16 rows); it must give the Keras decoder's image.
    import lab

    at = start()
    at.slider(key="dec_s0").set_value(2.0).run()
    assert not at.exception and not at.error
    run = lab.get_run(TINY_RUN)
    z = np.asarray(at.session_state["_dec_slider_z"], np.float32)[None]
    one = lab.decoder_fn(run, batch_size=1)
    assert one.batch_size == 1 and one is not lab.decoder_fn(run)
    np.testing.assert_allclose(one(z), run.decoder(z, training=False).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one(z), lab.decode(run, z), rtol=1e-5, atol=1e-6)
