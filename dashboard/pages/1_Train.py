"""Train: pick a data source and a config, start a background training run,
watch its progress, cancel or resume it."""

import time

import altair as alt
import lab
import pandas as pd
import streamlit as st

from core.data.sources import open_config_source
from core.model import training
from core.model.config import ACTIVATIONS, ModelConfig, TrainConfig, parse_filters
from core.runs import runs

st.set_page_config(page_title="Train · latent-lab", page_icon="🧭", layout="wide")
st.title("Train")
st.caption("Training runs in a separate background process: it keeps going when you close the browser. "
           "A finished run appears in the run picker of the other pages.")

LAUNCHED = "_train_launched"  # names launched from this browser session
st.session_state.setdefault(LAUNCHED, [])


# ---------------------------------------------------------------- new run
st.header("New run")
kind = st.radio("Data source", ["synthfaces", "synthdigits", "digits", "folder, zip or .npy/.npz on the server",
                                "upload a zip"], horizontal=True,
                help="synthfaces: procedural faces (offline default). synthdigits: rendered digits in any number "
                     "(the 'other dataset' of the seeds' objective 4). digits: scikit-learn's 8×8 digits, "
                     "upscaled. A folder or zip of jpg/png/bmp/webp images (CelebA layout recognised), or "
                     "an array file.")
dataset = kind
if kind.startswith("folder"):
    dataset = st.text_input("Path on the server", placeholder="/data/celeba/img_align_celeba.zip").strip()
elif kind == "upload a zip":
    upload = st.file_uploader(f"Zip of images (at most {lab.UPLOAD_CAP_MB} MB)", type=["zip"])
    dataset = ""
    if upload is not None:
        try:
            dataset = str(lab.save_upload(upload.name, upload.getbuffer()))
        except ValueError as exc:
            lab.show_error(exc)
        else:
            st.success(f"Saved as `{dataset}`.")

with st.form("config"):
    c1, c2, c3, c4 = st.columns(4)
    name = c1.text_input("Run name", placeholder="faces64",
                         help="Letters, digits, '_', '.', '-'; becomes the folder artifacts/NAME.")
    image_size = c2.selectbox("Image size", [16, 32, 64, 96, 128], index=2,
                              help="16 is for quick demos; the blog uses 96.")
    channels = c3.radio("Channels", [3, 1], horizontal=True, format_func={3: "RGB", 1: "grey"}.get)
    z_dim = c4.number_input("z_dim", min_value=2, max_value=4096, value=256, step=1)
    c1, c2, c3, c4 = st.columns(4)
    enc = c1.text_input("Encoder filters", "64, 64, 128, 128")
    dec = c2.text_input("Decoder filters", "128, 128, 64, 64")
    activation = c3.selectbox("Activation", ACTIVATIONS)
    batch_norm = c4.checkbox("Batch normalisation", False)
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input("Epochs", min_value=1, max_value=10_000, value=10, step=1)
    batch_size = c2.number_input("Batch size", min_value=1, max_value=4096, value=64, step=1)
    learning_rate = c3.number_input("Learning rate", min_value=0.0, max_value=1.0, value=1e-3,
                                    step=1e-4, format="%.5f")
    limit = c4.number_input("Use at most N images (0 = all)", min_value=0, value=0, step=1000)
    c1, c2, c3, _ = st.columns(4)
    crop = c1.number_input("Centre crop before resizing (0 = none)", min_value=0, max_value=4096, value=0,
                           help="CelebA convention: 140.")
    val_fraction = c2.number_input("Validation fraction", min_value=0.01, max_value=0.5, value=0.1, step=0.01)
    seed = c3.number_input("Seed", min_value=0, value=0, step=1)
    start = st.form_submit_button("Start training", type="primary")

if start:
    try:
        runs.check_run_name(name)
        if not dataset:
            raise ValueError("choose a data source: give a path or upload a zip")
        model = ModelConfig(image_size=int(image_size), channels=int(channels), z_dim=int(z_dim),
                            encoder_filters=parse_filters(enc, "encoder filters"),
                            decoder_filters=parse_filters(dec, "decoder filters"),
                            activation=activation, batch_norm=bool(batch_norm))
        config = TrainConfig(dataset=dataset, limit=int(limit) or None, crop=int(crop) or None,
                                      val_fraction=float(val_fraction), epochs=int(epochs),
                                      batch_size=int(batch_size), learning_rate=float(learning_rate),
                                      seed=int(seed), model=model).validate()
        path = runs.run_dir(name)
        if runs.is_locked(path):
            raise ValueError(f"run {name!r} is being trained by another process")
        if path.exists() and any(p.name not in training.LAUNCH_FILES for p in path.iterdir()):
            raise ValueError(f"run {name!r} already exists in {path.parent}; choose another name "
                             "(or resume it below if it is unfinished)")
        with st.spinner("Checking the data source…"):
            source = open_config_source(config)
            training.check_resources(source, config, path)
        training.launch(config, path)
    except ValueError as exc:
        lab.show_error(exc)
    else:
        st.session_state[LAUNCHED].append(name)
        st.success(f"Training of **{name}** started in the background on {source.n_images:,} images "
                   f"({source.name}). Progress appears below.")


# ---------------------------------------------------------------- progress
def show_run(info):
    """Progress, loss chart and Cancel/Resume for one unfinished run."""
    path = info.path
    progress = training.read_progress(path)
    state = progress.get("state") or ("starting" if (path / "requested_config.json").exists() else "?")
    training_now = info.status == "training" or runs.is_locked(path)
    with st.container(border=True):
        st.subheader(f"{info.name} — {'training' if training_now else state}")
        epoch, n_epochs = progress.get("epoch", 0), progress.get("epochs")
        frac = float(progress.get("fraction") or 0.0)
        st.progress(min(max(frac, 0.0), 1.0),
                    text=f"epoch {epoch} of {n_epochs or '?'}" + (f", batch {progress['batch']} of "
                                                                   f"{progress['steps']}" if progress.get("steps") else ""))
        if progress.get("message"):
            st.caption(progress["message"])
        hist = progress.get("history") or {}
        c1, c2, c3, c4 = st.columns(4)
        loss = progress.get("loss")
        val = (hist.get("val_loss") or [None])[-1]
        eta = progress.get("eta_s")
        c1.metric("Loss (current batch)", "—" if loss is None else f"{loss:.5f}")
        c2.metric("Validation loss (last epoch)", "—" if val is None else f"{val:.5f}")
        c3.metric("Images/s", "—" if not progress.get("images_per_s") else f"{progress['images_per_s']:.0f}")
        c4.metric("Time left", "—" if eta is None or not training_now else
                  (f"{eta / 60:.1f} min" if eta >= 90 else f"{eta:.0f} s"))
        curves = [(k, e + 1, v) for k in ("loss", "val_loss") for e, v in enumerate(hist.get(k) or [])
                  if v is not None and v > 0]
        if curves:
            data = pd.DataFrame(curves, columns=["curve", "epoch", "MSE"])
            chart = alt.Chart(data).mark_line(point=True).encode(
                x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1), scale=alt.Scale(domainMin=1)),
                y=alt.Y("MSE:Q", title="MSE (log scale)",
                        scale=alt.Scale(type="log", nice=False,
                                        domain=[data["MSE"].min() / 1.2, data["MSE"].max() * 1.2])),
                color=alt.Color("curve:N", title=None), tooltip=["curve", "epoch", "MSE"])
            st.altair_chart(chart.properties(height=240), width="stretch")
        if training_now:
            if st.button("Cancel", key=f"cancel_{info.name}",
                         help="Stops after the current batch; the last epoch checkpoint is kept."):
                training.request_cancel(path)
                st.info("Cancel requested: training stops after the current batch.")
        else:
            st.caption(info.reason)
            has_checkpoint = (path / "checkpoints" / "state.json").exists()
            # Killed or cancelled before the first checkpoint: the same button
            # trains again from epoch 0 in place (train --resume does that).
            restartable = info.status == "incomplete" and any(
                (path / f).exists() for f in ("config.json", "requested_config.json"))
            if has_checkpoint or restartable:
                c1, c2 = st.columns([1, 3])
                more = c1.number_input("Train up to epoch", min_value=1, max_value=10_000,
                                       value=int(n_epochs or 1), key=f"epochs_{info.name}")
                label, tip = (("Resume", "Continue from the last checkpoint in a background process.")
                              if has_checkpoint else
                              ("Restart from epoch 0", "No checkpoint was written yet: train again from "
                                                       "the start, in place, in a background process."))
                if c2.button(label, key=f"resume_{info.name}", help=tip):
                    try:
                        training.launch(TrainConfig(epochs=int(more)), path, resume=True)
                    except ValueError as exc:
                        lab.show_error(exc)
                    else:
                        st.success(f"Resumed **{info.name}**.")
            log = path / "train.log"
            if log.exists():
                with st.expander("Training log (last lines)"):
                    st.code("\n".join(runs.read_tail(log).splitlines()[-15:]) or "(empty)")


def monitor():
    all_runs = runs.list_runs()
    infos = [i for i in all_runs if i.status != "complete"]
    complete = {i.name for i in all_runs if i.status == "complete"}
    done = [n for n in st.session_state[LAUNCHED] if n in complete]
    for n in done:
        st.success(f"Run **{n}** is complete: pick it in the run picker on the other pages.")
    if not infos:
        st.info("No run is training, cancelled or unfinished.")
    for info in infos:
        show_run(info)
    st.caption(f"Updated {time.strftime('%H:%M:%S')}.")


st.header("Runs in progress and unfinished runs")
c1, c2, _ = st.columns([2, 1, 5], vertical_alignment="center")
live = c1.toggle("Live updates (every 2 s)", value=True)
c2.button("Refresh")  # a click reruns the page
st.fragment(monitor, run_every=2 if live else None)()


# ---------------------------------------------------------------- experiment grids (issue 10)
from core import experiment  # noqa: E402

EXAMPLE_GRID = """{
  "name": "demo-bn",
  "base": {"dataset": "synthfaces", "limit": 2000, "epochs": 2,
           "model": {"image_size": 32, "z_dim": 64,
                     "encoder_filters": [32, 32, 64, 64], "decoder_filters": [64, 64, 32, 32]}},
  "grid": {"model.batch_norm": [false, true]},
  "samplers": ["mvn", "pca-ellipse"],
  "score_n": 1000
}"""

st.header("Experiment grid")
st.caption("Several configs trained one after another in one background process (runs NAME-00, NAME-01, …): "
           "'base' holds TrainConfig fields, 'grid' lists values per field (every combination is trained), "
           "'configs' adds single overrides. Every config is checked before anything trains. The results "
           "table (loss, MND statistics, explained variance, best sampler scores) opens on the Compare page. "
           "Same as `python -m core experiment GRID.json`.")
with st.form("grid_form"):
    grid_text = st.text_area("Grid (JSON)", value=EXAMPLE_GRID, height=230, key="grid_text")
    grid_go = st.form_submit_button("Check and start the grid")
if grid_go:
    try:
        grid = experiment.parse_grid(grid_text)
        planned = experiment.plan(grid)
        experiment.launch(grid)
    except ValueError as exc:
        lab.show_error(exc)
    else:
        st.success(f"Experiment **{grid['name']}** started in the background: "
                   + "; ".join(f"{p['name']} ({p['label']})" for p in planned))


def show_experiments():
    exps = experiment.list_experiments()
    if not exps:
        st.info("No experiment yet.")
    for e in exps:
        state, folder = e["state"], e["path"]
        running = runs.is_locked(folder)
        rows = state.get("runs") or []
        done = sum(r.get("status") == "done" for r in rows)
        with st.container(border=True):
            st.markdown(f"**{e['name']}** — {'running' if running else state.get('state', '?')}, "
                        f"{done} of {state.get('n_runs', len(rows))} runs done")
            st.progress(done / max(1, len(rows)))
            if rows:
                st.dataframe(pd.DataFrame(rows), hide_index=True)
            if state.get("error"):
                st.caption(f"error: {state['error']}")
            c1, c2 = st.columns(2)
            if running:
                if c1.button("Cancel", key=f"xcancel_{e['name']}",
                             help="Stops after the current epoch of the current run; resume continues."):
                    experiment.request_cancel(folder)
                    st.info("Cancel requested.")
            elif state.get("state") != "done" and (folder / "grid.json").exists():
                if c1.button("Resume", key=f"xresume_{e['name']}"):
                    try:
                        experiment.launch(runs.read_json(folder / "grid.json"))
                    except ValueError as exc:
                        lab.show_error(exc)
                    else:
                        st.success(f"Resumed **{e['name']}**.")
            if (folder / "results.json").exists():
                # A caption, not st.page_link: that needs the page registry of a full app run.
                c2.caption("Results table: **Compare** page, 'Experiment results'.")
            log = folder / "experiment.log"
            if log.exists():
                with st.expander("Experiment log (last lines)"):
                    st.code("\n".join(runs.read_tail(log).splitlines()[-15:]) or "(empty)")


st.fragment(show_experiments, run_every=2 if live else None)()
