"""Coverage report of one coordinate plane (issue 11; ``python -m core stats --pair I J``).

For each sigma level n: the confidence ellipse's theoretical coverage
``1 - exp(-n^2/2)`` and the fraction of points measured inside it, and the
KDE highest-density-region contour that encloses the same probability mass
(by construction of its level, on the KDE grid) with the fraction of points
measured inside that contour.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from core.stats.ellipses import check_sigmas, plane_coordinates, plane_ellipses, theoretical_coverage
from core.stats.kde import kde2d


def points_inside_hdr(kde, points, level):
    """Fraction of ``points`` (n, 2) where the KDE density is at least ``level``.

    The density is interpolated bilinearly on the KDE grid; points outside
    the grid have density 0 (the grid covers the tail quantiles plus a
    margin, so only far outliers fall outside).
    """
    if not np.isfinite(level):
        return float("nan")
    f = RegularGridInterpolator((kde.ygrid, kde.xgrid), kde.density, bounds_error=False, fill_value=0.0)
    dens = f(np.column_stack([points[:, 1], points[:, 0]]))
    return float(np.mean(dens >= level))


def plane_report(Z, i, j, sigmas=(1.0, 2.0, 3.0), space="latent", pca=None, gridsize=128):
    """Theoretical and measured coverage of the ellipses and KDE HDR contours of plane (i, j).

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
    i, j : int
        The plane's axes (latent components, or PCA components with ``space="pca"``).
    sigmas : sequence of float > 0
        Any positive levels (e.g. 2.2); ValueError naming a bad one.
    space : {"latent", "pca"}
    pca : core.stats.pca.LatentPCA or None
        Fitted on Z when None and ``space="pca"``.
    gridsize : int
        KDE grid size.

    Returns
    -------
    dict
        ``space, i, j, n_points, kde_bandwidth_factor`` and ``levels``: one
        dict per sigma with ``sigma``, ``ellipse_coverage_theoretical``,
        ``ellipse_coverage_measured``, ``kde_hdr_mass_theoretical`` (the mass
        the contour encloses under the KDE, = the ellipse's theoretical
        coverage), ``kde_hdr_mass_measured`` (fraction of the points inside
        the contour) and ``kde_hdr_level`` (the density level).
    """
    sig = check_sigmas(sigmas)
    if not sig:
        raise ValueError("give at least one sigma level, got none")
    pts = plane_coordinates(Z, i, j, space=space, pca=pca)
    table = plane_ellipses(pts, sig)
    kde = kde2d(pts, gridsize=gridsize)
    masses = [theoretical_coverage(s) for s in sig]
    levels = kde.levels_for_masses(masses)
    rows = []
    for s, m, lv, (_, r) in zip(sig, masses, levels, table.iterrows()):
        rows.append({
            "sigma": float(s),
            "ellipse_coverage_theoretical": float(r["theory"]),
            "ellipse_coverage_measured": float(r["measured"]),
            "kde_hdr_mass_theoretical": float(m),
            "kde_hdr_mass_measured": points_inside_hdr(kde, pts, lv),
            "kde_hdr_level": float(lv),
        })
    return {"space": space, "i": int(i), "j": int(j), "n_points": int(pts.shape[0]),
            "kde_bandwidth_factor": float(kde.factor), "levels": rows}


def format_report(rep, label=""):
    """The report as a few lines of text."""
    name = "latent z" if rep["space"] == "latent" else "PCA"
    lines = [f"{label + ': ' if label else ''}{name} plane ({rep['i']}, {rep['j']}), {rep['n_points']:,} points",
             f"{'sigma':>6} {'ellipse theory':>15} {'ellipse measured':>17} {'KDE HDR theory':>15} "
             f"{'KDE HDR measured':>17}"]
    for r in rep["levels"]:
        lines.append(f"{r['sigma']:>6g} {100 * r['ellipse_coverage_theoretical']:>14.1f}% "
                     f"{100 * r['ellipse_coverage_measured']:>16.1f}% {100 * r['kde_hdr_mass_theoretical']:>14.1f}% "
                     f"{100 * r['kde_hdr_mass_measured']:>16.1f}%")
    return "\n".join(lines)


__all__ = ["plane_report", "points_inside_hdr", "format_report"]
