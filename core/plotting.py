"""Matplotlib helpers for the statistics and geometry views.

Every helper draws on a given ``ax`` and returns the artist(s) it made, in
the style of matplotlib's ``confidence_ellipse`` gallery example; none calls
``plt.show()`` or any Streamlit function, so the same code serves the
dashboard, the command line (saved PNGs) and notebooks.
"""

from __future__ import annotations

import contextlib
import html
import threading

import contourpy
import numpy as np
from matplotlib import colormaps, rcParams
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse
from matplotlib.path import Path

from core.stats.attributes import binary_target, class_ellipses, sample_rows
from core.stats.components import component_histograms
from core.stats.ellipses import (
    ellipse_params,
    ellipse_points,
    measured_coverage,
    params_from_row,
    plane_ellipses,
    theoretical_coverage,
)
from core.validation import check_int, check_positive, check_random_state

#: One colour per sigma level (1, 2, 3, then cycling).
SIGMA_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")


def plot_component_histograms(ax, hist, components=None, density=True, linewidth=0.8,
                              alpha=0.6):
    """Overlay the histograms of many components in one chart ([F-II]).

    Parameters
    ----------
    ax : matplotlib Axes
    hist : core.stats.components.ComponentHistograms
    components : sequence of int or None
        Latent indices to draw (must be in ``hist.components``); default all.
    density : bool
        Plot probability density instead of counts.

    Returns
    -------
    list of Line2D
    """
    rows = _hist_rows(hist, components)
    y = hist.density() if density else hist.counts
    cmap = colormaps["viridis"]
    lines = []
    for k, r in enumerate(rows):
        colour = cmap(k / max(len(rows) - 1, 1))
        (line,) = ax.plot(hist.centres, y[r], color=colour, lw=linewidth, alpha=alpha,
                          label=f"z{hist.components[r]}")
        lines.append(line)
    ax.set_xlabel("component value")
    ax.set_ylabel("density" if density else f"count per bin ({hist.bin_width:g} wide)")
    ax.set_title(f"Distribution of {len(rows)} components (bin width {hist.bin_width:g})")
    if len(rows) <= 12:
        ax.legend(fontsize="small")
    return lines


def _hist_rows(hist, components):
    if components is None:
        return list(range(len(hist.components)))
    where = {int(c): r for r, c in enumerate(hist.components)}
    rows = []
    for c in np.atleast_1d(components).tolist():
        if int(c) not in where:
            raise ValueError(f"component {c} is not in the histograms")
        rows.append(where[int(c)])
    return rows


def plot_component_fit(ax, z_col, row, bin_width=0.25):
    """Histogram of one component with its Gaussian fit ([F-VIII]).

    Parameters
    ----------
    ax : matplotlib Axes
    z_col : ndarray of shape (n_samples,)
        The component's values.
    row : mapping
        Its row of :func:`core.stats.components.component_table` (``fit_*``,
        ``mu``, ``hw``, ``component``).
    bin_width : float
        Must match the table's bin width so the fitted amplitude (counts per
        bin) fits the bars.

    Returns
    -------
    dict
        ``bars`` (BarContainer) and ``fit`` (Line2D or None when not fitted).
    """
    bin_width = check_positive(bin_width, "bin_width")
    # The component table's own binning (one convention, docs/method.md).
    hist = component_histograms(np.asarray(z_col).reshape(-1, 1), bin_width=bin_width)
    edges, counts, centres = hist.edges, hist.counts[0], hist.centres
    bars = ax.bar(centres, counts, width=bin_width, color="#9ecae1", edgecolor="#3182bd",
                  lw=0.5, label="histogram")
    fit = None
    a, c, s = row["fit_amplitude"], row["fit_centre"], row["fit_sigma"]
    if np.isfinite([a, c, s]).all():
        x = np.linspace(edges[0], edges[-1], 400)
        (fit,) = ax.plot(x, a * np.exp(-0.5 * ((x - c) / s) ** 2), "--", color="#d62728",
                         lw=1.5, label=f"Gaussian fit: c={c:.2f}, sigma={s:.2f}, "
                                       f"R²={row['fit_r2']:.3f}")
    ax.axvline(row["mu"], color="k", lw=0.8, alpha=0.6)
    ax.set_xlabel("component value")
    ax.set_ylabel(f"count per bin ({bin_width:g} wide)")
    ax.set_title(f"Component {int(row['component'])}: mu={row['mu']:.2f}, hw={row['hw']:.2f}")
    ax.legend(fontsize="small")
    return {"bars": bars, "fit": fit}


def plot_radius(ax, radii, shell=None, bins=100, bin_width=None, gaussian=None):
    """Histogram of z-point radii, optionally with reference shells.

    Parameters
    ----------
    ax : matplotlib Axes
    radii : ndarray of shape (n_samples,)
    shell : dict or None
        Output of :func:`core.stats.components.uniform_box_shell` (or
        ``gaussian_shell``): a band mean +- std is drawn.
    bins : int
        Number of bins (ignored when ``bin_width`` is given).
    bin_width : float > 0 or None
        Bins of this width, aligned on multiples of it.
    gaussian : dict or None
        Output of :func:`core.stats.components.gaussian_shell`: a second band
        (the sqrt(d) shell of unit Gaussian vectors).

    Returns
    -------
    dict
        ``bars`` (the histogram patches), ``shell`` and ``gaussian`` (the bands or None).
    """
    radii = np.asarray(radii, dtype=np.float64).ravel()
    if bin_width is not None:
        bin_width = check_positive(bin_width, "bin_width")
        lo, hi = np.floor(radii.min() / bin_width), np.ceil(radii.max() / bin_width) + 1
        if hi - lo > 100_000:
            raise ValueError(f"bin_width {bin_width:g} gives {int(hi - lo):,} bins; choose a wider bin")
        bins = np.arange(lo, hi + 1) * bin_width
    else:
        bins = check_int(bins, "bins", low=1)
    _, _, bars = ax.hist(radii, bins=bins, density=True, color="#74c476", alpha=0.8,
                         label=f"data (median {np.median(radii):.2f})")
    band = None
    if shell is not None:
        m, s = shell["mean"], shell["std"]
        label = (f"uniform box b={shell['b']:g}: {m:.2f} ± {s:.2f}" if "b" in shell
                 else f"reference shell: {m:.2f} ± {s:.2f}")
        band = ax.axvspan(m - s, m + s, color="#fd8d3c", alpha=0.3, label=label)
        ax.axvline(m, color="#e6550d", lw=1)
    gband = None
    if gaussian is not None:
        m, s = gaussian["mean"], gaussian["std"]
        gband = ax.axvspan(m - s, m + s, color="#6baed6", alpha=0.3,
                           label=f"unit Gaussian √d shell: {m:.2f} ± {s:.2f}")
        ax.axvline(m, color="#2171b5", lw=1)
    ax.set_xlabel("radius |z|")
    ax.set_ylabel("density")
    ax.set_title("Radius distribution")
    ax.legend(fontsize="small")
    return {"bars": bars, "shell": band, "gaussian": gband}


def plot_correlation_heatmap(ax, R, colorbar=True, cmap="RdBu_r"):
    """Pearson matrix as an image with a symmetric colour scale [-1, 1].

    Returns
    -------
    AxesImage (its colorbar, if drawn, is ``image.colorbar``)
    """
    R = np.asarray(R, dtype=np.float64)
    im = ax.imshow(R, cmap=cmap, vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_xlabel("component j")
    ax.set_ylabel("component i")
    ax.set_title("Pearson correlation")
    if colorbar:
        add_colorbar(ax, im, label="r")
    return im


def add_colorbar(ax, mappable, label=None):
    """Colorbar attached to ``ax``'s figure next to ``ax``; returns it."""
    cb = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.04)
    if label:
        cb.set_label(label)
    return cb


def plot_qq(ax, qq):
    """Chi-square Q-Q plot of squared Mahalanobis distances.

    Parameters
    ----------
    qq : dict
        Output of :func:`core.stats.mnd.reference_qq` (or ``chi2_qq``); the x axis
        names its reference law.

    Returns
    -------
    dict with ``points`` (Line2D) and ``diagonal`` (Line2D).
    """
    th, em = np.asarray(qq["theoretical"]), np.asarray(qq["empirical"])
    (pts,) = ax.plot(th, em, "o", ms=3, color="#3182bd",
                     label=f"data (KS = {qq['ks_statistic']:.3f})")
    lo, hi = min(th.min(), em.min()), max(th.max(), em.max())
    (diag,) = ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="MND (y = x)")
    reference = qq.get("reference") or f"chi²({qq['dof']})"
    ax.set_xlabel(f"{reference} quantile", fontsize="small")
    ax.set_ylabel("squared Mahalanobis distance quantile")
    ax.set_title("How close to a multivariate normal?")
    ax.legend(fontsize="small")
    return {"points": pts, "diagonal": diag}


def _ellipse_label(sigma, theory, measured):
    return f"{sigma:g} σ: theory {100 * theory:.1f} % / measured {100 * measured:.1f} %"


def _ellipse_half_extent(a, b, angle_deg):
    """Half width and half height of the bounding box of an ellipse with semi-axes a, b rotated by angle."""
    t = np.radians(angle_deg)
    return np.array([np.hypot(a * np.cos(t), b * np.sin(t)), np.hypot(a * np.sin(t), b * np.cos(t))])


def contour_lines(ax, kde, levels, colours, linewidth=1.3, linestyle="dashed", zorder=4):
    """Contour lines of a KDE, the same paths and limits as ``ax.contour``, at a third of its cost.

    ``ax.contour`` builds a ContourSet (level processing, colour mapping,
    callbacks): most of its time on a plane change (issue 14).  Here
    contourpy (matplotlib's own contour engine, same algorithm and corner
    mask) gives each level's path and one collection draws them; like
    ``ax.contour``, the grid's extent joins the data limits and the view
    autoscales tight.

    Parameters
    ----------
    ax : matplotlib Axes
    kde : core.stats.kde.KDEResult
        ``xgrid`` (gx,), ``ygrid`` (gy,), ``density`` (gy, gx).
    levels : sequence of float, increasing
    colours : sequence of colours, one per level

    Returns
    -------
    matplotlib.collections.PathCollection
        Its ``levels`` attribute holds ``levels``.
    """
    gen = contourpy.contour_generator(kde.xgrid, kde.ygrid, kde.density, name=rcParams["contour.algorithm"],
                                      corner_mask=rcParams["contour.corner_mask"],
                                      line_type=contourpy.LineType.SeparateCode)
    paths = []
    for level in levels:
        verts, codes = gen.create_contour(level)
        paths.append(Path(np.concatenate(verts), np.concatenate(codes)) if len(verts) else Path(np.empty((0, 2))))
    lines = PathCollection(paths, facecolors="none", edgecolors=list(colours), linewidths=linewidth,
                           linestyles=linestyle, zorder=zorder)
    lines.levels = np.asarray(levels, dtype=np.float64)
    lo, hi = (np.min(kde.xgrid), np.min(kde.ygrid)), (np.max(kde.xgrid), np.max(kde.ygrid))
    lines.sticky_edges.x[:] = [lo[0], hi[0]]
    lines.sticky_edges.y[:] = [lo[1], hi[1]]
    ax.add_collection(lines, autolim=False)
    ax.update_datalim([lo, hi])
    ax.autoscale_view(tight=True)
    return lines


def plot_plane(ax, points, kde=None, ellipses=None, sigmas=(1.0, 2.0, 3.0), origin=True,
               centre=True, overlay=None, overlay_label=None, max_points=20000,
               xlim=None, ylim=None, labels=("z_i", "z_j"), random_state=0, legend=True):
    """A coordinate plane: points, KDE contours, confidence ellipses, markers.

    Parameters
    ----------
    ax : matplotlib Axes
    points : ndarray of shape (n_samples, 2)
        Projected z-points (:func:`core.stats.ellipses.plane_coordinates`).
    kde : core.stats.kde.KDEResult or None
        Contours are drawn at the highest-density levels holding the masses
        ``1 - exp(-s^2/2)`` of the sigma levels, so each contour pairs with
        the ellipse of the same colour.
    ellipses : pandas.DataFrame or None
        Output of :func:`core.stats.ellipses.plane_ellipses`; computed from
        ``points`` and ``sigmas`` when None.  Pass an empty list to skip.
    sigmas : sequence of float > 0
    origin, centre : bool
        Mark the origin and the mean of the points.
    overlay : ndarray of shape (m, 2) or None
        Sampler vectors projected on the same plane.
    max_points : int
        Scatter at most this many points (fixed-seed subsample); all points
        still enter the ellipses and the KDE.
    xlim, ylim : (float, float) or None
    labels : (str, str)
        Axis labels.
    legend : bool
        Draw the legend on the axes.  Without it the handles are still
        returned (``legend_handles``), e.g. for :func:`legend_html`: a legend
        is about a third of the figure's drawing time.

    Returns
    -------
    dict
        ``scatter``, ``contours`` (:func:`contour_lines`' collection, with ``levels``, or None), ``ellipses`` (list of
        Ellipse patches), ``origin``, ``centre``, ``overlay`` (artists or None),
        ``table`` (the ellipses DataFrame), ``legend_handles`` (the legend's
        artists, each with its label).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {points.shape}")
    max_points = check_int(max_points, "max_points", low=1)
    rng = check_random_state(random_state)
    shown = points
    if points.shape[0] > max_points:
        shown = points[np.sort(rng.choice(points.shape[0], max_points, replace=False))]
    size = float(np.clip(2000.0 / max(len(shown), 1), 0.5, 12.0))
    out = {"scatter": ax.scatter(shown[:, 0], shown[:, 1], s=size, c="#4a6fa5",
                                 alpha=0.35 if len(shown) > 2000 else 0.7, lw=0,
                                 label=f"z-points ({len(points):,}"
                                       + (f", {len(shown):,} drawn)" if len(shown) < len(points)
                                          else ")"),
                                 rasterized=True)}
    table = plane_ellipses(points, sigmas) if ellipses is None else ellipses
    out["table"] = table
    rows = [] if len(table) == 0 else [r for _, r in table.iterrows()]
    colours = {float(r["sigma"]): SIGMA_COLOURS[k % len(SIGMA_COLOURS)] for k, r in enumerate(rows)}
    out["contours"] = None
    if kde is not None and rows:
        sig = sorted(colours)
        levels = kde.levels_for_masses([theoretical_coverage(s) for s in sig])
        good = [(lv, colours[s]) for lv, s in zip(levels, sig) if np.isfinite(lv)]
        if good:
            good.sort()  # contour levels must increase
            lv = [g[0] for g in good]
            if len(set(lv)) == len(lv):
                out["contours"] = contour_lines(ax, kde, lv, [g[1] for g in good])
    patches = []
    for r in rows:
        p = params_from_row(r)
        e = Ellipse(p.centre, p.width, p.height, angle=p.angle, fill=False,
                    edgecolor=colours[float(r["sigma"])], lw=2.0,
                    label=_ellipse_label(r["sigma"], r["theory"], r["measured"]))
        # add_patch would find the limits from the Bezier curves' extrema (2 ms an ellipse);
        # a rotated ellipse's bounding box has a closed form.
        ax.add_artist(e)
        half = _ellipse_half_extent(p.width / 2.0, p.height / 2.0, p.angle)
        ax.update_datalim([np.subtract(p.centre, half), np.add(p.centre, half)])
        patches.append(e)
    out["ellipses"] = patches
    out["origin"] = ax.plot([0], [0], "k+", ms=12, mew=2, label="origin")[0] if origin else None
    if centre:
        m = points.mean(axis=0)
        out["centre"] = ax.plot([m[0]], [m[1]], "o", color="#ffbf00", mec="k", ms=8,
                                label="centre")[0]
    else:
        out["centre"] = None
    out["overlay"] = None
    if overlay is not None:
        overlay = np.asarray(overlay, dtype=np.float64)
        if overlay.ndim != 2 or overlay.shape[1] != 2:
            raise ValueError(f"overlay must have shape (m, 2), got {overlay.shape}")
        out["overlay"] = ax.scatter(overlay[:, 0], overlay[:, 1], s=14, c="#2ca02c",
                                    marker="x", lw=1, label=overlay_label or "samples")
    handles, _ = ax.get_legend_handles_labels()
    if out["contours"] is not None:
        handles.append(Line2D([], [], color="grey", ls="dashed",
                              label="KDE contours (same masses)"))
    out["legend_handles"] = handles
    if legend:
        ax.legend(handles=handles, fontsize="small", loc="upper right", framealpha=0.8)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title("Coordinate plane: points, KDE contours, confidence ellipses")
    if xlim is not None:
        ax.set_xlim(xlim)
    if ylim is not None:
        ax.set_ylim(ylim)
    if xlim is None and ylim is None:
        ax.autoscale_view()
    return out


def _legend_symbol(handle):
    """(character, CSS colour, extra CSS) standing for one legend handle."""
    if isinstance(handle, Ellipse):
        return "━━", to_hex(handle.get_edgecolor()), ""
    if isinstance(handle, PathCollection):
        colour = to_hex(handle.get_facecolor()[0] if len(handle.get_facecolor()) else handle.get_edgecolor()[0])
        # An open marker path (no CLOSEPOLY) is the overlay's "x"; the data's dots are closed.
        codes = handle.get_paths()[0].codes if len(handle.get_paths()) else None
        cross = codes is not None and Path.CLOSEPOLY not in codes
        return ("×" if cross else "●"), colour, ""
    if isinstance(handle, Line2D):
        marker = handle.get_marker()
        if marker in (None, "None", "", " "):
            dashed = handle.get_linestyle() in ("--", "dashed")
            return ("╍╍" if dashed else "━━"), to_hex(handle.get_color()), ""
        char = {"+": "+", "o": "●", "*": "★", "x": "×"}.get(marker, "●")
        colour = to_hex(handle.get_markerfacecolor() if char in ("●", "★") else handle.get_color())
        edge = to_hex(handle.get_markeredgecolor())
        outline = f"-webkit-text-stroke:0.6px {edge};" if char in ("●", "★") and edge != colour else ""
        return char, colour, outline + ("font-weight:bold;" if char == "+" else "")
    return "■", "#808080", ""


def legend_html(handles, columns=2):
    """A figure legend as HTML (a table of coloured symbols and labels) to show beside the PNG.

    Parameters
    ----------
    handles : list of matplotlib artists
        With their labels, e.g. ``plot_plane(..., legend=False)["legend_handles"]``:
        scatters, ellipses, lines and markers.
    columns : int
        Entries per row.

    Returns
    -------
    str
        HTML; the labels are escaped.
    """
    columns = check_int(columns, "columns", low=1)
    cells = []
    for h in handles:
        char, colour, extra = _legend_symbol(h)
        cells.append(f'<td style="padding:1px 10px 1px 0;white-space:nowrap;border:none">'
                     f'<span style="color:{colour};{extra}display:inline-block;min-width:1.8em;font-size:1.15em">{char}</span>'
                     f'{html.escape(str(h.get_label()))}</td>')
    rows = ["<tr style=\"border:none\">" + "".join(cells[k:k + columns]) + "</tr>"
            for k in range(0, len(cells), columns)]
    return ('<table style="border:none;border-collapse:collapse;font-size:0.9em;margin:0">'
            + "".join(rows) + "</table>")


_POOL = {}
_POOL_LOCK = threading.Lock()


def _clear_for_reuse(ax):
    # What plot_plane and its callers add, and the limits state they leave: the next drawing
    # then starts where a fresh Axes would (tests/test_plotting.py compares the pixels).
    for artist in (*ax.collections, *ax.lines, *ax.patches, *ax.texts, *ax.images):
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.ignore_existing_data_limits = True
    ax.autoscale(enable=True, tight=False)  # contour() leaves tight autoscaling on; a fresh Axes has it off
    ax.set_prop_cycle(None)
    ax.set_title("")
    ax.set_xlabel("")
    ax.set_ylabel("")


@contextlib.contextmanager
def reused_axes(figsize, left, right, bottom, top):
    """A one-Axes Figure taken from a pool and cleared, for drawings repeated with new data.

    Most of a small figure's drawing time is matplotlib creating its Axes and
    tick artists; a kept Figure reuses them (a Coordinate planes pair change,
    issue 14).  The figure is the caller's inside the ``with`` block (render
    it there) and returns to the pool after; a block that raises discards it.
    Thread-safe: concurrent blocks get different figures.

    Parameters
    ----------
    figsize : (float, float)
    left, right, bottom, top : float
        ``Figure.subplots_adjust`` margins (fixed: no tight layout pass).

    Yields
    ------
    matplotlib.axes.Axes   (its ``.figure`` is a ``matplotlib.figure.Figure``)
    """
    key = (tuple(map(float, figsize)), float(left), float(right), float(bottom), float(top))
    with _POOL_LOCK:
        free = _POOL.setdefault(key, [])
        ax = free.pop() if free else None
    if ax is None:
        fig = Figure(figsize=key[0])
        fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top)
        ax = fig.add_subplot()
    else:
        _clear_for_reuse(ax)
    yield ax
    with _POOL_LOCK:
        _POOL[key].append(ax)


def sampler_overlay_figure(points, overlay, label, kde=None, ellipses=None, labels=("x", "y"),
                           max_points=5000):
    """A sampler's vectors over the data's plane, titled with the share inside the data's 2-sigma ellipse.

    Parameters
    ----------
    points : ndarray of shape (n_data, 2)   the data projected on the plane
    overlay : ndarray of shape (n_over, 2)  the sampler's vectors, same projection
    label : str   the sampler's name in the title
    kde : core.stats.kde.KDE2D or None
    ellipses : DataFrame from :func:`core.stats.ellipses.plane_ellipses` or None
    labels : (str, str)   axis labels

    Returns
    -------
    matplotlib.figure.Figure   (no pyplot state; safe with several sessions)
    """
    points = np.asarray(points, dtype=np.float64)
    fig = Figure(figsize=(5.6, 5.0))
    ax = fig.add_subplot()
    plot_plane(ax, points, kde=kde, ellipses=ellipses, overlay=overlay, overlay_label=label,
               max_points=max_points, labels=labels)
    ax.get_legend().remove()
    inside = measured_coverage(overlay, points.mean(axis=0), np.cov(points, rowvar=False), 2.0)
    ax.set_title(f"{label}: {inside:.0%} of its vectors\ninside the data's 2σ ellipse", fontsize=12)
    ax.tick_params(labelsize=10)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.11, top=0.88)
    return fig


def plot_marginals(ax, V, columns=None, bins=60, max_columns=8):
    """Histograms of several columns of V (e.g. a sampler's marginals).

    Parameters
    ----------
    ax : matplotlib Axes
    V : ndarray of shape (n_samples, n_columns)
    columns : sequence of int or None
        Columns to draw; default the first ``max_columns``.

    Returns
    -------
    list of the patch lists returned by ``ax.hist`` (one per column)
    """
    V = np.asarray(V, dtype=np.float64)
    if V.ndim == 1:
        V = V[:, None]
    if V.ndim != 2:
        raise ValueError(f"V must be 2-D (n_samples, n_columns), got shape {V.shape}")
    cols = list(range(min(V.shape[1], max_columns))) if columns is None \
        else [check_int(c, "columns", 0, V.shape[1] - 1) for c in np.atleast_1d(columns).tolist()]
    cmap = colormaps["tab10"]
    out = []
    for k, c in enumerate(cols):
        _, _, patches = ax.hist(V[:, c], bins=bins, density=True, histtype="step", lw=1.5,
                                color=cmap(k % 10), label=f"column {c}")
        out.append(patches)
    ax.set_xlabel("value")
    ax.set_ylabel("density")
    ax.set_title("Marginal distributions")
    ax.legend(fontsize="small")
    return out



def plot_empty_slice(ax, reference, n_total, t, overlay=None, overlay_label=None, labels=("z_i", "z_j"),
                     n_std=2.0):
    """A slice that left no z-point (seed IV): the result, not an error.

    Draws the whole plane's ``n_std`` confidence ellipse (grey, for
    orientation), the origin, the sampler vectors that lie in the slice and
    the line "0 of N points".

    Parameters
    ----------
    ax : matplotlib Axes
    reference : ndarray of shape (n_samples, 2)
        All projected z-points of the plane (before slicing).
    n_total : int
        Number of z-points (N in "0 of N points").
    t : float
        The slice half-width.
    overlay : ndarray of shape (m, 2) or None
        Sampler vectors in the slice, projected on the plane.

    Returns
    -------
    dict
        ``ellipse`` (patch), ``overlay`` (artist or None), ``text``.
    """
    reference = np.asarray(reference, dtype=np.float64)
    if reference.ndim != 2 or reference.shape[1] != 2:
        raise ValueError(f"reference must have shape (n, 2), got {reference.shape}")
    p = ellipse_params(reference.mean(axis=0), np.cov(reference, rowvar=False), n_std)
    ell = Ellipse(p.centre, p.width, p.height, angle=p.angle, fill=False, ls="--", lw=1.5, color="0.5",
                  label=f"whole cloud's {n_std:g}σ ellipse (before slicing)")
    ax.add_patch(ell)
    ax.plot([0], [0], "k+", ms=12, mew=2, label="origin")
    out = {"ellipse": ell, "overlay": None}
    pts = [reference.min(axis=0), reference.max(axis=0), np.zeros(2)]
    if overlay is not None and len(overlay):
        overlay = np.asarray(overlay, dtype=np.float64)
        out["overlay"] = ax.scatter(overlay[:, 0], overlay[:, 1], s=14, c="#2ca02c", marker="x", lw=1,
                                    label=overlay_label or "samples")
        pts += [overlay.min(axis=0), overlay.max(axis=0)]
    lo, hi = np.min(pts, axis=0), np.max(pts, axis=0)
    pad = 0.05 * np.maximum(hi - lo, 1e-9)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    out["text"] = ax.text(0.5, 0.97, f"0 of {int(n_total):,} points in the slice |others| ≤ {t:g}",
                          transform=ax.transAxes, ha="center", va="top", fontsize=13,
                          bbox=dict(boxstyle="round", fc="white", ec="0.6"))
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.legend(loc="lower right", fontsize="small")
    return out


def plot_explained_variance(ax, pca, k_max=None, marks=(0.5, 0.9, 0.95, 0.99)):
    """PCA explained-variance ratio per component (bars) and cumulative (line, right axis).

    Parameters
    ----------
    ax : matplotlib Axes
    pca : core.stats.pca.LatentPCA
        Fitted (``explained_variance_ratio_``).
    k_max : int or None
        Show the first ``k_max`` components (default all).
    marks : sequence of float
        Cumulative fractions whose component counts are marked.

    Returns
    -------
    dict
        ``bars``, ``cumulative`` (Line2D), ``twin`` (the right axes) and
        ``counts``: {fraction: components needed}.
    """
    ratio = np.asarray(pca.explained_variance_ratio_, dtype=np.float64)
    k_max = len(ratio) if k_max is None else check_int(k_max, "k_max", low=1, high=len(ratio))
    cum = np.cumsum(ratio)
    x = np.arange(1, k_max + 1)
    bars = ax.bar(x, 100 * ratio[:k_max], width=1.0, color="#9ecae1", edgecolor="#3182bd", lw=0.3,
                  label="explained variance ratio")
    ax.set_xlabel("PCA component (1 = largest variance)")
    ax.set_ylabel("ratio per component (%)")
    twin = ax.twinx()
    (line,) = twin.plot(x, 100 * cum[:k_max], color="#d62728", lw=2, label="cumulative")
    twin.set_ylim(0, 101)
    twin.set_ylabel("cumulative (%)", color="#d62728")
    counts = {}
    for f in marks:
        k = int(np.searchsorted(cum, f - 1e-12) + 1)
        counts[f] = k
        if k <= k_max:
            twin.axhline(100 * f, color="0.6", lw=0.6, ls=":")
            twin.plot([k], [100 * cum[k - 1]], "o", color="#d62728", ms=5)
            twin.annotate(f"{100 * f:g} %: {k}", (k, 100 * cum[k - 1]), textcoords="offset points",
                          xytext=(6, -12), fontsize="small")
    ax.set_xlim(0.5, k_max + 0.5)
    return {"bars": bars, "cumulative": line, "twin": twin, "counts": counts}


def plot_path_over_plane(ax, points, path, kde=None, ellipses=None, labels=("z_i", "z_j"), max_points=5000):
    """A path's points over the cloud in one plane (seed VI), numbered in order.

    Parameters
    ----------
    ax : matplotlib Axes
    points : ndarray of shape (n_samples, 2)
        The data's projected z-points.
    path : ndarray of shape (n_points, 2)
        The path's points projected on the same plane.
    kde, ellipses, labels, max_points
        As in :func:`plot_plane`.

    Returns
    -------
    dict
        ``plane`` (the artists of :func:`plot_plane`), ``path`` (Line2D), ``numbers`` (Text list).
    """
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2:
        raise ValueError(f"path must have shape (n_points, 2), got {path.shape}")
    out = {"plane": plot_plane(ax, points, kde=kde, ellipses=ellipses, labels=labels, max_points=max_points)}
    (out["path"],) = ax.plot(path[:, 0], path[:, 1], "-o", color="#2ca02c", mec="k", ms=7, lw=1.5,
                             label="path", zorder=8)
    out["numbers"] = [ax.annotate(str(k + 1), p, textcoords="offset points", xytext=(5, 5), fontsize=9,
                                  zorder=9) for k, p in enumerate(path)]
    lo = np.minimum(points.min(axis=0), path.min(axis=0))
    hi = np.maximum(points.max(axis=0), path.max(axis=0))
    pad = 0.05 * np.maximum(hi - lo, 1e-9)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    return out

def attribute_plane_figure(points, values, name, i, j, space="latent", y=None, max_points=5000, random_state=0):
    """A plane coloured by an attribute, with both classes' centres and 1σ/2σ ellipses.

    Parameters
    ----------
    points : ndarray of shape (n_samples, 2)
    values : ndarray of shape (n_samples,)
        The attribute (binary, or continuous: split as :func:`core.stats.attributes.binary_target` says).
    name : str
    i, j : int
        The plane's axes (``space`` "latent", "pca" or "direction": x along the attribute's direction).
    y : ndarray of shape (n_samples,) of bool, optional
        The classes, when the caller has them.
    max_points : int
        Points drawn (a fixed-seed subsample); all of them enter the ellipses.

    Returns
    -------
    matplotlib.figure.Figure
    """
    points = np.asarray(points, np.float64)
    values = np.asarray(values, np.float64)
    if y is None:
        y, valid, how = binary_target(values, name)
    else:
        valid, how = np.isfinite(values), ""
    fig = Figure(figsize=(6.4, 5.4), layout="constrained")
    ax = fig.add_subplot()
    rows = sample_rows(points.shape[0], check_int(max_points, "max_points", low=1), random_state)
    sc = ax.scatter(points[rows, 0], points[rows, 1], c=values[rows], s=4, cmap="coolwarm", alpha=0.6,
                    rasterized=True)
    fig.colorbar(sc, ax=ax, label=name)
    ells = class_ellipses(points[valid], y[valid])
    # Darker than the point colours, so each class's ellipses show over its own points.
    for cls, colour, label in ((True, "#67001f", "with / above"), (False, "#053061", "without / below")):
        table = ells[cls]
        for row in table.itertuples(index=False):
            xy = ellipse_points(params_from_row(row._asdict()))
            ax.plot(xy[:, 0], xy[:, 1], color=colour, lw=1.8 if row.sigma == 1 else 1.2,
                    ls="-" if row.sigma == 1 else "--", zorder=3)
        ax.plot([table["centre_x"].iloc[0]], [table["centre_y"].iloc[0]], "X", color=colour, ms=11, mec="w", zorder=4,
                label=f"{label}: centre, 1σ/2σ ellipses")
    if space == "direction":
        xlabel, ylabel = f"along the {name} direction", f"PC{j}"
    else:
        axis = "PC" if space == "pca" else "z"
        xlabel, ylabel = f"{axis}{i}", f"{axis}{j}"
    ax.set(xlabel=xlabel, ylabel=ylabel, title=f"{name} ({how})" if how else name)
    ax.legend(fontsize="small", loc="best")
    return fig


__all__ = ["add_colorbar", "attribute_plane_figure", "plot_component_fit", "plot_component_histograms",
           "plot_correlation_heatmap", "plot_empty_slice", "plot_explained_variance", "plot_path_over_plane",
           "plot_marginals", "plot_plane", "plot_qq", "plot_radius", "sampler_overlay_figure", "SIGMA_COLOURS"]
