"""Decode: paths through latent space, live sliders and nearest real neighbours.

Seed post VI (origin → centre, lines through the centre), interpolation
between two images, CelebA-style attribute arithmetic.
"""

import time

import numpy as np
import pandas as pd
import streamlit as st
from matplotlib.figure import Figure

import figures
import lab
import views
from core import run_views
from core.chunks import take_rows
from core.sampling import paths
from core.stats.correlation import top_pairs
from core.sampling.decode_views import centre_vector, path_in_plane, pca_reconstructions, slider_axes
from core.stats.ellipses import plane_ellipses
from core.data.images import make_grid, png_bytes, upscale, upscale_factor
from core.stats.neighbours import nearest_neighbours
from core.plotting import plot_path_over_plane
from core.sampling.samplers import SAMPLERS
from core.validation import check_int

st.set_page_config(page_title="Decode · latent-lab", layout="wide", initial_sidebar_state="expanded")
st.title("Decode")
st.markdown(
    "Feed the decoder chosen latent vectors and watch what comes out: paths through the "
    "latent space as image strips, sliders that move a vector around the centre of the "
    "distribution, and the real images whose z-points lie nearest to a generated vector."
)

run = lab.select_run()
stats = views.statistics(run)
pca = stats.pca
mean = pca.mean_
N, d = run.latents.shape
TILE = 100  # minimum displayed tile size in pixels (small images are enlarged)


def _cached(run, kind, params, make=None):
    """``make()``; through ``lab.run_cached`` keyed by (run version, ``kind``, ``params``)."""
    return make()


def _array_key(V):
    # An array's exact contents as a hashable key.
    V = np.ascontiguousarray(V)
    return V.shape, V.dtype.str, V.tobytes()


def show_strip(V, file_name, key, caption=None, n_cols=None):
    """The decoded vectors ``V`` as an image strip (or grid) with PNG download; tiny images are
    enlarged for the eye.  Decoded and encoded once per (run version, vectors): a warm visit sends
    cached bytes."""
    def make():
        images = lab.decode(run, V)
        grid = make_grid(images, n_cols=n_cols or len(images))
        return png_bytes(upscale(grid, upscale_factor(images.shape[1], TILE))), png_bytes(grid)

    shown, raw = lab.run_cached(_cached, run, "strip", (_array_key(V), n_cols), unhashed={"make": make},
                                spinner="Decoding…")
    # PNG as given: with the default "auto" Streamlit re-encodes an RGB PNG to JPEG on every rerun.
    st.image(shown, caption=caption, output_format="PNG")
    st.download_button("Download PNG", raw, file_name=lab.file_stem(file_name), mime="image/png",
                       key=key, on_click="ignore")


def latent_row(k, name):
    k = check_int(k, name, 0, N - 1)
    return np.asarray(run.latents[k], dtype=np.float64)


def path_plane(P, fixed_ij=None):
    """The path's points over the cloud in a plane (seed VI), beside its strip."""
    left, right = st.columns([2, 3])
    with left:
        st.markdown("**The path over the cloud**")
        if fixed_ij is None:
            top = top_pairs(stats.correlation, threshold=0.0, n=1)
            q1, q2 = st.columns(2)
            pi = int(q1.number_input("plane i", value=int(top.iloc[0]["i"]), step=1, key="dec_pp_i"))
            pj = int(q2.number_input("plane j", value=int(top.iloc[0]["j"]), step=1, key="dec_pp_j"))
        else:
            pi, pj = fixed_ij
            st.caption(f"The line's own plane (z{pi}, z{pj}).")
        st.caption("Green: the path's points in order (1 = first image of the strip); blue: the data's "
                   "z-points; solid ellipses 1, 2, 3 σ, dashed KDE contours of the same masses; + origin.")
    pts = lab.run_cached(run_views.plane, run, pi, pj)
    kde = lab.run_cached(run_views.plane_kde, run, pi, pj)

    def draw():
        fig = Figure(figsize=(6.4, 5.2))
        ax = fig.add_subplot()
        plot_path_over_plane(ax, pts, path_in_plane(P, pi, pj), kde=kde,
                             ellipses=plane_ellipses(pts, (1.0, 2.0, 3.0)), labels=(f"z{pi}", f"z{pj}"))
        ax.get_legend().remove()
        ax.set_title(f"path in the plane (z{pi}, z{pj})")
        return figures.figure_png(fig, dpi=100)

    png = lab.run_cached(_cached, run, "path_plane", (pi, pj, _array_key(P)), unhashed={"make": draw})
    with right:
        lab.show_png(png, f"{run.name}_path_plane_{pi}_{pj}.png", key="dec_dl_pplane")


# ---------------------------------------------------------------- paths

st.header("Paths")
kinds = ["origin → centre", "line through the centre", "interpolation between two images"]
if run.attributes is not None and len(run.attributes) == N:
    kinds.append("attribute walk")
c1, c2, c3 = st.columns([4, 2, 2])
kind = c1.radio("Path", kinds, horizontal=True, key="dec_kind")
n_points = int(c2.slider("points on the path", 2, 16, 9, key="dec_np"))
centre_kind = c3.radio("centre", ["mean", "histogram"], horizontal=True, key="dec_centre",
                       format_func={"mean": "component means", "histogram": "histogram peaks μ"}.get,
                       help="Where the paths' centre lies: the mean of every component, or the peak μ of "
                            "each component's histogram (bin width 0.25), as read off the seed's histograms.")
centre = centre_vector(stats, centre_kind)
plane_ij = None
try:
    if kind == "origin → centre":
        st.caption("From the origin of the latent space (the centre of a unit Gaussian or a "
                   "symmetric box) to the centre of the data: the origin lies at the border of the "
                   "region the encoder fills, so its image is not a face (seed VI).")
        P = paths.origin_to_centre(centre, n_points)
        cap = f"origin → centre, {n_points} points"
    elif kind == "line through the centre":
        l1, l2, l3, l4 = st.columns(4)
        li = int(l1.number_input("i", value=0, step=1, key="dec_li"))
        lj = int(l2.number_input("j", value=1, step=1, key="dec_lj"))
        angle = l3.slider("angle towards j (degrees)", 0, 180, 45, key="dec_angle")
        extent = l4.slider("extent (σ along the line)", 0.5, 5.0, 3.0, 0.5, key="dec_extent")
        P = paths.line_through_centre(centre, pca.get_covariance(), li, lj, angle, extent, n_points)
        plane_ij = (li, lj)
        cap = f"line through the centre in plane (z{li}, z{lj}) at {angle}°, ±{extent:g} σ"
    elif kind == "interpolation between two images":
        i1, i2 = st.columns(2)
        a = int(i1.number_input(f"first image (row 0 … {N - 1})", value=0, step=1, key="dec_ia"))
        b = int(i2.number_input(f"second image (row 0 … {N - 1})", value=min(1, N - 1), step=1, key="dec_ib"))
        P = paths.interpolate(latent_row(a, "first image"), latent_row(b, "second image"), n_points)
        cap = f"straight line from the z-point of image {a} to that of image {b}; the ends are their reconstructions"
    else:
        a1, a2, a3 = st.columns(3)
        binary_cols, continuous_cols = lab.run_cached(run_views.attribute_columns, run)
        # Binary attributes first: glasses or a hat show at a glance.
        column = a1.selectbox("attribute", binary_cols + continuous_cols, key="dec_attr")
        binary = column in binary_cols
        a1.caption(("binary" if binary else "continuous, split at the median") + ": the logistic-regression "
                   "direction of the Attributes page, scaled by the class means' separation along it")
        start = a2.radio("start at", ["the centre", "an image"], key="dec_attr_start", horizontal=True)
        if start == "an image":
            row = int(a2.number_input(f"image (row 0 … {N - 1})", value=0, step=1, key="dec_attr_row"))
            z0 = latent_row(row, "image")
        else:
            z0 = centre
        lo, hi = a3.slider("alpha range", -3.0, 3.0, (-1.5, 1.5), 0.25, key="dec_alpha")
        direction = lab.run_cached(run_views.attribute_fit, run, column,
                                   spinner="Fitting the attribute's direction (logistic regression)…")["direction"]
        P = paths.attribute_walk(z0, direction, np.linspace(lo, hi, n_points))
        cap = (f"z + alpha · direction({column}), alpha from {lo:g} to {hi:g}; "
               f"|direction| = {np.linalg.norm(direction):.3g}")
    show_strip(P, f"{run.name}_path.png", key="dec_dl_path", caption=cap)
    lab.vector_downloads(P, f"{run.name}_path", key="dec_dl_path_vec")
    path_plane(P, plane_ij)
except ValueError as exc:
    lab.show_error(exc)

N_SLIDERS = min(6, d)


def reset_sliders():
    for m in range(N_SLIDERS):
        st.session_state[f"dec_s{m}"] = 0.0


#: The slider vector of the last slider run, and the vector the neighbours shown were found for.
SLIDER_Z, NN_Z = "_dec_slider_z", "_dec_nn_z"


@st.fragment
def sliders():
    """Sliders and their decoded image rerun on their own: a slider step redraws only this part (issue 14)."""
    st.header("Sliders around the centre")
    s1, s2 = st.columns([2, 1])
    basis = s1.radio("Move along", ["PCA components", "dominant latent components (largest std)"],
                     horizontal=True, key="dec_basis")
    k0 = int(s2.number_input("first component", value=0, step=1, key="dec_k0",
                             help="PCA: 0 = leading; dominant: rank of the component (0 = largest std)"))
    st.session_state[SLIDER_Z] = None
    try:
        names, axes = slider_axes(stats, "pca" if basis.startswith("PCA") else "dominant", k0, N_SLIDERS)
        left, right = st.columns([2, 1])
        with left:
            cols = st.columns(3)
            shifts = np.array([cols[m % 3].slider(f"{names[m]} (σ)", -3.0, 3.0, 0.0, 0.1, key=f"dec_s{m}")
                               for m in range(N_SLIDERS)])
            st.button("Back to the centre", on_click=reset_sliders, key="dec_reset")
        z = (mean + shifts @ axes).astype(np.float32)
        t0 = time.perf_counter()
        # A decoder traced for one row: the shared 16-row one would pad the vector to 16 (5x the time).
        img = lab.decoder_fn(run, batch_size=1)(z[None])
        ms = 1000 * (time.perf_counter() - t0)
        with right:
            big = upscale(img[0], upscale_factor(img.shape[1], 256))
            st.image(png_bytes(big), caption=f"decoded in {ms:.0f} ms", output_format="PNG")
            st.download_button("Download PNG", lambda: png_bytes(img[0]),
                               file_name=lab.file_stem(f"{run.name}_slider.png"),
                               mime="image/png", key="dec_dl_slider", on_click="ignore")
        st.session_state[SLIDER_Z] = z
        shown = st.session_state.get(NN_Z)
        if (st.session_state.get("dec_q", "the slider vector above") == "the slider vector above"
                and shown is not None and not np.array_equal(shown, z)):
            # The neighbour search (a pass over every z-point) stays out of a slider step.
            st.caption("The neighbours below are those of an earlier slider position: press "
                       "**Update the neighbours** there.")
    except ValueError as exc:
        lab.show_error(exc)


@st.fragment
def neighbours():
    """Nearest real neighbours of the slider vector (as of this part's last run) or of a sampler's vector."""
    st.header("Nearest real neighbours")
    st.caption("Which real images have z-points closest to a generated vector? Shown are their "
               "reconstructions (decoded z-points) and Euclidean distances in latent space.")
    n1, n2, n3 = st.columns(3)
    query_from = n1.radio("generated vector", ["the slider vector above", "a sampler's vector"], key="dec_q")
    k_nn = int(n3.slider("neighbours", 1, 10, 6, key="dec_k"))
    try:
        if query_from == "a sampler's vector":
            sname = n2.selectbox("sampler", list(SAMPLERS), index=list(SAMPLERS).index("mvn"), key="dec_qs")
            qseed = int(n2.number_input("seed", value=0, step=1, key="dec_qseed"))
            with n2.expander("parameters"):
                sp = views.sampler_param_widgets(sname, d, "dec_qp")
            q = views.sample(run, sname, 1, qseed, **sp)[0]
        else:
            if n2.button("Update the neighbours", key="dec_nn_update",
                         help="Search again for the sliders' current vector (a slider step alone does not)."):
                st.rerun()  # the whole page (warm caches: cheap), so the sliders' "earlier position" note goes too
            q = st.session_state.get(SLIDER_Z)
            st.session_state[NN_Z] = q
            if q is None:
                st.info("No slider vector: fix the slider settings above.")
                return
        idx, dist = lab.run_cached(_cached, run, "neighbours", (_array_key(q), k_nn),
                                   unhashed={"make": lambda: nearest_neighbours(run.latents, q[None], k=k_nn)})
        idx, dist = idx[0], dist[0]
        show_strip(np.concatenate([q[None], np.asarray(run.latents[idx])]), f"{run.name}_neighbours.png",
                   key="dec_dl_nn",
                   caption="first: the generated vector; then its nearest real z-points, nearest first")
        radius = np.linalg.norm(np.asarray(q, dtype=np.float64) - mean)
        table = pd.DataFrame({"rank": np.arange(1, len(idx) + 1), "row": idx, "image index": run.index[idx],
                              "distance": dist})
        c1, c2 = st.columns([2, 1])
        c1.dataframe(table.style.format({"distance": "{:.4g}"}), hide_index=True)
        c2.metric("distance to the centre", f"{radius:.3f}")
        typical = lab.run_cached(run_views.typical_nn_distance, run)
        c2.metric("nearest distance / typical real one", f"{dist[0] / typical:.2f}",
                  help=f"Median distance of a real z-point to its nearest other real z-point: {typical:.4g}. "
                       "A ratio far above 1: the vector sits in a void.")
    except ValueError as exc:
        lab.show_error(exc)


sliders()
neighbours()


# ---------------------------------------------------------------- issue 11: distance from the centre, K components

st.divider()
st.header("Images ordered by distance from the centre")
st.caption("Seed VII: z-points at evenly spaced quantiles of their distance from the centre (nearest first, "
           "farthest last), decoded. Far from the centre the faces lose their typical look.")
o1, o2 = st.columns(2)
n_order = int(o1.slider("images", 4, 16, 10, key="dec_ord_n"))
metric = o2.radio("distance", ["euclidean", "mahalanobis"], horizontal=True, key="dec_ord_metric")
try:
    rows, dists, _ = lab.run_cached(run_views.rows_by_distance, run, centre_kind, metric, n_order)
    show_strip(take_rows(run.latents, rows), f"{run.name}_by_distance.png", key="dec_dl_order",
               caption=f"{metric} distance from the centre ({centre_kind}): "
                       + ", ".join(f"{x:.1f}" for x in dists) + f"  (rows {', '.join(map(str, rows))})")
except ValueError as exc:
    lab.show_error(exc)

st.divider()
st.header("Reconstruction from K PCA components")
st.caption("One z-point kept to its first K principal components, decoded: how many directions carry a face?")
k1, k2 = st.columns([1, 3])
k_row = int(k1.number_input(f"image (row 0 … {N - 1})", value=0, step=1, key="dec_k_row"))
k_text = k2.text_input("K values (comma-separated)", value=", ".join(
    str(k) for k in sorted({min(k, d) for k in (2, 5, 10, 25, 50, 100, d)})), key="dec_k_list",
    help=f"Each K in 1 … z_dim = {d}; the last one equal to z_dim gives the original z-point.")
try:
    try:
        ks = [int(x) for x in k_text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"K values must be whole numbers separated by commas, got {k_text!r}") from None
    if not ks:
        raise ValueError("give at least one K")
    V = pca_reconstructions(pca, latent_row(k_row, "image"), ks)
    show_strip(V, f"{run.name}_pca_K.png", key="dec_dl_k",
               caption="K = " + ", ".join(map(str, ks)))
except ValueError as exc:
    lab.show_error(exc)
