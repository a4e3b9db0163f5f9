"""``figures.figure_png``'s own PNG encoder (issue 14): the pixels Pillow decodes are the figure's."""

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dashboard"))

import figures  # noqa: E402


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 301)])
def test_png_rgba_round_trips_through_pillow(shape):
    rgba = np.random.default_rng(sum(shape)).integers(0, 256, shape + (4,), dtype=np.uint8)
    png = figures._png_rgba(rgba)
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.mode == "RGBA" and im.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(im), rgba)


def test_figure_png_untight_equals_savefig_pixels():
    from matplotlib.figure import Figure

    from core.plotting import plot_plane

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
