"""Compare: 2-4 runs or latent sets side by side on the same axes (seed post 002, objectives 1-4)."""

import pandas as pd
import streamlit as st

import figures
import lab
from core import compare_runs as cr
from core import experiment
from core.sampling.samplers import SAMPLERS

st.set_page_config(page_title="Compare · latent-lab", page_icon="🧭", layout="wide")
st.title("Compare runs")
st.caption("Does the latent cloud depend on the architecture, batch normalisation, z_dim or the data? "
           "Two to four runs (or named latent sets RUN/SET: another dataset through the same encoder) "
           "on the same axes, every number from the single-run statistics.")

infos = lab.list_runs()
usable = [i["name"] for i in infos if i["status"] == "complete"]

exps = [e for e in experiment.list_experiments() if (e["path"] / "results.json").exists()]
if exps:
    with st.expander(f"Experiment results ({len(exps)})", expanded=bool(st.session_state.get("compare_exp"))):
        exp_name = st.selectbox("Experiment", [e["name"] for e in exps], key="compare_exp")
        try:
            results = experiment.read_results(next(e["path"] for e in exps if e["name"] == exp_name))
        except ValueError as exc:
            lab.show_error(exc)
        else:
            st.dataframe(results, hide_index=True)
            lab.csv_download(results, f"{exp_name}_results.csv", key="dl_exp")
            exp_runs = [r for r in results.get("run", pd.Series(dtype=str)).tolist() if r in usable]

            def _open_runs(names=tuple(exp_runs[:cr.MAX_RUNS])):
                st.session_state["compare_runs"] = list(names)

            st.button(f"Compare its runs below ({min(len(exp_runs), cr.MAX_RUNS)} of {len(exp_runs)})",
                      key="compare_open_exp", on_click=_open_runs, disabled=len(exp_runs) < cr.MIN_RUNS)
default = [n for n in [st.session_state.get(lab.RUN_KEY)] + usable if n in usable]
default = list(dict.fromkeys(default))[:2]
# A link may name the runs: Compare?runs=default,faces_bn,faces_z64,digits
default = lab.query_list("runs", default, allowed=usable)[:cr.MAX_RUNS]
# The choice lives in session state (no default= next to it): the experiment button above sets it.
st.session_state["compare_runs"] = [n for n in st.session_state.get("compare_runs", default) if n in usable]
chosen = st.multiselect("Runs and latent sets", usable, key="compare_runs",
                        max_selections=cr.MAX_RUNS,
                        help="RUN/SET is a named latent set (python -m core encode --run RUN --dataset X --as SET).")
if len(chosen) < cr.MIN_RUNS:
    st.info(f"Choose {cr.MIN_RUNS} to {cr.MAX_RUNS} runs to compare ({len(usable)} usable).")
    st.stop()

try:
    loaded = [lab.get_run(name) for name in chosen]
    with st.spinner("Statistics of each run (components, correlation, PCA, MND)…"):
        sums = [lab.run_cached(cr.run_summary, r, shared=True) for r in loaded]
except ValueError as exc:
    lab.show_error(exc)
    st.stop()
result = cr.combine(sums)
same = result["same_z_dim"]
if not same:
    st.warning(result["note"])

st.subheader("At a glance")
st.caption("Dimension-free numbers: radius / √d, PCA axes for 90 % of the variance (and their share of d), "
           "the MND check (KS statistic against the exact law, d² variance / its theory, fractions inside "
           "the k-σ ellipsoids against theory).")
summary = cr.summary_table(result)
st.dataframe(summary.style.format("{:.4g}"), width="stretch", height=36 * (len(summary) + 1) + 4)
lab.csv_download(summary.reset_index(names="quantity"), "compare_summary.csv", key="dl_summary")

tabs = ["Histograms", "Dominant components", "Radius", "Correlation", "PCA", "MND check", "Planes", "Sampler"]
view = st.segmented_control("View", tabs, default="Histograms", key="compare_view",
                            bind="query-params") or "Histograms"


def show(kind, params, draw, stem):
    png = figures.cached_figure(loaded[0], kind, tuple(params), draw, dpi=100, others=loaded[1:])
    lab.show_png(png, f"compare_{stem}.png", key=f"dl_{stem}")


if view == "Histograms":
    comp = None
    if same:
        comp = int(st.number_input("Component to overlay", 0, result["z_dims"][0] - 1, 0, key="compare_comp"))
    else:
        st.caption("Different z_dim: component c of one run is not component c of another, so only the "
                   "pooled distribution of all component values is overlaid.")
    show("hist", (comp,), lambda: cr.figure_histograms(sums, comp), "histograms")
elif view == "Dominant components":
    st.caption("Per run, the components whose histogram peak lies furthest from 0 (|mu|) and the widest.")
    cols = st.columns(len(sums))
    for c, s in zip(cols, sums):
        c.markdown(f"**{s['name']}** (z_dim {s['z_dim']})")
        c.dataframe(s["stats"]["dominant_mu"].head(5), hide_index=True)
        c.dataframe(s["stats"]["dominant_width"].head(5), hide_index=True)
elif view == "Radius":
    b = st.number_input("uniform box half-width b", value=1.5, step=0.1, key="compare_b")
    if not b > 0:
        st.error(f"b must be greater than 0, got {b:g}.")
    else:
        show("radius", (float(b),), lambda: cr.figure_radius(sums, float(b)), "radius")
        st.caption("Divided by √d so runs of any z_dim share the axis: a standard normal cloud sits at 1, "
                   "vectors uniform in [-b, b]^d at b/√3.")
elif view == "Correlation":
    show("thresholds", (), lambda: cr.figure_thresholds(sums), "thresholds")
    table = pd.concat({s["name"]: s["stats"]["threshold_counts"].set_index("threshold")["n_pairs"]
                       for s in sums}, axis=1)
    st.dataframe(table)
elif view == "PCA":
    show("evr", (), lambda: cr.figure_evr(sums), "evr")
elif view == "MND check":
    show("qq", (), lambda: cr.figure_qq(sums), "qq")
    for s in sums:
        m = s["stats"]["mnd"]
        if "error" in m:
            st.markdown(f"**{s['name']}**: MND check not possible: {m['error']}")
            continue
        st.markdown(f"**{s['name']}**: KS {m['ks_statistic']:.3f} against {m['reference']}")
        st.dataframe(m["fractions"][["k", "theory", "measured", "theory_chi2"]], hide_index=True)
elif view == "Planes":
    st.caption("Confidence ellipses in each run's most correlated planes: theory 1 − exp(−k²/2) "
               "against the measured share of points inside.")
    cols = st.columns(len(sums))
    for c, s in zip(cols, sums):
        c.markdown(f"**{s['name']}**")
        c.dataframe(s["planes"], hide_index=True)
elif view == "Sampler":
    c1, c2, c3 = st.columns(3)
    sampler = c1.selectbox("Sampler", list(SAMPLERS), index=list(SAMPLERS).index("mvn"), key="compare_sampler")
    n = int(c2.number_input("vectors per run", 100, 20000, 2000, step=500, key="compare_n"))
    seed = int(c3.number_input("seed", 0, 2**31 - 1, 0, key="compare_seed"))
    if st.button("Score and decode in every run", key="compare_go"):
        st.session_state["compare_scored"] = (sampler, n, seed)
    if st.session_state.get("compare_scored") == (sampler, n, seed):
        boards, grids = {}, []
        try:
            with st.spinner("Fitting, drawing and scoring in each run…"):
                for r in loaded:
                    boards[r.name] = lab.run_cached(cr.sampler_scoreboard, r, sampler, None, n, seed)
                    # the first 16 vectors of the draw the scoreboard above scored
                    grids.append(lab.run_cached(cr.decoded_grid, r, sampler, None, n, seed))
        except ValueError as exc:
            lab.show_error(exc)
            st.stop()
        table = pd.concat({name: b.loc[sampler] for name, b in boards.items()}, axis=1)
        held = pd.concat({name: b.loc["held-out data"] for name, b in boards.items()}, axis=1)
        st.markdown(f"**{sampler}** in each run (default parameters)")
        st.dataframe(table)
        st.markdown("held-out data of each run (the reference)")
        st.dataframe(held)
        cols = st.columns(len(loaded))
        for c, r, g in zip(cols, loaded, grids):
            c.image(g, caption=f"{r.name}: {sampler}, first 16 of {n}", width="stretch")
