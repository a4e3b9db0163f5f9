"""Command line (``python -m core ...``): stats, sample, compare, bench, errors.

The session's tiny run (16 px, z_dim 8, 300 images, one epoch; trained once
per test session, ``tests/dashboard_fixtures.trained_run``) is copied into a
temporary artifacts root; most commands are called in-process through
``core.cli.main``, a few end-to-end through ``python -m core``.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats
from sklearn.decomposition import PCA

from core import cli
from core.data.images import make_grid, to_uint8
from core.runs import runs
from core.sampling.samplers import make_sampler
from tests.dashboard_fixtures import TINY_N, tiny_config, trained_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(artifacts root, run) with LATENT_LAB_ARTIFACTS pointing at the root."""
    root = tmp_path_factory.mktemp("artifacts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENT_LAB_ARTIFACTS", str(root))
        trained_run(tmp_path_factory, tiny_config(), root / "tiny")
        yield root, runs.load_run("tiny")


def run_cli(root, *args):
    env = dict(os.environ, LATENT_LAB_ARTIFACTS=str(root), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


# ---------------------------------------------------------------- end to end

@pytest.mark.parametrize("args,bad", [
    (["sample", "--run", "tiny", "--sampler", "bogus", "--n", "5", "--out", "X"], "'bogus'"),
    (["sample", "--run", "tiny", "--sampler", "mvn", "--n", "0", "--out", "X"], "--n must be >= 1, got 0"),
    (["compare", "--run", "nosuch", "--samplers", "mvn"], "nosuch"),
    (["sample", "--run", "tiny", "--sampler", "mvn", "--param", "truncate_k", "--n", "5", "--out", "X"],
     "'truncate_k'"),
    (["sample", "--run", "tiny", "--sampler", "pca-ellipse", "--param", "n_components=20", "--n", "5",
      "--out", "X"], "n_components must be <= 8, got 20"),
])
def test_bad_input_exits_2_with_one_line(tiny, tmp_path, capsys, args, bad):
    # python -m core's main in this process (a TensorFlow start per case made
    # this the file's slowest test); the next test runs one case for real.
    args = [str(tmp_path / "X") if a == "X" else a for a in args]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert bad in one_error_line(err)
    assert "Traceback" not in err and not (tmp_path / "X.npy").exists()


def test_bad_input_one_line_from_a_real_process(tiny, tmp_path):
    # A real process: TensorFlow's start-up lines are hidden, the error is the only line on stderr.
    proc = run_cli(tiny[0], "sample", "--run", "tiny", "--sampler", "pca-ellipse", "--param", "n_components=20",
                   "--n", "5", "--out", str(tmp_path / "X"))
    assert proc.returncode == 2
    assert "n_components must be <= 8, got 20" in one_error_line(proc.stderr)
    assert "Traceback" not in proc.stderr and not (tmp_path / "X.npy").exists()


def test_sample_end_to_end(tiny, tmp_path):
    root, run = tiny
    proc = run_cli(root, "sample", "--run", "tiny", "--sampler", "gaussian-diag", "--n", "30", "--seed", "3",
                   "--out", str(tmp_path / "g"), "--no-images")
    assert proc.returncode == 0, proc.stderr
    V = np.load(tmp_path / "g.npy")
    assert V.dtype == np.float32 and V.shape == (30, 8)
    expected = make_sampler("gaussian-diag").fit(run.latents).sample(30, random_state=3)
    np.testing.assert_array_equal(V, expected)
    assert not (tmp_path / "g.png").exists()


# ---------------------------------------------------------------- parsing

def test_parse_value():
    assert cli.parse_value("3") == 3 and isinstance(cli.parse_value("3"), int)
    assert cli.parse_value("0.5") == 0.5 and cli.parse_value("1e-3") == 0.001
    assert cli.parse_value("None") is None and cli.parse_value("null") is None
    assert cli.parse_value("leading") == "leading"


def test_train_and_encode_import_no_analysis_library():
    # ``python -m core train`` is started once per training (and per worker):
    # the commands' modules are imported only for their own command, so
    # scikit-learn, SciPy's statistics, matplotlib and the benchmark stay out.
    code = ("import sys; from core import cli; cli.build_parser('train'); cli.build_parser('encode'); "
            "print(sorted(m for m in ('sklearn', 'scipy.stats', 'matplotlib', 'core.bench.suite', "
            "'core.cli_latents', 'core.cli_tools', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    # ... and every command is still there when asked for.
    assert set(cli.build_parser()._subparsers._group_actions[0].choices) == {
        "train", "encode", *cli.COMMAND_MODULES}


@pytest.mark.parametrize("command", ["train", "encode", "stats", "sample", "compare", "bench"])
def test_help(command, capsys):
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m core {command}")
    if command not in ("train", "encode"):
        assert f"example: python -m core {command}" in out


@pytest.mark.parametrize("args,bad", [
    (["sample", "--run"], "--run"),
    (["stats"], "--run"),
    (["stats", "--run", "a", "--latents", "b.npy"], "not allowed with argument"),
    (["compare", "--run", "tiny", "--param", "mvn-truncate_k"], "'mvn-truncate_k'"),
    (["bench", "--rows", "kde,bogus"], "'bogus'"),
    (["stats", "--run", "tiny", "--bin-width", "abc"], "'abc'"),
    (["stats", "--run", "tiny", "--bin-width", "0"], "--bin-width must be > 0.0, got 0.0"),
    (["frobnicate"], "'frobnicate'"),
])
def test_usage_errors_one_line(tiny, capsys, args, bad):
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert bad in one_error_line(captured.err) and captured.out == ""


# ---------------------------------------------------------------- stats

def test_stats_json_matches_independent_computations(tiny, capsys):
    _, run = tiny
    Z = np.asarray(run.latents, np.float64)
    assert cli.main(["stats", "--run", "tiny", "--json", "--threshold", "0.3", "--top", "100"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res["n"], res["z_dim"], res["source"]) == (TINY_N, 8, "run tiny")
    r = np.linalg.norm(Z, axis=1)
    assert res["radius"]["mean"] == pytest.approx(r.mean()) and res["radius"]["std"] == pytest.approx(r.std())
    assert res["radius"]["uniform_shell"]["mean"] == pytest.approx(1.5 * np.sqrt(8 / 3))
    R = np.corrcoef(Z, rowvar=False)
    iu = np.triu_indices(8, 1)
    strong = np.abs(R[iu]) > 0.3
    assert res["n_top_pairs"] == strong.sum() and len(res["top_pairs"]) == strong.sum()
    first = res["top_pairs"][0]
    assert abs(first["r"]) == pytest.approx(np.abs(R[iu]).max(), rel=1e-6)
    assert R[first["i"], first["j"]] == pytest.approx(first["r"], rel=1e-6)
    counts = {row["threshold"]: row["n_pairs"] for row in res["threshold_counts"]}
    assert counts[0.5] == (np.abs(R[iu]) > 0.5).sum()
    ratio = PCA().fit(Z).explained_variance_ratio_
    np.testing.assert_allclose([p["ratio"] for p in res["pca"]], ratio, rtol=1e-5, atol=1e-9)
    # MND check: KS of the squared Mahalanobis distances against the exact
    # in-sample law, n d2 / (n-1)^2 ~ Beta(d/2, (n-d-1)/2)
    d = Z - Z.mean(0)
    d2 = np.einsum("ij,jk,ik->i", d, np.linalg.inv(np.cov(Z, rowvar=False)), d)
    n = len(Z)
    beta = stats.beta(4, (n - 9) / 2)
    assert res["mnd"]["ks_statistic"] == pytest.approx(
        stats.kstest(n * d2 / (n - 1) ** 2, beta.cdf).statistic, rel=1e-6)
    assert "Beta(4" in res["mnd"]["reference"]
    frac = {f["k"]: f["measured"] for f in res["mnd"]["fractions"]}
    assert frac[2.0] == pytest.approx(np.mean(d2 <= stats.chi2.ppf(stats.norm.cdf(2) - stats.norm.cdf(-2), 8)))
    # dominant by |mu|: ranked by |mu| descending
    mus = [abs(row["mu"]) for row in res["dominant_mu"]]
    assert mus == sorted(mus, reverse=True) and len(mus) == 8


def test_stats_summary_and_out_on_npy(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 5))
    X[:, 1] = 0.9 * X[:, 0] + 0.3 * X[:, 1]  # r ~ 0.95
    X[:, 3] += 2.0
    path = tmp_path / "z.npy"
    np.save(path, X.astype(np.float32))
    out = tmp_path / "stats"
    assert cli.main(["stats", "--latents", str(path), "--out", str(out), "--pca-k", "3"]) == 0
    text = capsys.readouterr().out
    for part in ("n = 3,000", "z_dim = 5", "dominant components by |mu|", "MND check", "top pairs with |r| > 0.5: 1 in all"):
        assert part in text
    table = pd.read_csv(out / "component_table.csv")
    np.testing.assert_allclose(table["mean"], X.astype(np.float32).mean(0), atol=1e-5)
    assert table["mu"][3] == pytest.approx(2.0, abs=0.25)
    pairs = pd.read_csv(out / "correlation_top_pairs.csv")
    assert pairs[["i", "j"]].values.tolist() == [[0, 1]]
    assert pairs["r"][0] == pytest.approx(np.corrcoef(X[:, 0], X[:, 1])[0, 1], abs=1e-5)
    assert len(pd.read_csv(out / "pca_variance.csv")) == 3
    assert set(pd.read_csv(out / "mnd_fractions.csv")["k"]) == {1.0, 2.0, 3.0}
    assert json.loads((out / "summary.json").read_text())["z_dim"] == 5


def test_stats_refuses_pickle_and_bad_k(tiny, tmp_path, capsys):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert cli.main(["stats", "--latents", str(path)]) == 2
    assert "obj.npy" in one_error_line(capsys.readouterr().err)
    assert cli.main(["stats", "--run", "tiny", "--pca-k", "20"]) == 2
    assert "--pca-k must be <= 8, got 20" in one_error_line(capsys.readouterr().err)
    assert cli.main(["stats", "--latents", str(tmp_path / "missing.npy")]) == 2
    assert "missing.npy" in one_error_line(capsys.readouterr().err)


# ---------------------------------------------------------------- sample

def test_sample_writes_vectors_and_decoded_grid(tiny, tmp_path, capsys):
    from core.model.network import decode

    _, run = tiny
    prefix = tmp_path / "sub" / "pe"
    assert cli.main(["sample", "--run", "tiny", "--sampler", "pca-ellipse", "--param", "n_components=5",
                     "--param", "fit_k_sigma=None", "--param", "f=0.6", "--n", "10", "--seed", "7",
                     "--out", str(prefix) + ".npy"]) == 0
    V = np.load(tmp_path / "sub" / "pe.npy")
    s = make_sampler("pca-ellipse", n_components=5, fit_k_sigma=None, f=0.6).fit(run.latents)
    np.testing.assert_array_equal(V, s.sample(10, random_state=7))
    png = np.asarray(Image.open(tmp_path / "sub" / "pe.png"))
    assert png.shape == (2 * 18 + 2, 8 * 18 + 2, 3)  # 10 images of 16 px, 8 a row, 2 px padding
    expected = to_uint8(make_grid(decode(run.decoder, V), n_cols=8))
    assert np.abs(png.astype(int) - expected.astype(int)).max() <= 1
    assert "pe.png" in capsys.readouterr().out


def test_sample_refuses_folder_prefix_and_duplicate_param(tiny, tmp_path, capsys):
    assert cli.main(["sample", "--run", "tiny", "--sampler", "uniform", "--n", "4", "--out", str(tmp_path)]) == 2
    assert "must be a file prefix" in one_error_line(capsys.readouterr().err)
    assert cli.main(["sample", "--run", "tiny", "--sampler", "uniform", "--param", "b=1", "--param", "b=2",
                     "--n", "4", "--out", str(tmp_path / "u")]) == 2
    assert "b given twice" in one_error_line(capsys.readouterr().err)


# ---------------------------------------------------------------- compare

def test_compare_json_equals_scoreboard(tiny, capsys):
    from core.sampling.scoreboard import compare_samplers

    _, run = tiny
    assert cli.main(["compare", "--run", "tiny", "--samplers", "mvn,pca-ellipse", "--param",
                     "pca-ellipse:n_components=4", "--n", "200", "--seed", "5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert list(res["scores"]) == ["mvn", "pca-ellipse", "held-out data", "MND held-out (expected)"]
    assert res["params"]["pca-ellipse"] == {"n_components": 4}
    table = compare_samplers(run.latents, {"mvn": {"sampler": "mvn"},
                                           "pca-ellipse": {"sampler": "pca-ellipse", "n_components": 4}},
                             n_samples=200, random_state=5)
    for label, row in table.iterrows():
        for metric, value in row.items():
            got = res["scores"][label][metric]
            assert (got is None and np.isnan(value)) or got == pytest.approx(value)


def test_compare_table_with_decoder_metrics(tiny, capsys):
    assert cli.main(["compare", "--run", "tiny", "--samplers", "gaussian-diag", "--n", "50",
                     "--decoder-metrics"]) == 0
    out = capsys.readouterr().out
    assert "gaussian-diag" in out and "held-out data" in out
    assert "reencode_rel_error" in out and "reencoded_frechet_sq" in out


@pytest.mark.parametrize("args,bad", [
    (["--samplers", "mvn,gmm", "--param", "gmm:n_components=500"], "n_components=500 exceeds the 270"),
    (["--samplers", "mvn,pca-ellipse", "--param", "pca-ellipse:f=-1"], "f must be > 0.0, got -1"),
    (["--samplers", "mvn,gmm", "--param", "gmm:covariance_type=weird"], "'weird'"),
    (["--samplers", "mvn", "--param", "gmm:n_components=3"], "not in --samplers"),
    (["--samplers", "mvn,nope"], "'nope'"),
    (["--samplers", "mvn", "--n", "-3"], "--n must be >= 1, got -3"),
])
def test_compare_validates_everything_before_fitting(tiny, monkeypatch, capsys, args, bad):
    import core.sampling.scoreboard

    def no_fit(*a, **k):
        raise AssertionError("compare_samplers must not run with a bad parameter")

    monkeypatch.setattr(core.sampling.scoreboard, "compare_samplers", no_fit)
    assert cli.main(["compare", "--run", "tiny", *args]) == 2
    assert bad in one_error_line(capsys.readouterr().err)


# ---------------------------------------------------------------- bench, encode

def test_bench_json_one_row(capsys):
    assert cli.main(["bench", "--quick", "--rows", "kde", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["quick"] is True and [r["name"] for r in res["rows"]] == ["kde"]
    assert res["rows"][0]["ratio"] > 0


def test_encode_unknown_run(tiny, capsys):
    assert cli.main(["encode", "--run", "nosuch"]) == 2
    assert "nosuch" in one_error_line(capsys.readouterr().err)
