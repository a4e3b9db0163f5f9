"""Runs (and latent sets) side by side: the seed's objectives 1-4 (issue 10).

Every number here comes from the single-run statistics code
(:func:`core.reports.compute_stats` over :mod:`core.stats.components`,
:mod:`core.stats.correlation`, :mod:`core.stats.pca`, :mod:`core.stats.mnd`,
:mod:`core.stats.ellipses`, :mod:`core.sampling.scoreboard`); this module only puts 2-4
runs next to each other and draws them on shared axes.  Runs with another
``z_dim`` are compared on what does not depend on it: the radius divided by
sqrt(d), explained-variance curves and the MND statistics.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from core.data.images import make_grid
from core.model.network import decode
from core.reports import check_sampler_spec, compute_stats, sampler_params
from core.reports import stats_json as _stats_json
from core.runs import runs
from core.runs.runs import atomic_write_bytes, atomic_write_json
from core.sampling.scoreboard import compare_samplers, draw_samples, fit_sampler, holdout_split
from core.stats.components import full_statistics, radius_distribution
from core.stats.correlation import top_pairs
from core.stats.ellipses import plane_coordinates, plane_ellipses
from core.stats.mnd import mnd_summary

MIN_RUNS, MAX_RUNS = 2, 4
#: Coverage levels of the confidence ellipses in the top-correlated planes.
SIGMAS = (1.0, 2.0, 3.0)
DIM_FREE_NOTE = ("The runs have different z_dim ({dims}): only the dimension-free figures are compared "
                 "(radius / sqrt(d), explained-variance curves, MND statistics); per-component figures "
                 "and the correlation pair counts are shown per run only.")


def load_runs(specs, loader=None):
    """Load 2-4 distinct runs or ``RUN/SET`` latent sets, all before any computation.

    Parameters
    ----------
    specs : str or sequence of str
        Comma-separated text or a list of run specs.
    loader : callable or None
        spec -> :class:`core.runs.runs.Run` (default :func:`core.runs.runs.load_cli_run`).

    Raises
    ------
    ValueError
        One line naming the bad spec: fewer than 2 or more than 4, a spec
        given twice, a run that does not exist, is incomplete or damaged.
    """

    loader = loader or runs.load_cli_run
    if isinstance(specs, str):
        specs = [s.strip() for s in specs.split(",")]
    specs = list(specs)
    if any(not isinstance(s, str) or not s.strip() for s in specs):
        raise ValueError(f"--runs must be comma-separated run names, got {specs!r}")
    if not MIN_RUNS <= len(specs) <= MAX_RUNS:
        raise ValueError(f"compare needs {MIN_RUNS} to {MAX_RUNS} runs, got {len(specs)}: {', '.join(specs)}")
    if len(set(specs)) != len(specs):
        raise ValueError(f"a run is listed twice: {', '.join(specs)}")
    out = []
    for s in specs:
        try:
            out.append(loader(s))
        except ValueError as exc:
            msg = str(exc).splitlines()[0]
            if "missing config.json" in msg:
                msg = "does not exist (no run folder with that name)"
            raise ValueError(f"run {s!r}: {msg}" if not msg.startswith(("run ", "set ")) else msg) from None
    return out


def n_components_for(evr, fraction=0.9):
    """Smallest k whose first k PCA axes hold ``fraction`` of the variance."""
    cum = np.cumsum(np.asarray(evr, np.float64))
    return int(min(np.searchsorted(cum, fraction * cum[-1] - 1e-12) + 1, cum.size))


def plane_coverage(Z, R, n_planes=3, sigmas=SIGMAS):
    """Confidence-ellipse coverage in the ``n_planes`` most correlated planes (largest |r|).

    Returns
    -------
    DataFrame with ``i``, ``j``, ``r``, ``sigma``, ``theory``, ``measured``.
    """

    pairs = top_pairs(R, 0.0, n=n_planes)
    rows = []
    for p in pairs.itertuples(index=False):
        i, j = int(p.i), int(p.j)
        table = plane_ellipses(plane_coordinates(Z, i, j), sigmas)
        for t in table.itertuples(index=False):
            rows.append({"i": i, "j": j, "r": float(p.r), "sigma": t.sigma, "theory": t.theory,
                         "measured": t.measured})
    return pd.DataFrame(rows, columns=["i", "j", "r", "sigma", "theory", "measured"])


def run_summary(run, bin_width=0.25, threshold=0.5, top=10, pca_k=None, box_b=1.5, n_planes=3,
                statistics=None, mnd=None):
    """One run's statistics for the comparison (what ``stats --run NAME --json`` prints, plus curves).

    Parameters
    ----------
    run : core.runs.runs.Run
    bin_width, threshold, top, pca_k, box_b
        As in :func:`core.reports.compute_stats`.
    n_planes : int
        Top-correlated planes whose ellipse coverage is measured.
    statistics, mnd
        Precomputed ``full_statistics`` / ``mnd_summary`` of the run's latents (optional).

    Returns
    -------
    dict
        ``name``, ``n``, ``z_dim``, ``stats`` (the ``stats --json`` object),
        ``dimension_free`` (radius / sqrt d, components for 90 % and their
        share of d, MND KS and ellipsoid fractions), ``planes`` (DataFrame),
        ``hist`` (ComponentHistograms), ``radius_over_sqrt_d`` (n,),
        ``evr`` (z_dim,), ``qq`` (theoretical and empirical d² quantiles / rank).
    """

    Z = run.latents
    d = Z.shape[1]
    if statistics is None:
        statistics = full_statistics(Z, bin_width=bin_width)
    if mnd is None:
        try:
            mnd = mnd_summary(Z)
        except ValueError as exc:
            mnd = {"error": str(exc)}
    res = compute_stats(Z, bin_width=bin_width, threshold=threshold, top=top, pca_k=pca_k, box_b=box_b,
                        statistics=statistics, mnd=mnd)
    stats_json = _stats_json(res, f"run {run.name}")
    evr = np.asarray(statistics.pca.explained_variance_ratio_, np.float64)
    r = radius_distribution(Z) / np.sqrt(d)
    k90 = n_components_for(evr, 0.9)
    free = {"z_dim": int(d), "radius_over_sqrt_d_mean": float(r.mean()), "radius_over_sqrt_d_std": float(r.std()),
            "rms_std": float(np.sqrt(np.mean(res["table"]["std"].to_numpy() ** 2))),
            "box_shell_over_sqrt_d": float(box_b / np.sqrt(3.0)),
            "components_90": k90, "components_90_share": k90 / d}
    qq = None
    if "error" not in mnd:
        fr = mnd["fractions"].set_index("k")
        free.update({"ks_statistic": mnd["ks_statistic"], "d2_var_ratio": mnd["d2_var"] / mnd["d2_var_theory"]})
        for k in fr.index:
            free[f"inside_{k:g}sigma"] = float(fr.loc[k, "measured"])
            free[f"theory_{k:g}sigma"] = float(fr.loc[k, "theory"])
        rank = float(mnd["rank"])
        qq = {"theoretical": np.asarray(mnd["qq"]["theoretical"]) / rank,
              "empirical": np.asarray(mnd["qq"]["empirical"]) / rank, "ks_statistic": mnd["ks_statistic"]}
    else:
        free["mnd_error"] = mnd["error"]
    return {"name": run.name, "n": int(Z.shape[0]), "z_dim": int(d), "stats": stats_json,
            "dimension_free": free, "planes": plane_coverage(Z, statistics.correlation, n_planes),
            "hist": statistics.histograms, "radius_over_sqrt_d": r, "evr": evr, "qq": qq}


def sampler_scoreboard(run, sampler, params=None, n_samples=2000, seed=0):
    """The scoreboard rows of one sampler on one run (:func:`core.sampling.scoreboard.compare_samplers`).

    The run's own held-out rows and the exact-MND expectation come with it.
    """

    Z = run.latents
    if Z.shape[0] < 20:
        raise ValueError(f"run {run.name} has {Z.shape[0]} latent vectors; a scoreboard needs at least 20")
    params = sampler_params(sampler, dict(params or {}), Z.shape[1])
    n_fit = Z.shape[0] - max(2, int(round(Z.shape[0] * 0.1)))
    check_sampler_spec(sampler, params, Z.shape[1], n_fit)
    return compare_samplers(Z, {sampler: {"sampler": sampler, **params}}, n_samples=n_samples, random_state=seed)


def sampler_draw(run, sampler, params=None, n_samples=2000, seed=0):
    """The vectors :func:`sampler_scoreboard` scores: the scoreboard's fit on the
    run's fit rows (:func:`core.sampling.scoreboard.holdout_split`), drawn with ``seed``.

    Returns
    -------
    V : ndarray of shape (n_samples, z_dim), float32
    """

    Z = run.latents
    params = sampler_params(sampler, dict(params or {}), Z.shape[1])
    Z_fit, _ = holdout_split(np.asarray(Z))
    check_sampler_spec(sampler, params, Z.shape[1], Z_fit.shape[0])
    return np.asarray(draw_samples(fit_sampler(sampler, Z_fit, **params), int(n_samples), seed), np.float32)


def decoded_grid(run, sampler, params=None, n_samples=2000, seed=0, m=16, n_cols=4):
    """The first ``m`` vectors of :func:`sampler_draw`, decoded by the run's decoder, as one grid.

    Returns
    -------
    grid : ndarray of shape (h, w, c), values in [0, 1]
    """
    V = sampler_draw(run, sampler, params, max(int(n_samples), int(m)), seed)[:int(m)]
    return make_grid(decode(run.decoder, V), n_cols=n_cols)


def check_out_dir(out):
    """``out`` as a Path; ValueError naming it when it exists and is not a folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    return out


def write_figures(result, summaries, out, grids=None, dpi=110):
    """Write the comparison figures (and decoded grids) as PNG files into ``out``.

    Parameters
    ----------
    result : dict from :func:`combine`
    summaries : list of dict from :func:`run_summary`
    out : path-like, created if missing
    grids : dict run name -> (h, w, c) array or None

    Returns
    -------
    list of Path, the files written
    """
    out = check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        atomic_write_bytes(out / name, buf.getvalue())
        written.append(out / name)

    save(figure_histograms(summaries), "histograms.png")
    save(figure_radius(summaries), "radius.png")
    if result["same_z_dim"]:
        save(figure_thresholds(summaries), "correlated_pairs.png")
    save(figure_evr(summaries), "explained_variance.png")
    save(figure_qq(summaries), "mnd_qq.png")
    for name, grid in (grids or {}).items():
        fig, (ax,) = _fig(width=3.2, height=3.2 * grid.shape[0] / grid.shape[1])
        ax.imshow(grid.squeeze(), cmap="gray" if grid.shape[-1] == 1 else None, vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(name, fontsize="small")
        save(fig, f"decoded_{name.replace('/', '__')}.png")
    atomic_write_json(out / "comparison.json", result)
    written.append(out / "comparison.json")
    return written


def combine(summaries, scoreboards=None):
    """The comparison as one JSON-able dict from :func:`run_summary` results (and scoreboards)."""
    dims = [s["z_dim"] for s in summaries]
    same = len(set(dims)) == 1
    out = {"runs": [s["name"] for s in summaries], "z_dims": dims, "same_z_dim": same,
           "note": "" if same else DIM_FREE_NOTE.format(dims=", ".join(map(str, dims))),
           "stats": {s["name"]: s["stats"] for s in summaries},
           "dimension_free": {s["name"]: s["dimension_free"] for s in summaries},
           "planes": {s["name"]: s["planes"] for s in summaries}}
    if scoreboards is not None:
        out["scoreboard"] = {name: table.to_dict(orient="index") for name, table in scoreboards.items()}
    return out


def compare_runs(specs, sampler=None, params=None, n_samples=2000, seed=0, return_summaries=False,
                 **stats_kw):
    """Load 2-4 runs (every one checked first), summarise each and put them side by side.

    Returns
    -------
    dict, see :func:`combine`; with ``return_summaries`` also the list of
    :func:`run_summary` dicts (for :func:`write_figures`).
    """
    loaded = load_runs(specs) if not (specs and hasattr(specs[0], "latents")) else list(specs)
    if sampler is not None:  # parameters checked on every run before any long computation
    
        for r in loaded:
            check_sampler_spec(sampler, sampler_params(sampler, dict(params or {}), r.z_dim), r.z_dim,
                               max(1, r.latents.shape[0] - max(2, int(round(r.latents.shape[0] * 0.1)))))
    summaries = [run_summary(r, **stats_kw) for r in loaded]
    boards = None
    if sampler is not None:
        boards = {r.name: sampler_scoreboard(r, sampler, params, n_samples, seed) for r in loaded}
    res = combine(summaries, boards)
    return (res, summaries) if return_summaries else res


def summary_table(result):
    """Rows = dimension-free quantities, columns = runs (for the CLI and the page)."""
    rows = {}
    for name, free in result["dimension_free"].items():
        rows[name] = {k: v for k, v in free.items() if not isinstance(v, str)}
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- figures (shared axes)

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _fig(ncols=1, width=6.4, height=3.8):
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    return fig, axes


def figure_histograms(summaries, component=None):
    """All components pooled (density of every coordinate value) per run; with ``component``
    (same z_dim only) that component's histogram per run too."""
    fig, axes = _fig(2 if component is not None else 1)
    for s, c in zip(summaries, COLOURS):
        h = s["hist"]
        pooled = h.counts.sum(axis=0) / (h.n_samples * h.counts.shape[0] * h.bin_width)
        axes[0].plot(h.centres, pooled, color=c, lw=1.4, label=f"{s['name']} (d={s['z_dim']})")
        if component is not None:
            row = int(np.flatnonzero(h.components == component)[0])
            axes[1].plot(h.centres, h.density()[row], color=c, lw=1.4, label=s["name"])
    axes[0].set(title="All components pooled", xlabel="component value", ylabel="density")
    axes[0].legend(fontsize="small")
    if component is not None:
        axes[1].set(title=f"Component {component}", xlabel="value", ylabel="density")
        axes[1].legend(fontsize="small")
    return fig


def figure_radius(summaries, box_b=1.5):
    """|z| / sqrt(d) per run with the unit-Gaussian sqrt(d) shell (1) and the uniform box shell (b / sqrt 3)."""
    fig, (ax,) = _fig()
    allr = np.concatenate([s["radius_over_sqrt_d"] for s in summaries])
    bins = np.linspace(0, max(float(allr.max()), box_b / np.sqrt(3)) * 1.05, 120)
    for s, c in zip(summaries, COLOURS):
        ax.hist(s["radius_over_sqrt_d"], bins=bins, density=True, histtype="step", lw=1.5, color=c,
                label=f"{s['name']}: mean {s['dimension_free']['radius_over_sqrt_d_mean']:.3f}")
    ax.axvline(1.0, color="k", ls="--", lw=1, label="√d shell of N(0, I): 1")
    ax.axvline(box_b / np.sqrt(3), color="#e6550d", ls=":", lw=1.5, label=f"uniform box b={box_b:g}: b/√3")
    ax.set(title="Radius / √d", xlabel="|z| / √d", ylabel="density")
    ax.legend(fontsize="small")
    return fig


def figure_thresholds(summaries):
    """Share of component pairs with |r| above each threshold, per run (grouped bars)."""
    fig, (ax,) = _fig()
    width = 0.8 / len(summaries)
    for k, (s, c) in enumerate(zip(summaries, COLOURS)):
        tc = s["stats"]["threshold_counts"]
        share = tc["fraction"].to_numpy()
        x = np.arange(len(tc)) + (k - (len(summaries) - 1) / 2) * width
        ax.bar(x, 100 * share, width, color=c, label=s["name"])
    ax.set_xticks(np.arange(len(tc)), [f"> {t:g}" for t in tc["threshold"]])
    ax.set(title="Correlated pairs", xlabel="|r|", ylabel="% of pairs")
    ax.legend(fontsize="small")
    return fig


def figure_evr(summaries):
    """Cumulative explained variance against the number of PCA axes, with the 90 % line."""
    fig, (ax,) = _fig()
    for s, c in zip(summaries, COLOURS):
        cum = np.cumsum(s["evr"])
        k90 = s["dimension_free"]["components_90"]
        ax.plot(np.arange(1, cum.size + 1), cum, color=c, lw=1.5, label=f"{s['name']}: {k90} axes for 90 %")
        ax.plot([k90], [cum[k90 - 1]], "o", color=c)
    ax.axhline(0.9, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set(title="PCA explained variance", xlabel="PCA axes (log)", ylabel="cumulative share", ylim=(0, 1.01))
    ax.legend(fontsize="small")
    return fig


def figure_qq(summaries):
    """Q-Q of squared Mahalanobis distances against each run's exact law, both divided by the rank."""
    fig, (ax,) = _fig()
    hi = 0.0
    for s, c in zip(summaries, COLOURS):
        if s["qq"] is None:
            continue
        q = s["qq"]
        ax.plot(q["theoretical"], q["empirical"], "o", ms=2.5, color=c,
                label=f"{s['name']} (KS {q['ks_statistic']:.3f})")
        hi = max(hi, float(np.max(q["theoretical"])), float(np.max(q["empirical"])))
    ax.plot([0, hi], [0, hi], "k--", lw=1, label="MND (y = x)")
    ax.set(title="MND check", xlabel="quantile of the exact law / rank", ylabel="d² quantile / rank")
    ax.legend(fontsize="small")
    return fig


__all__ = ["MAX_RUNS", "combine", "compare_runs", "decoded_grid", "sampler_draw", "write_figures", "check_out_dir", "figure_evr", "figure_histograms", "figure_qq",
           "figure_radius", "figure_thresholds", "load_runs", "n_components_for", "plane_coverage",
           "run_summary", "sampler_scoreboard", "summary_table"]
