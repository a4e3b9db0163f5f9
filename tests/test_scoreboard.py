"""Tests of core.sampling.scoreboard against closed forms and independent implementations."""

import numpy as np
import pytest
from scipy import special, stats
from sklearn.neighbors import NearestNeighbors

from core.sampling.scoreboard import (
    compare_samplers,
    frechet_distance,
    holdout_expectation,
    mmd2_rbf,
    nearest_distances,
    precision_recall,
    score_samples,
)


def test_frechet_closed_form_diagonal():
    # Commuting (diagonal) covariances: Tr(S1+S2-2 sqrt(S1 S2)) = sum (s1 - s2)^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 0.5])
    expect = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    got = frechet_distance(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2))
    assert got == pytest.approx(expect, rel=1e-9)


def test_frechet_full_cov_matches_w2_formula():
    # W2^2 between Gaussians = |dmu|^2 + Tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2)
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    S1, S2 = A @ A.T + np.eye(4), B @ B.T + 0.5 * np.eye(4)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    w, V = np.linalg.eigh(S2)
    r2 = V @ np.diag(np.sqrt(w)) @ V.T
    w2, V2 = np.linalg.eigh(r2 @ S1 @ r2)
    cross = np.sum(np.sqrt(np.clip(w2, 0, None)))
    expect = np.sum((mu1 - mu2) ** 2) + np.trace(S1) + np.trace(S2) - 2 * cross
    assert frechet_distance(mu1, S1, mu2, S2) == pytest.approx(expect, rel=1e-7)
    assert frechet_distance(mu1, S1, mu1, S1) == pytest.approx(0.0, abs=1e-7)


def test_mmd_same_vs_shifted():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((400, 5)), rng.standard_normal((400, 5))
    same = mmd2_rbf(X, Y)
    shifted = mmd2_rbf(X, Y + 1.0)
    assert abs(same) < 0.01
    assert shifted > 0.1


def test_mmd_matches_direct_formula():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((30, 3)), rng.standard_normal((25, 3)) + 0.3
    h = 1.7
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * h * h))
    xx = sum(k(X[i], X[j]) for i in range(30) for j in range(30) if i != j) / (30 * 29)
    yy = sum(k(Y[i], Y[j]) for i in range(25) for j in range(25) if i != j) / (25 * 24)
    xy = sum(k(a, b) for a in X for b in Y) / (30 * 25)
    assert mmd2_rbf(X, Y, bandwidth=h) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


def test_nearest_distances_vs_sklearn():
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((300, 6)), rng.standard_normal((500, 6))
    nn = NearestNeighbors(n_neighbors=3).fit(B)
    np.testing.assert_allclose(nearest_distances(A, B, k=3, chunk=64), nn.kneighbors(A)[0][:, 2], rtol=1e-6)
    nnb = NearestNeighbors(n_neighbors=4).fit(B)
    np.testing.assert_allclose(nearest_distances(B, B, k=3, exclude_self=True, chunk=100),
                               nnb.kneighbors(B)[0][:, 3], rtol=1e-6, atol=1e-7)


def test_precision_recall_vs_bruteforce_and_extremes():
    rng = np.random.default_rng(4)
    R, F = rng.standard_normal((200, 3)), rng.standard_normal((150, 3)) * 1.5
    p, r = precision_recall(R, F, k=3)
    # brute force from the definition
    def radii(X):
        D = np.linalg.norm(X[:, None] - X[None], axis=2)
        return np.sort(D, axis=1)[:, 3]
    rR, rF = radii(R), radii(F)
    DFR = np.linalg.norm(F[:, None] - R[None], axis=2)
    assert p == pytest.approx(np.mean((DFR <= rR[None]).any(1)))
    assert r == pytest.approx(np.mean((DFR.T <= rF[None]).any(1)))
    same = precision_recall(rng.standard_normal((1000, 4)), rng.standard_normal((1000, 4)))
    assert same[0] > 0.9 and same[1] > 0.9
    far = precision_recall(rng.standard_normal((500, 4)), rng.standard_normal((500, 4)) + 10)
    assert far == (0.0, 0.0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    d = 6
    A = rng.normal(size=(d, d)) * 0.4 + np.eye(d)
    Z = rng.standard_normal((6000, d)) @ A.T + 1.0
    H = rng.standard_normal((1000, d)) @ A.T + 1.0
    return Z.astype(np.float32), H.astype(np.float32), A


def test_score_samples_same_distribution(data):
    Z, H, A = data
    rng = np.random.default_rng(6)
    S = rng.standard_normal((3000, 6)) @ A.T + 1.0
    sc = score_samples(S, Z, H, max_points=1500, random_state=0)
    for k in (2, 3):
        assert sc[f"inside_{k}sigma"] == pytest.approx(special.erf(k / np.sqrt(2)), abs=0.02)
    assert sc["radius_w1"] < 0.1 and sc["mahalanobis_w1"] < 0.1
    assert 0.85 < sc["nn_ratio"] < 1.15
    assert sc["precision"] > 0.85 and sc["recall"] > 0.85
    assert sc["latent_frechet_sq"] < 0.05
    assert abs(sc["mmd2_rbf"]) < 0.01


def test_score_samples_bad_samples(data):
    Z, H, _ = data
    S = np.random.default_rng(7).uniform(-6, 8, (2000, 6))  # a wide box
    sc = score_samples(S, Z, H, max_points=1500, random_state=0)
    assert sc["inside_3sigma"] < 0.3
    assert sc["nn_ratio"] > 2
    assert sc["precision"] < 0.3
    assert sc["mmd2_rbf"] > 0.05 and sc["latent_frechet_sq"] > 10
    # inside fraction vs an independent Mahalanobis computation
    X = Z.astype(np.float64)
    m, C = X.mean(0), np.cov(X.T)
    d2 = np.einsum("ij,jk,ik->i", S - m, np.linalg.inv(C), S - m)
    assert sc["inside_2sigma"] == pytest.approx(np.mean(d2 < stats.chi2.ppf(special.erf(2 / np.sqrt(2)), 6)))
    # radius distance vs scipy on the full sets (no subsampling needed: both <= max_points)
    sc2 = score_samples(S[:1000], Z[:1000], max_points=5000)
    assert sc2["radius_w1"] == pytest.approx(stats.wasserstein_distance(
        np.linalg.norm(S[:1000], axis=1), np.linalg.norm(Z[:1000].astype(np.float64), axis=1)))
    assert np.isnan(sc2["nn_ratio"])


def test_reencoding_metrics(data):
    Z, H, _ = data
    S = Z[:500].astype(np.float64)
    identity = lambda x: np.asarray(x)
    sc = score_samples(S, Z, decoder_fn=identity, encoder_fn=identity, real_codes=Z[500:], max_points=500)
    assert sc["reencode_rel_error"] == pytest.approx(0.0, abs=1e-6)
    assert sc["reencoded_frechet_sq"] < 0.1
    half = lambda x: np.asarray(x) * 0.5
    sc2 = score_samples(S, Z, decoder_fn=identity, encoder_fn=half, max_points=500)
    assert sc2["reencode_rel_error"] == pytest.approx(0.5, rel=1e-5)
    assert "reencoded_frechet_sq" not in sc2


def test_bad_arguments(data):
    Z, H, _ = data
    with pytest.raises(ValueError, match="samples has 4 components but the model's z_dim is 6|Z_data has 6"):
        score_samples(np.zeros((10, 4)), Z)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        score_samples(Z[:100], Z, k=0)
    with pytest.raises(ValueError, match="k_sigma.*got -1"):
        score_samples(Z[:100], Z, k_sigma=(-1,))


def test_compare_samplers_table(data):
    Z, _, _ = data
    specs = {"mvn": {}, "box": {"sampler": "uniform", "b": 4.0}, "ellipse": {"sampler": "pca-ellipse", "n_components": 4}}
    T = compare_samplers(Z, specs, n_samples=800, random_state=0, max_points=800, mmd_points=300)
    assert list(T.index) == ["mvn", "box", "ellipse", "held-out data", "MND held-out (expected)"]
    exp = T.loc["MND held-out (expected)"]
    assert exp["inside_2sigma"] == pytest.approx(holdout_expectation(len(Z) - 600, 6)["inside_2sigma"])
    assert np.isnan(exp["nn_ratio"])
    assert {"inside_2sigma", "nn_ratio", "precision", "recall", "latent_frechet_sq", "mmd2_rbf"} <= set(T.columns)
    assert not any("fid" in c.lower() for c in T.columns)
    assert T.loc["held-out data", "nn_ratio"] == pytest.approx(1.0, abs=0.05)
    assert T.loc["mvn", "latent_frechet_sq"] < T.loc["box", "latent_frechet_sq"]
    assert T.loc["mvn", "precision"] > T.loc["box", "precision"]
    with pytest.raises(ValueError, match="unknown sampler 'nope'"):
        compare_samplers(Z, {"nope": {}}, n_samples=10)


def test_mmd_on_row_ordered_data_is_near_zero():
    # Rows sorted by one component (data ordered by an attribute, say): the
    # MMD subsample must still be a uniform sample of all rows.  The old
    # code took Zs[:mmd_points] of a sorted draw -> MMD^2 = 0.079.
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((20000, 8))
    Z = Z[np.argsort(Z[:, 0])]
    S = rng.standard_normal((5000, 8))
    sc = score_samples(S, Z, max_points=5000, mmd_points=1000, random_state=0)
    assert abs(sc["mmd2_rbf"]) < 0.005
    # ... and with fewer rows than max_points (no subsampling, only a shuffle).
    sc = score_samples(S[:2000], Z[::10], max_points=5000, mmd_points=500, random_state=1)
    assert abs(sc["mmd2_rbf"]) < 0.01


def test_subsample_is_uniform_in_random_order():
    from core.sampling.scoreboard import _subsample

    Z = np.arange(1000.0)[:, None]
    A = _subsample(Z, 100, np.random.default_rng(0))
    assert len(np.unique(A)) == 100
    # The first 50 drawn rows are spread over all of Z, not its first part.
    assert stats.kstest(A[:50, 0] / 1000.0, "uniform").pvalue > 0.01
    P = _subsample(Z, 5000, np.random.default_rng(0))
    assert sorted(P[:, 0]) == list(Z[:, 0]) and not np.array_equal(P, Z)


def test_holdout_expectation_matches_simulation():
    # Hotelling T^2: held-out points of an exact MND against moments
    # estimated from n_fit points (chi2 would say 95.4 % at 2 sigma).
    rng = np.random.default_rng(3)
    n_fit, d = 200, 30
    d2 = []
    for _ in range(150):
        X = rng.standard_normal((n_fit, d))
        y = rng.standard_normal((20, d)) - X.mean(0)
        d2.append(np.einsum("ij,jk,ik->i", y, np.linalg.inv(np.cov(X.T)), y))
    d2 = np.concatenate(d2)
    exp = holdout_expectation(n_fit, d, (2, 3))
    for k in (2, 3):
        measured = np.mean(d2 < stats.chi2.ppf(special.erf(k / np.sqrt(2)), d))
        assert measured == pytest.approx(exp[f"inside_{k}sigma"], abs=0.015)
    assert exp["inside_2sigma"] < 0.9  # far from the chi2 value 0.954 at this n
    assert holdout_expectation(27000, 256)["inside_2sigma"] == pytest.approx(0.9416, abs=5e-4)
    with pytest.raises(ValueError, match="n_samples=256"):
        holdout_expectation(256, 256)


def test_score_reference_frechet_equals_scipy_sqrtm():
    from core.sampling.scoreboard import _frechet_to, _sqrt_psd

    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(30, 30)), rng.normal(size=(30, 30))
    S1, S2 = A @ A.T / 30, B @ B.T / 30 + 0.1 * np.eye(30)
    mu1, mu2 = rng.normal(size=30), rng.normal(size=30)
    assert _frechet_to(mu1, S1, mu2, S2, _sqrt_psd(S2)) == pytest.approx(
        frechet_distance(mu1, S1, mu2, S2), rel=1e-9)


def test_score_reference_scores_each_set_independently_of_the_others():
    # One reference for several sets (the Samplers page): a set's scores do
    # not depend on what was scored before it, and equal score_samples'.
    from core.sampling.scoreboard import ScoreReference

    rng = np.random.default_rng(4)
    Z = rng.normal(size=(3000, 6)) @ rng.normal(size=(6, 6))
    A, B = Z[:500] * 1.5, rng.normal(size=(700, 6))
    ref = ScoreReference(Z[:2500], Z[2500:], max_points=400, random_state=0)
    first = ref.score(A)
    ref.score(B)
    assert ref.score(A) == first
    assert score_samples(A, Z[:2500], Z[2500:], max_points=400, random_state=0) == first
    # Data-side pieces against independent code: the k-th neighbour radius of
    # each data point (scikit-learn) and the held-out points' NN distance.
    nn = NearestNeighbors(n_neighbors=4).fit(ref.Zc)
    np.testing.assert_allclose(ref.r_real, nn.kneighbors(ref.Zc)[0][:, 3], rtol=1e-9)
    assert ref.mean == pytest.approx(Z[:2500].mean(axis=0), rel=1e-9)


def test_w1_metrics_compare_the_samples_with_the_data(data):
    # Samples spread twice as far from the data's mean: the Mahalanobis
    # distances double, so W1 between the two distance laws is the mean
    # distance of the data (quantile coupling of r and 2r); same for radii of
    # centred data.  A metric that compared the data with itself gives 0.
    from core.stats.mnd import mahalanobis_sq

    Z, _, _ = data
    m = Z.astype(np.float64).mean(axis=0)
    S = m + 2.0 * (Z.astype(np.float64) - m)
    sc = score_samples(S, Z, max_points=6000, random_state=0)
    d = np.sqrt(mahalanobis_sq(Z, m, np.cov(Z.T.astype(np.float64))))
    assert sc["mahalanobis_w1"] == pytest.approx(d.mean(), rel=0.03)
    Zc = Z.astype(np.float64) - m
    sc = score_samples(2.0 * Zc, Zc, max_points=6000, random_state=0)
    assert sc["radius_w1"] == pytest.approx(np.linalg.norm(Zc, axis=1).mean(), rel=0.03)
    ref = stats.wasserstein_distance(np.linalg.norm(2.0 * Zc, axis=1), np.linalg.norm(Zc, axis=1))
    assert sc["radius_w1"] == pytest.approx(ref, rel=0.03)


def test_compare_row_equals_the_pages_pipeline(data):
    # One split, one seed: what the Samplers page computes for a sampler
    # (fit on holdout_split's fit rows, sample and score with the same seed)
    # is the row `python -m core compare` prints, whatever its place in specs.
    from core.sampling.samplers import make_sampler
    from core.sampling.scoreboard import holdout_split

    Z, _, _ = data
    T = compare_samplers(Z, {"mvn": {}, "gaussian-diag": {}}, n_samples=500, random_state=4, max_points=400)
    Z_fit, Z_hold = holdout_split(Z)
    assert Z_fit.shape[0] == 5400 and Z_hold.shape[0] == 600
    V = make_sampler("gaussian-diag").fit(Z_fit).sample(500, random_state=4)
    row = score_samples(V, Z_fit, Z_hold, max_points=400, random_state=4)
    assert T.loc["gaussian-diag"].to_dict() == pytest.approx(row, nan_ok=True)
    held = score_samples(np.asarray(Z_hold), Z_fit, Z_hold, max_points=400, random_state=4)
    assert T.loc["held-out data"].to_dict() == pytest.approx(held, nan_ok=True)


def test_decoder_points_decode_a_prefix_of_the_metrics_subsample(data):
    # decoder_points=m: the decoder metrics on the first m rows of the
    # random-order subsample, every other metric unchanged.
    from core.sampling.scoreboard import ScoreReference

    Z, H, _ = data
    S = Z[:900].astype(np.float64) * 1.3
    shift = np.linspace(-0.5, 0.5, Z.shape[1])
    seen = {}

    def reencoded(key):
        def f(x):
            seen[key] = np.array(x, np.float64)
            return x + shift  # E(D(z)) = z + c: rel error |c| / |z| per row
        return f

    full = ScoreReference(Z[1000:], H, max_points=400, random_state=2, real_codes=Z[:700]).score(
        S, reencoded=reencoded("all"))
    part = ScoreReference(Z[1000:], H, max_points=400, random_state=2, real_codes=Z[:700],
                          decoder_points=150).score(S, reencoded=reencoded("part"))
    assert seen["all"].shape == (400, 6) and seen["part"].shape == (150, 6)
    np.testing.assert_array_equal(seen["part"], seen["all"][:150])
    # The decoded rows are rows of S (a subsample, not a copy of its first rows).
    gap = np.sqrt(((seen["part"][:, None, :] - S[None, :, :]) ** 2).sum(-1)).min(axis=1)
    assert gap.max() < 1e-5
    assert not np.array_equal(seen["part"], S[:150].astype(np.float32))
    X = seen["part"]
    assert part["reencode_rel_error"] == pytest.approx(np.mean(np.linalg.norm(shift) / np.linalg.norm(X, axis=1)),
                                                       rel=1e-6)
    E = X + shift
    R = Z[:700].astype(np.float64)
    assert part["reencoded_frechet_sq"] == pytest.approx(
        frechet_distance(E.mean(0), np.cov(E, rowvar=False), R.mean(0), np.cov(R, rowvar=False)), rel=1e-6)
    assert part["reencode_rel_error"] != full["reencode_rel_error"]
    for key in full:
        if not key.startswith("reencode"):
            assert part[key] == full[key], key
    with pytest.raises(ValueError, match="decoder_points must be >= 2, got 1"):
        ScoreReference(Z, H, decoder_points=1)


def test_score_reference_is_compare_samplers_reference(data):
    # The one reference of the page and the CLI: holdout_split's rows, seeded real codes.
    from core.sampling.samplers import make_sampler
    from core.sampling.scoreboard import draw_samples, fit_sampler, holdout_split, score_reference

    Z, _, _ = data
    dec = lambda x: np.asarray(x) * 0.9
    T = compare_samplers(Z, {"mvn": {}}, n_samples=500, random_state=7, max_points=300, decoder_fn=dec,
                         encoder_fn=lambda x: x, decoder_points=120)
    Z_fit, Z_hold = holdout_split(Z)
    s = fit_sampler("mvn", Z_fit)
    np.testing.assert_array_equal(s.mean_, make_sampler("mvn").fit(Z_fit).mean_)
    ref = score_reference(Z, 300, 7, decoder_metrics=True, decoder_points=120)
    assert ref.score(draw_samples(s, 500, 7), reencoded=dec) == pytest.approx(T.loc["mvn"].to_dict(), nan_ok=True)
    assert ref.score(np.asarray(Z_hold), reencoded=dec) == pytest.approx(T.loc["held-out data"].to_dict(),
                                                                          nan_ok=True)
