"""Attributes inside the cloud (seed post 002, objective 5): how face features are organised in z."""

import numpy as np
import streamlit as st

import figures
import lab
from core import run_views
from core.plotting import attribute_plane_figure
from core.stats import attributes as attrs

st.set_page_config(page_title="Attributes · latent-lab", page_icon="🧭", layout="wide")
st.title("Attributes inside the cloud")
st.caption("Is there a linear direction in z along which images with and without an attribute separate? "
           "Per attribute: the cross-validated ROC AUC of a logistic regression (5 folds, scikit-learn; "
           "0.5 = no better than chance, 1 = perfectly separated), and the angle between its direction and "
           "the leading PCA axes (0° = along the axis, 90° = orthogonal). Attributes with two values are "
           "split on them, others at the median. The Decode page's attribute walks use these directions.")

run = lab.select_run()
if run.attributes is None:
    st.info(f"Run {run.name} has no attribute table (attributes.csv): its data source gives no labels. "
            "synthfaces, digits and CelebA folders do.")
    st.stop()

st.subheader("A plane coloured by an attribute")
c1, c2, c3, c4 = st.columns(4)
binary_cols, continuous_cols = lab.run_cached(run_views.attribute_columns, run)
column = c1.selectbox("attribute", binary_cols + continuous_cols, key="attr_col",
                      help="Two-valued attributes first (glasses, a hat…), then continuous ones.")
space = c2.radio("coordinates", ["direction", "pca", "latent"], horizontal=True, key="attr_space",
                 format_func={"direction": "its direction × a PCA axis", "pca": "PCA axes",
                              "latent": "latent components"}.get,
                 help="Its direction: x is the position along the attribute's logistic-regression direction, "
                      "y a PCA axis (both from the centre).")
if space == "direction":
    i = 0
    j = int(c3.number_input(f"PCA axis on y (0 … {run.z_dim - 1})", value=0, step=1, key="attr_dj"))
else:
    i = int(c3.number_input(f"horizontal axis (0 … {run.z_dim - 1})", value=0, step=1, key="attr_i"))
    j = int(c4.number_input(f"vertical axis (0 … {run.z_dim - 1})", value=1, step=1, key="attr_j"))


FIT_SPINNER = "Fitting the attribute's direction (logistic regression)…"


def plane_section():
    try:
        values = run.attributes[column].to_numpy(dtype=np.float64)
        y, valid, how = attrs.binary_target(values, column)
        fit = lab.run_cached(run_views.attribute_fit, run, column, spinner=FIT_SPINNER)
        points = (lab.run_cached(run_views.direction_points, run, tuple(map(float, fit["unit"])), j)
                  if space == "direction" else lab.run_cached(run_views.plane, run, i, j, space))
        png = figures.cached_figure(run, "attr_plane", (column, space, i, j),
                                lambda: attribute_plane_figure(points, values, column, i, j, space))
    except ValueError as exc:
        lab.show_error(exc)
        return
    left, right = st.columns([3, 2])
    with left:
        lab.show_png(png, f"{run.name}_{column}_{space}_{i}_{j}.png", key="dl_attr_plane")
    with right:
        st.metric("cross-validated AUC", f"{fit['auc']:.3f} ± {fit['auc_std']:.3f}")
        st.markdown(f"Split: **{how}** ({fit['n_pos']:,} against {fit['n_neg']:,} images used). "
                    f"Separation of the class means along the direction: {fit['separation']:.3g}; "
                    f"nearest PCA axis: PC{int(np.argmin(fit['angles']))} at {np.min(fit['angles']):.1f}° "
                    f"(a random direction in {run.z_dim} dimensions: about "
                    f"{np.degrees(np.arccos(np.sqrt(1 / run.z_dim))):.0f}°).")
        ells = attrs.class_ellipses(points[valid], y[valid])
        for cls, label in ((True, "with / above"), (False, "without / below")):
            t = ells[cls]
            st.markdown(f"**{label}**: centre ({t['centre_x'].iloc[0]:.3g}, {t['centre_y'].iloc[0]:.3g})")
            st.dataframe(t[["sigma", "theory", "measured", "width", "height", "angle"]], hide_index=True)


plane_section()

st.subheader("Separation and direction of every attribute")
n_cols = len(run.attributes.columns)
table = lab.run_cached(run_views.attribute_table, run, shared=True, compute=False)
if table is None:
    st.caption(f"{n_cols} attributes, five logistic regressions each (2,000 rows per attribute): about 1-4 s per "
               "attribute on a busy 2-core machine.")
    if st.button(f"Cross-validate all {n_cols} attributes", key="attr_all"):
        bar = st.progress(0.0)
        try:
            table = lab.run_cached(run_views.attribute_table, run, shared=True, unhashed={
                "progress": lambda k, n, col: bar.progress(k / n, text=f"{col} ({k + 1} of {n})")})
        except ValueError as exc:
            lab.show_error(exc)
            st.stop()
        bar.empty()
if table is not None:
    n_axes = sum(c.startswith("angle_pc") for c in table.columns)
    st.caption(f"Sorted by AUC; angle_pc0 … angle_pc{n_axes - 1} in degrees, angle_span to the span of the first "
               f"{n_axes} PCA axes; closest_pc is the PCA axis the direction is nearest to. A row with a note "
               "could not be split (for example a constant attribute). `python -m core stats --run RUN "
               "--attributes` prints the same table.")
    st.dataframe(table, hide_index=True, column_config={
        "auc": st.column_config.ProgressColumn("AUC", min_value=0.5, max_value=1.0, format="%.3f"),
        **{c: st.column_config.NumberColumn(format="%.1f") for c in table.columns if c.startswith("angle")}})
    lab.csv_download(table, f"{run.name}_attributes.csv", key="dl_attr_table")
