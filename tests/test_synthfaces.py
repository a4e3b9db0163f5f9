import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.data import synthfaces
from core.data.synthfaces import ATTRIBUTE_NAMES, BINARY_NAMES, CONTINUOUS_NAMES, FACTORS, generate


@pytest.fixture(scope="module")
def big():
    # One shared draw: n = 2000 at 32 px keeps the module fast.
    return generate(2000, size=32, seed=3)


def test_shapes_dtype_range():
    images, attrs = generate(10, size=64, seed=1)
    assert images.shape == (10, 64, 64, 3)
    assert images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert list(attrs.columns) == ATTRIBUTE_NAMES
    assert len(attrs) == 10
    assert attrs.index.tolist() == list(range(10))


def test_luminance_channel_matches_rgb_weights():
    rgb, _ = generate(6, size=32, seed=2)
    grey, _ = generate(6, size=32, seed=2, channels=1)
    assert grey.shape == (6, 32, 32, 1)
    # Layers are composited linearly, so luminance of the RGB image equals the
    # 1-channel render wherever no clipping happened.
    lum = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    ok = (rgb.max(axis=-1) < 0.999) & (grey[..., 0] < 0.999)
    assert ok.mean() > 0.9
    np.testing.assert_allclose(grey[..., 0][ok], lum[ok], atol=2e-3)


def test_deterministic_and_seed_dependent():
    a, fa = generate(5, size=32, seed=7)
    b, fb = generate(5, size=32, seed=7)
    c, _ = generate(5, size=32, seed=8)
    assert np.array_equal(a, b)
    pd.testing.assert_frame_equal(fa, fb)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("start,n", [(0, 1), (255, 2), (250, 20), (511, 3), (300, 7)])
def test_batch_split_invariance(start, n):
    full, fattrs = generate(530, size=16, seed=5)
    part, pattrs = generate(n, size=16, seed=5, start=start)
    assert np.array_equal(part, full[start:start + n])
    pd.testing.assert_frame_equal(pattrs, fattrs.iloc[start:start + n])


def test_batch_split_invariance_64px():
    full, _ = generate(12, size=64, seed=1)
    pieces = [generate(k, size=64, seed=1, start=s)[0] for s, k in [(0, 5), (5, 1), (6, 6)]]
    assert np.array_equal(np.concatenate(pieces), full)


def test_factor_table_lists_every_attribute():
    assert FACTORS["name"].tolist() == ATTRIBUTE_NAMES
    assert len(CONTINUOUS_NAMES) >= 10 and len(BINARY_NAMES) >= 4
    assert set(FACTORS["distribution"]) == {"normal", "bernoulli"}
    flat = synthfaces.factor_table()
    assert flat["name"].tolist() == ATTRIBUTE_NAMES


def test_continuous_factors_follow_stated_gaussians(big):
    _, attrs = big
    n = len(attrs)
    for row in FACTORS.itertuples():
        if row.distribution != "normal":
            continue
        x = attrs[row.name].to_numpy()
        mu, sd = row.parameters["mean"], row.parameters["std"]
        assert abs(x.mean() - mu) < 4 * sd / np.sqrt(n), row.name
        assert abs(x.std(ddof=1) / sd - 1) < 0.1, row.name
        # Kolmogorov-Smirnov against the stated normal.
        assert stats.kstest(x, "norm", args=(mu, sd)).pvalue > 1e-4, row.name


def test_binary_factors_follow_stated_bernoulli(big):
    _, attrs = big
    n = len(attrs)
    for row in FACTORS.itertuples():
        if row.distribution != "bernoulli":
            continue
        x = attrs[row.name].to_numpy()
        assert set(np.unique(x)) <= {0, 1}
        p = row.parameters["p"]
        assert abs(x.mean() - p) < 4 * np.sqrt(p * (1 - p) / n), row.name


def test_factors_are_independent(big):
    _, attrs = big
    corr = np.corrcoef(attrs.to_numpy(float), rowvar=False)
    off = corr[~np.eye(len(ATTRIBUTE_NAMES), dtype=bool)]
    assert np.abs(off).max() < 0.12      # 4.5 sigma at n = 2000


def test_images_depend_on_their_factors(big):
    images, attrs = big
    lum = images @ np.array([0.299, 0.587, 0.114], np.float32)
    # Background brightness shows in the top corners.
    corners = lum[:, :3, :3].mean(axis=(1, 2)) + lum[:, :3, -3:].mean(axis=(1, 2))
    assert stats.spearmanr(corners, attrs["bg_brightness"]).statistic > 0.5
    # Skin tone (dark = high) darkens the cheeks.
    cheeks = lum[:, 18:21, 10:13].mean(axis=(1, 2))
    assert stats.spearmanr(cheeks, attrs["skin_tone"]).statistic < -0.4
    # Glasses add thin dark lines around the eye line: more vertical contrast.
    grad = np.abs(np.diff(lum[:, 11:19, 4:28], axis=1)).mean(axis=(1, 2))
    g = attrs["glasses"].to_numpy() == 1
    assert grad[g].mean() > 1.15 * grad[~g].mean()
    assert stats.mannwhitneyu(grad[g], grad[~g]).pvalue < 1e-10
    # A hat paints the top of the head in the hat colour (complement of the
    # background hue, HSV saturation 0.7, value 0.55).
    hat_rgb = synthfaces._hsv(attrs["bg_hue"].to_numpy() + 0.5, np.full(len(attrs), 0.7),
                              np.full(len(attrs), 0.55))
    top = images[:, 5:8, 14:18].mean(axis=(1, 2))
    dist = np.linalg.norm(top - hat_rgb, axis=1)
    h = attrs["hat"].to_numpy() == 1
    assert np.median(dist[h]) < 0.1 < np.median(dist[~h])
    # Smiling opens the mouth: more dark pixels below the nose.
    mouth = (lum[:, 18:23, 12:20] < 0.3).mean(axis=(1, 2))
    s = attrs["smiling"].to_numpy() == 1
    assert mouth[s].mean() > 1.5 * mouth[~s].mean()


def test_edges_are_antialiased():
    images, _ = generate(4, size=64, seed=0)
    # Hard-edged rendering would give a handful of flat colours per channel;
    # anti-aliased edges give many intermediate values.
    for im in images:
        assert len(np.unique(np.round(im[..., 0], 4))) > 200


@pytest.mark.parametrize("size", [16, 128])
def test_extreme_sizes(size):
    images, _ = generate(2, size=size, seed=0)
    assert images.shape == (2, size, size, 3)
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1


def test_sizes_are_resolutions_of_one_picture():
    # The same face at 128 px, box-downsampled to 32 px, is close to the 32 px render.
    big, _ = generate(3, size=128, seed=4)
    small, _ = generate(3, size=32, seed=4)
    down = big.reshape(3, 32, 4, 32, 4, 3).mean(axis=(2, 4))
    assert np.abs(down - small).mean() < 0.03


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=0), "n must be >= 1, got 0"),
    (dict(n=-3), "n must be >= 1, got -3"),
    (dict(n=2.5), "n must be an integer, got 2.5"),
    (dict(n=2, size=15), "size must be >= 16, got 15"),
    (dict(n=2, size=129), "size must be <= 128, got 129"),
    (dict(n=2, channels=2), "channels must be 1 or 3, got 2"),
    (dict(n=2, seed=-1), "seed must be >= 0, got -1"),
    (dict(n=2, start=-5), "start must be >= 0, got -5"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(**kwargs)


@pytest.mark.parametrize("kind", ["synthfaces", "synthdigits"])
def test_factors_for_equal_the_rendered_attributes_in_any_order(kind):
    from core.data.sources import open_source

    src = open_source(kind, size=16, channels=1, limit=700, seed=3)
    _, attrs, index = next(src.iter_batches(batch_size=700))
    pick = np.array([699, 0, 257, 256, 3, 3])
    got = src.factors_for(pick)
    assert list(got.columns) == list(attrs.columns) and list(got.index) == list(range(6))
    np.testing.assert_array_equal(got.to_numpy(), attrs.loc[pick].to_numpy())
    with pytest.raises(ValueError, match="-1"):
        src.factors_for([-1, 2])


def test_a_procedural_run_without_attributes_csv_recomputes_them(tmp_path):
    """The shipped comparison runs store no attributes.csv: the loaded table equals the stored one."""
    import shutil

    import pandas as pd

    from core.runs import runs

    src = runs.REPO_ROOT / "artifacts" / "default"
    dst = tmp_path / "copy"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("attributes.csv", "sets"))
    stored = pd.read_csv(src / "attributes.csv")
    got = runs.Run(dst).attributes
    assert list(got.columns) == list(stored.columns) and len(got) == len(stored)
    # attributes.csv holds 6 significant digits
    np.testing.assert_allclose(got.to_numpy(float), stored.to_numpy(float), rtol=1e-5, atol=1e-6)
    # a non-procedural run without the file still has none
    cfg = runs.read_json(dst / "config.json")
    cfg["dataset"] = str(tmp_path)
    runs.atomic_write_json(dst / "config.json", cfg)
    assert runs.Run(dst).attributes is None
