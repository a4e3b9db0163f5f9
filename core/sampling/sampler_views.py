"""What the Samplers page computes on a run: functions of a loaded run, ``run`` first.

Like :mod:`core.run_views`, every function takes a :class:`core.runs.runs.Run`
and plain hashable values, so that ``dashboard/lab.py``'s one caching
helper, ``lab.run_cached(fn, run, *args)``, keeps one result per run
version.  What another cached result already determines comes in as a
keyword (``fitted``, ``draw``, ``layers``, ``statistics``, ``decode_fn``);
called alone, each function computes it.

A sampler is named by its registry name and its parameters as sorted
``(name, value)`` pairs (``params``), the form a cache key needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core import planefigs, run_views
from core.cache import cached
from core.data.images import make_grid
from core.model.network import decode
from core.sampling.scoreboard import draw_samples, fit_sampler, holdout_split
from core.stats.ellipses import check_sigmas, measured_coverage, plane_coordinates, plane_ellipses
from core.stats.kde import kde2d
from core.validation import check_int, check_pair

#: Grid of the plane KDE behind the projections (that of ``run_views.plane_kde``).
KDE_GRID = 128
#: Data points scattered in a projection (all of them enter the KDE and the ellipses).
SCATTER_POINTS = 5000
#: Resolution of the projection PNGs.
PLANE_DPI = 95
#: Leading PCA coordinates of the data projected once for all PCA planes among them.
PCA_LEADING = 32


def _fit_sampler(Z_fit, sampler, params):
    return fit_sampler(sampler, Z_fit, **dict(params))


def fitted_sampler(run, sampler, params=()):
    """A sampler of ``core.sampling.samplers.SAMPLERS`` fitted on the run's fit rows.

    The fit rows are ``holdout_split(run.latents)[0]``, as in ``python -m
    core compare``, so the page's scoreboard is the CLI's.  Cached on disk
    too (:func:`core.cache.cached`, by the content of the fit rows): a
    10-component mixture takes seconds to minutes to fit.

    Parameters
    ----------
    run : core.runs.runs.Run
    sampler : str   registry name
    params : tuple of (str, value)   the sampler's parameters, sorted by name

    Returns
    -------
    sampler : fitted BaseSampler
    """
    return cached(_fit_sampler, holdout_split(run.latents)[0], sampler, tuple(params))


def sample(run, sampler, params, n, seed, fitted=None):
    """``n`` vectors of shape (n, z_dim) from the fitted sampler, drawn with ``seed``.

    ``fitted``: the :func:`fitted_sampler` of the same arguments, or a
    function returning it (called only here, so a cached draw needs no fit);
    fitted here when None.
    """
    fitted = fitted_sampler(run, sampler, params) if fitted is None else fitted
    fitted = fitted() if callable(fitted) else fitted
    return draw_samples(fitted, int(n), int(seed))


def sample_pca(run, params, n, seed, fitted=None):
    """The PCA-ellipse sampler's own PCA coordinates (n, K) for the stream of :func:`sample` (``fitted`` as there)."""
    fitted = fitted_sampler(run, "pca-ellipse", params) if fitted is None else fitted
    fitted = fitted() if callable(fitted) else fitted
    return fitted.sample_pca(int(n), random_state=int(seed))


def decoded_grid(run, sampler, params, n, seed, m=16, n_cols=4, draw=None, decode_fn=None):
    """The first ``m`` vectors of a draw, decoded, as one image grid (h, w, c) in [0, 1].

    ``draw(sampler, params, n, seed)`` gives the vectors (default :func:`sample`);
    ``decode_fn`` maps (m, z_dim) float32 to images (default the run's decoder).
    """
    V = (draw or (lambda *a: sample(run, *a)))(sampler, params, n, seed)[:int(m)]
    V = np.asarray(V, np.float32)
    images = decode(run.decoder, V) if decode_fn is None else decode_fn(V)
    return make_grid(images, n_cols=int(n_cols))


@dataclass
class PlaneLayers:
    """The data's side of a projection: what every sampler's panel of one plane shares.

    Attributes
    ----------
    points : ndarray of shape (n_samples, 2)   the z-points projected on the plane
    kde : core.stats.kde.KDEResult   their KDE on a ``KDE_GRID`` grid
    ellipses : pandas.DataFrame   ``plane_ellipses(points, sigmas)``
    sigmas : tuple of float
    mean : ndarray of shape (2,)
    cov : ndarray of shape (2, 2)   sample covariance (ddof 1)
    """

    points: np.ndarray
    kde: object
    ellipses: object
    sigmas: tuple
    mean: np.ndarray
    cov: np.ndarray


def sigma_levels(sigma):
    """The ellipse levels drawn for the σ chosen on the page: (1, 2, 3) for 2, else that level alone."""
    (sigma,) = check_sigmas([sigma], "ellipse level σ")
    return (1.0, 2.0, 3.0) if sigma == 2.0 else (float(sigma),)


def pca_leading(run, statistics=None, k=PCA_LEADING):
    """The z-points in their leading ``min(k, z_dim)`` PCA coordinates, shape (n_samples, k), float64.

    One projection serves every PCA plane among these axes: a plane is then
    two columns (a projection of all z-points costs tens of ms a plane).
    ``statistics``: the run's ``run_views.statistics`` (its PCA).
    """
    pca = (statistics if statistics is not None else run_views.statistics(run)).pca
    return pca.transform(run.latents, n_components=min(check_int(k, "k", low=1), pca.components_.shape[0]))


def sample_leading(run, sampler, params, n, seed, statistics=None, draw=None, k=PCA_LEADING):
    """A draw in the run's leading ``min(k, z_dim)`` PCA coordinates, shape (n, k), float64.

    The draw's :func:`pca_leading`: its PCA planes among these axes are two
    columns.  ``draw`` as in :func:`plane_overlay_pngs`.
    """
    pca = (statistics if statistics is not None else run_views.statistics(run)).pca
    V = (draw or (lambda *a: sample(run, *a)))(sampler, params, n, seed)
    return pca.transform(V, n_components=min(check_int(k, "k", low=1), pca.components_.shape[0]))


def prepare_figures():
    """Make the projection figures' panel templates ahead (:func:`core.planefigs.prepare`)."""
    planefigs.prepare(PLANE_DPI)


def plane_layers(run, i, j, space="latent", sigmas=(1.0, 2.0, 3.0), statistics=None, leading=None):
    """:class:`PlaneLayers` of the plane (i, j) in ``space`` ("latent" or "pca").

    ``statistics`` (the run's ``run_views.statistics``) gives the PCA; only
    ``space="pca"`` needs it; ``leading``: :func:`pca_leading` of the run,
    whose columns are the PCA planes among its axes.  ValueError for a bad
    pair or space.
    """
    if space == "pca" and leading is not None and max(check_pair(i, j, run.z_dim)) < leading.shape[1]:
        points = np.ascontiguousarray(leading[:, [int(i), int(j)]])
    else:
        points = run_views.plane(run, i, j, space, statistics=statistics)
    sigmas = tuple(float(s) for s in sigmas)
    return PlaneLayers(points=points, kde=kde2d(points, gridsize=KDE_GRID), ellipses=plane_ellipses(points, sigmas),
                       sigmas=sigmas, mean=points.mean(axis=0), cov=np.cov(points, rowvar=False))


def plane_overlay_pngs(run, drawn, n, seed, space, i, j, n_over, labels, sigma=2.0, layers=None, draw=None,
                       statistics=None, background_key=None, leading=None):
    """PNG bytes, one per drawn sampler: its vectors over the data's plane (i, j).

    Each panel shows the first ``n_over`` vectors of the sampler's draw of
    ``n`` with ``seed`` over the data's points, KDE contours and sigma
    ellipses (1, 2, 3 for ``sigma`` 2, else that level alone), titled with
    the fraction of all ``n`` vectors inside the data's ``sigma`` ellipse.
    The data's plane is drawn once for all panels (:mod:`core.planefigs`),
    on one common scale.

    Parameters
    ----------
    drawn : sequence of (str, tuple)   (sampler, params) pairs
    n, seed : int   the draw
    space : {"latent", "pca"}
    i, j : int   the plane's axes
    n_over : int >= 1   vectors drawn per panel
    labels : sequence of str   one title label per sampler
    sigma : float > 0
    layers : PlaneLayers or callable, optional
        :func:`plane_layers` of the plane, or a function returning it (computed when None)
    draw : callable, optional   ``draw(sampler, params, n, seed)`` -> vectors (default :func:`sample`)
    statistics : optional   the run's statistics (its PCA, for ``space="pca"``)
    background_key : hashable, optional   names the data's plane, so that
        a panel template that drew it last redraws only the overlays
        (:func:`core.planefigs.plane_overlay_pngs`)
    leading : callable, optional   ``leading(sampler, params, n, seed)`` ->
        :func:`sample_leading` of the draw: a PCA plane among its axes is
        then two of its columns

    Returns
    -------
    pngs : list of bytes
    """
    n_over = check_int(n_over, "vectors drawn per plot", low=1)
    (sigma,) = check_sigmas([sigma], "ellipse level σ")
    sigmas = sigma_levels(sigma)
    if layers is None:
        layers = plane_layers(run, i, j, space, sigmas, statistics=statistics)
    elif callable(layers):
        layers = layers()
    pca = None
    if space == "pca":
        pca = (statistics if statistics is not None else run_views.statistics(run)).pca
    draw = draw or (lambda *a: sample(run, *a))
    overs, titles = [], []
    for (sampler, params), label in zip(drawn, labels):
        lead = leading(sampler, params, n, seed) if leading is not None and pca is not None else None
        if lead is not None and max(check_pair(i, j, run.z_dim)) < lead.shape[1]:
            over = np.ascontiguousarray(lead[:, [int(i), int(j)]])
        else:
            over = plane_coordinates(draw(sampler, params, n, seed), i, j, space=space, pca=pca)
        overs.append(over[:n_over])
        titles.append(f"{label}: {measured_coverage(over, layers.mean, layers.cov, sigma):.0%} of its vectors\n"
                      f"inside the data's {sigma:g}σ ellipse")
    axis = "z" if space == "latent" else "PCA "
    return planefigs.plane_overlay_pngs(layers.points, overs, titles, kde=layers.kde, ellipses=layers.ellipses,
                                        sigmas=layers.sigmas, labels=(f"{axis}{i}", f"{axis}{j}"),
                                        max_points=SCATTER_POINTS, dpi=PLANE_DPI, background_key=background_key)


__all__ = ["PlaneLayers", "decoded_grid", "fitted_sampler", "pca_leading", "plane_layers", "plane_overlay_pngs",
           "prepare_figures", "sample", "sample_leading", "sample_pca", "sigma_levels"]
