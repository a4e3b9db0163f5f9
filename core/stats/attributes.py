"""Attributes inside the latent cloud (seed post 002, objective 5).

For an attribute (glasses, smiling, a CelebA column, a synthfaces factor,
a digit label...) this module asks: is there a *linear* direction in z along
which the images with and without it separate, how well (cross-validated
ROC AUC of a logistic regression, scikit-learn), and how does that
direction lie relative to the leading PCA axes of the cloud (angles)?
The Decode page's attribute walks use the same direction.

Attributes with two values are split on them; attributes with more values
are split at the median ("above" against "at or below"); a constant
attribute has nothing to separate and raises ``ValueError``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from core.stats.ellipses import plane_ellipses
from core.stats.pca import LatentPCA
from core.validation import check_int, check_latents

#: Rows used to fit and cross-validate one attribute (a seeded subsample beyond that).
DEFAULT_MAX_ROWS = 2000
N_AXES = 10


def binary_target(values, name="attribute"):
    """Split an attribute column into two classes.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        Numbers; NaN marks a missing value.
    name : str
        Used in messages.

    Returns
    -------
    y : ndarray of shape (n_samples,), bool
        True for the larger of two values, or above the median.
    valid : ndarray of shape (n_samples,), bool
        Rows with a value.
    how : str
        "binary (a vs b)" or "above the median m".

    Raises
    ------
    ValueError
        A constant attribute, or one whose split leaves a class with fewer
        than 2 rows.
    """
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"attribute {name!r} is not numeric") from None
    valid = np.isfinite(v)
    u = np.unique(v[valid])
    if u.size == 0:
        raise ValueError(f"attribute {name!r} has no values")
    if u.size == 1:
        raise ValueError(f"attribute {name!r} is constant ({u[0]:g} for all {int(valid.sum())} images): "
                         "there is nothing to separate")
    if u.size == 2:
        y, how = v == u[1], f"binary ({u[0]:g} vs {u[1]:g})"
    else:
        m = float(np.median(v[valid]))
        y, how = v > m, f"above the median {m:.4g}"
    y &= valid
    n_pos, n_neg = int(y.sum()), int(valid.sum() - y.sum())
    if min(n_pos, n_neg) < 2:
        raise ValueError(f"attribute {name!r} split {how} leaves {n_pos} against {n_neg} images; "
                         "each side needs at least 2")
    return y, valid, how


def sample_rows(n, max_rows, random_state):
    """Sorted indices of a fixed-seed subsample of ``max_rows`` of ``n`` rows (all of them when None or n <= max_rows)."""
    if max_rows is None or n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, max_rows, replace=False))


def attribute_direction(Z, values, name="attribute", cv=5, max_rows=DEFAULT_MAX_ROWS, random_state=0,
                        pca=None, n_axes=N_AXES, C=1.0):
    """How well a linear direction in z separates an attribute, and where it points.

    A logistic regression (scikit-learn, on standardised components) is
    cross-validated (stratified ``cv`` folds, ROC AUC) and then fitted on
    all used rows; its weights, mapped back to z units, give the direction.

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
    values : array-like of shape (n_samples,)
        The attribute column (see :func:`binary_target`).
    name : str
    cv : int >= 2
    max_rows : int or None
        Seeded subsample of the rows with a value (speed; None: all).
    random_state : int
    pca : core.stats.pca.LatentPCA or None
        Fitted PCA of Z whose leading axes the direction is compared with
        (None: fitted here on all of Z).
    n_axes : int
        Leading PCA axes compared.
    C : float
        Inverse regularisation of the logistic regression.

    Returns
    -------
    dict
        ``attribute``, ``split`` (how the classes were made), ``n_pos``,
        ``n_neg``, ``auc`` and ``auc_std`` (over the folds), ``unit``
        (z_dim,) unit direction (towards the attribute), ``direction``
        (z_dim,) = unit times the separation of the class means along it
        (a walk with alpha = 1 moves by that separation), ``separation``,
        ``centre_pos`` and ``centre_neg`` (z_dim,) class means,
        ``angles`` (n_axes,) degrees between the direction and PCA axis k
        (0 = along it, 90 = orthogonal; sign-free), ``angle_span`` degrees
        between the direction and the span of the first ``n_axes`` axes.
    """
    Z = check_latents(Z, min_rows=4)
    v = np.asarray(values)
    if v.shape != (Z.shape[0],):
        raise ValueError(f"attribute {name!r} has {v.shape[0] if v.ndim else 0} values for {Z.shape[0]} latents")
    y, valid, how = binary_target(v, name)
    cv = check_int(cv, "cv", low=2, high=20)
    n_axes = check_int(n_axes, "n_axes", low=1)
    idx = np.flatnonzero(valid)
    idx = idx[sample_rows(idx.size, max_rows, random_state)]
    X, t = np.asarray(Z[idx], np.float64), y[idx]
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if min(n_pos, n_neg) < cv:
        raise ValueError(f"attribute {name!r} ({how}) has {min(n_pos, n_neg)} images in its smaller class; "
                         f"{cv}-fold cross-validation needs at least {cv}")

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    # One BLAS thread: on a shared CPU, threaded BLAS made these small fits
    # 15-35 times more expensive in CPU time (measured: 3.3 s against 0.09 s).
    with threadpool_limits(1):
        aucs = cross_val_score(model, X, t, cv=folds, scoring="roc_auc")
        model.fit(X, t)
    scaler, lr = model[0], model[1]
    w = lr.coef_[0] / np.where(scaler.scale_ > 0, scaler.scale_, 1.0)  # back to z units
    norm = np.linalg.norm(w)
    if not norm > 0:
        raise ValueError(f"attribute {name!r}: the logistic regression found no direction (all weights 0)")
    unit = w / norm
    c_pos, c_neg = X[t].mean(axis=0), X[~t].mean(axis=0)
    separation = float((c_pos - c_neg) @ unit)
    if pca is None:
        pca = LatentPCA().fit(Z)
    V = np.asarray(pca.components_[:min(n_axes, pca.components_.shape[0])], np.float64)
    cos = np.clip(np.abs(V @ unit), 0.0, 1.0)
    span = float(np.clip(np.linalg.norm(V @ unit), 0.0, 1.0))
    return {"attribute": name, "split": how, "n_pos": n_pos, "n_neg": n_neg,
            "auc": float(aucs.mean()), "auc_std": float(aucs.std()),
            "unit": unit, "direction": unit * separation, "separation": separation,
            "centre_pos": c_pos, "centre_neg": c_neg,
            "angles": np.degrees(np.arccos(cos)), "angle_span": float(np.degrees(np.arccos(span)))}


def attribute_table(Z, attributes, columns=None, pca=None, n_axes=N_AXES, progress=None, **kw):
    """:func:`attribute_direction` for every column; one row each, sorted by AUC.

    Constant columns (and others that cannot be split) get a row with the
    reason in ``note`` and no AUC, so the table still lists them.

    Returns
    -------
    DataFrame
        ``attribute``, ``split``, ``n_pos``, ``n_neg``, ``auc``, ``auc_std``,
        ``separation``, ``angle_pc0`` … ``angle_pc{n_axes - 1}`` (PCA axes
        numbered from 0, as on the Coordinate planes page), ``angle_span``,
        ``closest_pc``, ``note``.
    """
    if attributes is None or len(attributes.columns) == 0:
        raise ValueError("this run has no attribute table")
    columns = list(attributes.columns) if columns is None else list(columns)
    missing = [c for c in columns if c not in attributes.columns]
    if missing:
        raise ValueError(f"unknown attribute(s) {missing}; the table has {list(attributes.columns)}")
    if pca is None:
        pca = LatentPCA().fit(Z)
    rows = []
    for k, col in enumerate(columns):
        if progress:
            progress(k, len(columns), col)
        try:
            r = attribute_direction(Z, attributes[col].to_numpy(), name=col, pca=pca, n_axes=n_axes, **kw)
        except ValueError as exc:
            rows.append({"attribute": col, "note": str(exc)})
            continue
        row = {key: r[key] for key in ("attribute", "split", "n_pos", "n_neg", "auc", "auc_std", "separation")}
        row.update({f"angle_pc{i}": float(a) for i, a in enumerate(r["angles"])})
        row["angle_span"] = r["angle_span"]
        row["closest_pc"] = int(np.argmin(r["angles"]))
        row["note"] = ""
        rows.append(row)
    df = pd.DataFrame(rows)
    if "auc" in df:
        df = df.sort_values("auc", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    return df


def direction_plane(Z, unit, pca, j=0, chunk_rows=65536):
    """Coordinates of every point along an attribute's direction (x) and PCA axis ``j`` (y).

    Parameters
    ----------
    Z : array-like of shape (n_samples, z_dim)
    unit : ndarray of shape (z_dim,)
        Unit direction (:func:`attribute_direction`'s ``unit``).
    pca : core.stats.pca.LatentPCA
        Fitted on Z; x and y are both measured from its mean.
    j : int
        PCA axis (from 0).

    Returns
    -------
    ndarray of shape (n_samples, 2)
    """
    Z = check_latents(Z)
    j = check_int(j, "PCA axis", low=0, high=pca.components_.shape[0] - 1)
    W = np.column_stack([np.asarray(unit, np.float64), pca.components_[j]])
    out = np.empty((Z.shape[0], 2))
    for s in range(0, Z.shape[0], chunk_rows):
        out[s:s + chunk_rows] = (np.asarray(Z[s:s + chunk_rows], np.float64) - pca.mean_) @ W
    return out


def class_ellipses(points, y, sigmas=(1.0, 2.0)):
    """Centres and confidence ellipses of each class in a plane.

    Parameters
    ----------
    points : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,), bool

    Returns
    -------
    dict ``{True: DataFrame, False: DataFrame}`` from
    :func:`core.stats.ellipses.plane_ellipses` (centre, axes, coverage per sigma).
    """
    points = np.asarray(points, np.float64)
    y = np.asarray(y, bool)
    return {cls: plane_ellipses(points[y == cls], sigmas) for cls in (True, False)}


__all__ = ["attribute_direction", "attribute_table", "binary_target", "class_ellipses", "direction_plane",
           "sample_rows"]
