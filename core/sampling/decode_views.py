"""Seed views for the Decode page (issue 11): the centre from the histograms,
z-points ordered by distance from the centre (seed VII), reconstruction from
K PCA components, paths projected on a coordinate plane (seed VI)."""

from __future__ import annotations

import numpy as np

from core.stats.components import dominant_components
from core.stats.ellipses import plane_coordinates
from core.stats.mnd import whitened_sq_norms, whitening_matrix
from core.validation import check_int, check_latents


def centre_vector(stats, kind="mean"):
    """The centre of the cloud, shape (z_dim,).

    Parameters
    ----------
    stats : core.stats.components.LatentStatistics
    kind : {"mean", "histogram"}
        "mean": the component means; "histogram": each component's histogram
        peak ``mu`` (bin centres, seed VII: the centre read off the
        component distributions).
    """
    if kind == "mean":
        return np.asarray(stats.pca.mean_, dtype=np.float64)
    if kind == "histogram":
        return stats.table["mu"].to_numpy(dtype=np.float64)
    raise ValueError(f"centre must be 'mean' or 'histogram', got {kind!r}")


def rows_by_distance(Z, centre, n=9, metric="euclidean", cov=None, chunk_rows=65536):
    """z-points at evenly spaced quantiles of their distance from ``centre`` (seed VII).

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
    centre : ndarray of shape (z_dim,)
    n : int >= 2
        Rows returned: the nearest, the farthest and n - 2 between, at the
        quantiles 0, 1/(n-1), ..., 1 of the distance.
    metric : {"euclidean", "mahalanobis"}
        Mahalanobis needs ``cov`` (z_dim, z_dim).

    Returns
    -------
    rows : ndarray of shape (n,), int64
    distances : ndarray of shape (n,)
    all_distances : ndarray of shape (n_samples,)
    """
    Z = check_latents(Z)
    n = check_int(n, "n", 2, Z.shape[0])
    centre = np.asarray(centre, dtype=np.float64)
    if metric == "euclidean":
        W = np.eye(Z.shape[1])
    elif metric == "mahalanobis":
        if cov is None:
            raise ValueError("metric 'mahalanobis' needs cov")
        W = whitening_matrix(cov)
    else:
        raise ValueError(f"metric must be 'euclidean' or 'mahalanobis', got {metric!r}")
    dist = np.sqrt(whitened_sq_norms(Z, centre, W, chunk_rows=chunk_rows))
    order = np.argsort(dist, kind="stable")
    pos = np.round(np.linspace(0, len(order) - 1, n)).astype(int)
    rows = order[pos]
    return rows.astype(np.int64), dist[rows], dist


def pca_reconstructions(pca, z, ks):
    """One z-point kept to its first K PCA components, for each K.

    Parameters
    ----------
    pca : core.stats.pca.LatentPCA
    z : ndarray of shape (z_dim,)
    ks : sequence of int
        Each in 1 … number of fitted components (ValueError naming K otherwise).

    Returns
    -------
    V : ndarray of shape (len(ks), z_dim), float32
    """
    z = np.asarray(z, dtype=np.float64)[None]
    out = []
    for k in ks:
        k = check_int(k, "K (PCA components kept)", 1, pca.n_components_)
        out.append(pca.reconstruct(z, k)[0])
    return np.asarray(out, dtype=np.float32)


def slider_axes(stats, basis="pca", first=0, n=6):
    """The directions the Decode page's sliders move along, one sigma long each.

    Parameters
    ----------
    stats : core.stats.components.LatentStatistics
    basis : {"pca", "dominant"}
        "pca": principal axes ``first .. first + n - 1``, each scaled by its
        standard deviation; "dominant": the latent components ranked
        ``first ..`` by standard deviation (largest first), each a unit
        vector times that component's std.
    first : int
        First axis (PCA) or rank (dominant), in ``0 .. z_dim - n``.
    n : int >= 1

    Returns
    -------
    names : list of str
        ``"PCA k"`` or ``"zk"``.
    axes : ndarray of shape (n, z_dim)
        ``centre + shifts @ axes`` moves ``shifts[m]`` sigma along axis m.
    """
    std = stats.table["std"].to_numpy(dtype=np.float64)
    d = std.shape[0]
    n = check_int(n, "sliders", 1, d)
    if not 0 <= first <= d - n:
        raise ValueError(f"first component must be in 0 … {d - n} so that {n} sliders "
                         f"fit into z_dim = {d}, got {first}")
    if basis == "pca":
        pca = stats.pca
        comps = np.arange(first, first + n)
        return [f"PCA {c}" for c in comps], pca.components_[comps] * np.sqrt(pca.explained_variance_[comps])[:, None]
    if basis == "dominant":
        comps = dominant_components(stats.table, n=d, by="std")["component"].to_numpy()[first:first + n].astype(int)
        axes = np.zeros((n, d))
        axes[np.arange(n), comps] = std[comps]
        return [f"z{c}" for c in comps], axes
    raise ValueError(f"basis must be 'pca' or 'dominant', got {basis!r}")


def path_in_plane(P, i, j, space="latent", pca=None):
    """A path (n_points, z_dim) projected on plane (i, j): shape (n_points, 2)."""
    return plane_coordinates(np.asarray(P, np.float32), i, j, space=space, pca=pca)


__all__ = ["centre_vector", "rows_by_distance", "pca_reconstructions", "path_in_plane"]
