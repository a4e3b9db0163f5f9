"""Session fixture for the issue-10 tests: an artifacts root with two tiny runs of different
z_dim, a named latent set, an incomplete and a damaged run.

Import explicitly::

    from tests.compare_fixtures import compare_root  # noqa: F401
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from tests.dashboard_fixtures import dashboard_on, tiny_config, trained_run


@pytest.fixture(scope="session")
def compare_root(tmp_path_factory):
    """Root with ``tiny`` (z_dim 8, 300 faces), ``tiny/digits`` (its encoder on 200 digits),
    ``small4`` (z_dim 4), ``half`` (incomplete) and ``broken`` (damaged latents)."""
    from core.runs import runs
    from core.model.encoding import encode_set

    root = tmp_path_factory.mktemp("compare_artifacts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENT_LAB_ARTIFACTS", str(root))
        config = tiny_config()
        trained_run(tmp_path_factory, config, root / "tiny")
        encode_set(root / "tiny", "digits", dataset="digits", limit=200)
        small = dataclasses.replace(config, limit=200, model=dataclasses.replace(config.model, z_dim=4))
        trained_run(tmp_path_factory, small, root / "small4")
        (root / "half").mkdir()
        runs.atomic_write_json(root / "half" / "config.json", config.to_dict())
        shutil.copytree(root / "tiny", root / "broken",
                        ignore=shutil.ignore_patterns("checkpoints", "run.lock", "sets"))
        (root / "broken" / "latents.npy").write_bytes(b"garbage")
    return root


@pytest.fixture
def env(compare_root, monkeypatch):
    """Point the dashboard at ``compare_root`` for one test; returns the root."""
    yield from dashboard_on(compare_root, monkeypatch)
