"""Many samplers over one coordinate plane: the data drawn once, each overlay blitted.

The Samplers page shows every drawn sampler over the same plane of the data
(points, KDE contours, 1-3 sigma ellipses, axes, ticks).  Drawing that
background is most of the cost of a figure (a few hundred ms: thousands of
points, contours, tick labels), and it is the same for every sampler, so it
is rendered once with Agg, saved as a pixel buffer, and each sampler's
crosses and title are drawn on a copy of it (matplotlib's blitting).  A
sampler whose vectors reach beyond the data's axis limits gets a figure of
its own, drawn in full with wider limits.
"""

from __future__ import annotations

import io

import numpy as np

FIGSIZE = (5.6, 5.0)
OVERLAY_STYLE = dict(s=14, c="#2ca02c", marker="x", lw=1)


def _png(canvas, compress_level=1):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buf, format="png", compress_level=compress_level)
    return buf.getvalue()


def _figure(points, kde, ellipses, labels, max_points, dpi, sigmas=(1.0, 2.0, 3.0)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from core.plotting import plot_plane

    fig = Figure(figsize=FIGSIZE, dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    drawn = plot_plane(ax, points, kde=kde, ellipses=ellipses, sigmas=sigmas, max_points=max_points,
                       labels=labels)
    ax.get_legend().remove()
    ax.tick_params(labelsize=10)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.11, top=0.88)
    return fig, canvas, ax, [a for a in (drawn["origin"], drawn["centre"]) if a is not None]


def _inside(lims, xy, margin=0.03):
    # Inside the limits with a margin, so that no cross is cut at the frame.
    if xy.size == 0:
        return True
    (x0, x1), (y0, y1) = lims
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return bool(xy[:, 0].min() >= x0 + mx and xy[:, 0].max() <= x1 - mx
                and xy[:, 1].min() >= y0 + my and xy[:, 1].max() <= y1 - my)


def plane_overlay_pngs(points, overlays, titles, kde=None, ellipses=None, labels=("z_i", "z_j"),
                       max_points=5000, dpi=95, sigmas=(1.0, 2.0, 3.0)):
    """One PNG per overlay: the data's plane with that overlay's points on top.

    Parameters
    ----------
    points : ndarray of shape (n, 2)
        The data's projected z-points.
    overlays : sequence of ndarray of shape (m_k, 2)
        Each sampler's projected vectors (all of them are drawn).
    titles : sequence of str
        One title per overlay.
    kde : core.stats.kde.KDEResult or None
    ellipses : pandas.DataFrame or None   (``core.stats.ellipses.plane_ellipses``)
    sigmas : sequence of float   the levels of ``ellipses`` and of the KDE contours
    labels : (str, str)   axis labels
    max_points : int   data points scattered (all enter KDE and ellipses)
    dpi : int

    Returns
    -------
    pngs : list of bytes, one per overlay
    """
    overlays = [np.asarray(o, np.float64).reshape(-1, 2) for o in overlays]
    if len(titles) != len(overlays):
        raise ValueError(f"{len(overlays)} overlays but {len(titles)} titles")
    fig, canvas, ax, markers = _figure(points, kde, ellipses, labels, max_points, dpi, sigmas=sigmas)
    lims = (ax.get_xlim(), ax.get_ylim())
    far = [xy for xy in overlays if not _inside(lims, xy)]
    if far:
        # One common scale for every panel, wide enough for the far samplers:
        # the panels stay comparable and a pair change draws one background.
        lims = wide_limits(lims, far)  # set on the same, not yet drawn, figure
    return _blit_all(fig, canvas, ax, markers, lims, overlays, titles)


def wide_limits(lims, overlays, margin=0.05):
    """Axis limits holding the data's ``lims`` and every point of ``overlays`` with a margin.

    Returns
    -------
    ((x0, x1), (y0, y1))
    """
    xy = np.concatenate([np.asarray(o, np.float64).reshape(-1, 2) for o in overlays] +
                        [np.array([[lims[0][0], lims[1][0]], [lims[0][1], lims[1][1]]])])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = margin * (hi - lo)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def _blit_all(fig, canvas, ax, markers, lims, overlays, titles):
    """PNG bytes per overlay, each blitted on one background drawn once with ``lims`` fixed."""
    if not overlays:
        return []
    ax.set_xlim(lims[0])
    ax.set_ylim(lims[1])  # fixed: the overlays must not rescale the axes
    ax.set_title(" \n ", fontsize=12)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    out = []
    for xy, title in zip(overlays, titles):
        canvas.restore_region(background)
        art = ax.scatter(xy[:, 0], xy[:, 1], **OVERLAY_STYLE)
        ax.title.set_text(title)
        ax.draw_artist(art)
        for m in markers:  # origin and centre stay on top, as in a full drawing
            ax.draw_artist(m)
        ax.draw_artist(ax.title)
        out.append(_png(canvas))
        art.remove()
    return out


__all__ = ["plane_overlay_pngs", "wide_limits"]
