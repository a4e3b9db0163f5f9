"""latent-lab: home page — pick a run, see its data, model and reconstructions.

Start the dashboard with ``streamlit run dashboard/Home.py``.
"""

import lab
import pandas as pd
import streamlit as st

from core.data.images import make_grid, png_bytes
from core.runs import runs

# Nothing imported up to the run summary loads scipy, scikit-learn, matplotlib or TensorFlow:
# the summary paints first (issue 14, tests/test_home_first_paint.py).

st.set_page_config(page_title="latent-lab", page_icon="🧭", layout="wide")

st.title("latent-lab")
st.markdown(
    "A lab for the latent space of a **plain convolutional autoencoder** (CAE, no variational "
    "term). The encoder maps every image to a z-point with `z_dim` components; these points fill "
    "a small, off-centre, correlated region of the latent space. Feed the decoder random vectors "
    "drawn from a box or a unit Gaussian and most of them land in the empty space around that "
    "region, so the images are garbage. Draw them from the region the encoder actually fills — "
    "per-component intervals, PCA ellipses, a multivariate normal — and the decoder produces "
    "faces again. The views follow the blog series *Autoencoders and latent space fragmentation*, "
    "the post on an unenforced multivariate normal distribution in a CAE latent space, and "
    "*the curse of high dimensionality – II*."
)

run = lab.select_run()
cfg, meta, model = run.config, run.metadata, run.config["model"]

st.header(f"Run `{run.name}`")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Dataset", str(meta.get("dataset", cfg.get("dataset"))))
c2.metric("Images", f"{int(meta.get('n_images', run.latents.shape[0])):,}")
c3.metric("Image size", f"{run.image_size}×{run.image_size}×{run.channels}")
c4.metric("z_dim", run.z_dim)
c1, c2, c3, c4 = st.columns(4)
final_loss, final_val = meta.get("final_loss"), meta.get("final_val_loss")
c1.metric("Epochs", meta.get("epochs_trained", cfg.get("epochs")))
c2.metric("Final loss (MSE)", "—" if final_loss is None else f"{final_loss:.5f}")
c3.metric("Final val loss", "—" if final_val is None else f"{final_val:.5f}")
secs = meta.get("train_seconds")
c4.metric("Training time", "—" if secs is None else (f"{secs / 60:.1f} min" if secs >= 90 else f"{secs:.0f} s"))

with st.expander("Model and training configuration"):
    rows = [
        ("encoder filters", ", ".join(map(str, model["encoder_filters"]))),
        ("decoder filters", ", ".join(map(str, model["decoder_filters"]))),
        ("kernel size", model.get("kernel_size")),
        ("activation", model.get("activation")),
        ("batch normalisation", model.get("batch_norm")),
        ("batch size", cfg.get("batch_size")),
        ("learning rate", cfg.get("learning_rate")),
        ("validation fraction", cfg.get("val_fraction")),
        ("images used (limit)", cfg.get("limit")),
        ("strategy", f"{cfg.get('strategy')} ({meta.get('replicas', 1)} replica(s))"),
        ("created", meta.get("created")),
        ("versions", ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items())),
    ]
    st.table(pd.DataFrame(rows, columns=["setting", "value"]).astype(str).set_index("setting"))

# The summary above is on screen; the loss figure below needs matplotlib (figures), the
# reconstructions TensorFlow (on the first decode); Home itself imports no scipy or scikit-learn.
import figures  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

left, right = st.columns([1, 1])
with left:
    st.subheader("Training loss")
    hist = {k: v for k, v in run.history.items() if k in ("loss", "val_loss") and v}
    if hist:
        def draw_loss():
            fig = Figure(figsize=(6, 3.4), layout="constrained")
            ax = fig.subplots()
            for k, v in hist.items():
                ax.plot(range(1, len(v) + 1), v, marker="o", ms=3, label=k)
            ax.set_xlabel("epoch")
            ax.set_ylabel("mean squared error")
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.legend()
            return fig

        lab.show_png(figures.cached_figure(run, "loss", (), draw_loss), f"{run.name}_loss.png", "dl_loss",
                     width="stretch")
        lab.csv_download(pd.DataFrame({"epoch": range(1, len(hist["loss"]) + 1), **hist}),
                         f"{run.name}_history.csv", key="dl_history", label="Download history CSV")
    else:
        st.info("This run has no loss history.")

with right:
    st.subheader("Originals and reconstructions")
    which = st.radio("Images", ["first images (training set)", "last images (held out for validation)"],
                     horizontal=True, help="Training holds out the last images of the source for validation.")
    n_show = st.slider("How many", 4, 16, 8, step=4)
    try:
        with st.spinner("Encoding and decoding…"):
            images, index = lab.run_cached(runs.run_images, run, n_show, which.startswith("last"),
                                           spinner="Reading images from the run's data source…")
            recon = lab.decoder_fn(run)(lab.encoder_fn(run)(images))
    except ValueError as exc:
        lab.show_error(exc)
    else:
        grid = make_grid(list(images) + list(recon), n_cols=len(images), pad=2)
        st.image(grid, width="stretch", clamp=True)
        st.caption(f"Top: originals (images {index[0]}–{index[-1]} of the data source). "
                   "Bottom: their reconstructions decoder(encoder(image)).")
        st.download_button("Download PNG", png_bytes(grid), file_name=lab.file_stem(f"{run.name}_reconstructions.png"),
                           mime="image/png", key="dl_recon")

st.header("The pages")
st.markdown(
    "- **Tour** — the whole argument in eight steps on this run, ready for a class: why random "
    "vectors decode to noise and which vectors give faces.\n"
    "- **Train** — pick a data source and a configuration, start a run in the background, watch "
    "its progress and loss, cancel or resume.\n"
    "- **Components** — component histograms with Gaussian fits, the component table, dominant "
    "components, the radius shell, correlations and the multivariate-normal check.\n"
    "- **Coordinate planes** — project the z-points onto a pair of axes (latent or PCA), with KDE "
    "contours, confidence ellipses and their coverage, slices and sampler overlays.\n"
    "- **Samplers** — draw vectors with several samplers, compare them on a scoreboard and look "
    "at the decoded images.\n"
    "- **Decode** — decode paths, slider-controlled vectors, interpolations and attribute walks "
    "live, and find the nearest real images.\n"
    "- **Compare** — two to four runs or latent sets (RUN/SET) side by side on the same axes, and the "
    "results table of an experiment grid.\n"
    "- **Attributes** — how well a linear direction separates each attribute (cross-validated AUC), its "
    "angle to the PCA axes, and planes coloured by an attribute with each class's centre and ellipses.\n"
    "- **Your image** — upload a photo, see its reconstruction, its nearest real images and its "
    "z-point marked in the planes and the Tour."
)
