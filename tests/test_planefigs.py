"""core.planefigs: the data plane drawn once, each sampler's overlay blitted on a copy."""

import io

import numpy as np
import pytest
from PIL import Image

from core.stats.ellipses import plane_ellipses
from core.stats.kde import kde2d
from core.planefigs import FIGSIZE, OVERLAY_STYLE, plane_overlay_pngs


def _pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float64)


def _full_drawing(points, overlay, title, kde, ell, dpi):
    # The same figure drawn in one go with the overlay as an ordinary artist.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from core.plotting import plot_plane

    fig = Figure(figsize=FIGSIZE, dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    plot_plane(ax, points, kde=kde, ellipses=ell, max_points=5000, labels=("a", "b"))
    ax.get_legend().remove()
    ax.tick_params(labelsize=10)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.11, top=0.88)
    lims = ax.get_xlim(), ax.get_ylim()
    ax.scatter(overlay[:, 0], overlay[:, 1], zorder=10, **OVERLAY_STYLE)
    ax.set_xlim(lims[0])
    ax.set_ylim(lims[1])
    ax.set_title(title, fontsize=12)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def test_blitted_overlays_look_like_full_drawings_and_far_ones_get_their_own_limits():
    rng = np.random.default_rng(0)
    pts = rng.standard_normal((4000, 2)) * [2.0, 0.7]
    kde, ell = kde2d(pts, gridsize=64), plane_ellipses(pts, (1.0, 2.0, 3.0))
    near = [rng.standard_normal((300, 2)) * s for s in (0.2, 0.35, 0.5)]
    far = rng.uniform(-20, 20, size=(300, 2))
    titles = ["a: 1\nx", "b: 2\ny", "c: 3\nz", "far: 0\nw"]
    pngs = plane_overlay_pngs(pts, near + [far], titles, kde=kde, ellipses=ell, labels=("a", "b"), dpi=60)
    assert len(pngs) == 4
    for xy, title, png in zip(near, titles, pngs):
        got, want = _pixels(png), _pixels(_full_drawing(pts, xy, title, kde, ell, 60))
        assert got.shape == want.shape
        # Only anti-aliasing and the stacking of crosses under the origin and
        # centre markers may differ.
        assert np.mean(np.abs(got - want) > 40) < 0.01
    # Distinct overlays give distinct images; the far one is drawn with wider
    # limits (its image differs from every near one far more).
    assert len({bytes(p) for p in pngs}) == 4
    far_img = _pixels(pngs[3])
    assert np.mean(np.abs(far_img - _pixels(pngs[0])) > 40) > 0.05


def test_titles_must_match_overlays():
    pts = np.random.default_rng(1).standard_normal((500, 2))
    with pytest.raises(ValueError, match="2 overlays but 1 titles"):
        plane_overlay_pngs(pts, [pts[:10], pts[:20]], ["one"])
