"""What the dashboard shows of one run: functions of a loaded run, ``run`` first.

Each function takes a :class:`core.runs.runs.Run` (``latents`` of shape
(n_samples, z_dim), ``attributes``, ``encoder``, ``source()``) and plain
hashable values, so that ``dashboard/lab.py``'s one caching helper,
``lab.run_cached(fn, run, *args)``, can keep one result per run version.
Functions that need the run's PCA take ``statistics=`` (the
:func:`core.stats.components.full_statistics` of the latents, bin width
0.25): the dashboard passes its shared copy; called alone they compute it.
"""

from __future__ import annotations

import numpy as np

from core.data.sources import attribute_kinds
from core.model.featuremaps import conv_layer_names, feature_model
from core.sampling import decode_views
from core.stats import attributes as attrs
from core.stats.components import full_statistics, radius_distribution
from core.stats.ellipses import plane_coordinates
from core.stats.ellipses import slice_mask as _slice_mask
from core.stats.kde import kde2d
from core.stats.mnd import mnd_summary
from core.stats.neighbours import nearest_neighbours
from core.stats.tsne import tsne_of_latents
from core.validation import check_component, check_int

# This module loads scipy, scikit-learn and matplotlib: the dashboard's Home page imports it
# only after its run summary has painted (issue 14, tests/test_home_first_paint.py).

#: The bin width of the statistics the dashboard shares between pages.
BIN_WIDTH = 0.25


def statistics(run, bin_width=BIN_WIDTH):
    """:func:`core.stats.components.full_statistics` of the run's latents."""
    return full_statistics(run.latents, bin_width=bin_width)


def mnd(run):
    """:func:`core.stats.mnd.mnd_summary` of the run's latents."""
    return mnd_summary(run.latents)


def radii(run):
    """Euclidean norms of the run's z-points, shape (n_samples,)."""
    return radius_distribution(run.latents)


def component_column(run, component):
    """One latent component over all z-points as float32, shape (n_samples,).

    ``ValueError`` naming the component when it is outside ``0 .. z_dim - 1``.
    """
    k = check_component(component, run.latents.shape[1])
    return np.asarray(run.latents[:, k], dtype=np.float32)


def _pca(run, space, statistics):
    if space != "pca":
        return None
    return (statistics if statistics is not None else full_statistics(run.latents, bin_width=BIN_WIDTH)).pca


def plane(run, i, j, space="latent", statistics=None):
    """The z-points projected on the plane of axes (i, j), shape (n_samples, 2).

    ``space``: ``"latent"`` (components i, j) or ``"pca"`` (principal axes i, j).
    """
    return plane_coordinates(run.latents, i, j, space=space, pca=_pca(run, space, statistics))


def slice_mask(run, i, j, t, space="latent", allow_empty=False, statistics=None):
    """Bool mask (n_samples,) of the z-points with ``|z_k| <= t`` for every k other than i, j.

    ``ValueError`` naming t when no point is left, unless ``allow_empty``.
    """
    return _slice_mask(run.latents, i, j, t, space=space, pca=_pca(run, space, statistics),
                       allow_empty=allow_empty)


def plane_kde(run, i, j, space="latent", t=None, gridsize=128, statistics=None):
    """:func:`core.stats.kde.kde2d` of the plane (i, j), or of its slice with threshold ``t``."""
    points = plane(run, i, j, space, statistics=statistics)
    if t is not None:
        points = points[slice_mask(run, i, j, t, space, statistics=statistics)]
    return kde2d(points, gridsize=gridsize)


def typical_nn_distance(run, m=1000, random_state=0):
    """Median distance of a real z-point to its nearest other one.

    Over a fixed-seed subsample of at most ``m`` query rows, searched against all
    rows (exact, :func:`core.stats.neighbours.nearest_neighbours`).
    """
    Z = run.latents
    m = check_int(m, "m", low=1)
    rows = np.sort(np.random.default_rng(random_state).choice(Z.shape[0], min(m, Z.shape[0]), replace=False))
    # k=2: the first neighbour of a real z-point is itself (distance 0).
    _, dist = nearest_neighbours(Z, np.asarray(Z[rows]), k=2)
    return float(np.median(dist[:, 1]))


def rows_by_distance(run, centre="mean", metric="euclidean", n=10, statistics=None):
    """:func:`core.sampling.decode_views.rows_by_distance` from the run's centre.

    ``centre``: "mean" or "histogram" (:func:`core.sampling.decode_views.centre_vector`);
    the Mahalanobis metric uses the latents' covariance (from the PCA).
    Returns ``(rows (n,), distances (n,), all_distances (n_samples,))``.
    """
    stats = statistics if statistics is not None else full_statistics(run.latents, bin_width=BIN_WIDTH)
    return decode_views.rows_by_distance(run.latents, decode_views.centre_vector(stats, centre), n, metric,
                                         cov=stats.pca.get_covariance())


def check_attributes(run, column=None):
    """The run's attribute table, checked: present, one row per z-point, and holding ``column``."""
    table = run.attributes
    if table is None:
        raise ValueError(f"run {run.name} has no attribute table")
    if len(table) != run.latents.shape[0]:
        raise ValueError(f"the attribute table has {len(table)} rows but there are "
                         f"{run.latents.shape[0]} latents")
    if column is not None and column not in table.columns:
        raise ValueError(f"attribute {column!r} is not in the run's attribute table")
    return table


def attribute_columns(run):
    """``(binary, continuous)`` attribute column names (:func:`core.data.sources.attribute_kinds`)."""
    return attribute_kinds(run.attributes)


def attribute_fit(run, column, statistics=None):
    """:func:`core.stats.attributes.attribute_direction` of one attribute column.

    A dict with the AUC, the unit direction, ``direction`` (the Decode page's walk
    vector: unit times the class means' separation) and its angles to the PCA axes.
    """
    table = check_attributes(run, column)
    return attrs.attribute_direction(run.latents, table[column].to_numpy(), name=column,
                                     pca=_pca(run, "pca", statistics))


def attribute_table(run, statistics=None, progress=None):
    """:func:`core.stats.attributes.attribute_table` of every attribute column of the run."""
    return attrs.attribute_table(run.latents, check_attributes(run), pca=_pca(run, "pca", statistics),
                                 progress=progress)


def direction_points(run, unit, j=0, statistics=None):
    """Every z-point along an attribute's unit direction (x) and PCA axis ``j`` (y), shape (n_samples, 2)."""
    return attrs.direction_plane(run.latents, np.asarray(unit, dtype=np.float64), _pca(run, "pca", statistics), j)


def encoder_layers(run):
    """The encoder's convolutional layers as ``[(name, (h, w, n_maps)), ...]``, input side first."""
    enc = run.encoder
    return [(name, tuple(int(d) for d in feature_model(enc, name).output_shape[1:]))
            for name in conv_layer_names(enc)]


def tsne(run, n=2000, space="latent", n_dims=None, perplexity=30.0, seed=0, early_exaggeration=12.0,
         progress=None, statistics=None):
    """t-SNE map of a fixed-seed subsample: ``(rows (m,), embedding (m, 2))``.

    :func:`core.stats.tsne.tsne_of_latents` (openTSNE; cached on disk by content).
    ``space="latent"`` maps all z_dim components (``n_dims`` ignored);
    ``"pca"`` the first ``n_dims`` PCA coordinates.
    """
    n_dims = run.latents.shape[1] if space == "latent" else n_dims
    return tsne_of_latents(run.latents, n, space=space, n_dims=n_dims, pca=_pca(run, space, statistics),
                           perplexity=perplexity, early_exaggeration=early_exaggeration, seed=seed,
                           progress=progress)


__all__ = ["BIN_WIDTH", "attribute_columns", "attribute_fit", "attribute_table", "check_attributes",
           "component_column", "direction_points", "encoder_layers", "mnd", "plane", "plane_kde", "radii",
           "rows_by_distance", "slice_mask", "statistics", "tsne", "typical_nn_distance"]
