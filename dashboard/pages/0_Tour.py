"""Tour: the seed posts' argument in eight steps, on the current run (issue 11).

Nothing to configure: each step is one figure with the seeds' parameter
values, a few sentences with the run's own numbers, and a link that opens
the full page with the same settings.  All maths in ``core.tour``; every
step is cached through ``views.tour_step`` (``lab.run_cached``).
"""

import streamlit as st

import lab
import views
from core.tour import MARKED_STEPS, STEP_KEYS, TOUR_PARAMS

st.set_page_config(page_title="Tour · latent-lab", layout="wide", initial_sidebar_state="collapsed")
# Projector: larger body text than Streamlit's default (figures carry their own large fonts).
st.markdown("<style>[data-testid='stMarkdownContainer'] p {font-size: 1.3rem; line-height: 1.5;}</style>",
            unsafe_allow_html=True)

run = lab.select_run()
n_steps = len(STEP_KEYS)

# The step lives in the URL (?step=3), so each step can be bookmarked and screenshot.
if "tour_step" not in st.session_state:
    st.session_state["tour_step"] = min(max(lab.query_value("step", 1, int), 1), n_steps)


def go(delta):
    st.session_state["tour_step"] = min(max(st.session_state["tour_step"] + delta, 1), n_steps)


k = st.session_state["tour_step"]
st.query_params["step"] = str(k)

head, nav = st.columns([3, 2], vertical_alignment="center")
head.markdown(f"**Tour** · why random vectors fail, and which ones work · **step {k} of {n_steps}**")
b1, b2, b3 = nav.columns([1, 1, 2])
b1.button("◀ Back", key="tour_prev", on_click=go, args=(-1,), disabled=k == 1, width="stretch")
b2.button("Next ▶", key="tour_next", on_click=go, args=(1,), disabled=k == n_steps, width="stretch",
          type="primary")
b3.markdown(f"Run **{run.name}** · {run.latents.shape[0]:,} z-points")

key = STEP_KEYS[k - 1]
try:
    with st.spinner(f"Computing step {k} (once per run; then cached)…"):
        # The z-point of an image uploaded on the Your image page is marked in the plane figures.
        mark = lab.user_mark(run) if key in MARKED_STEPS else None
        step = views.tour_step(run, key, mark=mark)
except ValueError as exc:
    lab.show_error(exc)
    st.stop()

st.title(step["title"])
st.markdown(step["text"])
st.image(step["png"], width="stretch")
c1, c2 = st.columns([3, 2])
page_name = step["page"].split("_", 1)[1].removesuffix(".py").replace("_", " ")
c1.page_link(step["page"], label=f"Explore this on the {page_name} page →", icon=":material/open_in_new:",
             query_params=step["query"])
c2.download_button("Download this figure (PNG)", step["png"], file_name=lab.file_stem(f"{run.name}_tour_{k}_{key}.png"),
                   mime="image/png", key="tour_dl", on_click="ignore")
with st.expander("Parameters (seed posts' values)"):
    st.markdown(
        f"Box half-width b = {TOUR_PARAMS['b']:g} (seeds IV/V); histogram bin width {TOUR_PARAMS['bin_width']:g}; "
        f"interval factor f = {TOUR_PARAMS['f']:g} (seeds VII, X); PCA ellipse: {TOUR_PARAMS['n_components']} "
        f"leading components, level {TOUR_PARAMS['level']:g} σ (seed X); ellipses at 1, 2, 3 σ (seed VIII); "
        f"{TOUR_PARAMS['n_draw']:,} vectors per sampler, seed {TOUR_PARAMS['seed']}.")
