"""Attributes inside the cloud (issue 10): logistic-regression AUC of a linear direction, angles to PCA axes."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from core import cli
from core.stats.attributes import attribute_direction, attribute_table, binary_target, class_ellipses
from tests.compare_fixtures import compare_root  # noqa: F401


@pytest.fixture(scope="module")
def cloud():
    """2,000 points in 12 dimensions, anisotropic (axis 0 widest), and a known direction w."""
    rng = np.random.default_rng(0)
    scales = np.linspace(3.0, 0.5, 12)
    Z = (rng.standard_normal((2000, 12)) * scales).astype(np.float32)
    w = np.zeros(12)
    w[0], w[3] = 0.6, 0.8
    return Z, w


def test_known_direction_is_found_with_auc_near_one(cloud):
    Z, w = cloud
    y = (Z @ w + 0.05 * np.random.default_rng(1).standard_normal(len(Z))) > 0
    r = attribute_direction(Z, y.astype(float), name="known")
    assert r["auc"] > 0.98 and r["split"] == "binary (0 vs 1)"
    assert abs(r["unit"] @ w) > 0.97 and r["unit"] @ w > 0  # towards the attribute
    # angles to the PCA axes against sklearn's PCA: axis 0 (x) and axis 3 (z_3) carry the direction
    axes = PCA().fit(Z.astype(np.float64)).components_[:10]
    expected = np.degrees(np.arccos(np.clip(np.abs(axes @ r["unit"]), 0, 1)))
    np.testing.assert_allclose(r["angles"], expected, atol=1e-6)
    assert r["angles"][0] == pytest.approx(np.degrees(np.arccos(0.6)), abs=5)
    # direction = unit * separation of the class means along it
    sep = (Z[y].mean(0) - Z[~y].mean(0)) @ r["unit"]
    np.testing.assert_allclose(r["direction"], r["unit"] * sep, rtol=1e-6)


def test_shuffled_attribute_gives_auc_near_half(cloud):
    Z, w = cloud
    y = (Z @ w) > 0
    r = attribute_direction(Z, np.random.default_rng(2).permutation(y).astype(float), name="shuffled")
    assert abs(r["auc"] - 0.5) < 0.06


def test_continuous_attribute_is_split_at_the_median(cloud):
    Z, w = cloud
    v = Z @ w + np.random.default_rng(3).standard_normal(len(Z))
    y, valid, how = binary_target(v, "height")
    assert how.startswith("above the median") and y.sum() == len(Z) // 2 and valid.all()
    assert attribute_direction(Z, v, name="height")["auc"] > 0.85


def test_constant_attribute_is_a_clear_message(cloud):
    Z, _ = cloud
    with pytest.raises(ValueError, match=r"attribute 'hat' is constant \(1 for all 2000 images\)"):
        attribute_direction(Z, np.ones(len(Z)), name="hat")
    table = attribute_table(Z, pd.DataFrame({"hat": np.ones(len(Z)), "x": Z[:, 0] > 0}))
    assert table["attribute"].tolist() == ["x", "hat"]
    assert table.loc[0, "auc"] > 0.99 and "is constant" in table.loc[1, "note"] and np.isnan(table.loc[1, "auc"])


def test_class_ellipses_are_each_class_alone(cloud):
    Z, w = cloud
    y = Z[:, 0] > 0
    ell = class_ellipses(Z[:, :2], y, sigmas=(1.0,))
    assert ell[True]["centre_x"].iloc[0] == pytest.approx(Z[y, 0].mean())
    assert ell[False]["centre_y"].iloc[0] == pytest.approx(Z[~y, 1].mean())


def test_stats_attributes_cli(compare_root, monkeypatch, capsys):
    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(compare_root))
    assert cli.main(["stats", "--run", "tiny/digits", "--attributes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["attributes"]
    assert row["attribute"] == "digit" and row["split"].startswith("above the median") and 0.5 < row["auc"] <= 1
    assert cli.main(["stats", "--run", "tiny", "--attributes", "glasses,smiling"]) == 0
    text = capsys.readouterr().out
    assert "logistic-regression ROC AUC" in text and "glasses" in text and "smiling" in text
    assert cli.main(["stats", "--run", "tiny", "--attributes", "nosuch"]) == 2
    assert "unknown attribute(s) ['nosuch']" in capsys.readouterr().err
    assert cli.main(["stats", "--run", "small4", "--attributes"]) == 0  # synthfaces factors
    capsys.readouterr()


def test_direction_plane_projects_on_the_direction_and_a_pca_axis(cloud):
    from core.stats.attributes import direction_plane
    from core.stats.pca import LatentPCA

    Z, w = cloud
    pca = LatentPCA().fit(Z)
    P = direction_plane(Z, w, pca, j=2)
    axis = PCA().fit(Z.astype(np.float64)).components_[2]
    centred = Z.astype(np.float64) - Z.astype(np.float64).mean(0)
    np.testing.assert_allclose(P[:, 0], centred @ w, atol=1e-6)
    np.testing.assert_allclose(np.abs(P[:, 1]), np.abs(centred @ axis), atol=1e-6)
    with pytest.raises(ValueError, match="PCA axis must be <= 11, got 12"):
        direction_plane(Z, w, pca, j=12)


def test_attribute_plane_figure_marks_each_class_centre_and_its_ellipses():
    # core.plotting.attribute_plane_figure: the X markers sit at each class's mean (numpy's),
    # the 1 sigma ellipse of a class is its covariance's (checked through the Mahalanobis radius
    # of the drawn outline), and the scatter is a subsample coloured by the attribute.
    from core.plotting import attribute_plane_figure

    rng = np.random.default_rng(3)
    y = rng.random(4000) < 0.4
    pts = rng.standard_normal((4000, 2)) @ np.array([[1.0, 0.4], [0.0, 0.6]]) + np.where(y[:, None], 2.0, -1.0)
    fig = attribute_plane_figure(pts, y.astype(float), "Smiling", 3, 7, max_points=1000)
    ax = fig.axes[0]
    centres = {tuple(np.round(ln.get_xydata()[0], 9)) for ln in ax.lines if ln.get_marker() == "X"}
    expected = {tuple(np.round(pts[y == c].mean(axis=0), 9)) for c in (True, False)}
    assert centres == expected
    outlines = [ln.get_xydata() for ln in ax.lines if ln.get_marker() != "X" and ln.get_linestyle() == "-"]
    assert len(outlines) == 2
    for c in (True, False):
        P = pts[y == c]
        inv = np.linalg.inv(np.cov(P, rowvar=False))
        match = [xy for xy in outlines if np.allclose(xy.mean(axis=0), P.mean(axis=0), atol=0.05)]
        d = xy = match[0] - P.mean(axis=0)
        np.testing.assert_allclose(np.einsum("ij,jk,ik->i", d, inv, xy), 1.0, rtol=1e-9)
    scatter = ax.collections[0]
    assert len(scatter.get_offsets()) == 1000 and ax.get_xlabel() == "z3" and ax.get_ylabel() == "z7"
    with pytest.raises(ValueError, match="max_points"):
        attribute_plane_figure(pts, y.astype(float), "Smiling", 3, 7, max_points=0)
