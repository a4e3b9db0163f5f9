"""Components: histograms, Gaussian fits, the component table, radius shell,
correlations and the multivariate-normal check (seeds II, IV, VIII; MND post)."""

import math

import pandas as pd
import streamlit as st
from matplotlib.figure import Figure

import figures
import lab
import views
from core import run_views
from core.stats.components import dominant_components, gaussian_shell, uniform_box_shell, unresolved_hw_message
from core.stats.correlation import top_pairs
from core.plotting import (plot_component_fit, plot_component_histograms, plot_correlation_heatmap,
                           plot_explained_variance, plot_qq, plot_radius)

st.set_page_config(page_title="Components · latent-lab", page_icon="🧭", layout="wide")
st.title("Components")
st.caption("How each latent component is distributed, how long the z-vectors are, how the components "
           "correlate, and how close the whole cloud is to a multivariate normal distribution.")

run = lab.select_run()
bin_width = st.sidebar.number_input(
    "Histogram bin width", value=0.25, step=0.05, format="%.3f",
    help="Width of the histogram bins (seed: 0.25). The peak position mu and half-width hw are read "
         "from these histograms.")
if not bin_width > 0:
    st.error(f"Histogram bin width must be greater than 0, got {bin_width:g}.")
    st.stop()

try:
    stats = views.statistics(run, bin_width)
except ValueError as exc:
    lab.show_error(exc)
    st.stop()
table = stats.table
n, z_dim = run.latents.shape
st.markdown(f"Run **{run.name}**: {n:,} z-points with {z_dim} components, bin width {bin_width:g}.")

TABLE_FORMAT = {
    "component": st.column_config.NumberColumn(format="%d"),
    "normality_p": st.column_config.NumberColumn(format="%.2e", help="D'Agostino-Pearson normality test"),
    "fit_r2": st.column_config.NumberColumn("fit R²", format="%.4f"),
    **{c: st.column_config.NumberColumn(format="%.3f")
       for c in ("mean", "std", "mu", "hw", "fit_amplitude", "fit_centre", "fit_sigma", "skewness", "kurtosis")},
}


# ---------------------------------------------------------------- (a) all histograms
def all_histograms():
    st.markdown("Every component's histogram in one chart (seed II): the distributions are narrow, "
                "many are not centred on 0, and a few are much wider or further out than the rest.")

    def draw_all():
        fig = Figure(figsize=(11, 4.5))
        ax = fig.subplots()
        plot_component_histograms(ax, stats.histograms)
        ax.grid(alpha=0.3)
        return fig

    png = figures.cached_figure(run, "histograms", (bin_width,), draw_all)
    lab.show_png(png, f"{run.name}_histograms.png", "dl_hist_all", width="stretch")


# ---------------------------------------------------------------- (b) selected components with fits
def selected_components():
    by_mu = dominant_components(table, n=min(3, z_dim), by="mu")["component"].tolist()
    by_hw = dominant_components(table, n=min(3, z_dim), by="width")["component"].tolist()
    default = list(dict.fromkeys(by_mu + by_hw))
    chosen = st.multiselect(
        "Components", list(range(z_dim)), default=default, max_selections=12,
        help="Preselected: the 3 components with the largest |mu| and the 3 with the largest half-width.")
    if not chosen:
        st.warning("Select at least one component.")
    else:
        def draw_fits():
            ncols = min(3, len(chosen))
            nrows = math.ceil(len(chosen) / ncols)
            fig = Figure(figsize=(3.8 * ncols, 3.0 * nrows), layout="constrained")
            axes = fig.subplots(nrows, ncols, squeeze=False)
            rows = table.set_index("component")
            for ax, c in zip(axes.flat, chosen):
                column = lab.run_cached(run_views.component_column, run, int(c))
                plot_component_fit(ax, column, {"component": c, **rows.loc[c].to_dict()}, bin_width=bin_width)
                ax.set_ylim(top=ax.get_ylim()[1] * 1.35)  # headroom for the legend
                ax.legend(fontsize=7, loc="upper left")
                ax.title.set_fontsize(10)
            for ax in axes.flat[len(chosen):]:
                ax.set_visible(False)
            return fig

        png = figures.cached_figure(run, "fits", (bin_width, tuple(chosen)), draw_fits)
        lab.show_png(png, f"{run.name}_component_fits.png", "dl_fits", width="stretch")
        st.caption("Bars: histogram; dashed red: Gaussian fit (curve_fit) with its R²; "
                   "black line: the histogram peak mu.")


# ---------------------------------------------------------------- (c) table + dominant components
def component_table():
    hw_note = unresolved_hw_message(table, bin_width)
    if hw_note:
        st.warning(hw_note)
    st.dataframe(table, column_config=TABLE_FORMAT, hide_index=True, height=360)
    lab.csv_download(table, f"{run.name}_components.csv", key="dl_table")
    n_dom = st.slider("Dominant components to list", 3, min(30, z_dim), min(10, z_dim))
    left, right = st.columns(2)
    cols = ["rank", "component", "mu", "hw", "mean", "std"]
    with left:
        st.subheader("Largest |mu|", help="Peaks furthest from the origin: they move the centre of the cloud.")
        dom_mu = dominant_components(table, n=n_dom, by="mu")[cols]
        st.dataframe(dom_mu, column_config=TABLE_FORMAT, hide_index=True)
        lab.csv_download(dom_mu, f"{run.name}_dominant_mu.csv", key="dl_dom_mu")
    with right:
        st.subheader("Largest width (hw)", help="Widest histograms (half-width at half maximum).")
        dom_hw = dominant_components(table, n=n_dom, by="width")[cols]
        st.dataframe(dom_hw, column_config=TABLE_FORMAT, hide_index=True)
        lab.csv_download(dom_hw, f"{run.name}_dominant_width.csv", key="dl_dom_hw")


# ---------------------------------------------------------------- (d) radius
def radius_view():
    b = st.slider("Box half-width b of a uniform sampler", 0.1, 5.0, 1.5, step=0.1,
                  help="Vectors with every component uniform in [-b, b] (seed IV/V: b = 1.5).")
    r1, r2 = st.columns(2)
    rbw = r1.number_input("Radius histogram bin width", value=0.1, step=0.05, format="%.3f", key="radius_bw",
                          help="Width of the radius bins (same units as |z|).")
    show_gauss = r2.checkbox("Also the unit Gaussian shell √d", value=True, key="radius_gauss",
                             help="Radii of vectors with independent N(0, 1) components: a chi distribution "
                                  "with mean ≈ √(d − ½) and spread ≈ 1/√2.")
    if not rbw > 0:
        st.error(f"Radius histogram bin width must be greater than 0, got {rbw:g}.")
        return
    radii = lab.run_cached(run_views.radii, run, spinner="Computing radii…")
    shell = uniform_box_shell(b, z_dim)
    gauss = gaussian_shell(z_dim) if show_gauss else None
    left, right = st.columns([3, 2])
    with left:
        def draw_radius():
            fig = Figure(figsize=(8, 4))
            ax = fig.subplots()
            plot_radius(ax, radii, shell=shell, bin_width=rbw, gaussian=gauss)
            ax.grid(alpha=0.3)
            return fig

        try:
            png = figures.cached_figure(run, "radius", (float(b), float(rbw), bool(show_gauss)), draw_radius)
        except ValueError as exc:
            lab.show_error(exc)
            return
        lab.show_png(png, f"{run.name}_radius.png", "dl_radius", width="stretch")
    with right:
        st.metric("Data radius (median)", f"{pd.Series(radii).median():.2f}",
                  help="Euclidean length of the z-points.")
        st.metric(f"Uniform box b = {b:g}", f"{shell['mean']:.2f} ± {shell['std']:.2f}")
        st.markdown(
            f"In {z_dim} dimensions, vectors uniform in [-b, b] have radii concentrated in a thin "
            f"shell at b·√(d/3) = {shell['mean']:.2f} with a width b/√15 = {shell['std']:.2f} that "
            "does not grow with d (*the curse of high dimensionality*). Where the shell misses the "
            "data's radii, almost no box vector lies where the encoder put the images.")


# ---------------------------------------------------------------- (e) correlation
def correlation_view():
    threshold = st.slider("Threshold |r| for the pair list", 0.05, 0.95, 0.5, step=0.05)
    left, right = st.columns([3, 2])
    with left:
        def draw_corr():
            fig = Figure(figsize=(7, 6))
            plot_correlation_heatmap(fig.subplots(), stats.correlation)
            return fig

        png = figures.cached_figure(run, "correlation", (), draw_corr)
        lab.show_png(png, f"{run.name}_correlation.png", "dl_corr", width="stretch")
    with right:
        st.subheader("Pairs above thresholds")
        counts = stats.threshold_counts
        st.dataframe(counts, hide_index=True, column_config={
            "threshold": st.column_config.NumberColumn("|r| >", format="%.1f"),
            "n_pairs": st.column_config.NumberColumn("pairs", format="%d"),
            "fraction": st.column_config.NumberColumn("fraction of all pairs", format="%.4f")})
        lab.csv_download(counts, f"{run.name}_threshold_counts.csv", key="dl_counts")
        pairs = top_pairs(stats.correlation, threshold=threshold)
        st.subheader(f"{len(pairs)} pairs with |r| > {threshold:.2f}")
        if len(pairs):
            st.dataframe(pairs, hide_index=True, height=260,
                         column_config={"r": st.column_config.NumberColumn(format="%.3f")})
            lab.csv_download(pairs, f"{run.name}_top_pairs.csv", key="dl_pairs")
        else:
            st.info("No pair is that strongly correlated; lower the threshold.")


# ---------------------------------------------------------------- (f) MND check
def mnd_check():
    try:
        summary = lab.run_cached(run_views.mnd, run, shared=True, spinner="Computing Mahalanobis distances…")
    except ValueError as exc:
        lab.show_error(exc)
    else:
        left, right = st.columns([1, 1])
        with left:
            def draw_qq():
                fig = Figure(figsize=(6.5, 5))
                ax = fig.subplots()
                plot_qq(ax, summary["qq"])
                ax.grid(alpha=0.3)
                return fig

            png = figures.cached_figure(run, "mahalanobis_qq", (), draw_qq)
            lab.show_png(png, f"{run.name}_mahalanobis_qq.png", "dl_qq", width="stretch")
        with right:
            st.markdown(
                "**How to read it:** each point pairs a quantile of the squared Mahalanobis distances "
                "of the z-points with the same quantile of the law they would follow if the latents "
                "were a multivariate normal distribution (MND) whose mean and covariance are "
                f"estimated from these {summary['n_samples']:,} points: **{summary['reference']}** "
                f"(exact; chi-square with {summary['rank']} degrees of freedom is its limit for "
                "n → ∞). For an MND the points lie on the dashed diagonal; points above it mean "
                "heavier tails (more points far out) than an MND, points below it lighter tails.")
            fr = summary["fractions"].rename(columns={
                "k": "k", "theory": "k-σ-mass theory", "measured": "k-σ-mass measured",
                "theory_chi2": "k-σ-mass, n → ∞",
                "radius_theory": "radius-k theory", "radius_measured": "radius-k measured"})
            fr = fr.drop(columns=["threshold_sq"])
            st.dataframe(fr, hide_index=True, column_config={
                c: st.column_config.NumberColumn(format="%.4f") for c in fr.columns if c != "k"})
            lab.csv_download(fr, f"{run.name}_ellipsoid_fractions.csv", key="dl_fractions")
            st.caption("The *k-σ-mass ellipsoid* is the one that holds the same probability as ±k σ "
                       "in one dimension (68.3 %, 95.4 %, 99.7 %) under the chi-square law (n → ∞); "
                       "*theory* is what the exact law above expects inside it for this n. *Radius k* "
                       "is the ellipsoid of Mahalanobis radius k, which in "
                       f"{summary['rank']} dimensions holds almost nothing. Kolmogorov-Smirnov "
                       f"against the exact law: statistic {summary['ks_statistic']:.3f}, "
                       f"p = {summary['ks_pvalue']:.3g}.")


# ---------------------------------------------------------------- (g) PCA explained variance (issue 11)
def pca_view():
    k_max = int(st.number_input("components shown", value=min(120, z_dim), step=10, key="pca_kmax",
                                help=f"1 … {z_dim}"))
    if not 1 <= k_max <= z_dim:
        st.error(f"components shown must be in 1 … {z_dim}, got {k_max}")
        return

    def draw_pca():
        fig = Figure(figsize=(10, 4.2))
        ax = fig.subplots()
        plot_explained_variance(ax, stats.pca, k_max=k_max)
        ax.set_title(f"PCA of the {n:,} z-points: explained variance")
        return fig

    png = figures.cached_figure(run, "pca_variance", (int(k_max),), draw_pca)
    lab.show_png(png, f"{run.name}_pca_variance.png", "dl_pca_var", width="stretch")
    ratio = stats.pca.explained_variance_ratio_
    cum = ratio.cumsum()
    df = pd.DataFrame({"component": range(1, len(ratio) + 1), "ratio": ratio, "cumulative": cum})
    need = {f: int((cum < f - 1e-12).sum() + 1) for f in (0.5, 0.9, 0.95, 0.99)}
    st.markdown("Components needed for " + ", ".join(f"**{100 * f:g} %**: {k}" for f, k in need.items())
                + " of the variance (seed X keeps 50–120 for the PCA-ellipse sampler).")
    lab.csv_download(df, f"{run.name}_pca_variance.csv", key="dl_pca_csv")


# ---------------------------------------------------------------- layout
SECTIONS = {"All histograms": all_histograms, "Selected components": selected_components,
            "Component table": component_table, "Radius": radius_view, "Correlation": correlation_view,
            "MND check": mnd_check, "PCA": pca_view}
# Only the open tab runs; its name is in the URL (?view=Radius), so a view can be shared.
for tab, section in zip(st.tabs(list(SECTIONS), key="view", bind="query-params"), SECTIONS.values()):
    with tab:
        if tab.open:
            section()
