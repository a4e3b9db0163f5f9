"""Figures as PNG bytes: render a matplotlib figure once, and cache a run's figures.

``figure_png`` renders a figure once (pages show the bytes and offer the
same bytes for download); ``cached_figure`` keeps the PNG of a run's figure
through :func:`lab.run_cached`.  Only matplotlib is imported here: Home
draws its loss figure with it after the run summary, without the scipy and
scikit-learn that ``views`` loads.
"""

from __future__ import annotations

import io
import sys

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

import lab
from core.data.images import png_bytes


def _drawn_png(run, kind, params, dpi, others, draw=None):
    return figure_png(draw(), dpi=dpi)


def cached_figure(run, kind, params, draw, dpi=110, others=()):
    """PNG bytes of a figure, drawn once per (run version, ``kind``, ``params``) and cached.

    ``draw()`` builds and returns a matplotlib Figure (best a
    ``matplotlib.figure.Figure``, which needs no pyplot state and so is safe
    with several sessions); ``params`` (hashable) must hold everything the
    drawing depends on besides the run; ``others``: further runs the figure
    shows (the Compare page), whose versions join the key.  Warm page
    renders then only send cached bytes.
    """
    return lab.run_cached(_drawn_png, run, str(kind), params, int(dpi),
                          tuple((r.name, lab.run_token(r.name)) for r in others),
                          unhashed={"draw": draw}, spinner="Drawing the figure…")


def figure_png(fig, dpi=110, tight=True):
    """Render a matplotlib figure ONCE to PNG bytes and close it.

    Pages show the bytes with ``st.image`` and offer the same bytes for
    download, so a figure is never rasterised twice (``st.pyplot`` + savefig).
    ``tight=False`` skips ``bbox_inches="tight"`` (which draws the figure an
    extra time) for figures whose margins are set by hand, and encodes the
    Agg buffer with :func:`core.data.images.png_bytes`; fast deflate level either way.
    """
    if tight:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pil_kwargs={"compress_level": 1})
        png = buf.getvalue()
    else:
        # A figure drawn before (core.plotting.reused_axes) keeps its canvas and renderer.
        canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
        fig.set_dpi(dpi)
        canvas.draw()
        png = png_bytes(np.asarray(canvas.buffer_rgba()))
    if "matplotlib.pyplot" in sys.modules:  # a pyplot figure leaves pyplot's registry
        sys.modules["matplotlib.pyplot"].close(fig)
    return png
