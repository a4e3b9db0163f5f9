"""The guided tour (issue 11): the argument of the seed posts in eight steps.

Each step is computed on one run's latents with the seed posts' parameter
values (``TOUR_PARAMS``) and returns a :class:`TourStep`: a title, two or
three sentences with the run's own numbers, one projector-sized figure
(``matplotlib.figure.Figure``, large fonts) and where to explore further
(a dashboard page and its query parameters).  No streamlit here; the page
``dashboard/pages/0_Tour.py`` caches the steps through ``lab.run_cached``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure

from core.plotting import plot_component_fit, plot_empty_slice, plot_plane
from core.sampling.samplers import make_sampler
from core.sampling.scoreboard import compare_samplers
from core.stats.components import dominant_components, gaussian_shell, radius_distribution, uniform_box_shell
from core.stats.correlation import top_pairs
from core.stats.ellipses import plane_coordinates, plane_ellipses, slice_mask
from core.stats.kde import kde2d
from core.stats.mnd import k_sigma_threshold, whitened_sq_norms, whitening_matrix

#: The seed posts' parameter values used by every step.
TOUR_PARAMS = {
    "b": 1.5,            # seed IV/V: common box [-b, b]
    "bin_width": 0.25,   # seed II/VII histograms
    "f": 0.7,            # seed VII/X interval factor
    "n_components": 100,  # seed X: 50-120 leading PCA components
    "level": 2.35,       # seed X: half-axes a_k = level * sigma_k
    "sigmas": (1.0, 2.0, 3.0),  # seed VIII ellipses
    "n_draw": 2000,      # vectors per sampler for the numbers
    "n_images": 8,       # decoded images per row
    "seed": 0,
}

STEP_KEYS = ("noise", "shell", "components", "correlation", "ellipsoid", "per-component",
             "pca-ellipse", "scoreboard")

#: Figure text sizes (points) for a projector: the PNG is shown ~1200 px wide.
FONT = {"title": 19, "label": 17, "tick": 15, "legend": 15}

SAMPLER_LABELS = {
    "uniform": "uniform box",
    "per-component": "per-component",
    "gaussian-diag": "diagonal Gaussian",
    "pca-ellipse": "PCA ellipse",
    "mvn": "multivariate normal",
}


@dataclass
class TourStep:
    """One step of the tour.

    Attributes
    ----------
    key : str
        One of ``STEP_KEYS``.
    title : str
    text : str
        Two or three sentences (Markdown) with the run's numbers.
    figure : matplotlib.figure.Figure
    page : str
        Dashboard page (path relative to ``dashboard/``) to explore the step.
    query : dict
        Query parameters that open ``page`` with the step's settings.
    facts : dict
        The numbers quoted in ``text`` (for tests and the CLI).
    """

    key: str
    title: str
    text: str
    figure: object
    page: str
    query: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)


# ---------------------------------------------------------------- shared pieces

def _big(ax, size=None):
    size = size or FONT["label"]
    ax.tick_params(labelsize=FONT["tick"])
    ax.xaxis.label.set_size(size)
    ax.yaxis.label.set_size(size)
    ax.title.set_size(FONT["title"] - 2)


def _figure(w=12.8, h=5.2):
    return Figure(figsize=(w, h), dpi=100)


def _cov(stats):
    pca = stats.pca
    V = pca.components_
    return pca.mean_, (V.T * pca.explained_variance_) @ V


def inside_fraction(V, stats, k=2.0):
    """Fraction of vectors ``V`` (n, d) inside the data's k-sigma-mass ellipsoid.

    The ellipsoid is ``d2 <= chi2.ppf(erf(k/sqrt2), d)`` of the data's mean
    and covariance (``core.stats.mnd.k_sigma_threshold``), as on the scoreboard.
    """
    mean, cov = _cov(stats)
    d2 = whitened_sq_norms(V, mean, whitening_matrix(cov))
    return float(np.mean(d2 <= k_sigma_threshold(k, V.shape[1])))


def _sampler(Z, name, **params):
    return make_sampler(name, **params).fit(Z)


def sampler_specs(params=None, z_dim=None):
    """The seed samplers of the tour: ``{name: params}`` (K capped at ``z_dim``)."""
    p = dict(TOUR_PARAMS, **(params or {}))
    if z_dim is not None:
        p["n_components"] = min(int(p["n_components"]), int(z_dim))
    return {
        "uniform": {"b": p["b"]},
        "per-component": {"f": p["f"], "bin_width": p["bin_width"]},
        "gaussian-diag": {},
        "pca-ellipse": {"n_components": p["n_components"], "level": p["level"], "f": p["f"]},
        "mvn": {},
    }


def _image_rows(fig, rows, labels, top=0.9):
    """Rows of images (each (m, h, w, c) in [0, 1]) with a label above each row."""
    n_rows, m = len(rows), max(len(r) for r in rows)
    hspace = 0.32 if all(labels) else 0.08
    axes = fig.subplots(n_rows, m, gridspec_kw={"wspace": 0.04, "hspace": hspace})
    axes = np.atleast_2d(axes)
    for r, (imgs, label) in enumerate(zip(rows, labels)):
        for c in range(m):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if c < len(imgs):
                img = np.clip(imgs[c], 0, 1)
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                          interpolation="nearest")
        axes[r, 0].set_title(label, loc="left", fontsize=FONT["title"] - 2, pad=8)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=top)
    return axes


def _decoded(decode_fn, V):
    return np.asarray(decode_fn(np.asarray(V, dtype=np.float32)))


def _real_rows(Z, m):
    # Held-out images (the training kept the last rows back) decoded from their z-points.
    return np.asarray(Z[Z.shape[0] - m:], dtype=np.float32)


# ---------------------------------------------------------------- the steps

def step_noise(Z, stats, decode_fn, p):
    m = p["n_images"]
    box = _sampler(Z, "uniform", b=p["b"])
    V = box.sample(p["n_draw"], random_state=p["seed"])
    frac = inside_fraction(V, stats)
    imgs = _decoded(decode_fn, np.concatenate([_real_rows(Z, m), V[:m]]))
    fig = _figure(12.8, 4.4)
    _image_rows(fig, [imgs[:m], imgs[m:]],
                ["Real z-points (held-out images), decoded",
                 f"Random vectors, every component uniform in [−{p['b']:g}, {p['b']:g}], decoded"])
    text = (f"Feed the decoder random vectors whose {Z.shape[1]} components are drawn uniformly from "
            f"[−{p['b']:g}, {p['b']:g}] (seed posts IV/V) and it draws noise, not faces. "
            f"Of {p['n_draw']:,} such vectors, **{frac:.0%}** lie inside the region that holds 95 % "
            "of the data (its 2σ ellipsoid): the decoder never learned what to do there.")
    return TourStep("noise", "1 · Random vectors decode to noise", text, fig, "pages/4_Samplers.py",
                    {"samplers": "uniform"}, {"inside_2sigma": frac})


def step_shell(Z, stats, decode_fn, p):
    d = Z.shape[1]
    r_data = radius_distribution(Z)
    V = _sampler(Z, "uniform", b=p["b"]).sample(p["n_draw"], random_state=p["seed"])
    r_box = np.linalg.norm(V.astype(np.float64), axis=1)
    box, gauss = uniform_box_shell(p["b"], d), gaussian_shell(d)
    fig = _figure(12.8, 5.4)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.55, 1]})
    lo = min(r_data.min(), r_box.min(), gauss["mean"] - 4) * 0.95
    hi = max(np.quantile(r_data, 0.999), r_box.max(), gauss["mean"] + 4) * 1.03
    edges = np.linspace(lo, hi, 120)
    ax.hist(r_data, edges, density=True, color="#4a6fa5", alpha=0.75, label=f"data radii ({len(r_data):,} z-points)")
    ax.hist(r_box, edges, density=True, color="#d62728", alpha=0.6,
            label=f"box vectors, b = {p['b']:g} ({len(r_box):,})")
    ax.axvline(box["mean"], color="#d62728", lw=2.5, ls="--",
               label=f"box shell b√(d/3) = {box['mean']:.1f}")
    ax.axvline(gauss["mean"], color="k", lw=2, ls=":", label=f"unit Gaussian shell √d ≈ {gauss['mean']:.1f}")
    ax.set_xlabel("radius |z|")
    ax.set_ylabel("density")
    ax.set_yticks([])
    ax.legend(fontsize=FONT["legend"] - 2, loc="upper right", frameon=False)
    _big(ax)
    # Seed IV: the slice |other components| <= b around the most correlated plane.
    i, j, _ = _top_pair(stats)
    mask = slice_mask(Z, i, j, p["b"], allow_empty=True)
    pts = plane_coordinates(Z, i, j)
    in_slab = V[slice_mask(V, i, j, p["b"], allow_empty=True)][:, [i, j]]
    n_kept = int(mask.sum())
    if n_kept == 0:
        art = plot_empty_slice(ax2, pts, len(pts), p["b"], overlay=in_slab[:400], overlay_label="box vectors (400 drawn)",
                               labels=(f"z{i}", f"z{j}"))
        art["text"].remove()  # the title says it, larger
    else:
        plot_plane(ax2, pts[mask], ellipses=[], overlay=in_slab[:400], overlay_label="box vectors (400 drawn)",
                   labels=(f"z{i}", f"z{j}"))
    ax2.legend(fontsize=FONT["legend"] - 3, loc="upper left", framealpha=0.9)
    ax2.set_title(f"slice |others| ≤ {p['b']:g}: {n_kept:,} z-points,\n{len(in_slab):,} of {len(V):,} box vectors")
    _big(ax2)
    ax2.title.set_size(FONT["legend"])
    fig.subplots_adjust(left=0.03, right=0.98, bottom=0.14, top=0.9, wspace=0.16)
    med = float(np.median(r_data))
    lo5, hi95 = np.quantile(r_data, [0.05, 0.95])
    on_shell = float(np.mean(np.abs(r_data - box["mean"]) <= 2 * box["std"]))
    text = (f"In {d} dimensions the box's vectors all sit on a thin shell of radius b√(d/3) = "
            f"**{box['mean']:.1f}** (spread ±{box['std']:.2f}, whatever d is) — the curse of high "
            f"dimensionality. The data's radii spread from {lo5:.1f} to {hi95:.1f} (5–95 %, median {med:.1f}); "
            f"only {on_shell:.0%} of the z-points lie on the box's shell, and even those point in other "
            "directions (steps 3–5). Right (seed IV): keep only vectors whose other components all lie in "
            f"[−{p['b']:g}, {p['b']:g}] — **{n_kept:,}** z-points are left, yet every box vector is there.")
    return TourStep("shell", "2 · The box lives on a shell the data do not fill", text, fig,
                    "pages/2_Components.py", {"view": "Radius"},
                    {"box_shell": box["mean"], "gaussian_shell": gauss["mean"], "data_median": med,
                     "data_on_box_shell": on_shell, "slice_points": n_kept, "slice_box_vectors": len(in_slab)})


def step_components(Z, stats, decode_fn, p):
    table = stats.table
    dom = dominant_components(table, n=4, by="mu")
    fig = _figure(12.8, 4.8)
    axes = fig.subplots(1, 4)
    for ax, (_, row) in zip(axes, dom.iterrows()):
        k = int(row["component"])
        plot_component_fit(ax, np.asarray(Z[:, k]), row, bin_width=p["bin_width"])
        ax.get_legend().remove()
        ax.axvline(0.0, color="#2ca02c", lw=2, ls=":")
        ax.set_title(f"z{k}: peak at {row['mu']:+.2f}")
        ax.set_xlabel("value")
        ax.set_ylabel("")
        ax.set_yticks([])
        _big(ax)
    fig.subplots_adjust(left=0.02, right=0.99, bottom=0.16, top=0.9, wspace=0.08)
    r2 = table["fit_r2"].to_numpy(float)
    med_r2 = float(np.median(r2[np.isfinite(r2)])) if np.isfinite(r2).any() else float("nan")
    n_off = int(np.sum(np.abs(table["mu"].to_numpy(float)) > 1.0))
    text = (f"Each component's histogram (bin width {p['bin_width']:g}) is close to a Gaussian "
            f"(median fit R² **{med_r2:.3f}**), but not around 0: {n_off} of {Z.shape[1]} "
            f"components peak beyond |μ| = 1. Shown: the four most off-centre, with their fits "
            "(dashed) and 0 (dotted green).")
    return TourStep("components", "3 · Components are Gaussian, but off-centre", text, fig,
                    "pages/2_Components.py", {"view": "Selected components"},
                    {"median_r2": med_r2, "n_off_centre": n_off})


def _top_pair(stats):
    tp = top_pairs(stats.correlation, threshold=0.0, n=1)
    return int(tp.iloc[0]["i"]), int(tp.iloc[0]["j"]), float(tp.iloc[0]["r"])


def step_correlation(Z, stats, decode_fn, p, mark=None):
    counts = stats.threshold_counts
    i, j, r = _top_pair(stats)
    fig = _figure(12.8, 5.0)
    a1, a2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    th = counts.iloc[:, 0].to_numpy(float)
    cn = counts.iloc[:, 1].to_numpy(float)
    bars = a1.bar([f"{t:g}" for t in th], cn, color="#4a6fa5")
    a1.bar_label(bars, labels=[f"{int(c):,}" for c in cn], fontsize=FONT["legend"], padding=2)
    a1.set_xlabel("|r| above")
    a1.set_ylabel("pairs of components")
    a1.set_ylim(0, cn.max() * 1.18 if cn.max() > 0 else 1)
    a1.set_title(f"{Z.shape[1] * (Z.shape[1] - 1) // 2:,} pairs in all")
    pts = np.asarray(Z[:, [i, j]], dtype=np.float64)
    rng = np.random.default_rng(0)
    show = pts[rng.choice(len(pts), min(4000, len(pts)), replace=False)]
    a2.scatter(show[:, 0], show[:, 1], s=3, c="#4a6fa5", alpha=0.4, lw=0, rasterized=True)
    if mark is not None:
        _mark(a2, np.asarray(mark)[[i, j]])
    a2.set_xlabel(f"z{i}")
    a2.set_ylabel(f"z{j}")
    a2.set_title(f"most correlated pair: r = {r:+.2f}")
    for ax in (a1, a2):
        _big(ax)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.15, top=0.9, wspace=0.25)
    n5 = int(cn[np.isclose(th, 0.5)][0]) if np.isclose(th, 0.5).any() else None
    text = (f"The components are not independent: **{n5:,}** pairs have |r| > 0.5 (seed III thresholds "
            f"0.1–0.6), the strongest is z{i}–z{j} with r = {r:+.2f}. A sampler that draws each "
            "component on its own ignores this.") if n5 is not None else (
            f"The components are correlated; the strongest pair is z{i}–z{j} with r = {r:+.2f}.")
    return TourStep("correlation", "4 · …and correlated", text, fig, "pages/3_Coordinate_planes.py",
                    {"space": "latent", "i": i, "j": j}, {"pair": (i, j), "r": r, "pairs_above_0.5": n5})


def _mark(ax, xy, label="your image"):
    return ax.plot([xy[0]], [xy[1]], marker="*", ms=24, color="#ffd700", mec="k", mew=1.5, ls="none",
            label=label, zorder=10)


def step_ellipsoid(Z, stats, decode_fn, p, mark=None):
    i, j, _ = _top_pair(stats)
    fig = _figure(12.8, 6.2)
    axes = fig.subplots(1, 2)
    facts = {}
    for ax, (space, a, b) in zip(axes, [("latent", i, j), ("pca", 0, 1)]):
        pts = plane_coordinates(Z, a, b, space=space, pca=stats.pca if space == "pca" else None)
        tab = plane_ellipses(pts, p["sigmas"])
        kde = kde2d(pts, gridsize=128)
        name = (f"z{a}", f"z{b}") if space == "latent" else (f"PCA {a}", f"PCA {b}")
        plot_plane(ax, pts, kde=kde, ellipses=tab, sigmas=p["sigmas"], max_points=5000, labels=name)
        ax.get_legend().remove()
        if mark is not None:
            m2 = plane_coordinates(np.asarray(mark, np.float32)[None], a, b, space=space,
                                   pca=stats.pca if space == "pca" else None)[0]
            (h,) = _mark(ax, m2)
            ax.legend(handles=[h], loc="upper left", fontsize=FONT["legend"])
        cov = "  ".join(f"{s:g}σ {100 * m:.0f}%" for s, m in zip(tab["sigma"], tab["measured"]))
        ax.set_title(("latent" if space == "latent" else "PCA") + f" plane ({a}, {b})\nmeasured: {cov}")
        _big(ax)
        facts[space] = dict(zip(tab["sigma"], tab["measured"]))
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.12, top=0.86, wspace=0.22)
    theo = "/".join(f"{100 * (1 - np.exp(-s * s / 2)):.1f}" for s in p["sigmas"])
    text = ("Project the cloud onto a plane: the KDE contours (dashed) follow the confidence ellipses "
            f"(solid, 1/2/3σ; a normal distribution puts {theo} % inside them), left in the most correlated "
            "latent pair, right in the two leading PCA axes. The cloud is a tilted, off-centre ellipsoid "
            "(**+** origin, **●** centre).")
    return TourStep("ellipsoid", "5 · The cloud is an ellipsoid", text, fig, "pages/3_Coordinate_planes.py",
                    {"space": "latent", "i": i, "j": j, "sigmas": "1,2,3"}, facts)


def _sampler_step(key, title, name, params, Z, stats, decode_fn, p, blurb):
    m = p["n_images"]
    V = _sampler(Z, name, **params).sample(p["n_draw"], random_state=p["seed"])
    frac = inside_fraction(V, stats)
    imgs = _decoded(decode_fn, V[:2 * m])
    fig = _figure(12.8, 3.9)  # two rows of eight square tiles and one title
    desc = ", ".join(f"{k} = {v:g}" for k, v in params.items() if k != "bin_width")
    _image_rows(fig, [imgs[:m], imgs[m:]], [f"{SAMPLER_LABELS[name]} sampler ({desc}), decoded", ""], top=0.89)
    text = blurb + f" Of {p['n_draw']:,} vectors, **{frac:.0%}** lie inside the data's 2σ ellipsoid."
    return TourStep(key, title, text, fig, "pages/4_Samplers.py", {"samplers": name}, {"inside_2sigma": frac})


def step_per_component(Z, stats, decode_fn, p):
    params = sampler_specs(p)["per-component"]
    blurb = (f"Draw each component uniformly in [μ − f·hw, μ + f·hw] around its own histogram peak "
             f"(seed VII, f = {p['f']:g}): every component stays in its own range and the vectors decode to "
             "faces — but the draw ignores the correlations, so the faces look alike and, in the full space, "
             "the vectors miss the cloud.")
    return _sampler_step("per-component", "6 · Per-component intervals give faces", "per-component",
                         params, Z, stats, decode_fn, p, blurb)


def step_pca_ellipse(Z, stats, decode_fn, p):
    params = sampler_specs(p, Z.shape[1])["pca-ellipse"]
    blurb = (f"Draw in the {params['n_components']} leading PCA axes inside the ellipse of half-axes "
             f"{p['level']:g}σ (seed X, f = {p['f']:g}), keep every pair of coordinates inside its ellipse, "
             "and rotate back: the correlations are kept and the faces vary — though they come from the "
             "cloud's dense core only (step 8).")
    return _sampler_step("pca-ellipse", "7 · The PCA ellipsoid gives better faces", "pca-ellipse",
                         params, Z, stats, decode_fn, p, blurb)


def scoreboard_table(Z, params=None, max_points=2000):
    """The tour's scoreboard: ``core.sampling.scoreboard.compare_samplers`` of the seed samplers.

    Returns the DataFrame (rows: samplers, held-out data, MND expectation).
    """
    p = dict(TOUR_PARAMS, **(params or {}))
    specs = {SAMPLER_LABELS[k]: dict(v, sampler=k) for k, v in sampler_specs(p, Z.shape[1]).items()}
    return compare_samplers(Z, specs, n_samples=p["n_draw"], random_state=p["seed"], max_points=max_points)


def step_scoreboard(Z, stats, decode_fn, p, table=None):
    table = scoreboard_table(Z, p) if table is None else table
    rows = [SAMPLER_LABELS[k] for k in sampler_specs(p)] + ["held-out data"]
    t = table.loc[rows]
    metrics = [("inside_2sigma", "inside 2σ"), ("precision", "precision"), ("recall", "recall")]
    fig = _figure(12.8, 6.0)
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    h = 0.26
    colours = ["#4a6fa5", "#ff7f0e", "#2ca02c"]
    for k, ((col, label), c) in enumerate(zip(metrics, colours)):
        vals = 100 * t[col].to_numpy(float)
        bars = ax.barh(y + (k - 1) * h, vals, h, color=c, label=label)
        ax.bar_label(bars, labels=[f"{v:.0f}" for v in vals], fontsize=FONT["tick"], padding=2)
    ax.set_yticks(y, rows)
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xlabel("%  (of 2,000 vectors; k-NN precision/recall against real codes)")
    ax.legend(fontsize=FONT["legend"], loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, ncol=3)
    _big(ax)
    fig.subplots_adjust(left=0.2, right=0.98, bottom=0.14, top=0.9)
    samp = t.drop(index="held-out data")
    best = samp[["precision", "recall"]].min(axis=1).idxmax()
    ref = t.loc["held-out data"]
    text = ("All samplers against held-out real codes: *inside 2σ* — do the vectors land in the cloud; "
            "*precision* — does each look like a real code (k-NN); *recall* — do they cover the real codes "
            "(a box so wide that it swallows everything gets recall without precision). "
            f"Each sampler fails on one side; **{best}** comes closest to real codes "
            f"(precision/recall {100 * samp.loc[best, 'precision']:.0f} / {100 * samp.loc[best, 'recall']:.0f} % "
            f"against {100 * ref['precision']:.0f} / {100 * ref['recall']:.0f} % for held-out real codes).")
    return TourStep("scoreboard", "8 · What the scoreboard says", text, fig, "pages/4_Samplers.py",
                    {"samplers": ",".join(sampler_specs(p))},
                    {"table": t[[c for c, _ in metrics]].to_dict()})


_STEPS = {
    "noise": step_noise, "shell": step_shell, "components": step_components,
    "correlation": step_correlation, "ellipsoid": step_ellipsoid, "per-component": step_per_component,
    "pca-ellipse": step_pca_ellipse, "scoreboard": step_scoreboard,
}
#: Steps whose figures mark a given z-point (``make_step(mark=...)``).
MARKED_STEPS = ("correlation", "ellipsoid")


def make_step(key, Z, stats, decode_fn, params=None, mark=None, scoreboard=None):
    """Compute one tour step.

    Parameters
    ----------
    key : str
        One of ``STEP_KEYS``.
    Z : array-like of shape (n_samples, z_dim)
        The run's latents (memmap fine).
    stats : core.stats.components.LatentStatistics
        ``full_statistics(Z, bin_width=0.25)``.
    decode_fn : callable
        (m, z_dim) float32 -> images (m, h, w, c) in [0, 1].
    params : dict or None
        Overrides of ``TOUR_PARAMS``.
    mark : ndarray of shape (z_dim,) or None
        A z-point (e.g. an uploaded image's) marked in the plane figures.
    scoreboard : pandas.DataFrame or None
        A precomputed :func:`scoreboard_table` for the last step.

    Returns
    -------
    TourStep
    """
    if key not in _STEPS:
        raise ValueError(f"unknown tour step {key!r}; choose one of {', '.join(STEP_KEYS)}")
    p = dict(TOUR_PARAMS, **(params or {}))
    if key in MARKED_STEPS:
        return _STEPS[key](Z, stats, decode_fn, p, mark=mark)
    if key == "scoreboard":
        return step_scoreboard(Z, stats, decode_fn, p, table=scoreboard)
    return _STEPS[key](Z, stats, decode_fn, p)


__all__ = ["TOUR_PARAMS", "STEP_KEYS", "MARKED_STEPS", "TourStep", "make_step", "inside_fraction", "sampler_specs",
           "scoreboard_table"]
