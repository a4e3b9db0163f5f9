"""core.stats.plane_report and ``python -m core stats --pair I J`` on a known bivariate normal."""

import json

import numpy as np
import pytest
from scipy import stats

from core import cli
from core.stats.plane_report import plane_report, points_inside_hdr

SIGMAS = [1.0, 2.0, 2.2, 3.0]


@pytest.fixture(scope="module")
def normal_latents(tmp_path_factory):
    # A 5-D normal whose (1, 3) plane is strongly correlated and off-centre.
    rng = np.random.default_rng(7)
    cov = np.eye(5)
    cov[1, 3] = cov[3, 1] = 0.8
    cov[1, 1], cov[3, 3] = 4.0, 0.25
    cov[1, 3] = cov[3, 1] = 0.8 * 2.0 * 0.5
    Z = rng.multivariate_normal([0, 3, 0, -1, 0], cov, size=40000).astype(np.float32)
    path = tmp_path_factory.mktemp("plane") / "z.npy"
    np.save(path, Z)
    return Z, path


def test_cli_plane_coverage_matches_theory_on_a_bivariate_normal(normal_latents, capsys):
    Z, path = normal_latents
    rc = cli.main(["stats", "--latents", str(path), "--pair", "1", "3", "--sigma", *map(str, SIGMAS), "--json"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert (rep["i"], rep["j"], rep["space"], rep["n_points"]) == (1, 3, "latent", 40000)
    for row, s in zip(rep["levels"], SIGMAS):
        theory = 1 - np.exp(-s * s / 2)
        assert row["sigma"] == s
        assert row["ellipse_coverage_theoretical"] == pytest.approx(theory)
        assert row["kde_hdr_mass_theoretical"] == pytest.approx(theory)
        # Within 1 percentage point of 1 - exp(-n^2/2).
        assert abs(row["ellipse_coverage_measured"] - theory) < 0.01
        # The KDE contour is sqrt(1 + h^2) larger than the ellipse (h = n^(-1/6)), so it holds a
        # little more; the chi2(2) mass inside the inflated radius bounds it.
        h2 = rep["kde_bandwidth_factor"] ** 2
        inflated = stats.chi2.cdf(-2 * np.log(1 - theory) * (1 + h2), 2)
        assert theory - 0.01 < row["kde_hdr_mass_measured"] < inflated + 0.01


def test_cli_plane_report_pca_space_and_bad_sigma(normal_latents, capsys):
    Z, path = normal_latents
    assert cli.main(["stats", "--latents", str(path), "--pair", "0", "1", "--space", "pca", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["space"] == "pca" and [r["sigma"] for r in rep["levels"]] == [1.0, 2.0, 3.0]
    for r in rep["levels"]:
        assert abs(r["ellipse_coverage_measured"] - r["ellipse_coverage_theoretical"]) < 0.01
    for bad in ["0", "-2", "nan", "abc"]:
        assert cli.main(["stats", "--latents", str(path), "--pair", "0", "1", "--sigma", bad]) == 2
        assert f"got '{bad}'" in capsys.readouterr().err
    assert cli.main(["stats", "--latents", str(path), "--pair", "0", "0"]) == 2
    assert "0" in capsys.readouterr().err


def test_points_inside_hdr_matches_direct_density_threshold(normal_latents):
    from core.stats.kde import kde2d

    Z, _ = normal_latents
    pts = Z[:5000, [1, 3]].astype(np.float64)
    kde = kde2d(pts, gridsize=128)
    lv = kde.levels_for_masses([0.5])[0]
    # Independent: scipy's gaussian_kde (same Scott bandwidth) evaluated exactly at the points.
    ref = stats.gaussian_kde(pts.T)(pts.T)
    frac = points_inside_hdr(kde, pts, lv)
    assert abs(frac - np.mean(ref >= lv)) < 0.005
    assert 0.4 < frac < 0.65
    assert plane_report(Z, 1, 3, sigmas=[1])["levels"][0]["sigma"] == 1.0
