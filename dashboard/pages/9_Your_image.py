"""Your own image: upload a photo, see its reconstruction, its z-point in the
planes and the Tour, and its nearest real neighbours (issue 11)."""

import numpy as np
import streamlit as st

import lab
import views
from core import run_views
from core.data.images import make_grid
from core.user_image import MAX_USER_IMAGE_BYTES, MAX_USER_IMAGE_PIXELS

st.set_page_config(page_title="Your image · latent-lab", layout="wide", initial_sidebar_state="expanded")
st.title("Your own image")
run = lab.select_run()
crop = run.config.get("crop")
st.markdown(
    f"Upload a photo: it is centre-cropped ({f'{crop} px, like the run' if crop else 'the largest centred square'}) "
    f"and resized to {run.image_size}×{run.image_size} like the run's data, encoded to a z-point, decoded back, "
    "and compared with the real z-points. Its z-point is then marked (★) on the Coordinate planes page and in "
    f"the Tour's plane figures. Cap: {MAX_USER_IMAGE_BYTES / 2**20:.0f} MB and {MAX_USER_IMAGE_PIXELS:,} pixels.")

up = st.file_uploader("A photo (JPEG, PNG, BMP or WebP)", type=["jpg", "jpeg", "png", "bmp", "webp"],
                      key="user_upload")
if up is None:
    if lab.user_mark(run) is not None:
        st.info("The z-point of your last upload is still marked on the other pages. Upload another to replace it.")
        if st.button("Forget my image", key="user_forget"):
            st.session_state.pop(lab.USER_Z_KEY, None)
            st.rerun()
    else:
        st.info("Choose a photo to start (a face, centred, works best: the model knows only its training data).")
    st.stop()

try:
    with st.spinner("Encoding your image…"):
        res = views.user_image(run, up.getvalue(), up.name)
except ValueError as exc:
    lab.show_error(exc)
    st.stop()
st.session_state[lab.USER_Z_KEY] = (run.name, tuple(float(v) for v in res["z"]))

c1, c2, c3 = st.columns([1, 1, 3])
c1.image(np.clip(res["image"], 0, 1), caption="your image, cropped and resized", width="stretch",
         clamp=True, channels="RGB")
c2.image(np.clip(res["reconstruction"], 0, 1), caption="its reconstruction", width="stretch", clamp=True)
mse = float(np.mean((res["image"] - res["reconstruction"]) ** 2))
with c3:
    st.metric("reconstruction MSE", f"{mse:.4f}")
    st.metric("distance to the nearest real z-point", f"{res['distances'][0]:.2f}")
    st.caption(f"|z| = {np.linalg.norm(res['z']):.2f} (the run's median |z|: "
               f"{float(np.median(lab.run_cached(run_views.radii, run))):.2f}).")

st.subheader("Nearest real neighbours (decoded z-points)")
grid = make_grid(res["neighbour_images"], n_cols=len(res["neighbours"]))
st.image(np.clip(grid, 0, 1), width="stretch", clamp=True)
st.caption("Rows of the run's latents, nearest first: " + ", ".join(
    f"#{int(i)} ({d:.2f})" for i, d in zip(res["neighbours"], res["distances"])))

st.subheader("Where it lies in the cloud")
try:
    step = views.tour_step(run, "ellipsoid", mark=lab.user_mark(run))
    st.image(step["png"], width="stretch")
except ValueError as exc:
    lab.show_error(exc)
st.page_link("pages/3_Coordinate_planes.py", label="See it in any plane →", icon=":material/open_in_new:")
st.page_link("pages/0_Tour.py", label="…or in the Tour →", icon=":material/open_in_new:")
