"""``figures.figure_png`` (issue 14): the pixels Pillow decodes from its fast PNG are the figure's
(the encoder itself: tests/test_png.py)."""

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dashboard"))

import figures  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from core.plotting import plot_plane  # noqa: E402


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def test_figure_png_untight_equals_savefig_pixels():
    def figure():
        fig = Figure(figsize=(3.3, 2.9))
        ax = fig.add_subplot()
        pts = np.random.default_rng(0).standard_normal((500, 2))
        plot_plane(ax, pts, sigmas=(1.0, 2.0), legend=False, labels=("z0", "z1"))
        ax.set_title("plane (0, 1)")
        fig.subplots_adjust(left=0.15, right=0.97, bottom=0.15, top=0.9)
        return fig

    buf = io.BytesIO()
    figure().savefig(buf, format="png", dpi=115)
    ours = figures.figure_png(figure(), dpi=115, tight=False)
    assert decode(ours).shape == (int(2.9 * 115), int(3.3 * 115), 4)  # Agg truncates
    np.testing.assert_array_equal(decode(ours), decode(buf.getvalue()))
