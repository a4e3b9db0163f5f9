"""core.model.featuremaps: activation maximisation, the dataset scan, correlations, the CLI."""

import json

import numpy as np
import pytest

from core.model import featuremaps as fm
from tests.dashboard_fixtures import HALF_RUN, TINY_RUN, tiny_run_root  # noqa: F401

# ---------------------------------------------------------------- a hand-set oriented-edge encoder

def _edge_kernels():
    """3x3 kernels (rows = y down, columns = x right) whose response is the image
    gradient along 0 deg (x), 90 deg (y) and 45 deg (x + y), in array coordinates."""
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    sobel_y = sobel_x.T.copy()
    diag = np.array([[-2, -1, 0], [-1, 0, 1], [0, 1, 2]], np.float32)
    return {0.0: sobel_x, 90.0: sobel_y, 45.0: diag}


@pytest.fixture(scope="module")
def edge_encoder():
    from core.model.config import ModelConfig
    from core.model.network import build_cae

    enc, _, _ = build_cae(ModelConfig(image_size=16, channels=1, z_dim=4, encoder_filters=(3, 4, 4, 4),
                                      decoder_filters=(4, 4, 4, 4)))
    conv = enc.get_layer("enc_conv0")
    kernels = _edge_kernels()
    w = np.stack(list(kernels.values()), axis=-1)[:, :, None, :]  # (3, 3, 1, 3)
    conv.set_weights([w, np.zeros(3, np.float32)])
    return enc, list(kernels)


def gradient_orientation(img):
    """Dominant gradient orientation (degrees in [0, 180), array coordinates x right,
    y down) from the structure tensor, independent of the gradient's sign."""
    gy, gx = np.gradient(np.asarray(img, np.float64))
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    return np.degrees(0.5 * np.arctan2(2 * jxy, jxx - jyy)) % 180.0, (jxx, jyy, jxy)


def test_oriented_edge_filters_give_patterns_of_their_orientation(edge_encoder):
    enc, angles = edge_encoder
    P, act, start = fm.maximise_maps(enc, "enc_conv0", steps=60, step_size=0.05, seed=0)
    assert P.shape == (3, 16, 16, 1)
    assert np.all(act > start + 0.5)  # the ascent went uphill, far
    for m, want in enumerate(angles):
        got, (jxx, jyy, jxy) = gradient_orientation(P[m, :, :, 0])
        diff = min(abs(got - want), 180 - abs(got - want))
        assert diff < 12.0, (m, want, got)
        # coherent: one orientation dominates the structure tensor
        lam = np.linalg.eigvalsh([[jxx, jxy], [jxy, jyy]])
        assert lam[1] > 3 * lam[0], (m, lam)


def test_maps_of_a_layer_are_maximised_independently_in_one_batch(edge_encoder):
    enc, _ = edge_encoder
    P, act, _ = fm.maximise_maps(enc, "enc_conv0", steps=20, seed=3)
    one, act1, _ = fm.maximise_maps(enc, "enc_conv0", steps=20, seed=3, maps=[1])
    # map 1 alone from its own start (first row of the noise stream) is a different image,
    # but the reported activation is that of the image for map 1:
    from core.model.featuremaps import feature_model

    f = feature_model(enc, "enc_conv0")
    np.testing.assert_allclose(act, f(P).numpy().mean(axis=(1, 2))[np.arange(3), np.arange(3)], rtol=1e-5)
    np.testing.assert_allclose(act1, f(one).numpy().mean(axis=(1, 2))[0, 1], rtol=1e-5)


# ---------------------------------------------------------------- the tiny trained run

@pytest.fixture(scope="module")
def tiny(tiny_run_root):
    from core.runs import runs

    run = runs.Run(tiny_run_root / TINY_RUN)
    images, _, index = run.source().load()
    return run, images, index


def brute_force_means(encoder, layer, images):
    f = fm.feature_model(encoder, layer, with_latent=True)
    maps, z = f(images)
    return maps.numpy().astype(np.float64).mean(axis=(1, 2)), z.numpy().astype(np.float64)


@pytest.mark.parametrize("layer", ["enc_conv0", "enc_conv3"])
def test_scan_top_k_mean_and_correlation_equal_brute_force(tiny, layer):
    run, images, index = tiny
    k = 5
    scan = fm.scan_dataset(run.encoder, run.source(), layer, k=k, batch_size=37)  # batches cross the top-k
    A, Z = brute_force_means(run.encoder, layer, images)
    n, n_maps = A.shape
    assert scan.n_images == n and scan.activations.shape == (n, n_maps)
    np.testing.assert_array_equal(scan.index, index)
    np.testing.assert_allclose(scan.activations, A, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scan.mean_activation, A.mean(0), rtol=1e-5)
    np.testing.assert_allclose(scan.max_activation, A.max(0), rtol=1e-5)
    np.testing.assert_allclose(scan.mean_image, images.mean(0), atol=1e-6)
    for m in range(n_maps):
        # brute force ranking: sort all images by activation (stable: lower index first on ties)
        a = scan.activations[:, m].astype(np.float64)
        want = np.argsort(-a, kind="stable")[:k]
        np.testing.assert_array_equal(scan.top_index[m], index[want])
        np.testing.assert_allclose(scan.top_activation[m], a[want], rtol=1e-6)
        np.testing.assert_array_equal(scan.top_images[m], images[want])
    R = np.corrcoef(A.T, Z.T)[:n_maps, n_maps:]
    np.testing.assert_allclose(scan.correlation, np.nan_to_num(R), atol=2e-4)


def test_maximised_activation_exceeds_every_dataset_image(tiny):
    run, images, _ = tiny
    for layer in ("enc_conv0", "enc_conv3"):
        rep = fm.map_report(run.encoder, run.source(), layer, steps=64, seed=0, k=3)
        A, _ = brute_force_means(run.encoder, layer, images)
        assert np.all(rep.activation > A.max(axis=0)), (layer, rep.activation, A.max(axis=0))
        np.testing.assert_array_equal(rep.order, np.argsort(-rep.activation, kind="stable"))
        assert rep.patterns.min() >= 0.0 and rep.patterns.max() <= 1.0
        table = rep.table()
        assert list(table["map"]) == list(rep.order) and list(table["rank"]) == list(range(1, rep.n_maps + 1))
        m = int(rep.order[0])
        assert table.loc[0, "component_1"] == int(np.argmax(np.abs(rep.scan.correlation[m])))


def test_same_seed_same_image_other_seed_other_image(tiny):
    run, images, _ = tiny
    start = images.mean(0)
    a = fm.maximise_maps(run.encoder, start=start, steps=25, seed=7)
    b = fm.maximise_maps(run.encoder, start=start, steps=25, seed=7)
    c = fm.maximise_maps(run.encoder, start=start, steps=25, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert np.abs(a[0] - c[0]).max() > 1e-3


def test_attribute_correlation_equals_corrcoef(tiny):
    run, images, _ = tiny
    scan = fm.scan_dataset(run.encoder, run.source(), "enc_conv2", k=2, limit=200)
    df = fm.attribute_correlation(scan, run.attributes)
    assert df.shape == (8, run.attributes.shape[1])
    for col in ("hair_darkness", "glasses", "bg_brightness"):
        x = run.attributes[col].to_numpy(np.float64)[:200]
        want = [np.corrcoef(x, scan.activations[:, m])[0, 1] for m in range(8)]
        np.testing.assert_allclose(df[col].to_numpy(), want, atol=1e-6)
    with pytest.raises(ValueError, match="attribute table has 10 rows"):
        fm.attribute_correlation(scan, run.attributes.iloc[:10])


def test_feeders_of_components_by_abs_correlation():
    rng = np.random.default_rng(0)
    C = rng.uniform(-1, 1, (6, 10))
    C[4, 2] = -0.999  # the strongest feeder of component 2 is anti-correlated
    df = fm.feeders_of(C, [2, 7], n=3)
    assert list(df["component"]) == [2, 2, 2, 7, 7, 7]
    assert df["map"].iloc[0] == 4 and df["r"].iloc[0] == pytest.approx(-0.999)
    for c in (2, 7):
        want = np.argsort(-np.abs(C[:, c]), kind="stable")[:3]
        np.testing.assert_array_equal(df[df["component"] == c]["map"], want)
    with pytest.raises(ValueError, match="component must be <= 9, got 10"):
        fm.feeders_of(C, [10])


# ---------------------------------------------------------------- bad input

def test_bad_input_messages(tiny):
    import keras

    run, images, _ = tiny
    enc = run.encoder
    with pytest.raises(ValueError, match=r"enc_conv0, enc_conv1, enc_conv2, enc_conv3\), got 'conv9'"):
        fm.check_layer(enc, "conv9")
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        fm.maximise_maps(enc, steps=0)
    with pytest.raises(ValueError, match="steps must be >= 1, got -5"):
        fm.map_report(enc, run.source(), steps=-5)
    with pytest.raises(ValueError, match="step_size must be > 0"):
        fm.maximise_maps(enc, step_size=0.0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        fm.maximise_maps(enc, seed=-1)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        fm.scan_dataset(enc, run.source(), k=0)
    dense = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(8)],
                             name="flat")
    with pytest.raises(ValueError, match=r"the encoder \(flat\) has no convolutional layers"):
        fm.maximise_maps(dense)
    assert fm.conv_layer_names(dense) == []


def test_importing_featuremaps_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, core.model.featuremaps; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- command line

def test_cli_maps_writes_grid_and_json(tiny_run_root, monkeypatch, tmp_path, capsys):
    from core.cli import main

    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(tiny_run_root))
    prefix = tmp_path / "out" / "maps"
    rc = main(["maps", "--run", TINY_RUN, "--steps", "64", "--limit", "0", "--top-k", "4", "--quiet",
               "--out", str(prefix)])
    assert rc == 0
    png = (tmp_path / "out" / "maps.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    info = json.loads((tmp_path / "out" / "maps.json").read_text())
    assert info["layer"] == "enc_conv3" and info["n_images"] == 300 and info["params"]["steps"] == 64
    n_maps = info["n_maps"]
    assert n_maps == 8 and np.shape(info["correlation"]) == (n_maps, 8)
    acts = [m["pattern_activation"] for m in info["maps"]]
    assert info["ranking"] == list(np.argsort(-np.asarray(acts), kind="stable"))
    assert all(m["pattern_activation"] > m["dataset_max"] for m in info["maps"])
    assert all(len(m["top_images"]) == 4 for m in info["maps"])
    assert "enc_conv3" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--layer", "nope"], "(enc_conv0, enc_conv1, enc_conv2, enc_conv3), got 'nope'"),
    (["--steps", "0"], "--steps must be >= 1, got 0"),
    (["--run", HALF_RUN], "run half is incomplete: missing"),
])
def test_cli_maps_bad_input_one_line(tiny_run_root, monkeypatch, tmp_path, capsys, argv, message):
    from core.cli import main

    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(tiny_run_root))
    base = {"--run": TINY_RUN}
    args = ["maps", "--out", str(tmp_path / "m")]
    for key, val in base.items():
        if key not in argv:
            args += [key, val]
    rc = main(args + argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not list(tmp_path.iterdir())  # nothing written


def test_cli_maps_help(capsys):
    from core.cli import main

    assert main(["maps", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m core maps") and "example: python -m core maps" in out
