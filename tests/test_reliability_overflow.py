"""Issue 17 item 5: overflowing sampler parameters.

``uniform b = 1e308`` raised NumPy's OverflowError (a traceback on the
pages and the CLI); ``b = 1e200`` and ``per-component f = 1e308`` wrote
files of all-infinite float32 values with exit 0.  Now every scale
parameter is bounded (``MAX_SCALE``) so float32 output stays finite, the
message names the value, and nothing is written.
"""

import numpy as np
import pytest

from core.cli import main
from core.sampling.samplers import make_sampler

MAX_SCALE = 1e6  # core.validation.MAX_SCALE, stated in the README
FLOAT32_MAX = float(np.finfo(np.float32).max)
from tests.dashboard_fixtures import app_env, tiny_run_root  # noqa: F401
from tests.hostile import fake_run

Z = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)

CASES = [
    ("uniform", {"b": 1e308}, r"b must be <= 1000000.0, got 1e\+308"),
    ("uniform", {"b": 1e200}, r"b must be <= 1000000.0, got 1e\+200"),
    ("uniform", {"b": float("inf")}, "b must be finite, got inf"),
    ("per-component", {"f": 1e308}, r"f must be <= 1000000.0, got 1e\+308"),
    ("per-component", {"bin_width": 1e308}, r"bin_width must be <= 1000000.0, got 1e\+308"),
    ("per-component", {"bin_width": 1e-300}, r"bin_width=1e-300 gives 6.\d+e\+300 bins per component"),
    ("pca-ellipse", {"n_components": 4, "f": 1e300}, r"f must be <= 1000000.0, got 1e\+300"),
    ("pca-ellipse", {"n_components": 4, "level": 1e300}, r"level must be <= 1000000.0, got 1e\+300"),
    ("gmm", {"n_components": 2, "reg_covar": 1e308}, r"reg_covar must be <= 1000000.0, got 1e\+308"),
]


@pytest.mark.parametrize("name, params, pattern", CASES)
def test_overflowing_parameter_is_refused_naming_the_value(name, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        make_sampler(name, **params).fit(Z).sample(5, random_state=0)


@pytest.mark.parametrize("name, params", [("uniform", {"b": MAX_SCALE}), ("per-component", {"f": MAX_SCALE}),
                                          ("pca-ellipse", {"n_components": 4, "f": MAX_SCALE})])
def test_largest_allowed_scale_gives_finite_float32(name, params):
    from core.validation import MAX_SCALE as stated

    assert stated == MAX_SCALE
    V = make_sampler(name, **params).fit(Z).sample(500, random_state=0)
    assert V.dtype == np.float32 and np.all(np.isfinite(V))
    assert np.abs(V).max() > 1e4  # the scale really was applied


def test_data_near_the_float32_limit_is_refused_not_turned_into_inf():
    big = (Z * np.float32(FLOAT32_MAX / 8)).astype(np.float32)
    assert np.all(np.isfinite(big))
    with pytest.raises(ValueError, match=r"f=1000.0 makes sampled values exceed the float32 range"):
        make_sampler("pca-ellipse", n_components=4, f=1000.0, fit_k_sigma=None).fit(big)


@pytest.mark.parametrize("param, pattern", [
    ("b=1e308", r"^error: b must be <= 1000000.0, got 1e\+308$"),
    ("b=1e200", r"^error: b must be <= 1000000.0, got 1e\+200$"),
])
def test_cli_sample_refuses_overflowing_b_and_writes_nothing(artifacts, tmp_path, capsys, param, pattern):
    import re

    fake_run(artifacts, "r")
    out = tmp_path / "out" / "u"
    assert main(["sample", "--run", "r", "--sampler", "uniform", "--param", param, "--n", "5",
                 "--no-images", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.match(pattern, err.strip()) and err.count("\n") == 1, err
    assert not out.with_name("u.npy").exists()


def test_cli_sample_refuses_overflowing_per_component_f(artifacts, tmp_path, capsys):
    fake_run(artifacts, "r")
    out = tmp_path / "pc"
    assert main(["sample", "--run", "r", "--sampler", "per-component", "--param", "f=1e308", "--n", "5",
                 "--no-images", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "error: f must be <= 1000000.0, got 1e+308"
    assert not (tmp_path / "pc.npy").exists()


def test_cli_compare_refuses_overflowing_b_before_fitting(artifacts, capsys):
    fake_run(artifacts, "r", n=60)
    assert main(["compare", "--run", "r", "--samplers", "uniform,mvn", "--param", "uniform:b=1e308",
                 "--n", "50"]) == 2
    assert capsys.readouterr().err.strip() == "error: sampler 'uniform': b must be <= 1000000.0, got 1e+308"


def test_samplers_page_shows_a_message_for_b_1e308_not_a_traceback(app_env):
    from tests.dashboard_fixtures import app_test

    at = app_test("pages/4_Samplers.py", timeout=120).run()
    at.multiselect(key="smp_chosen").set_value(["uniform"]).run()
    at.number_input(key="smp_uniform_b").set_value(1e308)
    at.number_input(key="smp_n").set_value(50)
    at = at.button(key="smp_draw").click().run()
    assert not at.exception, at.exception
    msgs = [e.value for e in at.error]
    assert any("b must be <= 1000000.0, got 1e+308" in m for m in msgs), msgs
