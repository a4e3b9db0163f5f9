"""Encoder maps: what the convolutional maps of the encoder respond to (objective 6 of the MND series, docs/method.md).

Activation maximisation per map, the real images that excite each map most,
and each map's correlation with the latent components.
"""

import figures
import lab
import views
from core import run_views
import pandas as pd
import streamlit as st
from matplotlib.figure import Figure

from core.data.images import make_grid, png_bytes, upscale
from core.model import featuremaps as fm
from core.stats.components import dominant_components

st.set_page_config(page_title="Encoder maps · latent-lab", layout="wide", initial_sidebar_state="expanded")
st.title("Encoder maps")
st.markdown(
    "Which input patterns make a map of the encoder respond most strongly, measured as the "
    "map's output averaged over its neurons (objective 6 of the MND series, docs/method.md)? For every map of a "
    "convolutional layer: the image that **maximises** that mean activation (gradient ascent "
    "from the dataset mean), the **real images** that excite it most, and the **latent "
    "components** its activation correlates with — which maps feed which components."
)

run = lab.select_run()
try:
    layers = lab.run_cached(run_views.encoder_layers, run)
    if not layers:
        raise ValueError(f"the encoder of run {run.name!r} has no convolutional layers")
except ValueError as exc:
    lab.show_error(exc)
    st.stop()

names = [n for n, _ in layers]
shapes = dict(layers)
n_source = int(run.metadata.get("n_images") or run.latents.shape[0])

with st.sidebar.form("maps_form"):
    st.markdown("**Patterns**")
    layer = st.selectbox("layer", names, index=len(names) - 1, key="maps_layer",
                         format_func=lambda n: f"{n} — {shapes[n][0]}×{shapes[n][1]}×{shapes[n][2]} maps",
                         help="The last one is the innermost layer, right before the Dense layer to z.")
    # No min/max on the inputs: an impossible value reaches core and comes back as its message.
    steps = int(st.number_input("steps", value=fm.DEFAULTS["steps"], step=16, key="maps_steps",
                                help="Gradient-ascent steps (≥ 1)."))
    step_size = st.number_input("step size", value=fm.DEFAULTS["step_size"], step=0.01, format="%.3f",
                                key="maps_lr", help="Pixel change per step relative to the mean |gradient|.")
    seed = int(st.number_input("seed", value=fm.DEFAULTS["seed"], step=1, key="maps_seed",
                               help="Start noise and jitter; the same seed gives the same patterns."))
    limit = int(st.number_input("images scanned", value=min(fm.DEFAULT_LIMIT, n_source), step=1000,
                                key="maps_limit",
                                help=f"The first N of the run's {n_source:,} images are streamed for the "
                                     "dataset mean, the top images and the correlations."))
    k = int(st.number_input("top real images per map", value=9, step=1, key="maps_k"))
    submitted = st.form_submit_button("Compute patterns", type="primary")

params = dict(steps=steps, step_size=float(step_size), seed=seed, k=k)
request = dict(layer=layer, limit=limit, **params)
if submitted:
    st.session_state["maps_request"] = request
request = st.session_state.get("maps_request")
if request is None:
    st.info("Choose a layer and press **Compute patterns** in the sidebar. On the default run the "
            f"innermost layer takes well under a minute ({fm.DEFAULT_LIMIT:,} images scanned); results "
            "are cached per run and parameters.")
    st.stop()

req = dict(request)
layer, limit = req.pop("layer"), req.pop("limit")
bar = st.empty()


def progress(stage, done, total):
    what = "Scanning images" if stage == "scan" else "Gradient ascent, step"
    frac = 0.5 * done / total + (0.5 if stage == "maximise" else 0.0)
    bar.progress(min(1.0, frac), text=f"{what} {done:,} / {total:,}")


try:
    report = lab.run_cached(fm.run_map_report, run, layer=layer, limit=limit, shared=True,
                            unhashed={"progress": progress}, **req)
except ValueError as exc:
    bar.empty()
    lab.show_error(exc)
    st.stop()
bar.empty()

scan = report.scan
beat = int((report.activation > scan.max_activation).sum())
c = st.columns(5)
c[0].metric("layer", report.layer, help="maps of shape h × w: " + "×".join(map(str, report.map_shape)))
c[1].metric("maps", report.n_maps)
c[2].metric("images scanned", f"{scan.n_images:,}", help=f"of {n_source:,} in the run's dataset")
c[3].metric("patterns above every image", f"{beat} / {report.n_maps}",
            help="maps whose maximising pattern beats the mean activation of every scanned image")
c[4].metric("time", f"{report.seconds['scan'] + report.seconds['maximise']:.1f} s",
            help=f"scan {report.seconds['scan']:.1f} s, gradient ascent {report.seconds['maximise']:.1f} s "
                 "(when first computed)")

st.header("Maximising patterns, ranked")
st.caption(
    f"Tile = the input that maximises one map's mean activation after {req['steps']} steps from the dataset "
    "mean (plus noise; jitter and blur keep it readable; pixels in [0, 1]). Title: rank, map number, "
    "the pattern's mean activation and, in brackets, how many times the dataset's mean activation it is. "
    "A map averages one detector over every position, so its best input repeats the detected feature "
    f"across the image, with the period of the layer's stride ({run.image_size // report.map_shape[0]} px)."
)
png = figures.cached_figure(run, "patterns", (layer, limit, tuple(sorted(req.items()))),
                        lambda: fm.pattern_grid_figure(report, n_cols=8))
lab.show_png(png, f"{run.name}_{layer}_patterns.png", key="maps_grid_dl", label="Download grid PNG")

table = report.table()
with st.expander("All maps as a table"):
    st.dataframe(table, hide_index=True, width="stretch")
    lab.csv_download(table, f"{run.name}_{layer}_maps.csv", key="maps_csv")

# ---------------------------------------------------------------- one map

st.header("One map")
ranked = [int(m) for m in report.order]
m = st.selectbox("map", ranked, key="maps_pick", format_func=lambda x: f"#{ranked.index(x) + 1} · map {x}")
row = table[table["map"] == m].iloc[0]
left, right = st.columns([1, 2])
with left:
    big = upscale(report.patterns[m], 4)
    st.image(png_bytes(big), caption=f"map {m}: maximising pattern", width=256)
    st.markdown(
        f"mean activation of the pattern **{row['pattern_activation']:.3g}** · dataset mean "
        f"{row['dataset_mean']:.3g} · dataset max {row['dataset_max']:.3g} · at the start "
        f"{report.start_activation[m]:.3g}")
with right:
    tops = scan.top_images[m]
    st.image(png_bytes(upscale(make_grid(tops, n_cols=min(9, len(tops))), 2)),
             caption=f"the {len(tops)} scanned images with the largest mean activation of map {m}, largest first")
    st.caption("image index (activation): " + ", ".join(
        f"{i} ({v:.3g})" for i, v in zip(scan.top_index[m], scan.top_activation[m])))
    if run.attributes is not None:
        try:
            att = fm.attribute_correlation(scan, run.attributes).loc[m].dropna()
        except ValueError as exc:
            st.caption(f"attributes not shown: {exc}")
        else:
            att = att.reindex(att.abs().sort_values(ascending=False).index)[:6]
            st.markdown(f"**Attributes of the images that map {m} follows** (Pearson r over the scanned "
                        "images, largest |r|): " + ", ".join(f"{a} {v:+.2f}" for a, v in att.items()))

stats = views.statistics(run)
dom_mu = dominant_components(stats.table, n=5, by="mu")
dom_w = dominant_components(stats.table, n=5, by="width")
dominant = sorted(set(dom_mu["component"]) | set(dom_w["component"]))
r = scan.correlation[m]


def draw_corr():
    fig = Figure(figsize=(9, 2.8))
    fm.plot_map_correlation(fig.add_subplot(), r, n_label=6, dominant=dominant)
    fig.tight_layout()
    return fig


st.image(figures.cached_figure(run, "maps_corr", (layer, limit, tuple(sorted(req.items())), m), draw_corr),
         caption=f"map {m}: correlation with every latent component over the {scan.n_images:,} scanned images "
                 "(triangles: dominant components)")
top = pd.DataFrame(fm.top_correlated(r, 10), columns=["component", "r"])
top = top.merge(stats.table[["component", "mu", "hw"]], on="component", how="left")
st.dataframe(top, hide_index=True)

# ---------------------------------------------------------------- dominant components

st.header("Which maps feed the dominant components")
st.caption("For the 5 components with the largest |mu| (peak off the origin) and the 5 widest ones "
           "(Components page): the 3 maps of this layer whose mean activation correlates most with them (|r|).")
feeders = fm.feeders_of(scan.correlation, dominant, n=3)
why = {int(cpt): "|mu|" for cpt in dom_mu["component"]}
for cpt in dom_w["component"]:
    why[int(cpt)] = "|mu| and width" if int(cpt) in why else "width"
feeders.insert(1, "dominant by", feeders["component"].map(why))
feeders = feeders.merge(stats.table[["component", "mu", "hw"]], on="component", how="left")
st.dataframe(feeders, hide_index=True)
lab.csv_download(feeders, f"{run.name}_{layer}_feeders.csv", key="maps_feeders_csv")

with st.expander("How to read this page"):
    st.markdown(
        "* **Pattern grid**: a map is one filter applied at every position of its layer; its mean "
        "activation is large when the filter's feature appears everywhere, so the maximising input is a "
        "texture that tiles the feature. Look at one period of the tile: dark blobs in a light ring "
        "respond like eyes or nostrils, colour fields like skin, hair or background, horizontal bands like "
        "brows, mouths and hair edges. Ratios far above 1 mean the map is far from saturated by real faces.\n"
        "* **Top real images** show the same map on data: what the faces that excite it share (dark hair, "
        "a beard, glasses, a bright background …).\n"
        "* **Correlations**: the latent vector is a linear function (the Dense layer) of the innermost maps; "
        "a map whose activation correlates strongly with a component feeds it. Maps that feed the dominant "
        "components carry the features that place the latent cloud off the origin or stretch it.\n"
        "* Patterns depend on the seed, steps and step size; the ranking and the correlations do not "
        "depend on them (the correlations depend only on the images scanned)."
    )
