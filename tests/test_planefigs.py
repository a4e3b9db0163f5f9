"""core.planefigs: the data plane drawn once, each sampler's overlay blitted on a copy."""

import io

import numpy as np
import pytest
from PIL import Image

from core.stats.ellipses import plane_ellipses
from core.stats.kde import kde2d
from core.planefigs import FIGSIZE, OVERLAY_STYLE, plane_overlay_pngs, wide_limits


def _pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float64)


def _full_drawing(points, overlay, title, kde, ell, dpi, lims=None):
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
    lims = lims or (ax.get_xlim(), ax.get_ylim())
    ax.scatter(overlay[:, 0], overlay[:, 1], zorder=10, **OVERLAY_STYLE)
    ax.set_xlim(lims[0])
    ax.set_ylim(lims[1])
    ax.set_title(title, fontsize=12)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def test_blitted_overlays_look_like_full_drawings():
    rng = np.random.default_rng(0)
    pts = rng.standard_normal((4000, 2)) * [2.0, 0.7]
    kde, ell = kde2d(pts, gridsize=64), plane_ellipses(pts, (1.0, 2.0, 3.0))
    near = [rng.standard_normal((300, 2)) * s for s in (0.2, 0.35, 0.5)]
    titles = ["a: 1\nx", "b: 2\ny", "c: 3\nz"]
    pngs = plane_overlay_pngs(pts, near, titles, kde=kde, ellipses=ell, labels=("a", "b"), dpi=60)
    assert len(pngs) == 3 and len({bytes(p) for p in pngs}) == 3
    for xy, title, png in zip(near, titles, pngs):
        got, want = _pixels(png), _pixels(_full_drawing(pts, xy, title, kde, ell, 60))
        assert got.shape == want.shape
        # Only anti-aliasing and the stacking of crosses under the origin and
        # centre markers may differ.
        assert np.mean(np.abs(got - want) > 40) < 0.01


def test_a_far_overlay_widens_every_panel_to_one_common_scale():
    rng = np.random.default_rng(2)
    pts = rng.standard_normal((3000, 2))
    kde, ell = kde2d(pts, gridsize=64), plane_ellipses(pts, (1.0, 2.0, 3.0))
    near = rng.standard_normal((200, 2)) * 0.3
    far1, far2 = rng.uniform(-12, 3, size=(200, 2)), rng.uniform(-2, 9, size=(200, 2))
    pngs = plane_overlay_pngs(pts, [far1, near, far2], ["f1", "n", "f2"], kde=kde, ellipses=ell,
                              labels=("a", "b"), dpi=60)
    from matplotlib.figure import Figure

    from core.plotting import plot_plane

    ax = Figure(figsize=FIGSIZE).add_subplot()
    plot_plane(ax, pts, kde=kde, ellipses=ell, max_points=5000, labels=("a", "b"))
    data_lims = (ax.get_xlim(), ax.get_ylim())
    wide = wide_limits(data_lims, [far1, far2])
    both = np.concatenate([far1, far2])
    assert wide[0][0] < both[:, 0].min() and wide[0][1] > both[:, 0].max()
    assert wide[1][0] < both[:, 1].min() and wide[1][1] > both[:, 1].max()
    assert wide[0][0] <= data_lims[0][0] and wide[1][1] >= data_lims[1][1]
    for xy, title, png in ((far1, "f1", pngs[0]), (near, "n", pngs[1]), (far2, "f2", pngs[2])):
        got, want = _pixels(png), _pixels(_full_drawing(pts, xy, title, kde, ell, 60, lims=wide))
        assert np.mean(np.abs(got - want) > 40) < 0.01
    # at the data's own limits the near panel would look different
    own = _pixels(_full_drawing(pts, near, "n", kde, ell, 60))
    assert np.mean(np.abs(_pixels(pngs[1]) - own) > 40) > 0.02


def test_titles_must_match_overlays():
    pts = np.random.default_rng(1).standard_normal((500, 2))
    with pytest.raises(ValueError, match="2 overlays but 1 titles"):
        plane_overlay_pngs(pts, [pts[:10], pts[:20]], ["one"])


def _fresh_pool():
    from core import planefigs

    planefigs._POOL.clear()


def test_a_reused_template_draws_exactly_what_a_fresh_figure_draws(monkeypatch):
    # The pool keeps figures between calls; a plane drawn on a template that
    # drew another plane (other limits, a far overlay, other sigma levels)
    # must give the very same pixels as on a new figure.
    from core import planefigs

    monkeypatch.setattr(planefigs, "POOL_SIZE", 1)  # one template: every plane reuses it
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3000, 2)) * [3.0, 0.5] + [4.0, -1.0]
    b = rng.standard_normal((2500, 2)) * [0.4, 1.5]
    kde_a, ell_a = kde2d(a, gridsize=64), plane_ellipses(a, (1.0, 2.0, 3.0))
    kde_b, ell_b = kde2d(b, gridsize=64), plane_ellipses(b, (2.5,))
    far = rng.uniform(-9, 9, size=(100, 2))
    over_b = [rng.standard_normal((200, 2)) * 0.3, rng.standard_normal((150, 2))]

    def plane_b(key):
        return plane_overlay_pngs(b, over_b, ["one\nx", "two\ny"], kde=kde_b, ellipses=ell_b, sigmas=(2.5,),
                                  labels=("PCA 0", "PCA 3"), dpi=60, background_key=key)

    _fresh_pool()
    want = plane_b(None)
    _fresh_pool()
    plane_overlay_pngs(a, [far, a[:50]], ["far", "near"], kde=kde_a, ellipses=ell_a, labels=("z0", "z1"), dpi=60,
                       background_key="a")
    assert plane_b("b") == want          # a template that drew plane a
    assert plane_b("b") == want          # the template that drew plane b: only blitted
    assert plane_b(None) == want
    # the same key with other overlays: the background kept, the crosses new
    other = plane_overlay_pngs(b, over_b[::-1], ["two\ny", "one\nx"], kde=kde_b, ellipses=ell_b, sigmas=(2.5,),
                               labels=("PCA 0", "PCA 3"), dpi=60, background_key="b")
    assert other == want[::-1]


def test_the_pool_keeps_the_last_planes_drawn(monkeypatch):
    from core import planefigs

    _fresh_pool()
    monkeypatch.setattr(planefigs, "POOL_SIZE", 2)
    rng = np.random.default_rng(5)
    planes = {k: rng.standard_normal((500, 2)) * (1 + "abc".index(k)) for k in "abc"}
    drawn = []
    real_draw_plane = planefigs._Panel.draw_plane

    def draw_plane(self, *args):
        drawn.append(args[-1])  # the key
        return real_draw_plane(self, *args)

    monkeypatch.setattr(planefigs._Panel, "draw_plane", draw_plane)
    for k in "abab" + "c" + "b":
        plane_overlay_pngs(planes[k], [planes[k][:5]], ["t"], ellipses=[], labels=("x", "y"), dpi=40,
                           background_key=k)
    # a and b drawn once each; c replaces the least recently used (a); b is kept
    assert [d[0] for d in drawn] == ["a", "b", "c"]
    assert len(planefigs._POOL) == 2


def test_prepare_fills_the_pool_once():
    from core import planefigs

    _fresh_pool()
    planefigs.prepare(40)
    planefigs.prepare(40)
    assert len(planefigs._POOL) == planefigs.POOL_SIZE and all(p.dpi == 40 and p.key is None for p in planefigs._POOL)
