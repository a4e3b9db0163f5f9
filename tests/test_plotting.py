"""Light tests of core.plotting on the Agg backend."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from core import plotting  # noqa: E402
from core.stats.components import component_histograms, component_table, uniform_box_shell  # noqa: E402
from core.stats.ellipses import plane_ellipses  # noqa: E402
from core.stats.kde import kde2d  # noqa: E402
from core.stats.mnd import mnd_summary  # noqa: E402


@pytest.fixture(scope="module")
def Z():
    rng = np.random.default_rng(0)
    return rng.standard_normal((3000, 4)) @ np.array(
        [[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0.3, 1]]) + [0, 1, 0, -1]


@pytest.fixture()
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_plane_ellipse_artists_match_params(ax, Z):
    P = Z[:, :2]
    table = plane_ellipses(P, (1, 2, 3))
    out = plotting.plot_plane(ax, P, kde=kde2d(P, 64), sigmas=(1, 2, 3), max_points=500,
                              overlay=Z[:10, :2], overlay_label="uniform box")
    assert len(out["ellipses"]) == 3 and all(isinstance(e, Ellipse) for e in out["ellipses"])
    for e, (_, r) in zip(out["ellipses"], table.iterrows()):
        assert e.center == pytest.approx((r["centre_x"], r["centre_y"]))
        assert (e.width, e.height, e.angle) == pytest.approx((r["width"], r["height"], r["angle"]))
        assert f"{r['sigma']:g} σ: theory {100 * r['theory']:.1f} %" in e.get_label()
    assert len(out["scatter"].get_offsets()) == 500  # subsampled for drawing
    assert out["contours"] is not None and len(out["contours"].levels) == 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "uniform box" in labels and "origin" in labels and "centre" in labels
    ax.figure.canvas.draw()


def test_plane_without_extras(ax, Z):
    out = plotting.plot_plane(ax, Z[:, 2:], ellipses=[], origin=False, centre=False,
                              xlim=(-1, 1), ylim=(-2, 2))
    assert out["ellipses"] == [] and out["origin"] is None and out["contours"] is None
    assert ax.get_xlim() == (-1, 1)


def test_component_plots(ax, Z):
    hist = component_histograms(Z)
    lines = plotting.plot_component_histograms(ax, hist)
    assert len(lines) == 4
    np.testing.assert_allclose(lines[2].get_ydata(), hist.density()[2])
    table = component_table(Z)
    fig2, ax2 = plt.subplots()
    out = plotting.plot_component_fit(ax2, Z[:, 2], table.iloc[2])
    assert out["fit"] is not None and sum(b.get_height() for b in out["bars"]) == len(Z)
    # The fitted curve's peak equals the fitted amplitude (counts per bin).
    assert out["fit"].get_ydata().max() == pytest.approx(table.iloc[2]["fit_amplitude"], rel=1e-3)
    plt.close(fig2)
    with pytest.raises(ValueError, match="component 9"):
        plotting.plot_component_histograms(ax, hist, components=[9])


def test_radius_heatmap_qq_marginals(ax, Z):
    out = plotting.plot_radius(ax, np.linalg.norm(Z, axis=1), uniform_box_shell(1.5, 4))
    assert out["shell"] is not None and len(out["bars"]) == 100
    fig2, axes = plt.subplots(1, 3)
    im = plotting.plot_correlation_heatmap(axes[0], np.corrcoef(Z.T))
    assert im.get_clim() == (-1.0, 1.0) and im.colorbar is not None
    qq = plotting.plot_qq(axes[1], mnd_summary(Z)["qq"])
    assert len(qq["points"].get_xdata()) == 200
    hs = plotting.plot_marginals(axes[2], Z, columns=[0, 3])
    assert len(hs) == 2
    fig2.canvas.draw()
    plt.close(fig2)
    with pytest.raises(ValueError, match="columns must be <= 3, got 7"):
        plotting.plot_marginals(ax, Z, columns=[7])


# ---------------------------------------------------------------- issue 11

def test_plot_radius_bin_width_and_both_shells():
    from matplotlib.figure import Figure

    from core.stats.components import gaussian_shell, uniform_box_shell
    from core.plotting import plot_radius

    r = np.random.default_rng(0).normal(16, 0.7, 5000)
    ax = Figure().add_subplot()
    out = plot_radius(ax, r, shell=uniform_box_shell(1.5, 256), bin_width=0.25, gaussian=gaussian_shell(256))
    widths = {round(p.get_width(), 9) for p in out["bars"]}
    assert widths == {0.25}
    edges = [p.get_x() for p in out["bars"]]
    np.testing.assert_allclose(np.array(edges) / 0.25, np.round(np.array(edges) / 0.25), atol=1e-9)
    assert out["gaussian"] is not None and out["shell"] is not None
    with pytest.raises(ValueError, match="bin_width"):
        plot_radius(Figure().add_subplot(), r, bin_width=0)


def test_plot_explained_variance_counts_match_sklearn():
    from matplotlib.figure import Figure
    from sklearn.decomposition import PCA

    from core.stats.pca import LatentPCA
    from core.plotting import plot_explained_variance

    rng = np.random.default_rng(1)
    Z = rng.normal(size=(2000, 12)) * np.linspace(3, 0.2, 12)
    cum = np.cumsum(PCA().fit(Z).explained_variance_ratio_)
    out = plot_explained_variance(Figure().add_subplot(), LatentPCA().fit(Z), k_max=10)
    for f, k in out["counts"].items():
        assert k == int(np.searchsorted(cum, f) + 1)
    np.testing.assert_allclose(out["cumulative"].get_ydata(), 100 * cum[:10], rtol=1e-6)
    with pytest.raises(ValueError, match="k_max"):
        plot_explained_variance(Figure().add_subplot(), LatentPCA().fit(Z), k_max=13)


def test_kde_contours_hold_the_ellipses_masses(ax, Z):
    # Each dashed contour is the HDR level of the mass 1 - exp(-s^2/2) of its
    # sigma level s (the mass of the n-sigma ellipse), not of any other s.
    P = Z[:, :2]
    kde = kde2d(P, 64)
    out = plotting.plot_plane(ax, P, kde=kde, sigmas=(1, 2, 3))
    masses = [1 - np.exp(-s * s / 2) for s in (1, 2, 3)]
    expected = np.sort(kde.levels_for_masses(masses))
    np.testing.assert_allclose(np.sort(out["contours"].levels), expected, rtol=1e-12)


def test_plane_without_legend_returns_the_handles_and_legend_html_lists_them(Z):
    # Issue 14: the Coordinate planes page draws the plane without its legend and shows
    # the handles as HTML; the handles must be the ones the drawn legend would hold.
    from matplotlib.colors import to_hex
    from matplotlib.figure import Figure

    P = Z[:, :2]
    with_legend = Figure().add_subplot()
    ref = plotting.plot_plane(with_legend, P, kde=kde2d(P, 64), max_points=500, overlay=Z[:10, :2],
                              overlay_label="box <b>&")
    ax = Figure().add_subplot()
    out = plotting.plot_plane(ax, P, kde=kde2d(P, 64), max_points=500, overlay=Z[:10, :2], overlay_label="box <b>&",
                              legend=False)
    assert ax.get_legend() is None
    labels = [h.get_label() for h in out["legend_handles"]]
    assert labels == [t.get_text() for t in with_legend.get_legend().get_texts()]
    assert labels == [h.get_label() for h in ref["legend_handles"]]
    html = plotting.legend_html(out["legend_handles"], columns=2)
    assert html.count("<td") == len(labels) == 8 and html.count("<tr") == 4
    assert "box &lt;b&gt;&amp;" in html and "box <b>" not in html   # labels are escaped
    for e, colour in zip(out["ellipses"], plotting.SIGMA_COLOURS):
        assert to_hex(e.get_edgecolor()) == colour and f"color:{colour}" in html
    # The overlay's open "x" markers and the data's filled dots get different symbols.
    assert "×</span>box" in html and "●</span>z-points" in html
    assert "+</span>origin" in html and "●</span>centre" in html
    assert "╍╍</span>KDE contours" in html
    with pytest.raises(ValueError, match="columns"):
        plotting.legend_html(out["legend_handles"], columns=0)


def _pixels(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    fig.set_dpi(80)
    canvas.draw()
    return np.array(canvas.buffer_rgba())


def test_reused_axes_draw_the_same_pixels_as_a_fresh_figure(Z):
    # Issue 14: the Coordinate planes page redraws into a kept figure; whatever the previous
    # drawing left (contours' tight autoscaling, zoom limits, extra lines, a legend), the next
    # one must come out as on a new Figure.
    from matplotlib.figure import Figure

    P, Q = Z[:, :2], Z[:, 2:]
    drawings = [
        dict(points=P, kde=kde2d(P, 64), overlay=Z[:30, :2], overlay_label="box", max_points=800),
        dict(points=Q, kde=None, centre=False, xlim=(-1.0, 0.5), ylim=(-2.0, -0.5), max_points=800),
        dict(points=Q, kde=kde2d(Q, 64), sigmas=(1.0, 2.0), max_points=800),
        dict(points=P, kde=None, ellipses=[], origin=False, max_points=800),
    ]
    margins = dict(left=0.12, right=0.97, bottom=0.12, top=0.92)

    def draw(ax, k, d):
        out = plotting.plot_plane(ax, **d, legend=(k == 1))
        ax.plot([0.2], [0.1], "*", ms=12, color="#ffd700")
        ax.set_title(f"drawing {k}")
        return out

    kept = []
    for rep in range(2):
        for k, d in enumerate(drawings):
            fresh = Figure(figsize=(3.2, 2.8))
            fresh.subplots_adjust(**margins)
            draw(fresh.add_subplot(), k, d)
            with plotting.reused_axes((3.2, 2.8), **margins) as ax:
                draw(ax, k, d)
                kept.append(ax)
                np.testing.assert_array_equal(_pixels(ax.figure), _pixels(fresh), err_msg=f"drawing {k}")
    assert kept[-1] is kept[0]  # one figure, reused (no concurrent block here)
    # A block that raises gives its figure up; the next block gets a new one.
    with pytest.raises(RuntimeError):
        with plotting.reused_axes((3.2, 2.8), **margins) as ax:
            broken = ax
            raise RuntimeError("drawing failed")
    with plotting.reused_axes((3.2, 2.8), **margins) as ax:
        assert ax is not broken


def test_contour_lines_draw_the_pixels_and_limits_of_ax_contour(Z):
    # Issue 14: the plane's KDE contours skip ax.contour's ContourSet; the pixels and the
    # view limits must be those ax.contour gives (matplotlib as the reference).
    from matplotlib.figure import Figure

    P = Z[:, :2]
    kde = kde2d(P, 64)
    levels = sorted(kde.levels_for_masses([0.39, 0.86, 0.99]))

    def figure(draw):
        fig = Figure(figsize=(3.2, 2.8))
        ax = fig.add_subplot()
        ax.scatter(P[:, 0], P[:, 1], s=1)
        draw(ax)
        ax.plot([0], [0], "k+")
        return fig, ax

    ref, ref_ax = figure(lambda ax: ax.contour(kde.xgrid, kde.ygrid, kde.density, levels=levels,
                                               colors=["r", "g", "b"], linewidths=1.3, linestyles="dashed",
                                               zorder=4))
    got, got_ax = figure(lambda ax: plotting.contour_lines(ax, kde, levels, ["r", "g", "b"]))
    assert got_ax.get_xlim() == ref_ax.get_xlim() and got_ax.get_ylim() == ref_ax.get_ylim()
    np.testing.assert_array_equal(_pixels(got), _pixels(ref))


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 137.5, -60.0])
def test_ellipse_bounding_box_matches_matplotlibs_path_extents(angle):
    from matplotlib.patches import Ellipse

    e = Ellipse((1.5, -2.0), 3.0, 1.2, angle=angle)
    box = e.get_path().transformed(e.get_patch_transform()).get_extents()
    half = plotting._ellipse_half_extent(1.5, 0.6, angle)
    np.testing.assert_allclose([1.5 - half[0], -2.0 - half[1], 1.5 + half[0], -2.0 + half[1]],
                               [box.x0, box.y0, box.x1, box.y1], atol=1e-3)
