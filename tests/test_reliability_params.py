"""Issue 7, item 2: bad parameters across the public core functions.

One table over core.stats.ellipses, core.stats.kde, core.sampling.samplers, core.sampling.paths,
core.sampling.scoreboard and core.model.network.decode: every bad value must raise
``ValueError`` whose message names the parameter AND the offending value
(the dashboard shows that line; the command line prints it).  Other helpers
test some of these one module at a time; this is the cross-module table.
"""

import numpy as np
import pytest

from core.sampling import paths, samplers, scoreboard
from core.stats import ellipses, kde, mnd
from core.stats.pca import LatentPCA
from core.validation import MAX_SAMPLES

D = 8
BIG = MAX_SAMPLES + 1


@pytest.fixture(scope="module")
def ctx():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(D, D)) / np.sqrt(D)
    Z = (rng.normal(size=(400, D)) @ A + 0.3).astype(np.float32)
    c = {"Z": Z, "pts": Z[:, :2].astype(np.float64), "rng": rng}
    c["fitted"] = samplers.make_sampler("gaussian-diag").fit(Z)
    c["pca3"] = LatentPCA(n_components=3).fit(Z)
    c["mean"] = Z.mean(axis=0)
    c["std"] = Z.std(axis=0)
    return c


@pytest.fixture(scope="module")
def decoder():
    from core.model.config import ModelConfig
    from core.model.network import CompiledModel, build_cae

    cfg = ModelConfig(image_size=16, channels=1, z_dim=D, encoder_filters=(2, 2, 2, 2), decoder_filters=(2, 2, 2, 2))
    _, dec, _ = build_cae(cfg)
    return CompiledModel(dec, batch_size=16)


def _decode(dec, Z):
    from core.model.network import decode

    return decode(dec, Z)


def _nan(Z):
    Z = np.array(Z)
    Z[5, 3] = np.nan
    return Z


# (id, call(ctx, decoder_getter), regex that must match: parameter and value)
CASES = [
    # ---- core.stats.ellipses
    ("ellipse_params n_std=0", lambda c, d: ellipses.ellipse_params([0, 0], np.eye(2), 0), r"n_std must be > 0.*got 0"),
    ("ellipse_params n_std<0", lambda c, d: ellipses.ellipse_params([0, 0], np.eye(2), -2.0), r"n_std.*-2"),
    ("theoretical_coverage n=-1", lambda c, d: ellipses.theoretical_coverage(-1), r"n_std.*-1"),
    ("plane_ellipses sigma=0", lambda c, d: ellipses.plane_ellipses(c["pts"], sigmas=(1, 0)), r"sigma.*got 0"),
    ("plane_coordinates j=z_dim", lambda c, d: ellipses.plane_coordinates(c["Z"], 0, D), rf"j must be <= {D - 1}, got {D}"),
    ("plane_coordinates i<0", lambda c, d: ellipses.plane_coordinates(c["Z"], -1, 2), r"i must be >= 0, got -1"),
    ("plane_coordinates i=j", lambda c, d: ellipses.plane_coordinates(c["Z"], 3, 3), r"i = j = 3"),
    ("plane_coordinates pca j>=K", lambda c, d: ellipses.plane_coordinates(c["Z"], 0, 5, space="pca", pca=c["pca3"]),
     r"j must be <= 2, got 5"),
    ("plane_coordinates space", lambda c, d: ellipses.plane_coordinates(c["Z"], 0, 1, space="polar"), r"space.*polar"),
    ("slice_mask t=0", lambda c, d: ellipses.slice_mask(c["Z"], 0, 1, t=0), r"t must be > 0.*got 0"),
    ("slice_mask empty slice", lambda c, d: ellipses.slice_mask(c["Z"], 0, 1, t=1e-3), r"t=0\.001 leaves no point"),
    ("slice_mask NaN latents", lambda c, d: ellipses.slice_mask(_nan(c["Z"]), 0, 1, t=1.0), r"NaN"),
    # ---- core.stats.kde
    ("kde2d bw_factor=0", lambda c, d: kde.kde2d(c["pts"], bw_factor=0), r"bw_factor must be > 0.*got 0"),
    ("kde2d bw_factor<0", lambda c, d: kde.kde2d(c["pts"], bw_factor=-1.5), r"bw_factor.*-1\.5"),
    ("kde2d gridsize=2", lambda c, d: kde.kde2d(c["pts"], gridsize=2), r"gridsize must be >= 8, got 2"),
    ("kde2d too few points", lambda c, d: kde.kde2d(c["pts"][:2]), r"points has 2 rows"),
    ("kde2d 3 columns", lambda c, d: kde.kde2d(c["Z"][:, :3]), r"points must have shape \(n, 2\).*3\)"),
    # ---- core.sampling.samplers
    ("pca-ellipse K>z_dim", lambda c, d: samplers.make_sampler("pca-ellipse", n_components=D + 1).fit(c["Z"]),
     rf"n_components must be <= {D}, got {D + 1}"),
    ("pca-ellipse K=0", lambda c, d: samplers.make_sampler("pca-ellipse", n_components=0).fit(c["Z"]),
     r"n_components must be >= 1, got 0"),
    ("pca-ellipse f=0", lambda c, d: samplers.make_sampler("pca-ellipse", n_components=4, f=0).fit(c["Z"]),
     r"\bf must be > 0.*got 0"),
    ("pca-ellipse f<0", lambda c, d: samplers.make_sampler("pca-ellipse", n_components=4, f=-0.5).fit(c["Z"]),
     r"\bf must be > 0.*-0\.5"),
    ("pca-ellipse level<0", lambda c, d: samplers.make_sampler("pca-ellipse", n_components=4, level=-1).fit(c["Z"]),
     r"level.*-1"),
    ("per-component f=0", lambda c, d: samplers.make_sampler("per-component", f=0).fit(c["Z"]), r"\bf\b.*\b0"),
    ("uniform b=0", lambda c, d: samplers.make_sampler("uniform", b=0).fit(c["Z"]), r"\bb must be > 0.*got 0"),
    ("mvn truncate_k=0", lambda c, d: samplers.make_sampler("mvn", truncate_k=0).fit(c["Z"]), r"truncate_k.*0"),
    ("gmm n_components=0", lambda c, d: samplers.make_sampler("gmm", n_components=0).fit(c["Z"]),
     r"n_components must be >= 1, got 0"),
    ("unknown sampler", lambda c, d: samplers.make_sampler("teleport"), r"teleport"),
    ("sampler NaN latents", lambda c, d: samplers.make_sampler("gaussian-diag").fit(_nan(c["Z"])), r"NaN"),
    ("sample n=0", lambda c, d: c["fitted"].sample(0), r"n_samples must be >= 1, got 0"),
    ("sample n<0", lambda c, d: c["fitted"].sample(-3), r"n_samples must be >= 1, got -3"),
    ("sample n>MAX", lambda c, d: c["fitted"].sample(BIG), rf"n_samples must be <= {MAX_SAMPLES}, got {BIG}"),
    ("sample n absurd", lambda c, d: c["fitted"].sample(10**12), r"got 1000000000000"),
    ("sample n=2.5", lambda c, d: c["fitted"].sample(2.5), r"n_samples must be an integer, got 2\.5"),
    ("k_sigma_threshold k=0", lambda c, d: mnd.k_sigma_threshold(0, D), r"\bk\b.*\b0"),
    # ---- core.sampling.paths
    ("interpolate n_points=1", lambda c, d: paths.interpolate(c["mean"], c["std"], 1), r"n_points must be >= 2, got 1"),
    ("interpolate n_points>MAX", lambda c, d: paths.interpolate(c["mean"], c["std"], BIG),
     rf"n_points must be <= {MAX_SAMPLES}, got {BIG}"),
    ("origin_to_centre n=0", lambda c, d: paths.origin_to_centre(c["mean"], 0), r"n_points must be >= 2, got 0"),
    ("line pair j=z_dim", lambda c, d: paths.line_through_centre(c["mean"], c["std"], 0, D, 30, 2, 10),
     rf"j must be <= {D - 1}, got {D}"),
    ("line pair i=j", lambda c, d: paths.line_through_centre(c["mean"], c["std"], 2, 2, 30, 2, 10), r"i = j = 2"),
    ("line extent_sigma=0", lambda c, d: paths.line_through_centre(c["mean"], c["std"], 0, 1, 30, 0, 10),
     r"extent_sigma must be > 0.*got 0"),
    ("line n_points=-5", lambda c, d: paths.line_through_centre(c["mean"], c["std"], 0, 1, 30, 2, -5),
     r"n_points must be >= 2, got -5"),
    # ---- core.sampling.scoreboard
    ("score k_sigma=0", lambda c, d: scoreboard.score_samples(c["Z"][:50], c["Z"], k_sigma=(2, 0)), r"k_sigma.*got 0"),
    ("score k=0", lambda c, d: scoreboard.score_samples(c["Z"][:50], c["Z"], k=0), r"\bk must be >= 1, got 0"),
    ("score width mismatch", lambda c, d: scoreboard.score_samples(np.zeros((5, D + 1)), c["Z"]),
     rf"{D} components but the model's z_dim is {D + 1}|{D + 1} components.*z_dim is {D}"),
    ("compare n_samples=0", lambda c, d: scoreboard.compare_samplers(c["Z"], {"uniform": {}}, n_samples=0),
     r"n_samples must be >= 1, got 0"),
    ("compare n_samples>MAX", lambda c, d: scoreboard.compare_samplers(c["Z"], {"uniform": {}}, n_samples=BIG),
     rf"n_samples must be <= {MAX_SAMPLES}, got {BIG}"),
    ("compare K>z_dim", lambda c, d: scoreboard.compare_samplers(
        c["Z"], {"p": {"sampler": "pca-ellipse", "n_components": D + 1}}, n_samples=10),
     rf"n_components must be <= {D}, got {D + 1}"),
    # ---- core.model.network.decode
    ("decode width mismatch", lambda c, d: _decode(d(), np.zeros((3, D - 1))), rf"{D - 1} components but the model's z_dim is {D}"),
    ("decode no rows", lambda c, d: _decode(d(), np.zeros((0, D))), r"Z has 0 rows"),
    ("decode n>MAX", lambda c, d: _decode(d(), np.zeros((BIG, D), np.float32)),
     rf"number of latent vectors must be <= {MAX_SAMPLES}, got {BIG}"),
    ("decode NaN", lambda c, d: _decode(d(), _nan(c["Z"][:10])), r"NaN"),
    ("decode 1-D", lambda c, d: _decode(d(), np.zeros(D)), r"2-D.*\(8,\)"),
]


@pytest.mark.parametrize("call,pattern", [pytest.param(f, p, id=i) for i, f, p in CASES])
def test_bad_parameter_raises_value_error_naming_it(ctx, request, call, pattern):
    def get_decoder():
        return request.getfixturevalue("decoder")

    with pytest.raises(ValueError, match=pattern) as exc:
        call(ctx, get_decoder)
    # One line: the CLI prints it as "error: ..." and the page as a message.
    assert "\n" not in str(exc.value)


def test_every_public_module_is_in_the_table():
    """The table really spans the modules the issue names."""
    ids = " ".join(i for i, _, _ in CASES)
    for word in ("ellipse", "plane", "slice", "kde2d", "pca-ellipse", "sample", "interpolate", "line",
                 "score", "compare", "decode"):
        assert word in ids
