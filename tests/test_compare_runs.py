"""compare-runs (issue 10): the comparison is the single-run statistics of each run, side by side."""

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA

from core import cli, compare_runs
from core.runs import runs
from tests.compare_fixtures import compare_root  # noqa: F401


@pytest.fixture
def env(compare_root, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(compare_root))
    return compare_root


def _json(capsys, argv):
    capsys.readouterr()
    assert cli.main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_compare_runs_json_equals_single_run_statistics(env, capsys):
    res = _json(capsys, ["compare-runs", "--runs", "tiny,tiny/digits", "--sampler", "mvn", "--n", "300", "--json"])
    assert res["runs"] == ["tiny", "tiny/digits"] and res["same_z_dim"] and res["note"] == ""
    for name in res["runs"]:
        single = _json(capsys, ["stats", "--run", name, "--json"])
        assert res["stats"][name] == single
        board = _json(capsys, ["compare", "--run", name, "--samplers", "mvn", "--n", "300", "--json"])
        assert res["scoreboard"][name] == board["scores"]
        # the dimension-free numbers, against independent code
        Z = np.asarray(runs.load_run(name).latents, np.float64)
        free = res["dimension_free"][name]
        cum = np.cumsum(PCA().fit(Z).explained_variance_ratio_)
        assert free["components_90"] == int(np.argmax(cum >= 0.9 - 1e-12)) + 1
        assert free["radius_over_sqrt_d_mean"] == pytest.approx(np.mean(np.linalg.norm(Z, axis=1)) / np.sqrt(8))
        assert free["ks_statistic"] == single["mnd"]["ks_statistic"]
        fr = {row["k"]: row for row in single["mnd"]["fractions"]}
        assert free["inside_2sigma"] == fr[2.0]["measured"] and free["theory_2sigma"] == fr[2.0]["theory"]
        # ellipse coverage in the most correlated plane, recomputed by hand
        R = np.corrcoef(Z, rowvar=False)
        iu = np.triu_indices(8, 1)
        top = np.argmax(np.abs(R[iu]))
        i, j = int(iu[0][top]), int(iu[1][top])
        first = res["planes"][name][0]
        assert (first["i"], first["j"]) == (i, j)
        P = Z[:, [i, j]] - Z[:, [i, j]].mean(0)
        d2 = np.einsum("ni,ij,nj->n", P, np.linalg.inv(np.cov(P, rowvar=False)), P)
        assert first["measured"] == pytest.approx(np.mean(d2 <= first["sigma"] ** 2))


def test_different_z_dim_compares_the_dimension_free_figures(env, capsys):
    res = _json(capsys, ["compare-runs", "--runs", "tiny,small4", "--json"])
    assert res["z_dims"] == [8, 4] and not res["same_z_dim"]
    assert "dimension-free" in res["note"] and "8, 4" in res["note"]
    assert res["dimension_free"]["small4"]["z_dim"] == 4
    assert res["stats"]["small4"] == _json(capsys, ["stats", "--run", "small4", "--json"])
    capsys.readouterr()
    assert cli.main(["compare-runs", "--runs", "tiny,small4"]) == 0
    out = capsys.readouterr().out
    assert "note: The runs have different z_dim" in out and "components_90" in out


@pytest.mark.parametrize("runs_arg,message", [
    ("tiny,nosuch", "run 'nosuch': does not exist"),
    ("tiny,half", "run half is incomplete: missing"),
    ("tiny,broken", "run broken is damaged: latents.npy"),
    ("tiny", "compare needs 2 to 4 runs, got 1"),
    ("tiny,tiny/digits,small4,tiny/x,broken", "compare needs 2 to 4 runs, got 5"),
    ("tiny,tiny", "a run is listed twice"),
    ("tiny,tiny/nosuch", "set tiny/nosuch is incomplete"),
    ("tiny,tiny/../half", "run 'tiny/../half': does not exist"),
    ("tiny,tiny/.secret", "set name '.secret' is not allowed"),
])
def test_bad_runs_give_one_line_and_no_result(env, capsys, runs_arg, message):
    capsys.readouterr()
    assert cli.main(["compare-runs", "--runs", runs_arg, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_bad_sampler_parameter_is_named_before_any_statistics(env, capsys, monkeypatch):
    called = []
    monkeypatch.setattr(compare_runs, "run_summary", lambda *a, **k: called.append(1))
    assert cli.main(["compare-runs", "--runs", "tiny,small4", "--sampler", "pca-ellipse",
                     "--param", "n_components=6"]) == 2
    assert "n_components must be <= 4, got 6" in capsys.readouterr().err and not called


def test_figures_draw_every_run(env):
    loaded = compare_runs.load_runs("tiny,tiny/digits,small4")
    sums = [compare_runs.run_summary(r) for r in loaded]
    for fig in (compare_runs.figure_histograms(sums), compare_runs.figure_radius(sums),
                compare_runs.figure_thresholds(sums), compare_runs.figure_evr(sums), compare_runs.figure_qq(sums)):
        labels = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
        assert all(any(r.name in lab for lab in labels) for r in loaded), labels
    fig = compare_runs.figure_histograms(sums[:2], component=3)
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 2


def test_out_writes_figures_and_decoded_grids_of_the_scored_draw(env, capsys, tmp_path):
    out = tmp_path / "cmp"
    assert cli.main(["compare-runs", "--runs", "tiny,small4", "--sampler", "mvn", "--n", "300",
                     "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    # different z_dim: no correlated-pairs figure (not dimension-free)
    assert names == ["comparison.json", "decoded_small4.png", "decoded_tiny.png", "explained_variance.png",
                     "histograms.png", "mnd_qq.png", "radius.png"]
    saved = json.loads((out / "comparison.json").read_text())
    assert saved["runs"] == ["tiny", "small4"] and set(saved["scoreboard"]) == {"tiny", "small4"}
    from matplotlib.image import imread
    assert imread(out / "decoded_tiny.png").shape[2] in (3, 4)
    # the grid decodes the first 16 vectors of the draw the scoreboard scores:
    # an MVN fitted on the first 90 % of the rows, seed 0
    run = runs.load_run("tiny")
    Z = np.asarray(run.latents, np.float64)
    n_hold = max(2, int(round(Z.shape[0] * 0.1)))
    V = compare_runs.sampler_draw(run, "mvn", None, 300, 0)
    assert V.shape == (300, 8)
    from core.sampling.samplers import make_sampler
    assert np.array_equal(V, make_sampler("mvn").fit(Z[:-n_hold]).sample(300, random_state=0))
    assert not np.allclose(V, make_sampler("mvn").fit(Z).sample(300, random_state=0))
    grid = compare_runs.decoded_grid(run, "mvn", None, 300, 0, m=16, n_cols=4)
    from core.data.images import make_grid
    expect = make_grid(np.clip(run.decoder.predict(V[:16], verbose=0), 0, 1), n_cols=4)
    assert np.allclose(grid, expect, atol=1e-5)


def test_out_that_is_a_file_is_refused_before_anything_runs(env, capsys, tmp_path, monkeypatch):
    f = tmp_path / "taken"
    f.write_text("keep me")
    called = []
    monkeypatch.setattr(compare_runs, "run_summary", lambda *a, **k: called.append(1))
    assert cli.main(["compare-runs", "--runs", "tiny,small4", "--out", str(f)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err and not called
    assert f.read_text() == "keep me"
