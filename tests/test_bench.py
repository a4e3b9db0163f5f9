"""The §6 benchmark machinery (``core.bench.suite``), on quick sizes.

No timing assertions: timings depend on the machine.  What is checked is
the structure of the rows, that every ratio is a positive number, and that
the references are faithful (the reference loop and the reference
statistics compute the same thing as the fast paths they are timed against).
"""

import math

import numpy as np
import pytest
from core.bench._reference import reference_ellipse_loop, reference_statistics

from core.bench import suite as bench
from core.sampling.samplers import PCAEllipseSampler, _ellipse_constrain, _ellipse_stream
from core.stats.components import full_statistics

KEYS = {"name", "time_s", "reference", "reference_time_s", "ratio", "target", "met", "notes"}


@pytest.fixture(scope="module")
def results():
    return bench.run_benchmarks(quick=True)


@pytest.mark.slow
def test_rows_structure(results):
    names = [r["name"] for r in results]
    assert names == ["kde", "kde_30k", "pca", "pca_latents", "statistics", "pca_ellipse", "decode", "training", "training_seed",
                     "maps", "memory/statistics", "memory/kde", "memory/mvn", "memory/pca-ellipse"]
    for r in results:
        assert KEYS <= set(r), r["name"]
        assert isinstance(r["ratio"], float) and math.isfinite(r["ratio"]) and r["ratio"] > 0, r
        assert r["time_s"] > 0 and isinstance(r["met"], bool)
        assert isinstance(r["notes"], str) and r["notes"] and r["target"]
        if not r["name"].startswith("memory/"):
            assert r["reference_time_s"] > 0
            assert r["ratio"] == pytest.approx(r["reference_time_s"] / r["time_s"])
        else:
            assert r["ratio"] == pytest.approx(1024.0 / r["peak_mb"])


@pytest.mark.slow
def test_rows_properties(results):
    by = {r["name"]: r for r in results}
    # accuracy and equivalence are properties, not timings
    assert 0 <= by["kde"]["error_pct_of_peak"] < 0.3 and 0 <= by["kde_30k"]["error_pct_of_peak"] < 0.3
    assert by["pca"]["max_rel_eig_error"] < 1e-6
    assert by["pca_latents"]["max_rel_eig_error"] < 1e-6 and by["pca_latents"]["passes"] in (1, 2)
    assert by["statistics"]["times_peer"] > 0
    assert by["pca_ellipse"]["identical"] is True
    assert by["decode"]["max_abs_diff"] < 1e-5
    for name in ("training", "training_seed"):
        assert by[name]["images_per_s"] > 0 and by[name]["reference_images_per_s"] > 0
        # epochs alternate one for one; the ratio is the median pair's
        assert len(by[name]["pair_ratios"]) == 1 and by[name]["median_ratio"] > 0
        assert by[name]["ratio"] == pytest.approx(float(np.median(by[name]["pair_ratios"])))
        assert by[name]["cpu_s_per_image"] > 0 and by[name]["reference_cpu_s_per_image"] > 0
    assert "[8, 8, 16, 16]" in by["training_seed"]["notes"] and "[4, 4, 8, 8]" in by["training"]["notes"]
    assert 0 < by["statistics"]["peak_mb"] < 1024
    assert by["maps"]["n_images"] == 64 and by["maps"]["n_maps"] == 8 and by["maps"]["png_bytes"] > 0
    assert by["maps"]["ratio"] == pytest.approx(60.0 / by["maps"]["time_s"])


@pytest.mark.slow
def test_format_table(results):
    text = bench.format_table(results)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["row", "time", "reference"]
    for r in results:
        assert any(line.startswith(r["name"] + " ") for line in lines[2:2 + len(results)])
        assert f"{r['name']}: {r['notes']}" in text
    assert "img/s" in text and "MiB" in text
    md = bench.markdown_table(results).splitlines()
    assert md[0].startswith("| row |") and len(md) == 2 + len(results)
    assert all(line.count("|") == 8 for line in md)


def test_check_rows():
    assert bench.check_rows(["kde", "memory"]) == ["kde", "memory"]
    assert "tsne" in bench.ROWS and "tsne" not in bench.DEFAULT_ROWS  # opt-in: minutes
    with pytest.raises(ValueError, match="'nope'"):
        bench.check_rows(["kde", "nope"])
    with pytest.raises(ValueError, match="at least one"):
        bench.check_rows([])


@pytest.mark.parametrize("fixed", ["leading", "random"])
def test_reference_loop_equals_vectorised_sampler(fixed):
    K, n = 12, 6
    fa = np.sort(np.random.default_rng(3).uniform(0.1, 2.0, K))[::-1]
    seeds, U = _ellipse_stream(np.random.default_rng(11), n, K)
    V = (2.0 * U - 1.0) * fa
    _ellipse_constrain(V, fa, seeds, fixed)
    R = reference_ellipse_loop(U, seeds, fa, fixed)
    np.testing.assert_array_equal(R, V)
    assert not np.array_equal(R, (2.0 * U - 1.0) * fa)  # some pairs were redrawn
    # every pairwise ellipse condition holds at the end
    t = (R / fa) ** 2
    assert (t[:, :, None] + t[:, None, :] <= 1 + 1e-12)[:, ~np.eye(K, dtype=bool)].all()


def test_reference_statistics_agrees_with_full_statistics(tmp_path):
    Z = bench.make_latent_memmap(tmp_path / "z.npy", 3000, 6, seed=2)
    assert isinstance(Z, np.memmap) and Z.dtype == np.float32 and Z.shape == (3000, 6)
    rows, R, pca = reference_statistics(Z)
    st = full_statistics(Z)
    t = st.table
    np.testing.assert_allclose(rows[:, 0], t["mean"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rows[:, 1], t["std"], rtol=1e-5)
    np.testing.assert_allclose(rows[:, 2], t["mu"])
    np.testing.assert_allclose(rows[:, 6], t["skewness"], atol=1e-5)
    np.testing.assert_allclose(rows[:, 7], t["kurtosis"], atol=1e-5)
    np.testing.assert_allclose(R, st.correlation, atol=1e-6)
    np.testing.assert_allclose(pca.explained_variance_ratio_, st.pca.explained_variance_ratio_, rtol=1e-4)
    # the generator really correlates components
    assert np.abs(R[np.triu_indices(6, 1)]).max() > 0.3


def test_pca_ellipse_sampler_reference_stream(tmp_path):
    # the stream the benchmark feeds the reference is the sampler's own
    Z = bench.make_latent_memmap(tmp_path / "z.npy", 2000, 10, seed=1)
    s = PCAEllipseSampler(n_components=10).fit(Z)
    seeds, U = _ellipse_stream(np.random.default_rng(4), 5, 10)
    R = reference_ellipse_loop(U, seeds, s.f_ * s.half_axes_, s.fixed)
    np.testing.assert_array_equal(s.sample_pca(5, random_state=4), R)


def test_opentsne_preserves_neighbourhoods_like_sklearn():
    # The t-SNE row's two embeddings (same perplexity, iterations and init):
    # openTSNE's must keep neighbourhoods as well as scikit-learn's.
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (6, 20))
    X = centres[rng.integers(0, 6, 500)] + rng.normal(0, 1, (500, 20))
    Y_open, Y_sk, t_open, t_sk = bench.tsne_pair(X, perplexity=30.0, seed=0)
    assert Y_open.shape == Y_sk.shape == (500, 2) and t_open > 0 and t_sk > 0
    tw_open = trustworthiness(X, Y_open, n_neighbors=10)
    tw_sk = trustworthiness(X, Y_sk, n_neighbors=10)
    assert tw_sk > 0.85  # both embeddings are real t-SNE maps, not noise
    assert tw_open >= tw_sk - 0.01
    # ... and a random map would fail the comparison
    assert trustworthiness(X, rng.normal(size=(500, 2)), n_neighbors=10) < tw_sk - 0.2
