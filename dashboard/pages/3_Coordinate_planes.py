"""Coordinate planes: points, KDE contours and confidence ellipses of a pair (i, j).

Seed post VIII (contours vs confidence ellipses, grids of planes) and
"the curse of high dimensionality – II" (slices, zoomed regions with
filaments and voids, t-SNE).
"""

import numpy as np
import pandas as pd
import streamlit as st
from matplotlib.figure import Figure

import figures
import lab
import views
from core import run_views
from core.stats.correlation import correlation_matrix, top_pairs
from core.stats.planes import grid_pairs, zoom_window
from core.stats.ellipses import check_sigmas, plane_coordinates, plane_ellipses, slice_mask, theoretical_coverage
from core.plotting import legend_html, plot_empty_slice, plot_plane, reused_axes
from core.sampling.samplers import SAMPLERS
from core.stats.tsne import MAX_TSNE_POINTS

st.set_page_config(page_title="Coordinate planes · latent-lab", layout="wide", initial_sidebar_state="expanded")
st.title("Coordinate planes")
st.markdown(
    "Project every z-point onto the plane of two axes — original latent components or PCA "
    "components — and compare the **KDE contours** of the points with the **confidence "
    "ellipses** of the pair's mean and covariance. For a true bivariate normal the n-σ ellipse "
    "holds 1 − exp(−n²/2) of the points (39.3 %, 86.5 %, 98.9 % for 1, 2, 3 σ), and the "
    "dashed KDE contour enclosing the same mass has the same shape but is √(1 + h²) times "
    "larger (the kernel widens the estimate; h = n^(−1/6) by Scott's rule, so +1.6 % at "
    "30,000 points, +3.4 % at 3,000); where measured and theoretical coverage differ, the "
    "distribution is not normal in that plane."
)

run = lab.select_run()
stats = views.statistics(run)
d = run.z_dim
SIGMA_CHOICES = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]
# Measured with docs/time_tsne.py on the default run (2 busy cores).
TSNE_30K_NOTE = "9 min for 30,000 points on 2 CPU cores shared with other jobs, load average 8–23"


def enlarge(ax, size=13):
    """Bigger text on one axes (the PNG is shown scaled down); no global rcParams change,
    which would leak into other sessions' figures."""
    ax.tick_params(labelsize=size - 2)
    ax.xaxis.label.set_size(size)
    ax.yaxis.label.set_size(size)
    ax.title.set_size(size)
    if ax.get_legend() is not None:
        for text in ax.get_legend().get_texts():
            text.set_fontsize(size - 3)


def _figure_png(run, kind, params, draw=None):
    """``draw()`` (PNG bytes, legend HTML); through ``lab.run_cached`` keyed by (run version, kind, params)."""
    return draw()


def axis_label(space, k):
    return f"z{k}" if space == "latent" else f"PCA {k}" + (" (leading)" if k == 0 else "")


def choices():
    """The choices every plane shares (coordinates, sigma levels, KDE, slice, sampler overlay, zoom).

    They are outside the pair's fragment: a change of one reruns the page, a
    pair change only :func:`plane`, whose elements are then few (each
    element a rerun sends costs the browser ~2 ms before the run counts as
    finished; §6: a pair change in <= 150 ms).  Returns a dict, or None
    after showing what is wrong.
    """
    c1, c2, c3 = st.columns([1, 2, 2])
    space = c1.radio("Coordinates", ["latent", "pca"], key="planes_space",
                     index=1 if lab.query_value("space", "latent") == "pca" else 0,
                     format_func=lambda s: {"latent": "latent z", "pca": "PCA"}[s],
                     help="PCA: coordinates along the principal axes (0 = largest variance)")
    source = c2.radio("Pair", ["choose i and j", "top-correlated pair"], key="planes_source",
                      horizontal=True, disabled=space == "pca",
                      help="PCA coordinates are uncorrelated by construction; top pairs need latent z.")
    sigmas = c3.multiselect("Sigma levels (type any, e.g. 2.2)", SIGMA_CHOICES, key="planes_sigmas",
                            default=lab.query_list("sigmas", [1.0, 2.0, 3.0], float, allowed=SIGMA_CHOICES),
                            accept_new_options=True,
                            format_func=lambda s: (f"{s:g} σ ({100 * theoretical_coverage(s):.1f} %)"
                                                   if isinstance(s, float) else f"{s} σ"))
    try:
        sigmas = list(check_sigmas(sigmas))
    except ValueError as exc:
        lab.show_error(exc)
        return None
    show_kde = c3.checkbox("KDE contours at the same masses", value=True, key="planes_kde")

    with st.expander("Slice, sampler overlay, zoom", expanded=False):
        e1, e2, e3 = st.columns(3)
        use_slice = e1.checkbox("Slice: keep points with |other coordinates| ≤ t", key="planes_slice",
                                help="Removes projection effects: only z-points close to the (i, j) plane "
                                     "stay (seed: t = 1.5 in latent coordinates).")
        t = e1.number_input("t", value=1.5, step=0.25, key="planes_t", disabled=not use_slice)
        overlay_name = e2.selectbox("Overlay a sampler's vectors", ["none"] + list(SAMPLERS), key="planes_ov")
        overlay_params = {}
        if overlay_name != "none":
            n_over = int(e2.number_input("vectors", value=200, step=50, key="planes_ov_n"))
            seed_over = int(e2.number_input("seed", value=0, step=1, key="planes_ov_seed"))
            overlay_params = views.sampler_param_widgets(overlay_name, d, "planes_ovp", where=e2)
        zoom = e3.checkbox("Zoom to a region", key="planes_zoom",
                           help="Look for filaments and voids: all points inside the window are drawn.")
        zabs = e3.radio("window in", ["σ from the centre", "absolute coordinates"], key="planes_zabs",
                        horizontal=True, disabled=not zoom,
                        help="Absolute: a fixed square such as ±0.25 around a point (the 'curse' post's zooms).")
        if zabs == "absolute coordinates":
            za1, za2, za3 = e3.columns(3)
            zx = za1.number_input("centre x", value=0.0, step=0.25, key="planes_zax", disabled=not zoom)
            zy = za2.number_input("centre y", value=0.0, step=0.25, key="planes_zay", disabled=not zoom)
            zw = za3.number_input("half-width", value=0.25, step=0.05, key="planes_zaw", disabled=not zoom)
        else:
            zx = e3.slider("window centre x (σ from the centre)", -4.0, 4.0, 0.0, 0.1, key="planes_zx",
                           disabled=not zoom)
            zy = e3.slider("window centre y (σ from the centre)", -4.0, 4.0, 0.0, 0.1, key="planes_zy",
                           disabled=not zoom)
            zw = e3.slider("window half-width (σ)", 0.1, 4.0, 1.0, 0.1, key="planes_zw", disabled=not zoom)

    V = None
    if overlay_name != "none":
        try:
            V = views.sample(run, overlay_name, n_over, seed_over, **overlay_params)
        except ValueError as exc:
            lab.show_error(exc)
    return {"space": space, "source": source, "sigmas": sigmas, "show_kde": show_kde, "use_slice": use_slice,
            "t": float(t), "overlay_name": overlay_name if V is not None else "none", "V": V,
            "ov_key": None if V is None else (overlay_name, n_over, seed_over, repr(sorted(overlay_params.items()))),
            "zoom": zoom, "zabs": zabs, "zx": float(zx), "zy": float(zy), "zw": float(zw)}


def pair_choice(space, source):
    """(i, j) from the number inputs, or from the top-correlated pairs' list (inside the fragment)."""
    if space == "latent" and source == "top-correlated pair":
        tp = top_pairs(stats.correlation, threshold=0.0, n=min(30, d * (d - 1) // 2))
        options = list(tp.itertuples(index=False))
        pick = st.selectbox("Top-correlated pairs (by |r|)", range(len(options)), key="planes_top",
                            format_func=lambda k: f"z{options[k].i} – z{options[k].j}   (r = {options[k].r:+.3f})")
        return int(options[pick].i), int(options[pick].j)
    ci, cj, _ = st.columns([1, 1, 3])
    i = int(ci.number_input("i", value=lab.query_value("i", 0, int), step=1, key="planes_i", help=f"0 … {d - 1}"))
    j = int(cj.number_input("j", value=lab.query_value("j", 1, int), step=1, key="planes_j", help=f"0 … {d - 1}"))
    return i, j


@st.fragment
def plane(opts):
    """The pair's plane: a pair change reruns only this (issue 14)."""
    space, sigmas, show_kde, use_slice, t = (opts[k] for k in ("space", "sigmas", "show_kde", "use_slice", "t"))
    overlay_name, V, zoom = opts["overlay_name"], opts["V"], opts["zoom"]
    zabs, zx, zy, zw = opts["zabs"], opts["zx"], opts["zy"], opts["zw"]
    i, j = pair_choice(space, opts["source"])

    try:
        points = lab.run_cached(run_views.plane, run, i, j, space)
    except ValueError as exc:
        lab.show_error(exc)
        return
    n_all = points.shape[0]
    t_used = None
    empty_slice = False
    if use_slice:
        try:
            mask = lab.run_cached(run_views.slice_mask, run, i, j, float(t), space, allow_empty=True)
        except ValueError as exc:
            lab.show_error(exc)
            return
        reference = points
        points = points[mask]
        t_used = float(t)
        empty_slice = not len(points)
        if empty_slice:
            # Seed IV's finding: no z-point is left, yet box vectors fill the slab.
            st.info(f"0 of {n_all:,} z-points have all their other {d - 2} coordinates within ±{t:g}: "
                    "with many dimensions a slice empties fast (the seed post found 2 of 5,000 CelebA points "
                    "at t = 1.5). Overlay a sampler to see which vectors still lie in it.")
        elif points.shape[0] < 3:
            st.warning(f"Only {points.shape[0]} point(s) left in the slice (t = {t:g}): too few for "
                       "ellipses and contours. Increase t.")
            return

    if not sigmas:
        st.warning("Choose at least one sigma level to draw ellipses and contours.")
    table = []
    if sigmas and not empty_slice:
        try:
            table = plane_ellipses(points, sigmas)
        except ValueError as exc:  # a flat pair: a message, not a 1-D coverage
            lab.show_error(exc)
    kde = None
    if show_kde and sigmas and not empty_slice:
        try:
            kde = lab.run_cached(run_views.plane_kde, run, i, j, space, t_used)
        except ValueError as exc:
            st.warning(f"No KDE for this plane: {exc}")

    overlay = overlay_label = None
    if V is not None:
        n_over = len(V)
        try:
            pca = stats.pca if space == "pca" else None
            if t_used is not None:
                V = V[slice_mask(V, i, j, t_used, space=space, pca=pca, allow_empty=True)]
                if not len(V):
                    st.warning(f"None of the {n_over} {overlay_name} vectors lies in the slice t = {t_used:g}.")
            overlay = plane_coordinates(V, i, j, space=space, pca=pca) if len(V) else np.empty((0, 2))
            overlay_label = f"{overlay_name}: {len(overlay):,} vectors" + (" in the slice" if t_used else "")
        except ValueError as exc:
            if t_used is not None and "leaves no point" in str(exc):
                st.warning(f"None of the {n_over} {overlay_name} vectors lies in the slice t = {t_used:g}.")
            else:
                lab.show_error(exc)

    if empty_slice:
        fig = Figure(figsize=(6.6, 6.2))
        ax = fig.add_subplot()
        plot_empty_slice(ax, reference, n_all, t_used, overlay=overlay, overlay_label=overlay_label,
                         labels=(axis_label(space, i), axis_label(space, j)))
        ax.set_title(f"{'Latent' if space == 'latent' else 'PCA'} plane ({i}, {j}) — "
                     f"slice |others| ≤ {t_used:g}: 0 of {n_all:,} points")
        enlarge(ax)
        left, right = st.columns([5, 3])
        with left:
            lab.show_png(figures.figure_png(fig, dpi=115), f"{run.name}_{space}_plane_{i}_{j}_empty_slice.png",
                         key="planes_dl_main")
        with right:
            m1, m2 = st.columns(2)
            m1.metric("points in the slice", "0")
            m2.metric("sampler vectors in the slice", "—" if overlay is None else f"{len(overlay):,}")
        st.divider()
    else:
        mean2 = points.mean(axis=0)
        xlim = ylim = None
        shown = points
        if zoom:
            try:
                xlim, ylim, inside = zoom_window(points, (zx, zy), zw,
                                                 units="absolute" if zabs == "absolute coordinates" else "std")
            except ValueError as exc:
                lab.show_error(exc)
                return
            shown = points[inside]
            if not len(shown):
                st.warning("No z-point lies inside the zoom window; move it towards the centre or widen it.")

        mark = lab.user_mark(run)

        what = (f"slice |others| ≤ {t_used:g}: {len(points):,} of {n_all:,} points" if t_used
                else f"{n_all:,} points")
        title = f"{'Latent' if space == 'latent' else 'PCA'} plane ({i}, {j}) — {what}"

        def draw(ax, with_legend):
            """The plane on ``ax``: on screen without its legend and title (shown as HTML around it: the
            legend was a third of the drawing time, the title's glyphs a fifth of what was left, issue 14),
            in the downloaded PNG with both, the legend below the axes.  Returns the legend's handles."""
            art = plot_plane(ax, shown, kde=kde, ellipses=table, sigmas=sigmas or (1.0,), centre=not zoom,
                             overlay=overlay, overlay_label=overlay_label, xlim=xlim, ylim=ylim,
                             labels=(axis_label(space, i), axis_label(space, j)), legend=False)
            # Denser dots than plot_plane's default so that filaments and voids show.
            art["scatter"].set_alpha(0.5)
            art["scatter"].set_sizes(np.maximum(art["scatter"].get_sizes(), 1.5))
            if zoom:
                # plot_plane's centre marker would use the window's points; mark the plane's centre.
                ax.plot([mean2[0]], [mean2[1]], "o", color="#ffbf00", mec="k", ms=8)
            handles = list(art["legend_handles"])
            if mark is not None:  # an image uploaded on the Your image page
                m2 = plane_coordinates(np.asarray(mark, np.float32)[None], i, j, space=space,
                                       pca=stats.pca if space == "pca" else None)[0]
                (star,) = ax.plot([m2[0]], [m2[1]], "*", ms=20, color="#ffd700", mec="k", mew=1.2, zorder=10,
                                  label="your image")
                handles.append(star)
            # On screen the title is HTML above the image (plot_plane's generic one is dropped).
            ax.set_title(title if with_legend else "", y=1.0)  # fixed position: no layout pass
            if with_legend:
                ax.legend(handles, [h.get_label() for h in handles], loc="upper center",
                          bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
            enlarge(ax)
            return handles

        def draw_screen():
            # A kept figure (its axes and ticks reused) with fixed margins: one draw pass, no tight
            # bounding box (§6: a pair change in ≤ 150 ms).  The axes box in inches is the download's.
            with reused_axes((6.6, 5.66), left=0.11, right=0.98, bottom=0.115, top=0.98) as ax:
                handles = draw(ax, with_legend=False)
                return figures.figure_png(ax.figure, dpi=115, tight=False), legend_html(handles)

        def draw_download():
            fig = Figure(figsize=(6.6, 7.0))
            draw(fig.add_subplot(), with_legend=True)
            fig.subplots_adjust(left=0.11, right=0.98, bottom=0.25, top=0.95)
            return figures.figure_png(fig, dpi=115, tight=False)

        # Everything the figure shows besides the run: a revisited choice sends cached bytes.
        ov_key = opts["ov_key"]
        params = (space, i, j, tuple(sigmas), bool(show_kde), t_used, ov_key, bool(zoom),
                  (zabs, float(zx), float(zy), float(zw)) if zoom else None, mark)
        png, legend = lab.run_cached(_figure_png, run, "plane", params, unhashed={"draw": draw_screen})

        left, right = st.columns([5, 3])
        with left:
            # PNG as given (the default "auto" re-encodes it as JPEG); the download, legend included,
            # is drawn when clicked.
            st.markdown(f"**{title}**")
            st.image(png, output_format="PNG")
            st.markdown(legend, unsafe_allow_html=True)
            st.download_button("Download PNG", draw_download,
                               file_name=lab.file_stem(f"{run.name}_{space}_plane_{i}_{j}.png"),
                               mime="image/png", key="planes_dl_main", on_click="ignore")
        with right:
            m1, m2 = st.columns(2)
            m1.metric("points in the plane" if not t_used else "points in the slice", f"{len(points):,}")
            m2.metric("correlation r", f"{correlation_matrix(points)[0, 1]:+.3f}" if len(points) > 2 else "—")
            if zoom:
                st.caption(f"Zoom window: {len(shown):,} points drawn (all of those inside).")
            if len(table):
                cov = pd.DataFrame({"sigma": table["sigma"], "theory %": 100 * table["theory"],
                                    "measured %": 100 * table["measured"],
                                    "measured − theory": 100 * (table["measured"] - table["theory"])})
                st.markdown("**Coverage of the confidence ellipses**")
                # Formats in the browser (column_config), not a pandas Styler: 8 % of a pair change's time.
                number = st.column_config.NumberColumn
                st.dataframe(cov, hide_index=True,
                             column_config={"sigma": number(format="%g"), "theory %": number(format="%.1f"),
                                            "measured %": number(format="%.1f"),
                                            "measured − theory": number(format="%+.1f")})
                lab.csv_download(cov, f"{run.name}_{space}_coverage_{i}_{j}.csv", key="planes_dl_cov")
            st.markdown(
                "Solid ellipses: n-σ confidence ellipses of the pair's covariance. Dashed lines: KDE "
                "contours at the highest-density levels holding the same masses (same colour). "
                "**+** origin, **●** centre (mean). Ellipses and contours use all points; at most "
                "20,000 are drawn."
            )
            if t_used:
                st.caption("In a slice the ellipses and contours describe the points left in the slice.")


@st.fragment
def grid(opts):
    """Planes of several pairs (seed III); its own fragment: it does not depend on the pair above."""
    space, sigmas, show_kde = opts["space"], opts["sigmas"], opts["show_kde"]
    overlay_name, V = opts["overlay_name"], opts["V"]
    n_all = run.latents.shape[0]
    st.divider()
    st.subheader("Grid of planes")
    if st.checkbox("Show a grid of planes (2 × 3, or 4 × 4 top-correlated pairs)", key="planes_grid"):
        g1, g2, g3 = st.columns(3)
        # Label -> (core.stats.planes.grid_pairs layout, grid rows x columns).
        choices = {"consecutive pairs (k, k+1), (k+2, k+3), …": ("consecutive", (2, 3)),
                   "component k against the next ones": ("against-next", (2, 3))}
        if space == "latent":
            choices.update({"six top-correlated pairs": ("top-correlated", (2, 3)),
                            "16 top-correlated pairs (4 × 4, seed III)": ("top-correlated", (4, 4))})
        layout, grid_shape = choices[g1.radio("Pairs", list(choices), key="planes_grid_layout")]
        k0 = int(g2.number_input("start component k", value=0, step=1, key="planes_grid_k"))
        grid_points = int(g3.number_input("points drawn per plane", value=4000, step=1000, key="planes_grid_n"))
        mark_row = int(g3.number_input(f"mark the z-point of image (row 0 … {n_all - 1}; −1: none)", value=-1,
                                       step=1, key="planes_grid_mark",
                                       help="Seed III marks one image's z-point in every plane. An image uploaded on "
                                            "the Your image page is marked too (★)."))
        if not -1 <= mark_row < n_all:
            st.error(f"image row must be in −1 … {n_all - 1}, got {mark_row}")
            return
        pairs, bad = grid_pairs(layout, k0, d, correlation=stats.correlation, n=grid_shape[0] * grid_shape[1])
        marks = []
        if mark_row >= 0:
            marks.append((np.asarray(run.latents[mark_row], np.float32), f"image {mark_row}", "o"))
        if lab.user_mark(run) is not None:
            marks.append((np.asarray(lab.user_mark(run), np.float32), "your image", "*"))
        if grid_points < 1:
            st.error(f"points drawn per plane must be at least 1, got {grid_points}")
        elif not pairs:
            st.error(f"no pair of this layout lies in 0 … {d - 1} with k = {k0}; lower k.")
        else:
            if bad:
                st.info(f"Pairs {bad} are out of range (components 0 … {d - 1}); {len(pairs)} planes shown.")
            fig = Figure(figsize=(13, 8.4) if grid_shape == (2, 3) else (14, 14))
            axes = fig.subplots(*grid_shape)
            for ax in axes.ravel()[len(pairs):]:
                ax.set_visible(False)
            with st.spinner(f"Drawing {len(pairs)} planes…"):
                for ax, (a, b) in zip(axes.ravel(), pairs):
                    pts = lab.run_cached(run_views.plane, run, a, b, space)
                    try:
                        tab = plane_ellipses(pts, sigmas) if sigmas else []
                        kd = lab.run_cached(run_views.plane_kde, run, a, b, space) if (show_kde and sigmas) else None
                    except ValueError:  # a flat pair: leave the panel empty, say why
                        ax.text(0.5, 0.5, f"({a}, {b}): singular covariance\n(constant or collinear)",
                                ha="center", va="center", transform=ax.transAxes)
                        ax.set_xticks([])
                        ax.set_yticks([])
                        continue
                    ov = None
                    if V is not None and len(V):
                        ov = plane_coordinates(V, a, b, space=space, pca=stats.pca if space == "pca" else None)
                    art = plot_plane(ax, pts, kde=kd, ellipses=tab, max_points=grid_points, overlay=ov,
                                     overlay_label=overlay_name, labels=(axis_label(space, a), axis_label(space, b)))
                    for zm, mlabel, marker in marks:
                        mp = plane_coordinates(zm[None], a, b, space=space,
                                               pca=stats.pca if space == "pca" else None)[0]
                        ax.plot([mp[0]], [mp[1]], marker, ms=14 if marker == "*" else 9, color="#ffd700", mec="k",
                                mew=1.2, zorder=10)
                    art["scatter"].set_alpha(0.5)
                    art["scatter"].set_sizes(np.maximum(art["scatter"].get_sizes(), 1.5))
                    ax.get_legend().remove()
                    cov_txt = "  ".join(f"{r.sigma:g}σ {100 * r.measured:.0f}/{100 * r.theory:.0f}%"
                                        for r in tab.itertuples()) if len(tab) else ""
                    ax.set_title(f"({a}, {b})  {cov_txt}")
                    enlarge(ax, 12)
                extra = "".join(f"; {m[1]} marked {'★' if m[2] == '*' else '●'}" for m in marks)
                if V is not None:
                    extra += f"; green ×: {overlay_name}"
                fig.suptitle(f"{'Latent' if space == 'latent' else 'PCA'} planes of run {run.name}: "
                             f"ellipse coverage measured/theory per σ level{extra}", fontsize=12)
                fig.tight_layout()
                png = figures.figure_png(fig, dpi=90)
            lab.show_png(png, f"{run.name}_{space}_planes_grid.png", key="planes_dl_grid")


opts = choices()
if opts is not None:
    plane(opts)
    grid(opts)

# ---------------------------------------------------------------- t-SNE

st.divider()
st.subheader("t-SNE map")
st.caption("A non-linear map of a subsample (seed: 'the curse of high dimensionality – II': 20,000 points, "
           f"early exaggeration 16, perplexity 10). openTSNE, FFT gradients, 250 + 500 iterations; at most "
           f"{MAX_TSNE_POINTS:,} points (about {TSNE_30K_NOTE}). Distances in it are not latent-space distances; "
           "clusters, filaments and voids that persist over subsamples and perplexities are the signal. "
           "Cached on disk by content: a second look is instant.")
t1, t2, t3, t4 = st.columns(4)
tsne_n = int(t1.number_input(f"points (≤ {MAX_TSNE_POINTS:,})", value=min(1000, run.latents.shape[0]), step=1000,
                             key="tsne_n"))
tsne_ex = t1.number_input("early exaggeration", value=12.0, step=1.0, key="tsne_ex",
                          help="Seed: 16. Pulls clusters apart during the first 250 iterations.")
tsne_space = t2.radio("input", ["latent", "pca"], key="tsne_space",
                      format_func=lambda s: {"latent": "all latent components",
                                             "pca": "leading PCA components"}[s])
tsne_dims = int(t2.number_input("PCA components", value=min(4, d), step=1, key="tsne_dims",
                                disabled=tsne_space != "pca"))
tsne_perp = t3.number_input("perplexity", value=30.0, step=5.0, key="tsne_perp", help="Seed: 10.")
tsne_seed = int(t3.number_input("seed", value=0, step=1, key="tsne_seed"))
colour_by = "none"
if run.attributes is not None and len(run.attributes) == run.latents.shape[0]:
    colour_by = t4.selectbox("colour by attribute", ["none"] + list(run.attributes.columns), key="tsne_colour")
if t4.button("Seed values (20,000 · 16 · 10)", key="tsne_seedvals"):
    st.session_state["tsne_request"] = (run.name, min(20_000, run.latents.shape[0]), "latent", None, 10.0, 0, 16.0)
if t4.button("Compute t-SNE", key="tsne_go"):
    st.session_state["tsne_request"] = (run.name, tsne_n, tsne_space,
                                        tsne_dims if tsne_space == "pca" else None, tsne_perp, tsne_seed, tsne_ex)
req = st.session_state.get("tsne_request")
if req and req[0] == run.name:
    bar = st.progress(0.0, text=f"t-SNE of {req[1]:,} points…")
    try:
        rows, Y = run_views.tsne(run, n=req[1], space=req[2], n_dims=req[3], perplexity=req[4], seed=req[5],
                                 early_exaggeration=req[6], progress=lambda f, text: bar.progress(f, text=text),
                                 statistics=stats)
        bar.empty()
        fig = Figure(figsize=(6.6, 5.8))
        ax = fig.add_subplot()
        size = float(np.clip(3000.0 / len(rows), 0.3, 5.0))
        if colour_by != "none":
            c = run.attributes[colour_by].to_numpy()[rows]
            sc = ax.scatter(Y[:, 0], Y[:, 1], s=size, c=c, cmap="viridis", lw=0, rasterized=True)
            fig.colorbar(sc, ax=ax, label=colour_by)
        else:
            ax.scatter(Y[:, 0], Y[:, 1], s=size, c="#4a6fa5", lw=0, rasterized=True)
        inp = "latent z" if req[2] == "latent" else f"{req[3]} leading PCA components"
        ax.set_title(f"t-SNE of {len(rows):,} z-points ({inp}, perplexity {req[4]:g}, exaggeration {req[6]:g})",
                     fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        enlarge(ax)
        lab.show_png(figures.figure_png(fig), f"{run.name}_tsne.png", key="planes_dl_tsne")
    except ValueError as exc:
        bar.empty()
        lab.show_error(exc)
else:
    st.info("Choose the options and press **Compute t-SNE**, or take the seed's values.")
