"""Many samplers over one coordinate plane: the data drawn once, each overlay blitted.

The Samplers page shows every drawn sampler over the same plane of the data
(points, KDE contours, 1-3 sigma ellipses, axes, ticks).  Drawing that
background is most of the cost of a figure (thousands of points, contours,
tick labels), and it is the same for every sampler, so it is rendered once
with Agg, saved as a pixel buffer, and each sampler's crosses and title are
drawn on a copy of it (matplotlib's blitting).  When a sampler reaches
beyond the data's axis limits, every panel gets one common wider scale.

A page redraws these panels whenever a plane, the coordinates or the
number of crosses change, so the figure itself is kept between calls: a
small pool of panel templates (figure, axes, ticks) is reused, and a
template that last drew the same data plane (``background_key``) only
blits the new overlays.  The PNGs come from :func:`core.data.images.png_bytes`
(no row filters, deflate level 1: a fraction of Pillow's time).
"""

from __future__ import annotations

import threading

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from core.data.images import png_bytes
from core.plotting import plot_plane

FIGSIZE = (5.6, 5.0)
OVERLAY_STYLE = dict(s=14, c="#2ca02c", marker="x", lw=1)
#: Free panel templates kept for reuse.  Two keep the plane drawn last in
#: each of latent and PCA coordinates, so that switching back and then
#: changing the crosses per plot only blits; more would cost a figure each
#: (tens of ms) for little.
POOL_SIZE = 2


class _Panel:
    """One reusable figure: its ticks and text objects outlive a plane."""

    def __init__(self, dpi):
        self.dpi = dpi
        self.fig = Figure(figsize=FIGSIZE, dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_subplot()
        self.key = None          # the data plane drawn now (None: must be drawn)
        self.data_lims = None    # its axis limits before any overlay widened them
        self.lims = None         # the limits and title tail the saved background was drawn with
        self.background = None
        self.markers = []
        self.cross = None

    def clear(self):
        """Remove every artist of the last plane; keep the axes, ticks and texts."""
        ax = self.ax
        for art in list(ax.get_children()):
            if art in ax.collections or art in ax.lines or art in ax.patches or art in ax.texts:
                art.remove()
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        ax.dataLim.set_points(Bbox.null().get_points())
        ax.ignore_existing_data_limits = True
        ax.set_autoscale_on(True)
        self.key = self.data_lims = self.lims = self.background = self.cross = None
        self.markers = []

    def draw_plane(self, points, kde, ellipses, labels, max_points, sigmas, key):
        self.clear()
        ax = self.ax
        drawn = plot_plane(ax, points, kde=kde, ellipses=ellipses, sigmas=sigmas, max_points=max_points,
                           labels=labels)
        ax.get_legend().remove()
        ax.tick_params(labelsize=10)
        self.fig.subplots_adjust(left=0.13, right=0.97, bottom=0.11, top=0.88)
        self.markers = [a for a in (drawn["origin"], drawn["centre"]) if a is not None]
        self.data_lims = (ax.get_xlim(), ax.get_ylim())
        self.key = key

    def draw_background(self, lims, tail):
        ax = self.ax
        if self.cross is not None:
            self.cross.remove()
            self.cross = None
        ax.set_xlim(lims[0])
        ax.set_ylim(lims[1])  # fixed: the overlays must not rescale the axes
        # A title's lines after the first, when every panel has the same
        # ones, are drawn once here (text is a large part of a blit).
        ax.set_title(" \n" + (tail if tail is not None else " "), fontsize=12)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.lims = (lims, tail)

    def blit(self, xy, title):
        ax, canvas = self.ax, self.canvas
        canvas.restore_region(self.background)
        if self.cross is None:
            self.cross = ax.scatter(xy[:, 0], xy[:, 1], **OVERLAY_STYLE)
        else:
            self.cross.set_offsets(xy)
        ax.title.set_text(title)
        ax.draw_artist(self.cross)
        for m in self.markers:  # origin and centre stay on top, as in a full drawing
            ax.draw_artist(m)
        ax.draw_artist(ax.title)
        return png_bytes(np.asarray(canvas.buffer_rgba())[..., :3])


_POOL = []                 # free templates, least recently used first
_POOL_LOCK = threading.Lock()


def _take_panel(dpi, key):
    # The free template that last drew this plane; else a new one while the
    # pool is not full (so the last few planes stay drawn: going back to
    # one, or changing the crosses per plot, only blits), else the least
    # recently used.
    with _POOL_LOCK:
        mine = [p for p in _POOL if p.dpi == dpi]
        pick = next((p for p in mine if key is not None and p.key == key), None)
        if pick is None and len(_POOL) >= POOL_SIZE and mine:
            pick = mine[0]
        if pick is not None:
            _POOL.remove(pick)
            return pick
    return _Panel(dpi)


def prepare(dpi, count=POOL_SIZE):
    """Create free panel templates for ``dpi`` up to ``count`` (figures and ticks cost tens of ms)."""
    with _POOL_LOCK:
        missing = max(0, min(count, POOL_SIZE) - len([p for p in _POOL if p.dpi == dpi]))
    for _ in range(missing):
        _give_back(_Panel(dpi))


def _give_back(panel):
    with _POOL_LOCK:
        _POOL.append(panel)
        del _POOL[:-POOL_SIZE]


def _split_title(title):
    # (first line, the rest) of a two-line title; (title, None) otherwise.
    head, sep, rest = str(title).partition("\n")
    return (head, rest) if sep and "\n" not in rest else (str(title), None)


def _inside(lims, xy, margin=0.03):
    # Inside the limits with a margin, so that no cross is cut at the frame.
    if xy.size == 0:
        return True
    (x0, x1), (y0, y1) = lims
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return bool(xy[:, 0].min() >= x0 + mx and xy[:, 0].max() <= x1 - mx
                and xy[:, 1].min() >= y0 + my and xy[:, 1].max() <= y1 - my)


def plane_overlay_pngs(points, overlays, titles, kde=None, ellipses=None, labels=("z_i", "z_j"),
                       max_points=5000, dpi=95, sigmas=(1.0, 2.0, 3.0), background_key=None):
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
    background_key : hashable or None
        Names the data side (``points``, ``kde``, ``ellipses``, ``sigmas``,
        ``labels``, ``max_points``): a kept template that drew the same key
        reuses its drawing.  None: always drawn afresh.

    Returns
    -------
    pngs : list of bytes, one per overlay
    """
    overlays = [np.asarray(o, np.float64).reshape(-1, 2) for o in overlays]
    if len(titles) != len(overlays):
        raise ValueError(f"{len(overlays)} overlays but {len(titles)} titles")
    if not overlays:
        return []
    key = None if background_key is None else (background_key, tuple(labels), int(max_points), tuple(sigmas))
    panel = _take_panel(dpi, key)
    try:
        if key is None or panel.key != key:
            panel.draw_plane(points, kde, ellipses, labels, max_points, sigmas, key)
        lims = panel.data_lims
        far = [xy for xy in overlays if not _inside(lims, xy)]
        if far:
            # One common scale for every panel, wide enough for the far samplers:
            # the panels stay comparable and a pair change draws one background.
            lims = wide_limits(lims, far)
        heads, tails = zip(*(_split_title(t) for t in titles))
        tail = tails[0] if len(set(tails)) == 1 and tails[0] is not None else None
        if tail is not None:
            titles = [h + "\n " for h in heads]
        if panel.lims != (lims, tail):
            panel.draw_background(lims, tail)
        out = [panel.blit(xy, title) for xy, title in zip(overlays, titles)]
    except BaseException:
        panel.clear()  # half-drawn: not reused as it is
        raise
    _give_back(panel)
    return out


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


__all__ = ["plane_overlay_pngs", "prepare", "wide_limits"]
