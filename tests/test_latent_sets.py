"""Named latent sets (issue 10): ``encode --as NAME`` writes RUN/sets/NAME and never touches the run's latents."""

import hashlib
import json

import numpy as np
import pytest

from core import cli
from core.runs import runs
from tests.dashboard_fixtures import tiny_config, trained_run


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENT_LAB_ARTIFACTS", str(root))
        trained_run(tmp_path_factory, tiny_config(), root / "tiny")
        yield root


@pytest.fixture
def env(root, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(root))
    return root


def test_named_set_leaves_training_files_byte_identical(env, capsys):
    run_files = ["latents.npy", "index.npy", "attributes.csv", "metadata.json", "config.json"]
    before = {f: _digest(env / "tiny" / f) for f in run_files}
    assert cli.main(["encode", "--run", "tiny", "--dataset", "digits", "--limit", "150", "--as", "digits"]) == 0
    assert {f: _digest(env / "tiny" / f) for f in run_files} == before
    folder = env / "tiny" / "sets" / "digits"
    meta = json.loads((folder / "set.json").read_text())
    assert meta["dataset"] == "digits" and meta["n_images"] == 150 and meta["run"] == "tiny"
    # listed after its run, as RUN/SET, and loadable everywhere a run is
    listed = [(i.name, i.status) for i in runs.list_runs(sets=True)]
    assert ("tiny", "complete") in listed and ("tiny/digits", "complete") in listed
    assert [s.name for s in runs.list_runs()[0].sets] == ["tiny/digits"]
    run = runs.load_run("tiny/digits")
    assert run.name == "tiny/digits" and run.set_name == "digits" and run.latents.shape == (150, 8)
    assert list(run.attributes.columns) == ["digit"] and run.attributes["digit"].iloc[:10].tolist() == list(range(10))
    assert run.source().n_images == 150  # the set's source, not the run's synthfaces
    own = runs.load_run("tiny")
    assert own.latents.shape == (300, 8) and own.set_name is None
    # the set's latents are the encoder applied to the digits
    from core.data.sources import open_source
    from core.model.encoding import encode_array

    images, _, _ = next(open_source("digits", size=16, channels=3, limit=150).iter_batches(5))
    np.testing.assert_allclose(run.latents[:5], encode_array(own.encoder, images), atol=1e-5)
    # the CLI takes RUN/SET and a run folder path + set
    capsys.readouterr()
    assert cli.main(["stats", "--run", "tiny/digits", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 150 and out["source"] == "run tiny/digits"
    assert cli.main(["stats", "--run", str(env / "tiny" / "digits"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 150


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "", "x" * 65])
def test_set_name_cannot_escape_the_run(env, capsys, name):
    before = sorted(p.name for p in env.iterdir())
    assert cli.main(["encode", "--run", "tiny", "--dataset", "digits", "--limit", "20", "--as", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: set name") and "not allowed" in err[0]
    assert sorted(p.name for p in env.iterdir()) == before
    assert not (env / "escape").exists() and not (env / "tiny" / "escape").exists()


def test_set_symlink_out_of_the_run_is_refused(env, tmp_path):
    sets = env / "tiny" / "sets"
    sets.mkdir(exist_ok=True)
    (sets / "evil").symlink_to(tmp_path)
    try:
        with pytest.raises(ValueError, match="outside"):
            runs.set_dir(env / "tiny", "evil")
        assert {i.name: i.status for i in runs.list_runs(sets=True)}["tiny/evil"] == "damaged"
    finally:
        (sets / "evil").unlink()


def test_damaged_and_incomplete_sets(env, capsys):
    assert cli.main(["encode", "--run", "tiny", "--dataset", "digits", "--limit", "30", "--as", "scratch"]) == 0
    folder = env / "tiny" / "sets" / "scratch"
    try:
        meta = json.loads((folder / "set.json").read_text())
        runs.atomic_write_json(folder / "set.json", dict(meta, n_images=31))
        info = {i.name: i for i in runs.list_runs(sets=True)}["tiny/scratch"]
        assert info.status == "damaged" and "n_images" in info.reason
        (folder / "set.json").unlink()  # a writer killed before its last step
        info = {i.name: i for i in runs.list_runs(sets=True)}["tiny/scratch"]
        assert info.status == "incomplete" and "set.json" in info.reason
        with pytest.raises(ValueError, match="tiny/scratch is incomplete"):
            runs.load_run("tiny/scratch")
        capsys.readouterr()
        assert cli.main(["stats", "--run", "tiny/scratch"]) == 2
        assert "incomplete" in capsys.readouterr().err
        assert cli.main(["stats", "--run", "tiny/nosuch"]) == 2
        assert "tiny/nosuch is incomplete: missing latents.npy" in capsys.readouterr().err
    finally:
        import shutil

        shutil.rmtree(folder)
