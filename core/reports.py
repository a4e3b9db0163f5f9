"""What ``python -m core stats`` reports, and sampler specs checked before any fit.

Shared by the command line (:mod:`core.cli`), compare-runs
(:mod:`core.compare_runs`) and experiment grids (:mod:`core.experiment`),
so a number means the same thing wherever it is printed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from core.sampling.samplers import make_sampler
from core.stats.components import (
    dominant_components,
    full_statistics,
    gaussian_shell,
    radius_distribution,
    uniform_box_shell,
    unresolved_hw_message,
)
from core.stats.correlation import top_pairs
from core.stats.mnd import mnd_summary
from core.validation import check_float, check_int, check_latents, check_positive


def compute_stats(Z, bin_width=0.25, threshold=0.5, top=10, pca_k=None, box_b=1.5, statistics=None, mnd=None):
    """Everything ``stats`` reports, as a dict of plain values and DataFrames.

    ``statistics`` (a :class:`core.stats.components.LatentStatistics` of ``Z`` at
    this ``bin_width``) and ``mnd`` (:func:`core.stats.mnd.mnd_summary` of ``Z``)
    may be passed in when already computed (compare-runs, the dashboard).

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim), may be memory-mapped
    bin_width, threshold : float
    top : int   rows per ranking
    pca_k : int or None   PCA components listed (1..z_dim)
    box_b : float > 0   half-width of the uniform box for the shell comparison
    """
    Z = check_latents(Z, min_rows=2)
    n, d = Z.shape
    bin_width = check_positive(bin_width, "--bin-width")
    threshold = check_float(threshold, "--threshold", 0.0, 1.0)
    top = check_int(top, "--top", low=1)
    pca_k = min(10, d) if pca_k is None else check_int(pca_k, "--pca-k", 1, d)
    box_b = check_positive(box_b, "--box-b")

    st = full_statistics(Z, bin_width=bin_width) if statistics is None else statistics
    table = st.table
    radii = radius_distribution(Z)
    rms_std = float(np.sqrt(np.mean(table["std"].to_numpy() ** 2)))
    evr = st.pca.explained_variance_ratio_
    pca = pd.DataFrame({"component": np.arange(pca_k), "variance": st.pca.explained_variance_[:pca_k],
                        "ratio": evr[:pca_k], "cumulative": np.cumsum(evr)[:pca_k]})
    if mnd is None:
        try:
            mnd = mnd_summary(Z)
        except ValueError as exc:  # too few points for the check: say so, keep the rest
            mnd = {"error": str(exc)}
    cols = ["component", "mu", "hw", "mean", "std", "fit_r2"]
    return {
        "n": int(n), "z_dim": int(d), "bin_width": bin_width,
        "table": table, "hw_note": unresolved_hw_message(table, bin_width),
        "dominant_mu": dominant_components(table, min(top, d), by="mu")[["rank"] + cols],
        "dominant_width": dominant_components(table, min(top, d), by="width")[["rank"] + cols],
        "radius": {"mean": float(radii.mean()), "std": float(radii.std()),
                   "uniform_shell": uniform_box_shell(box_b, d),
                   "gaussian_shell": gaussian_shell(d, rms_std) if rms_std > 0 else None},
        "threshold_counts": st.threshold_counts,
        "top_pairs": top_pairs(st.correlation, threshold, n=None),
        "top_pairs_shown": top,
        "threshold": threshold,
        "pca": pca,
        "mnd": {"error": mnd["error"]} if "error" in mnd else {"rank": mnd["rank"], "reference": mnd["reference"],
                "ks_statistic": mnd["ks_statistic"], "ks_pvalue": mnd["ks_pvalue"],
                "d2_mean": mnd["d2_mean"], "d2_var": mnd["d2_var"],
                "d2_mean_theory": mnd["d2_mean_theory"], "d2_var_theory": mnd["d2_var_theory"],
                "fractions": mnd["fractions"]},
    }


def stats_json(res, label):
    """The JSON form of :func:`compute_stats` (``stats --json``, compare-runs)."""
    keep = {k: v for k, v in res.items() if k not in ("table", "top_pairs_shown")}
    keep["source"] = label
    keep["top_pairs"] = res["top_pairs"].head(res["top_pairs_shown"])
    keep["n_top_pairs"] = len(res["top_pairs"])
    return keep


def check_sampler_spec(name, params, z_dim, n_fit):
    """Validate a sampler name and its parameter values without fitting on the data.

    The sampler is fitted on a small standard-normal stand-in of the same
    ``z_dim`` (its own checks then run on the real values); a Gaussian
    mixture is tried with one component and one EM step, its
    ``n_components`` checked against ``n_fit`` (rows it will be fitted on).

    Raises
    ------
    ValueError naming the sampler, parameter and value.
    """
    sampler = make_sampler(name, **params)
    dummy = np.random.default_rng(0).standard_normal((max(2 * z_dim + 2, 64), z_dim)).astype(np.float32)
    try:
        if name == "gmm":
            k = check_int(sampler.n_components, "n_components", low=1)
            if k > n_fit:
                raise ValueError(f"n_components={k} exceeds the {n_fit} data points")
            check_int(sampler.max_iter, "max_iter", low=1)
            sampler = make_sampler(name, **dict(params, n_components=1, max_iter=1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler.fit(dummy)
    except ValueError as exc:
        raise ValueError(f"sampler {name!r}: {exc}") from None
    return True


def sampler_params(name, params, z_dim):
    """``params`` plus defaults that depend on the data: pca-ellipse's
    ``n_components`` defaults to min(100, z_dim) so small runs work as is."""
    params = dict(params)
    if name == "pca-ellipse" and "n_components" not in params:
        params["n_components"] = min(100, int(z_dim))
    return params


__all__ = ["compute_stats", "stats_json", "check_sampler_spec", "sampler_params"]
