"""The Samplers page prints the scoreboard of ``python -m core compare`` (issue 13: one split, one seed)."""

import json

import numpy as np
import pytest

from core import cli
from tests.dashboard_fixtures import TINY_RUN, app_env, app_test, tiny_run_root  # noqa: F401

REF = "held-out data (reference)"


def test_page_scoreboard_equals_core_compare_json(app_env, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_LAB_CACHE", str(tmp_path / "cache"))  # no rows from other tests
    samplers, n, seed, max_points, dp = ["mvn", "gaussian-diag", "per-component"], 300, 3, 120, 60
    at = app_test("pages/4_Samplers.py", timeout=180).run()
    at.multiselect(key="smp_chosen").set_value(samplers)
    at.number_input(key="smp_n").set_value(n)
    at.number_input(key="smp_seed").set_value(seed)
    at.number_input(key="smp_mp").set_value(max_points)
    at.number_input(key="smp_dp").set_value(dp)
    at.button(key="smp_draw").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    page = at.session_state["samplers_result"]["rows"]
    caption = " ".join(c.value for c in at.caption)
    assert "first 90 %" in caption and f"re-encode {dp:,} vectors per row" in caption

    assert cli.main(["compare", "--run", str(app_env / TINY_RUN), "--samplers", ",".join(samplers),
                     "--n", str(n), "--seed", str(seed), "--max-points", str(max_points),
                     "--decoder-metrics", "--decoder-points", str(dp), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]
    for name in samplers + ["MND held-out (expected)"]:
        assert page[name].keys() == {k for k, v in scores[name].items() if v is not None}, name
    for name, cli_name in [(s, s) for s in samplers] + [(REF, "held-out data"),
                                                        ("MND held-out (expected)", "MND held-out (expected)")]:
        for key, value in page[name].items():
            # The same split, fits, seeds, subsamples and decoder batch: the same floats
            # (up to BLAS summation order).
            assert value == pytest.approx(scores[cli_name][key], rel=1e-9, abs=1e-12, nan_ok=True), (name, key)
    assert np.isfinite(page["mvn"]["reencoded_frechet_sq"])

    # Another seed moves the rows on the page and in the CLI alike (seeded reference).
    assert page[REF]["radius_w1"] != pytest.approx(
        json.loads(_compare(app_env, capsys, samplers[:1], n, 0, max_points, dp))["scores"]["held-out data"]["radius_w1"],
        rel=1e-12)


def _compare(root, capsys, samplers, n, seed, max_points, dp):
    assert cli.main(["compare", "--run", str(root / TINY_RUN), "--samplers", ",".join(samplers), "--n", str(n),
                     "--seed", str(seed), "--max-points", str(max_points), "--decoder-metrics",
                     "--decoder-points", str(dp), "--json"]) == 0
    return capsys.readouterr().out


def test_bad_decoder_points_one_line_on_page_and_cli(app_env, capsys):
    at = app_test("pages/4_Samplers.py", timeout=120).run()
    at.number_input(key="smp_dp").set_value(1)
    at.button(key="smp_draw").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["The decoder metrics need at least 2 decoded vectors, got 1."]
    assert "samplers_result" not in at.session_state
    capsys.readouterr()  # only the CLI's own output below (Streamlit may log during the page run)
    assert cli.main(["compare", "--run", str(app_env / TINY_RUN), "--samplers", "mvn", "--decoder-metrics",
                     "--decoder-points", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --decoder-points must be >= 2, got 1"], err
